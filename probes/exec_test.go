package probes

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestExec(t *testing.T) {
	for _, tc := range []struct {
		name    string
		argv    []string
		result  Result
		message string
	}{
		{"exit 0", helperCommand("exit", "0", "fine"), Success, ""},
		{"exit 1 with output", helperCommand("exit", "1", "  not warm yet \n"), Failure, "not warm yet"},
		{"exit 3 silent", helperCommand("exit", "3"), Failure, "exit status 3"},
		{"missing command", []string{"/nonexistent/check"}, Unknown, "fork/exec /nonexistent/check: no such file or directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &Exec{Command: tc.argv, Run: runCommand}
			if res, msg := probeWithin(p, 10*time.Second); res != tc.result || msg != tc.message {
				t.Errorf("got %v %q, want %v %q", res, msg, tc.result, tc.message)
			}
		})
	}
}

func TestExecLongOutputBounded(t *testing.T) {
	long := strings.Repeat("x", 5000)
	p := &Exec{Command: helperCommand("exit", "1", long), Run: runCommand}
	res, msg := probeWithin(p, 10*time.Second)
	if res != Failure || len(msg) != maxMessage || !strings.HasSuffix(msg, "...") {
		t.Errorf("got %v, message of %d bytes ending %q", res, len(msg), msg[max(0, len(msg)-5):])
	}
}

func TestExecMisconfigured(t *testing.T) {
	if res, msg := (&Exec{Run: runCommand}).Probe(context.Background()); res != Unknown || msg != "exec probe has no command" {
		t.Errorf("no command: %v %q", res, msg)
	}
	if res, msg := (&Exec{Command: []string{"true"}}).Probe(context.Background()); res != Unknown || msg != "exec probe has no command runner" {
		t.Errorf("no runner: %v %q", res, msg)
	}
	failing := func(context.Context, []string) (int, []byte, error) {
		return 0, nil, errors.New("setuid kubia: operation not permitted")
	}
	if res, msg := (&Exec{Command: []string{"true"}, Run: failing}).Probe(context.Background()); res != Unknown || msg != "setuid kubia: operation not permitted" {
		t.Errorf("runner error: %v %q", res, msg)
	}
}

// TestExecTimeout checks that a hanging command fails the probe at its
// timeout, and that its whole process group dies with it: the grandchild
// it started is gone too.
func TestExecTimeout(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "grandchild.pid")
	argv := helperCommand("grandchild", pidFile)
	p := &Exec{Command: argv, Run: runCommand}
	const timeout = 3 * time.Second // room for two starts of the test binary under -race
	begin := time.Now()
	res, msg := probeWithin(p, timeout)
	took := time.Since(begin)
	want := `command "` + strings.Join(argv, " ") + `" timed out`
	if res != Failure || msg != want {
		t.Errorf("got %v %q, want Failure %q", res, msg, want)
	}
	if took > timeout+time.Second {
		t.Errorf("took %v with a %v timeout", took, timeout)
	}

	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("the helper did not start its grandchild within the timeout: %v", err)
	}
	pid, _ := strconv.Atoi(string(b))
	deadline := time.Now().Add(5 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("grandchild %d outlived the timed-out probe", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// alive reports whether pid runs: it exists and is not a zombie waiting
// for a parent (init) to reap it.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}
