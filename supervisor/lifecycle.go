package supervisor

import (
	"fmt"
	"time"

	"github.com/tendhq/tend/units"
)

// The life of an instance. The loop goroutine owns every instance and is
// the only one that moves it between these states; the reaper, the timers
// and the probes only post messages to it.
//
//	        create, or found by a restarted agent
//	              │
//	              ▼
//	┌────────► Pending ─────start────► Running ◄──────────────┐
//	│             │                     │   │                 │
//	│  start      │                exit │   │ stop (delete,   │
//	│  failed     │                     │   │ scale down,     │
//	│             ▼                     │   ▼ liveness, agent │
//	│          decide ◄─────────────────┴─ Stopping shutdown) │
//	│     ┌─────┬─┴──────┬───────┐        stop_signal, then   │
//	│     │     │        │       │        SIGKILL at the stop │
//	│     │     │        │       │        timer               │
//	│  park  restart  finish  remove                          │
//	│  (agent later    │       │                              │
//	│  stops)   │      ▼       ▼                              │
//	└─────┘     │   Exited   gone                             │
//	restart now │   (final: Completed or Error)               │
//	goes to     ▼                                             │
//	Pending  BackOff ──restart timer──────────start───────────┘
//
// decide is the one place that chooses what follows a run's end: it is a
// pure function of the exit facts, the restart policy and the count of
// consecutive failures (see decide). Whether an instance should exist at
// all is the planners' business, never the lifecycle's.
//
// Each run has a generation; an exit, a probe report or a timer carries
// the generation of the run it belongs to and is ignored when that run is
// over. A running instance has at most one stop timer (Stopping) and an
// idle one at most one restart timer (BackOff); they are separate fields,
// so stopping never cancels a restart or the other way round.
type Life uint8

// The states. The zero value is invalid, so a record that lost its state
// is noticed.
const (
	LifePending  Life = iota + 1 // no process; started by the next pass
	LifeRunning                  // its process runs
	LifeStopping                 // stop_signal sent; SIGKILL when the stop timer fires
	LifeBackOff                  // no process; the restart timer starts it again
	LifeExited                   // ended for good, as the restart policy said; final
)

var lifeNames = [...]string{
	LifePending:  "pending",
	LifeRunning:  "running",
	LifeStopping: "stopping",
	LifeBackOff:  "back-off",
	LifeExited:   "exited",
}

func (s Life) String() string {
	if int(s) < len(lifeNames) && lifeNames[s] != "" {
		return lifeNames[s]
	}
	return fmt.Sprintf("Life(%d)", int(s))
}

// MarshalText implements encoding.TextMarshaler, for the store.
func (s Life) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Life) UnmarshalText(b []byte) error {
	for v, name := range lifeNames {
		if name != "" && name == string(b) {
			*s = Life(v)
			return nil
		}
	}
	return fmt.Errorf("%q is not an instance state", b)
}

// hasProcess reports whether an instance in state s has a live process.
func (s Life) hasProcess() bool { return s == LifeRunning || s == LifeStopping }

// stopIntent says why the agent is stopping an instance's process; it
// decides what follows the exit.
type stopIntent uint8

const (
	stopNone     stopIntent = iota // not stopping: the process ended on its own
	stopRestart                    // a failed liveness or startup probe: run it again
	stopDelete                     // the instance is deleted: remove it
	stopShutdown                   // the agent stops: the next agent starts it again
)

func (s stopIntent) String() string {
	switch s {
	case stopNone:
		return "none"
	case stopRestart:
		return "restart"
	case stopDelete:
		return "delete"
	case stopShutdown:
		return "shutdown"
	}
	return fmt.Sprintf("stopIntent(%d)", int(s))
}

// verdict is what follows the end of a run.
type verdict uint8

const (
	verdictRestart verdict = iota + 1 // run again after Delay (0: at once)
	verdictFinish                     // ended for good: Exited
	verdictRemove                     // the instance was being deleted: it goes
	verdictPark                       // the agent stops: Pending, for the next agent
)

func (v verdict) String() string {
	switch v {
	case verdictRestart:
		return "restart"
	case verdictFinish:
		return "finish"
	case verdictRemove:
		return "remove"
	case verdictPark:
		return "park"
	}
	return fmt.Sprintf("verdict(%d)", int(v))
}

