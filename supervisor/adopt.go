package supervisor

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tendhq/tend/probes"
	"github.com/tendhq/tend/units"
)

// After a kill -9 (or a crash) of the agent, the next agent takes over
// the runs that are still going instead of stopping them: the instances
// keep their pids, restart counts, readiness and output. What makes it
// possible:
//
//   - each run's record keeps its pid and the pid's start time (a pid
//     taken by another process since is not the run's), its cgroup, its
//     number and its readiness;
//   - each instance holds the read end of its own output pipe (spawn), so
//     the pipe never loses its last reader: while no agent runs, output
//     waits in the pipe, and a writer blocks once it is full (64 KiB)
//     instead of failing with EPIPE or dying of SIGPIPE; the next agent
//     opens that descriptor again through /proc/PID/fd and goes on
//     storing the output where the run's log ends;
//   - the process is no longer the agent's child (its parent died; it was
//     re-parented to init, or systemd), so the agent cannot wait for it:
//     it watches it with a pidfd (Reaper.Watch), learns that it ended
//     but not how, and reports that end as Unknown, which the restart
//     policy treats as a failure;
//   - except for a job's attempt, whose process is its shim (shim.go):
//     the shim is the command's parent still, and its status file says
//     how the command ended, which decides the job.
//
// Not taken over, but stopped and started again as before (AgentRestart):
// a run that was being stopped, one waiting for its s6 notification
// descriptor (whose pipe died with the agent), a run whose process closed
// the descriptor that held its pipe, an attempt run without a shim, and
// runs recorded by an agent from before this (no descriptor kept).
// Without pidfds (Linux before 5.3) nothing is taken over.

// msgRunNotObserved is the Last State message of a run taken over from
// an earlier agent, when it ends.
const msgRunNotObserved = "the agent was restarted during the run (kill -9 or a crash), so its exit status was not observed"

// adoptRuns takes over the runs an earlier agent on this store left
// running (see above), before stopLeftovers stops the rest, and returns
// the runs the logs of the others say began unrecorded (laterRun), for
// stopLeftovers to count. Loop goroutine, before the first pass.
func (s *Supervisor) adoptRuns() (later map[*instance]int64) {
	list := s.sortedInstances()
	// What each takeover reads of /proc and of the run's log, in
	// parallel: tens of microseconds a call here, five of them a run,
	// waited for one after another with 1000 runs to take. The loop's own
	// state is changed afterwards, in order, on this goroutine.
	found := make([]adoption, len(list))
	runs := make([]int64, len(list))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(adoptWorkers, len(list)) {
		wg.Go(func() {
			for k := int(next.Add(1)) - 1; k < len(list); k = int(next.Add(1)) - 1 {
				if found[k] = s.findRun(list[k]); found[k].proc == nil {
					runs[k] = s.laterRun(list[k])
				}
			}
		})
	}
	wg.Wait()
	later = map[*instance]int64{}
	for k, run := range runs {
		if run != 0 {
			later[list[k]] = run
		}
	}
	n := 0
	for k, i := range list {
		if err := s.adoptRun(i, found[k]); err != nil {
			s.log.Info("not taking over a run the earlier agent left; it is started again", "instance", i.rec.Name, "reason", err)
			continue
		}
		if i.proc != nil {
			n++
		}
	}
	if n > 0 {
		s.log.Info("took over the runs an earlier agent left", "instances", n)
	}
	return later
}

// adoptWorkers bounds the goroutines that look for the runs to take over:
// their time goes to system calls, so more than the CPUs.
const adoptWorkers = 8

// errNotAdoptable: the run is not one to take over (nothing is wrong).
var errNotAdoptable = errors.New("not adoptable")

// adoption is what findRun found of a run to take over.
type adoption struct {
	proc  *Proc // nil: nothing to take over (none ran, or it has ended)
	out   int   // the output pipe's read end, with proc
	state RunLogState
	pgid  int
	err   error // why it is not taken over
}

