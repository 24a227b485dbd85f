package supervisor

// The replicated and per-host controllers as pure functions: DESIGN §3
// items 2–8, each a table of facts (instances, hosts) and the exact plan,
// with no process, store or clock. The end-to-end tests in cmd/tend check
// the same scenarios through the CLI with real processes.

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/units"
)

var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

// mustUnit parses a unit file's text, as the catalog would.
func mustUnit(t testing.TB, name, text string) *units.Unit {
	t.Helper()
	u, err := units.Parse(name+".toml", []byte(text))
	if err != nil {
		t.Fatalf("unit %s: %v", name, err)
	}
	return u
}

// kubia is the seed's ReplicationController: three replicas, app=kubia.
func kubia(t testing.TB, replicas int) *units.Unit {
	return mustUnit(t, "kubia", fmt.Sprintf(`kind = "replicated"
replicas = %d
[template]
labels = { app = "kubia" }
command = ["kubia"]
`, replicas))
}

// hosts makes Ready members; "name=k=v" gives one a label.
func hosts(specs ...string) []Member {
	var out []Member
	for _, s := range specs {
		name, kv, _ := strings.Cut(s, "=")
		m := Member{Name: name, Status: HostReady, Labels: units.Labels{}}
		if k, v, ok := strings.Cut(kv, "="); ok {
			m.Labels[k] = v
		}
		out = append(out, m)
	}
	return out
}

// inst is a running, ready instance of owner in slot on host, started
// age ago.
func inst(name, owner string, kind units.Kind, slot int, host string, age time.Duration) InstanceSummary {
	return InstanceSummary{
		Name: name, Unit: owner, Kind: kind, Slot: slot, Host: host,
		Labels: units.Labels{"app": owner}, Life: LifeRunning, Ready: true,
		Created: t0.Add(-age), Started: t0.Add(-age),
	}
}

func rs(name string, slot int, host string, age time.Duration) InstanceSummary {
	return inst(name, "kubia", units.KindReplicated, slot, host, age)
}

func planStrings(acts []Action) []string {
	out := make([]string, len(acts))
	for k, a := range acts {
		out[k] = a.String()
	}
	return out
}

func checkPlan(t *testing.T, what string, got []Action, want ...string) {
	t.Helper()
	if g := planStrings(got); !slices.Equal(g, want) {
		t.Errorf("%s:\n got %q\nwant %q", what, g, want)
	}
}

