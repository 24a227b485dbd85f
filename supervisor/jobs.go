package supervisor

import (
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/tendhq/tend/units"
)

// A job runs instances until Completions of them have exited 0 (a Job, in
// Kubernetes' words). A job unit is one job; a cron unit makes one job per
// scheduled run, named <cron>-<scheduled unix seconds>.
//
// The job controller derives everything it decides from the instances it
// owns (succeeded = Done with exit 0; failures = failed runs, kept in
// each instance's record) plus the job's own small record (start, finish,
// condition), all durable: after a kill -9 of the agent a job neither runs
// a completed attempt again nor forgets one.
type job struct {
	rec  jobRecord
	spec *units.Unit // the job unit, or the cron unit (as it was) that made it
	// wake is the pending timer that brings the controller back for a
	// deadline, a back-off or the ttl.
	wake   func() bool
	wakeAt time.Time
}

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
	// completions of instances that were removed (deleted by hand,
	// parallelism lowered, ttl), so the counts and the back-off limit
	// still see them.
	LostFailures  int  `json:"lost_failures,omitempty"`
	LostSucceeded int  `json:"lost_succeeded,omitempty"`
	Cleaned       bool `json:"cleaned,omitempty"` // ttl_after_finished removed its instances
}

// cronRecord is what the store keeps of a cron unit.
type cronRecord struct {
	LastSchedule time.Time `json:"last_schedule,omitempty"`
	// Considered is the newest scheduled time handled (run or missed).
	Considered time.Time `json:"considered,omitempty"`
	Missed     int       `json:"missed,omitempty"`
}

// Job conditions.
const (
	JobComplete = "Complete"
	JobFailed   = "Failed"
)

const fromJob = "job-controller"
const fromCron = "cronjob-controller"

func (j *job) finished() bool { return j.rec.Condition != "" }

func (s *Supervisor) saveJob(j *job) { s.opt.Store.put(bucketJobs, j.rec.Name, &j.rec) }

// jobCounts are a job's instances by state.
type jobCounts struct {
	active, succeeded, failedInstances, failures int
	lastFailure                                  time.Time
	activeList                                   []*instance
}

func (s *Supervisor) countJob(j *job) jobCounts {
	c := jobCounts{failures: j.rec.LostFailures, succeeded: j.rec.LostSucceeded}
	for _, i := range s.sortedInstances() {
		if i.rec.Unit != j.rec.Name || i.rec.Kind != units.KindJob.String() {
			continue
		}
		c.failures += i.rec.FailedRuns
		if f := i.rec.LastFailure; f.After(c.lastFailure) {
			c.lastFailure = f
		}
		switch {
		case i.rec.Done && i.rec.State.ExitCode == 0:
			c.succeeded++
		case i.rec.Done:
			c.failedInstances++
		case i.rec.Terminating:
			// Going: not active, but what it did still counts.
		default:
			c.active++
			c.activeList = append(c.activeList, i)
		}
	}
	return c
}

// wakeJobAt makes the loop look at the job again at t.
func (s *Supervisor) wakeJobAt(j *job, t time.Time, now time.Time) {
	if j.wake != nil && !j.wakeAt.After(t) && j.wakeAt.After(now) {
		return // an earlier or equal wake-up is already set
	}
	if j.wake != nil {
		j.wake()
	}
	j.wakeAt = t
	// A timer counts monotonic time, the target is wall time: when it
	// fires, it is forgotten, and the pass that follows sets it again if
	// the wall clock has not got there yet.
	j.wake = s.clock.AfterFunc(t.Sub(now), func() {
		s.post(func() {
			if j.wakeAt.Equal(t) {
				j.wake, j.wakeAt = nil, time.Time{}
			}
		})
	})
}