// findRun finds the run the instance's record says the earlier agent
// left, and watches its process. It touches nothing of the loop's but
// the Reaper: adoptRuns calls it for many instances at once.
func (s *Supervisor) findRun(i *instance) adoption {
	r := &i.rec
	switch {
	case !r.Life.hasProcess() || r.Terminating:
		return adoption{} // nothing running, or deleted: stopLeftovers' business
	case r.Life == LifeStopping:
		return adoption{err: fmt.Errorf("%w: it was being stopped", errNotAdoptable)}
	case r.Kind == units.KindJob && !r.Shim:
		return adoption{err: fmt.Errorf("%w: a job's attempt run without a shim", errNotAdoptable)}
	case r.OutFD <= 0 || r.PID <= 1 || r.PIDStart == 0:
		return adoption{err: fmt.Errorf("%w: recorded by an earlier agent", errNotAdoptable)}
	}
	t := &i.spec.Template
	if t.Readiness != nil && t.Readiness.NotificationFD > 0 && !r.Ready {
		return adoption{err: fmt.Errorf("%w: still waiting for its notification descriptor", errNotAdoptable)}
	}
	// Watched first: its pidfd then names the process whose start time
	// Watch checks, whatever takes the pid afterwards, and that one read
	// of /proc gives the process group too.
	gen := r.RunGen
	// Its end counts only if it was taken over: an onExit that had left
	// before an Unwatch below must not end the run started in its place
	// (whose gen may be the same). proc is read on the loop, after
	// adoptRuns has waited for this goroutine.
	var proc *Proc
	proc, err := s.opt.Reaper.Watch(r.PID, -1, r.PIDStart, r.Cgroup, r.State.Started, func(es ExitStatus) {
		s.post(func() {
			if i.proc == proc {
				s.exited(i, gen, es)
			}
		})
	})
	switch {
	case errors.Is(err, ErrNotChild):
		return adoption{} // ended meanwhile: stopLeftovers reports it Unknown
	case errors.Is(err, ErrNoPidfd):
		if st, err := readProcStat(r.PID); err != nil || st.gone() || st.start != r.PIDStart {
			return adoption{} // as above
		}
		return adoption{err: err}
	case err != nil:
		return adoption{err: err}
	}
	out, err := openOutput(r.PID, r.OutFD)
	if err != nil {
		s.opt.Reaper.Unwatch(proc)
		return adoption{err: err}
	}
	state, err := runLogState(filepath.Join(s.runner.instanceLogDir(r.Name), currentLog))
	if err != nil {
		s.opt.Reaper.Unwatch(proc)
		unix.Close(out)
		return adoption{err: err}
	}
	return adoption{proc: proc, out: out, state: state, pgid: proc.Pgid()}
}

// adoptRun takes over the run findRun found.
func (s *Supervisor) adoptRun(i *instance, a adoption) error {
	if a.err != nil || a.proc == nil {
		return a.err
	}
	r := &i.rec
	t := &i.spec.Template
	gen := r.RunGen
	i.gen, i.proc = gen, a.proc
	i.runlog = adoptRunLog(s.runner.instanceLogDir(r.Name), s.runner.logMax, a.out, a.state, s.runner.output(i))
	i.runlog.out.setPID(a.proc.Pid())
	i.runlog.inInstance = r.OutFD
	i.intent = stopNone
	rp := &runProbes{started: make(chan struct{})}
	if (t.Readiness != nil && t.Readiness.Notify) || (t.Liveness != nil && t.Liveness.Watchdog > 0) {
		// The socket died with the earlier agent; its path is the run's
		// NOTIFY_SOCKET still: listen there again.
		sock, err := probes.ListenNotify(s.runner.notifyPath(r.Name, gen), notifyHandler(rp, func(n probes.Notify) {
			s.post(func() { s.notified(i, gen, n) })
		}))
		if err != nil {
			s.log.Warn("taking over a run: its notify socket", "instance", r.Name, "err", err)
		}
		rp.notify = sock
	}
	i.probes = rp
	done := s.runner.beginProbes(i, rp, a.pgid, &HandoffRun{Started: r.State.Started, Ready: r.Ready, StartupDone: r.StartupDone},
		func(rep probes.Report) { s.post(func() { s.probeReport(i, gen, rep) }) },
		func(why string) { s.post(func() { s.markReady(i, gen, why) }) })
	r.StartupDone = r.StartupDone || done
	s.save(i)
	s.events.Record(s.clock.Now(), KindInstance, r.Name, Normal, "Adopted", s.from(),
		fmt.Sprintf("Took over process %d, left running by the agent before this one", r.PID))
	return nil
}

// msgRunNotRecorded is the Last State message of a run whose start the
// store never got.
const msgRunNotRecorded = "begun just before the agent was killed, before its start was recorded: it may not have started; its exit status was not observed"

// laterRun is the run the instance's log names when that is a later run
// than its record knows (0 when not): a run the record of whose start the
// store never got. It reads a file and touches nothing of the loop's.
// A record that counts runs but names no log's is from an agent from
// before LogRun: its log says nothing of what the record missed. One that
// counts none (its first start was not recorded) is compared as LogRun 0.
func (s *Supervisor) laterRun(i *instance) int64 {
	r := &i.rec
	if r.LogRun == 0 && r.Attempts > 0 {
		return 0
	}
	x, err := readIndex(filepath.Join(s.runner.instanceLogDir(r.Name), currentLog))
	if err != nil || x.run <= r.LogRun {
		return 0
	}
	return x.run
}

