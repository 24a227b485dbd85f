package jsonpath

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// The input of kubectl's JSONPath reference
// (https://kubernetes.io/docs/reference/kubectl/jsonpath/).
const kubectlInput = `{
  "kind": "List",
  "items":[
    {
      "kind":"None",
      "metadata":{
        "name":"127.0.0.1",
        "labels":{
          "kubernetes.io/hostname":"127.0.0.1"
        }
      },
      "status":{
        "capacity":{"cpu":"4"},
        "addresses":[{"type": "LegacyHostIP", "address":"127.0.0.1"}]
      }
    },
    {
      "kind":"None",
      "metadata":{"name":"127.0.0.2"},
      "status":{
        "capacity":{"cpu":"8"},
        "addresses":[
          {"type": "LegacyHostIP", "address":"127.0.0.2"},
          {"type": "another", "address":"127.0.0.3"}
        ]
      }
    }
  ],
  "users":[
    {
      "name": "myself",
      "user": {}
    },
    {
      "name": "e2e",
      "user": {"username": "admin", "password": "secret"}
    }
  ]
}`

func decode(t *testing.T, s string) any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func run(t *testing.T, tmpl string, data any) string {
	t.Helper()
	tp, err := Parse(tmpl)
	if err != nil {
		t.Fatalf("Parse(%q): %v", tmpl, err)
	}
	var b bytes.Buffer
	if err := tp.Execute(&b, data); err != nil {
		t.Fatalf("Execute(%q): %v", tmpl, err)
	}
	return b.String()
}

// Each example of kubectl's reference, with the result kubectl prints
// (maps as JSON, as kubectl prints them today).
func TestKubectlReferenceExamples(t *testing.T) {
	data := decode(t, kubectlInput)
	for _, tc := range []struct{ tmpl, want string }{
		{`kind is {.kind}`, `kind is List`},
		{`{.kind}`, `List`},
		{`{['kind']}`, `List`},
		{`{..name}`, `127.0.0.1 127.0.0.2 myself e2e`},
		{`{.items[*].metadata.name}`, `127.0.0.1 127.0.0.2`},
		{`{.users[0].name}`, `myself`},
		{`{.users[?(@.name=="e2e")].user.password}`, `secret`},
		{`{range .items[*]}[{.metadata.name}, {.status.capacity}] {end}`, `[127.0.0.1, {"cpu":"4"}] [127.0.0.2, {"cpu":"8"}] `},
		{`{range .items[*]}{.metadata.name}{'\t'}{end}`, "127.0.0.1\t127.0.0.2\t"},
		{`{.items[0].metadata.labels.kubernetes\.io/hostname}`, `127.0.0.1`},
		// kubectl's cheat sheet forms
		{`{range .items[*]}{.metadata.name}{"\n"}{end}`, "127.0.0.1\n127.0.0.2\n"},
		{`{.items[*].status.addresses[?(@.type=="LegacyHostIP")].address}`, `127.0.0.1 127.0.0.2`},
		{`{$.kind}`, `List`},
		{`{.items[-1].metadata.name}`, `127.0.0.2`},
		{`{.items[0:1].metadata.name}`, `127.0.0.1`},
		{`{.items[::-1].metadata.name}`, `127.0.0.2 127.0.0.1`},
		{`{.items[1,0].metadata.name}`, `127.0.0.2 127.0.0.1`},
		{`{.items[0].metadata.labels['kubernetes.io/hostname']}`, `127.0.0.1`},
		{`{.users[?(@.user.password)].name}`, `e2e`},
		{`{.users[?(@.name!="e2e")].name}`, `myself`},
		{`{.items[*].status.capacity.cpu}`, `4 8`},
		{`{.items[?(@.status.capacity.cpu=="8")].metadata.name}`, `127.0.0.2`},
		{`{range .items[*]}{range .status.addresses[*]}{.address},{end};{end}`, `127.0.0.1,;127.0.0.2,127.0.0.3,;`},
		// A missing key prints nothing (--allow-missing-template-keys).
		{`[{.nothing}] [{.items[5].metadata.name}]`, `[] []`},
		{`no actions`, `no actions`},
	} {
		if got := run(t, tc.tmpl, data); got != tc.want {
			t.Errorf("%s\n got %q\nwant %q", tc.tmpl, got, tc.want)
		}
	}
}

