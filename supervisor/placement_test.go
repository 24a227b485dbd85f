package supervisor

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/tendhq/tend/units"
)

// simulate applies a replicated unit's plan to its instances, as every
// host together would: creates appear (running, ready, newest), deletes
// go, reslots renumber.
func simulate(owned []InstanceSummary, acts []Action, unit string, gen *int, now time.Time) []InstanceSummary {
	out := slices.Clone(owned)
	for _, a := range acts {
		switch a.Op {
		case OpCreate:
			*gen++
			out = append(out, InstanceSummary{
				Name: fmt.Sprintf("%s-%05d", unit, *gen), Unit: unit, Kind: units.KindReplicated, Slot: a.Slot, Host: a.Host,
				Labels: units.Labels{"app": unit}, Life: LifeRunning, Ready: true, Created: now, Started: now,
			})
		case OpDelete:
			out = slices.DeleteFunc(out, func(in InstanceSummary) bool { return in.Name == a.Instance && in.Host == a.Host })
		case OpReslot:
			for k := range out {
				if out[k].Name == a.Instance && out[k].Host == a.Host {
					out[k].Slot = a.Slot
				}
			}
		default:
			panic("unexpected " + a.String())
		}
	}
	slices.SortFunc(out, func(a, b InstanceSummary) int {
		if a.Name != b.Name {
			return cmpString(a.Name, b.Name)
		}
		return cmpString(a.Host, b.Host)
	})
	return out
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func hostNames(n int) []Member {
	var names []string
	for k := range n {
		names = append(names, fmt.Sprintf("h%02d", k))
	}
	return hosts(names...)
}

// checkSlots: exactly n instances on Ready hosts, each slot once.
func checkSlots(t *testing.T, what string, list []InstanceSummary, n int, members []Member) map[string]int {
	t.Helper()
	ready := map[string]bool{}
	for _, m := range members {
		ready[m.Name] = m.Status == HostReady
	}
	perHost := map[string]int{}
	seen := map[int]bool{}
	for _, in := range list {
		if !ready[in.Host] {
			continue
		}
		if in.Slot < 0 || in.Slot >= n || seen[in.Slot] {
			t.Fatalf("%s: slot %d of %s is out of range or taken twice", what, in.Slot, in.Name)
		}
		seen[in.Slot] = true
		perHost[in.Host]++
	}
	if len(seen) != n {
		t.Fatalf("%s: %d slots held, want %d", what, len(seen), n)
	}
	return perHost
}

// Placement's properties over random fleets: every slot placed exactly
// once, spread evenly, the plan idempotent (applied, the next plan is
// empty), a host that comes moves nothing, a host that goes moves only its
// own slots, and after a partition heals exactly N remain.
func TestPlacementProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for trial := range 300 {
		h := 1 + r.IntN(8)
		n := r.IntN(25)
		u := kubia(t, n)
		members := hostNames(h)
		gen := 0
		now := t0
		what := fmt.Sprintf("trial %d: %d replicas over %d hosts", trial, n, h)

		list := simulate(nil, planSet(u, nil, nil, members), "kubia", &gen, now)
		perHost := checkSlots(t, what, list, n, members)
		for host, c := range perHost {
			if limit := (n + h - 1) / h; c > limit || (n >= h && c < n/h) {
				t.Fatalf("%s: %s holds %d (%v)", what, host, c, perHost)
			}
		}
		if acts := planSet(u, list, nil, members); len(acts) != 0 {
			t.Fatalf("%s: the plan after the plan: %q", what, planStrings(acts))
		}

		// A new host: sticky, nothing moves.
		grown := hostNames(h + 1)
		if acts := planSet(u, list, nil, grown); len(acts) != 0 {
			t.Fatalf("%s: a new host moved %q", what, planStrings(acts))
		}

		// A host dies: exactly its slots are placed again, on the others.
		if h > 1 {
			dead := members[r.IntN(h)].Name
			down := hostNames(h)
			for k := range down {
				if down[k].Name == dead {
					down[k].Status = HostNotReady
				}
			}
			acts := planSet(u, list, nil, down)
			lost := map[int]bool{}
			for _, in := range list {
				if in.Host == dead {
					lost[in.Slot] = true
				}
			}
			if len(acts) != len(lost) {
				t.Fatalf("%s: %s died holding %d slots; plan %q", what, dead, len(lost), planStrings(acts))
			}
			for _, a := range acts {
				if a.Op != OpCreate || !lost[a.Slot] || a.Host == dead {
					t.Fatalf("%s: %s died; plan %q", what, dead, planStrings(acts))
				}
			}
			now = now.Add(time.Minute)
			failed := simulate(list, acts, "kubia", &gen, now)
			checkSlots(t, what+", failed over", failed, n, down)

			// It comes back with its instances: exactly n again, and it
			// is the newer copies of its slots that go.
			healed := planSet(u, failed, nil, members)
			for _, a := range healed {
				if a.Op == OpDelete && a.Host == dead {
					t.Fatalf("%s: the returning host's older instance went: %q", what, planStrings(healed))
				}
			}
			after := simulate(failed, healed, "kubia", &gen, now)
			checkSlots(t, what+", healed", after, n, members)
			if len(after) != n {
				t.Fatalf("%s: %d instances after the heal, want %d", what, len(after), n)
			}
			if acts := planSet(u, after, nil, members); len(acts) != 0 {
				t.Fatalf("%s: after the heal the plan is %q", what, planStrings(acts))
			}
		}

		// A partition: both sides ran all n; healed, n remain, spread.
		if h > 1 && n > 0 {
			left, right := hostNames(h), hostNames(h)
			cut := 1 + r.IntN(h-1)
			for k := range left {
				if k >= cut {
					left[k].Status = HostNotReady
				} else {
					right[k].Status = HostNotReady
				}
			}
			gl, gr := 0, 1000
			l := simulate(nil, planSet(u, nil, nil, left), "kubia", &gl, now)
			rt := simulate(nil, planSet(u, nil, nil, right), "kubia", &gr, now.Add(time.Second))
			both := simulate(append(l, rt...), nil, "kubia", &gl, now)
			acts := planSet(u, both, nil, members)
			again := simulate(both, acts, "kubia", &gen, now)
			checkSlots(t, what+", partition healed", again, n, members)
			if len(again) != n {
				t.Fatalf("%s: %d after the partition healed, want %d", what, len(again), n)
			}
		}
	}
}

