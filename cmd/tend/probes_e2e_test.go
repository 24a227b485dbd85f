package main

import (
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/tendhq/tend/internal/e2e"
	"github.com/tendhq/tend/supervisor"
)

// The seed's first experiment (4.1.2): kubia-unhealthy answers 500 from
// its sixth request on; its liveness probe fails three times in a row,
// the instance is killed and restarted, and describe shows it as the book
// does.

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestKubiaLivenessExample(t *testing.T) {
	a := e2e.StartAgent(t, "", "")
	src, err := os.ReadFile("../../examples/kubia-liveness.toml")
	if err != nil {
		t.Fatal(err)
	}
	// The example as it is, on a free port and with probes every 200ms
	// instead of every 10s, so the test takes seconds.
	port := fmt.Sprint(freePort(t))
	text := strings.ReplaceAll(string(src), "8080", port)
	text = strings.Replace(text, "[template.liveness]\n", "[template.liveness]\nperiod = \"200ms\"\n", 1)
	file := t.TempDir() + "/kubia-liveness.toml"
	e2e.WriteFile(t, file, text)
	a.Tend("apply", "-f", file)

	var name string
	a.Eventually("the instance was killed and restarted twice", func() (bool, string) {
		for _, i := range a.Instances() {
			name = i.Name
			return i.RestartCount >= 2 && i.Status == "Running", fmt.Sprintf("%+v", i)
		}
		return false, "no instance"
	})
	// The instance goes round kill and restart every couple of seconds:
	// look until one describe catches it running.
	wants := []string{
		`State:\s+Running`,
		`Last State:\s+Terminated`,
		`Reason:\s+Error`,
		`Exit Code:\s+137`,
		`Restart Count:\s+[2-9]`,
		`Liveness:\s+http-get http://:` + port + `/ delay=0s timeout=1s period=200ms #success=1 #failure=3`,
		`Warning\s+Unhealthy\s+.*\(x\d+ over .*\)\s+.*Liveness probe failed: HTTP probe failed with statuscode: 500`,
		`Normal\s+Killing\s+.*Container kubia-liveness failed liveness probe, will be restarted`,
	}
	a.Eventually("describe shows the book's picture", func() (bool, string) {
		out := a.Tend("describe", "po", name)
		for _, want := range wants {
			if !regexp.MustCompile(want).MatchString(out) {
				return false, "lacks " + want + ":\n" + out
			}
		}
		return true, ""
	})
	prev := a.Tend("logs", name, "--previous")
	if !strings.Contains(prev, "Kubia server starting") || !strings.Contains(prev, "Received request") {
		t.Fatalf("logs --previous:\n%s", prev)
	}
}

func TestReadinessByNotifyS6AndExec(t *testing.T) {
	a := e2e.StartAgent(t, "", "")
	a.WriteUnit("notify", a.HelperUnit("replicated", "replicas = 1", `app = "notify"`, "notify")+
		"[template.readiness]\nnotify = true\n")
	a.WriteUnit("s6", a.HelperUnit("replicated", "replicas = 1", `app = "s6"`, "s6-ready")+
		"[template.readiness]\nnotification_fd = 3\n")
	a.WriteUnit("never", a.HelperUnit("replicated", "replicas = 1", `app = "never"`, "sleep")+
		fmt.Sprintf("[template.readiness]\nexec = { command = [\"/bin/sh\", \"-c\", \"exit 1\"] }\nperiod = \"100ms\"\n"))
	// An exec probe runs in its instance's environment (the unit's env).
	a.WriteUnit("envexec", a.HelperUnit("replicated", "replicas = 1", `app = "envexec"`, "sleep")+
		"[template.readiness]\nexec = { command = [\"/bin/sh\", \"-c\", 'test \"$TEND_TEST_HELPER\" = sleep'] }\nperiod = \"100ms\"\n")
	a.Eventually("notify, s6 and envexec ready, the failing exec one not", func() (bool, string) {
		ready := map[string]bool{}
		status := ""
		for _, i := range a.Instances() {
			ready[i.Unit] = i.Ready && i.Status == "Running"
			if i.Unit == "notify" {
				status = i.NotifyStatus
			}
		}
		return ready["notify"] && ready["s6"] && ready["envexec"] && !ready["never"] && status == "serving requests", fmt.Sprint(ready, status)
	})
	out := a.Tend("get", "po")
	if !regexp.MustCompile(`never-\S+\s+0/1\s+Running`).MatchString(out) || !regexp.MustCompile(`notify-\S+\s+1/1\s+Running`).MatchString(out) {
		t.Fatalf("get po:\n%s", out)
	}
	a.Eventually("the failing readiness probe is an event", func() (bool, string) {
		out := a.Tend("get", "events")
		return strings.Contains(out, "Readiness probe failed"), out
	})
}

func TestWatchdogKillsASilentInstance(t *testing.T) {
	a := e2e.StartAgent(t, "", "")
	a.WriteUnit("silent", a.HelperUnit("replicated", "replicas = 1", `app = "silent"`, "sleep")+
		"[template.liveness]\nwatchdog = \"300ms\"\n")
	a.Eventually("restarted by the watchdog", func() (bool, string) {
		for _, i := range a.Instances() {
			return i.RestartCount >= 1, fmt.Sprintf("%+v", i)
		}
		return false, ""
	})
	out := a.Tend("get", "events")
	if !strings.Contains(out, "failed liveness probe, will be restarted") || !strings.Contains(out, "watchdog") {
		t.Fatalf("events:\n%s", out)
	}
}

// mainPIDEvent is the event that a forking daemon's child has become its
// instance's main process.
var mainPIDEvent = regexp.MustCompile(`(\d+) \(MAINPID=\) is now the main process`)

func TestMainPIDFollowsAForkingDaemon(t *testing.T) {
	a := e2e.StartAgent(t, "", "")
	a.WriteUnit("daemon", a.HelperUnit("replicated", "replicas = 1", `app = "daemon"`, "forking-daemon")+
		"[template.readiness]\nnotify = true\n")
	var inst supervisor.Instance
	a.Eventually("the forked process is the main one", func() (bool, string) {
		for _, i := range a.Instances() {
			// READY=1 comes with MAINPID=, before the first process has
			// exited and its child has become the main one; and events
			// show before the instance's new state does. Wait for the
			// instance to show the pid that the event names.
			d := a.Tend("describe", "po", i.Name)
			m := mainPIDEvent.FindStringSubmatch(d)
			if m == nil {
				return false, d
			}
			inst = a.Instance(i.Name)
			return inst.Status == "Running" && inst.Ready && inst.RestartCount == 0 &&
				strconv.Itoa(inst.PID) == m[1], fmt.Sprintf("%s\n%+v", d, inst)
		}
		return false, "no instance"
	})
	a.Eventually("the main process is the one that printed its pid", func() (bool, string) {
		logs := a.Tend("logs", inst.Name)
		return strings.Contains(logs, fmt.Sprintf("pid %d", inst.PID)), logs
	})
	// Its end is the run's end.
	syscall.Kill(inst.PID, syscall.SIGKILL)
	a.Eventually("restarted after the main process died", func() (bool, string) {
		i := a.Instance(inst.Name)
		return i.RestartCount == 1 && i.LastState.ExitCode == 137, fmt.Sprintf("%+v", i)
	})
}
