package supervisor

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A Reaper starts processes and owns every wait of the agent process.
//
// wait4 is process-wide: a catch-all wait4(-1) steals the exit status that
// exec.Cmd.Wait (or os.Process.Wait) is waiting for, and the other way
// round. So the agent has exactly one Reaper, every child of the agent is
// started through it (instances and exec probes alike), and nothing else in
// the agent calls Wait. A second NewReaper while one is open fails.
//
// The Reaper learns which child exited from a pidfd of each, watched with
// epoll, and reaps that one child with wait4(pid), which the kernel does
// in constant time. wait4(-1) instead walks every child of the agent to
// find the one that exited: 60 µs per call with 2000 children here, twice
// per exit, a cost that grew with the number of instances. Where pidfds
// are not available (Linux before 5.3), every SIGCHLD sweeps with
// wait4(-1) at once, as it always did.
//
// The Reaper makes the agent a child subreaper, so processes orphaned by
// an instance's leader are re-parented to the agent instead of to PID 1,
// and reaps them: they have no pidfd, so a SIGCHLD also sweeps with
// wait4(-1), but at most every sweepEvery when pidfds serve the rest (a
// zombie orphan waits that long, harmlessly). This also makes the agent
// fit to run as PID 1 in a container.
//
// Start and Close may be called from any goroutine.
type Reaper struct {
	log *slog.Logger

	// starts is read-held by each start from its fork to its
	// registration, and write-held around the sweep's wait4(-1) plus
	// lookup, so a child is never reaped before its registration while
	// starts still run in parallel (fork+exec is most of a start; two
	// cores start twice as many). Where pidfds reap the children, the
	// sweep only tries it (orphans can wait): a start held for good by
	// an exec that hangs (a binary on a dead file system) then stops
	// nothing else, where a waiting writer would hold every later start
	// and, through reaping, every exit.
	starts sync.RWMutex
	// reaping is write-held around each wait4 plus the bookkeeping of
	// the reaped (reapFD, the sweep), by Unwatch and by Adopt; read-held
	// by Proc.Signal, so a signal never reaches a pid reaped meanwhile.
	reaping sync.RWMutex
	mu      sync.Mutex    // guards procs, byFD, inherited and closed
	procs   map[int]*Proc // registered, not yet reaped, by pid
	byFD    map[int]*Proc // the same, by pidfd, for those that have one
	closed  bool
	// inherited are the children an agent handed over with the process
	// (see Handoff), registered before the first wait, until taken.
	inherited map[int]*Proc

	// spawner forks the children from small descriptor tables once it
	// is ready (spawnerDone closed); nil without one (see spawner), when
	// they fork from the agent's.
	spawner     atomic.Pointer[spawner]
	spawnerOnce sync.Once
	spawnerDone chan struct{}
	spawnerMade atomic.Bool // makeSpawner has been called

	ep int // epoll descriptor watching the pidfds; -1 without pidfds
	// epf holds ep in the runtime's poller (see pollLoop), nil where it
	// could not be put there; closing it closes ep.
	epf    *os.File
	wakeFD int // eventfd that ends the epoll goroutine
	// polling: the epoll goroutine reaps; false without pidfds, or once
	// epoll has failed, when every SIGCHLD sweeps at once.
	polling atomic.Bool

	sigc      chan os.Signal
	stop      chan struct{}
	done      chan struct{} // closed when both goroutines have ended
	closeOnce sync.Once
}

// sweepEvery bounds how often a SIGCHLD sweeps with wait4(-1) when pidfds
// reap the Reaper's own children.
const sweepEvery = 100 * time.Millisecond

// reaperOpen guards the one Reaper a process may have (see Reaper).
var reaperOpen atomic.Bool

// NewReaper makes the process a child subreaper, subscribes to SIGCHLD and
// starts the goroutines that reap children. log receives a debug record
// for each orphan reaped; nil discards them. Close stops them.
func NewReaper(log *slog.Logger) (*Reaper, error) {
	return newReaper(log, true, nil)
}

// NewReaperInheriting is NewReaper for a process that an agent's handoff
// executed in place of that agent (same pid): inherit are the children
// that agent started, still this process's children, some perhaps
// exited meanwhile and waiting to be reaped. They are registered before
// anything is reaped, so no exit among them is mistaken for an orphan's;
// Inherited hands each to the supervisor that takes it over. A pid that
// is no child of this process is left out.
func NewReaperInheriting(log *slog.Logger, inherit []int) (*Reaper, error) {
	return newReaper(log, true, inherit)
}

