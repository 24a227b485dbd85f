package probes

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Kind is the role of a probe in an instance's life.
type Kind int

const (
	// Liveness: failing FailureThreshold times in a row, the instance is
	// killed and restarted.
	Liveness Kind = iota + 1
	// Readiness: decides whether the instance counts as ready (READY 1/1).
	Readiness
	// Startup: until it succeeds, liveness and readiness do not run;
	// failing FailureThreshold times in a row, the instance is killed and
	// restarted.
	Startup
)

// String returns "Liveness", "Readiness" or "Startup", as the kubelet
// starts its probe event messages.
func (k Kind) String() string {
	switch k {
	case Liveness:
		return "Liveness"
	case Readiness:
		return "Readiness"
	case Startup:
		return "Startup"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Spec is a probe's timing and thresholds, as in Kubernetes. A zero or
// negative field takes the Kubernetes default.
type Spec struct {
	InitialDelay time.Duration // from Set.Start to the first probe; default 0
	Timeout      time.Duration // one probe's deadline; default 1s
	// Period is from the start of one probe to the start of the next;
	// default 10s. A probe that takes longer delays the next one, which
	// starts when it returns: probes never overlap. SetConfig.Accuracy
	// may let a probe start a little later.
	Period           time.Duration
	SuccessThreshold int // successes in a row to become healthy; default 1, and always 1 for Liveness and Startup
	FailureThreshold int // failures in a row to become unhealthy; default 3
}

// Kubernetes' defaults.
const (
	DefaultTimeout          = time.Second
	DefaultPeriod           = 10 * time.Second
	DefaultSuccessThreshold = 1
	DefaultFailureThreshold = 3
)

func (s Spec) withDefaults(k Kind) Spec {
	s.InitialDelay = max(s.InitialDelay, 0)
	if s.Timeout <= 0 {
		s.Timeout = DefaultTimeout
	}
	if s.Period <= 0 {
		s.Period = DefaultPeriod
	}
	if s.SuccessThreshold <= 0 || k != Readiness {
		s.SuccessThreshold = DefaultSuccessThreshold
	}
	if s.FailureThreshold <= 0 {
		s.FailureThreshold = DefaultFailureThreshold
	}
	return s
}

// Probe is one configured probe: when and how often, and what.
type Probe struct {
	Spec
	Prober Prober // must honour the context it is given (Set.Stop waits for it)
}

// SetConfig configures a Set.
type SetConfig struct {
	Liveness  *Probe // nil: none (the instance counts as alive)
	Readiness *Probe // nil: none (the instance counts as ready once started)
	Startup   *Probe // nil: none (liveness and readiness start at once)
	// Ready starts the readiness probe healthy, as for a Set that takes
	// over from another one whose probe had found the instance ready
	// (an agent handing its instances to its successor): it must fail
	// FailureThreshold times before the instance is not ready.
	Ready bool

	// Accuracy lets a probe start a little after it is due, so that
	// probes due near each other, in this Set and in every other Set
	// with the same Accuracy, share one wake-up of the process, as
	// systemd's AccuracySec= and Linux's timer slack coalesce timers.
	// Zero (or negative) is exact: each probe starts when it is due.
	//
	// With Accuracy > 0, a probe due at t starts at the first whole
	// multiple of Accuracy since the Unix epoch (on the wall clock) at
	// or after t: never early and less than Accuracy late. The instants
	// are the same for every Set in the process and on the host, so
	// probes spread evenly over a period wake the process once per
	// Accuracy instead of once each. Period counts from the instant
	// the previous probe was due, if it started within Accuracy of it,
	// or else from its actual start: a timer fires a moment after its
	// instant, and counting from that moment would stretch every period
	// by up to Accuracy, so a 1s period would probe every 1.01s. Two
	// probes of one kind are thus never due closer than Period, and
	// never start closer than Period less the lateness of the first
	// one's timer (microseconds, unless the process stalls). The
	// timeout counts from the actual start.
	//
	// Kubernetes' periods are whole seconds, so an Accuracy of 10-20ms
	// delays a probe by at most 1-2% of its period: harmless, and with
	// 1000 probes a second spread evenly it cuts the wake-ups a
	// hundredfold.
	Accuracy time.Duration

	// Report receives what the probes found; see Report for what to do
	// with each. It is called from the Set's goroutines, never two calls
	// at once, and never after Stop has returned. It must not block (hand
	// the Report to a channel or to the owner of the instance) and must
	// not call Stop. Required.
	Report func(Report)
}

// Report is what a Set (or a Watchdog) tells the supervisor. One comes
// for every probe that did not plainly succeed (a Failure, an Unknown, a
// Success with a warning) and for every change of state.
//
// What to do with it:
//   - record the event Event returns, if any (every failed probe);
//   - if Kill: record `Killing: Container NAME failed liveness probe, will
//     be restarted` ("startup probe" for Kind Startup), stop the instance
//     and leave the rest to the restart policy;
//   - if Kind is Readiness and Changed: set the instance's readiness to
//     Healthy;
//   - if Kind is Startup, Changed and Healthy: the instance has started
//     (liveness and readiness probes begin now).
type Report struct {
	Kind    Kind
	Result  Result // this probe's result
	Message string // this probe's message, in the kubelet's words
	// Healthy is the probe's state after this result and the thresholds:
	// alive (Liveness, true until it fails), ready (Readiness, false until
	// it succeeds), started (Startup, false until it succeeds).
	Healthy bool
	// Changed is true for the report that decides: Healthy flipped, or,
	// for Startup, the start-up budget ran out (Healthy stays false).
	// After a Liveness or Startup report with Changed, that probe does
	// not run again in this Set.
	Changed bool
}

// Kill reports whether the supervisor must kill the instance: its
// liveness probe failed FailureThreshold times in a row, its start-up
// budget ran out, or its watchdog expired.
func (r Report) Kill() bool {
	return r.Changed && !r.Healthy && (r.Kind == Liveness || r.Kind == Startup)
}

// Event returns the event the kubelet records for this probe result:
// ("Unhealthy", "Liveness probe failed: HTTP probe failed with statuscode:
// 500") for a Failure, ("Unhealthy", "Readiness probe errored: ...") for an
// Unknown, ("ProbeWarning", "Readiness probe warning: Probe terminated
// redirects, ...") for a Success with a message, and ("", "") otherwise.
func (r Report) Event() (reason, message string) {
	switch {
	case r.Result == Failure:
		return "Unhealthy", r.Kind.String() + " probe failed: " + r.Message
	case r.Result == Unknown:
		return "Unhealthy", r.Kind.String() + " probe errored: " + r.Message
	case r.Message != "":
		return "ProbeWarning", r.Kind.String() + " probe warning: " + r.Message
	}
	return "", ""
}

// A Set runs the probes of one run of one instance, with Kubernetes
// semantics: each probe owns its thresholds; the startup probe runs
// first and the others wait for its success; after a liveness or
// startup verdict to kill, that probe stops. A restarted instance gets a
// new Set.
//
// Timing is exact unless SetConfig.Accuracy allows some slack: the first
// probe at InitialDelay after Start (or when the startup probe
// succeeds, if later), then one every Period from the start of the
// previous one, never two at once.
//
// Between probes a Set holds no goroutine, only a timer per probe: when
// it fires, a goroutine of its own runs the probe, applies the
// thresholds, reports, and sets the timer for the next probe before it
// ends. So each probe has one owner at a time, and a thousand Sets cost
// a thousand timers, not a thousand parked goroutines and their stacks.
//
// Start and Stop may be called from any goroutine.
type Set struct {
	report   func(Report)
	accuracy time.Duration
	workers  [3]*worker // by Kind-1; nil = no such probe

	// mu guards started, the setting of stopped, the arming of the
	// timers and the cancel functions of the probes in flight.
	mu      sync.Mutex
	started bool
	stopped atomic.Bool // set by Stop; the probes read it without mu
	// wg counts armed timers and the probes they started: a probe's
	// goroutine keeps its count when it arms the timer again, and gives
	// it up when it ends the chain; Stop gives up the count of a timer it
	// stops before it fires.
	wg sync.WaitGroup

	// reporting is held (one token) around each Report call, so calls
	// never overlap. A channel rather than a mutex: a goroutine waiting on
	// it is durably blocked for testing/synctest.
	reporting chan struct{}
}

// NewSet returns a Set for cfg; nothing runs until Start. It panics when
// Report is nil or a probe has no Prober: those are programming errors.
func NewSet(cfg SetConfig) *Set {
	if cfg.Report == nil {
		panic("probes: NewSet: nil Report")
	}
	s := &Set{report: cfg.Report, accuracy: cfg.Accuracy, reporting: make(chan struct{}, 1)}
	for k, p := range [...]*Probe{Liveness - 1: cfg.Liveness, Readiness - 1: cfg.Readiness, Startup - 1: cfg.Startup} {
		kind := Kind(k + 1)
		if p == nil {
			continue
		}
		if p.Prober == nil {
			panic(fmt.Sprintf("probes: NewSet: %s probe has no Prober", kind))
		}
		s.workers[k] = &worker{set: s, kind: kind, spec: p.Spec.withDefaults(kind), prober: p.Prober, healthy: kind == Liveness || (kind == Readiness && cfg.Ready)}
	}
	return s
}

// Start arms the probes' timers and returns at once. Call it when the
// instance's process has started: initial delays count from here.
// Start is idempotent, and does nothing after Stop.
func (s *Set) Start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.stopped.Load() {
		return
	}
	s.started = true
	start := time.Now()
	gated := s.workers[Startup-1] != nil
	for _, w := range s.workers {
		if w == nil {
			continue
		}
		w.notBefore = start.Add(w.spec.InitialDelay)
		if gated && w.kind != Startup {
			continue // armed by startupSucceeded
		}
		s.arm(w, w.notBefore)
	}
}

// startupSucceeded arms the liveness and readiness probes once the
// startup probe has succeeded: the first of each at its initial delay,
// or now if that has passed.
func (s *Set) startupSucceeded() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	for _, kind := range [...]Kind{Liveness, Readiness} {
		if w := s.workers[kind-1]; w != nil && !s.stopped.Load() {
			s.arm(w, later(w.notBefore, now))
		}
	}
}

