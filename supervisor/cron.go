package supervisor

import (
	"time"

	"github.com/robfig/cron/v3"

	"github.com/tendhq/tend/units"
)

// maxCatchUp bounds the missed runs that catch_up = "all" starts.
const maxCatchUp = 100

// maxScan bounds how many scheduled times cronDue walks after a long
// downtime; beyond it the count of missed runs is a lower bound.
const maxScan = 100_000

// duePlan is what the cron controller should do now.
type duePlan struct {
	Run    []time.Time // scheduled times to start a job for, oldest first
	Missed int         // scheduled times that will not run
	// LastMissed is the newest missed time (zero when none).
	LastMissed time.Time
	// Considered is the newest scheduled time handled: the next call
	// starts after it.
	Considered time.Time
	Next       time.Time // the first scheduled time after now
}

// cronDue decides which scheduled times between last (exclusive) and now
// (inclusive) run. It is a pure function of its arguments.
//
// Times at or after agentStart came while the agent ran: the newest runs
// unless it is older than startingDeadline; older ones (the loop was held
// up, or the clock jumped) are missed. Times before
// agentStart were missed while the agent was down, and catchUp decides:
// skip runs none, latest runs the newest of them, all runs each of them
// (oldest first, at most maxCatchUp) — always within startingDeadline
// (0 = no deadline). Everything not run is counted as missed.
func cronDue(sched cron.Schedule, last, now, agentStart time.Time, startingDeadline time.Duration, catchUp units.CatchUp) duePlan {
	var p duePlan
	var down, live []time.Time
	// When clocks go back, an hour of wall-clock times comes twice and the
	// schedule names each twice; like cron(8), run such a time once.
	loc := time.UTC
	if spec, ok := sched.(*cron.SpecSchedule); ok && spec.Location != nil {
		loc = spec.Location
	}
	wall := func(t time.Time) string { return t.In(loc).Format("2006-01-02 15:04:05") }
	prev := wall(last)
	t := sched.Next(last)
	for n := 0; !t.IsZero() && !t.After(now); n++ {
		if w := wall(t); w == prev {
			p.Considered = t
			t = sched.Next(t)
			continue
		} else {
			prev = w
		}
		if n >= maxScan {
			// Too far behind to walk: what was scanned is missed, and so
			// is the rest up to the last second, which counts as live.
			p.Missed += len(down) + len(live)
			p.LastMissed = p.Considered
			down, live = nil, nil
			t = sched.Next(now.Add(-time.Second))
			for !t.IsZero() && !t.After(now) {
				live = append(live, t)
				p.Considered = t
				t = sched.Next(t)
			}
			break
		}
		if t.Before(agentStart) {
			down = append(down, t)
		} else {
			live = append(live, t)
		}
		p.Considered = t
		t = sched.Next(t)
	}
	p.Next = t
	inTime := func(at time.Time) bool {
		return startingDeadline <= 0 || now.Sub(at) <= startingDeadline
	}
	miss := func(at time.Time) {
		p.Missed++
		if at.After(p.LastMissed) {
			p.LastMissed = at
		}
	}
	var candidates []time.Time
	switch {
	case catchUp == units.CatchUpSkip || len(down) == 0:
		for _, at := range down {
			miss(at)
		}
	case catchUp == units.CatchUpLatest:
		for _, at := range down[:len(down)-1] {
			miss(at)
		}
		candidates = append(candidates, down[len(down)-1])
	case catchUp == units.CatchUpAll:
		for k, at := range down {
			if len(down)-k > maxCatchUp {
				miss(at)
				continue
			}
			candidates = append(candidates, at)
		}
	}
	// While the agent ran, more than one due time means the loop was held
	// up (or the clock jumped): as Kubernetes does, only the newest runs.
	if len(live) > 0 {
		for _, at := range live[:len(live)-1] {
			miss(at)
		}
		candidates = append(candidates, live[len(live)-1])
	}
	for _, at := range candidates {
		if inTime(at) {
			p.Run = append(p.Run, at)
		} else {
			miss(at)
		}
	}
	if len(live) > 0 && p.Considered.Before(live[len(live)-1]) {
		p.Considered = live[len(live)-1]
	}
	return p
}
