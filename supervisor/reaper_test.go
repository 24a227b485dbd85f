package supervisor

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestExitStatusOfHelpers(t *testing.T) {
	r, _ := newTestReaper(t)
	for _, tc := range []struct {
		mode     string
		code     int
		signal   syscall.Signal
		exitCode int
		reason   string
		str      string
	}{
		{"exit:0", 0, 0, 0, "Completed", "exit status 0"},
		{"exit:3", 3, 0, 3, "Error", "exit status 3"},
		{"exit:255", 255, 0, 255, "Error", "exit status 255"},
		{"crash", 0, syscall.SIGABRT, 134, "Error", "signal SIGABRT (exit code 134)"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			h := startHelper(t, r, helperSpec(t, tc.mode))
			st := h.wait(t)
			if st.Code != tc.code || st.Signal != tc.signal || st.ExitCode() != tc.exitCode ||
				st.Reason() != tc.reason || st.String() != tc.str || st.Success() != (tc.exitCode == 0) {
				t.Errorf("got %+v: ExitCode %d, Reason %q, String %q; want code %d signal %v exit code %d, %q, %q",
					st, st.ExitCode(), st.Reason(), st.String(), tc.code, tc.signal, tc.exitCode, tc.reason, tc.str)
			}
			if st.Time.Before(h.Started()) {
				t.Errorf("exit time %v before start %v", st.Time, h.Started())
			}
		})
	}
}

func TestSignalKill(t *testing.T) {
	r, _ := newTestReaper(t)
	h := startHelper(t, r, helperSpec(t, "sleep"))
	if err := h.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	st := h.wait(t)
	if !st.Signaled() || st.Signal != syscall.SIGKILL || st.ExitCode() != 137 ||
		st.SignalName() != "SIGKILL" || st.String() != "signal SIGKILL (exit code 137)" || st.Success() {
		t.Errorf("got %+v (%s)", st, st)
	}
	if err := h.Signal(syscall.SIGKILL); !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("Signal after the exit: %v, want os.ErrProcessDone", err)
	}
	if err := h.SignalGroup(syscall.SIGKILL); err != nil {
		t.Errorf("SignalGroup after the group is gone: %v", err)
	}
}

