package supervisor

// The job and cron controllers as pure functions (DESIGN §3 items 9 and
// 10), with exact times. jobs_test.go and cron_test.go run them with real
// processes.

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tendhq/tend/units"
)

func batchJob(t testing.TB, keys string) *units.Unit {
	return mustUnit(t, "batch", "kind = \"job\"\n"+keys+"\n[template]\ncommand = [\"batch\"]\n")
}

// attempt is an attempt of the job batch: "run" (running), "ok" (exited
// 0), "fail" (exited 1 after failing once, at failedAt).
func attempt(name string, slot int, host, state string, failedAt time.Time) InstanceSummary {
	in := inst(name, "batch", units.KindJob, slot, host, time.Minute)
	switch state {
	case "ok":
		in.Life, in.Ready, in.Started = LifeExited, false, time.Time{}
	case "fail":
		in.Life, in.Ready, in.Started, in.ExitCode = LifeExited, false, time.Time{}, 1
		in.FailedRuns, in.LastFailure = 1, failedAt
	}
	return in
}

// indexes is the set of completion indexes text writes.
func indexes(t testing.TB, text string) indexSet {
	s, err := parseIndexSet(text)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// gone is in as a host counts an attempt on a host that is not Ready
// (seenAttempts).
func gone(in InstanceSummary) InstanceSummary {
	in.Terminating = true
	return in
}

// withStatus is members with host's status set.
func withStatus(members []Member, host string, st HostStatus) []Member {
	for k := range members {
		if members[k].Name == host {
			members[k].Status = st
		}
	}
	return members
}

func TestPlanJob(t *testing.T) {
	one := hosts("edge-17")
	start := t0.Add(-time.Hour)
	failedAt := t0.Add(-5 * time.Second)
	cases := []struct {
		name     string
		keys     string
		rec      jobRecord
		attempts []InstanceSummary
		members  []Member
		want     []string
		finish   *jobEnd
		clean    bool
		wakeAt   time.Time
	}{
		{"completions run in sequence: the first", "completions = 5", jobRecord{}, nil, one,
			[]string{"create slot 0 on edge-17"}, nil, false, time.Time{}},
		{"in sequence: one at a time", "completions = 5", jobRecord{},
			[]InstanceSummary{attempt("batch-a", 0, "edge-17", "run", time.Time{})}, one, nil, nil, false, time.Time{}},
		{"in sequence: the next after a success", "completions = 5", jobRecord{},
			[]InstanceSummary{attempt("batch-a", 0, "edge-17", "ok", time.Time{})}, one,
			[]string{"create slot 1 on edge-17"}, nil, false, time.Time{}},
		{"in parallel", "completions = 5\nparallelism = 2", jobRecord{}, nil, one,
			[]string{"create slot 0 on edge-17", "create slot 1 on edge-17"}, nil, false, time.Time{}},
		{"in parallel, no more than the completions left", "completions = 5\nparallelism = 2", jobRecord{},
			[]InstanceSummary{attempt("batch-a", 0, "edge-17", "ok", time.Time{}), attempt("batch-b", 1, "edge-17", "ok", time.Time{}),
				attempt("batch-c", 2, "edge-17", "ok", time.Time{}), attempt("batch-d", 3, "edge-17", "ok", time.Time{}),
				attempt("batch-e", 4, "edge-17", "run", time.Time{})}, one, nil, nil, false, time.Time{}},
		{"five of five: complete", "completions = 5", jobRecord{Done: indexes(t, "0-1")},
			[]InstanceSummary{attempt("batch-a", 2, "edge-17", "ok", time.Time{}), attempt("batch-b", 3, "edge-17", "ok", time.Time{}),
				attempt("batch-c", 4, "edge-17", "ok", time.Time{})}, one,
			nil, &jobEnd{JobComplete, "Completed", Normal, "Job completed"}, false, time.Time{}},
		{"parallelism lowered: the newest go", "completions = 9\nparallelism = 1", jobRecord{},
			[]InstanceSummary{attempt("batch-a", 0, "edge-17", "run", time.Time{}),
				inst("batch-b", "batch", units.KindJob, 1, "edge-17", time.Second),
				inst("batch-c", "batch", units.KindJob, 2, "edge-17", 2*time.Second)}, one,
			[]string{"delete batch-b (edge-17): parallelism lowered", "delete batch-c (edge-17): parallelism lowered"}, nil, false, time.Time{}},
		// restart = never: a failed attempt is retried by a new one after
		// the job's back-off (10s, then 20s...).
		{"a failure waits for the back-off", "completions = 2\nbackoff_limit = 3", jobRecord{},
			[]InstanceSummary{attempt("batch-a", 0, "edge-17", "fail", failedAt)}, one,
			nil, nil, false, failedAt.Add(10 * time.Second)},
		{"after the back-off, the index again", "completions = 2\nbackoff_limit = 3", jobRecord{},
			[]InstanceSummary{attempt("batch-a", 0, "edge-17", "fail", t0.Add(-10*time.Second))}, one,
			[]string{"create slot 0 on edge-17"}, nil, false, time.Time{}},
		// Completion indexes: each runs until an attempt of it completes.
		{"the first indexes not done", "completions = 6\nparallelism = 2", jobRecord{Done: indexes(t, "0,2")}, nil, one,
			[]string{"create slot 1 on edge-17", "create slot 3 on edge-17"}, nil, false, time.Time{}},
		{"an index stays done when its attempt is removed", "completions = 2", jobRecord{Done: indexes(t, "0")}, nil, one,
			[]string{"create slot 1 on edge-17"}, nil, false, time.Time{}},
		{"one attempt an index: of two, the newer goes", "completions = 2\nparallelism = 2", jobRecord{},
			[]InstanceSummary{inst("batch-a", "batch", units.KindJob, 0, "a", time.Minute), inst("batch-b", "batch", units.KindJob, 0, "b", time.Second),
				inst("batch-c", "batch", units.KindJob, 1, "b", time.Minute)}, hosts("a", "b"),
			[]string{"delete batch-b (b): another instance holds its slot"}, nil, false, time.Time{}},
		{"an attempt of an index done elsewhere goes", "completions = 3", jobRecord{Done: indexes(t, "0")},
			[]InstanceSummary{inst("batch-a", "batch", units.KindJob, 0, "edge-17", time.Minute)}, one,
			[]string{"delete batch-a (edge-17): another attempt completed its index", "create slot 1 on edge-17"}, nil, false, time.Time{}},
		// The first attempts spread; a dead host's index goes to one host.
		{"one attempt on each host", "completions = 6\nparallelism = 3", jobRecord{}, nil, hosts("h0", "h1", "h2"),
			[]string{"create slot 0 on h2", "create slot 1 on h1", "create slot 2 on h0"}, nil, false, time.Time{}},
		{"a dead host's index: on one Ready host", "completions = 6\nparallelism = 3", jobRecord{},
			[]InstanceSummary{gone(inst("batch-a", "batch", units.KindJob, 0, "h2", time.Minute)),
				inst("batch-b", "batch", units.KindJob, 1, "h1", time.Minute), inst("batch-c", "batch", units.KindJob, 2, "h0", time.Minute)},
			withStatus(hosts("h0", "h1", "h2"), "h2", HostNotReady),
			[]string{"create slot 0 on h1"}, nil, false, time.Time{}},
		// h2's indexes (0, 3) go to the Ready hosts; h1's (4) stays.
		{"... and only its indexes move", "completions = 6\nparallelism = 3", jobRecord{Done: indexes(t, "1-2")},
			[]InstanceSummary{gone(inst("batch-a", "batch", units.KindJob, 0, "h2", time.Minute))},
			withStatus(hosts("h0", "h1", "h2"), "h2", HostNotReady),
			[]string{"create slot 0 on h1", "create slot 3 on h0", "create slot 4 on h1"}, nil, false, time.Time{}},
		{"past the backoff limit: failed, the active ones go", "completions = 3\nparallelism = 2\nbackoff_limit = 1", jobRecord{LostFailures: 1},
			[]InstanceSummary{attempt("batch-a", 0, "edge-17", "fail", failedAt), attempt("batch-c", 2, "edge-17", "run", time.Time{})}, one,
			[]string{"delete batch-c (edge-17): job Failed"},
			&jobEnd{JobFailed, "BackoffLimitExceeded", Warning, "Job has reached the specified backoff limit"}, false, time.Time{}},
		{"before the deadline: look again at it", "active_deadline = \"2h\"", jobRecord{Start: start},
			[]InstanceSummary{attempt("batch-a", 0, "edge-17", "run", time.Time{})}, one,
			nil, nil, false, start.Add(2 * time.Hour)},
		{"past the deadline: failed", "active_deadline = \"1h\"", jobRecord{Start: start},
			[]InstanceSummary{attempt("batch-a", 0, "edge-17", "run", time.Time{})}, one,
			[]string{"delete batch-a (edge-17): job Failed"},
			&jobEnd{JobFailed, "DeadlineExceeded", Warning, "Job was active longer than specified deadline"}, false, time.Time{}},
		{"finished with a ttl: wait for it", "ttl_after_finished = \"1m\"", jobRecord{Condition: JobComplete, Completion: t0.Add(-30 * time.Second)},
			[]InstanceSummary{attempt("batch-a", 0, "edge-17", "ok", time.Time{})}, one,
			nil, nil, false, t0.Add(30 * time.Second)},
		{"finished, the ttl past: cleaned", "ttl_after_finished = \"1m\"", jobRecord{Condition: JobComplete, Completion: t0.Add(-time.Minute)},
			[]InstanceSummary{attempt("batch-a", 0, "edge-17", "ok", time.Time{})}, one,
			[]string{"delete batch-a (edge-17): ttl after finished"}, nil, true, time.Time{}},
		{"attempts spread over the hosts", "completions = 4\nparallelism = 4", jobRecord{}, nil, hosts("a", "b"),
			nil, nil, false, time.Time{}},
		{"no eligible host: it waits", "completions = 1\n[placement]\nnode_selector = { disk = \"ssd\" }", jobRecord{}, nil, one,
			nil, nil, false, time.Time{}},
		// tend stop: a suspended Job.
		{"stopped: the active attempts go, none start", "completions = 5\nparallelism = 3\nstopped = true", jobRecord{},
			[]InstanceSummary{attempt("batch-a", 0, "edge-17", "ok", time.Time{}), attempt("batch-b", 1, "edge-17", "run", time.Time{})}, one,
			[]string{"delete batch-b (edge-17): unit stopped"}, nil, false, time.Time{}},
		{"stopped past the deadline: not failed", "active_deadline = \"1h\"\nstopped = true", jobRecord{Start: start},
			[]InstanceSummary{attempt("batch-a", 0, "edge-17", "run", time.Time{})}, one,
			[]string{"delete batch-a (edge-17): unit stopped"}, nil, false, time.Time{}},
		{"stopped, its completions made: complete", "completions = 1\nstopped = true", jobRecord{},
			[]InstanceSummary{attempt("batch-a", 0, "edge-17", "ok", time.Time{})}, one,
			nil, &jobEnd{JobComplete, "Completed", Normal, "Job completed"}, false, time.Time{}},
		{"stopped and finished: as finished", "ttl_after_finished = \"1m\"\nstopped = true", jobRecord{Condition: JobComplete, Completion: t0.Add(-30 * time.Second)},
			[]InstanceSummary{attempt("batch-a", 0, "edge-17", "ok", time.Time{})}, one,
			nil, nil, false, t0.Add(30 * time.Second)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.rec.Name, c.rec.Indexed = "batch", true
			if c.rec.Start.IsZero() {
				c.rec.Start = start
			}
			spec := batchJob(t, c.keys)
			p := planJob(&c.rec, spec, c.attempts, c.members, t0, spec.Stopped)
			if c.name == "attempts spread over the hosts" {
				per := map[string]int{}
				for _, a := range p.Actions {
					per[a.Host]++
				}
				if len(p.Actions) != 4 || per["a"] != 2 || per["b"] != 2 {
					t.Fatalf("plan %q", planStrings(p.Actions))
				}
				return
			}
			checkPlan(t, "actions", p.Actions, c.want...)
			if (p.Finish == nil) != (c.finish == nil) || (p.Finish != nil && *p.Finish != *c.finish) {
				t.Errorf("finish = %+v, want %+v", p.Finish, c.finish)
			}
			if p.Clean != c.clean || !p.WakeAt.Equal(c.wakeAt) {
				t.Errorf("clean %v wake %v, want %v %v", p.Clean, p.WakeAt, c.clean, c.wakeAt)
			}
		})
	}
}

