package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/supervisor"
)

func TestPercentile(t *testing.T) {
	sorted := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, tc := range []struct {
		p    float64
		want float64
	}{
		{0, 1}, {0.5, 5}, {0.99, 9}, {1, 10},
	} {
		if got := percentile(sorted, tc.p); got != tc.want {
			t.Errorf("percentile(%v) = %v, want %v", tc.p, got, tc.want)
		}
	}
	if got := percentile(nil, 0.5); got != 0 {
		t.Errorf("percentile of nothing = %v, want 0", got)
	}
	if got := percentile([]float64{7}, 0.99); got != 7 {
		t.Errorf("percentile of one = %v, want 7", got)
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{1, 2, 10}, 2}, {[]float64{1, 2, 4, 10}, 3}} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
	sups := []supervisorResult{{Name: "tend", BackgroundBusy: f(1)}, {Name: "runit", BackgroundBusy: f(2)}}
	if n := busyNote(sups); n != "machine CPU busy during the idle windows: tend 1%, runit 2%" {
		t.Errorf("quiet machine: %q", n)
	}
	sups[1].BackgroundBusy = f(60)
	if n := busyNote(sups); !strings.Contains(n, "other work was running") {
		t.Errorf("busy machine: %q", n)
	}
	busy, total, err := parseProcStat([]byte("cpu  10 1 5 80 4 0 0 0 0 0\ncpu0 1 1 1 1 1 0 0 0 0 0\n"))
	if err != nil || busy != 16 || total != 100 {
		t.Errorf("parseProcStat = %d, %d, %v; want 16 of 100", busy, total, err)
	}
}

func TestParseStamps(t *testing.T) {
	// Two columns, monotonic and wall; a foreign line is skipped, and so
	// is a last line without its newline (it may be half written).
	data := []byte("100 1000\n250 2500\ntorn\n\n400 4000\n12 1")
	got := parseStamps(data)
	if want := []int64{100, 250, 400}; !slices.Equal(got, want) {
		t.Fatalf("parseStamps = %v, want %v", got, want)
	}
	if got, want := parseColumn(data, colWall), []int64{1000, 2500, 4000}; !slices.Equal(got, want) {
		t.Fatalf("wall column = %v, want %v", got, want)
	}
	if gaps := gapsMS([]int64{0, 1_500_000, 2_000_000}); !slices.Equal(gaps, []float64{1.5, 0.5}) {
		t.Errorf("gapsMS = %v", gaps)
	}
	// Concurrent starts append out of order: the n-th start is by time.
	if got := nthStamp([]int64{30, 10, 20}, 2); got != 20 {
		t.Errorf("nthStamp = %d, want 20", got)
	}
}

func TestParsePSS(t *testing.T) {
	rollup := `55a4c5f6e000-7ffc2b3f5000 ---p 00000000 00:00 0                          [rollup]
Rss:                9876 kB
Pss:                4321 kB
Pss_Dirty:          1000 kB
Pss_Anon:           3000 kB
Shared_Clean:        400 kB
`
	got, err := parsePSS([]byte(rollup))
	if err != nil || got != 4321 {
		t.Fatalf("parsePSS = %d, %v; want 4321 (Pss, not Pss_Dirty or Pss_Anon)", got, err)
	}
	if _, err := parsePSS([]byte("Rss: 1 kB\n")); err == nil {
		t.Error("parsePSS without a Pss line: no error")
	}
	if _, err := parsePSS([]byte("Pss: 12 MB\n")); err == nil {
		t.Error("parsePSS in MB: no error")
	}
}

