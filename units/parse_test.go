package units

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

func mustParse(t *testing.T, name, src string) *Unit {
	t.Helper()
	u, err := Parse(name, []byte(src))
	if err != nil {
		t.Fatalf("Parse(%s):\n%v", name, err)
	}
	return u
}

func TestParseReplicatedDefaults(t *testing.T) {
	src := `kind = "replicated"
[template]
labels = { app = "kubia" }
command = ["kubia"]
`
	u := mustParse(t, "dir/kubia.toml", src)
	sum := sha256.Sum256([]byte(src))
	want := &Unit{
		Name:     "kubia",
		Path:     "dir/kubia.toml",
		Version:  hex.EncodeToString(sum[:]),
		Source:   src,
		Kind:     KindReplicated,
		Labels:   Labels{"app": "kubia"},
		Replicas: 1,
		Selector: Selector{MatchLabels: Labels{"app": "kubia"}},
		Template: Template{
			Labels:          Labels{"app": "kubia"},
			Command:         []string{"kubia"},
			Restart:         RestartAlways,
			StopSignal:      Signal(syscall.SIGTERM),
			StopTimeout:     Duration(10 * time.Second),
			RestartDelay:    Duration(100 * time.Millisecond),
			MaxRestartDelay: Duration(5 * time.Minute),

			StartLimitBurst:    5,
			StartLimitInterval: Duration(10 * time.Second),
		},
	}
	if !reflect.DeepEqual(u, want) {
		t.Errorf("got  %+v\nwant %+v", u, want)
	}
	// The defaulted labels and selector are the template's map itself,
	// not copies of it: a Unit is never written once parsed, and at 1000
	// units the two copies were 0.7 MB of an agent's 8 MB heap.
	same := func(a, b Labels) bool {
		return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
	}
	if !same(u.Labels, u.Template.Labels) || !same(u.Selector.MatchLabels, u.Template.Labels) {
		t.Error("the defaulted labels or selector are a copy of the template's labels")
	}
}

// designKubia is DESIGN.md §2's kubia.toml.
const designKubia = `# kubia.toml — three replicas of a web process, restarted when / fails
kind = "replicated"
replicas = 3
labels = { app = "kubia" }

[selector]                       # optional: defaults to the template's labels
match_labels = { app = "kubia" }
match_expressions = [{ key = "env", operator = "NotIn", values = ["test"] }]

[placement]
node_selector = { disk = "ssd" } # hosts whose labels match; empty = every host

[template]
labels = { app = "kubia" }
command = ["/usr/local/bin/kubia", "--port", "8080"]
env = { NODE_ENV = "production" }
working_dir = "/srv/kubia"
user = "kubia"                   # drop privileges when the agent runs as root
restart = "always"               # always | on-failure | never
stop_signal = "SIGTERM"
stop_timeout = "10s"             # then SIGKILL to the whole process group

[template.liveness]              # failing: the instance is killed and restarted
http_get = { path = "/", port = 8080 }
initial_delay = "0s"
timeout = "1s"
period = "10s"
success_threshold = 1
failure_threshold = 3

[template.readiness]             # failing: READY 0/1, not counted as available
tcp_socket = { port = 8080 }

[template.startup]               # liveness and readiness wait until it succeeds
exec = { command = ["/usr/local/bin/check-warm"] }
`

func TestParseDesignExamples(t *testing.T) {
	u := mustParse(t, "kubia.toml", designKubia)
	if u.Kind != KindReplicated || u.Replicas != 3 || !u.Labels.Equal(Labels{"app": "kubia"}) {
		t.Errorf("unit: %+v", u)
	}
	if got, want := u.Selector.String(), "app=kubia,env notin (test)"; got != want {
		t.Errorf("selector %q, want %q", got, want)
	}
	if !u.Placement.NodeSelector.Equal(Labels{"disk": "ssd"}) {
		t.Errorf("node selector %v", u.Placement.NodeSelector)
	}
	tm := u.Template
	if !reflect.DeepEqual(tm.Command, []string{"/usr/local/bin/kubia", "--port", "8080"}) ||
		tm.Env["NODE_ENV"] != "production" || tm.WorkingDir != "/srv/kubia" || tm.User != "kubia" ||
		tm.Restart != RestartAlways || tm.StopSignal != Signal(syscall.SIGTERM) || tm.StopTimeout != Duration(10*time.Second) {
		t.Errorf("template: %+v", tm)
	}
	wantProbes := map[string]string{
		"liveness":  "http-get http://:8080/ delay=0s timeout=1s period=10s #success=1 #failure=3",
		"readiness": "tcp-socket :8080 delay=0s timeout=1s period=10s #success=1 #failure=3",
		"startup":   "exec [/usr/local/bin/check-warm] delay=0s timeout=1s period=10s #success=1 #failure=3",
	}
	for name, p := range map[string]*Probe{"liveness": tm.Liveness, "readiness": tm.Readiness, "startup": tm.Startup} {
		if p == nil {
			t.Errorf("%s probe missing", name)
		} else if got := p.Describe(); got != wantProbes[name] {
			t.Errorf("%s: %q, want %q", name, got, wantProbes[name])
		}
	}

	job := mustParse(t, "exporter.toml", `# exporter.toml — a batch job (Job)
kind = "job"
completions = 5
parallelism = 2
backoff_limit = 6
active_deadline = "10m"
[template]
command = ["/usr/local/bin/export"]
restart = "on-failure"           # jobs: on-failure | never
`)
	if job.Kind != KindJob || job.Completions != 5 || job.Parallelism != 2 || job.BackoffLimit != 6 ||
		job.ActiveDeadline != Duration(10*time.Minute) || job.TTLAfterFinished != 0 ||
		job.BackoffDelay != Duration(10*time.Second) || job.MaxBackoffDelay != Duration(6*time.Minute) ||
		job.Replicas != 0 || !job.Selector.Empty() || job.Labels != nil || job.Template.Restart != RestartOnFailure {
		t.Errorf("job: %+v", job)
	}

	cj := mustParse(t, "batch-every-fifteen-minutes.toml", `# a cron job (CronJob): a job's keys plus the schedule
kind = "cron"
schedule = "0,15,30,45 * * * *"  # robfig/cron syntax, descriptors like @hourly and @every 30s too
time_zone = "Asia/Seoul"
concurrency_policy = "forbid"    # allow | forbid | replace
starting_deadline = "5m"         # a missed run later than this is skipped
successful_history = 3
failed_history = 1
suspend = false
[template]
command = ["/usr/local/bin/batch"]
restart = "on-failure"
`)
	if cj.Kind != KindCron || cj.Schedule != "0,15,30,45 * * * *" || cj.TimeZone != "Asia/Seoul" ||
		cj.ConcurrencyPolicy != ConcurrencyForbid || cj.StartingDeadline != Duration(5*time.Minute) ||
		cj.SuccessfulHistory != 3 || cj.FailedHistory != 1 || cj.Suspend || cj.CatchUp != CatchUpLatest ||
		cj.Completions != 1 || cj.Parallelism != 1 || cj.BackoffLimit != 6 {
		t.Errorf("cron: %+v", cj)
	}
}

