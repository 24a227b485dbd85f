package supervisor

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tendhq/tend/units"
)

// The loop's side of jobs and cron units: their records, and applying the
// job and cron controllers' plans (plan_job.go, plan_cron.go). Loop
// goroutine only.
//
// An attempt runs at least once, not exactly once. The job's counts are
// durable, but an attempt's end is known only when an agent reaps it:
//   - an attempt that runs when the agent stops on SIGTERM is stopped and
//     parked (decide, verdictPark), and the next agent runs it again from
//     the start, unless it exited 0 as it was stopped;
//   - after kill -9 of the agent, the next agent finds the attempt's
//     record Running (stopLeftovers): it stops what is left and runs it
//     again; an attempt that had exited while no agent was there to see
//     it (its pid gone, or another process's by its start time) is
//     reported Unknown and counts as a failed attempt (runEnd.Unknown),
//     which its restart policy replaces, so its work, had it succeeded,
//     is done again;
//   - in a fleet, an attempt whose host died runs again elsewhere, and if
//     both runs complete, their completion index was done twice.
// Each index counts once, so a job still ends at its completions; what
// it does may have been done twice. A re-execution of the agent (Handoff)
// stops nothing and sees every exit (README, Unit files).

// addJob puts j into the loop's maps.
func (s *Supervisor) addJob(j *job) {
	s.jobs[j.rec.Name] = j
	if c := j.rec.Cron; c != "" {
		m := s.cronJobs[c]
		if m == nil {
			m = map[string]*job{}
			s.cronJobs[c] = m
		}
		m[j.rec.Name] = j
	}
}

// newJob makes the job name of u (of cron unit cron, for its run
// scheduled at scheduled; "" and zero for a job unit), starting now, and
// puts it in the loop's maps and the store.
func (s *Supervisor) newJob(u *units.Unit, name, cron string, scheduled time.Time) *job {
	s.noteSpec(u)
	j := &job{spec: u, rec: jobRecord{Name: name, Cron: cron, Scheduled: scheduled, SpecVersion: u.Version, Start: s.clock.Now(), Indexed: true}}
	s.addJob(j)
	s.saveJob(j)
	return j
}

// saveJob queues the job's record for the store, and its copy (and its
// cron unit's) for the next publish.
func (s *Supervisor) saveJob(j *job) {
	s.opt.Store.put(bucketJobs, j.rec.Name, j.rec)
	s.touchedUnits[j.rec.Name] = true
	if j.rec.Cron != "" {
		s.touchedUnits[j.rec.Cron] = true
	}
}

// removeJob forgets a job and deletes its instances.
func (s *Supervisor) removeJob(j *job) {
	for _, i := range s.ownedBy(j.rec.Name) {
		s.delete(i, whyJobDeleted)
	}
	if j.wake.stop != nil {
		j.wake.stop()
	}
	delete(s.jobs, j.rec.Name)
	if c := j.rec.Cron; c != "" {
		delete(s.cronJobs[c], j.rec.Name)
		if len(s.cronJobs[c]) == 0 {
			delete(s.cronJobs, c)
		}
		s.touchedUnits[c] = true
	}
	s.touchedUnits[j.rec.Name] = true
	s.opt.Store.del(bucketJobs, j.rec.Name)
	s.events.Forget(KindUnit, j.rec.Name)
}

// sortedCronJobs returns the jobs of cron unit name, sorted by name.
func (s *Supervisor) sortedCronJobs(name string) []*job {
	m := s.cronJobs[name]
	out := make([]*job, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, m[k])
	}
	return out
}

// reconcileJobUnit runs the job controller for the job unit u, making its
// job on first sight and giving it each new version of the unit (its
// parallelism and the rest apply at once; new attempts use the new
// template).
func (s *Supervisor) reconcileJobUnit(u *units.Unit) {
	j := s.jobs[u.Name]
	switch {
	case j == nil:
		j = s.newJob(u, u.Name, "", time.Time{})
	case j.rec.SpecVersion != u.Version:
		s.noteSpec(u)
		j.spec = u
		j.rec.SpecVersion = u.Version
		s.saveJob(j)
	default:
		j.spec = u
	}
	s.reconcileJob(j)
}