// The parts the scaling table shows are the whole PSS: this process's
// own, read as the agent's is.
func TestPSSPartsAddUp(t *testing.T) {
	data, err := os.ReadFile("/proc/self/smaps_rollup")
	if err != nil {
		t.Skipf("no smaps_rollup: %v", err)
	}
	if _, err := parseRollup(data, "Pss_Anon"); err != nil {
		t.Skipf("a kernel before 5.6 does not split PSS: %v", err)
	}
	whole, err := parsePSS(data)
	if err != nil {
		t.Fatal(err)
	}
	file, anon, err := pssParts(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Read twice, a moment apart: the heap may have moved by a page or
	// a hundred meanwhile.
	if d := file + anon - whole; d < -512 || d > 512 || file == 0 || anon == 0 {
		t.Errorf("PSS %d kB; its parts: files %d kB + anonymous %d kB = %d kB", whole, file, anon, file+anon)
	}
}

func TestParseStat(t *testing.T) {
	// A command name with spaces and a ')' of its own.
	stat := "1234 (we ird) name) S 77 1234 1234 0 -1 4194560 100 0 0 0 42 17 0 0 20 0 1 0 5 1000 10\n"
	got, err := parseStat([]byte(stat))
	if err != nil {
		t.Fatal(err)
	}
	if got.state != 'S' || got.ppid != 77 || got.utime != 42 || got.stime != 17 {
		t.Errorf("parseStat = %+v, want state S ppid 77 utime 42 stime 17", got)
	}
	if _, err := parseStat([]byte("1 (x) S 0")); err == nil {
		t.Error("short stat: no error")
	}
	if v, err := parseSchedstat([]byte("7572887 55124 12\n")); err != nil || v != 7572887 {
		t.Errorf("parseSchedstat = %d, %v", v, err)
	}
}

func TestDescendants(t *testing.T) {
	snap := map[int]proc{
		1:  {pid: 1, ppid: 0},
		10: {pid: 10, ppid: 1},
		11: {pid: 11, ppid: 10},
		12: {pid: 12, ppid: 11},
		20: {pid: 20, ppid: 1},
	}
	got := descendants(snap, 10)
	if want := []int{11, 12}; !slices.Equal(got, want) {
		t.Errorf("descendants(10) = %v, want %v", got, want)
	}
	if got := descendants(snap, 20); len(got) != 0 {
		t.Errorf("descendants(20) = %v, want none", got)
	}
	if d := delta(map[int]uint64{1: 5, 2: 9}, map[int]uint64{1: 8, 3: 100}); d != 3 {
		t.Errorf("delta = %d, want 3 (only pids present in both)", d)
	}
}

func f(v float64) *float64 { return &v }

// sample is a run with tend and two peers, one of them without a stop
// figure and one skipped.
func sample() results {
	return results{
		Date:    time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC),
		Command: "tend-bench -smoke",
		Machine: machine{CPUs: 2, Model: "Test CPU", Kernel: "6.1", Go: "go1.26", Tmpfs: true},
		Sizes: sizes{Restarts: 3, N: []int{10, 100}, IdleSeconds: 2, FloorRuns: 20,
			ScaleN: []int{10, 100, 1000}, ScaleRestarts: 200, ScaleTimeoutSeconds: 300, Resyncs: 20,
			ProbeN: 1000, ProbeWindowSeconds: 15, CronRuns: 30, JobCompletions: 1000, JobParallelism: 50,
			FleetHosts: 20, FleetUnits: 200, FleetInstances: 1000, FleetApplies: 20, FleetKills: 3,
			FailoverRuns: 20, FailoverReplicas: 6, FailoverPollMS: 10},
		FloorP50: f(0.4), FloorP99: f(0.9),
		Supervisors: []supervisorResult{
			{Name: "tend", Figures: map[string]float64{
				"restart_p50": 1, "restart_p99": 3, "fanout_10": 0.01, "fanout_100": 0.05,
				"pss_10": 9, "pss_100": 12, "idle_cpu_100": 0, "stop_100": 20,
				"fanout_replicas_10": 0.008, "fanout_replicas_100": 0.04, "pss_replicas_10": 8.5, "pss_replicas_100": 10,
				probeCPUID: 7.5, probeSysID: 4, probeSpanID: 60, probeFloorTCPID: 4.5, probeFloorHTTPID: 5.8, probeFloorEvenID: 22,
				probeRateID: 990, probeBusyID: 8, cronP50ID: 2, cronP99ID: 3.5, jobID: 0.5,
				probeRSSID: 40, probePSSID: 38, probePeakID: 85,
				spreadIDs.cpu: 5.5, spreadIDs.sys: 3, spreadIDs.rss: 32, spreadIDs.pss: 29, spreadIDs.span: 900, spreadIDs.peak: 11,
				"scale_gap_p50_10": 0.5, "scale_gap_p50_100": 5, "scale_gap_p50_1000": 50,
				"scale_gap_p99_10": 1, "scale_gap_p99_100": 8, "scale_gap_p99_1000": 90,
				"scale_gaps_10": 200, "scale_gaps_100": 200, "scale_gaps_1000": 200,
				"scale_start_all_10": 0.01, "scale_start_all_100": 0.05, "scale_start_all_1000": 0.45,
				"scale_pss_10": 9, "scale_pss_100": 10, "scale_pss_1000": 18,
				fleetApplyP50ID: 60, fleetApplyP99ID: 180, fleetDeathP50ID: 950, fleetDeathMaxID: 1200,
				fleetRSSID: 30, fleetRSSMaxID: 34, fleetPSSID: 25, fleetStartID: 12,
				failoverP50ID: 1000, failoverP99ID: 1250, failoverDetectP50ID: 940, failoverDetectP99ID: 1150,
				exclusiveP50ID: 2300, exclusiveP99ID: 2500,
				failoverStartP50ID: 950, failoverStartP99ID: 1160, healP50ID: 900, healP99ID: 3400,
				failoverPollCPUID: 10, failoverAgentsCPUID: 12, failoverBusyID: 30,
			}, Unavailable: map[string]string{
				"scale_pass_p50_10": "the agent has no POST /v1/debug/resync (404)", "scale_pass_max_10": "the agent has no POST /v1/debug/resync (404)",
				"scale_pass_p50_100": "the agent has no POST /v1/debug/resync (404)", "scale_pass_max_100": "the agent has no POST /v1/debug/resync (404)",
				"scale_pass_p50_1000": "the agent has no POST /v1/debug/resync (404)", "scale_pass_max_1000": "the agent has no POST /v1/debug/resync (404)",
			}},
			{Name: "runit", Figures: map[string]float64{
				"restart_p50": 1000, "restart_p99": 1001, "fanout_10": 0.02, "fanout_100": 0.1,
				"pss_10": 2, "pss_100": 10, "idle_cpu_100": 5, "stop_100": 100,
			}},
			{Name: "s6", Figures: map[string]float64{
				"restart_p50": 1000, "restart_p99": 1000, "fanout_10": 0.005, "fanout_100": 0.04,
				"pss_10": 3, "pss_100": 30, "idle_cpu_100": 0,
			}, Errors: map[string]string{"stop_100": "stop: 3 of 100 workloads still running"}},
			{Name: "daemontools", Skipped: "not installed"},
		},
		Later: laterMeasurements,
	}
}

func TestRatios(t *testing.T) {
	r := sample()
	ms := metrics(r.Sizes.N)
	rs := ratios(ms, r.Supervisors)
	find := func(id, peer string) *float64 {
		for _, x := range rs {
			if x.Metric == id && x.Peer == peer {
				return x.Value
			}
		}
		t.Fatalf("no ratio for %s/%s", id, peer)
		return nil
	}
	if v := find("restart_p50", "runit"); v == nil || *v != 0.001 {
		t.Errorf("tend/runit restart p50 = %v, want 0.001", v)
	}
	if v := find("stop_100", "runit"); v == nil || *v != 0.2 {
		t.Errorf("tend/runit stop = %v, want 0.2", v)
	}
	if v := find("stop_100", "s6"); v != nil {
		t.Errorf("tend/s6 stop = %v, want none (s6 failed)", *v)
	}
	if v := find("idle_cpu_100", "s6"); v != nil {
		t.Errorf("tend/s6 idle = %v, want none (both used 0)", *v)
	}
	for _, x := range rs {
		if x.Metric == "idle_cpu_100" && x.Peer == "s6" && x.String() != "tend/s6 idle CPU N=100 = n/a (both 0)" {
			t.Errorf("ratio line = %q", x.String())
		}
	}
	for _, x := range rs {
		if x.Peer == "daemontools" {
			t.Errorf("a ratio to the skipped peer: %v", x)
		}
	}
	if got := (ratio{Peer: "runit", Title: "restart p50", Value: f(0.002)}).String(); got != "tend/runit restart p50 = 0.002" {
		t.Errorf("ratio line = %q", got)
	}
}