func TestParseOtherDefaults(t *testing.T) {
	job := mustParse(t, "j.toml", "kind = \"Job\"\n[template]\ncommand = [\"true\"]\n")
	want := Unit{Kind: KindJob, Completions: 1, Parallelism: 1, BackoffLimit: 6,
		BackoffDelay: Duration(10 * time.Second), MaxBackoffDelay: Duration(6 * time.Minute)}
	if job.Kind != want.Kind || job.Completions != 1 || job.Parallelism != 1 || job.BackoffLimit != 6 ||
		job.BackoffDelay != want.BackoffDelay || job.MaxBackoffDelay != want.MaxBackoffDelay ||
		job.Template.Restart != RestartOnFailure || job.Schedule != "" || job.SuccessfulHistory != 0 {
		t.Errorf("job defaults: %+v", job)
	}

	cj := mustParse(t, "c.toml", "kind = \"CronJob\"\nschedule = \"@every 30s\"\n[template]\ncommand = [\"true\"]\nrestart = \"Never\"\n")
	if cj.SuccessfulHistory != 3 || cj.FailedHistory != 1 || cj.CatchUp != CatchUpLatest ||
		cj.ConcurrencyPolicy != ConcurrencyAllow || cj.TimeZone != "" || cj.StartingDeadline != 0 ||
		cj.Template.Restart != RestartNever || cj.Completions != 1 {
		t.Errorf("cron defaults: %+v", cj)
	}

	ph := mustParse(t, "ds.toml", "kind = \"DaemonSet\"\n[template]\nlabels = { app = \"mon\" }\ncommand = [\"mon\"]\n")
	if ph.Kind != KindPerHost || ph.Replicas != 0 || ph.Selector.String() != "app=mon" || ph.Placement.NodeSelector != nil {
		t.Errorf("per-host defaults: %+v", ph)
	}

	probes := mustParse(t, "p.toml", `kind = "replicated"
[template]
labels = { app = "p" }
command = ["p"]
[template.liveness]
watchdog = "30s"
[template.readiness]
http_get = { port = 8443, scheme = "HTTPS", host = "10.0.0.1", headers = { X-Probe = "1" } }
success_threshold = 2
[template.startup]
tcp_socket = { port = 1 }
failure_threshold = 30
period = "500ms"
`)
	l, r, s := probes.Template.Liveness, probes.Template.Readiness, probes.Template.Startup
	if l.Watchdog != Duration(30*time.Second) || l.Timeout != Duration(time.Second) || l.Period != Duration(10*time.Second) ||
		l.InitialDelay != 0 || l.SuccessThreshold != 1 || l.FailureThreshold != 3 {
		t.Errorf("liveness: %+v", l)
	}
	if h := r.HTTPGet; h == nil || h.Path != "/" || h.Scheme != "https" || h.Host != "10.0.0.1" || h.Headers["X-Probe"] != "1" || r.SuccessThreshold != 2 {
		t.Errorf("readiness: %+v %+v", r, r.HTTPGet)
	}
	if s.TCPSocket == nil || s.TCPSocket.Port != 1 || s.FailureThreshold != 30 || s.Period != Duration(500*time.Millisecond) {
		t.Errorf("startup: %+v", s)
	}
	for p, want := range map[*Probe]string{
		l: "watchdog 30s",
		r: "http-get https://10.0.0.1:8443/ delay=0s timeout=1s period=10s #success=2 #failure=3",
		s: "tcp-socket :1 delay=0s timeout=1s period=500ms #success=1 #failure=30",
	} {
		if got := p.Describe(); got != want {
			t.Errorf("Describe() = %q, want %q", got, want)
		}
	}
}

func TestDescribe(t *testing.T) {
	attrs := func(p Probe) Probe {
		p.Timeout, p.Period, p.SuccessThreshold, p.FailureThreshold = Duration(time.Second), Duration(10*time.Second), 1, 3
		return p
	}
	for _, c := range []struct {
		p    Probe
		want string
	}{
		{attrs(Probe{HTTPGet: &HTTPGetAction{Path: "/", Port: 8080, Scheme: "http"}}),
			"http-get http://:8080/ delay=0s timeout=1s period=10s #success=1 #failure=3"},
		{attrs(Probe{HTTPGet: &HTTPGetAction{Path: "/health", Port: 8080, Host: "10.0.0.1"}}),
			"http-get http://10.0.0.1:8080/health delay=0s timeout=1s period=10s #success=1 #failure=3"},
		{attrs(Probe{HTTPGet: &HTTPGetAction{Path: "/", Port: 443, Host: "::1", Scheme: "https"}}),
			"http-get https://[::1]:443/ delay=0s timeout=1s period=10s #success=1 #failure=3"},
		{attrs(Probe{TCPSocket: &TCPSocketAction{Port: 8080}, InitialDelay: Duration(15 * time.Second)}),
			"tcp-socket :8080 delay=15s timeout=1s period=10s #success=1 #failure=3"},
		{attrs(Probe{TCPSocket: &TCPSocketAction{Port: 5432, Host: "db"}}),
			"tcp-socket db:5432 delay=0s timeout=1s period=10s #success=1 #failure=3"},
		{attrs(Probe{Exec: &ExecAction{Command: []string{"cat", "/tmp/healthy"}}}),
			"exec [cat /tmp/healthy] delay=0s timeout=1s period=10s #success=1 #failure=3"},
		{Probe{Exec: &ExecAction{Command: []string{"true"}}, InitialDelay: Duration(5 * time.Minute), Timeout: Duration(500 * time.Millisecond), Period: Duration(1500 * time.Millisecond), SuccessThreshold: 2, FailureThreshold: 1},
			"exec [true] delay=300s timeout=500ms period=1.5s #success=2 #failure=1"},
		{attrs(Probe{Notify: true}), "notify"},
		{attrs(Probe{Watchdog: Duration(30 * time.Second)}), "watchdog 30s"},
		{attrs(Probe{Watchdog: Duration(2 * time.Minute)}), "watchdog 2m"},
		{attrs(Probe{NotificationFD: 3}), "notification-fd 3"},
	} {
		if got := c.p.Describe(); got != c.want {
			t.Errorf("Describe() = %q\nwant         %q", got, c.want)
		}
	}
}

