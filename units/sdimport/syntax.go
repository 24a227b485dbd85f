package sdimport

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// This file holds systemd's value syntaxes, as systemd.syntax(7),
// systemd.time(7) and systemd.service(5) give them: words with quotes and
// C escapes, time spans, command lines with their prefixes and variable
// references; and the two syntaxes the conversion writes, TOML strings
// and POSIX shell words.

// splitWords splits s into words as systemd's extract_first_word does
// with EXTRACT_UNQUOTE|EXTRACT_CUNESCAPE: separated by whitespace, quoted
// with '…' or "…" (the quotes removed), with C escapes (\n, \t, \\, \",
// \xNN, \NNN, \uNNNN …) in and out of quotes. A trailing backslash or an
// unclosed quote is an error.
func splitWords(s string) ([]string, error) {
	raw, err := splitRaw(s)
	if err != nil {
		return nil, err
	}
	words := make([]string, len(raw))
	for i, w := range raw {
		words[i] = w.text
	}
	return words, nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// unescape decodes the C escape at the start of s (which begins with a
// backslash), returning its text and the bytes it took.
func unescape(s string) (string, int, error) {
	if len(s) < 2 {
		return "", 0, errors.New("a backslash ends the value")
	}
	switch c := s[1]; c {
	case 'a':
		return "\a", 2, nil
	case 'b':
		return "\b", 2, nil
	case 'f':
		return "\f", 2, nil
	case 'n':
		return "\n", 2, nil
	case 'r':
		return "\r", 2, nil
	case 't':
		return "\t", 2, nil
	case 'v':
		return "\v", 2, nil
	case 's':
		return " ", 2, nil
	case 'x':
		return hexEscape(s, 2, 8)
	case 'u':
		return hexEscape(s, 4, 0)
	case 'U':
		return hexEscape(s, 8, 0)
	case '0', '1', '2', '3', '4', '5', '6', '7':
		if len(s) < 4 {
			return "", 0, fmt.Errorf("%q: an octal escape takes three digits", s)
		}
		n, err := strconv.ParseUint(s[1:4], 8, 8)
		if err != nil || n == 0 {
			return "", 0, fmt.Errorf("%q is not an octal escape of a byte other than NUL", s[:4])
		}
		return string([]byte{byte(n)}), 4, nil
	case '\n':
		return " ", 2, nil // a continued line, should one reach here
	default:
		// \\, \", \', \$, \; and the rest stand for themselves.
		_, size := utf8.DecodeRuneInString(s[1:])
		return s[1 : 1+size], 1 + size, nil
	}
}

// hexEscape decodes \x (bits 8: a byte), \u or \U with digits hex digits.
func hexEscape(s string, digits, bits int) (string, int, error) {
	if bits == 8 {
		digits = 2
	}
	if len(s) < 2+digits {
		return "", 0, fmt.Errorf("%q: a \\%c escape takes %d hex digits", s, s[1], digits)
	}
	n, err := strconv.ParseUint(s[2:2+digits], 16, 32)
	if err != nil || n == 0 {
		return "", 0, fmt.Errorf("%q is not a hex escape of a character other than NUL", s[:2+digits])
	}
	if bits == 8 {
		return string([]byte{byte(n)}), 2 + digits, nil
	}
	if n > utf8.MaxRune || !utf8.ValidRune(rune(n)) {
		return "", 0, fmt.Errorf("%q is not a Unicode character", s[:2+digits])
	}
	return string(rune(n)), 2 + digits, nil
}

// A timeSpan is a systemd time span: infinite, or a duration.
type timeSpan struct {
	d        time.Duration
	infinity bool
}

var timeUnits = map[string]time.Duration{
	"usec": time.Microsecond, "us": time.Microsecond, "µs": time.Microsecond, "μs": time.Microsecond,
	"msec": time.Millisecond, "ms": time.Millisecond,
	"seconds": time.Second, "second": time.Second, "sec": time.Second, "s": time.Second,
	"minutes": time.Minute, "minute": time.Minute, "min": time.Minute, "m": time.Minute,
	"hours": time.Hour, "hour": time.Hour, "hr": time.Hour, "h": time.Hour,
	"days": 24 * time.Hour, "day": 24 * time.Hour, "d": 24 * time.Hour,
	"weeks": 7 * 24 * time.Hour, "week": 7 * 24 * time.Hour, "w": 7 * 24 * time.Hour,
	"months": 2629800 * time.Second, "month": 2629800 * time.Second, "M": 2629800 * time.Second,
	"years": 31557600 * time.Second, "year": 31557600 * time.Second, "y": 31557600 * time.Second,
}

// parseTimeSpan parses a time span as systemd.time(7) writes them:
// "infinity", or numbers each with a unit ("1min 30s", "2h30m", "100ms",
// "1.5h"); a number without a unit is in seconds.
func parseTimeSpan(s string) (timeSpan, error) {
	t := strings.TrimSpace(s)
	if t == "infinity" {
		return timeSpan{infinity: true}, nil
	}
	if t == "" {
		return timeSpan{}, errors.New("empty time span")
	}
	var total float64
	for t != "" {
		i := 0
		for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
			i++
		}
		if i == 0 {
			return timeSpan{}, fmt.Errorf("%q is not a time span (want e.g. 90, 1min 30s, 500ms or infinity)", s)
		}
		n, err := strconv.ParseFloat(t[:i], 64)
		if err != nil {
			return timeSpan{}, fmt.Errorf("%q is not a time span: %q is not a number", s, t[:i])
		}
		t = strings.TrimLeft(t[i:], " \t")
		j := 0
		for j < len(t) && !(t[j] >= '0' && t[j] <= '9' || t[j] == '.' || t[j] == ' ' || t[j] == '\t') {
			j++
		}
		unit := time.Second
		if j > 0 {
			u, ok := timeUnits[t[:j]]
			if !ok {
				return timeSpan{}, fmt.Errorf("%q is not a time span: %q is not a unit of time", s, t[:j])
			}
			unit = u
		}
		total += n * float64(unit)
		if total >= math.MaxInt64 { // float64(MaxInt64) is 2^63: not a Duration
			return timeSpan{}, fmt.Errorf("%q is too long a time span", s)
		}
		t = strings.TrimLeft(t[j:], " \t")
	}
	return timeSpan{d: time.Duration(total)}, nil
}

