package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tendhq/tend/probes"
	"golang.org/x/sys/unix"
)

// An agent hands its instances over to the binary it executes in its
// place, in the same process (`tend agent reexec`, SIGUSR2), as systemd's
// daemon-reexec and nginx's binary upgrade do: same pid, so every
// instance stays its child and no exit status is lost.
//
// The old agent stops its loop without stopping any instance
// (Supervisor.Handoff): probes end, the Reaper stops reaping (an exit from
// then on waits, a zombie, for the new agent), the exits already reaped
// are taken, and each running instance's descriptors are detached: its
// output pipe (RunLog.Detach: unread output waits in the pipe), its
// NOTIFY_SOCKET and its s6 notification descriptor. Handoff.Exec writes
// what the new agent needs into a memfd, clears close-on-exec on every
// descriptor it names, and executes the new binary with TEND_HANDOFF_FD
// naming the memfd. The new agent reads it (StartReadHandoff), registers the
// children before it reaps anything (NewReaperInheriting), and its
// Supervisor takes every run over (Options.Handoff) where the old one
// stopped: restart counts, readiness, a stop in progress and a back-off's
// deadline carry over; probes start again (a readiness probe starts
// ready) and their initial delays count from the run's start.
//
// What does not carry over: a probe's streak of successes or failures
// (it starts again), API connections (a `logs -f` or `exec` stream ends;
// the socket itself is handed over, so new connections wait in its
// backlog) and processes started by `tend exec` (orphans, reaped).

// HandoffVersion is the version of the handoff's format. An agent hands
// over only to a binary that says it reads this version
// (`tend agent --handoff-version`).
const HandoffVersion = 1

// handoffEnv names the memfd that holds the handoff in the new agent.
const handoffEnv = "TEND_HANDOFF_FD"

// maxHandoff bounds the handoff a new agent reads: 1000 runs take about
// 400 KB.
const maxHandoff = 64 << 20

// A Handoff is what an agent hands to its successor.
type Handoff struct {
	Version int       `json:"version"`
	Began   time.Time `json:"began"`   // when the old agent began to hand over
	ExecAt  time.Time `json:"exec_at"` // when it executed its successor
	// BeganCPU is the process's CPU time (ProcessCPU) at Began: the CPU
	// time is the process's across the exec, so the successor can say
	// what the whole handover cost.
	BeganCPU time.Duration `json:"began_cpu,omitempty"`
	Runs     []HandoffRun
	// Waits are the instances waiting in a back-off, with when it ends.
	Waits []HandoffWait `json:"waits,omitempty"`
	// Files are the agent's own descriptors (the API's socket), by name.
	Files map[string]int `json:"files,omitempty"`

	files []*os.File // the descriptors Exec passes on, or StartReadHandoff took
}

// HandoffRun is one running instance's run, as handed over.
type HandoffRun struct {
	Instance string    `json:"instance"`
	Gen      uint64    `json:"gen"`
	PID      int       `json:"pid"`
	Pgid     int       `json:"pgid"`
	Cgroup   string    `json:"cgroup,omitempty"`
	Started  time.Time `json:"started"`
	// Foreign: the process is not the agent's child (a run taken over
	// after a kill -9, see adoptRun), so it is watched through a pidfd,
	// checked against its start time (PIDStart, clock ticks).
	Foreign  bool   `json:"foreign,omitempty"`
	PIDStart uint64 `json:"pid_start,omitempty"`
	// Log is the output pipe's read end, -1 when the output had ended.
	Log      int         `json:"log"`
	LogState RunLogState `json:"log_state"`
	// Notify is the NOTIFY_SOCKET (at NotifyPath), NotifyFD the s6
	// notification descriptor's read end; -1 for none.
	Notify     int    `json:"notify"`
	NotifyPath string `json:"notify_path,omitempty"`
	NotifyFD   int    `json:"notify_fd"`

	Ready        bool   `json:"ready,omitempty"`
	StartupDone  bool   `json:"startup_done,omitempty"`
	NotifyStatus string `json:"notify_status,omitempty"`
	MainPID      int    `json:"main_pid,omitempty"` // announced, not yet the run's
	// Stopping: the stop signal was sent; KillAt is when SIGKILL follows.
	Stopping bool       `json:"stopping,omitempty"`
	Intent   stopIntent `json:"intent,omitempty"`
	KillAt   time.Time  `json:"kill_at,omitzero"`
}