// reconcileJob is the job controller for one job.
func (s *Supervisor) reconcileJob(j *job) {
	u := j.spec
	now := s.clock.Now()
	c := s.countJob(j)

	if j.finished() {
		for _, i := range c.activeList {
			s.delete(i, "job finished")
		}
		if ttl := u.TTLAfterFinished.D(); ttl > 0 && !j.rec.Cleaned {
			if at := j.rec.Completion.Add(ttl); now.Before(at) {
				s.wakeJobAt(j, at, now)
			} else {
				s.cleanJob(j)
			}
		}
		return
	}

	finish := func(cond, reason, typ, message string) {
		j.rec.Condition, j.rec.Reason, j.rec.Completion = cond, reason, now
		s.saveJob(j)
		s.events.Record(now, KindUnit, j.rec.Name, typ, reason, fromJob, message)
		for _, i := range c.activeList {
			s.delete(i, "job "+cond)
		}
		s.reconcileJob(j) // arm the ttl
	}
	switch {
	case c.succeeded >= u.Completions:
		finish(JobComplete, "Completed", Normal, "Job completed")
		return
	case c.failures > u.BackoffLimit:
		finish(JobFailed, "BackoffLimitExceeded", Warning, "Job has reached the specified backoff limit")
		return
	case u.ActiveDeadline > 0 && !now.Before(j.rec.Start.Add(u.ActiveDeadline.D())):
		finish(JobFailed, "DeadlineExceeded", Warning, "Job was active longer than specified deadline")
		return
	}
	if u.ActiveDeadline > 0 {
		s.wakeJobAt(j, j.rec.Start.Add(u.ActiveDeadline.D()), now)
	}

	want := min(u.Parallelism, u.Completions-c.succeeded)
	if c.active > want {
		extra := c.activeList
		sort.SliceStable(extra, func(a, b int) bool { return deleteFirst(extra[a], extra[b]) })
		for _, i := range extra[:c.active-want] {
			s.delete(i, "parallelism lowered")
		}
		return
	}
	if c.active >= want {
		return
	}
	// A failed attempt that is not restarted in place (restart = never)
	// is retried by a new instance after the job's back-off.
	if c.failures > 0 && c.failedInstances > 0 {
		d := RestartDelay(u.BackoffDelay.D(), u.MaxBackoffDelay.D(), c.failures)
		if at := c.lastFailure.Add(d); now.Before(at) {
			s.wakeJobAt(j, at, now)
			return
		}
	}
	var created []*instance
	for n := c.active; n < want; n++ {
		i := s.create(u, j.rec.Name, now)
		created = append(created, i)
		s.events.Record(now, KindUnit, j.rec.Name, Normal, "SuccessfulCreate", fromJob, "Created instance: "+i.rec.Name)
	}
	s.startAll(created)
}

// cleanJob removes a finished job's instances (and their logs) after
// ttl_after_finished; a cron's job goes entirely.
func (s *Supervisor) cleanJob(j *job) {
	for _, i := range s.sortedInstances() {
		if i.rec.Unit == j.rec.Name {
			s.delete(i, "ttl after finished")
		}
	}
	j.rec.Cleaned = true
	if j.rec.Cron != "" {
		s.removeJob(j)
		return
	}
	s.saveJob(j)
}

// removeJob forgets a job and deletes its instances.
func (s *Supervisor) removeJob(j *job) {
	for _, i := range s.sortedInstances() {
		if i.rec.Unit == j.rec.Name {
			s.delete(i, "job deleted")
		}
	}
	if j.wake != nil {
		j.wake()
	}
	delete(s.jobs, j.rec.Name)
	s.opt.Store.del(bucketJobs, j.rec.Name)
	s.events.Forget(KindUnit, j.rec.Name)
}

// reconcileJobs runs the job controller over every job, after making sure
// each job unit has its job and that jobs whose unit or cron is gone go.
func (s *Supervisor) reconcileJobs() {
	now := s.clock.Now()
	for _, u := range s.sortedUnits() {
		if u.Kind != units.KindJob || s.orphaning[u.Name] {
			continue
		}
		j := s.jobs[u.Name]
		if j == nil {
			s.noteSpec(u)
			j = &job{spec: u, rec: jobRecord{Name: u.Name, SpecVersion: u.Version, Start: now}}
			s.jobs[u.Name] = j
			s.saveJob(j)
		} else if j.spec != u {
			// A new version: parallelism and the rest apply now; new
			// instances use the new template.
			s.noteSpec(u)
			j.spec = u
			j.rec.SpecVersion = u.Version
			s.saveJob(j)
		}
	}
	for _, j := range s.sortedJobs() {
		owner, kind := j.rec.Name, units.KindJob
		if j.rec.Cron != "" {
			owner, kind = j.rec.Cron, units.KindCron
		}
		u := s.units[owner]
		if (u == nil && s.problems[owner] == nil) || (u != nil && u.Kind != kind) {
			// Its unit is gone, or is now of another kind.
			s.removeJob(j)
			continue
		}
		s.reconcileJob(j)
	}
}

func (s *Supervisor) sortedJobs() []*job {
	out := make([]*job, 0, len(s.jobs))
	for _, j := range s.jobs {
		out = append(out, j)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].rec.Name < out[b].rec.Name })
	return out
}