// newReaper is NewReaper; usePidfds false makes it sweep as on a kernel
// without pidfds, for the tests.
func newReaper(log *slog.Logger, usePidfds bool, inherit []int) (*Reaper, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if !reaperOpen.CompareAndSwap(false, true) {
		return nil, errors.New("new reaper: another reaper is open in this process")
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		reaperOpen.Store(false)
		return nil, fmt.Errorf("new reaper: become child subreaper: %w", err)
	}
	r := &Reaper{
		log:    log,
		procs:  make(map[int]*Proc),
		byFD:   make(map[int]*Proc),
		ep:     -1,
		wakeFD: -1,
		// One pending notification is enough: each one makes the loop reap
		// until no exited child is left.
		sigc: make(chan os.Signal, 1),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	if usePidfds {
		if err := r.openEpoll(); err != nil {
			log.Info("pidfds unavailable; every exit sweeps all children", "err", err)
		}
	}
	r.spawnerDone = make(chan struct{})
	if len(inherit) == 0 {
		// ~1 ms in a fresh agent; waited for, so that a Reaper's
		// goroutines are all there when NewReaper returns.
		r.makeSpawner()
		<-r.spawnerDone
	}
	// else at the first start not aside (ProcSpec.Aside): after a
	// handover each spawner thread closes its copies of the 2000
	// descriptors of 1000 instances, CPU that the successor's first
	// answer need not share.
	if len(inherit) > 0 {
		r.inherited = make(map[int]*Proc, len(inherit))
		for _, pid := range inherit {
			if pid <= 1 || r.procs[pid] != nil || !isChild(pid) {
				continue
			}
			p := &Proc{pid: pid, started: time.Now(), reaper: r}
			r.watch(p)
			r.inherited[pid] = p
		}
	}
	signal.Notify(r.sigc, syscall.SIGCHLD)
	var wg sync.WaitGroup
	wg.Go(r.loop)
	if r.ep >= 0 {
		wg.Go(r.pollLoop)
	}
	go func() { wg.Wait(); close(r.done) }()
	return r, nil
}

// makeSpawner starts making the spawner, once, aside: until it is ready
// children fork from the agent's table.
func (r *Reaper) makeSpawner() {
	r.spawnerOnce.Do(func() {
		r.spawnerMade.Store(true)
		if r.ep < 0 {
			close(r.spawnerDone)
			return
		}
		go func() {
			defer close(r.spawnerDone)
			sp, err := newSpawner(spawners, r.wakeFD)
			if err != nil {
				r.log.Info("children fork from the agent's own descriptor table", "err", err)
				return
			}
			r.spawner.Store(sp)
		}()
	})
}

// openEpoll sets up the epoll descriptor and checks that this kernel
// gives pidfds.
func (r *Reaper) openEpoll() error {
	fd, err := unix.PidfdOpen(os.Getpid(), 0)
	if err != nil {
		return fmt.Errorf("pidfd_open: %w", err)
	}
	unix.Close(fd)
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return fmt.Errorf("epoll: %w", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(ep)
		return fmt.Errorf("eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wake)}
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, wake, &ev); err != nil {
		unix.Close(ep)
		unix.Close(wake)
		return fmt.Errorf("epoll: %w", err)
	}
	r.ep, r.wakeFD = ep, wake
	r.polling.Store(true)
	// An epoll descriptor is readable while it has events: in non-blocking
	// mode os.NewFile puts it in the runtime's own epoll set.
	if reapInPoller && unix.SetNonblock(ep, true) == nil {
		r.epf = os.NewFile(uintptr(ep), "epoll of the children's pidfds")
	}
	return nil
}

// watch registers p, adding a pidfd of it to the epoll set when it can.
// It is called with starts read-held (Start) or reaping held (Adopt), so
// p cannot be reaped before it is registered.
func (r *Reaper) watch(p *Proc) {
	p.pidfd = -1
	if r.polling.Load() {
		fd, err := unix.PidfdOpen(p.pid, 0)
		if err == nil {
			ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
			if err = unix.EpollCtl(r.ep, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
				unix.Close(fd)
			} else {
				p.pidfd = fd
			}
		}
		if err != nil {
			// Reaped by the next sweep instead, within sweepEvery.
			r.log.Warn("no pidfd for a child; its exit is found by a sweep", "pid", p.pid, "err", err)
		}
	}
	r.mu.Lock()
	r.procs[p.pid] = p
	if p.pidfd >= 0 {
		r.byFD[p.pidfd] = p
	}
	r.mu.Unlock()
}

// forgetLocked drops p, reaped, from the maps and closes its pidfd (which
// also takes it out of the epoll set). r.reaping is held.
func (r *Reaper) forgetLocked(p *Proc) {
	r.mu.Lock()
	delete(r.procs, p.pid)
	if p.pidfd >= 0 {
		delete(r.byFD, p.pidfd)
		unix.Close(p.pidfd)
		p.pidfd = -1
	}
	r.mu.Unlock()
	p.markReaped() // before reaping is let go: Signal must not hit a reused pid
}

// Start starts the process described by spec as the leader of its own
// process group and returns at once.
//
// onExit is called exactly once, with the process's exit status, when the
// leader has exited and been reaped (members of its group may still run).
// It is called from the Reaper's goroutine, possibly before Start returns,
// and must not block: hand the status to a channel or a goroutine. It is
// not called when Start fails, nor after Close.
func (r *Reaper) Start(spec ProcSpec, onExit func(ExitStatus)) (*Proc, error) {
	if onExit == nil {
		return nil, errors.New("start: nil onExit")
	}
	name, argv, attr, cleanup, err := spec.prepare()
	if err != nil {
		return nil, err
	}
	defer cleanup()

	r.starts.RLock()
	defer r.starts.RUnlock()
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("start %s: reaper closed", spec.Path)
	}
	pid, err := r.fork(name, argv, attr, spec.Aside)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Path, err)
	}
	p := &Proc{pid: pid, cgroup: spec.Cgroup, started: time.Now(), onExit: onExit, reaper: r}
	// Before registration, so the pid cannot have been reaped and reused
	// (starts is read-held): a zombie's stat is still there.
	if st, err := readProcStat(pid); err == nil {
		p.startTicks = st.start
	}
	r.watch(p)
	return p, nil
}

