package units

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

const (
	tooDeep = "nested more than 16 deep (tables and arrays, one inside another)"
	tooLong = "key too long: more than 512 bytes, with the names of the tables it is in"
)

// job is a valid unit that the cases below add to.
const job = "kind = \"job\"\n[template]\ncommand = [\"x\"]\n"

func TestLimits(t *testing.T) {
	rep := strings.Repeat
	nested := func(open, close string, depth int) string {
		return rep(open, depth) + "1" + rep(close, depth)
	}
	for _, c := range []struct {
		name string
		src  string
		want string // the whole error; "" for none
	}{
		// Each table, inline table, array and array of tables counts one.
		{"inline tables at the limit", "x = " + nested("{a=", "}", 16) + "\n" + job, "u.toml:1: x: unknown key"},
		{"inline tables over it", "x = " + nested("{a=", "}", 17) + "\n" + job, "u.toml:1: x: " + tooDeep},
		{"inline tables under a table over it", job + "y = " + nested("{a=", "}", 16), "u.toml:4: template.y: " + tooDeep},
		{"arrays at the limit", "x = " + nested("[", "]", 16) + "\n" + job, "u.toml:1: x: unknown key"},
		{"arrays over it", "\n\nx = " + nested("[", "]", 17) + "\n" + job, "u.toml:3: x: " + tooDeep},
		{"arrays under a table", job + "x = " + nested("[", "]", 15), "u.toml:4: template.x: unknown key"},
		{"arrays under a table over it", job + "x = " + nested("[", "]", 16), "u.toml:4: template.x: " + tooDeep},
		{"a header at the limit", job + "[" + rep("a.", 15) + "a]\n", "u.toml:4: a: unknown key"},
		{"a header over it", job + "[" + rep("a.", 16) + "a]\n", "u.toml:4: " + rep("a.", 16) + "a: " + tooDeep},
		{"an array of tables at the limit", job + "[[" + rep("a.", 14) + "a]]\n", "u.toml:4: a: unknown key"},
		{"an array of tables over it", job + "[[" + rep("a.", 15) + "a]]\n", "u.toml:4: " + rep("a.", 15) + "a: " + tooDeep},
		{"dotted keys at the limit", rep("a.", 16) + "a = 1\n" + job, "u.toml:1: a: unknown key"},
		{"dotted keys over it", rep("a.", 17) + "a = 1\n" + job, "u.toml:1: " + rep("a.", 16) + "a: " + tooDeep},
		{"dotted keys in an inline table", "x = {" + rep("a.", 15) + "a = 1}\n" + job, "u.toml:1: x: unknown key"},
		{"dotted keys in an inline table over it", "x = {" + rep("a.", 16) + "a = 1}\n" + job, "u.toml:1: x: " + tooDeep},
		{"a dotted key under a header", job + "[" + rep("a.", 7) + "a]\n" + rep("b.", 8) + "b = 1", "u.toml:4: a: unknown key"},
		{"a dotted key under a header over it", job + "[" + rep("a.", 7) + "a]\n" + rep("b.", 9) + "b = 1", "u.toml:5: " + rep("a.", 8) + rep("b.", 8) + "b: " + tooDeep},
		{"an inline table in an array under a header", job + "[" + rep("a.", 12) + "a]\nx = [{y = {}}]", "u.toml:4: a: unknown key"},
		{"an inline table in an array under a header over it", job + "[" + rep("a.", 12) + "a]\nx = [{y = {z = []}}]", "u.toml:5: " + rep("a.", 12) + "a.x: " + tooDeep},
		// An array of tables named again nests what is under it one
		// deeper, in a header or in a dotted key.
		{"arrays of tables named again", job + "[[a]]\n[[a.a]]\n[[a.a.a]]\n[[a.a.a.a]]\n[[a.a.a.a.a]]\n[[a.a.a.a.a.a]]\n[[a.a.a.a.a.a.a]]\n[[a.a.a.a.a.a.a.a]]\n", "u.toml:4: a: unknown key"},
		{"arrays of tables named again over it", job + "[[a]]\n[[a.a]]\n[[a.a.a]]\n[[a.a.a.a]]\n[[a.a.a.a.a]]\n[[a.a.a.a.a.a]]\n[[a.a.a.a.a.a.a]]\n[[a.a.a.a.a.a.a.a]]\n[a.a.a.a.a.a.a.a.a]\n", "u.toml:12: a.a.a.a.a.a.a.a.a: " + tooDeep},
		{"a dotted key through arrays of tables", job + "[[t.a]]\n[[t.a.a]]\n[[t.a.a.a]]\n[t]\n" + "a.a.a." + rep("b.", 9) + "c = 1\n", "u.toml:4: t: unknown key"},
		{"a dotted key through arrays of tables over it", job + "[[t.a]]\n[[t.a.a]]\n[[t.a.a.a]]\n[t]\n" + "a.a.a." + rep("b.", 10) + "c = 1\n", "u.toml:8: t.a.a.a." + rep("b.", 10) + "c: " + tooDeep},
		// Brackets in strings and comments do not count.
		{"brackets in strings and comments", "# [[[[[[[[[[[[[[[[[[[[\nkind = \"job\" # {{{{{{{{{{{{{{{{{{{{\n" +
			"[template] # [[[[[[[[[[[[[[[[[[[[\ncommand = [\n\"[[[[[[[[[[[[[[[[[[[[\", '{{{{{{{{{{{{{{{{{{{{', # [[[[[[[[[[[[[[[[[\n" +
			"\"\"\"[[[[[[[[[[[[[\n[[[[[[[[[[[[[[[[[\"\"\"\"\", '''{{{{{{{{{{{{{{{{{{\n{{{{{{{{{{{{{''''', \"\\\"[[[[[[[[[[[[[[[[[[[\",\n]\n" +
			"env = { \"{{{{{{{{{{{{{{{{{{{{\" = \"}\", '[[[[[[[[[[[[[[[[[[[[' = ']' }\n", ""},
		{"lines counted in multi-line strings", "x = \"\"\"\n\n\"\"\"\ny = '''\n'''\nz = \"\"\"a\\\n  b\"\"\" # [\"\n" + "w = " + nested("[", "]", 17) + "\n", "u.toml:8: w: " + tooDeep},

		// Keys: the table's name, a dot, and the key as written.
		{"a key at the limit", job + "[template.env]\n" + rep("K", 512-len("template.env.")) + " = \"v\"\n", ""},
		{"a key over it", job + "[template.env]\n" + rep("K", 513-len("template.env.")) + " = \"v\"\n", "u.toml:5: " + tooLong},
		{"a quoted key at the limit", job + "env = { \"" + rep("K", 512-len("template.env.\"\"")) + "\" = \"v\" }\n", ""},
		{"a quoted key over it", job + "env = { \"" + rep("K", 513-len("template.env.\"\"")) + "\" = \"v\" }\n", "u.toml:4: " + tooLong},
		{"a header at the key limit", job + "[" + rep("k", 512) + "]\n", "u.toml:4: " + rep("k", 512) + ": unknown key"},
		{"a header over the key limit", job + "[" + rep("k", 513) + "]\n", "u.toml:4: " + tooLong},
		{"a dotted key over the key limit", rep("k", 300) + "." + rep("k", 212) + " = 1\n" + job, "u.toml:1: " + tooLong},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("u.toml", []byte(c.src))
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != c.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, c.want)
			}
		})
	}
}

