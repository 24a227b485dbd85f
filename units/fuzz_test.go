package units

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/BurntSushi/toml"
)

// FuzzParse checks that Parse never panics, that it is deterministic (the
// same bytes give the same unit, or the same errors), that a unit's
// Version is the hash of its bytes, that the limits' lexer finds a
// document at least as deep as the toml package does, and that the
// position scanner sees every key the toml package sees.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("../examples/*.toml")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(designKubia))
	f.Add([]byte("kind = \"cron\"\nschedule = \"@every 30s\"\n[template]\ncommand = [\"true\"]\n[[selector.match_expressions]]\nkey = \"a\"\n"))
	f.Add([]byte("\xef\xbb\xbfkind = \"job\"\r\n[template]\r\ncommand = [\"true\"]\r\n"))
	f.Add([]byte("a.\"b\\u0041\".'c' = \"\"\"\nx = 1\n\"\"\"\n[t]\n[[t.u]]\nv = [{w = 1}, [2]]\n"))

	f.Fuzz(func(t *testing.T, data []byte) {
		u1, err1 := Parse("fuzz.toml", data)
		u2, err2 := Parse("fuzz.toml", data)
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("Parse is not deterministic: %v / %v", err1, err2)
		}
		if err1 != nil {
			if err1.Error() != err2.Error() {
				t.Fatalf("errors differ:\n%v\n---\n%v", err1, err2)
			}
			if u1 != nil {
				t.Fatalf("a unit with an error")
			}
		} else {
			if !reflect.DeepEqual(u1, u2) {
				t.Fatalf("units differ:\n%+v\n%+v", u1, u2)
			}
			v, err := Parse("other.toml", data)
			if err != nil || v.Version != u1.Version || u1.Source != string(data) {
				t.Fatalf("version or source not stable: %v", err)
			}
			_ = u1.Selector.String()
			for _, p := range []*Probe{u1.Template.Liveness, u1.Template.Readiness, u1.Template.Startup} {
				if p != nil {
					_ = p.Describe()
				}
			}
		}

		var l limitLexer
		l.init(string(data))
		if l.run() != nil {
			return // refused before the toml package, which would be slow
		}
		var m map[string]any
		md, err := toml.Decode(string(data), &m)
		if err != nil {
			return
		}
		if d := treeDepth(m) - 1; l.maxDepth < d {
			t.Fatalf("the limits' lexer found depth %d, the toml package %d", l.maxDepth, d)
		}
		ps := scanPositions(string(data))
		for _, k := range md.Keys() {
			if _, ok := ps.bare[k.String()]; !ok {
				t.Fatalf("scanner missed key %s", k)
			}
		}
	})
}
