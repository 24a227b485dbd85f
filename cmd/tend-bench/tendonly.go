package main

// The measurements only tend gets, for features the peers have no
// equivalent of (issue 5 item 3): probe CPU (issue 3), cron start lag and
// job throughput (issue 4). Each mirrors its Go benchmark in cmd/tend
// (BenchmarkProbeCPU1000, BenchmarkCronStartLag, BenchmarkJob1000) on the
// same workload as the rest of this program.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Figure IDs of the tend-only measurements, in tend's Figures.
const (
	probeCPUID       = "probe_cpu_pct"             // the agent's CPU, % of one core
	probeSysID       = "probe_cpu_sys_pct"         // the kernel's part of it
	probeSpanID      = "probe_span_ms"             // the part of each period that holds 90% of the probes' connections
	probeBusyID      = "probe_machine_busy_pct"    // the machine's busy share meanwhile
	probeRateID      = "probe_accepts_per_s"       // loopback connections accepted per second meanwhile (machine-wide)
	probeFloorTCPID  = "probe_floor_tcp_pct"       // connect+close from a plain Go client, at the moments the agent's probes connected
	probeFloorHTTPID = "probe_floor_http_pct"      // a minimal HTTP GET per connection, at the same moments
	probeFloorEvenID = "probe_floor_http_even_pct" // the same GETs spread evenly over the period
	probePeakID      = "probe_peak_pct"            // the share of the probes' connections in the busiest tenth of each period
	probeRSSID       = "probe_rss_mb"              // the agent's RSS with the probes running, MiB
	probePSSID       = "probe_pss_mb"              // its PSS, MiB
	cronP50ID        = "cron_lag_p50_ms"
	cronP99ID        = "cron_lag_p99_ms"
	jobID            = "job_s"
)

// probePeriod is the liveness probes' period.
const probePeriod = time.Second

// probeIDs are the figure IDs of one case of the probe measurement.
type probeIDs struct {
	cpu, sys, span, peak, rate, busy, rss, pss string
}

// The two cases: bursty, one unit of N replicas whose probes all start
// together; spread, N unit files of one replica whose first probes (and
// so all later ones) are spread evenly over the period by initial_delay.
var (
	burstyIDs = probeIDs{probeCPUID, probeSysID, probeSpanID, probePeakID, probeRateID, probeBusyID, probeRSSID, probePSSID}
	spreadIDs = probeIDs{"probe_spread_cpu_pct", "probe_spread_cpu_sys_pct", "probe_spread_span_ms", "probe_spread_peak_pct",
		"probe_spread_accepts_per_s", "probe_spread_machine_busy_pct", "probe_spread_rss_mb", "probe_spread_pss_mb"}
)

func (p probeIDs) all() []string {
	return []string{p.cpu, p.sys, p.span, p.peak, p.rate, p.busy, p.rss, p.pss}
}

// maxSpreadPeak is the most of its connections the busiest tenth of the
// period may hold in the spread case (evenly: 10%; the bursty case holds
// most of them): past it the probes did not spread, and the case fails
// rather than report a figure it did not measure. Checked from
// minSpreadCheck probes on, where they outnumber other connections on
// the machine.
const (
	maxSpreadPeak  = 25.0
	minSpreadCheck = 100
)

// tendUnit is tend's agent in --dev mode on given unit files: the
// tend-only measurements run through the same session machinery as the
// peers (its own process group, output to supervisor.log, everything
// stopped by pid).
type tendUnit struct {
	bin   string
	files []unitFile
}

func (u tendUnit) Name() string       { return "tend" }
func (u tendUnit) Package() string    { return "" }
func (u tendUnit) Programs() []string { return []string{u.bin} }

func (u tendUnit) Setup(dir string, _ spec) (*exec.Cmd, func(context.Context, *exec.Cmd) error, error) {
	cmd, err := tendAgent(u.bin, dir, u.files...)
	return cmd, signalRoot(syscall.SIGTERM), err
}

