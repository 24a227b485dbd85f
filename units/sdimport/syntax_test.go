package sdimport

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/units"
)

// Time spans as systemd.time(7) gives them.
func TestParseTimeSpan(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		inf  bool
		err  string
	}{
		{in: "90", want: 90 * time.Second},
		{in: "1min 30s", want: 90 * time.Second},
		{in: "1min30s", want: 90 * time.Second},
		{in: "2h 5min", want: 2*time.Hour + 5*time.Minute},
		{in: "100ms", want: 100 * time.Millisecond},
		{in: "1.5h", want: 90 * time.Minute},
		{in: "5 seconds", want: 5 * time.Second},
		{in: "250us", want: 250 * time.Microsecond},
		{in: "1d", want: 24 * time.Hour},
		{in: "1w", want: 7 * 24 * time.Hour},
		{in: "0", want: 0},
		{in: "infinity", inf: true},
		{in: "", err: "empty"},
		{in: "soon", err: `"soon" is not a time span`},
		{in: "5 fortnights", err: `"fortnights" is not a unit of time`},
		{in: "1.2.3s", err: `"1.2.3" is not a number`},
		{in: "999999999999y", err: "too long"},
	} {
		got, err := parseTimeSpan(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: %v, want an error with %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got.d != tc.want || got.infinity != tc.inf {
			t.Errorf("%q = %v %v %v, want %v %v", tc.in, got.d, got.infinity, err, tc.want, tc.inf)
		}
	}
}

// Words as systemd splits them: quotes, C escapes, whitespace.
func TestSplitWords(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		err  bool
	}{
		{in: `a b  c`, want: []string{"a", "b", "c"}},
		{in: `"A=b c" D=e`, want: []string{"A=b c", "D=e"}},
		{in: `'x "y"' z`, want: []string{`x "y"`, "z"}},
		{in: `a\tb \x41\101 \u00e9 \"q\"`, want: []string{"a\tb", "AA", "é", `"q"`}},
		{in: `pre"mid dle"post`, want: []string{"premid dlepost"}},
		{in: `""`, want: []string{""}},
		{in: `"open`, err: true},
		{in: `trailing\`, err: true},
		{in: `\x0`, err: true},
	} {
		got, err := splitWords(tc.in)
		if tc.err {
			if err == nil {
				t.Errorf("%q: %q, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%q = %q %v, want %q", tc.in, got, err, tc.want)
		}
	}
}

// Words written for the shell come back as the same words.
func TestShellQuote(t *testing.T) {
	for _, s := range []string{"plain", "", "a b", "it's", `"$HOME"`, "*", "a\nb", "--x=1,2"} {
		q := shellQuote(s)
		if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyz-=,12") == "" && q != s {
			t.Errorf("%q quoted without need: %s", s, q)
		}
		if !strings.HasPrefix(q, "'") && strings.ContainsAny(s, " '\"$*\n") {
			t.Errorf("%q left bare", s)
		}
	}
}

// Whatever the file, Convert returns an error or a unit that parses,
// named validly, whose warnings are on lines of the file; and it does
// not panic.
func FuzzConvert(f *testing.F) {
	f.Add([]byte("[Unit]\nDescription=x\n[Service]\nType=notify\nExecStart=/bin/echo ${A} $B %n\nEnvironment=A=1\nRestartSec=1min 5s\nMemoryMax=1G\n"))
	f.Add([]byte("[Service]\nType=oneshot\nExecStartPre=-/bin/true\nExecStart=/bin/a\nExecStart=@/bin/b c\nEnvironmentFile=-/e\n"))
	f.Add([]byte("[Service]\nExecStart=/bin/x \\\n  y\n[Install]\nWantedBy=x\n[X-Y]\nA=b\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := Convert("fuzz.service", data, Options{})
		if err != nil {
			return
		}
		if units.ValidateName(res.Name) != nil {
			t.Fatalf("name %q", res.Name)
		}
		if _, err := units.Parse(res.Name+".toml", res.TOML); err != nil {
			t.Fatalf("the unit made does not parse: %v\n%s", err, res.TOML)
		}
		lines := strings.Count(string(data), "\n") + 1
		for _, w := range res.Warnings {
			if w.Line < 0 || w.Line > lines {
				t.Fatalf("warning on line %d of %d: %v", w.Line, lines, w)
			}
		}
	})
}

// The largest files, of the worst kinds: one value continued over a
// mebibyte, references that never close, a thousand sections. Each is
// converted or refused in time that grows with its size.
func BenchmarkConvertLargest(b *testing.B) {
	cont := "[Service]\nExecStart=/bin/echo " + strings.Repeat("${A ${B \\\n", (MaxFileSize-40)/10) + "\n"
	refs := "[Service]\nExecStart=/bin/echo " + strings.Repeat("${", 1000) + "\n"
	var many strings.Builder
	many.WriteString("[Service]\nExecStart=/bin/true\n")
	for i := 0; many.Len() < MaxFileSize-100; i++ {
		many.WriteString("[X-S" + strings.Repeat("x", i%50) + "]\nK=v\n")
	}
	for name, src := range map[string]string{"continued": cont, "unclosed": refs, "sections": many.String()} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(src)))
			for b.Loop() {
				Convert("big.service", []byte(src), Options{})
			}
		})
	}
}

func TestDropInNames(t *testing.T) {
	for base, want := range map[string][]string{
		"nginx.service":              {"service.d", "nginx.service.d"},
		"foo-bar-baz.service":        {"service.d", "foo-.service.d", "foo-bar-.service.d", "foo-bar-baz.service.d"},
		"postgresql@15-main.service": {"service.d", "postgresql@.service.d", "postgresql@15-main.service.d"},
		"exim4-base.timer":           {"timer.d", "exim4-.timer.d", "exim4-base.timer.d"},
	} {
		if got := dropInNames(base); !slices.Equal(got, want) {
			t.Errorf("%s: %q, want %q", base, got, want)
		}
	}
}
