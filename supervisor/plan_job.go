package supervisor

import (
	"maps"
	"slices"
	"sort"
	"time"

	"github.com/tendhq/tend/units"
)

// A job runs instances until Completions of them have exited 0 (a Job, in
// Kubernetes' words). A job unit is one job; a cron unit makes one job per
// scheduled run, named <cron>-<scheduled unix seconds>.
//
// The job controller derives everything it decides from the job's
// attempts (succeeded = exited for good with 0; failures = failed runs,
// kept in each attempt's record) plus the job's own small record (start,
// finish, condition, what removed attempts did), all durable: after a
// kill -9 of the agent a job neither runs a completed attempt again nor
// forgets one. An attempt outlives the agent under its shim (shim.go),
// which keeps how it ended for the next agent: only an attempt begun in
// the moments before a kill, whose start the store never got, is counted
// failed without being seen and may run once more (countUnrecordedRun).

// jobRecord is what the store keeps of a job.
type jobRecord struct {
	Name        string    `json:"name"`
	Cron        string    `json:"cron,omitempty"`      // the cron unit that made it
	Scheduled   time.Time `json:"scheduled,omitempty"` // cron runs: the scheduled time
	SpecVersion string    `json:"spec_version"`
	Start       time.Time `json:"start"`
	Completion  time.Time `json:"completion,omitempty"`
	Condition   string    `json:"condition,omitempty"` // "", Complete, Failed
	Reason      string    `json:"reason,omitempty"`    // BackoffLimitExceeded, DeadlineExceeded
	// LostFailures and LostSucceeded count the failed runs and the
	// completions of attempts that were removed (deleted by hand,
	// parallelism lowered, ttl), so the counts and the back-off limit
	// still see them.
	LostFailures  int  `json:"lost_failures,omitempty"`
	LostSucceeded int  `json:"lost_succeeded,omitempty"`
	Cleaned       bool `json:"cleaned,omitempty"` // ttl_after_finished removed its instances
	// Indexed: the attempts' slots are completion indexes (planIndexes),
	// as every job made since tend numbered them so; a job recorded
	// before then numbers its attempts in sequence (Attempts) until it
	// ends.
	Indexed bool `json:"indexed,omitempty"`
	// Done holds the completion indexes an attempt was seen to complete,
	// durably: an index stays done when its attempt is removed, or its
	// host forgotten.
	Done indexSet `json:"done,omitzero"`
	// Attempts counts the attempts made: the next one's number (its
	// slot), from which its name is derived. Jobs not Indexed only.
	Attempts int `json:"attempts,omitempty"`
	// Gen counts the attempts' names made, as a unit's record does.
	Gen uint64 `json:"gen,omitempty"`
	// Duplicate: this host reported that the run ran more than once
	// (a cron run made on both sides of a partition).
	Duplicate bool `json:"duplicate,omitempty"`
}

func (r *jobRecord) finished() bool { return r.Condition != "" }

// sawAttempts notes in the record what the job's attempts, on every host,
// did that it must not forget: the indexes they completed (Indexed), or
// the numbers they took. It reports whether the record changed.
func (r *jobRecord) sawAttempts(attempts []InstanceSummary) bool {
	if r.Indexed {
		return r.Done.addSucceeded(attempts)
	}
	changed := false
	for _, in := range attempts {
		if in.Slot >= r.Attempts { // another host's attempt: numbers are the fleet's
			r.Attempts = in.Slot + 1
			changed = true
		}
	}
	return changed
}

// extraRuns returns the attempts of a job that ran beyond its
// completions: of the attempts that succeeded or still run (on a Ready
// host: fleetAttempts marks the others Terminating), those after the
// first completions, in an order every host computes alike (succeeded
// first, then the earlier started, then by name). In a healthy fleet
// there are none: the job controller never runs more than the
// completions left. After a partition heals, a run that both sides made
// has them.
func extraRuns(attempts []InstanceSummary, completions int) []InstanceSummary {
	var ran []InstanceSummary
	for _, in := range attempts {
		if in.succeeded() || in.running() && !in.Terminating {
			ran = append(ran, in)
		}
	}
	if len(ran) <= completions {
		return nil
	}
	sort.SliceStable(ran, func(a, b int) bool {
		x, y := &ran[a], &ran[b]
		if x.succeeded() != y.succeeded() {
			return x.succeeded()
		}
		if !x.Started.Equal(y.Started) {
			return x.Started.Before(y.Started)
		}
		return x.Name < y.Name
	})
	return ran[completions:]
}

// Job conditions.
const (
	JobComplete = "Complete"
	JobFailed   = "Failed"
)

// Events' sources.
const (
	fromReplicated = "replicated-controller"
	fromPerHost    = "per-host-controller"
	fromJob        = "job-controller"
	fromCron       = "cronjob-controller"
	fromScheduler  = "default-scheduler"
)

