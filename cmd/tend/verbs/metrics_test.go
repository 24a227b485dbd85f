package verbs

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/tendhq/tend/internal/e2e"
)

// sample is one series of a scrape.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

var sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$`)
var labelPair = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)

// parseScrape reads the text format strictly enough to fail on what
// Prometheus would refuse: a sample outside its family, an unknown line.
func parseScrape(t *testing.T, text string) []sample {
	t.Helper()
	var out []sample
	family := ""
	for _, l := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		if strings.HasPrefix(l, "# HELP ") {
			family = strings.Fields(l)[2]
			continue
		}
		if strings.HasPrefix(l, "# TYPE ") {
			continue
		}
		m := sampleLine.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("not a sample: %q", l)
		}
		if name := m[1]; name != family && strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count") != family {
			t.Fatalf("sample %s outside its family (in %s)", name, family)
		}
		v, err := strconv.ParseFloat(m[4], 64)
		if err != nil {
			t.Fatalf("value of %q: %v", l, err)
		}
		s := sample{name: m[1], labels: map[string]string{}, value: v}
		for _, p := range labelPair.FindAllStringSubmatch(m[3], -1) {
			s.labels[p[1]] = p[2]
		}
		out = append(out, s)
	}
	return out
}

func scrape(t *testing.T, a *e2e.Agent) []sample {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", a.Sock)
	}}}
	res, err := c.Get("http://tend/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("GET /metrics: %s %s\n%s", res.Status, res.Header.Get("Content-Type"), body)
	}
	return parseScrape(t, string(body))
}

// value is the sum of the samples called name whose labels include want.
func value(list []sample, name string, want ...string) (float64, bool) {
	sum, found := 0.0, false
next:
	for _, s := range list {
		if s.name != name {
			continue
		}
		for k := 0; k+1 < len(want); k += 2 {
			if s.labels[want[k]] != want[k+1] {
				continue next
			}
		}
		sum, found = sum+s.value, true
	}
	return sum, found
}

// Every series docs/metrics.md lists exists on an agent that runs what
// it measures, and the counters move.
func TestMetrics(t *testing.T) {
	t.Parallel()
	a := e2e.StartAgent(t, "", "metrics_addr = \"127.0.0.1:0\"\n")
	a.WriteUnit("crash", a.HelperUnit("replicated", "replicas = 1", `app = "crash"`, "exit:1"))
	a.WriteUnit("web", a.HelperUnit("replicated", "replicas = 1", `app = "web"`, "sleep")+
		"[template.readiness]\nexec = { command = [\"true\"] }\nperiod = \"100ms\"\n")
	a.WriteUnit("idle", a.HelperUnit("replicated", "replicas = 1", `app = "idle"`, "sleep"))
	a.WriteUnit("batch", a.HelperUnit("job", "completions = 1", `app = "batch"`, "exit:0"))
	a.WriteUnit("tick", a.HelperUnit("cron", "schedule = \"@every 1s\"", `app = "tick"`, "exit:0"))
	a.WriteUnit("typo", "kind = \"replicated\"\nreplicaz = 1\n")
	a.WaitRunning("web", 1)
	a.WaitRunning("idle", 1)
	a.Tend("stop", "unit", "idle")
	a.Tend("wait", "--for=condition=Complete", "job/batch", "--timeout=60s")

	var first []sample
	a.Eventually("every series is there", func() (bool, string) {
		first = scrape(t, a)
		for _, want := range [][]string{
			{"tend_instance_restarts_total", "unit", "crash"},
			{"tend_instance_last_terminated_exit_code", "unit", "crash"},
			{"tend_probe_total", "unit", "web", "probe_type", "readiness", "result", "successful"},
			{"tend_cronjob_status_last_schedule_time_seconds", "cronjob", "tick"},
			{"tend_cronjob_last_start_lag_seconds", "cronjob", "tick"},
		} {
			if _, ok := value(first, want[0], want[1:]...); !ok {
				return false, fmt.Sprintf("no %v", want)
			}
		}
		return true, ""
	})
	docs, err := os.ReadFile("../../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := regexp.MustCompile("(?m)^\\| `(tend_[a-z_]+)` \\|").FindAllStringSubmatch(string(docs), -1)
	if len(documented) < 20 {
		t.Fatalf("docs/metrics.md lists %d series", len(documented))
	}
	names := map[string]bool{}
	for _, s := range first {
		names[s.name] = true
	}
	for _, d := range documented {
		if !names[d[1]] && !names[d[1]+"_count"] {
			t.Errorf("documented series %s is not served", d[1])
		}
		delete(names, d[1])
		delete(names, d[1]+"_count")
		delete(names, d[1]+"_sum")
		delete(names, d[1]+"_bucket")
	}
	for n := range names {
		t.Errorf("series %s is served but not documented", n)
	}
	for _, tc := range []struct {
		name string
		want float64
		lbl  []string
	}{
		{"tend_unit_stopped", 1, []string{"unit", "idle"}},
		{"tend_unit_desired_instances", 0, []string{"unit", "idle"}},
		{"tend_unit_file_invalid", 1, []string{"unit", "typo"}},
		{"tend_job_status_succeeded", 1, []string{"job", "batch"}},
		{"tend_job_complete", 1, []string{"job", "batch", "condition", "Complete"}},
		{"tend_instance_status_ready", 1, []string{"unit", "web"}},
		{"tend_instance_status_phase", 1, []string{"unit", "web", "phase", "Running"}},
		{"tend_instance_last_terminated_exit_code", 1, []string{"unit", "crash"}},
		{"tend_agent_info", 1, nil},
	} {
		if v, ok := value(first, tc.name, tc.lbl...); !ok || v != tc.want {
			t.Errorf("%s%v = %v (%v), want %v", tc.name, tc.lbl, v, ok, tc.want)
		}
	}
	if v, _ := value(first, "tend_store_size_bytes"); v <= 0 {
		t.Errorf("tend_store_size_bytes = %v", v)
	}

	// The counters move.
	for _, c := range [][]string{
		{"tend_instance_restarts_total", "unit", "crash"},
		{"tend_probe_total", "unit", "web", "probe_type", "readiness"},
		{"tend_probe_duration_seconds_count", "unit", "web", "probe_type", "readiness"},
		{"tend_reconcile_duration_seconds_count"},
		{"tend_cronjob_status_last_schedule_time_seconds", "cronjob", "tick"},
	} {
		before, _ := value(first, c[0], c[1:]...)
		a.Eventually(c[0]+" moves", func() (bool, string) {
			if c[0] == "tend_instance_restarts_total" {
				// Now, not after the crash loop's back-off. (Refused while
				// the instance is between runs; the next look tries again.)
				a.Run("restart", "po", "-l", "app=crash")
			}
			now, _ := value(scrape(t, a), c[0], c[1:]...)
			return now > before, fmt.Sprintf("%v, was %v", now, before)
		})
	}

	// metrics_addr serves /metrics and /healthz, and nothing else.
	addr := regexp.MustCompile(`msg="serving metrics" addr=(\S+)`).FindStringSubmatch(a.Log.String())
	if addr == nil {
		t.Fatalf("no metrics address in the log:\n%s", a.Log.String())
	}
	for path, want := range map[string]int{"/healthz": 200, "/metrics": 200, "/v1/instances": 404} {
		res, err := http.Get("http://" + addr[1] + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != want || path == "/healthz" && string(body) != "ok\n" {
			t.Errorf("GET %s on metrics_addr: %s %q", path, res.Status, body)
		}
	}
}
