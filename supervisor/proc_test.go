package supervisor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestCredential(t *testing.T) {
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody:", err)
	}
	uid, _ := strconv.ParseUint(nobody.Uid, 10, 32)
	gid, _ := strconv.ParseUint(nobody.Gid, 10, 32)
	var groups []uint32
	ids, err := nobody.GroupIds()
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		g, _ := strconv.ParseUint(id, 10, 32)
		groups = append(groups, uint32(g))
	}
	asNobody := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: groups}

	for _, tc := range []struct {
		user, group string
		euid, egid  int
		want        *syscall.Credential
		err         string
	}{
		{"", "", 0, 0, nil, ""},
		{"", "", 1000, 1000, nil, ""},
		{"nobody", "", 0, 0, asNobody, ""},
		{nobody.Uid, "", 0, 0, asNobody, ""},
		{"nobody", "4242", 0, 0, &syscall.Credential{Uid: uint32(uid), Gid: 4242, Groups: groups}, ""},
		{"4242", "", 0, 0, &syscall.Credential{Uid: 4242, Gid: 4242}, ""},
		{"4242", "4343", 0, 0, &syscall.Credential{Uid: 4242, Gid: 4343}, ""},
		{"", "4343", 0, 0, &syscall.Credential{Uid: 0, Gid: 4343, NoSetGroups: true}, ""},
		{"tend-no-such-user", "", 0, 0, nil, "run as user tend-no-such-user: user: unknown user tend-no-such-user"},
		{"nobody", "tend-no-such-group", 0, 0, nil, "run as group tend-no-such-group: group: unknown group tend-no-such-group"},
		{"nobody", "", 1000, 1000, nil, "run as user nobody: the agent is not root"},
		{"1000", "", 1000, 1000, nil, ""},
		{"1000", "1001", 1000, 1000, nil, "run as group 1001: the agent is not root"},
		{"", "1001", 1000, 1000, nil, "run as group 1001: the agent is not root"},
	} {
		got, err := credential(tc.user, tc.group, tc.euid, tc.egid)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("credential(%q, %q, euid %d) error = %v, want %q", tc.user, tc.group, tc.euid, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("credential(%q, %q, euid %d): %v", tc.user, tc.group, tc.euid, err)
			continue
		}
		if (got == nil) != (tc.want == nil) || got != nil && (got.Uid != tc.want.Uid || got.Gid != tc.want.Gid ||
			!slices.Equal(got.Groups, tc.want.Groups) || got.NoSetGroups != tc.want.NoSetGroups) {
			t.Errorf("credential(%q, %q, euid %d) = %+v, want %+v", tc.user, tc.group, tc.euid, got, tc.want)
		}
	}
}

