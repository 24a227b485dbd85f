package verbs

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/tendhq/tend/internal/e2e"
	"github.com/tendhq/tend/units"
)

// runTend runs the CLI without an agent, in dir.
func runTend(t *testing.T, dir string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(e2e.TendBin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TEND_SOCKET="+filepath.Join(dir, "no-agent.sock"), e2e.CLIRaceEnv())
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

// A service imported into the agent's unit directory runs as systemd
// would run it: its environment file read, its ExecStartPre= run first,
// its variables expanded.
func TestImportRunsTheService(t *testing.T) {
	t.Parallel()
	a := e2e.StartAgent(t, "", "")
	dir := t.TempDir()
	e2e.WriteFile(t, filepath.Join(dir, "greeter.env"), "WHO='the file'\n")
	e2e.WriteFile(t, filepath.Join(dir, "greeter.service"), `[Unit]
Description=Greets, then waits
After=network.target

[Service]
EnvironmentFile=`+filepath.Join(dir, "greeter.env")+`
EnvironmentFile=-/nonexistent/greeter
Environment="GREETING=hello there"
ExecStartPre=/bin/sh -c 'echo pre-start for %n'
ExecStart=/bin/sh -c 'echo "$$1 from $$WHO"; exec sleep 1000' greeter "${GREETING}"
Restart=always
RestartSec=1s
KillSignal=SIGINT
TimeoutStopSec=3

[Install]
WantedBy=multi-user.target
`)
	out, errOut, code := runTend(t, dir, "import", "--drop-in-dirs=", "--dir", filepath.Join(a.Dir, "units"), "greeter.service")
	if code != 0 || !strings.Contains(out, "unit/greeter imported from greeter.service to ") || !strings.Contains(out, "(3 warnings)") {
		t.Fatalf("import: %d\n%s%s", code, out, errOut)
	}
	for _, w := range []string{"greeter.service:3: After=network.target: ", "greeter.service:6: EnvironmentFile="} {
		if !strings.Contains(errOut, "warning: "+w) {
			t.Errorf("no warning %q in:\n%s", w, errOut)
		}
	}
	running := a.WaitRunning("greeter", 1)
	name := running[0].Name
	a.Eventually("the instance's output", func() (bool, string) {
		logs, _, _ := a.Run("logs", name)
		return strings.Contains(logs, "pre-start for greeter.service\nhello there from the file\n"), logs
	})

	// A timer and its service: a cron unit, whose runs complete.
	e2e.WriteFile(t, filepath.Join(dir, "ticker.service"), "[Service]\nType=oneshot\nExecStart=/bin/echo tick from %n\n")
	e2e.WriteFile(t, filepath.Join(dir, "ticker.timer"), "[Timer]\nOnUnitActiveSec=1s\n")
	out, errOut, code = runTend(t, dir, "import", "--drop-in-dirs=", "--dir", filepath.Join(a.Dir, "units"), "ticker.timer")
	if code != 0 || !strings.Contains(out, "unit/ticker imported from ticker.timer") {
		t.Fatalf("import of a timer: %d\n%s%s", code, out, errOut)
	}
	// The newest completed run is read (a run's name carries its
	// scheduled time): the oldest is the next the history limit removes,
	// a run a second, so a poll in step with the schedule would find it
	// gone between get and logs.
	a.Eventually("a run of the timer's service completed", func() (bool, string) {
		newest := ""
		for _, in := range a.Instances("-l", "app=ticker") {
			if in.Status == "Completed" && in.Name > newest {
				newest = in.Name
			}
		}
		if newest == "" {
			return false, a.Tend("get", "cronjobs")
		}
		logs, _, _ := a.Run("logs", newest)
		return logs == "tick from ticker.service\n", logs
	})

	// Again: the file is there, and nothing is written without --overwrite.
	before, _ := os.ReadFile(filepath.Join(a.Dir, "units", "greeter.toml"))
	_, errOut, code = runTend(t, dir, "import", "--drop-in-dirs=", "--dir", filepath.Join(a.Dir, "units"), "greeter.service")
	after, _ := os.ReadFile(filepath.Join(a.Dir, "units", "greeter.toml"))
	if code != 1 || !strings.Contains(errOut, "greeter.toml exists already (give --overwrite to replace it)") || !bytes.Equal(before, after) {
		t.Errorf("import over an existing unit: %d %s", code, errOut)
	}
}

// Bad input changes nothing: one file that does not convert writes no
// unit of the others, and the verb's misuse is a usage error.
func TestImportIsAllOrNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out := filepath.Join(dir, "units")
	os.Mkdir(out, 0o755)
	e2e.WriteFile(t, filepath.Join(dir, "good.service"), "[Service]\nExecStart=/bin/sleep 100\n")
	e2e.WriteFile(t, filepath.Join(dir, "bad.service"), "[Service]\nType=notify\n")
	e2e.WriteFile(t, filepath.Join(dir, "good@.service"), "[Service]\nExecStart=/bin/sleep %i\n")
	_, errOut, code := runTend(t, dir, "import", "--drop-in-dirs=", "--dir", out, "good.service", "bad.service")
	if ents, _ := os.ReadDir(out); code != 1 || len(ents) != 0 ||
		!strings.Contains(errOut, "error: bad.service: no ExecStart=: nothing to run") || !strings.Contains(errOut, "nothing was written to "+out) {
		t.Errorf("a bad file among good ones: %d, %d files written\n%s", code, len(ents), errOut)
	}
	_, errOut, code = runTend(t, dir, "import", "--drop-in-dirs=", "--dir", out, "good.service", "good@.service")
	if ents, _ := os.ReadDir(out); code != 1 || len(ents) != 0 || !strings.Contains(errOut, "good.service and good@.service are both unit good") {
		t.Errorf("two files of one name: %d, %d files\n%s", code, len(ents), errOut)
	}
	stdout, errOut, code := runTend(t, dir, "import", "--drop-in-dirs=", "good@7.service")
	if u, err := units.Parse("good-7.toml", []byte(stdout)); code != 0 || err != nil || !slices.Equal(u.Template.Command, []string{"/bin/sleep", "7"}) {
		t.Errorf("an instance of a template: %d %v\n%s%s", code, err, stdout, errOut)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"import"}, "name the .service files to import"},
		{[]string{"import", "good.service", "good@.service"}, "give --dir DIR"},
		{[]string{"import", "--kind", "cron", "good.service"}, "not cron"},
		{[]string{"import", "--kind", "pod", "good.service"}, `"pod" is not a kind`},
		{[]string{"import", "--overwrite", "good.service"}, "--overwrite is for --dir"},
		{[]string{"import", "--dir", filepath.Join(dir, "good.service"), "good.service"}, "is not a directory"},
		{[]string{"import", "missing.service"}, "no such file"},
		{[]string{"import", "--name", "../evil", "good.service"}, `"../evil" is not a valid unit name`},
		{[]string{"import", dir}, "is a directory"},
	} {
		_, errOut, code := runTend(t, dir, tc.args...)
		if code == 0 || !strings.Contains(errOut, tc.want) {
			t.Errorf("tend %q: %d %s, want %q", tc.args, code, errOut, tc.want)
		}
	}
}

