package main

// The end-to-end harness: the tests build the real tend binary, run a real
// agent in a temporary directory, and drive it only through the CLI. The
// workloads are this test binary itself, re-executed with
// TEND_TEST_HELPER set (see helperMain).

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tendhq/tend/cluster/clustertest"
	"github.com/tendhq/tend/supervisor"
)

var (
	tendBin   string // the built tend binary
	helperBin string // this test binary, as the workload
)

func TestMain(m *testing.M) {
	if mode := os.Getenv("TEND_TEST_HELPER"); mode != "" {
		os.Exit(helperMain(mode))
	}
	dir, err := os.MkdirTemp("", "tend-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	tendBin = filepath.Join(dir, "tend")
	args := []string{"build", "-o", tendBin}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, ".")...)
	build.Env = append(os.Environ(), "GOFLAGS=-buildvcs=false")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building tend: %v\n%s", err, out)
		os.Exit(1)
	}
	kubia := exec.Command("go", "build", "-o", filepath.Join(dir, "kubia"), "../kubia")
	kubia.Env = build.Env
	if out, err := kubia.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building kubia: %v\n%s", err, out)
		os.Exit(1)
	}
	if helperBin, err = os.Executable(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// helperMain is the workload the tests supervise. Modes:
//
//	sleep          print "started NAME", then wait for a signal
//	ignore-term    the same, ignoring SIGTERM (only SIGKILL ends it)
//	exit:N         print "exiting N" and exit with status N
//	seq:D          print 1, 2, 3, ... a line every D, forever
//	attempt:D      write "start NAME HOST" to $TEND_TEST_LEDGER, work for
//	               D, write "done NAME HOST", exit 0
func helperMain(mode string) int {
	name := os.Getenv("TEND_INSTANCE")
	switch {
	case mode == "sleep", mode == "ignore-term":
		if mode == "ignore-term" {
			signal.Ignore(syscall.SIGTERM)
		}
		fmt.Printf("started %s pid %d\n", name, os.Getpid())
		select {}
	case mode == "notify":
		// The systemd way: say READY=1 and a status on NOTIFY_SOCKET.
		conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: os.Getenv("NOTIFY_SOCKET"), Net: "unixgram"})
		if err != nil {
			fmt.Fprintln(os.Stderr, "notify:", err)
			return 1
		}
		conn.Write([]byte("STATUS=serving requests\nREADY=1"))
		conn.Close()
		select {}
	case mode == "forking-daemon":
		// A daemon that forks: the first process starts the real one,
		// announces it with MAINPID=, waits until the agent has taken the
		// message (sd_notify_barrier), and exits.
		exe, _ := os.Executable()
		var env []string
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "TEND_TEST_HELPER=") {
				env = append(env, kv)
			}
		}
		env = append(env, "TEND_TEST_HELPER=sleep")
		p, err := os.StartProcess(exe, []string{exe}, &os.ProcAttr{Env: env, Files: []*os.File{nil, os.Stdout, os.Stderr}})
		if err != nil {
			fmt.Fprintln(os.Stderr, "fork:", err)
			return 1
		}
		conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: os.Getenv("NOTIFY_SOCKET"), Net: "unixgram"})
		if err != nil {
			fmt.Fprintln(os.Stderr, "notify:", err)
			return 1
		}
		fmt.Fprintf(conn, "MAINPID=%d\nREADY=1", p.Pid)
		r, w, _ := os.Pipe()
		conn.WriteMsgUnix([]byte("BARRIER=1"), syscall.UnixRights(int(w.Fd())), nil)
		w.Close()
		r.Read(make([]byte, 1)) // EOF once the agent closed its copy
		return 0
	case mode == "s6-ready":
		// s6's way: a newline on descriptor 3.
		os.NewFile(3, "notification-fd").Write([]byte("\n"))
		select {}
	case strings.HasPrefix(mode, "attempt:"):
		// A job's attempt: it says when it starts and when it is done, in
		// the file TEND_TEST_LEDGER that every host shares, and works
		// for the duration given in between.
		d, err := time.ParseDuration(strings.TrimPrefix(mode, "attempt:"))
		if err != nil {
			fmt.Fprintln(os.Stderr, "bad helper mode", mode)
			return 100
		}
		ledger := func(what string) {
			f, err := os.OpenFile(os.Getenv("TEND_TEST_LEDGER"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
			if err == nil {
				fmt.Fprintf(f, "%s %s %s\n", what, name, os.Getenv("TEND_HOST"))
				f.Close()
			}
		}
		ledger("start")
		time.Sleep(d)
		ledger("done")
		return 0
	case strings.HasPrefix(mode, "seq:"):
		// A line a period, each the next number from 1: a reader of the
		// log sees any line lost or stored twice.
		d, err := time.ParseDuration(strings.TrimPrefix(mode, "seq:"))
		if err != nil {
			fmt.Fprintln(os.Stderr, "bad helper mode", mode)
			return 100
		}
		for n := 1; ; n++ {
			fmt.Printf("%d\n", n)
			time.Sleep(d)
		}
	case strings.HasPrefix(mode, "exit:"):
		n, err := strconv.Atoi(strings.TrimPrefix(mode, "exit:"))
		if err != nil {
			fmt.Fprintln(os.Stderr, "bad helper mode", mode)
			return 100
		}
		fmt.Printf("exiting %d\n", n)
		return n
	}
	fmt.Fprintln(os.Stderr, "unknown helper mode", mode)
	return 100
}