// reconcileJob runs the job controller for one job and applies its plan.
func (s *Supervisor) reconcileJob(j *job) {
	now := s.clock.Now()
	for _, i := range s.ownedBy(j.rec.Name) {
		if i.rec.Kind != units.KindJob {
			s.delete(i, whyKindChanged)
		}
	}
	attempts := s.fleetAttempts(j)
	if j.rec.sawAttempts(attempts) {
		s.saveJob(j)
	}
	if j.rec.Cron != "" && !j.rec.Duplicate {
		s.reportDuplicate(j, attempts, now)
	}
	stopped := j.spec.Stopped
	if c := s.units[j.rec.Cron]; j.rec.Cron != "" {
		stopped = c != nil && c.Stopped
	}
	p := planJob(&j.rec, j.spec, attempts, s.members, now, stopped)
	s.apply(j.rec.Name, p.Actions, func(a Action) *instance {
		if !j.rec.Indexed && a.Slot >= j.rec.Attempts {
			j.rec.Attempts = a.Slot + 1
		}
		i := s.create(j.spec, j.rec.Name, units.KindJob, a.Slot)
		s.saveJob(j)
		s.events.Record(now, KindUnit, j.rec.Name, Normal, "SuccessfulCreate", fromJob, "Created instance: "+i.rec.Name)
		return i
	}, j.spec, fromJob)
	if e := p.Finish; e != nil {
		j.rec.Condition, j.rec.Reason, j.rec.Completion = e.Condition, e.Reason, now
		s.saveJob(j)
		// Every host sees the job end; one says so.
		if s.jobOwner(j.rec.Name) == s.opt.Host {
			s.events.Record(now, KindUnit, j.rec.Name, e.Type, e.Reason, fromJob, e.Message)
		}
	}
	if p.Clean {
		j.rec.Cleaned = true
		if j.rec.Cron != "" {
			s.removeJob(j)
			return
		}
		s.saveJob(j)
	}
	if !p.WakeAt.IsZero() {
		s.wakeAt(&j.wake, s.unitOf(j.rec.Name), p.WakeAt, now)
	}
}

// reportDuplicate records, once, that a cron run ran more than once: by
// the host whose attempt is the extra one (extraRuns), which knows its own
// attempt whatever reached it of the others', so the fleet says it once.
func (s *Supervisor) reportDuplicate(j *job, attempts []InstanceSummary, now time.Time) {
	extra := extraRuns(attempts, j.spec.Completions)
	mine := slices.IndexFunc(extra, func(in InstanceSummary) bool { return in.Host == s.opt.Host })
	if mine < 0 {
		return
	}
	var where []string
	for _, in := range attempts {
		if in.succeeded() || in.running() && !in.Terminating {
			where = append(where, in.Name+" on "+in.Host)
		}
	}
	slices.Sort(where)
	j.rec.Duplicate = true
	s.saveJob(j)
	at := j.rec.Scheduled.In(j.spec.Location).Format(time.RFC3339)
	s.events.Record(now, KindUnit, j.rec.Cron, Warning, "DuplicateRun", fromCron,
		fmt.Sprintf("The run of %s (job %s) ran more than once, as happens when a partition splits the fleet: %s; %s is the extra", at, j.rec.Name, strings.Join(where, ", "), extra[mine].Name))
	s.log.Warn("a cron run ran more than once", "job", j.rec.Name, "attempts", where)
}

// fleetAttempts are the job's attempts on every host, as the job
// controller and the job's status count them.
//
// Every host keeps a record of every job and runs the same controller
// over the same attempts, so parallelism and completions hold for the
// fleet, and each host creates only the attempts of the completion
// indexes that fall to it (planIndexes). An attempt
// on a host that is not Ready cannot be counted on to finish: it counts
// as going (Terminating), so what it did (its failures; its completion,
// if it had one) still counts, and another host runs an attempt in its
// place. Should the host come back with that attempt still running, the
// plan then has two attempts of one index and stops one, as after a
// partition; both may have completed meanwhile: the index is done, once.
func (s *Supervisor) fleetAttempts(j *job) []InstanceSummary {
	return seenAttempts(s.summariesOf(j.rec.Name), s.members, s.opt.Host)
}

// seenAttempts are, of the instances of a job on every host (summaries),
// its attempts as host counts them, given the members it knows: the
// active ones on another host that is not Ready are going.
func seenAttempts(summaries []InstanceSummary, members []Member, host string) []InstanceSummary {
	member, _ := memberFinder(members)
	var attempts []InstanceSummary
	for _, in := range summaries {
		if in.Kind != units.KindJob {
			continue
		}
		if m := member(in.Host); in.Host != host && (m == nil || m.Status != HostReady) && in.active() {
			in.Terminating = true
		}
		attempts = append(attempts, in)
	}
	return attempts
}