// debianServices are the packages whose .service files tend import must
// convert, and a file of each.
var debianServices = map[string]string{
	"cron":                "cron.service",
	"rsyslog":             "rsyslog.service",
	"openssh-server":      "ssh.service",
	"nginx-common":        "nginx.service",
	"redis-server":        "redis-server.service",
	"chrony":              "chrony.service",
	"postgresql-common":   "postgresql@.service",
	"haveged":             "haveged.service",
	"unattended-upgrades": "unattended-upgrades.service",
	"exim4-base":          "exim4-base.service",
}

// debianServiceFiles downloads the packages (not installed: nothing of
// theirs runs) and unpacks their systemd units into a directory.
func debianServiceFiles(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"apt-get", "dpkg-deb", "tar"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is needed to fetch Debian's packages", tool)
			}
			t.Skipf("no %s", tool)
		}
	}
	debs := t.TempDir()
	pkgs := slices.Sorted(func(yield func(string) bool) {
		for p := range debianServices {
			if !yield(p) {
				return
			}
		}
	})
	download := func() ([]byte, error) {
		cmd := exec.Command("apt-get", append([]string{"download", "-q"}, pkgs...)...)
		cmd.Dir = debs
		return cmd.CombinedOutput()
	}
	out, err := download()
	if err != nil && os.Geteuid() == 0 {
		// A fresh machine may have no package lists yet.
		if up, uerr := exec.Command("apt-get", "update", "-q").CombinedOutput(); uerr != nil {
			t.Logf("apt-get update: %v\n%s", uerr, up)
		}
		out, err = download()
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("apt-get download: %v\n%s", err, out)
		}
		t.Skipf("Debian's packages are not reachable: %v\n%s", err, out)
	}
	root := t.TempDir()
	files, _ := filepath.Glob(filepath.Join(debs, "*.deb"))
	for _, deb := range files {
		sh := `dpkg-deb --fsys-tarfile "$1" | tar -x -C "$2" --wildcards '*.service' '*.timer' 2>/dev/null; exit 0`
		if out, err := exec.Command("sh", "-c", sh, "sh", deb, root).CombinedOutput(); err != nil {
			t.Fatalf("unpacking %s: %v\n%s", deb, err, out)
		}
	}
	return root
}