// lockedBuffer collects the agent's stderr for failure messages.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// agent is a real `tend agent --dev` in a temporary directory.
type agent struct {
	t      *testing.T
	dir    string
	sock   string
	cmd    *exec.Cmd
	log    *lockedBuffer
	exited chan struct{}
	err    error // the agent's exit, once exited is closed
	tag    string
}

// startAgent starts an agent in dir (a new temporary one when "") and
// waits until its socket answers.
func startAgent(t *testing.T, dir string, extraConfig string) *agent {
	t.Helper()
	return startAgentOn(t, nil, dir, extraConfig)
}

// startAgentOn is startAgent on host, a host made of namespaces (the
// agent is its PID 1), or on this machine when host is nil.
func startAgentOn(t *testing.T, host *clustertest.Host, dir string, extraConfig string) *agent {
	t.Helper()
	return startAgentBin(t, host, tendBin, dir, extraConfig)
}

// startAgentBin is startAgentOn with the agent's binary bin, and flags
// for `tend agent` after --dev.
func startAgentBin(t *testing.T, host *clustertest.Host, bin, dir string, extraConfig string, flags ...string) *agent {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(filepath.Join(dir, "units"), 0o755); err != nil {
		t.Fatal(err)
	}
	if extraConfig != "" {
		os.MkdirAll(filepath.Join(dir, ".tend"), 0o755)
		if err := os.WriteFile(filepath.Join(dir, ".tend", "tend.toml"), []byte(extraConfig), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	a := &agent{
		t:      t,
		dir:    dir,
		sock:   filepath.Join(dir, ".tend", "tend.sock"),
		log:    &lockedBuffer{},
		exited: make(chan struct{}),
		tag:    fmt.Sprintf("%s-%d", t.Name(), time.Now().UnixNano()),
	}
	args := append([]string{"agent", "--dev"}, flags...)
	if host != nil {
		a.cmd = host.Command(bin, args...)
	} else {
		a.cmd = exec.Command(bin, args...)
		a.cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	a.cmd.Dir = dir
	// The demo server (kubia) is found in PATH, as the examples expect.
	a.cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(tendBin)+":"+os.Getenv("PATH"))
	a.cmd.Stdout = a.log
	a.cmd.Stderr = a.log
	a.cmd.SysProcAttr.Setpgid = true
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { a.err = a.cmd.Wait(); close(a.exited) }()
	t.Cleanup(func() {
		select {
		case <-a.exited:
		default:
			a.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-a.exited:
			case <-time.After(20 * time.Second):
				a.cmd.Process.Kill()
				<-a.exited
			}
		}
		killTagged(a.tag)
		if t.Failed() {
			t.Logf("agent log:\n%s", a.log.String())
			a.logRunLogs()
		}
	})
	a.eventually("the agent answers", func() (bool, string) {
		out, errOut, err := a.run("version")
		return err == nil, out + errOut
	})
	return a
}

// logRunLogs logs every file in the agent's instance log directory
// (each run's output, the previous ones too), for a failure message: an
// instance's own stderr often says why it exited.
func (a *agent) logRunLogs() {
	root := filepath.Join(a.dir, ".tend", "state", "logs")
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			a.t.Logf("%s: %v", path, err)
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		a.t.Logf("instance log %s:\n%s", rel, b)
		return nil
	})
}

