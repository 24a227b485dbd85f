package supervisor

import (
	"fmt"
	"slices"
	"sort"
	"strconv"

	"github.com/tendhq/tend/units"
)

// The planners: the replicated, per-host, job and cron controllers as pure
// functions. Each takes one unit and what is known of its instances (on
// every host) and of the hosts, and returns what should change, for the
// whole fleet; the loop applies what falls to this host and leaves the
// rest to the other hosts, which compute the same plan. A plan applied in
// full makes the next plan over the same facts empty: the planners
// reconcile, they do not react. The data flow around them is drawn in
// the package comment (loop.go).

// Op is what an Action does.
type Op uint8

// The actions on instances.
const (
	OpCreate  Op = iota + 1 // make an instance for Slot on Host, and start it
	OpDelete                // stop Instance if it runs, then remove it
	OpRelease               // Instance no longer matches the selector: it runs on, orphaned
	OpAdopt                 // the orphaned Instance matches the selector: the unit takes it
	OpReslot                // Instance, which keeps running, becomes slot Slot
)

func (o Op) String() string {
	switch o {
	case OpCreate:
		return "create"
	case OpDelete:
		return "delete"
	case OpRelease:
		return "release"
	case OpAdopt:
		return "adopt"
	case OpReslot:
		return "reslot"
	}
	return fmt.Sprintf("Op(%d)", int(o))
}

// Action is one step of a plan.
type Action struct {
	Op       Op
	Instance string // every Op but OpCreate
	// Host is where OpCreate runs the new instance, and the host of
	// Instance for the others: only that host acts.
	Host string
	Slot int    // OpCreate, OpReslot
	Why  string // OpDelete: why, for the log and the event
	// From is, for an OpCreate, the host whose instance held the slot
	// before it went NotReady or left, and FromStatus that host's status:
	// the slot is rescheduled, not new.
	From       string
	FromStatus HostStatus
}

func (a Action) String() string {
	switch a.Op {
	case OpCreate:
		if a.From != "" {
			return fmt.Sprintf("create slot %d on %s (from %s, %s)", a.Slot, a.Host, a.From, a.FromStatus)
		}
		return fmt.Sprintf("create slot %d on %s", a.Slot, a.Host)
	case OpReslot:
		return fmt.Sprintf("reslot %s (%s) to %d", a.Instance, a.Host, a.Slot)
	case OpDelete:
		return fmt.Sprintf("delete %s (%s): %s", a.Instance, a.Host, a.Why)
	}
	return fmt.Sprintf("%s %s (%s)", a.Op, a.Instance, a.Host)
}

// Why an instance is deleted.
const (
	whyScaledDown   = "scaled down"
	whyDuplicate    = "another instance holds its slot"
	whyNodeSelector = "its host no longer matches the node selector"
	whyFinished     = "finished"
	whyKindChanged  = "the unit's kind changed"
	whyUnitDeleted  = "unit deleted"
	whyRequested    = "deleted by request"
	whyJobFinished  = "job finished"
	whyParallelism  = "parallelism lowered"
	whyIndexDone    = "another attempt completed its index"
	whyTTL          = "ttl after finished"
	whyJobDeleted   = "job deleted"
	whyStopped      = "unit stopped"
	whyRollout      = "rollout restart: its replacement is ready"
)

// announced reports whether deleting for why gives the unit a
// SuccessfulDelete event, as the ReplicaSet and DaemonSet controllers
// give one when they remove a pod of their own accord.
func announced(why string) bool {
	return why == whyScaledDown || why == whyDuplicate || why == whyNodeSelector || why == whyRollout
}

func deleteOf(in *InstanceSummary, why string) Action {
	return Action{Op: OpDelete, Instance: in.Name, Host: in.Host, Why: why}
}

