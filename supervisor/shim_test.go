package supervisor

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// underShim is spec run under the test binary as its shim (TestMain runs
// RunShim), as run run, writing to a status file it returns the path of.
func underShim(t testing.TB, spec ProcSpec, run uint64) (ProcSpec, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), shimStatusFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	spec.Shim, spec.ShimStatus, spec.ShimRun = "/proc/self/exe", f, run
	return spec, path
}

// The shim ends as its command did, and its status file says so in full:
// the exit status, or the signal with its core-dump flag.
func TestShimKeepsTheExitStatus(t *testing.T) {
	r, _ := newTestReaper(t)
	for _, tc := range []struct {
		mode string
		want ExitStatus
	}{
		{"exit:0", ExitStatus{}},
		{"exit:3", ExitStatus{Code: 3}},
		{"crash", ExitStatus{Signal: syscall.SIGABRT}},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			spec, path := underShim(t, helperSpec(t, tc.mode), 7)
			h := startHelper(t, r, spec)
			st := h.wait(t)
			kept, err := readShimStatus(path, 7)
			if err != nil {
				t.Fatal(err)
			}
			got := kept.Exit
			if got.Code != tc.want.Code || got.Signal != tc.want.Signal || got.CoreDumped || kept.StartErr != nil {
				t.Errorf("status file: %+v, want %+v", kept, tc.want)
			}
			if st.ExitCode() != tc.want.ExitCode() || st.Signaled() {
				t.Errorf("the shim ended %s, want exit status %d", st, tc.want.ExitCode())
			}
			if got.Time.Before(h.Started()) || got.Time.After(time.Now()) {
				t.Errorf("exit time %v not within the run (started %v)", got.Time, h.Started())
			}
			if _, err := readShimStatus(path, 8); !errors.Is(err, errNoShimStatus) {
				t.Errorf("another run's status read as run 8's: %v", err)
			}
		})
	}
}

// Stopping a run signals its group: the command and the shim. The shim
// outlives the signal to say how the command ended; one sent to the shim
// alone does not end it (nor reach the command).
func TestShimOutlivesTheSignalThatStopsItsCommand(t *testing.T) {
	r, _ := newTestReaper(t)
	spec, path := underShim(t, helperSpec(t, "sleep"), 1)
	h := startHelper(t, r, spec)
	var child []int
	for deadline := time.Now().Add(testDeadline); len(child) == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the shim started no command")
		}
		child = Children(h.Pid()) // once it has one, it catches signals
	}
	fds, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", child[0]))
	for _, fd := range fds {
		if l, _ := os.Readlink(fd); l == path {
			t.Errorf("the command has the shim's status file (%s)", fd)
		}
	}
	if err := h.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := h.SignalGroup(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	st := h.wait(t)
	kept, err := readShimStatus(path, 1)
	if err != nil {
		t.Fatalf("no status after the group's SIGTERM (the shim ended %s): %v", st, err)
	}
	if kept.Exit.Signal != syscall.SIGTERM || st.ExitCode() != 143 {
		t.Errorf("status %+v, shim %s; want the command killed by SIGTERM, the shim's exit status 143", kept.Exit, st)
	}
	if pst, err := readProcStat(child[0]); err == nil && !pst.gone() {
		t.Errorf("the command %d outlived its shim", child[0])
	}
}

// A command the shim cannot start: the status file says why, and the
// shim ends as a shell does (127).
func TestShimCannotStartItsCommand(t *testing.T) {
	r, _ := newTestReaper(t)
	bad := filepath.Join(t.TempDir(), "not-a-program")
	if err := os.WriteFile(bad, []byte{0, 1, 2, 3}, 0o755); err != nil {
		t.Fatal(err)
	}
	spec, path := underShim(t, ProcSpec{Path: bad}, 2)
	h := startHelper(t, r, spec)
	if st := h.wait(t); st.ExitCode() != shimNoStart {
		t.Errorf("the shim ended %s, want %d", st, shimNoStart)
	}
	kept, err := readShimStatus(path, 2)
	if err != nil || kept.StartErr == nil || kept.StartErr.Error() != "exec format error" {
		t.Errorf("status %+v, %v; want the start error", kept, err)
	}
}

