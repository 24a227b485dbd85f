package supervisor

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/units"
)

func mustSchedule(t *testing.T, spec, zone string) (sched interface{ Next(time.Time) time.Time }, loc *time.Location) {
	t.Helper()
	loc = time.UTC
	if zone != "" {
		var err error
		if loc, err = time.LoadLocation(zone); err != nil {
			t.Fatal(err)
		}
	}
	s, err := units.ParseSchedule(spec, loc)
	if err != nil {
		t.Fatal(err)
	}
	return s, loc
}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestCronDue(t *testing.T) {
	quarter := "0,15,30,45 * * * *"
	cases := []struct {
		name       string
		spec, zone string
		last, now  string
		agentStart string
		deadline   time.Duration
		catchUp    units.CatchUp
		run        []string
		missed     int
		next       string
	}{
		{
			name: "on time", spec: quarter,
			last: "2026-11-27T10:00:00Z", now: "2026-11-27T10:15:00.005Z", agentStart: "2026-11-27T09:00:00Z",
			run: []string{"2026-11-27T10:15:00Z"}, next: "2026-11-27T10:30:00Z",
		},
		{
			name: "nothing due", spec: quarter,
			last: "2026-11-27T10:15:00Z", now: "2026-11-27T10:29:59Z", agentStart: "2026-11-27T09:00:00Z",
			next: "2026-11-27T10:30:00Z",
		},
		{
			name: "held up past the starting deadline", spec: quarter, deadline: 5 * time.Minute,
			last: "2026-11-27T10:00:00Z", now: "2026-11-27T10:25:00Z", agentStart: "2026-11-27T09:00:00Z",
			missed: 1, next: "2026-11-27T10:30:00Z",
		},
		{
			name: "after downtime, latest (the default) runs the newest missed time", spec: quarter, catchUp: units.CatchUpLatest,
			last: "2026-11-27T10:00:00Z", now: "2026-11-27T11:50:00Z", agentStart: "2026-11-27T11:49:00Z",
			run: []string{"2026-11-27T11:45:00Z"}, missed: 6, next: "2026-11-27T12:00:00Z",
		},
		{
			name: "latest, but older than the starting deadline", spec: quarter, catchUp: units.CatchUpLatest, deadline: 2 * time.Minute,
			last: "2026-11-27T10:00:00Z", now: "2026-11-27T11:50:00Z", agentStart: "2026-11-27T11:49:00Z",
			missed: 7, next: "2026-11-27T12:00:00Z",
		},
		{
			name: "skip runs nothing missed while down", spec: quarter, catchUp: units.CatchUpSkip,
			last: "2026-11-27T10:00:00Z", now: "2026-11-27T11:50:00Z", agentStart: "2026-11-27T11:49:00Z",
			missed: 7, next: "2026-11-27T12:00:00Z",
		},
		{
			name: "all runs each missed time in order", spec: quarter, catchUp: units.CatchUpAll,
			last: "2026-11-27T10:00:00Z", now: "2026-11-27T11:00:30Z", agentStart: "2026-11-27T11:00:10Z",
			run:  []string{"2026-11-27T10:15:00Z", "2026-11-27T10:30:00Z", "2026-11-27T10:45:00Z", "2026-11-27T11:00:00Z"},
			next: "2026-11-27T11:15:00Z",
		},
		{
			name: "all runs at most 100", spec: "@every 1m", catchUp: units.CatchUpAll,
			last: "2026-11-27T00:00:00Z", now: "2026-11-27T02:30:30Z", agentStart: "2026-11-27T02:30:10Z",
			missed: 50, next: "2026-11-27T02:31:00Z",
		},
		{
			name: "time zone: 9:00 in Seoul is midnight UTC", spec: "0 9 * * *", zone: "Asia/Seoul",
			last: "2026-11-27T00:00:00Z", now: "2026-11-28T00:00:00Z", agentStart: "2026-11-26T00:00:00Z",
			run: []string{"2026-11-28T00:00:00Z"}, next: "2026-11-29T00:00:00Z",
		},
		{
			name: "DST ends: 1:30 in New York comes twice but runs once", spec: "30 1 * * *", zone: "America/New_York",
			last: "2026-10-31T12:00:00Z", now: "2026-11-01T12:00:00Z", agentStart: "2026-10-01T00:00:00Z",
			run: []string{"2026-11-01T05:30:00Z"}, next: "2026-11-02T06:30:00Z",
		},
		{
			name: "DST ends, the second 1:30 after the first was run", spec: "30 1 * * *", zone: "America/New_York",
			last: "2026-11-01T05:30:00Z", now: "2026-11-01T12:00:00Z", agentStart: "2026-10-01T00:00:00Z",
			next: "2026-11-02T06:30:00Z",
		},
		{
			name: "DST starts: 2:30 in New York does not exist that day", spec: "30 2 * * *", zone: "America/New_York",
			last: "2026-03-07T12:00:00Z", now: "2026-03-08T12:00:00Z", agentStart: "2026-03-01T00:00:00Z",
			next: "2026-03-09T06:30:00Z",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sched, _ := mustSchedule(t, c.spec, c.zone)
			p := cronDue(sched.(interface {
				Next(time.Time) time.Time
			}), at(c.last), at(c.now), at(c.agentStart), c.deadline, c.catchUp)
			var run []string
			for _, r := range p.Run {
				run = append(run, r.UTC().Format(time.RFC3339))
			}
			if c.name == "all runs at most 100" {
				// 150 missed minutes: the newest 100 run, 50 are missed.
				if len(run) != 100 || run[0] != "2026-11-27T00:51:00Z" || run[99] != "2026-11-27T02:30:00Z" {
					t.Fatalf("ran %d: first %v last %v", len(run), run[0], run[len(run)-1])
				}
			} else if !slices.Equal(run, c.run) {
				t.Errorf("run = %v, want %v", run, c.run)
			}
			if p.Missed != c.missed {
				t.Errorf("missed = %d, want %d", p.Missed, c.missed)
			}
			if got := p.Next.UTC().Format(time.RFC3339); got != c.next {
				t.Errorf("next = %s, want %s", got, c.next)
			}
		})
	}
}

