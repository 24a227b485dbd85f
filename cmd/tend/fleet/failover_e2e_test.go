package fleet

// The fleet on hosts made of namespaces (cluster/clustertest): each agent
// is PID 1 of its own host, with its own address and link, so a host can
// lose its network as the seed's node does in section 4.2.3, or die with
// everything on it.

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tendhq/tend/cluster/clustertest"
	"github.com/tendhq/tend/internal/e2e"
)

// newNet makes n hosts for the test, or skips it where this machine
// cannot (it needs root; CI runs as root).
func newNet(t *testing.T, n int) *clustertest.Net {
	t.Helper()
	if err := clustertest.Available(); err != nil {
		t.Skipf("needs hosts made of namespaces: %v", err)
	}
	nt, err := clustertest.New(n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := nt.Close(); err != nil {
			t.Error(err)
		}
	})
	return nt
}

// byHost counts, as x sees them, the instances matching selector by host
// and status: "h0 Running" → 1.
func byHost(x *e2e.Agent, selector string) map[string]int {
	m := map[string]int{}
	for _, in := range x.Instances("-l", selector) {
		m[in.Host+" "+in.Status]++
	}
	return m
}

func describe(m map[string]int) string {
	var keys []string
	for k, v := range m {
		keys = append(keys, fmt.Sprintf("%s: %d", k, v))
	}
	sort.Strings(keys)
	return strings.Join(keys, ", ")
}

