package units

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// SetTopLevelInt returns src, a TOML document, with the top-level key
// (one before the first table header) set to the integer n, as `tend
// scale` sets replicas. Only the value's bytes change: the key's quoting
// and spacing, its comment, the line endings and the rest of the file are
// kept. When the file has no such key, a line `key = n` is added after
// the top-level kind line, or first when there is none, ending as the
// file's lines do.
//
// The key's value may be written in any of TOML's integer notations
// (0x10, 1_000 become decimal). SetTopLevelInt fails, with an *Error
// naming the key and its line, when src is not TOML, when the key's value
// is not an integer, and when the result would differ from src in more
// than that key, which it checks by decoding both (and which would be a
// bug here). src is not modified.
func SetTopLevelInt(src []byte, key string, n int) ([]byte, error) {
	return setTopLevel(src, key, strconv.Itoa(n), int64(n), "an integer")
}

// SetTopLevelBool is SetTopLevelInt for a boolean, as `tend stop unit`
// sets stopped.
func SetTopLevelBool(src []byte, key string, b bool) ([]byte, error) {
	return setTopLevel(src, key, strconv.FormatBool(b), b, "a boolean")
}

// SetTopLevelString is SetTopLevelInt for a string of printable ASCII
// (a time stamp, a name), written as a TOML basic string, as `tend
// rollout restart` sets restarted_at.
func SetTopLevelString(src []byte, key, v string) ([]byte, error) {
	for _, c := range []byte(v) {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return nil, &Error{Key: toml.Key{key}.String(), Msg: fmt.Sprintf("%q: only printable ASCII without quotes or backslashes can be set", v)}
		}
	}
	return setTopLevel(src, key, `"`+v+`"`, v, "a string")
}

// setTopLevel sets key to the TOML literal text, which must decode as
// want; typ names want's type for the message when the key holds another.
func setTopLevel(src []byte, key, text string, want any, typ string) ([]byte, error) {
	before, err := decodeTOML(src)
	if err != nil {
		return nil, err
	}
	name := toml.Key{key}.String()
	if v, ok := before[key]; ok && reflect.TypeOf(v) != reflect.TypeOf(want) {
		return nil, &Error{Line: scanPositions(string(src)).line(name), Key: name, Msg: fmt.Sprintf("is %s, not %s", tomlType(v), typ)}
	}

	top := scanTopLevel(string(src), key)
	line := name + " = " + text
	var out []byte
	switch {
	case top.found:
		out = slices.Concat(src[:top.valueStart], []byte(text), src[top.valueEnd:])
	case top.afterKind > 0 && !top.kindLast:
		out = slices.Concat(src[:top.afterKind], []byte(line+top.eol), src[top.afterKind:])
	case top.afterKind > 0: // kind's line is the last, and has no line ending
		out = slices.Concat(src, []byte(top.eol+line))
	default:
		out = slices.Concat(src[:top.start], []byte(line+top.eol), src[top.start:])
	}

	after, err := decodeTOML(out)
	if err == nil && after[key] != want {
		err = errors.New("the new value does not read back")
	}
	if err == nil {
		delete(before, key)
		delete(after, key)
		if !sameTOML(before, after) {
			err = errors.New("other keys would change")
		}
	}
	if err != nil {
		return nil, &Error{Line: top.line, Key: name, Msg: fmt.Sprintf("cannot set it to %s without damaging the file, which is left as it was: %v", text, err)}
	}
	return out, nil
}

// topLevel is what scanTopLevel found.
type topLevel struct {
	start int    // where the document starts, after a byte order mark
	eol   string // the document's line ending: "\r\n" when its first line has one, else "\n"

	found                bool // whether the key is there
	valueStart, valueEnd int  // where its value is: src[valueStart:valueEnd]

	afterKind int  // where the line after kind's starts; 0 without kind
	kindLast  bool // kind's line is the last and has no line ending: afterKind is len(src)

	line int // the key's line, or kind's when the key is not there; 0 if neither is
}

// scanTopLevel finds key and kind among the top-level keys of src, a
// document the toml package has accepted, by TOML's lexical rules: a key
// inside a string, a comment or an inline table is no key of the
// document's, and a header inside a string no header.
func scanTopLevel(src, key string) topLevel {
	s := &scanner{src: src, line: 1} // recording no positions
	s.skipBOM()
	top := topLevel{start: s.i, eol: "\n"}
	if i := strings.IndexByte(src, '\n'); i > 0 && src[i-1] == '\r' {
		top.eol = "\r\n"
	}
	for s.i < len(s.src) {
		start := s.i
		s.skipBlank()
		if s.i >= len(s.src) || s.peek() == '[' {
			break
		}
		line := s.line
		names := s.key()
		s.skipSpace()
		if s.peek() == '=' {
			s.i++
		}
		s.skipSpace()
		vstart := s.i
		s.value(nil)
		vend := s.i
		for vend > vstart && (src[vend-1] == ' ' || src[vend-1] == '\t') {
			vend--
		}
		s.skipSpace()
		s.skipComment()
		if len(names) == 1 {
			switch names[0] {
			case key:
				top.found, top.valueStart, top.valueEnd, top.line = true, vstart, vend, line
				return top
			case "kind":
				if top.afterKind == 0 {
					top.line = line
					switch rest := src[s.i:]; {
					case strings.HasPrefix(rest, "\n"):
						top.afterKind = s.i + 1
					case strings.HasPrefix(rest, "\r\n"):
						top.afterKind = s.i + 2
					default:
						top.afterKind, top.kindLast = s.i, true
					}
				}
			}
		}
		if s.i == start {
			s.i++
		}
	}
	return top
}

// decodeTOML decodes src into a generic map, with a toml.ParseError
// turned into an *Error as Parse reports it. It refuses, as Parse does, a
// document larger than MaxFileSize, nested deeper than MaxDepth or with a
// key longer than MaxKeyLength.
func decodeTOML(src []byte) (map[string]any, error) {
	if len(src) > MaxFileSize {
		return nil, sizeError("", int64(len(src)))
	}
	if err := checkLimits("", string(src)); err != nil {
		return nil, err
	}
	var m map[string]any
	if _, err := toml.Decode(string(src), &m); err != nil {
		var perr toml.ParseError
		if errors.As(err, &perr) {
			return nil, syntaxError("", string(src), perr)
		}
		return nil, &Error{Msg: err.Error()}
	}
	return m, nil
}

// sameTOML reports whether two decoded TOML values are equal, as
// reflect.DeepEqual would but with a NaN equal to a NaN.
func sameTOML(a, b any) bool {
	switch a := a.(type) {
	case map[string]any:
		b, ok := b.(map[string]any)
		return ok && maps.EqualFunc(a, b, sameTOML)
	case []map[string]any:
		b, ok := b.([]map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !sameTOML(a[i], b[i]) {
				return false
			}
		}
		return true
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !sameTOML(a[i], b[i]) {
				return false
			}
		}
		return true
	case float64:
		b, ok := b.(float64)
		return ok && (a == b || math.IsNaN(a) && math.IsNaN(b))
	}
	return reflect.DeepEqual(a, b)
}

// tomlType names a decoded TOML value's type, with an article.
func tomlType(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case time.Time:
		return "a date-time"
	case []any:
		return "an array"
	case []map[string]any:
		return "an array of tables"
	case map[string]any:
		return "a table"
	}
	return fmt.Sprintf("%T", v)
}
