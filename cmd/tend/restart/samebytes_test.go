package restart

import (
	"strings"
	"syscall"
	"testing"

	"github.com/tendhq/tend/internal/e2e"
	"github.com/tendhq/tend/supervisor"
)

// Two unit files with the same bytes (one copied from the other) are two
// units: after the agent is killed and started again, each instance runs
// again as its own unit's, not as the other's. The store keeps a unit
// version by its hash, which the two share.
func TestUnitsOfTheSameBytesStayApartAcrossARestart(t *testing.T) {
	dir := t.TempDir()
	a := e2e.StartAgent(t, dir, "")
	const text = `kind = "job"
backoff_delay = "100ms"
[template]
command = ["/bin/sh", "-c", "echo run of $TEND_UNIT; exec sleep 1000"]
restart = "on-failure"
restart_delay = "0s"
`
	a.WriteUnit("copy-a", text)
	a.WriteUnit("copy-b", text)
	a.WaitRunning("copy-a", 1)
	a.WaitRunning("copy-b", 1)
	a = a.KillAndTakeOver("copy-a", a.WaitRunning("copy-a", 1))
	rerun := func(restarts int) {
		t.Helper()
		for _, unit := range []string{"copy-a", "copy-b"} {
			in := a.WaitRunning(unit, 1)[0]
			if err := syscall.Kill(in.PID, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			a.Eventually(unit+"'s attempt runs again, as "+unit+"'s", func() (bool, string) {
				var now supervisor.Instance
				for _, i := range a.Instances() {
					if i.Name == in.Name {
						now = i
					}
				}
				logs, _, _ := a.Run("logs", in.Name)
				return now.RestartCount == restarts && now.Status == "Running" && strings.TrimSpace(logs) == "run of "+unit, logs
			})
		}
	}
	rerun(1)

	// And when both files changed while no agent ran: the attempts run
	// the version they were made from, which the store alone keeps, once
	// for the two units.
	a.Signal(syscall.SIGKILL)
	a.Wait()
	for _, unit := range []string{"copy-a", "copy-b"} {
		a.WriteUnit(unit, text+"# changed\n")
	}
	b := e2e.StartAgent(t, dir, "")
	b.Tag = a.Tag
	a = b
	rerun(2)
}
