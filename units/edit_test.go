package units

import (
	"errors"
	"math"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSetTopLevelInt(t *testing.T) {
	cases := []struct {
		name, in, key string
		n             int
		want          string
	}{
		// supervisor's setTopLevelInt did these; its comment kept two
		// spaces before the #, where only the value changes now.
		{
			"replace, keeping the comment",
			"# kubia\nkind = \"replicated\"\nreplicas = 3 # three\n[template]\nreplicas = 9\n",
			"replicas", 4,
			"# kubia\nkind = \"replicated\"\nreplicas = 4 # three\n[template]\nreplicas = 9\n",
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

		// how the key is written
		{
			"quoted key, no spaces",
			"kind = \"replicated\"\n\"replicas\"=3\n",
			"replicas", 5,
			"kind = \"replicated\"\n\"replicas\"=5\n",
		},
		{
			"literal key",
			"'replicas' = 3\nkind = \"replicated\"\n",
			"replicas", 5,
			"'replicas' = 5\nkind = \"replicated\"\n",
		},
		{
			"quoted key with an escape",
			"\"repl\\u0069cas\" = 3\n",
			"replicas", 5,
			"\"repl\\u0069cas\" = 5\n",
		},
		{
			"spacing, tabs and a comment kept",
			"  replicas   =\t3\t# the count\n",
			"replicas", 12,
			"  replicas   =\t12\t# the count\n",
		},
		{
			"a comment right after the value",
			"replicas = 3#three\n",
			"replicas", 4,
			"replicas = 4#three\n",
		},
		{
			"hexadecimal and underscores become decimal",
			"replicas = 0x1_0\nparallelism = 1_000\n",
			"replicas", 16,
			"replicas = 16\nparallelism = 1_000\n",
		},
		{
			"the last line without a line ending",
			"kind = \"replicated\"\nreplicas = 3",
			"replicas", 4,
			"kind = \"replicated\"\nreplicas = 4",
		},
		{
			"a longer key with the name as prefix is another key",
			"replicas_max = 3\nkind = \"replicated\"\n",
			"replicas", 1,
			"replicas_max = 3\nkind = \"replicated\"\nreplicas = 1\n",
		},
		{
			"a key that needs quotes is added quoted",
			"kind = \"x\"\n",
			"a b", 1,
			"kind = \"x\"\n\"a b\" = 1\n",
		},

		// CRLF
		{
			"CRLF, replace",
			"kind = \"replicated\"\r\nreplicas = 3 # three\r\n[template]\r\ncommand = [\"x\"]\r\n",
			"replicas", 4,
			"kind = \"replicated\"\r\nreplicas = 4 # three\r\n[template]\r\ncommand = [\"x\"]\r\n",
		},
		{
			"CRLF, insert after kind",
			"kind = \"replicated\"\r\n[template]\r\ncommand = [\"x\"]\r\n",
			"replicas", 2,
			"kind = \"replicated\"\r\nreplicas = 2\r\n[template]\r\ncommand = [\"x\"]\r\n",
		},
		{
			"CRLF, insert at the top",
			"# c\r\n[template]\r\n",
			"replicas", 2,
			"replicas = 2\r\n# c\r\n[template]\r\n",
		},

		// what only looks like the key, or like a header
		{
			"the key in a multi-line string",
			"note = \"\"\"\nreplicas = 9\n\"\"\"\nkind = \"replicated\"\n",
			"replicas", 1,
			"note = \"\"\"\nreplicas = 9\n\"\"\"\nkind = \"replicated\"\nreplicas = 1\n",
		},
		{
			"the key in a multi-line literal string, with quotes",
			"note = '''\nreplicas = 9 '''\nreplicas = 2\n",
			"replicas", 1,
			"note = '''\nreplicas = 9 '''\nreplicas = 1\n",
		},
		{
			"the key in comments",
			"# replicas = 9\nkind = \"replicated\" # replicas = 8\n",
			"replicas", 1,
			"# replicas = 9\nkind = \"replicated\" # replicas = 8\nreplicas = 1\n",
		},
		{
			"the key in an inline table",
			"labels = { replicas = \"9\" }\nkind = \"replicated\"\n",
			"replicas", 1,
			"labels = { replicas = \"9\" }\nkind = \"replicated\"\nreplicas = 1\n",
		},
		{
			"the key as part of a dotted key is another key",
			"kind = \"x\"\nscale.replicas = 2\n",
			"replicas", 1,
			"kind = \"x\"\nreplicas = 1\nscale.replicas = 2\n",
		},
		{
			"a header in a multi-line string is no header",
			"note = '''\n[template]\n'''\nreplicas = 3\n[template]\nreplicas = 9\n",
			"replicas", 4,
			"note = '''\n[template]\n'''\nreplicas = 4\n[template]\nreplicas = 9\n",
		},
		{
			"a header in a string in an array is no header",
			"args = [\n  \"\"\"\n[template]\n\"\"\",\n]\nreplicas = 3\n",
			"replicas", 4,
			"args = [\n  \"\"\"\n[template]\n\"\"\",\n]\nreplicas = 4\n",
		},
		{
			"kind's value across lines",
			"kind = '''\nreplicated''' # k\nlabels = {}\n",
			"replicas", 2,
			"kind = '''\nreplicated''' # k\nreplicas = 2\nlabels = {}\n",
		},

		// where it goes without kind
		{
			"absent, no kind: at the top, before the comments",
			"# kubia\nlabels = { app = \"x\" }\n[template]\n",
			"replicas", 2,
			"replicas = 2\n# kubia\nlabels = { app = \"x\" }\n[template]\n",
		},
		{
			"an empty file",
			"",
			"replicas", 1,
			"replicas = 1\n",
		},
		{
			"after a byte order mark",
			"\xef\xbb\xbf[template]\n",
			"replicas", 1,
			"\xef\xbb\xbfreplicas = 1\n[template]\n",
		},
		{
			"kind is a table's: no kind at the top",
			"[template]\nkind = \"x\"\n",
			"replicas", 1,
			"replicas = 1\n[template]\nkind = \"x\"\n",
		},
		{
			"kind on the last line without a line ending",
			"kind = \"job\"",
			"parallelism", 2,
			"kind = \"job\"\nparallelism = 2",
		},

		// values
		{
			"the largest integer",
			"replicas = 1\n",
			"replicas", math.MaxInt64,
			"replicas = 9223372036854775807\n",
		},
		{
			"a negative count is the caller's to refuse, but still TOML",
			"replicas = 1\n",
			"replicas", -1,
			"replicas = -1\n",
		},
		{
			"the smallest integer, inserted",
			"kind = \"x\"\n",
			"replicas", math.MinInt64,
			"kind = \"x\"\nreplicas = -9223372036854775808\n",
		},
		{
			"a NaN elsewhere compares equal to itself",
			"x = nan\nreplicas = 1\n",
			"replicas", 2,
			"x = nan\nreplicas = 2\n",
		},
	}
	for _, c := range cases {
		in := []byte(c.in)
		got, err := SetTopLevelInt(in, c.key, c.n)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if string(got) != c.want {
			t.Errorf("%s:\n got %q\nwant %q", c.name, got, c.want)
		}
		if string(in) != c.in {
			t.Errorf("%s: the input was changed: %q", c.name, in)
		}
	}
}

func TestSetTopLevelIntRefuses(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"a string", "kind = \"replicated\"\n\nreplicas = \"3\"\n", `line 3: replicas: is a string, not an integer`},
		{"a float", "replicas = 3.0\n", `line 1: replicas: is a float, not an integer`},
		{"a boolean", "replicas = true\n", `line 1: replicas: is a boolean, not an integer`},
		{"an array", "kind = \"x\"\nreplicas = [\n3,\n]\n", `line 2: replicas: is an array, not an integer`},
		{"an inline table", "replicas = { n = 3 }\n", `line 1: replicas: is a table, not an integer`},
		{"a dotted key", "kind = \"x\"\nreplicas.n = 3\n", `line 2: replicas: is a table, not an integer`},
		{"a table", "kind = \"x\"\n[replicas]\nn = 3\n", `line 2: replicas: is a table, not an integer`},
		{"an array of tables", "kind = \"x\"\n[[replicas]]\n", `line 2: replicas: is an array of tables, not an integer`},
		{"a date", "replicas = 2024-03-01\n", `line 1: replicas: is a date-time, not an integer`},
		{"the key twice", "replicas = 3\nkind = \"x\"\nreplicas = 4\n", `line 3: replicas: invalid TOML: Key 'replicas' has already been defined.`},
		{"an integer too large for TOML", "replicas = 99999999999999999999\n", `line 1: replicas: invalid TOML: 99999999999999999999 is out of range for int64`},
		{"not TOML", "kind = \"x\"\nreplicas =\n", `line 2: replicas: invalid TOML: expected value but found the end of the line instead`},
		{"an unclosed table header", "replicas = 3\n[template\n", `line 2: invalid TOML: expected '.' or ']' to end table name, but got the end of the line instead`},
	}
	for _, c := range cases {
		got, err := SetTopLevelInt([]byte(c.in), "replicas", 1)
		var e *Error
		if !errors.As(err, &e) || got != nil {
			t.Errorf("%s: got %q, %v; want an *Error", c.name, got, err)
			continue
		}
		if err.Error() != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, err, c.want)
		}
	}
}