func TestPlanSetReplicated(t *testing.T) {
	one := hosts("edge-17")
	notReady := func(in InstanceSummary) InstanceSummary { in.Ready = false; return in }
	relabel := func(in InstanceSummary, app string) InstanceSummary {
		in.Labels = units.Labels{"app": app}
		return in
	}
	orphan := func(in InstanceSummary) InstanceSummary { in.Unit = ""; return in }
	cases := []struct {
		name     string
		replicas int
		owned    []InstanceSummary
		orphans  []InstanceSummary
		want     []string
	}{
		{"a new unit gets its slots", 3, nil, nil,
			[]string{"create slot 0 on edge-17", "create slot 1 on edge-17", "create slot 2 on edge-17"}},
		{"at its count: nothing to do", 3,
			[]InstanceSummary{rs("kubia-a", 0, "edge-17", time.Hour), rs("kubia-b", 1, "edge-17", time.Hour), rs("kubia-c", 2, "edge-17", time.Hour)},
			nil, nil},
		// §3.2: a deleted instance (it shows Terminating, then goes) does
		// not count: its slot gets a replacement at once.
		{"a deleted instance is replaced", 3,
			[]InstanceSummary{rs("kubia-a", 0, "edge-17", time.Hour), {Name: "kubia-b", Unit: "kubia", Kind: units.KindReplicated, Slot: 1, Host: "edge-17", Life: LifeStopping, Terminating: true, Labels: units.Labels{"app": "kubia"}}, rs("kubia-c", 2, "edge-17", time.Hour)},
			nil, []string{"create slot 1 on edge-17"}},
		// §3.3: relabelled out of the selector: orphaned and replaced.
		{"relabelled out: released and replaced", 3,
			[]InstanceSummary{rs("kubia-a", 0, "edge-17", time.Hour), relabel(rs("kubia-b", 1, "edge-17", time.Hour), "foo"), rs("kubia-c", 2, "edge-17", time.Hour)},
			nil, []string{"release kubia-b (edge-17)", "create slot 1 on edge-17"}},
		// §3.3: relabelled back: adopted, and the surplus (the newest, the
		// replacement) goes.
		{"relabelled back: adopted, the surplus goes", 3,
			[]InstanceSummary{rs("kubia-a", 0, "edge-17", time.Hour), rs("kubia-c", 2, "edge-17", time.Hour), rs("kubia-d", 1, "edge-17", time.Minute)},
			[]InstanceSummary{orphan(rs("kubia-b", 1, "edge-17", time.Hour))},
			[]string{"adopt kubia-b (edge-17)", "delete kubia-d (edge-17): scaled down"}},
		{"an orphan that does not match stays alone", 3,
			[]InstanceSummary{rs("kubia-a", 0, "edge-17", time.Hour), rs("kubia-b", 1, "edge-17", time.Hour), rs("kubia-c", 2, "edge-17", time.Hour)},
			[]InstanceSummary{orphan(relabel(rs("kubia-x", 1, "edge-17", time.Hour), "foo"))}, nil},
		// §3.5: scale up fills the new slots; scale down removes the
		// not-ready, then the newest first.
		{"scale up", 5,
			[]InstanceSummary{rs("kubia-a", 0, "edge-17", time.Hour), rs("kubia-b", 1, "edge-17", time.Hour), rs("kubia-c", 2, "edge-17", time.Hour)},
			nil, []string{"create slot 3 on edge-17", "create slot 4 on edge-17"}},
		{"scale down: not ready and newest first, and the kept renumbered", 2,
			[]InstanceSummary{rs("kubia-a", 0, "edge-17", 3*time.Hour), notReady(rs("kubia-b", 1, "edge-17", 2*time.Hour)), rs("kubia-c", 2, "edge-17", time.Hour), rs("kubia-d", 3, "edge-17", time.Minute)},
			nil, []string{"delete kubia-b (edge-17): scaled down", "delete kubia-d (edge-17): scaled down", "reslot kubia-c (edge-17) to 1"}},
		{"scale to zero", 0,
			[]InstanceSummary{rs("kubia-a", 0, "edge-17", time.Hour), rs("kubia-b", 1, "edge-17", time.Minute)},
			nil, []string{"delete kubia-b (edge-17): scaled down", "delete kubia-a (edge-17): scaled down"}},
		{"an instance that finished for good is replaced", 2,
			[]InstanceSummary{rs("kubia-a", 0, "edge-17", time.Hour), {Name: "kubia-b", Unit: "kubia", Kind: units.KindReplicated, Slot: 1, Host: "edge-17", Life: LifeExited, Labels: units.Labels{"app": "kubia"}}},
			nil, []string{"delete kubia-b (edge-17): finished", "create slot 1 on edge-17"}},
		{"instances of the unit's former kind go", 1,
			[]InstanceSummary{inst("kubia-j", "kubia", units.KindJob, 0, "edge-17", time.Hour)},
			nil, []string{"delete kubia-j (edge-17): the unit's kind changed", "create slot 0 on edge-17"}},
		// Records from before slots existed all say slot 0: they keep
		// running and are renumbered, nothing restarts.
		{"duplicate slots are renumbered, not restarted", 3,
			[]InstanceSummary{rs("kubia-a", 0, "edge-17", 3*time.Hour), rs("kubia-b", 0, "edge-17", 2*time.Hour), rs("kubia-c", 0, "edge-17", time.Hour)},
			nil, []string{"reslot kubia-b (edge-17) to 1", "reslot kubia-c (edge-17) to 2"}},
		{"a back-off still holds its slot", 1,
			[]InstanceSummary{{Name: "kubia-a", Unit: "kubia", Kind: units.KindReplicated, Host: "edge-17", Life: LifeBackOff, Labels: units.Labels{"app": "kubia"}}},
			nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			checkPlan(t, c.name, planSet(kubia(t, c.replicas), c.owned, c.orphans, one), c.want...)
		})
	}
}

