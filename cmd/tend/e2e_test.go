package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/e2e"
	"github.com/tendhq/tend/supervisor"
)

// The scenarios of DESIGN §3 on one host, through the CLI only.

func names(list []supervisor.Instance) []string {
	var out []string
	for _, i := range list {
		out = append(out, i.Name)
	}
	slices.Sort(out)
	return out
}

func TestKilledInstanceIsRestartedAndDescribeShowsExit137(t *testing.T) {
	a := e2e.StartAgent(t, "", "")
	a.WriteUnit("kubia", a.HelperUnit("replicated", "replicas = 1", `app = "kubia"`, "sleep"))
	inst := a.WaitRunning("kubia", 1)[0]
	// Running is the process started, not yet its first line written.
	first := "started " + inst.Name + " pid " + fmt.Sprint(inst.PID)
	a.Eventually("the first run's output", func() (bool, string) {
		out, _, _ := a.Run("logs", inst.Name)
		return strings.Contains(out, first), out
	})
	if err := syscall.Kill(inst.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	a.Eventually("the instance runs again with a new pid", func() (bool, string) {
		i := a.Instance(inst.Name)
		return i.Status == "Running" && i.PID != inst.PID && i.PID != 0 && i.RestartCount == 1, fmt.Sprintf("%+v", i)
	})
	out := a.Tend("describe", "po", inst.Name)
	for _, want := range []string{
		"State:", "Running",
		"Last State:", "Terminated",
		"Reason:", "Error",
		"Exit Code:", "137",
		"Restart Count:", "1",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("describe lacks %q:\n%s", want, out)
		}
	}
	// The replacement is the same instance restarted: still one.
	if list := a.Instances(); len(list) != 1 {
		t.Fatalf("instances after the kill:\n%s", e2e.Summary(list))
	}
	out = a.Tend("logs", inst.Name, "--previous")
	if !strings.Contains(out, first) {
		t.Fatalf("logs --previous is not the previous run's output:\n%s", out)
	}
}

func TestDeletedInstanceIsReplaced(t *testing.T) {
	a := e2e.StartAgent(t, "", "")
	a.WriteUnit("kubia", a.HelperUnit("replicated", "replicas = 3", `app = "kubia"`, "ignore-term"))
	before := a.WaitRunning("kubia", 3)
	victim := before[0]
	out := a.Tend("delete", "po", victim.Name)
	if !strings.Contains(out, victim.Name) {
		t.Fatalf("delete said: %q", out)
	}
	after := a.WaitRunning("kubia", 3)
	if slices.Contains(names(after), victim.Name) {
		t.Fatalf("the deleted instance is still counted:\n%s", e2e.Summary(after))
	}
	a.Eventually("the deleted instance's process is gone", func() (bool, string) {
		procs := a.Processes()
		return len(procs[victim.Name]) == 0 && len(procs) == 3, fmt.Sprint(procs)
	})
	out = a.Tend("describe", "rc", "kubia")
	if n := strings.Count(out, "SuccessfulCreate"); n != 4 {
		t.Fatalf("describe rc shows %d SuccessfulCreate events, want 4:\n%s", n, out)
	}
	if !strings.Contains(out, "3 current / 3 desired") {
		t.Fatalf("describe rc replicas line:\n%s", out)
	}
}

