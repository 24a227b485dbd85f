package supervisor

import (
	"encoding/binary"
	"hash/fnv"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/tendhq/tend/units"
)

// Placement: which host runs what. It is a pure function that every host
// evaluates alike from the same units, members and instances (DESIGN §7),
// so no leader is needed: each host then acts only on what falls to it.
// On one host, everything eligible falls to it; that is the same function
// given a membership of one.
//
//   - Replicated units have N numbered slots. A slot stays on the host
//     that runs it while that host is Ready and eligible (sticky: a
//     returning host does not pull work back). A slot without an instance
//     goes to the eligible host with the fewest of the unit's slots, and
//     among those to the one with the highest rendezvous score for
//     (unit, slot), so adding or losing a host moves only what it must.
//   - Per-host units have one instance on every Ready eligible host.
//   - Each completion index of a job (a cron run is a job) has one host,
//     which runs its attempts (indexHosts): the indexes go round the
//     eligible members in an order of the job's own, so that a job's
//     first attempts spread over the fleet, and an index whose host is
//     not Ready goes to the Ready host with the highest score for it.

// Member is a host as the supervisor sees it, from the Membership.
type Member struct {
	Name    string
	Labels  units.Labels
	Status  HostStatus
	Addr    string // where its agent is reached; "" on one host
	API     string // its inter-host API; "" when it serves none
	Version string
	Started time.Time // when its agent started
	Since   time.Time // when Status last changed, as this host saw it
}

// HostStatus is whether a host takes work.
type HostStatus uint8

// The host statuses, as `tend get hosts` shows them.
const (
	HostReady    HostStatus = iota + 1 // it answers; it takes work
	HostNotReady                       // it stopped answering; its instances show Unknown
	HostLeft                           // it said it was leaving
)

func (s HostStatus) String() string {
	switch s {
	case HostReady:
		return "Ready"
	case HostNotReady:
		return "NotReady"
	case HostLeft:
		return "Left"
	}
	return "Unknown"
}

// eligible reports whether a host with these labels may run u's instances.
func eligible(u *units.Unit, hostLabels units.Labels) bool {
	for k, v := range u.Placement.NodeSelector {
		if got, ok := hostLabels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// eligibleHosts are the names of the Ready members that may run u, in the
// members' order.
func eligibleHosts(u *units.Unit, members []Member) []string {
	out := make([]string, 0, len(members))
	for k := range members {
		if m := &members[k]; m.Status == HostReady && eligible(u, m.Labels) {
			out = append(out, m.Name)
		}
	}
	return out
}

// memberFinder returns a lookup of members by name. Members come sorted
// by name (Membership.Members), so a planning pass over many units and
// hosts finds each in log time without building a map per unit; an
// unsorted list (a test's) is searched in full. Members are large: they
// are compared in place, never copied.
func memberFinder(members []Member) (find func(name string) *Member, sorted bool) {
	sorted = true
	for k := 1; k < len(members) && sorted; k++ {
		sorted = members[k-1].Name < members[k].Name
	}
	return func(name string) *Member {
		if sorted {
			k := sort.Search(len(members), func(k int) bool { return members[k].Name >= name })
			if k < len(members) && members[k].Name == name {
				return &members[k]
			}
			return nil
		}
		for k := range members {
			if members[k].Name == name {
				return &members[k]
			}
		}
		return nil
	}, sorted
}

// score is host's rendezvous score for one slot of key: the slot goes to
// the highest. FNV-1a, then a 64-bit finaliser so that close inputs give
// unrelated scores.
func score(host, key string, slot int) uint64 {
	h := fnv.New64a()
	h.Write([]byte(host))
	h.Write([]byte{0})
	h.Write([]byte(key))
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(slot))
	h.Write(b[:])
	return mix64(h.Sum64())
}

// mix64 is the SplitMix64 finaliser.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// placeNew chooses a host for each of slots, new slots of key: the
// eligible host with the fewest slots of key so far (load, which it
// updates), and among those the highest score. It returns the hosts in
// the order of slots; nil when no host is eligible.
func placeNew(key string, slots []int, hosts []string, load map[string]int) []string {
	if len(hosts) == 0 {
		return nil
	}
	out := make([]string, len(slots))
	for k, slot := range slots {
		best, bestLoad, bestScore := "", 0, uint64(0)
		for _, h := range hosts {
			l, sc := load[h], score(h, key, slot)
			if best == "" || l < bestLoad || (l == bestLoad && sc > bestScore) {
				best, bestLoad, bestScore = h, l, sc
			}
		}
		out[k] = best
		load[best]++
	}
	return out
}

// keepSlots chooses which of a replicated unit's candidates (its active
// instances on eligible hosts, in the order to keep them: the reverse of
// deleteFirst) to keep for its n slots. Those with a process come first:
// as many as spread evenly allows (no host above ⌈n/hosts⌉), then, to
// reach n, the others that run wherever they are, since moving a running
// instance to even the spread is a disruption no one asked for. Only then
// those without a process (waiting to restart, or found dead by an agent
// that came back), spread first too: a returning host does not stop a
// running instance elsewhere to run its own slot again. It returns the
// indices kept, in the candidates' order.
func keepSlots(cands []InstanceSummary, n, hosts int) []int {
	if n <= 0 || len(cands) == 0 {
		return nil
	}
	limit := n
	if hosts > 0 {
		limit = (n + hosts - 1) / hosts
	}
	kept := make([]bool, len(cands))
	perHost := map[string]int{}
	var out []int
	take := func(running, spread bool) {
		for k := range cands {
			if len(out) == n {
				return
			}
			in := &cands[k]
			if kept[k] || in.running() != running || (spread && perHost[in.Host] >= limit) {
				continue
			}
			perHost[in.Host]++
			kept[k] = true
			out = append(out, k)
		}
	}
	take(true, true)
	take(true, false)
	take(false, true)
	take(false, false)
	slices.Sort(out)
	return out
}

// indexHosts returns the host of each completion index of the job
// named name, whose unit is spec; "" when no host may run it.
//
// The indexes go round every member that spec may run on, whatever its
// status, in the order of their scores for (name, 0): index i to the
// (i mod n)th. Counting members that are not Ready keeps each index's
// host where it was when one stops answering, so the hosts that have
// seen it go and those that have not yet agree on every index but the
// ones it held: the former give each of those to the Ready host with
// the highest score for (name, i), the latter leave it to the host they
// think alive. No host runs an index another runs, whatever each has
// heard. The first index's host is the one placeNew gives a new slot 0
// of name.
func indexHosts(name string, spec *units.Unit, members []Member) func(i int) string {
	type cand struct {
		name  string
		score uint64
		ready bool
	}
	var ring []cand
	var ready []string
	for k := range members {
		m := &members[k]
		if !eligible(spec, m.Labels) {
			continue
		}
		ring = append(ring, cand{m.Name, score(m.Name, name, 0), m.Status == HostReady})
		if m.Status == HostReady {
			ready = append(ready, m.Name)
		}
	}
	slices.SortFunc(ring, func(a, b cand) int {
		if a.score != b.score {
			if a.score > b.score {
				return -1
			}
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	return func(i int) string {
		if len(ring) == 0 {
			return ""
		}
		if c := ring[i%len(ring)]; c.ready {
			return c.name
		}
		if h := placeNew(name, []int{i}, ready, map[string]int{}); h != nil {
			return h[0]
		}
		return ""
	}
}
