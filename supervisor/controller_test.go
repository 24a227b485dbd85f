package supervisor

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/units"
)

func TestDeleteFirstOrdersAsTheReplicaSetController(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	mk := func(name string, running, stopping bool, restarts int, age time.Duration) *instance {
		i := &instance{spec: &units.Unit{}, startupDone: true, rec: instanceRecord{Name: name, RestartCount: restarts, Created: t0.Add(-age)}}
		if running {
			i.proc = &Proc{}
		}
		i.stopping = stopping
		return i
	}
	started := func(i *instance, ago time.Duration) *instance {
		i.rec.State.Started = t0.Add(-ago)
		return i
	}
	cases := []struct {
		name  string
		a, b  *instance
		aWins bool
	}{
		{"not running before running", mk("a", false, false, 0, time.Hour), mk("b", true, false, 0, time.Minute), true},
		{"not ready before ready", mk("a", true, true, 0, time.Hour), mk("b", true, false, 0, time.Minute), true},
		{"more restarts first", mk("a", true, false, 3, time.Hour), mk("b", true, false, 1, time.Minute), true},
		{"newer first", mk("a", true, false, 0, time.Minute), mk("b", true, false, 0, time.Hour), true},
		{"running for less time first", started(mk("a", true, false, 0, time.Hour), time.Minute), started(mk("b", true, false, 5, time.Minute), time.Hour), true},
		{"older last", mk("a", true, false, 0, time.Hour), mk("b", true, false, 0, time.Minute), false},
	}
	for _, c := range cases {
		if got := deleteFirst(c.a, c.b); got != c.aWins {
			t.Errorf("%s: deleteFirst = %v, want %v", c.name, got, c.aWins)
		}
	}
}

func TestSetTopLevelIntKeepsTheRestOfTheFile(t *testing.T) {
	cases := []struct {
		name, in, key string
		n             int
		want          string
	}{
		{
			"replace, keeping the comment",
			"# kubia\nkind = \"replicated\"\nreplicas = 3 # three\n[template]\nreplicas = 9\n",
			"replicas", 4,
			"# kubia\nkind = \"replicated\"\nreplicas = 4  # three\n[template]\nreplicas = 9\n",
		},
		{
			"insert after kind",
			"kind = \"replicated\"\nlabels = { app = \"x\" }\n[template]\ncommand = [\"x\"]\n",
			"replicas", 0,
			"kind = \"replicated\"\nreplicas = 0\nlabels = { app = \"x\" }\n[template]\ncommand = [\"x\"]\n",
		},
		{
			"a key in a table is not top level",
			"kind = \"job\"\n[template]\nparallelism = 1\n",
			"parallelism", 3,
			"kind = \"job\"\nparallelism = 3\n[template]\nparallelism = 1\n",
		},
	}
	for _, c := range cases {
		if got := string(setTopLevelInt([]byte(c.in), c.key, c.n)); got != c.want {
			t.Errorf("%s:\n got %q\nwant %q", c.name, got, c.want)
		}
	}
}

func TestApplyLabelsRefusesToOverwriteWithoutTheFlag(t *testing.T) {
	l := units.Labels{"app": "kubia"}
	if _, err := applyLabels(l, LabelChange{Set: units.Labels{"app": "foo"}}); !errors.Is(err, ErrInvalid) ||
		!strings.Contains(err.Error(), "'app' already has a value (kubia), and --overwrite is false") {
		t.Fatalf("overwrite without the flag: err = %v", err)
	}
	got, err := applyLabels(l, LabelChange{Set: units.Labels{"app": "foo", "type": "special"}, Overwrite: true})
	if err != nil || got.String() != "app=foo,type=special" {
		t.Fatalf("overwrite: %v, %v", got, err)
	}
	if l.String() != "app=kubia" {
		t.Fatalf("the input was changed: %v", l)
	}
	got, err = applyLabels(got, LabelChange{Remove: []string{"type"}})
	if err != nil || got.String() != "app=foo" {
		t.Fatalf("remove: %v, %v", got, err)
	}
	if _, err := applyLabels(l, LabelChange{Set: units.Labels{"bad key!": "x"}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("invalid key accepted: %v", err)
	}
}

func TestLocalPlacementFollowsTheNodeSelector(t *testing.T) {
	rs := &units.Unit{Kind: units.KindReplicated, Replicas: 3}
	ds := &units.Unit{Kind: units.KindPerHost, Placement: units.Placement{NodeSelector: units.Labels{"disk": "ssd"}}}
	job := &units.Unit{Kind: units.KindJob}
	p := LocalPlacement{}
	cases := []struct {
		u      *units.Unit
		labels units.Labels
		want   int
	}{
		{rs, nil, 3},
		{ds, nil, 0},
		{ds, units.Labels{"disk": "hdd"}, 0},
		{ds, units.Labels{"disk": "ssd", "zone": "a"}, 1},
		{job, nil, 0},
	}
	for _, c := range cases {
		if got := p.Want(c.u, "h", c.labels); got != c.want {
			t.Errorf("Want(%s, %v) = %d, want %d", c.u.Kind, c.labels, got, c.want)
		}
	}
}
