package main

import (
	"os"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// agentGCPercent is the agent's GOGC when its environment sets none.
//
// Go's default, 100, lets the heap grow to twice what is live before the
// collector runs, and the runtime keeps about that much from the system.
// The agent's live heap is small and grows with its instances (about 7
// KiB each), on hosts whose memory is for their workloads: at 50 the heap
// grows by half before each collection. With 1000 instances probed over
// HTTP every second, that is 3 to 4 MiB of the agent's RSS less than at
// 100 (about 29 MiB against 33) for collections twice as often, 0.2 % of
// a core more (README.md, "Running under systemd"). GOGC in the agent's
// environment is the operator's choice, and wins.
//
// It is the target of an agent at rest (settleGC): the agent starts at
// Go's 100, as the parsing of its unit files and its first starts make
// garbage fast and keep little of it. Collecting at 50 from the start
// doubled the collections of a start of 5000 units (54 against 24) and
// slowed it by a quarter.
const agentGCPercent = 50

// gc is what pauseGC and settleGC share: the collector's settings have
// one owner at a time.
var gc struct {
	sync.Mutex
	paused  int   // pauses in force
	percent int   // while paused: the GOGC to restore
	limit   int64 // while paused: the memory limit to restore
}

// settleGC sets the collector's target to agentGCPercent, unless the
// environment's GOGC chose one (the runtime read it at the start); in a
// pause, the pause ends at it. The supervisor calls it once the agent's
// start has settled (supervisor.Options.Settled).
func settleGC() {
	if os.Getenv("GOGC") != "" {
		return // GOGC= (empty) is Go's default to the runtime, and so unset here
	}
	gc.Lock()
	defer gc.Unlock()
	if gc.paused > 0 {
		gc.percent = agentGCPercent
		return
	}
	debug.SetGCPercent(agentGCPercent)
}

// startHeapLimit bounds how much the heap may grow while the collector is
// off (at the agent's start, and in a handover): past it the collector
// runs anyway (as GOMEMLIMIT makes it), so a state far larger than usual
// costs collections, not memory.
const startHeapLimit = 256 << 20

// pauseGC turns the garbage collector off while the agent loads its
// state and makes its first pass, and returns what turns it on again.
//
// A start decodes thousands of records and parses every unit file into
// a heap that begins empty: the collector, paced by that small heap,
// ran nine or ten times during a handover of 1000 instances, a fifth of
// the time the API was away. Nothing in that time is garbage for long:
// the collection that follows, once the collector is on again, frees it
// at once. GOGC and GOMEMLIMIT set in the environment are the operator's
// choice: they are what resume restores, and a memory limit below
// startHeapLimit bounds the start too. (The agent's own GOGC of 50,
// agentGCPercent, would otherwise have the collector run twice as often
// as Go's default while a handover's API is away.)
//
// The pause is for an agent that takes instances over, whose API is
// away meanwhile (a re-execution, or a start after a crash): openAgent
// turns the collector on again at once when the store holds none. A
// heap that grew with no collection ends fragmented, its live objects
// spread over the pages the start's garbage took: at a first start with
// 1000 units, 4 MB more memory for as long as the agent runs (PSS 29.8 MB
// against 25.0 in make bench).
//
// The bound is on growth: an agent that hands over with a heap of 300 MB
// (a fleet's worth of state) is let grow by startHeapLimit too, not made
// to collect back to back from the start of its handover.
//
// Pauses may overlap (a handover asked of an agent still making its
// first pass): the collector is on again when the last has ended.
func pauseGC() (resume func()) {
	gc.Lock()
	defer gc.Unlock()
	if gc.paused == 0 {
		gc.limit = debug.SetMemoryLimit(-1)
		gc.percent = debug.SetGCPercent(-1)
	}
	// The bound is on growth from now, for an inner pause too (it only
	// ever raises the outer one's).
	if bound := min(gc.limit, heapObjects()+startHeapLimit); gc.paused == 0 || bound > debug.SetMemoryLimit(-1) {
		debug.SetMemoryLimit(bound)
	}
	gc.paused++
	done := false
	return func() {
		gc.Lock()
		defer gc.Unlock()
		if done {
			return
		}
		done = true
		if gc.paused--; gc.paused == 0 {
			debug.SetGCPercent(gc.percent)
			debug.SetMemoryLimit(gc.limit)
		}
	}
}

// heapObjects is the memory that the heap's objects take now, those not
// yet swept included.
func heapObjects() int64 {
	return int64(runtimeCount("/memory/classes/heap/objects:bytes"))
}

// collections is how many collections the pacer has started so far
// (debug.FreeOSMemory's and runtime.GC's are not counted): a handover's
// log shows it at each stage, and it does not move while the collector
// is off.
func collections() uint64 { return runtimeCount("/gc/cycles/automatic:gc-cycles") }

// runtimeCount reads one of runtime/metrics' counts; 0 when this Go has
// no such metric.
func runtimeCount(name string) uint64 {
	m := []metrics.Sample{{Name: name}}
	metrics.Read(m)
	if m[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return m[0].Value.Uint64()
}