// tend stop: a stopped unit deletes all it owns, on any host, creates and
// adopts nothing; started again, its slots fill.
func TestPlanSetStopped(t *testing.T) {
	two := hosts("edge-17", "edge-18")
	stopped := mustUnit(t, "kubia", "kind = \"replicated\"\nreplicas = 3\nstopped = true\n[template]\nlabels = { app = \"kubia\" }\ncommand = [\"kubia\"]\n")
	owned := []InstanceSummary{rs("kubia-a", 0, "edge-17", time.Hour), rs("kubia-b", 1, "edge-18", time.Hour)}
	orphan := rs("kubia-x", 2, "edge-17", time.Hour)
	orphan.Unit = ""
	checkPlan(t, "stopped", planSet(stopped, owned, []InstanceSummary{orphan}, two),
		"delete kubia-a (edge-17): unit stopped", "delete kubia-b (edge-18): unit stopped")
	checkPlan(t, "stopped, nothing left", planSet(stopped, nil, nil, two))
	ds := mustUnit(t, "ssd", "kind = \"per-host\"\nstopped = true\n[template]\nlabels = { app = \"ssd\" }\ncommand = [\"ssd\"]\n")
	checkPlan(t, "stopped per-host", planSet(ds, []InstanceSummary{inst("ssd-a", "ssd", units.KindPerHost, 0, "edge-17", time.Hour)}, nil, two),
		"delete ssd-a (edge-17): unit stopped")
	checkPlan(t, "started again", planSet(kubia(t, 3), nil, nil, two),
		"create slot 0 on edge-18", "create slot 1 on edge-17", "create slot 2 on edge-17")
}

// §3.7: match_expressions decide what a unit owns and adopts.
func TestPlanSetMatchExpressions(t *testing.T) {
	u := mustUnit(t, "kubia", `kind = "replicated"
replicas = 1
[selector]
match_expressions = [{ key = "app", operator = "In", values = ["kubia"] }, { key = "env", operator = "NotIn", values = ["test"] }]
[template]
labels = { app = "kubia" }
command = ["kubia"]
`)
	test := rs("kubia-t", 0, "edge-17", time.Hour)
	test.Labels = units.Labels{"app": "kubia", "env": "test"}
	checkPlan(t, "env=test no longer matches", planSet(u, []InstanceSummary{test}, nil, hosts("edge-17")),
		"release kubia-t (edge-17)", "create slot 0 on edge-17")
	prod := rs("kubia-p", 0, "edge-17", time.Hour)
	prod.Unit, prod.Labels = "", units.Labels{"app": "kubia", "env": "prod"}
	checkPlan(t, "env=prod is adopted", planSet(u, nil, []InstanceSummary{test, prod}, hosts("edge-17")),
		"adopt kubia-p (edge-17)")
}

