// Package restart kills the agent again and again under load and checks
// that its instances do not notice (issue 12): a package of its own so
// that its minute of killing and starting agents runs beside cmd/tend's
// tests, not after them.
package restart

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tendhq/tend/internal/e2e"
	"github.com/tendhq/tend/supervisor"
)

func TestMain(m *testing.M) { e2e.Main(m) }

// kills is how many times the agent is killed with SIGKILL.
const kills = 20

// The agent is killed with SIGKILL 20 times while it runs 100 steady
// instances writing a numbered line every 50 ms, one that exits as soon
// as it starts, and one whose liveness probe always fails; each time the
// next agent starts on the same state. The steady ones keep their pids
// and restart counts, and each of their lines is stored once (a kill
// loses at most what the agent's copier had read and not yet written).
// An upgrade after the kills (a re-execution) keeps them too.
// The failing ones go on being restarted, and every end of theirs is
// counted once, observed or, when no agent ran, reported Unknown: the
// restart count is the number of starts less one, or more by the runs
// reported as begun when the agent was killed and perhaps not started.
func TestAgentKilledRepeatedlyUnderLoad(t *testing.T) {
	dir := t.TempDir()
	ledger := filepath.Join(dir, "starts")
	settled := filepath.Join(dir, "settled") // flap sleeps once it exists
	alive := filepath.Join(dir, "alive")     // exists from the start: sick sleeps
	if err := os.WriteFile(alive, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	a := e2e.StartAgent(t, dir, "")
	withLedger := func(unit string) string {
		return strings.Replace(unit, "env = { ", fmt.Sprintf("env = { TEND_TEST_LEDGER = %q, ", ledger), 1)
	}
	a.WriteUnit("seq", a.HelperUnit("replicated", "replicas = 100", `app = "seq"`, "seq:50ms"))
	a.WriteUnit("flap", withLedger(a.HelperUnit("replicated", "replicas = 1", `app = "flap"`, "flap:"+settled)+
		"start_limit_interval = \"0s\"\n"))
	a.WriteUnit("sick", withLedger(a.HelperUnit("replicated", "replicas = 1", `app = "sick"`, "flap:"+alive)+
		"start_limit_interval = \"0s\"\n[template.liveness]\nexec = { command = [\"/bin/false\"] }\ninitial_delay = \"1s\"\nperiod = \"1s\"\nfailure_threshold = 1\n"))
	before := a.WaitRunning("seq", 100)
	for range kills {
		a = a.KillAndTakeOver("seq", before)
	}

	// Then an upgrade: the runs taken over are not the agent's children,
	// and the agent it executes watches them as the killed ones' successor
	// did, rather than start them again beside themselves.
	if out := a.Tend("agent", "reexec"); !strings.Contains(out, "agent re-executed") {
		t.Fatalf("tend agent reexec said %q", out)
	}
	after := a.WaitRunning("seq", 100)
	procs := a.Processes()
	for k := range before {
		if after[k].PID != before[k].PID || after[k].RestartCount != 0 || len(procs[before[k].Name]) != 1 {
			t.Fatalf("after the re-execution %s: pid %d → %d, restarts %d, processes %v", before[k].Name, before[k].PID, after[k].PID, after[k].RestartCount, procs[before[k].Name])
		}
	}

	a.Eventually("every steady instance's lines stored once, output still coming", func() (bool, string) {
		for _, i := range before {
			last, gaps, err := e2e.SeqLogGaps(t, dir, i.Name)
			if err != nil || gaps > kills {
				t.Fatalf("%s: %v; %d gaps in %d kills", i.Name, err, gaps, kills)
			}
			if last < 200 {
				return false, fmt.Sprintf("%s at line %d", i.Name, last)
			}
		}
		return true, ""
	})

	// The flapping one settles: from its next start it sleeps. Every one of
	// its starts is then counted, once, in its restart count.
	if err := os.WriteFile(settled, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var flap supervisor.Instance
	a.Eventually("the flapping instance runs, every start of it counted once", func() (bool, string) {
		list := a.Instances("-l", "app=flap")
		if len(list) != 1 || list[0].Status != "Running" {
			return false, e2e.Summary(list)
		}
		flap = list[0]
		starts, maybe := countStarts(t, ledger, flap.Name), unrecorded(t, a, flap.Name)
		// A start the store never got (the agent killed within moments
		// of it) is counted from its log, which is made just before the
		// process: a kill in between counts a run that may not have
		// started, and says so.
		return flap.RestartCount >= starts-1 && flap.RestartCount <= starts-1+maybe,
			fmt.Sprintf("%d starts, restart count %d, %d runs that may not have started", starts, flap.RestartCount, maybe)
	})
	if flap.RestartCount < kills {
		t.Errorf("the flapping instance restarted %d times over %d kills: it was not restarted after each", flap.RestartCount, kills)
	}

	// The sick one is still restarted by its liveness probe, by the last
	// agent, and never counted more often than it started.
	sick0 := a.Instances("-l", "app=sick")
	a.Eventually("the sick instance restarted by the last agent", func() (bool, string) {
		list := a.Instances("-l", "app=sick")
		if len(list) != 1 || len(sick0) != 1 {
			return false, e2e.Summary(list)
		}
		i := list[0]
		starts, maybe := countStarts(t, ledger, i.Name), unrecorded(t, a, i.Name)
		if i.RestartCount > starts-1+maybe {
			// A start is counted when the agent spawns the run, and is in
			// the ledger once the helper has begun: a look between the
			// two sees one start too few. An end counted twice stays, and
			// the wait fails with this.
			return false, fmt.Sprintf("the sick instance's restart count %d, with %d starts (%d runs that may not have started): an end counted twice?", i.RestartCount, starts, maybe)
		}
		return i.RestartCount > sick0[0].RestartCount, fmt.Sprintf("restart count %d, was %d; %d starts", i.RestartCount, sick0[0].RestartCount, starts)
	})
	if ev := a.Tend("get", "events"); !strings.Contains(ev, "Adopted") {
		t.Errorf("no Adopted event:\n%s", ev)
	}
}

// unrecorded is how many runs of instance ("": of any) the agent counted
// from their logs alone, saying they may not have started (its events say
// so).
func unrecorded(t *testing.T, a *e2e.Agent, instance string) int {
	t.Helper()
	n := 0
	for _, e := range a.Events() {
		if (instance == "" || e.Object == instance) && strings.Contains(e.Message, "may not have started") {
			n += e.Count
		}
	}
	return n
}

// countStarts is how many times the ledger says instance started.
func countStarts(t *testing.T, ledger, instance string) int {
	t.Helper()
	f, err := os.Open(ledger)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 2 && f[0] == "start" && f[1] == instance {
			n++
		}
	}
	return n
}
