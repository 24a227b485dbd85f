package supervisor

// Controller tests: a real Supervisor with a real reaper, store and
// processes (this test binary as the workload), on a fake clock, so the
// job and cron rules that are about time (back-off, deadlines, ttl,
// schedules) are tested without waiting for them.

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tendhq/tend/units"
)

func init() {
	// flaky:N:DIR exits 1 on its first N runs (counted by files in DIR),
	// then 0.
	helpers["flaky"] = func(arg string) int {
		n, dir, _ := strings.Cut(arg, ":")
		limit, _ := strconv.Atoi(n)
		f, err := os.CreateTemp(dir, "run-")
		if err != nil {
			return 2
		}
		f.Close()
		entries, _ := os.ReadDir(dir)
		if len(entries) <= limit {
			return 1
		}
		return 0
	}
	// wait-file:PATH exits 0 once PATH exists.
	helpers["wait-file"] = func(path string) int {
		for {
			if _, err := os.Stat(path); err == nil {
				return 0
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// fakeClock is a Clock whose time moves only by Advance.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	at      time.Time
	f       func()
	stopped bool
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		was := !t.stopped
		t.stopped = true
		return was
	}
}

// Advance moves the time on by d and fires the timers that came due, in
// order.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []*fakeTimer
	keep := c.timers[:0]
	for _, t := range c.timers {
		switch {
		case t.stopped:
		case !t.at.After(c.now):
			t.stopped = true
			due = append(due, t)
		default:
			keep = append(keep, t)
		}
	}
	c.timers = keep
	c.mu.Unlock()
	sort.Slice(due, func(a, b int) bool { return due[a].at.Before(due[b].at) })
	for _, t := range due {
		t.f()
	}
}

// testAgent is a Supervisor on a fake clock with its real parts.
type testAgent struct {
	t       *testing.T
	dir     string
	clock   *fakeClock
	sup     *Supervisor
	store   *Store
	reaper  *Reaper
	catalog *DirCatalog
	cancel  context.CancelFunc
	done    chan error
}

func startTestAgent(t *testing.T, dir string, clock *fakeClock) *testAgent {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	a := &testAgent{t: t, dir: dir, clock: clock, done: make(chan error, 1)}
	var err error
	if a.store, err = OpenStore(filepath.Join(dir, "state"), log); err != nil {
		t.Fatal(err)
	}
	id, _ := a.store.AgentID()
	if a.catalog, err = NewDirCatalog(filepath.Join(dir, "units"), log, nil); err != nil {
		t.Fatal(err)
	}
	if a.reaper, err = NewReaper(log); err != nil {
		t.Fatal(err)
	}
	a.sup, err = NewSupervisor(Options{
		Host: "test", AgentID: id, LogDir: filepath.Join(dir, "state", "logs"),
		Store: a.store, Reaper: a.reaper, Catalog: a.catalog, Clock: clock, Log: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	go func() { a.done <- a.sup.Run(ctx) }()
	t.Cleanup(a.stop)
	return a
}

// stop stops the agent's loop (every instance with it) and closes it.
func (a *testAgent) stop() {
	if a.cancel == nil {
		return
	}
	a.cancel()
	a.cancel = nil
	select {
	case err := <-a.done:
		if err != nil {
			a.t.Errorf("loop: %v", err)
		}
	case <-time.After(testDeadline):
		a.t.Error("the loop did not stop")
	}
	a.reaper.Close()
	a.store.Close()
}

// apply adds a unit running the helper in mode.
func (a *testAgent) apply(name, keys, mode string) {
	a.t.Helper()
	name0, _, _ := strings.Cut(mode, ":")
	helpersUsed.Store(name0, true)
	exe, _ := os.Executable()
	text := fmt.Sprintf("%s\n[template]\ncommand = [%q]\nenv = { %s = %q }\nstop_timeout = \"1s\"\n", keys, exe, helperEnv, mode)
	if strings.Contains(keys, "replicated") {
		text += "labels = { app = \"x\" }\n"
	}
	if _, err := a.sup.ApplyUnit(name+".toml", []byte(text)); err != nil {
		a.t.Fatal(err)
	}
}

// waitUnit waits until cond holds for the unit's published status.
func (a *testAgent) waitUnit(name, what string, cond func(Unit) bool) Unit {
	a.t.Helper()
	ch, stop := a.sup.Subscribe()
	defer stop()
	deadline := time.After(testDeadline)
	for {
		u, err := a.sup.Unit(name)
		if err == nil && cond(u) {
			return u
		}
		select {
		case <-ch:
		case <-deadline:
			a.t.Fatalf("timed out waiting until %s: %+v (%v)", what, u, err)
		}
	}
}

// ownedBy lists the instances of an owner (a job or unit).
func (a *testAgent) ownedBy(owner string) []Instance {
	var out []Instance
	for _, i := range a.sup.Instances(selectorAll) {
		if i.Unit == owner {
			out = append(out, i)
		}
	}
	return out
}

func TestJobCompletionsRunInSequence(t *testing.T) {
	a := startTestAgent(t, t.TempDir(), newFakeClock())
	a.apply("batch", "kind = \"job\"\ncompletions = 3", "exit:0")
	u := a.waitUnit("batch", "3 completions", func(u Unit) bool { return u.Condition == JobComplete })
	if u.Succeeded != 3 || u.Failed != 0 || u.Active != 0 {
		t.Fatalf("job: %+v", u)
	}
	list := a.ownedBy("batch")
	if len(list) != 3 {
		t.Fatalf("%d instances, want 3", len(list))
	}
	// With parallelism 1 each attempt starts after the previous ended.
	sort.Slice(list, func(i, j int) bool { return list[i].State.Started.Before(list[j].State.Started) })
	for k := 1; k < len(list); k++ {
		if list[k].State.Started.Before(list[k-1].State.Finished) {
			t.Fatalf("attempt %d started before attempt %d finished", k, k-1)
		}
	}
	evs := a.sup.Events(KindUnit, "batch")
	if n := countReason(evs, "SuccessfulCreate"); n != 3 || countReason(evs, "Completed") != 1 {
		t.Fatalf("events: %+v", evs)
	}
}

func countReason(evs []Event, reason string) int {
	n := 0
	for _, e := range evs {
		if e.Reason == reason {
			n += e.Count
		}
	}
	return n
}

func TestJobParallelismAndScaling(t *testing.T) {
	a := startTestAgent(t, t.TempDir(), newFakeClock())
	release := filepath.Join(t.TempDir(), "go")
	a.apply("par", "kind = \"job\"\ncompletions = 5\nparallelism = 2", "wait-file:"+release)
	a.waitUnit("par", "2 running", func(u Unit) bool { return u.Active == 2 && u.Running == 2 })
	// Parallelism changes take effect at once (kubectl refuses this).
	if _, err := a.sup.ScaleUnit("par", 3); err != nil {
		t.Fatal(err)
	}
	a.waitUnit("par", "3 running", func(u Unit) bool { return u.Active == 3 && u.Running == 3 && u.Parallelism == 3 })
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	u := a.waitUnit("par", "complete", func(u Unit) bool { return u.Condition == JobComplete })
	if u.Succeeded != 5 {
		t.Fatalf("job: %+v", u)
	}
}

func TestJobOnFailureRestartsInPlaceWithBackOff(t *testing.T) {
	clock := newFakeClock()
	a := startTestAgent(t, t.TempDir(), clock)
	runs := t.TempDir()
	a.apply("flaky", "kind = \"job\"\nbackoff_delay = \"10s\"\n", "flaky:2:"+runs)
	// First run fails: the same instance waits 10s.
	a.waitUnit("flaky", "first failure", func(u Unit) bool { return u.Failed == 1 })
	list := a.ownedBy("flaky")
	if len(list) != 1 || list[0].State.Reason != "CrashLoopBackOff" || !strings.Contains(list[0].State.Message, "10s") {
		t.Fatalf("after the first failure: %+v", list)
	}
	clock.Advance(9 * time.Second)
	if got := a.ownedBy("flaky")[0]; got.RestartCount != 0 {
		t.Fatalf("restarted before its back-off: %+v", got)
	}
	clock.Advance(time.Second)
	a.waitUnit("flaky", "second failure", func(u Unit) bool { return u.Failed == 2 })
	if got := a.ownedBy("flaky")[0]; !strings.Contains(got.State.Message, "20s") {
		t.Fatalf("second back-off: %+v", got)
	}
	clock.Advance(20 * time.Second)
	u := a.waitUnit("flaky", "complete", func(u Unit) bool { return u.Condition == JobComplete })
	list = a.ownedBy("flaky")
	if len(list) != 1 || list[0].RestartCount != 2 || u.Failed != 2 {
		t.Fatalf("job %+v, instances %+v", u, list)
	}
}

func TestJobRestartNeverMakesNewInstancesUntilTheBackoffLimit(t *testing.T) {
	clock := newFakeClock()
	a := startTestAgent(t, t.TempDir(), clock)
	exe, _ := os.Executable()
	text := fmt.Sprintf("kind = \"job\"\nbackoff_limit = 2\nbackoff_delay = \"10s\"\n[template]\ncommand = [%q]\nenv = { %s = \"exit:3\" }\nrestart = \"never\"\n", exe, helperEnv)
	if _, err := a.sup.ApplyUnit("never.toml", []byte(text)); err != nil {
		t.Fatal(err)
	}
	a.waitUnit("never", "a failure", func(u Unit) bool { return u.Failed == 1 })
	for k, step := range []time.Duration{10 * time.Second, 20 * time.Second} {
		clock.Advance(step - time.Second)
		if n := len(a.ownedBy("never")); n != k+1 {
			t.Fatalf("a new attempt before the back-off of %s: %d instances", step, n)
		}
		clock.Advance(time.Second)
		a.waitUnit("never", "the next failure", func(u Unit) bool { return u.Failed == k+2 })
	}
	u := a.waitUnit("never", "failed", func(u Unit) bool { return u.Condition == JobFailed })
	if u.Reason != "BackoffLimitExceeded" || u.Failed != 3 {
		t.Fatalf("job: %+v", u)
	}
	if list := a.ownedBy("never"); len(list) != 3 {
		t.Fatalf("%d instances, want 3 failed attempts", len(list))
	}
	if countReason(a.sup.Events(KindUnit, "never"), "BackoffLimitExceeded") != 1 {
		t.Fatalf("events: %+v", a.sup.Events(KindUnit, "never"))
	}
}

func TestJobActiveDeadlineAndTTL(t *testing.T) {
	clock := newFakeClock()
	a := startTestAgent(t, t.TempDir(), clock)
	a.apply("slow", "kind = \"job\"\nactive_deadline = \"30s\"\nttl_after_finished = \"1m\"", "sleep")
	a.waitUnit("slow", "running", func(u Unit) bool { return u.Running == 1 })
	clock.Advance(29 * time.Second)
	if u, _ := a.sup.Unit("slow"); u.Condition != "" {
		t.Fatalf("finished before its deadline: %+v", u)
	}
	clock.Advance(time.Second)
	u := a.waitUnit("slow", "deadline exceeded", func(u Unit) bool { return u.Condition == JobFailed && u.Running == 0 })
	if u.Reason != "DeadlineExceeded" {
		t.Fatalf("job: %+v", u)
	}
	clock.Advance(time.Minute)
	a.waitUnit("slow", "cleaned after the ttl", func(u Unit) bool { return len(a.ownedBy("slow")) == 0 })
}

func TestJobProgressSurvivesAnAgentRestart(t *testing.T) {
	dir := t.TempDir()
	clock := newFakeClock()
	a := startTestAgent(t, dir, clock)
	runs := t.TempDir()
	release := filepath.Join(t.TempDir(), "go")
	// Two quick completions, then one that waits.
	a.apply("seq", "kind = \"job\"\ncompletions = 2", "exit:0")
	a.waitUnit("seq", "complete", func(u Unit) bool { return u.Condition == JobComplete })
	a.apply("three", "kind = \"job\"\ncompletions = 3\nparallelism = 3", "wait-file:"+release)
	a.waitUnit("three", "3 running", func(u Unit) bool { return u.Running == 3 })
	_ = runs
	a.stop()

	os.WriteFile(release, nil, 0o644)
	b := startTestAgent(t, dir, clock)
	u := b.waitUnit("three", "complete", func(u Unit) bool { return u.Condition == JobComplete })
	if u.Succeeded != 3 || len(b.ownedBy("three")) != 3 {
		t.Fatalf("after restart: %+v, %d instances", u, len(b.ownedBy("three")))
	}
	if s, _ := b.sup.Unit("seq"); s.Succeeded != 2 || len(b.ownedBy("seq")) != 2 || s.Condition != JobComplete {
		t.Fatalf("a finished job ran again: %+v", s)
	}
}

func TestCronRunsOnScheduleWithPolicies(t *testing.T) {
	clock := newFakeClock()
	a := startTestAgent(t, t.TempDir(), clock)
	a.apply("tick", "kind = \"cron\"\nschedule = \"@every 1m\"\nconcurrency_policy = \"forbid\"\nsuccessful_history = 1", "sleep")
	a.waitUnit("tick", "loaded", func(u Unit) bool { return u.Schedule == "@every 1m" })
	clock.Advance(time.Minute)
	first := fmt.Sprintf("tick-%d", clock.Now().Unix())
	a.waitUnit(first, "the first run", func(u Unit) bool { return u.Running == 1 })
	// forbid: the next run is skipped while the first still runs.
	clock.Advance(time.Minute)
	a.waitUnit("tick", "a skipped run", func(u Unit) bool {
		return countReason(a.sup.Events(KindUnit, "tick"), "JobAlreadyActive") == 1
	})
	if _, err := a.sup.Unit(fmt.Sprintf("tick-%d", clock.Now().Unix())); err == nil {
		t.Fatal("forbid started a second job")
	}

	// replace: the running job is replaced by the new run.
	a.apply("tick", "kind = \"cron\"\nschedule = \"@every 1m\"\nconcurrency_policy = \"replace\"\nsuccessful_history = 1", "sleep")
	clock.Advance(time.Minute)
	third := fmt.Sprintf("tick-%d", clock.Now().Unix())
	a.waitUnit(third, "the replacing run", func(u Unit) bool { return u.Running == 1 })
	if _, err := a.sup.Unit(first); err == nil {
		t.Fatal("replace kept the old job")
	}
	u, _ := a.sup.Unit("tick")
	if len(u.ActiveJobs) != 1 || u.ActiveJobs[0] != third || !u.LastSchedule.Equal(clock.Now()) {
		t.Fatalf("cron: %+v", u)
	}
}

func TestCronHistorySuspendAndCatchUp(t *testing.T) {
	dir := t.TempDir()
	clock := newFakeClock()
	a := startTestAgent(t, dir, clock)
	a.apply("quick", "kind = \"cron\"\nschedule = \"@every 1m\"\nsuccessful_history = 2", "exit:0")
	a.waitUnit("quick", "loaded", func(u Unit) bool { return u.Schedule != "" })
	var names []string
	for range 4 {
		clock.Advance(time.Minute)
		name := fmt.Sprintf("quick-%d", clock.Now().Unix())
		names = append(names, name)
		a.waitUnit(name, "run done", func(u Unit) bool { return u.Condition == JobComplete })
	}
	// Only the newest two finished jobs are kept.
	a.waitUnit("quick", "history trimmed", func(Unit) bool {
		_, e0 := a.sup.Unit(names[0])
		_, e1 := a.sup.Unit(names[1])
		return e0 != nil && e1 != nil
	})
	if _, err := a.sup.Unit(names[3]); err != nil {
		t.Fatal("newest job trimmed")
	}

	// The agent is down for 10 minutes: with catch_up = latest one run
	// makes up for the newest missed time, the rest are reported missed.
	a.stop()
	clock.Advance(10*time.Minute + 30*time.Second)
	b := startTestAgent(t, dir, clock)
	newest := clock.Now().Truncate(time.Minute)
	b.waitUnit(fmt.Sprintf("quick-%d", newest.Unix()), "the catch-up run", func(u Unit) bool { return u.Condition == JobComplete })
	evs := b.sup.Events(KindUnit, "quick")
	var missed string
	for _, e := range evs {
		if e.Reason == "MissedSchedule" {
			missed = e.Message
		}
	}
	if !strings.Contains(missed, "Missed 9 scheduled run(s)") {
		t.Fatalf("missed runs not reported: %q", missed)
	}

	// Suspended: nothing new runs.
	b.apply("quick", "kind = \"cron\"\nschedule = \"@every 1m\"\nsuccessful_history = 2\nsuspend = true", "exit:0")
	b.waitUnit("quick", "suspended", func(u Unit) bool { return u.Suspend })
	clock.Advance(5 * time.Minute)
	if _, err := b.sup.Unit(fmt.Sprintf("quick-%d", clock.Now().Unix())); err == nil {
		t.Fatal("a suspended cron ran")
	}
}

// selectorAll matches every instance.
var selectorAll = units.Selector{}
