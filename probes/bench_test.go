package probes

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"
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
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
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
