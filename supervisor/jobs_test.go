package supervisor

// The job controller with real processes on a fake clock (harness_test.go).

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

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