// The .service files of ten Debian packages convert into valid units,
// each warning one tend has a reason for; and what matters most of each
// is mapped.
func TestImportDebianServices(t *testing.T) {
	t.Parallel()
	root := debianServiceFiles(t)
	var services []string
	filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(path, ".service") || strings.HasSuffix(path, ".timer")) && strings.Contains(path, "/systemd/system/") {
			services = append(services, path)
		}
		return nil
	})
	for pkg, file := range debianServices {
		if !slices.ContainsFunc(services, func(p string) bool { return filepath.Base(p) == file }) {
			t.Errorf("package %s has no %s: %q", pkg, file, services)
		}
	}
	warning := regexp.MustCompile(`^warning: (.+\.(?:service|timer)):(\d+): ([A-Za-z]+=.*|\[[^]]+\]): (.+)$`)
	converted := map[string]*units.Unit{}
	for _, path := range services {
		stdout, stderr, code := runTend(t, root, "import", "--drop-in-dirs=", path) // this machine's own drop-ins are not the packages'
		if code != 0 {
			t.Errorf("%s: exit %d\n%s", path, code, stderr)
			continue
		}
		base := filepath.Base(path)
		name := regexp.MustCompile(`^# (\S+\.toml), made by `).FindStringSubmatch(stdout)
		if name == nil {
			t.Errorf("%s: no header naming the unit:\n%s", path, stdout)
			continue
		}
		u, err := units.Parse(name[1], []byte(stdout))
		if err != nil {
			t.Errorf("%s: the unit does not parse: %v\n%s", path, err, stdout)
			continue
		}
		converted[base] = u
		for _, line := range e2e.Lines(stderr) {
			m := warning.FindStringSubmatch(line)
			switch {
			case m == nil:
				t.Errorf("%s: not a warning: %q", base, line)
			case strings.HasPrefix(m[4], "tend has no counterpart"):
				t.Errorf("%s: a setting the importer does not know: %q", base, line)
			case !strings.Contains(stdout, "#   "+m[2]+": ") && !strings.Contains(stdout, "#   "+filepath.Base(m[1])+":"+m[2]+": "):
				t.Errorf("%s: warning %q is not in the unit's header", base, line)
			}
		}
	}
	t.Logf("converted %d service and timer files of %d packages", len(converted), len(debianServices))
	check := func(file string, ok func(u *units.Unit) bool) {
		t.Helper()
		if u := converted[file]; u != nil && !ok(u) {
			t.Errorf("%s: %+v", file, u.Template)
		}
	}
	cmdline := func(u *units.Unit) string { return strings.Join(u.Template.Command, " ") }
	check("cron.service", func(u *units.Unit) bool {
		return u.Kind == units.KindPerHost && strings.Contains(cmdline(u), ". /etc/default/cron") && strings.Contains(cmdline(u), "exec /usr/sbin/cron -f $EXTRA_OPTS")
	})
	check("ssh.service", func(u *units.Unit) bool {
		return u.Template.Readiness != nil && u.Template.Readiness.Notify && strings.Contains(cmdline(u), "/usr/sbin/sshd -t || exit $?; exec /usr/sbin/sshd -D $SSHD_OPTS")
	})
	check("rsyslog.service", func(u *units.Unit) bool {
		return u.Template.Command[0] == "/usr/sbin/rsyslogd" && u.Template.Restart == units.RestartOnFailure
	})
	check("redis-server.service", func(u *units.Unit) bool {
		return u.Template.User == "redis" && u.Template.Readiness != nil && u.Template.Readiness.Notify
	})
	check("nginx.service", func(u *units.Unit) bool { return strings.Contains(cmdline(u), "exec /usr/sbin/nginx") })
	check("exim4-base.service", func(u *units.Unit) bool { return u.Kind == units.KindJob })
	// Its timer makes it a cron unit: daily, caught up after downtime.
	check("exim4-base.timer", func(u *units.Unit) bool {
		return u.Kind == units.KindCron && u.Schedule == "0 0 * * *" && u.CatchUp == units.CatchUpLatest &&
			u.ConcurrencyPolicy == units.ConcurrencyForbid && cmdline(u) == "/etc/cron.daily/exim4-base systemd-timer"
	})
	if converted["exim4-base.timer"] == nil {
		t.Error("exim4-base.timer was not converted")
	}
	check("postgresql@.service", func(u *units.Unit) bool { return u.Template.StopTimeout.D().Hours() == 1 })
	check("haveged.service", func(u *units.Unit) bool { return u.Template.Restart == units.RestartAlways })
}
