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
// pure function of the exit facts, the restart policy, the count of
// consecutive failures and the crash-loop brake (see decide and
// startLimit): a restart at once goes to Pending, a later one to BackOff
// (CrashLoopBackOff). Whether an instance should exist at all is the
// planners' business, never the lifecycle's.
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
	stopLease                      // an exclusive unit's lease ended: wait for the next (fence.go)
	stopAsked                      // tend restart: start it again at once
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
	case stopLease:
		return "lease"
	case stopAsked:
		return "asked"
	}
	return fmt.Sprintf("stopIntent(%d)", int(s))
}

// reasonAgentShutdown is the Last State reason of a run that the agent
// ended on its way out (verdictPark). The next agent's start of it is not
// counted as a restart.
const reasonAgentShutdown = "AgentShutdown"

// reasonUnknown is the Last State reason of a run whose process ended
// while no agent was running (a kill -9 of the agent, a crash): nobody
// saw how. Kubernetes says ContainerStatusUnknown.
const (
	reasonUnknown       = "Unknown"
	msgExitedUnobserved = "exited while the agent was down; exit status not observed"
)

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
	Exit     ExitStatus // how the process ended; zero when StartErr is set or Unknown
	StartErr error      // the process could not be started
	// Unknown: how the process ended is not known (it ended while no
	// agent ran, or it was not the agent's child); Why says which. It
	// counts as a failure.
	Unknown bool
	Why     string
	Started time.Time  // when the process started; zero when it did not
	Intent  stopIntent // why the agent was stopping it
	// OOMKills is how many processes of the run the kernel's OOM killer
	// killed (its cgroup's memory.events); 0 without a memory controller.
	OOMKills int
}

// restartRule is the part of a unit that decides restarts.
type restartRule struct {
	Policy units.RestartPolicy
	// Base and Max bound the back-off: Base × 2^(failures−1), at most Max.
	Base, Max time.Duration
	// ToCompletion: the instance is a job's attempt, which counts an exit
	// 0 during an agent shutdown as done.
	ToCompletion bool
	// Burst and Interval are the crash-loop brake (the template's
	// start_limit_burst and start_limit_interval): see startLimit.
	// Interval 0: no brake.
	Burst    int
	Interval time.Duration
}

// ruleOf is the restart rule of instances made from u: a job's attempt
// restarted in place backs off as the job does.
func ruleOf(u *units.Unit) restartRule {
	t := &u.Template
	r := restartRule{Policy: t.Restart, Base: t.RestartDelay.D(), Max: t.MaxRestartDelay.D(),
		Burst: t.StartLimitBurst, Interval: t.StartLimitInterval.D()}
	if u.Kind.RunsToCompletion() {
		r.Base, r.Max, r.ToCompletion = u.BackoffDelay.D(), u.MaxBackoffDelay.D(), true
	}
	return r
}

// minStartRetry is the shortest wait before another try at a start that
// failed: a missing program or directory does not appear within
// milliseconds, and a zero restart_delay must not spin the loop on it.
const minStartRetry = time.Second

// crashLoopDelay is the crash-loop brake's first wait, doubled at each
// further restart it holds back, up to the rule's Max: as minStartRetry, a
// second, far above the fork+exec of a restart and short enough that a
// dependency that comes back is picked up soon (kubelet starts at 10s).
const crashLoopDelay = time.Second

// startLimit is the crash-loop brake's memory of an instance's recent
// runs, kept in its record. It works as systemd's start rate limit and
// kubelet's CrashLoopBackOff together:
//
//   - Runs that end are counted in a window that begins at the first end
//     and lasts the rule's Interval; a run that ends after the window
//     begins a new one.
//   - While fewer than Burst runs have ended in the window, restarts
//     follow the rule's back-off (restart_delay = "0s": at once).
//   - When the Burst-th one ends within it, the brake engages: that
//     restart and every later one waits at least crashLoopDelay × 2^(n−1)
//     for its n-th held-back restart, at most the rule's Max
//     (max_restart_delay, but never less than crashLoopDelay).
//   - The brake lets go only when a run stays up for Interval: a process
//     that lived that long is not crash-looping; its restart follows the
//     rule again, and its end begins a new window. Waiting out the brake
//     does not release it.
type startLimit struct {
	Since  time.Time `json:"since,omitzero"`   // when the window began
	Ended  int       `json:"ended,omitempty"`  // runs ended in the window
	Braked int       `json:"braked,omitempty"` // restarts held back since the brake engaged; 0: off
}