// fork starts the child, from a spawner thread when there is one. The
// first start that is not aside makes the spawner.
func (r *Reaper) fork(name string, argv []string, attr *os.ProcAttr, aside bool) (int, error) {
	if sp := r.spawner.Load(); sp != nil {
		pid, err := sp.start(name, argv, attr)
		if !errors.Is(err, errSpawnersBusy) {
			return pid, err
		}
		r.log.Warn("every spawner thread is held by a start that has not exec'd; forking from the agent", "binary", name, "waited", spawnerWait)
	} else if !aside {
		r.makeSpawner()
	}
	process, err := os.StartProcess(name, argv, attr)
	if err != nil {
		return 0, err
	}
	// The pidfd os.StartProcess opened is not needed: the reaper waits
	// with wait4, and a pid cannot be reused before the reaper has reaped
	// it (see Proc.Signal). Closing it at once keeps the agent's
	// descriptor table small, which every fork from it copies.
	pid := process.Pid // Release sets it to -1
	process.Release()
	return pid, nil
}

// Inherited takes the child pid that NewReaperInheriting registered, with
// what its start was, pgid and cgroup; onExit is called as for Start (at
// once, from the caller's goroutine, if it has exited already). It
// returns nil for a pid that was not inherited, or was taken already.
func (r *Reaper) Inherited(pid, pgid int, cgroup string, started time.Time, onExit func(ExitStatus)) *Proc {
	r.mu.Lock()
	p := r.inherited[pid]
	delete(r.inherited, pid)
	r.mu.Unlock()
	if p == nil {
		return nil
	}
	p.pgid, p.cgroup, p.started = pgid, cgroup, started
	p.setOnExit(onExit)
	return p
}

// ErrNoPidfd is returned by Watch where the kernel gives no pidfds.
var ErrNoPidfd = errors.New("no pidfds on this kernel")