// A process that ignores the stop signal is killed with its group.
func TestStopIgnoringTerm(t *testing.T) {
	r, _ := newTestReaper(t)
	w, lines := pipeLines(t)
	spec := helperSpec(t, "ignore-term")
	spec.Stdout = w
	h := startHelper(t, r, spec)
	w.Close()
	if l := nextLine(t, lines); l != "ready" {
		t.Fatalf("got %q, want ready", l)
	}
	if err := h.SignalGroup(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if l := nextLine(t, lines); l != "got SIGTERM" {
		t.Fatalf("got %q, want got SIGTERM", l)
	}
	if err := h.SignalGroup(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if st := h.wait(t); st.ExitCode() != 137 || st.SignalName() != "SIGKILL" {
		t.Errorf("got %s, want SIGKILL", st)
	}
}

// A grandchild that outlives its parent is re-parented to the agent (a
// subreaper), killed with the group, and reaped as an orphan.
func TestOrphanedGrandchild(t *testing.T) { forEachReaperMode(t, testOrphanedGrandchild) }

func testOrphanedGrandchild(t *testing.T, pidfds bool) {
	r, orphans := newTestReaperMode(t, pidfds)
	w, lines := pipeLines(t)
	spec := helperSpec(t, "fork-grandchild")
	spec.Stdout = w
	h := startHelper(t, r, spec)
	w.Close()
	gc, err := strconv.Atoi(nextLine(t, lines))
	if err != nil {
		t.Fatal(err)
	}
	if st := h.wait(t); !st.Success() {
		t.Fatalf("parent: %s", st)
	}
	if ppid := procStatusField(t, gc, "PPid"); ppid != strconv.Itoa(os.Getpid()) {
		t.Errorf("grandchild's parent is %s, want us (%d)", ppid, os.Getpid())
	}
	if pgid, _ := syscall.Getpgid(gc); pgid != h.Pid() {
		t.Errorf("grandchild's group is %d, want %d", pgid, h.Pid())
	}
	if err := h.SignalGroup(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(testDeadline)
	for reaped := false; !reaped; {
		select {
		case pid := <-orphans:
			reaped = pid == gc
		case <-deadline:
			t.Fatalf("grandchild %d not reaped", gc)
		}
	}
	if err := h.SignalGroup(syscall.SIGKILL); err != nil {
		t.Errorf("SignalGroup of a gone group: %v", err)
	}
}

// procStatusField is the first value of a line of /proc/PID/status.
func procStatusField(t testing.TB, pid int, key string) string {
	t.Helper()
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			if f := strings.Fields(v); len(f) > 0 {
				return f[0]
			}
			return ""
		}
	}
	t.Fatalf("/proc/%d/status: no %s", pid, key)
	return ""
}

// Processes that exit at once, started concurrently, are all reported:
// none is reaped before its registration, none is lost to coalesced
// SIGCHLDs.
func TestManyImmediateExits(t *testing.T) { forEachReaperMode(t, testManyImmediateExits) }

func testManyImmediateExits(t *testing.T, pidfds bool) {
	const n = 200
	r, _ := newTestReaperMode(t, pidfds)
	spec := helperSpec(t, "exit:0")
	exits := make(chan ExitStatus, n)
	procs := make([]*Proc, n)
	reported := make([]atomic.Bool, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			p, err := r.Start(spec, func(st ExitStatus) {
				reported[i].Store(true)
				exits <- st
			})
			if err != nil {
				t.Error(err)
				return
			}
			procs[i] = p
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	pids := make(map[int]bool)
	for _, p := range procs {
		pids[p.Pid()] = true
	}
	if len(pids) != n {
		t.Fatalf("%d distinct pids, want %d", len(pids), n)
	}
	deadline := time.After(testDeadline)
	for i := range n {
		select {
		case st := <-exits:
			if !st.Success() {
				t.Errorf("exit %d: %s", i, st)
			}
		case <-deadline:
			// Lost, or just slow? A zombie nobody reaped means lost.
			var missing []string
			for j, p := range procs {
				if !reported[j].Load() {
					st, err := readProcStat(p.Pid())
					state := "gone"
					if err == nil {
						state = string(st.state)
					}
					missing = append(missing, fmt.Sprintf("%d:%s", p.Pid(), state))
				}
			}
			t.Fatalf("%d of %d exits reported; missing pid:state %v", i, n, missing)
		}
	}
}

func TestNilStdinIsDevNull(t *testing.T) {
	r, _ := newTestReaper(t)
	w, lines := pipeLines(t)
	spec := helperSpec(t, "read-stdin")
	spec.Stdout = w
	h := startHelper(t, r, spec)
	w.Close()
	if l := nextLine(t, lines); l != "0" {
		t.Errorf("read %q bytes from stdin, want 0", l)
	}
	if st := h.wait(t); !st.Success() {
		t.Errorf("got %s", st)
	}
}

func TestStartErrors(t *testing.T) {
	r, _ := newTestReaper(t)
	never := func(ExitStatus) { t.Error("onExit called after a failed Start") }

	_, err := r.Start(ProcSpec{Path: "tend-no-such-command"}, never)
	if want := "start tend-no-such-command: executable file not found in $PATH"; err == nil || err.Error() != want {
		t.Errorf("got %v, want %q", err, want)
	}
	if !errors.Is(err, exec.ErrNotFound) {
		t.Errorf("%v is not exec.ErrNotFound", err)
	}

	// A bare name is found in the PATH of the spec's environment.
	dir := t.TempDir()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(exe, filepath.Join(dir, "tend-helper")); err != nil {
		t.Fatal(err)
	}
	spec := helperSpec(t, "exit:7")
	spec.Path, spec.Args = "tend-helper", nil
	spec.Env = append(spec.Env, "PATH=/nonexistent:relative:"+dir)
	if st := startHelper(t, r, spec).wait(t); st.ExitCode() != 7 {
		t.Errorf("helper found in the spec's PATH: %s, want exit status 7", st)
	}

	spec = helperSpec(t, "exit:0")
	spec.Dir = filepath.Join(dir, "missing")
	_, err = r.Start(spec, never)
	if err == nil || !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), spec.Dir) {
		t.Errorf("missing Dir: got %v", err)
	}

	if _, err := r.Start(ProcSpec{}, never); err == nil {
		t.Error("empty Path: no error")
	}

	r.Close()
	if _, err := r.Start(helperSpec(t, "exit:0"), never); err == nil {
		t.Error("Start after Close: no error")
	}
}