// TestParseErrors checks every validation rule, and that each problem
// names file, line and key.
func TestParseErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		file string // default "u.toml"
		src  string
		want string // the whole error, one problem per line
	}{
		{name: "kind required", src: `
[template]
command = ["x"]
`, want: `u.toml: kind: required (want replicated, per-host, job or cron)`},
		{name: "kind invalid", src: `kind = "Deployment"
[template]
command = ["x"]
`, want: `u.toml:1: kind: "Deployment" is not a kind (want replicated, per-host, job or cron)`},
		{name: "kind wrong type", src: `kind = 1
[template]
command = ["x"]
`, want: `u.toml:1: kind: want a string, got integer 1`},
		{name: "template required", src: `kind = "job"
`, want: `u.toml: template: required: a [template] table with at least command`},
		{name: "command required", src: `kind = "job"

[template]
restart = "never"
`, want: `u.toml:3: template.command: required (want the program and its arguments, like ["kubia", "--port", "8080"])`},
		{name: "command empty", src: `kind = "job"
[template]
command = []
`, want: `u.toml:3: template.command: must not be empty (want the program and its arguments)`},
		{name: "program empty", src: `kind = "job"
[template]
command = [
  "",
  "x",
]
`, want: `u.toml:4: template.command[0]: the program must not be empty`},
		{name: "command wrong type", src: `kind = "job"
[template]
command = "kubia --port 8080"
`, want: `u.toml:3: template.command: want an array of strings, got string "kubia --port 8080"`},
		{name: "command with NUL", src: `kind = "job"
[template]
command = ["x", "a\u0000b"]
[template.readiness]
exec = { command = [""] }
`, want: `u.toml:3: template.command[1]: must not contain a NUL byte
u.toml:5: template.readiness.exec.command[0]: the program must not be empty`},
		{name: "command element wrong type", src: `kind = "job"
[template]
command = ["kubia", 8080]
`, want: `u.toml:3: template.command: want an array of strings, got integer 8080 at index 1`},
		{name: "restart policy", src: `kind = "replicated"
labels = { app = "kubia" }
replicas = 3
[template]
labels = { app = "kubia" }
command = ["kubia"]
restart = "sometimes"
`, want: `u.toml:7: template.restart: "sometimes" is not a restart policy (want always, on-failure or never)`},
		{name: "restart always for a job", src: `kind = "job"
[template]
command = ["x"]
restart = "Always"
`, want: `u.toml:4: template.restart: "always" is not allowed for kind job (want on-failure or never)`},
		{name: "restart always for a cron job", src: `kind = "cron"
schedule = "@hourly"
[template]
command = ["x"]
restart = "always"
`, want: `u.toml:5: template.restart: "always" is not allowed for kind cron (want on-failure or never)`},
		{name: "replicas negative", src: `kind = "replicated"
replicas = -1
[template]
labels = { app = "a" }
command = ["x"]
`, want: `u.toml:2: replicas: -1 is less than 0`},
		{name: "replicas wrong type", src: `kind = "replicated"
replicas = "3"
[template]
labels = { app = "a" }
command = ["x"]
`, want: `u.toml:2: replicas: want an integer, got string "3"`},
		{name: "replicas float", src: `kind = "replicated"
replicas = 3.0
[template]
labels = { app = "a" }
command = ["x"]
`, want: `u.toml:2: replicas: want an integer, got float 3`},
		{name: "replicas on a job", src: `kind = "job"
replicas = 3
[template]
command = ["x"]
`, want: `u.toml:2: replicas: only for kind replicated, not job`},
		{name: "exclusive with replicas over 1", src: `kind = "replicated"
replicas = 3
exclusive = true
[template]
labels = { app = "a" }
command = ["x"]
`, want: `u.toml:2: replicas: 3 with exclusive = true: an exclusive unit runs at most one instance in the fleet (want 0 or 1)`},
		{name: "restarted_at on a job", src: `kind = "job"
restarted_at = "2026-12-03T12:00:00Z"
[template]
command = ["x"]
`, want: `u.toml:2: restarted_at: only for kind replicated or per-host, not job`},
		{name: "restarted_at not a time", src: `kind = "replicated"
restarted_at = "yesterday"
[template]
labels = { app = "a" }
command = ["x"]
`, want: `u.toml:2: restarted_at: "yesterday" is not an RFC 3339 time (tend rollout restart writes it, e.g. "2026-12-03T12:00:00Z")`},
		{name: "stopped wrong type", src: `kind = "replicated"
stopped = "yes"
[template]
labels = { app = "a" }
command = ["x"]
`, want: `u.toml:2: stopped: want true or false, got string "yes"`},
		{name: "exclusive per-host", src: `kind = "per-host"
exclusive = true
[template]
labels = { app = "a" }
command = ["x"]
`, want: `u.toml:2: exclusive: not for kind per-host, which runs an instance on every matching host (for one instance in the fleet, use kind replicated with replicas = 1)`},
		{name: "exclusive job", src: `kind = "job"
exclusive = true
[template]
command = ["x"]
`, want: `u.toml:2: exclusive: only for kind replicated, not job`},
		{name: "exclusive cron", src: `kind = "cron"
schedule = "@hourly"
exclusive = true
[template]
command = ["x"]
`, want: `u.toml:3: exclusive: only for kind replicated, not cron`},
		{name: "exclusive wrong type", src: `kind = "replicated"
exclusive = "yes"
[template]
labels = { app = "a" }
command = ["x"]
`, want: `u.toml:2: exclusive: want true or false, got string "yes"`},
		{name: "exclusive misspelt", src: `kind = "replicated"
exlusive = true
[template]
labels = { app = "a" }
command = ["x"]
`, want: `u.toml:2: exlusive: unknown key (did you mean "exclusive"?)`},
		{name: "no labels and no selector", src: `kind = "replicated"
[template]
command = ["x"]
`, want: `u.toml:2: template.labels: required for kind replicated without a [selector]: the selector defaults to them`},
		{name: "empty labels and no selector, per-host", src: `kind = "per-host"
[template]
labels = {}
command = ["x"]
`, want: `u.toml:3: template.labels: required for kind per-host without a [selector]: the selector defaults to them`},
		{name: "selector does not match", src: `kind = "replicated"
[selector]
match_labels = { app = "kubia" }
[template]
labels = { app = "foo" }
command = ["x"]
`, want: `u.toml:2: selector: selector does not match template labels ("app=kubia" does not select "app=foo")`},
		{name: "selector does not match no labels", src: `kind = "replicated"
[selector]
match_expressions = [{ key = "app", operator = "Exists" }]
[template]
command = ["x"]
`, want: `u.toml:2: selector: selector does not match template labels ("app" does not select <none>)`},
		{name: "selector empty", src: `kind = "replicated"
[selector]
[template]
labels = { app = "foo" }
command = ["x"]
`, want: `u.toml:2: selector: empty: it would match every instance (want match_labels or match_expressions, or leave [selector] out to use the template's labels)`},
		{name: "selector on a job", src: `kind = "job"
[selector]
match_labels = { app = "kubia" }
[template]
command = ["x"]
`, want: `u.toml:2: selector: only for kind replicated or per-host, not job`},
		{name: "selector as a string", src: `kind = "replicated"
selector = "app=kubia"
[template]
labels = { app = "kubia" }
command = ["x"]
`, want: `u.toml:2: selector: want a table, got string "app=kubia"`},
		{name: "match_expressions as a string", src: `kind = "replicated"
[selector]
match_expressions = "app in (kubia)"
[template]
labels = { app = "kubia" }
command = ["x"]
`, want: `u.toml:3: selector.match_expressions: want an array of tables, got string "app in (kubia)"`},
		{name: "tables of the wrong type", src: `kind = "replicated"
placement = ["disk=ssd"]
[selector]
match_expressions = [{ key = "app", operator = "Exists" }, "tier"]
[template]
labels = { app = "kubia" }
command = ["x"]
liveness = true
readiness.http_get = 8080
[template.startup]
exec = ["true"]
`, want: `u.toml:2: placement: want a table, got an array
u.toml:4: selector.match_expressions[1]: want a table, got string "tier"
u.toml:8: template.liveness: want a table, got boolean true
u.toml:9: template.readiness.http_get: want a table, got integer 8080
u.toml:11: template.startup.exec: want a table, got an array`},
		{name: "match_expressions", src: `kind = "replicated"
[selector]
match_expressions = [
  { key = "app", operator = "In", values = ["kubia"] },
  { key = "env", operator = "In" },
  { key = "env", operator = "NotIn", values = [] },
  { key = "tier", operator = "Exists", values = ["web"] },
  { key = "gone", operator = "DoesNotExist", values = [] },
  { key = "zone" },
  { operator = "Exists" },
  { key = "a b", operator = "Exists" },
  { key = "x", operator = "Equals", values = ["y"] },
  { key = "x", operator = "In", values = ["a b"] },
]
[template]
labels = { app = "kubia" }
command = ["x"]
`, want: `u.toml:5: selector.match_expressions[1].values: required and non-empty for operator In
u.toml:6: selector.match_expressions[2].values: required and non-empty for operator NotIn
u.toml:7: selector.match_expressions[3].values: must be left out for operator Exists
u.toml:8: selector.match_expressions[4].values: must be left out for operator DoesNotExist
u.toml:9: selector.match_expressions[5].operator: required (want In, NotIn, Exists or DoesNotExist)
u.toml:10: selector.match_expressions[6].key: required
u.toml:11: selector.match_expressions[7].key: invalid label key "a b": name part must consist of letters, digits, '-', '_' or '.'
u.toml:12: selector.match_expressions[8].operator: "Equals" is not an operator (want In, NotIn, Exists or DoesNotExist)
u.toml:13: selector.match_expressions[9].values: invalid label value "a b": must consist of letters, digits, '-', '_' or '.'`},
		{name: "match_expressions as an array of tables", src: `kind = "replicated"
[template]
labels = { app = "kubia" }
command = ["x"]

[[selector.match_expressions]]
key = "app"
operator = "In"
values = ["kubia"]

[[selector.match_expressions]]
key = "env"
operator = "In"
`, want: `u.toml:11: selector.match_expressions[1].values: required and non-empty for operator In`},
		{name: "labels", src: `kind = "replicated"
labels = { "Bad Key" = "x", app = "a/b" }
[placement]
node_selector = { "example.com/" = "ssd" }
[template]
command = ["x"]
[template.labels]
app = "kubia"
tier = "-web"
`, want: `u.toml:2: labels."Bad Key": invalid label key "Bad Key": name part must consist of letters, digits, '-', '_' or '.'
u.toml:2: labels.app: invalid label value "a/b": must consist of letters, digits, '-', '_' or '.'
u.toml:4: placement.node_selector."example.com/": invalid label key "example.com/": name part must not be empty
u.toml:9: template.labels.tier: invalid label value "-web": must begin and end with a letter or digit`},
		{name: "labels wrong type", src: `kind = "job"
labels = { zone = 1, replicas = 3 }
[template]
command = ["x"]
`, want: `u.toml:2: labels: want a table of strings, got integer 3 for "replicas"`},
		{name: "template keys", src: `kind = "replicated"
[template]
labels = { app = "a" }
command = ["x"]
env = { "A=B" = "1", OK = "x" }
working_dir = "srv"
user = ""
group = ""
stop_signal = "SIGFOO"
stop_timeout = 10
restart_delay = "0s"
`, want: `u.toml:5: template.env."A=B": "A=B" is not an environment variable name
u.toml:6: template.working_dir: "srv" is not an absolute path
u.toml:7: template.user: must not be empty (leave it out to run as the agent's user)
u.toml:8: template.group: must not be empty (leave it out for the user's group)
u.toml:9: template.stop_signal: "SIGFOO" is not a signal (want a name like SIGTERM or a number from 1 to 64)
u.toml:10: template.stop_timeout: want a duration string like "10s", got integer 10`},
		{name: "stop signal number", src: `kind = "job"
[template]
command = ["x"]
stop_signal = 99
`, want: `u.toml:4: template.stop_signal: "99" is not a signal (want a name like SIGTERM or a number from 1 to 64)`},
		{name: "max restart delay", src: `kind = "replicated"
[template]
labels = { app = "a" }
command = ["x"]
restart_delay = "1m"
max_restart_delay = "30s"
`, want: `u.toml:6: template.max_restart_delay: 30s is less than restart_delay (1m)`},
		{name: "restart delay over the default max", src: `kind = "replicated"
[template]
labels = { app = "a" }
command = ["x"]
restart_delay = "10m"
`, want: `u.toml:5: template.restart_delay: 10m is more than max_restart_delay (5m, the default)`},
		{name: "start limit", src: `kind = "replicated"
[template]
labels = { app = "a" }
command = ["x"]
start_limit_burst = 0
start_limit_interval = "-1s"
`, want: `u.toml:5: template.start_limit_burst: 0 is less than 1
u.toml:6: template.start_limit_interval: "-1s" is negative (want a duration of 0s or more)`},
		{name: "start limit wrong types", src: `kind = "job"
[template]
command = ["x"]
start_limit_burst = "5"
start_limit_interval = 10
`, want: `u.toml:4: template.start_limit_burst: want an integer, got string "5"
u.toml:5: template.start_limit_interval: want a duration string like "10s", got integer 10`},
		{name: "duration negative", src: `kind = "replicated"
[template]
labels = { app = "a" }
command = ["x"]
stop_timeout = "-5s"
`, want: `u.toml:5: template.stop_timeout: "-5s" is negative (want a duration of 0s or more)`},
		{name: "probe without mechanism", src: `kind = "replicated"
[template]
labels = { app = "a" }
command = ["x"]
[template.liveness]
period = "5s"
[template.readiness]
notify = false
[template.startup]
`, want: `u.toml:5: template.liveness: no probe mechanism (want one of http_get, tcp_socket, exec or watchdog)
u.toml:7: template.readiness: no probe mechanism (want one of http_get, tcp_socket, exec, notify or notification_fd)
u.toml:9: template.startup: no probe mechanism (want one of http_get, tcp_socket or exec)`},
		{name: "probe with two mechanisms", src: `kind = "replicated"
[template]
labels = { app = "a" }
command = ["x"]
[template.readiness]
tcp_socket = { port = 8080 }
notify = true
`, want: `u.toml:5: template.readiness: tcp_socket and notify are exclusive (want exactly one of http_get, tcp_socket, exec, notify or notification_fd)`},
		{name: "probe mechanisms in the wrong probe", src: `kind = "replicated"
[template]
labels = { app = "a" }
command = ["x"]
[template.liveness]
notify = true
[template.readiness]
watchdog = "10s"
[template.startup]
notification_fd = 3
`, want: `u.toml:6: template.liveness.notify: only for readiness probes
u.toml:8: template.readiness.watchdog: only for liveness probes
u.toml:10: template.startup.notification_fd: only for readiness probes`},
		{name: "probe values", src: `kind = "replicated"
[template]
labels = { app = "a" }
command = ["x"]
[template.liveness]
http_get = { path = "health", port = 0, scheme = "ftp", headers = { "Bad Header" = "x" } }
timeout = "0s"
period = "0s"
success_threshold = 2
failure_threshold = 0
[template.readiness]
notification_fd = 2
success_threshold = 0
[template.startup]
exec = { command = [] }
success_threshold = 3
`, want: `u.toml:6: template.liveness.http_get.port: 0 is not a port (want 1 to 65535)
u.toml:6: template.liveness.http_get.path: "health" does not start with "/"
u.toml:6: template.liveness.http_get.scheme: "ftp" is not a scheme (want http or https)
u.toml:6: template.liveness.http_get.headers."Bad Header": "Bad Header" is not a header name
u.toml:7: template.liveness.timeout: must be more than 0s
u.toml:8: template.liveness.period: must be more than 0s
u.toml:9: template.liveness.success_threshold: must be 1 for liveness probes
u.toml:10: template.liveness.failure_threshold: 0 is less than 1
u.toml:12: template.readiness.notification_fd: 2 is less than 3 (0, 1 and 2 are stdin, stdout and stderr)
u.toml:13: template.readiness.success_threshold: 0 is less than 1
u.toml:15: template.startup.exec.command: must not be empty (want the program and its arguments)
u.toml:16: template.startup.success_threshold: must be 1 for startup probes`},
		{name: "probe ports", src: `kind = "replicated"
[template]
labels = { app = "a" }
command = ["x"]
[template.liveness]
tcp_socket = { port = 65536 }
[template.readiness]
http_get = { path = "/" }
[template.startup]
exec = {}
watchdog = "0s"
`, want: `u.toml:6: template.liveness.tcp_socket.port: 65536 is not a port (want 1 to 65535)
u.toml:8: template.readiness.http_get.port: required (want a port number from 1 to 65535)
u.toml:9: template.startup: exec and watchdog are exclusive (want exactly one of http_get, tcp_socket or exec)
u.toml:10: template.startup.exec.command: required (want the program and its arguments)
u.toml:11: template.startup.watchdog: only for liveness probes`},
		{name: "watchdog zero", src: `kind = "replicated"
[template]
labels = { app = "a" }
command = ["x"]
[template.liveness]
watchdog = "0s"
`, want: `u.toml:6: template.liveness.watchdog: must be more than 0s`},
		{name: "job keys", src: `kind = "job"
completions = 0
parallelism = -1
backoff_limit = -1
active_deadline = "0s"
ttl_after_finished = "0s"
backoff_delay = "1m"
max_backoff_delay = "10s"
[template]
command = ["x"]
`, want: `u.toml:2: completions: 0 is less than 1
u.toml:3: parallelism: -1 is less than 0
u.toml:4: backoff_limit: -1 is less than 0
u.toml:5: active_deadline: must be more than 0s (leave it out for no deadline)
u.toml:6: ttl_after_finished: must be more than 0s (leave it out to keep finished jobs)
u.toml:8: max_backoff_delay: 10s is less than backoff_delay (1m)`},
		{name: "backoff delay zero", src: `kind = "job"
backoff_delay = "0s"
[template]
command = ["x"]
`, want: `u.toml:2: backoff_delay: must be more than 0s`},
		{name: "job keys on a replicated unit", src: `kind = "replicated"
completions = 5
parallelism = 2
backoff_limit = 1
active_deadline = "1m"
ttl_after_finished = "1m"
backoff_delay = "1s"
max_backoff_delay = "1m"
schedule = "@hourly"
[template]
labels = { app = "a" }
command = ["x"]
`, want: `u.toml:2: completions: only for kind job or cron, not replicated
u.toml:3: parallelism: only for kind job or cron, not replicated
u.toml:4: backoff_limit: only for kind job or cron, not replicated
u.toml:5: active_deadline: only for kind job or cron, not replicated
u.toml:6: ttl_after_finished: only for kind job or cron, not replicated
u.toml:7: backoff_delay: only for kind job or cron, not replicated
u.toml:8: max_backoff_delay: only for kind job or cron, not replicated
u.toml:9: schedule: only for kind cron, not replicated`},
		{name: "cron keys on a job", src: `kind = "job"
schedule = "@hourly"
time_zone = "UTC"
concurrency_policy = "forbid"
starting_deadline = "1m"
successful_history = 1
failed_history = 1
suspend = true
catch_up = "all"
[template]
command = ["x"]
`, want: `u.toml:2: schedule: only for kind cron, not job
u.toml:3: time_zone: only for kind cron, not job
u.toml:4: concurrency_policy: only for kind cron, not job
u.toml:5: starting_deadline: only for kind cron, not job
u.toml:6: successful_history: only for kind cron, not job
u.toml:7: failed_history: only for kind cron, not job
u.toml:8: suspend: only for kind cron, not job
u.toml:9: catch_up: only for kind cron, not job`},
		{name: "cron schedule required", src: `kind = "cron"
[template]
command = ["x"]
`, want: `u.toml: schedule: required for kind cron (want a cron schedule like "0,15,30,45 * * * *" or "@hourly")`},
		{name: "cron values", src: `kind = "cron"
schedule = "0 * * *"
time_zone = "Mars/Olympus_Mons"
concurrency_policy = "deny"
starting_deadline = "0s"
successful_history = -1
failed_history = -2
suspend = "no"
catch_up = "some"
[template]
command = ["x"]
`, want: `u.toml:2: schedule: "0 * * *" is not a cron schedule (want five fields like "0,15,30,45 * * * *", or @hourly, @daily, @every 30s...): expected exactly 5 fields, found 4: [0 * * *]
u.toml:3: time_zone: "Mars/Olympus_Mons" is not a time zone (want an IANA name like "Asia/Seoul" or "UTC")
u.toml:4: concurrency_policy: "deny" is not a concurrency policy (want allow, forbid or replace)
u.toml:5: starting_deadline: must be more than 0s (leave it out for no deadline)
u.toml:6: successful_history: -1 is less than 0
u.toml:7: failed_history: -2 is less than 0
u.toml:8: suspend: want true or false, got string "no"
u.toml:9: catch_up: "some" is not a catch-up policy (want latest, skip or all)`},
		{name: "cron schedule with a time zone", src: `kind = "cron"
schedule = "CRON_TZ=Asia/Seoul 0 * * * *"
time_zone = ""
[template]
command = ["x"]
`, want: `u.toml:2: schedule: "CRON_TZ=Asia/Seoul 0 * * * *": a time zone in the schedule is not allowed (use time_zone)
u.toml:3: time_zone: must not be empty (leave it out for the host's time zone)`},
		{name: "cron seconds field", src: `kind = "cron"
schedule = "*/5 * * * * *"
[template]
command = ["x"]
`, want: `u.toml:2: schedule: "*/5 * * * * *" is not a cron schedule (want five fields like "0,15,30,45 * * * *", or @hourly, @daily, @every 30s...): expected exactly 5 fields, found 6: [*/5 * * * * *]`},
		{name: "unknown keys", src: `kind = "replicated"
replica = 3
Labels = { app = "a" }
[template]
labels = { app = "a" }
command = ["x"]
restartPolicy = "Always"
[template.liveness]
http_get = { port = 8080, pth = "/" }
initialDelaySeconds = 15
[template.livenes]
exec = { command = ["true"] }
[[volumes]]
name = "x"
`, want: `u.toml:2: replica: unknown key (did you mean "replicas"?)
u.toml:3: Labels: unknown key (keys are case-sensitive: did you mean "labels"?)
u.toml:7: template.restartPolicy: unknown key
u.toml:9: template.liveness.http_get.pth: unknown key (did you mean "path"?)
u.toml:10: template.liveness.initialDelaySeconds: unknown key (did you mean "initial_delay"?)
u.toml:11: template.livenes: unknown key (did you mean "liveness"?)
u.toml:13: volumes: unknown key`},
		{name: "unknown key in an array element", src: `kind = "replicated"
[selector]
match_expressions = [
  { key = "app", operator = "In", values = ["a"] },
  { key = "app", operator = "Exists", value = "a" },
]
[template]
labels = { app = "a" }
command = ["x"]
`, want: `u.toml:5: selector.match_expressions[1].value: unknown key (did you mean "values"?)`},
		{name: "unknown dotted key", src: `kind = "replicated"
template.labels = { app = "a" }
template.command = ["x"]
template.liveness.exec.cmd = ["true"]
`, want: `u.toml:4: template.liveness.exec.cmd: unknown key
u.toml:4: template.liveness.exec.command: required (want the program and its arguments)`},
		{name: "syntax error", src: `kind = "replicated"
replicas =
[template]
`, want: `u.toml:2: replicas: invalid TOML: expected value but found the end of the line instead`},
		{name: "unclosed inline table", src: `kind = "replicated"
replicas = 3
labels = { app = "kubia"
[template]
`, want: `u.toml:4: labels.app: invalid TOML: expected a comma or an inline table terminator '}', but got '[' instead`},
		{name: "unclosed table header", src: `kind = "replicated"

[template
command = ["x"]
`, want: `u.toml:3: invalid TOML: expected '.' or ']' to end table name, but got the end of the line instead`},
		{name: "unclosed array of tables header", src: `kind = "replicated"
[[template
`, want: `u.toml:2: invalid TOML: expected '.' or ']' to end table name, but got the end of the line instead`},
		{name: "unclosed table header at the end", src: `kind = "replicated"
[template`, want: `u.toml:2: invalid TOML: expected '.' or ']' to end table name, but got the end of the file instead`},
		{name: "duplicate key", src: `kind = "replicated"
[template]
command = ["x"]
command = ["y"]
`, want: `u.toml:4: template.command: invalid TOML: Key 'template.command' has already been defined.`},
		{name: "bad unit name", file: "dir/Kubia_1.toml", src: `kind = "job"
[template]
command = ["x"]
`, want: `dir/Kubia_1.toml: "Kubia_1" (the file name's stem) is not a valid unit name: want lowercase letters, digits and '-', beginning and ending with a letter or digit, at most 52 characters (so that instance names "<name>-xxxxx" fit in 63)`},
		{name: "everything at once", file: "kubia.toml", src: `kind = "replicated"
replicas = -3
labels = { app = "kubia" }

[selector]
match_labels = { app = "kubia" }

[template]
labels = { app = "kubia" }
command = []
restart = "sometimes"
stop_signal = "SIGNOPE"

[template.liveness]
http_get = { path = "/", port = 80800 }
timeout = "soon"
bogus = true
`, want: `kubia.toml:2: replicas: -3 is less than 0
kubia.toml:10: template.command: must not be empty (want the program and its arguments)
kubia.toml:11: template.restart: "sometimes" is not a restart policy (want always, on-failure or never)
kubia.toml:12: template.stop_signal: "SIGNOPE" is not a signal (want a name like SIGTERM or a number from 1 to 64)
kubia.toml:15: template.liveness.http_get.port: 80800 is not a port (want 1 to 65535)
kubia.toml:16: template.liveness.timeout: "soon" is not a duration (want a number with a unit, like "100ms", "10s" or "1h30m")
kubia.toml:17: template.liveness.bogus: unknown key`},
	} {
		t.Run(c.name, func(t *testing.T) {
			file := c.file
			if file == "" {
				file = "u.toml"
			}
			u, err := Parse(file, []byte(c.src))
			if err == nil {
				t.Fatalf("no error; unit %+v", u)
			}
			if u != nil {
				t.Errorf("unit %+v with an error", u)
			}
			if got := err.Error(); got != c.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, c.want)
			}
			var list ErrorList
			if !errors.As(err, &list) || len(list) != strings.Count(c.want, "\n")+1 {
				t.Errorf("error is %T with %d problems", err, len(list))
			}
		})
	}
}

