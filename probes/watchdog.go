package probes

import (
	"strconv"
	"sync"
	"time"
)

// A Watchdog is systemd's watchdog as a liveness check: the instance must
// send WATCHDOG=1 at least every timeout, or it is reported with one
// liveness Report whose Kill is true, and the message
// "watchdog timeout: no WATCHDOG=1 for 30s". After that Report the
// Watchdog is spent; a restarted instance gets a new one.
//
// Its methods are safe from any goroutine (typically the NotifySocket's
// onMessage feeds it).
type Watchdog struct {
	report func(Report)

	mu       sync.Mutex
	timeout  time.Duration // 0: disabled
	since    time.Time     // the last feed, or the start
	deadline time.Time
	timer    *time.Timer
	done     bool           // fired or stopped
	wg       sync.WaitGroup // a Report in progress
}

// NewWatchdog starts a watchdog that expires timeout from now unless fed;
// a timeout <= 0 starts it disabled (see SetTimeout). report gets the
// expiry, from the watchdog's timer goroutine (or from Trigger's caller),
// at most once; it has the same contract as
// SetConfig.Report (must not block, must not call Stop), but a Watchdog's
// Report may come concurrently with a Set's. It panics on a nil report.
func NewWatchdog(timeout time.Duration, report func(Report)) *Watchdog {
	if report == nil {
		panic("probes: NewWatchdog: nil report")
	}
	w := &Watchdog{report: report}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.timeout = max(timeout, 0)
	w.restartLocked()
	return w
}

// Feed restarts the countdown: the instance sent WATCHDOG=1.
func (w *Watchdog) Feed() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.restartLocked()
}

// SetTimeout changes the timeout and restarts the countdown with it: the
// instance sent WATCHDOG_USEC=. A timeout <= 0 disables the watchdog until
// the next SetTimeout.
func (w *Watchdog) SetTimeout(timeout time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.timeout = max(timeout, 0)
	w.restartLocked()
}

// Extend moves the current deadline to d from now if that is later: the
// instance sent EXTEND_TIMEOUT_USEC=. It lasts until the next Feed, which
// restores the normal timeout. It does nothing while disabled.
func (w *Watchdog) Extend(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done || w.timeout == 0 {
		return
	}
	if t := time.Now().Add(d); t.After(w.deadline) {
		w.deadline = t
		w.armLocked()
	}
}

// Trigger expires the watchdog at once: the instance sent
// WATCHDOG=trigger.
func (w *Watchdog) Trigger() {
	w.mu.Lock()
	if w.done {
		w.mu.Unlock()
		return
	}
	w.fireLocked("watchdog triggered by the instance (WATCHDOG=trigger)")
}

// Stop disarms the watchdog and returns when no Report is in progress:
// none comes after it returns. It is idempotent; it must not be called
// from the Report.
func (w *Watchdog) Stop() {
	w.mu.Lock()
	w.done = true
	if w.timer != nil {
		w.timer.Stop()
	}
	w.mu.Unlock()
	w.wg.Wait()
}

func (w *Watchdog) restartLocked() {
	if w.done {
		return
	}
	w.since = time.Now()
	if w.timeout == 0 {
		if w.timer != nil {
			w.timer.Stop()
		}
		return
	}
	w.deadline = w.since.Add(w.timeout)
	w.armLocked()
}

func (w *Watchdog) armLocked() {
	if w.timer != nil {
		w.timer.Stop()
	}
	w.timer = time.AfterFunc(time.Until(w.deadline), w.expire)
}

// expire runs on the timer's goroutine. A timer stopped too late to keep
// it from running finds the deadline moved and returns.
func (w *Watchdog) expire() {
	w.mu.Lock()
	if w.done || w.timeout == 0 || time.Now().Before(w.deadline) {
		w.mu.Unlock()
		return
	}
	w.fireLocked("watchdog timeout: no WATCHDOG=1 for " + seconds(w.deadline.Sub(w.since)))
}

// fireLocked spends the watchdog and reports msg; it unlocks w.mu.
func (w *Watchdog) fireLocked(msg string) {
	w.done = true
	if w.timer != nil {
		w.timer.Stop()
	}
	w.wg.Add(1)
	w.mu.Unlock()
	defer w.wg.Done()
	w.report(Report{Kind: Liveness, Result: Failure, Message: msg, Healthy: false, Changed: true})
}

// seconds formats d as the kubelet formats probe durations: whole seconds
// as "30s" or "120s", otherwise as time.Duration does.
func seconds(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return d.String()
}
