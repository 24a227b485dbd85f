package supervisor

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/tendhq/tend/units"
)

// fakeCgroupBase lays out dir as a cgroup v2 base whose cgroup.controllers
// lists available, with an empty cgroup.subtree_control. It is a fake of
// what the kernel gives: on this test's machine (a hybrid host whose only
// v2 controller is hugetlb) no real cgroup has the memory, cpu or pids
// controllers, so what the agent writes and reads with them is tested
// against plain files laid out alike. A plain file keeps only the last
// write where the kernel adds each controller written.
func fakeCgroupBase(t *testing.T, available string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range map[string]string{"cgroup.controllers": available + "\n", "cgroup.subtree_control": ""} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var allLimits = units.Resources{MemoryMax: 512 << 20, CPUMax: 15000, PidsMax: 100}

// The controllers the limits need are enabled where the base has them;
// what the base lacks, or refuses, is said for each key that needs it.
func TestEnableControllers(t *testing.T) {
	// Fake cgroup files (see fakeCgroupBase).
	base := fakeCgroupBase(t, "cpuset cpu io memory hugetlb pids rdma misc")
	ctl := enableControllers(base)
	for _, name := range limitControllers {
		if !ctl.enabled[name] {
			t.Errorf("%s not enabled: %+v", name, ctl)
		}
	}
	if got := readFile(t, filepath.Join(base, "cgroup.subtree_control")); got != "+pids" {
		t.Errorf("cgroup.subtree_control: last write %q, want +pids", got)
	}
	cg := &Cgroups{base: base, ctl: ctl}
	if msgs := cg.unapplied(allLimits); len(msgs) != 0 {
		t.Errorf("every controller enabled, yet: %q", msgs)
	}

	// This machine's cgroup2 mount: hugetlb only.
	base = fakeCgroupBase(t, "hugetlb")
	cg = &Cgroups{base: base, ctl: enableControllers(base)}
	if got := readFile(t, filepath.Join(base, "cgroup.subtree_control")); got != "" {
		t.Errorf("cgroup.subtree_control written with %q: nothing there to enable", got)
	}
	want := []string{
		"memory_max: the memory controller is not available in cgroup " + base + " (controllers: hugetlb)",
		"cpu_max: the cpu controller is not available in cgroup " + base + " (controllers: hugetlb)",
		"pids_max: the pids controller is not available in cgroup " + base + " (controllers: hugetlb)",
	}
	if got := cg.unapplied(allLimits); !slices.Equal(got, want) {
		t.Errorf("unapplied:\n%q\nwant\n%q", got, want)
	}
	if got := cg.unapplied(units.Resources{PidsMax: 5}); !slices.Equal(got, want[2:]) {
		t.Errorf("unapplied pids only: %q", got)
	}
	if got := cg.unapplied(units.Resources{}); got != nil {
		t.Errorf("no limits, yet: %q", got)
	}

	// No controllers at all, and a kernel that refuses one.
	base = fakeCgroupBase(t, "")
	cg = &Cgroups{base: base, ctl: enableControllers(base)}
	if got := cg.unapplied(units.Resources{CPUMax: 100}); !slices.Equal(got, []string{"cpu_max: the cpu controller is not available in cgroup " + base + " (controllers: none)"}) {
		t.Errorf("no controllers: %q", got)
	}
	base = fakeCgroupBase(t, "memory pids")
	os.Remove(filepath.Join(base, "cgroup.subtree_control"))
	os.Mkdir(filepath.Join(base, "cgroup.subtree_control"), 0o755) // every write fails
	cg = &Cgroups{base: base, ctl: enableControllers(base)}
	got := cg.unapplied(units.Resources{MemoryMax: 1 << 30})
	if len(got) != 1 || !strings.HasPrefix(got[0], "memory_max: the memory controller is not available in cgroup "+base+": enabling it for the instances failed: ") {
		t.Errorf("refused: %q", got)
	}

	// No cgroups: nothing applies.
	var none *Cgroups
	got = none.unapplied(allLimits)
	if len(got) != 3 || got[0] != "memory_max: not applied: this agent contains instances by process groups only, without cgroup v2 (its log says why, at start)" {
		t.Errorf("no cgroups: %q", got)
	}
}

// A run's cgroup has its limit files written before anything runs in
// it, each in the kernel's syntax, and only those whose controller the
// base gives.
func TestMakeRunWritesLimits(t *testing.T) {
	// Fake cgroup files (see fakeCgroupBase): mkdir in a real cgroup
	// makes memory.max and the others; here makeRun's writes make them.
	base := fakeCgroupBase(t, "cpu memory pids")
	cg := &Cgroups{base: base, ctl: enableControllers(base)}
	dir := cg.Dir("web-abcde", 3)
	if err := cg.makeRun(dir, allLimits); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{"memory.max": "536870912", "cpu.max": "150000 100000", "pids.max": "100"} {
		if got := readFile(t, filepath.Join(dir, file)); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	if err := cg.makeRun(dir, allLimits); err != nil {
		t.Errorf("again, on the existing directory: %v", err)
	}

	// Only memory given: cpu.max and pids.max are left alone.
	base = fakeCgroupBase(t, "memory hugetlb")
	cg = &Cgroups{base: base, ctl: enableControllers(base)}
	dir = cg.Dir("web-abcde", 4)
	if err := cg.makeRun(dir, units.Resources{MemoryMax: 3 << 29, CPUMax: 1250, PidsMax: 7}); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(dir, "memory.max")); got != "1610612736" {
		t.Errorf("memory.max = %q", got)
	}
	for _, file := range []string{"cpu.max", "pids.max"} {
		if _, err := os.Stat(filepath.Join(dir, file)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s written without its controller: %v", file, err)
		}
	}

	// No limits: an empty directory, as before limits.
	dir = cg.Dir("web-abcde", 5)
	if err := cg.makeRun(dir, units.Resources{}); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("files without limits: %v", entries)
	}

	// A limit the kernel refuses fails the start, naming the key.
	dir = cg.Dir("web-abcde", 6)
	os.MkdirAll(filepath.Join(dir, "memory.max"), 0o755)
	err := cg.makeRun(dir, units.Resources{MemoryMax: 1 << 30})
	if err == nil || !strings.Contains(err.Error(), "memory_max: write memory.max \"1073741824\"") {
		t.Errorf("refused limit: %v", err)
	}
}

