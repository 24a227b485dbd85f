package supervisor

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tendhq/tend/probes"
	"github.com/tendhq/tend/units"
)

// The agent's metrics, in Prometheus' text exposition format (version
// 0.0.4), for GET /metrics: named as kube-state-metrics names the same
// facts of pods, ReplicaSets, Jobs and CronJobs, and node_exporter's
// systemd collector those of services. docs/metrics.md lists every
// series with an alert rule.
//
// Written by hand rather than with prometheus/client_golang, for which
// the armv7 binary has no room under its 12 MB limit (72 KB left; cobra
// alone took 196 KB when tried): the format is a few lines
// of text a series, and the values are read from the view and the loop
// at each scrape, so nothing is kept between scrapes but counters the
// loop and the probes keep anyway.
//
// Instance series are of this host's instances only, so that a fleet's
// hosts, each scraped, do not count one instance several times; unit
// series are the fleet's, as this host sees them (alike on every host:
// take max over the hosts).

// passBuckets bound the reconcile pass duration histogram.
var passBuckets = [...]time.Duration{
	100 * time.Microsecond, 500 * time.Microsecond, time.Millisecond, 5 * time.Millisecond,
	10 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 500 * time.Millisecond, time.Second,
}

func (st *loopStats) observePass(d time.Duration) {
	i := 0
	for i < len(passBuckets) && d > passBuckets[i] {
		i++
	}
	st.passHist[i]++
	st.passSum += d
}

// probeBounds and passBounds are the histograms' bounds as the format
// writes them ("0.005"), made once.
var probeBounds, passBounds = boundTexts(probes.DurationBuckets), boundTexts(passBuckets[:])

func boundTexts(ds []time.Duration) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = strconv.FormatFloat(d.Seconds(), 'g', -1, 64)
	}
	return out
}

// instanceProbes are one instance's probe figures, read on the loop.
type instanceProbes struct {
	instance, unit string
	stats          []probes.KindStats
}

// WriteMetrics writes the agent's metrics. Safe to call from any
// goroutine; it asks the loop for its own figures.
func (s *Supervisor) WriteMetrics(w io.Writer) error {
	var pstats []instanceProbes
	var passes loopStats
	if err := s.call(func() {
		passes = s.stats
		for _, i := range s.instances {
			if i.probes != nil && i.probes.set != nil {
				pstats = append(pstats, instanceProbes{i.rec.Name, i.rec.Unit, i.probes.set.Stats()})
			}
		}
	}); err != nil {
		return err
	}
	host := s.opt.Host
	ins := slices.DeleteFunc(s.view.listInstances(units.Selector{}), func(in Instance) bool { return in.Host != host })
	var storeSize int64 = -1
	if s.opt.Store != nil {
		if fi, err := os.Stat(s.opt.Store.db.Path()); err == nil {
			storeSize = fi.Size()
		}
	}
	_, err := io.WriteString(w, metricsText(metricsInput{
		host: host, version: s.opt.Version.Version, started: s.started,
		instances: ins, units: s.view.listUnits(0), probes: pstats, passes: passes, storeSize: storeSize,
	}))
	return err
}

// metricsInput is what a scrape reports.
type metricsInput struct {
	host, version string
	started       time.Time
	instances     []Instance // this host's
	units         []Unit
	probes        []instanceProbes
	passes        loopStats
	storeSize     int64 // -1: unknown
}