// HandoffWait is an instance in a back-off.
type HandoffWait struct {
	Instance string    `json:"instance"`
	At       time.Time `json:"at"`
}

// addFile keeps f for Exec and returns the number it has in both agents.
func (h *Handoff) addFile(f *os.File) (int, error) {
	fd := -1
	rc, err := f.SyscallConn()
	if err == nil {
		err = rc.Control(func(u uintptr) { fd = int(u) })
	}
	if err != nil {
		return -1, err
	}
	h.files = append(h.files, f)
	return fd, nil
}

// AddFile hands f over under name (File, in the new agent).
func (h *Handoff) AddFile(name string, f *os.File) error {
	fd, err := h.addFile(f)
	if err != nil {
		return fmt.Errorf("handoff %s: %w", name, err)
	}
	if h.Files == nil {
		h.Files = map[string]int{}
	}
	h.Files[name] = fd
	return nil
}

// File returns the descriptor handed over under name, nil for none. It is
// the caller's from then on.
func (h *Handoff) File(name string) *os.File {
	fd, ok := h.Files[name]
	if !ok {
		return nil
	}
	delete(h.Files, name)
	return os.NewFile(uintptr(fd), name)
}

// PIDs are the handed-over runs' processes that are the agent's
// children, for NewReaperInheriting.
func (h *Handoff) PIDs() []int {
	pids := make([]int, 0, len(h.Runs))
	for _, r := range h.Runs {
		if !r.Foreign {
			pids = append(pids, r.PID)
		}
	}
	return pids
}

// Exec executes exe with argv and env in place of this process, handing
// h over. It returns only when the exec failed, with every descriptor as
// it was (close-on-exec again): the caller may try another binary (such
// as /proc/self/exe, the one running) with the same Handoff.
func (h *Handoff) Exec(exe string, argv, env []string) error {
	h.Version = HandoffVersion
	h.ExecAt = time.Now()
	data, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("handoff: %w", err)
	}
	mfd, err := unix.MemfdCreate("tend-handoff", 0) // no MFD_CLOEXEC: the new agent reads it
	if err != nil {
		return fmt.Errorf("handoff: memfd: %w", err)
	}
	defer unix.Close(mfd)
	for off := 0; off < len(data); {
		n, err := unix.Write(mfd, data[off:])
		if err != nil {
			return fmt.Errorf("handoff: write: %w", err)
		}
		off += n
	}
	if _, err := unix.Seek(mfd, 0, io.SeekStart); err != nil {
		return fmt.Errorf("handoff: %w", err)
	}
	env = append(withoutEnv(env, handoffEnv), handoffEnv+"="+strconv.Itoa(mfd))
	// No fork may copy the descriptors while close-on-exec is off.
	syscall.ForkLock.Lock()
	defer syscall.ForkLock.Unlock()
	fds := h.fds()
	for _, fd := range fds {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, 0); err != nil {
			setCloexec(fds)
			return fmt.Errorf("handoff: descriptor %d: %w", fd, err)
		}
	}
	err = syscall.Exec(exe, argv, env)
	setCloexec(fds)
	return fmt.Errorf("handoff: exec %s: %w", exe, err)
}

// fds are the descriptors h names.
func (h *Handoff) fds() []int {
	var fds []int
	for _, r := range h.Runs {
		for _, fd := range []int{r.Log, r.Notify, r.NotifyFD} {
			if fd >= 0 {
				fds = append(fds, fd)
			}
		}
	}
	for _, fd := range h.Files {
		fds = append(fds, fd)
	}
	return fds
}

func setCloexec(fds []int) {
	for _, fd := range fds {
		unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC)
	}
}