func TestPlanCron(t *testing.T) {
	cronUnit := func(keys string) *units.Unit {
		return mustUnit(t, "tick", "kind = \"cron\"\nschedule = \"@every 1m\"\ntime_zone = \"UTC\"\n"+keys+"\n[template]\ncommand = [\"tick\"]\n")
	}
	name := func(at time.Time) string { return fmt.Sprintf("tick-%d", at.Unix()) }
	runs := func(o cronOutcome) []string {
		var out []string
		for _, r := range o.Create {
			out = append(out, r.Name)
		}
		return out
	}
	notes := func(o cronOutcome) []string {
		var out []string
		for _, n := range o.Notes {
			out = append(out, n.Reason+": "+n.Message)
		}
		return out
	}
	started := t0.Add(-time.Hour) // the agent's start
	always := func(string) bool { return true }
	here := cronHosts{self: "me", decider: func(string) string { return "me" }, ready: always} // this host decides every run

	// On schedule: the run due now, named after its time; then the next.
	o := planCron(cronUnit(""), cronRecord{Considered: t0.Add(-time.Minute)}, t0.Add(-time.Hour), started, nil, here, t0)
	if got := runs(o); !slices.Equal(got, []string{name(t0)}) || !o.Rec.LastSchedule.Equal(t0) || !o.WakeAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("on schedule: runs %q, record %+v, wake %v", got, o.Rec, o.WakeAt)
	}
	// It exists already (an agent restart in between): no second job.
	o = planCron(cronUnit(""), cronRecord{Considered: t0.Add(-time.Minute)}, time.Time{}, started, []cronJob{{Name: name(t0), Scheduled: t0}}, here, t0)
	if len(o.Create) != 0 || !o.Rec.LastSchedule.Equal(t0) {
		t.Fatalf("existing run made again: %+v", o)
	}

	// Down for ten minutes, catch_up = latest within starting_deadline:
	// the newest missed time runs, the nine before are reported missed.
	back := t0.Add(30 * time.Second) // the agent starts again, and plans at once
	o = planCron(cronUnit("starting_deadline = \"5m\""), cronRecord{Considered: t0.Add(-10 * time.Minute)}, time.Time{}, back, nil, here, back)
	if got := runs(o); !slices.Equal(got, []string{name(t0)}) || o.Rec.Missed != 9 {
		t.Fatalf("catch up latest: runs %q, missed %d, notes %q", got, o.Rec.Missed, notes(o))
	}
	if got := notes(o); len(got) != 2 || got[0] != "MissedSchedule: Missed 9 scheduled run(s), the newest at 2026-11-27T09:59:00Z (catch_up = latest, starting_deadline = 5m)" {
		t.Fatalf("notes %q", got)
	}
	// ... and with a deadline shorter than the delay, none runs.
	o = planCron(cronUnit("starting_deadline = \"10s\""), cronRecord{Considered: t0.Add(-10 * time.Minute)}, time.Time{}, back, nil, here, back)
	if len(o.Create) != 0 || o.Rec.Missed != 10 {
		t.Fatalf("past the deadline: %+v", o)
	}

	// forbid: a run due while one is active is counted missed.
	active := []cronJob{{Name: name(t0.Add(-time.Minute)), Scheduled: t0.Add(-time.Minute)}}
	o = planCron(cronUnit("concurrency_policy = \"forbid\""), cronRecord{Considered: t0.Add(-time.Minute)}, time.Time{}, started, active, here, t0)
	if len(o.Create) != 0 || o.Rec.Missed != 1 || !slices.Equal(notes(o), []string{"JobAlreadyActive: Not starting job for 2026-11-27T10:00:00Z: " + active[0].Name + " is still running (concurrency_policy = forbid)"}) {
		t.Fatalf("forbid: %+v", o)
	}
	// ... and so does a run that no job is active beside.
	o = planCron(cronUnit("concurrency_policy = \"forbid\""), cronRecord{Considered: t0.Add(-time.Minute)}, time.Time{}, started, nil, here, t0)
	if got := runs(o); !slices.Equal(got, []string{name(t0)}) || len(o.Notes) != 1 || !o.Notes[0].Local {
		t.Fatalf("forbid, none active: runs %q, notes %+v", got, o.Notes)
	}
	// Under forbid a run is another host's to decide when its attempt is
	// placed there: this host neither makes it nor counts it missed,
	// whatever it sees active, and learns of it from its attempt...
	elsewhere := cronHosts{self: "me", ready: always, decider: func(run string) string {
		if run == name(t0) {
			return "other"
		}
		return "me"
	}}
	for _, act := range [][]cronJob{nil, active} {
		o = planCron(cronUnit("concurrency_policy = \"forbid\""), cronRecord{Considered: t0.Add(-time.Minute)}, time.Time{}, started, act, elsewhere, t0)
		if len(o.Create) != 0 || o.Rec.Missed != 0 || len(o.Notes) != 0 || !o.Rec.Considered.Equal(t0) || !o.WakeAt.Equal(t0.Add(time.Minute)) {
			t.Fatalf("forbid, another host's run (active %v): %+v", act, o)
		}
		if want := []leftRun{{Name: name(t0), Scheduled: t0, Host: "other"}}; !slices.Equal(o.Rec.Left, want) {
			t.Fatalf("forbid, another host's run (active %v): left %+v, want %+v", act, o.Rec.Left, want)
		}
	}
	// ... while its host is Ready it waits; once heard of, it is done...
	waiting := cronRecord{Considered: t0, Left: []leftRun{{Name: name(t0), Scheduled: t0, Host: "other"}}}
	o = planCron(cronUnit("concurrency_policy = \"forbid\""), waiting, time.Time{}, started, nil, elsewhere, t0.Add(2*time.Second))
	if len(o.Create) != 0 || len(o.Rec.Left) != 1 {
		t.Fatalf("forbid, waiting to hear of another host's run: %+v", o)
	}
	o = planCron(cronUnit("concurrency_policy = \"forbid\""), waiting, time.Time{}, started, []cronJob{{Name: name(t0), Scheduled: t0}}, elsewhere, t0.Add(2*time.Second))
	if len(o.Create) != 0 || len(o.Rec.Left) != 0 {
		t.Fatalf("forbid, another host's run heard of: %+v", o)
	}
	// ... and if its host goes first, the host that decides it now makes
	// it, late, and says so...
	gone := cronHosts{self: "me", ready: func(h string) bool { return h != "other" }, decider: func(string) string { return "me" }}
	o = planCron(cronUnit("concurrency_policy = \"forbid\""), waiting, time.Time{}, started, nil, gone, t0.Add(2*time.Second))
	if got := runs(o); !slices.Equal(got, []string{name(t0)}) || len(o.Rec.Left) != 0 ||
		!slices.Contains(notes(o), "Rescheduled: Deciding the run of 2026-11-27T10:00:00Z again: other, which decided it, went before it was heard of") {
		t.Fatalf("forbid, the deciding host gone: runs %q, left %+v, notes %q", got, o.Rec.Left, notes(o))
	}
	// ... but of two runs it left to that host, only the later: the
	// earlier may have been skipped there (the one before was active),
	// and made now it would keep the later from running...
	t1 := t0.Add(10 * time.Second) // a later run, made within leftFor
	two := cronRecord{Considered: t1, Left: []leftRun{
		{Name: name(t0), Scheduled: t0, Host: "other"}, {Name: name(t1), Scheduled: t1, Host: "other"}}}
	o = planCron(cronUnit("concurrency_policy = \"forbid\""), two, time.Time{}, started, nil, gone, t1.Add(2*time.Second))
	if got := runs(o); !slices.Equal(got, []string{name(t1)}) || o.Rec.Missed != 1 || len(o.Rec.Left) != 0 ||
		!slices.Contains(notes(o), "MissedSchedule: Missed the run of 2026-11-27T10:00:00Z: other, which decided it, went before it was heard of, and a later run supersedes it (concurrency_policy = forbid)") {
		t.Fatalf("forbid, two runs of a host gone: runs %q, missed %d, left %+v, notes %q", got, o.Rec.Missed, o.Rec.Left, notes(o))
	}
	// ... also when the later one is another host's to decide now.
	split := cronHosts{self: "me", ready: func(h string) bool { return h != "other" }, decider: func(run string) string {
		if run == name(t0) {
			return "me"
		}
		return "third"
	}}
	o = planCron(cronUnit("concurrency_policy = \"forbid\""), two, time.Time{}, started, nil, split, t1.Add(2*time.Second))
	if len(o.Create) != 0 || o.Rec.Missed != 1 || !slices.Equal(o.Rec.Left, []leftRun{{Name: name(t1), Scheduled: t1, Host: "third"}}) {
		t.Fatalf("forbid, two runs of a host gone, the later a third's: %+v", o)
	}
	// ... or leaves it to the host that does, a third...
	third := cronHosts{self: "me", ready: func(h string) bool { return h != "other" }, decider: func(string) string { return "third" }}
	o = planCron(cronUnit("concurrency_policy = \"forbid\""), waiting, time.Time{}, started, nil, third, t0.Add(2*time.Second))
	if want := []leftRun{{Name: name(t0), Scheduled: t0, Host: "third"}}; len(o.Create) != 0 || !slices.Equal(o.Rec.Left, want) {
		t.Fatalf("forbid, the deciding host gone, a third decides: %+v", o)
	}
	// ... but not past its starting deadline, nor once it has waited
	// leftFor (its host made nothing: another run was active).
	o = planCron(cronUnit("concurrency_policy = \"forbid\"\nstarting_deadline = \"1s\""), waiting, time.Time{}, started, nil, gone, t0.Add(2*time.Second))
	if len(o.Create) != 0 || len(o.Rec.Left) != 0 || o.Rec.Missed != 1 {
		t.Fatalf("forbid, the deciding host gone, past the deadline: %+v", o)
	}
	o = planCron(cronUnit("concurrency_policy = \"forbid\""), waiting, time.Time{}, started, nil, gone, t0.Add(leftFor+time.Second))
	if len(o.Create) != 0 || len(o.Rec.Left) != 0 {
		t.Fatalf("forbid, left for longer than leftFor: %+v", o)
	}
	// ... after which its Last Schedule is that run's.
	o = planCron(cronUnit("concurrency_policy = \"forbid\""), cronRecord{Considered: t0}, time.Time{}, started, []cronJob{{Name: name(t0), Scheduled: t0}}, elsewhere, t0.Add(time.Second))
	if !o.Rec.LastSchedule.Equal(t0) {
		t.Fatalf("adopted run: last schedule %v", o.Rec.LastSchedule)
	}
	// allow and replace are every host's to make alike, wherever placed.
	o = planCron(cronUnit(""), cronRecord{Considered: t0.Add(-time.Minute)}, time.Time{}, started, active, elsewhere, t0)
	if got := runs(o); !slices.Equal(got, []string{name(t0)}) || o.Notes[0].Local {
		t.Fatalf("allow, placed elsewhere: runs %q, notes %+v", got, o.Notes)
	}
	// replace: the active job goes, the new run starts.
	o = planCron(cronUnit("concurrency_policy = \"replace\""), cronRecord{Considered: t0.Add(-time.Minute)}, time.Time{}, started, active, here, t0)
	if !slices.Equal(o.Remove, []string{active[0].Name}) || len(o.Create) != 1 {
		t.Fatalf("replace: %+v", o)
	}

	// History: the newest two complete and the newest failed kept.
	var hist []cronJob
	for k := range 4 {
		at := t0.Add(-time.Duration(10-k) * time.Minute)
		hist = append(hist, cronJob{Name: name(at), Scheduled: at, Condition: JobComplete})
	}
	hist = append(hist, cronJob{Name: "tick-f1", Scheduled: t0.Add(-20 * time.Minute), Condition: JobFailed},
		cronJob{Name: "tick-f2", Scheduled: t0.Add(-19 * time.Minute), Condition: JobFailed})
	o = planCron(cronUnit("successful_history = 2\nfailed_history = 1\nsuspend = true"), cronRecord{Considered: t0.Add(-time.Minute)}, time.Time{}, started, hist, here, t0)
	if !slices.Equal(o.Remove, []string{hist[1].Name, hist[0].Name, "tick-f1"}) {
		t.Fatalf("history: removed %q", o.Remove)
	}
	// Suspended: nothing runs, and what is scheduled meanwhile never will.
	if len(o.Create) != 0 || !o.Rec.Considered.Equal(t0) || !o.WakeAt.IsZero() {
		t.Fatalf("suspended: %+v", o)
	}
	// Stopped (tend stop): as suspended.
	o = planCron(cronUnit("stopped = true"), cronRecord{Considered: t0.Add(-time.Minute)}, time.Time{}, started, nil, here, t0)
	if len(o.Create) != 0 || !o.Rec.Considered.Equal(t0) || !o.WakeAt.IsZero() {
		t.Fatalf("stopped: %+v", o)
	}

}