// runTendOnly takes the tend-only figures, and the scaling table, into
// each run's result; a failed one is recorded as an error for its figures
// and the next one is tried. The scaling table and the probe figures are
// taken for every run, taking turns; the rest for runs[0] only.
func (b *bench) runTendOnly(ctx context.Context, runs []tendRun) {
	c := b.cfg
	fmt.Fprintf(b.out, "scaling: N unit files of one sleeping replica each and one flapping unit, N = %s, %d restarts each\n", joinInts(c.scaleNs), c.scaleRestarts)
	for _, n := range c.scaleNs {
		for _, t := range runs {
			if ctx.Err() != nil {
				return
			}
			if err := b.scale(ctx, t, n); err != nil {
				t.r.fail(err, scaleIDs(n)...)
				b.progress("%-12s N=%d failed: %v", t.name, n, err)
			}
		}
	}
	fmt.Fprintf(b.out, "tend only: probe CPU: %d instances, an HTTP liveness probe each every %s, over %s\n", c.probeN, probePeriod, c.probeWindow)
	for _, spread := range []bool{false, true} {
		ids, what := burstyIDs, "bursty, one unit of replicas"
		if spread {
			ids, what = spreadIDs, "spread evenly, a unit file each"
		}
		for i, t := range runs {
			if ctx.Err() != nil {
				return
			}
			var err error
			if i == 0 && !spread {
				err = b.probeCPU(ctx, t, ids, what) // and its floor
			} else {
				_, err = b.probeAgent(ctx, t, spread, ids, what)
			}
			if err != nil {
				failed := ids.all()
				if i == 0 && !spread {
					failed = append(failed, probeFloorTCPID, probeFloorHTTPID, probeFloorEvenID)
				}
				t.r.fail(err, failed...)
				b.progress("%-12s %s: failed: %v", t.name, what, err)
			}
		}
	}
	steps := []struct {
		title string
		ids   []string
		run   func(context.Context, string, *supervisorResult) error
	}{
		{fmt.Sprintf("cron start lag: @every 1s, %d runs", c.cronRuns), []string{cronP50ID, cronP99ID}, b.cronLag},
		{fmt.Sprintf("job throughput: completions = %d, parallelism = %d", c.jobCompletions, c.jobParallelism), []string{jobID}, b.jobThroughput},
		{fmt.Sprintf("fleet: %d agents on loopback, lan profile, %d units, %d instances", c.fleetHosts, c.fleetUnits, c.fleetInstances), fleetIDs, b.fleetFigures},
		{fmt.Sprintf("re-execution: %d instances, %d handovers, then %d kills -9", c.reexecInstances, c.reexecRuns, c.reexecRuns), reexecIDs, b.reexecFigures},
		{fmt.Sprintf("failover: %d hosts of network and PID namespaces, lan profile, %d replicas, %d runs", failoverHosts, c.failoverReplicas, c.failoverRuns), failoverIDs, b.failoverFigures},
	}
	t := runs[0]
	for _, st := range steps {
		if ctx.Err() != nil {
			return
		}
		fmt.Fprintf(b.out, "tend only: %s\n", st.title)
		if err := st.run(ctx, t.bin, t.r); err != nil {
			t.r.fail(err, st.ids...)
			b.progress("%-12s failed: %v", t.name, err)
		}
	}
}

