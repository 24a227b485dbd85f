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
// The Reaper makes the agent a child subreaper, so processes orphaned by
// an instance's leader are re-parented to the agent instead of to PID 1,
// and reaps them; this also makes the agent fit to run as PID 1 in a
// container.
//
// Start and Close may be called from any goroutine.
type Reaper struct {
	log *slog.Logger

	// gate is read-locked around os.StartProcess plus registration, and
	// write-locked around each wait4 plus lookup, so an exit is never
	// reaped before its registration while starts still run in parallel
	// (fork+exec is most of a start; two cores start twice as many).
	gate   sync.RWMutex
	mu     sync.Mutex    // guards procs and closed
	procs  map[int]*Proc // registered, not yet reaped
	closed bool

	sigc      chan os.Signal
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// reaperOpen guards the one Reaper a process may have (see Reaper).
var reaperOpen atomic.Bool

// NewReaper makes the process a child subreaper, subscribes to SIGCHLD and
// starts the goroutine that reaps children. log receives a debug record
// for each orphan reaped; nil discards them. Close stops it.
func NewReaper(log *slog.Logger) (*Reaper, error) {
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
		log:   log,
		procs: make(map[int]*Proc),
		// One pending notification is enough: each one makes the loop reap
		// until no exited child is left.
		sigc: make(chan os.Signal, 1),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	signal.Notify(r.sigc, syscall.SIGCHLD)
	go r.loop()
	return r, nil
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

	r.gate.RLock()
	defer r.gate.RUnlock()
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("start %s: reaper closed", spec.Path)
	}
	process, err := os.StartProcess(name, argv, attr)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Path, err)
	}
	// The pidfd os.StartProcess opened is not needed: the reaper waits
	// with wait4, and a pid cannot be reused before the reaper has reaped
	// it (see Proc.Signal). Closing it at once keeps the agent's
	// descriptor table small, and every fork copies that table: with
	// 1000 instances, holding them made starting 1000 take 6% longer.
	pid := process.Pid // Release sets it to -1
	process.Release()
	p := &Proc{pid: pid, started: time.Now(), onExit: onExit, reaper: r}
	r.mu.Lock()
	r.procs[p.pid] = p
	r.mu.Unlock()
	return p, nil
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
	// The write lock keeps wait4 out: pid cannot be reaped as an orphan
	// between the check and the registration.
	r.gate.Lock()
	defer r.gate.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, fmt.Errorf("adopt %d: reaper closed", pid)
	}
	if r.procs[pid] != nil {
		return nil, fmt.Errorf("adopt %d: already supervised", pid)
	}
	if err := unix.Kill(pid, 0); err == unix.ESRCH {
		return nil, fmt.Errorf("adopt %d: %w", pid, ErrNotChild)
	}
	p := &Proc{pid: pid, pgid: pgid, started: time.Now(), onExit: onExit, reaper: r}
	r.procs[pid] = p
	return p, nil
}

// Close stops the Reaper's goroutine and returns after it has ended. It
// kills nothing: processes keep running, and their exits are no longer
// reported. Close is idempotent.
func (r *Reaper) Close() error {
	r.closeOnce.Do(func() {
		r.mu.Lock()
		r.closed = true
		r.mu.Unlock()
		signal.Stop(r.sigc)
		close(r.stop)
		<-r.done
		reaperOpen.Store(false)
	})
	return nil
}

// loop reaps on every SIGCHLD until Close. It is the only caller of wait4.
func (r *Reaper) loop() {
	defer close(r.done)
	for {
		r.reapAll() // also catches exits from before Notify or while busy
		select {
		case <-r.stop:
			return
		case <-r.sigc:
		}
	}
}

// reapAll reaps every exited child and reports each.
func (r *Reaper) reapAll() {
	for {
		var ws unix.WaitStatus
		r.gate.Lock()
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			r.gate.Unlock()
			continue
		}
		if err != nil || pid <= 0 { // ECHILD: no children; 0: none exited
			r.gate.Unlock()
			return
		}
		r.mu.Lock()
		p := r.procs[pid]
		delete(r.procs, pid)
		r.mu.Unlock()
		if p != nil {
			p.markReaped() // before the gate opens: Signal must not hit a reused pid
		}
		r.gate.Unlock()

		st := NewExitStatus(ws, time.Now())
		if p == nil {
			r.log.Debug("reaped orphan", "pid", pid, "exit_code", st.ExitCode(), "signal", st.SignalName())
			continue
		}
		p.exited(st)
	}
}
