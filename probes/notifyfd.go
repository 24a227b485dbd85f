package probes

import (
	"bytes"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// WatchNotificationFD implements s6's readiness protocol
// (notification-fd) on r, the read end of a pipe made with os.Pipe whose
// write end the instance got as its notification descriptor: when the
// instance writes a newline, onReady is called once. Whatever comes
// before the first newline is ignored. r is closed after readiness, at
// end of file (the instance closed the descriptor or exited without
// becoming ready: onReady is not called) or at stop.
//
// The agent must close its own copy of the write end once the instance
// has started, or end of file never comes.
//
// onReady is called from the watcher's goroutine and must not block or
// call the watch's methods. Stop ends the watch and returns when the
// goroutine has ended, so onReady is not called after it returns; Detach
// does the same but keeps r open and returns it, for the agent that takes
// the watch over (see the supervisor's handoff). Both are idempotent and
// safe from any goroutine but onReady's.
func WatchNotificationFD(r *os.File, onReady func()) *NotificationWatch {
	w := &NotificationWatch{r: r, done: make(chan struct{})}
	go w.run(onReady)
	return w
}

// A NotificationWatch is the watch of one notification descriptor.
type NotificationWatch struct {
	r         *os.File
	done      chan struct{}
	detaching atomic.Bool
	closeOnce sync.Once
	kept      bool // the goroutine ended by Detach: r stays open
}

func (w *NotificationWatch) run(onReady func()) {
	defer close(w.done)
	buf := make([]byte, 512)
	for {
		n, err := w.r.Read(buf)
		if bytes.IndexByte(buf[:n], '\n') >= 0 {
			w.close()
			onReady()
			return
		}
		if err != nil {
			if w.detaching.Load() && errors.Is(err, os.ErrDeadlineExceeded) {
				w.kept = true
				return
			}
			w.close()
			return
		}
	}
}

func (w *NotificationWatch) close() { w.closeOnce.Do(func() { w.r.Close() }) }

// Stop ends the watch and closes r.
func (w *NotificationWatch) Stop() {
	w.close() // unblocks the Read: a pipe from os.Pipe is pollable
	<-w.done
}

// Detach ends the watch without closing r and returns r, or nil when the
// watch had ended already (readiness, end of file, Stop).
func (w *NotificationWatch) Detach() *os.File {
	w.detaching.Store(true)
	w.r.SetReadDeadline(time.Unix(1, 0)) // fails once closed: then done is, or soon will be
	<-w.done
	if !w.kept {
		return nil
	}
	w.r.SetReadDeadline(time.Time{})
	return w.r
}
