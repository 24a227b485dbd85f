package verbs

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tendhq/tend/internal/e2e"
)

// tend wait against a real agent: instances that become Ready when a
// file appears, a unit Available, a job Complete, and an instance gone.
func TestWaitThroughTheAgent(t *testing.T) {
	t.Parallel()
	a := e2e.StartAgent(t, "", "")
	gate := filepath.Join(a.Dir, "ready")
	a.WriteUnit("gate", a.HelperUnit("replicated", "replicas = 2", `app = "gate"`, "sleep")+
		fmt.Sprintf("[template.readiness]\nexec = { command = [\"test\", \"-f\", %q] }\nperiod = \"100ms\"\n", gate))
	running := a.WaitRunning("gate", 2)

	// Not Ready yet: a look finds it so and says which.
	_, errOut, err := a.Run("wait", "--for=condition=Ready", "po", "-l", "app=gate", "--timeout=0")
	if err == nil || strings.Count(errOut, "timed out waiting for the condition") != 2 || !strings.Contains(errOut, "Ready is False") {
		t.Fatalf("wait --timeout=0 before the file: %v\n%s", err, errOut)
	}
	e2e.WriteFile(t, gate, "")
	out := a.Tend("wait", "--for=condition=Ready", "po", "-l", "app=gate", "--timeout=60s")
	for _, in := range running {
		if !strings.Contains(out, "instance/"+in.Name+" condition met\n") {
			t.Errorf("wait -l app=gate does not name %s:\n%s", in.Name, out)
		}
	}
	if out := a.Tend("wait", "--for=condition=Available", "rc/gate"); out != "unit/gate condition met\n" {
		t.Errorf("wait Available: %q", out)
	}

	a.Tend("delete", "po", running[0].Name, "--wait=false")
	if out := a.Tend("wait", "--for=delete", "po/"+running[0].Name, "--timeout=60s"); out != "instance/"+running[0].Name+" deleted\n" {
		t.Errorf("wait --for=delete: %q", out)
	}
	if _, errOut, err := a.Run("get", "po", running[0].Name); err == nil || !strings.Contains(errOut, "not found") {
		t.Errorf("the instance wait said was deleted is there: %v %s", err, errOut)
	}

	a.WriteUnit("batch", a.HelperUnit("job", "completions = 2", `app = "batch"`, "exit:0"))
	a.Eventually("the job is listed", func() (bool, string) {
		_, ok := a.Units("jobs")["batch"]
		return ok, a.Tend("get", "jobs")
	})
	if out := a.Tend("wait", "--for=condition=Complete", "job/batch", "--timeout=60s"); out != "unit/batch condition met\n" {
		t.Errorf("wait Complete: %q", out)
	}
	if got := a.Units("jobs")["batch"]; got.Succeeded != 2 || got.Condition != "Complete" {
		t.Errorf("the job wait said was Complete: %+v", got)
	}
}
