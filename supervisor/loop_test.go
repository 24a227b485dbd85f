package supervisor

// The loop with real processes on a fake clock (harness_test.go): what it
// does when units change kind or vanish, and that it never spins.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tendhq/tend/units"
)

// A start that fails with restart_delay = "0s" is retried no sooner than
// minStartRetry: the loop goes on answering and passing (every Ping is a
// pass) without trying again until the clock says so.
func TestStartErrorWithZeroDelayWaitsASecondBeforeTheNextTry(t *testing.T) {
	clock := newFakeClock()
	a := startTestAgent(t, t.TempDir(), clock)
	text := "kind = \"replicated\"\n[template]\nlabels = { app = \"x\" }\ncommand = [\"/nonexistent/program\"]\nrestart_delay = \"0s\"\n"
	if _, err := a.sup.ApplyUnit("broken.toml", []byte(text)); err != nil {
		t.Fatal(err)
	}
	failed := func() int {
		n := 0
		for _, e := range a.sup.Events(KindInstance, "") {
			if e.Reason == "Failed" {
				n += e.Count
			}
		}
		return n
	}
	a.waitFor("a start error", func() bool { return failed() == 1 })
	list := a.ownedBy("broken")
	if len(list) != 1 || list[0].Status != "StartError" || list[0].State.Message != "back-off 1s restarting failed instance" {
		t.Fatalf("after the failed start: %+v", list)
	}
	for range 20 {
		if err := a.sup.Ping(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(minStartRetry - time.Millisecond)
	for range 20 {
		a.sup.Ping(context.Background())
	}
	if n := failed(); n != 1 {
		t.Fatalf("%d tries within %s of the first, want 1", n, minStartRetry)
	}
	clock.Advance(time.Millisecond)
	a.waitFor("the second try", func() bool { return failed() == 2 })
}

func TestKindChangeReplacesInstancesWithoutAFight(t *testing.T) {
	a := startTestAgent(t, t.TempDir(), newFakeClock())
	a.apply("flip", "kind = \"job\"\nparallelism = 2\ncompletions = 2", "sleep")
	a.waitUnit("flip", "2 attempts run", func(u Unit) bool { return u.Running == 2 })
	a.apply("flip", "kind = \"replicated\"\nreplicas = 2", "sleep")
	a.waitUnit("flip", "2 replicas", func(u Unit) bool {
		list := a.ownedBy("flip")
		return u.Kind == units.KindReplicated && u.Running == 2 && len(list) == 2 && list[0].Kind == units.KindReplicated && list[1].Kind == units.KindReplicated
	})
	if n := countReason(a.sup.Events(KindUnit, "flip"), "SuccessfulCreate"); n > 4 {
		t.Fatalf("%d SuccessfulCreate events: the controllers fought", n)
	}
}

func TestUnitDeletedWhileDownIsNotStartedAgain(t *testing.T) {
	dir := t.TempDir()
	starts := t.TempDir()
	a := startTestAgent(t, dir, newFakeClock())
	a.apply("gone", "kind = \"replicated\"", "count-sleep:"+starts)
	a.waitUnit("gone", "running", func(u Unit) bool { return u.Running == 1 })
	for deadline := time.Now().Add(testDeadline); ; time.Sleep(5 * time.Millisecond) {
		if entries, _ := os.ReadDir(starts); len(entries) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the instance did not record its start")
		}
	}
	a.stop()
	if err := os.Remove(filepath.Join(dir, "units", "gone.toml")); err != nil {
		t.Fatal(err)
	}
	b := startTestAgent(t, dir, a.clock)
	b.waitFor("the instance is gone", func() bool { return len(b.sup.Instances(selectorAll)) == 0 })
	if entries, _ := os.ReadDir(starts); len(entries) != 1 {
		t.Fatalf("%d starts, want 1: the restarted agent ran a deleted unit's instance", len(entries))
	}
}

// A pass creates at most maxActionsPerPass instances, as the ReplicaSet
// controller's burst: 600 replicas take two passes, and none is made
// twice (the first 500 count while they start).
func TestAPassCreatesAtMostItsBudget(t *testing.T) {
	if _, err := os.Stat("/bin/sleep"); err != nil {
		t.Skip("no /bin/sleep")
	}
	a := startTestAgent(t, t.TempDir(), newFakeClock())
	text := "kind = \"replicated\"\nreplicas = 600\n[template]\nlabels = { app = \"many\" }\ncommand = [\"/bin/sleep\", \"600\"]\nstop_timeout = \"1s\"\n"
	if _, err := a.sup.ApplyUnit("many.toml", []byte(text)); err != nil {
		t.Fatal(err)
	}
	a.waitFor("600 running", func() bool {
		u, err := a.sup.Unit("many")
		return err == nil && u.Running == 600
	})
	var most int
	a.sup.call(func() { most = a.sup.stats.mostActions })
	if n := len(a.ownedBy("many")); n != 600 || most != maxActionsPerPass {
		t.Fatalf("%d instances, at most %d made in one pass; want 600 and %d", n, most, maxActionsPerPass)
	}
}

// Once what runs matches what should, the loop is idle: it makes a pass
// for each message and none of its own (a unit that marked itself dirty
// again on every pass would spin a core).
func TestASettledLoopMakesNoPassesOfItsOwn(t *testing.T) {
	clock := newFakeClock()
	a := startTestAgent(t, t.TempDir(), clock)
	a.apply("web", "kind = \"replicated\"\nreplicas = 3", "sleep")
	a.apply("once", "kind = \"job\"\ncompletions = 2", "exit:0")
	a.apply("tick", "kind = \"cron\"\nschedule = \"@every 1m\"", "exit:0")
	clock.Advance(time.Minute)
	a.waitFor("everything settled", func() bool {
		web, _ := a.sup.Unit("web")
		once, _ := a.sup.Unit("once")
		tick, _ := a.sup.Unit("tick")
		return web.Running == 3 && once.Condition == JobComplete && !tick.LastSchedule.IsZero() && len(tick.ActiveJobs) == 0
	})
	passes := func() (n uint64) {
		a.sup.call(func() { n = a.sup.stats.passes })
		return n
	}
	before := passes()
	for range 10 {
		if err := a.sup.Ping(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if n := passes() - before; n != 11 {
		t.Fatalf("%d passes for 11 messages", n)
	}
}

// A stored unit version that no longer parses (a newer agent is
// stricter) is left out with a warning; the agent starts.
func TestStoredSpecThatNoLongerParsesIsNotFatal(t *testing.T) {
	dir := t.TempDir()
	st := openTestStore(t, filepath.Join(dir, "state"))
	st.put(bucketSpecs, "stale", specRecord{Path: filepath.Join(dir, "units", "old.toml"), Source: []byte("kind = \"no such kind\"\n")})
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	a := startTestAgent(t, dir, newFakeClock())
	if err := a.sup.Ping(context.Background()); err != nil {
		t.Fatalf("the agent did not start: %v", err)
	}
}

// The loop says when the agent's start has settled (Options.Settled),
// once: in the first pass, for a start with little to do; after the
// passes that made them, for a start with a hundred instances or more to
// make (a burst, whose memory is given back first).
func TestSettledOnceTheStartIs(t *testing.T) {
	for _, replicas := range []int{0, 120} {
		t.Run(fmt.Sprint(replicas, " replicas"), func(t *testing.T) {
			dir := t.TempDir()
			if replicas > 0 {
				if err := os.MkdirAll(filepath.Join(dir, "units"), 0o755); err != nil {
					t.Fatal(err)
				}
				text := helperUnit(fmt.Sprintf("kind = \"replicated\"\nreplicas = %d", replicas), "sleep")
				if err := os.WriteFile(filepath.Join(dir, "units", "many.toml"), []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			// Each settle sends how many instances the start had made by then.
			settled := make(chan int, 10)
			started := make(chan *testAgent, 1) // the agent, for the callback
			a := startTestAgentWith(t, dir, newFakeClock(), func(o *Options) {
				o.Settled = func() {
					a := <-started
					started <- a
					n := 0
					for _, i := range a.sup.Instances(selectorAll) {
						if i.Unit == "many" {
							n++
						}
					}
					settled <- n
				}
			})
			started <- a
			select {
			case n := <-settled:
				if n != replicas {
					t.Fatalf("settled with %d instances made, want the start's %d", n, replicas)
				}
			case <-time.After(testDeadline):
				t.Fatal("the start never settled")
			}
			a.sup.Resync()
			a.sup.Resync()
			select {
			case <-settled:
				t.Fatal("settled twice")
			default:
			}
		})
	}
}