// A process started with a credential runs as that user, groups included.
func TestRunAsNobody(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	cred, err := Credential("nobody", "")
	if err != nil {
		t.Skip(err)
	}
	// nobody must be able to execute the test binary: copy it somewhere
	// every user can reach.
	dir, err := os.MkdirTemp("", "tend-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	spec := helperSpec(t, "sleep")
	spec.Path = filepath.Join(dir, "helper")
	copyFile(t, spec.Args[0], spec.Path, 0o755)
	spec.Credential = cred

	r, _ := newTestReaper(t)
	h := startHelper(t, r, spec)
	// Start returns after the exec: the credential is in place.
	wantUid, wantGid := strconv.Itoa(int(cred.Uid)), strconv.Itoa(int(cred.Gid))
	if got := procStatusField(t, h.Pid(), "Uid"); got != wantUid {
		t.Errorf("Uid %s, want %s", got, wantUid)
	}
	if got := procStatusField(t, h.Pid(), "Gid"); got != wantGid {
		t.Errorf("Gid %s, want %s", got, wantGid)
	}
	if len(cred.Groups) > 0 {
		if got := procStatusField(t, h.Pid(), "Groups"); got != strconv.Itoa(int(cred.Groups[0])) {
			t.Errorf("Groups begin with %s, want %d", got, cred.Groups[0])
		}
	}
	h.SignalGroup(syscall.SIGKILL)
	h.wait(t)
}

func copyFile(t testing.TB, from, to string, perm os.FileMode) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// What an earlier agent left running is found by its environment marker
// and stopped: the stop signal first, SIGKILL for what ignores it.
func TestLeftovers(t *testing.T) {
	r, _ := newTestReaper(t)
	marker := "test-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)

	sleeper := helperSpec(t, "sleep")
	sleeper.Env = append(sleeper.Env, "TEND_AGENT="+marker)
	s := startHelper(t, r, sleeper)

	w, lines := pipeLines(t)
	stubborn := helperSpec(t, "ignore-term")
	stubborn.Env = append(stubborn.Env, "TEND_AGENT="+marker)
	stubborn.Stdout = w
	i := startHelper(t, r, stubborn)
	w.Close()
	if l := nextLine(t, lines); l != "ready" {
		t.Fatalf("got %q, want ready", l)
	}

	// Not marked, or marked by another agent: not found.
	other := helperSpec(t, "sleep")
	other.Env = append(other.Env, "TEND_AGENT="+marker+"-other")
	o := startHelper(t, r, other)

	pids, err := FindLeftovers("TEND_AGENT", marker, nil)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(pids)
	want := []int{s.Pid(), i.Pid()}
	slices.Sort(want)
	if !slices.Equal(pids, want) {
		t.Fatalf("FindLeftovers = %v, want %v", pids, want)
	}
	// The pids a new agent has taken over are passed over.
	if got, err := FindLeftovers("TEND_AGENT", marker, map[int]bool{s.Pid(): true}); err != nil || !slices.Equal(got, []int{i.Pid()}) {
		t.Fatalf("FindLeftovers skipping %d = %v, %v; want [%d]", s.Pid(), got, err, i.Pid())
	}

	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	if err := StopLeftovers(ctx, pids, syscall.SIGTERM, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if st := s.wait(t); st.SignalName() != "SIGTERM" {
		t.Errorf("sleeper: %s, want SIGTERM", st)
	}
	if st := i.wait(t); st.SignalName() != "SIGKILL" {
		t.Errorf("ignoring SIGTERM: %s, want SIGKILL", st)
	}
	if err := o.Signal(0); err != nil {
		t.Errorf("the other agent's process: %v", err)
	}

	if err := StopLeftovers(ctx, pids, syscall.SIGTERM, time.Second); err != nil {
		t.Errorf("stopping gone processes: %v", err)
	}
}

// readProcStat reads what a takeover checks (state, process group, start
// time) right even when the command's name holds spaces and parentheses,
// as the kernel writes it between the parentheses of /proc/PID/stat.
func TestReadProcStat(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip(err)
	}
	odd := filepath.Join(t.TempDir(), "a) b (c")
	if err := os.Symlink(sleep, odd); err != nil {
		t.Fatal(err)
	}
	c := exec.Command(odd, "1000")
	c.Args[0] = "sleep" // a multi-call binary goes by it; /proc's name is the path's
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Process.Kill(); c.Wait() })
	pid := c.Process.Pid
	st, err := readProcStat(pid)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte("(a) b (c)")) {
		t.Fatalf("the command's name is not the odd one: %s", data)
	}
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	if st.pid != pid || st.pgid != pid || strconv.FormatUint(st.start, 10) != f[19] || st.start == 0 || st.gone() {
		t.Errorf("readProcStat = %+v; /proc/%d/stat says %s", st, pid, data)
	}
	c.Process.Kill()
	c.Wait()
	if _, err := readProcStat(pid); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("readProcStat of a reaped process: %v, want a not-exist error", err)
	}
}

// readSmall reads a file that fills its buffer exactly, and refuses one
// a byte larger, naming it.
func TestReadSmall(t *testing.T) {
	dir := t.TempDir()
	buf := make([]byte, 64)
	for _, size := range []int{0, 1, 63, 64, 65, 1000} {
		path := filepath.Join(dir, strconv.Itoa(size))
		data := bytes.Repeat([]byte("x"), size)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		n, err := readSmall(path, buf)
		switch {
		case size <= len(buf) && (err != nil || n != size || !bytes.Equal(buf[:n], data)):
			t.Errorf("%d bytes: read %d, %v", size, n, err)
		case size > len(buf) && (err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "larger than 64 bytes")):
			t.Errorf("%d bytes into 64: %d, %v; want an error naming the file", size, n, err)
		}
	}
	if _, err := readSmall(filepath.Join(dir, "none"), buf); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing file: %v, want not-exist", err)
	}
}