func TestOneReaper(t *testing.T) {
	r, _ := newTestReaper(t)
	if r2, err := NewReaper(nil); err == nil {
		r2.Close()
		t.Fatal("a second reaper opened")
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	r2, err := NewReaper(nil)
	if err != nil {
		t.Fatal("after Close:", err)
	}
	r2.Close()
}

// BenchmarkForkExecWait is the floor of restart latency: start a process
// that exits at once and receive its reaped exit. "helper" is the test
// binary (a Go program: its runtime's start-up included), "true" is
// /bin/true when there is one.
func BenchmarkForkExecWait(b *testing.B) {
	r, _ := newTestReaper(b)
	type target struct {
		name string
		spec ProcSpec
	}
	targets := []target{{"helper", helperSpec(b, "exit:0")}}
	if path, err := exec.LookPath("true"); err == nil {
		targets = append(targets, target{"true", ProcSpec{Path: path}})
	}
	for _, s := range targets {
		b.Run(s.name, func(b *testing.B) {
			done := make(chan ExitStatus, 1)
			for b.Loop() {
				if _, err := r.Start(s.spec, func(st ExitStatus) { done <- st }); err != nil {
					b.Fatal(err)
				}
				if st := <-done; !st.Success() {
					b.Fatal(st)
				}
			}
		})
	}
}

// A Proc's pid is the process's, also after the start released its pidfd
// (os.Process.Release sets Pid to -1): signalling -pid must never become
// kill(-1).
func TestStartedProcHasItsPid(t *testing.T) {
	r, err := NewReaper(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() }) // after the helper's cleanup has reaped it
	h := startHelper(t, r, helperSpec(t, "sleep"))
	if h.Pid() <= 1 {
		t.Fatalf("pid %d", h.Pid())
	}
	if g, err := syscall.Getpgid(h.Pid()); err != nil || g != h.Pid() {
		t.Fatalf("getpgid(%d) = %d, %v", h.Pid(), g, err)
	}
	if err := (&Proc{pid: -1, reaper: r}).SignalGroup(syscall.SIGTERM); err == nil {
		t.Fatal("a group of -1 was signalled")
	}
}

