// Package e2e is the end-to-end harness: the tests build the real tend
// binary, run a real agent in a temporary directory, and drive it only
// through the CLI. The workloads are the test binary itself, re-executed
// with TEND_TEST_HELPER set (see HelperMain). A test package that uses it
// calls Main from its TestMain.
//
// It is a package of its own, not a _test file, so that end-to-end tests
// can live in packages of their own and run beside cmd/tend's.
package e2e

import (
	"bufio"
	"bytes"
	"context"
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
	"github.com/tendhq/tend/supervisor/objects"
)

var (
	TendBin   string // the built tend binary
	HelperBin string // this test binary, as the workload
)

// Main builds tend and kubia, runs the tests and exits; in the test binary
// Run as a workload (TEND_TEST_HELPER set) it is that workload instead.
func Main(m *testing.M) {
	if mode := os.Getenv("TEND_TEST_HELPER"); mode != "" {
		os.Exit(HelperMain(mode))
	}
	dir, err := os.MkdirTemp("", "tend-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	TendBin = filepath.Join(dir, "tend")
	args := []string{"build", "-o", TendBin}
	if RaceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "github.com/tendhq/tend/cmd/tend")...)
	build.Env = append(os.Environ(), "GOFLAGS=-buildvcs=false")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building tend: %v\n%s", err, out)
		os.Exit(1)
	}
	kubia := exec.Command("go", "build", "-o", filepath.Join(dir, "kubia"), "github.com/tendhq/tend/cmd/kubia")
	kubia.Env = build.Env
	if out, err := kubia.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building kubia: %v\n%s", err, out)
		os.Exit(1)
	}
	if HelperBin, err = os.Executable(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// HelperMain is the workload the tests supervise. Modes:
//
//	sleep          print "started NAME", then wait for a signal
//	ignore-term    the same, ignoring SIGTERM (only SIGKILL ends it)
//	exit:N         print "exiting N" and exit with status N
//	seq:D          print 1, 2, 3, ... a line every D, forever
//	attempt:D      write "start NAME HOST" to $TEND_TEST_LEDGER, work for
//	               D, write "done NAME HOST", exit 0
//	flap:PATH      write "start NAME HOST" to $TEND_TEST_LEDGER; exit 1
//	               at once while PATH does not exist, else sleep
//	alive:D        write "alive NAME HOST PID TOKEN T" to $TEND_TEST_LEDGER
//	               every D, T being CLOCK_BOOTTIME in ns, TOKEN
//	               $TEND_FENCING_TOKEN: the instance's own account of when
//	               it ran
func HelperMain(mode string) int {
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
		ledger(name, "start")
		time.Sleep(d)
		ledger(name, "done")
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
	case strings.HasPrefix(mode, "flap:"):
		ledger(name, "start")
		if _, err := os.Stat(strings.TrimPrefix(mode, "flap:")); err != nil {
			fmt.Println("flapping")
			return 1
		}
		fmt.Printf("started %s pid %d\n", name, os.Getpid())
		select {}
	case strings.HasPrefix(mode, "alive:"):
		d, err := time.ParseDuration(strings.TrimPrefix(mode, "alive:"))
		if err != nil {
			fmt.Fprintln(os.Stderr, "bad helper mode", mode)
			return 100
		}
		for {
			ledger(name, fmt.Sprintf("alive %s %s %d %s %d", name, os.Getenv("TEND_HOST"), os.Getpid(), os.Getenv("TEND_FENCING_TOKEN"), supervisor.BootTime()), true)
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

// ledger writes "WHAT NAME HOST" (or what alone, when whole) to the file
// TEND_TEST_LEDGER names (every host of a fleet shares it), when it names
// one: a line a write, appended.
func ledger(name, what string, whole ...bool) {
	path := os.Getenv("TEND_TEST_LEDGER")
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err == nil {
		if len(whole) > 0 && whole[0] {
			fmt.Fprintf(f, "%s\n", what)
		} else {
			fmt.Fprintf(f, "%s %s %s\n", what, name, os.Getenv("TEND_HOST"))
		}
		f.Close()
	}
}

// LockedBuffer collects the agent's stderr for failure messages.
type LockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Agent is a real `tend agent --dev` in a temporary directory.
type Agent struct {
	T      *testing.T
	Dir    string
	Sock   string
	Cmd    *exec.Cmd
	Log    *LockedBuffer
	Exited chan struct{}
	Err    error  // the agent's exit, once Exited is closed
	Tag    string // in the environment of the agent's instances (TEND_TEST_TAG)
}

// StartAgent starts an agent in dir (a new temporary one when "") and
// waits until its socket answers.
func StartAgent(t *testing.T, dir string, extraConfig string) *Agent {
	t.Helper()
	return StartAgentOn(t, nil, dir, extraConfig)
}

// StartAgentOn is StartAgent on host, a host made of namespaces (the
// agent is its PID 1), or on this machine when host is nil.
func StartAgentOn(t *testing.T, host *clustertest.Host, dir string, extraConfig string) *Agent {
	t.Helper()
	return StartAgentBin(t, host, TendBin, dir, extraConfig)
}

// StartAgentBin is StartAgentOn with the agent's binary bin, and flags
// for `tend agent` after --dev.
func StartAgentBin(t *testing.T, host *clustertest.Host, bin, dir string, extraConfig string, flags ...string) *Agent {
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
	a := &Agent{
		T:      t,
		Dir:    dir,
		Sock:   filepath.Join(dir, ".tend", "tend.sock"),
		Log:    &LockedBuffer{},
		Exited: make(chan struct{}),
		Tag:    fmt.Sprintf("%s-%d", t.Name(), time.Now().UnixNano()),
	}
	args := append([]string{"agent", "--dev"}, flags...)
	if host != nil {
		a.Cmd = host.Command(bin, args...)
	} else {
		a.Cmd = exec.Command(bin, args...)
		a.Cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	a.Cmd.Dir = dir
	// The demo server (kubia) is found in PATH, as the examples expect.
	a.Cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(TendBin)+":"+os.Getenv("PATH"))
	a.Cmd.Stdout = a.Log
	a.Cmd.Stderr = a.Log
	a.Cmd.SysProcAttr.Setpgid = true
	if err := a.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { a.Err = a.Cmd.Wait(); close(a.Exited) }()
	t.Cleanup(func() {
		select {
		case <-a.Exited:
		default:
			a.Cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-a.Exited:
			case <-time.After(20 * time.Second):
				a.Cmd.Process.Kill()
				<-a.Exited
			}
		}
		KillTagged(a.Tag)
		RemoveCgroups(dir)
		if t.Failed() {
			t.Logf("agent log:\n%s", a.Log.String())
			a.LogRunLogs()
		}
	})
	a.Eventually("the agent answers", func() (bool, string) {
		out, errOut, err := a.Run("version")
		return err == nil, out + errOut
	})
	return a
}

// LogRunLogs logs every file in the agent's instance log directory
// (each run's output, the previous ones too), for a failure message: an
// Instance's own stderr often says why it exited.
func (a *Agent) LogRunLogs() {
	root := filepath.Join(a.Dir, ".tend", "state", "logs")
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			a.T.Logf("%s: %v", path, err)
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		a.T.Logf("instance log %s:\n%s", rel, b)
		return nil
	})
}