func TestGoals(t *testing.T) {
	r := sample()
	gs := goals(r.Supervisors, 100)
	want := map[string]string{
		"restart p50 under 2 ms":                          "met",
		"restart p50 at most 1/100 of the best peer's":    "met",
		"100 workloads started faster than the best peer": "MISSED", // s6 0.04 < tend 0.05
		"memory (PSS) at N=100 below every peer":          "MISSED", // runit 10 < tend 12
		"idle CPU at N=100 no worse than runit":           "met",
		"stop of 100 faster than the best peer":           "met", // runit 100; s6 has no figure
	}
	if len(gs) != len(want) {
		t.Fatalf("%d goals, want %d: %+v", len(gs), len(want), gs)
	}
	for _, g := range gs {
		if got := metStr(g.Met); got != want[g.Goal] {
			t.Errorf("goal %q: %s (%s), want %s", g.Goal, got, g.Measured, want[g.Goal])
		}
	}
	// No peer at all: the relative goals are not checked, not met.
	gs = goals(r.Supervisors[:1], 100)
	if gs[1].Met != nil || !strings.Contains(gs[1].Measured, "no peer") {
		t.Errorf("without peers: %+v", gs[1])
	}
}

func TestMissingTend(t *testing.T) {
	r := sample()
	ms := metrics(r.Sizes.N)
	if miss := missingTend(ms, r); len(miss) != 0 {
		t.Errorf("missing %v, want none", miss)
	}
	delete(r.Supervisors[0].Figures, "stop_100")
	delete(r.Supervisors[0].Figures, jobID)
	delete(r.Supervisors[0].Figures, probeRateID) // optional: /proc/net/snmp may be missing
	delete(r.Supervisors[0].Figures, "scale_pss_100")
	delete(r.Supervisors[0].Figures, "scale_gap_p50_1000") // timed out: missed, not missing
	r.Supervisors[0].fail(fmt.Errorf("%w: gaps", errTimeout), "scale_gap_p50_1000")
	r.FloorP50 = nil
	if miss := missingTend(ms, r); !slices.Equal(miss, []string{"floor_p50", "stop_100", jobID, "scale_pss_100"}) {
		t.Errorf("missing %v, want floor_p50, stop_100, %s and scale_pss_100", miss, jobID)
	}
	// A failover that could not run (not root) fails the run; what
	// looking cost is not required.
	r = sample()
	for _, id := range failoverIDs {
		delete(r.Supervisors[0].Figures, id)
	}
	r.Supervisors[0].fail(errors.New("hosts of namespaces: network and PID namespaces need root"), failoverIDs...)
	if miss := missingTend(ms, r); !slices.Equal(miss, failoverIDs[:10]) {
		t.Errorf("missing %v, want %v", miss, failoverIDs[:10])
	}
}

func TestTables(t *testing.T) {
	r := sample()
	r.Ratios = ratios(metrics(r.Sizes.N), r.Supervisors)
	r.Goals = goals(r.Supervisors, 100)
	r.TendGoals = tendGoals(r.Supervisors[0], r.Sizes)
	r.ScaleGoals = scaleGoals(r.Supervisors, r.Sizes, r.FloorP50, r.FloorP99)
	r.Growth = growths(r.Sizes.ScaleN, r.Supervisors[0])

	var md bytes.Buffer
	writeMarkdown(&md, r, "##", "ratios.svg")
	for _, want := range []string{
		"| runit | 1000 | 0.001 |",
		"| s6 | failed | n/a (no figure) |",
		"| daemontools | skipped |  |",
		"## Goals",
		"| memory (PSS) at N=100 below every peer | tend 12.0 MB; runit 10.0 MB (tend/runit = 1.2) | MISSED |",
		"| an exclusive unit's holder's link down until another host runs it: p50 under 3.5 s (issue 10) | tend p50 2300 ms, p99 2500 ms over 20 runs | met |",
		"| a host's link down until its replicated instances run on the other hosts: p50 under 2 s, p99 under 3 s, over 10 runs or more, lan profile (issue 10) | tend p50 1000 ms, p99 1250 ms over 20 runs; detection p50 940 ms, replacements started p50 950 ms | met |",
		"| after the link is back, exactly N again, all running, seen from every host, within 10 s p99 (issue 10) | tend p99 3400 ms, p50 900 ms over 20 runs | met |",
		"| of which detection: the link down until that host shows the victim NotReady (its own record of when), p50 | 940 | ms |",
		"| tend-bench's own CPU while it asked the agents' APIs every 10 ms during the failovers and heals | 10.0 | % of one core |",
		"| a unit file known on every host of 20 within 2 s p99, lan profile (issue 9) | tend p99 180 ms with 20 hosts, p50 60.0 ms | met |",
		"## tend only",
		"| probe CPU with 1000 HTTP liveness probes a second under 5% of one core (issue 3) | tend 7.50% with 1000; floor, a plain Go client at the same moments: connect+close 4.50%, bare HTTP GET 5.80%; machine busy 8.00% | MISSED |",
		"| cron start lag p99 under 20 ms over 30 runs of @every 1s (issue 4) | tend p50 2.00 ms, p99 3.50 ms over 30 runs | met |",
		"| job of 1000 completions, parallelism 50: start to completion | 0.5 | s |",
		"| fan-out N=100 as the replicas of one unit | 0.04 | s |",
		"## Scaling with the number of units (issue 8)",
		"| figure | unit | N=10 | N=100 | N=1000 | growth |",
		"| restart gap p50 of the flapping unit | ms | 0.5 | 5.00 | 50.0 | N^1.00, ×10.0 per 10× |",
		"| one reconcile pass, p50 (the agent's pass_ns) | ms | n/a | n/a | n/a | — |",
		"| restart gap p50 under 1 ms at N=1000 units (issue 8) | tend 50.0 ms; the floor, a bare fork+exec+wait of the workload, p50 0.4 ms | MISSED |",
		"- floor (fork+exec+wait of the static workload): p50 0.4 ms, p99 0.9 ms",
		"| agent PSS at N=1000 units under 20 MiB (issue 8) | tend 18.0 MiB | met |",
		"244–288 ms at N=1000",
		"tend's probe runner and supervisor add 1.70% to it",
		"the agent with its probes spread so takes 5.50% of a core, 3.00% in the kernel.",
		"| probe CPU with 1000 HTTP liveness probes a second spread evenly under 6% of one core (issue 8) | tend 5.50% with 1000; bursty 7.50% | met |",
		"| agent RSS with 1000 HTTP liveness probes spread evenly under 30 MiB (issue 8) | tend 32.0 MiB with 1000; PSS 29.0 MiB; bursty RSS 40.0 MiB | MISSED |",
		"| the probes' connections in the busiest tenth of each second, spread (evenly: 10%) | 11.0 | % |",
		"18.5% of a core spread, 7.6% bursty, RSS 50 MB",
		"![tend's figures over each peer's, log scale](ratios.svg)",
	} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md.String())
		}
	}

	var txt bytes.Buffer
	writeText(&txt, r)
	for _, want := range []string{"tend/runit restart p50 = 0.001", "MISSED", "scaling goals (issue 8)", "N^1.00, ×10.0 per 10×", "tend only (no peer has these)", "met         job of 1000 completions", "daemontools: skipped: not installed"} {
		if !strings.Contains(txt.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, txt.String())
		}
	}

	var doc bytes.Buffer
	writeDoc(&doc, r)
	if !strings.Contains(doc.String(), "- memory PSS N=10: tend 9.00 MB, runit 2.00 MB (tend/runit = 4.5)") {
		t.Errorf("the docs page does not list where tend is behind:\n%s", doc.String())
	}
	if !strings.Contains(doc.String(), "**restart gap p50 under 1 ms at N=1000 units (issue 8)**: missed. tend 50.0 ms; the floor, a bare fork+exec+wait of the workload, p50 0.4 ms.") {
		t.Errorf("the docs page does not say the scaling miss plainly:\n%s", doc.String())
	}
	if !strings.Contains(doc.String(), "**memory (PSS) at N=100 below every peer**: missed.") {
		t.Errorf("the docs page does not say the miss plainly:\n%s", doc.String())
	}
	slow := sample()
	slow.Supervisors[0].Figures[spreadIDs.cpu] = 7 // the spread goal missed too
	slow.TendGoals = tendGoals(slow.Supervisors[0], slow.Sizes)
	var sl bytes.Buffer
	writeDoc(&sl, slow)
	if !strings.Contains(sl.String(), "spread evenly under 6% of one core (issue 8)**: missed.") || strings.Count(sl.String(), "Why: Every probe opens") != 1 {
		t.Errorf("the probe CPU misses, and the why said once:\n%s", sl.String())
	}
	if !strings.Contains(doc.String(), "Made by `make bench`") {
		t.Errorf("a full run's page does not say make bench made it")
	}
	smoke := r
	smoke.Smoke = true
	var sdoc bytes.Buffer
	writeDoc(&sdoc, smoke)
	if !strings.Contains(sdoc.String(), "Made by a smoke run, `bin/tend-bench -smoke`: tiny sizes") {
		t.Errorf("a smoke run's page does not say so:\n%s", sdoc.String()[:2000])
	}
	if !strings.Contains(doc.String(), "under 5% of one core (issue 3)**: missed. tend 7.50% with 1000") ||
		!strings.Contains(doc.String(), "Why: Every probe opens a new loopback TCP connection") {
		t.Errorf("the docs page does not say the probe CPU miss and why:\n%s", doc.String())
	}
	for _, l := range r.Later {
		if strings.Contains(l.Issue, "issue 3") || strings.Contains(l.Issue, "issue 4") {
			t.Errorf("%q is still listed as a later measurement", l.What)
		}
	}

	// Results from before the tend-only measurements still render.
	old := sample()
	old.Sizes.ProbeN, old.Sizes.CronRuns, old.Sizes.JobCompletions, old.Sizes.JobParallelism = 0, 0, 0, 0
	if g := tendGoals(old.Supervisors[0], old.Sizes); g != nil {
		t.Errorf("old results: tend-only goals %+v", g)
	}
	md.Reset()
	writeMarkdown(&md, old, "##", "")
	if strings.Contains(md.String(), "tend only") {
		t.Errorf("old results: a tend-only section:\n%s", md.String())
	}
}