// A run that ran beyond its completions (both sides of a partition made
// it): the extra attempts, in an order every host computes alike.
func TestExtraRuns(t *testing.T) {
	at := func(name, host string, life Life, code int, started time.Duration) InstanceSummary {
		return InstanceSummary{Name: name, Host: host, Kind: units.KindJob, Life: life, ExitCode: code, Started: t0.Add(started)}
	}
	names := func(list []InstanceSummary) []string {
		var out []string
		for _, in := range list {
			out = append(out, in.Name)
		}
		return out
	}
	cases := []struct {
		name     string
		attempts []InstanceSummary
		want     []string
	}{
		{"one attempt", []InstanceSummary{at("a", "h0", LifeRunning, 0, 0)}, nil},
		{"a failure retried elsewhere", []InstanceSummary{at("a", "h0", LifeExited, 1, 0), at("b", "h1", LifeExited, 0, time.Second)}, nil},
		{"a dead host's attempt, replaced", []InstanceSummary{{Name: "a", Host: "h2", Life: LifeRunning, Terminating: true}, at("b", "h1", LifeRunning, 0, time.Second)}, nil},
		{"both sides completed: the later is extra", []InstanceSummary{at("b", "h2", LifeExited, 0, time.Second), at("a", "h0", LifeExited, 0, 0)}, []string{"b"}},
		{"one completed, one runs: the running one is extra", []InstanceSummary{at("a", "h0", LifeRunning, 0, 0), at("b", "h2", LifeExited, 0, time.Second)}, []string{"a"}},
		{"both run: the later started is extra", []InstanceSummary{at("b", "h2", LifeRunning, 0, time.Second), at("a", "h0", LifeRunning, 0, 0)}, []string{"b"}},
	}
	for _, c := range cases {
		if got := names(extraRuns(c.attempts, 1)); !slices.Equal(got, c.want) {
			t.Errorf("%s: extra %q, want %q", c.name, got, c.want)
		}
	}
}

