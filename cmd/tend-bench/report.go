package main

// Results: the figures, tend's ratio to each peer, the goals, and their
// text, JSON and Markdown forms.

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// results is everything one run produced; it is also the JSON file.
type results struct {
	Date        time.Time          `json:"date"`
	Command     string             `json:"command"`
	Smoke       bool               `json:"smoke,omitempty"` // tiny sizes: the figures check the code, not tend's speed
	Machine     machine            `json:"machine"`
	Sizes       sizes              `json:"sizes"`
	FloorP50    *float64           `json:"floor_p50_ms"`           // fork+exec+wait of the workload
	FloorP99    *float64           `json:"floor_p99_ms,omitempty"` // the same, p99; nil in results from before it was kept
	FloorError  string             `json:"floor_error,omitempty"`
	Supervisors []supervisorResult `json:"supervisors"` // tend first
	// Before is the -tend-before binary's figures, taken in the same
	// rounds as tend's own (no ratios to the peers); nil without it.
	Before *supervisorResult `json:"tend_before,omitempty"`
	Ratios []ratio           `json:"ratios"`
	Goals  []goal            `json:"goals"`
	// TendGoals are the goals of the tend-only measurements, from their
	// issues.
	TendGoals []goal `json:"tend_only_goals"`
	// ScaleGoals are issue 8's goals; Growth fits how the scaling table's
	// figures grow with N.
	ScaleGoals []goal   `json:"scale_goals,omitempty"`
	Growth     []growth `json:"growth,omitempty"`
	Later      []later  `json:"later"`
}

// derive computes what follows from the figures: ratios, goals, growth.
func (r *results) derive(ms []metric) {
	r.Ratios = ratios(ms, r.Supervisors)
	r.Goals = goals(r.Supervisors, r.Sizes.N[len(r.Sizes.N)-1])
	r.TendGoals = tendGoals(r.Supervisors[0], r.Sizes)
	r.ScaleGoals = scaleGoals(r.Supervisors, r.Sizes, r.FloorP50, r.FloorP99)
	tends := []supervisorResult{r.Supervisors[0]}
	if r.Before != nil {
		tends = append(tends, *r.Before)
	}
	r.Growth = growths(r.Sizes.ScaleN, tends...)
}

// withBefore is the supervisors whose problems the tables list: every
// one, and the -tend-before binary.
func (r results) withBefore() []supervisorResult {
	if r.Before == nil {
		return r.Supervisors
	}
	return append(slices.Clone(r.Supervisors), *r.Before)
}

type machine struct {
	CPUs   int    `json:"cpus"`
	Model  string `json:"model"`
	Kernel string `json:"kernel"`
	Go     string `json:"go"`
	Tmpfs  bool   `json:"state_on_tmpfs"`
	// Load averages (1, 5, 15 min) before and after the run: other work on
	// the machine skews single events such as fan-out and stop.
	LoadBefore string `json:"load_before"`
	LoadAfter  string `json:"load_after"`
}

type sizes struct {
	Restarts    int     `json:"restarts"`
	Reps        int     `json:"reps"`
	N           []int   `json:"n"`
	IdleSeconds float64 `json:"idle_seconds"`
	FloorRuns   int     `json:"floor_runs"`
	// The scaling table; empty in results from before it was measured.
	ScaleN              []int   `json:"scale_n,omitempty"`
	ScaleRestarts       int     `json:"scale_restarts,omitempty"`
	ScaleTimeoutSeconds float64 `json:"scale_timeout_seconds,omitempty"`
	Resyncs             int     `json:"resyncs,omitempty"`
	// tend only; 0 in results from before they were measured.
	ProbeN             int     `json:"probe_instances,omitempty"`
	ProbeWindowSeconds float64 `json:"probe_window_seconds,omitempty"`
	CronRuns           int     `json:"cron_runs,omitempty"`
	JobCompletions     int     `json:"job_completions,omitempty"`
	JobParallelism     int     `json:"job_parallelism,omitempty"`
	// the fleet; 0 in results from before it was measured.
	FleetHosts     int `json:"fleet_hosts,omitempty"`
	FleetUnits     int `json:"fleet_units,omitempty"`
	FleetInstances int `json:"fleet_instances,omitempty"`
	FleetApplies   int `json:"fleet_applies,omitempty"`
	FleetKills     int `json:"fleet_kills,omitempty"`
	// failover on hosts of namespaces; 0 in results from before it was
	// measured.
	FailoverRuns     int     `json:"failover_runs,omitempty"`
	FailoverReplicas int     `json:"failover_replicas,omitempty"`
	FailoverPollMS   float64 `json:"failover_poll_ms,omitempty"`
	// re-execution; 0 in results from before it was measured.
	ReexecInstances int `json:"reexec_instances,omitempty"`
	ReexecRuns      int `json:"reexec_runs,omitempty"`
}

// supervisorResult is one supervisor's figures, keyed by metric ID.
type supervisorResult struct {
	Name    string             `json:"name"`
	Version string             `json:"version,omitempty"`
	Skipped string             `json:"skipped,omitempty"` // why it was not measured at all
	Figures map[string]float64 `json:"figures"`
	Errors  map[string]string  `json:"errors,omitempty"` // metric ID → why it is missing
	// TimedOut and Unavailable are figures missed without a failure of
	// the run: the measurement ran out of its deadline, or the agent has
	// no way to give the figure (an older agent). Figure ID → why.
	TimedOut    map[string]string `json:"timed_out,omitempty"`
	Unavailable map[string]string `json:"unavailable,omitempty"`
	// BackgroundBusy is the whole machine's busy CPU share, in %, during
	// this supervisor's idle-CPU window: other work on the machine shows
	// here.
	BackgroundBusy *float64 `json:"machine_busy_pct_during_idle,omitempty"`
}

func (r *supervisorResult) set(id string, v float64) {
	if r.Figures == nil {
		r.Figures = map[string]float64{}
	}
	r.Figures[id] = v
}

// fail records err for those of ids that have no figure: as a timeout
// when err is errTimeout, else as an error.
func (r *supervisorResult) fail(err error, ids ...string) {
	m := &r.Errors
	if errors.Is(err, errTimeout) {
		m = &r.TimedOut
	}
	r.note(m, err, ids)
}

// unavailable records why the agent cannot give ids.
func (r *supervisorResult) unavailable(err error, ids ...string) { r.note(&r.Unavailable, err, ids) }

func (r *supervisorResult) note(m *map[string]string, err error, ids []string) {
	if *m == nil {
		*m = map[string]string{}
	}
	for _, id := range ids {
		if _, ok := r.Figures[id]; !ok {
			(*m)[id] = err.Error()
		}
	}
}

func (r *supervisorResult) figure(id string) (float64, bool) {
	v, ok := r.Figures[id]
	return v, ok
}

// metric is one figure every supervisor gets. Lower is better for all.
type metric struct {
	ID       string
	Title    string
	Unit     string
	Headline bool // in the chart and the goals
}

func fanoutID(n int) string { return "fanout_" + strconv.Itoa(n) }
func pssID(n int) string    { return "pss_" + strconv.Itoa(n) }
func idleID(n int) string   { return "idle_cpu_" + strconv.Itoa(n) }
func stopID(n int) string   { return "stop_" + strconv.Itoa(n) }