// Watch follows a process that is not the agent's child, a run an earlier
// agent started and left when it was killed (its parent is now another
// process, which reaps it): onExit is called once, from the Reaper's
// goroutine, when the process has ended, with a zero ExitStatus but for
// its time, since only a parent learns how a process ended; Proc.Foreign
// says so. start is the process's start time in clock ticks (as in
// /proc/PID/stat): a pid that another process has taken since fails with
// ErrNotChild, as does a process that has gone. A pgid below 0 is taken
// from /proc, from the same read that checks the start time.
func (r *Reaper) Watch(pid, pgid int, start uint64, cgroup string, started time.Time, onExit func(ExitStatus)) (*Proc, error) {
	if onExit == nil || pid <= 1 {
		return nil, errors.New("watch: bad arguments")
	}
	if !r.polling.Load() {
		return nil, fmt.Errorf("watch %d: %w", pid, ErrNoPidfd)
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err == unix.ESRCH {
		return nil, fmt.Errorf("watch %d: %w", pid, ErrNotChild)
	} else if err != nil {
		return nil, fmt.Errorf("watch %d: pidfd: %w", pid, err) // out of descriptors, say
	}
	// The pidfd names the process it was opened on: if that one is the
	// run's (its start time), it is the one watched, whatever reuses the
	// pid later.
	st, err := readProcStat(pid)
	if err != nil || st.gone() || (start != 0 && st.start != start) {
		unix.Close(fd)
		return nil, fmt.Errorf("watch %d: %w", pid, ErrNotChild)
	}
	if pgid < 0 {
		pgid = st.pgid
	}
	p := &Proc{pid: pid, pgid: pgid, cgroup: cgroup, started: started, startTicks: start, onExit: onExit, reaper: r, foreign: true, pidfd: fd}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		unix.Close(fd)
		return nil, fmt.Errorf("watch %d: reaper closed", pid)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
	if err := unix.EpollCtl(r.ep, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		r.mu.Unlock()
		unix.Close(fd)
		return nil, fmt.Errorf("watch %d: %w", pid, err)
	}
	r.byFD[fd] = p
	r.mu.Unlock()
	return p, nil
}

// Unwatch stops following p, which Watch returned, without calling its
// onExit: the caller did not take the process over after all. If it had
// ended already, its onExit may have been called.
func (r *Reaper) Unwatch(p *Proc) {
	p.setOnExit(func(ExitStatus) {}) // a reapFD under way calls this one
	// Holding reaping, as reapFD: wholly before or after it. An event
	// for the pidfd that epoll gave before it closes finds either no
	// process or, its number taken again, a live one (reapFD checks).
	r.reaping.Lock()
	r.mu.Lock()
	if p.pidfd >= 0 && r.byFD[p.pidfd] == p { // not after Close, which closed it
		delete(r.byFD, p.pidfd)
		unix.Close(p.pidfd)
	}
	p.pidfd = -1
	r.mu.Unlock()
	r.reaping.Unlock()
}

// Foreign reports whether p is not the agent's child (Watch): how it
// ended is not known.
func (p *Proc) Foreign() bool { return p.foreign }

// isChild reports whether pid is a child of this process (exited or not).
// waitid with WNOWAIT asks the kernel without reaping anything: ECHILD
// for a pid that is not a child. One system call, where reading
// /proc/PID/stat costs an open, a read and a close: a handover of 1000
// instances asks 1000 times.
func isChild(pid int) bool {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
		if err != unix.EINTR {
			return err == nil
		}
	}
}

// ErrNotChild is returned by Adopt for a process that has gone.
var ErrNotChild = errors.New("no such process")

// Adopt takes over a process that the Reaper did not start: a daemon's
// main process announced with MAINPID=, which becomes the agent's child
// when its parent (the instance's first process) exits, because the agent
// is a child subreaper. onExit is called as for Start. pgid is the process
// group SignalGroup signals.
//
// Adopt fails with ErrNotChild when pid has already gone (and been reaped
// as an orphan). A pid whose parent is still another live process is
// adopted too, but its exit is reported only if that parent exits first
// and leaves it to the agent: the caller should adopt only after the
// parent it knows of has exited.
func (r *Reaper) Adopt(pid, pgid int, onExit func(ExitStatus)) (*Proc, error) {
	if onExit == nil || pid <= 0 {
		return nil, errors.New("adopt: bad arguments")
	}
	// Holding reaping keeps wait4 out: pid cannot be reaped as an
	// orphan between the check and the registration. (Not starts: pid
	// is no start's, and a start held by a hung exec must not hold this.)
	r.reaping.Lock()
	defer r.reaping.Unlock()
	r.mu.Lock()
	closed, known := r.closed, r.procs[pid] != nil
	r.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("adopt %d: reaper closed", pid)
	}
	if known {
		return nil, fmt.Errorf("adopt %d: already supervised", pid)
	}
	if err := unix.Kill(pid, 0); err == unix.ESRCH {
		return nil, fmt.Errorf("adopt %d: %w", pid, ErrNotChild)
	}
	p := &Proc{pid: pid, pgid: pgid, started: time.Now(), onExit: onExit, reaper: r}
	if st, err := readProcStat(pid); err == nil {
		p.startTicks = st.start
	}
	r.watch(p)
	return p, nil
}

