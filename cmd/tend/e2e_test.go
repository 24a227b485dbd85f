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

	"github.com/tendhq/tend/supervisor"
)

// The scenarios of DESIGN §3 on one host, through the CLI only.

// waitRunning waits until n instances of unit run, and returns them.
func (a *agent) waitRunning(unit string, n int) []supervisor.Instance {
	a.t.Helper()
	var list []supervisor.Instance
	a.eventually(fmt.Sprintf("%d instances of %s run", n, unit), func() (bool, string) {
		list = nil
		for _, i := range a.instances() {
			if i.Unit == unit && !strings.HasPrefix(i.Status, "Terminating") {
				list = append(list, i)
			}
		}
		return len(list) == n && len(running(list)) == n, summary(list)
	})
	return list
}

func names(list []supervisor.Instance) []string {
	var out []string
	for _, i := range list {
		out = append(out, i.Name)
	}
	slices.Sort(out)
	return out
}

func TestKilledInstanceIsRestartedAndDescribeShowsExit137(t *testing.T) {
	a := startAgent(t, "", "")
	a.writeUnit("kubia", a.helperUnit("replicated", "replicas = 1", `app = "kubia"`, "sleep"))
	inst := a.waitRunning("kubia", 1)[0]
	if err := syscall.Kill(inst.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	a.eventually("the instance runs again with a new pid", func() (bool, string) {
		i := a.instance(inst.Name)
		return i.Status == "Running" && i.PID != inst.PID && i.PID != 0 && i.RestartCount == 1, fmt.Sprintf("%+v", i)
	})
	out := a.tend("describe", "po", inst.Name)
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
	if list := a.instances(); len(list) != 1 {
		t.Fatalf("instances after the kill:\n%s", summary(list))
	}
	out = a.tend("logs", inst.Name, "--previous")
	if !strings.Contains(out, "started "+inst.Name+" pid "+fmt.Sprint(inst.PID)) {
		t.Fatalf("logs --previous is not the previous run's output:\n%s", out)
	}
}

func TestDeletedInstanceIsReplaced(t *testing.T) {
	a := startAgent(t, "", "")
	a.writeUnit("kubia", a.helperUnit("replicated", "replicas = 3", `app = "kubia"`, "ignore-term"))
	before := a.waitRunning("kubia", 3)
	victim := before[0]
	out := a.tend("delete", "po", victim.Name)
	if !strings.Contains(out, victim.Name) {
		t.Fatalf("delete said: %q", out)
	}
	after := a.waitRunning("kubia", 3)
	if slices.Contains(names(after), victim.Name) {
		t.Fatalf("the deleted instance is still counted:\n%s", summary(after))
	}
	a.eventually("the deleted instance's process is gone", func() (bool, string) {
		procs := a.processes()
		return len(procs[victim.Name]) == 0 && len(procs) == 3, fmt.Sprint(procs)
	})
	out = a.tend("describe", "rc", "kubia")
	if n := strings.Count(out, "SuccessfulCreate"); n != 4 {
		t.Fatalf("describe rc shows %d SuccessfulCreate events, want 4:\n%s", n, out)
	}
	if !strings.Contains(out, "3 current / 3 desired") {
		t.Fatalf("describe rc replicas line:\n%s", out)
	}
}

func TestRelabelOrphansAndAdopts(t *testing.T) {
	a := startAgent(t, "", "")
	a.writeUnit("kubia", a.helperUnit("replicated", "replicas = 3", `app = "kubia"`, "sleep"))
	before := a.waitRunning("kubia", 3)
	moved := before[0].Name

	// Out of the selector: orphaned, still running, and replaced.
	a.tend("label", "po", moved, "app=foo", "--overwrite")
	a.waitRunning("kubia", 3)
	orphan := a.instance(moved)
	if orphan.Unit != "" || orphan.Status != "Running" || orphan.PID != before[0].PID {
		t.Fatalf("relabelled instance: %+v", orphan)
	}
	if n := len(a.instances()); n != 4 {
		t.Fatalf("%d instances, want 4 (3 managed, 1 orphan)", n)
	}
	out := a.tend("get", "po", "-L", "app")
	if !strings.Contains(out, "APP") || !strings.Contains(out, "foo") {
		t.Fatalf("get -L app:\n%s", out)
	}
	if out := a.tend("get", "po", "-l", "app=kubia", "-o", "name"); len(lines(out)) != 3 {
		t.Fatalf("get -l app=kubia -o name:\n%s", out)
	}

	// Without --overwrite, changing a label is refused and changes nothing.
	if _, errOut, err := a.run("label", "po", moved, "app=kubia"); err == nil || !strings.Contains(errOut, "--overwrite") {
		t.Fatalf("label without --overwrite: err=%v stderr=%q", err, errOut)
	}

	// Back in: adopted, a surplus, and one is removed to make 3 again.
	a.tend("label", "po", moved, "app=kubia", "--overwrite")
	a.eventually("3 instances again", func() (bool, string) {
		list := a.instances()
		return len(list) == 3 && len(running(list)) == 3, summary(list)
	})
	a.eventually("3 processes again", func() (bool, string) {
		p := a.processes()
		return len(p) == 3, fmt.Sprint(p)
	})
}

func TestTemplateChangeAffectsOnlyNewInstances(t *testing.T) {
	a := startAgent(t, "", "")
	a.writeUnit("kubia", a.helperUnit("replicated", "replicas = 2", `app = "kubia"`, "sleep"))
	old := a.waitRunning("kubia", 2)
	a.writeUnit("kubia", a.helperUnit("replicated", "replicas = 2", `app = "kubia", version = "2"`, "sleep"))
	// Wait for the unit to take the new version: its template shows it.
	a.eventually("the unit has the new template", func() (bool, string) {
		out := a.tend("describe", "rs", "kubia")
		return strings.Contains(out, "version=2"), out
	})
	for _, i := range old {
		if got := a.instance(i.Name); got.Labels["version"] != "" || got.PID != i.PID {
			t.Fatalf("existing instance changed: %+v", got)
		}
	}
	a.tend("delete", "po", old[0].Name)
	a.eventually("a replacement with the new template", func() (bool, string) {
		list := a.instances()
		for _, i := range list {
			if i.Labels["version"] == "2" && i.Status == "Running" {
				return true, ""
			}
		}
		return false, summary(list)
	})
}

func TestScaleUpAndDown(t *testing.T) {
	a := startAgent(t, "", "")
	a.writeUnit("kubia", a.helperUnit("replicated", "replicas = 3", `app = "kubia"`, "sleep"))
	first := a.waitRunning("kubia", 3)
	a.tend("scale", "rc", "kubia", "--replicas=4")
	a.waitRunning("kubia", 4)
	out := a.tend("get", "rc")
	if !strings.Contains(out, "DESIRED") || !strings.Contains(lines(out)[1], "4") {
		t.Fatalf("get rc after scale:\n%s", out)
	}
	a.tend("scale", "rc", "kubia", "--replicas=2")
	left := a.waitRunning("kubia", 2)
	// The newest go first: the survivors are from the first three.
	for _, n := range names(left) {
		if !slices.Contains(names(first), n) {
			t.Fatalf("scale down kept the newest instance %s; first were %v", n, names(first))
		}
	}
	a.eventually("2 processes", func() (bool, string) {
		p := a.processes()
		return len(p) == 2, fmt.Sprint(p)
	})
}

func TestDeleteUnitCascadesUnlessOrphan(t *testing.T) {
	a := startAgent(t, "", "")
	a.writeUnit("kubia", a.helperUnit("replicated", "replicas = 2", `app = "kubia"`, "sleep"))
	a.waitRunning("kubia", 2)
	a.tend("delete", "rc", "kubia")
	a.eventually("no instances and no processes", func() (bool, string) {
		list := a.instances()
		return len(list) == 0 && len(a.processes()) == 0, summary(list)
	})

	a.writeUnit("other", a.helperUnit("replicated", "replicas = 2", `app = "other"`, "sleep"))
	kept := a.waitRunning("other", 2)
	a.tend("delete", "rc", "other", "--cascade=orphan")
	if _, _, err := a.run("get", "rc", "other"); err == nil {
		t.Fatal("the unit is still there")
	}
	for _, i := range kept {
		got := a.instance(i.Name)
		if got.Status != "Running" || got.Unit != "" || got.PID != i.PID {
			t.Fatalf("orphaned instance: %+v", got)
		}
	}
	if p := a.processes(); len(p) != 2 {
		t.Fatalf("processes after --cascade=orphan: %v", p)
	}
}

func TestMatchExpressions(t *testing.T) {
	a := startAgent(t, "", "")
	unit := a.helperUnit("replicated", `replicas = 2
[selector]
match_expressions = [{ key = "app", operator = "In", values = ["kubia"] }, { key = "env", operator = "DoesNotExist" }]`,
		`app = "kubia"`, "sleep")
	a.writeUnit("kubia", unit)
	list := a.waitRunning("kubia", 2)
	// Giving one an env label takes it out of the selector.
	a.tend("label", "po", list[0].Name, "env=test")
	a.waitRunning("kubia", 2)
	if got := a.instance(list[0].Name); got.Unit != "" {
		t.Fatalf("instance with env label still owned: %+v", got)
	}

	// Values with Exists are refused, with file, line and key.
	bad := a.helperUnit("replicated", `replicas = 1
[selector]
match_expressions = [{ key = "app", operator = "Exists", values = ["kubia"] }]`, `app = "kubia"`, "sleep")
	a.writeUnit("bad", bad)
	a.eventually("the bad unit's problem is reported", func() (bool, string) {
		out := a.tend("get", "events")
		return strings.Contains(out, "bad.toml:4") && strings.Contains(out, "match_expressions"), out
	})
}

func TestPerHostFollowsHostLabels(t *testing.T) {
	a := startAgent(t, "", "name = \"edge-1\"\n")
	a.writeUnit("ssd-monitor", a.helperUnit("per-host", "[placement]\nnode_selector = { disk = \"ssd\" }", `app = "ssd-monitor"`, "sleep"))
	a.eventually("the unit is loaded", func() (bool, string) {
		out, _, err := a.run("get", "ds")
		return err == nil && strings.Contains(out, "ssd-monitor"), out
	})
	if list := a.instances(); len(list) != 0 {
		t.Fatalf("instances before the host is labelled:\n%s", summary(list))
	}
	a.tend("label", "node", "edge-1", "disk=ssd")
	a.waitRunning("ssd-monitor", 1)
	a.tend("label", "node", "edge-1", "disk=hdd", "--overwrite")
	a.eventually("the instance is gone", func() (bool, string) {
		list := a.instances()
		return len(list) == 0 && len(a.processes()) == 0, summary(list)
	})
	out := a.tend("get", "nodes", "--show-labels")
	if !strings.Contains(out, "edge-1") || !strings.Contains(out, "disk=hdd") {
		t.Fatalf("get nodes --show-labels:\n%s", out)
	}
}

func TestBadUnitFileKeepsTheOldVersionRunning(t *testing.T) {
	a := startAgent(t, "", "")
	a.writeUnit("kubia", a.helperUnit("replicated", "replicas = 2", `app = "kubia"`, "sleep"))
	before := a.waitRunning("kubia", 2)
	a.writeUnit("kubia", strings.Replace(a.helperUnit("replicated", "replicas = 2", `app = "kubia"`, "sleep"),
		`restart_delay = "0s"`, `restart_delay = "soon"`, 1))
	a.eventually("the error is an event naming file, line and key", func() (bool, string) {
		out := a.tend("describe", "rc", "kubia")
		return strings.Contains(out, "kubia.toml:7") && strings.Contains(out, "restart_delay"), out
	})
	for _, i := range before {
		if got := a.instance(i.Name); got.PID != i.PID || got.Status != "Running" {
			t.Fatalf("instance touched by the bad file: %+v", got)
		}
	}
	// apply refuses it too, saying where, and changes nothing.
	bad := strings.Replace(a.helperUnit("replicated", "replicas = 2", `app = "kubia"`, "sleep"), `replicas = 2`, `replicas = -1`, 1)
	file := t.TempDir() + "/kubia.toml"
	writeFile(t, file, bad)
	_, errOut, err := a.run("apply", "-f", file)
	if err == nil || !strings.Contains(errOut, "kubia.toml:2") || !strings.Contains(errOut, "replicas") {
		t.Fatalf("apply of a bad file: err=%v stderr=%q", err, errOut)
	}
	if list := a.waitRunning("kubia", 2); !slices.Equal(names(list), names(before)) {
		t.Fatalf("instances changed:\n%s", summary(list))
	}
}

func TestAgentKill9KeepsCountsAndRunsNothingTwice(t *testing.T) {
	dir := t.TempDir()
	a := startAgent(t, dir, "")
	a.writeUnit("kubia", a.helperUnit("replicated", "replicas = 3", `app = "kubia"`, "sleep"))
	before := a.waitRunning("kubia", 3)
	syscall.Kill(before[0].PID, syscall.SIGKILL)
	a.eventually("one restart counted", func() (bool, string) {
		i := a.instance(before[0].Name)
		return i.RestartCount == 1 && i.Status == "Running", fmt.Sprintf("%+v", i)
	})
	a.signal(syscall.SIGKILL)
	a.wait()

	b := startAgent(t, dir, "")
	b.tag = a.tag
	after := b.waitRunning("kubia", 3)
	if !slices.Equal(names(after), names(before)) {
		t.Fatalf("instances changed across the agent's kill -9:\nbefore %v\nafter  %v", names(before), names(after))
	}
	got := b.instance(before[0].Name)
	if got.RestartCount < 1 || got.LastState.Phase != "Terminated" {
		t.Fatalf("restart count or last state lost: %+v", got)
	}
	b.eventually("each instance runs exactly once", func() (bool, string) {
		p := b.processes()
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
	a := startAgent(t, "", "")
	a.writeUnit("kubia", a.helperUnit("replicated", "replicas = 3", `app = "kubia"`, "sleep"))
	a.writeUnit("stubborn", a.helperUnit("replicated", "replicas = 1", `app = "stubborn"`, "ignore-term"))
	a.waitRunning("kubia", 3)
	a.waitRunning("stubborn", 1)
	a.signal(syscall.SIGTERM)
	if code := a.wait(); code != 0 {
		t.Fatalf("agent exited %d after SIGTERM", code)
	}
	if p := a.processes(); len(p) != 0 {
		t.Fatalf("processes left after the agent stopped: %v", p)
	}
}

// An instance whose process ended while no agent ran is not passed off
// as stopped by the next agent: it is reported Unknown ("exit status not
// observed"), counted as a failure and handled by its restart policy.
// One still running then is taken over, as it runs. A job's attempt that
// ended so counts as a failed attempt, not as one run again silently.
func TestExitWhileTheAgentIsDownIsReportedUnknown(t *testing.T) {
	dir := t.TempDir()
	a := startAgent(t, dir, "")
	a.writeUnit("kubia", a.helperUnit("replicated", "replicas = 2", `app = "kubia"`, "sleep"))
	writeFile(t, filepath.Join(dir, "units", "batch.toml"), strings.Replace(a.jobUnit("backoff_limit = 6", "sleep"), `app = "batch-job"`, `app = "batch"`, 1))
	before := a.waitRunning("kubia", 2)
	attempt := a.waitRunning("batch", 1)[0]
	a.signal(syscall.SIGKILL)
	a.wait()
	// While no agent runs, one replica and the job's attempt end.
	for _, pid := range []int{before[0].PID, attempt.PID} {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	// (Not a.eventually: that one fails once its agent has exited.)
	for _, pid := range []int{before[0].PID, attempt.PID} {
		deadline := time.Now().Add(20 * time.Second)
		for {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			if err != nil || zombie(b) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("process %d still runs 20 s after SIGKILL", pid)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	b := startAgent(t, dir, "")
	b.tag = a.tag
	b.waitRunning("kubia", 2)
	gone, still := b.instance(before[0].Name), b.instance(before[1].Name)
	if gone.LastState.Reason != "Unknown" || !strings.Contains(gone.LastState.Message, "exit status not observed") || gone.LastState.ExitCode != -1 {
		t.Errorf("the replica that ended while no agent ran: last state %+v, want Reason Unknown, exit code -1", gone.LastState)
	}
	if still.PID != before[1].PID || still.RestartCount != before[1].RestartCount || still.LastState.Reason == "AgentRestart" {
		t.Errorf("the replica still running when the agent came back was not taken over: %+v (was pid %d)", still, before[1].PID)
	}
	if out := b.tend("describe", "po", gone.Name); !regexp.MustCompile(`Exit Code:\s+unknown`).MatchString(out) {
		t.Errorf("describe does not say the exit code is unknown:\n%s", out)
	}
	b.eventually("the job counts its attempt failed", func() (bool, string) {
		u := b.units("jobs")["batch"]
		return u.Failed == 1, fmt.Sprintf("%+v", u)
	})
	events := b.tend("get", "events")
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
	a := startAgent(t, dir, "")
	a.writeUnit("seq", a.helperUnit("replicated", "replicas = 5", `app = "seq"`, "seq:5ms"))
	before := a.waitRunning("seq", 5)
	tag := a.tag
	for round := range 10 {
		a.signal(syscall.SIGKILL)
		a.wait()
		a = startAgent(t, dir, "")
		a.tag = tag
		after := a.waitRunning("seq", 5)
		for k := range before {
			if after[k].Name != before[k].Name || after[k].PID != before[k].PID || after[k].RestartCount != 0 {
				t.Fatalf("round %d: the runs were not taken over:\nbefore %s\nafter  %s", round, summary(before), summary(after))
			}
		}
	}
	// A kill -9 loses what the agent's copier had read from a pipe and
	// not yet written: at most one read, and only at a kill.
	a.eventually("every line stored once, output still coming", func() (bool, string) {
		for _, i := range before {
			last, gaps, err := seqLogGaps(t, dir, i.Name)
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
	a.eventually("the ended instance restarted, its end reported Unknown", func() (bool, string) {
		i := a.instance(before[0].Name)
		return i.RestartCount == 1 && i.Status == "Running" && i.LastState.Reason == "Unknown" && i.PID != before[0].PID, fmt.Sprintf("%+v", i)
	})
	if ev := a.tend("get", "events"); !strings.Contains(ev, "Adopted") {
		t.Errorf("no Adopted event:\n%s", ev)
	}
}
