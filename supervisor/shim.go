package supervisor

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A job's attempt runs under a shim: tend's own binary, started as
// `tend shim`, which starts the attempt's command as its only child,
// waits for it, writes how it ended to a status file the agent opened for
// it, and exits. The shim is what containerd's shims and conmon are to a
// container: a parent that outlives the agent. How an attempt ends
// decides its job (an index completed, or one failure towards the
// back-off limit), and only a parent learns it; after a kill -9 of the
// agent, the attempt's parent is still the shim, so the exit status is
// not lost, whether the attempt ends before the next agent starts (it
// reads the file) or after (it watches the shim, which has taken the
// attempt over, and reads the file when the shim ends).
//
// The shim is started as any run is (its own process group, the run's
// cgroup, user and working directory, the run's environment and
// descriptors) and passes all of it on: the command runs in the shim's
// group and cgroup, so stopping the run signals both, and the shim, which
// catches every signal and does nothing with it, goes when the command
// has gone. It costs a small process a running attempt (its memory counts
// in the run's cgroup) and an exec at each start. Replicated and per-host
// instances run without one: their exit status while no agent runs only
// says how they ended, not whether they are run again.

// ShimVerb is the first argument that makes tend's binary a shim
// (RunShim): `tend shim --status-fd=N --run=R [--lease-fd=L
// --kill-grace=D --stop-signal=S] -- PATH ARGV...`.
const ShimVerb = "shim"

// shimStatusFile is the name, in the instance's log directory, of the
// file the shim writes its attempt's end to. Spawn truncates it.
const shimStatusFile = "exit-status"

// shimLease is what a shim of an exclusive unit's run enforces: the run
// ends when the lease in its file does (see leaseGuard).
type shimLease struct {
	file      *os.File // the lease file (WriteLease), read only
	killGrace time.Duration
	stopSig   syscall.Signal
	cgroup    string // the run's cgroup, "" for none
}

// shimCommand is the command line that starts path argv under shim (the
// binary) for run run, with the status file as descriptor statusFD and,
// when lease is not nil, its file as statusFD+1.
func shimCommand(shim string, statusFD int, run uint64, lease *shimLease, path string, argv []string) (string, []string) {
	args := make([]string, 0, 8+len(argv))
	args = append(args, "tend", ShimVerb, "--status-fd="+strconv.Itoa(statusFD), "--run="+strconv.FormatUint(run, 10))
	if lease != nil {
		args = append(args, "--lease-fd="+strconv.Itoa(statusFD+1), "--kill-grace="+lease.killGrace.String(),
			"--stop-signal="+strconv.Itoa(int(lease.stopSig)), "--cgroup="+lease.cgroup)
	}
	args = append(args, "--", path)
	return shim, append(args, argv...)
}

// Exit statuses of the shim itself when it cannot do its work, as the
// shell's: 125 for a command line it does not understand (it was not
// started by an agent), 127 when the command cannot be started (the
// status file says why).
const (
	shimUsage   = 125
	shimNoStart = 127
)