// tend only: the N workloads as the replicas of one unit.
func fanoutReplicasID(n int) string { return "fanout_replicas_" + strconv.Itoa(n) }
func pssReplicasID(n int) string    { return "pss_replicas_" + strconv.Itoa(n) }

// metrics lists the figures for the sizes ns (ascending), in table order.
func metrics(ns []int) []metric {
	top := ns[len(ns)-1]
	m := []metric{
		{ID: "restart_p50", Title: "restart p50", Unit: "ms", Headline: true},
		{ID: "restart_p99", Title: "restart p99", Unit: "ms"},
	}
	for _, n := range ns {
		m = append(m, metric{ID: fanoutID(n), Title: fmt.Sprintf("fan-out N=%d", n), Unit: "s", Headline: n == top})
	}
	for _, n := range ns {
		m = append(m, metric{ID: pssID(n), Title: fmt.Sprintf("memory PSS N=%d", n), Unit: "MB", Headline: n == top})
	}
	m = append(m,
		metric{ID: idleID(top), Title: fmt.Sprintf("idle CPU N=%d", top), Unit: "ms per min", Headline: true},
		metric{ID: stopID(top), Title: fmt.Sprintf("stop N=%d", top), Unit: "ms", Headline: true},
	)
	return m
}

// ratio is tend's figure over a peer's for one metric; Value is nil when
// either figure is missing or the peer's is zero.
type ratio struct {
	Metric string   `json:"metric"`
	Title  string   `json:"title"`
	Peer   string   `json:"peer"`
	Value  *float64 `json:"value"`
	Note   string   `json:"note,omitempty"` // why Value is nil
}

// ratios computes tend/peer for every metric and peer, in table order.
// sups[0] is tend.
func ratios(ms []metric, sups []supervisorResult) []ratio {
	var out []ratio
	if len(sups) == 0 {
		return nil
	}
	tend := sups[0]
	for _, m := range ms {
		for _, p := range sups[1:] {
			if p.Skipped != "" {
				continue
			}
			r := ratio{Metric: m.ID, Title: m.Title, Peer: p.Name}
			t, ok1 := tend.figure(m.ID)
			v, ok2 := p.figure(m.ID)
			switch {
			case !ok1 || !ok2:
				r.Note = "no figure"
			case v > 0:
				q := t / v
				r.Value = &q
			case t == 0:
				r.Note = "both 0"
			default:
				r.Note = "the peer's is 0"
			}
			out = append(out, r)
		}
	}
	return out
}

// goal is one of issue 5's goals, checked against this run. Met is nil
// when it could not be checked.
type goal struct {
	Goal     string `json:"goal"`
	Measured string `json:"measured"`
	Met      *bool  `json:"met"`
}

// best is the lowest figure among the measured peers for id.
func best(id string, sups []supervisorResult) (name string, v float64, ok bool) {
	for _, p := range sups[1:] {
		if x, has := p.figure(id); has && (!ok || x < v) {
			name, v, ok = p.Name, x, true
		}
	}
	return name, v, ok
}

// goals checks issue 5's goals; sups[0] is tend, top the largest N.
func goals(sups []supervisorResult, top int) []goal {
	tend := sups[0]
	met := func(b bool) *bool { return &b }
	var out []goal

	unit := map[string]string{"restart_p50": "ms", fanoutID(top): "s", pssID(top): "MB", idleID(top): "ms per min", stopID(top): "ms"}
	fig := func(id string) (float64, string, bool) {
		v, ok := tend.figure(id)
		if !ok {
			return 0, "tend: no figure", false
		}
		return v, fmt.Sprintf("tend %s %s", fmtNum(v), unit[id]), true
	}
	// against compares tend with a peer's figure: want tend < peer*factor
	// (or <= when orEqual).
	against := func(text, id, peerName string, peerV float64, peerOK bool, factor float64, orEqual bool) goal {
		g := goal{Goal: text}
		v, s, ok := fig(id)
		if !ok {
			g.Measured = s
			return g
		}
		if !peerOK {
			g.Measured = s + "; no peer figure to compare with"
			return g
		}
		g.Measured = fmt.Sprintf("%s; %s %s %s", s, peerName, fmtNum(peerV), unit[id])
		if peerV > 0 {
			g.Measured += fmt.Sprintf(" (tend/%s = %s)", peerName, fmtRatio(v/peerV))
		}
		lim := peerV * factor
		g.Met = met(v < lim || (orEqual && v <= lim))
		return g
	}

	g := goal{Goal: "restart p50 under 2 ms"}
	if v, s, ok := fig("restart_p50"); ok {
		g.Measured, g.Met = s, met(v < 2)
	} else {
		g.Measured = s
	}
	out = append(out, g)

	name, v, ok := best("restart_p50", sups)
	out = append(out, against("restart p50 at most 1/100 of the best peer's", "restart_p50", name, v, ok, 0.01, true))

	name, v, ok = best(fanoutID(top), sups)
	out = append(out, against(fmt.Sprintf("%d workloads started faster than the best peer", top), fanoutID(top), name, v, ok, 1, false))

	name, v, ok = best(pssID(top), sups)
	out = append(out, against(fmt.Sprintf("memory (PSS) at N=%d below every peer", top), pssID(top), name, v, ok, 1, false))

	var rv float64
	var rok bool
	for _, p := range sups[1:] {
		if p.Name == "runit" {
			rv, rok = p.figure(idleID(top))
		}
	}
	out = append(out, against(fmt.Sprintf("idle CPU at N=%d no worse than runit", top), idleID(top), "runit", rv, rok, 1, true))

	name, v, ok = best(stopID(top), sups)
	out = append(out, against(fmt.Sprintf("stop of %d faster than the best peer", top), stopID(top), name, v, ok, 1, false))
	return out
}

// tendFigure is one figure of the tend-only measurements, in tend's
// Figures.
type tendFigure struct {
	ID, Title, Unit string
	Required        bool // missing is a failure of the run
}

