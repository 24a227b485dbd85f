package probes

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// BenchmarkHTTPProbe measures one HTTP probe against a loopback server
// in another process (the helper), so cpu-ns/op is what a probe costs the
// prober's process alone: 1000 probes a second take cpu-ns/op / 1e4 % of
// one core.
func BenchmarkHTTPProbe(b *testing.B) {
	p := &HTTPGet{Port: serveHelper(b)}
	cpu0 := cpuTime(b)
	for b.Loop() {
		if res, msg := probeWithin(p, time.Second); res != Success {
			b.Fatalf("%v %q", res, msg)
		}
	}
	b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/op")
}

// BenchmarkTCPProbe is BenchmarkHTTPProbe with a TCP probe: what opening
// and closing a connection costs, the floor under an HTTP probe.
func BenchmarkTCPProbe(b *testing.B) {
	p := &TCPSocket{Port: serveHelper(b)}
	cpu0 := cpuTime(b)
	for b.Loop() {
		if res, msg := probeWithin(p, time.Second); res != Success {
			b.Fatalf("%v %q", res, msg)
		}
	}
	b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/op")
}

// serveHelper starts the helper's HTTP server for the benchmark and
// returns its port.
func serveHelper(b *testing.B) int {
	b.Helper()
	cmd := exec.Command(os.Args[0], "serve")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stdin.Close(); cmd.Wait() })
	var port int
	if _, err := fmt.Fscan(stdout, &port); err != nil {
		b.Fatal(err)
	}
	return port
}

func cpuTime(b *testing.B) time.Duration {
	user, sys := userSys(b)
	return user + sys
}

// userSys returns this process's user and system CPU time.
func userSys(b *testing.B) (user, sys time.Duration) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

// BenchmarkHTTPTimeoutAccuracy probes a server that accepts connections
// and never answers, with a 1s timeout, five probes at once per op, and
// reports the longest a probe took (goal: under 1.05s).
func BenchmarkHTTPTimeoutAccuracy(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var conns sync.WaitGroup
	done := make(chan struct{})
	conns.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Go(func() {
				defer c.Close()
				c.Read(make([]byte, 4096)) // the request, then silence until the probe hangs up
				<-done
			})
		}
	})
	defer func() { ln.Close(); close(done); conns.Wait() }()

	p := &HTTPGet{Port: ln.Addr().(*net.TCPAddr).Port}
	const timeout, parallel = time.Second, 5
	var worst time.Duration
	for b.Loop() {
		took := make([]time.Duration, parallel)
		var wg sync.WaitGroup
		for i := range parallel {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), timeout)
				defer cancel()
				begin := time.Now()
				if res, _ := p.Probe(ctx); res != Failure {
					b.Errorf("probe of a silent server: %v", res)
				}
				took[i] = time.Since(begin)
			})
		}
		wg.Wait()
		for _, d := range took {
			worst = max(worst, d)
		}
	}
	b.ReportMetric(worst.Seconds(), "max-s")
}

// BenchmarkProbeSets runs 1000 Sets, each with an HTTP liveness probe
// every second against the helper's server (another process), for a
// window of probeWindow, and reports this process's CPU over the window
// as a percentage of one core (cpu-%; sys-% is the kernel's part, which
// Linux apportions from ticks, so it is rough), the heap, stack and
// goroutines per Set while they run, the process's resident memory, and
// the probe rate seen (probes/s, to check the load is what it claims).
// The figures swing by a fifth from run to run on a shared machine:
// compare binaries run alternately.
//
// Two shapes: spread, Set k's first probe at k ms (as a fleet whose
// instances started at different times spreads them evenly over the
// second), and bursty, every Set started at once; each exact and with
// some SetConfig.Accuracy. Run it with -benchtime=1x: one op is one
// window.
func BenchmarkProbeSets(b *testing.B) {
	for _, shape := range []struct {
		name     string
		spread   bool
		accuracy time.Duration
	}{
		{"spread/exact", true, 0},
		{"spread/10ms", true, 10 * time.Millisecond},
		{"spread/20ms", true, 20 * time.Millisecond},
		{"bursty/exact", false, 0},
		{"bursty/10ms", false, 10 * time.Millisecond},
	} {
		b.Run(shape.name, func(b *testing.B) { benchSets(b, 1000, shape.spread, shape.accuracy) })
	}
}