// A handover names the pids the old agent ran. The new agent's Reaper
// takes those that are its children, an exited one still unreaped among
// them, whose status it gives once the supervisor takes it; a pid that
// is not its child (a corrupt or stale handover) is left out, and nothing
// is reaped while it checks.
func TestReaperInheritsOnlyItsChildren(t *testing.T) {
	sleeper := exec.Command("sleep", "1000")
	exited := exec.Command("sh", "-c", "exit 7")
	for _, c := range []*exec.Cmd{sleeper, exited} {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { sleeper.Process.Kill() })
	for deadline := time.Now().Add(10 * time.Second); procStatusField(t, exited.Process.Pid, "State")[0] != 'Z'; {
		if time.Now().After(deadline) {
			t.Fatal("the child that exits is not a zombie after 10s")
		}
		time.Sleep(time.Millisecond)
	}

	notOurs := []int{os.Getppid(), 1, os.Getpid(), 1 << 30}
	r, err := newReaper(nil, true, append([]int{sleeper.Process.Pid, exited.Process.Pid}, notOurs...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	for _, pid := range notOurs {
		if p := r.Inherited(pid, pid, "", time.Now(), func(ExitStatus) {}); p != nil {
			t.Errorf("pid %d, not a child of the test, was inherited", pid)
		}
	}
	ends := make(chan ExitStatus, 2)
	for _, c := range []*exec.Cmd{exited, sleeper} {
		if p := r.Inherited(c.Process.Pid, c.Process.Pid, "", time.Now(), func(st ExitStatus) { ends <- st }); p == nil {
			t.Fatalf("child %d (%s) was not inherited", c.Process.Pid, c.Args)
		}
	}
	if st := <-ends; st.ExitCode() != 7 {
		t.Errorf("the child that exited before the takeover: %s, want exit status 7", st)
	}
	sleeper.Process.Kill()
	if st := <-ends; st.Signal != syscall.SIGKILL {
		t.Errorf("the sleeping child: %s, want SIGKILL", st)
	}
}

// A run taken over after a kill -9 of the agent is watched through a
// pidfd: Watch takes the process group from the same read of /proc that
// checks the start time, and Unwatch lets go of a process (the takeover
// failed later) without its onExit ever being called.
func TestWatchAndUnwatch(t *testing.T) {
	r, _ := newTestReaper(t)
	start := func(pgid int) *exec.Cmd {
		c := exec.Command("sleep", "1000")
		c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pgid: pgid}
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Process.Kill(); c.Wait() })
		return c
	}
	a := start(0)
	b := start(a.Process.Pid) // in a's group: its pgid is not its pid
	stat := func(c *exec.Cmd) procStat {
		st, err := readProcStat(c.Process.Pid)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	stA, stB := stat(a), stat(b)
	if _, err := r.Watch(a.Process.Pid, -1, stA.start+1, "", time.Now(), func(ExitStatus) {}); !errors.Is(err, ErrNotChild) {
		t.Errorf("Watch with another start time: %v, want ErrNotChild (the pid was taken by another process)", err)
	}
	endedA, endedB := make(chan struct{}, 1), make(chan struct{})
	pa, err := r.Watch(a.Process.Pid, -1, stA.start, "", time.Now(), func(ExitStatus) { endedA <- struct{}{} })
	if err != nil {
		t.Fatal(err)
	}
	pb, err := r.Watch(b.Process.Pid, -1, stB.start, "", time.Now(), func(ExitStatus) { close(endedB) })
	if err != nil {
		t.Fatal(err)
	}
	if pa.Pgid() != a.Process.Pid || pb.Pgid() != a.Process.Pid {
		t.Errorf("process groups %d and %d, want both %d (from /proc)", pa.Pgid(), pb.Pgid(), a.Process.Pid)
	}
	// An event epoll gave for a pidfd number before that number was
	// closed and given to b's pidfd says nothing of b: b runs on.
	r.reapFD(pb.pidfd)
	select {
	case <-endedB:
		t.Fatal("a running process was reported ended on a stale event for its pidfd's number")
	default:
	}
	r.Unwatch(pa)
	r.mu.Lock()
	watched := len(r.byFD)
	r.mu.Unlock()
	if watched != 1 || pa.pidfd != -1 {
		t.Errorf("after Unwatch: %d pidfds watched, its pidfd %d; want 1 and -1", watched, pa.pidfd)
	}
	// a ends first; b's end, seen, says the Reaper has had a's too.
	a.Process.Kill()
	a.Wait()
	b.Process.Kill()
	b.Wait()
	select {
	case <-endedB:
	case <-time.After(testDeadline):
		t.Fatal("the watched process's end was not seen")
	}
	select {
	case <-endedA:
		t.Error("the onExit of a process let go of was called")
	default:
	}
}

// A start held for good between its fork and its registration (an exec
// that hangs: a binary on a dead file system, its parent waiting in
// vfork) stops nothing else where pidfds reap the children: exits are
// reaped and reported, other starts go on, signals are sent, and the
// sweep, which must wait for starts, tries again later instead of
// holding every start and exit behind it.
func TestAHungStartHoldsNothingElse(t *testing.T) {
	r, _ := newTestReaper(t)
	if !r.polling.Load() {
		t.Skip("no pidfds on this kernel: the sweep reaps, and waits for every start")
	}
	running := startHelper(t, r, helperSpec(t, "sleep"))
	r.starts.RLock() // the hung start
	defer r.starts.RUnlock()
	r.sigc <- syscall.SIGCHLD // a sweep now, which cannot have the gate
	done := make(chan error, 1)
	go func() {
		exited := make(chan ExitStatus, 1)
		if _, err := r.Start(helperSpec(t, "exit:3"), func(st ExitStatus) { exited <- st }); err != nil {
			done <- err
			return
		}
		if st := <-exited; st.ExitCode() != 3 {
			done <- fmt.Errorf("the second start exited %v, want 3", st)
			return
		}
		done <- running.Signal(syscall.SIGTERM)
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(testDeadline):
		t.Fatalf("no start, exit or signal within %v while a start was held", testDeadline)
	}
	if st := running.wait(t); st.Signal != syscall.SIGTERM {
		t.Fatalf("the running helper ended %v, want SIGTERM", st)
	}
}
