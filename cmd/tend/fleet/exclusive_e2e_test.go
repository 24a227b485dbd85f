package fleet

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tendhq/tend/cluster/clustertest"
	"github.com/tendhq/tend/internal/e2e"
	"github.com/tendhq/tend/supervisor"
)

// An exclusive unit through the seed's partition and an asymmetric one,
// on three hosts that are all voters. The instances themselves write down
// when they run (a line every 20 ms to a file every host shares, with
// their host, pid, fencing token and CLOCK_BOOTTIME, which every
// namespace of this machine shares): from that account alone, no two
// ever ran at once.
func TestAnExclusiveUnitRunsOnceThroughPartitions(t *testing.T) {
	nt := newNet(t, 3)
	fleet := e2e.StartFleetWith(t, nt.Hosts, "lan", `voters = ["h0", "h1", "h2"]`)
	a := fleet[0]
	ledger := applyExclusive(t, a)
	holder := func(x *e2e.Agent) (string, string) {
		m := byHost(x, "app=db")
		for _, h := range nt.Hosts {
			if m[h.Name+" Running"] == 1 {
				return h.Name, describe(m)
			}
		}
		return "", describe(m)
	}
	var first string
	a.Eventually("db running on one host", func() (bool, string) {
		h, info := holder(a)
		first = h
		return h != "", info
	})
	hostOf := func(name string) (*clustertest.Host, *e2e.Agent) {
		for k, h := range nt.Hosts {
			if h.Name == name {
				return h, fleet[k]
			}
		}
		t.Fatalf("no host %s", name)
		return nil, nil
	}
	waitAlive(t, ledger, first, 1)

	// The seed's experiment: the holder's link goes down. It stops its
	// instance when its lease lapses; another host starts one, under a
	// higher token, once a majority has heard nothing from it for W.
	h, hx := hostOf(first)
	var other *e2e.Agent
	for _, x := range fleet {
		if x != hx {
			other = x
			break
		}
	}
	down := time.Now()
	if err := h.LinkDown(); err != nil {
		t.Fatal(err)
	}
	var second string
	other.Eventually("db running on another host", func() (bool, string) {
		s, info := holder(other)
		second = s
		return s != "" && s != first, info
	})
	waitAlive(t, ledger, second, 2)
	t.Logf("exclusive failover: %v from the link going down to the new instance's first line", time.Since(down).Round(time.Millisecond))
	hx.Eventually("the cut-off host's instance waits for its lease", func() (bool, string) {
		list := hx.Instances("-l", "app=db")
		for _, in := range list {
			if in.Host == first && in.State.Reason == "WaitingForLease" && in.PID == 0 {
				return true, e2e.Summary(list)
			}
		}
		return false, e2e.Summary(list)
	})
	if err := h.LinkUp(); err != nil {
		t.Fatal(err)
	}
	for _, x := range fleet {
		within(x, 10*time.Second, "one db instance, running on "+second, func() (bool, string) {
			list := x.Instances("-l", "app=db")
			return len(list) == 1 && len(e2e.Running(list)) == 1 && list[0].Host == second, e2e.Summary(list)
		})
	}

	// The returning host's voter acknowledged its own claim until the
	// heal made it give the unit up; it acknowledges the holder once it
	// has been silent for Hold (1 s). Until then the holder rests on the
	// third voter alone, and cutting that one off now would stop it: a
	// partition straight after a heal, which this test is not about.
	time.Sleep(3 * time.Second)

	// The asymmetric partition: the holder and a second host cannot hear
	// each other; the third hears both. The voter that still hears the
	// holder keeps it: the lease does not move, and nobody else starts.
	h2, hx2 := hostOf(second)
	var cut *clustertest.Host
	for _, o := range nt.Hosts {
		if o.Name != second {
			cut = o
			break
		}
	}
	if err := h2.Cut(cut); err != nil {
		t.Fatal(err)
	}
	mark := ledgerLines(t, ledger)
	time.Sleep(8 * time.Second) // the window watched: anything may happen in it, and the ledger tells
	if err := h2.Mend(cut); err != nil {
		t.Fatal(err)
	}
	for _, l := range ledgerLines(t, ledger)[len(mark):] {
		if l.host != second {
			t.Errorf("during the asymmetric partition %s ran db (token %d), though %s held it", l.host, l.token, second)
			break
		}
	}
	if _, info := holder(hx2); !strings.Contains(info, second+" Running: 1") {
		t.Errorf("after the asymmetric partition: %s", info)
	}
	// describe says who holds it, from the holder and from another host,
	// and how each voted.
	holds := regexp.MustCompile(`(?m)^Exclusive:\s+yes, fenced: a lease from 2 of the voters h0, h1, h2\n\s+This Host:\s+` + second + ` holds the lease, epoch (\d+)\n\s+Its Vote:\s+` + second + `, epoch (\d+)$`)
	hx2.Eventually("describe on the holder", func() (bool, string) {
		desc := hx2.Tend("describe", "rc", "db")
		m := holds.FindStringSubmatch(desc)
		return m != nil && m[1] == m[2], desc
	})
	waits := regexp.MustCompile(`(?m)^\s+This Host:\s+\S+ does not claim it\n\s+Its Vote:\s+` + second + `, epoch \d+$`)
	for _, x := range fleet {
		if x != hx2 {
			x.Eventually("describe on another host", func() (bool, string) {
				desc := x.Tend("describe", "rc", "db")
				return waits.MatchString(desc), desc
			})
		}
	}
	checkNeverTwice(t, ledger, true)
}