// §3.8: a per-host unit follows the hosts' labels.
func TestPlanSetPerHost(t *testing.T) {
	ds := mustUnit(t, "ssd-monitor", `kind = "per-host"
[placement]
node_selector = { disk = "ssd" }
[template]
labels = { app = "ssd-monitor" }
command = ["ssd-monitor"]
`)
	mon := func(name, host string) InstanceSummary {
		return inst(name, "ssd-monitor", units.KindPerHost, 0, host, time.Hour)
	}
	cases := []struct {
		name  string
		hosts []Member
		owned []InstanceSummary
		want  []string
	}{
		{"no host matches", hosts("edge-17"), nil, nil},
		{"a host labelled disk=ssd gets one", hosts("edge-17=disk=ssd"), nil, []string{"create slot 0 on edge-17"}},
		{"one per matching host", hosts("a=disk=ssd", "b=disk=hdd", "c=disk=ssd"), nil,
			[]string{"create slot 0 on a", "create slot 0 on c"}},
		{"labelled away: terminated", hosts("edge-17=disk=hdd"), []InstanceSummary{mon("ssd-monitor-a", "edge-17")},
			[]string{"delete ssd-monitor-a (edge-17): its host no longer matches the node selector"}},
		{"two on one host: the newer goes", hosts("edge-17=disk=ssd"),
			[]InstanceSummary{mon("ssd-monitor-a", "edge-17"), inst("ssd-monitor-b", "ssd-monitor", units.KindPerHost, 0, "edge-17", time.Minute)},
			[]string{"delete ssd-monitor-b (edge-17): another instance holds its slot"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for k := range c.owned {
				c.owned[k].Labels = units.Labels{"app": "ssd-monitor"}
			}
			checkPlan(t, c.name, planSet(ds, c.owned, nil, c.hosts), c.want...)
		})
	}
}

// A host that stops answering: its instances neither count nor go, so
// their slots are placed elsewhere; when it is back, the duplicates go by
// the same order on every host.
func TestPlanSetAcrossHosts(t *testing.T) {
	u := kubia(t, 3)
	three := hosts("a", "b", "c")
	placed := planSet(u, nil, nil, three)
	perHost := map[string]int{}
	for _, a := range placed {
		perHost[a.Host]++
	}
	if len(placed) != 3 || perHost["a"] != 1 || perHost["b"] != 1 || perHost["c"] != 1 {
		t.Fatalf("three slots over three hosts: %q", planStrings(placed))
	}

	running := []InstanceSummary{rs("kubia-a", 0, "a", time.Hour), rs("kubia-b", 1, "b", time.Hour), rs("kubia-c", 2, "c", time.Hour)}
	cDown := hosts("a", "b", "c")
	cDown[2].Status = HostNotReady
	acts := planSet(u, running, nil, cDown)
	if len(acts) != 1 || acts[0].Op != OpCreate || acts[0].Slot != 2 || acts[0].Host == "c" {
		t.Fatalf("c is down: want slot 2 created on a or b, got %q", planStrings(acts))
	}
	if acts[0].From != "c" || acts[0].FromStatus != HostNotReady {
		t.Errorf("slot 2 rescheduled: from %q (%v), want c (NotReady)", acts[0].From, acts[0].FromStatus)
	}
	cLeft := hosts("a", "b", "c")
	cLeft[2].Status = HostLeft
	if acts := planSet(u, running, nil, cLeft); len(acts) != 1 || acts[0].From != "c" || acts[0].FromStatus != HostLeft {
		t.Errorf("c left: %q", planStrings(acts))
	}
	// A slot that is simply new comes from nowhere.
	for _, a := range placed {
		if a.From != "" {
			t.Errorf("a new slot says it came from %s", a.From)
		}
	}

	// c returns while slot 2 runs on a as well: one of the two goes, and
	// it is the newer (c's has run for an hour).
	healed := append(slices.Clone(running), rs("kubia-d", 2, acts[0].Host, time.Minute))
	checkPlan(t, "healed", planSet(u, healed, nil, three), "delete kubia-d ("+acts[0].Host+"): scaled down")

	// c comes back after dying with its instance, which its agent finds
	// without a process: the replacement, which runs, stays where it is,
	// though the spread is uneven then; c's instance goes. A returning
	// host does not pull work back.
	dead := slices.Clone(healed)
	dead[2].Life, dead[2].Ready = LifePending, false
	checkPlan(t, "returned without its process", planSet(u, dead, nil, three), "delete kubia-c (c): scaled down")
	// Unless the replacement is not running either: then the spread
	// decides, and c keeps its slot.
	dead[3].Life, dead[3].Ready = LifePending, false
	checkPlan(t, "neither runs", planSet(u, dead, nil, three), "delete kubia-d ("+acts[0].Host+"): scaled down")

	// Nothing is eligible: nothing is placed, and nothing runs nowhere
	// because of it.
	none := hosts("a")
	none[0].Status = HostNotReady
	checkPlan(t, "no Ready host", planSet(u, nil, nil, none))
}