// RunShim is `tend shim`: args are what follows the verb. It returns
// the shim's exit status: the command's, or 128 + the signal that killed
// it (the status file holds the whole of it).
func RunShim(args []string) int {
	a, err := parseShimArgs(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tend shim:", err)
		fmt.Fprintln(os.Stderr, "tend shim is started by the agent, to run a job's attempt; it is not for use by hand")
		return shimUsage
	}
	// The command gets the descriptors below the status file's, and not
	// that one: ForkExec leaves open what it is not told to close.
	statusFD, run, path, argv := a.statusFD, a.run, a.path, a.argv
	unix.CloseOnExec(statusFD)
	status := os.NewFile(uintptr(statusFD), "exit status")
	var lease *os.File
	if a.leaseFD > 0 {
		unix.CloseOnExec(a.leaseFD)
		lease = os.NewFile(uintptr(a.leaseFD), "lease")
	}
	// Every signal is caught, so that the one that stops the run (sent to
	// the group, which the command is in too) does not end the shim
	// before the command. A caught signal is back to its default in the
	// command; an ignored one would stay ignored there.
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs)
	files := make([]uintptr, statusFD)
	for fd := range files {
		files[fd] = uintptr(fd)
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
			files[fd] = ^uintptr(0) // closed in the shim: closed in the command
		}
	}
	// A signal that ends a process, caught before the command exists (a
	// stop of the run within a moment of its start), would have reached
	// the command in the group had it been there, and ended it: the
	// command is not started, and the run ends by that signal. Left to
	// itself the command would run on, deaf to the stop, until the
	// agent's SIGKILL at the end of stop_timeout.
	if sig := endingSignalCaught(sigs, time.Second); sig != 0 {
		writeShimStatus(status, fmt.Sprintf("run=%d pid=0 code=0 signal=%d core=false time=%d\n", run, sig, time.Now().UnixNano()))
		return 128 + int(sig)
	}
	if lease != nil {
		if until, ok := ReadLease(lease); !ok || BootTime() >= until {
			writeShimStatus(status, fmt.Sprintf("run=%d error=%s\n", run, strconv.Quote("the run's lease had ended before its command could start")))
			return shimNoStart
		}
	}
	pid, err := syscall.ForkExec(path, argv, &syscall.ProcAttr{Env: os.Environ(), Files: files})
	if err != nil {
		writeShimStatus(status, fmt.Sprintf("run=%d error=%s\n", run, strconv.Quote(err.Error())))
		return shimNoStart
	}
	// os/signal hands signals over late, at times later than the look
	// above (see endingSignalCaught): one that ends a process and shows
	// only now may have come before the fork, and is passed on to the
	// command. If it came after, through the group, the command has it
	// twice within a moment of its exec: a standard signal still pending
	// merges with the second, and a command that has had no time to set
	// a handler dies of the first.
	if sig := endingSignalCaught(sigs, time.Second); sig != 0 {
		syscall.Kill(pid, sig)
	}
	go func() {
		for range sigs {
		}
	}()
	if lease != nil {
		until, _ := ReadLease(lease)
		go leaseGuard(lease, until, a.killGrace, a.stopSig, a.cgroup)
	}
	var ws syscall.WaitStatus
	for {
		_, err := syscall.Wait4(pid, &ws, 0, nil)
		if err != syscall.EINTR {
			break
		}
	}
	now := time.Now()
	code, sig := ws.ExitStatus(), 0
	if ws.Signaled() {
		code, sig = 0, int(ws.Signal())
	}
	writeShimStatus(status, fmt.Sprintf("run=%d pid=%d code=%d signal=%d core=%t time=%d\n", run, pid, code, sig, ws.CoreDump(), now.UnixNano()))
	if sig != 0 {
		return 128 + sig
	}
	return code
}

// shimMarker is the signal the shim sends itself to see what signals
// reached it before (SIGRTMAX, which no stop_signal should be).
const shimMarker = syscall.Signal(64)

// endingSignalCaught returns the first signal caught so far whose
// default action ends a process; 0 when there is none. os/signal hands
// signals over asynchronously, so a plain look at sigs would miss one
// that has just arrived: the shim sends itself shimMarker and reads
// until it comes. The kernel hands a thread its pending signals lowest
// number first, so one pending when the marker is sent comes before it;
// but one that another thread of the runtime took already can still
// come after (1 in 400 in a test that sent one and looked at once): the
// look narrows the window, it does not close it. A marker that does not
// come within wait (dropped by a full channel) ends the look.
func endingSignalCaught(sigs <-chan os.Signal, wait time.Duration) syscall.Signal {
	if err := syscall.Kill(os.Getpid(), shimMarker); err != nil {
		wait = 0
	}
	var found syscall.Signal
	timeout := time.After(wait)
	for {
		select {
		case sig := <-sigs:
			switch s := sig.(syscall.Signal); s {
			case shimMarker:
				return found
			case syscall.SIGCHLD, syscall.SIGURG, syscall.SIGWINCH, syscall.SIGCONT,
				syscall.SIGTSTP, syscall.SIGTTIN, syscall.SIGTTOU:
				// Ignored by default, or a stop (the runtime's own
				// preemption is SIGURG).
			default:
				if found == 0 {
					found = s
				}
			}
		case <-timeout:
			return found
		}
	}
}

// writeShimStatus writes line as the status file's whole content. No
// fsync: the file has to outlive the agent, not the host, whose end ends
// the attempt too.
func writeShimStatus(f *os.File, line string) {
	if _, err := f.WriteAt([]byte(line), 0); err != nil {
		fmt.Fprintln(os.Stderr, "tend shim: writing the exit status:", err)
	}
	f.Close()
}

// shimArgs are a shim's arguments.
type shimArgs struct {
	statusFD  int
	run       uint64
	leaseFD   int // 0: no lease
	killGrace time.Duration
	stopSig   syscall.Signal
	cgroup    string
	path      string
	argv      []string
}

