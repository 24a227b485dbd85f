// Package tour runs the README's tour, the experiments of Kubernetes in
// Action chapter 4 with tend in place of kubectl, literally: its commands
// are read from README.md, in order, against a fresh agent set up as
// `make run` sets one up, so that the tour and tend cannot drift apart.
//
// It is a package of its own so that its minute and a half of waiting
// (the liveness demo's restart) runs beside cmd/tend's tests, not after
// them.
package tour

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/tendhq/tend/internal/e2e"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

var binDir string // tend and kubia, built for the tour

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tend-tour-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	for _, b := range [][2]string{{"tend", ".."}, {"kubia", "../../kubia"}} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, b[0]), b[1])
		cmd.Env = append(os.Environ(), "GOFLAGS=-buildvcs=false", "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n%s", b[0], err, out)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// repoRoot is where README.md, the Makefile and examples/ are; the tour's
// commands run there, as a reader of the README runs them.
const repoRoot = "../../.."

// tourCommands are the commands of the README's "A tour" section, one a
// line, comments cut off.
func tourCommands(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	start := strings.Index(text, "\n## A tour\n")
	if start < 0 {
		t.Fatal(`README.md has no "## A tour" section`)
	}
	text = text[start+1:]
	if end := strings.Index(text[3:], "\n## "); end >= 0 {
		text = text[:end+3]
	}
	var cmds []string
	in := false
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "```sh"):
			in = true
			continue
		case strings.HasPrefix(line, "```"):
			in = false
			continue
		case !in:
			continue
		}
		if i := strings.Index(line, "  #"); i >= 0 {
			line = line[:i]
		}
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			cmds = append(cmds, line)
		}
	}
	if len(cmds) < 10 {
		t.Fatalf("only %d commands in the README's tour: %q", len(cmds), cmds)
	}
	return cmds
}

// devUnits are the unit files `make run` seeds its unit directory with
// (the Makefile's DEV_UNITS).
func devUnits(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^DEV_UNITS\s*:=\s*(.+)$`).FindSubmatch(data)
	if m == nil {
		t.Fatal("the Makefile has no DEV_UNITS")
	}
	return strings.Fields(string(m[1]))
}

type instance struct {
	Name     string
	Status   string
	Restarts int
	Labels   map[string]string
}

// tour is one run of the tour: the agent and what the commands need.
type tour struct {
	t    *testing.T
	dir  string // the agent's, as .tend/dev is make run's
	env  []string
	app  string // the app whose instance NAME stands for
	name string // what NAME stood for last
}

func (tr *tour) run(ctx context.Context, line string) (string, error) {
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", line)
	cmd.Dir = repoRoot
	cmd.Env = tr.env
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func (tr *tour) instances() []instance {
	tr.t.Helper()
	out, err := tr.run(context.Background(), "tend get po -o json")
	if err != nil {
		tr.t.Fatalf("tend get po -o json: %v\n%s", err, out)
	}
	var list struct {
		Items []struct {
			Metadata struct {
				Name   string            `json:"name"`
				Labels map[string]string `json:"labels"`
			} `json:"metadata"`
			Status struct {
				Status       string `json:"status"`
				RestartCount int    `json:"restartCount"`
			} `json:"status"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		tr.t.Fatalf("tend get po -o json: %v\n%s", err, out)
	}
	var ins []instance
	for _, o := range list.Items {
		ins = append(ins, instance{o.Metadata.Name, o.Status.Status, o.Status.RestartCount, o.Metadata.Labels})
	}
	return ins
}

// count is how many instances of app run.
func (tr *tour) count(app string) int {
	n := 0
	for _, i := range tr.instances() {
		if i.Labels["app"] == app && i.Status == "Running" {
			n++
		}
	}
	return n
}

// eventually polls cond until it holds, for at most within.
func (tr *tour) eventually(what string, within time.Duration, cond func() (bool, string)) {
	tr.t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			tr.t.Fatalf("the tour: timed out waiting until %s; last seen:\n%s", what, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pick is the instance NAME stands for: a running instance of tr.app.
func (tr *tour) pick() string {
	tr.t.Helper()
	var name string
	tr.eventually("an instance of "+tr.app+" runs", time.Minute, func() (bool, string) {
		for _, i := range tr.instances() {
			if i.Labels["app"] == tr.app && i.Status == "Running" {
				name = i.Name
				return true, ""
			}
		}
		return false, fmt.Sprint(tr.instances())
	})
	return name
}

func TestTheREADMEsTour(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("the tour uses curl: install it (make test does, through .ci/deps)")
	}
	if l, err := net.Listen("tcp", "127.0.0.1:8080"); err != nil {
		t.Fatalf("the tour's kubia needs port 8080, which is taken: %v", err)
	} else {
		l.Close()
	}
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "units"), 0o755)
	for _, f := range devUnits(t) {
		data, err := os.ReadFile(filepath.Join(repoRoot, f))
		if err != nil {
			t.Fatalf("make run's unit %s: %v", f, err)
		}
		os.WriteFile(filepath.Join(dir, "units", filepath.Base(f)), data, 0o644)
	}
	tr := &tour{t: t, dir: dir, app: "kubia",
		env: append(os.Environ(), "TEND_SOCKET="+filepath.Join(dir, ".tend", "tend.sock"), "PATH="+binDir+":"+os.Getenv("PATH"))}
	var log bytes.Buffer
	agent := exec.Command(filepath.Join(binDir, "tend"), "agent", "--dev")
	agent.Dir, agent.Env, agent.Stdout, agent.Stderr = dir, tr.env, &log, &log
	agent.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { agent.Wait(); close(done) }()
	t.Cleanup(func() {
		agent.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			syscall.Kill(-agent.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			t.Logf("agent log:\n%s", log.String())
		}
	})
	tr.eventually("the agent answers and runs the three kubia replicas", time.Minute, func() (bool, string) {
		out, err := tr.run(context.Background(), "tend get po")
		return err == nil && tr.count("kubia") == 3, out
	})

	for _, line := range tourCommands(t) {
		if strings.Contains(line, "NAME") {
			tr.name = tr.pick()
			line = strings.ReplaceAll(line, "NAME", tr.name)
		}
		if m := regexp.MustCompile(`apply -f examples/([a-z0-9-]+)\.toml`).FindStringSubmatch(line); m != nil && strings.HasPrefix(m[1], "kubia") {
			tr.app = m[1] // the examples label their instances after the file
		}
		t.Logf("$ %s", line)
		ctx, cancel := context.WithCancel(context.Background())
		var out string
		var err error
		switch {
		case strings.Contains(line, " -w"), strings.Contains(line, " -f") && strings.Contains(line, "logs"):
			// Streams: they run until stopped, as a reader stops them.
			out, err = tr.stream(ctx, line)
		default:
			out, err = tr.run(ctx, line)
		}
		cancel()
		if err != nil {
			t.Fatalf("the tour's %q failed: %v\n%s", line, err, out)
		}
		tr.check(line, out)
	}
}

