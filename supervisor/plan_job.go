package supervisor

import (
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
	// Attempts counts the attempts made: the next one's number (its
	// slot), from which its name is derived.
	Attempts int `json:"attempts,omitempty"`
	// Gen counts the attempts' names made, as a unit's record does.
	Gen uint64 `json:"gen,omitempty"`
	// Duplicate: this host reported that the run ran more than once
	// (a cron run made on both sides of a partition).
	Duplicate bool `json:"duplicate,omitempty"`
}

func (r *jobRecord) finished() bool { return r.Condition != "" }

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
// rest too. Otherwise the job completes when Completions attempts
// succeeded, fails when its failures exceed backoff_limit or it ran past
// active_deadline, and else runs min(parallelism, completions left)
// attempts at once: extra ones go (deleteFirst), missing ones are created
// on the eligible hosts (placeNew) unless a failed attempt that was not
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
	if c.succeeded >= spec.Completions {
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

	want := min(spec.Parallelism, spec.Completions-c.succeeded)
	if c.active > want {
		extra := c.activeList
		sort.SliceStable(extra, func(a, b int) bool { return deleteFirst(&extra[a], &extra[b]) })
		for k := range extra[:c.active-want] {
			p.Actions = append(p.Actions, deleteOf(&extra[k], whyParallelism))
		}
		return p
	}
	if c.active >= want {
		return p
	}
	// A failed attempt that is not restarted in place (restart = never)
	// is retried by a new one after the job's back-off.
	if c.failures > 0 && c.failedInstances > 0 {
		d := RestartDelay(spec.BackoffDelay.D(), spec.MaxBackoffDelay.D(), c.failures)
		if at := c.lastFailure.Add(d); now.Before(at) {
			p.wake(at)
			return p
		}
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
	return p
}
