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
