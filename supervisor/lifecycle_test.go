package supervisor

import (
	"errors"
	"fmt"
	"os"
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
		{"ended while no agent ran, on-failure: a failure, restarted", runEnd{Unknown: true, Started: now.Add(-time.Second)}, onFailure, 0,
			decision{Verdict: verdictRestart, Delay: 10 * time.Second, Reason: "CrashLoopBackOff", Failures: 1, Failed: true}},
		{"ended while no agent ran, always: a failure, restarted", runEnd{Unknown: true, Started: now.Add(-time.Second)}, always, 0,
			decision{Verdict: verdictRestart, Delay: 100 * time.Millisecond, Reason: "CrashLoopBackOff", Failures: 1, Failed: true}},
		{"ended while no agent ran, never: done, failed", runEnd{Unknown: true, Started: now.Add(-time.Second)}, never, 0,
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
		{"lease ended: at once, not failed, whatever the policy", killed(syscall.SIGTERM, stopLease), never, 3,
			decision{Verdict: verdictRestart, Failures: 3}},
		{"restarted by request: at once, not failed, whatever the policy", killed(syscall.SIGTERM, stopAsked), never, 2,
			decision{Verdict: verdictRestart, Failures: 2}},
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
		if got := decide(c.end, c.rule, c.failures, startLimit{}, now); got != c.want {
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

// The crash-loop brake, run by run with exact times: an instance under
// restart_delay = "0s" that exits at once restarts at once four times;
// the fifth end within 10s holds it back 1s, then 2s, 4s … up to
// max_restart_delay, until a run stays up for 10s.
func TestCrashLoopBrake(t *testing.T) {
	zeroBrake := restartRule{Policy: units.RestartAlways, Max: 5 * time.Minute, Burst: 5, Interval: 10 * time.Second}
	ms := time.Millisecond
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	type step struct {
		end    time.Duration // when the run ends, after t0
		ranFor time.Duration
		delay  time.Duration
		limit  startLimit
	}
	b := func(n int, since time.Duration, ended int) startLimit {
		return startLimit{Since: at(since), Ended: ended, Braked: n}
	}
	cases := []struct {
		name  string
		rule  restartRule
		steps []step
	}{
		{"restart_delay 0s, exiting at once", zeroBrake, []step{
			{0, 0, 0, b(0, 0, 1)},
			{1 * ms, 0, 0, b(0, 0, 2)},
			{2 * ms, 0, 0, b(0, 0, 3)},
			{3 * ms, 0, 0, b(0, 0, 4)},
			{4 * ms, 0, time.Second, b(1, 0, 5)},
			{1004 * ms, 0, 2 * time.Second, b(2, 0, 5)},
			{3004 * ms, 0, 4 * time.Second, b(3, 0, 5)},
			// The window is over, but waiting does not release the brake.
			{7004 * ms, 0, 8 * time.Second, b(4, 0, 5)},
			{15004 * ms, 0, 16 * time.Second, b(5, 0, 5)},
			{31004 * ms, 0, 32 * time.Second, b(6, 0, 5)},
			{63004 * ms, 0, 64 * time.Second, b(7, 0, 5)},
			{127004 * ms, 0, 128 * time.Second, b(8, 0, 5)},
			{255004 * ms, 0, 256 * time.Second, b(9, 0, 5)},
			{511004 * ms, 0, 5 * time.Minute, b(10, 0, 5)},
			{811004 * ms, 0, 5 * time.Minute, b(11, 0, 5)},
			// A run of 10s lets go: at once again, a new window.
			{1121004 * ms, 10 * time.Second, 0, b(0, 1121004*ms, 1)},
			{1121005 * ms, 0, 0, b(0, 1121004*ms, 2)},
		}},
		{"a run a little shorter than the interval does not let go", zeroBrake, []step{
			{0, 0, 0, b(0, 0, 1)}, {0, 0, 0, b(0, 0, 2)}, {0, 0, 0, b(0, 0, 3)}, {0, 0, 0, b(0, 0, 4)},
			{0, 0, time.Second, b(1, 0, 5)},
			{10*time.Second + ms, 10*time.Second - ms, 2 * time.Second, b(2, 0, 5)},
		}},
		{"an end every 3s never fills a window of 10s", zeroBrake, []step{
			{0, 0, 0, b(0, 0, 1)},
			{3 * time.Second, 3 * time.Second, 0, b(0, 0, 2)},
			{6 * time.Second, 3 * time.Second, 0, b(0, 0, 3)},
			{9 * time.Second, 3 * time.Second, 0, b(0, 0, 4)},
			{12 * time.Second, 3 * time.Second, 0, b(0, 12*time.Second, 1)},
			{15 * time.Second, 3 * time.Second, 0, b(0, 12*time.Second, 2)},
		}},
		{"the fifth end at the window's last instant brakes, one later does not", zeroBrake, []step{
			{0, 0, 0, b(0, 0, 1)}, {0, 0, 0, b(0, 0, 2)}, {0, 0, 0, b(0, 0, 3)}, {0, 0, 0, b(0, 0, 4)},
			{10*time.Second - 1, 0, time.Second, b(1, 0, 5)},
		}},
		{"the fifth end when the window is over begins a new one", zeroBrake, []step{
			{0, 0, 0, b(0, 0, 1)}, {0, 0, 0, b(0, 0, 2)}, {0, 0, 0, b(0, 0, 3)}, {0, 0, 0, b(0, 0, 4)},
			{10 * time.Second, 0, 0, b(0, 10*time.Second, 1)},
		}},
		{"start_limit_interval 0s: no brake", restartRule{Policy: units.RestartAlways, Max: 5 * time.Minute, Burst: 5}, []step{
			{0, 0, 0, startLimit{}}, {0, 0, 0, startLimit{}}, {0, 0, 0, startLimit{}},
			{0, 0, 0, startLimit{}}, {0, 0, 0, startLimit{}}, {0, 0, 0, startLimit{}},
		}},
		{"start_limit_burst 1: held back from the first end on", restartRule{Policy: units.RestartAlways, Max: 5 * time.Minute, Burst: 1, Interval: 10 * time.Second}, []step{
			{0, 0, time.Second, b(1, 0, 1)},
			{time.Second, 0, 2 * time.Second, b(2, 0, 1)},
		}},
		{"max_restart_delay 0s: the brake still waits a second", restartRule{Policy: units.RestartAlways, Burst: 2, Interval: 10 * time.Second}, []step{
			{0, 0, 0, b(0, 0, 1)},
			{0, 0, time.Second, b(1, 0, 2)},
			{time.Second, 0, time.Second, b(2, 0, 2)},
		}},
		{"max_restart_delay under a second: the brake still waits a second", restartRule{Policy: units.RestartAlways, Max: 10 * ms, Burst: 1, Interval: 10 * time.Second}, []step{
			{0, 0, time.Second, b(1, 0, 1)},
		}},
		{"the default restart_delay of 100ms: its own back-off is longer", restartRule{Policy: units.RestartAlways, Base: 100 * ms, Max: 5 * time.Minute, Burst: 5, Interval: 10 * time.Second}, []step{
			{0, 0, 100 * ms, b(0, 0, 1)},
			{100 * ms, 0, 200 * ms, b(0, 0, 2)},
			{300 * ms, 0, 400 * ms, b(0, 0, 3)},
			{700 * ms, 0, 800 * ms, b(0, 0, 4)},
			{1500 * ms, 0, 1600 * ms, b(1, 0, 5)},
			{3100 * ms, 0, 3200 * ms, b(2, 0, 5)},
		}},
	}
	for _, c := range cases {
		failures, lim := 0, startLimit{}
		for k, s := range c.steps {
			end := runEnd{Exit: ExitStatus{Code: 1, Time: at(s.end)}, Started: at(s.end - s.ranFor)}
			d := decide(end, c.rule, failures, lim, at(s.end))
			reason := ""
			if s.delay > 0 {
				reason = "CrashLoopBackOff"
			}
			if d.Verdict != verdictRestart || d.Delay != s.delay || d.Reason != reason || d.Limit != s.limit {
				t.Fatalf("%s, end %d at %v:\n got %v %v %q %+v\nwant restart %v %q %+v", c.name, k+1, s.end,
					d.Verdict, d.Delay, d.Reason, d.Limit, s.delay, reason, s.limit)
			}
			failures, lim = d.Failures, d.Limit
		}
	}
}

// What is not a run that ended on its own leaves the brake as it was.
func TestCrashLoopBrakeKept(t *testing.T) {
	rule := restartRule{Policy: units.RestartAlways, Max: 5 * time.Minute, Burst: 5, Interval: 10 * time.Second}
	lim := startLimit{Since: t0, Ended: 5, Braked: 3}
	for _, end := range []runEnd{
		{StartErr: errors.New("exec: no such file")},
		{Exit: ExitStatus{Signal: syscall.SIGTERM, Time: t0}, Started: t0, Intent: stopShutdown},
		{Exit: ExitStatus{Signal: syscall.SIGTERM, Time: t0}, Started: t0, Intent: stopDelete},
	} {
		if d := decide(end, rule, 7, lim, t0); d.Limit != lim {
			t.Errorf("%+v: brake %+v, want %+v", end, d.Limit, lim)
		}
	}
	// A start error waits its own second, not the brake's.
	if d := decide(runEnd{StartErr: errors.New("x")}, rule, 7, lim, t0); d.Delay != time.Second {
		t.Errorf("start error while braked: delay %v, want 1s", d.Delay)
	}
	// A liveness kill is a run that ended: counted.
	killed := runEnd{Exit: ExitStatus{Signal: syscall.SIGKILL, Time: t0}, Started: t0, Intent: stopRestart}
	if d := decide(killed, rule, 7, lim, t0); d.Limit.Braked != 4 || d.Delay != 8*time.Second {
		t.Errorf("liveness kill while braked: %+v, delay %v; want braked 4, 8s", d.Limit, d.Delay)
	}
}

// TestAgentShutdownIsNotARestart: the instances that an agent stops on
// its way out (SIGTERM of the agent) are started again by the next agent
// as the same run continued: their restart count stays, and their Last
// State says the agent stopped them (AgentShutdown, with the raw exit
// facts), not Error 143. A later exit of their own counts again.
func TestAgentShutdownIsNotARestart(t *testing.T) {
	dir := t.TempDir()
	exe, _ := os.Executable()
	helpersUsed.Store("sleep", true)
	text := fmt.Sprintf("kind = \"replicated\"\nreplicas = 1\n[template]\nlabels = { app = \"x\" }\ncommand = [%q]\nenv = { %s = \"sleep\" }\nrestart_delay = \"0s\"\nstop_timeout = \"1s\"\n", exe, helperEnv)
	a := startTestAgent(t, dir, newFakeClock())
	if _, err := a.sup.ApplyUnit("web.toml", []byte(text)); err != nil {
		t.Fatal(err)
	}
	a.waitUnit("web", "running", func(u Unit) bool { return u.Running == 1 })
	a.stop()

	b := startTestAgent(t, dir, newFakeClock())
	b.waitUnit("web", "running again", func(u Unit) bool { return u.Running == 1 })
	list := b.ownedBy("web")
	if len(list) != 1 {
		t.Fatalf("instances: %+v", list)
	}
	in := list[0]
	last := in.LastState
	if in.RestartCount != 0 || last.Phase != PhaseTerminated || last.Reason != "AgentShutdown" ||
		last.ExitCode != 143 || last.Signal != "SIGTERM" || last.Message == "" {
		t.Fatalf("after an agent shutdown: restarts %d, last state %+v; want 0 and Terminated, AgentShutdown, 143, SIGTERM", in.RestartCount, last)
	}

	if err := syscall.Kill(in.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	b.waitFor("a restart after its own exit", func() bool {
		in, err := b.sup.Instance(in.Name)
		return err == nil && in.RestartCount == 1 && in.LastState.Reason == "Error" && in.PID != 0
	})
}
