package supervisor

import (
	"errors"
	"strings"
	"testing"

	"github.com/tendhq/tend/units"
)

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

// tend restart: a new run at once, a restart but no failure, Last State
// Restarted; refused, saying why, for what has no run to restart.
func TestRestartInstance(t *testing.T) {
	a := startTestAgent(t, t.TempDir(), newFakeClock())
	a.apply("web", "kind = \"replicated\"\nreplicas = 1", "sleep")
	var first Instance
	a.waitFor("web running", func() bool {
		list := a.ownedBy("web")
		if len(list) == 1 && list[0].State.Phase == PhaseRunning {
			first = list[0]
			return true
		}
		return false
	})
	if _, err := a.sup.RestartInstance(first.Name); err != nil {
		t.Fatal(err)
	}
	a.waitFor("web running again, in a new process", func() bool {
		list := a.ownedBy("web")
		return len(list) == 1 && list[0].State.Phase == PhaseRunning && list[0].PID != first.PID
	})
	in := a.ownedBy("web")[0]
	if in.Name != first.Name || in.RestartCount != 1 || in.LastState.Reason != reasonRestarted || in.LastState.Signal != "SIGTERM" {
		t.Fatalf("after the restart: %+v", in)
	}
	if n := countReason(a.sup.Events(KindInstance, in.Name), "BackOff"); n != 0 {
		t.Errorf("a requested restart backed off (%d BackOff events)", n)
	}
	if _, err := a.sup.RestartInstance("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("restart of a missing instance: %v", err)
	}
	a.apply("once", "kind = \"job\"", "exit:0")
	a.waitFor("the job's attempt done", func() bool {
		list := a.ownedBy("once")
		return len(list) == 1 && list[0].Status == "Completed"
	})
	if _, err := a.sup.RestartInstance(a.ownedBy("once")[0].Name); !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "Completed: it has no run to restart") {
		t.Errorf("restart of a completed attempt: %v", err)
	}
}