func TestRelabelOrphansAndAdopts(t *testing.T) {
	a := e2e.StartAgent(t, "", "")
	a.WriteUnit("kubia", a.HelperUnit("replicated", "replicas = 3", `app = "kubia"`, "sleep"))
	before := a.WaitRunning("kubia", 3)
	moved := before[0].Name

	// Out of the selector: orphaned, still running, and replaced.
	a.Tend("label", "po", moved, "app=foo", "--overwrite")
	a.WaitRunning("kubia", 3)
	orphan := a.Instance(moved)
	if orphan.Unit != "" || orphan.Status != "Running" || orphan.PID != before[0].PID {
		t.Fatalf("relabelled instance: %+v", orphan)
	}
	if n := len(a.Instances()); n != 4 {
		t.Fatalf("%d instances, want 4 (3 managed, 1 orphan)", n)
	}
	out := a.Tend("get", "po", "-L", "app")
	if !strings.Contains(out, "APP") || !strings.Contains(out, "foo") {
		t.Fatalf("get -L app:\n%s", out)
	}
	if out := a.Tend("get", "po", "-l", "app=kubia", "-o", "name"); len(e2e.Lines(out)) != 3 {
		t.Fatalf("get -l app=kubia -o name:\n%s", out)
	}

	// Without --overwrite, changing a label is refused and changes nothing.
	if _, errOut, err := a.Run("label", "po", moved, "app=kubia"); err == nil || !strings.Contains(errOut, "--overwrite") {
		t.Fatalf("label without --overwrite: err=%v stderr=%q", err, errOut)
	}

	// Back in: adopted, a surplus, and one is removed to make 3 again.
	a.Tend("label", "po", moved, "app=kubia", "--overwrite")
	a.Eventually("3 instances again", func() (bool, string) {
		list := a.Instances()
		return len(list) == 3 && len(e2e.Running(list)) == 3, e2e.Summary(list)
	})
	a.Eventually("3 processes again", func() (bool, string) {
		p := a.Processes()
		return len(p) == 3, fmt.Sprint(p)
	})
}

func TestTemplateChangeAffectsOnlyNewInstances(t *testing.T) {
	a := e2e.StartAgent(t, "", "")
	a.WriteUnit("kubia", a.HelperUnit("replicated", "replicas = 2", `app = "kubia"`, "sleep"))
	old := a.WaitRunning("kubia", 2)
	a.WriteUnit("kubia", a.HelperUnit("replicated", "replicas = 2", `app = "kubia", version = "2"`, "sleep"))
	// Wait for the unit to take the new version: its template shows it.
	a.Eventually("the unit has the new template", func() (bool, string) {
		out := a.Tend("describe", "rs", "kubia")
		return strings.Contains(out, "version=2"), out
	})
	for _, i := range old {
		if got := a.Instance(i.Name); got.Labels["version"] != "" || got.PID != i.PID {
			t.Fatalf("existing instance changed: %+v", got)
		}
	}
	a.Tend("delete", "po", old[0].Name)
	a.Eventually("a replacement with the new template", func() (bool, string) {
		list := a.Instances()
		for _, i := range list {
			if i.Labels["version"] == "2" && i.Status == "Running" {
				return true, ""
			}
		}
		return false, e2e.Summary(list)
	})
}

func TestScaleUpAndDown(t *testing.T) {
	a := e2e.StartAgent(t, "", "")
	a.WriteUnit("kubia", a.HelperUnit("replicated", "replicas = 3", `app = "kubia"`, "sleep"))
	first := a.WaitRunning("kubia", 3)
	a.Tend("scale", "rc", "kubia", "--replicas=4")
	a.WaitRunning("kubia", 4)
	out := a.Tend("get", "rc")
	if !strings.Contains(out, "DESIRED") || !strings.Contains(e2e.Lines(out)[1], "4") {
		t.Fatalf("get rc after scale:\n%s", out)
	}
	a.Tend("scale", "rc", "kubia", "--replicas=2")
	left := a.WaitRunning("kubia", 2)
	// The newest go first: the survivors are from the first three.
	for _, n := range names(left) {
		if !slices.Contains(names(first), n) {
			t.Fatalf("scale down kept the newest instance %s; first were %v", n, names(first))
		}
	}
	a.Eventually("2 processes", func() (bool, string) {
		p := a.Processes()
		return len(p) == 2, fmt.Sprint(p)
	})
}

func TestDeleteUnitCascadesUnlessOrphan(t *testing.T) {
	a := e2e.StartAgent(t, "", "")
	a.WriteUnit("kubia", a.HelperUnit("replicated", "replicas = 2", `app = "kubia"`, "sleep"))
	a.WaitRunning("kubia", 2)
	a.Tend("delete", "rc", "kubia")
	a.Eventually("no instances and no processes", func() (bool, string) {
		list := a.Instances()
		return len(list) == 0 && len(a.Processes()) == 0, e2e.Summary(list)
	})

	a.WriteUnit("other", a.HelperUnit("replicated", "replicas = 2", `app = "other"`, "sleep"))
	kept := a.WaitRunning("other", 2)
	a.Tend("delete", "rc", "other", "--cascade=orphan")
	if _, _, err := a.Run("get", "rc", "other"); err == nil {
		t.Fatal("the unit is still there")
	}
	for _, i := range kept {
		got := a.Instance(i.Name)
		if got.Status != "Running" || got.Unit != "" || got.PID != i.PID {
			t.Fatalf("orphaned instance: %+v", got)
		}
	}
	if p := a.Processes(); len(p) != 2 {
		t.Fatalf("processes after --cascade=orphan: %v", p)
	}
}