func TestChart(t *testing.T) {
	r := sample()
	ms := metrics(r.Sizes.N)
	rs := ratios(ms, r.Supervisors)
	var buf bytes.Buffer
	if err := writeChart(&buf, ms, rs); err != nil {
		t.Fatal(err)
	}
	// Well-formed XML, one bar per headline ratio that has a value.
	dec := xml.NewDecoder(&buf)
	bars, labels := 0, 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed SVG: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			switch se.Name.Local {
			case "rect":
				bars++
			case "text":
				labels++
			}
		}
	}
	wantBars := 1 // the background
	for _, x := range rs {
		for _, m := range ms {
			if m.ID == x.Metric && m.Headline && x.Value != nil && *x.Value > 0 {
				wantBars++
			}
		}
	}
	if bars != wantBars {
		t.Errorf("%d rects, want %d", bars, wantBars)
	}
	if labels == 0 {
		t.Error("no text in the chart")
	}
	for _, d := range []struct {
		d    float64
		want string
	}{{-3, "0.001"}, {-1, "0.1"}, {0, "1"}, {2, "100"}, {4, "1e4"}, {-5, "1e-5"}} {
		if got := decade(d.d); got != d.want {
			t.Errorf("decade(%v) = %q, want %q", d.d, got, d.want)
		}
	}
}

func TestFmt(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		want string
	}{{0, "0"}, {1002.4, "1002"}, {12.34, "12.3"}, {1.234, "1.23"}, {0.5612, "0.561"}, {0.00942, "0.00942"}, {0.00001, "1.00e-05"}} {
		if got := fmtNum(tc.v); got != tc.want {
			t.Errorf("fmtNum(%v) = %q, want %q", tc.v, got, tc.want)
		}
	}
	if got := fmtRatio(0.000997); got != "9.97e-04" {
		t.Errorf("fmtRatio = %q", got)
	}
	if got := fmtRatio(math.Inf(1)); got != "+Inf" {
		t.Errorf("fmtRatio(+Inf) = %q", got)
	}
}