// Days behind an @every 1s schedule: the walk stops at maxScan, counts
// at least that many as missed, and still runs the newest time once.
func TestCronDueFarBehind(t *testing.T) {
	sched, _ := mustSchedule(t, "@every 1s", "")
	last := at("2026-11-25T00:00:00Z")
	now := at("2026-11-27T12:00:00Z")
	p := cronDue(sched, last, now, last, 0, units.CatchUpLatest)
	if len(p.Run) != 1 || !p.Run[0].Equal(now) {
		t.Fatalf("run = %v, want only %v", p.Run, now)
	}
	if p.Missed < maxScan || !p.Considered.Equal(now) || !p.Next.Equal(now.Add(time.Second)) {
		t.Fatalf("missed %d, considered %v, next %v", p.Missed, p.Considered, p.Next)
	}
}

func TestCronRunsOnScheduleWithPolicies(t *testing.T) {
	clock := newFakeClock()
	a := startTestAgent(t, t.TempDir(), clock)
	a.apply("tick", "kind = \"cron\"\nschedule = \"@every 1m\"\nconcurrency_policy = \"forbid\"\nsuccessful_history = 1", "sleep")
	a.waitUnit("tick", "loaded", func(u Unit) bool { return u.Schedule == "@every 1m" })
	clock.Advance(time.Minute)
	first := fmt.Sprintf("tick-%d", clock.Now().Unix())
	a.waitUnit(first, "the first run", func(u Unit) bool { return u.Running == 1 })
	// forbid: the next run is skipped while the first still runs.
	clock.Advance(time.Minute)
	a.waitUnit("tick", "a skipped run", func(u Unit) bool {
		return countReason(a.sup.Events(KindUnit, "tick"), "JobAlreadyActive") == 1
	})
	if _, err := a.sup.Unit(fmt.Sprintf("tick-%d", clock.Now().Unix())); err == nil {
		t.Fatal("forbid started a second job")
	}

	// replace: the running job is replaced by the new run.
	a.apply("tick", "kind = \"cron\"\nschedule = \"@every 1m\"\nconcurrency_policy = \"replace\"\nsuccessful_history = 1", "sleep")
	clock.Advance(time.Minute)
	third := fmt.Sprintf("tick-%d", clock.Now().Unix())
	a.waitUnit(third, "the replacing run", func(u Unit) bool { return u.Running == 1 })
	if _, err := a.sup.Unit(first); err == nil {
		t.Fatal("replace kept the old job")
	}
	u, _ := a.sup.Unit("tick")
	if len(u.ActiveJobs) != 1 || u.ActiveJobs[0] != third || !u.LastSchedule.Equal(clock.Now()) {
		t.Fatalf("cron: %+v", u)
	}
}