// reconcileCron is the cron controller for one cron unit: it starts the
// jobs that are due, counts the runs missed, trims the history and sets a
// timer for the next scheduled time, so runs start from the clock.
func (s *Supervisor) reconcileCron(u *units.Unit) {
	now := s.clock.Now()
	rec := s.crons[u.Name]
	if rec.Considered.IsZero() {
		rec.Considered = s.unitSince[u.Name]
		if rec.Considered.IsZero() {
			rec.Considered = now
		}
	}
	s.trimCronHistory(u)
	if u.Suspend {
		// What is scheduled while suspended does not run later.
		rec.Considered = now
		s.crons[u.Name] = rec
		s.opt.Store.put(bucketCrons, u.Name, rec)
		return
	}
	loc := time.Local
	if u.TimeZone != "" {
		l, err := time.LoadLocation(u.TimeZone)
		if err != nil {
			s.log.Error("cron time zone", "unit", u.Name, "err", err)
			return
		}
		loc = l
	}
	sched, err := units.ParseSchedule(u.Schedule, loc)
	if err != nil {
		s.log.Error("cron schedule", "unit", u.Name, "err", err)
		return
	}
	plan := cronDue(sched, rec.Considered, now, s.started, u.StartingDeadline.D(), u.CatchUp)
	if plan.Missed > 0 {
		rec.Missed += plan.Missed
		s.events.Record(now, KindUnit, u.Name, Warning, "MissedSchedule", fromCron,
			fmt.Sprintf("Missed %d scheduled run(s), the newest at %s (catch_up = %s, starting_deadline = %s)",
				plan.Missed, plan.LastMissed.In(loc).Format(time.RFC3339), u.CatchUp, u.StartingDeadline))
	}
	for _, at := range plan.Run {
		if s.startCronJob(u, at, now) {
			rec.LastSchedule = at
		} else {
			rec.Missed++
		}
	}
	if !plan.Considered.IsZero() {
		rec.Considered = plan.Considered
	}
	if rec != s.crons[u.Name] {
		s.crons[u.Name] = rec
		s.opt.Store.put(bucketCrons, u.Name, rec)
	}
	if !plan.Next.IsZero() {
		s.wakeCronAt(u.Name, plan.Next, now)
	}
}

// wakeCronAt sets the cron's timer for its next scheduled time.
func (s *Supervisor) wakeCronAt(name string, t, now time.Time) {
	if w, ok := s.cronWake[name]; ok {
		if w.at.Equal(t) {
			return
		}
		w.stop()
	}
	stop := s.clock.AfterFunc(t.Sub(now), func() {
		s.post(func() {
			if w, ok := s.cronWake[name]; ok && w.at.Equal(t) {
				delete(s.cronWake, name)
			}
		})
	})
	s.cronWake[name] = cronTimer{at: t, stop: stop}
}

type cronTimer struct {
	at   time.Time
	stop func() bool
}

// startCronJob makes the job for the run scheduled at, as the concurrency
// policy allows, and reports whether it did.
func (s *Supervisor) startCronJob(u *units.Unit, at, now time.Time) bool {
	name := u.Name + "-" + strconv.FormatInt(at.Unix(), 10)
	if s.jobs[name] != nil {
		return true
	}
	var active []*job
	for _, j := range s.sortedJobs() {
		if j.rec.Cron == u.Name && !j.finished() {
			active = append(active, j)
		}
	}
	if len(active) > 0 {
		switch u.ConcurrencyPolicy {
		case units.ConcurrencyForbid:
			s.events.Record(now, KindUnit, u.Name, Normal, "JobAlreadyActive", fromCron,
				fmt.Sprintf("Not starting job for %s: %s is still running (concurrency_policy = forbid)", at.Format(time.RFC3339), active[0].rec.Name))
			return false
		case units.ConcurrencyReplace:
			for _, j := range active {
				s.events.Record(now, KindUnit, u.Name, Normal, "SuccessfulDelete", fromCron, "Deleted job "+j.rec.Name+" (concurrency_policy = replace)")
				s.removeJob(j)
			}
		}
	}
	s.noteSpec(u)
	j := &job{spec: u, rec: jobRecord{Name: name, Cron: u.Name, Scheduled: at, SpecVersion: u.Version, Start: now}}
	s.jobs[name] = j
	s.saveJob(j)
	s.events.Record(now, KindUnit, u.Name, Normal, "SuccessfulCreate", fromCron, "Created job "+name)
	return true
}

// trimCronHistory keeps the newest successful_history complete jobs and
// failed_history failed ones of a cron unit.
func (s *Supervisor) trimCronHistory(u *units.Unit) {
	var done, failed []*job
	for _, j := range s.jobs {
		if j.rec.Cron != u.Name {
			continue
		}
		switch j.rec.Condition {
		case JobComplete:
			done = append(done, j)
		case JobFailed:
			failed = append(failed, j)
		}
	}
	trim := func(list []*job, keep int) {
		sort.Slice(list, func(a, b int) bool { return list[a].rec.Scheduled.After(list[b].rec.Scheduled) })
		for k := keep; k < len(list); k++ {
			s.removeJob(list[k])
		}
	}
	trim(done, u.SuccessfulHistory)
	trim(failed, u.FailedHistory)
}

// noteSpec keeps the unit version that instances or jobs are made from.
func (s *Supervisor) noteSpec(u *units.Unit) {
	if s.specs[u.Version] == nil {
		s.specs[u.Version] = u
		s.opt.Store.put(bucketSpecs, u.Version, specRecord{Path: u.Path, Source: u.Source})
	}
}
