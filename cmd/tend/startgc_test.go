package main

import (
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/tendhq/tend/supervisor"
)

// An agent settles at agentGCPercent unless GOGC in its environment
// says otherwise (GOGC=off and GOGC=100 included); settled during a
// pause, the pause ends at it.
func TestSettleGC(t *testing.T) {
	percent := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(percent) })

	for _, tc := range []struct {
		env     string // "-" unset
		runtime int    // what the runtime made of it at the start
		want    int
	}{
		{"-", 100, agentGCPercent},
		{"", 100, agentGCPercent}, // GOGC= is Go's default to the runtime
		{"100", 100, 100},
		{"200", 200, 200},
		{"off", -1, -1},
	} {
		if tc.env == "-" {
			t.Setenv("GOGC", "")
			os.Unsetenv("GOGC")
		} else {
			t.Setenv("GOGC", tc.env)
		}
		debug.SetGCPercent(tc.runtime)
		settleGC()
		if got := debug.SetGCPercent(tc.runtime); got != tc.want {
			t.Errorf("GOGC=%q: settled at %d, want %d", tc.env, got, tc.want)
		}

		resume := pauseGC()
		settleGC()
		if got := debug.SetGCPercent(-1); got != -1 {
			t.Errorf("GOGC=%q: settled during a pause, the collector is at %d, want off until the pause ends", tc.env, got)
		}
		resume()
		if got := debug.SetGCPercent(100); got != tc.want {
			t.Errorf("GOGC=%q: after a pause it was settled in, the collector is at %d, want %d", tc.env, got, tc.want)
		}
	}
}

// The collector is off while the agent starts, within a heap limit, and
// as it was afterwards, the operator's GOGC and GOMEMLIMIT included.
func TestPauseGC(t *testing.T) {
	percent := debug.SetGCPercent(100)
	limit := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetGCPercent(percent); debug.SetMemoryLimit(limit) })

	before := heapObjects()
	resume := pauseGC()
	after := heapObjects()
	if p := debug.SetGCPercent(-1); p != -1 {
		t.Errorf("during the start GOGC is %d, want off", p)
	}
	if l := debug.SetMemoryLimit(-1); l < before+startHeapLimit || l > after+startHeapLimit {
		t.Errorf("during the start the memory limit is %d, want the heap (%d to %d) and %d more", l, before, after, startHeapLimit)
	}
	// Another pause while this one lasts: the collector stays off until
	// both have ended.
	inner := pauseGC()
	inner()
	if p := debug.SetGCPercent(-1); p != -1 {
		t.Errorf("after an inner pause ended, GOGC is %d, want off until the outer one ends", p)
	}
	resume()
	resume() // twice is once
	if p := debug.SetGCPercent(100); p != 100 {
		t.Errorf("after the start GOGC is %d, want 100 again", p)
	}
	if l := debug.SetMemoryLimit(-1); l != limit {
		t.Errorf("after the start the memory limit is %d, want %d again", l, limit)
	}

	// A heap far larger than a start's (a handover's of a large state):
	// the limit is on its growth, not below what it holds already, or the
	// collector would run back to back from the start of the pause.
	ballast := make([]byte, 64<<20)
	for k := range ballast {
		ballast[k] = 1 // kept, and its pages in use
	}
	resume = pauseGC()
	if l := debug.SetMemoryLimit(-1); l < int64(len(ballast))+startHeapLimit {
		t.Errorf("with %d bytes of heap in use, the limit during the pause is %d, want that and %d more", len(ballast), l, startHeapLimit)
	}
	resume()
	runtime.KeepAlive(ballast)
	ballast = nil
	runtime.GC()

	// A pause that begins within another, after the heap grew: its bound
	// is on growth from its own start too.
	outer := pauseGC()
	grown := make([]byte, 64<<20)
	for k := range grown {
		grown[k] = 1
	}
	inner = pauseGC()
	if l := debug.SetMemoryLimit(-1); l < int64(len(grown))+startHeapLimit {
		t.Errorf("an inner pause begun with %d bytes more heap left the limit at %d, want that and %d more", len(grown), l, startHeapLimit)
	}
	inner()
	outer()
	if l := debug.SetMemoryLimit(-1); l != limit {
		t.Errorf("after both pauses the memory limit is %d, want %d again", l, limit)
	}
	runtime.KeepAlive(grown)

	// What GOGC=50 and GOMEMLIMIT=64MiB in the environment make of the
	// runtime's settings: off during the start, within the operator's
	// lower limit, and theirs again afterwards.
	t.Setenv("GOGC", "50")
	t.Setenv("GOMEMLIMIT", "64MiB")
	debug.SetGCPercent(50)
	debug.SetMemoryLimit(64 << 20)
	resume = pauseGC()
	if p := debug.SetGCPercent(-1); p != -1 {
		t.Errorf("with GOGC=50, during the start GOGC is %d, want off", p)
	}
	if l := debug.SetMemoryLimit(-1); l != 64<<20 {
		t.Errorf("with GOMEMLIMIT=64MiB, during the start the memory limit is %d, want the operator's %d", l, 64<<20)
	}
	resume()
	if p := debug.SetGCPercent(100); p != 50 {
		t.Errorf("with GOGC=50, after the start GOGC is %d, want 50 again", p)
	}
	if l := debug.SetMemoryLimit(-1); l != 64<<20 {
		t.Errorf("with GOMEMLIMIT=64MiB, after the start the memory limit is %d, want %d again", l, 64<<20)
	}
}

// A first start has nothing to take over, so no outage to shorten: the
// collector goes on again as soon as the store is open, before the unit
// files are parsed into a heap that would grow uncollected.
func TestAFirstStartKeepsTheCollector(t *testing.T) {
	cfg := supervisor.DevConfig(t.TempDir())
	resumed := 0
	a, err := openAgent(cfg, supervisor.Version{}, slog.New(slog.DiscardHandler),
		func() (*supervisor.Handoff, error) { return nil, nil }, func() { resumed++ })
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	if resumed != 1 {
		t.Fatalf("the collector was turned on again %d times while a first start opened, want once", resumed)
	}
}
