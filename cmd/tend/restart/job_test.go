package restart

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/e2e"
	"github.com/tendhq/tend/supervisor"
)

// A job of 50 completions, 3 attempts at a time, while the agent is killed
// with SIGKILL every few attempts and started again: each attempt runs
// once. Its shim, which outlives the agent, keeps how it ended, so an
// attempt running at a kill is taken over by the next agent and counted
// when it ends, and one that ends while no agent runs (every other kill
// waits for one) is counted by the next agent from its shim's record. The
// one case counted without being seen is an attempt begun in the
// moments before a kill, before its start was written: it is stopped,
// counted as failed and reported ("may not have started"), and runs
// again; the job's failures count exactly those.
func TestJobUnderRepeatedAgentKills(t *testing.T) {
	const completions = 50
	dir := t.TempDir()
	ledger := filepath.Join(dir, "attempts")
	a := e2e.StartAgent(t, dir, "")
	// (GORACE: with -race, the shim and the attempt, tend's and the test's
	// binaries, would each wait a second when they exit.)
	a.WriteUnit("batch", fmt.Sprintf(`kind = "job"
completions = %d
parallelism = 3
backoff_limit = 1000
[template]
labels = { app = "batch" }
command = [%q]
env = { TEND_TEST_HELPER = "attempt:700ms", TEND_TEST_TAG = %q, TEND_TEST_LEDGER = %q, GORACE = "atexit_sleep_ms=0" }
restart = "on-failure"
restart_delay = "0s"
`, completions, e2e.HelperBin, a.Tag, ledger))

	kills, endedWhileDown := 0, 0
	for ; kills < 40; kills++ {
		done := false
		a.Eventually("attempts running", func() (bool, string) {
			// (The ledger counts too many when an attempt was stopped
			// before its end, by an agent that did not know it had
			// started: the job then says when it is done.)
			n := running(t, ledger)
			done = n < 2 && jobOf(a, "batch").Condition != ""
			return done || n >= 2, fmt.Sprintf("%d attempts running", n)
		})
		if done {
			break
		}
		a.Signal(syscall.SIGKILL)
		a.Wait()
		if kills%2 == 1 && running(t, ledger) > 0 {
			// No agent runs until an attempt has ended.
			ended := len(ledgerLines(t, ledger, "done"))
			for deadline := time.Now().Add(20 * time.Second); len(ledgerLines(t, ledger, "done")) == ended; time.Sleep(5 * time.Millisecond) {
				if time.Now().After(deadline) {
					data, _ := os.ReadFile(ledger)
					t.Fatalf("no attempt ended in 20 s while no agent ran; %d kills; ledger:\n%s", kills, data)
				}
			}
			endedWhileDown++
		}
		b := e2e.StartAgent(t, dir, "")
		b.Tag = a.Tag
		a = b
	}
	var job supervisor.Unit
	a.Eventually("the job complete", func() (bool, string) {
		job = jobOf(a, "batch")
		return job.Condition == "Complete", fmt.Sprintf("%+v", job)
	})
	if kills < 6 || endedWhileDown < 3 {
		t.Fatalf("the job completed after %d kills, %d with attempts ending while no agent ran: too few to test anything", kills, endedWhileDown)
	}

	// Each attempt that completed ran once: no name is done twice, and
	// there are as many as the job counts.
	doneBy := map[string]int{}
	for _, name := range ledgerLines(t, ledger, "done") {
		if doneBy[name]++; doneBy[name] > 1 {
			t.Errorf("attempt %s completed twice", name)
		}
	}
	if job.Succeeded != completions || len(doneBy) != completions {
		t.Errorf("the job counts %d completions, the attempts say %d; want %d", job.Succeeded, len(doneBy), completions)
	}
	// Every start beyond one an attempt is a failure the job counted, and
	// reported as a run that may not have started.
	starts := ledgerLines(t, ledger, "start")
	maybe := unrecorded(t, a, "")
	if extra := len(starts) - completions; extra > job.Failed || job.Failed != maybe || job.Failed > kills {
		t.Errorf("%d starts for %d completions, %d failures counted, %d runs reported as perhaps not started, %d kills", len(starts), completions, job.Failed, maybe, kills)
	}
	if ev := a.Tend("get", "events"); !strings.Contains(ev, "Adopted") {
		t.Errorf("no attempt was taken over:\n%s", ev)
	}
	t.Logf("%d kills (%d waited for an attempt to end while no agent ran): %d starts, %d completions, %d failures", kills, endedWhileDown, len(starts), job.Succeeded, job.Failed)
}

// ledgerLines are the attempts' names on the ledger's lines that begin
// with what ("start", "done").
func ledgerLines(t *testing.T, ledger, what string) []string {
	t.Helper()
	data, err := os.ReadFile(ledger)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == what {
			names = append(names, f[1])
		}
	}
	return names
}

// running is how many attempts the ledger says began and have not ended.
func running(t *testing.T, ledger string) int {
	n := len(ledgerLines(t, ledger, "start")) - len(ledgerLines(t, ledger, "done"))
	return n
}

// jobOf is the job unit name as `tend get jobs` shows it.
func jobOf(a *e2e.Agent, name string) supervisor.Unit {
	a.T.Helper()
	return a.Units("jobs")[name]
}