func TestErrorFormat(t *testing.T) {
	for _, c := range []struct {
		e    Error
		want string
	}{
		{Error{File: "kubia.toml", Line: 7, Key: "template.restart", Msg: "bad"}, "kubia.toml:7: template.restart: bad"},
		{Error{File: "kubia.toml", Key: "kind", Msg: "required"}, "kubia.toml: kind: required"},
		{Error{File: "kubia.toml", Msg: "bad name"}, "kubia.toml: bad name"},
		{Error{Line: 3, Key: "kind", Msg: "bad"}, "line 3: kind: bad"},
		{Error{Msg: "bad"}, "bad"},
	} {
		if got := c.e.Error(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.e, got, c.want)
		}
	}
	_, err := Parse("u.toml", []byte("kind = \"job\"\n[template]\ncommand = []\n"))
	var e *Error
	if !errors.As(err, &e) || e.Line != 3 || e.Key != "template.command" {
		t.Errorf("errors.As: %#v", e)
	}
}

func TestParseFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "web.toml")
	src := "kind = \"replicated\"\n[template]\nlabels = { app = \"web\" }\ncommand = [\"web\"]\n"
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	u, err := ParseFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if u.Name != "web" || u.Path != path || u.Source != src {
		t.Errorf("unit %+v", u)
	}
	if _, err := ParseFile(filepath.Join(dir, "missing.toml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestValidateName(t *testing.T) {
	for name, ok := range map[string]bool{
		"kubia":                   true,
		"batch-job-every-fifteen": true,
		"a":                       true,
		"0":                       true,
		strings.Repeat("a", 52):   true,
		strings.Repeat("a", 53):   false,
		"":                        false,
		"Kubia":                   false,
		"kubia.v2":                false,
		"-kubia":                  false,
		"kubia-":                  false,
		"ku_bia":                  false,
	} {
		if err := ValidateName(name); (err == nil) != ok {
			t.Errorf("ValidateName(%q) = %v, want ok=%v", name, err, ok)
		}
	}
}

func TestParseSchedule(t *testing.T) {
	seoul, err := time.LoadLocation("Asia/Seoul")
	if err != nil {
		t.Skip(err)
	}
	s, err := ParseSchedule("0,15,30,45 * * * *", seoul)
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2020, 9, 3, 13, 35, 47, 0, time.UTC)
	if got, want := s.Next(from), time.Date(2020, 9, 3, 22, 45, 0, 0, seoul); !got.Equal(want) {
		t.Errorf("Next = %v, want %v", got, want)
	}
	every, err := ParseSchedule("@every 30s", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := every.Next(from); got != from.Add(30*time.Second) {
		t.Errorf("@every Next = %v", got)
	}
	for _, bad := range []string{"", "TZ=UTC", "* * * *", "61 * * * *", "@fortnightly"} {
		if _, err := ParseSchedule(bad, nil); err == nil {
			t.Errorf("ParseSchedule(%q) did not fail", bad)
		}
	}
}

// TestScheduleInTheHostsZone checks that a schedule for time.Local is
// read in the host's time zone even for a time in another: robfig/cron
// would read it in the time's own.
func TestScheduleInTheHostsZone(t *testing.T) {
	seoul, err := time.LoadLocation("Asia/Seoul")
	if err != nil {
		t.Skip(err)
	}
	saved := time.Local
	time.Local = seoul // the host's zone, whatever the machine's; no test here runs in parallel
	t.Cleanup(func() { time.Local = saved })

	from := time.Date(2024, 3, 1, 0, 30, 0, 0, time.UTC) // 09:30 in Seoul
	for _, loc := range []*time.Location{nil, time.Local} {
		s, err := ParseSchedule("0 9 * * *", loc)
		if err != nil {
			t.Fatal(err)
		}
		got, want := s.Next(from), time.Date(2024, 3, 2, 9, 0, 0, 0, seoul)
		if !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("ParseSchedule(_, %v).Next(%v) = %v, want %v in UTC", loc, from, got, want)
		}
	}
}

