package units

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// kubia7 is the seed's kubia in seven lines: kind, replicas, and a
// template with labels and command.
const kubia7 = `# kubia: three replicas of the seed's web server
kind = "replicated"
replicas = 3

[template]
labels = { app = "kubia" }
command = ["kubia", "--port", "8080"]
`

func benchParse(b *testing.B, name string, data []byte) {
	b.Helper()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		Parse(name, data)
	}
	b.ReportMetric(float64(len(data)), "file-bytes")
}

func BenchmarkParse(b *testing.B) {
	b.Run("kubia7", func(b *testing.B) { benchParse(b, "kubia.toml", []byte(kubia7)) })
	b.Run("design-kubia", func(b *testing.B) { benchParse(b, "kubia.toml", []byte(designKubia)) })
}

// BenchmarkParse1000 parses 1000 seven-line unit files one after another,
// as the agent does when it starts with 1000 files in its unit directory.
func BenchmarkParse1000(b *testing.B) {
	const n = 1000
	names := make([]string, n)
	files := make([][]byte, n)
	for i := range files {
		names[i] = fmt.Sprintf("/etc/tend/units.d/web-%d.toml", i)
		files[i] = []byte(strings.ReplaceAll(kubia7, "kubia", fmt.Sprintf("web-%d", i)))
	}
	b.ReportAllocs()
	for b.Loop() {
		for i := range files {
			if _, err := Parse(names[i], files[i]); err != nil {
				b.Fatal(err)
			}
		}
	}
	per := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(per/n, "ns/file")
	b.ReportMetric(per/1e6, "ms/1000files")
}

// An input is one hostile unit file.
type input struct {
	name string
	data []byte
}

// nestedInputs returns the hostile inputs of issue 11 that are small:
// values and keys nested depth deep.
func nestedInputs(depths ...int) []input {
	nested := func(open, inner, close string, depth int) []byte {
		return []byte("y = " + strings.Repeat(open, depth) + inner + strings.Repeat(close, depth) + "\n")
	}
	var in []input
	for _, d := range depths {
		in = append(in,
			input{fmt.Sprintf("tables-%d", d), nested("{a=", "1", "}", d)},
			input{fmt.Sprintf("arrays-%d", d), nested("[", "1", "]", d)},
			input{fmt.Sprintf("headers-%d", d), []byte("[" + strings.Repeat("a.", d-1) + "a]\nb = 1\n")},
			input{fmt.Sprintf("dotted-%d", d), []byte(strings.Repeat("a.", d-1) + "a = 1\n")},
		)
	}
	return in
}

// largeInputs returns hostile inputs of just under 1 MiB.
func largeInputs() []input {
	const size = 1 << 20
	var env strings.Builder
	env.WriteString("kind = \"job\"\n[template]\ncommand = [\"x\"]\n[template.env]\n")
	for i := 0; env.Len() < size-16; i++ {
		fmt.Fprintf(&env, "K%07d = \"v\"\n", i)
	}
	var unknown strings.Builder
	for i := 0; unknown.Len() < size-16; i++ {
		fmt.Fprintf(&unknown, "k%07d = 1\n", i)
	}
	str := "kind = \"job\"\n[template]\ncommand = [\"" + strings.Repeat("x", size-64) + "\"]\n"
	return []input{
		{"1MiB-many-env-keys", []byte(env.String())},         // a valid unit
		{"1MiB-many-unknown-keys", []byte(unknown.String())}, // an error for each key
		{"1MiB-huge-string", []byte(str)},                    // a valid unit
	}
}

// largeNestedInputs returns files of just under 1 MiB nested as deep as
// that allows, which checkLimits refuses.
func largeNestedInputs() []input {
	const size = 1 << 20
	rep := strings.Repeat
	return []input{
		{"1MiB-nested-arrays", []byte("y = " + rep("[", (size-5)/2) + rep("]", (size-5)/2) + "\n")},
		{"1MiB-nested-tables", []byte("y = " + rep("{a=", (size-6)/4) + "1" + rep("}", (size-6)/4) + "\n")},
		{"1MiB-header", []byte("[" + rep("a.", size/2-2) + "a]\n")},
		{"1MiB-dotted-key", []byte(rep("a.", size/2-3) + "a = 1\n")},
	}
}

// worstAllowedInputs returns files of just under 1 MiB that are within
// the limits and as costly as can be: each line nested MaxDepth deep, or
// a key under a table with a name of MaxKeyLength-16 bytes.
func worstAllowedInputs() []input {
	const size = 1 << 20
	rep := strings.Repeat
	var deep, long strings.Builder
	for i := 0; deep.Len() < size-100; i++ {
		fmt.Fprintf(&deep, "k%d = %s1%s\n", i, rep("{a=", MaxDepth), rep("}", MaxDepth))
	}
	long.WriteString("[" + rep("t", MaxKeyLength-16) + "]\n")
	for i := 0; long.Len() < size-100; i++ {
		fmt.Fprintf(&long, "k%d = 1\n", i)
	}
	return []input{
		{"1MiB-16-deep-lines", []byte(deep.String())},
		{"1MiB-keys-under-a-long-name", []byte(long.String())},
	}
}

// BenchmarkParseAdversarial is what hostile unit files cost.
func BenchmarkParseAdversarial(b *testing.B) {
	all := slices.Concat(nestedInputs(100, 1000, 4000), largeInputs(), largeNestedInputs(), worstAllowedInputs())
	for _, in := range all {
		b.Run(in.name, func(b *testing.B) { benchParse(b, "u.toml", in.data) })
	}
}
