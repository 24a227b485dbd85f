package supervisor

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/tendhq/tend/units"
)

// cronRecord is what the store keeps of a cron unit.
type cronRecord struct {
	LastSchedule time.Time `json:"last_schedule,omitempty"`
	// Considered is the newest scheduled time handled (run or missed).
	Considered time.Time `json:"considered,omitempty"`
	Missed     int       `json:"missed,omitempty"`
	// Left are the runs, under forbid, that another host decides and this
	// one has not yet heard of: should that host go before anyone hears
	// of the run, the run is decided again.
	Left []leftRun `json:"left,omitempty"`
}

func (r cronRecord) equal(o cronRecord) bool {
	return r.LastSchedule.Equal(o.LastSchedule) && r.Considered.Equal(o.Considered) && r.Missed == o.Missed && slices.Equal(r.Left, o.Left)
}

// leftRun is a run left to the host that decides it.
type leftRun struct {
	Name      string    `json:"name"`
	Scheduled time.Time `json:"scheduled"`
	Host      string    `json:"host"`
}

// leftFor is how long a host waits to hear of a run another host decided
// while that host stays Ready: its news takes a second or so; a run it
// does not make (another was still active) is never heard of, and after
// this the run is taken as decided.
const leftFor = 30 * time.Second

// maxLeft bounds the runs left to others that a cron unit's record keeps
// (at @every 1s, leftFor's worth).
const maxLeft = 64

// cronHosts is what planCron knows of the hosts, for forbid.
type cronHosts struct {
	self string
	// decider is the host that decides run now: its first attempt's,
	// over the Ready hosts that match the unit's selector.
	decider func(run string) string
	ready   func(host string) bool
}

// cronJob is one of a cron unit's jobs, as the cron controller sees it.
type cronJob struct {
	Name      string
	Scheduled time.Time
	Condition string // "" while it runs, Complete, Failed
}

// note is an event a planner asks for, about the unit it plans. Every
// host plans alike, so one host records the notes (jobOwner); a Local
// note says what only this host decided, and this host records it.
type note struct {
	Type, Reason, Message string
	Local                 bool
}

// cronRun is a job the cron controller makes: every host makes it alike,
// and the job controller places its attempts.
type cronRun struct {
	Name      string
	Scheduled time.Time
}

// cronOutcome is what the cron controller decides for one cron unit.
type cronOutcome struct {
	Rec    cronRecord // the unit's record from now on
	Create []cronRun
	Remove []string // jobs to remove, with their attempts
	Notes  []note
	WakeAt time.Time // the next scheduled time; zero: none
}

// cronJobName names the job of the run scheduled at t.
func cronJobName(cron string, t time.Time) string {
	return cron + "-" + strconv.FormatInt(t.Unix(), 10)
}