func TestMatchExpressions(t *testing.T) {
	a := e2e.StartAgent(t, "", "")
	unit := a.HelperUnit("replicated", `replicas = 2
[selector]
match_expressions = [{ key = "app", operator = "In", values = ["kubia"] }, { key = "env", operator = "DoesNotExist" }]`,
		`app = "kubia"`, "sleep")
	a.WriteUnit("kubia", unit)
	list := a.WaitRunning("kubia", 2)
	// Giving one an env label takes it out of the selector.
	a.Tend("label", "po", list[0].Name, "env=test")
	a.WaitRunning("kubia", 2)
	if got := a.Instance(list[0].Name); got.Unit != "" {
		t.Fatalf("instance with env label still owned: %+v", got)
	}

	// Values with Exists are refused, with file, line and key.
	bad := a.HelperUnit("replicated", `replicas = 1
[selector]
match_expressions = [{ key = "app", operator = "Exists", values = ["kubia"] }]`, `app = "kubia"`, "sleep")
	a.WriteUnit("bad", bad)
	a.Eventually("the bad unit's problem is reported", func() (bool, string) {
		out := a.Tend("get", "events")
		return strings.Contains(out, "bad.toml:4") && strings.Contains(out, "match_expressions"), out
	})
}

func TestPerHostFollowsHostLabels(t *testing.T) {
	a := e2e.StartAgent(t, "", "name = \"edge-1\"\n")
	a.WriteUnit("ssd-monitor", a.HelperUnit("per-host", "[placement]\nnode_selector = { disk = \"ssd\" }", `app = "ssd-monitor"`, "sleep"))
	a.Eventually("the unit is loaded", func() (bool, string) {
		out, _, err := a.Run("get", "ds")
		return err == nil && strings.Contains(out, "ssd-monitor"), out
	})
	if list := a.Instances(); len(list) != 0 {
		t.Fatalf("instances before the host is labelled:\n%s", e2e.Summary(list))
	}
	a.Tend("label", "node", "edge-1", "disk=ssd")
	a.WaitRunning("ssd-monitor", 1)
	a.Tend("label", "node", "edge-1", "disk=hdd", "--overwrite")
	a.Eventually("the instance is gone", func() (bool, string) {
		list := a.Instances()
		return len(list) == 0 && len(a.Processes()) == 0, e2e.Summary(list)
	})
	out := a.Tend("get", "nodes", "--show-labels")
	if !strings.Contains(out, "edge-1") || !strings.Contains(out, "disk=hdd") {
		t.Fatalf("get nodes --show-labels:\n%s", out)
	}
}

func TestBadUnitFileKeepsTheOldVersionRunning(t *testing.T) {
	a := e2e.StartAgent(t, "", "")
	a.WriteUnit("kubia", a.HelperUnit("replicated", "replicas = 2", `app = "kubia"`, "sleep"))
	before := a.WaitRunning("kubia", 2)
	a.WriteUnit("kubia", strings.Replace(a.HelperUnit("replicated", "replicas = 2", `app = "kubia"`, "sleep"),
		`restart_delay = "0s"`, `restart_delay = "soon"`, 1))
	a.Eventually("the error is an event naming file, line and key", func() (bool, string) {
		out := a.Tend("describe", "rc", "kubia")
		return strings.Contains(out, "kubia.toml:7") && strings.Contains(out, "restart_delay"), out
	})
	for _, i := range before {
		if got := a.Instance(i.Name); got.PID != i.PID || got.Status != "Running" {
			t.Fatalf("instance touched by the bad file: %+v", got)
		}
	}
	// apply refuses it too, saying where, and changes nothing.
	bad := strings.Replace(a.HelperUnit("replicated", "replicas = 2", `app = "kubia"`, "sleep"), `replicas = 2`, `replicas = -1`, 1)
	file := t.TempDir() + "/kubia.toml"
	e2e.WriteFile(t, file, bad)
	_, errOut, err := a.Run("apply", "-f", file)
	if err == nil || !strings.Contains(errOut, "kubia.toml:2") || !strings.Contains(errOut, "replicas") {
		t.Fatalf("apply of a bad file: err=%v stderr=%q", err, errOut)
	}
	if list := a.WaitRunning("kubia", 2); !slices.Equal(names(list), names(before)) {
		t.Fatalf("instances changed:\n%s", e2e.Summary(list))
	}
}

