package probes

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// step is one scripted probe: its answer, and how long it takes to give
// it (it gives up with Failure "timeout" when its context ends first).
type step struct {
	res  Result
	msg  string
	took time.Duration
}

var (
	ok   = step{res: Success}
	fail = step{res: Failure, msg: "HTTP probe failed with statuscode: 500"}
	oops = step{res: Unknown, msg: "no runner"}
)

func slow(d time.Duration, s step) step { s.took = d; return s }

// scripted is a test double for a Prober: it answers from its script (the
// last step again once the script is used up) and records the fake time
// of each call since t0 and the timeout it was given.
type scripted struct {
	t0     time.Time
	script []step

	mu       sync.Mutex
	calls    []time.Duration
	timeouts []time.Duration
}

func script(steps ...step) *scripted { return &scripted{t0: time.Now(), script: steps} }

func (s *scripted) Probe(ctx context.Context) (Result, string) {
	now := time.Now()
	s.mu.Lock()
	i := len(s.calls)
	s.calls = append(s.calls, now.Sub(s.t0))
	if d, ok := ctx.Deadline(); ok {
		s.timeouts = append(s.timeouts, d.Sub(now))
	}
	st := s.script[min(i, len(s.script)-1)]
	s.mu.Unlock()
	if st.took > 0 {
		t := time.NewTimer(st.took)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return Failure, "timeout"
		}
	}
	return st.res, st.msg
}

func (s *scripted) Calls() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.calls...)
}

// reports collects Reports with the fake time they came at.
type reports struct {
	t0   time.Time
	mu   sync.Mutex
	got  []string
	msgs []string
	at   []time.Duration
}

func newReports() *reports { return &reports{t0: time.Now()} }

func (r *reports) Report(rep Report) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := fmt.Sprintf("%v %v %v", time.Since(r.t0), rep.Kind, rep.Result)
	if rep.Healthy {
		s += " healthy"
	}
	if rep.Changed {
		s += " changed"
	}
	if rep.Kill() {
		s += " KILL"
	}
	r.got = append(r.got, s)
	r.msgs = append(r.msgs, rep.Message)
	r.at = append(r.at, time.Since(r.t0))
}

func (r *reports) Messages() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.msgs...)
}

func (r *reports) At() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Duration(nil), r.at...)
}

func (r *reports) Got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}

func secs(ds ...float64) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = time.Duration(d * float64(time.Second))
	}
	return out
}

func check[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\ngot  %v\nwant %v", what, got, want)
	}
}

// run starts a Set, lets fake time pass for d, stops the Set and returns
// the reports.
func run(t *testing.T, cfg SetConfig, d time.Duration) []string {
	t.Helper()
	rep := newReports()
	cfg.Report = rep.Report
	s := NewSet(cfg)
	s.Start()
	time.Sleep(d)
	synctest.Wait()
	s.Stop()
	return rep.Got()
}

func TestSetTiming(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := script(ok)
		run(t, SetConfig{Liveness: &Probe{Spec{InitialDelay: 5 * time.Second, Period: 10 * time.Second, Timeout: 2 * time.Second}, p}}, 36*time.Second)
		check(t, "probe times", p.Calls(), secs(5, 15, 25, 35))
		check(t, "timeouts", p.timeouts, secs(2, 2, 2, 2))
	})
}

func TestSetDefaults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := script(fail)
		got := run(t, SetConfig{Liveness: &Probe{Prober: p}}, time.Minute)
		check(t, "probe times", p.Calls(), secs(0, 10, 20))
		check(t, "timeouts", p.timeouts, secs(1, 1, 1))
		check(t, "reports", got, []string{
			"0s Liveness Failure healthy",
			"10s Liveness Failure healthy",
			"20s Liveness Failure changed KILL",
		})
	})
}

