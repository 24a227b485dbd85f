package units

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// Error is one problem in a unit file, located by file, line and key.
type Error struct {
	File string // the path given to Parse
	Line int    // 1-based; 0 when unknown, as for a required key that is absent
	Key  string // dotted TOML key, with [i] for array elements: "selector.match_expressions[0].operator"; "" for the file as a whole
	Msg  string // what is wrong and what was expected
}

// Error formats the problem as "file:line: key: msg", omitting the parts
// that are unknown.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		if e.File != "" {
			b.WriteByte(':')
		} else {
			b.WriteString("line ")
		}
		b.WriteString(strconv.Itoa(e.Line))
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ErrorList is every problem found in a unit file, in the order of the
// lines they are on. Parse returns a non-empty ErrorList as its error.
type ErrorList []*Error

// Error returns the problems one per line.
func (l ErrorList) Error() string {
	s := make([]string, len(l))
	for i, e := range l {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// Unwrap gives errors.Is and errors.As the individual problems.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}

// sort orders the list by line, keeping the order problems were found in
// within a line (and for the problems without one, which come first).
func (l ErrorList) sort() {
	slices.SortStableFunc(l, func(a, b *Error) int { return cmp.Compare(a.Line, b.Line) })
}