// arm starts w's timer for its next probe at t (aligned to the Set's
// accuracy), with a new count on wg. s.mu must be held.
func (s *Set) arm(w *worker, t time.Time) {
	s.wg.Add(1)
	w.due = align(t, s.accuracy)
	d := time.Until(w.due)
	if w.timer == nil {
		w.timer = time.AfterFunc(d, w.tick)
	} else {
		w.timer.Reset(d)
	}
}

// rearm starts w's timer for its next probe at t (already aligned),
// handing it the count the probe that ends now held; after Stop it
// gives the count up instead.
func (s *Set) rearm(w *worker, t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w.cancel = nil
	if s.stopped.Load() {
		s.wg.Done()
		return
	}
	w.due = t
	w.timer.Reset(time.Until(t))
}

// finish ends w's chain of probes: no timer is armed again.
func (s *Set) finish(w *worker) {
	s.mu.Lock()
	w.cancel = nil
	s.mu.Unlock()
	s.wg.Done()
}

// Stop cancels the running probes and returns when every goroutine the
// Set started has ended: no probe runs and no Report comes after it
// returns. It blocks for as long as a prober takes to honour its
// cancelled context. Stop is idempotent and may be called before Start
// (the Set then never starts); it must not be called from Report.
func (s *Set) Stop() {
	s.mu.Lock()
	s.stopped.Store(true)
	for _, w := range s.workers {
		if w == nil {
			continue
		}
		if w.cancel != nil {
			w.cancel() // the probe in flight
		}
		if w.timer != nil && w.timer.Stop() {
			s.wg.Done() // it had not fired: no probe will come of it
		}
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// deliver calls Report unless the Set is stopped, one call at a time.
func (s *Set) deliver(r Report) {
	s.reporting <- struct{}{}
	defer func() { <-s.reporting }()
	if !s.stopped.Load() {
		s.report(r)
	}
}

// worker is one probe of a Set and owns its thresholds. set, kind,
// spec and prober do not change after NewSet; notBefore, timer, due and
// cancel are guarded by the Set's mu; the thresholds are touched only by
// the goroutine the timer started, one at a time (each takes mu before
// it reads them, after the one before let go of it).
type worker struct {
	set    *Set
	kind   Kind
	spec   Spec // with defaults applied
	prober Prober

	notBefore time.Time          // Start + InitialDelay
	timer     *time.Timer        // calls tick; nil until first armed
	due       time.Time          // when the armed timer's probe is due
	cancel    context.CancelFunc // ends the probe in flight (for Stop); nil between probes

	healthy bool   // the state after thresholds
	last    Result // the last counted result (Success or Failure)
	streak  int    // how many times in a row last came

	stats stats // what the probe found (stats.go)
}

// tick runs one probe, on the goroutine w's timer started, and arms the
// timer for the next one unless this probe was the last.
func (w *worker) tick() {
	s := w.set
	// The probe's context has no parent: Stop cancels it through
	// w.cancel, which spares each probe registering with a Set-wide
	// context (and the Set keeping one).
	ctx, cancel := context.WithTimeout(context.Background(), w.spec.Timeout)
	defer cancel()
	s.mu.Lock()
	if s.stopped.Load() {
		s.mu.Unlock()
		s.wg.Done()
		return
	}
	w.cancel = cancel
	due := w.due
	s.mu.Unlock()

	began := time.Now()
	res, msg := w.once(ctx)
	w.stats.observe(res, time.Since(began))
	if s.stopped.Load() || !w.observe(res, msg) {
		// Stopped (the result is moot), or this probe is done.
		s.finish(w)
		return
	}
	s.rearm(w, nextDue(due, began, time.Now(), w.spec.Period, s.accuracy))
}

// nextDue returns when the probe after one that was due at due, began
// at began and ended at ended is due: Period after it began, or when it
// ended if that is later, aligned to accuracy. With an accuracy, a
// probe that began less than accuracy after it was due counts as having
// begun when due, so that a timer's lateness does not stretch every
// period; see SetConfig.Accuracy.
func nextDue(due, began, ended time.Time, period, accuracy time.Duration) time.Time {
	if accuracy > 0 && began.Sub(due) < accuracy {
		began = due
	}
	return align(later(began.Add(period), ended), accuracy)
}

// once runs the prober, turning a panic into an Unknown.
func (w *worker) once(ctx context.Context) (res Result, msg string) {
	defer func() {
		if v := recover(); v != nil {
			res, msg = Unknown, fmt.Sprintf("probe panicked: %v", v)
		}
	}()
	return w.prober.Probe(ctx)
}

// observe applies one result to the thresholds, reports what needs
// reporting, and says whether to keep probing.
func (w *worker) observe(res Result, msg string) (keepGoing bool) {
	changed := false
	switch res {
	case Success, Failure:
		if res == w.last {
			w.streak++
		} else {
			w.last, w.streak = res, 1
		}
		if res == Success && !w.healthy && w.streak >= w.spec.SuccessThreshold {
			w.healthy, changed = true, true
		}
		if res == Failure && (w.healthy || w.kind == Startup) && w.streak >= w.spec.FailureThreshold {
			w.healthy, changed = false, true
		}
	default:
		// An errored probe is reported but not counted, as the kubelet
		// throws its result away.
		res = Unknown
	}
	if res != Success || msg != "" || changed {
		w.set.deliver(Report{Kind: w.kind, Result: res, Message: msg, Healthy: w.healthy, Changed: changed})
	}
	if !changed || w.kind == Readiness {
		return true
	}
	if w.kind == Startup && w.healthy {
		w.set.startupSucceeded()
	}
	// Startup decided either way, or liveness failed (a liveness probe
	// starts healthy and only changes to unhealthy): this probe is done
	// for this run of the instance.
	return false
}

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// align returns the first instant at or after t that is a whole
// multiple of accuracy since the Unix epoch, or t when accuracy is not
// positive. The result keeps t's monotonic clock reading.
func align(t time.Time, accuracy time.Duration) time.Time {
	if accuracy <= 0 {
		return t
	}
	late := time.Duration(t.UnixNano() % int64(accuracy))
	if late < 0 { // before 1970
		late += accuracy
	}
	if late == 0 {
		return t
	}
	return t.Add(accuracy - late)
}
