package supervisor

// The harness of the loop's tests: a real Supervisor with a real reaper,
// store, catalog and processes (this test binary as the workload, see
// helper_test.go), on a fake clock, so the rules that are about time
// (back-off, deadlines, ttl, schedules) are tested without waiting for
// them.

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
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

func init() {
	// count-sleep:DIR records each start as a file in DIR, then sleeps.
	helpers["count-sleep"] = func(dir string) int {
		f, err := os.CreateTemp(dir, "start-")
		if err != nil {
			return 2
		}
		f.Close()
		time.Sleep(10 * time.Minute)
		return 0
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
	return startTestAgentWith(t, dir, clock, nil)
}

// startTestAgentWith is startTestAgent with the options changed by mod
// last (the fleet's seams).
func startTestAgentWith(t *testing.T, dir string, clock *fakeClock, mod func(*Options)) *testAgent {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	a := &testAgent{t: t, dir: dir, clock: clock, done: make(chan error, 1)}
	var err error
	if a.store, err = OpenStore(filepath.Join(dir, "state"), log); err != nil {
		t.Fatal(err)
	}
	id, _ := a.store.AgentID()
	if a.reaper, err = NewReaper(log); err != nil {
		t.Fatal(err)
	}
	opt := Options{
		Host: "test", AgentID: id, LogDir: filepath.Join(dir, "state", "logs"),
		Store: a.store, Reaper: a.reaper, Clock: clock, Log: log,
		Shim: "/proc/self/exe",
	}
	if mod != nil {
		mod(&opt)
	}
	if a.catalog, err = OpenDirCatalog(filepath.Join(dir, "units"), opt.Limits.Unit(), a.store, log); err != nil {
		t.Fatal(err)
	}
	opt.Catalog = a.catalog
	a.sup, err = NewSupervisor(opt)
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
		out, _ := exec.Command("ps", "-eo", "pid,ppid,pgid,stat,args", "--forest").CombinedOutput()
		a.t.Errorf("the loop did not stop\n%s", out)
	}
	a.reaper.Close()
	a.store.Close()
}

// apply adds a unit running the helper in mode.
func (a *testAgent) apply(name, keys, mode string) {
	a.t.Helper()
	if _, err := a.sup.ApplyUnit(name+".toml", []byte(helperUnit(keys, mode))); err != nil {
		a.t.Fatal(err)
	}
}

// helperUnit is the text of a unit file with keys whose instances run
// the helper in mode.
func helperUnit(keys, mode string) string {
	name0, _, _ := strings.Cut(mode, ":")
	helpersUsed.Store(name0, true)
	exe, _ := os.Executable()
	text := fmt.Sprintf("%s\n[template]\ncommand = [%q]\nenv = { %s = %q }\nstop_timeout = \"1s\"\n", keys, exe, helperEnv, mode)
	if strings.Contains(keys, "replicated") {
		text += "labels = { app = \"x\" }\n"
	}
	return text
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

// waitFor waits until cond holds, looking again after each pass.
func (a *testAgent) waitFor(what string, cond func() bool) {
	a.t.Helper()
	ch, stop := a.sup.Subscribe()
	defer stop()
	deadline := time.After(testDeadline)
	for !cond() {
		select {
		case <-ch:
		case <-deadline:
			a.t.Fatalf("timed out waiting until %s", what)
		}
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

// selectorAll matches every instance.
var selectorAll = units.Selector{}