// tendFigures lists the tend-only figures in table order; empty for
// results from before they were measured.
func tendFigures(s sizes) []tendFigure {
	if s.ProbeN == 0 {
		return nil
	}
	var out []tendFigure
	for _, n := range s.N {
		out = append(out, tendFigure{fanoutReplicasID(n), fmt.Sprintf("fan-out N=%d as the replicas of one unit", n), "s", true})
	}
	for _, n := range s.N {
		out = append(out, tendFigure{pssReplicasID(n), fmt.Sprintf("memory PSS N=%d as the replicas of one unit", n), "MB", true})
	}
	out = append(out, []tendFigure{
		{probeCPUID, fmt.Sprintf("probe CPU, bursty: the agent, one unit of %d replicas started at once, each probed over HTTP every 1 s", s.ProbeN), "% of one core", true},
		{probeSysID, "of which in the kernel (the agent's system time)", "% of one core", true},
		{probeRSSID, "agent RSS meanwhile, bursty", "MiB", true},
		{probePSSID, "agent PSS meanwhile, bursty", "MiB", true},
		{probeSpanID, "the part of each second in which 90% of the probes connect, bursty", "ms", true},
		{probePeakID, "the probes' connections in the busiest tenth of each second, bursty (evenly: 10%)", "%", true},
		{probeFloorTCPID, fmt.Sprintf("floor: connect+close, %d a second at the bursty case's moments, from a plain Go client", s.ProbeN), "% of one core", true},
		{probeFloorHTTPID, "floor: a bare HTTP GET on a new connection, likewise", "% of one core", true},
		{probeFloorEvenID, "floor: the same bare GETs spread evenly over the second", "% of one core", true},
		{probeRateID, "loopback connections accepted per second during the bursty probe window (the whole machine's)", "per s", false},
		{probeBusyID, "machine CPU busy during the bursty probe window", "%", false},
		{spreadIDs.cpu, fmt.Sprintf("probe CPU, spread: the agent, %d unit files of one replica, initial_delay spreading their probes evenly over the second", s.ProbeN), "% of one core", true},
		{spreadIDs.sys, "of which in the kernel, spread", "% of one core", true},
		{spreadIDs.rss, "agent RSS meanwhile, spread", "MiB", true},
		{spreadIDs.pss, "agent PSS meanwhile, spread", "MiB", true},
		{spreadIDs.span, "the part of each second in which 90% of the probes connect, spread", "ms", true},
		{spreadIDs.peak, "the probes' connections in the busiest tenth of each second, spread (evenly: 10%)", "%", true},
		{spreadIDs.rate, "loopback connections accepted per second during the spread probe window (the whole machine's)", "per s", false},
		{spreadIDs.busy, "machine CPU busy during the spread probe window", "%", false},
		{cronP50ID, fmt.Sprintf("cron start lag p50 (@every 1s, %d runs)", s.CronRuns), "ms", true},
		{cronP99ID, fmt.Sprintf("cron start lag p99 (@every 1s, %d runs)", s.CronRuns), "ms", true},
		{jobID, fmt.Sprintf("job of %d completions, parallelism %d: start to completion", s.JobCompletions, s.JobParallelism), "s", true},
		{fleetApplyP50ID, fmt.Sprintf("fleet of %d agents (lan profile, loopback): a unit file in one host's directory until in every host's, p50 over %d", s.FleetHosts, s.FleetApplies), "ms", true},
		{fleetApplyP99ID, "the same, p99", "ms", true},
		{fleetDeathP50ID, fmt.Sprintf("fleet: kill -9 of an agent until every other shows it NotReady, p50 over %d", s.FleetKills), "ms", true},
		{fleetDeathMaxID, "the same, the longest", "ms", true},
		{fleetRSSID, fmt.Sprintf("fleet at rest, %d units, %d instances: agent RSS, mean", s.FleetUnits, s.FleetInstances), "MiB", true},
		{fleetRSSMaxID, "the same, the largest agent", "MiB", true},
		{fleetPSSID, "the same, agent PSS, mean", "MiB", true},
		{fleetStartID, "fleet: first agent's start until every instance runs", "s", true},
	}...)
	if s.ReexecRuns > 0 {
		out = append(out, []tendFigure{
			{reexecP50ID, fmt.Sprintf("re-execution of the agent with %d instances (POST /v1/agent/reexec): its 202 until the new agent answers, p50 over %d", s.ReexecInstances, s.ReexecRuns), "ms", true},
			{reexecP99ID, "the same, p99", "ms", true},
			{reexecMaxID, "the same, the longest", "ms", true},
			{adoptP50ID, fmt.Sprintf("kill -9 of that agent, %d times: the next agent's start until it shows the %d instances running with their pids, p50", s.ReexecRuns, s.ReexecInstances), "ms", true},
			{adoptP99ID, "the same, p99", "ms", true},
			{adoptMaxID, "the same, the longest", "ms", true},
		}...)
	}
	if s.FailoverRuns == 0 {
		return out
	}
	return append(out, []tendFigure{
		{failoverP50ID, fmt.Sprintf("failover, 3 hosts of network and PID namespaces (lan profile), one unit of %d replicas: a host's link down until its slots run on the other two, as one of them shows, p50 over %d runs", s.FailoverReplicas, s.FailoverRuns), "ms", true},
		{failoverP99ID, "the same, p99", "ms", true},
		{failoverDetectP50ID, "of which detection: the link down until that host shows the victim NotReady (its own record of when), p50", "ms", true},
		{failoverDetectP99ID, "the same, p99", "ms", true},
		{failoverStartP50ID, "the link down until the last replacement process started (its host's record), p50", "ms", true},
		{failoverStartP99ID, "the same, p99", "ms", true},
		{healP50ID, fmt.Sprintf("heal: the link back up until every host shows exactly %d instances, all running, and every host Ready, p50", s.FailoverReplicas), "ms", true},
		{healP99ID, "the same, p99", "ms", true},
		{failoverPollCPUID, fmt.Sprintf("tend-bench's own CPU while it asked the agents' APIs every %g ms during the failovers and heals", s.FailoverPollMS), "% of one core", false},
		{failoverAgentsCPUID, "the three agents' CPU meanwhile", "% of one core", false},
		{failoverBusyID, "machine CPU busy meanwhile", "%", false},
		{exclusiveP50ID, fmt.Sprintf("exclusive unit (fenced, every host a voter): its holder's link down until another host runs it, as a third shows, p50 over %d runs", s.FailoverRuns), "ms", true},
		{exclusiveP99ID, "the same, p99", "ms", true},
	}...)
}

// The sizes the tend-only goals are set at; at other sizes (smoke) their
// figures are produced but not checked.
const (
	goalProbeN         = 1000
	goalCronRuns       = 30
	goalJobCompletions = 1000
	goalJobParallelism = 50
	goalProbeCPUPct    = 5.0
	goalSpreadCPUPct   = 6.0  // issue 8, probes spread evenly
	goalSpreadRSSMiB   = 30.0 // issue 8, likewise
	goalCronP99MS      = 20.0
	goalJobSeconds     = 5.0
)

