package main

import (
	"github.com/tendhq/tend/internal/e2e"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The agent's [limits] through the CLI: scale and apply over the limit of
// instances per unit are refused with the limit and its config key, and
// a host at its limit of instances creates no more, saying so in the
// unit's events.
func TestLimitsThroughTheCLI(t *testing.T) {
	a := e2e.StartAgent(t, "", "[limits]\ninstances_per_unit = 4\ninstances_per_host = 5\n")
	a.WriteUnit("kubia", a.HelperUnit("replicated", "replicas = 2", `app = "kubia"`, "sleep"))
	a.WaitRunning("kubia", 2)

	const over = "is more than the agent allows: at most 4 instances per unit (limits.instances_per_unit in the agent's config)"
	for _, n := range []string{"9223372036854775807", "5"} {
		out, errOut, err := a.Run("scale", "unit", "kubia", "--replicas="+n)
		if err == nil || !strings.Contains(errOut, "replicas: "+n+" "+over) {
			t.Fatalf("scale to %s: %v\n%s%s", n, err, out, errOut)
		}
	}
	if out := a.Tend("scale", "unit", "kubia", "--replicas=3"); !strings.Contains(out, "unit/kubia scaled") {
		t.Fatalf("scale to 3: %s", out)
	}
	a.WaitRunning("kubia", 3)

	big := filepath.Join(t.TempDir(), "big.toml")
	e2e.WriteFile(t, big, a.HelperUnit("replicated", "replicas = 100000", `app = "big"`, "sleep"))
	out, errOut, err := a.Run("apply", "-f", big)
	if err == nil || !strings.Contains(errOut, "big.toml:2: replicas: 100000 "+over) {
		t.Fatalf("apply of 100000 replicas: %v\n%s%s", err, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(a.Dir, "units", "big.toml")); !os.IsNotExist(err) {
		t.Fatalf("the refused unit was written: %v", err)
	}

	// 3 of kubia and 4 of web on a host of at most 5.
	a.WriteUnit("web", a.HelperUnit("replicated", "replicas = 4", `app = "web"`, "sleep"))
	a.Eventually("the host at its limit says so", func() (bool, string) {
		out, errOut, _ := a.Run("describe", "unit", "web")
		return strings.Contains(out, "FailedCreate") && strings.Contains(out, "limits.instances_per_host"), out + errOut
	})
	if list := a.Instances(); len(list) != 5 {
		t.Fatalf("%d instances on a host of at most 5:\n%s", len(list), e2e.Summary(list))
	}
	a.WaitRunning("web", 2)
}
