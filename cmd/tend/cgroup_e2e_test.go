package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/tendhq/tend/internal/e2e"
	"github.com/tendhq/tend/supervisor"
)

// escapeScript starts processes that leave the instance's process group
// (a setsid grandchild, a double-forked daemon that calls setsid, one in
// an empty environment), each writing its pid to $F.$TEND_INSTANCE, then
// waits.
const escapeScript = `F="$F.$TEND_INSTANCE"; export F
(setsid sh -c 'echo $$ >>"$F"; exec sleep 300' &)
sh -c 'setsid sh -c "echo \$\$ >>\"\$F\"; exec sleep 300" &'
env -i F="$F" sh -c 'echo $$ >>"$F"; exec sleep 300' &
wait
`

const escapees = 3

// TestCgroupContainsEscapees runs a unit whose instance starts processes
// that leave its process group, and checks that the end of the main
// process, deleting the instance and stopping the agent each stop them too
// and remove their cgroups.
func TestCgroupContainsEscapees(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("cgroups: needs root to make cgroups")
	}
	t.Setenv("INVOCATION_ID", "") // the agent must not move into the test's own cgroup
	// Whether this machine can contain instances is the test's own check:
	// where it can, an agent that does not is a failure, not a skip.
	probe, err := supervisor.OpenCgroups(t.TempDir())
	if err != nil {
		t.Skipf("cgroups: %v", err)
	}
	probe.Close()
	a := e2e.StartAgent(t, "", "")
	file := filepath.Join(t.TempDir(), "pids")
	a.WriteUnit("esc", fmt.Sprintf(`kind = "replicated"
replicas = 1
[template]
labels = { app = "esc" }
command = ["sh", "-c", %q]
env = { F = %q, TEND_TEST_TAG = %q }
restart_delay = "0s"
stop_timeout = "2s"
pids_max = 1000
`, escapeScript, file, a.Tag))

	first := runningOther(a, "esc", "")
	desc := a.Tend("describe", "po", first)
	dir := describedCgroup(desc)
	if dir == "" {
		t.Fatalf("this machine has cgroup2, yet the agent contains instances by process groups only:\n%s\n%s", desc, a.Log.String())
	}
	if !strings.Contains(dir, "/"+first+".") {
		t.Errorf("cgroup %s: not named after instance %s", dir, first)
	}
	checkPidsMax(a, desc, dir)
	pids := waitPidFile(a, file+"."+first, escapees)

	// The main process dies on its own: what it left goes with it, before
	// the next run starts in a cgroup of its own.
	if err := syscall.Kill(a.Instance(first).PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	a.Eventually("the first run's escapees are gone", func() (bool, string) {
		return allGone(pids)
	})
	a.Eventually("the first run's cgroup is removed", func() (bool, string) {
		_, err := os.Stat(dir)
		return errors.Is(err, os.ErrNotExist), fmt.Sprint(err)
	})
	a.Eventually("the instance runs again in another cgroup", func() (bool, string) {
		in := a.Instance(first)
		now := describedCgroup(a.Tend("describe", "po", first))
		return in.Status == "Running" && now != "" && now != dir, now
	})
	dir = describedCgroup(a.Tend("describe", "po", first))
	pids = waitPidFile(a, file+"."+first, 2*escapees)[escapees:]

	a.Tend("delete", "po", first)
	a.Eventually("the first instance's escapees are gone", func() (bool, string) {
		return allGone(pids)
	})
	a.Eventually("its cgroup is removed", func() (bool, string) {
		_, err := os.Stat(dir)
		return errors.Is(err, os.ErrNotExist), fmt.Sprint(err)
	})

	second := runningOther(a, "esc", first)
	pids2 := waitPidFile(a, file+"."+second, escapees)
	a.Signal(syscall.SIGTERM)
	if code := a.Wait(); code != 0 {
		t.Errorf("agent exit code %d, want 0", code)
	}
	if ok, info := allGone(pids2); !ok {
		t.Errorf("after the agent stopped: %s", info)
	}
	base := filepath.Dir(dir)
	if _, err := os.Stat(base); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cgroup base %s left behind: %v", base, err)
	}
}

// checkPidsMax checks the pids_max = 1000 of the esc unit, whose
// instance described as desc runs in cgroup dir: in pids.max where the
// base gives the pids controller, else in a Warning event of the unit
// that says why not; in describe's Limits either way.
func checkPidsMax(a *e2e.Agent, desc, dir string) {
	a.T.Helper()
	if got := describedLimits(desc); got != "pids 1000" {
		a.T.Errorf("describe po shows limits %q, want pids 1000:\n%s", got, desc)
	}
	base := filepath.Dir(dir)
	data, err := os.ReadFile(filepath.Join(base, "cgroup.controllers"))
	if err != nil {
		a.T.Fatal(err)
	}
	if avail := strings.Fields(string(data)); slices.Contains(avail, "pids") {
		if got, err := os.ReadFile(filepath.Join(dir, "pids.max")); err != nil || strings.TrimSpace(string(got)) != "1000" {
			a.T.Errorf("pids.max: %q, %v; want 1000", got, err)
		}
		return
	}
	want := "pids_max: the pids controller is not available in cgroup " + base + " (controllers: "
	a.Eventually("the unit warns that pids_max is not applied", func() (bool, string) {
		u := a.Tend("describe", "rc", "esc")
		return strings.Contains(u, "LimitNotApplied") && strings.Contains(u, want) && describedLimits(u) == "pids 1000", u
	})
}

// describedLimits is the first Limits line of describe's output, "" without one.
func describedLimits(desc string) string {
	for _, l := range e2e.Lines(desc) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "Limits:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// runningOther waits until one instance of unit other than not runs,
// and returns its name.
func runningOther(a *e2e.Agent, unit, not string) string {
	a.T.Helper()
	var name string
	a.Eventually("another instance of "+unit+" runs", func() (bool, string) {
		list := a.WaitRunning(unit, 1)
		name = list[0].Name
		return name != not, e2e.Summary(list)
	})
	return name
}

// describedCgroup is the Cgroup line of describe's output, "" without one.
func describedCgroup(desc string) string {
	for _, l := range e2e.Lines(desc) {
		if v, ok := strings.CutPrefix(l, "Cgroup:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// waitPidFile waits until file lists n pids and returns them; they are
// killed when the test ends, should it fail.
func waitPidFile(a *e2e.Agent, file string, n int) []int {
	a.T.Helper()
	var pids []int
	a.Eventually(fmt.Sprintf("%s lists %d pids", file, n), func() (bool, string) {
		data, _ := os.ReadFile(file)
		pids = pids[:0]
		for _, f := range strings.Fields(string(data)) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
		return len(pids) >= n, string(data)
	})
	a.T.Cleanup(func() {
		for _, pid := range pids {
			if pid > 1 {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	return pids
}

// allGone reports whether every pid has gone (or is a zombie).
func allGone(pids []int) (bool, string) {
	var alive []string
	for _, pid := range pids {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil || e2e.Zombie(stat) {
			continue
		}
		alive = append(alive, strings.TrimSpace(string(stat)))
	}
	return len(alive) == 0, strings.Join(alive, "\n")
}