// What a host's earlier agent said of its instances does not hold once
// that host runs a new agent: its processes may have died with the host.
// Until the new agent says otherwise, they count as not running, and the
// running replacements elsewhere stay.
func TestAnEarlierAgentsWordIsStale(t *testing.T) {
	u := kubia(t, 3)
	three := hosts("a", "b", "c")
	boot := t0.Add(-time.Hour)
	for k := range three {
		three[k].Started = boot
	}
	said := []InstanceSummary{rs("kubia-a", 0, "a", time.Hour), rs("kubia-b", 1, "b", time.Hour), rs("kubia-c", 2, "c", time.Hour), rs("kubia-d", 2, "a", time.Minute)}
	for k := range said {
		said[k].Agent = boot
	}
	c := &three[2]
	if said[2].stale(c) {
		t.Fatal("c's word is stale while the agent that said it runs")
	}
	// c's agent restarted (a millisecond is enough): what it said before
	// is stale, what its new agent says is not, and an agent that does
	// not say when it started is taken at its word.
	c.Started = boot.Add(time.Millisecond)
	if !said[2].stale(c) {
		t.Fatal("c's word from its earlier agent is not stale")
	}
	fresh := said[2]
	fresh.Agent = c.Started
	old := said[2]
	old.Agent = time.Time{}
	if fresh.stale(c) || old.stale(c) || said[2].stale(nil) {
		t.Fatal("a fresh word, or one that does not say its agent, is stale")
	}
	got := said[2].unknownProcess()
	if got.running() || got.Ready || got.Status != "Unknown" || got.PID != 0 {
		t.Fatalf("a stale running instance: %+v", got)
	}
	exited := said[2]
	exited.Life, exited.ExitCode = LifeExited, 0
	if exited.unknownProcess().Life != LifeExited {
		t.Fatal("a stale exit is no longer an exit")
	}
	// The planner then keeps the replacement that runs on a.
	view := slices.Clone(said)
	view[2] = view[2].unknownProcess()
	checkPlan(t, "c restarted", planSet(u, view, nil, three), "delete kubia-c (c): scaled down")
	checkPlan(t, "c's word taken as it was", planSet(u, said, nil, three), "delete kubia-d (a): scaled down")
}

// After a partition heals, an exclusive unit's two instances can both
// say Running for a moment (the side that lost the lease has stopped
// its own, but its summary is not in yet): the one under the later
// lease stays, however long the other ran.
func TestPlanSetKeepsTheLaterLease(t *testing.T) {
	u := mustUnit(t, "db", `kind = "replicated"
replicas = 1
exclusive = true
[template]
labels = { app = "db" }
command = ["db"]
`)
	fenced := func(name, host string, age time.Duration, epoch uint64) InstanceSummary {
		in := inst(name, "db", units.KindReplicated, 0, host, age)
		in.FenceEpoch = epoch
		return in
	}
	two := hosts("h0", "h1")
	checkPlan(t, "the older lease goes", planSet(u, []InstanceSummary{fenced("db-a", "h0", time.Hour, 1), fenced("db-b", "h1", time.Second, 2)}, nil, two),
		"delete db-a (h0): scaled down")
	checkPlan(t, "whichever host holds it", planSet(u, []InstanceSummary{fenced("db-a", "h0", time.Second, 4), fenced("db-b", "h1", time.Hour, 3)}, nil, two),
		"delete db-b (h1): scaled down")
}