func TestCronHistorySuspendAndCatchUp(t *testing.T) {
	dir := t.TempDir()
	clock := newFakeClock()
	a := startTestAgent(t, dir, clock)
	a.apply("quick", "kind = \"cron\"\nschedule = \"@every 1m\"\nsuccessful_history = 2", "exit:0")
	a.waitUnit("quick", "loaded", func(u Unit) bool { return u.Schedule != "" })
	var names []string
	for range 4 {
		clock.Advance(time.Minute)
		name := fmt.Sprintf("quick-%d", clock.Now().Unix())
		names = append(names, name)
		a.waitUnit(name, "run done", func(u Unit) bool { return u.Condition == JobComplete })
	}
	// Only the newest two finished jobs are kept.
	a.waitUnit("quick", "history trimmed", func(Unit) bool {
		_, e0 := a.sup.Unit(names[0])
		_, e1 := a.sup.Unit(names[1])
		return e0 != nil && e1 != nil
	})
	if _, err := a.sup.Unit(names[3]); err != nil {
		t.Fatal("newest job trimmed")
	}

	// The agent is down for 10 minutes: with catch_up = latest one run
	// makes up for the newest missed time, the rest are reported missed.
	a.stop()
	clock.Advance(10*time.Minute + 30*time.Second)
	b := startTestAgent(t, dir, clock)
	newest := clock.Now().Truncate(time.Minute)
	b.waitUnit(fmt.Sprintf("quick-%d", newest.Unix()), "the catch-up run", func(u Unit) bool { return u.Condition == JobComplete })
	evs := b.sup.Events(KindUnit, "quick")
	var missed string
	for _, e := range evs {
		if e.Reason == "MissedSchedule" {
			missed = e.Message
		}
	}
	if !strings.Contains(missed, "Missed 9 scheduled run(s)") {
		t.Fatalf("missed runs not reported: %q", missed)
	}

	// Suspended: nothing new runs.
	b.apply("quick", "kind = \"cron\"\nschedule = \"@every 1m\"\nsuccessful_history = 2\nsuspend = true", "exit:0")
	b.waitUnit("quick", "suspended", func(u Unit) bool { return u.Suspend })
	clock.Advance(5 * time.Minute)
	if _, err := b.sup.Unit(fmt.Sprintf("quick-%d", clock.Now().Unix())); err == nil {
		t.Fatal("a suspended cron ran")
	}
}

func TestUnsuspendedCronRunsOnceNotItsBacklog(t *testing.T) {
	clock := newFakeClock()
	a := startTestAgent(t, t.TempDir(), clock)
	a.apply("tick", "kind = \"cron\"\nschedule = \"@every 1m\"\nsuspend = true", "exit:0")
	a.waitUnit("tick", "loaded", func(u Unit) bool { return u.Suspend })
	clock.Advance(30 * time.Minute)
	a.apply("tick", "kind = \"cron\"\nschedule = \"@every 1m\"", "exit:0")
	a.waitUnit("tick", "resumed", func(u Unit) bool { return !u.Suspend })
	clock.Advance(time.Minute)
	a.waitUnit("tick", "one run", func(u Unit) bool { return !u.LastSchedule.IsZero() })
	n := 0
	for _, u := range a.sup.Units(units.KindJob) {
		if u.Owner == "tick" {
			n++
		}
	}
	// The newest time missed while suspended may run (as Kubernetes
	// does), then the next: not the thirty of the backlog.
	if n > 2 {
		t.Fatalf("%d jobs after unsuspending, want at most 2", n)
	}
}

func TestForbiddenRunsAreCountedAndNotScheduled(t *testing.T) {
	clock := newFakeClock()
	a := startTestAgent(t, t.TempDir(), clock)
	a.apply("busy", "kind = \"cron\"\nschedule = \"@every 1m\"\nconcurrency_policy = \"forbid\"", "sleep")
	a.waitUnit("busy", "loaded", func(u Unit) bool { return u.Schedule != "" })
	clock.Advance(time.Minute)
	first := clock.Now()
	a.waitUnit("busy", "first run", func(u Unit) bool { return len(u.ActiveJobs) == 1 })
	clock.Advance(time.Minute)
	u := a.waitUnit("busy", "a skip counted", func(u Unit) bool { return u.Missed == 1 })
	if !u.LastSchedule.Equal(first) {
		t.Fatalf("LAST SCHEDULE is %v, want the run that started (%v)", u.LastSchedule, first)
	}
}

func TestCronDeletedWithOrphanKeepsItsRunningJobs(t *testing.T) {
	clock := newFakeClock()
	a := startTestAgent(t, t.TempDir(), clock)
	a.apply("nightly", "kind = \"cron\"\nschedule = \"@every 1m\"", "sleep")
	a.waitUnit("nightly", "loaded", func(u Unit) bool { return u.Schedule != "" })
	clock.Advance(time.Minute)
	a.waitUnit("nightly", "running", func(u Unit) bool { return len(u.ActiveJobs) == 1 })
	job := fmt.Sprintf("nightly-%d", clock.Now().Unix())
	a.waitUnit(job, "its instance runs", func(u Unit) bool { return u.Running == 1 })
	name := a.ownedBy(job)[0].Name
	if err := a.sup.DeleteUnit("nightly", true); err != nil {
		t.Fatal(err)
	}
	a.waitFor("the cron is gone", func() bool { _, err := a.sup.Unit("nightly"); return err != nil })
	i, err := a.sup.Instance(name)
	if err != nil || i.Status != "Running" || i.Unit != "" {
		t.Fatalf("orphaned job instance: %+v, %v", i, err)
	}
}