// metricsText is the exposition of in.
func metricsText(x metricsInput) string {
	m := &metricWriter{}
	m.b.Grow(4096 + 2600*len(x.instances) + 600*len(x.units)) // what a scrape of those takes, measured
	host, ins, us, pstats, passes := x.host, x.instances, x.units, x.probes, x.passes

	m.family("tend_agent_info", "gauge", "The agent's build and host; always 1.")
	m.sample("tend_agent_info", 1, "host", host, "version", x.version)
	m.family("tend_agent_start_time_seconds", "gauge", "When this agent started, in seconds since 1970.")
	m.sample("tend_agent_start_time_seconds", float64(x.started.UnixNano())/1e9)

	phases := []string{"Pending", "Running", "Succeeded", "Failed", "Unknown"}
	m.family("tend_instance_status_phase", "gauge", "The instance's phase, as Kubernetes' pod phase: 1 for the one it is in (kube_pod_status_phase).")
	for _, in := range ins {
		p := in.PodPhase()
		for _, ph := range phases {
			m.sample("tend_instance_status_phase", b2f(p == ph), "instance", in.Name, "unit", in.Unit, "phase", ph)
		}
	}
	m.family("tend_instance_status_ready", "gauge", "1 when the instance is Ready (kube_pod_status_ready).")
	for _, in := range ins {
		m.sample("tend_instance_status_ready", b2f(in.Ready), "instance", in.Name, "unit", in.Unit)
	}
	m.family("tend_instance_restarts_total", "counter", "The instance's restarts (kube_pod_container_status_restarts_total).")
	for _, in := range ins {
		m.sample("tend_instance_restarts_total", float64(in.RestartCount), "instance", in.Name, "unit", in.Unit)
	}
	m.family("tend_instance_last_terminated_exit_code", "gauge", "The exit code of the instance's last run that ended: its status, or 128+signal.")
	for _, in := range ins {
		last := in.LastState
		if in.State.Phase == PhaseTerminated {
			last = in.State
		}
		if last.Phase == PhaseTerminated {
			m.sample("tend_instance_last_terminated_exit_code", float64(last.ExitCode), "instance", in.Name, "unit", in.Unit, "reason", last.Reason)
		}
	}
	m.family("tend_instance_start_time_seconds", "gauge", "When the instance's current run started, in seconds since 1970.")
	for _, in := range ins {
		if in.State.Phase == PhaseRunning && !in.State.Started.IsZero() {
			m.sample("tend_instance_start_time_seconds", float64(in.State.Started.UnixNano())/1e9, "instance", in.Name, "unit", in.Unit)
		}
	}

	m.family("tend_probe_total", "counter", "Probes run, by kind and result (prober_probe_total).")
	slices.SortFunc(pstats, func(a, b instanceProbes) int { return strings.Compare(a.instance, b.instance) })
	results := []string{"unknown", "successful", "failed"}
	for _, p := range pstats {
		for _, k := range p.stats {
			for r, n := range k.Results {
				m.sample("tend_probe_total", float64(n), "instance", p.instance, "unit", p.unit, "probe_type", strings.ToLower(k.Kind.String()), "result", results[r])
			}
		}
	}
	m.family("tend_probe_duration_seconds", "histogram", "How long probes took, by kind (prober_probe_duration_seconds).")
	for _, p := range pstats {
		for _, k := range p.stats {
			m.histogram("tend_probe_duration_seconds", probeBounds, k.Buckets[:], k.Sum.Seconds(),
				"instance", p.instance, "unit", p.unit, "probe_type", strings.ToLower(k.Kind.String()))
		}
	}

	m.family("tend_unit_desired_instances", "gauge", "The instances the unit wants: replicas, or eligible hosts (kube_replicaset_spec_replicas).")
	for _, u := range us {
		if u.Kind == units.KindReplicated || u.Kind == units.KindPerHost {
			m.sample("tend_unit_desired_instances", float64(u.Desired), "unit", u.Name, "kind", u.Kind.String())
		}
	}
	m.family("tend_unit_current_instances", "gauge", "The unit's instances, fleet-wide (kube_replicaset_status_replicas).")
	for _, u := range us {
		if u.Kind == units.KindReplicated || u.Kind == units.KindPerHost {
			m.sample("tend_unit_current_instances", float64(u.Current), "unit", u.Name, "kind", u.Kind.String())
		}
	}
	m.family("tend_unit_ready_instances", "gauge", "The unit's Ready instances, fleet-wide (kube_replicaset_status_ready_replicas).")
	for _, u := range us {
		if u.Kind == units.KindReplicated || u.Kind == units.KindPerHost {
			m.sample("tend_unit_ready_instances", float64(u.Ready), "unit", u.Name, "kind", u.Kind.String())
		}
	}
	m.family("tend_unit_stopped", "gauge", "1 when the unit is stopped (tend stop unit).")
	for _, u := range us {
		m.sample("tend_unit_stopped", b2f(u.Stopped), "unit", u.Name)
	}
	m.family("tend_unit_file_invalid", "gauge", "1 when the unit's newest file was rejected (the last valid version runs).")
	for _, u := range us {
		m.sample("tend_unit_file_invalid", b2f(u.Error != ""), "unit", u.Name)
	}

	jobs := slices.DeleteFunc(slices.Clone(us), func(u Unit) bool { return u.Kind != units.KindJob })
	m.family("tend_job_status_succeeded", "gauge", "The job's attempts that succeeded (kube_job_status_succeeded).")
	for _, u := range jobs {
		m.sample("tend_job_status_succeeded", float64(u.Succeeded), "job", u.Name, "owner", u.Owner)
	}
	m.family("tend_job_status_failed", "gauge", "The job's attempts that failed (kube_job_status_failed).")
	for _, u := range jobs {
		m.sample("tend_job_status_failed", float64(u.Failed), "job", u.Name, "owner", u.Owner)
	}
	m.family("tend_job_status_active", "gauge", "The job's attempts running (kube_job_status_active).")
	for _, u := range jobs {
		m.sample("tend_job_status_active", float64(u.Active), "job", u.Name, "owner", u.Owner)
	}
	m.family("tend_job_complete", "gauge", "1 when the job ended so: condition Complete or Failed (kube_job_complete, kube_job_failed).")
	for _, u := range jobs {
		for _, c := range []string{JobComplete, JobFailed} {
			m.sample("tend_job_complete", b2f(u.Condition == c), "job", u.Name, "owner", u.Owner, "condition", c)
		}
	}

	lag := map[string]float64{}
	newest := map[string]int64{}
	for _, u := range us {
		if u.Kind != units.KindJob || u.Owner == "" || u.StartTime.IsZero() {
			continue
		}
		sec, err := strconv.ParseInt(u.Name[strings.LastIndexByte(u.Name, '-')+1:], 10, 64)
		if err != nil || sec <= newest[u.Owner] {
			continue
		}
		newest[u.Owner] = sec
		lag[u.Owner] = max(0, u.StartTime.Sub(time.Unix(sec, 0)).Seconds())
	}
	crons := slices.DeleteFunc(slices.Clone(us), func(u Unit) bool { return u.Kind != units.KindCron })
	m.family("tend_cronjob_status_last_schedule_time_seconds", "gauge", "When the cron unit last scheduled a run (kube_cronjob_status_last_schedule_time).")
	for _, u := range crons {
		if !u.LastSchedule.IsZero() {
			m.sample("tend_cronjob_status_last_schedule_time_seconds", float64(u.LastSchedule.Unix()), "cronjob", u.Name)
		}
	}
	m.family("tend_cronjob_last_start_lag_seconds", "gauge", "How long after its scheduled time the cron unit's newest run started.")
	for _, u := range crons {
		if l, ok := lag[u.Name]; ok {
			m.sample("tend_cronjob_last_start_lag_seconds", l, "cronjob", u.Name)
		}
	}
	m.family("tend_cronjob_missed_schedules_total", "counter", "Scheduled runs the cron unit did not make (starting_deadline, concurrency_policy).")
	for _, u := range crons {
		m.sample("tend_cronjob_missed_schedules_total", float64(u.Missed), "cronjob", u.Name)
	}

	m.family("tend_reconcile_duration_seconds", "histogram", "How long the agent's reconcile passes took: catalog, planning, starts and publishing.")
	m.histogram("tend_reconcile_duration_seconds", passBounds, passes.passHist[:], passes.passSum.Seconds())
	m.family("tend_store_size_bytes", "gauge", "The size of the agent's store, StateDir/tend.db.")
	if x.storeSize >= 0 {
		m.sample("tend_store_size_bytes", float64(x.storeSize))
	}
	return m.text()
}