// tendGoals checks the goals of issues 3 and 4 that this program
// measures, for tend alone.
func tendGoals(tend supervisorResult, s sizes) []goal {
	if s.ProbeN == 0 {
		return nil
	}
	met := func(b bool) *bool { return &b }
	fig := func(id, unit string) (float64, string, bool) {
		v, ok := tend.figure(id)
		if !ok {
			return 0, "no figure", false
		}
		return v, fmtNum(v) + unit, true
	}
	var out []goal

	g := goal{Goal: fmt.Sprintf("probe CPU with %d HTTP liveness probes a second under %g%% of one core (issue 3)", goalProbeN, goalProbeCPUPct)}
	if v, txt, ok := fig(probeCPUID, "%"); ok {
		g.Measured = fmt.Sprintf("tend %s with %d", txt, s.ProbeN)
		var floors []string
		if _, ftxt, ok := fig(probeFloorTCPID, "%"); ok {
			floors = append(floors, "connect+close "+ftxt)
		}
		if _, ftxt, ok := fig(probeFloorHTTPID, "%"); ok {
			floors = append(floors, "bare HTTP GET "+ftxt)
		}
		if len(floors) > 0 {
			g.Measured += "; floor, a plain Go client at the same moments: " + strings.Join(floors, ", ")
		}
		if _, btxt, ok := fig(probeBusyID, "%"); ok {
			g.Measured += "; machine busy " + btxt
		}
		if s.ProbeN == goalProbeN {
			g.Met = met(v < goalProbeCPUPct)
		} else {
			g.Measured += fmt.Sprintf(" (the goal is for %d)", goalProbeN)
		}
	} else {
		g.Measured = "tend: " + txt
	}
	out = append(out, g)

	// under checks a figure against a goal set for goalProbeN probes.
	under := func(text, id, unit string, lim float64, more string) goal {
		g := goal{Goal: text}
		v, txt, ok := fig(id, unit)
		switch {
		case !ok:
			g.Measured = "tend: " + txt
			return g
		case s.ProbeN == goalProbeN:
			g.Met = met(v < lim)
		default:
			more += fmt.Sprintf(" (the goal is for %d)", goalProbeN)
		}
		g.Measured = fmt.Sprintf("tend %s with %d", txt, s.ProbeN) + more
		return g
	}
	more := ""
	if _, txt, ok := fig(probeCPUID, "%"); ok {
		more = "; bursty " + txt
	}
	out = append(out, under(fmt.Sprintf("probe CPU with %d HTTP liveness probes a second spread evenly under %g%% of one core (issue 8)", goalProbeN, goalSpreadCPUPct),
		spreadIDs.cpu, "%", goalSpreadCPUPct, more))
	more = ""
	if _, txt, ok := fig(spreadIDs.pss, " MiB"); ok {
		more = "; PSS " + txt
	}
	if _, txt, ok := fig(probeRSSID, " MiB"); ok {
		more += "; bursty RSS " + txt
	}
	out = append(out, under(fmt.Sprintf("agent RSS with %d HTTP liveness probes spread evenly under %g MiB (issue 8)", goalProbeN, goalSpreadRSSMiB),
		spreadIDs.rss, " MiB", goalSpreadRSSMiB, more))

	g = goal{Goal: fmt.Sprintf("cron start lag p99 under %g ms over %d runs of @every 1s (issue 4)", goalCronP99MS, goalCronRuns)}
	_, txt50, ok50 := fig(cronP50ID, " ms")
	p99, txt99, ok99 := fig(cronP99ID, " ms")
	switch {
	case ok50 && ok99:
		g.Measured = fmt.Sprintf("tend p50 %s, p99 %s over %d runs", txt50, txt99, s.CronRuns)
		if s.CronRuns >= goalCronRuns {
			g.Met = met(p99 < goalCronP99MS)
		} else {
			g.Measured += fmt.Sprintf(" (the goal is over %d)", goalCronRuns)
		}
	default:
		g.Measured = "tend: no figure"
	}
	out = append(out, g)

	g = goal{Goal: fmt.Sprintf("job of %d completions, parallelism %d, under %g s (issue 4)", goalJobCompletions, goalJobParallelism, goalJobSeconds)}
	if v, txt, ok := fig(jobID, " s"); ok {
		g.Measured = fmt.Sprintf("tend %s for %d completions, parallelism %d", txt, s.JobCompletions, s.JobParallelism)
		if s.JobCompletions == goalJobCompletions && s.JobParallelism == goalJobParallelism {
			g.Met = met(v < goalJobSeconds)
		} else {
			g.Measured += fmt.Sprintf(" (the goal is for %d, parallelism %d)", goalJobCompletions, goalJobParallelism)
		}
	} else {
		g.Measured = "tend: " + txt
	}
	out = append(out, g)

	g = goal{Goal: fmt.Sprintf("a unit file known on every host of %d within %g s p99, lan profile (issue 9)", goalFleetHosts, goalFleetApplyP99/1000)}
	if v, txt, ok := fig(fleetApplyP99ID, " ms"); ok {
		g.Measured = fmt.Sprintf("tend p99 %s with %d hosts", txt, s.FleetHosts)
		if _, p50, ok := fig(fleetApplyP50ID, " ms"); ok {
			g.Measured += ", p50 " + p50
		}
		if s.FleetHosts == goalFleetHosts {
			g.Met = met(v < goalFleetApplyP99)
		} else {
			g.Measured += fmt.Sprintf(" (the goal is for %d)", goalFleetHosts)
		}
	} else {
		g.Measured = "tend: " + txt
	}
	out = append(out, g)
	if s.ReexecRuns > 0 {
		out = append(out, reexecGoal(tend, s), adoptGoal(tend, s))
	}
	if s.FailoverRuns == 0 {
		return out
	}
	return append(out, failoverGoals(tend, s)...)
}

// failoverGoals checks issue 10's goals, at goalFailoverRuns runs or
// more.
func failoverGoals(tend supervisorResult, s sizes) []goal {
	met := func(b bool) *bool { return &b }
	ms := func(id string) (float64, bool) { return tend.figure(id) }
	check := func(g goal, ok bool, timedOut string) goal {
		switch {
		case timedOut != "":
			g.Measured, g.Met = "tend: "+timedOut, met(false)
		case !ok:
			g.Measured = "tend: no figure"
		case s.FailoverRuns < goalFailoverRuns:
			g.Met = nil
			g.Measured += fmt.Sprintf(" (the goal is for %d runs or more)", goalFailoverRuns)
		}
		return g
	}

	g := goal{Goal: fmt.Sprintf("a host's link down until its replicated instances run on the other hosts: p50 under %g s, p99 under %g s, over %d runs or more, lan profile (issue 10)",
		goalFailoverP50MS/1000, goalFailoverP99MS/1000, goalFailoverRuns)}
	p50, ok1 := ms(failoverP50ID)
	p99, ok2 := ms(failoverP99ID)
	if ok1 && ok2 {
		g.Measured = fmt.Sprintf("tend p50 %s ms, p99 %s ms over %d runs", fmtNum(p50), fmtNum(p99), s.FailoverRuns)
		if d, ok := ms(failoverDetectP50ID); ok {
			g.Measured += fmt.Sprintf("; detection p50 %s ms", fmtNum(d))
		}
		if st, ok := ms(failoverStartP50ID); ok {
			g.Measured += fmt.Sprintf(", replacements started p50 %s ms", fmtNum(st))
		}
		g.Met = met(p50 < goalFailoverP50MS && p99 < goalFailoverP99MS)
	}
	out := []goal{check(g, ok1 && ok2, tend.TimedOut[failoverP50ID])}

	g = goal{Goal: fmt.Sprintf("after the link is back, exactly N again, all running, seen from every host, within %g s p99 (issue 10)", goalHealP99MS/1000)}
	h99, ok1 := ms(healP99ID)
	h50, ok2 := ms(healP50ID)
	if ok1 && ok2 {
		g.Measured = fmt.Sprintf("tend p99 %s ms, p50 %s ms over %d runs", fmtNum(h99), fmtNum(h50), s.FailoverRuns)
		g.Met = met(h99 < goalHealP99MS)
	}
	out = append(out, check(g, ok1 && ok2, tend.TimedOut[healP99ID]))

	g = goal{Goal: fmt.Sprintf("an exclusive unit's holder's link down until another host runs it: p50 under %g s (issue 10)", goalExclusiveP50MS/1000)}
	e50, ok1 := ms(exclusiveP50ID)
	e99, ok2 := ms(exclusiveP99ID)
	if ok1 && ok2 {
		g.Measured = fmt.Sprintf("tend p50 %s ms, p99 %s ms over %d runs", fmtNum(e50), fmtNum(e99), s.FailoverRuns)
		g.Met = met(e50 < goalExclusiveP50MS)
	}
	return append(out, check(g, ok1 && ok2, tend.TimedOut[exclusiveP50ID]))
}

// The sizes and goals of issue 8, checked at N = goalScaleN only.
const (
	goalScaleN        = 1000
	goalScaleGapP50MS = 1.0
	goalScaleGapP99MS = 2.0
	goalScaleStartS   = 0.5
	goalScalePSSMiB   = 20.0
)