func TestParseFlags(t *testing.T) {
	p := &program{stderr: io.Discard}
	if err := p.parseFlags([]string{"-smoke", "-peers", "runit,s6"}); err != nil {
		t.Fatal(err)
	}
	c := p.cfg
	if c.probeN != 10 || c.probeWindow != 2*time.Second || c.cronRuns != 3 || c.jobCompletions != 20 || c.jobParallelism != 5 ||
		c.failoverRuns != 2 || c.failoverReplicas != 6 || c.failoverPoll != 10*time.Millisecond {
		t.Errorf("smoke tend-only sizes = %+v", c)
	}
	if !slices.Equal(c.scaleNs, []int{10, 100}) || c.scaleTimeout != time.Minute || c.scaleRestarts != 200 || c.resyncs != 20 {
		t.Errorf("smoke scaling sizes = %+v", c)
	}
	if !c.noInstall || c.restarts != 3 || !slices.Equal(c.ns, []int{10}) || c.idle != 2*time.Second || !slices.Equal(c.peers, []string{"runit", "s6"}) {
		t.Errorf("smoke config = %+v", c)
	}
	p = &program{stderr: io.Discard}
	if err := p.parseFlags([]string{"-n", "1000,100,100"}); err != nil || !slices.Equal(p.cfg.ns, []int{100, 1000}) || p.cfg.restarts != 30 {
		t.Errorf("full config = %+v, %v", p.cfg, err)
	}
	if c := p.cfg; !slices.Equal(c.scaleNs, []int{10, 100, 1000, 5000}) || c.scaleTimeout != 5*time.Minute {
		t.Errorf("full scaling sizes = %+v", c)
	}
	if c := p.cfg; c.probeN != 1000 || c.cronRuns != 30 || c.jobCompletions != 1000 || c.jobParallelism != 50 || c.failoverRuns != 20 {
		t.Errorf("full tend-only sizes = %+v", c)
	}
	p = &program{stderr: io.Discard}
	if err := p.parseFlags([]string{"-tend-before", "/x/tend-old"}); err != nil || p.cfg.before != "/x/tend-old" {
		t.Errorf("-tend-before: %q, %v", p.cfg.before, err)
	}
	for _, bad := range [][]string{{"-peers", "systemd"}, {"-n", "0"}, {"extra"}, {"-job-parallelism", "0"}, {"-scale", "10,x"}, {"-scale-restarts", "0"}, {"-failover-replicas", "2"}, {"-failover-poll", "0s"}} {
		p = &program{stderr: io.Discard}
		if err := p.parseFlags(bad); err == nil {
			t.Errorf("parseFlags(%q): no error", bad)
		}
	}
}

// missingPeer is a peer whose programs exist nowhere.
type missingPeer struct{ runitPeer }

func (missingPeer) Name() string       { return "ghost" }
func (missingPeer) Package() string    { return "ghost-pkg" }
func (missingPeer) Programs() []string { return []string{"/nonexistent/ghost-svscan"} }

func TestInstallSkips(t *testing.T) {
	p := &program{cfg: config{noInstall: true}, stdout: io.Discard}
	skipped := p.install(t.Context(), []peer{missingPeer{}})
	if why := skipped["ghost"]; !strings.Contains(why, "not installed") || !strings.Contains(why, `"ghost-pkg"`) {
		t.Errorf("skip reason %q: want it to say not installed and name the package", why)
	}
}

func TestTendGoals(t *testing.T) {
	r := sample()
	gs := tendGoals(r.Supervisors[0], r.Sizes)
	want := []string{"MISSED", "met", "MISSED", "met", "met", "met", "met", "met", "met"}
	if len(gs) != len(want) {
		t.Fatalf("%d goals, want %d: %+v", len(gs), len(want), gs)
	}
	for i, g := range gs {
		if metStr(g.Met) != want[i] {
			t.Errorf("%s: %s (%s), want %s", g.Goal, metStr(g.Met), g.Measured, want[i])
		}
	}
	// At smoke sizes the figures are shown but the goals not checked.
	small := r.Sizes
	small.ProbeN, small.CronRuns, small.JobCompletions, small.JobParallelism, small.FleetHosts, small.FailoverRuns = 10, 3, 20, 5, 3, 2
	for _, g := range tendGoals(r.Supervisors[0], small) {
		if g.Met != nil || !strings.Contains(g.Measured, "(the goal is") {
			t.Errorf("smoke sizes: %s: %s (%s)", g.Goal, metStr(g.Met), g.Measured)
		}
	}
	// A missing figure says so.
	delete(r.Supervisors[0].Figures, cronP99ID)
	if g := tendGoals(r.Supervisors[0], r.Sizes)[3]; g.Met != nil || g.Measured != "tend: no figure" {
		t.Errorf("no cron figure: %+v", g)
	}
	// The fleet's goal misses past 2 s.
	r.Supervisors[0].Figures[fleetApplyP99ID] = 2500
	if g := tendGoals(r.Supervisors[0], r.Sizes)[5]; metStr(g.Met) != "MISSED" {
		t.Errorf("apply p99 2.5 s: %+v", g)
	}
	// Failover misses past 2 s p50 or 3 s p99; the heal past 10 s p99.
	r.Supervisors[0].Figures[failoverP99ID] = 3100
	r.Supervisors[0].Figures[healP99ID] = 10500
	if gs := tendGoals(r.Supervisors[0], r.Sizes); metStr(gs[6].Met) != "MISSED" || metStr(gs[7].Met) != "MISSED" {
		t.Errorf("failover p99 3.1 s, heal p99 10.5 s: %+v", gs[6:])
	}
	// A failover that timed out is a miss, not a figure.
	for _, id := range failoverIDs {
		delete(r.Supervisors[0].Figures, id)
	}
	r.Supervisors[0].fail(fmt.Errorf("%w: after 30s h0 is not NotReady on h1", errTimeout), failoverIDs...)
	if g := tendGoals(r.Supervisors[0], r.Sizes)[6]; metStr(g.Met) != "MISSED" || !strings.Contains(g.Measured, "not NotReady") {
		t.Errorf("timed out: %+v", g)
	}
	// Where there are no namespaces (not root), no figure and no verdict.
	r.Supervisors[0].TimedOut = nil
	r.Supervisors[0].fail(errors.New("hosts of namespaces: network and PID namespaces need root"), failoverIDs...)
	if g := tendGoals(r.Supervisors[0], r.Sizes)[6]; g.Met != nil || g.Measured != "tend: no figure" {
		t.Errorf("not root: %+v", g)
	}
	// Results from before the failover was measured have no such goals.
	r.Sizes.FailoverRuns = 0
	if gs := tendGoals(r.Supervisors[0], r.Sizes); len(gs) != 6 {
		t.Errorf("old results: %d goals, want 6", len(gs))
	}
}

