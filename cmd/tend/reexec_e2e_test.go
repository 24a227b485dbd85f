package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/e2e"
	"github.com/tendhq/tend/supervisor"
)

// The agent re-executes itself under load and its instances do not
// notice: the steady ones keep their pids, restart counts and readiness,
// and every line they write is stored once; the ones that keep failing
// are still supervised, by the new agent, and their restarts counted.
func TestReexecKeepsInstancesAndTheirOutput(t *testing.T) {
	dir := t.TempDir()
	a := e2e.StartAgent(t, dir, "")
	a.WriteUnit("seq", a.HelperUnit("replicated", "replicas = 100", `app = "seq"`, "seq:50ms")+
		"[template.readiness]\nexec = { command = [\"/bin/true\"] }\nperiod = \"10s\"\n")
	a.WriteUnit("flap", a.HelperUnit("replicated", "replicas = 1", `app = "flap"`, "exit:1"))
	a.WriteUnit("sick", a.HelperUnit("replicated", "replicas = 1", `app = "sick"`, "sleep")+
		"[template.liveness]\nexec = { command = [\"/bin/false\"] }\nperiod = \"1s\"\nfailure_threshold = 1\n")

	ready := func() ([]supervisor.Instance, bool, string) {
		list := a.Instances("-l", "app=seq")
		n := 0
		for _, i := range list {
			if i.Status == "Running" && i.Ready {
				n++
			}
		}
		return list, n == 100, fmt.Sprintf("%d of %d ready", n, len(list))
	}
	var before []supervisor.Instance
	a.Eventually("100 seq instances ready", func() (bool, string) {
		var ok bool
		var why string
		before, ok, why = ready()
		return ok, why
	})
	restarts := func(unit string) int {
		n := 0
		for _, i := range a.Instances("-l", "app="+unit) {
			n += i.RestartCount
		}
		return n
	}
	flap0, sick0 := restarts("flap"), restarts("sick")

	// A client that keeps asking throughout, each time on a connection of
	// its own, is never refused, never cut, and never told that an
	// instance is gone: connections made during a handover wait for the
	// successor, which answers once it knows what the old agent ran.
	polled := pollInstances(t, a.Sock, "seq", 100)

	var pid int
	for round := range 3 {
		out := a.Tend("agent", "reexec")
		if !strings.Contains(out, "agent re-executed") {
			t.Fatalf("round %d: tend agent reexec said %q", round, out)
		}
		// The new agent says what the handover cost, in time and in CPU
		// (the process's, which the exec does not reset).
		a.Eventually("the new agent's log of the handover", func() (bool, string) {
			log := a.Log.String()
			return strings.Count(log, "agent re-executed") == round+1 &&
				regexp.MustCompile(`msg="agent re-executed" instances=\d+ took=\S+ handing_over=\S+ taking_over=\S+ cpu=[1-9][0-9.]*m?s`).MatchString(log), log
		})
		v, err := supervisor.NewClient(a.Sock).Version(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if pid != 0 && v.PID != pid {
			t.Fatalf("round %d: the agent's pid changed from %d to %d", round, pid, v.PID)
		}
		pid = v.PID
		// Output keeps coming in, through the new agent's copiers.
		marks := map[string]int{}
		for _, i := range before {
			marks[i.Name], _ = e2e.SeqLog(t, dir, i.Name)
		}
		a.Eventually("every seq instance's output goes on being stored", func() (bool, string) {
			for _, i := range before {
				last, err := e2e.SeqLog(t, dir, i.Name)
				if err != nil {
					t.Fatalf("round %d: %s: %v", round, i.Name, err)
				}
				if last <= marks[i.Name] {
					return false, fmt.Sprintf("%s stuck at line %d", i.Name, last)
				}
			}
			return true, ""
		})
	}

	if answers, problems := polled(); len(problems) > 0 {
		t.Errorf("a client asking during the handovers (%d answers) saw %d problems, the first: %s", answers, len(problems), problems[0])
	} else if answers < 10 {
		t.Errorf("the client asking during the handovers got %d answers", answers)
	}
	after, ok, why := ready()
	if !ok {
		t.Fatalf("after the re-executions: %s", why)
	}
	pids := map[string]supervisor.Instance{}
	for _, i := range after {
		pids[i.Name] = i
	}
	for _, b := range before {
		got, ok := pids[b.Name]
		switch {
		case !ok:
			t.Errorf("%s is gone after the re-executions", b.Name)
		case got.PID != b.PID:
			t.Errorf("%s: pid %d became %d: the instance was restarted", b.Name, b.PID, got.PID)
		case got.RestartCount != b.RestartCount:
			t.Errorf("%s: restart count %d became %d", b.Name, b.RestartCount, got.RestartCount)
		}
	}
	// The failing ones are the new agent's: it sees them fail and
	// restarts them, counting each restart once.
	a.Eventually("the flapping and the sick instance are restarted by the new agent", func() (bool, string) {
		f, s := restarts("flap"), restarts("sick")
		return f > flap0 && s > sick0, fmt.Sprintf("flap restarts %d (was %d), sick %d (was %d)", f, flap0, s, sick0)
	})
	// And the re-executed agent still stops everything on SIGTERM.
	a.Signal(syscall.SIGTERM)
	if code := a.Wait(); code != 0 {
		t.Fatalf("agent exited %d after SIGTERM", code)
	}
	if p := a.Processes(); len(p) != 0 {
		t.Fatalf("instances left running after SIGTERM of the re-executed agent: %v", p)
	}
}

// A binary that cannot take over is refused before anything is handed
// over: the agent goes on as it was, and says why.
func TestReexecRefusesABinaryThatCannotTakeOver(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(t.TempDir(), "tend")
	src, err := os.ReadFile(e2e.TendBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, src, 0o755); err != nil {
		t.Fatal(err)
	}
	// With a CPU profile on: its timer survives exec, and its SIGPROF
	// killed a successor that had no handler yet.
	profile := filepath.Join(t.TempDir(), "cpu.prof")
	a := e2e.StartAgentBin(t, nil, exe, dir, "", "--cpu-profile", profile)
	a.WriteUnit("kubia", a.HelperUnit("replicated", "replicas = 2", `app = "kubia"`, "sleep"))
	before := a.WaitRunning("kubia", 2)
	v, err := supervisor.NewClient(a.Sock).Version(t.Context())
	if err != nil {
		t.Fatal(err)
	}

	// The agent's binary is replaced, as a package upgrade does (a new
	// file renamed over the old), by one that does not run.
	install := func(data []byte) {
		t.Helper()
		if err := os.WriteFile(exe+".new", data, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(exe+".new", exe); err != nil {
			t.Fatal(err)
		}
	}
	install([]byte("#!/bin/sh\necho 'not this one' >&2\nexit 3\n"))

	out, errOut, err := a.Run("agent", "reexec")
	if err == nil || !strings.Contains(errOut, "re-execution refused") || !strings.Contains(errOut, "not this one") {
		t.Fatalf("reexec with a broken binary: err %v\n%s%s", err, out, errOut)
	}
	after := a.WaitRunning("kubia", 2)
	for k := range before {
		if after[k].PID != before[k].PID {
			t.Fatalf("instances restarted by a refused re-execution: %v → %v", before, after)
		}
	}
	v2, err := supervisor.NewClient(a.Sock).Version(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !v2.Started.Equal(v.Started) {
		t.Fatalf("the agent re-executed although refused: started %v, now %v", v.Started, v2.Started)
	}
	// A refused handover, asked for over the API or with SIGUSR2, leaves
	// the unit directory watched again (its watch is paused for the
	// check): a unit written after it runs.
	a.WriteUnit("after-api", a.HelperUnit("replicated", "replicas = 1", `app = "after-api"`, "sleep"))
	a.WaitRunning("after-api", 1)
	a.Cmd.Process.Signal(syscall.SIGUSR2)
	a.Eventually("SIGUSR2's re-execution refused", func() (bool, string) {
		log := a.Log.String()
		return strings.Count(log, "re-execution refused; the agent goes on") == 1, log
	})
	a.WriteUnit("after-signal", a.HelperUnit("replicated", "replicas = 1", `app = "after-signal"`, "sleep"))
	a.WaitRunning("after-signal", 1)

	// The upgrade done right: the new binary at the path is the one
	// executed, not the deleted file the agent was started from.
	install(src)
	if out := a.Tend("agent", "reexec"); !strings.Contains(out, "agent re-executed") {
		t.Fatalf("tend agent reexec said %q", out)
	}
	link, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", v.PID))
	if err != nil || link != exe {
		t.Fatalf("after the upgrade the agent runs %q (%v), want %s", link, err, exe)
	}
	after = a.WaitRunning("kubia", 2)
	for k := range before {
		if after[k].PID != before[k].PID {
			t.Fatalf("instances restarted by the upgrade: %v → %v", before, after)
		}
	}

	// A stop in progress is handed over too: the new agent sends the
	// SIGKILL when stop_timeout (2s) is up, and removes the instance.
	a.WriteUnit("stubborn", a.HelperUnit("replicated", "replicas = 1", `app = "stubborn"`, "ignore-term"))
	stubborn := a.WaitRunning("stubborn", 1)[0]
	a.Tend("delete", "po", stubborn.Name, "--wait=false")
	a.Tend("agent", "reexec")
	a.Eventually("the stubborn instance is killed and removed by the new agent", func() (bool, string) {
		for _, i := range a.Instances() {
			if i.Name == stubborn.Name {
				return false, i.Status
			}
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", stubborn.PID))
		return err != nil || e2e.Zombie(b), "its process still runs"
	})
}

// The old agent's collector is off from the moment its handover begins
// to the exec: a collection there keeps the API away for its time.
// GOGC=1 makes the pacer start one at almost every allocation; the
// handover's log shows how many it has started at each stage, and the
// count may not move between its first stage and its last before the
// exec.
func TestAHandoverRunsNoCollection(t *testing.T) {
	t.Setenv("GOGC", "1")
	a := e2e.StartAgentBin(t, nil, e2e.TendBin, "", "", "--log-level", "debug")
	a.WriteUnit("web", a.HelperUnit("replicated", "replicas = 200", `app = "web"`, "sleep"))
	a.WaitRunning("web", 200)
	quiet := regexp.MustCompile(`msg=handover stage="API quiet" since=\S+ collections=(\d+)`)
	closed := regexp.MustCompile(`msg=handover stage="store closed" since=\S+ collections=(\d+)`)
	for round := range 5 {
		if out := a.Tend("agent", "reexec"); !strings.Contains(out, "agent re-executed") {
			t.Fatalf("tend agent reexec said %q", out)
		}
		var first, last [][]string
		a.Eventually("the handover's stages in the log", func() (bool, string) {
			log := a.Log.String()
			first, last = quiet.FindAllStringSubmatch(log, -1), closed.FindAllStringSubmatch(log, -1)
			return len(first) == round+1 && len(last) == round+1, log
		})
		if first[round][1] != last[round][1] {
			t.Fatalf("round %d: %s collections when the API went quiet, %s when the store was closed: the collector ran during the handover",
				round, first[round][1], last[round][1])
		}
		if round == 0 && first[0][1] == "0" {
			t.Fatal("the agent had collected nothing before its handover: GOGC=1 did not take, and the test shows nothing")
		}
	}
}

// In a fleet a re-execution is no departure: the host does not leave, the
// others never see it NotReady, and nothing is placed elsewhere.
func TestReexecInAFleetMovesNothing(t *testing.T) {
	fleet := e2e.StartFleet(t, 2)
	a, b := fleet[0], fleet[1]
	path := filepath.Join(a.Dir, "web.toml")
	e2e.WriteFile(t, path, a.HelperUnit("replicated", "replicas = 2", `app = "web"`, "sleep"))
	a.Tend("apply", "-f", path)
	var before []supervisor.Instance
	a.Eventually("one replica on each host", func() (bool, string) {
		before = a.Instances("-l", "app=web")
		hosts := map[string]bool{}
		for _, i := range before {
			if i.Status == "Running" {
				hosts[i.Host] = true
			}
		}
		return len(before) == 2 && hosts["h0"] && hosts["h1"], e2e.Summary(before)
	})
	for range 3 {
		if out := b.Tend("agent", "reexec"); !strings.Contains(out, "agent re-executed") {
			t.Fatalf("tend agent reexec on h1 said %q", out)
		}
		b.Eventually("h1 sees both hosts Ready again", func() (bool, string) {
			got := b.Tend("get", "hosts")
			return strings.Count(got, " Ready ") == 2, got
		})
	}
	a.Eventually("h0 sees both replicas again, unchanged", func() (bool, string) {
		after := a.Instances("-l", "app=web")
		if len(after) != 2 {
			return false, e2e.Summary(after)
		}
		for k := range after {
			if after[k].Name != before[k].Name || after[k].PID != before[k].PID || after[k].Status != "Running" {
				return false, e2e.Summary(after)
			}
		}
		return true, ""
	})
	if ev := a.Tend("get", "events"); strings.Contains(ev, "NodeNotReady") || strings.Contains(ev, "NodeLeft") {
		t.Fatalf("h0 saw h1 go during its re-executions:\n%s", ev)
	}
}

// pollInstances asks POST /v1/debug/resync (a pass of the loop) and GET
// /v1/instances over sock until the returned function is called, each
// time on a new connection, and checks each answer for want instances
// labelled app=label. The function returns
// how many answers came and what was wrong with the others.
func pollInstances(t *testing.T, sock, label string, want int) func() (answers int, problems []string) {
	c := &http.Client{Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
	}}
	stop := make(chan struct{})
	done := make(chan struct{})
	var answers int
	var problems []string
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			// A request the loop answers, and one the view does.
			resp, err := c.Post("http://tend/v1/debug/resync", "", nil)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					problems = append(problems, "POST /v1/debug/resync: "+resp.Status)
				}
				resp, err = c.Get("http://tend/v1/instances")
			}
			if err != nil {
				problems = append(problems, err.Error())
				continue
			}
			var list []supervisor.Instance
			err = json.NewDecoder(resp.Body).Decode(&list)
			resp.Body.Close()
			n := 0
			for _, i := range list {
				if i.Labels["app"] == label {
					n++
				}
			}
			switch {
			case resp.StatusCode != http.StatusOK || err != nil:
				problems = append(problems, fmt.Sprintf("%s (%v)", resp.Status, err))
			case n != want:
				problems = append(problems, fmt.Sprintf("%d instances app=%s listed, want %d", n, label, want))
			default:
				answers++
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	var once sync.Once
	return func() (int, []string) {
		once.Do(func() { close(stop); <-done })
		return answers, problems
	}
}
