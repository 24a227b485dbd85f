package probes

import (
	"sync/atomic"
	"time"
)

// DurationBuckets are the upper bounds of the probe duration histogram,
// Prometheus' default buckets: 5 ms to 10 s.
var DurationBuckets = []time.Duration{
	5 * time.Millisecond, 10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second,
}

// stats are one probe's counts of results and its durations, kept with
// atomics: the probe adds to them on its own goroutine, and Stats reads
// them from any other, neither taking a lock. Each probe of a Set has
// its own (128 bytes), not the Set one for every kind: an instance probed
// for liveness alone, as most are, does not carry the other two kinds'.
type stats struct {
	results [3]atomic.Uint64                       // by Result
	buckets [len(durationBounds) + 1]atomic.Uint64 // +Inf last
	sum     atomic.Int64                           // nanoseconds
}

// durationBounds is DurationBuckets as an array length for stats.
var durationBounds [11]time.Duration

func init() { copy(durationBounds[:], DurationBuckets) }

func (st *stats) observe(r Result, d time.Duration) {
	if r < Unknown || r > Failure {
		return
	}
	st.results[r].Add(1)
	i := 0
	for i < len(durationBounds) && d > durationBounds[i] {
		i++
	}
	st.buckets[i].Add(1)
	st.sum.Add(int64(d))
}

// KindStats are the probes of one kind of a Set so far.
type KindStats struct {
	Kind Kind
	// Results counts the probes by Result (Unknown, Success, Failure).
	Results [3]uint64
	// Buckets counts the probes by duration: Buckets[i] those that took
	// at most DurationBuckets[i] and more than the bound before; the last
	// those over the last bound. Not cumulative.
	Buckets [12]uint64
	Sum     time.Duration
}

// Stats returns what the Set's probes found so far, for each kind it
// probes. Safe to call at any time, from any goroutine.
func (s *Set) Stats() []KindStats {
	var out []KindStats
	for k, w := range s.workers {
		if w == nil {
			continue
		}
		ks := KindStats{Kind: Kind(k + 1), Sum: time.Duration(w.stats.sum.Load())}
		for r := range ks.Results {
			ks.Results[r] = w.stats.results[r].Load()
		}
		for b := range ks.Buckets {
			ks.Buckets[b] = w.stats.buckets[b].Load()
		}
		out = append(out, ks)
	}
	return out
}