func TestSetLivenessThreshold(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Two failures, a success resets the count, an errored probe is
		// not counted, three failures in a row kill, and then liveness
		// stops probing.
		p := script(fail, fail, ok, fail, oops, fail, fail, ok)
		got := run(t, SetConfig{Liveness: &Probe{Spec{Period: time.Second, FailureThreshold: 3}, p}}, time.Minute)
		check(t, "probe times", p.Calls(), secs(0, 1, 2, 3, 4, 5, 6))
		check(t, "reports", got, []string{
			"0s Liveness Failure healthy",
			"1s Liveness Failure healthy",
			"3s Liveness Failure healthy",
			"4s Liveness Unknown healthy",
			"5s Liveness Failure healthy",
			"6s Liveness Failure changed KILL",
		})
	})
}

func TestSetReadinessToggles(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := script(ok, ok, fail, ok, fail, fail, ok, ok, ok)
		got := run(t, SetConfig{Readiness: &Probe{Spec{Period: time.Second, SuccessThreshold: 2, FailureThreshold: 2}, p}}, 8500*time.Millisecond)
		check(t, "probe times", p.Calls(), secs(0, 1, 2, 3, 4, 5, 6, 7, 8))
		check(t, "reports", got, []string{
			"1s Readiness Success healthy changed",
			"2s Readiness Failure healthy",
			"4s Readiness Failure healthy",
			"5s Readiness Failure changed",
			"7s Readiness Success healthy changed",
		})
	})
}

func TestSetSlowProbesDoNotStack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Each probe takes 3s with a 1s period: the next starts when the
		// previous returned.
		p := script(slow(3*time.Second, ok))
		run(t, SetConfig{Readiness: &Probe{Spec{Period: time.Second, Timeout: 5 * time.Second}, p}}, 10*time.Second)
		check(t, "probe times", p.Calls(), secs(0, 3, 6, 9))
	})
}

func TestSetTimeoutEndsProbe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// A probe that would take an hour is cut at its 2s timeout; the
		// period still counts from its start.
		p := script(slow(time.Hour, ok))
		got := run(t, SetConfig{Liveness: &Probe{Spec{Period: 10 * time.Second, Timeout: 2 * time.Second, FailureThreshold: 2}, p}}, time.Minute)
		check(t, "probe times", p.Calls(), secs(0, 10))
		check(t, "reports", got, []string{
			"2s Liveness Failure healthy",
			"12s Liveness Failure changed KILL",
		})
	})
}

func TestSetStartupGates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		startup := script(fail, fail, ok)
		live := script(ok)
		ready := script(ok)
		lateLive := script(ok)
		got := run(t, SetConfig{
			Startup:   &Probe{Spec{Period: 2 * time.Second, FailureThreshold: 5}, startup},
			Liveness:  &Probe{Spec{Period: 10 * time.Second}, live},
			Readiness: &Probe{Spec{Period: 5 * time.Second}, ready},
		}, 20*time.Second)
		check(t, "startup", startup.Calls(), secs(0, 2, 4))
		check(t, "liveness", live.Calls(), secs(4, 14))
		check(t, "readiness", ready.Calls(), secs(4, 9, 14, 19))
		check(t, "reports", got, []string{
			"0s Startup Failure",
			"2s Startup Failure",
			"4s Startup Success healthy changed",
			"4s Readiness Success healthy changed",
		})

		// An initial delay longer than start-up still counts from Start.
		got = run(t, SetConfig{
			Startup:  &Probe{Spec{Period: 2 * time.Second}, script(ok)},
			Liveness: &Probe{Spec{InitialDelay: 15 * time.Second, Period: 10 * time.Second}, lateLive},
		}, 30*time.Second)
		check(t, "liveness with a delay", lateLive.Calls(), secs(15+20, 25+20))
		check(t, "reports", got, []string{"0s Startup Success healthy changed"})
	})
}

func TestSetStartupBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		startup := script(fail)
		live := script(ok)
		ready := script(ok)
		got := run(t, SetConfig{
			Startup:   &Probe{Spec{Period: 5 * time.Second, FailureThreshold: 3}, startup},
			Liveness:  &Probe{Spec{}, live},
			Readiness: &Probe{Spec{}, ready},
		}, time.Minute)
		check(t, "startup", startup.Calls(), secs(0, 5, 10))
		check(t, "liveness", live.Calls(), []time.Duration(nil))
		check(t, "readiness", ready.Calls(), []time.Duration(nil))
		check(t, "reports", got, []string{
			"0s Startup Failure",
			"5s Startup Failure",
			"10s Startup Failure changed KILL",
		})
	})
}

func TestSetStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Stop during a probe: it is cancelled, its result is not
		// reported, and every goroutine has ended when Stop returns
		// (synctest.Test fails on goroutines left in the bubble).
		p := script(slow(time.Hour, fail))
		rep := newReports()
		s := NewSet(SetConfig{Liveness: &Probe{Spec{Timeout: 2 * time.Hour}, p}, Readiness: &Probe{Spec{InitialDelay: time.Hour}, script(ok)}, Report: rep.Report})
		s.Start()
		s.Start()
		time.Sleep(time.Minute)
		s.Stop()
		s.Stop()
		time.Sleep(time.Hour)
		check(t, "probe times", p.Calls(), secs(0))
		check(t, "reports", rep.Got(), []string(nil))

		// Stop before Start: nothing ever runs.
		q := script(ok)
		s = NewSet(SetConfig{Liveness: &Probe{Spec{}, q}, Report: rep.Report})
		s.Stop()
		s.Start()
		time.Sleep(time.Minute)
		check(t, "probe times", q.Calls(), []time.Duration(nil))
	})
}

func TestSetReportsOneAtATime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		inReport, overlaps := 0, 0
		report := func(Report) {
			mu.Lock()
			inReport++
			if inReport > 1 {
				overlaps++
			}
			mu.Unlock()
			time.Sleep(time.Millisecond) // a report that takes a while
			mu.Lock()
			inReport--
			mu.Unlock()
		}
		s := NewSet(SetConfig{
			Liveness:  &Probe{Spec{Period: time.Second, FailureThreshold: 100}, script(fail)},
			Readiness: &Probe{Spec{Period: time.Second}, script(fail)},
			Report:    report,
		})
		s.Start()
		time.Sleep(10 * time.Second)
		s.Stop()
		if overlaps > 0 {
			t.Errorf("%d overlapping Report calls", overlaps)
		}
	})
}

func TestSetPanickingProber(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var msgs []string
		s := NewSet(SetConfig{
			Liveness: &Probe{Spec{}, proberFunc(func(context.Context) (Result, string) { panic("boom") })},
			Report:   func(r Report) { msgs = append(msgs, r.Result.String()+": "+r.Message) },
		})
		s.Start()
		time.Sleep(time.Second)
		s.Stop()
		check(t, "reports", msgs, []string{"Unknown: probe panicked: boom"})
	})
}

type proberFunc func(context.Context) (Result, string)

func (f proberFunc) Probe(ctx context.Context) (Result, string) { return f(ctx) }

func TestNewSetMisuse(t *testing.T) {
	for name, cfg := range map[string]SetConfig{
		"nil Report": {},
		"nil Prober": {Readiness: &Probe{}, Report: func(Report) {}},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if v := recover(); v == nil || !strings.HasPrefix(fmt.Sprint(v), "probes: NewSet: ") {
					t.Errorf("panic %v", v)
				}
			}()
			NewSet(cfg)
		})
	}
}

func TestSpecDefaults(t *testing.T) {
	check(t, "liveness", Spec{SuccessThreshold: 4, Period: -1}.withDefaults(Liveness),
		Spec{Timeout: time.Second, Period: 10 * time.Second, SuccessThreshold: 1, FailureThreshold: 3})
	check(t, "readiness", Spec{InitialDelay: -time.Second, SuccessThreshold: 4, FailureThreshold: 1, Timeout: time.Minute}.withDefaults(Readiness),
		Spec{Timeout: time.Minute, Period: 10 * time.Second, SuccessThreshold: 4, FailureThreshold: 1})
}

