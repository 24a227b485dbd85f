package supervisor

// The job controller in a fleet whose hosts see one another late: each
// host plans one job over its own view, as reconcileJob does (its record,
// seenAttempts, planJob, acting only on its own actions), while another
// host's attempts reach it a gossip round or more behind, and one host
// dies and is seen dead by each survivor at its own moment. Pure and
// seeded: the clock is the simulation's.

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/units"
)

// fleetSim is one run of the simulation.
type fleetSim struct {
	t       *testing.T
	rng     *rand.Rand
	spec    *units.Unit
	hosts   []string
	dead    string            // the host that dies, at diesAt
	diesAt  time.Time         // zero: none dies
	seenAt  []time.Time       // when each host sees dead NotReady
	lag     [][]time.Duration // lag[h][o]: how late h sees o's attempts
	recs    []jobRecord
	own     [][]*simAttempt // each host's attempts, as it knows them
	history [][]simSnapshot // each host's attempts as it published them
	names   int
	version []int     // each host's count of changes to its attempts
	planned []viewKey // what each host last planned over
	wake    []time.Time
	log     []string // what happened, for a failure's message
}

type simAttempt struct {
	sum InstanceSummary
	end time.Time // when its process exits
	ok  bool      // with 0
}

type simSnapshot struct {
	at      time.Time
	version int
	list    []InstanceSummary
}

// viewKey names what a host sees: its own attempts' version, the
// snapshot of each other host's it sees, and whether it sees the dead
// host dead. A host plans again when it changes, as the loop does when
// an event comes, or when its plan asked to look again.
type viewKey struct {
	own     int
	visible [3]int
	dead    bool
}

const simStep = 10 * time.Millisecond

func newFleetSim(t *testing.T, seed uint64, keys string, withDeath bool) *fleetSim {
	s := &fleetSim{t: t, rng: rand.New(rand.NewPCG(seed, 1)), spec: batchJob(t, keys), hosts: []string{"h0", "h1", "h2"}}
	n := len(s.hosts)
	s.recs = make([]jobRecord, n)
	s.own = make([][]*simAttempt, n)
	s.history = make([][]simSnapshot, n)
	s.lag = make([][]time.Duration, n)
	s.seenAt = make([]time.Time, n)
	s.version = make([]int, n)
	s.planned = make([]viewKey, n)
	s.wake = make([]time.Time, n)
	for h := range n {
		s.recs[h] = jobRecord{Name: "batch", Start: t0, Indexed: true}
		s.lag[h] = make([]time.Duration, n)
		for o := range n {
			if o != h {
				s.lag[h][o] = time.Duration(s.rng.IntN(50)) * simStep // up to half a second late
			}
		}
	}
	if withDeath {
		s.dead = s.hosts[s.rng.IntN(n)]
		s.diesAt = t0.Add(time.Duration(s.rng.IntN(400)) * simStep)
		for h := range n {
			s.seenAt[h] = s.diesAt.Add(300*time.Millisecond + time.Duration(s.rng.IntN(120))*simStep)
		}
	}
	return s
}

func (s *fleetSim) alive(h int, now time.Time) bool {
	return s.hosts[h] != s.dead || now.Before(s.diesAt)
}

// seen says which of what the others published host h sees at now:
// each other host's attempts as it published them lag ago, and the dead
// host dead once h has noticed.
func (s *fleetSim) seen(h int, now time.Time) viewKey {
	key := viewKey{own: s.version[h], dead: !s.seenAt[h].IsZero() && !now.Before(s.seenAt[h])}
	for o := range s.hosts {
		if o == h {
			continue // its own: key.own
		}
		k := len(s.history[o]) - 1
		for k >= 0 && s.history[o][k].at.After(now.Add(-s.lag[h][o])) {
			k--
		}
		key.visible[o] = k
	}
	return key
}

// view is what host h knows, as seen names it: its own attempts as they
// are, the others' snapshots, and the members.
func (s *fleetSim) view(h int, key viewKey) ([]InstanceSummary, []Member) {
	var list []InstanceSummary
	for _, a := range s.own[h] {
		list = append(list, a.sum)
	}
	for o := range s.hosts {
		if k := key.visible[o]; o != h && k >= 0 {
			list = append(list, s.history[o][k].list...)
		}
	}
	slices.SortFunc(list, func(a, b InstanceSummary) int { return strings.Compare(a.Name, b.Name) })
	members := hosts(s.hosts...)
	for k := range members {
		if members[k].Name == s.dead && key.dead {
			members[k].Status = HostNotReady
		}
	}
	return list, members
}