func TestOOMKills(t *testing.T) {
	// Fake cgroup files (see fakeCgroupBase): memory.events as the kernel
	// writes it after two OOM kills.
	base := fakeCgroupBase(t, "memory")
	cg := &Cgroups{base: base, ctl: enableControllers(base)}
	dir := cg.Dir("hog-abcde", 1)
	if err := cg.makeRun(dir, units.Resources{}); err != nil {
		t.Fatal(err)
	}
	if n := cg.oomKills(dir); n != 0 {
		t.Errorf("no memory.events: %d OOM kills", n)
	}
	os.WriteFile(filepath.Join(dir, "memory.events"), []byte("low 0\nhigh 0\nmax 1204\noom 2\noom_kill 2\noom_group_kill 0\n"), 0o644)
	if n := cg.oomKills(dir); n != 2 {
		t.Errorf("oomKills = %d, want 2", n)
	}
	if n := (&Cgroups{base: base}).oomKills(dir); n != 0 {
		t.Errorf("without the memory controller: %d", n)
	}
	if n := (*Cgroups)(nil).oomKills(""); n != 0 {
		t.Errorf("without cgroups: %d", n)
	}
	if n := memoryEventsOOMKills("oom 0\noom_kill 0\n"); n != 0 {
		t.Errorf("oom_kill 0: %d", n)
	}
}