// run runs the CLI against the agent.
func (a *agent) run(args ...string) (stdout, stderr string, err error) {
	cmd := exec.Command(tendBin, args...)
	cmd.Env = append(os.Environ(), "TEND_SOCKET="+a.sock)
	cmd.Dir = a.dir
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// tend runs the CLI and fails the test when it fails.
func (a *agent) tend(args ...string) string {
	a.t.Helper()
	out, errOut, err := a.run(args...)
	if err != nil {
		a.t.Fatalf("tend %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// eventually polls cond until it holds or 20 s pass.
func (a *agent) eventually(what string, cond func() (bool, string)) {
	a.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last string
	for {
		ok, info := cond()
		if ok {
			return
		}
		last = info
		if time.Now().After(deadline) {
			a.t.Fatalf("timed out waiting until %s; last seen:\n%s", what, last)
		}
		select {
		case <-a.exited:
			a.t.Fatalf("the agent exited (%v) while waiting until %s", a.err, what)
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// writeUnit writes a unit file into the agent's unit directory.
func (a *agent) writeUnit(name, text string) {
	a.t.Helper()
	if err := os.WriteFile(filepath.Join(a.dir, "units", name+".toml"), []byte(text), 0o644); err != nil {
		a.t.Fatal(err)
	}
}

// helperUnit is a unit file running the helper in mode.
func (a *agent) helperUnit(kind, extra, labels, mode string) string {
	return fmt.Sprintf(`kind = %q
%s
[template]
labels = { %s }
command = [%q]
env = { TEND_TEST_HELPER = %q, TEND_TEST_TAG = %q }
restart_delay = "0s"
stop_timeout = "2s"
`, kind, extra, labels, helperBin, mode, a.tag)
}

// instances lists the instances, as the CLI prints them in JSON.
func (a *agent) instances(args ...string) []supervisor.Instance {
	a.t.Helper()
	out := a.tend(append([]string{"get", "instances", "-o", "json"}, args...)...)
	var list struct {
		Items []supervisor.Instance `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		a.t.Fatalf("get -o json: %v\n%s", err, out)
	}
	return list.Items
}

func (a *agent) instance(name string) supervisor.Instance {
	a.t.Helper()
	out := a.tend("get", "instance", name, "-o", "json")
	var i supervisor.Instance
	if err := json.Unmarshal([]byte(out), &i); err != nil {
		a.t.Fatalf("get instance -o json: %v\n%s", err, out)
	}
	return i
}

// running returns the names of the instances whose status is Running.
func running(list []supervisor.Instance) []string {
	var names []string
	for _, i := range list {
		if i.Status == "Running" {
			names = append(names, i.Name)
		}
	}
	return names
}

func summary(list []supervisor.Instance) string {
	var b strings.Builder
	for _, i := range list {
		fmt.Fprintf(&b, "%s %s unit=%s labels=%s restarts=%d pid=%d\n", i.Name, i.Status, i.Unit, i.Labels, i.RestartCount, i.PID)
	}
	return b.String()
}

// processes returns the live (not zombie) processes carrying the agent's
// test tag in their environment, by instance name.
func (a *agent) processes() map[string][]int {
	return taggedProcesses(a.tag)
}

func taggedProcesses(tag string) map[string][]int {
	out := map[string][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil || !bytes.Contains(env, []byte("TEND_TEST_TAG="+tag+"\x00")) {
			continue
		}
		if stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err != nil || zombie(stat) {
			continue
		}
		name := ""
		for _, kv := range bytes.Split(env, []byte{0}) {
			if v, ok := bytes.CutPrefix(kv, []byte("TEND_INSTANCE=")); ok {
				name = string(v)
			}
		}
		out[name] = append(out[name], pid)
	}
	return out
}

func zombie(stat []byte) bool {
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] == 'Z'
}

// killTagged kills what a test left running (only after a failure does
// anything remain).
func killTagged(tag string) {
	for _, pids := range taggedProcesses(tag) {
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// signalAgent sends sig to the agent process.
func (a *agent) signal(sig syscall.Signal) {
	a.t.Helper()
	if err := a.cmd.Process.Signal(sig); err != nil {
		a.t.Fatal(err)
	}
}

// wait waits for the agent to exit and returns its exit code.
func (a *agent) wait() int {
	a.t.Helper()
	select {
	case <-a.exited:
	case <-time.After(30 * time.Second):
		a.t.Fatal("the agent did not exit")
	}
	var ee *exec.ExitError
	if errors.As(a.err, &ee) {
		return ee.ExitCode()
	}
	if a.err != nil {
		a.t.Fatal(a.err)
	}
	return 0
}

// lines is a helper for reading CLI tables.
func lines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