func withoutEnv(env []string, name string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// StartReadHandoff reads the handoff this process was executed with, if
// any, and returns a wait that gives it (nil when the process was
// started afresh). Before it returns, TEND_HANDOFF_FD has left the
// environment and every descriptor from 3 up is close-on-exec (one
// close_range call: the handoff's are among them), so that no instance
// started from then on inherits one; the decoding is on a goroutine of
// its own, so that the agent decodes the handoff of 1000 runs, 5 ms,
// while its unit directory loads.
func StartReadHandoff() (wait func() (*Handoff, error)) {
	v, ok := os.LookupEnv(handoffEnv)
	if !ok {
		return func() (*Handoff, error) { return nil, nil }
	}
	os.Unsetenv(handoffEnv)
	fail := func(err error) func() (*Handoff, error) {
		return func() (*Handoff, error) { return nil, err }
	}
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return fail(fmt.Errorf("%s=%q: not a descriptor", handoffEnv, v))
	}
	// Linux 5.11 and later; before, each descriptor the handoff names
	// is made so once it is decoded.
	allCloexec := unix.CloseRange(3, math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC) == nil
	unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC)
	f := os.NewFile(uintptr(fd), "handoff")
	data, err := io.ReadAll(io.LimitReader(f, maxHandoff+1))
	f.Close()
	if err != nil {
		return fail(fmt.Errorf("read the handoff: %w", err))
	}
	if len(data) > maxHandoff {
		return fail(fmt.Errorf("read the handoff: over %d bytes", maxHandoff))
	}
	decoded := make(chan struct{})
	var h *Handoff
	go func() {
		defer close(decoded)
		h = &Handoff{}
		if err = json.Unmarshal(data, h); err != nil {
			h, err = nil, fmt.Errorf("read the handoff: %w", err)
			return
		}
		if !allCloexec {
			setCloexec(h.fds())
		}
		if h.Version != HandoffVersion {
			h, err = nil, fmt.Errorf("read the handoff: version %d, this agent reads %d", h.Version, HandoffVersion)
		}
	}()
	return func() (*Handoff, error) {
		<-decoded
		return h, err
	}
}

// file is descriptor fd of the handoff as an *os.File, nil for -1.
func (h *Handoff) file(fd int, name string) *os.File {
	if fd < 0 {
		return nil
	}
	return os.NewFile(uintptr(fd), name)
}

// errHandedOff ends Run when the loop has handed its instances over.
var errHandedOff = errors.New("handed over")