// On this machine no controller the limits need is available in cgroup
// v2: an instance whose unit sets all three still starts, in a cgroup of
// its own, and its unit says once per version, for each key, that it is
// not applied and why. A restart of the instance does not say it again.
func TestLimitsNotAppliedAreWarnedOncePerVersion(t *testing.T) {
	cg := testCgroups(t)
	a := startTestAgentWith(t, t.TempDir(), newFakeClock(), func(o *Options) { o.Cgroups = cg })
	const keys = "memory_max = \"64M\"\ncpu_max = \"50%\"\npids_max = 50"
	a.applyTemplate("lim", keys, "sleep")
	first := a.only("lim", "running", func(in Instance) bool { return in.Status == "Running" })
	if first.Cgroup == "" || first.Limits != "memory 64MiB, cpu 50%, pids 50" {
		t.Fatalf("instance: cgroup %q, limits %q", first.Cgroup, first.Limits)
	}
	// What the kernel says the base has.
	avail := strings.TrimSpace(readFile(t, filepath.Join(cg.Base(), "cgroup.controllers")))
	var want []string
	for _, l := range []struct{ key, ctl string }{{"memory_max", "memory"}, {"cpu_max", "cpu"}, {"pids_max", "pids"}} {
		if !slices.Contains(strings.Fields(avail), l.ctl) {
			want = append(want, fmt.Sprintf("%s: the %s controller is not available in cgroup %s (controllers: %s)", l.key, l.ctl, cg.Base(), cmpOr(avail, "none")))
		}
	}
	if len(want) == 0 {
		t.Skipf("cgroup %s gives every controller the limits need: nothing to warn of (TestCgroupLimitsApplied tests them)", cg.Base())
	}
	warned := func() map[string]int {
		out := map[string]int{}
		for _, ev := range a.sup.Events(KindUnit, "lim") {
			if ev.Reason == "LimitNotApplied" && ev.Type == Warning {
				out[ev.Message] += ev.Count
			}
		}
		return out
	}
	a.waitFor("the warnings", func() bool { return len(warned()) == len(want) })
	for _, msg := range want {
		if n := warned()[msg]; n != 1 {
			t.Errorf("%q recorded %d times, want once; all: %v", msg, n, warned())
		}
	}

	// The next run of the same version says nothing new.
	if err := syscall.Kill(first.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	a.waitFor("the restart is pending", func() bool {
		in, err := a.sup.Instance(first.Name)
		return err == nil && in.LastState.Phase == PhaseTerminated
	})
	a.clock.Advance(units.DefaultRestartDelay.D())
	a.only("lim", "running again", func(in Instance) bool { return in.Status == "Running" && in.PID != first.PID })
	for _, msg := range want {
		if n := warned()[msg]; n != 1 {
			t.Errorf("after a restart, %q recorded %d times, want once", msg, n)
		}
	}

	// A new version whose instance starts says it again (folded).
	a.applyTemplate("lim", keys+"\nrestart_delay = \"1s\"", "sleep")
	a.waitUnit("lim", "the new version", func(u Unit) bool { return strings.Contains(u.Source, "restart_delay") })
	if err := a.sup.DeleteInstance(first.Name); err != nil {
		t.Fatal(err)
	}
	a.waitFor("the new version warns", func() bool { return warned()[want[0]] == 2 })
}

// Without cgroups (process groups only), every limit is not applied.
func TestLimitsWithoutCgroupsAreWarned(t *testing.T) {
	a := startTestAgent(t, t.TempDir(), newFakeClock())
	a.applyTemplate("lim", "pids_max = 20", "sleep")
	a.only("lim", "running", func(in Instance) bool { return in.Status == "Running" && in.Limits == "pids 20" })
	a.waitFor("the warning", func() bool { return countReason(a.sup.Events(KindUnit, "lim"), "LimitNotApplied") == 1 })
	ev := a.sup.Events(KindUnit, "lim")
	for _, e := range ev {
		if e.Reason == "LimitNotApplied" && e.Message != "pids_max: not applied: this agent contains instances by process groups only, without cgroup v2 (its log says why, at start)" {
			t.Errorf("message %q", e.Message)
		}
	}
	u, _ := a.sup.Unit("lim")
	if u.Template.Limits != "pids 20" {
		t.Errorf("template limits %q", u.Template.Limits)
	}
}

// When the OOM killer kills in a run's cgroup, the run's end is reported
// as Kubernetes reports it: Reason OOMKilled, in Last State and in the
// Exited event, with the run's exit code (137: the OOM killer's SIGKILL
// ended its main process).
//
// The process is real and really killed with SIGKILL; its cgroup is a
// fake (see fakeCgroupBase) whose memory.events says what the kernel
// says after an OOM kill, because this machine cannot give a cgroup the
// memory controller (TestOOMKillIsReportedByTheKernel does it where one
// can).
func TestOOMKillIsReported(t *testing.T) {
	a := startTestAgent(t, t.TempDir(), newFakeClock())
	a.applyTemplate("hog", "memory_max = \"16M\"", "sleep")
	in := a.only("hog", "running", func(in Instance) bool { return in.Status == "Running" })

	base := fakeCgroupBase(t, "memory")
	fake := &Cgroups{base: base, ctl: enableControllers(base)}
	dir := fake.Dir(in.Name, 1)
	if err := fake.makeRun(dir, units.Resources{MemoryMax: 16 << 20}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "memory.events"), []byte("low 0\nhigh 0\nmax 40\noom 1\noom_kill 1\noom_group_kill 0\n"), 0o644)
	a.sup.call(func() {
		// As if the run had started in the fake cgroup.
		a.sup.runner.cgroups = fake
		a.sup.instances[in.Name].proc.cgroup = dir
	})
	if err := syscall.Kill(in.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var got Instance
	a.waitFor("the end of the run", func() bool {
		got, _ = a.sup.Instance(in.Name)
		return got.LastState.Phase == PhaseTerminated
	})
	a.sup.call(func() { a.sup.runner.cgroups = nil }) // the next run starts as before
	if ls := got.LastState; ls.Reason != "OOMKilled" || ls.ExitCode != 137 || ls.Signal != "SIGKILL" {
		t.Errorf("Last State %+v, want OOMKilled, 137, SIGKILL", ls)
	}
	wantMsg := "Process exited: signal SIGKILL (exit code 137), OOMKilled: the kernel's out-of-memory killer killed 1 process of the run"
	found := false
	for _, e := range a.sup.Events(KindInstance, in.Name) {
		if e.Reason == "Exited" {
			found = e.Message == wantMsg && e.Type == Warning
			if !found {
				t.Errorf("Exited event %s %q, want Warning %q", e.Type, e.Message, wantMsg)
			}
		}
	}
	if !found {
		t.Errorf("no Exited event: %+v", a.sup.Events(KindInstance, in.Name))
	}

	// A run that ended for good shows OOMKilled as its STATUS, as
	// kubectl shows such a pod.
	i := &instance{rec: instanceRecord{Life: LifeExited, State: State{Phase: PhaseTerminated, Reason: reasonOOMKilled, ExitCode: 137}}}
	if s := i.status(); s != "OOMKilled" {
		t.Errorf("STATUS %q, want OOMKilled", s)
	}
}

// TestCgroupLimitsApplied checks, with the kernel, that a run's cgroup
// has its limits before its process starts. It needs a host whose cgroup
// v2 gives the memory, cpu and pids controllers (a pure cgroup v2 host);
// elsewhere it skips, and TestMakeRunWritesLimits tests the writes.
func TestCgroupLimitsApplied(t *testing.T) {
	cg := testCgroups(t)
	if msgs := cg.unapplied(allLimits); len(msgs) > 0 {
		t.Skipf("needs the memory, cpu and pids controllers in cgroup v2: %s", strings.Join(msgs, "; "))
	}
	r, _ := newTestReaper(t)
	dir := cg.Dir("limits", 1)
	if err := cg.makeRun(dir, allLimits); err != nil {
		t.Fatal(err)
	}
	spec := helperSpec(t, "sleep")
	spec.Cgroup = dir
	h := startHelper(t, r, spec)
	for file, want := range map[string]string{"memory.max": "536870912", "cpu.max": "150000 100000", "pids.max": "100"} {
		if got := strings.TrimSpace(readFile(t, filepath.Join(dir, file))); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	procs := readFile(t, filepath.Join(dir, "cgroup.procs"))
	if !slices.Contains(strings.Fields(procs), fmt.Sprint(h.Pid())) {
		t.Errorf("helper %d not in %s: %q", h.Pid(), dir, procs)
	}
	h.SignalGroup(syscall.SIGKILL)
	h.wait(t)
}

// TestOOMKillIsReportedByTheKernel runs an instance that allocates
// without end under memory_max = "32M", and checks that the kernel's OOM
// kill is its Last State: OOMKilled, exit code 137. It needs the memory
// controller in cgroup v2 (a pure cgroup v2 host); elsewhere it skips,
// and TestOOMKillIsReported tests the report with a fake cgroup.
func TestOOMKillIsReportedByTheKernel(t *testing.T) {
	cg := testCgroups(t)
	if msgs := cg.unapplied(units.Resources{MemoryMax: 32 << 20}); len(msgs) > 0 {
		t.Skipf("needs the memory controller in cgroup v2: %s", msgs[0])
	}
	a := startTestAgentWith(t, t.TempDir(), newFakeClock(), func(o *Options) { o.Cgroups = cg })
	start := filepath.Join(t.TempDir(), "go")
	// tail keeps the line it reads, and /dev/zero has no newline: it
	// grows until the OOM killer kills it (SIGKILL), and sh exits 137.
	script := fmt.Sprintf(`while [ ! -e %q ]; do sleep 0.01; done; head -c 1G /dev/zero | tail -c 1`, start)
	text := fmt.Sprintf("kind = \"replicated\"\n[template]\nlabels = { app = \"hog\" }\ncommand = [\"sh\", \"-c\", %q]\nmemory_max = \"32M\"\nstop_timeout = \"1s\"\n", script)
	if _, err := a.sup.ApplyUnit("hog.toml", []byte(text)); err != nil {
		t.Fatal(err)
	}
	in := a.only("hog", "running", func(in Instance) bool { return in.Status == "Running" && in.Cgroup != "" })
	// Without swap for the run, the limit is reached at once, not after
	// the host's swap is full.
	os.WriteFile(filepath.Join(in.Cgroup, "memory.swap.max"), []byte("0"), 0)
	if err := os.WriteFile(start, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var got Instance
	a.waitFor("the OOM kill", func() bool {
		got, _ = a.sup.Instance(in.Name)
		return got.LastState.Phase == PhaseTerminated
	})
	if ls := got.LastState; ls.Reason != "OOMKilled" || ls.ExitCode != 137 {
		t.Errorf("Last State %+v, want OOMKilled, exit code 137", ls)
	}
}