// step advances the fleet to now: processes exit, each living host plans
// and acts, and publishes what it has.
func (s *fleetSim) step(now time.Time) {
	for h := range s.hosts {
		if !s.alive(h, now) {
			continue
		}
		for _, a := range s.own[h] {
			if in := &a.sum; in.Life == LifeRunning && !now.Before(a.end) {
				in.Life, in.Ready = LifeExited, false
				if !a.ok {
					in.ExitCode, in.FailedRuns, in.LastFailure = 1, 1, now
				}
				s.version[h]++
				s.log = append(s.log, fmt.Sprintf("%v %s: %s (index %d) exited ok=%v", now.Sub(t0), s.hosts[h], in.Name, in.Slot, a.ok))
			}
		}
	}
	for _, h := range s.rng.Perm(len(s.hosts)) {
		if !s.alive(h, now) {
			continue
		}
		key := s.seen(h, now)
		if key == s.planned[h] && (s.wake[h].IsZero() || now.Before(s.wake[h])) {
			continue
		}
		summaries, members := s.view(h, key)
		rec := &s.recs[h]
		attempts := seenAttempts(summaries, members, s.hosts[h])
		rec.sawAttempts(attempts)
		p := planJob(rec, s.spec, attempts, members, now, false)
		for _, a := range p.Actions {
			if a.Host != s.hosts[h] {
				continue
			}
			switch a.Op {
			case OpCreate:
				s.names++
				s.version[h]++
				in := inst(fmt.Sprintf("batch-%04d", s.names), "batch", units.KindJob, a.Slot, s.hosts[h], 0)
				in.Created, in.Started = now, now
				s.own[h] = append(s.own[h], &simAttempt{sum: in,
					end: now.Add(time.Second + time.Duration(s.rng.IntN(200))*simStep), ok: s.rng.IntN(5) > 0})
				s.log = append(s.log, fmt.Sprintf("%v %s: created %s for index %d", now.Sub(t0), s.hosts[h], in.Name, a.Slot))
			case OpDelete:
				s.t.Fatalf("%v %s: %s\n%s", now.Sub(t0), s.hosts[h], a, strings.Join(s.log, "\n"))
			}
		}
		s.planned[h], s.wake[h] = viewKey{own: s.version[h], visible: key.visible, dead: key.dead}, p.WakeAt
		if p.Finish != nil && !rec.finished() {
			rec.Condition, rec.Reason, rec.Completion = p.Finish.Condition, p.Finish.Reason, now
		}
	}
	for h := range s.hosts {
		if !s.alive(h, now) || len(s.history[h]) > 0 && s.history[h][len(s.history[h])-1].version == s.version[h] {
			continue
		}
		list := make([]InstanceSummary, 0, len(s.own[h]))
		for _, a := range s.own[h] {
			list = append(list, a.sum)
		}
		s.history[h] = append(s.history[h], simSnapshot{now, s.version[h], list})
	}
	s.checkOneAttemptPerIndex(now)
}

// checkOneAttemptPerIndex fails when two attempts of one index run on
// hosts that live.
func (s *fleetSim) checkOneAttemptPerIndex(now time.Time) {
	where := map[int]string{}
	for h := range s.hosts {
		if !s.alive(h, now) {
			continue
		}
		for _, a := range s.own[h] {
			if a.sum.Life == LifeRunning {
				if other, ok := where[a.sum.Slot]; ok {
					s.t.Fatalf("%v: index %d runs twice (%s and %s)\n%s", now.Sub(t0), a.sum.Slot, other, a.sum.Name, strings.Join(s.log, "\n"))
				}
				where[a.sum.Slot] = a.sum.Name
			}
		}
	}
}

func TestPlanJobOverLaggingViewsRunsEachIndexOnce(t *testing.T) {
	for _, keys := range []string{
		"completions = 6\nparallelism = 3\nbackoff_limit = 100\nbackoff_delay = \"10ms\"",
		"completions = 20\nparallelism = 4\nbackoff_limit = 100\nbackoff_delay = \"10ms\"",
		"completions = 5\nparallelism = 8\nbackoff_limit = 100\nbackoff_delay = \"10ms\"",
	} {
		for seed := range uint64(100) {
			withDeath := seed%3 != 0
			t.Run(fmt.Sprintf("%s/seed=%d", strings.SplitN(keys, "\n", 3)[:2], seed), func(t *testing.T) {
				s := newFleetSim(t, seed, keys, withDeath)
				now := t0
				for ; now.Before(t0.Add(5 * time.Minute)); now = now.Add(simStep) {
					s.step(now)
					if s.allFinished(now) {
						break
					}
				}
				if !s.allFinished(now) {
					t.Fatalf("not finished after 5 minutes: %+v\n%s", s.recs, strings.Join(s.log, "\n"))
				}
				completions := map[int]int{}
				for h := range s.hosts {
					if rec := s.recs[h]; s.alive(h, now) && rec.Condition != JobComplete {
						t.Fatalf("%s: the job is %s (%s)", s.hosts[h], rec.Condition, rec.Reason)
					}
					for _, a := range s.own[h] {
						if a.sum.succeeded() {
							completions[a.sum.Slot]++
						}
					}
				}
				for i := range s.spec.Completions {
					if completions[i] != 1 {
						t.Fatalf("index %d completed %d times, want once: %v\n%s", i, completions[i], completions, strings.Join(s.log, "\n"))
					}
				}
				if len(completions) != s.spec.Completions {
					t.Fatalf("completions %v, want indexes 0..%d once each", completions, s.spec.Completions-1)
				}
			})
		}
	}
}

// allFinished: every living host has seen the job end.
func (s *fleetSim) allFinished(now time.Time) bool {
	for h := range s.hosts {
		if s.alive(h, now) && !s.recs[h].finished() {
			return false
		}
	}
	return true
}