// A key that no TOML document can have (it is not UTF-8) makes a result
// that does not decode: the check of the result refuses it.
func TestSetTopLevelIntChecksItsResult(t *testing.T) {
	src := []byte("kind = \"x\"\n")
	got, err := SetTopLevelInt(src, "\xff", 1)
	var e *Error
	if !errors.As(err, &e) || got != nil || e.Line != 1 ||
		!strings.Contains(err.Error(), "cannot set it to 1 without damaging the file, which is left as it was: line 2: invalid TOML:") {
		t.Errorf("got %q, %v", got, err)
	}
}

func TestSameTOML(t *testing.T) {
	a, err := decodeTOML([]byte("x = nan\nt = 1979-05-27T07:32:00-08:00\n[[u]]\nv = [1, { w = 2.5 }]\n"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := decodeTOML([]byte("x = nan\nt = 1979-05-27T07:32:00-08:00\n[[u]]\nv = [1, { w = 2.5 }]\n"))
	if !sameTOML(a, b) {
		t.Errorf("equal documents differ")
	}
	for _, other := range []string{
		"x = nan\nt = 1979-05-27T07:32:00-08:00\n[[u]]\nv = [1, { w = 2.6 }]\n",
		"x = nan\nt = 1979-05-27T07:32:00-07:00\n[[u]]\nv = [1, { w = 2.5 }]\n",
		"x = 1.0\nt = 1979-05-27T07:32:00-08:00\n[[u]]\nv = [1, { w = 2.5 }]\n",
		"x = nan\nt = 1979-05-27T07:32:00-08:00\n[[u]]\nv = [1, { w = 2.5 }]\n[[u]]\n",
		"x = nan\nt = 1979-05-27T07:32:00-08:00\n[[u]]\nv = [1, { w = 2.5 }]\ny = 1\n",
	} {
		c, err := decodeTOML([]byte(other))
		if err != nil {
			t.Fatal(err)
		}
		if sameTOML(a, c) {
			t.Errorf("%q is taken for the same document", other)
		}
	}
}

// FuzzSetTopLevelInt checks that SetTopLevelInt never panics, and that it
// sets any top-level key that is an integer or absent: it refuses only
// documents that are not TOML and values of other types.
func FuzzSetTopLevelInt(f *testing.F) {
	f.Add([]byte("# kubia\nkind = \"replicated\"\nreplicas = 3 # three\n[template]\nreplicas = 9\n"), "replicas", 4)
	f.Add([]byte("note = '''\n[template]\n'''\r\nreplicas = 3\r\n[template]\r\n"), "replicas", -1)
	f.Add([]byte("kind = '''\nreplicated''' # k\nlabels = { a = \"\"\"\nx\"\"\" }\n"), "replicas", 0)
	f.Add([]byte("\xef\xbb\xbf\"repl\\u0069cas\"=0x10#c"), "replicas", math.MaxInt64)
	f.Add([]byte("kind = \"job\""), "parallelism", 2)

	f.Fuzz(func(t *testing.T, data []byte, key string, n int) {
		if !utf8.ValidString(key) {
			t.Skip("no TOML document has such a key") // and the check of the result says so
		}
		before, err := decodeTOML(data)
		got, err2 := SetTopLevelInt(data, key, n)
		if err != nil {
			if err2 == nil {
				t.Fatalf("not TOML (%v), and yet: %q", err, got)
			}
			return
		}
		v, ok := before[key]
		if _, isInt := v.(int64); ok && !isInt {
			if err2 == nil {
				t.Fatalf("%s is %T, and yet: %q", key, v, got)
			}
			return
		}
		if err2 != nil {
			t.Fatalf("%v in %q", err2, data)
		}
	})
}

func TestSetTopLevelBoolAndString(t *testing.T) {
	src := "# kubia\nkind = \"replicated\" # the kind\nreplicas = 3\n\n[template]\ncommand = [\"kubia\"]\n"
	out, err := SetTopLevelBool([]byte(src), "stopped", true)
	if want := "# kubia\nkind = \"replicated\" # the kind\nstopped = true\nreplicas = 3\n\n[template]\ncommand = [\"kubia\"]\n"; err != nil || string(out) != want {
		t.Fatalf("added: %q, %v", out, err)
	}
	out, err = SetTopLevelBool(out, "stopped", false)
	if want := "# kubia\nkind = \"replicated\" # the kind\nstopped = false\nreplicas = 3\n\n[template]\ncommand = [\"kubia\"]\n"; err != nil || string(out) != want {
		t.Fatalf("changed: %q, %v", out, err)
	}
	out, err = SetTopLevelString(out, "restarted_at", "2026-12-03T12:00:00Z")
	if err != nil || !strings.Contains(string(out), "kind = \"replicated\" # the kind\nrestarted_at = \"2026-12-03T12:00:00Z\"\nstopped = false\n") {
		t.Fatalf("string added: %q, %v", out, err)
	}
	out, err = SetTopLevelString(out, "restarted_at", "2026-12-04T00:00:00Z")
	if err != nil || !strings.Contains(string(out), "restarted_at = \"2026-12-04T00:00:00Z\"\n") || strings.Count(string(out), "restarted_at") != 1 {
		t.Fatalf("string changed: %q, %v", out, err)
	}
	for _, tc := range []struct {
		src, key string
		set      func([]byte, string) ([]byte, error)
		want     string
	}{
		{"stopped = \"yes\"\n", "stopped", func(b []byte, k string) ([]byte, error) { return SetTopLevelBool(b, k, true) }, "is a string, not a boolean"},
		{"restarted_at = 3\n", "restarted_at", func(b []byte, k string) ([]byte, error) { return SetTopLevelString(b, k, "x") }, "is an integer, not a string"},
		{"kind = \"job\"\n", "restarted_at", func(b []byte, k string) ([]byte, error) { return SetTopLevelString(b, k, "a\"b") }, "printable ASCII"},
		{"kind = \"job\"\n", "restarted_at", func(b []byte, k string) ([]byte, error) { return SetTopLevelString(b, k, "a\nb") }, "printable ASCII"},
	} {
		if _, err := tc.set([]byte(tc.src), tc.key); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.src, err, tc.want)
		}
	}
}