// scaleGoals checks issue 8's goals for the scaling table; sups[0] is
// tend. Empty for results from before the table was measured. The
// restart gaps are read beside the floor's p50 and p99 (nil: not
// measured): a gap holds a fork+exec of the workload, so no supervisor's
// can be shorter.
func scaleGoals(sups []supervisorResult, s sizes, floorP50, floorP99 *float64) []goal {
	if len(s.ScaleN) == 0 || len(sups) == 0 {
		return nil
	}
	tend := sups[0]
	met := func(b bool) *bool { return &b }
	at := slices.Contains(s.ScaleN, goalScaleN)
	// under checks tend's figure id against lim.
	under := func(text, id, unit string, lim float64) goal {
		g := goal{Goal: text}
		switch v, ok := tend.figure(id); {
		case !at:
			g.Measured = fmt.Sprintf("not measured at N=%d (sizes %s)", goalScaleN, joinInts(s.ScaleN))
		case ok:
			g.Measured, g.Met = fmt.Sprintf("tend %s %s", fmtNum(v), unit), met(v < lim)
		case tend.TimedOut[id] != "":
			g.Measured, g.Met = "tend: "+tend.TimedOut[id], met(false)
		default:
			g.Measured = "tend: no figure"
		}
		return g
	}
	// gap checks a restart gap goal, with the floor's figure beside
	// tend's.
	gap := func(text, id string, lim float64, what string, floor *float64) goal {
		g := under(text, id, "ms", lim)
		if _, ok := tend.figure(id); ok && at && floor != nil {
			g.Measured += fmt.Sprintf("; the floor, a bare fork+exec+wait of the workload, %s %s ms", what, fmtNum(*floor))
		}
		return g
	}
	out := []goal{
		gap(fmt.Sprintf("restart gap p50 under %g ms at N=%d units (issue 8)", goalScaleGapP50MS, goalScaleN), scaleID(scaleGapP50, goalScaleN), goalScaleGapP50MS, "p50", floorP50),
		gap(fmt.Sprintf("restart gap p99 under %g ms at N=%d units (issue 8)", goalScaleGapP99MS, goalScaleN), scaleID(scaleGapP99, goalScaleN), goalScaleGapP99MS, "p99", floorP99),
		under(fmt.Sprintf("%d unit files started in under %g s (issue 8)", goalScaleN, goalScaleStartS), scaleID(scaleStartAll, goalScaleN), "s", goalScaleStartS),
	}

	// Against daemontools: the fan-out of the peer comparison, where tend
	// has N unit files as daemontools has N service directories.
	g := goal{Goal: fmt.Sprintf("%d unit files started faster than daemontools in the same run (issue 8)", goalScaleN)}
	id := fanoutID(goalScaleN)
	v, ok := tend.figure(id)
	var dv float64
	var dok bool
	for _, p := range sups[1:] {
		if p.Name == "daemontools" {
			dv, dok = p.figure(id)
		}
	}
	switch {
	case !slices.Contains(s.N, goalScaleN):
		g.Measured = fmt.Sprintf("no fan-out at N=%d (-n %s)", goalScaleN, joinInts(s.N))
	case !ok:
		g.Measured = "tend: no figure"
	case !dok:
		g.Measured = fmt.Sprintf("tend %s s; no daemontools figure to compare with", fmtNum(v))
	default:
		g.Measured = fmt.Sprintf("fan-out N=%d: tend %s s; daemontools %s s", goalScaleN, fmtNum(v), fmtNum(dv))
		if dv > 0 {
			g.Measured += fmt.Sprintf(" (tend/daemontools = %s)", fmtRatio(v/dv))
		}
		g.Met = met(v < dv)
	}
	out = append(out, g)
	out = append(out, under(fmt.Sprintf("agent PSS at N=%d units under %g MiB (issue 8)", goalScaleN, goalScalePSSMiB), scaleID(scalePSS, goalScaleN), "MiB", goalScalePSSMiB))
	return out
}

// growthStr is how kind grows for sup, from gs: "N^0.98, ×9.5 per 10×".
func growthStr(gs []growth, sup, kind string) string {
	for _, g := range gs {
		if g.Supervisor == sup && g.Kind == kind && g.Exponent != nil {
			return fmt.Sprintf("N^%.2f, ×%s per 10×", *g.Exponent, fmtNum(*g.Per10x))
		}
	}
	return "—"
}

// oldScaleStr lists issue 8's figures from the old code.
func oldScaleStr() string {
	var parts []string
	for _, n := range slices.Sorted(maps.Keys(oldScaleFigures)) {
		parts = append(parts, fmt.Sprintf("%s ms at N=%d", oldScaleFigures[n], n))
	}
	return strings.Join(parts, ", ")
}

// writeScaleText prints the scaling table for a terminal.
func writeScaleText(w io.Writer, r results) {
	if len(r.Sizes.ScaleN) == 0 || len(r.Supervisors) == 0 {
		return
	}
	t := r.Supervisors[0]
	fmt.Fprintf(w, "\nscaling with the number of units (issue 8): N unit files of one sleeping replica each, plus one flapping unit\n")
	fmt.Fprintf(w, "  %-62s", "figure")
	for _, n := range r.Sizes.ScaleN {
		fmt.Fprintf(w, " %10s", fmt.Sprintf("N=%d", n))
	}
	fmt.Fprintf(w, "  growth\n")
	for _, k := range scaleKinds {
		fmt.Fprintf(w, "  %-62s", fmt.Sprintf("%s (%s)", k.Title, k.Unit))
		for _, n := range r.Sizes.ScaleN {
			fmt.Fprintf(w, " %10s", cell(t, scaleID(k.Kind, n)))
		}
		g := ""
		if k.Grows {
			g = growthStr(r.Growth, t.Name, k.Kind)
		}
		fmt.Fprintf(w, "  %s\n", g)
	}
	fmt.Fprintf(w, "  issue 8's restart gap p50 on the old code: %s\n", oldScaleStr())
	fmt.Fprintln(w, "\nscaling goals (issue 8)")
	for _, g := range r.ScaleGoals {
		fmt.Fprintf(w, "  %-11s %s: %s\n", metStr(g.Met), g.Goal, g.Measured)
	}
}