func TestFailoverLook(t *testing.T) {
	ready := []supervisor.Host{{Name: "h0", Status: "Ready"}, {Name: "h1", Status: "Ready"}, {Name: "h2", Status: "Ready"}}
	inst := func(host, status string) supervisor.Instance { return supervisor.Instance{Host: host, Status: status} }
	l := look{hosts: ready, instances: []supervisor.Instance{inst("h0", "Running"), inst("h1", "Running"), inst("h2", "Running")}}
	if ok, why := l.settled(3, 3); !ok {
		t.Errorf("three Ready, three running: %s", why)
	}
	if ok, why := l.settled(3, 2); ok || why != "3 instances, 3 running: h0 Running 1, h1 Running 1, h2 Running 1" {
		t.Errorf("a duplicate: %v, %q", ok, why)
	}
	l.instances[2].Status = "Unknown"
	if ok, why := l.settled(3, 3); ok || why != "3 instances, 2 running: h0 Running 1, h1 Running 1, h2 Unknown 1" {
		t.Errorf("one Unknown: %v, %q", ok, why)
	}
	l.hosts[1].Status = "NotReady"
	if ok, why := l.settled(3, 3); ok || why != "2 hosts Ready" {
		t.Errorf("h1 NotReady: %v, %q", ok, why)
	}
	if got := byHostStatus(nil); got != "none" {
		t.Errorf("byHostStatus(nil) = %q", got)
	}
}

func TestCronLags(t *testing.T) {
	sec := int64(time.Second)
	got, err := cronLags([]int64{10*sec + 2_000_000, 11*sec + 1_500_000, 12*sec + 19_000_000})
	if err != nil || !slices.Equal(got, []float64{2, 1.5, 19}) {
		t.Errorf("cronLags = %v, %v", got, err)
	}
	// A run a second late (or a missed run) cannot be read as a lag.
	if _, err := cronLags([]int64{10*sec + 2_000_000, 12*sec + 1_000_000}); err == nil {
		t.Error("a gap of two seconds: no error")
	}
	if _, err := cronLags([]int64{10*sec + 2_000_000, 10*sec + 900_000_000}); err == nil {
		t.Error("two runs in one second: no error")
	}
}

func TestJobDone(t *testing.T) {
	running := `{"name":"thousand","condition":"","succeeded":300,"start_time":"2026-01-02T03:04:05.1Z"}`
	if _, done, err := jobDone([]byte(running), 1000); done || err != nil {
		t.Errorf("running job: done %v, %v", done, err)
	}
	complete := `{"condition":"Complete","succeeded":1000,"start_time":"2026-01-02T03:04:05.1Z","completion_time":"2026-01-02T03:04:06.35Z"}`
	if secs, done, err := jobDone([]byte(complete), 1000); !done || err != nil || math.Abs(secs-1.25) > 1e-9 {
		t.Errorf("complete job: %v s, done %v, %v", secs, done, err)
	}
	failed := `{"condition":"Failed","reason":"BackoffLimitExceeded","succeeded":10,"failed":7,"start_time":"2026-01-02T03:04:05Z","completion_time":"2026-01-02T03:04:06Z"}`
	if _, done, err := jobDone([]byte(failed), 1000); !done || err == nil || !strings.Contains(err.Error(), "BackoffLimitExceeded") {
		t.Errorf("failed job: done %v, %v", done, err)
	}
	if _, _, err := jobDone([]byte("not json"), 1000); err == nil {
		t.Error("garbage: no error")
	}
	// The tend.io/v1 form of today's tend.
	v1 := `{"apiVersion":"tend.io/v1","kind":"Unit","status":{"succeeded":1000,"startTime":"2026-01-02T03:04:05.1Z","completionTime":"2026-01-02T03:04:06.35Z","conditions":[{"type":"Complete","status":"True"}]}}`
	if secs, done, err := jobDone([]byte(v1), 1000); !done || err != nil || math.Abs(secs-1.25) > 1e-9 {
		t.Errorf("complete job, tend.io/v1: %v s, done %v, %v", secs, done, err)
	}
	v1 = `{"apiVersion":"tend.io/v1","kind":"Unit","status":{"succeeded":300,"startTime":"2026-01-02T03:04:05.1Z"}}`
	if _, done, err := jobDone([]byte(v1), 1000); done || err != nil {
		t.Errorf("running job, tend.io/v1: done %v, %v", done, err)
	}
	v1 = `{"apiVersion":"tend.io/v1","kind":"Unit","status":{"succeeded":10,"failed":7,"startTime":"2026-01-02T03:04:05Z","completionTime":"2026-01-02T03:04:06Z","conditions":[{"type":"Failed","status":"True","reason":"BackoffLimitExceeded"}]}}`
	if _, done, err := jobDone([]byte(v1), 1000); !done || err == nil || !strings.Contains(err.Error(), "BackoffLimitExceeded") {
		t.Errorf("failed job, tend.io/v1: done %v, %v", done, err)
	}
}

func TestProbeMoments(t *testing.T) {
	snmp := "Ip: Forwarding DefaultTTL\nIp: 1 64\nTcp: RtoAlgorithm RtoMin ActiveOpens PassiveOpens AttemptFails\nTcp: 1 200 55 1234 0\nUdp: InDatagrams\nUdp: 3\n"
	if v, ok := parsePassiveOpens([]byte(snmp)); !ok || v != 1234 {
		t.Errorf("parsePassiveOpens = %d, %v", v, ok)
	}
	if _, ok := parsePassiveOpens([]byte("Ip: a\nIp: 1\n")); ok {
		t.Error("no Tcp lines: ok")
	}

	// 100 connections in bins 998, 999, 0 and 1 (wrapping), 2 elsewhere.
	hist := make([]uint64, 1000)
	hist[998], hist[999], hist[0], hist[1], hist[500] = 25, 25, 25, 25, 2
	if w := coverWidth(hist, 0.9); w != 4 {
		t.Errorf("coverWidth = %d, want 4 (wrapping around)", w)
	}
	if w := coverWidth(make([]uint64, 10), 0.9); w != 0 {
		t.Errorf("coverWidth of nothing = %d", w)
	}
	ph := histPhases(hist, 51)
	if len(ph) != 51 {
		t.Fatalf("%d phases, want 51", len(ph))
	}
	counts := map[time.Duration]int{}
	for _, p := range ph {
		counts[p]++
	}
	if counts[0] < 12 || counts[0] > 13 || counts[998*time.Millisecond] < 12 || counts[500*time.Millisecond] > 1 {
		t.Errorf("phases by bin = %v", counts)
	}
	// The busiest tenth: the burst, wrapping; evenly spread, a tenth.
	if p := peakShare(hist, 0.1); math.Abs(p-100*100/102.0) > 1e-9 {
		t.Errorf("peakShare of a burst = %v", p)
	}
	even := make([]uint64, 1000)
	for i := range even {
		even[i] = 3
	}
	if p := peakShare(even, 0.1); math.Abs(p-10) > 1e-9 {
		t.Errorf("peakShare, even = %v, want 10", p)
	}
	if ev := evenPhases(4, time.Second); !slices.Equal(ev, []time.Duration{0, 250 * time.Millisecond, 500 * time.Millisecond, 750 * time.Millisecond}) {
		t.Errorf("evenPhases = %v", ev)
	}
}