// jobCounts are a job's attempts by state.
type jobCounts struct {
	active, succeeded, failedInstances, failures int
	lastFailure                                  time.Time
	activeList                                   []InstanceSummary
}

// countAttempts counts the attempts of the job whose record is rec.
func countAttempts(rec *jobRecord, attempts []InstanceSummary) jobCounts {
	c := jobCounts{failures: rec.LostFailures, succeeded: rec.LostSucceeded}
	for _, in := range attempts {
		c.failures += in.FailedRuns
		if in.LastFailure.After(c.lastFailure) {
			c.lastFailure = in.LastFailure
		}
		switch {
		case in.succeeded():
			c.succeeded++
		case in.Life == LifeExited:
			c.failedInstances++
		case in.Terminating:
			// Going: not active, but what it did still counts.
		default:
			c.active++
			c.activeList = append(c.activeList, in)
		}
	}
	return c
}

// jobEnd is how a job finishes.
type jobEnd struct {
	Condition, Reason, Type, Message string
}

// jobPlan is what the job controller decides for one job.
type jobPlan struct {
	Actions []Action // attempts to delete and to create (Slot: the attempt's number)
	Finish  *jobEnd  // the job ends now
	// Clean: ttl_after_finished is over; the Actions delete its
	// instances, and a cron's job goes entirely.
	Clean  bool
	WakeAt time.Time // look at the job again then (deadline, back-off, ttl); zero: no need
}

func (p *jobPlan) wake(t time.Time) {
	if p.WakeAt.IsZero() || t.Before(p.WakeAt) {
		p.WakeAt = t
	}
}

// planJob is the job controller for one job: rec and spec are the job's
// record and unit (for a cron's job, the cron unit as it was), attempts
// its instances on every host, sorted by name.
//
// A finished job's active attempts go, and after ttl_after_finished the
// rest too. Otherwise the job completes when Completions completion
// indexes are done, fails when its failures exceed backoff_limit or it
// ran past active_deadline, and else runs the attempts of the indexes it
// needs next (planIndexes), unless a failed attempt that was not
// restarted in place asks for the job's back-off first.
//
// A stopped job (its unit, or for a cron's job the cron unit, has
// stopped = true) is a suspended Job: its active attempts go, without
// counting as failures, and none start; it does not fail (its
// active_deadline does not end it while it is stopped; it counts from the
// job's start, stops included), and completes only if its completions
// were all made before.
func planJob(rec *jobRecord, spec *units.Unit, attempts []InstanceSummary, members []Member, now time.Time, stopped bool) jobPlan {
	var p jobPlan
	c := countAttempts(rec, attempts)
	ttl := spec.TTLAfterFinished.D()
	if rec.finished() {
		for k := range c.activeList {
			p.Actions = append(p.Actions, deleteOf(&c.activeList[k], whyJobFinished))
		}
		if ttl > 0 && !rec.Cleaned {
			if at := rec.Completion.Add(ttl); now.Before(at) {
				p.wake(at)
			} else {
				p.Clean = true
				for k := range attempts {
					if !attempts[k].Terminating {
						p.Actions = append(p.Actions, deleteOf(&attempts[k], whyTTL))
					}
				}
			}
		}
		return p
	}
	finish := func(e jobEnd) jobPlan {
		p.Finish = &e
		for k := range c.activeList {
			p.Actions = append(p.Actions, deleteOf(&c.activeList[k], "job "+e.Condition))
		}
		p.WakeAt = time.Time{}
		if ttl > 0 {
			p.wake(now.Add(ttl))
		}
		return p
	}
	done := rec.Done // a value: adding to it leaves the record as it is
	completed := c.succeeded
	if rec.Indexed {
		done.addSucceeded(attempts)
		completed = done.len()
	}
	if completed >= spec.Completions {
		return finish(jobEnd{JobComplete, "Completed", Normal, "Job completed"})
	}
	if stopped {
		for k := range c.activeList {
			p.Actions = append(p.Actions, deleteOf(&c.activeList[k], whyStopped))
		}
		return p
	}
	deadline := spec.ActiveDeadline.D()
	switch {
	case c.failures > spec.BackoffLimit:
		return finish(jobEnd{JobFailed, "BackoffLimitExceeded", Warning, "Job has reached the specified backoff limit"})
	case deadline > 0 && !now.Before(rec.Start.Add(deadline)):
		return finish(jobEnd{JobFailed, "DeadlineExceeded", Warning, "Job was active longer than specified deadline"})
	}
	if deadline > 0 {
		p.wake(rec.Start.Add(deadline))
	}
	if !rec.Indexed {
		planNumbered(&p, rec, spec, &c, members, now)
		return p
	}
	planIndexes(&p, rec.Name, spec, &c, &done, members, now)
	return p
}