// A job recorded before attempts were of completion indexes keeps its
// numbers until it ends: its attempts do not stop at an upgrade.
func TestPlanJobNumbered(t *testing.T) {
	one := hosts("edge-17")
	spec := batchJob(t, "completions = 5\nbackoff_limit = 3")
	rec := jobRecord{Name: "batch", Start: t0.Add(-time.Hour), Attempts: 4, LostSucceeded: 1}
	// Attempts 0 (removed, counted) and 2 succeeded, 1 failed, 3 runs:
	// as indexes, 3 would be past the window of one; as numbers it runs.
	attempts := []InstanceSummary{
		attempt("batch-b", 1, "edge-17", "fail", t0.Add(-time.Minute)),
		attempt("batch-c", 2, "edge-17", "ok", time.Time{}),
		attempt("batch-d", 3, "edge-17", "run", time.Time{}),
	}
	if p := planJob(&rec, spec, attempts, one, t0, false); len(p.Actions) != 0 || p.Finish != nil {
		t.Fatalf("plan %q, finish %+v", planStrings(p.Actions), p.Finish)
	}
	// It ends: the next attempt takes the next number.
	attempts[2] = attempt("batch-d", 3, "edge-17", "ok", time.Time{})
	checkPlan(t, "after it", planJob(&rec, spec, attempts, one, t0, false).Actions, "create slot 4 on edge-17")
	// Another host's attempt took a number: the next is after it.
	if !rec.sawAttempts(append(attempts, attempt("batch-e", 6, "other", "run", time.Time{}))) || rec.Attempts != 7 {
		t.Fatalf("the fleet's numbers: %+v", rec)
	}
}