// formatDuration writes d as a tend duration: "90s", "1m30s", "100ms".
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// Command-line prefixes, systemd.service(5) table 1.
type cmdPrefix struct {
	ignoreFailure bool // "-": the exit status is ignored
	argv0         bool // "@": the second word is argv[0]
	noEnv         bool // ":": no variable substitution
	privileged    bool // "+", "!" or "!!": run with more privileges
}

// A command is a parsed command line: its words, each a sequence of
// parts, literal text or a variable reference.
type command struct {
	prefix cmdPrefix
	words  []word
}

type word []part

type part struct {
	text  string // literal text, or the variable's name
	ref   bool   // ${NAME}: replaced by the variable's value, in the word
	split bool   // $NAME as a whole word: replaced by the value's words
}

// parseCommand parses an Exec*= value. Variable references are kept
// (the agent has no systemd to expand them), specifiers are resolved by
// spec, which reports those it cannot resolve.
func parseCommand(value string, spec func(byte) (string, bool)) (command, []string, error) {
	var c command
	v := strings.TrimLeft(value, " \t")
	for len(v) > 0 {
		switch v[0] {
		case '-':
			c.prefix.ignoreFailure = true
		case '@':
			c.prefix.argv0 = true
		case ':':
			c.prefix.noEnv = true
		case '+', '!':
			c.prefix.privileged = true
		default:
			goto words
		}
		v = v[1:]
	}
words:
	raw, err := splitRaw(v)
	if err != nil {
		return c, nil, err
	}
	var unresolved []string
	for _, r := range raw {
		if r.text == ";" && !r.quoted && !r.literal[0] { // \; is a ";" argument
			return c, nil, errors.New(`a ";" between commands: give each command its own line`)
		}
		if !utf8.ValidString(r.text) {
			return c, nil, fmt.Errorf("%q is not UTF-8 once its escapes are read", r.text)
		}
		w, u := expandWord(r, spec, !c.prefix.noEnv)
		unresolved = append(unresolved, u...)
		c.words = append(c.words, w)
	}
	if len(c.words) == 0 {
		return c, nil, errors.New("no command")
	}
	if c.prefix.argv0 {
		if len(c.words) < 2 {
			return c, nil, errors.New(`"@" wants the program and then its argv[0]`)
		}
		c.words = append(c.words[:1], c.words[2:]...)
	}
	return c, unresolved, nil
}