func parseShimArgs(args []string) (a shimArgs, err error) {
	a.statusFD = -1
	for len(args) > 0 && args[0] != "--" {
		k, v, _ := strings.Cut(args[0], "=")
		switch k {
		case "--status-fd":
			a.statusFD, err = strconv.Atoi(v)
		case "--run":
			a.run, err = strconv.ParseUint(v, 10, 64)
		case "--lease-fd":
			a.leaseFD, err = strconv.Atoi(v)
		case "--kill-grace":
			a.killGrace, err = time.ParseDuration(v)
		case "--cgroup":
			a.cgroup = v
		case "--stop-signal":
			var n int
			n, err = strconv.Atoi(v)
			a.stopSig = syscall.Signal(n)
		default:
			err = fmt.Errorf("unknown argument %q", args[0])
		}
		if err != nil {
			return shimArgs{}, fmt.Errorf("%s: %w", args[0], err)
		}
		args = args[1:]
	}
	switch {
	case len(args) < 3:
		return shimArgs{}, errors.New("usage: tend shim --status-fd=N --run=R [--lease-fd=L --kill-grace=D --stop-signal=S] -- PATH ARGV0 [ARG...]")
	case a.statusFD < 3:
		return shimArgs{}, errors.New("--status-fd: want a descriptor after the standard ones")
	case a.leaseFD != 0 && a.leaseFD <= a.statusFD:
		return shimArgs{}, errors.New("--lease-fd: want a descriptor after the status file's")
	case a.leaseFD != 0 && (a.killGrace <= 0 || a.stopSig <= 0 || a.stopSig > 64):
		return shimArgs{}, errors.New("--lease-fd needs --kill-grace and --stop-signal")
	}
	for _, fd := range []int{a.statusFD, a.leaseFD} {
		if fd == 0 {
			continue
		}
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
			return shimArgs{}, fmt.Errorf("descriptor %d: %w", fd, err)
		}
	}
	a.path, a.argv = args[1], args[2:]
	return a, nil
}

// Children are the pids of pid's children (a shim's: its command), as
// /proc lists them, in no order.
func Children(pid int) []int {
	// Each thread lists the children it made: any of a Go program's.
	tasks, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/children")
	var out []int
	for _, t := range tasks {
		b, _ := os.ReadFile(t)
		for _, f := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(f); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}

// shimStatus is what a shim wrote of its attempt's end.
type shimStatus struct {
	Exit     ExitStatus
	StartErr error // the command could not be started
}

// errNoShimStatus: the status file says nothing of the run asked for
// (the shim was killed before it wrote, or it is another run's).
var errNoShimStatus = errors.New("no exit status written for the run")

// readShimStatus reads what the shim of run wrote to the status file at
// path.
func readShimStatus(path string, run uint64) (shimStatus, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return shimStatus{}, err
	}
	line, ok := strings.CutSuffix(string(data), "\n")
	if !ok || strings.Contains(line, "\n") {
		return shimStatus{}, errNoShimStatus
	}
	head, rest, _ := strings.Cut(line, " ")
	if head != "run="+strconv.FormatUint(run, 10) {
		return shimStatus{}, errNoShimStatus
	}
	if q, ok := strings.CutPrefix(rest, "error="); ok {
		msg, err := strconv.Unquote(q)
		if err != nil {
			return shimStatus{}, fmt.Errorf("status file %s: error field: %w", path, err)
		}
		return shimStatus{StartErr: errors.New(msg)}, nil
	}
	fields := map[string]string{}
	for _, kv := range strings.Fields(rest) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return shimStatus{}, fmt.Errorf("status file %s: malformed field %q", path, kv)
		}
		fields[k] = v
	}
	var st ExitStatus
	var nanos int64
	var sig int
	for _, f := range []struct {
		key string
		to  any
	}{{"code", &st.Code}, {"signal", &sig}, {"core", &st.CoreDumped}, {"time", &nanos}} {
		v, ok := fields[f.key]
		if !ok {
			return shimStatus{}, fmt.Errorf("status file %s: no %s", path, f.key)
		}
		var err error
		switch to := f.to.(type) {
		case *int:
			*to, err = strconv.Atoi(v)
		case *int64:
			*to, err = strconv.ParseInt(v, 10, 64)
		case *bool:
			*to, err = strconv.ParseBool(v)
		}
		if err != nil {
			return shimStatus{}, fmt.Errorf("status file %s: %s: %w", path, f.key, err)
		}
	}
	st.Signal, st.Time = syscall.Signal(sig), time.Unix(0, nanos)
	return shimStatus{Exit: st}, nil
}
