package supervisor

import (
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tendhq/tend/probes"
	"github.com/tendhq/tend/units"
)

func init() {
	// notify:MSG sends MSG to $NOTIFY_SOCKET as soon as it starts, then
	// sleeps.
	helpers["notify"] = func(msg string) int {
		c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: os.Getenv("NOTIFY_SOCKET"), Net: "unixgram"})
		if err != nil {
			return 2
		}
		c.Write([]byte(msg))
		c.Close()
		time.Sleep(10 * time.Minute)
		return 0
	}
}

// A WATCHDOG= message sent the moment the process starts, before the
// agent has finished setting up the run, reaches the watchdog: here
// WATCHDOG=trigger kills the instance at once, though its watchdog
// timeout is an hour. (The watchdog used to be set after the notify
// socket was let through, a data race that -race reports and that lost
// such a message.)
func TestWatchdogMessageSentAtOnceIsNotLost(t *testing.T) {
	a := startTestAgent(t, t.TempDir(), newFakeClock())
	a.apply("early", "kind = \"replicated\"\n[template.liveness]\nwatchdog = \"1h\"", "notify:WATCHDOG=trigger")
	a.waitFor("the watchdog's kill", func() bool {
		for _, e := range a.sup.Events(KindInstance, "") {
			if e.Reason == "Killing" && strings.Contains(e.Message, "failed liveness probe") {
				return true
			}
		}
		return false
	})
}

// A unit's env replaces what the agent passes on (PATH here), and tend's
// own variables replace the unit's: each name once, or a Go or C program
// would see the first. The rest of the agent's environment is its own:
// GOGC and GOMEMLIMIT, which the README suggests for the agent on a small
// host, must not tune every Go program it runs.
func TestAUnitsEnvReplacesTheAgents(t *testing.T) {
	r := &runner{env: []string{"PATH=/agent/bin", "HOME=/root", "LANG=C", "GOGC=50", "GOMEMLIMIT=64MiB"}, host: "edge-1", agentID: "a1"}
	u := &units.Unit{Name: "web"}
	u.Template.Env = map[string]string{"PATH": "/unit/bin", "TEND_INSTANCE": "mine", "X": "1"}
	got := r.environ(&instance{spec: u, rec: instanceRecord{Name: "web-x"}})
	want := []string{"PATH=/unit/bin", "LANG=C", "TEND_INSTANCE=web-x", "X=1", "TEND_UNIT=web", "TEND_HOST=edge-1", "TEND_AGENT=a1"}
	if !slices.Equal(got, want) {
		t.Errorf("environment\n got %q\nwant %q", got, want)
	}
}

// A run's notify socket is closed off the loop, and so may be closed after
// the next run of the instance has made its own and started its process.
// That must leave the new run's socket alone. (Both runs used one path,
// and the old run's close removed the new socket: a forking daemon
// restarted at once could not dial NOTIFY_SOCKET, "no such file or
// directory", and exited 1.)
func TestClosingARunsNotifySocketSparesTheNextRuns(t *testing.T) {
	reaper, _ := newTestReaper(t)
	r := &runner{reaper: reaper, stateDir: t.TempDir(), agentID: "a1", bg: new(sync.WaitGroup)}
	u := &units.Unit{Name: "daemon"}
	u.Template.Readiness = &units.Probe{Notify: true}
	i := &instance{spec: u, rec: instanceRecord{Name: "daemon-x"}}

	i.gen = 1
	old, _, _, err := r.openProbeIO(i, nil, func(probes.Notify) {})
	if err != nil {
		t.Fatal(err)
	}
	i.gen = 2
	got := make(chan probes.Notify, 1)
	rp, env, _, err := r.openProbeIO(i, nil, func(n probes.Notify) { got <- n })
	if err != nil {
		t.Fatal(err)
	}
	defer rp.close()
	old.close() // the first run's end, late

	spec := helperSpec(t, "notify:READY=1")
	spec.Env = append(spec.Env, env...)
	h := startHelper(t, reaper, spec)
	r.beginProbes(i, rp, h.Pid(), nil, func(probes.Report) {}, func(string) {})
	select {
	case n := <-got:
		if !n.Ready {
			t.Errorf("the new run's message is %+v, want READY=1", n.Raw)
		}
	case <-h.done:
		t.Fatalf("the new run's process exited (%v) without notifying: its socket is gone", h.st)
	case <-time.After(testDeadline):
		t.Fatal("no message from the new run")
	}
}