// A rawWord is a word of a command line with its quotes removed and its
// escapes decoded, and, per byte, whether it came from an escape (a
// "\$" is a dollar sign, not a reference). Quoted says it had quotes.
type rawWord struct {
	text    string
	literal []bool
	quoted  bool
}

func splitRaw(s string) ([]rawWord, error) {
	var words []rawWord
	var cur rawWord
	var b strings.Builder
	inWord := false
	var quote byte
	flush := func() {
		cur.text = b.String()
		words = append(words, cur)
		cur, inWord = rawWord{}, false
		b.Reset()
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote == 0 && isSpace(c):
			if inWord {
				flush()
			}
		case quote == 0 && (c == '"' || c == '\''):
			quote, inWord, cur.quoted = c, true, true
		case quote != 0 && c == quote:
			quote = 0
		case c == '\\':
			r, n, err := unescape(s[i:])
			if err != nil {
				return nil, err
			}
			b.WriteString(r)
			for range len(r) {
				cur.literal = append(cur.literal, true)
			}
			i += n - 1
			inWord = true
		default:
			b.WriteByte(c)
			cur.literal = append(cur.literal, false)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unclosed %c quote", quote)
	}
	if inWord {
		flush()
	}
	return words, nil
}

// expandWord resolves the specifiers of w and finds its variable
// references: "$$" is a dollar sign, "${NAME}" a reference anywhere,
// "$NAME" one that splits when it is the whole word. It returns the
// specifiers it could not resolve, as "%i".
func expandWord(w rawWord, spec func(byte) (string, bool), env bool) (word, []string) {
	var out word
	var lit strings.Builder
	var unresolved []string
	emit := func(p part) {
		if lit.Len() > 0 {
			out = append(out, part{text: lit.String()})
			lit.Reset()
		}
		out = append(out, p)
	}
	s := w.text
	closeAt := -1 // the first '}' after i, once looked for: the scan stays linear
	for i := 0; i < len(s); i++ {
		c := s[i]
		if w.literal[i] {
			lit.WriteByte(c)
			continue
		}
		switch {
		case c == '%' && i+1 < len(s):
			i++
			if s[i] == '%' {
				lit.WriteByte('%')
			} else if v, ok := spec(s[i]); ok {
				lit.WriteString(v)
			} else {
				unresolved = append(unresolved, "%"+s[i:i+1])
				lit.WriteString(s[i-1 : i+1])
			}
		case c == '$' && env && i+1 < len(s) && s[i+1] == '$':
			lit.WriteByte('$')
			i++
		case c == '$' && env && i+1 < len(s) && s[i+1] == '{':
			if closeAt < i {
				closeAt = len(s)
				if end := strings.IndexByte(s[i:], '}'); end >= 0 {
					closeAt = i + end
				}
			}
			if closeAt == len(s) || !isName(s[i+2:closeAt]) {
				lit.WriteByte(c)
				continue
			}
			emit(part{text: s[i+2 : closeAt], ref: true})
			i = closeAt
		case c == '$' && env && i == 0 && isName(s[1:]):
			emit(part{text: s[1:], split: true})
			i = len(s)
		default:
			lit.WriteByte(c)
		}
	}
	if lit.Len() > 0 || len(out) == 0 {
		out = append(out, part{text: lit.String()})
	}
	return out, unresolved
}

// isName reports whether s is an environment variable's name.
func isName(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// literal returns the word's text when it has no variable reference.
func (w word) literal() (string, bool) {
	var b strings.Builder
	for _, p := range w {
		if p.ref || p.split {
			return "", false
		}
		b.WriteString(p.text)
	}
	return b.String(), true
}

// shell writes the word for /bin/sh: literal text single-quoted,
// ${NAME} inside double quotes (one word, as systemd substitutes it),
// $NAME bare (split into words, as systemd splits it; the script runs
// with globbing off).
func (w word) shell() string {
	var b strings.Builder
	for _, p := range w {
		switch {
		case p.split:
			b.WriteString("$" + p.text)
		case p.ref:
			b.WriteString(`"${` + p.text + `}"`)
		default:
			b.WriteString(shellQuote(p.text))
		}
	}
	return b.String()
}

// shellQuote quotes s for a POSIX shell; words of only safe characters
// are left as they are.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// tomlString writes s as a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// tomlArray writes ss as a TOML array of strings.
func tomlArray(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = tomlString(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// tomlKey writes a key bare when it can be, else quoted.
func tomlKey(k string) string {
	if k != "" && strings.Trim(k, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") == "" {
		return k
	}
	return tomlString(k)
}