// Run runs the CLI against the agent.
func (a *Agent) Run(args ...string) (stdout, stderr string, err error) {
	cmd := exec.Command(TendBin, args...)
	cmd.Env = append(os.Environ(), "TEND_SOCKET="+a.Sock, CLIRaceEnv())
	cmd.Dir = a.Dir
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// Tend runs the CLI and fails the test when it fails.
func (a *Agent) Tend(args ...string) string {
	a.T.Helper()
	out, errOut, err := a.Run(args...)
	if err != nil {
		a.T.Fatalf("tend %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// Eventually polls cond until it holds or 20 s pass.
func (a *Agent) Eventually(what string, cond func() (bool, string)) {
	a.T.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last string
	for {
		ok, info := cond()
		if ok {
			return
		}
		last = info
		if time.Now().After(deadline) {
			a.T.Fatalf("timed out waiting until %s; last seen:\n%s", what, last)
		}
		select {
		case <-a.Exited:
			a.T.Fatalf("the agent exited (%v) while waiting until %s", a.Err, what)
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// WriteUnit writes a unit file into the agent's unit directory.
func (a *Agent) WriteUnit(name, text string) {
	a.T.Helper()
	if err := os.WriteFile(filepath.Join(a.Dir, "units", name+".toml"), []byte(text), 0o644); err != nil {
		a.T.Fatal(err)
	}
}

// HelperUnit is a unit file running the helper in mode.
func (a *Agent) HelperUnit(kind, extra, labels, mode string) string {
	return fmt.Sprintf(`kind = %q
%s
[template]
labels = { %s }
command = [%q]
env = { TEND_TEST_HELPER = %q, TEND_TEST_TAG = %q }
restart_delay = "0s"
stop_timeout = "2s"
`, kind, extra, labels, HelperBin, mode, a.Tag)
}

// Instances lists the instances, as the CLI prints them in JSON.
func (a *Agent) Instances(args ...string) []supervisor.Instance {
	a.T.Helper()
	out := a.Tend(append([]string{"get", "instances", "-o", "json"}, args...)...)
	var list struct {
		Items []objects.Instance `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		a.T.Fatalf("get -o json: %v\n%s", err, out)
	}
	var ins []supervisor.Instance
	for _, o := range list.Items {
		ins = append(ins, instanceOf(o))
	}
	return ins
}

// Instance is one instance, as the CLI prints it in JSON.
func (a *Agent) Instance(name string) supervisor.Instance {
	a.T.Helper()
	out := a.Tend("get", "instance", name, "-o", "json")
	var o objects.Instance
	if err := json.Unmarshal([]byte(out), &o); err != nil {
		a.T.Fatalf("get instance -o json: %v\n%s", err, out)
	}
	return instanceOf(o)
}

// WaitRunning waits until n instances of unit run, and returns them.
func (a *Agent) WaitRunning(unit string, n int) []supervisor.Instance {
	a.T.Helper()
	var list []supervisor.Instance
	a.Eventually(fmt.Sprintf("%d instances of %s run", n, unit), func() (bool, string) {
		list = nil
		for _, i := range a.Instances() {
			if i.Unit == unit && !strings.HasPrefix(i.Status, "Terminating") {
				list = append(list, i)
			}
		}
		return len(list) == n && len(Running(list)) == n, Summary(list)
	})
	return list
}

// SeqLog checks the stored output of a seq:D instance: every line the
// next number from 1, none lost, none twice. It returns the last.
func SeqLog(t *testing.T, dir, instance string) (last int, err error) {
	last, gaps, err := SeqLogGaps(t, dir, instance)
	if err == nil && gaps > 0 {
		err = fmt.Errorf("%d gaps: lines lost", gaps)
	}
	return last, err
}

// SeqLogGaps is SeqLog that counts the places where lines were lost
// instead of failing there; a line stored twice (or out of order) is
// still an error.
func SeqLogGaps(t *testing.T, dir, instance string) (last, gaps int, err error) {
	logs := filepath.Join(dir, ".tend", "state", "logs", instance)
	for _, name := range []string{"current.log.1", "current.log"} {
		data, err := os.ReadFile(filepath.Join(logs, name))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return last, gaps, err
		}
		text := string(data)
		// current.log is being written as it is read: a read can see the
		// start of a line the writer has not ended yet, and even part of
		// one write. That line is not checked until it is whole (a later
		// look sees it so, or sees it torn). A rotated file is whole.
		if i := strings.LastIndexByte(text, '\n'); name == "current.log" && i < len(text)-1 {
			text = text[:i+1]
		}
		for _, line := range strings.SplitAfter(text, "\n") {
			if line == "" {
				continue
			}
			stamp, num, ok := strings.Cut(strings.TrimSuffix(line, "\n"), " ")
			n, err := strconv.Atoi(num)
			if _, terr := time.Parse(time.RFC3339Nano, stamp); !ok || err != nil || terr != nil || !strings.HasSuffix(line, "\n") {
				return last, gaps, fmt.Errorf("%s: line %q after %d: not a time stamp and a number", name, line, last)
			}
			if n <= last {
				return last, gaps, fmt.Errorf("%s: %d after %d: lines stored twice", name, n, last)
			}
			if n != last+1 {
				gaps++
			}
			last = n
		}
	}
	return last, gaps, nil
}

// KillAndTakeOver kills the agent with SIGKILL, starts another on its
// directory with its tag, and fails the test unless the new one has taken
// over the instances of unit that ran before (before: same names and
// pids, no restart). It returns the new agent.
func (a *Agent) KillAndTakeOver(unit string, before []supervisor.Instance) *Agent {
	a.T.Helper()
	a.Signal(syscall.SIGKILL)
	a.Wait()
	b := StartAgent(a.T, a.Dir, "")
	b.Tag = a.Tag
	after := b.WaitRunning(unit, len(before))
	for k := range before {
		if after[k].Name != before[k].Name || after[k].PID != before[k].PID || after[k].RestartCount != 0 {
			a.T.Fatalf("the runs were not taken over after kill -9:\nbefore %s\nafter  %s", Summary(before), Summary(after))
		}
	}
	return b
}

// Running returns the names of the instances whose status is Running.
func Running(list []supervisor.Instance) []string {
	var names []string
	for _, i := range list {
		if i.Status == "Running" {
			names = append(names, i.Name)
		}
	}
	return names
}

// Summary is one line an instance, for a failure message.
func Summary(list []supervisor.Instance) string {
	var b strings.Builder
	for _, i := range list {
		fmt.Fprintf(&b, "%s %s unit=%s labels=%s restarts=%d pid=%d\n", i.Name, i.Status, i.Unit, i.Labels, i.RestartCount, i.PID)
	}
	return b.String()
}

// Processes returns the live (not zombie) processes carrying the agent's
// test tag in their environment, by instance name.
func (a *Agent) Processes() map[string][]int {
	return TaggedProcesses(a.Tag)
}

// TaggedProcesses are the live processes with TEND_TEST_TAG=tag in their
// environment, by instance name: the instances' own, not the shims that
// a job's attempts run under (ShimChild), which carry the attempt's
// environment too.
func TaggedProcesses(tag string) map[string][]int {
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
		if stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err != nil || Zombie(stat) {
			continue
		}
		if isShim(pid) {
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

// isShim reports whether pid is a job attempt's shim (`tend shim ...`).
func isShim(pid int) bool {
	cmd, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	args := bytes.Split(cmd, []byte{0})
	return len(args) > 1 && string(args[1]) == supervisor.ShimVerb
}

// ShimChild is the process a job attempt's shim pid runs the attempt's
// command as (an instance's PID is its shim's), 0 when it has none.
func ShimChild(pid int) int {
	if c := supervisor.Children(pid); len(c) == 1 {
		return c[0]
	}
	return 0
}

// Zombie reports whether a /proc/PID/stat says the process has exited.
func Zombie(stat []byte) bool {
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] == 'Z'
}

// RemoveCgroups removes the cgroups that agents in dir (--dev) made,
// their base included, once none of them runs: an agent killed with
// SIGKILL leaves its base behind, and the base of a state directory that
// is then deleted would stay on the machine for good (a test run left a
// hundred). What still runs in them is killed. Without cgroups it does
// nothing, and under systemd too: there OpenCgroups may take the calling
// process's own delegated cgroup, which is not the test's to empty.
func RemoveCgroups(dir string) {
	if os.Getenv("INVOCATION_ID") != "" {
		return
	}
	cg, err := supervisor.OpenCgroups(supervisor.DevConfig(dir).StateDir)
	if err != nil {
		return
	}
	cg.RemoveLeftovers(context.Background(), 10*time.Second)
	cg.Close()
}

// KillTagged kills what a test left running (only after a failure does
// anything remain).
func KillTagged(tag string) {
	for _, pids := range TaggedProcesses(tag) {
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// Signal sends sig to the agent process.
func (a *Agent) Signal(sig syscall.Signal) {
	a.T.Helper()
	if err := a.Cmd.Process.Signal(sig); err != nil {
		a.T.Fatal(err)
	}
}

// Wait waits for the agent to exit and returns its exit code.
func (a *Agent) Wait() int {
	a.T.Helper()
	select {
	case <-a.Exited:
	case <-time.After(30 * time.Second):
		a.T.Fatal("the agent did not exit")
	}
	var ee *exec.ExitError
	if errors.As(a.Err, &ee) {
		return ee.ExitCode()
	}
	if a.Err != nil {
		a.T.Fatal(a.Err)
	}
	return 0
}

// Lines is a helper for reading CLI tables.
func Lines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

// WriteFile writes text to path, failing the test when it cannot.
func WriteFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// FreeGossipPort is a loopback port free for TCP and UDP just now.
func FreeGossipPort(t *testing.T) int {
	t.Helper()
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err == nil {
			u.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// StartFleet starts n agents named h0, h1, ... gossiping on loopback, the
// later ones joining the first, all with the same gossip key.
func StartFleet(t *testing.T, n int) []*Agent {
	t.Helper()
	return StartFleetOn(t, make([]*clustertest.Host, n), "local")
}

// StartFleetOn starts an agent on each of hosts, named after its index
// (h0, h1, ...), with the gossip profile given; a nil host is loopback on
// this machine. The later ones join the first; all have the cluster's
// secrets, each its own copy, as in a fleet.
func StartFleetOn(t *testing.T, hosts []*clustertest.Host, profile string) []*Agent {
	t.Helper()
	return StartFleetWith(t, hosts, profile, "")
}

// StartFleetWith is StartFleetOn with cluster, more keys of each host's
// [cluster] table (`voters = [...]`).
func StartFleetWith(t *testing.T, hosts []*clustertest.Host, profile, cluster string) []*Agent {
	t.Helper()
	n := len(hosts)
	keys := t.TempDir()
	if out, err := exec.Command(TendBin, "keygen", keys).CombinedOutput(); err != nil {
		t.Fatalf("tend keygen: %v\n%s", err, out)
	}
	addr := func(k int) (gossip, api string) {
		if h := hosts[k]; h != nil {
			return h.Addr + ":7946", h.Addr + ":7947"
		}
		return fmt.Sprintf("127.0.0.1:%d", FreeGossipPort(t)), "127.0.0.1:0"
	}
	var first string
	var out []*Agent
	for k := range n {
		hostKeys := t.TempDir()
		CopyDir(t, keys, hostKeys)
		bind, api := addr(k)
		join := ""
		if k == 0 {
			first = bind
		} else {
			join = fmt.Sprintf("join = [%q]\n", first)
		}
		cfg := fmt.Sprintf("name = \"h%d\"\n[cluster]\nbind = %q\napi = %q\n%sprofile = %q\nname = \"test\"\nkeys_dir = %q\n%s\n", k, bind, api, join, profile, hostKeys, cluster)
		out = append(out, StartAgentOn(t, hosts[k], "", cfg))
	}
	for _, a := range out {
		a.Eventually("every host Ready", func() (bool, string) {
			got := a.Tend("get", "hosts")
			return strings.Count(got, " Ready ") == n, got
		})
	}
	return out
}

// CopyDir copies the files of one directory (not below) into another.
func CopyDir(t *testing.T, from, to string) {
	t.Helper()
	ents, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// CLIRaceEnv is the GORACE of a CLI command a test runs: under -race a
// process waits a second when it exits (atexit_sleep_ms) for reports
// still being written, and the tests run the CLI thousands of times. A
// race the command finds still fails it: its exit status is 66.
func CLIRaceEnv() string {
	return "GORACE=" + strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0")
}
