package probes

import (
	"bytes"
	"os"
	"sync"
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
// call stop. stop ends the watch and returns when the goroutine has
// ended, so onReady is not called after it returns; it is idempotent and
// safe from any goroutine but onReady's.
func WatchNotificationFD(r *os.File, onReady func()) (stop func()) {
	closeR := sync.OnceFunc(func() { r.Close() })
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer closeR()
		buf := make([]byte, 512)
		for {
			n, err := r.Read(buf)
			if bytes.IndexByte(buf[:n], '\n') >= 0 {
				onReady()
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return func() {
		closeR() // unblocks the Read: a pipe from os.Pipe is pollable
		<-done
	}
}
