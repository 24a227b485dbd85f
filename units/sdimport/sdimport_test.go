package sdimport

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/units"
)

// body is the unit file without its header comment.
func body(toml []byte) string {
	var lines []string
	for _, l := range strings.Split(string(toml), "\n") {
		if !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}

// writeFile writes text at path, making its directory, and returns path.
func writeFile(t *testing.T, path, text string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func convert(t *testing.T, name, src string, opt Options) *Result {
	t.Helper()
	res, err := Convert(name, []byte(src), opt)
	if err != nil {
		t.Fatalf("Convert: %v", err)
	}
	return res
}

// warnings lists the warnings as "line Key".
func warnings(res *Result) []string {
	var out []string
	for _, w := range res.Warnings {
		out = append(out, fmt.Sprintf("%d %s", w.Line, w.Key))
	}
	return out
}

// Every setting with a counterpart lands on its key, with systemd's
// values in tend's forms; what has none is a warning on its line.
func TestConvertMapsEachSetting(t *testing.T) {
	res := convert(t, "/lib/systemd/system/demo.service", `[Unit]
Description=Demo daemon
Documentation=man:demo(8)
After=network.target
StartLimitBurst=3
StartLimitIntervalSec=1min 30s

[Service]
Type=notify
Environment="GREETING=hello world" MODE=fast
Environment=EMPTY=
WorkingDirectory=/var/lib/%N
User=demo
Group=demo
ExecStart=/usr/bin/demo --greeting "a b" \
    --name %N --dir %S/%p
Restart=on-failure
RestartSec=2
KillSignal=INT
TimeoutStopSec=30s
WatchdogSec=20
MemoryMax=512M
CPUQuota=150%
TasksMax=64
ProtectSystem=strict
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
`, Options{})
	want := `kind = "per-host"
labels = { app = "demo" }

[template]
labels = { app = "demo" }
command = ["/usr/bin/demo", "--greeting", "a b", "--name", "demo", "--dir", "/var/lib/demo"]
env = { EMPTY = "", GREETING = "hello world", MODE = "fast" }
working_dir = "/var/lib/demo"
user = "demo"
group = "demo"
restart = "on-failure"
restart_delay = "2s"
max_restart_delay = "2s"
start_limit_burst = 3
start_limit_interval = "1m30s"
stop_signal = "SIGINT"
stop_timeout = "30s"
memory_max = "512M"
cpu_max = "150%"
pids_max = 64

[template.readiness]
notify = true

[template.liveness]
watchdog = "20s"
`
	if got := body(res.TOML); got != want {
		t.Errorf("unit:\n%s\nwant:\n%s", got, want)
	}
	if w := warnings(res); !slices.Equal(w, []string{"4 After", "25 ProtectSystem", "26 LimitNOFILE"}) {
		t.Errorf("warnings %q", w)
	}
	u := res.Unit
	if res.Name != "demo" || u.Kind != units.KindPerHost || u.Template.Resources.MemoryMax != 512<<20 ||
		u.Template.StopTimeout.D() != 30*time.Second || u.Template.Readiness == nil || !u.Template.Readiness.Notify ||
		u.Template.Liveness == nil || u.Template.Liveness.Watchdog.D() != 20*time.Second {
		t.Errorf("parsed unit: %+v", u)
	}
	for _, s := range []string{"# Demo daemon\n", "# Documentation: man:demo(8)\n", "#   4: After=network.target: tend has no ordering"} {
		if !strings.Contains(string(res.TOML), s) {
			t.Errorf("the header has no %q:\n%s", s, res.TOML)
		}
	}
	if s := res.Warnings[0].String(); s != "/lib/systemd/system/demo.service:4: After=network.target: "+whyDeps {
		t.Errorf("warning %q", s)
	}
}

func TestConvertKinds(t *testing.T) {
	oneshot := "[Service]\nType=oneshot\nExecStart=/bin/true\nRemainAfterExit=yes\n"
	res := convert(t, "x.service", oneshot, Options{})
	if res.Unit.Kind != units.KindJob || res.Unit.BackoffLimit != 0 || res.Unit.Template.Restart != units.RestartNever {
		t.Errorf("oneshot: %s", res.TOML)
	}
	if len(res.Warnings) != 0 {
		t.Errorf("RemainAfterExit of a job: %q", warnings(res))
	}
	res = convert(t, "x.service", "[Service]\nExecStart=/bin/sleep 1\nRestart=always\n", Options{Kind: units.KindReplicated})
	if res.Unit.Kind != units.KindReplicated || res.Unit.Replicas != 1 {
		t.Errorf("replicated: %s", res.TOML)
	}
	res = convert(t, "x.service", "[Service]\nType=oneshot\nExecStart=/bin/true\nRestart=always\n", Options{})
	if res.Unit.Template.Restart != units.RestartOnFailure || !slices.Equal(warnings(res), []string{"4 Restart"}) {
		t.Errorf("a job that restarts always: %s %q", res.TOML, warnings(res))
	}
	res = convert(t, "x.service", "[Service]\nExecStart=/bin/true\nRuntimeMaxSec=5min\nType=oneshot\n", Options{})
	if res.Unit.ActiveDeadline.D() != 5*time.Minute {
		t.Errorf("RuntimeMaxSec of a job: %s", res.TOML)
	}
	if _, err := Convert("x.service", []byte(oneshot), Options{Kind: units.KindCron}); err == nil {
		t.Error("a cron unit of a service")
	}
}

func TestConvertNames(t *testing.T) {
	for _, tc := range []struct{ file, name string }{
		{"nginx.service", "nginx"},
		{"/lib/systemd/system/getty@tty1.service", "getty-tty1"},
		{"postgresql@.service", "postgresql"},
		{"systemd-Foo_bar.service", "systemd-foo-bar"},
		{`dev-disk-by\x2duuid.service`, "dev-disk-by-uuid"},
	} {
		res := convert(t, tc.file, "[Service]\nExecStart=/bin/true\n", Options{})
		if res.Name != tc.name || res.Unit.Name != tc.name {
			t.Errorf("%s: named %q, want %q", tc.file, res.Name, tc.name)
		}
	}
	res := convert(t, "postgresql@15-main.service", "[Service]\nExecStart=/usr/bin/pg_ctlcluster %i start\nPIDFile=/run/postgresql/%i.pid\n", Options{})
	if res.Unit.Template.Command[1] != "15-main" {
		t.Errorf("%%i of an instance: %q", res.Unit.Template.Command)
	}
	res = convert(t, "x@.service", "[Service]\nExecStart=/usr/bin/x %i\n", Options{Name: "mine"})
	if res.Name != "mine" || !slices.Contains(warnings(res), "2 ExecStart") || res.Unit.Template.Command[1] != "%i" {
		t.Errorf("%%i of a template: %s %q", res.TOML, warnings(res))
	}
	if _, err := Convert(strings.Repeat("a", 60)+".service", []byte("[Service]\nExecStart=/bin/true\n"), Options{}); err == nil ||
		!strings.Contains(err.Error(), "--name") {
		t.Errorf("a name too long: %v", err)
	}
}

// A template's instance that is not a file is read from the template.
func TestConvertFileReadsAnInstanceFromItsTemplate(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "worker@.service"), "[Service]\nExecStart=/usr/bin/worker --queue %i\n")
	res, err := ConvertFile(filepath.Join(dir, "worker@mail.service"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Name != "worker-mail" || !slices.Equal(res.Unit.Template.Command, []string{"/usr/bin/worker", "--queue", "mail"}) {
		t.Errorf("%s: %q", res.Name, res.Unit.Template.Command)
	}
	if _, err := ConvertFile(filepath.Join(dir, "other@mail.service"), Options{}); !os.IsNotExist(err) {
		t.Errorf("an instance of no template: %v", err)
	}
}

func TestConvertRestartPolicies(t *testing.T) {
	for _, tc := range []struct {
		restart, want string
		warns         bool
	}{
		{"", "never", false},
		{"no", "never", false},
		{"always", "always", false},
		{"on-failure", "on-failure", false},
		{"on-abnormal", "on-failure", true},
		{"on-abort", "on-failure", true},
		{"on-watchdog", "on-failure", true},
		{"on-success", "never", true},
		{"sometimes", "never", true},
	} {
		src := "[Service]\nExecStart=/bin/true\n"
		if tc.restart != "" {
			src += "Restart=" + tc.restart + "\n"
		}
		res := convert(t, "x.service", src, Options{})
		if got := res.Unit.Template.Restart.String(); got != tc.want || (len(res.Warnings) > 0) != tc.warns {
			t.Errorf("Restart=%s: %s, warnings %q", tc.restart, got, warnings(res))
		}
	}
	// systemd's delay is constant (100ms unless RestartSec=), unless
	// RestartSteps= grows it to RestartMaxDelaySec=.
	res := convert(t, "x.service", "[Service]\nExecStart=/bin/true\nRestart=always\n", Options{})
	if res.Unit.Template.RestartDelay.D() != 100*time.Millisecond || res.Unit.Template.MaxRestartDelay.D() != 100*time.Millisecond {
		t.Errorf("the default delay: %s", res.TOML)
	}
	res = convert(t, "x.service", "[Service]\nExecStart=/bin/true\nRestart=always\nRestartSec=500ms\nRestartSteps=5\nRestartMaxDelaySec=1min\n", Options{})
	if res.Unit.Template.RestartDelay.D() != 500*time.Millisecond || res.Unit.Template.MaxRestartDelay.D() != time.Minute ||
		!slices.Equal(warnings(res), []string{"5 RestartSteps"}) {
		t.Errorf("RestartSteps= and RestartMaxDelaySec=: %q\n%s", warnings(res), res.TOML)
	}
	res = convert(t, "x.service", "[Service]\nExecStart=/bin/true\nRestart=always\nRestartSec=500ms\nRestartMaxDelaySec=1min\n", Options{})
	if res.Unit.Template.MaxRestartDelay.D() != 500*time.Millisecond || !slices.Equal(warnings(res), []string{"5 RestartMaxDelaySec"}) {
		t.Errorf("RestartMaxDelaySec= alone: %q\n%s", warnings(res), res.TOML)
	}
}

// A value tend refuses is left out, with the reason units gives, and the
// rest of the unit is made.
func TestConvertLeavesOutRefusedValues(t *testing.T) {
	res := convert(t, "x.service", `[Service]
ExecStart=/bin/true
MemoryMax=50%
TasksMax=infinity
CPUQuota=0.001%
KillSignal=SIGNOPE
TimeoutStopSec=infinity
RestartSec=soon
StartLimitBurst=many
`, Options{})
	got := map[string]string{}
	for _, w := range res.Warnings {
		got[w.Key] = w.Msg
	}
	for key, msg := range map[string]string{
		"MemoryMax":       `not imported: "50%" is not a size`,
		"CPUQuota":        `not imported: "0.001%" has more than two decimals`,
		"KillSignal":      `not imported: "SIGNOPE" is not a signal`,
		"TimeoutStopSec":  "not imported: tend always sends SIGKILL",
		"RestartSec":      `not imported: "soon" is not a time span`,
		"StartLimitBurst": "not imported: not a number",
	} {
		if !strings.HasPrefix(got[key], msg) {
			t.Errorf("%s: warning %q, want %q…", key, got[key], msg)
		}
	}
	if _, warned := got["TasksMax"]; warned {
		t.Errorf("TasksMax=infinity is tend's too: %q", got["TasksMax"])
	}
	tpl := res.Unit.Template
	if tpl.Resources.MemoryMax != 0 || tpl.Resources.CPUMax != 0 || tpl.StopSignal != units.Signal(15) {
		t.Errorf("refused values kept: %s", res.TOML)
	}
}

func TestConvertRefuses(t *testing.T) {
	big := "[Service]\nExecStart=/bin/true\n" + strings.Repeat("# padding\n", MaxFileSize/10+1)
	for _, tc := range []struct{ name, src, want string }{
		{"x.timer", "[Timer]\nOnCalendar=daily\n", "a timer: import it with the service it starts"},
		{"x.socket", "[Socket]\nListenStream=80\n", "not a service unit"},
		{"x.service", "[Service]\nType=notify\n", "no ExecStart="},
		{"x.service", "[Service]\nExecStart=/bin/a\nExecStart=/bin/b\n", "line 3: a second ExecStart="},
		{"x.service", "[Service]\nExecStart=/bin/a\nExecStart=\n", "no ExecStart="},
		{"x.service", "[Service]\nType=sometimes\nExecStart=/bin/a\n", "line 2: Type=sometimes is not a service type"},
		{"x.service", "ExecStart=/bin/a\n[Service]\n", "line 1: \"ExecStart=/bin/a\" is before any [section]"},
		{"x.service", "[Service]\nExecStart /bin/a\n", "line 2: \"ExecStart /bin/a\" is not a setting"},
		{"x.service", "[Service\nExecStart=/bin/a\n", "line 1: \"[Service\": a section header without its ']'"},
		{"x.service", "[Service]\nExecStart=/bin/echo \"open\n", "line 2: ExecStart=/bin/echo \"open: unclosed \" quote"},
		{"x.service", "[Service]\nExecStart=/bin/echo a ; /bin/echo b\n", `a ";" between commands`},
		{"x.service", "[Service]\nExecStart=@/bin/echo\n", `"@" wants the program and then its argv[0]`},
		{"x.service", "[Service]\nExecStart=/bin/echo \\x00\n", "not a hex escape of a character other than NUL"},
		{"x.service", "[Service]\nExecStart=/bin/echo \xff\n", "not UTF-8"},
		{"x.service", "[Service]\nExecStart=/bin/echo \x00\n", "a NUL byte"},
		{"x.service", "[Service]\nExecStart=/bin/echo " + strings.Repeat("a", 3000) + "\n", "line too long"},
		{"x.service", big, "larger than the limit"},
	} {
		_, err := Convert(tc.name, []byte(tc.src), Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), tc.name+": ") {
			t.Errorf("%q: error %v, want %q", tc.src[:min(len(tc.src), 60)], err, tc.want)
		}
	}
}

// Sections and settings without counterparts: each is a warning on its
// line, an empty assignment clears a list, and the last assignment wins.
func TestConvertWarnsOnItsLine(t *testing.T) {
	res := convert(t, "x.service", `# a comment \
# that a backslash does not continue
[Unit]
ConditionPathExists=/etc/x
Wants=a.service

[Service]
ExecStartPre=/bin/false
ExecStartPre=
ExecStart=/bin/first
ExecStart=
ExecStart=+/bin/echo \
  continued
ExecReload=/bin/kill -HUP $MAINPID
Frobnicate=yes
IgnoreSIGPIPE=no
User=a
User=b

[X-Vendor]
Key=1

[Socket]
ListenStream=80
`, Options{})
	want := []string{"4 ConditionPathExists", "5 Wants", "12 ExecStart", "14 ExecReload", "15 Frobnicate", "20 [X-Vendor]", "23 [Socket]"}
	if got := warnings(res); !slices.Equal(got, want) {
		t.Errorf("warnings %q, want %q", got, want)
	}
	if tpl := res.Unit.Template; !slices.Equal(tpl.Command, []string{"/bin/echo", "continued"}) || tpl.User != "b" {
		t.Errorf("command %q, user %q", tpl.Command, tpl.User)
	}
}

// Comments are systemd's: a backslash does not continue one, and one
// inside a continued value is skipped (systemd.syntax(7)'s example).
func TestConvertComments(t *testing.T) {
	res := convert(t, "x.service", "[Service]\nExecStart=/usr/bin/daemon \\\n  # skipped\n  --flag\n# see the docs \\\nUser=nobody\n", Options{})
	if tpl := res.Unit.Template; !slices.Equal(tpl.Command, []string{"/usr/bin/daemon", "--flag"}) || tpl.User != "nobody" {
		t.Errorf("command %q, user %q:\n%s", tpl.Command, tpl.User, res.TOML)
	}
}

// The /bin/sh command runs as systemd would run the service: environment
// files read (a missing optional one skipped), the commands before the
// main one run in order, ${NAME} one word and $NAME split into words,
// and the main command the shell's exec. It is run here for real.
func TestConvertShellCommandRunsAsSystemdWould(t *testing.T) {
	dir := t.TempDir()
	envFile := writeFile(t, filepath.Join(dir, "demo env"), "OPTS='-a -b'\nFROMFILE=yes\n")
	out := filepath.Join(dir, "out")
	src := fmt.Sprintf(`[Service]
Environment="WORDS=one  two" STAR=*
EnvironmentFile="%s"
EnvironmentFile=-%s/missing
ExecStartPre=/bin/sh -c 'echo pre >"$0"' %s
ExecStart=/bin/sh -c 'printf "[%%%%s]" "$@" >>"$0"; echo " $$FROMFILE" >>"$0"' %s ${WORDS} $WORDS $OPTS $STAR "${STAR}" '$$x' %%n
`, envFile, dir, out, out)
	res := convert(t, "demo.service", src, Options{})
	tpl := res.Unit.Template
	if tpl.Command[0] != "/bin/sh" || tpl.Command[1] != "-c" {
		t.Fatalf("not through the shell: %q", tpl.Command)
	}
	cmd := exec.Command(tpl.Command[0], tpl.Command[1:]...)
	cmd.Dir = dir // where $STAR would glob, were it not off
	writeFile(t, filepath.Join(dir, "glob-me"), "")
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	for k, v := range tpl.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%q: %v\n%s", tpl.Command, err, b)
	}
	got, _ := os.ReadFile(out)
	want := "pre\n[one  two][one][two][-a][-b][*][*][$x][demo.service] yes\n"
	if string(got) != want {
		t.Errorf("ran:\n%q\nwant:\n%q\n(%s)", got, want, tpl.Command[2])
	}
	// A failing command before the main one fails the start.
	res = convert(t, "demo.service", "[Service]\nExecStartPre=/bin/false\nExecStartPre=-/bin/false\nExecStart=/bin/echo main\n", Options{})
	tpl = res.Unit.Template
	if b, err := exec.Command(tpl.Command[0], tpl.Command[1:]...).CombinedOutput(); err == nil || strings.Contains(string(b), "main") {
		t.Errorf("a failing ExecStartPre= did not fail the start: %v %q", err, b)
	}
	res = convert(t, "demo.service", "[Service]\nExecStartPre=-/bin/false\nExecStart=/bin/echo main\n", Options{})
	tpl = res.Unit.Template
	if b, err := exec.Command(tpl.Command[0], tpl.Command[1:]...).CombinedOutput(); err != nil || string(b) != "main\n" {
		t.Errorf("a failing ExecStartPre=- stopped the start: %v %q", err, b)
	}
}