// PodPhase is Kubernetes' pod phase of the instance: Pending, Running
// (also between restarts, as a pod in CrashLoopBackOff), Succeeded,
// Failed, or Unknown when its host is gone. The metrics and the tend.io/v1
// objects both say it.
func (in Instance) PodPhase() string {
	switch {
	case in.Status == "Unknown":
		return "Unknown"
	case in.State.Phase == PhaseRunning:
		return "Running"
	case in.State.Phase == PhaseTerminated && in.State.ExitCode == 0:
		return "Succeeded"
	case in.State.Phase == PhaseTerminated:
		return "Failed"
	case in.State.Phase == PhaseWaiting && in.RestartCount > 0:
		return "Running"
	}
	return "Pending"
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// metricWriter writes the text exposition format into one buffer: each
// family's HELP and TYPE, then its samples, which must come before the
// next family's (the format wants each family's samples together).
type metricWriter struct{ b strings.Builder }

func (m *metricWriter) family(name, typ, help string) {
	m.b.WriteString("# HELP " + name + " " + help + "\n# TYPE " + name + " " + typ + "\n")
}

// text is the whole exposition.
func (m *metricWriter) text() string { return m.b.String() }

// sample writes one series of family name: labels as name, value pairs;
// empty values are left out, as Prometheus reads a missing label.
func (m *metricWriter) sample(name string, v float64, labels ...string) {
	w := &m.b
	w.WriteString(name)
	writeLabels(w, labels, "", "")
	w.WriteByte(' ')
	if i := int64(v); float64(i) == v {
		w.WriteString(strconv.FormatInt(i, 10)) // counts and codes, most values: without the float formatter
	} else {
		w.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
	}
	w.WriteByte('\n')
}

func writeLabels(w *strings.Builder, labels []string, extraName, extraValue string) {
	first := true
	put := func(k, v string) {
		if v == "" {
			return
		}
		if first {
			w.WriteByte('{')
			first = false
		} else {
			w.WriteByte(',')
		}
		w.WriteString(k)
		w.WriteString(`="`)
		w.WriteString(escapeLabel(v))
		w.WriteByte('"')
	}
	for k := 0; k+1 < len(labels); k += 2 {
		put(labels[k], labels[k+1])
	}
	if extraName != "" {
		put(extraName, extraValue)
	}
	if !first {
		w.WriteByte('}')
	}
}

// histogram writes a histogram of family name from counts per bucket
// (not cumulative, the last over every bound).
func (m *metricWriter) histogram(name string, bounds []string, counts []uint64, sum float64, labels ...string) {
	w := &m.b
	var total uint64
	for i, b := range bounds {
		total += counts[i]
		w.WriteString(name)
		w.WriteString("_bucket")
		writeLabels(w, labels, "le", b)
		w.WriteByte(' ')
		w.WriteString(strconv.FormatUint(total, 10))
		w.WriteByte('\n')
	}
	total += counts[len(bounds)]
	w.WriteString(name)
	w.WriteString("_bucket")
	writeLabels(w, labels, "le", "+Inf")
	w.WriteByte(' ')
	w.WriteString(strconv.FormatUint(total, 10))
	w.WriteByte('\n')
	w.WriteString(name)
	w.WriteString("_sum")
	writeLabels(w, labels, "", "")
	w.WriteByte(' ')
	w.WriteString(strconv.FormatFloat(sum, 'g', -1, 64))
	w.WriteByte('\n')
	w.WriteString(name)
	w.WriteString("_count")
	writeLabels(w, labels, "", "")
	w.WriteByte(' ')
	w.WriteString(strconv.FormatUint(total, 10))
	w.WriteByte('\n')
}

// escapeLabel escapes a label value as the format asks: backslash, double
// quote and line feed.
func escapeLabel(v string) string {
	if !strings.ContainsAny(v, "\\\"\n") {
		return v
	}
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(v)
}

// Healthz reports whether the agent is well: its loop answers within
// healthzWithin.
func (s *Supervisor) Healthz(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, healthzWithin)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.call(func() {}) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("the agent's loop has not answered within %s", healthzWithin)
	}
}

// healthzWithin is how long /healthz waits for the loop: a pass of 5000
// units takes tens of milliseconds; one of seconds is a stall.
const healthzWithin = 2 * time.Second

var _ Metrics = (*Supervisor)(nil)