// tend rollout restart: one instance at a time, each replacement Ready
// before its old instance goes, none while the plan has other work.
func TestPlanSetRollout(t *testing.T) {
	const r = "2026-12-03T12:00:00Z"
	two := hosts("edge-17", "edge-18")
	unit := func(extra string, replicas int) *units.Unit {
		return mustUnit(t, "kubia", fmt.Sprintf("kind = \"replicated\"\nreplicas = %d\nrestarted_at = %q\n%s\n[template]\nlabels = { app = \"kubia\" }\ncommand = [\"kubia\"]\n", replicas, r, extra))
	}
	made := func(in InstanceSummary, rollout string, ready bool) InstanceSummary {
		in.Rollout, in.Ready = rollout, ready
		return in
	}
	a, b := rs("kubia-a", 0, "edge-17", time.Hour), rs("kubia-b", 1, "edge-18", time.Hour)
	x := made(rs("kubia-x", 0, "edge-17", time.Second), r, false)
	y := made(rs("kubia-y", 1, "edge-18", time.Second), r, true)
	for _, c := range []struct {
		name  string
		u     *units.Unit
		owned []InstanceSummary
		want  []string
	}{
		{"the first old instance gets a replacement, in its slot on its host", unit("", 2), []InstanceSummary{a, b},
			[]string{"create slot 0 on edge-17"}},
		{"the replacement starting: nothing else", unit("", 2), []InstanceSummary{a, b, x}, nil},
		{"the replacement Ready: the old goes, the next begins", unit("", 2), []InstanceSummary{a, b, made(x, r, true)},
			[]string{"delete kubia-a (edge-17): " + whyRollout, "create slot 1 on edge-18"}},
		{"the last old goes", unit("", 2), []InstanceSummary{made(x, r, true), b, y},
			[]string{"delete kubia-b (edge-18): " + whyRollout}},
		{"all replaced: nothing", unit("", 2), []InstanceSummary{made(x, r, true), y}, nil},
		{"a missing slot first, then the rollout", unit("", 3), []InstanceSummary{a, b},
			[]string{"create slot 2 on edge-17"}},
		{"a replacement never Ready: the old keeps running", unit("", 2), []InstanceSummary{a, b, made(x, r, false)}, nil},
		{"exclusive: the old goes first, its slot is then refilled", unit("exclusive = true", 1), []InstanceSummary{a},
			[]string{"delete kubia-a (edge-17): " + whyRollout}},
		{"no rollout asked: nothing", kubia(t, 2), []InstanceSummary{a, b}, nil},
	} {
		checkPlan(t, c.name, planSet(c.u, c.owned, nil, two), c.want...)
	}

	ds := mustUnit(t, "ssd", "kind = \"per-host\"\nrestarted_at = \""+r+"\"\n[template]\nlabels = { app = \"ssd\" }\ncommand = [\"ssd\"]\n")
	s17, s18 := inst("ssd-a", "ssd", units.KindPerHost, 0, "edge-17", time.Hour), inst("ssd-b", "ssd", units.KindPerHost, 0, "edge-18", time.Hour)
	checkPlan(t, "per-host: on the first host", planSet(ds, []InstanceSummary{s17, s18}, nil, two), "create slot 0 on edge-17")
	n17 := made(inst("ssd-n", "ssd", units.KindPerHost, 0, "edge-17", time.Second), r, false)
	checkPlan(t, "per-host: its replacement starting", planSet(ds, []InstanceSummary{s17, s18, n17}, nil, two))
	checkPlan(t, "per-host: its replacement Ready", planSet(ds, []InstanceSummary{s17, s18, made(n17, r, true)}, nil, two),
		"delete ssd-a (edge-17): "+whyRollout, "create slot 0 on edge-18")
}