// runEnd is the facts of how a run ended, as decide takes them.
type runEnd struct {
	Exit     ExitStatus // how the process ended; zero when StartErr is set
	StartErr error      // the process could not be started
	Started  time.Time  // when the process started; zero when it did not
	Intent   stopIntent // why the agent was stopping it
}

// restartRule is the part of a unit that decides restarts.
type restartRule struct {
	Policy units.RestartPolicy
	// Base and Max bound the back-off: Base × 2^(failures−1), at most Max.
	Base, Max time.Duration
	// ToCompletion: the instance is a job's attempt, which counts an exit
	// 0 during an agent shutdown as done.
	ToCompletion bool
}

// ruleOf is the restart rule of instances made from u: a job's attempt
// restarted in place backs off as the job does.
func ruleOf(u *units.Unit) restartRule {
	t := &u.Template
	r := restartRule{Policy: t.Restart, Base: t.RestartDelay.D(), Max: t.MaxRestartDelay.D()}
	if u.Kind.RunsToCompletion() {
		r.Base, r.Max, r.ToCompletion = u.BackoffDelay.D(), u.MaxBackoffDelay.D(), true
	}
	return r
}

// minStartRetry is the shortest wait before another try at a start that
// failed: a missing program or directory does not appear within
// milliseconds, and a zero restart_delay must not spin the loop on it.
const minStartRetry = time.Second

// decision is decide's answer.
type decision struct {
	Verdict verdict
	Delay   time.Duration // verdictRestart: wait this long first
	// Reason is the Waiting reason while the restart waits
	// (CrashLoopBackOff, StartError), "" when it does not wait.
	Reason string
	// Failures is the count of consecutive failed runs to keep.
	Failures int
	// Failed: the run counts as a failed run (jobs count them).
	Failed bool
}

// decide chooses what follows the end of a run: a pure function of how it
// ended (end), the restart rule, the consecutive failures before it and
// now (the time of a failed start, which has no exit time). Exact
// durations are table-tested.
//
//   - A deleted instance is removed, however it ended.
//   - An agent shutdown parks it for the next agent, except a job attempt
//     that exited 0, which is done.
//   - A failed start counts as a failure: it is final under restart =
//     never, else retried after the back-off, but never sooner than
//     minStartRetry.
//   - A process that ended on its own is restarted as the policy says
//     (always; on-failure unless it exited 0; never); one killed for a
//     failed probe is restarted unless the policy is never.
//   - A restart waits RestartDelay(Base, Max, failures) after the run's
//     failure count is carried on by NextFailures: a run that stayed up for
//     ResetAfter starts the count afresh.
func decide(end runEnd, r restartRule, failures int, now time.Time) decision {
	switch end.Intent {
	case stopDelete:
		return decision{Verdict: verdictRemove, Failures: failures}
	case stopShutdown:
		if r.ToCompletion && end.StartErr == nil && end.Exit.Success() {
			return decision{Verdict: verdictFinish, Failures: failures}
		}
		return decision{Verdict: verdictPark, Failures: failures}
	}
	if end.StartErr != nil {
		d := decision{Failed: true, Failures: failures + 1}
		if r.Policy == units.RestartNever {
			d.Verdict = verdictFinish
			return d
		}
		d.Verdict, d.Reason = verdictRestart, "StartError"
		d.Delay = max(RestartDelay(r.Base, r.Max, d.Failures), minStartRetry)
		return d
	}
	d := decision{Failed: end.Intent == stopNone && !end.Exit.Success(), Failures: failures}
	again := ShouldRestart(r.Policy, end.Exit)
	if end.Intent == stopRestart {
		again = r.Policy != units.RestartNever
	}
	if !again {
		d.Verdict = verdictFinish
		return d
	}
	ranFor := time.Duration(0)
	if !end.Started.IsZero() {
		t := end.Exit.Time
		if t.IsZero() {
			t = now
		}
		ranFor = t.Sub(end.Started)
	}
	d.Verdict = verdictRestart
	d.Failures = NextFailures(failures, ranFor)
	d.Delay = RestartDelay(r.Base, r.Max, d.Failures)
	if d.Delay > 0 {
		d.Reason = "CrashLoopBackOff"
	}
	return d
}