func TestFileSizeLimit(t *testing.T) {
	pad := func(n int) []byte {
		src := []byte(job + "#")
		src = append(src, strings.Repeat("x", n-len(src)-1)...)
		return append(src, '\n')
	}
	if _, err := Parse("u.toml", pad(MaxFileSize)); err != nil {
		t.Errorf("a file of MaxFileSize bytes: %v", err)
	}
	_, err := Parse("u.toml", pad(MaxFileSize+1))
	if got, want := fmt.Sprint(err), "u.toml: too large: 1048577 bytes, more than the limit of 1048576"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	_, err = Parse("dir/Bad_Name.toml", pad(MaxFileSize+1))
	var list ErrorList
	if !errors.As(err, &list) || len(list) != 2 || list[1].Error() != "dir/Bad_Name.toml: too large: 1048577 bytes, more than the limit of 1048576" {
		t.Errorf("with a bad name: %v", err)
	}

	// ParseFile reads no more than it needs to, and tells the size.
	dir := t.TempDir()
	path := filepath.Join(dir, "big.toml")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(pad(1024)); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(50 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, err = ParseFile(path)
	if got, want := fmt.Sprint(err), path+": too large: 52428800 bytes, more than the limit of 1048576"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if err := os.WriteFile(path, pad(MaxFileSize), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseFile(path); err != nil {
		t.Errorf("a file of MaxFileSize bytes: %v", err)
	}
}

// Hostile files are refused for little more than it costs to read them:
// before this check, 4000 inline tables one inside another took 2.5 s
// and 5 GB to parse.
func TestLimitsCostLittle(t *testing.T) {
	for _, in := range append(nestedInputs(100, 1000, 4000), largeNestedInputs()...) {
		var err error
		allocs := testing.AllocsPerRun(1, func() { _, err = Parse("u.toml", in.data) })
		var list ErrorList
		if !errors.As(err, &list) || len(list) != 1 || list[0].Msg != tooDeep {
			t.Errorf("%s: %v", in.name, err)
		}
		if allocs > 20 {
			t.Errorf("%s: %v allocations", in.name, allocs)
		}
	}
	if allocs := testing.AllocsPerRun(10, func() { checkLimits("kubia.toml", designKubia) }); allocs != 0 {
		t.Errorf("checkLimits of DESIGN.md's kubia.toml: %v allocations", allocs)
	}
}

func TestSetTopLevelIntLimits(t *testing.T) {
	src := []byte("kind = \"replicated\"\nreplicas = 1\nx = " + strings.Repeat("[", 17) + strings.Repeat("]", 17) + "\n")
	_, err := SetTopLevelInt(src, "replicas", 3)
	if got, want := fmt.Sprint(err), "line 3: x: "+tooDeep; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

// treeDepth returns how deep v, a value the toml package decoded, is
// nested: 0 for a string or a number, 1 for an empty table or array.
func treeDepth(v any) int {
	var d int
	switch v := v.(type) {
	case map[string]any:
		for _, e := range v {
			d = max(d, treeDepth(e))
		}
	case []map[string]any:
		for _, e := range v {
			d = max(d, treeDepth(e))
		}
	case []any:
		for _, e := range v {
			d = max(d, treeDepth(e))
		}
	default:
		return 0
	}
	return d + 1
}

// The lexer behind the limits finds, of every document the toml package
// accepts, at least the depth the toml package builds; exactly that
// depth when the toml package keeps everything the document says (it
// lets a key that a dotted key made a table be set again).
func TestLimitLexerDepth(t *testing.T) {
	for _, src := range []string{
		designKubia, kubia7, "a.b.c = 1", "[a.b]", "[[a]]\n[[a.b]]\n[a.b.c]\nx = [[{}]]",
		"y = " + strings.Repeat("{a=", 16) + "1" + strings.Repeat("}", 16),
		"[[a]]\n[[a.b]]\n[[a.b.c]]\n", "[[a.b]]\n[a]\nb.c.d = 1\n", "[ 'a' . \"b\" ]\n[[ a . b . c ]]\n[a.b.c.d]",
		"x = \"\"\"a\"\"\"\"\ny = [[[]]]", "x = '''a'''''\ny = [[[]]]", "x = [\"\"\"\"\"\", [[]]]",
	} {
		var m map[string]any
		if _, err := toml.Decode(src, &m); err != nil {
			t.Fatalf("not TOML: %v\n%s", err, src)
		}
		var l limitLexer
		l.init(src)
		if err := l.run(); err != nil || l.maxDepth != treeDepth(m)-1 {
			t.Errorf("depth %d (%v), want %d:\n%s", l.maxDepth, err, treeDepth(m)-1, src)
		}
	}

	// Random documents, made of parts that are easy to lex wrongly.
	r := rand.New(rand.NewPCG(11, 1))
	names := []string{"a", "b", `"a"`, `'b'`, `"x.y"`, `"[["`, ` a `, `"\""`, `'#'`, `"\\"`}
	scalars := []string{`"[[{"`, `'[{'`, "\"\"\"[[\n{{\"\"\"", "'''[[[\n]]'''", `"""a""""`, `"\"[["`, `""`, `''`,
		`"""""""`, `'''''''`, `"#"`, "1", "1.5", "true", "1979-05-27T07:32:00Z", "1979-05-27 07:32:00"}
	key := func() string {
		var parts []string
		for range 1 + r.IntN(3) {
			parts = append(parts, names[r.IntN(len(names))])
		}
		return strings.Join(parts, []string{".", " . "}[r.IntN(2)])
	}
	var value func(depth int) string
	value = func(depth int) string {
		if depth < 6 {
			var elems []string
			switch r.IntN(4) {
			case 0:
				for range r.IntN(3) {
					elems = append(elems, value(depth+1))
				}
				return "[" + strings.Join(elems, ", # [[\n") + "]"
			case 1:
				for range r.IntN(3) {
					elems = append(elems, key()+" = "+value(depth+1))
				}
				return "{" + strings.Join(elems, ",\n") + "}"
			}
		}
		return scalars[r.IntN(len(scalars))]
	}
	docs := 0
	for range 20000 {
		var b strings.Builder
		for range 1 + r.IntN(5) {
			switch r.IntN(4) {
			case 0:
				b.WriteString("[" + key() + "] # [[\n")
			case 1:
				b.WriteString("[[" + key() + "]]\n")
			default:
				b.WriteString(key() + " = " + value(0) + "\n")
			}
		}
		src := b.String()
		var m map[string]any
		if _, err := toml.Decode(src, &m); err != nil {
			continue
		}
		docs++
		want := treeDepth(m) - 1
		var l limitLexer
		l.init(src)
		err := l.run()
		if err == nil && l.maxDepth < want {
			t.Errorf("depth %d, want %d:\n%s", l.maxDepth, want, src)
		}
		if err != nil && want <= MaxDepth-2 {
			t.Errorf("refused %d deep: %v\n%s", want, err, src)
		}
	}
	if docs < 10000 {
		t.Errorf("only %d documents were TOML", docs)
	}
}

// TestInstanceLimits: the agent's limit of instances per unit makes a
// unit that asks for more an invalid file, on the line of the key that
// asks, naming the limit and its configuration key; at the limit, and
// with no limit, the file is valid.
func TestInstanceLimits(t *testing.T) {
	lim := Limits{InstancesPerUnit: 1000}
	over := "more than the agent allows: at most 1000 instances per unit (limits.instances_per_unit in the agent's config)"
	rep := "kind = \"replicated\"\n\nreplicas = %d\n[template]\nlabels = { app = \"x\" }\ncommand = [\"x\"]\n"
	jobOf := "kind = \"%s\"\nschedule = \"@hourly\"\ncompletions = %d\nparallelism = %d\n[template]\ncommand = [\"x\"]\nrestart = \"never\"\n"
	for _, c := range []struct {
		name, src string
		lim       Limits
		want      string // the whole error; "" for none
	}{
		{"replicas at the limit", fmt.Sprintf(rep, 1000), lim, ""},
		{"replicas over it", fmt.Sprintf(rep, 100000), lim, "u.toml:3: replicas: 100000 is " + over},
		{"replicas of int64's most", fmt.Sprintf(rep, int64(1<<63-1)), lim, "u.toml:3: replicas: 9223372036854775807 is " + over},
		{"replicas with no limit", fmt.Sprintf(rep, 100000), Limits{}, ""},
		{"completions over it", strings.Replace(fmt.Sprintf(jobOf, "job", 1001, 2), "schedule = \"@hourly\"\n", "", 1), lim, "u.toml:2: completions: 1001 is " + over},
		{"parallelism over it", strings.Replace(fmt.Sprintf(jobOf, "job", 10, 5000), "schedule = \"@hourly\"\n", "", 1), lim, "u.toml:3: parallelism: 5000 is " + over},
		{"a cron unit's jobs over it", fmt.Sprintf(jobOf, "cron", 2000, 3000), lim, "u.toml:3: completions: 2000 is " + over + "\nu.toml:4: parallelism: 3000 is " + over},
		{"a job at the limit", fmt.Sprintf(jobOf, "cron", 1000, 1000), lim, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseLimited("u.toml", []byte(c.src), c.lim)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != c.want {
				t.Errorf("got  %q\nwant %q", got, c.want)
			}
		})
	}
	if err := lim.CheckInstances(1001); err == nil || !strings.Contains(err.Error(), "1001 is "+over) {
		t.Errorf("CheckInstances(1001) = %v", err)
	}
	if err := lim.CheckInstances(1000); err != nil {
		t.Errorf("CheckInstances(1000) = %v", err)
	}
}