// probeWindow is how long BenchmarkProbeSets measures, after a warm-up
// of two periods.
const probeWindow = 5 * time.Second

func benchSets(b *testing.B, n int, spread bool, accuracy time.Duration) {
	port := serveHelper(b)
	const period = time.Second
	var probed, failed atomic.Int64
	var firstFailure atomic.Value
	heap0, stack0, gor0 := memInUse()

	sets := make([]*Set, n)
	for k := range sets {
		spec := Spec{Period: period, Timeout: time.Second}
		if spread {
			spec.InitialDelay = period * time.Duration(k) / time.Duration(n)
		}
		sets[k] = NewSet(SetConfig{
			Accuracy: accuracy,
			Liveness: &Probe{Spec: spec, Prober: countingProber{&HTTPGet{Port: port}, &probed}},
			Report: func(r Report) {
				if r.Result != Success {
					failed.Add(1)
					firstFailure.CompareAndSwap(nil, r.Message)
				}
			},
		})
	}
	for _, s := range sets {
		s.Start()
	}
	defer func() {
		for _, s := range sets {
			s.Stop()
		}
	}()
	time.Sleep(2 * period) // every Set past its initial delay and its first probe

	var user, sys, elapsed time.Duration
	var count int64
	for b.Loop() {
		n0, t0 := probed.Load(), time.Now()
		user0, sys0 := userSys(b)
		time.Sleep(probeWindow)
		user1, sys1 := userSys(b)
		user, sys = user+user1-user0, sys+sys1-sys0
		count += probed.Load() - n0
		elapsed += time.Since(t0)
	}
	b.StopTimer()
	heap, stack, gor := memInUse()
	// A probe that fails is as dear as one that succeeds, but many
	// failures mean the server, not the probes, was measured. A few come
	// when the (shared) machine stalls for a second.
	if k := failed.Load(); k > count/100 {
		b.Fatalf("%d of %d probes failed, the first: %v", k, count, firstFailure.Load())
	}
	b.ReportMetric(float64(failed.Load()), "failed")
	b.ReportMetric(100*(user+sys).Seconds()/elapsed.Seconds(), "cpu-%")
	b.ReportMetric(100*sys.Seconds()/elapsed.Seconds(), "sys-%")
	b.ReportMetric(float64(count)/elapsed.Seconds(), "probes/s")
	b.ReportMetric(float64(int64(heap)-int64(heap0))/float64(n), "heap-B/set")
	b.ReportMetric(float64(int64(stack)-int64(stack0))/float64(n), "stack-B/set")
	b.ReportMetric(float64(gor-gor0)/float64(n), "goroutines/set")
	b.ReportMetric(float64(rss(b))/(1<<20), "rss-MiB")
}

// countingProber counts the probes it passes on.
type countingProber struct {
	Prober
	n *atomic.Int64
}

func (c countingProber) Probe(ctx context.Context) (Result, string) {
	c.n.Add(1)
	return c.Prober.Probe(ctx)
}

// memInUse returns the bytes in in-use heap spans (after two GCs, live
// objects and the fragmentation around them, without what sync.Pools
// hold for the process rather than for a Set), the bytes of goroutine
// stacks, and the number of goroutines.
func memInUse() (heap, stack uint64, goroutines int) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse, ms.StackInuse, runtime.NumGoroutine()
}

// rss is this process's resident set size in bytes.
func rss(b *testing.B) int64 {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		b.Fatal(err)
	}
	var size, resident int64
	if _, err := fmt.Sscan(string(data), &size, &resident); err != nil {
		b.Fatal(err)
	}
	return resident * int64(os.Getpagesize())
}