// TestParsedSchedule checks that Parse leaves a cron unit's schedule
// parsed in its time zone, so that callers need not parse it again.
func TestParsedSchedule(t *testing.T) {
	seoul, err := time.LoadLocation("Asia/Seoul")
	if err != nil {
		t.Skip(err)
	}
	cronUnit := func(extra string) string {
		return "kind = \"cron\"\n" + extra + "[template]\ncommand = [\"true\"]\nrestart = \"never\"\n"
	}
	from := time.Date(2024, 3, 1, 0, 30, 0, 0, time.UTC) // 09:30 in Seoul

	u := mustParse(t, "c.toml", cronUnit("schedule = \"0 9 * * *\"\ntime_zone = \"Asia/Seoul\"\n"))
	if u.Location == nil || u.Location.String() != "Asia/Seoul" {
		t.Fatalf("Location = %v, want Asia/Seoul", u.Location)
	}
	if got, want := u.Cron.Next(from), time.Date(2024, 3, 2, 9, 0, 0, 0, seoul); !got.Equal(want) {
		t.Errorf("Next(%v) = %v, want %v", from, got, want)
	}
	if got, want := u.Cron.Next(from.Add(-time.Hour)), time.Date(2024, 3, 1, 9, 0, 0, 0, seoul); !got.Equal(want) {
		t.Errorf("Next(%v) = %v, want %v", from.Add(-time.Hour), got, want)
	}

	u = mustParse(t, "c.toml", cronUnit("schedule = \"0 9 * * *\"\n"))
	if u.Location != time.Local {
		t.Errorf("Location = %v, want time.Local", u.Location)
	}
	local := from.In(time.Local)
	want := time.Date(local.Year(), local.Month(), local.Day(), 9, 0, 0, 0, time.Local)
	if !want.After(from) {
		want = time.Date(local.Year(), local.Month(), local.Day()+1, 9, 0, 0, 0, time.Local)
	}
	if got := u.Cron.Next(from); !got.Equal(want) {
		t.Errorf("Next(%v) without a time zone = %v, want %v", from, got, want)
	}

	u = mustParse(t, "c.toml", cronUnit("schedule = \"@every 30s\"\ntime_zone = \"UTC\"\n"))
	if u.Location != time.UTC || u.Cron.Next(from) != from.Add(30*time.Second) {
		t.Errorf("@every: Location %v, Next %v", u.Location, u.Cron.Next(from))
	}

	for _, src := range []string{
		"kind = \"replicated\"\n[template]\nlabels = { app = \"a\" }\ncommand = [\"true\"]\n",
		"kind = \"per-host\"\n[template]\nlabels = { app = \"a\" }\ncommand = [\"true\"]\n",
		"kind = \"job\"\n[template]\ncommand = [\"true\"]\n",
	} {
		u := mustParse(t, "u.toml", src)
		if u.Location != nil || u.Cron != nil {
			t.Errorf("%s: Location %v, Cron %v, want nil", u.Kind, u.Location, u.Cron)
		}
	}
}

