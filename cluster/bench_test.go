package cluster

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-metrics"

	"github.com/tendhq/tend/units"
)

// Benchmarks of the lan profile on loopback, each node in this process on
// a port of its own. Each reports percentiles over its own repetitions
// (make bench runs each once).

// fleetOf starts n nodes on the lan profile, all joined, and waits until
// every one knows every other.
func fleetOf(b *testing.B, n int) []*Node {
	b.Helper()
	var nodes []*Node
	for k := range n {
		cfg := Config{
			Name:     fmt.Sprintf("h%02d", k),
			Bind:     fmt.Sprintf("127.0.0.1:%d", freePort(b)),
			Profile:  ProfileLAN,
			StateDir: b.TempDir(),
			Labels:   units.Labels{"zone": "a"},
			Log:      slog.New(slog.DiscardHandler),
		}
		if k > 0 {
			cfg.Join = []string{nodes[0].Addr()}
		}
		nd, err := New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { nd.Close() })
		nodes = append(nodes, nd)
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, nd := range nodes {
		for len(readyOf(nd)) < n {
			if time.Now().After(deadline) {
				b.Fatalf("%s knows %d of %d", nd.Self(), len(readyOf(nd)), n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return nodes
}

func readyOf(n *Node) []string {
	var out []string
	for _, h := range n.Hosts() {
		if h.Status == Ready {
			out = append(out, h.Name)
		}
	}
	return out
}

func pct(d []time.Duration, p float64) float64 {
	s := slices.Clone(d)
	slices.Sort(s)
	return float64(s[min(len(s)-1, int(p*float64(len(s))))].Microseconds()) / 1000
}

// BenchmarkCatalogConvergence: from a unit applied on one host to every
// host knowing it (issue 9: p99 under 2 s with 20 hosts on lan).
func BenchmarkCatalogConvergence(b *testing.B) {
	for _, n := range []int{3, 20} {
		b.Run(fmt.Sprintf("hosts=%d", n), func(b *testing.B) {
			nodes := fleetOf(b, n)
			var took []time.Duration
			for b.Loop() {
				for r := range 20 {
					name := fmt.Sprintf("u%d-%d", len(took), r)
					t0 := time.Now()
					nodes[r%n].SetUnit(name, []byte("kind = \"replicated\"\n"))
					for _, nd := range nodes {
						for {
							if _, ok := nd.Catalog().Get(name); ok {
								break
							}
							if time.Since(t0) > 30*time.Second {
								b.Fatalf("%s never heard of %s", nd.Self(), name)
							}
							time.Sleep(time.Millisecond)
						}
					}
					took = append(took, time.Since(t0))
				}
			}
			if testing.Verbose() {
				s := slices.Clone(took)
				slices.Sort(s)
				b.Logf("took: %v", s)
			}
			b.ReportMetric(pct(took, 0.5), "p50-ms")
			b.ReportMetric(pct(took, 0.99), "p99-ms")
		})
	}
}

// BenchmarkDeathDetection: from a host's gossip stopping (Close, no
// goodbye) to every other host showing it NotReady.
func BenchmarkDeathDetection(b *testing.B) {
	for _, n := range []int{3, 20} {
		b.Run(fmt.Sprintf("hosts=%d", n), func(b *testing.B) {
			var took []time.Duration
			for b.Loop() {
				for range 5 {
					nodes := fleetOf(b, n)
					victim := nodes[n-1]
					t0 := time.Now()
					victim.Close()
					for _, nd := range nodes[:n-1] {
						for {
							if h := hostMap(nd.Hosts())[victim.Self()]; h.Status == NotReady {
								break
							}
							if time.Since(t0) > 60*time.Second {
								b.Fatalf("%s never saw %s die", nd.Self(), victim.Self())
							}
							time.Sleep(time.Millisecond)
						}
					}
					took = append(took, time.Since(t0))
					for _, nd := range nodes {
						nd.Close()
					}
				}
			}
			b.ReportMetric(pct(took, 0.5), "p50-ms")
			b.ReportMetric(pct(took, 0.99), "max-ms")
		})
	}
}

// BenchmarkGossipAtRest: the bytes a host sends a second with nothing
// changing, 20 hosts, 200 units in the catalog and 50 instance summaries
// per host (1000 in the fleet), from memberlist's own counters (UDP
// gossip and probes, TCP push/pull).
func BenchmarkGossipAtRest(b *testing.B) {
	const n, unitsN, perHost = 20, 200, 50
	nodes := fleetOf(b, n)
	spec := []byte(strings.Repeat("# a unit file of about three hundred bytes\n", 7))
	for k := range unitsN {
		nodes[k%n].SetUnit(fmt.Sprintf("unit-%03d", k), spec)
	}
	summary := []byte(strings.Repeat("s", 200))
	for _, nd := range nodes {
		for k := range perHost {
			nd.SetItem(fmt.Sprintf("i/%s-%02d", nd.Self(), k), summary)
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for _, nd := range nodes {
		for len(nd.Catalog().Entries()) < unitsN || len(nd.Items()) < (n-1)*perHost {
			if time.Now().After(deadline) {
				b.Fatalf("%s has %d units and %d items", nd.Self(), len(nd.Catalog().Entries()), len(nd.Items()))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	time.Sleep(3 * time.Second) // the broadcasts of the changes die out
	var perSec float64
	for b.Loop() {
		sink := metrics.NewInmemSink(time.Hour, time.Hour)
		cfg := metrics.DefaultConfig("bench")
		cfg.EnableHostname, cfg.EnableRuntimeMetrics = false, false
		metrics.NewGlobal(cfg, sink)
		const window = 20 * time.Second
		time.Sleep(window)
		var sent float64
		for _, iv := range sink.Data() {
			for name, c := range iv.Counters {
				if strings.Contains(name, "udp.sent") || strings.Contains(name, "tcp.sent") {
					sent += c.Sum
				}
			}
		}
		perSec = sent / window.Seconds() / n
	}
	b.ReportMetric(perSec, "B/s-per-host")
}