func TestAgentKill9KeepsCountsAndRunsNothingTwice(t *testing.T) {
	dir := t.TempDir()
	a := e2e.StartAgent(t, dir, "")
	a.WriteUnit("kubia", a.HelperUnit("replicated", "replicas = 3", `app = "kubia"`, "sleep"))
	before := a.WaitRunning("kubia", 3)
	syscall.Kill(before[0].PID, syscall.SIGKILL)
	a.Eventually("one restart counted", func() (bool, string) {
		i := a.Instance(before[0].Name)
		return i.RestartCount == 1 && i.Status == "Running", fmt.Sprintf("%+v", i)
	})
	a.Signal(syscall.SIGKILL)
	a.Wait()

	b := e2e.StartAgent(t, dir, "")
	b.Tag = a.Tag
	after := b.WaitRunning("kubia", 3)
	if !slices.Equal(names(after), names(before)) {
		t.Fatalf("instances changed across the agent's kill -9:\nbefore %v\nafter  %v", names(before), names(after))
	}
	got := b.Instance(before[0].Name)
	if got.RestartCount < 1 || got.LastState.Phase != "Terminated" {
		t.Fatalf("restart count or last state lost: %+v", got)
	}
	b.Eventually("each instance runs exactly once", func() (bool, string) {
		p := b.Processes()
		if len(p) != 3 {
			return false, fmt.Sprint(p)
		}
		for _, pids := range p {
			if len(pids) != 1 {
				return false, fmt.Sprint(p)
			}
		}
		return true, ""
	})
}

func TestAgentSIGTERMStopsEverythingAndExits0(t *testing.T) {
	a := e2e.StartAgent(t, "", "")
	a.WriteUnit("kubia", a.HelperUnit("replicated", "replicas = 3", `app = "kubia"`, "sleep"))
	a.WriteUnit("stubborn", a.HelperUnit("replicated", "replicas = 1", `app = "stubborn"`, "ignore-term"))
	a.WaitRunning("kubia", 3)
	a.WaitRunning("stubborn", 1)
	a.Signal(syscall.SIGTERM)
	if code := a.Wait(); code != 0 {
		t.Fatalf("agent exited %d after SIGTERM", code)
	}
	if p := a.Processes(); len(p) != 0 {
		t.Fatalf("processes left after the agent stopped: %v", p)
	}
}