// writeScaleMarkdown writes the scaling table, how each figure grows, and
// issue 8's goals.
func writeScaleMarkdown(w io.Writer, r results, h string) {
	if len(r.Sizes.ScaleN) == 0 || len(r.Supervisors) == 0 {
		return
	}
	t := r.Supervisors[0]
	fmt.Fprintf(w, "\n%s Scaling with the number of units (issue 8)\n\n", h)
	fmt.Fprintf(w, "N unit files of one sleeping replica each, plus one flapping unit; %d restarts of the flapping unit timed at each N once the fleet has settled, %d reconcile passes, each N within %gs. ",
		r.Sizes.ScaleRestarts, r.Sizes.Resyncs, r.Sizes.ScaleTimeoutSeconds)
	fmt.Fprintf(w, "Growth is the slope k of a least-squares line through log(figure) against log(N): the figure goes as N^k, 10^k times per ten times the units (k = 0 is flat, k = 1 linear).\n\n")
	fmt.Fprintf(w, "| figure | unit |")
	for _, n := range r.Sizes.ScaleN {
		fmt.Fprintf(w, " N=%d |", n)
	}
	fmt.Fprintf(w, " growth |\n|---|---|%s---|\n", strings.Repeat("---:|", len(r.Sizes.ScaleN)))
	for _, k := range scaleKinds {
		fmt.Fprintf(w, "| %s | %s |", mdEscape(k.Title), k.Unit)
		for _, n := range r.Sizes.ScaleN {
			fmt.Fprintf(w, " %s |", cell(t, scaleID(k.Kind, n)))
		}
		g := ""
		if k.Grows {
			g = growthStr(r.Growth, t.Name, k.Kind)
		}
		fmt.Fprintf(w, " %s |\n", g)
	}
	fmt.Fprintf(w, "\nFor reference, issue 8's restart gap p50 on the code before it: %s.\n\n", oldScaleStr())
	fmt.Fprintf(w, "| goal | measured | |\n|---|---|---|\n")
	for _, g := range r.ScaleGoals {
		fmt.Fprintf(w, "| %s | %s | %s |\n", mdEscape(g.Goal), mdEscape(g.Measured), metStr(g.Met))
	}
}

// figRow is one of tend's figures, for the before-and-after table.
type figRow struct {
	ID, Title, Unit string
}

// figRows lists every figure tend can have, in table order: the peer
// comparison's, the tend-only ones, then the scaling table's.
func figRows(s sizes) []figRow {
	var out []figRow
	for _, m := range metrics(s.N) {
		out = append(out, figRow{m.ID, m.Title, m.Unit})
	}
	for _, f := range tendFigures(s) {
		out = append(out, figRow{f.ID, f.Title, f.Unit})
	}
	for _, n := range s.ScaleN {
		for _, k := range scaleKinds {
			out = append(out, figRow{scaleID(k.Kind, n), fmt.Sprintf("scaling N=%d: %s", n, k.Title), k.Unit})
		}
	}
	return out
}

// beforeRows are the rows of the before-and-after table: the figures the
// before binary has, or should have had.
func beforeRows(r results) []figRow {
	var out []figRow
	for _, f := range figRows(r.Sizes) {
		if _, ok := r.Before.Figures[f.ID]; ok || len(problemsOf(*r.Before, f.ID)) > 0 {
			out = append(out, f)
		}
	}
	return out
}

// afterOverBefore is tend's figure over the before binary's, or "".
func afterOverBefore(after, before supervisorResult, id string) string {
	a, ok1 := after.figure(id)
	b, ok2 := before.figure(id)
	if !ok1 || !ok2 || b == 0 {
		return ""
	}
	return fmtRatio(a / b)
}

// writeBeforeText prints tend's figures beside the -tend-before binary's.
func writeBeforeText(w io.Writer, r results) {
	if r.Before == nil || len(r.Supervisors) == 0 {
		return
	}
	t, b := r.Supervisors[0], *r.Before
	fmt.Fprintf(w, "\ntend before and after, in the same rounds (before: %s; after: %s)\n", b.Version, t.Version)
	fmt.Fprintf(w, "  %-12s %-12s %-12s %s\n", "before", "after", "after/before", "figure")
	for _, f := range beforeRows(r) {
		fmt.Fprintf(w, "  %-12s %-12s %-12s %s (%s)\n", cell(b, f.ID), cell(t, f.ID), afterOverBefore(t, b, f.ID), f.Title, f.Unit)
	}
	for _, k := range scaleKinds {
		if k.Grows && len(r.Sizes.ScaleN) > 0 {
			fmt.Fprintf(w, "  growth of the %s: before %s, after %s\n", k.Title, growthStr(r.Growth, b.Name, k.Kind), growthStr(r.Growth, t.Name, k.Kind))
		}
	}
}

// writeBeforeMarkdown writes tend's figures beside the -tend-before
// binary's.
func writeBeforeMarkdown(w io.Writer, r results, h string) {
	if r.Before == nil || len(r.Supervisors) == 0 {
		return
	}
	t, b := r.Supervisors[0], *r.Before
	fmt.Fprintf(w, "\n%s tend before and after\n\n", h)
	fmt.Fprintf(w, "tend's own measurements for an older tend binary (`-tend-before`, %s) and this one (%s), taking turns in the same rounds on the same machine; the peers are not run again. Lower is better; below 1, the newer binary is better.\n\n",
		mdEscape(b.Version), mdEscape(t.Version))
	fmt.Fprintf(w, "| figure | unit | before | after | after/before |\n|---|---|---:|---:|---:|\n")
	for _, f := range beforeRows(r) {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", mdEscape(f.Title), f.Unit, cell(b, f.ID), cell(t, f.ID), afterOverBefore(t, b, f.ID))
	}
	if len(r.Sizes.ScaleN) > 0 {
		fmt.Fprintf(w, "\n| growth with N | before | after |\n|---|---|---|\n")
		for _, k := range scaleKinds {
			if k.Grows {
				fmt.Fprintf(w, "| %s | %s | %s |\n", mdEscape(k.Title), growthStr(r.Growth, b.Name, k.Kind), growthStr(r.Growth, t.Name, k.Kind))
			}
		}
	}
}

// probeWhy explains the probe CPU figure from the run's own floors: what
// the connections alone cost, and how much the probes' timing matters.
// It is empty without the figures.
func probeWhy(tend supervisorResult, s sizes) string {
	cpu, ok1 := tend.figure(probeCPUID)
	sys, ok2 := tend.figure(probeSysID)
	span, ok3 := tend.figure(probeSpanID)
	tcp, ok4 := tend.figure(probeFloorTCPID)
	get, ok5 := tend.figure(probeFloorHTTPID)
	even, ok6 := tend.figure(probeFloorEvenID)
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 {
		return ""
	}
	added := fmt.Sprintf("tend's probe runner and supervisor add %s%% to it", fmtNum(cpu-get))
	if cpu <= get {
		added = "tend adds nothing measurable to it"
	}
	return fmt.Sprintf("Every probe opens a new loopback TCP connection and closes it (no keep-alive, as the kubelet does), so %d probes a second are %d connects, accepts and closes a second. "+
		"Of the agent's %s%% of a core, %s%% is kernel time. "+
		"A plain Go client making the same %d connections a second at the same moments (90%% of them within %s ms of each second) pays %s%% of a core for connect+close alone and %s%% with a bare HTTP GET on each: "+
		"that is the floor under a Go prober that opens a connection per probe, and %s. "+
		"The probes bunch because this case starts all %d instances at once; spread evenly over the second, the same bare GETs cost the plain client %s%% "+
		"(each then wakes the process on its own instead of sharing a wake-up with its neighbours)%s",
		s.ProbeN, s.ProbeN, fmtNum(cpu), fmtNum(sys), s.ProbeN, fmtNum(span), fmtNum(tcp), fmtNum(get), added, s.ProbeN, fmtNum(even), spreadWhy(tend))
}

// spreadWhy ends probeWhy with the agent's own figure for probes spread
// evenly, when there is one.
func spreadWhy(tend supervisorResult) string {
	cpu, ok1 := tend.figure(spreadIDs.cpu)
	sys, ok2 := tend.figure(spreadIDs.sys)
	if !ok1 || !ok2 {
		return ", so a fleet started at scattered times will likely cost the agent more than the bursty figure."
	}
	return fmt.Sprintf("; the agent with its probes spread so takes %s%% of a core, %s%% in the kernel.", fmtNum(cpu), fmtNum(sys))
}