// reconcileCron runs the job controller for each of u's jobs, so that
// the cron controller sees which have finished, then the cron controller
// for u, then the job controller for the jobs it made.
func (s *Supervisor) reconcileCron(u *units.Unit) {
	now := s.clock.Now()
	s.adoptCronJobs(u)
	for _, j := range s.sortedCronJobs(u.Name) {
		s.reconcileJob(j)
	}
	var jobs []cronJob
	for _, j := range s.sortedCronJobs(u.Name) {
		jobs = append(jobs, cronJob{Name: j.rec.Name, Scheduled: j.rec.Scheduled, Condition: j.rec.Condition})
	}
	out := planCron(u, s.crons[u.Name], s.unitRecs[u.Name].Created, s.started, jobs, s.cronHosts(u), now)
	for _, name := range out.Remove {
		if j := s.jobs[name]; j != nil {
			s.removeJob(j)
		}
	}
	// Every host plans every run alike; one says so, and a host says
	// what it alone decided.
	owner := s.jobOwner(u.Name) == s.opt.Host
	for _, n := range out.Notes {
		if owner || n.Local {
			s.events.Record(now, KindUnit, u.Name, n.Type, n.Reason, fromCron, n.Message)
		}
	}
	// Every host makes the run's job, so that each counts its attempts
	// and holds concurrency_policy for the fleet; the job controller then
	// places each attempt on one host.
	var made []*job
	for _, run := range out.Create {
		made = append(made, s.newJob(u, run.Name, u.Name, run.Scheduled))
	}
	if old, ok := s.crons[u.Name]; !ok || !old.equal(out.Rec) {
		s.crons[u.Name] = out.Rec
		s.opt.Store.put(bucketCrons, u.Name, out.Rec)
	}
	if !out.WakeAt.IsZero() {
		w := s.cronWake[u.Name]
		if w == nil {
			w = &wakeTimer{}
			s.cronWake[u.Name] = w
		}
		s.wakeAt(w, u.Name, out.WakeAt, now)
	}
	for _, j := range made {
		s.reconcileJob(j)
	}
}

// cronHosts is the hosts as planCron needs them for u: the host that
// decides a run under concurrency_policy = forbid is the one the job
// controller places the run's first attempt on, as every host computes it
// alike; with no host to place it on, the unit's jobOwner.
func (s *Supervisor) cronHosts(u *units.Unit) cronHosts {
	member, _ := memberFinder(s.members)
	return cronHosts{
		self: s.opt.Host,
		decider: func(run string) string {
			if h := indexHosts(run, u, s.members)(0); h != "" {
				return h
			}
			return s.jobOwner(u.Name)
		},
		ready: func(host string) bool {
			m := member(host)
			return m != nil && m.Status == HostReady
		},
	}
}

// adoptCronJobs makes a record for each job of u that other hosts run
// attempts of and this host has none of: it was down, or not yet a
// member, when the run was made. Without it this host would make that run
// again, or never see it end.
func (s *Supervisor) adoptCronJobs(u *units.Unit) {
	prefix := u.Name + "-"
	for owner := range s.remote {
		rest, ok := strings.CutPrefix(owner, prefix)
		if !ok || s.jobs[owner] != nil || s.units[owner] != nil {
			continue
		}
		sec, err := strconv.ParseInt(rest, 10, 64)
		if err != nil || cronJobName(u.Name, time.Unix(sec, 0)) != owner {
			continue
		}
		s.newJob(u, owner, u.Name, time.Unix(sec, 0))
	}
}

// jobOwner is the host that speaks for a job or a cron unit: the events
// that every host would otherwise record alike (a job's end, a cron
// run's creation) are recorded by it alone. One host in the fleet, as
// every host computes alike.
func (s *Supervisor) jobOwner(name string) string {
	var ready []string
	for _, m := range s.members {
		if m.Status == HostReady {
			ready = append(ready, m.Name)
		}
	}
	if h := placeNew(name, []int{0}, ready, map[string]int{}); h != nil {
		return h[0]
	}
	return s.opt.Host
}
