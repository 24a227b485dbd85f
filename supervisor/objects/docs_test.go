package objects

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

// docs/objects.md is the contract of scripts: it names every key of every
// object, so a field added here without a word there fails.
func TestDocsListEveryField(t *testing.T) {
	data, err := os.ReadFile("../../docs/objects.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	seen := map[reflect.Type]bool{}
	var walk func(typ reflect.Type, prefix string)
	walk = func(typ reflect.Type, prefix string) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || typ.PkgPath() != reflect.TypeOf(Instance{}).PkgPath() || seen[typ] {
			return
		}
		seen[typ] = true
		for f := range typ.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			if !strings.Contains(doc, "`"+name+"`") && !strings.Contains(doc, "`"+prefix+name+"`") &&
				!strings.Contains(doc, "."+name+"`") && !strings.Contains(doc, ", `"+name) {
				t.Errorf("docs/objects.md does not name %s%s (%s.%s)", prefix, name, typ.Name(), f.Name)
			}
			walk(f.Type, prefix+name+".")
		}
	}
	for _, v := range []any{Instance{}, Unit{}, Host{}, Event{}, List{}} {
		walk(reflect.TypeOf(v), "")
	}
}