// Drop-ins apply after the file, by name, the admin's replacing the
// vendor's of the same name; what they set is imported and their
// warnings name them.
func TestConvertFileAppliesDropIns(t *testing.T) {
	vendor, admin := t.TempDir(), t.TempDir()
	write := func(path, text string) { writeFile(t, path, text) }
	svc := filepath.Join(vendor, "web.service")
	write(svc, "[Service]\nExecStart=/usr/bin/web --port 80\nUser=www\nRestart=on-failure\n")
	write(filepath.Join(vendor, "web.service.d", "10-vendor.conf"), "[Service]\nEnvironment=MODE=vendor\n")
	write(filepath.Join(vendor, "web.service.d", "20-limits.conf"), "[Service]\nMemoryMax=1G\n")
	// The admin's 10-vendor.conf replaces the vendor's; 30-local.conf
	// comes last: it resets ExecStart=, and sets what has no counterpart.
	write(filepath.Join(admin, "web.service.d", "10-vendor.conf"), "[Service]\nEnvironment=MODE=admin\n")
	write(filepath.Join(admin, "web.service.d", "30-local.conf"), "[Service]\nExecStart=\nExecStart=/usr/bin/web --port 8080\nLimitNOFILE=4096\n")
	res, err := ConvertFile(svc, Options{DropInDirs: []string{admin}})
	if err != nil {
		t.Fatal(err)
	}
	tpl := res.Unit.Template
	if !slices.Equal(tpl.Command, []string{"/usr/bin/web", "--port", "8080"}) || tpl.Env["MODE"] != "admin" ||
		tpl.Resources.MemoryMax != 1<<30 || tpl.User != "www" {
		t.Errorf("unit:\n%s", res.TOML)
	}
	if len(res.Warnings) != 1 || res.Warnings[0].File != filepath.Join(admin, "web.service.d", "30-local.conf") || res.Warnings[0].Line != 4 {
		t.Errorf("warnings: %+v", res.Warnings)
	}
	for _, want := range []string{"# With the drop-in " + filepath.Join(admin, "web.service.d", "30-local.conf") + ".",
		"#   30-local.conf:4: LimitNOFILE=4096: "} {
		if !strings.Contains(string(res.TOML), want) {
			t.Errorf("no %q in:\n%s", want, res.TOML)
		}
	}
	if strings.Contains(string(res.TOML), "MODE = \"vendor\"") || strings.Contains(string(res.TOML), filepath.Join(vendor, "web.service.d", "10-vendor.conf")) {
		t.Errorf("the vendor's replaced drop-in applied:\n%s", res.TOML)
	}
	// Without drop-in directories, only those beside the file.
	res, err = ConvertFile(svc, Options{DropInDirs: []string{}})
	if err != nil || res.Unit.Template.Env["MODE"] != "vendor" {
		t.Errorf("the vendor's drop-ins alone: %v\n%s", err, res.TOML)
	}
	// A drop-in that does not parse is an error naming it.
	write(filepath.Join(admin, "web.service.d", "40-bad.conf"), "ExecStart=/bin/x\n")
	if _, err := ConvertFile(svc, Options{DropInDirs: []string{admin}}); err == nil || !strings.Contains(err.Error(), "40-bad.conf: line 1:") {
		t.Errorf("a bad drop-in: %v", err)
	}
}