// Close stops the Reaper's goroutines and returns after they have ended.
// It kills nothing: processes keep running, and their exits are no longer
// reported. Close is idempotent.
func (r *Reaper) Close() error { return r.close(true) }

// CloseForExec is Close for a process about to execute another program
// (a handover): the pidfds are left to the exec, which closes them with
// the process's other close-on-exec descriptors (pidfd_open and
// CLONE_PIDFD make every pidfd so). Closed one by one, 1000 of them were
// 2 to 3 ms of a handover while the API was away.
func (r *Reaper) CloseForExec() error { return r.close(false) }

func (r *Reaper) close(pidfds bool) error {
	r.closeOnce.Do(func() {
		r.mu.Lock()
		r.closed = true
		r.mu.Unlock()
		r.spawnerOnce.Do(func() { close(r.spawnerDone) }) // none made
		<-r.spawnerDone
		if sp := r.spawner.Load(); sp != nil {
			sp.close() // once the starts under way are done
		}
		signal.Stop(r.sigc)
		close(r.stop)
		if r.wakeFD >= 0 {
			unix.Write(r.wakeFD, []byte{1, 0, 0, 0, 0, 0, 0, 0})
		}
		<-r.done
		if r.ep >= 0 {
			// The epoll set first: it lets go of all its pidfds at once,
			// where each pidfd closed while in it is taken out of it
			// alone (1000 of them at a handover).
			if r.epf != nil {
				r.epf.Close()
			} else {
				unix.Close(r.ep)
			}
			r.mu.Lock()
			if pidfds {
				for fd := range r.byFD {
					unix.Close(fd)
				}
			}
			clear(r.byFD)
			r.mu.Unlock()
			unix.Close(r.wakeFD)
		}
		reaperOpen.Store(false)
	})
	return nil
}

// loop sweeps on SIGCHLD until Close: at once without pidfds, at most
// every sweepEvery with them.
func (r *Reaper) loop() {
	var timer <-chan time.Time
	last := time.Time{}
	for {
		if timer == nil {
			if !r.polling.Load() || time.Since(last) >= sweepEvery {
				// Also catches exits from before Notify or while busy.
				if r.sweep() {
					last = time.Now()
				} else {
					timer = time.After(sweepRetry)
				}
			} else {
				timer = time.After(sweepEvery - time.Since(last))
			}
		}
		select {
		case <-r.stop:
			return
		case <-r.sigc:
		case <-timer:
			timer = nil
			if r.sweep() {
				last = time.Now()
			} else {
				timer = time.After(sweepRetry)
			}
		}
	}
}

// sweepRetry is how soon a sweep that found a start under way (with
// pidfds) is tried again.
const sweepRetry = 5 * time.Millisecond

// sweep reaps every exited child with wait4(-1) and reports each: the
// orphans, and any child whose pidfd has not been seen yet. With pidfds
// it gives up, reporting false, when a start is under way (see starts).
func (r *Reaper) sweep() bool {
	for {
		if !r.polling.Load() {
			r.starts.Lock()
		} else if !r.starts.TryLock() {
			return false
		}
		r.reaping.Lock()
		unlock := func() {
			r.reaping.Unlock()
			r.starts.Unlock()
		}
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			unlock()
			continue
		}
		if err != nil || pid <= 0 { // ECHILD: no children; 0: none exited
			unlock()
			return true
		}
		r.mu.Lock()
		p := r.procs[pid]
		r.mu.Unlock()
		if p != nil {
			r.forgetLocked(p)
		}
		unlock()

		st := NewExitStatus(ws, time.Now())
		if p == nil {
			r.log.Debug("reaped orphan", "pid", pid, "exit_code", st.ExitCode(), "signal", st.SignalName())
			continue
		}
		p.exited(st)
	}
}