// TestParsedScheduleAfterJSON checks that a cron unit decoded from JSON,
// where the parsed schedule has no form, has it parsed again.
func TestParsedScheduleAfterJSON(t *testing.T) {
	if _, err := time.LoadLocation("Asia/Seoul"); err != nil {
		t.Skip(err)
	}
	u := mustParse(t, "c.toml", "kind = \"cron\"\nschedule = \"0 9 * * *\"\ntime_zone = \"Asia/Seoul\"\n[template]\ncommand = [\"true\"]\nrestart = \"never\"\n")
	b, err := json.Marshal(u)
	if err != nil {
		t.Fatal(err)
	}
	var back Unit
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("%v in %s", err, b)
	}
	from := time.Date(2024, 3, 1, 0, 30, 0, 0, time.UTC)
	if back.Location.String() != "Asia/Seoul" || !back.Cron.Next(from).Equal(u.Cron.Next(from)) {
		t.Errorf("decoded: Location %v, Next %v; want Asia/Seoul, %v", back.Location, back.Cron.Next(from), u.Cron.Next(from))
	}

	// The zone's field, not the source's text that names it too.
	zone := `"TimeZone":"Asia/Seoul"`
	if !strings.Contains(string(b), zone) {
		t.Fatalf("no %s in %s", zone, b)
	}
	b = []byte(strings.Replace(string(b), zone, `"TimeZone":"Nowhere/Atlantis"`, 1))
	if err := json.Unmarshal(b, &back); err == nil || !strings.Contains(err.Error(), `unit "c": time_zone:`) {
		t.Errorf("an unknown time zone: err = %v", err)
	}
}

