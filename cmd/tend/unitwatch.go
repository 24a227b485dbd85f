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
type unitWatch struct {
	catalog *supervisor.DirCatalog
	log     *slog.Logger

	mu      sync.Mutex
	parent  context.Context    // the agent's: the watch ends with it
	cancel  context.CancelFunc // nil while paused
	running sync.WaitGroup     // the watches started, until they end
}

// start watches the directory until parent ends or pause.
func (w *unitWatch) start(parent context.Context) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.parent = parent
	w.resumeLocked()
}

// pause ends the watch and returns without waiting for it to end.
func (w *unitWatch) pause() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cancel != nil {
		w.cancel()
		w.cancel = nil
	}
}

// resume watches again after a pause; it does nothing while watching, or
// once the agent's context has ended.
func (w *unitWatch) resume() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.resumeLocked()
}

func (w *unitWatch) resumeLocked() {
	if w.cancel != nil || w.parent == nil || w.parent.Err() != nil {
		return
	}
	ctx, cancel := context.WithCancel(w.parent)
	w.cancel = cancel
	w.running.Go(func() {
		if err := w.catalog.Run(ctx); err != nil {
			w.log.Error("unit directory is not watched; changes need SIGHUP", "err", err)
		}
	})
}

// wait returns once every watch started has ended (after pause, or once
// the agent's context has ended).
func (w *unitWatch) wait() { w.running.Wait() }