// stream runs a command that follows (get -w, logs -f) until what the
// tour says it shows has shown, and stops it.
func (tr *tour) stream(ctx context.Context, line string) (string, error) {
	tr.t.Helper()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", "exec "+line)
	cmd.Dir, cmd.Env = repoRoot, tr.env
	var out e2e.LockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return "", err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	want := func() bool { return strings.Count(out.String(), "\n") >= 2 }
	within := 10 * time.Second
	if strings.Contains(line, "get po -w") {
		// The liveness demo: RESTARTS grows once the probe has failed
		// three times (about 70 s with the example's 10 s period).
		within = 3 * time.Minute
		want = func() bool {
			for _, l := range strings.Split(out.String(), "\n") {
				f := strings.Fields(l)
				if len(f) >= 4 && strings.HasPrefix(f[0], tr.app+"-") {
					if n, err := strconv.Atoi(f[3]); err == nil && n >= 1 {
						return true
					}
				}
			}
			return false
		}
	}
	deadline := time.After(within)
	for !want() {
		select {
		case err := <-exited:
			return out.String(), fmt.Errorf("it ended before it showed what the tour says: %v", err)
		case <-deadline:
			cmd.Process.Signal(syscall.SIGTERM)
			<-exited
			return out.String(), fmt.Errorf("it did not show what the tour says within %v", within)
		case <-time.After(50 * time.Millisecond):
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	<-exited
	return out.String(), nil
}

// check asserts what the tour's comments promise of the commands whose
// promise the tour's later steps depend on.
func (tr *tour) check(line, out string) {
	tr.t.Helper()
	switch {
	case strings.HasPrefix(line, "curl localhost:8080"):
		if !strings.Contains(out, "You've hit kubia-") {
			tr.t.Fatalf("curl: %q, want You've hit kubia-...", out)
		}
	case strings.HasPrefix(line, "tend delete po kubia-"):
		tr.eventually("a replacement runs", time.Minute, func() (bool, string) { return tr.count("kubia") == 3, "" })
	case strings.HasPrefix(line, "tend describe rc kubia"):
		if !strings.Contains(out, "SuccessfulCreate") {
			tr.t.Fatalf("describe rc kubia shows no SuccessfulCreate:\n%s", out)
		}
	case strings.Contains(line, "app=foo --overwrite"):
		tr.eventually("the orphan runs beside three kubia", time.Minute, func() (bool, string) {
			return tr.count("foo") == 1 && tr.count("kubia") == 3, ""
		})
	case strings.Contains(line, "--replicas=4"):
		tr.eventually("four kubia", time.Minute, func() (bool, string) { return tr.count("kubia") == 4, "" })
	case strings.Contains(line, "--cascade=orphan"):
		if n := tr.count("kubia"); n != 4 {
			tr.t.Fatalf("after delete --cascade=orphan %d kubia run, want the 4 left running", n)
		}
	case strings.Contains(line, "disk=ssd"):
		tr.eventually("ssd-monitor runs", time.Minute, func() (bool, string) { return tr.count("ssd-monitor") == 1, "" })
	case strings.HasPrefix(line, "tend delete po -l"):
		tr.eventually("no kubia and no orphan left", time.Minute, func() (bool, string) {
			return tr.count("kubia") == 0 && tr.count("foo") == 0, ""
		})
	case strings.HasPrefix(line, "tend describe po kubia-liveness-"):
		for _, want := range []string{"Liveness:", "Exit Code:", "137", "Unhealthy", "Killing"} {
			if !strings.Contains(out, want) {
				tr.t.Fatalf("describe po of the liveness demo lacks %q:\n%s", want, out)
			}
		}
	case strings.HasPrefix(line, "tend get jobs"):
		if !strings.Contains(out, "/5") {
			tr.t.Fatalf("get jobs shows no COMPLETIONS n/5:\n%s", out)
		}
	}
}
