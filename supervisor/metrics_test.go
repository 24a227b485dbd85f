package supervisor

import (
	"testing"
)

// The text format: a family's samples after its HELP and TYPE whatever
// order they came in, label values escaped, empty labels left out, and
// histogram buckets cumulative.
func TestMetricWriter(t *testing.T) {
	m := &metricWriter{}
	m.family("a_total", "counter", "A.")
	m.family("b", "gauge", "B.")
	m.family("h_seconds", "histogram", "H.")
	m.sample("b", 1, "unit", `we"ird\name`+"\n")
	m.sample("a_total", 3, "unit", "x", "owner", "")
	m.sample("b", 0.5)
	m.histogram("h_seconds", []float64{0.1, 1}, []uint64{2, 0, 1}, 3.25, "unit", "x")
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
