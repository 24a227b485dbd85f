package supervisor

// Regression tests for defects found in review: each failed before its
// fix.

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

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

func TestStartErrorWithZeroDelayDoesNotHoldTheLoop(t *testing.T) {
	a := startTestAgent(t, t.TempDir(), newFakeClock())
	text := "kind = \"replicated\"\n[template]\nlabels = { app = \"x\" }\ncommand = [\"/nonexistent/program\"]\nrestart_delay = \"0s\"\n"
	if _, err := a.sup.ApplyUnit("broken.toml", []byte(text)); err != nil {
		t.Fatal(err)
	}
	a.waitUnit("broken", "a start error", func(u Unit) bool {
		for _, i := range a.ownedBy("broken") {
			if i.State.Reason == "StartError" {
				return true
			}
		}
		return false
	})
	// The loop still answers and stops when asked (stop fails the test
	// otherwise).
	a.stop()
}

func TestUnsuspendedCronRunsOnceNotItsBacklog(t *testing.T) {
	clock := newFakeClock()
	a := startTestAgent(t, t.TempDir(), clock)
	a.apply("tick", "kind = \"cron\"\nschedule = \"@every 1m\"\nsuspend = true", "exit:0")
	a.waitUnit("tick", "loaded", func(u Unit) bool { return u.Suspend })
	clock.Advance(30 * time.Minute)
	a.apply("tick", "kind = \"cron\"\nschedule = \"@every 1m\"", "exit:0")
	a.waitUnit("tick", "resumed", func(u Unit) bool { return !u.Suspend })
	clock.Advance(time.Minute)
	a.waitUnit("tick", "one run", func(u Unit) bool { return !u.LastSchedule.IsZero() })
	n := 0
	for _, u := range a.sup.Units("job") {
		if u.Owner == "tick" {
			n++
		}
	}
	// The newest time missed while suspended may run (as Kubernetes
	// does), then the next: not the thirty of the backlog.
	if n > 2 {
		t.Fatalf("%d jobs after unsuspending, want at most 2", n)
	}
}

func TestForbiddenRunsAreCountedAndNotScheduled(t *testing.T) {
	clock := newFakeClock()
	a := startTestAgent(t, t.TempDir(), clock)
	a.apply("busy", "kind = \"cron\"\nschedule = \"@every 1m\"\nconcurrency_policy = \"forbid\"", "sleep")
	a.waitUnit("busy", "loaded", func(u Unit) bool { return u.Schedule != "" })
	clock.Advance(time.Minute)
	first := clock.Now()
	a.waitUnit("busy", "first run", func(u Unit) bool { return len(u.ActiveJobs) == 1 })
	clock.Advance(time.Minute)
	u := a.waitUnit("busy", "a skip counted", func(u Unit) bool { return u.Missed == 1 })
	if !u.LastSchedule.Equal(first) {
		t.Fatalf("LAST SCHEDULE is %v, want the run that started (%v)", u.LastSchedule, first)
	}
}

func TestCronDeletedWithOrphanKeepsItsRunningJobs(t *testing.T) {
	clock := newFakeClock()
	a := startTestAgent(t, t.TempDir(), clock)
	a.apply("nightly", "kind = \"cron\"\nschedule = \"@every 1m\"", "sleep")
	a.waitUnit("nightly", "loaded", func(u Unit) bool { return u.Schedule != "" })
	clock.Advance(time.Minute)
	a.waitUnit("nightly", "running", func(u Unit) bool { return len(u.ActiveJobs) == 1 })
	job := fmt.Sprintf("nightly-%d", clock.Now().Unix())
	a.waitUnit(job, "its instance runs", func(u Unit) bool { return u.Running == 1 })
	name := a.ownedBy(job)[0].Name
	if err := a.sup.DeleteUnit("nightly", true); err != nil {
		t.Fatal(err)
	}
	a.waitFor("the cron is gone", func() bool { _, err := a.sup.Unit("nightly"); return err != nil })
	i, err := a.sup.Instance(name)
	if err != nil || i.Status != "Running" || i.Unit != "" {
		t.Fatalf("orphaned job instance: %+v, %v", i, err)
	}
}