// applyExclusive applies db, an exclusive unit whose instances write
// down when they run (alive:20ms) to a ledger, and returns the ledger.
func applyExclusive(t *testing.T, a *e2e.Agent) string {
	t.Helper()
	ledger := filepath.Join(t.TempDir(), "ledger")
	path := filepath.Join(a.Dir, "db.toml")
	e2e.WriteFile(t, path, fmt.Sprintf(`kind = "replicated"
replicas = 1
exclusive = true
[template]
labels = { app = "db" }
command = [%q]
env = { TEND_TEST_HELPER = "alive:20ms", TEND_TEST_TAG = %q, TEND_TEST_LEDGER = %q }
restart_delay = "0s"
stop_timeout = "10s"
`, e2e.HelperBin, a.Tag, ledger))
	a.Tend("apply", "-f", path)
	return ledger
}

type aliveLine struct {
	host  string
	pid   int
	token uint64
	at    time.Duration
}

func ledgerLines(t *testing.T, path string) []aliveLine {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []aliveLine
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.Fields(line)
		if len(f) != 6 || f[0] != "alive" {
			continue
		}
		pid, _ := strconv.Atoi(f[3])
		token, _ := strconv.ParseUint(f[4], 10, 64)
		at, _ := strconv.ParseInt(f[5], 10, 64)
		out = append(out, aliveLine{host: f[2], pid: pid, token: token, at: time.Duration(at)})
	}
	return out
}

// pollLedger waits until a line of the ledger at path satisfies cond.
func pollLedger(t *testing.T, path, what string, cond func(aliveLine) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if slices.ContainsFunc(ledgerLines(t, path), cond) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s in the ledger", what)
}