// within polls cond until it holds or d passes: for what the product
// promises by a deadline (a heal's "exactly N within 10 s").
func within(a *e2e.Agent, d time.Duration, what string, cond func() (bool, string)) time.Duration {
	a.T.Helper()
	start := time.Now()
	var last string
	for {
		ok, info := cond()
		if ok {
			return time.Since(start)
		}
		last = info
		if time.Since(start) > d {
			a.T.Fatalf("not within %v: %s; last seen:\n%s", d, what, last)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// threeHostsOneEach starts agents on three hosts of namespaces (lan
// profile) and applies app, a replicated unit of three, from h0; it
// returns once every host sees one of its instances running on each.
func threeHostsOneEach(t *testing.T, app string) (*clustertest.Net, []*e2e.Agent) {
	t.Helper()
	nt := newNet(t, 3)
	fleet := e2e.StartFleetOn(t, nt.Hosts, "lan")
	a := fleet[0]
	path := filepath.Join(a.Dir, app+".toml")
	e2e.WriteFile(t, path, a.HelperUnit("replicated", "replicas = 3", fmt.Sprintf("app = %q", app), "sleep"))
	a.Tend("apply", "-f", path)
	for _, x := range fleet {
		x.Eventually("one instance on each host", func() (bool, string) {
			m := byHost(x, "app="+app)
			return m["h0 Running"] == 1 && m["h1 Running"] == 1 && m["h2 Running"] == 1, describe(m)
		})
	}
	return nt, fleet
}

// The seed's experiment of section 4.2.3 on three hosts: one host's link
// goes down. The others see it NotReady and its instance Unknown, and run
// its slot themselves; the cut-off host, alone on its side, runs every
// slot (a partition may run a slot twice, never zero times). When the
// link is back, the fleet is back to exactly three within 10 s, seen
// from every host.
func TestTheSeedsNodeLosesItsNetwork(t *testing.T) {
	nt, fleet := threeHostsOneEach(t, "kubia")
	a, c := fleet[0], fleet[2]

	if err := nt.Hosts[2].LinkDown(); err != nil {
		t.Fatal(err)
	}
	a.Eventually("h2 NotReady, its instance Unknown, three running on h0 and h1", func() (bool, string) {
		m := byHost(a, "app=kubia")
		hosts := a.Tend("get", "hosts")
		return m["h2 Unknown"] == 1 && m["h0 Running"]+m["h1 Running"] == 3 &&
			m["h0 Running"] >= 1 && m["h1 Running"] >= 1 && strings.Contains(hosts, "NotReady"), describe(m) + "\n" + hosts
	})
	c.Eventually("h2, alone on its side, runs all three", func() (bool, string) {
		m := byHost(c, "app=kubia")
		return m["h2 Running"] == 3, describe(m)
	})

	if err := nt.Hosts[2].LinkUp(); err != nil {
		t.Fatal(err)
	}
	var took time.Duration
	for _, x := range fleet {
		d := within(x, 10*time.Second, "exactly three instances, every host Ready, seen from every host", func() (bool, string) {
			list := x.Instances("-l", "app=kubia")
			hosts := x.Tend("get", "hosts")
			return len(list) == 3 && len(e2e.Running(list)) == 3 && strings.Count(hosts, " Ready ") == 3, e2e.Summary(list) + "\n" + hosts
		})
		took = max(took, d)
	}
	t.Logf("exactly three again %v after the link came back", took)
	// describe lists the slots, each once, and where each runs.
	desc := c.Tend("describe", "rc", "kubia")
	for slot := range 3 {
		if n := len(regexp.MustCompile(fmt.Sprintf(`(?m)^\s+%d\s+kubia-\S+\s+h[012]\s+Running$`, slot)).FindAllString(desc, -1)); n != 1 {
			t.Fatalf("slot %d shows %d times in describe:\n%s", slot, n, desc)
		}
	}
}

// A host that dies outright takes its instances with it (they are in its
// PID namespace); the others run its slots, and its instance shows
// Unknown until it returns.
func TestAHostDiesWithItsInstances(t *testing.T) {
	nt, fleet := threeHostsOneEach(t, "web")
	a, c := fleet[0], fleet[2]
	var onC []int
	for _, in := range a.Instances("-l", "app=web") {
		if in.Host == "h2" {
			onC = a.Processes()[in.Name]
		}
	}
	if len(onC) != 1 {
		t.Fatalf("processes of h2's instance: %v", onC)
	}
	c.Signal(syscall.SIGKILL)
	c.Wait()
	// The host's instance died with it, though nobody stopped it.
	a.Eventually("h2's instance gone with h2", func() (bool, string) {
		return syscall.Kill(onC[0], 0) == syscall.ESRCH, fmt.Sprint(onC)
	})
	a.Eventually("h2's instance Unknown, three running on h0 and h1", func() (bool, string) {
		m := byHost(a, "app=web")
		return m["h2 Unknown"] == 1 && m["h0 Running"]+m["h1 Running"] == 3, describe(m)
	})
	// Back, it finds its instance gone and makes no new one: its slot
	// runs elsewhere.
	c2 := e2e.StartAgentOn(t, nt.Hosts[2], c.Dir, "")
	for _, x := range []*e2e.Agent{a, c2} {
		x.Eventually("exactly three, on h0 and h1", func() (bool, string) {
			list := x.Instances("-l", "app=web")
			m := byHost(x, "app=web")
			return len(list) == 3 && m["h0 Running"]+m["h1 Running"] == 3, e2e.Summary(list)
		})
	}
}

// The seed's DaemonSet (section 4.4) across hosts: one ssd-monitor on
// each host labelled disk=ssd, whichever host the label is set from.
func TestAPerHostUnitFollowsLabelsAcrossHosts(t *testing.T) {
	nt := newNet(t, 3)
	fleet := e2e.StartFleetOn(t, nt.Hosts, "lan")
	a, b := fleet[0], fleet[1]
	path := filepath.Join(a.Dir, "ssd-monitor.toml")
	e2e.WriteFile(t, path, a.HelperUnit("per-host", "[placement]\nnode_selector = { disk = \"ssd\" }", `app = "ssd-monitor"`, "sleep"))
	a.Tend("apply", "-f", path)
	monitors := func(x *e2e.Agent) map[string]int { return byHost(x, "app=ssd-monitor") }
	// No host has the label: nothing runs (the book's DESIRED 0).
	b.Eventually("the unit on h1", func() (bool, string) {
		out, _, err := b.Run("get", "ds")
		return err == nil && strings.Contains(out, "ssd-monitor"), out
	})
	if m := monitors(b); len(m) != 0 {
		t.Fatalf("monitors before any host is labelled: %s", describe(m))
	}
	// Labelled from h1, h2 runs one; then h0 too.
	b.Tend("label", "node", "h2", "disk=ssd")
	a.Eventually("a monitor on h2", func() (bool, string) {
		m := monitors(a)
		return m["h2 Running"] == 1 && len(m) == 1, describe(m)
	})
	a.Tend("label", "node", "h0", "disk=ssd")
	b.Eventually("monitors on h0 and h2", func() (bool, string) {
		m := monitors(b)
		return m["h0 Running"] == 1 && m["h2 Running"] == 1 && len(m) == 2, describe(m)
	})
	// h2's label changed from h0: its monitor goes, h0's stays.
	a.Tend("label", "node", "h2", "disk=hdd", "--overwrite")
	b.Eventually("only h0's monitor", func() (bool, string) {
		list := b.Instances("-l", "app=ssd-monitor")
		return len(list) == 1 && list[0].Host == "h0" && list[0].Status == "Running", e2e.Summary(list)
	})
	if desc := b.Tend("describe", "ds", "ssd-monitor"); !regexp.MustCompile(`(?m)^Hosts:\n\s+Host\s+Instance\s+Status\n.*\n\s+h0\s+ssd-monitor-\S+\s+Running\nPod Template:`).MatchString(desc) {
		t.Fatalf("describe ds does not list h0's monitor alone:\n%s", desc)
	}
}

// A parallel job spread over three hosts, one of which dies in the middle
// of an attempt: the completions already made are kept, the lost attempt
// runs again elsewhere, and the job completes with exactly its
// completions, none lost or counted twice, as the attempts themselves
// wrote them down.
func TestAJobOutlivesTheHostOfAnAttempt(t *testing.T) {
	nt := newNet(t, 3)
	fleet := e2e.StartFleetOn(t, nt.Hosts, "lan")
	a, b, c := fleet[0], fleet[1], fleet[2]
	ledger := filepath.Join(t.TempDir(), "ledger")
	path := filepath.Join(a.Dir, "batch.toml")
	e2e.WriteFile(t, path, fmt.Sprintf(`kind = "job"
completions = 6
parallelism = 3
[template]
labels = { app = "batch" }
command = [%q]
env = { TEND_TEST_HELPER = "attempt:3s", TEND_TEST_TAG = %q, TEND_TEST_LEDGER = %q }
restart = "never"
stop_timeout = "2s"
`, e2e.HelperBin, a.Tag, ledger))
	a.Tend("apply", "-f", path)
	// Parallelism holds for the fleet: three attempts, one on each host.
	// h2 dies once its attempt has begun its work (written its start):
	// one that is Running but not yet that far would die unseen.
	a.Eventually("an attempt running on each host", func() (bool, string) {
		m := byHost(a, "app=batch")
		seen, _ := os.ReadFile(ledger)
		return m["h0 Running"] == 1 && m["h1 Running"] == 1 && m["h2 Running"] == 1 &&
			regexp.MustCompile(`(?m)^start \S+ h2$`).Match(seen), describe(m) + "\nledger:\n" + string(seen)
	})
	c.Signal(syscall.SIGKILL)
	c.Wait()
	complete := regexp.MustCompile(`(?ms)^Condition:\s+Complete \(Completed\)$.*^Pods Statuses:\s+0 Active / 6 Succeeded / \d+ Failed$`)
	for _, x := range []*e2e.Agent{a, b} {
		x.Eventually("the job complete, seen from "+x.Dir, func() (bool, string) {
			desc := x.Tend("describe", "job", "batch")
			return complete.MatchString(desc), desc
		})
	}
	data, err := os.ReadFile(ledger)
	if err != nil {
		t.Fatal(err)
	}
	started, done := map[string]string{}, map[string]string{}
	for _, l := range e2e.Lines(string(data)) {
		f := strings.Fields(l)
		if len(f) != 3 {
			t.Fatalf("ledger line %q", l)
		}
		switch f[0] {
		case "start":
			started[f[1]] = f[2]
		case "done":
			if _, twice := done[f[1]]; twice {
				t.Fatalf("attempt %s done twice:\n%s", f[1], data)
			}
			done[f[1]] = f[2]
		}
	}
	if len(done) != 6 {
		t.Fatalf("%d attempts done, want exactly 6:\n%s", len(done), data)
	}
	lost := 0
	for name, host := range started {
		if _, ok := done[name]; !ok {
			lost++
			if host != "h2" {
				t.Fatalf("attempt %s on %s never finished, though its host lives:\n%s", name, host, data)
			}
		}
	}
	if lost != 1 {
		t.Fatalf("%d attempts lost, want h2's one:\n%s", lost, data)
	}
	for name, host := range done {
		if host == "h2" {
			t.Fatalf("attempt %s completed on h2, which died before any could:\n%s", name, data)
		}
	}
}

// A cron unit on three hosts: each scheduled run is one job in the fleet
// with one attempt, whichever host runs it, the runs go to more than one
// host, and concurrency_policy = forbid holds for the fleet, not for each
// host alone. (It once stalled here: a host that had not yet heard that
// the last run finished skipped a run the others made and placed on it,
// and the others then forbade every run after it. One host decides each
// run now; see planCron.)
func TestACronRunFiresOncePerScheduleInTheFleet(t *testing.T) {
	nt := newNet(t, 3)
	fleet := e2e.StartFleetOn(t, nt.Hosts, "lan")
	a := fleet[0]
	ledger := filepath.Join(t.TempDir(), "ledger")
	path := filepath.Join(a.Dir, "tick.toml")
	e2e.WriteFile(t, path, fmt.Sprintf(`kind = "cron"
schedule = "@every 1s"
concurrency_policy = "forbid"
successful_history = 20
[template]
labels = { app = "tick" }
command = [%q]
env = { TEND_TEST_HELPER = "attempt:100ms", TEND_TEST_TAG = %q, TEND_TEST_LEDGER = %q }
restart = "never"
`, e2e.HelperBin, a.Tag, ledger))
	a.Tend("apply", "-f", path)
	runs := func() (map[string][]string, string) {
		data, _ := os.ReadFile(ledger)
		byJob := map[string][]string{}
		for _, l := range e2e.Lines(string(data)) {
			if f := strings.Fields(l); len(f) == 3 && f[0] == "start" {
				job := f[1][:strings.LastIndexByte(f[1], '-')]
				byJob[job] = append(byJob[job], f[1]+" on "+f[2])
			}
		}
		return byJob, string(data)
	}
	a.Eventually("eight runs", func() (bool, string) {
		byJob, data := runs()
		return len(byJob) >= 8, data
	})
	a.Tend("delete", "cronjob", "tick")
	byJob, data := runs()
	// concurrency_policy = forbid holds for the fleet: no run starts, on
	// any host, while another runs (the ledger is in the order written).
	active := map[string]bool{}
	for _, l := range e2e.Lines(data) {
		f := strings.Fields(l)
		if f[0] == "start" && len(active) > 0 {
			t.Fatalf("%s started on %s while %v ran:\n%s", f[1], f[2], active, data)
		}
		if f[0] == "start" {
			active[f[1]] = true
		} else {
			delete(active, f[1])
		}
	}
	hostsUsed := map[string]bool{}
	for job, attempts := range byJob {
		if len(attempts) != 1 {
			t.Fatalf("run %s made %d attempts in the fleet, want 1: %q\n%s", job, len(attempts), attempts, data)
		}
		hostsUsed[attempts[0][strings.LastIndexByte(attempts[0], ' ')+1:]] = true
	}
	if len(hostsUsed) < 2 {
		t.Fatalf("every run on one host: %v\n%s", hostsUsed, data)
	}
}

// A cron unit on three hosts, one of which dies in the middle of a run's
// attempt: that run's job tries again on another host and completes once;
// the schedule goes on over the two that live; no run completes twice.
func TestACronRunOutlivesTheHostOfItsAttempt(t *testing.T) { cronHostKill(t, false) }

// The same, the host killed as soon as its attempt has begun, before any
// other host can have heard of the run (under forbid that host alone
// decided it): the others decide the run again once that host is gone,
// and it completes once, elsewhere.
func TestACronRunWhoseHostDiesAtOnceRunsElsewhere(t *testing.T) { cronHostKill(t, true) }

func cronHostKill(t *testing.T, atOnce bool) {
	nt := newNet(t, 3)
	fleet := e2e.StartFleetOn(t, nt.Hosts, "lan")
	a := fleet[0]
	ledger := filepath.Join(t.TempDir(), "ledger")
	path := filepath.Join(a.Dir, "tick.toml")
	e2e.WriteFile(t, path, fmt.Sprintf(`kind = "cron"
schedule = "@every 7s"
concurrency_policy = "forbid"
successful_history = 20
[template]
labels = { app = "tick" }
command = [%q]
env = { TEND_TEST_HELPER = "attempt:6s", TEND_TEST_TAG = %q, TEND_TEST_LEDGER = %q }
restart = "never"
stop_timeout = "2s"
`, e2e.HelperBin, a.Tag, ledger))
	a.Tend("apply", "-f", path)
	type attempt struct{ job, host string }
	read := func() (started map[string]attempt, done map[string][]attempt, data string) {
		b, _ := os.ReadFile(ledger)
		started, done = map[string]attempt{}, map[string][]attempt{}
		for _, l := range e2e.Lines(string(b)) {
			f := strings.Fields(l)
			if len(f) != 3 {
				continue
			}
			at := attempt{job: f[1][:strings.LastIndexByte(f[1], '-')], host: f[2]}
			switch f[0] {
			case "start":
				started[f[1]] = at
			case "done":
				done[at.job] = append(done[at.job], at)
			}
		}
		return started, done, string(b)
	}
	// An attempt under way on a host other than h0: as soon as it has
	// written its first line (atOnce: nobody can have heard of it yet;
	// under forbid its host alone decided the run), or once h0 has heard
	// of it too, if that comes within 2.5 s of its start (of 6): one that
	// ends as its host dies has done its work, but the fleet, which never
	// heard it end, runs it again (at least once).
	var victim attempt
	seen := map[string]time.Time{} // attempt → when this test first read its start
	within(a, 2*time.Minute, "a run's attempt under way on h1 or h2", func() (bool, string) {
		started, done, data := read()
		for name, at := range started {
			if len(done[at.job]) > 0 || at.host == "h0" {
				continue
			}
			if _, ok := seen[name]; !ok {
				seen[name] = time.Now()
			}
			if atOnce {
				victim = at
				return true, ""
			}
			if time.Since(seen[name]) > 2500*time.Millisecond {
				continue // too late for this one; the next
			}
			for _, in := range a.Instances("-l", "app=tick") {
				if in.Name == name && in.Status == "Running" && time.Since(seen[name]) < 2500*time.Millisecond {
					victim = at
					return true, ""
				}
			}
		}
		return false, data
	})
	var dying *e2e.Agent
	for k, h := range nt.Hosts {
		if h.Name == victim.host {
			dying = fleet[k]
		}
	}
	dying.Signal(syscall.SIGKILL)
	dying.Wait()
	within(a, 2*time.Minute, "the killed run completed elsewhere, and a run after it", func() (bool, string) {
		started, done, data := read()
		if len(done[victim.job]) != 1 {
			return false, data + a.Tend("get", "po", "-o", "wide")
		}
		after := 0
		for _, at := range started {
			if at.job > victim.job && len(done[at.job]) == 1 {
				after++
			}
		}
		return after >= 1, data
	})
	a.Tend("delete", "cronjob", "tick")
	started, done, data := read()
	if at := done[victim.job][0]; at.host == victim.host {
		t.Fatalf("run %s completed on %s, which died during it:\n%s", victim.job, at.host, data)
	}
	for job, list := range done {
		if len(list) != 1 {
			t.Fatalf("run %s completed %d times: %v\n%s", job, len(list), list, data)
		}
	}
	for name, at := range started {
		if at.host == victim.host && at.job > victim.job {
			t.Fatalf("%s started on %s after it died:\n%s", name, at.host, data)
		}
	}
}

// A partition splits a cron unit's fleet: each side makes the runs due
// meanwhile, so after the heal some ran twice. Each such run is reported
// in the fleet, as a DuplicateRun event on the unit, once for each extra
// attempt, by that attempt's host; a run that ran once is not.
func TestACronRunMadeOnBothSidesIsReportedOnce(t *testing.T) {
	nt := newNet(t, 3)
	fleet := e2e.StartFleetOn(t, nt.Hosts, "lan")
	a := fleet[0]
	ledger := filepath.Join(t.TempDir(), "ledger")
	path := filepath.Join(a.Dir, "tick.toml")
	e2e.WriteFile(t, path, fmt.Sprintf(`kind = "cron"
schedule = "@every 2s"
successful_history = 50
[template]
labels = { app = "tick" }
command = [%q]
env = { TEND_TEST_HELPER = "attempt:300ms", TEND_TEST_TAG = %q, TEND_TEST_LEDGER = %q }
restart = "never"
`, e2e.HelperBin, a.Tag, ledger))
	a.Tend("apply", "-f", path)
	// on: job → the hosts its attempts did what (start, done) on.
	on := func(what string) map[string]map[string]bool {
		b, _ := os.ReadFile(ledger)
		out := map[string]map[string]bool{}
		for _, l := range e2e.Lines(string(b)) {
			if f := strings.Fields(l); len(f) == 3 && f[0] == what {
				job := f[1][:strings.LastIndexByte(f[1], '-')]
				if out[job] == nil {
					out[job] = map[string]bool{}
				}
				out[job][f[2]] = true
			}
		}
		return out
	}
	done := func() map[string]map[string]bool { return on("done") }
	within(a, time.Minute, "two runs done", func() (bool, string) { return len(done()) >= 2, fmt.Sprint(done()) })
	if err := nt.Hosts[2].LinkDown(); err != nil {
		t.Fatal(err)
	}
	// Both sides make runs: one done on h2 alone, and one on the others,
	// since the link went down.
	twice := func() []string {
		var out []string
		for job, hosts := range done() {
			if hosts["h2"] && (hosts["h0"] || hosts["h1"]) {
				out = append(out, job)
			}
		}
		slices.Sort(out)
		return out
	}
	within(a, time.Minute, "a run done on both sides", func() (bool, string) { return len(twice()) >= 2, fmt.Sprint(done()) })
	if err := nt.Hosts[2].LinkUp(); err != nil {
		t.Fatal(err)
	}
	// reports: job → how many DuplicateRun events name it, on any host;
	// created: attempt → the host whose events say it made it.
	created := map[string]string{}
	reports := func() (map[string]int, string) {
		out := map[string]int{}
		var all string
		for k, x := range fleet {
			ev := x.Tend("get", "events")
			for _, l := range e2e.Lines(ev) {
				if i := strings.Index(l, "Created instance: "); i >= 0 {
					created[strings.Fields(l[i+len("Created instance: "):])[0]] = fmt.Sprintf("h%d", k)
				}
				if !strings.Contains(l, "DuplicateRun") {
					continue
				}
				all += l + "\n"
				if i := strings.Index(l, "(job "); i >= 0 {
					job := strings.TrimSuffix(strings.Fields(l[i+5:])[0], ")")
					out[job]++
				}
			}
		}
		return out, all
	}
	dup := twice()
	within(a, 30*time.Second, "each run made on both sides reported", func() (bool, string) {
		got, all := reports()
		for _, job := range dup {
			if got[job] == 0 {
				return false, fmt.Sprintf("%s not reported; reports:\n%s", job, all)
			}
		}
		return true, ""
	})
	// What every host says, before the unit (and its events) goes.
	got, all := reports()
	started := on("start")
	// job → its attempts, as the reports name them (one the heal stopped
	// at once may not have written its first line to the ledger).
	named := map[string]map[string]bool{}
	for _, l := range e2e.Lines(all) {
		for _, f := range strings.Fields(strings.NewReplacer(",", " ", ";", " ", ":", " ").Replace(l)) {
			if k := strings.LastIndexByte(f, '-'); strings.HasPrefix(f, "tick-") && strings.Count(f, "-") == 2 && k > 0 {
				if named[f[:k]] == nil {
					named[f[:k]] = map[string]bool{}
				}
				named[f[:k]][f] = true
			}
		}
	}
	a.Tend("delete", "cronjob", "tick")
	t.Logf("runs completed on both sides: %v; reports:\n%s", dup, all)
	// Each extra attempt is reported once: a run made twice once, one
	// that the heal's moment made three times (two hosts of one side
	// placed it apart as they heard of the third) at most twice.
	extras := map[string]int{}
	for _, l := range e2e.Lines(all) {
		if i := strings.Index(l, "; "); i >= 0 {
			extras[strings.TrimSuffix(l[strings.LastIndex(l, "; ")+2:], " is the extra")]++
		}
	}
	for x, n := range extras {
		if n != 1 {
			t.Errorf("attempt %s reported as the extra %d times:\n%s", x, n, all)
		}
	}
	for job, n := range got {
		if n > len(named[job])-1 {
			t.Errorf("%s reported %d times, with %d attempts:\n%s", job, n, len(named[job]), all)
		}
		// Where the run was made: the hosts its attempts started on (the
		// ledger), and those whose events say they made one of the
		// attempts the report names (one the heal stopped in its first
		// moments never wrote to the ledger).
		hosts := maps.Clone(started[job])
		if hosts == nil {
			hosts = map[string]bool{}
		}
		for attempt := range named[job] {
			if h := created[attempt]; h != "" {
				hosts[h] = true
			}
		}
		if !hosts["h2"] || !hosts["h0"] && !hosts["h1"] {
			t.Errorf("%s reported as a duplicate, though its attempts were made on %v only:\n%s", job, hosts, all)
		}
	}
}