// next is the brake after a run that lasted ranFor ended at now, to be
// restarted under r.
func (l startLimit) next(r restartRule, ranFor time.Duration, now time.Time) startLimit {
	switch {
	case r.Interval <= 0:
		return startLimit{}
	case ranFor >= r.Interval:
		return startLimit{Since: now, Ended: 1}
	case l.Braked > 0:
		l.Braked++
		return l
	case l.Since.IsZero() || now.Before(l.Since) || now.Sub(l.Since) >= r.Interval:
		l = startLimit{Since: now, Ended: 1}
	default:
		l.Ended++
	}
	if l.Ended >= r.Burst {
		l.Braked = 1
	}
	return l
}

// delay is the least wait the brake imposes on the next restart under r.
func (l startLimit) delay(r restartRule) time.Duration {
	if l.Braked < 1 {
		return 0
	}
	return RestartDelay(crashLoopDelay, max(r.Max, crashLoopDelay), l.Braked)
}

// decision is decide's answer.
type decision struct {
	Verdict verdict
	Delay   time.Duration // verdictRestart: wait this long first
	// Reason is the Waiting reason while the restart waits
	// (CrashLoopBackOff, StartError), "" when it does not wait.
	Reason string
	// Failures is the count of consecutive failed runs to keep.
	Failures int
	// Limit is the crash-loop brake to keep.
	Limit startLimit
	// Failed: the run counts as a failed run (jobs count them).
	Failed bool
}

// decide chooses what follows the end of a run: a pure function of how it
// ended (end), the restart rule, the consecutive failures and the brake
// before it, and now (the time of a failed start, which has no exit time;
// the brake's window too). Exact durations are table-tested.
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
//     ResetAfter starts the count afresh. A restart in a crash loop waits
//     at least what the brake says (startLimit); the brake counts only
//     runs that started, as a failed start waits minStartRetry anyway.
func decide(end runEnd, r restartRule, failures int, lim startLimit, now time.Time) decision {
	switch end.Intent {
	case stopDelete:
		return decision{Verdict: verdictRemove, Failures: failures, Limit: lim}
	case stopLease, stopAsked:
		// The fence, or the operator, ended the run, not the run itself:
		// no failure, no back-off, whatever the policy (the start of an
		// exclusive unit's waits for a lease).
		return decision{Verdict: verdictRestart, Failures: failures, Limit: lim}
	case stopShutdown:
		if r.ToCompletion && end.StartErr == nil && end.Exit.Success() {
			return decision{Verdict: verdictFinish, Failures: failures, Limit: lim}
		}
		return decision{Verdict: verdictPark, Failures: failures, Limit: lim}
	}
	if end.StartErr != nil {
		d := decision{Failed: true, Failures: failures + 1, Limit: lim}
		if r.Policy == units.RestartNever {
			d.Verdict = verdictFinish
			return d
		}
		d.Verdict, d.Reason = verdictRestart, "StartError"
		d.Delay = max(RestartDelay(r.Base, r.Max, d.Failures), minStartRetry)
		return d
	}
	d := decision{Failed: end.Intent == stopNone && (end.Unknown || !end.Exit.Success()), Failures: failures, Limit: lim}
	again := ShouldRestart(r.Policy, end.Exit)
	if end.Intent == stopRestart || end.Unknown {
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
	d.Limit = lim.next(r, ranFor, now)
	d.Delay = max(RestartDelay(r.Base, r.Max, d.Failures), d.Limit.delay(r))
	if d.Delay > 0 {
		d.Reason = "CrashLoopBackOff"
	}
	return d
}
