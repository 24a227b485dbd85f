package supervisor

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sleeperUnit is a replicated unit of the sleeping helper with labels
// of its own, so that units side by side do not adopt each other's.
func sleeperUnit(name string, replicas int) string {
	helpersUsed.Store("sleep", true)
	exe, _ := os.Executable()
	return fmt.Sprintf("kind = \"replicated\"\nreplicas = %d\n[template]\nlabels = { app = %q }\ncommand = [%q]\nenv = { %s = \"sleep\" }\nstop_timeout = \"1s\"\n",
		replicas, name, exe, helperEnv)
}

// The limit of instances per unit: a unit file over it is refused by the
// API (422, the file's line and the config key), a scale over it too
// (400), and a file in the unit directory over it is invalid while the
// last valid version keeps running.
func TestInstancesPerUnitLimit(t *testing.T) {
	a := startTestAgentWith(t, t.TempDir(), newFakeClock(), func(o *Options) {
		o.Limits = LimitsConfig{InstancesPerUnit: 5, InstancesPerHost: 100}
	})
	srv := httptest.NewServer(NewAPI(a.sup, slog.New(slog.DiscardHandler)))
	defer srv.Close()
	do := func(method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		var e APIError
		json.Unmarshal(data, &e)
		return resp.StatusCode, e.Error
	}
	over := "is more than the agent allows: at most 5 instances per unit (limits.instances_per_unit in the agent's config)"

	code, msg := do(http.MethodPut, "/v1/units/big.toml", sleeperUnit("big", 6))
	if code != http.StatusUnprocessableEntity || !strings.HasSuffix(msg, "big.toml:2: replicas: 6 "+over) {
		t.Fatalf("PUT of 6 replicas: %d %q", code, msg)
	}
	if _, err := a.sup.Unit("big"); err == nil {
		t.Fatal("the refused unit is there")
	}

	if code, msg := do(http.MethodPut, "/v1/units/web.toml", sleeperUnit("web", 2)); code != http.StatusOK {
		t.Fatalf("PUT of 2 replicas: %d %q", code, msg)
	}
	a.waitUnit("web", "2 running", func(u Unit) bool { return u.Running == 2 })
	code, msg = do(http.MethodPost, "/v1/units/web/scale", `{"replicas": 9223372036854775807}`)
	if code != http.StatusBadRequest || !strings.HasPrefix(msg, `unit "web": replicas: 9223372036854775807 `+over) {
		t.Fatalf("scale to 2^63-1: %d %q", code, msg)
	}

	// Over the limit in the unit directory: invalid, and the last valid
	// version keeps running.
	path := filepath.Join(a.catalog.Dir(), "web.toml")
	if err := os.WriteFile(path, []byte(sleeperUnit("web", 100000)), 0o644); err != nil {
		t.Fatal(err)
	}
	a.catalog.Rescan()
	err := a.catalog.Snapshot().Problems["web"]
	if err == nil || err.Error() != path+":2: replicas: 100000 "+over {
		t.Fatalf("the file over the limit: %v", err)
	}
	if err := a.sup.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	if u, _ := a.sup.Unit("web"); u.Desired != 2 || u.Running != 2 {
		t.Fatalf("the last valid version: desired %d, running %d", u.Desired, u.Running)
	}
}

// The limit of instances per host: the controllers create none beyond
// it, the unit that wanted one says so in a Warning event naming the
// limit and its key, and gets its instance once another goes.
func TestInstancesPerHostLimit(t *testing.T) {
	a := startTestAgentWith(t, t.TempDir(), newFakeClock(), func(o *Options) {
		o.Limits = LimitsConfig{InstancesPerUnit: 10, InstancesPerHost: 3}
	})
	for _, name := range []string{"a", "b"} {
		if _, err := a.sup.ApplyUnit(name+".toml", []byte(sleeperUnit(name, 2))); err != nil {
			t.Fatal(err)
		}
	}
	full := func(name string) bool {
		for _, ev := range a.sup.Events(KindUnit, name) {
			if ev.Reason == "FailedCreate" && ev.Type == Warning && ev.Message == msgHostFull(3) {
				return true
			}
		}
		return false
	}
	a.waitFor("a FailedCreate event", func() bool { return full("a") || full("b") })
	if !strings.Contains(msgHostFull(3), "keeps 3 instances, the most it allows (limits.instances_per_host in the agent's config)") {
		t.Fatalf("the message: %q", msgHostFull(3))
	}
	if n := len(a.sup.Instances(selectorAll)); n != 3 {
		t.Fatalf("%d instances on a host of at most 3", n)
	}
	waiting := "b"
	if full("a") {
		waiting = "a"
	}
	other := map[string]string{"a": "b", "b": "a"}[waiting]
	if _, err := a.sup.ScaleUnit(other, 1); err != nil {
		t.Fatal(err)
	}
	a.waitUnit(waiting, "its second instance, once the other unit's went", func(u Unit) bool { return u.Running == 2 })
	a.waitUnit(other, "scaled to 1", func(u Unit) bool { return u.Current == 1 })
	if n := len(a.sup.Instances(selectorAll)); n != 3 {
		t.Fatalf("%d instances on a host of at most 3", n)
	}
}

// The [limits] table: defaults when absent, read when set, and a value
// below 1 is an error naming the key.
func TestLimitsConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tend.toml")
	load := func(text string) (Config, error) {
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return LoadConfig(path, DefaultConfig(), true)
	}
	c, err := load("")
	if err != nil || c.Limits != (LimitsConfig{InstancesPerUnit: 1000, InstancesPerHost: 10000}) {
		t.Fatalf("defaults: %+v, %v", c.Limits, err)
	}
	c, err = load("[limits]\ninstances_per_unit = 50\ninstances_per_host = 200\n")
	if err != nil || c.Limits != (LimitsConfig{InstancesPerUnit: 50, InstancesPerHost: 200}) {
		t.Fatalf("set: %+v, %v", c.Limits, err)
	}
	_, err = load("[limits]\ninstances_per_unit = 0\ninstances_per_host = -1\n")
	if err == nil || !strings.Contains(err.Error(), "limits.instances_per_unit: 0 is too small (want at least 1; default 1000)") ||
		!strings.Contains(err.Error(), "limits.instances_per_host: -1 is too small (want at least 1; default 10000)") {
		t.Fatalf("below 1: %v", err)
	}
	if _, err = load("[limits]\ninstances = 5\n"); err == nil || !strings.Contains(err.Error(), "tend.toml:2: limits.instances: unknown key") {
		t.Fatalf("an unknown key: %v", err)
	}
}