// oldProbeFigures are issue 8's probe figures from the code before it.
const oldProbeFigures = "18.5% of a core spread, 7.6% bursty, RSS 50 MB"

// later is a measurement that a later issue adds to this program.
type later struct {
	What  string `json:"what"`
	Issue string `json:"issue"`
	Goal  string `json:"goal"`
}

// laterMeasurements are what is left to measure here: each gets its
// figure when what it measures lands.
var laterMeasurements = []later{}

// missingTend lists tend's metrics that have no figure.
func missingTend(ms []metric, r results) []string {
	var out []string
	if r.FloorP50 == nil {
		out = append(out, "floor_p50")
	}
	if len(r.Supervisors) == 0 {
		return append(out, "tend")
	}
	t := r.Supervisors[0]
	missing := func(id string) bool {
		_, ok := t.figure(id)
		_, late := t.TimedOut[id]
		_, na := t.Unavailable[id]
		return !ok && !late && !na
	}
	for _, m := range ms {
		if missing(m.ID) {
			out = append(out, m.ID)
		}
	}
	for _, f := range tendFigures(r.Sizes) {
		if f.Required && missing(f.ID) {
			out = append(out, f.ID)
		}
	}
	for _, n := range r.Sizes.ScaleN {
		for _, k := range scaleKinds {
			if id := scaleID(k.Kind, n); k.Required && missing(id) {
				out = append(out, id)
			}
		}
	}
	return out
}

// fmtNum prints a figure with about three significant digits, without an
// exponent in the usual ranges.
func fmtNum(v float64) string {
	a := math.Abs(v)
	switch {
	case v == 0:
		return "0"
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case a >= 0.001:
		return strconv.FormatFloat(v, 'g', 3, 64)
	default:
		return strconv.FormatFloat(v, 'e', 2, 64)
	}
}

func fmtRatio(v float64) string {
	if v == 0 {
		return "0"
	}
	if v >= 0.001 && v < 1000 {
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
	return strconv.FormatFloat(v, 'e', 2, 64)
}

func (r ratio) String() string {
	if r.Value == nil {
		return fmt.Sprintf("tend/%s %s = n/a (%s)", r.Peer, r.Title, r.Note)
	}
	return fmt.Sprintf("tend/%s %s = %s", r.Peer, r.Title, fmtRatio(*r.Value))
}

func metStr(m *bool) string {
	switch {
	case m == nil:
		return "not checked"
	case *m:
		return "met"
	default:
		return "MISSED"
	}
}

// cell is a supervisor's figure for a table, or why there is none.
func cell(p supervisorResult, id string) string {
	if v, ok := p.figure(id); ok {
		return fmtNum(v)
	}
	if p.Skipped != "" {
		return "skipped"
	}
	if _, ok := p.Errors[id]; ok {
		return "failed"
	}
	if _, ok := p.TimedOut[id]; ok {
		return "timeout"
	}
	if _, ok := p.Unavailable[id]; ok {
		return "n/a"
	}
	return "—"
}

func ratioCell(rs []ratio, id, peer string) string {
	for _, r := range rs {
		if r.Metric == id && r.Peer == peer {
			if r.Value == nil {
				return "n/a (" + r.Note + ")"
			}
			return fmtRatio(*r.Value)
		}
	}
	return ""
}

// writeText prints the tables for a terminal.
func writeText(w io.Writer, r results) {
	ms := metrics(r.Sizes.N)
	fmt.Fprintf(w, "\nload average: %s before, %s after\n", r.Machine.LoadBefore, r.Machine.LoadAfter)
	if n := busyNote(r.Supervisors); n != "" {
		fmt.Fprintln(w, n)
	}
	fmt.Fprintf(w, "floor: fork+exec+wait of the workload, %s\n", floorStr(r))
	for _, m := range ms {
		fmt.Fprintf(w, "\n%s (%s)\n", m.Title, m.Unit)
		fmt.Fprintf(w, "  %-12s %12s %12s\n", "supervisor", "figure", "tend/that")
		for i, p := range r.Supervisors {
			rc := ""
			if i > 0 {
				rc = ratioCell(r.Ratios, m.ID, p.Name)
			}
			fmt.Fprintf(w, "  %-12s %12s %12s\n", p.Name, cell(p, m.ID), rc)
		}
	}
	fmt.Fprintln(w, "\nratios (below 1: tend is better)")
	for _, x := range r.Ratios {
		fmt.Fprintf(w, "  %s\n", x)
	}
	fmt.Fprintln(w, "\ngoals")
	for _, g := range r.Goals {
		fmt.Fprintf(w, "  %-11s %s: %s\n", metStr(g.Met), g.Goal, g.Measured)
	}
	writeScaleText(w, r)
	writeBeforeText(w, r)
	if tfs := tendFigures(r.Sizes); len(tfs) > 0 && len(r.Supervisors) > 0 {
		fmt.Fprintln(w, "\ntend only (no peer has these)")
		for _, f := range tfs {
			fmt.Fprintf(w, "  %-12s %s (%s)\n", cell(r.Supervisors[0], f.ID), f.Title, f.Unit)
		}
		fmt.Fprintf(w, "  issue 8's probe figures on the old code, 1000 probes: %s\n", oldProbeFigures)
		fmt.Fprintln(w, "\ntend-only goals")
		for _, g := range r.TendGoals {
			fmt.Fprintf(w, "  %-11s %s: %s\n", metStr(g.Met), g.Goal, g.Measured)
		}
	}
	fmt.Fprintln(w, "\nlater measurements")
	for _, l := range r.Later {
		fmt.Fprintf(w, "  %s: not measured yet (%s); goal %s\n", l.What, l.Issue, l.Goal)
	}
	problems := false
	for _, p := range r.withBefore() {
		if p.Skipped != "" {
			if !problems {
				fmt.Fprintln(w, "\nskipped and failed")
				problems = true
			}
			fmt.Fprintf(w, "  %s: skipped: %s\n", p.Name, p.Skipped)
		}
		for _, id := range errorIDs(ms, r.Sizes) {
			for _, e := range problemsOf(p, id) {
				if !problems {
					fmt.Fprintln(w, "\nskipped and failed")
					problems = true
				}
				fmt.Fprintf(w, "  %s %s: %s\n", p.Name, id, e)
			}
		}
	}
}

func floorStr(r results) string {
	switch {
	case r.FloorP50 == nil:
		return "failed: " + r.FloorError
	case r.FloorP99 == nil:
		return "p50 " + fmtNum(*r.FloorP50) + " ms"
	}
	return "p50 " + fmtNum(*r.FloorP50) + " ms, p99 " + fmtNum(*r.FloorP99) + " ms"
}

// mdEscape keeps a table cell on one line and its pipes literal.
func mdEscape(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	return strings.ReplaceAll(s, "|", `\|`)
}

// writeMarkdown writes the figures as Markdown: machine, goals, a table per
// measurement, later measurements, and what was skipped or failed.
// heading is the level of its top headings ("##").
func writeMarkdown(w io.Writer, r results, heading, chart string) {
	h := heading
	ms := metrics(r.Sizes.N)
	fmt.Fprintf(w, "%s Machine and command\n\n", h)
	fmt.Fprintf(w, "- date: %s\n", r.Date.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "- machine: %d CPUs, %s, Linux %s, %s\n", r.Machine.CPUs, r.Machine.Model, r.Machine.Kernel, r.Machine.Go)
	fmt.Fprintf(w, "- state directories on tmpfs: %v\n", r.Machine.Tmpfs)
	fmt.Fprintf(w, "- command: `%s`\n", r.Command)
	fmt.Fprintf(w, "- load average (1, 5, 15 min): %s before, %s after\n", r.Machine.LoadBefore, r.Machine.LoadAfter)
	if n := busyNote(r.Supervisors); n != "" {
		fmt.Fprintf(w, "- %s\n", n)
	}
	fmt.Fprintf(w, "- sizes: %d restarts; N = %s, fan-out, memory and stop the median of %d runs each; idle CPU over %gs; floor over %d runs\n", r.Sizes.Restarts, joinInts(r.Sizes.N), r.Sizes.Reps, r.Sizes.IdleSeconds, r.Sizes.FloorRuns)
	var vers []string
	for _, p := range r.Supervisors {
		switch {
		case p.Skipped != "":
			vers = append(vers, fmt.Sprintf("%s (skipped: %s)", p.Name, p.Skipped))
		case p.Version != "":
			vers = append(vers, fmt.Sprintf("%s %s", p.Name, p.Version))
		default:
			vers = append(vers, p.Name)
		}
	}
	fmt.Fprintf(w, "- supervisors: %s\n", mdEscape(strings.Join(vers, ", ")))
	fmt.Fprintf(w, "- floor (fork+exec+wait of the static workload): %s\n\n", mdEscape(floorStr(r)))

	if chart != "" {
		fmt.Fprintf(w, "![tend's figures over each peer's, log scale](%s)\n\n", chart)
	}

	fmt.Fprintf(w, "%s Goals\n\n", h)
	fmt.Fprintf(w, "| goal | measured | |\n|---|---|---|\n")
	for _, g := range r.Goals {
		fmt.Fprintf(w, "| %s | %s | %s |\n", mdEscape(g.Goal), mdEscape(g.Measured), metStr(g.Met))
	}

	fmt.Fprintf(w, "\n%s Figures\n\n", h)
	fmt.Fprintf(w, "Lower is better everywhere; \"tend/that\" is tend's figure over that supervisor's.\n")
	for _, m := range ms {
		fmt.Fprintf(w, "\n%s# %s (%s)\n\n", h, m.Title, m.Unit)
		fmt.Fprintf(w, "| supervisor | %s | tend/that |\n|---|---:|---:|\n", m.Unit)
		for i, p := range r.Supervisors {
			rc := ""
			if i > 0 {
				rc = ratioCell(r.Ratios, m.ID, p.Name)
			}
			fmt.Fprintf(w, "| %s | %s | %s |\n", p.Name, cell(p, m.ID), rc)
		}
	}

	writeScaleMarkdown(w, r, h)
	writeBeforeMarkdown(w, r, h)
	if tfs := tendFigures(r.Sizes); len(tfs) > 0 && len(r.Supervisors) > 0 {
		fmt.Fprintf(w, "\n%s tend only\n\n", h)
		fmt.Fprintf(w, "Features no peer has, so no ratios: the goals from their issues, then every figure.\n\n")
		fmt.Fprintf(w, "| goal | measured | |\n|---|---|---|\n")
		for _, g := range r.TendGoals {
			fmt.Fprintf(w, "| %s | %s | %s |\n", mdEscape(g.Goal), mdEscape(g.Measured), metStr(g.Met))
		}
		fmt.Fprintf(w, "\n| measurement | tend | unit |\n|---|---:|---|\n")
		for _, f := range tfs {
			fmt.Fprintf(w, "| %s | %s | %s |\n", mdEscape(f.Title), cell(r.Supervisors[0], f.ID), f.Unit)
		}
		fmt.Fprintf(w, "\nFor reference, issue 8's probe figures on the code before it, 1000 probes: %s.\n", oldProbeFigures)
		if why := probeWhy(r.Supervisors[0], r.Sizes); why != "" {
			fmt.Fprintf(w, "\nProbe CPU, read against its floor: %s\n", why)
		}
	}

	fmt.Fprintf(w, "\n%s Later measurements\n\n", h)
	fmt.Fprintf(w, "| measurement | figure | goal |\n|---|---|---|\n")
	for _, l := range r.Later {
		fmt.Fprintf(w, "| %s | not measured yet (%s) | %s |\n", mdEscape(l.What), mdEscape(l.Issue), mdEscape(l.Goal))
	}

	var notes []string
	for _, p := range r.withBefore() {
		if p.Skipped != "" {
			notes = append(notes, fmt.Sprintf("- %s: skipped: %s", p.Name, mdEscape(p.Skipped)))
		}
		for _, id := range errorIDs(ms, r.Sizes) {
			for _, e := range problemsOf(p, id) {
				notes = append(notes, fmt.Sprintf("- %s, %s: %s", p.Name, titleOf(id, ms, r.Sizes), mdEscape(e)))
			}
		}
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, "\n%s Skipped and failed\n\n%s\n", h, strings.Join(notes, "\n"))
	}
}