// planCron is the cron controller for u: rec is its record, since when
// the unit exists, agentStart when this agent started, jobs its jobs
// (sorted by name), decides whether this host decides a run under
// concurrency_policy = forbid.
//
// It trims the history to successful_history complete and failed_history
// failed jobs (newest kept); while suspended or stopped it only moves the record on,
// so what is scheduled meanwhile never runs; otherwise it takes the
// scheduled times that are due (cronDue, which applies starting_deadline
// and catch_up) and makes a job for each as concurrency_policy allows:
// allow runs it beside the active ones, forbid counts it missed, replace
// removes the active ones first. Every host makes the same run's job, so
// the fleet runs each schedule once: the job controller places each of
// its attempts on one host.
//
// Forbid is the exception. Whether a run is skipped depends on whether
// another is still active, which hosts learn at different times: one that
// has not yet heard that the last run finished would skip a run that the
// others make, and if the job controller placed that run's attempt on
// it, no host would ever start it while the others held it active and
// forbade every run after it. So under forbid one host decides each run,
// the one its first attempt is placed on (decides), and the others leave
// it to that host: they learn of the job from its attempt (adoptCronJobs).
//
// A run this host leaves to another under forbid waits in the record's
// Left until this host hears of it (its job appears). If the deciding host
// goes first (NotReady, or Left), before anyone has heard of the run, the
// run would be lost with it: every host decides it again, and the new
// decider makes it, late, if its starting_deadline allows. A run the dead
// host had in fact begun then runs twice (at least once).
func planCron(u *units.Unit, rec cronRecord, since, agentStart time.Time, jobs []cronJob, hosts cronHosts, now time.Time) cronOutcome {
	out := cronOutcome{Rec: rec}
	if out.Rec.Considered.IsZero() {
		out.Rec.Considered = since
		if since.IsZero() {
			out.Rec.Considered = now
		}
	}
	trim := func(cond string, keep int) {
		var list []cronJob
		for _, j := range jobs {
			if j.Condition == cond {
				list = append(list, j)
			}
		}
		sort.SliceStable(list, func(a, b int) bool { return list[a].Scheduled.After(list[b].Scheduled) })
		for k := keep; k < len(list); k++ {
			out.Remove = append(out.Remove, list[k].Name)
		}
	}
	trim(JobComplete, u.SuccessfulHistory)
	trim(JobFailed, u.FailedHistory)
	for _, j := range jobs {
		// A run another host made (forbid) is learnt of later.
		if j.Scheduled.After(out.Rec.LastSchedule) {
			out.Rec.LastSchedule = j.Scheduled
		}
	}
	if u.Suspend || u.Stopped {
		out.Rec.Considered = now
		return out
	}
	if u.Cron == nil {
		return out // Parse refuses such a unit; nothing to run
	}
	plan := cronDue(u.Cron, out.Rec.Considered, now, agentStart, u.StartingDeadline.D(), u.CatchUp)
	if plan.Missed > 0 {
		out.Rec.Missed += plan.Missed
		out.Notes = append(out.Notes, note{Warning, "MissedSchedule",
			fmt.Sprintf("Missed %d scheduled run(s), the newest at %s (catch_up = %s, starting_deadline = %s)",
				plan.Missed, plan.LastMissed.In(u.Location).Format(time.RFC3339), u.CatchUp, u.StartingDeadline), false})
	}
	exists := map[string]bool{}
	var active []string
	for _, j := range jobs {
		exists[j.Name] = true
		if j.Condition == "" {
			active = append(active, j.Name)
		}
	}
	forbid := u.ConcurrencyPolicy == units.ConcurrencyForbid
	// Under forbid a run decided again is superseded by any later run the
	// fleet knows of (left to a host, made, or due now): the dead host may
	// well have skipped it (another was active then), and making it now,
	// late, would keep the later one from running, which every host may
	// not have left to the same decider.
	var newest time.Time
	for _, l := range out.Rec.Left {
		newest = laterOf(newest, l.Scheduled)
	}
	for _, j := range jobs {
		newest = laterOf(newest, j.Scheduled)
	}
	for _, at := range plan.Run {
		newest = laterOf(newest, at)
	}
	// The runs left to others: heard of, given up on, or theirs no more.
	var due []time.Time
	var left []leftRun
	for _, l := range out.Rec.Left {
		switch {
		case !forbid || exists[l.Name] || now.Sub(l.Scheduled) > leftFor:
		case hosts.ready(l.Host):
			left = append(left, l)
		case u.StartingDeadline > 0 && now.Sub(l.Scheduled) > u.StartingDeadline.D():
			out.Rec.Missed++
			out.Notes = append(out.Notes, note{Warning, "MissedSchedule",
				fmt.Sprintf("Missed the run of %s: %s, which decided it, went before it was heard of, and starting_deadline = %s has passed", l.Scheduled.In(u.Location).Format(time.RFC3339), l.Host, u.StartingDeadline), true})
		case l.Scheduled.Before(newest):
			out.Rec.Missed++
			out.Notes = append(out.Notes, note{Warning, "MissedSchedule",
				fmt.Sprintf("Missed the run of %s: %s, which decided it, went before it was heard of, and a later run supersedes it (concurrency_policy = forbid)", l.Scheduled.In(u.Location).Format(time.RFC3339), l.Host), true})
		default:
			if d := hosts.decider(l.Name); d != hosts.self {
				l.Host = d
				left = append(left, l)
				continue
			}
			out.Notes = append(out.Notes, note{Normal, "Rescheduled",
				fmt.Sprintf("Deciding the run of %s again: %s, which decided it, went before it was heard of", l.Scheduled.In(u.Location).Format(time.RFC3339), l.Host), true})
			due = append(due, l.Scheduled)
		}
	}
	out.Rec.Left = left
	for _, at := range append(due, plan.Run...) {
		name := cronJobName(u.Name, at)
		if exists[name] {
			out.Rec.LastSchedule = at
			continue
		}
		if forbid {
			if d := hosts.decider(name); d != hosts.self {
				if len(out.Rec.Left) < maxLeft {
					out.Rec.Left = append(out.Rec.Left, leftRun{Name: name, Scheduled: at, Host: d})
				}
				continue
			}
		}
		if len(active) > 0 {
			switch u.ConcurrencyPolicy {
			case units.ConcurrencyForbid:
				out.Notes = append(out.Notes, note{Normal, "JobAlreadyActive",
					fmt.Sprintf("Not starting job for %s: %s is still running (concurrency_policy = forbid)", at.Format(time.RFC3339), active[0]), true})
				out.Rec.Missed++
				continue
			case units.ConcurrencyReplace:
				for _, name := range active {
					out.Notes = append(out.Notes, note{Normal, "SuccessfulDelete", "Deleted job " + name + " (concurrency_policy = replace)", false})
					out.Remove = append(out.Remove, name)
				}
				active = nil
			}
		}
		out.Create = append(out.Create, cronRun{Name: name, Scheduled: at})
		out.Notes = append(out.Notes, note{Normal, "SuccessfulCreate", "Created job " + name, forbid})
		exists[name] = true
		active = append(active, name)
		if at.After(out.Rec.LastSchedule) {
			out.Rec.LastSchedule = at
		}
	}
	if !plan.Considered.IsZero() {
		out.Rec.Considered = plan.Considered
	}
	out.WakeAt = plan.Next
	return out
}

func laterOf(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