func TestReadShimStatusRefusesWhatItDoesNotUnderstand(t *testing.T) {
	path := filepath.Join(t.TempDir(), shimStatusFile)
	for _, tc := range []struct {
		text string
		none bool // errNoShimStatus rather than another error
	}{
		{"", true},                   // truncated at the start, the shim killed before it wrote
		{"run=3 pid=1 code=0", true}, // no newline: not written whole
		{"run=4 pid=1 code=0 signal=0 core=false time=1\n", true},
		{"run=3 pid=1 code=zero signal=0 core=false time=1\n", false},
		{"run=3 pid=1 signal=0 core=false time=1\n", false}, // no code
		{"run=3 junk\n", false},
		{"run=3 error=unquoted\n", false},
		{"run=3 code=0 signal=0 core=false time=1\nrun=3 code=1 signal=0 core=false time=1\n", true},
	} {
		if err := os.WriteFile(path, []byte(tc.text), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := readShimStatus(path, 3)
		if err == nil || errors.Is(err, errNoShimStatus) != tc.none {
			t.Errorf("%q: err %v", tc.text, err)
		}
	}
}

// What a shim adds to a run that starts and ends at once (exit:0, the
// test binary): the exec of a second program, and its wait.
func BenchmarkShimStartExit(b *testing.B) {
	r, _ := newTestReaper(b)
	for _, shim := range []bool{false, true} {
		b.Run(map[bool]string{false: "plain", true: "shim"}[shim], func(b *testing.B) {
			spec := helperSpec(b, "exit:0")
			spec.Env = append(spec.Env, "GORACE=atexit_sleep_ms=0")
			if shim {
				f, err := os.OpenFile(filepath.Join(b.TempDir(), shimStatusFile), os.O_RDWR|os.O_CREATE, 0o600)
				if err != nil {
					b.Fatal(err)
				}
				defer f.Close()
				spec.Shim, spec.ShimStatus = "/proc/self/exe", f
			}
			for b.Loop() {
				if st := startHelper(b, r, spec).wait(b); !st.Success() {
					b.Fatal(st)
				}
			}
		})
	}
}

// The shim runs as the run's user, and so does its command: the agent's
// binary, behind /proc/self/exe, need not be reachable by that user's
// path (tests run it from a private build directory).
func TestShimRunsAsTheRunsUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to run as another user")
	}
	cred, err := Credential("nobody", "")
	if err != nil {
		t.Skip("no user nobody:", err)
	}
	r, _ := newTestReaper(t)
	// (Not a helper: the test binary's directory is not nobody's to enter.)
	spec, path := underShim(t, ProcSpec{Path: "/bin/sh", Args: []string{"sh", "-c", fmt.Sprintf(`[ "$(id -u)" = %d ] && exit 3`, cred.Uid)}, Credential: cred}, 5)
	if st := startHelper(t, r, spec).wait(t); st.ExitCode() != 3 {
		t.Fatalf("the shim ended %s, want 3", st)
	}
	if kept, err := readShimStatus(path, 5); err != nil || kept.Exit.Code != 3 {
		t.Errorf("status %+v, %v; want exit status 3", kept, err)
	}
}

// A stop that comes as an attempt starts ends it, wherever the shim is:
// before it catches signals (it dies of the signal), before it has
// started the command (it starts none), or after (the command dies of
// it). The stops sweep the shim's first milliseconds, 100 µs apart.
func TestShimStoppedAsItStartsEnds(t *testing.T) {
	r, _ := newTestReaper(t)
	for k := range 60 {
		spec, path := underShim(t, helperSpec(t, "sleep"), uint64(k+1))
		h := startHelper(t, r, spec)
		time.Sleep(time.Duration(k) * 100 * time.Microsecond)
		if err := h.SignalGroup(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		st := h.wait(t)
		if st.Signal != syscall.SIGTERM && st.ExitCode() != 128+int(syscall.SIGTERM) {
			t.Fatalf("run %d: the shim ended %s, not by the stop", k+1, st)
		}
		if kept, err := readShimStatus(path, uint64(k+1)); err == nil && kept.Exit.Signal != syscall.SIGTERM {
			t.Fatalf("run %d: status file says %+v, not SIGTERM", k+1, kept)
		}
	}
}
