package cluster

import (
	"fmt"
	"log/slog"
	"math"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-metrics"
	"github.com/hashicorp/memberlist"

	"github.com/tendhq/tend/units"
)

// Benchmarks of the lan profile on loopback, each node in this process on
// a port of its own. Each reports percentiles over its own repetitions
// (make bench runs each once).

// fleetOf starts n nodes on the lan profile, all joined, and waits until
// every one knows every other.
func fleetOf(b *testing.B, n int) []*Node { return fleetWith(b, n, nil) }

// fleetWith is fleetOf with tune, when not nil, changing each node's
// memberlist configuration last.
func fleetWith(b *testing.B, n int, tune func(*memberlist.Config)) []*Node {
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
			tune:     tune,
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
	// Now and then a member misses the broadcast of another's join and
	// would learn of it at its next push/pull (20 s at 50 hosts): one
	// still short after two seconds pushes/pulls with the first at once.
	began := time.Now()
	deadline := began.Add(30 * time.Second)
	for _, nd := range nodes {
		pulled := false
		for len(readyOf(nd)) < n {
			if time.Now().After(deadline) {
				b.Fatalf("%s knows %d of %d", nd.Self(), len(readyOf(nd)), n)
			}
			if !pulled && time.Since(began) > 2*time.Second {
				peer := nodes[0]
				if peer == nd {
					peer = nodes[1]
				}
				nd.Join(peer.Addr())
				pulled = true
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
	metrics.Shutdown() // the sink would take every metric of the benchmarks after
	b.ReportMetric(perSec, "B/s-per-host")
}

// Load of BenchmarkScale, chosen to look like a small fleet at work: a
// catalog of scaleUnits unit files of ~300 bytes, and scalePerHost
// instances on every host, each summary a supervisor.InstanceSummary's
// JSON (~290 bytes).
const (
	scaleUnits   = 100
	scalePerHost = 10
)

// scaleSummary is an instance summary as the supervisor publishes one.
func scaleSummary(host string, k int) (key string, data []byte) {
	name := fmt.Sprintf("web-frontend-%05d", k)
	data = fmt.Appendf(nil, `{"name":%q,"unit":"web-frontend","kind":"replicated","slot":%d,"host":%q,`+
		`"labels":{"app":"web","tier":"frontend"},"life":"Running","ready":true,"restarts":2,`+
		`"created":"2026-12-01T22:37:56.123456789Z","started":"2026-12-01T22:38:01.512345678Z","status":"Running","pid":%d}`,
		name, k, host, 100000+k)
	return "i/" + name, data
}

// BenchmarkScale: fleets of 20, 50 and 100 hosts in this process, each
// with the load above, reporting how long the load took to reach every
// host (load-s: every host publishing its summaries at once, as at a
// fleet's boot), catalog convergence (a unit set on one host until every
// host has it, 20 times), the bytes a host sends a
// second at rest (memberlist's own counters, over a window of at least
// one push/pull interval as memberlist scales it), the suspicions raised
// meanwhile (0 on a stable fleet), the CPU this process used (of one
// CPU), and the bytes of tend's part of one push/pull. Then, without a
// network, the size of tend's part of a push/pull for fleets too large to
// run here.
//
// 20 and 50 hosts run the lan profile as it is. 100 do not fit on a
// two-CPU machine with it: memberlist compresses every UDP packet with a
// fresh LZW writer (64 KB of table each), and 100 members sending ~30
// packets a second each kept both CPUs busy with no load at all (187 %,
// half of it allocation and GC); acks then miss the 100 ms probe
// timeout, suspicions and refutations multiply the packets, and hosts
// are declared dead (69,471 suspicions and 767 deaths in 15 s). So 100
// hosts run the lan profile's timings with memberlist's compression off,
// named so: the times are those of the timings, the bytes those of
// uncompressed push/pulls (a row {50, noCompression, ...} shows the
// difference: three to four times the TCP bytes). Even so, 100 members
// sharing two CPUs and one heap are on the edge: with Go's default GOGC,
// the 100-host fleet fell into a suspicion storm (thousands of
// suspicions, hosts declared dead) in nine runs of 25; benchFleet
// sets GOGC to 400 for that reason. The suspects figure says whether a
// run was stable.
func BenchmarkScale(b *testing.B) {
	noCompression := func(c *memberlist.Config) { c.EnableCompression = false }
	for _, c := range []struct {
		n    int
		tune func(*memberlist.Config)
		name string
	}{
		{20, nil, ""},
		{50, nil, ""},
		{100, noCompression, "/compression=off"},
	} {
		b.Run(fmt.Sprintf("hosts=%d%s", c.n, c.name), func(b *testing.B) { benchFleet(b, c.n, c.tune) })
	}
	for _, hosts := range []int{20, 100, 1000, 5000} {
		for _, per := range []int{10, 100} {
			b.Run(fmt.Sprintf("state/hosts=%d/instances=%d", hosts, per), func(b *testing.B) {
				nd := syntheticNode(hosts, per, scaleUnits)
				var size int
				for b.Loop() {
					size = len(nd.localState())
				}
				b.ReportMetric(float64(size), "pushpull-B")
			})
		}
	}
	for _, u := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("state/units=%d", u), func(b *testing.B) {
			nd := syntheticNode(1, 0, u)
			var size int
			for b.Loop() {
				size = len(nd.localState())
			}
			b.ReportMetric(float64(size), "pushpull-B")
		})
	}
}

func benchFleet(b *testing.B, n int, tune func(*memberlist.Config)) {
	began := time.Now()
	phase := func(what string) {
		if testing.Verbose() {
			b.Logf("%s after %v", what, time.Since(began).Round(time.Millisecond))
		}
	}
	// One heap holds every member's garbage here, and its collector's
	// assists stall whichever member allocates: GOGC 400 keeps that
	// nearer an agent with a heap (and CPUs) of its own.
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	nodes := fleetWith(b, n, tune)
	phase("up")
	loading := time.Now()
	spec := []byte(strings.Repeat("# a unit file of about three hundred bytes\n", 7))
	for k := range scaleUnits {
		nodes[k%n].SetUnit(fmt.Sprintf("unit-%03d", k), spec)
	}
	for _, nd := range nodes {
		for k := range scalePerHost {
			nd.SetItem(scaleSummary(nd.Self(), k))
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for _, nd := range nodes {
		for len(nd.Catalog().Entries()) < scaleUnits || len(nd.Items()) < (n-1)*scalePerHost {
			if time.Now().After(deadline) {
				b.Fatalf("%s has %d units and %d items", nd.Self(), len(nd.Catalog().Entries()), len(nd.Items()))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	load := time.Since(loading)
	phase("loaded")
	quiet(b, nodes)
	phase("quiet")

	var took []time.Duration
	for r := range 20 {
		name := fmt.Sprintf("conv-%d", r)
		t0 := time.Now()
		nodes[r*7%n].SetUnit(name, []byte("kind = \"replicated\"\n"))
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
	phase("converged")
	quiet(b, nodes)
	phase("quiet")

	window := max(20*time.Second, pushPullEvery(10*time.Second, n))
	var udp, tcp, suspects float64
	var cpu time.Duration
	for b.Loop() {
		sink := metrics.NewInmemSink(time.Hour, time.Hour)
		cfg := metrics.DefaultConfig("bench")
		cfg.EnableHostname, cfg.EnableRuntimeMetrics = false, false
		metrics.NewGlobal(cfg, sink)
		cpu0 := cpuTime()
		time.Sleep(window)
		cpu = cpuTime() - cpu0
		for _, iv := range sink.Data() {
			for name, c := range iv.Counters {
				// An if chain: a tagless switch here makes go1.26.8's
				// compiler panic (escape analysis of b.Loop's body).
				if strings.Contains(name, "udp.sent") {
					udp += c.Sum
				} else if strings.Contains(name, "tcp.sent") {
					tcp += c.Sum
				} else if strings.Contains(name, "msg.suspect") {
					suspects += c.Sum
				}
			}
		}
	}
	// Back to go-metrics' own start, which drops every metric at once (a
	// global with a BlackholeSink still builds each one's key and locks
	// the filter: 100 members pay for that on every packet).
	metrics.Shutdown()
	for _, nd := range nodes {
		if got := len(readyOf(nd)); got != n {
			b.Errorf("after the window %s sees %d of %d hosts Ready", nd.Self(), got, n)
		}
	}
	per := window.Seconds() * float64(n)
	if testing.Verbose() {
		s := slices.Clone(took)
		slices.Sort(s)
		b.Logf("took: %v; window %v", s, window)
	}
	b.ReportMetric(load.Seconds(), "load-s")
	b.ReportMetric(pct(took, 0.5), "p50-ms")
	b.ReportMetric(pct(took, 0.99), "p99-ms")
	b.ReportMetric((udp+tcp)/per, "B/s-per-host")
	b.ReportMetric(udp/per, "udp-B/s")
	b.ReportMetric(tcp/per, "tcp-B/s")
	b.ReportMetric(suspects, "suspects")
	b.ReportMetric(100*cpu.Seconds()/window.Seconds(), "cpu-%")
	b.ReportMetric(float64(len(nodes[0].localState())), "pushpull-B")
}

// quiet waits until the broadcasts of the changes made have died out:
// only each host's catalog sum is left in the queues.
func quiet(b *testing.B, nodes []*Node) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		queued := 0
		for _, nd := range nodes {
			queued += nd.queue.NumQueued()
		}
		if queued <= len(nodes) {
			return
		}
		if time.Now().After(deadline) {
			b.Logf("still %d broadcasts queued after 30 s", queued)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// cpuTime is the CPU this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// pushPullEvery is how often a host starts a push/pull in a fleet of n:
// memberlist stretches PushPullInterval beyond 32 hosts (util.go,
// pushPullScale).
func pushPullEvery(interval time.Duration, n int) time.Duration {
	if n <= 32 {
		return interval
	}
	return time.Duration(math.Ceil(math.Log2(float64(n))-5)+1) * interval
}

// syntheticNode is a Node without a network holding the state a host of
// a fleet of hosts would: units catalog entries and perHost instance
// summaries of every host.
func syntheticNode(hosts, perHost, unitsN int) *Node {
	clock := NewHLC(nil)
	n := &Node{cfg: Config{Name: "h0000"}, clock: clock, catalog: NewCatalog("h0000", clock), state: newHostState()}
	spec := []byte(strings.Repeat("# a unit file of about three hundred bytes\n", 7))
	for k := range unitsN {
		n.catalog.Set(fmt.Sprintf("unit-%05d", k), append(spec, fmt.Sprint(k)...))
	}
	for h := range hosts {
		host := fmt.Sprintf("h%04d", h)
		for k := range perHost {
			key, data := scaleSummary(host, k)
			n.state.merge(Item{Host: host, Key: key, Stamp: clock.Now(), Data: data})
		}
	}
	return n
}