// freePort is a loopback TCP port nobody listens on just now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// probeCPU: probeN instances serving HTTP on one shared port, each with an
// HTTP liveness probe every second, all started at once; the agent's CPU
// over the window as a percentage of one core. Then the floor: what a
// plain Go client pays for the same connections at the same moments of
// the second, on servers of its own, and for the same GETs spread evenly
// over the second.
func (b *bench) probeCPU(ctx context.Context, t tendRun, ids probeIDs, what string) error {
	phases, err := b.probeAgent(ctx, t, false, ids, what)
	if err != nil {
		return err
	}
	r := t.r
	rounds := []struct {
		id     string
		phases []time.Duration
		http   bool
	}{
		{probeFloorTCPID, phases, false},
		{probeFloorHTTPID, phases, true},
		{probeFloorEvenID, evenPhases(len(phases), probePeriod), true},
	}
	err = b.withServers(ctx, len(phases), func(port int) error {
		for _, rd := range rounds {
			v, err := clientFloor(ctx, port, rd.phases, probePeriod, b.cfg.probeWindow, rd.http)
			if err != nil {
				return err
			}
			r.set(rd.id, v)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("probe floor: %w", err)
	}
	b.progress("%-12s connect+close %s%%, HTTP GET %s%% of one core at the agent's moments; HTTP GET spread evenly %s%%", "floor",
		fmtNum(r.Figures[probeFloorTCPID]), fmtNum(r.Figures[probeFloorHTTPID]), fmtNum(r.Figures[probeFloorEvenID]))
	return nil
}

// probeUnits are the unit files of the probe measurement: one unit of n
// replicas, or (spread) n unit files of one replica whose initial delays
// spread their probes over the period.
func probeUnits(spread bool, n, port int, stamp, file string) []unitFile {
	unit := func(label string, replicas int, delay time.Duration) string {
		return fmt.Sprintf(`kind = "replicated"
replicas = %d
[template]
labels = { app = %q }
command = [%q, %q, %q]
[template.liveness]
http_get = { path = "/", port = %d }
period = %q
initial_delay = %q
`, replicas, label, stamp, file, modeHTTP(port), port, probePeriod.String(), delay.String())
	}
	if !spread {
		return []unitFile{{"web", unit("web", n, 0)}}
	}
	out := make([]unitFile, n)
	for k, d := range spreadDelays(n, probePeriod) {
		name := unitName("web", k, n)
		out[k] = unitFile{name, unit(name, 1, d)}
	}
	return out
}

// spreadDelays are n initial delays that spread n probes evenly over the
// period: k·period/n, handed out to the units in a golden-ratio stride
// rather than in order. The agent starts its units one after another
// over some part of a period, and a probe's first run is its start plus
// its delay: delays rising with the start order would add up and bunch
// the probes where the two overlap, while the stride gives every run of
// consecutive units delays from all over the period.
func spreadDelays(n int, period time.Duration) []time.Duration {
	g := max(1, int(math.Round(float64(n)*(math.Sqrt(5)-1)/2)))
	for gcd(g, n) != 1 {
		g++
	}
	out := make([]time.Duration, n)
	for k := range out {
		out[k] = period * time.Duration(k*g%n) / time.Duration(n)
	}
	return out
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// probeAgent takes the agent's probe CPU and memory into t's result under
// ids, and returns when, within the second, its probes connected: one
// phase per probe.
func (b *bench) probeAgent(ctx context.Context, t tendRun, spread bool, ids probeIDs, what string) ([]time.Duration, error) {
	n := b.cfg.probeN
	r := t.r
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir := b.dir(t.peer(), "probes")
	if spread {
		dir += "-spread"
	}
	w := spec{stamp: b.stamp, file: filepath.Join(dir, "starts"), mode: modeHTTP(port), n: n}
	s, err := start(tendUnit{bin: t.bin, files: probeUnits(spread, n, port, w.stamp, w.file)}, dir, w)
	if err != nil {
		return nil, err
	}
	defer s.close()

	within := 30*time.Second + time.Duration(n)*60*time.Millisecond
	if _, err := waitStamps(ctx, w.file, n, within); err != nil {
		return nil, s.failed(fmt.Errorf("probe fleet: %w", err))
	}
	// Two periods, so that every instance has been probed and the agent's
	// start-up work is behind it; a third for the initial delays.
	wait := 2 * probePeriod
	if spread {
		wait += probePeriod
	}
	if err := sleepCtx(ctx, wait); err != nil {
		return nil, err
	}
	side := s.side()
	before, ok1 := cpuNS(side)
	sys0 := sysTicks(side)
	accepts0, okA := passiveOpens()
	busy0, total0 := machineBusy()
	start := time.Now()
	if err := sleepCtx(ctx, b.cfg.probeWindow); err != nil {
		return nil, err
	}
	after, ok2 := cpuNS(side)
	sys1 := sysTicks(side)
	accepts1, okB := passiveOpens()
	busy1, total1 := machineBusy()
	window := time.Since(start)
	if !ok1 || !ok2 {
		return nil, errors.New("probe CPU: /proc/PID/task/TID/schedstat unreadable")
	}
	if s.exited() {
		return nil, s.failed(errors.New("probe CPU: the agent exited during the window"))
	}
	if starts := len(parseStamps(mustRead(w.file))); starts != n {
		return nil, s.failed(fmt.Errorf("probe CPU: %d starts of %d instances by the end of the window: instances restarted (failing probes?)", starts, n))
	}
	if okA && okB {
		rate := float64(accepts1-accepts0) / window.Seconds()
		r.set(ids.rate, rate)
		// Every probe is one accepted connection; the count is the
		// machine's, so other work can only add to it.
		if want := float64(n) / probePeriod.Seconds(); rate < want/2 {
			return nil, fmt.Errorf("probe CPU: %.0f loopback connections accepted per second during the window, want about %.0f: the probes are not running", rate, want)
		}
	}
	pct := 100 * float64(delta(before, after)) / float64(window.Nanoseconds())
	r.set(ids.cpu, pct)
	r.set(ids.sys, 100*float64(delta(sys0, sys1))/clockTicks/window.Seconds())
	if total1 > total0 {
		r.set(ids.busy, 100*float64(busy1-busy0)/float64(total1-total0))
	}
	rss, err := rollupKB(side, "Rss")
	if err != nil {
		return nil, s.failed(fmt.Errorf("probe memory: %w", err))
	}
	pss, err := rollupKB(side, "Pss")
	if err != nil {
		return nil, s.failed(fmt.Errorf("probe memory: %w", err))
	}
	r.set(ids.rss, float64(rss)/1024)
	r.set(ids.pss, float64(pss)/1024)
	b.progress("%-12s %s: agent CPU %s%% of one core (%s%% in the kernel), RSS %s MiB, PSS %s MiB, %s connections accepted per second", t.name, what,
		fmtNum(pct), fmtNum(r.Figures[ids.sys]), fmtNum(r.Figures[ids.rss]), fmtNum(r.Figures[ids.pss]), fmtNum(r.Figures[ids.rate]))

	// When within the second the probes connect.
	hist, err := acceptHistogram(ctx, probePeriod, 2)
	if err != nil {
		return nil, fmt.Errorf("probe moments: %w", err)
	}
	r.set(ids.span, float64(coverWidth(hist, 0.9))*float64(histBin)/1e6)
	peak := peakShare(hist, 0.1)
	r.set(ids.peak, peak)
	b.progress("%-12s %s: 90%% of the probes connect within %s ms of each second; the busiest tenth of it holds %s%% of them", t.name, what,
		fmtNum(r.Figures[ids.span]), fmtNum(peak))
	if spread && n >= minSpreadCheck && peak > maxSpreadPeak {
		return nil, fmt.Errorf("the probes did not spread: the busiest tenth of the second holds %s%% of the connections, want at most %g%%", fmtNum(peak), maxSpreadPeak)
	}
	return histPhases(hist, n), nil
}

// sysTicks is the kernel part of cpuTicks: stime of each pid.
func sysTicks(pids []int) map[int]uint64 {
	out := make(map[int]uint64, len(pids))
	for _, pid := range pids {
		if st, err := readStat(pid); err == nil {
			out[pid] = st.stime
		}
	}
	return out
}

// histBin is the width of acceptHistogram's bins.
const histBin = time.Millisecond

// acceptHistogram samples the machine's count of accepted TCP connections
// every bin for periods periods and folds the new connections into the
// bins of one period by when they came.
func acceptHistogram(ctx context.Context, period time.Duration, periods int) ([]uint64, error) {
	hist := make([]uint64, period/histBin)
	last, ok := passiveOpens()
	if !ok {
		return nil, errors.New("/proc/net/snmp has no Tcp PassiveOpens")
	}
	t0 := time.Now()
	end := t0.Add(period * time.Duration(periods))
	for time.Now().Before(end) {
		if err := sleepCtx(ctx, histBin); err != nil {
			return nil, err
		}
		v, ok := passiveOpens()
		if !ok {
			return nil, errors.New("/proc/net/snmp unreadable")
		}
		bin := (time.Since(t0) % period) / histBin
		hist[bin] += v - last
		last = v
	}
	return hist, nil
}

// coverWidth is the fewest consecutive bins (wrapping around the period)
// that hold frac of the histogram's total.
func coverWidth(hist []uint64, frac float64) int {
	var total uint64
	for _, c := range hist {
		total += c
	}
	if total == 0 {
		return 0
	}
	need := frac * float64(total)
	n := len(hist)
	best := n
	var sum uint64
	lo := 0
	for hi := 0; hi < 2*n; hi++ {
		sum += hist[hi%n]
		for lo <= hi && float64(sum-hist[lo%n]) >= need {
			sum -= hist[lo%n]
			lo++
		}
		if float64(sum) >= need && hi-lo+1 < best {
			best = hi - lo + 1
		}
	}
	return best
}

// peakShare is the percentage of the histogram's total that its busiest
// window of frac of its bins holds (wrapping around the period): 100·frac
// for connections spread evenly, up to 100 for a burst.
func peakShare(hist []uint64, frac float64) float64 {
	var total uint64
	for _, c := range hist {
		total += c
	}
	n := len(hist)
	width := max(1, int(math.Round(frac*float64(n))))
	if total == 0 || width >= n {
		return 100 * min(frac, 1)
	}
	var sum, best uint64
	for i := range width {
		sum += hist[i]
	}
	best = sum
	for lo := 1; lo < n; lo++ {
		sum += hist[(lo+width-1)%n] - hist[lo-1]
		best = max(best, sum)
	}
	return 100 * float64(best) / float64(total)
}

// histPhases turns a histogram of connections into n phases distributed
// as they were: each bin gets its share of n (rounded so that they add up
// to n) at its start.
func histPhases(hist []uint64, n int) []time.Duration {
	var total uint64
	for _, c := range hist {
		total += c
	}
	if total == 0 {
		return evenPhases(n, time.Duration(len(hist))*histBin)
	}
	out := make([]time.Duration, 0, n)
	var cum uint64
	for b, c := range hist {
		prev := int((cum*uint64(n) + total/2) / total)
		cum += c
		for range int((cum*uint64(n)+total/2)/total) - prev {
			out = append(out, time.Duration(b)*histBin)
		}
	}
	return out
}

// withServers starts n HTTP servers of the workload on a port of their
// own, without a supervisor, runs f with the port, and kills them by pid.
func (b *bench) withServers(ctx context.Context, n int, f func(port int) error) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	file := filepath.Join(b.work, fmt.Sprintf("floor-servers-%d", port))
	argv := []string{b.stamp, file, modeHTTP(port)}
	attr := &syscall.ProcAttr{Env: []string{}, Sys: &syscall.SysProcAttr{Setpgid: true}}
	var pids []int
	defer func() {
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		for _, pid := range pids {
			var ws syscall.WaitStatus
			syscall.Wait4(pid, &ws, 0, nil)
		}
	}()
	for range n {
		pid, err := syscall.ForkExec(b.stamp, argv, attr)
		if err != nil {
			return fmt.Errorf("start a server: %w", err)
		}
		pids = append(pids, pid)
	}
	if _, err := waitStamps(ctx, file, n, 30*time.Second); err != nil {
		return fmt.Errorf("servers: %w", err)
	}
	// A server that could not bind the port exits 4 at once.
	if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
		return err
	}
	if left := stillRunning(pids); len(left) != len(pids) {
		return fmt.Errorf("%d of %d servers exited at once (port %d taken?)", len(pids)-len(left), len(pids), port)
	}
	return f(port)
}

func mustRead(path string) []byte {
	data, _ := os.ReadFile(path)
	return data
}

// httpRequest is the floor's request: what a probe sends, give or take
// its headers.
const httpRequest = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: tend-bench\r\nAccept: */*\r\nConnection: close\r\n\r\n"

// clientFloor is this process's CPU, as a percentage of one core, while
// one goroutine per phase opens a loopback connection to port and closes
// it at once (withHTTP: after a GET and its whole answer), once a period,
// each starting at its phase and looping as an agent's probe does: probe,
// then sleep until a period after the probe began. It is what the kernel
// and Go's runtime ask for that many probes a period, with nothing of a
// supervisor around them; this program is otherwise asleep meanwhile.
func clientFloor(ctx context.Context, port int, phases []time.Duration, period, window time.Duration, withHTTP bool) (float64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	var failed atomic.Int64
	var firstErr atomic.Value
	one := func() {
		dctx, dcancel := context.WithTimeout(ctx, period)
		defer dcancel()
		d := net.Dialer{KeepAlive: -1} // as the agent's probes dial
		c, err := d.DialContext(dctx, "tcp", addr)
		if err == nil && withHTTP {
			c.SetDeadline(time.Now().Add(period))
			if _, err = io.WriteString(c, httpRequest); err == nil {
				var buf [512]byte
				var got []byte
				for {
					k, rerr := c.Read(buf[:])
					got = append(got, buf[:k]...)
					if rerr != nil {
						if !errors.Is(rerr, io.EOF) {
							err = rerr
						}
						break
					}
				}
				if err == nil && !bytes.HasPrefix(got, []byte("HTTP/1.1 200 ")) {
					err = fmt.Errorf("answer %q", got)
				}
			}
		}
		if c != nil {
			c.Close()
		}
		if err != nil && ctx.Err() == nil {
			failed.Add(1)
			firstErr.CompareAndSwap(nil, err)
		}
	}
	var wg sync.WaitGroup
	t0 := time.Now()
	for _, ph := range phases {
		wg.Go(func() {
			if !sleepUntil(ctx, t0.Add(ph)) {
				return
			}
			for {
				began := time.Now()
				one()
				if !sleepUntil(ctx, began.Add(period)) {
					return
				}
			}
		})
	}
	// One period to get going, then the window.
	err := sleepCtx(ctx, period+period/10)
	var cpu0, cpu1 time.Duration
	var t time.Time
	if err == nil {
		cpu0, t = selfCPU(), time.Now()
		err = sleepCtx(ctx, window)
		cpu1 = selfCPU()
	}
	elapsed := time.Since(t)
	cancel()
	wg.Wait()
	if err != nil {
		return 0, err
	}
	if k := failed.Load(); k > 0 {
		return 0, fmt.Errorf("%d connections failed, the first: %v", k, firstErr.Load())
	}
	return 100 * float64(cpu1-cpu0) / float64(elapsed), nil
}

// sleepUntil waits until t or until ctx is done, and reports whether t
// came first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	return sleepCtx(ctx, time.Until(t)) == nil
}

// evenPhases spreads n phases evenly over the period.
func evenPhases(n int, period time.Duration) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = period * time.Duration(i) / time.Duration(n)
	}
	return out
}

// selfCPU is this process's user+system CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// passiveOpens is the Tcp PassiveOpens counter of /proc/net/snmp: TCP
// connections accepted in this network namespace since boot.
func passiveOpens() (uint64, bool) {
	data, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return 0, false
	}
	return parsePassiveOpens(data)
}

func parsePassiveOpens(data []byte) (uint64, bool) {
	var header []string
	for line := range strings.SplitSeq(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "Tcp:" {
			continue
		}
		if header == nil {
			header = f
			continue
		}
		for i, name := range header {
			if name == "PassiveOpens" && i < len(f) {
				v, err := strconv.ParseUint(f[i], 10, 64)
				return v, err == nil
			}
		}
		return 0, false
	}
	return 0, false
}

// cronLag: an @every 1s cron unit whose runs exit 0 at once; the lag of
// each run from its scheduled time (a whole second) to the workload's own
// CLOCK_REALTIME stamp.
func (b *bench) cronLag(ctx context.Context, tendBin string, r *supervisorResult) error {
	runs := b.cfg.cronRuns
	dir := b.dir(tendPeer{}, "cron")
	w := spec{stamp: b.stamp, file: filepath.Join(dir, "starts"), mode: modeOK, n: 1}
	unit := fmt.Sprintf(`kind = "cron"
schedule = "@every 1s"
successful_history = 1
[template]
command = [%q, %q, %q]
`, w.stamp, w.file, w.mode)
	s, err := start(tendUnit{bin: tendBin, files: []unitFile{{"tick", unit}}}, dir, w)
	if err != nil {
		return err
	}
	defer s.close()
	// The first run may be the one the agent's start fell into: skipped.
	within := time.Duration(runs)*2*time.Second + 15*time.Second
	if _, err := waitStamps(ctx, w.file, runs+1, within); err != nil {
		return s.failed(fmt.Errorf("cron: %w", err))
	}
	walls := parseColumn(mustRead(w.file), colWall)
	slices.Sort(walls)
	lags, err := cronLags(walls[1 : runs+1])
	if err != nil {
		return s.failed(fmt.Errorf("cron: %w", err))
	}
	slices.Sort(lags)
	r.set(cronP50ID, percentile(lags, 0.50))
	r.set(cronP99ID, percentile(lags, 0.99))
	b.progress("%-12s lag p50 %s ms, p99 %s ms", "tend", fmtNum(r.Figures[cronP50ID]), fmtNum(r.Figures[cronP99ID]))
	return nil
}

// cronLags are the lags, in ms, of an @every 1s cron's consecutive runs
// from their scheduled whole seconds, given the runs' CLOCK_REALTIME start
// stamps in order. A run's second is the one its stamp falls in, which
// holds only while every lag is under a second: consecutive runs must
// fall in consecutive seconds, or a run was a second late or missed.
func cronLags(walls []int64) ([]float64, error) {
	sec := int64(time.Second)
	var out []float64
	for i, w := range walls {
		if i > 0 && w/sec != walls[i-1]/sec+1 {
			return nil, fmt.Errorf("runs %d and %d started in seconds %d and %d, want consecutive seconds: a run was late by a second or more, or missed",
				i, i+1, walls[i-1]/sec, w/sec)
		}
		out = append(out, float64(w%sec)/1e6)
	}
	return out, nil
}

// jobStatus is what the throughput measurement reads from
// `tend get job NAME -o json`.
type jobStatus struct {
	Condition      string    `json:"condition"`
	Reason         string    `json:"reason"`
	Succeeded      int       `json:"succeeded"`
	Failed         int       `json:"failed"`
	StartTime      time.Time `json:"start_time"`
	CompletionTime time.Time `json:"completion_time"`

	// A tend.io/v1 Unit, as tend prints it since it has objects; the
	// fields above are the flat form of older tend binaries
	// (-tend-before).
	APIVersion string `json:"apiVersion"`
	Status     struct {
		Succeeded      int       `json:"succeeded"`
		Failed         int       `json:"failed"`
		StartTime      time.Time `json:"startTime"`
		CompletionTime time.Time `json:"completionTime"`
		Conditions     []struct {
			Type   string `json:"type"`
			Status string `json:"status"`
			Reason string `json:"reason"`
		} `json:"conditions"`
	} `json:"status"`
}

// flat takes a tend.io/v1 object's fields into the flat ones.
func (j *jobStatus) flat() {
	if j.APIVersion == "" {
		return
	}
	st := j.Status
	j.Succeeded, j.Failed, j.StartTime, j.CompletionTime = st.Succeeded, st.Failed, st.StartTime, st.CompletionTime
	for _, c := range st.Conditions {
		if (c.Type == "Complete" || c.Type == "Failed") && c.Status == "True" {
			j.Condition, j.Reason = c.Type, c.Reason
		}
	}
}

// jobDone reads a job's status: done is false while it runs; a job that
// ended other than with every completion is an error.
func jobDone(data []byte, completions int) (secs float64, done bool, err error) {
	var j jobStatus
	if err := json.Unmarshal(data, &j); err != nil {
		return 0, false, fmt.Errorf("tend get job -o json: %w", err)
	}
	j.flat()
	switch {
	case j.Condition == "":
		return 0, false, nil
	case j.Condition != "Complete" || j.Succeeded != completions:
		return 0, true, fmt.Errorf("job ended %s (%s) with %d succeeded and %d failed, want Complete with %d", j.Condition, j.Reason, j.Succeeded, j.Failed, completions)
	case j.StartTime.IsZero() || j.CompletionTime.Before(j.StartTime):
		return 0, true, fmt.Errorf("job Complete with start %s and completion %s", j.StartTime, j.CompletionTime)
	}
	return j.CompletionTime.Sub(j.StartTime).Seconds(), true, nil
}

// jobThroughput: a job of jobCompletions completions, jobParallelism at a
// time, of a workload that exits 0 at once; the figure is the job's
// duration as the agent records it, start to completion. Its status is
// read every 100 ms, a CLI run each: the figure does not depend on when
// it is read, and faster polling would take CPU from the job.
func (b *bench) jobThroughput(ctx context.Context, tendBin string, r *supervisorResult) error {
	c := b.cfg
	dir := b.dir(tendPeer{}, "job")
	w := spec{stamp: b.stamp, file: filepath.Join(dir, "starts"), mode: modeOK, n: c.jobCompletions}
	const name = "thousand"
	unit := fmt.Sprintf(`kind = "job"
completions = %d
parallelism = %d
[template]
command = [%q, %q, %q]
restart = "never"
`, c.jobCompletions, c.jobParallelism, w.stamp, w.file, w.mode)
	s, err := start(tendUnit{bin: tendBin, files: []unitFile{{name, unit}}}, dir, w)
	if err != nil {
		return err
	}
	defer s.close()
	sock := filepath.Join(dir, ".tend", "tend.sock")
	within := 30*time.Second + time.Duration(c.jobCompletions)*30*time.Millisecond
	deadline := time.Now().Add(within)
	var last []byte
	for {
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		out, err := exec.CommandContext(qctx, tendBin, "--socket", sock, "get", "job", name, "-o", "json").Output()
		cancel()
		if err == nil {
			last = out
			secs, done, err := jobDone(out, c.jobCompletions)
			if err != nil {
				return s.failed(err)
			}
			if done {
				if starts := len(parseStamps(mustRead(w.file))); starts < c.jobCompletions {
					return s.failed(fmt.Errorf("job Complete after %d workload starts, want %d or more", starts, c.jobCompletions))
				}
				r.set(jobID, secs)
				b.progress("%-12s %d completions in %s s", "tend", c.jobCompletions, fmtNum(secs))
				return nil
			}
		}
		if time.Now().After(deadline) {
			return s.failed(fmt.Errorf("job not complete after %s; last status: %s", within, bytes.TrimSpace(last)))
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}
