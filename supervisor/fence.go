package supervisor

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tendhq/tend/units"
)

// Exclusive units (exclusive = true) under a fence: the loop's side.
//
// An exclusive unit is a replicated unit of one replica, placed as any
// other; the host its slot falls to must also hold the unit's lease
// (cluster/fence.go has the rule) before it starts the instance, and
// stops it when the lease ends. While it waits, the instance is Pending
// with the reason WaitingForLease and the fence's account of what it
// waits for.
//
// The lease must end the run even if the agent does not: an agent that
// is killed, stalls or is re-executed must not leave an instance running
// past its lease. So an exclusive unit's runs start under the shim, which
// reads the lease's end from a file the agent moves forward at each
// renewal (the run's lease file, in its log directory) and stops the run
// itself when that time passes: stop_signal to the process group, then,
// kill grace later, SIGKILL to the run's cgroup (or group). The agent
// does the same when it sees the lease lapse. A next agent that renews
// the lease before it ends (a re-execution, or a restart within Hold)
// keeps the run; one that comes later finds it stopped.

// Fence is the seam to the fleet's fence (cmd/tend wires the cluster's).
type Fence interface {
	// Want sets the exclusive units this host wants to run; the fence
	// claims or holds each, and gives up every other. Non-blocking.
	Want(units []string)
	// Lease is this host's standing for unit now.
	Lease(unit string) FenceLease
	// Release is the operator's word that the host holding unit is down
	// (tend fence release); it returns that host and its epoch.
	Release(unit string) (host string, epoch uint64, err error)
	// Changed receives (coalesced) after some Lease changed.
	Changed() <-chan struct{}
	// KillGrace is how long an instance may take to stop once its lease
	// ends: stop_signal, then SIGKILL after KillGrace, whatever the
	// unit's stop_timeout.
	KillGrace() time.Duration
	// Now is the fence's clock, CLOCK_BOOTTIME (BootTime).
	Now() time.Duration
	// Voters are the fleet's voters, sorted, and how many of them make a
	// quorum.
	Voters() (voters []string, quorum int)
	// Promised is whom this host, as a voter, has promised unit to and
	// at which epoch; "" when it is no voter or promised nothing.
	Promised(unit string) (host string, epoch uint64)
}

// FenceLease is a host's standing for one exclusive unit.
type FenceLease struct {
	Held   bool
	Epoch  uint64
	Until  time.Duration // when Held: the end of the lease, on Now's clock
	Status string        // when not Held: what the host waits for
}

// BootTime is CLOCK_BOOTTIME, the fence's clock: time since boot,
// suspend included (Go's monotonic clock stops in suspend).
func BootTime() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		panic("CLOCK_BOOTTIME: " + err.Error()) // Linux has had it since 2.6.39
	}
	return time.Duration(ts.Nano())
}

// The reason of an exclusive unit's instance that waits for its lease,
// and the Last State reason of a run its lease's end stopped.
const (
	reasonWaitingForLease = "WaitingForLease"
	reasonLeaseEnded      = "LeaseEnded"
)

// leaseFile is the name, in a run's log directory, of the file its lease's
// end is written to.
const leaseFile = "lease"

// leaseRecord is the lease file's one line: the end on CLOCK_BOOTTIME in
// nanoseconds, 20 digits, so that every write is the same 21 bytes at
// offset 0 and a reader never sees a shorter number's leftovers.
const leaseRecord = 21

// WriteLease writes until to the lease file f, in place: the shim holds
// the file open, so it is never replaced.
func WriteLease(f *os.File, until time.Duration) error {
	_, err := f.WriteAt(fmt.Appendf(nil, "%020d\n", max(until, 0)), 0)
	return err
}

// ReadLease reads a lease file's end; false when it holds no whole one.
func ReadLease(f *os.File) (time.Duration, bool) {
	var b [leaseRecord]byte
	if n, _ := f.ReadAt(b[:], 0); n != leaseRecord || b[leaseRecord-1] != '\n' {
		return 0, false
	}
	v, err := strconv.ParseInt(string(b[:leaseRecord-1]), 10, 64)
	return time.Duration(v), err == nil
}

// leasePoll is how often the shim reads its lease file, and so how late
// after a lease's end (or a resume from suspend) it acts at most. The
// rule's slack is 199.6 ms with the default timings.
const leasePoll = 20 * time.Millisecond

// leaseGuard stops the shim's run when its lease ends, until being the
// end it read before the start; it returns when it has. A torn read
// keeps the last end read.
func leaseGuard(lease *os.File, until time.Duration, grace time.Duration, sig syscall.Signal, cgroup string) {
	for {
		if u, ok := ReadLease(lease); ok {
			until = u
		}
		now := BootTime()
		if now >= until {
			break
		}
		time.Sleep(min(until-now, leasePoll))
	}
	fmt.Fprintf(os.Stderr, "tend shim: the run's lease ended; stopping it (%s, then SIGKILL after %s)\n", units.SignalName(sig), grace)
	syscall.Kill(0, sig) // the group; the shim catches it
	time.Sleep(grace)
	if cgroup != "" && os.WriteFile(filepath.Join(cgroup, "cgroup.kill"), []byte("1"), 0) == nil {
		return
	}
	syscall.Kill(0, syscall.SIGKILL)
}

// fenceView is unit's fence as this host sees it now. Any goroutine: the
// Fence is safe for concurrent use.
func (s *Supervisor) fenceView(unit string) *FenceView {
	f := s.opt.Fence
	v := &FenceView{Host: s.opt.Host}
	v.Voters, v.Quorum = f.Voters()
	l := f.Lease(unit)
	v.Held, v.Epoch, v.Status = l.Held, l.Epoch, l.Status
	v.Claimed = l.Held || l.Epoch > 0
	v.VotedFor, v.VotedEpoch = f.Promised(unit)
	return v
}