func TestNumbersAndFilters(t *testing.T) {
	data := decode(t, `{"items":[{"n":"a","r":0,"ok":true},{"n":"b","r":3,"ok":false},{"n":"c","r":12,"ok":true,"x":null}]}`)
	for _, tc := range []struct{ tmpl, want string }{
		{`{.items[?(@.r>2)].n}`, `b c`},
		{`{.items[?(@.r>=3)].n}`, `b c`},
		{`{.items[?(@.r<3)].n}`, `a`},
		{`{.items[?(@.r<=0)].n}`, `a`},
		{`{.items[?(@.r==12)].n}`, `c`},
		{`{.items[?(@.ok==true)].n}`, `a c`},
		{`{.items[?(@.ok == false)].n}`, `b`},
		{`{.items[?(@.x==null)].n}`, `c`},
		{`{.items[*].r}`, `0 3 12`},
		{`{.items[0]}`, `{"n":"a","ok":true,"r":0}`},
	} {
		if got := run(t, tc.tmpl, data); got != tc.want {
			t.Errorf("%s\n got %q\nwant %q", tc.tmpl, got, tc.want)
		}
	}
}

// A bad template is refused with where and why; nothing is printed.
func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ tmpl, want string }{
		{`{.kind`, "unclosed action"},
		{`{range .items[*]}{.x}`, "without {end}"},
		{`{.x}{end}`, "{end} without {range}"},
		{`{}`, "empty action"},
		{`{.items[a]}`, "bad index"},
		{`{.items[1:2:0]}`, "step must not be 0"},
		{`{.items[?(@.r~1)]}`, "want ) to close"},
		{`{.items[?(@.r==x)]}`, "bad value"},
		{`{"open}`, "unterminated string"},
		{`{.a..}`, "must follow"},
		{strings.Repeat(`{range .a}`, MaxDepth+2) + strings.Repeat(`{end}`, MaxDepth+2), "nested deeper"},
		{strings.Repeat(`.`, MaxTemplate+1), "more than the"},
	} {
		_, err := Parse(tc.tmpl)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%.40q): %v, want an error with %q", tc.tmpl, err, tc.want)
		}
	}
	if _, err := ParseExpr(`{.a}{.b}`); err == nil {
		t.Error("ParseExpr of two expressions: no error")
	}
}

func TestParseExprWithoutBraces(t *testing.T) {
	data := decode(t, kubectlInput)
	for _, e := range []string{".kind", "{.kind}", "kind", " .kind "} {
		tp, err := ParseExpr(e)
		if err != nil {
			t.Fatalf("ParseExpr(%q): %v", e, err)
		}
		if v := tp.Values(data); len(v) != 1 || v[0] != "List" {
			t.Errorf("ParseExpr(%q).Values = %v", e, v)
		}
	}
}

func TestCompare(t *testing.T) {
	for _, tc := range []struct {
		a, b any
		c    int
		ok   bool
	}{
		{json.Number("2"), json.Number("10"), -1, true},
		{"b", "a", 1, true},
		{false, true, -1, true},
		{nil, nil, 0, true},
		{"1", json.Number("1"), 0, false},
	} {
		if c, ok := Compare(tc.a, tc.b); c != tc.c || ok != tc.ok {
			t.Errorf("Compare(%v, %v) = %d, %v", tc.a, tc.b, c, ok)
		}
	}
}

// Deep input is walked without trouble: {..x} over a value nested 10000
// deep (the JSON decoder's own limit is the bound on what reaches here).
func TestDeepInput(t *testing.T) {
	var v any = map[string]any{"x": "leaf"}
	for range 10000 {
		v = map[string]any{"a": []any{v}}
	}
	if got := run(t, `{..x}`, v); got != "leaf" {
		t.Errorf("got %q", got)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{`{.a[*].b}`, `{range .a}{.b}{"\n"}{end}`, `{.a[?(@.b=="c")]}`, `{..x}`, `{.a[1:2:3]}`, `{['a','b']}`} {
		f.Add(s)
	}
	data := map[string]any{"a": []any{map[string]any{"b": "c"}}, "x": json.Number("1")}
	f.Fuzz(func(t *testing.T, s string) {
		tp, err := Parse(s)
		if err != nil {
			return
		}
		var b bytes.Buffer
		tp.Execute(&b, data)
	})
}
