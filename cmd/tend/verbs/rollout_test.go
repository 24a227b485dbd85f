package verbs

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/e2e"
)

// tend rollout restart: a template change reaches running instances,
// replaced one by one, never fewer Ready than the unit wants.
func TestRolloutRestart(t *testing.T) {
	t.Parallel()
	a := e2e.StartAgent(t, "", "")
	unit := func(version string) string {
		return fmt.Sprintf(`kind = "replicated"
replicas = 3
[template]
labels = { app = "kubia" }
command = [%q]
env = { TEND_TEST_HELPER = "sleep", TEND_TEST_TAG = %q, VERSION = %q }
restart_delay = "0s"
stop_timeout = "2s"
[template.readiness]
exec = { command = ["true"] }
initial_delay = "600ms"
period = "200ms"
`, e2e.HelperBin, a.Tag, version)
	}
	a.WriteUnit("kubia", unit("1"))
	a.WaitRunning("kubia", 3)
	a.Tend("wait", "--for=condition=Available", "rc/kubia", "--timeout=60s")
	before := instancesOfUnit(a, "kubia")

	// An edit changes no running instance...
	a.WriteUnit("kubia", unit("2"))
	a.Eventually("the new version is the unit's", func() (bool, string) {
		u := a.Units("rc")["kubia"]
		return u.Template.Env["VERSION"] == "2", fmt.Sprint(u.Template.Env)
	})
	for _, in := range instancesOfUnit(a, "kubia") {
		if in.Env["VERSION"] != "1" {
			t.Fatalf("an edit changed a running instance: %s has VERSION=%s", in.Name, in.Env["VERSION"])
		}
	}
	// ...a rollout does, one at a time.
	if out := a.Tend("rollout", "restart", "unit", "kubia"); out != "unit/kubia restarted\n" {
		t.Fatalf("rollout restart: %q", out)
	}
	status := exec.Command(e2e.TendBin, "--socket", a.Sock, "rollout", "status", "unit", "kubia", "--timeout=90s")
	var out strings.Builder
	status.Stdout, status.Stderr = &out, &out
	if err := status.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- status.Wait() }()
	fewest := 3
	for watching := true; watching; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("rollout status: %v\n%s", err, out.String())
			}
			watching = false
		case <-time.After(20 * time.Millisecond): // a look every 20 ms, asserting nothing until the end
			ready := 0
			for _, in := range instancesOfUnit(a, "kubia") {
				if in.Ready && in.Status == "Running" {
					ready++
				}
			}
			fewest = min(fewest, ready)
		}
	}
	if !strings.HasSuffix(out.String(), "unit \"kubia\" successfully rolled out\n") {
		t.Errorf("rollout status said:\n%s", out.String())
	}
	if fewest < 3 {
		t.Errorf("during the rollout only %d instances were Ready, of 3", fewest)
	}
	after := instancesOfUnit(a, "kubia")
	if len(after) != 3 {
		t.Fatalf("after the rollout: %s", e2e.Summary(after))
	}
	for _, in := range after {
		if in.Env["VERSION"] != "2" || !in.Ready {
			t.Errorf("after the rollout %s has VERSION=%s, ready %v", in.Name, in.Env["VERSION"], in.Ready)
		}
		for _, b := range before {
			if b.Name == in.Name {
				t.Errorf("%s was not replaced", in.Name)
			}
		}
	}
	for _, tc := range []struct{ args, want string }{
		{"rollout restart po/x", "takes units"},
		{"rollout restart unit nothing", `units "nothing" not found`},
		{"rollout undo unit kubia", "unknown rollout subcommand"},
	} {
		if _, errOut, err := a.Run(strings.Fields(tc.args)...); err == nil || !strings.Contains(errOut, tc.want) {
			t.Errorf("tend %s: %v %s", tc.args, err, errOut)
		}
	}
	a.WriteUnit("batch", a.HelperUnit("job", "", `app = "batch"`, "sleep"))
	a.Eventually("the job is listed", func() (bool, string) { _, ok := a.Units("jobs")["batch"]; return ok, "" })
	if _, errOut, err := a.Run("rollout", "restart", "job/batch"); err == nil || !strings.Contains(errOut, "run to completion") {
		t.Errorf("rollout restart of a job: %v %s", err, errOut)
	}
}
