package main

import (
	"runtime/debug"
	"testing"
)

// The collector is off while the agent starts, within a heap limit, and
// as it was afterwards; GOGC in the environment leaves it alone.
func TestPauseGC(t *testing.T) {
	percent := debug.SetGCPercent(100)
	limit := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetGCPercent(percent); debug.SetMemoryLimit(limit) })

	resume := pauseGC()
	if p := debug.SetGCPercent(-1); p != -1 {
		t.Errorf("during the start GOGC is %d, want off", p)
	}
	if l := debug.SetMemoryLimit(-1); l != startHeapLimit {
		t.Errorf("during the start the memory limit is %d, want %d", l, startHeapLimit)
	}
	resume()
	resume() // twice is once
	if p := debug.SetGCPercent(100); p != 100 {
		t.Errorf("after the start GOGC is %d, want 100 again", p)
	}
	if l := debug.SetMemoryLimit(-1); l != limit {
		t.Errorf("after the start the memory limit is %d, want %d again", l, limit)
	}

	t.Setenv("GOGC", "50")
	debug.SetGCPercent(50)
	pauseGC()
	if p := debug.SetGCPercent(50); p != 50 {
		t.Errorf("with GOGC=50 set, the start changed it to %d", p)
	}
}