func TestReportEvent(t *testing.T) {
	for _, tc := range []struct {
		r           Report
		reason, msg string
		kill        bool
	}{
		{Report{Kind: Liveness, Result: Failure, Message: "HTTP probe failed with statuscode: 500", Healthy: true},
			"Unhealthy", "Liveness probe failed: HTTP probe failed with statuscode: 500", false},
		{Report{Kind: Liveness, Result: Failure, Message: "x", Changed: true}, "Unhealthy", "Liveness probe failed: x", true},
		{Report{Kind: Startup, Result: Failure, Message: "x", Changed: true}, "Unhealthy", "Startup probe failed: x", true},
		{Report{Kind: Readiness, Result: Failure, Message: "x", Changed: true}, "Unhealthy", "Readiness probe failed: x", false},
		{Report{Kind: Readiness, Result: Unknown, Message: "no runner"}, "Unhealthy", "Readiness probe errored: no runner", false},
		{Report{Kind: Readiness, Result: Success, Message: "Probe terminated redirects, Response body: "},
			"ProbeWarning", "Readiness probe warning: Probe terminated redirects, Response body: ", false},
		{Report{Kind: Startup, Result: Success, Healthy: true, Changed: true}, "", "", false},
	} {
		reason, msg := tc.r.Event()
		if reason != tc.reason || msg != tc.msg || tc.r.Kill() != tc.kill {
			t.Errorf("%+v: got %q %q kill=%v", tc.r, reason, msg, tc.r.Kill())
		}
	}
	check(t, "kinds", []string{Liveness.String(), Readiness.String(), Startup.String(), Kind(0).String()},
		[]string{"Liveness", "Readiness", "Startup", "Kind(0)"})
	check(t, "results", []string{Success.String(), Failure.String(), Unknown.String()},
		[]string{"Success", "Failure", "Unknown"})
}

func ms(ds ...int) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = time.Duration(d) * time.Millisecond
	}
	return out
}

func TestSetAccuracy(t *testing.T) {
	// A bubble's clock starts at midnight, a whole multiple of any
	// Accuracy here since the Unix epoch, so the instants the probes
	// start at are whole multiples of Accuracy since t0 too.
	const acc = 10 * time.Millisecond
	t.Run("rounds up to the next multiple", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := script(ok)
			time.Sleep(3 * time.Millisecond) // Start off the grid
			run(t, SetConfig{Accuracy: acc, Liveness: &Probe{Spec{InitialDelay: 1234 * time.Millisecond, Period: time.Second}, p}}, 4*time.Second)
			check(t, "probe times", p.Calls(), ms(1240, 2240, 3240))
		})
	})
	t.Run("on the grid is on time", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := script(ok)
			run(t, SetConfig{Accuracy: acc, Liveness: &Probe{Spec{Period: time.Second, Timeout: 2 * time.Second}, p}}, 3500*time.Millisecond)
			check(t, "probe times", p.Calls(), secs(0, 1, 2, 3))
			check(t, "timeouts", p.timeouts, secs(2, 2, 2, 2))
		})
	})
	t.Run("neighbours share an instant", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			// Sets started 1ms apart, as a fleet's instances start, probe
			// together; without Accuracy each keeps its own instant.
			var coalesced, exact []*scripted
			var sets []*Set
			for k := range 4 {
				c, e := script(ok), script(ok)
				coalesced, exact = append(coalesced, c), append(exact, e)
				sets = append(sets,
					NewSet(SetConfig{Accuracy: acc, Liveness: &Probe{Spec{InitialDelay: time.Duration(k+1) * time.Millisecond, Period: time.Second}, c}, Report: func(Report) {}}),
					NewSet(SetConfig{Liveness: &Probe{Spec{InitialDelay: time.Duration(k+1) * time.Millisecond, Period: time.Second}, e}, Report: func(Report) {}}))
			}
			for _, s := range sets {
				s.Start()
			}
			time.Sleep(2500 * time.Millisecond)
			for _, s := range sets {
				s.Stop()
			}
			for k := range 4 {
				check(t, fmt.Sprintf("set %d with Accuracy", k), coalesced[k].Calls(), ms(10, 1010, 2010))
				check(t, fmt.Sprintf("set %d exact", k), exact[k].Calls(), ms(k+1, 1000+k+1, 2000+k+1))
			}
		})
	})
	t.Run("a slow probe", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			// A probe that takes 25ms leaves the next where it was; one
			// that takes longer than Period has the next start at the
			// first multiple after it returned.
			p := script(slow(25*time.Millisecond, ok), ok, slow(1003*time.Millisecond, ok), ok)
			run(t, SetConfig{Accuracy: acc, Liveness: &Probe{Spec{Period: time.Second, Timeout: 5 * time.Second}, p}}, 5*time.Second)
			check(t, "probe times", p.Calls(), ms(0, 1000, 2000, 3010, 4010))
		})
	})
	t.Run("an Accuracy that does not divide Period", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := script(ok)
			run(t, SetConfig{Accuracy: 300 * time.Millisecond, Readiness: &Probe{Spec{Period: time.Second}, p}}, 4*time.Second)
			check(t, "probe times", p.Calls(), ms(0, 1200, 2400, 3600))
		})
	})
	t.Run("startup gate", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			// Startup succeeds 7ms into its first probe: liveness and
			// readiness start at the next multiple, not at once.
			startup := script(slow(7*time.Millisecond, ok))
			live, ready := script(ok), script(ok)
			run(t, SetConfig{
				Accuracy:  acc,
				Startup:   &Probe{Spec{Period: time.Second}, startup},
				Liveness:  &Probe{Spec{Period: time.Second}, live},
				Readiness: &Probe{Spec{InitialDelay: 2 * time.Millisecond, Period: time.Second}, ready},
			}, 1500*time.Millisecond)
			check(t, "startup", startup.Calls(), ms(0))
			check(t, "liveness", live.Calls(), ms(10, 1010))
			check(t, "readiness", ready.Calls(), ms(10, 1010))
		})
	})
}