// Handoff stops the loop without stopping any instance and returns what
// a successor needs to take them over (see Handoff.Exec). Once it
// returns without error, Run has returned nil, the Reaper is closed and
// the store flushed: the process should execute its successor, and exit
// if it cannot (its instances keep running; the next agent finds them as
// an earlier agent's leftovers and stops them). It fails while the agent
// is stopping, and then changes nothing.
func (s *Supervisor) Handoff(ctx context.Context) (*Handoff, error) {
	reply := make(chan *Handoff, 1)
	select {
	case s.handoff <- reply:
	case <-s.stopped:
		return nil, errStopped
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	h := <-reply
	<-s.stopped
	if h == nil {
		return nil, errStopped
	}
	return h, nil
}

// handOff is Handoff on the loop goroutine: nil while quitting.
func (s *Supervisor) handOff() *Handoff {
	if s.quitting {
		return nil
	}
	h := &Handoff{Version: HandoffVersion, Began: time.Now(), BeganCPU: ProcessCPU()}
	s.quitting = true // nothing starts from now on
	running := make([]*instance, 0, len(s.instances))
	for _, i := range s.sortedInstances() {
		if i.proc != nil {
			running = append(running, i)
		}
	}
	// Probes first, while the Reaper still reaps: an exec probe in
	// flight waits for its command's exit.
	var wg sync.WaitGroup
	notify := make([]*os.File, len(running))
	notifyFD := make([]*os.File, len(running))
	for k, i := range running {
		rp := i.probes
		i.probes = nil
		if rp == nil {
			continue
		}
		wg.Go(func() { notify[k], notifyFD[k] = rp.detach(s.log, i.rec.Name) })
	}
	wg.Wait()
	s.opt.Reaper.CloseForExec() // an exec follows (Handoff.Exec), or an exit
	// The exits reaped before the Reaper closed, and the probes' last
	// reports: taken as usual, and nothing restarts (quitting).
	s.runQueue()
	logs := make([]int, len(running)) // the pipes' read ends, -1 for none
	states := make([]RunLogState, len(running))
	for k, i := range running {
		logs[k] = -1
		if i.proc == nil {
			continue // exited meanwhile
		}
		rl := i.runlog
		wg.Go(func() {
			var err error
			logs[k], states[k], err = rl.detachFD()
			if err != nil && logs[k] < 0 {
				s.log.Debug("handoff: the run's output had ended", "instance", i.rec.Name)
			} else if err != nil {
				s.log.Warn("handoff: the run's log", "instance", i.rec.Name, "err", err)
			}
		})
	}
	wg.Wait()
	now := s.clock.Now()
	for k, i := range running {
		if i.proc == nil {
			for _, f := range []*os.File{notify[k], notifyFD[k]} {
				if f != nil {
					f.Close()
				}
			}
			continue
		}
		r := HandoffRun{
			Instance: i.rec.Name, Gen: i.gen, PID: i.proc.Pid(), Pgid: i.proc.Pgid(), Cgroup: i.proc.Cgroup(),
			Started: i.proc.Started(), Foreign: i.proc.Foreign(), PIDStart: i.proc.startTicks,
			Log: -1, LogState: states[k], Notify: -1, NotifyFD: -1,
			Ready: i.rec.Ready, StartupDone: i.rec.StartupDone, NotifyStatus: i.notifyStatus, MainPID: i.mainPID,
		}
		add := func(f *os.File, to *int) {
			if f == nil {
				return
			}
			fd, err := h.addFile(f)
			if err != nil {
				s.log.Warn("handoff: descriptor lost", "instance", i.rec.Name, "err", err)
				f.Close()
				return
			}
			*to = fd
		}
		r.Log = logs[k] // a plain descriptor: nothing to keep alive till the exec
		add(notify[k], &r.Notify)
		add(notifyFD[k], &r.NotifyFD)
		if r.Notify >= 0 {
			r.NotifyPath = s.runner.notifyPath(i.rec.Name, i.gen)
		}
		if i.rec.Life == LifeStopping {
			r.Stopping, r.Intent = true, i.intent
			r.KillAt = i.stopAt
		}
		h.Runs = append(h.Runs, r)
	}
	for _, i := range s.sortedInstances() {
		if i.rec.Life == LifeBackOff && !i.restartAt.IsZero() {
			h.Waits = append(h.Waits, HandoffWait{Instance: i.rec.Name, At: i.restartAt})
		}
	}
	s.log.Info("handing the instances over", "running", len(h.Runs), "waiting", len(h.Waits), "took", now.Sub(h.Began).Round(time.Microsecond))
	return h
}

// runQueue runs the messages queued for the loop now, outside a pass.
func (s *Supervisor) runQueue() {
	for {
		s.mu.Lock()
		q := s.queue
		s.queue = nil
		s.mu.Unlock()
		if len(q) == 0 {
			return
		}
		for _, m := range q {
			if m.f != nil {
				m.f()
			}
			if m.done != nil {
				close(m.done)
			}
		}
	}
}

// detach ends a run's probes for a handoff, keeping its notify socket and
// s6 descriptor open for the successor (nil for none).
func (rp *runProbes) detach(log *slog.Logger, name string) (notify, notifyFD *os.File) {
	select {
	case <-rp.started:
	default:
		close(rp.started)
	}
	if rp.set != nil {
		rp.set.Stop()
	}
	if rp.watchdog != nil {
		rp.watchdog.Stop()
	}
	if rp.fdWatch != nil {
		notifyFD = rp.fdWatch.Detach()
	} else if rp.fdRead != nil {
		notifyFD = rp.fdRead
	}
	if rp.fdWrite != nil {
		rp.fdWrite.Close()
	}
	if rp.notify != nil {
		f, err := rp.notify.Detach()
		if err != nil {
			log.Warn("handoff: notify socket lost", "instance", name, "err", err)
		}
		notify = f
	}
	return notify, notifyFD
}

// resume takes over the runs an agent handed over to this one (Run,
// before anything starts). A run whose process is not this agent's child
// is left to stopLeftovers, as after a crash.
func (s *Supervisor) resume(h *Handoff) {
	now := s.clock.Now()
	// First the processes, in order; then the runs' logs, on every core
	// (each is a registration with the output poller: 1000 epoll_ctl
	// calls at a handover, that nothing else in an adoption waits for);
	// then the rest, in order.
	type taken struct {
		run          *HandoffRun
		i            *instance
		proc         *Proc
		notifyF, fdF *os.File
		runlog       *RunLog
		logDir       string
		output       runOutput
	}
	runs := make([]taken, 0, len(h.Runs))
	for k := range h.Runs {
		run := &h.Runs[k]
		notifyF := h.file(run.Notify, "notify "+run.Instance)
		fdF := h.file(run.NotifyFD, "notification-fd "+run.Instance)
		closeAll := func() {
			if run.Log >= 0 { // the RunLog's, as a plain descriptor (adoptRunLog)
				unix.Close(run.Log)
			}
			for _, f := range []*os.File{notifyF, fdF} {
				if f != nil {
					f.Close()
				}
			}
		}
		i := s.instances[run.Instance]
		if i == nil || !i.rec.Life.hasProcess() {
			// Not in the store as running: nothing to hand it to. Its
			// process goes, with its group and cgroup.
			if p := s.opt.Reaper.Inherited(run.PID, run.Pgid, run.Cgroup, run.Started, func(ExitStatus) {}); p != nil {
				p.SignalGroup(syscall.SIGKILL)
			}
			s.log.Warn("handoff: a run of an instance the store does not hold as running; killed", "instance", run.Instance, "pid", run.PID)
			closeAll()
			continue
		}
		gen := run.Gen
		onExit := func(st ExitStatus) { s.post(func() { s.exited(i, gen, st) }) }
		var proc *Proc
		if run.Foreign {
			// Not a child: watched again. Gone meanwhile, it is found
			// ended by stopLeftovers and reported Unknown.
			proc, _ = s.opt.Reaper.Watch(run.PID, run.Pgid, run.PIDStart, run.Cgroup, run.Started, onExit)
		} else {
			proc = s.opt.Reaper.Inherited(run.PID, run.Pgid, run.Cgroup, run.Started, onExit)
		}
		if proc == nil {
			s.log.Warn("handoff: a run's process is not this agent's child", "instance", run.Instance, "pid", run.PID)
			closeAll()
			continue
		}
		runs = append(runs, taken{run: run, i: i, proc: proc, notifyF: notifyF, fdF: fdF,
			logDir: s.runner.instanceLogDir(i.rec.Name), output: s.runner.output(i)})
	}
	onWorkers(len(runs), func(k int) {
		t := &runs[k]
		t.runlog = adoptRunLog(t.logDir, s.runner.logMax, t.run.Log, t.run.LogState, t.output)
	})
	for _, t := range runs {
		run, i, proc := t.run, t.i, t.proc
		gen := run.Gen
		// What the store holds is what the old agent last wrote; a record
		// that this changes is written again, the others only shown
		// (1000 writes fewer in a handover that changes nothing).
		stored := i.rec
		i.gen = gen
		i.proc = proc
		i.runlog = t.runlog
		i.runlog.out.setPID(proc.Pid())
		i.intent = stopNone
		i.rec.Ready, i.rec.StartupDone, i.notifyStatus, i.mainPID = run.Ready, run.StartupDone, run.NotifyStatus, run.MainPID
		i.rec.PID = proc.Pid()
		rp := &runProbes{started: make(chan struct{}), fdRead: t.fdF}
		if t.notifyF != nil {
			sock, err := s.runner.adoptNotify(run.NotifyPath, t.notifyF, rp, func(n probes.Notify) {
				s.post(func() { s.notified(i, gen, n) })
			})
			if err != nil {
				s.log.Warn("handoff: notify socket", "instance", i.rec.Name, "err", err)
			}
			rp.notify = sock
		}
		i.probes = rp
		startupDone := s.runner.beginProbes(i, rp, run.Pgid, run, func(r probes.Report) {
			s.post(func() { s.probeReport(i, gen, r) })
		}, func(why string) {
			s.post(func() { s.markReady(i, gen, why) })
		})
		i.rec.StartupDone = i.rec.StartupDone || startupDone
		if run.Stopping {
			i.rec.Life = LifeStopping
			i.intent = run.Intent
			s.armKill(i, max(run.KillAt.Sub(now), 0))
		}
		if r := i.rec; r.Ready != stored.Ready || r.StartupDone != stored.StartupDone || r.PID != stored.PID || r.Life != stored.Life {
			s.save(i)
		} else {
			s.touch(i)
		}
	}
	for _, w := range h.Waits {
		i := s.instances[w.Instance]
		if i == nil || i.rec.Life != LifeBackOff {
			continue
		}
		s.armRestart(i, max(w.At.Sub(now), 0))
	}
}

// ProcessCPU is the CPU time the process has used, user and system, over
// all its threads, those ended included; an exec does not reset it.
func ProcessCPU() time.Duration {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