// fencing reports whether i runs under the fence.
func (s *Supervisor) fencing(i *instance) bool { return s.runner.fenced(i) }

// alone reports whether this host is a fleet of one, where an exclusive
// unit, of one replica, runs at most once without a fence.
func (s *Supervisor) alone() bool {
	_, ok := s.opt.Members.(*LocalMembership)
	return ok
}

// leasePath is where instance name's lease file is.
func (r *runner) leasePath(name string) string {
	return filepath.Join(r.instanceLogDir(name), leaseFile)
}

// mayStartFenced reports whether i, which is due to start, may: always
// when it is not fenced; when its lease is held, taking the lease's
// epoch and end for the run. Otherwise i waits, and says for what.
func (s *Supervisor) mayStartFenced(i *instance) bool {
	if !s.fencing(i) {
		return true
	}
	l := s.opt.Fence.Lease(i.spec.Name)
	if l.Held && l.Until > s.opt.Fence.Now() {
		i.fenceWait = false
		i.rec.FenceEpoch, i.fenceUntil, i.fenceHeld = l.Epoch, l.Until, true
		return true
	}
	i.fenceWait = true
	st := State{Phase: PhaseWaiting, Reason: reasonWaitingForLease, Message: "exclusive unit " + l.Status}
	if i.rec.State != st {
		i.rec.State = st
		s.touch(i)
	}
	return false
}

// takeFence acts on the fence's news: starts the instances whose lease
// came, moves the lease files of the running ones on, and stops those
// whose lease ended.
func (s *Supervisor) takeFence() {
	if s.opt.Fence == nil {
		return
	}
	now := s.opt.Fence.Now()
	next := time.Duration(0)
	for _, i := range s.fencedSorted() {
		l := s.opt.Fence.Lease(i.spec.Name)
		switch {
		case i.fenceWait:
			if i.rec.Terminating || (i.rec.Life != LifePending && i.rec.Life != LifeBackOff) {
				i.fenceWait = false
			} else if l.Held || !i.queued {
				s.queueStart(i) // mayStartFenced looks again, and says why it waits
			}
		case i.rec.Life == LifeRunning && i.proc != nil:
			if i.fenceUntil == 0 {
				// Taken over from an earlier agent: its lease ends
				// where its shim reads it does.
				i.fenceUntil = s.runner.leaseEnd(i.rec.Name)
			}
			if l.Held && l.Epoch == i.rec.FenceEpoch {
				i.fenceHeld = true
				if l.Until > i.fenceUntil {
					s.moveLease(i, l.Until)
				}
				continue
			}
			if !i.fenceHeld && now < i.fenceUntil {
				// Taken over, and the fence has not heard the voters
				// yet: the run's lease, as its shim knows it, goes on.
				if next == 0 || i.fenceUntil < next {
					next = i.fenceUntil
				}
				continue
			}
			grace := min(i.spec.Template.StopTimeout.D(), s.opt.Fence.KillGrace())
			why := fmt.Sprintf("its lease at epoch %d ended (%s)", i.rec.FenceEpoch, l.Status)
			s.events.Record(s.clock.Now(), KindInstance, i.rec.Name, Warning, "LeaseLost", s.from(), "Exclusive unit "+i.spec.Name+": "+why)
			s.log.Warn("lease lost; stopping the instance", "instance", i.rec.Name, "epoch", i.rec.FenceEpoch, "status", l.Status)
			s.stopWithin(i, stopLease, fmt.Sprintf("Stopping instance %s: %s; SIGKILL after %s", i.rec.Name, why, grace), grace)
		}
	}
	if next > 0 && (s.fenceWake == 0 || next < s.fenceWake || s.fenceWake <= now) {
		s.fenceWake = next
		s.clock.AfterFunc(next-now, func() { s.post(s.takeFence) })
	}
}

// leaseEnd is the end in instance name's lease file; 0 when it has none.
func (r *runner) leaseEnd(name string) time.Duration {
	f, err := os.Open(r.leasePath(name))
	if err != nil {
		return 0
	}
	defer f.Close()
	until, _ := ReadLease(f)
	return until
}

// moveLease writes i's lease's new end for its shim.
func (s *Supervisor) moveLease(i *instance, until time.Duration) {
	f, err := os.OpenFile(s.runner.leasePath(i.rec.Name), os.O_WRONLY, 0)
	if err == nil {
		err = WriteLease(f, until)
		f.Close()
	}
	if err != nil {
		// The shim stops the run at the end it read last.
		s.log.Error("moving the lease on", "instance", i.rec.Name, "err", err)
		return
	}
	i.fenceUntil = until
}

// fencedSorted is this host's instances that run under the fence, by name.
func (s *Supervisor) fencedSorted() []*instance {
	out := make([]*instance, 0, len(s.fenced))
	for i := range s.fenced {
		out = append(out, i)
	}
	slices.SortFunc(out, func(a, b *instance) int { return cmp.Compare(a.rec.Name, b.rec.Name) })
	return out
}

// wantFenced tells the fence the exclusive units this host has an
// instance of that may run: waiting, running or stopping. It keeps
// holding a lease until its instance is dead, so that no other host
// starts one meanwhile.
func (s *Supervisor) wantFenced() {
	if s.opt.Fence == nil {
		return
	}
	want := []string{}
	for i := range s.fenced {
		if i.rec.Life != LifeExited && !slices.Contains(want, i.spec.Name) {
			want = append(want, i.spec.Name)
		}
	}
	slices.Sort(want)
	if !slices.Equal(want, s.fenceWant) {
		s.fenceWant = want
		s.opt.Fence.Want(want)
	}
}