// Adding a host to a large fleet moves nothing; placing new slots moves
// each to one host in a way that changes little when the hosts change.
func TestPlaceNewIsRendezvous(t *testing.T) {
	ten := []string{"h0", "h1", "h2", "h3", "h4", "h5", "h6", "h7", "h8", "h9"}
	slots := make([]int, 1000)
	for k := range slots {
		slots[k] = k
	}
	// With no load to balance (one slot of each of many units), the
	// winner of each key is the highest score: removing a host moves only
	// the keys it won.
	winner := func(key string, hosts []string) string {
		return placeNew(key, []int{0}, hosts, map[string]int{})[0]
	}
	moved, won := 0, 0
	for k := range 1000 {
		key := fmt.Sprintf("unit-%d", k)
		before := winner(key, ten)
		if before == "h3" {
			won++
		}
		if after := winner(key, slices.DeleteFunc(slices.Clone(ten), func(h string) bool { return h == "h3" })); after != before {
			moved++
			if before != "h3" {
				t.Fatalf("%s moved from %s to %s though h3 went", key, before, after)
			}
		}
	}
	if moved != won || won < 60 || won > 140 {
		t.Fatalf("h3 won %d of 1000 keys and %d moved; want ~100 and equal", won, moved)
	}
	if got := placeNew("kubia", []int{0, 1}, nil, map[string]int{}); got != nil {
		t.Fatalf("no hosts: %v", got)
	}
}

func TestInstanceNames(t *testing.T) {
	a := instanceName("kubia", 0, "edge-17", 1)
	if len(a) != len("kubia-")+5 || a[:6] != "kubia-" {
		t.Fatalf("name %q", a)
	}
	for _, c := range a[6:] {
		if !slices.Contains([]rune(nameAlphabet), c) {
			t.Fatalf("name %q has %q", a, c)
		}
	}
	if b := instanceName("kubia", 0, "edge-17", 1); b != a {
		t.Fatalf("the same inputs gave %q and %q", a, b)
	}
	seen := map[string]bool{a: true}
	for _, n := range []string{
		instanceName("kubia", 0, "edge-17", 2),
		instanceName("kubia", 1, "edge-17", 1),
		instanceName("kubia", 0, "edge-18", 1),
		instanceName("kubib", 0, "edge-17", 1),
	} {
		if seen[n[len(n)-5:]] {
			t.Fatalf("%q repeats a code", n)
		}
		seen[n[len(n)-5:]] = true
	}
}

// BenchmarkPlanSet1000Units is a full pass's planning over 1000 units of
// three replicas on 100 hosts, as after a change of the hosts.
func BenchmarkPlanSet1000Units(b *testing.B) {
	members := hostNames(100)
	us := make([]*units.Unit, 1000)
	owned := make([][]InstanceSummary, 1000)
	for k := range us {
		us[k] = mustUnit(b, fmt.Sprintf("u%04d", k), fmt.Sprintf("kind = \"replicated\"\nreplicas = 3\n[template]\nlabels = { app = \"u%04d\" }\ncommand = [\"x\"]\n", k))
		gen := 0
		owned[k] = simulate(nil, planSet(us[k], nil, nil, members), us[k].Name, &gen, t0)
		for j := range owned[k] {
			owned[k][j].Labels = units.Labels{"app": us[k].Name}
		}
	}
	for b.Loop() {
		for k, u := range us {
			if acts := planSet(u, owned[k], nil, members); len(acts) != 0 {
				b.Fatalf("%s: %q", u.Name, planStrings(acts))
			}
		}
	}
}