// waitAlive waits until an instance on host has written a line at token
// n or above.
func waitAlive(t *testing.T, path, host string, n uint64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, l := range ledgerLines(t, path) {
			if l.host == host && l.token >= n {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no instance on %s wrote a line at token %d or above:\n%v", host, n, ledgerLines(t, path))
}

// checkNeverTwice reads each run's span, from its first line to its
// last, and fails if two runs' spans meet; if a run on another host has
// a token no higher than the one before it; and, with once, if a token
// ran twice (a host that restarts a run under its own lease, after its
// agent died, runs it under the same token).
func checkNeverTwice(t *testing.T, path string, once bool) {
	t.Helper()
	type span struct {
		host        string
		pid         int
		token       uint64
		first, last time.Duration
	}
	runs := map[string]*span{}
	for _, l := range ledgerLines(t, path) {
		k := fmt.Sprintf("%s/%d", l.host, l.pid)
		s := runs[k]
		if s == nil {
			s = &span{host: l.host, pid: l.pid, token: l.token, first: l.at}
			runs[k] = s
		}
		s.last = max(s.last, l.at)
	}
	var list []*span
	for _, s := range runs {
		list = append(list, s)
	}
	slices.SortFunc(list, func(a, b *span) int { return int(a.first - b.first) })
	if len(list) < 2 {
		t.Fatalf("the ledger shows %d runs, want at least 2 (one before the failover, one after)", len(list))
	}
	for _, s := range list {
		t.Logf("run: %s pid %d token %d from %v to %v", s.host, s.pid, s.token, s.first, s.last)
	}
	for k := 1; k < len(list); k++ {
		p, s := list[k-1], list[k]
		if s.first <= p.last {
			t.Errorf("%s pid %d (token %d) ran from %v while %s pid %d (token %d) ran until %v",
				s.host, s.pid, s.token, s.first, p.host, p.pid, p.token, p.last)
		}
		if once && s.token == p.token {
			t.Errorf("%s ran twice under token %d: stopped and started again though nothing failed", s.host, s.token)
		}
		if s.host != p.host && s.token <= p.token {
			t.Errorf("%s took over from %s at token %d, not above %d", s.host, p.host, s.token, p.token)
		}
	}
	t.Logf("%d runs in the ledger, none at once", len(list))
}

// An exclusive unit's run outlives neither its lease nor a dead agent:
// re-executions keep it (same pid, no restart); after kill -9 of the
// agent, with nobody left to stop it, its shim ends it when its lease
// does; a new agent starts it again under a lease.
func TestAnExclusiveUnitThroughAgentReexecAndKill(t *testing.T) {
	fleet := e2e.StartFleetWith(t, []*clustertest.Host{nil}, "local", `voters = ["h0"]`)
	a := fleet[0]
	ledger := applyExclusive(t, a)
	before := a.WaitRunning("db", 1)
	waitAlive(t, ledger, "h0", 1)
	for range 3 {
		if out := a.Tend("agent", "reexec"); !strings.Contains(out, "agent re-executed") {
			t.Fatalf("tend agent reexec said %q", out)
		}
	}
	// The run goes on well past the lease of the agent before the
	// re-executions (1 s): the new agents renewed it.
	lines := ledgerLines(t, ledger)
	last := lines[len(lines)-1]
	pollLedger(t, ledger, "the same run alive 2 s after the re-executions", func(l aliveLine) bool {
		return l.pid == last.pid && l.at > last.at+2*time.Second
	})
	after := a.WaitRunning("db", 1)
	if after[0].PID != before[0].PID || after[0].RestartCount != 0 {
		t.Fatalf("re-executions restarted the exclusive unit:\nbefore %s\nafter  %s", e2e.Summary(before), e2e.Summary(after))
	}

	shim := after[0].PID
	a.Signal(syscall.SIGKILL)
	killedAt := supervisor.BootTime()
	a.Wait()
	killed := time.Now()
	deadline := killed.Add(10 * time.Second)
	for syscall.Kill(shim, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("the run %d outlived its dead agent's lease by far (%v)", shim, time.Since(killed))
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Its own account: its last line came within the lease the dead
	// agent last renewed (Hold, 1 s, after a heartbeat at most 200 ms
	// before the kill), and a line's period.
	var lastAt time.Duration
	for _, l := range ledgerLines(t, ledger) {
		if l.pid == last.pid {
			lastAt = max(lastAt, l.at)
		}
	}
	t.Logf("with its agent killed, the run's last line came %v after the kill; its shim was gone %v after it",
		(lastAt - killedAt).Round(time.Millisecond), time.Since(killed).Round(time.Millisecond))
	if d := lastAt - killedAt; d > time.Second+100*time.Millisecond {
		t.Errorf("the run wrote %v after its agent was killed: beyond the lease it held", d)
	}
	b := e2e.StartAgentOn(t, nil, a.Dir, "")
	b.Tag = a.Tag
	again := b.WaitRunning("db", 1)
	if again[0].PID == shim {
		t.Fatalf("the same pid %d after its shim ended it", shim)
	}
	pollLedger(t, ledger, "a new run's line, under a lease", func(l aliveLine) bool { return l.pid != last.pid && l.token >= 1 })
	checkNeverTwice(t, ledger, false)
}
