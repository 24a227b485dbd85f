package units

import (
	"testing"

	"github.com/BurntSushi/toml"
)

func TestScanPositions(t *testing.T) {
	src := "# comment with key = \"x\"\n" + // 1
		"kind = \"replicated\"   # trailing\n" + // 2
		"\"quoted.key\" = 1\n" + // 3
		"a.b . c = 2\n" + // 4
		"s = \"\"\"\n" + // 5
		"multi = \"line\"\n" + // 6
		"\\\"\"\"\"\"\n" + // 7: an escaped quote, then the closing quotes and two more
		"t = '''\n" + // 8
		"lit = 1'''\n" + // 9
		"arr = [\n" + // 10
		"  1, # c\n" + // 11
		"  [2, 3],\n" + // 12
		"  { x = 1,\n" + // 13
		"    y = 2 },\n" + // 14
		"]\n" + // 15
		"[tab . sub]\n" + // 16
		"k = \"v\\\"still = 1\"\n" + // 17
		"[[aot]]\n" + // 18
		"n = 1\n" + // 19
		"[[aot]]\n" + // 20
		"n = 2\n" + // 21
		"[aot.inner]\n" + // 22
		"m = 3\r\n" + // 23
		"[[aot.list]]\n" + // 24
		"z = \"\\u0041\"\n" + // 25
		"'lit\\eral' = { \"e\\u0073c\" = 1 }\n" // 26

	var v map[string]any
	md, err := toml.Decode(src, &v)
	if err != nil {
		t.Fatalf("test document is not TOML: %v", err)
	}
	ps := scanPositions(src)
	want := map[string]int{
		"kind":                           2,
		`"quoted.key"`:                   3,
		"a":                              4,
		"a.b":                            4,
		"a.b.c":                          4,
		"s":                              5,
		"t":                              8,
		"arr":                            10,
		"arr[0]":                         11,
		"arr[1]":                         12,
		"arr[1][0]":                      12,
		"arr[1][1]":                      12,
		"arr[2]":                         13,
		"arr[2].x":                       13,
		"arr[2].y":                       14,
		"tab":                            16,
		"tab.sub":                        16,
		"tab.sub.k":                      17,
		"aot":                            18,
		"aot[0]":                         18,
		"aot[0].n":                       19,
		"aot[1]":                         20,
		"aot[1].n":                       21,
		"aot[1].inner":                   22,
		"aot[1].inner.m":                 23,
		"aot[1].inner.m.x":               23, // not a key: falls back to the closest one
		"aot[1].list[0].z":               25,
		`aot[1].list[0]."lit\\eral"`:     26,
		`aot[1].list[0]."lit\\eral".esc`: 26,
		"nothing":                        0,
		"aot[1].list[0].none":            24,
		"arr[2].none":                    13,
		"template.command[0]":            0,
		"tab.sub.k.deep.deper":           17,
	}
	for key, line := range want {
		if got := ps.line(key); got != line {
			t.Errorf("line(%s) = %d, want %d", key, got, line)
		}
	}
	for _, bad := range []string{"multi", "lit", "still"} {
		if _, ok := ps.bare[bad]; ok {
			t.Errorf("%q, inside a string, was taken for a key", bad)
		}
	}
	// Every key the toml package saw, the scanner saw.
	for _, k := range md.Keys() {
		if _, ok := ps.bare[k.String()]; !ok {
			t.Errorf("scanner missed %s", k)
		}
	}
}

// A byte order mark is no part of the first key, for the toml package
// or for the scanner: a file saved by an editor that writes one parses.
func TestByteOrderMark(t *testing.T) {
	u, err := Parse("j.toml", []byte("\xef\xbb\xbfkind = \"job\"\n[template]\ncommand = [\"x\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if u.Kind != KindJob {
		t.Errorf("kind %v", u.Kind)
	}
	if ps := scanPositions("\xef\xbb\xbfkind = 1\n"); ps.lines["kind"] != 1 {
		t.Errorf("lines = %v", ps.lines)
	}
}

func TestUndecodedSafetyNet(t *testing.T) {
	p := &parser{file: "u.toml", pos: scanPositions("kind = 1\nspook = 2\n"), unknown: map[string]bool{}}
	p.checkKeys()
	p.checkUndecoded([]toml.Key{{"ghost"}, {"spook"}})
	if len(p.errs) != 2 || p.errs[0].Error() != "u.toml:2: spook: unknown key" || p.errs[1].Error() != "u.toml: ghost: unknown key" {
		t.Errorf("errs = %v", p.errs)
	}
}

func TestSuggest(t *testing.T) {
	known := []string{"kind", "replicas", "labels", "selector", "template", "initial_delay", "success_threshold", "path"}
	for name, want := range map[string]string{
		"replica":          "replicas",
		"Replicas":         "replicas",
		"lables":           "labels",
		"initialDelay":     "initial_delay",
		"successThreshold": "success_threshold",
		"pth":              "path",
		"spec":             "",
		"x":                "",
		"volumes":          "",
	} {
		if got, _ := suggest(name, known); got != want {
			t.Errorf("suggest(%q) = %q, want %q", name, got, want)
		}
	}
}
