package supervisor

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

	"golang.org/x/sys/unix"
)

func TestCgroup2Mount(t *testing.T) {
	const hybrid = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`
	const unified = `22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
30 22 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`
	const none = `22 1 0:21 / / rw,relatime - ext4 /dev/sda1 rw
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
`
	const escaped = `41 31 0:38 / /mnt/my\040cgroups rw,relatime - cgroup2 none rw
`
	for _, tc := range []struct{ name, in, want string }{
		{"hybrid", hybrid, "/sys/fs/cgroup/unified"},
		{"unified", unified, "/sys/fs/cgroup"},
		{"none", none, ""},
		{"empty", "", ""},
		{"escaped", escaped, "/mnt/my cgroups"},
	} {
		if got := cgroup2Mount(tc.in); got != tc.want {
			t.Errorf("%s: cgroup2Mount = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestOwnCgroup(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"9:name=systemd:/\n8:pids:/\n0::/\n", "/"},
		{"0::/system.slice/tend.service\n", "/system.slice/tend.service"},
		{"9:name=systemd:/x\n", ""},
	} {
		if got := ownCgroup(tc.in); got != tc.want {
			t.Errorf("ownCgroup(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// escapeScript starts, in the background, processes that leave the
// script's process group or session in the ways daemons do, each writing
// its pid to the file $F, then waits.
const escapeScript = `
(setsid sh -c 'echo $$ >>"$F"; exec sleep 300' &)
sh -c 'setsid sh -c "echo \$\$ >>\"\$F\"; exec sleep 300" &'
sh -c 'sh -c "echo \$\$ >>\"\$F\"; exec sleep 300" &'
perl -e 'setpgrp(0,0); open(my $f, ">>", $ENV{F}) or die; print $f "$$\n"; close $f; exec "sleep", "300"' &
env -i F="$F" sh -c 'echo $$ >>"$F"; exec sleep 300' &
wait
`

// escapees is how many pids escapeScript writes.
const escapees = 5

// testCgroups opens the cgroup base of an agent on a fresh state
// directory, skipping the test where cgroups cannot be used, and removes
// what is left of it when the test ends.
func testCgroups(t *testing.T) *Cgroups {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("cgroups: needs root to make cgroups")
	}
	t.Setenv("INVOCATION_ID", "") // never move the test binary itself
	cg, err := OpenCgroups(t.TempDir())
	if err != nil {
		t.Skipf("cgroups: %v", err)
	}
	t.Cleanup(func() {
		if err := cg.RemoveLeftovers(context.Background(), testDeadline); err != nil {
			t.Error(err)
		}
		if err := cg.Close(); err != nil {
			t.Error(err)
		}
		if _, err := os.Stat(cg.Base()); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("cgroup base %s left behind: %v", cg.Base(), err)
		}
	})
	return cg
}

// cgroupPoll is how often the tests look for what a helper wrote.
const cgroupPoll = 10 * time.Millisecond

// waitPids polls file until it lists n pids.
func waitPids(t *testing.T, file string, n int) []int {
	t.Helper()
	deadline := time.Now().Add(testDeadline)
	for {
		data, _ := os.ReadFile(file)
		var pids []int
		for _, f := range strings.Fields(string(data)) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
		if len(pids) >= n {
			return pids
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d pids within %v, want %d", file, len(pids), testDeadline, n)
		}
		time.Sleep(cgroupPoll)
	}
}

// killWhenDone kills pids at the end of the test, so that a failing test
// leaves nothing running.
func killWhenDone(t *testing.T, pids []int) {
	t.Cleanup(func() {
		for _, pid := range pids {
			if pid > 1 {
				unix.Kill(pid, syscall.SIGKILL)
			}
		}
	})
}

// assertGone fails for each pid that still runs: one that is neither gone
// nor a zombie.
func assertGone(t *testing.T, pids []int) {
	t.Helper()
	for _, pid := range pids {
		if err := unix.Kill(pid, 0); err == unix.ESRCH {
			continue
		}
		st, err := readProcStat(pid)
		if err != nil || st.gone() {
			continue
		}
		t.Errorf("pid %d still runs (state %c)", pid, st.state)
	}
}

// TestCgroupStopsEscapees starts a process tree whose members leave the
// process group (setsid, setpgid, a double fork, an empty environment),
// stops it as the supervisor does, and checks that every one is gone and
// its cgroup removed.
func TestCgroupStopsEscapees(t *testing.T) {
	cg := testCgroups(t)
	r, _ := newTestReaper(t)
	file := filepath.Join(t.TempDir(), "pids")
	dir := cg.Dir("escape", 1)
	h := startHelper(t, r, ProcSpec{
		Path:   "sh",
		Args:   []string{"sh", "-c", escapeScript},
		Env:    []string{"PATH=" + os.Getenv("PATH"), "F=" + file},
		Cgroup: dir,
	})
	if h.Cgroup() != dir {
		t.Errorf("Cgroup() = %q, want %q", h.Cgroup(), dir)
	}
	pids := waitPids(t, file, escapees)
	killWhenDone(t, pids)

	if err := h.SignalGroup(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if st := h.wait(t); st.SignalName() != "SIGTERM" {
		t.Errorf("main process: %v, want killed by SIGTERM", st)
	}
	if err := RemoveCgroup(context.Background(), dir, testDeadline); err != nil {
		t.Fatal(err)
	}
	assertGone(t, pids)
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cgroup %s not removed: %v", dir, err)
	}
}

// TestCgroupLeftoversRemoved leaves a run's process tree running, as an
// agent killed with SIGKILL does, and checks that the next agent's
// RemoveLeftovers kills all of it and removes its cgroup.
func TestCgroupLeftoversRemoved(t *testing.T) {
	cg := testCgroups(t)
	r, _ := newTestReaper(t)
	file := filepath.Join(t.TempDir(), "pids")
	dir := cg.Dir("left", 7)
	h := startHelper(t, r, ProcSpec{
		Path:   "sh",
		Args:   []string{"sh", "-c", escapeScript},
		Env:    []string{"PATH=" + os.Getenv("PATH"), "F=" + file},
		Cgroup: dir,
	})
	pids := append(waitPids(t, file, escapees), h.Pid())
	killWhenDone(t, pids)

	if err := cg.RemoveLeftovers(context.Background(), testDeadline); err != nil {
		t.Fatal(err)
	}
	h.wait(t)
	assertGone(t, pids)
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cgroup %s not removed: %v", dir, err)
	}
}

// TestCgroupWaitUnpopulated checks that the wait for a cgroup to empty
// ends at its deadline and with its context while the cgroup holds a
// process, and soon after that process is gone: woken by cgroup.events,
// not by a poll.
func TestCgroupWaitUnpopulated(t *testing.T) {
	cg := testCgroups(t)
	r, _ := newTestReaper(t)
	spec := helperSpec(t, "sleep")
	spec.Cgroup = cg.Dir("wait", 1)
	h := startHelper(t, r, spec)

	if err := waitUnpopulated(context.Background(), spec.Cgroup, 50*time.Millisecond); err == nil || !strings.Contains(err.Error(), "still populated") {
		t.Errorf("populated, at the deadline: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := waitUnpopulated(ctx, spec.Cgroup, testDeadline); !errors.Is(err, context.Canceled) {
		t.Errorf("populated, context done: %v", err)
	}

	done := make(chan error, 1)
	go func() { done <- waitUnpopulated(context.Background(), spec.Cgroup, testDeadline) }()
	if err := killCgroup(spec.Cgroup); err != nil {
		t.Fatal(err)
	}
	h.wait(t)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(testDeadline):
		t.Fatal("no end of the wait after the cgroup's process was gone")
	}
	if err := RemoveCgroup(context.Background(), spec.Cgroup, testDeadline); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(spec.Cgroup); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cgroup %s not removed: %v", spec.Cgroup, err)
	}
	if err := RemoveCgroup(context.Background(), spec.Cgroup, testDeadline); err != nil {
		t.Errorf("a cgroup removed already: %v", err)
	}
}

func TestCgroupBase(t *testing.T) {
	const mount = "/sys/fs/cgroup"
	base, own := cgroupBase(mount, "/system.slice/tend.service", true, "/var/lib/tend")
	if base != "/sys/fs/cgroup/system.slice/tend.service" || !own {
		t.Errorf("delegated: %q %v, want the unit's own cgroup", base, own)
	}
	a, own := cgroupBase(mount, "/system.slice/tend.service", false, "/var/lib/tend")
	if own || !strings.HasPrefix(a, mount+"/tend.") || len(a) != len(mount+"/tend.")+8 {
		t.Errorf("not delegated: %q %v, want %s/tend.<8 hex>", a, own, mount)
	}
	if b, _ := cgroupBase(mount, "/", true, "/var/lib/tend"); b != a {
		t.Errorf("own cgroup the root: %q, want %q", b, a)
	}
	if b, _ := cgroupBase(mount, "", false, "/var/lib/tend"); b != a {
		t.Errorf("same state directory: %q, want %q", b, a)
	}
	if b, _ := cgroupBase(mount, "", false, "/srv/other/tend"); b == a {
		t.Errorf("two state directories share base %q", b)
	}
}