// What a review found systemd does otherwise, each as systemd does it.
func TestConvertAsSystemd(t *testing.T) {
	// \; is a ";" argument (find -exec), not a separator.
	res := convert(t, "x.service", "[Service]\nExecStart=/usr/bin/find /tmp -name x -exec rm {} \\;\n", Options{})
	if c := res.Unit.Template.Command; c[len(c)-1] != ";" || c[len(c)-2] != "{}" {
		t.Errorf("\\; : %q", c)
	}
	// The later of TimeoutStopSec= and TimeoutSec= sets the stop timeout.
	res = convert(t, "x.service", "[Service]\nExecStart=/bin/true\nTimeoutStopSec=5\nTimeoutSec=60\n", Options{})
	if d := res.Unit.Template.StopTimeout.D(); d != time.Minute {
		t.Errorf("TimeoutSec= after TimeoutStopSec=: %v", d)
	}
	res = convert(t, "x.service", "[Service]\nExecStart=/bin/true\nTimeoutSec=60\nTimeoutStopSec=5\n", Options{})
	if d := res.Unit.Template.StopTimeout.D(); d != 5*time.Second {
		t.Errorf("TimeoutStopSec= after TimeoutSec=: %v", d)
	}
	// Specifiers are resolved after the words are split.
	res = convert(t, `e@a\x20b.service`, "[Service]\nExecStart=/bin/true\nEnvironment=X=%I\n", Options{})
	if v := res.Unit.Template.Env["X"]; v != "a b" || len(res.Warnings) != 0 {
		t.Errorf("Environment=X=%%I of e@a\\x20b: %q %q", v, warnings(res))
	}
	// A time span past a Duration is refused, not wrapped.
	if _, err := parseTimeSpan("9223372036.854775807"); err == nil {
		t.Error("a time span of 2^63 ns")
	}
	// An escape that makes no UTF-8 is an error, not a U+FFFD.
	if _, err := Convert("x.service", []byte("[Service]\nExecStart=/bin/echo \\xff\n"), Options{}); err == nil || !strings.Contains(err.Error(), "not UTF-8") {
		t.Errorf("\\xff: %v", err)
	}
}

// $NAME splits in /bin/sh on whitespace, not on systemd's quotes: a value
// with quotes is a warning.
func TestConvertWarnsOfQuotesInASplitVariable(t *testing.T) {
	res := convert(t, "x.service", "[Service]\nEnvironment=\"OPTS=-a 'b c'\" PLAIN=-x\nExecStart=/bin/echo $OPTS $PLAIN\n", Options{})
	if w := warnings(res); !slices.Equal(w, []string{"3 ExecStart"}) || !strings.Contains(res.Warnings[0].Msg, "$OPTS is split by /bin/sh") {
		t.Errorf("warnings %q %v", w, res.Warnings)
	}
}