// reapInPoller is false in the tests of the blocking epoll_wait that
// pollLoop falls back to.
var reapInPoller = true

// pollLoop reaps, as epoll reports their pidfds readable, the children
// that exited, each with wait4 of its own pid, until Close.
//
// It waits in the runtime's poller, not in a blocking epoll_wait: the
// thread that the poller wakes for an exit reaps it and then, as the
// goroutine parks again without a system call, runs the loop that the
// exit readied on the same thread. Blocked in epoll_wait, the goroutine
// kept its thread in a system call, and the loop waited for a second
// thread to be woken for it, tens of microseconds on a virtual machine,
// on every restart's path.
func (r *Reaper) pollLoop() {
	events := make([]unix.EpollEvent, 64)
	// reap reaps what one epoll_wait reports, waiting timeout ms (-1:
	// until there is something). It reports whether the loop is over
	// (Close, or epoll failed) and how many events it took.
	reap := func(timeout int) (over bool, n int) {
		n, err := unix.EpollWait(r.ep, events, timeout)
		if err == unix.EINTR {
			return false, -1 // not empty: ask again
		}
		if err != nil {
			r.log.Error("epoll on the children's pidfds failed; sweeping instead", "err", err)
			r.polling.Store(false)
			select {
			case r.sigc <- syscall.SIGCHLD: // sweep now for what it may have missed
			default:
			}
			return true, 0
		}
		for _, ev := range events[:n] {
			if int(ev.Fd) == r.wakeFD {
				return true, n
			}
			r.reapFD(int(ev.Fd))
		}
		return false, n
	}
	if r.epf != nil {
		if rc, err := r.epf.SyscallConn(); err == nil {
			// The runtime's poller is edge-triggered: it wakes this when
			// the set goes from no events to some, so this waits only
			// once it has found none.
			over := false
			err = rc.Read(func(uintptr) bool {
				for {
					o, n := reap(0)
					if o {
						over = true
						return true
					}
					if n == 0 {
						return false
					}
				}
			})
			if over {
				return
			}
			// Not pollable here (err), or the poller let go of it: wait
			// in epoll_wait, as without it.
			r.log.Debug("reaping from a blocking epoll_wait", "err", err)
		}
	}
	for {
		if over, _ := reap(-1); over {
			return
		}
	}
}

// reapFD reaps the child whose pidfd fd became readable. An event for a
// descriptor that is no longer a child's (reaped by a sweep meanwhile, its
// number reused) finds nothing to reap: wait4 is asked not to wait.
func (r *Reaper) reapFD(fd int) {
	r.reaping.Lock()
	r.mu.Lock()
	p := r.byFD[fd]
	r.mu.Unlock()
	if p == nil {
		r.reaping.Unlock()
		return
	}
	if p.foreign {
		// Its parent reaps it; the pidfd says only that it has ended,
		// when it is readable now: an event from before its number was
		// closed (Unwatch, a sweep) and given to another pidfd says
		// nothing of that one's process.
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if n, err := unix.Poll(pfd, 0); err != nil || n == 0 || pfd[0].Revents&unix.POLLIN == 0 {
			r.reaping.Unlock()
			return
		}
		r.mu.Lock()
		delete(r.byFD, fd)
		unix.Close(fd)
		p.pidfd = -1
		r.mu.Unlock()
		p.markReaped()
		r.reaping.Unlock()
		p.exited(ExitStatus{Time: time.Now()})
		return
	}
	var ws unix.WaitStatus
	pid, err := unix.Wait4(p.pid, &ws, unix.WNOHANG, nil)
	for err == unix.EINTR {
		pid, err = unix.Wait4(p.pid, &ws, unix.WNOHANG, nil)
	}
	if err != nil || pid != p.pid {
		r.reaping.Unlock()
		if err == unix.ECHILD {
			// Not our child any more: someone else reaped it, which the
			// Reaper's contract forbids. Say so rather than hang.
			r.log.Error("a child was reaped behind the reaper's back", "pid", p.pid)
		}
		return
	}
	r.forgetLocked(p)
	r.reaping.Unlock()
	p.exited(NewExitStatus(ws, time.Now()))
}