// TestExamples parses every file in examples/, and checks what the seed's
// experiments rely on.
func TestExamples(t *testing.T) {
	files, err := filepath.Glob("../examples/*.toml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	units := map[string]*Unit{}
	for _, f := range files {
		u, err := ParseFile(f)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		units[u.Name] = u
	}
	check := func(name string, ok func(u *Unit) bool) {
		t.Helper()
		u := units[name]
		if u == nil {
			t.Errorf("example %s missing", name)
		} else if !ok(u) {
			t.Errorf("example %s: %+v", name, u)
		}
	}
	kubia := Labels{"app": "kubia"}
	check("kubia", func(u *Unit) bool {
		return u.Kind == KindReplicated && u.Replicas == 3 && u.Selector.String() == "app=kubia" && u.Template.Labels.Equal(kubia)
	})
	check("kubia-without-selector", func(u *Unit) bool {
		return u.Kind == KindReplicated && u.Replicas == 3 && u.Selector.String() == "app=kubia" && u.Labels.Equal(kubia)
	})
	check("kubia-matchexpressions", func(u *Unit) bool {
		return u.Kind == KindReplicated && u.Replicas == 3 && u.Selector.String() == "app in (kubia)"
	})
	check("kubia-liveness", func(u *Unit) bool {
		return u.Replicas == 1 && strings.Join(u.Template.Command, " ") == "kubia --port 8080 --fail-after 5" &&
			u.Template.Liveness.Describe() == "http-get http://:8080/ delay=0s timeout=1s period=10s #success=1 #failure=3"
	})
	check("kubia-liveness-with-options", func(u *Unit) bool {
		return u.Template.Liveness.Describe() == "http-get http://:8080/ delay=15s timeout=1s period=10s #success=1 #failure=3"
	})
	check("ssd-monitor", func(u *Unit) bool {
		return u.Kind == KindPerHost && u.Placement.NodeSelector.String() == "disk=ssd" && u.Template.Command[0] == "/bin/sh"
	})
	check("exporter", func(u *Unit) bool {
		return u.Kind == KindJob && u.Completions == 1 && u.Parallelism == 1 && u.Template.Restart == RestartOnFailure &&
			strings.Contains(u.Template.Command[2], "Finished succesfully")
	})
	check("multi-completion-batch-job", func(u *Unit) bool {
		return u.Kind == KindJob && u.Completions == 5 && u.Parallelism == 1
	})
	check("multi-completion-parallel-batch-job", func(u *Unit) bool {
		return u.Kind == KindJob && u.Completions == 5 && u.Parallelism == 2
	})
	check("batch-job-every-fifteen-minutes", func(u *Unit) bool {
		return u.Kind == KindCron && u.Schedule == "0,15,30,45 * * * *" && u.StartingDeadline > 0
	})
}

// TestJSONRoundTrip checks that a Unit survives encoding/json, as it does
// on its way through the API: every enum, duration, signal and selector
// has a text form.
func TestJSONRoundTrip(t *testing.T) {
	for _, src := range []string{designKubia, "kind = \"cron\"\nschedule = \"@hourly\"\nconcurrency_policy = \"replace\"\ncatch_up = \"all\"\n[template]\ncommand = [\"x\"]\nstop_signal = \"SIGINT\"\n[template.readiness]\nnotify = true\n"} {
		u := mustParse(t, "u.toml", src)
		b, err := json.Marshal(u)
		if err != nil {
			t.Fatal(err)
		}
		var back Unit
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%v in %s", err, b)
		}
		if !reflect.DeepEqual(&back, u) {
			t.Errorf("round trip:\n%+v\n%+v", &back, u)
		}
	}
	b, _ := json.Marshal(Labels{"b": "2", "a": "1"})
	if string(b) != `{"a":"1","b":"2"}` {
		t.Errorf("labels JSON %s", b)
	}
}