func TestTendLayouts(t *testing.T) {
	w := spec{stamp: "/x/stamp", file: "/x/starts", mode: modeSleep, n: 3}
	files := stampUnits("s", w.n, w.stamp, w.file, w.mode)
	if len(files) != 3 || files[0].name != "s0000" || files[2].name != "s0002" {
		t.Fatalf("unit files %+v", files)
	}
	for _, f := range files {
		if !strings.Contains(f.text, "replicas = 1\n") || !strings.Contains(f.text, `labels = { app = "`+f.name+`" }`) {
			t.Errorf("%s: want one replica and labels of its own:\n%s", f.name, f.text)
		}
	}
	if got := unitName("s", 4999, 5000); got != "s4999" {
		t.Errorf("unitName = %q", got)
	}
	if got := unitName("s", 7, 20000); got != "s00007" {
		t.Errorf("unitName at 20000 = %q, want five digits", got)
	}
	dir := t.TempDir()
	if _, _, err := (tendPeer{bin: "tend", oneUnit: true}).Setup(dir, w); err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(filepath.Join(dir, "units", "stamp.toml"))
	if err != nil || !strings.Contains(string(text), "replicas = 3\n") {
		t.Errorf("one unit of 3 replicas: %s, %v", text, err)
	}
}

func TestFitExponent(t *testing.T) {
	// y = 3·x^0.5 exactly; y = 7 flat; y = x^2 with a point left out (y = 0).
	for _, tc := range []struct {
		xs, ys []float64
		want   float64
		ok     bool
	}{
		{[]float64{10, 100, 1000}, []float64{3 * math.Sqrt(10), 30, 3 * math.Sqrt(1000)}, 0.5, true},
		{[]float64{10, 100, 1000, 5000}, []float64{7, 7, 7, 7}, 0, true},
		{[]float64{10, 100, 1000}, []float64{100, 0, 1e6}, 2, true},
		{[]float64{10}, []float64{1}, 0, false},
		{[]float64{10, 10}, []float64{1, 2}, 0, false},
		{nil, nil, 0, false},
	} {
		got, ok := fitExponent(tc.xs, tc.ys)
		if ok != tc.ok || math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("fitExponent(%v, %v) = %v, %v; want %v, %v", tc.xs, tc.ys, got, ok, tc.want, tc.ok)
		}
	}
	r := sample()
	gs := growths(r.Sizes.ScaleN, r.Supervisors[0])
	if s := growthStr(gs, "tend", scaleGapP50); s != "N^1.00, ×10.0 per 10×" {
		t.Errorf("growth of the gap p50 = %q", s)
	}
	if s := growthStr(gs, "tend", scalePassP50); s != "—" {
		t.Errorf("growth without figures = %q", s)
	}
}

func TestParseResync(t *testing.T) {
	a, err := parseResync(200, []byte(`{"pass_ns": 1234567, "units": 1001, "instances": 1001}`))
	if err != nil || a.PassNS != 1234567 || a.Units != 1001 || a.Instances != 1001 {
		t.Errorf("parseResync = %+v, %v", a, err)
	}
	for _, status := range []int{404, 405} {
		if _, err := parseResync(status, []byte(`{"error":"no route for POST /v1/debug/resync"}`)); !errors.Is(err, errNoResync) {
			t.Errorf("%d: %v, want errNoResync", status, err)
		}
	}
	for _, bad := range []struct {
		status int
		body   string
	}{{500, `{"error":"boom"}`}, {200, `not json`}, {200, `{"units": 3}`}} {
		if _, err := parseResync(bad.status, []byte(bad.body)); err == nil || errors.Is(err, errNoResync) {
			t.Errorf("parseResync(%d, %s) = %v, want an error other than errNoResync", bad.status, bad.body, err)
		}
	}
}

func TestTimeouts(t *testing.T) {
	parent, cancel := context.WithCancel(t.Context())
	ctx, cancel2 := context.WithTimeout(parent, 0)
	defer cancel2()
	<-ctx.Done()
	if err := timedOut(parent, ctx.Err(), "start-all"); !errors.Is(err, errTimeout) {
		t.Errorf("own deadline: %v, want errTimeout", err)
	}
	cancel()
	if err := timedOut(parent, context.Canceled, "start-all"); errors.Is(err, errTimeout) {
		t.Errorf("an interrupt is not a timeout: %v", err)
	}

	var r supervisorResult
	r.set("a", 1)
	r.fail(fmt.Errorf("%w: 3 gaps", errTimeout), "a", "b")
	r.fail(errors.New("boom"), "c")
	r.unavailable(errNoResync, "d")
	if _, ok := r.TimedOut["a"]; ok || r.TimedOut["b"] == "" || r.Errors["c"] != "boom" || r.Unavailable["d"] == "" {
		t.Errorf("result %+v", r)
	}
	for id, want := range map[string]string{"a": "1.00", "b": "timeout", "c": "failed", "d": "n/a", "e": "—"} {
		if got := cell(r, id); got != want {
			t.Errorf("cell %s = %q, want %q", id, got, want)
		}
	}
}