// planSet is the replicated and the per-host controller for u.
//
// owned are the instances whose owner is u, orphans the instances that
// have none, on every host, each list sorted by name; members are every
// host with its labels and readiness. It releases owned instances that no
// longer match the selector and adopts orphans that do; it removes
// instances that finished for good or were made by the unit's former
// kind; then, over the instances that remain and whose host is Ready:
//
//   - replicated: keeps Replicas of them (keepSlots: the ones the
//     ReplicaSet controller would keep, spread evenly where that costs no
//     restart), deletes the rest, renumbers kept instances whose slot is
//     out of range or taken, and creates an instance for each slot still
//     empty, placed by placeNew;
//   - per-host: keeps one on each Ready host that matches the node
//     selector (the best, by deleteFirst), deletes the others, and creates
//     one where there is none.
//
// Instances on a host that is not Ready neither count nor go: that host
// cannot be told to stop them, and they show Unknown until it returns,
// when the plan finds them duplicates and one of each pair goes.
//
// A stopped unit (stopped = true) deletes every instance it owns and
// adopts none: it wants none to run.
func planSet(u *units.Unit, owned, orphans []InstanceSummary, members []Member) []Action {
	var acts []Action
	active := make([]InstanceSummary, 0, len(owned))
	for k := range owned {
		in := &owned[k]
		switch {
		case in.Terminating:
		case in.Kind != u.Kind:
			acts = append(acts, deleteOf(in, whyKindChanged))
		case !u.Selector.Matches(in.Labels):
			acts = append(acts, Action{Op: OpRelease, Instance: in.Name, Host: in.Host})
		case in.Life == LifeExited:
			acts = append(acts, deleteOf(in, whyFinished))
		default:
			active = append(active, *in)
		}
	}
	if u.Stopped {
		for k := range active {
			acts = append(acts, deleteOf(&active[k], whyStopped))
		}
		return acts
	}
	if !u.Selector.Empty() {
		for k := range orphans {
			in := orphans[k]
			if in.active() && u.Selector.Matches(in.Labels) {
				acts = append(acts, Action{Op: OpAdopt, Instance: in.Name, Host: in.Host})
				in.Unit, in.Kind = u.Name, u.Kind
				active = append(active, in)
			}
		}
	}

	hosts := eligibleHosts(u, members) // in the members' order
	find, sorted := memberFinder(members)
	status := func(host string) HostStatus {
		if m := find(host); m != nil {
			return m.Status
		}
		return 0
	}
	isEligible := func(host string) bool {
		if sorted {
			_, ok := slices.BinarySearch(hosts, host)
			return ok
		}
		return slices.Contains(hosts, host)
	}
	cands := make([]InstanceSummary, 0, len(active))
	var lost map[int]*InstanceSummary // slot → its instance on a host that is not Ready
	for k := range active {
		in := &active[k]
		switch {
		case status(in.Host) != HostReady:
			if lost == nil {
				lost = map[int]*InstanceSummary{}
			}
			if _, ok := lost[in.Slot]; !ok {
				lost[in.Slot] = in
			}
		case !isEligible(in.Host):
			acts = append(acts, deleteOf(in, whyNodeSelector))
		default:
			cands = append(cands, *in)
		}
	}
	// Best first: the reverse of the order in which they would go.
	sort.SliceStable(cands, func(a, b int) bool { return deleteFirst(&cands[b], &cands[a]) })
	cands, rolled, surging := rollout(u, cands)
	acts = append(acts, rolled...)
	if u.Kind == units.KindPerHost {
		plan := planPerHost(cands, hosts)
		if len(plan) == 0 && !surging {
			plan = surge(u, cands)
		}
		return append(acts, plan...)
	}
	plan := planSlots(u, cands, hosts)
	if len(plan) == 0 && !surging {
		plan = surge(u, cands)
	}
	acts = append(acts, plan...)
	for k := range acts {
		if a := &acts[k]; a.Op == OpCreate && lost[a.Slot] != nil {
			a.From, a.FromStatus = lost[a.Slot].Host, status(lost[a.Slot].Host)
		}
	}
	return acts
}

// A rollout restart (restarted_at, which tend rollout restart sets)
// replaces every instance made under another restarted_at than the
// unit's, one at a time and without a moment with fewer Ready instances:
// surge makes the replacement of one old instance, in its slot (a
// per-host unit: on its host) and on its host, when the plan has nothing
// else to do; rollout hides that replacement from the planner (which
// would stop it as one too many) until it is Ready, then deletes the old
// one. An exclusive unit's one instance cannot run twice: it is deleted,
// and its replacement made as for any missing slot. Every host computes
// the same, and the host of the old instance acts, so the fleet replaces
// one instance at a time. A replacement that never gets Ready stalls the
// rollout with the old instance still running.

// rolloutKey is what an old instance and its replacement share: the
// slot, or for a per-host unit the host.
func rolloutKey(u *units.Unit, in *InstanceSummary) string {
	if u.Kind == units.KindPerHost {
		return in.Host
	}
	return strconv.Itoa(in.Slot)
}