// countUnrecordedRun counts run, which the instance's log says began
// after the run its record knows (laterRun): the agent that started it
// was killed before the record of the start reached the store (a record
// waits a few milliseconds to be written with others). The process has
// been stopped as a leftover if it still ran. It counts as a start (the
// restart count is the number of starts less one) and as a run that
// ended Unknown, a failed one; the kill may also have come after the log
// was made and before the process was, in the moment between the two
// (the Last State says it may not have started): no start goes
// uncounted, and at most one a kill is counted that did not happen.
func (s *Supervisor) countUnrecordedRun(i *instance, run int64) {
	r := &i.rec
	now := s.clock.Now()
	if r.Attempts > 0 {
		r.RestartCount++
	}
	r.Attempts++
	r.LogRun = run
	if r.Kind == units.KindJob {
		// A failed attempt, for the job's restart policy to decide on:
		// the same attempt again, or another.
		s.runEnded(i, runEnd{Unknown: true, Why: msgRunNotRecorded, Started: time.Unix(0, run)})
		return
	}
	r.FailedRuns++
	r.LastState = State{Phase: PhaseTerminated, Reason: reasonUnknown, Message: msgRunNotRecorded, ExitCode: -1,
		Started: time.Unix(0, run), Finished: now}
	s.events.Record(now, KindInstance, r.Name, Warning, "Exited", s.from(), "Process ended: "+msgRunNotRecorded)
	s.touch(i)
	s.save(i)
}

// openOutput opens again, through /proc, the read end of its output pipe
// that process pid holds as descriptor fd, checking that it is the pipe
// of the process's standard output. The file is non-blocking, so the
// copier polls it.
func openOutput(pid, fd int) (int, error) {
	p := "/proc/" + strconv.Itoa(pid) + "/fd/"
	var want, got syscall.Stat_t
	if err := syscall.Stat(p+"1", &want); err != nil {
		return -1, fmt.Errorf("its standard output: %w", err)
	}
	n, err := syscall.Open(p+strconv.Itoa(fd), syscall.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("its output pipe (descriptor %d): %w", fd, err)
	}
	if err := syscall.Fstat(n, &got); err != nil || got.Mode&syscall.S_IFMT != syscall.S_IFIFO || got.Ino != want.Ino || got.Dev != want.Dev {
		syscall.Close(n)
		return -1, fmt.Errorf("%w: descriptor %d is no longer its output pipe", errNotAdoptable, fd)
	}
	return n, nil
}

// runLogState is where a run's log ends, read from its files, for an
// agent that goes on with the log of a run it did not start. Only the
// log's tail is read, to find whether it ends within a line: a log is up
// to LogMaxBytes, and a takeover reads a thousand of them. Its lines are
// left uncounted (Lines −1) until the log rotates (RunLog.rotate).
func runLogState(cur string) (RunLogState, error) {
	// Plain system calls, as readSmall's.
	fd, err := unix.Open(cur, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return RunLogState{}, fmt.Errorf("its log: %w", &os.PathError{Op: "open", Path: cur, Err: err})
	}
	defer unix.Close(fd)
	var fi unix.Stat_t
	if err := unix.Fstat(fd, &fi); err != nil {
		return RunLogState{}, fmt.Errorf("its log: %w", &os.PathError{Op: "stat", Path: cur, Err: err})
	}
	// A line being written is at most maxLine bytes after its stamp
	// (longer ones are split), and the newline before it ends the tail.
	size := fi.Size
	tail := make([]byte, min(size, int64(maxLine+stampLen+1)))
	for off := 0; off < len(tail); {
		n, err := unix.Pread(fd, tail[off:], size-int64(len(tail)-off))
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return RunLogState{}, fmt.Errorf("its log: %w", &os.PathError{Op: "read", Path: cur, Err: err})
		case n == 0:
			return RunLogState{}, fmt.Errorf("its log: %w", &os.PathError{Op: "read", Path: cur, Err: io.ErrUnexpectedEOF})
		}
		off += n
	}
	st := RunLogState{Size: size, Lines: -1, AtStart: len(tail) == 0 || tail[len(tail)-1] == '\n'}
	if !st.AtStart {
		st.LineLen = max(len(tail)-1-bytes.LastIndexByte(tail, '\n')-stampLen, 0)
	}
	if x, err := readIndex(cur); err == nil {
		st.Run = x.run
		for _, e := range x.entries {
			st.Index = append(st.Index, [3]int64{int64(e.ino), e.base.bytes, e.base.lines})
		}
	}
	return st, nil
}

// notAdopted filters from pids, found by their environment, the
// processes of runs this agent took over: those in their cgroups or their
// process groups.
func (s *Supervisor) notAdopted(pids []int) []int {
	groups := map[int]bool{}
	cgroups := map[string]bool{}
	for _, i := range s.instances {
		if i.proc != nil {
			groups[i.proc.Pgid()] = true
			if c := i.proc.Cgroup(); c != "" {
				cgroups[c] = true
			}
		}
	}
	out := pids[:0:0]
	for _, pid := range pids {
		if st, err := readProcStat(pid); err == nil && groups[st.pgid] {
			continue
		}
		if data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup"); err == nil {
			if rel := ownCgroup(string(data)); rel != "" && inAny(cgroups, rel) {
				continue
			}
		}
		out = append(out, pid)
	}
	return out
}

// inAny reports whether the cgroup rel (relative to the mount, as
// /proc/PID/cgroup says) is one of dirs (absolute paths) or under one.
func inAny(dirs map[string]bool, rel string) bool {
	for d := range dirs {
		for c := rel; c != "/" && c != "." && c != ""; c = filepath.Dir(c) {
			if strings.HasSuffix(d, c) {
				return true
			}
		}
	}
	return false
}