// planIndexes runs a job's completion indexes. Index i is done when an
// attempt of it completed; the job needs the first min(parallelism,
// completions − done) indexes not done (its window), each run by one
// attempt at a time, on the host that indexHosts gives it.
//
// Every host plans every job over its own view of the fleet, which lags
// the others' by a gossip round, and acts on what falls to it; the
// window is what keeps those plans from running an index twice. A host
// that has not yet seen an index completed still counts it among those
// not done, so its window is never wider than the fleet's; an attempt
// another host just made, that this host has not yet seen, is of an
// index that host owns, which this one does not run. A completion never
// takes an index out of the window while its attempt runs, so no
// running attempt is stopped for another's progress. What remains is
// the moment two hosts disagree on who owns an index (a host joined, and
// not every host has heard of it; a partition): then both may run it,
// and when they see it the newer attempt stops (deleteFirst), or, if one
// completed, the other.
//
// A restart = never attempt that failed is followed by a new attempt of
// the same index after the job's back-off; an index that is no longer
// in the window (parallelism lowered) stops.
func planIndexes(p *jobPlan, name string, spec *units.Unit, c *jobCounts, done *indexSet, members []Member, now time.Time) {
	want := min(spec.Parallelism, spec.Completions-done.len())
	window := make([]int, 0, max(want, 0))
	for i := done.nextMissing(0); len(window) < want; i = done.nextMissing(i + 1) {
		window = append(window, i)
	}
	running := map[int][]*InstanceSummary{}
	for k := range c.activeList {
		in := &c.activeList[k]
		running[in.Slot] = append(running[in.Slot], in)
	}
	for _, slot := range slices.Sorted(maps.Keys(running)) {
		list := running[slot]
		why := ""
		if done.has(slot) {
			why = whyIndexDone
		} else if _, in := slices.BinarySearch(window, slot); !in {
			why = whyParallelism
		}
		if why == "" {
			// One attempt per index: of two (a partition ran it on
			// both sides) the first to delete goes.
			sort.SliceStable(list, func(a, b int) bool { return deleteFirst(list[a], list[b]) })
			list, why = list[:len(list)-1], whyDuplicate
		}
		for _, in := range list {
			p.Actions = append(p.Actions, deleteOf(in, why))
		}
	}
	if waitBackOff(p, spec, c, now) {
		return
	}
	hostOf := indexHosts(name, spec, members)
	for _, i := range window {
		if len(running[i]) > 0 {
			continue
		}
		if h := hostOf(i); h != "" {
			p.Actions = append(p.Actions, Action{Op: OpCreate, Host: h, Slot: i})
		}
	}
}

// waitBackOff reports whether a failed attempt that was not restarted in
// place (restart = never) asks for the job's back-off before the next
// attempt, and if so has the plan look again at its end.
func waitBackOff(p *jobPlan, spec *units.Unit, c *jobCounts, now time.Time) bool {
	if c.failures == 0 || c.failedInstances == 0 {
		return false
	}
	d := RestartDelay(spec.BackoffDelay.D(), spec.MaxBackoffDelay.D(), c.failures)
	if at := c.lastFailure.Add(d); now.Before(at) {
		p.wake(at)
		return true
	}
	return false
}

// planNumbered is the job controller of a job recorded before attempts
// were of completion indexes: it runs min(parallelism, completions left)
// attempts at once, numbered in sequence from rec.Attempts; extra ones go
// (deleteFirst), missing ones are created on the eligible hosts
// (placeNew). Two hosts whose views are a completion apart can both make
// an attempt for one completion, which is why new jobs are Indexed.
func planNumbered(p *jobPlan, rec *jobRecord, spec *units.Unit, c *jobCounts, members []Member, now time.Time) {
	want := min(spec.Parallelism, spec.Completions-c.succeeded)
	if c.active > want {
		extra := c.activeList
		sort.SliceStable(extra, func(a, b int) bool { return deleteFirst(&extra[a], &extra[b]) })
		for k := range extra[:c.active-want] {
			p.Actions = append(p.Actions, deleteOf(&extra[k], whyParallelism))
		}
		return
	}
	if c.active >= want || waitBackOff(p, spec, c, now) {
		return
	}
	slots := make([]int, want-c.active)
	for k := range slots {
		slots[k] = rec.Attempts + k
	}
	load := map[string]int{}
	for _, in := range c.activeList {
		load[in.Host]++
	}
	for k, h := range placeNew(rec.Name, slots, eligibleHosts(spec, members), load) {
		p.Actions = append(p.Actions, Action{Op: OpCreate, Host: h, Slot: slots[k]})
	}
}
