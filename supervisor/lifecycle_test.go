package supervisor

import (
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/tendhq/tend/units"
)

// decide with exact durations: every way a run can end, under every
// policy, with and without a back-off.
func TestDecide(t *testing.T) {
	now := t0
	exit := func(code int, ranFor time.Duration) runEnd {
		return runEnd{Exit: ExitStatus{Code: code, Time: now}, Started: now.Add(-ranFor)}
	}
	killed := func(sig syscall.Signal, intent stopIntent) runEnd {
		return runEnd{Exit: ExitStatus{Signal: sig, Time: now}, Started: now.Add(-time.Minute), Intent: intent}
	}
	startErr := runEnd{StartErr: errors.New("exec: no such file")}
	always := restartRule{Policy: units.RestartAlways, Base: 100 * time.Millisecond, Max: 5 * time.Minute}
	zero := restartRule{Policy: units.RestartAlways}
	onFailure := restartRule{Policy: units.RestartOnFailure, Base: 10 * time.Second, Max: 6 * time.Minute, ToCompletion: true}
	never := restartRule{Policy: units.RestartNever, Base: 10 * time.Second, Max: 6 * time.Minute, ToCompletion: true}
	cases := []struct {
		name     string
		end      runEnd
		rule     restartRule
		failures int
		want     decision
	}{
		{"always, first quick failure", exit(1, time.Second), always, 0,
			decision{Verdict: verdictRestart, Delay: 100 * time.Millisecond, Reason: "CrashLoopBackOff", Failures: 1, Failed: true}},
		{"always, fourth quick failure doubles three times", exit(1, time.Second), always, 3,
			decision{Verdict: verdictRestart, Delay: 800 * time.Millisecond, Reason: "CrashLoopBackOff", Failures: 4, Failed: true}},
		{"always, the back-off stops at its maximum", exit(1, time.Second), always, 30,
			decision{Verdict: verdictRestart, Delay: 5 * time.Minute, Reason: "CrashLoopBackOff", Failures: 31, Failed: true}},
		{"always, a run of ten minutes starts the count afresh", exit(1, ResetAfter), always, 7,
			decision{Verdict: verdictRestart, Delay: 100 * time.Millisecond, Reason: "CrashLoopBackOff", Failures: 1, Failed: true}},
		{"always, exit 0 restarts too, without counting as failed", exit(0, time.Second), always, 0,
			decision{Verdict: verdictRestart, Delay: 100 * time.Millisecond, Reason: "CrashLoopBackOff", Failures: 1}},
		{"restart_delay 0s: at once", exit(1, 0), zero, 5,
			decision{Verdict: verdictRestart, Failures: 6, Failed: true}},
		{"on-failure, exit 0: done", exit(0, time.Second), onFailure, 0,
			decision{Verdict: verdictFinish}},
		{"on-failure, exit 2: the job's back-off", exit(2, time.Second), onFailure, 1,
			decision{Verdict: verdictRestart, Delay: 20 * time.Second, Reason: "CrashLoopBackOff", Failures: 2, Failed: true}},
		{"never, exit 1: done, failed", exit(1, time.Second), never, 0,
			decision{Verdict: verdictFinish, Failed: true}},
		{"killed by a signal of its own: failed", killed(syscall.SIGSEGV, stopNone), always, 0,
			decision{Verdict: verdictRestart, Delay: 100 * time.Millisecond, Reason: "CrashLoopBackOff", Failures: 1, Failed: true}},
		{"killed for a failed liveness probe: restarted, not counted failed", killed(syscall.SIGKILL, stopRestart), always, 0,
			decision{Verdict: verdictRestart, Delay: 100 * time.Millisecond, Reason: "CrashLoopBackOff", Failures: 1}},
		{"killed for a failed liveness probe under never: done", killed(syscall.SIGKILL, stopRestart), never, 0,
			decision{Verdict: verdictFinish}},
		{"killed for a failed liveness probe under on-failure, though it exited 0", runEnd{Exit: ExitStatus{Time: now}, Started: now.Add(-time.Minute), Intent: stopRestart}, onFailure, 0,
			decision{Verdict: verdictRestart, Delay: 10 * time.Second, Reason: "CrashLoopBackOff", Failures: 1}},
		{"deleted: removed, whatever the policy", killed(syscall.SIGTERM, stopDelete), always, 4,
			decision{Verdict: verdictRemove, Failures: 4}},
		{"agent shutdown: parked", killed(syscall.SIGTERM, stopShutdown), always, 2,
			decision{Verdict: verdictPark, Failures: 2}},
		{"agent shutdown, a job attempt that exited 0: done", runEnd{Exit: ExitStatus{Time: now}, Intent: stopShutdown}, onFailure, 0,
			decision{Verdict: verdictFinish}},
		{"a start error is retried after a second at least", startErr, zero, 0,
			decision{Verdict: verdictRestart, Delay: time.Second, Reason: "StartError", Failures: 1, Failed: true}},
		{"a start error backs off as the rule says beyond a second", startErr, onFailure, 2,
			decision{Verdict: verdictRestart, Delay: 40 * time.Second, Reason: "StartError", Failures: 3, Failed: true}},
		{"a start error under never is final", startErr, never, 0,
			decision{Verdict: verdictFinish, Failures: 1, Failed: true}},
		{"a start error while deleting: removed", runEnd{StartErr: errors.New("x"), Intent: stopDelete}, always, 0,
			decision{Verdict: verdictRemove}},
	}
	for _, c := range cases {
		if got := decide(c.end, c.rule, c.failures, now); got != c.want {
			t.Errorf("%s:\n got %+v\nwant %+v", c.name, got, c.want)
		}
	}
}

func TestLifeText(t *testing.T) {
	for s := LifePending; s <= LifeExited; s++ {
		b, _ := s.MarshalText()
		var back Life
		if err := back.UnmarshalText(b); err != nil || back != s {
			t.Errorf("%v: round trip gave %v, %v", s, back, err)
		}
	}
	var l Life
	if err := l.UnmarshalText([]byte("dancing")); err == nil {
		t.Error("an unknown state was accepted")
	}
}

// Records written before Life existed say the same thing in other words.
func TestRecordUpgrade(t *testing.T) {
	cases := []struct {
		rec  instanceRecord
		want Life
	}{
		{instanceRecord{Done: true, State: State{Phase: PhaseTerminated}}, LifeExited},
		{instanceRecord{State: State{Phase: PhaseRunning}}, LifeRunning},
		{instanceRecord{State: State{Phase: PhaseWaiting, Reason: "CrashLoopBackOff"}}, LifePending},
		{instanceRecord{Life: LifeBackOff, Done: true}, LifeBackOff},
	}
	for _, c := range cases {
		c.rec.upgrade()
		if c.rec.Life != c.want {
			t.Errorf("%+v: upgraded to %v, want %v", c.rec, c.rec.Life, c.want)
		}
	}
}