// problemsOf says why p has no figure id, if it has none for a reason:
// its error, its timeout, or why the agent could not give it.
func problemsOf(p supervisorResult, id string) []string {
	var out []string
	if e, ok := p.Errors[id]; ok {
		out = append(out, e)
	}
	if e, ok := p.TimedOut[id]; ok {
		out = append(out, e)
	}
	if e, ok := p.Unavailable[id]; ok {
		out = append(out, "n/a: "+e)
	}
	return out
}

// errorIDs are the figure IDs whose errors the tables list: every
// supervisor's metrics, then the tend-only figures.
func errorIDs(ms []metric, s sizes) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.ID)
	}
	for _, f := range tendFigures(s) {
		out = append(out, f.ID)
	}
	for _, n := range s.ScaleN {
		out = append(out, scaleIDs(n)...)
	}
	return out
}

// titleOf is the title of the figure id.
func titleOf(id string, ms []metric, s sizes) string {
	for _, m := range ms {
		if m.ID == id {
			return m.Title
		}
	}
	for _, f := range tendFigures(s) {
		if f.ID == id {
			return f.Title
		}
	}
	for _, n := range s.ScaleN {
		for _, k := range scaleKinds {
			if scaleID(k.Kind, n) == id {
				return fmt.Sprintf("scaling N=%d: %s", n, k.Title)
			}
		}
	}
	return id
}

// busyNote tells how busy the machine was during each supervisor's idle
// window, and warns when other work was running.
func busyNote(sups []supervisorResult) string {
	var parts []string
	busy := false
	for _, p := range sups {
		if p.BackgroundBusy == nil {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %.0f%%", p.Name, *p.BackgroundBusy))
		if *p.BackgroundBusy > 10 {
			busy = true
		}
	}
	if len(parts) == 0 {
		return ""
	}
	s := "machine CPU busy during the idle windows: " + strings.Join(parts, ", ")
	if busy {
		s += " (other work was running: single events such as fan-out and stop are skewed; read the ratios with care)"
	}
	return s
}

func joinInts(v []int) string {
	var s []string
	for _, x := range v {
		s = append(s, strconv.Itoa(x))
	}
	return strings.Join(s, ", ")
}
