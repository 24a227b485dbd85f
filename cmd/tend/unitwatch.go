package main

import (
	"context"
	"log/slog"
	"sync"

	"github.com/tendhq/tend/supervisor"
)

// unitWatch is the agent's watch of its unit directory (DirCatalog.Run),
// which a re-execution pauses before it checks the successor and resumes
// when the successor is refused.
//
// Closing an inotify instance waits for the kernel's grace period (5 to
// 25 ms here) before the close returns: paid while the API is away, it was
// most of a handover of a host with 20 instances (its loop hands over in
// under a millisecond). Paused before the check, which runs the new
// binary while the API still answers, the wait passes meanwhile. A watch
// resumed reads again whatever changed while it was paused (Run's
// rescanSince).
//
// Pauses are counted: two re-executions asked for at once (one over the
// API, one by SIGUSR2) each hold one, and the watch runs again only once
// neither does, so a refused one cannot restart the watch in the middle
// of the other's handover.
type unitWatch struct {
	catalog *supervisor.DirCatalog
	log     *slog.Logger

	mu      sync.Mutex
	parent  context.Context    // the agent's: the watch ends with it; nil before start
	pauses  int                // pauses not yet resumed: the watch runs at none
	stopped bool               // stop was called: no watch starts again
	cancel  context.CancelFunc // the running watch's; nil for none
	running sync.WaitGroup     // the watches started, until they end
}

// start watches the directory until parent ends, stop, or a pause.
func (w *unitWatch) start(parent context.Context) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.parent = parent
	w.updateLocked()
}

// pause ends the watch, if it runs, until resume is called as many times
// as pause was. It returns without waiting for the watch to end.
func (w *unitWatch) pause() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pauses++
	w.updateLocked()
}

// resume undoes one pause.
func (w *unitWatch) resume() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pauses > 0 {
		w.pauses--
	}
	w.updateLocked()
}

// stop ends the watch for good and waits for every watch started to end.
func (w *unitWatch) stop() {
	w.mu.Lock()
	w.stopped = true
	w.updateLocked()
	w.mu.Unlock()
	// Nothing starts a watch once stopped is set (under w.mu): no
	// running.Go can race this Wait.
	w.running.Wait()
}

// updateLocked runs the watch or ends it, as the pauses, stop and the
// agent's context say. w.mu is held.
func (w *unitWatch) updateLocked() {
	want := !w.stopped && w.pauses == 0 && w.parent != nil && w.parent.Err() == nil
	switch {
	case !want && w.cancel != nil:
		w.cancel()
		w.cancel = nil
	case want && w.cancel == nil:
		ctx, cancel := context.WithCancel(w.parent)
		w.cancel = cancel
		w.running.Go(func() {
			if err := w.catalog.Run(ctx); err != nil {
				w.log.Error("unit directory is not watched; changes need SIGHUP", "err", err)
			}
		})
	}
}
