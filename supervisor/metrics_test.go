package supervisor

import (
	"fmt"
	"testing"
	"time"

	"github.com/tendhq/tend/probes"
	"github.com/tendhq/tend/units"
)

// The text format: label values escaped, empty labels left out, and
// histogram buckets cumulative.
func TestMetricWriter(t *testing.T) {
	m := &metricWriter{}
	m.family("a_total", "counter", "A.")
	m.sample("a_total", 3, "unit", "x", "owner", "")
	m.family("b", "gauge", "B.")
	m.sample("b", 1, "unit", `we"ird\name`+"\n")
	m.sample("b", 0.5)
	m.family("h_seconds", "histogram", "H.")
	m.histogram("h_seconds", []string{"0.1", "1"}, []uint64{2, 0, 1}, 3.25, "unit", "x")
	want := `# HELP a_total A.
# TYPE a_total counter
a_total{unit="x"} 3
# HELP b B.
# TYPE b gauge
b{unit="we\"ird\\name\n"} 1
b 0.5
# HELP h_seconds H.
# TYPE h_seconds histogram
h_seconds_bucket{unit="x",le="0.1"} 2
h_seconds_bucket{unit="x",le="1"} 2
h_seconds_bucket{unit="x",le="+Inf"} 3
h_seconds_sum{unit="x"} 3.25
h_seconds_count{unit="x"} 3
`
	if got := m.text(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

// BenchmarkMetricsText is a scrape's formatting for N instances of N/10
// units of 10 replicas, each with a readiness probe, as many units as a
// host has: it grows linearly with N.
func BenchmarkMetricsText(b *testing.B) {
	for _, n := range []int{10, 100, 1000, 5000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			in := metricsInput{host: "edge-17", version: "v1", started: time.Now(), storeSize: 1 << 20}
			for k := range n {
				unit := fmt.Sprintf("u%04d", k/10)
				in.instances = append(in.instances, Instance{
					Name: fmt.Sprintf("%s-%05d", unit, k), Unit: unit, Host: "edge-17", Status: "Running", Ready: true,
					RestartCount: k % 3, State: State{Phase: PhaseRunning, Started: time.Now()},
					LastState: State{Phase: PhaseTerminated, ExitCode: 137, Reason: "Error"},
				})
				in.probes = append(in.probes, instanceProbes{instance: in.instances[k].Name, unit: unit,
					stats: []probes.KindStats{{Kind: probes.Readiness, Results: [3]uint64{0, 100, 3}}}})
				if k%10 == 0 {
					in.units = append(in.units, Unit{Name: unit, Kind: units.KindReplicated, Desired: 10, Current: 10, Ready: 10})
				}
			}
			size := 0
			for b.Loop() {
				size = len(metricsText(in))
			}
			b.ReportMetric(float64(size), "bytes/scrape")
		})
	}
}