// TestSetAccuracyBounds checks, over many start offsets, initial delays,
// periods and probe durations, that every probe starts on a whole
// multiple of Accuracy, at or after it is due, less than Accuracy late,
// and never within Period of the one before.
func TestSetAccuracyBounds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const acc = 20 * time.Millisecond
		type probed struct {
			offset, delay, period, took time.Duration
			started                     time.Duration // since the script's t0
			p                           *scripted
		}
		var all []probed
		var sets []*Set
		for i := range 60 {
			pr := probed{
				offset: time.Duration(i*7%23) * time.Millisecond,
				delay:  time.Duration(i*131%997) * time.Millisecond,
				period: time.Second + time.Duration(i%3)*333*time.Millisecond,
				took:   time.Duration(i*17%40) * time.Millisecond,
			}
			if i%10 == 9 {
				pr.took = pr.period + 3*time.Millisecond // longer than its period
			}
			pr.p = script(slow(pr.took, ok))
			all = append(all, pr)
		}
		for i := range all {
			pr := &all[i]
			time.Sleep(pr.offset)
			pr.started = time.Since(pr.p.t0)
			s := NewSet(SetConfig{Accuracy: acc, Readiness: &Probe{Spec{InitialDelay: pr.delay, Period: pr.period, Timeout: 2 * pr.period}, pr.p}, Report: func(Report) {}})
			s.Start()
			sets = append(sets, s)
		}
		time.Sleep(10 * time.Second)
		for _, s := range sets {
			s.Stop()
		}
		for i, pr := range all {
			calls := pr.p.Calls()
			if len(calls) < 5 {
				t.Errorf("set %d: %d probes", i, len(calls))
			}
			due := pr.started + pr.delay
			for j, at := range calls {
				if at%acc != 0 || at < due || at >= due+acc {
					t.Errorf("set %d probe %d at %v, due at %v", i, j, at, due)
				}
				if j > 0 && at-calls[j-1] < pr.period {
					t.Errorf("set %d probe %d at %v, %v after the one before", i, j, at, at-calls[j-1])
				}
				due = at + max(pr.period, pr.took)
			}
		}
	})
}