// An instance whose process ended while no agent ran is not passed off
// as stopped by the next agent: it is reported Unknown ("exit status not
// observed"), counted as a failure and handled by its restart policy.
// One still running then is taken over, as it runs. A job's attempt that
// ended so is not run again silently either: its shim, its parent still,
// kept how it ended, which the next agent reports and counts.
func TestExitWhileTheAgentIsDownIsReportedUnknown(t *testing.T) {
	dir := t.TempDir()
	a := e2e.StartAgent(t, dir, "")
	a.WriteUnit("kubia", a.HelperUnit("replicated", "replicas = 2", `app = "kubia"`, "sleep"))
	e2e.WriteFile(t, filepath.Join(dir, "units", "batch.toml"), strings.Replace(jobUnit(a, "backoff_limit = 6", "sleep"), `app = "batch-job"`, `app = "batch"`, 1))
	before := a.WaitRunning("kubia", 2)
	attempt := a.WaitRunning("batch", 1)[0]
	command := e2e.ShimChild(attempt.PID)
	if command == 0 {
		t.Fatalf("the job's attempt (pid %d) runs no command under a shim", attempt.PID)
	}
	a.Signal(syscall.SIGKILL)
	a.Wait()
	// While no agent runs, one replica and the job's attempt end.
	for _, pid := range []int{before[0].PID, command} {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	// (Not a.eventually: that one fails once its agent has exited.)
	for _, pid := range []int{before[0].PID, attempt.PID} {
		deadline := time.Now().Add(20 * time.Second)
		for {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			if err != nil || e2e.Zombie(b) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("process %d still runs 20 s after SIGKILL", pid)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	b := e2e.StartAgent(t, dir, "")
	b.Tag = a.Tag
	b.WaitRunning("kubia", 2)
	gone, still := b.Instance(before[0].Name), b.Instance(before[1].Name)
	if gone.LastState.Reason != "Unknown" || !strings.Contains(gone.LastState.Message, "exit status not observed") || gone.LastState.ExitCode != -1 {
		t.Errorf("the replica that ended while no agent ran: last state %+v, want Reason Unknown, exit code -1", gone.LastState)
	}
	if still.PID != before[1].PID || still.RestartCount != before[1].RestartCount || still.LastState.Reason == "AgentRestart" {
		t.Errorf("the replica still running when the agent came back was not taken over: %+v (was pid %d)", still, before[1].PID)
	}
	if out := b.Tend("describe", "po", gone.Name); !regexp.MustCompile(`Exit Code:\s+unknown`).MatchString(out) {
		t.Errorf("describe does not say the exit code is unknown:\n%s", out)
	}
	b.Eventually("the job counts its attempt failed", func() (bool, string) {
		u := b.Units("jobs")["batch"]
		return u.Failed == 1, fmt.Sprintf("%+v", u)
	})
	// restart = "on-failure": the same attempt runs again (after its
	// back-off), and its last run's end is the one its shim saw.
	if got := b.Instance(attempt.Name); got.LastState.ExitCode != 137 || got.LastState.Signal != "SIGKILL" {
		t.Errorf("the attempt that ended while no agent ran: last state %+v, want killed by SIGKILL (137)", got.LastState)
	}
	events := b.Tend("get", "events")
	if !strings.Contains(events, "exited while the agent was down") {
		t.Errorf("no event says an exit was not observed:\n%s", events)
	}
}

// kill -9 of the agent, again and again, under load: the next agent takes
// over every run still going (same pid, same restart count), goes on
// storing its output (no line lost or stored twice: what was written
// while no agent ran waited in the pipe), and an instance that ends later
// is restarted, its end reported Unknown (it is no longer the agent's
// child, so how it ended is not known).
func TestAgentKill9TakesTheRunsOver(t *testing.T) {
	dir := t.TempDir()
	a := e2e.StartAgent(t, dir, "")
	a.WriteUnit("seq", a.HelperUnit("replicated", "replicas = 5", `app = "seq"`, "seq:5ms"))
	before := a.WaitRunning("seq", 5)
	for range 10 {
		a = a.KillAndTakeOver("seq", before)
	}
	// A kill -9 loses what the agent's copier had read from a pipe and
	// not yet written: at most one read, and only at a kill.
	a.Eventually("every line stored once, output still coming", func() (bool, string) {
		for _, i := range before {
			last, gaps, err := e2e.SeqLogGaps(t, dir, i.Name)
			if err != nil || gaps > 10 {
				t.Fatalf("%s: %v; %d gaps in 10 kills", i.Name, err, gaps)
			}
			if last < 100 {
				return false, fmt.Sprintf("%s at line %d", i.Name, last)
			}
		}
		return true, ""
	})
	syscall.Kill(before[0].PID, syscall.SIGKILL)
	a.Eventually("the ended instance restarted, its end reported Unknown", func() (bool, string) {
		i := a.Instance(before[0].Name)
		return i.RestartCount == 1 && i.Status == "Running" && i.LastState.Reason == "Unknown" && i.PID != before[0].PID, fmt.Sprintf("%+v", i)
	})
	if ev := a.Tend("get", "events"); !strings.Contains(ev, "Adopted") {
		t.Errorf("no Adopted event:\n%s", ev)
	}
}
