package verbs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tendhq/tend/internal/e2e"
	"github.com/tendhq/tend/supervisor"
)

func instancesOfUnit(a *e2e.Agent, unit string) []supervisor.Instance {
	var out []supervisor.Instance
	for _, in := range a.Instances() {
		if in.Unit == unit {
			out = append(out, in)
		}
	}
	return out
}

// tend stop unit / start unit, as systemctl stop and start: the unit
// stays, its instances go, the stop holds through kill -9 of the agent,
// and start brings them back.
func TestStopAndStartAUnit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := e2e.StartAgent(t, dir, "")
	a.WriteUnit("kubia", a.HelperUnit("replicated", "replicas = 2", `app = "kubia"`, "sleep"))
	a.WriteUnit("other", a.HelperUnit("replicated", "replicas = 1", `app = "other"`, "sleep"))
	a.WaitRunning("kubia", 2)
	other := a.WaitRunning("other", 1)

	if out := a.Tend("stop", "unit", "kubia"); out != "unit/kubia stopped\n" {
		t.Fatalf("stop: %q", out)
	}
	// stop waited: nothing of kubia is left.
	if left := instancesOfUnit(a, "kubia"); len(left) != 0 {
		t.Fatalf("after stop: %s", e2e.Summary(left))
	}
	if row := a.UnitRow("kubia"); len(row) != 8 || row[2] != "0" || row[6] != "True" {
		t.Errorf("get units after stop: %q\n%s", row, a.Tend("get", "units"))
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "units", "kubia.toml")); !strings.Contains(string(data), "\nstopped = true\n") {
		t.Errorf("the file does not say stopped:\n%s", data)
	}
	if out := a.Tend("stop", "rc/kubia"); out != "unit/kubia already stopped\n" {
		t.Errorf("stop again: %q", out)
	}
	if out := a.Tend("describe", "rc", "kubia"); !strings.Contains(out, "Stopped:") {
		t.Errorf("describe does not say stopped:\n%s", out)
	}

	// kill -9: the next agent takes the other unit's instance over (a
	// full pass has run) and starts nothing of kubia.
	b := a.KillAndTakeOver("other", other)
	if left := instancesOfUnit(b, "kubia"); len(left) != 0 {
		t.Fatalf("a stopped unit started again after kill -9: %s", e2e.Summary(left))
	}
	if out := b.Tend("start", "unit", "kubia"); out != "unit/kubia started\n" {
		t.Fatalf("start: %q", out)
	}
	b.WaitRunning("kubia", 2)
	if out := b.Tend("start", "unit", "kubia"); out != "unit/kubia already started\n" {
		t.Errorf("start again: %q", out)
	}
	for _, tc := range []struct{ args, want string }{
		{"stop po kubia-x", "takes units"},
		{"stop unit", "name the units"},
		{"stop unit nothing", `units "nothing" not found`},
		{"stop job/kubia", "is a replicated unit"},
	} {
		if _, errOut, err := b.Run(strings.Fields(tc.args)...); err == nil || !strings.Contains(errOut, tc.want) {
			t.Errorf("tend %s: %v %s", tc.args, err, errOut)
		}
	}
}

// A stopped job is a suspended Job: its attempt goes without counting
// failed, and start runs it on.
func TestStopAJob(t *testing.T) {
	t.Parallel()
	a := e2e.StartAgent(t, "", "")
	a.WriteUnit("batch", a.HelperUnit("job", "completions = 2\nbackoff_limit = 0", `app = "batch"`, "sleep"))
	first := a.WaitRunning("batch", 1)
	a.Tend("stop", "job", "batch")
	if left := e2e.Running(instancesOfUnit(a, "batch")); len(left) != 0 {
		t.Fatalf("a stopped job runs %q", left)
	}
	j := a.Units("jobs")["batch"]
	if j.Failed != 0 || j.Condition != "" || !j.Stopped {
		t.Fatalf("the stopped job: failed %d, condition %q, stopped %v", j.Failed, j.Condition, j.Stopped)
	}
	a.Tend("start", "job", "batch")
	again := a.WaitRunning("batch", 1)
	if again[0].Name == first[0].Name {
		t.Errorf("start ran the stopped attempt's record again: %s", again[0].Name)
	}
	if j := a.Units("jobs")["batch"]; j.Condition != "" || j.Active != 1 {
		t.Errorf("the started job: %+v", j)
	}
}

// tend delete unit deletes its file; describe and cat still show its last
// version, from which it can be made again.
func TestADeletedUnitIsRemembered(t *testing.T) {
	t.Parallel()
	a := e2e.StartAgent(t, "", "")
	text := a.HelperUnit("replicated", "replicas = 1", `app = "kubia"`, "sleep")
	a.WriteUnit("kubia", text)
	a.WaitRunning("kubia", 1)
	if out := a.Tend("delete", "unit", "kubia"); out != "unit \"kubia\" deleted\n" {
		t.Fatalf("delete: %q", out)
	}
	if _, err := os.Stat(filepath.Join(a.Dir, "units", "kubia.toml")); !os.IsNotExist(err) {
		t.Fatalf("the file is still there: %v", err)
	}
	desc := a.Tend("describe", "unit", "kubia")
	if !strings.Contains(desc, "Deleted:") || !strings.Contains(desc, "replicas = 1") {
		t.Errorf("describe of the deleted unit:\n%s", desc)
	}
	out, errOut, err := a.Run("cat", "unit", "kubia")
	if err != nil || !strings.Contains(out, "# DELETED ") || !strings.HasSuffix(out, text) || !strings.Contains(errOut, "was deleted") {
		t.Fatalf("cat of the deleted unit: %v\n%s\n%s", err, out, errOut)
	}
	saved := filepath.Join(t.TempDir(), "kubia.toml")
	e2e.WriteFile(t, saved, out)
	if out := a.Tend("apply", "-f", saved); out != "unit/kubia created\n" {
		t.Errorf("apply of the saved version: %q", out)
	}
	a.WaitRunning("kubia", 1)
	if _, errOut, err := a.Run("describe", "unit", "never-was"); err == nil || !strings.Contains(errOut, "not found") {
		t.Errorf("describe of a unit that never was: %v %s", err, errOut)
	}
}