func TestAlign(t *testing.T) {
	epoch := time.Unix(0, 0)
	for _, tc := range []struct {
		at, acc, want time.Duration
	}{
		{0, 10 * time.Millisecond, 0},
		{time.Nanosecond, 10 * time.Millisecond, 10 * time.Millisecond},
		{10 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond},
		{19999999, 10 * time.Millisecond, 20 * time.Millisecond},
		{-3 * time.Millisecond, 10 * time.Millisecond, 0},
		{-13 * time.Millisecond, 10 * time.Millisecond, -10 * time.Millisecond},
		{1234567, 0, 1234567},
		{1234567, -time.Second, 1234567},
	} {
		if got := align(epoch.Add(tc.at), tc.acc).Sub(epoch); got != tc.want {
			t.Errorf("align(%v, %v) = %v, want %v", tc.at, tc.acc, got, tc.want)
		}
	}
}

func TestNextDue(t *testing.T) {
	t0 := time.Unix(999_999, 900_000_000) // a whole multiple of 10ms and 300ms
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	const acc = 10 * time.Millisecond
	for _, tc := range []struct {
		name                     string
		due, began, ended        time.Duration
		period, accuracy, wantAt time.Duration
	}{
		{"exact", 0, 0, 5 * time.Millisecond, time.Second, 0, time.Second},
		{"exact, from the actual start", 0, 3 * time.Millisecond, 5 * time.Millisecond, time.Second, 0, 1003 * time.Millisecond},
		{"exact, a slow probe", 0, 0, 1500 * time.Millisecond, time.Second, 0, 1500 * time.Millisecond},
		{"on time", 0, 0, 5 * time.Millisecond, time.Second, acc, time.Second},
		// A timer that fires 50µs late does not stretch the period to
		// 1.01s.
		{"a timer a moment late", 0, 50 * time.Microsecond, 5 * time.Millisecond, time.Second, acc, time.Second},
		{"a timer late by almost Accuracy", 0, 9999 * time.Microsecond, 5 * time.Millisecond, time.Second, acc, time.Second},
		// A stall of Accuracy or more counts from the actual start, so
		// the next probe is never within Period of it less Accuracy.
		{"a stall", 0, 10 * time.Millisecond, 15 * time.Millisecond, time.Second, acc, 1010 * time.Millisecond},
		{"a long stall", 0, 3333 * time.Millisecond, 3334 * time.Millisecond, time.Second, acc, 4340 * time.Millisecond},
		{"a slow probe", 0, 0, 1003 * time.Millisecond, time.Second, acc, 1010 * time.Millisecond},
		{"an Accuracy that does not divide Period", 1200 * time.Millisecond, 1200 * time.Millisecond, 1201 * time.Millisecond, time.Second, 300 * time.Millisecond, 2400 * time.Millisecond},
	} {
		got := nextDue(at(tc.due), at(tc.began), at(tc.ended), tc.period, tc.accuracy)
		if want := at(tc.wantAt); !got.Equal(want) {
			t.Errorf("%s: %v, want %v", tc.name, got.Sub(t0), tc.wantAt)
		}
	}
}

// Stats counts each probe by result and duration, exactly: the fake
// clock makes the durations what the script says.
func TestSetStats(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := script(slow(30*time.Millisecond, ok), fail, slow(3*time.Second, ok), slow(20*time.Second, ok))
		rep := newReports()
		s := NewSet(SetConfig{Readiness: &Probe{Spec{Period: 30 * time.Second, Timeout: time.Minute}, p}, Report: rep.Report})
		s.Start()
		time.Sleep(115 * time.Second) // four probes, 30 s apart, the last (at 90 s) 20 s long
		synctest.Wait()
		st := s.Stats()
		s.Stop()
		if len(st) != 1 || st[0].Kind != Readiness {
			t.Fatalf("stats of kinds %+v", st)
		}
		check(t, "results (unknown, success, failure)", st[0].Results, [3]uint64{0, 3, 1})
		var want [12]uint64
		want[0]++  // fail: no time at all, within 5ms
		want[3]++  // 30ms: within 50ms
		want[9]++  // 3s: within 5s
		want[11]++ // 20s: over 10s
		check(t, "buckets", st[0].Buckets, want)
		check(t, "sum", st[0].Sum, 30*time.Millisecond+23*time.Second)
	})
}