func TestKindChangeReplacesInstancesWithoutAFight(t *testing.T) {
	a := startTestAgent(t, t.TempDir(), newFakeClock())
	a.apply("flip", "kind = \"job\"\nparallelism = 2\ncompletions = 2", "sleep")
	a.waitUnit("flip", "2 attempts run", func(u Unit) bool { return u.Running == 2 })
	a.apply("flip", "kind = \"replicated\"\nreplicas = 2", "sleep")
	a.waitUnit("flip", "2 replicas", func(u Unit) bool {
		list := a.ownedBy("flip")
		return u.Kind == "replicated" && u.Running == 2 && len(list) == 2 && list[0].Kind == "replicated" && list[1].Kind == "replicated"
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

func TestJobKeepsCountsOfRemovedAttempts(t *testing.T) {
	clock := newFakeClock()
	a := startTestAgent(t, t.TempDir(), clock)
	exe, _ := os.Executable()
	helpersUsed.Store("exit", true)
	text := fmt.Sprintf("kind = \"job\"\nbackoff_limit = 5\n[template]\ncommand = [%q]\nenv = { %s = \"exit:1\" }\nrestart = \"never\"\n", exe, helperEnv)
	if _, err := a.sup.ApplyUnit("j.toml", []byte(text)); err != nil {
		t.Fatal(err)
	}
	a.waitUnit("j", "a failure", func(u Unit) bool { return u.Failed == 1 })
	failed := a.ownedBy("j")[0].Name
	if err := a.sup.DeleteInstance(failed); err != nil {
		t.Fatal(err)
	}
	u := a.waitUnit("j", "the attempt removed", func(u Unit) bool {
		_, err := a.sup.Instance(failed)
		return err != nil
	})
	if u.Failed != 1 {
		t.Fatalf("deleting a failed attempt reset the failures: %+v", u)
	}
}

func TestJobAttemptThatCannotStartCountsAsAFailure(t *testing.T) {
	a := startTestAgent(t, t.TempDir(), newFakeClock())
	text := "kind = \"job\"\nbackoff_limit = 0\n[template]\ncommand = [\"/nonexistent/program\"]\nrestart = \"never\"\n"
	if _, err := a.sup.ApplyUnit("nope.toml", []byte(text)); err != nil {
		t.Fatal(err)
	}
	u := a.waitUnit("nope", "failed", func(u Unit) bool { return u.Condition == JobFailed })
	if u.Reason != "BackoffLimitExceeded" {
		t.Fatalf("job: %+v", u)
	}
	if list := a.ownedBy("nope"); len(list) != 1 || list[0].State.Reason != "StartError" || list[0].State.ExitCode != 128 {
		t.Fatalf("attempt: %+v", list)
	}
}

func TestApplyingTheRunningVersionRepairsABrokenFile(t *testing.T) {
	dir := t.TempDir()
	c, err := NewDirCatalog(dir, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Put("kubia.toml", []byte(kubiaUnit)); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "kubia.toml")
	os.WriteFile(path, []byte("kind = 3\n"), 0o644)
	c.Rescan()
	if c.Problems()["kubia"] == nil {
		t.Fatal("broken file not noticed")
	}
	res, err := c.Put("kubia.toml", []byte(kubiaUnit))
	if err != nil || res.Action == "unchanged" {
		t.Fatalf("Put = %+v, %v", res, err)
	}
	if data, _ := os.ReadFile(path); string(data) != kubiaUnit {
		t.Fatalf("file on disk: %q", data)
	}
	if !strings.Contains(res.Action, "configured") {
		t.Fatalf("action %q", res.Action)
	}
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