// rollout returns cands without the replacements that are not Ready yet
// and without the old instances whose replacement is, which it deletes;
// surging reports a replacement under way.
func rollout(u *units.Unit, cands []InstanceSummary) (kept []InstanceSummary, acts []Action, surging bool) {
	if u.RestartedAt == "" {
		return cands, nil, false
	}
	fresh := map[string]bool{} // key → a replacement there
	ready := map[string]bool{} // key → a Ready replacement there
	old := map[string]bool{}   // key → an old instance there
	for k := range cands {
		in := &cands[k]
		key := rolloutKey(u, in)
		if in.Rollout == u.RestartedAt {
			fresh[key] = true
			ready[key] = ready[key] || in.Ready && in.Life == LifeRunning
		} else {
			old[key] = true
		}
	}
	kept = make([]InstanceSummary, 0, len(cands))
	for k := range cands {
		in := &cands[k]
		key := rolloutKey(u, in)
		switch {
		case !old[key] || !fresh[key]:
			kept = append(kept, *in)
		case in.Rollout != u.RestartedAt && ready[key]:
			acts = append(acts, deleteOf(in, whyRollout))
		case in.Rollout == u.RestartedAt && !ready[key]:
			surging = true // starting: not yet one of the unit's
		default:
			kept = append(kept, *in)
		}
	}
	return kept, acts, surging
}

// surge begins the replacement of the first old instance of cands (by
// slot, then host, then name), as rollout describes.
func surge(u *units.Unit, cands []InstanceSummary) []Action {
	if u.RestartedAt == "" {
		return nil
	}
	var first *InstanceSummary
	for k := range cands {
		in := &cands[k]
		if in.Rollout == u.RestartedAt {
			continue
		}
		if first == nil || in.Slot < first.Slot || in.Slot == first.Slot && (in.Host < first.Host || in.Host == first.Host && in.Name < first.Name) {
			first = in
		}
	}
	switch {
	case first == nil:
		return nil
	case u.Exclusive:
		return []Action{deleteOf(first, whyRollout)}
	}
	return []Action{{Op: OpCreate, Host: first.Host, Slot: first.Slot}}
}

// planSlots keeps u.Replicas of cands (best first) in slots 0..Replicas−1
// and fills the empty slots.
func planSlots(u *units.Unit, cands []InstanceSummary, hosts []string) []Action {
	var acts []Action
	n := max(u.Replicas, 0)
	keep := keepSlots(cands, n, len(hosts))
	kept := make([]bool, len(cands))
	for _, k := range keep {
		kept[k] = true
	}
	// What goes, worst first, as the events then read.
	for k := len(cands) - 1; k >= 0; k-- {
		if !kept[k] {
			acts = append(acts, deleteOf(&cands[k], whyScaledDown))
		}
	}
	taken := make([]bool, n)
	var unslotted []int
	for _, k := range keep {
		if s := cands[k].Slot; s >= 0 && s < n && !taken[s] {
			taken[s] = true
		} else {
			unslotted = append(unslotted, k)
		}
	}
	var free []int
	for s := range n {
		if !taken[s] {
			free = append(free, s)
		}
	}
	for j, k := range unslotted {
		acts = append(acts, Action{Op: OpReslot, Instance: cands[k].Name, Host: cands[k].Host, Slot: free[j]})
	}
	free = free[len(unslotted):]
	load := make(map[string]int, len(keep)) // sized by what runs: hosts may be many
	for _, k := range keep {
		load[cands[k].Host]++
	}
	for j, h := range placeNew(u.Name, free, hosts, load) {
		acts = append(acts, Action{Op: OpCreate, Host: h, Slot: free[j]})
	}
	return acts
}

// planPerHost keeps the best of cands on each eligible host and creates
// one where there is none.
func planPerHost(cands []InstanceSummary, hosts []string) []Action {
	var acts []Action
	seen := make(map[string]bool, len(hosts))
	for k := range cands {
		in := &cands[k]
		if seen[in.Host] {
			acts = append(acts, deleteOf(in, whyDuplicate))
			continue
		}
		seen[in.Host] = true
	}
	for _, h := range hosts {
		if !seen[h] {
			acts = append(acts, Action{Op: OpCreate, Host: h})
		}
	}
	return acts
}