func TestScaleGoals(t *testing.T) {
	r := sample()
	r.Sizes.N = []int{100, 1000}
	r.Supervisors[0].set(fanoutID(1000), 0.4)
	r.Supervisors[3] = supervisorResult{Name: "daemontools", Figures: map[string]float64{fanoutID(1000): 0.8}}
	gs := scaleGoals(r.Supervisors, r.Sizes, r.FloorP50, r.FloorP99)
	want := []string{"MISSED", "MISSED", "met", "met", "met"}
	if len(gs) != len(want) {
		t.Fatalf("%d goals, want %d: %+v", len(gs), len(want), gs)
	}
	for i, g := range gs {
		if metStr(g.Met) != want[i] {
			t.Errorf("%s: %s (%s), want %s", g.Goal, metStr(g.Met), g.Measured, want[i])
		}
	}
	if !strings.HasSuffix(gs[1].Measured, "; the floor, a bare fork+exec+wait of the workload, p99 0.9 ms") {
		t.Errorf("gap p99 goal without the floor's p99 beside it: %q", gs[1].Measured)
	}
	if !strings.Contains(gs[3].Measured, "(tend/daemontools = 0.5)") {
		t.Errorf("daemontools goal: %q", gs[3].Measured)
	}
	// A timed-out figure is a miss; sizes without 1000 are not checked.
	delete(r.Supervisors[0].Figures, scaleID(scaleGapP50, 1000))
	r.Supervisors[0].fail(fmt.Errorf("%w: start-all", errTimeout), scaleID(scaleGapP50, 1000))
	if g := scaleGoals(r.Supervisors, r.Sizes, r.FloorP50, r.FloorP99)[0]; g.Met == nil || *g.Met || !strings.Contains(g.Measured, "timeout") || strings.Contains(g.Measured, "floor") {
		t.Errorf("timed out: %+v", g)
	}
	r.Sizes.ScaleN = []int{10, 100}
	for _, g := range scaleGoals(r.Supervisors, r.Sizes, r.FloorP50, r.FloorP99) {
		if g.Met != nil && !strings.Contains(g.Goal, "daemontools") {
			t.Errorf("smoke sizes: %s checked (%s)", g.Goal, g.Measured)
		}
	}
	r.Sizes.ScaleN = nil
	if gs := scaleGoals(r.Supervisors, r.Sizes, r.FloorP50, r.FloorP99); gs != nil {
		t.Errorf("old results: %+v", gs)
	}
}

func TestSpreadDelays(t *testing.T) {
	for _, n := range []int{1, 2, 10, 100, 1000, 5000} {
		d := spreadDelays(n, time.Second)
		// Every k·period/n once: the same delays as evenPhases, shuffled.
		sorted := slices.Sorted(slices.Values(d))
		if !slices.Equal(sorted, evenPhases(n, time.Second)) {
			t.Errorf("n=%d: delays are not k·period/n each once: %v", n, sorted[:min(n, 10)])
		}
		// Any run of consecutive units (as the agent starts them) takes
		// delays from all over the period: the first and last tenth of
		// the units each put between 5% and 15% of themselves in each
		// tenth of the period (from a run of 100 on).
		if n < 1000 {
			continue
		}
		for _, run := range [][]time.Duration{d[:n/10], d[n-n/10:]} {
			var tenths [10]int
			for _, x := range run {
				tenths[x*10/time.Second]++
			}
			for i, c := range tenths {
				if c < len(run)/20 || c > len(run)*3/20 {
					t.Errorf("n=%d: %d of a run of %d delays in tenth %d: %v", n, c, len(run), i, tenths)
				}
			}
		}
	}
	files := probeUnits(true, 3, 8080, "/x/stamp", "/x/starts")
	if len(files) != 3 || files[1].name != "web0001" || !strings.Contains(files[1].text, "initial_delay = ") ||
		!strings.Contains(files[1].text, `labels = { app = "web0001" }`) || !strings.Contains(files[1].text, "replicas = 1\n") {
		t.Errorf("spread units: %+v", files)
	}
	if one := probeUnits(false, 3, 8080, "/x/stamp", "/x/starts"); len(one) != 1 || !strings.Contains(one[0].text, "replicas = 3\n") ||
		!strings.Contains(one[0].text, `initial_delay = "0s"`) {
		t.Errorf("bursty unit: %+v", one)
	}
	if v, err := parseRollup([]byte("Rss:  9876 kB\nPss:  4321 kB\n"), "Rss"); err != nil || v != 9876 {
		t.Errorf("parseRollup Rss = %d, %v", v, err)
	}
}

func TestBeforeAfter(t *testing.T) {
	r := sample()
	r.Supervisors[0].Version = "v2"
	r.Before = &supervisorResult{Name: "tend-before", Version: "v1", Figures: map[string]float64{
		"restart_p50": 2, "fanout_100": 0.1, "scale_gap_p50_10": 1, "scale_gap_p50_100": 100,
		spreadIDs.cpu: 11,
	}, TimedOut: map[string]string{"scale_gap_p50_1000": "timeout: 3 restart gaps of the flapping unit timed, want 200"},
		Unavailable: map[string]string{"scale_pass_p50_10": "the agent has no POST /v1/debug/resync (404)"}}
	r.derive(metrics(r.Sizes.N))
	if s := growthStr(r.Growth, "tend-before", scaleGapP50); s != "N^2.00, ×100 per 10×" {
		t.Errorf("before's growth = %q", s)
	}
	var md bytes.Buffer
	writeMarkdown(&md, r, "##", "")
	for _, want := range []string{
		"## tend before and after",
		"(`-tend-before`, v1) and this one (v2)",
		"| restart p50 | ms | 2.00 | 1.00 | 0.5 |",
		"| fan-out N=100 | s | 0.1 | 0.05 | 0.5 |",
		"| scaling N=1000: restart gap p50 of the flapping unit | ms | timeout | 50.0 |  |",
		"| scaling N=10: one reconcile pass, p50 (the agent's pass_ns) | ms | n/a | n/a |  |",
		"| probe CPU, spread: the agent, 1000 unit files of one replica, initial_delay spreading their probes evenly over the second | % of one core | 11.0 | 5.50 | 0.5 |",
		"| restart gap p50 of the flapping unit | N^2.00, ×100 per 10× | N^1.00, ×10.0 per 10× |",
		"- tend-before, scaling N=1000: restart gap p50 of the flapping unit: timeout: 3 restart gaps",
	} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md.String())
		}
	}
	if strings.Contains(md.String(), "| stop N=100 | ms |") {
		t.Errorf("a before row for a figure the before binary never had:\n%s", md.String())
	}
	var txt bytes.Buffer
	writeText(&txt, r)
	for _, want := range []string{"tend before and after, in the same rounds (before: v1; after: v2)", "timeout      50.0", "growth of the restart gap p50 of the flapping unit: before N^2.00"} {
		if !strings.Contains(txt.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, txt.String())
		}
	}
	// Without -tend-before, no such section.
	r.Before = nil
	md.Reset()
	writeMarkdown(&md, r, "##", "")
	if strings.Contains(md.String(), "before and after") {
		t.Error("a before-and-after section without -tend-before")
	}
}