// TestParseExclusive checks the combinations exclusive = true allows:
// a replicated unit of 0 or 1 replicas, 1 by default; exclusive = false
// is what every unit is without the key, on any kind.
func TestParseExclusive(t *testing.T) {
	for _, c := range []struct {
		name, src string
		want      bool
		replicas  int
	}{
		{"default replicas", "kind = \"replicated\"\nexclusive = true\n[template]\nlabels = { app = \"a\" }\ncommand = [\"x\"]\n", true, 1},
		{"one replica", "kind = \"ReplicaSet\"\nreplicas = 1\nexclusive = true\n[template]\nlabels = { app = \"a\" }\ncommand = [\"x\"]\n", true, 1},
		{"scaled to zero", "kind = \"replicated\"\nreplicas = 0\nexclusive = true\n[template]\nlabels = { app = \"a\" }\ncommand = [\"x\"]\n", true, 0},
		{"absent", "kind = \"replicated\"\nreplicas = 3\n[template]\nlabels = { app = \"a\" }\ncommand = [\"x\"]\n", false, 3},
		{"false with replicas", "kind = \"replicated\"\nreplicas = 3\nexclusive = false\n[template]\nlabels = { app = \"a\" }\ncommand = [\"x\"]\n", false, 3},
		{"false on per-host", "kind = \"per-host\"\nexclusive = false\n[template]\nlabels = { app = \"a\" }\ncommand = [\"x\"]\n", false, 0},
		{"false on a job", "kind = \"job\"\nexclusive = false\n[template]\ncommand = [\"x\"]\n", false, 0},
	} {
		u := mustParse(t, "u.toml", c.src)
		if u.Exclusive != c.want || u.Replicas != c.replicas {
			t.Errorf("%s: exclusive %v replicas %d, want %v %d", c.name, u.Exclusive, u.Replicas, c.want, c.replicas)
		}
	}
}

// TestScalingAnExclusiveUnitPastOneIsRefused checks the path tend scale
// takes: the file rewritten by SetTopLevelInt, then parsed again.
func TestScalingAnExclusiveUnitPastOneIsRefused(t *testing.T) {
	src := []byte("kind = \"replicated\"\nexclusive = true\n[template]\nlabels = { app = \"a\" }\ncommand = [\"x\"]\n")
	scaled, err := SetTopLevelInt(src, "replicas", 2)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Parse("u.toml", scaled)
	if want := "u.toml:2: replicas: 2 with exclusive = true: an exclusive unit runs at most one instance in the fleet (want 0 or 1)"; err == nil || err.Error() != want {
		t.Errorf("scaled to 2: %v, want %s", err, want)
	}
}

// The crash-loop brake is set in the template; start_limit_interval =
// "0s" turns it off, as systemd's StartLimitIntervalSec=0.
func TestStartLimit(t *testing.T) {
	u := mustParse(t, "z.toml", "kind = \"replicated\"\n[template]\nlabels = { app = \"z\" }\ncommand = [\"x\"]\nstart_limit_burst = 3\nstart_limit_interval = \"0s\"\n")
	if u.Template.StartLimitBurst != 3 || u.Template.StartLimitInterval != 0 {
		t.Fatalf("start_limit_burst %d, start_limit_interval %v", u.Template.StartLimitBurst, u.Template.StartLimitInterval)
	}
}

// restart_delay = "0s" restarts at once: allowed, unlike runit's 1 s floor.
func TestZeroRestartDelayIsAllowed(t *testing.T) {
	u, err := Parse("z.toml", []byte("kind = \"replicated\"\n[template]\nlabels = { app = \"z\" }\ncommand = [\"x\"]\nrestart_delay = \"0s\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if u.Template.RestartDelay != 0 || u.Template.MaxRestartDelay != DefaultMaxRestartDelay {
		t.Fatalf("restart_delay %v, max %v", u.Template.RestartDelay, u.Template.MaxRestartDelay)
	}
}
