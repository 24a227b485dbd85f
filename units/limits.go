package units

import (
	"errors"
	"fmt"
	"strings"

	"github.com/BurntSushi/toml"
)

// Limits on a unit file, checked before it is decoded, so that no file
// costs more than time and memory in proportion to its size: the toml
// package's work grows with the square of how deep a key is nested, and
// with the product of a key's length and the number of keys in its
// table. No unit file comes near them: DESIGN.md's fullest example has
// 1.3 KB, is nested 4 deep, and its longest key has 36 bytes.
const (
	// MaxFileSize is the most bytes a unit file may have: 1 MiB, as much
	// as the agent's API takes in a request body.
	MaxFileSize = 1 << 20

	// MaxDepth is how deep tables and arrays may be nested, one inside
	// another. Each table (a [header], or a dotted key's part before the
	// last), inline table, array and array of tables counts one:
	// [template.liveness] with http_get = { headers = { ... } } is 4 deep,
	// as deep as a unit file needs to go.
	MaxDepth = 16

	// MaxKeyLength is the most bytes a key may have written out in full,
	// after the names of the tables it is in: under [template.labels],
	// app = "x" is template.labels.app, 19 bytes. Bytes are counted as
	// written, quotes included. A label key has at most 317.
	MaxKeyLength = 512
)

// sizeError is the error for a file of size bytes, more than MaxFileSize.
func sizeError(file string, size int64) *Error {
	return &Error{File: file, Msg: fmt.Sprintf("too large: %d bytes, more than the limit of %d", size, MaxFileSize)}
}

// checkLimits reports the first place in src that is nested deeper than
// MaxDepth or has a key longer than MaxKeyLength, as an *Error for file.
// See limitLexer.
func checkLimits(file, src string) *Error {
	var l limitLexer
	l.init(src)
	err := l.run()
	if err != nil {
		err.File = file
	}
	return err
}

// A limitLexer reads a document once, by TOML's lexical rules (strings,
// comments, brackets, dots, commas and equals signs), to find how deep it
// is nested and how long its keys are, decoding nothing: it allocates
// only to remember the arrays of tables (whose headers nest one deeper
// each time they are named again), and what it reports.
//
// It must never miss what the toml package would build: of a document
// the toml package accepts, it finds the depth of the decoded tree (or
// more, where the toml package lets a key defined twice replace a table
// that was deeper); of one that is not TOML, it may report a limit
// before the syntax error the toml package would stop at, never after.
type limitLexer struct {
	src  string
	i    int
	line int

	maxDepth int // the deepest seen so far

	// The inline tables and arrays open at i, innermost last. The
	// depth of each is more than that of the one it is in, so no more
	// than MaxDepth are ever open.
	open [MaxDepth]limitFrame
	n    int

	// the table the last header opened, and its name:
	// src[headerStart:headerEnd], -1 before the first header
	tableDepth, tableKeyLen int
	headerStart, headerEnd  int

	// The arrays of tables seen, and the tables their headers name on
	// the way, as a tree: tables[0] is the document's root, and
	// children maps a table and a name to the table of that name in it.
	// Empty before the first array of tables. headerTable is the last
	// header's table in it, -1 when it is not in the tree.
	tables      []bool // whether each is an array of tables
	children    map[aotEdge]int
	headerTable int

	// the key of the key/value on the current line, once its '=' is
	// read: src[stmtStart:stmtEnd], -1 before
	stmtStart, stmtEnd int

	// the key (or header) being read: src[keyStart:keyEnd], -1 before
	// its first byte, and the dots in it so far
	inKey, inHeader  bool
	keyStart, keyEnd int
	dots             int

	// a value's inline table or array would have depth valueDepth+1,
	// and its keys would come valueKeyLen bytes after the start of
	// their full key
	valueDepth, valueKeyLen int
}

// aotEdge names a table in another, in limitLexer.children.
type aotEdge struct {
	parent int
	name   string
}

// limitFrame is an open inline table or array.
type limitFrame struct {
	array  bool
	depth  int // 1 for the value of a key at the top level
	keyLen int // the full length of the key whose value it is
}

// init readies l to read src.
func (l *limitLexer) init(src string) {
	*l = limitLexer{src: src, line: 1, headerStart: -1, headerEnd: -1, headerTable: -1}
	l.i = bomLength(src)
	l.startKey()
}

// run reads the document to its end, or to the first limit it breaks.
func (l *limitLexer) run() *Error {
	for l.i < len(l.src) {
		var err *Error
		switch c := l.src[l.i]; {
		case c == '\n':
			l.line++
			l.i++
			if l.n == 0 {
				l.startKey()
			}
		case c == ' ' || c == '\t' || c == '\r':
			l.i++
		case c == '#':
			if j := strings.IndexByte(l.src[l.i:], '\n'); j >= 0 {
				l.i += j
			} else {
				l.i = len(l.src)
			}
		case l.inKey:
			err = l.keyByte(c)
		default:
			err = l.valueByte(c)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// context returns the depth and key length of the table or array that
// i is in: the innermost open one, or the last header's table.
func (l *limitLexer) context() (depth, keyLen int) {
	if l.n == 0 {
		return l.tableDepth, l.tableKeyLen
	}
	f := &l.open[l.n-1]
	return f.depth, f.keyLen
}

// reach notes that the document is nested depth deep at i, and reports
// whether that is too deep.
func (l *limitLexer) reach(depth int) bool {
	l.maxDepth = max(l.maxDepth, depth)
	return depth > MaxDepth
}

// startKey starts reading a key: at the start of a line, and after an
// inline table's '{' or ','.
func (l *limitLexer) startKey() {
	l.inKey = true
	l.keyStart, l.keyEnd, l.dots = -1, -1, 0
	if l.n == 0 {
		l.stmtStart, l.stmtEnd = -1, -1
	}
}

// keyLength returns the full length of the key read so far.
func (l *limitLexer) keyLength() int {
	_, n := l.context()
	if l.keyStart < 0 {
		return n
	}
	if n > 0 {
		n++ // the dot between the table's name and the key
	}
	return n + l.keyEnd - l.keyStart
}

func (l *limitLexer) keyByte(c byte) *Error {
	switch c {
	case '[':
		if l.n == 0 && l.keyStart < 0 {
			return l.header()
		}
		return l.openValue(true) // not TOML, but counted all the same
	case '{':
		return l.openValue(false) // not TOML either
	case '}':
		l.i++
		l.close()
	case '=':
		l.i++
		full := l.keyLength()
		if full > MaxKeyLength {
			return l.keyError()
		}
		depth, _ := l.context()
		depth += l.dots
		if l.n == 0 {
			l.stmtStart, l.stmtEnd = l.keyStart, l.keyEnd
			if l.dots > 0 && l.keyStart >= 0 && len(l.tables) > 0 && l.headerTable >= 0 {
				// A dotted key may go through an array of tables (its
				// last element) as a header does.
				names := (&scanner{src: l.src[l.keyStart:l.keyEnd]}).key()
				_, n := l.walk(l.headerTable, names, false)
				depth += n
				if l.reach(depth) {
					return l.depthError()
				}
			}
		}
		l.valueDepth, l.valueKeyLen = depth, full
		l.inKey = false
	case '.':
		l.i++
		l.dots++
		if depth, _ := l.context(); l.reach(depth + l.dots) {
			return l.depthError()
		}
		if l.keyLength() > MaxKeyLength {
			return l.keyError()
		}
	case '"', '\'':
		if l.keyStart < 0 {
			l.keyStart = l.i
		}
		l.skipString(false)
		l.keyEnd = l.i
	default:
		if l.keyStart < 0 {
			l.keyStart = l.i
		}
		l.i++
		l.keyEnd = l.i
	}
	return nil
}

func (l *limitLexer) valueByte(c byte) *Error {
	switch c {
	case '{':
		return l.openValue(false)
	case '[':
		return l.openValue(true)
	case '}', ']':
		l.i++
		l.close()
	case ',':
		l.i++
		if l.n > 0 && !l.open[l.n-1].array {
			l.startKey()
		} else {
			l.valueDepth, l.valueKeyLen = l.context()
		}
	case '"', '\'':
		l.skipString(true)
	default:
		l.i++
	}
	return nil
}

// openValue opens an inline table or an array at i.
func (l *limitLexer) openValue(array bool) *Error {
	base := l.valueDepth
	if l.inKey {
		d, _ := l.context()
		base = d + l.dots
	}
	depth := base + 1
	if l.reach(depth) || l.n == len(l.open) {
		return l.depthError()
	}
	l.open[l.n] = limitFrame{array: array, depth: depth, keyLen: l.valueKeyLen}
	l.n++
	l.i++
	if array {
		l.inKey = false
		l.valueDepth = depth
	} else {
		l.startKey()
	}
	return nil
}

// close closes the innermost inline table or array, if any.
func (l *limitLexer) close() {
	if l.n > 0 {
		l.n--
	}
	l.inKey = false
	l.valueDepth, l.valueKeyLen = l.context()
}

// header reads a table header, "[a.b]" or "[[a.b]]", at i.
func (l *limitLexer) header() *Error {
	l.i++
	aot := strings.HasPrefix(l.src[l.i:], "[")
	if aot {
		l.i++
	}
	l.keyStart, l.keyEnd, l.dots = -1, -1, 0
	l.inKey, l.inHeader = false, true
	depth := func() int {
		if aot {
			return l.dots + 2 // the array and its table
		}
		return l.dots + 1
	}
loop:
	for l.i < len(l.src) {
		switch c := l.src[l.i]; c {
		case ']', '\n', '#':
			break loop
		case ' ', '\t':
			l.i++
		case '.':
			if l.reach(l.dots + 1) { // the table just named
				return l.depthError()
			}
			l.i++
			l.dots++
		case '"', '\'':
			if l.keyStart < 0 {
				l.keyStart = l.i
			}
			l.skipString(false)
			l.keyEnd = l.i
		default:
			if l.keyStart < 0 {
				l.keyStart = l.i
			}
			l.i++
			l.keyEnd = l.i
		}
		if l.keyStart >= 0 && l.keyEnd-l.keyStart > MaxKeyLength {
			return l.keyError()
		}
	}
	d := depth()
	l.headerTable = -1
	if (aot || len(l.tables) > 0) && l.keyStart >= 0 {
		names := (&scanner{src: l.src[l.keyStart:l.keyEnd]}).key()
		if len(l.tables) == 0 {
			l.tables, l.children = []bool{false}, map[aotEdge]int{}
		}
		var n int
		l.headerTable, n = l.walk(0, names, aot)
		d += n
		if aot {
			l.tables[l.headerTable] = true
		}
	}
	if l.reach(d) {
		return l.depthError()
	}
	l.inHeader = false
	l.tableDepth, l.tableKeyLen = d, max(l.keyEnd-l.keyStart, 0)
	l.headerStart, l.headerEnd = l.keyStart, l.keyEnd
	if strings.HasPrefix(l.src[l.i:], "]") {
		l.i++
		if aot && strings.HasPrefix(l.src[l.i:], "]") {
			l.i++
		}
	}
	// What may follow on the line is a comment; anything else is not
	// TOML, and read as a value.
	l.valueDepth, l.valueKeyLen = l.tableDepth, l.tableKeyLen
	return nil
}

// walk follows names from table in the tree of arrays of tables,
// adding the tables it lacks when add is set. It returns the last table,
// or -1 when the tree does not have it, and how many of the tables before
// it are arrays of tables: each makes what is under it one deeper than
// the names tell.
func (l *limitLexer) walk(table int, names []string, add bool) (last, arrays int) {
	for i, name := range names {
		if i > 0 && l.tables[table] {
			arrays++
		}
		next, ok := l.children[aotEdge{table, name}]
		if !ok {
			if !add {
				return -1, arrays
			}
			next = len(l.tables)
			l.tables = append(l.tables, false)
			l.children[aotEdge{table, name}] = next
		}
		table = next
	}
	return table, arrays
}

// skipString moves i over the string that starts there: a basic or a
// literal one, and when multiline is set, one of the multi-line kinds.
// A single-line string ends at the end of the line, as far as the toml
// package reads one.
func (l *limitLexer) skipString(multiline bool) {
	q := l.src[l.i]
	if multiline && strings.HasPrefix(l.src[l.i:], string([]byte{q, q, q})) {
		l.i += 3
		for l.i < len(l.src) {
			switch c := l.src[l.i]; {
			case c == '\n':
				l.line++
				l.i++
			case c == '\\' && q == '"':
				l.i++
				if l.i < len(l.src) {
					if l.src[l.i] == '\n' {
						l.line++
					}
					l.i++
				}
			case c == q:
				run := 0
				for l.i < len(l.src) && l.src[l.i] == q {
					run++
					l.i++
				}
				if run >= 3 { // """a""""" is `a""`
					return
				}
			default:
				l.i++
			}
		}
		return
	}
	l.i++
	for l.i < len(l.src) {
		switch c := l.src[l.i]; {
		case c == '\n':
			return
		case c == '\\' && q == '"':
			l.i++
			if l.i < len(l.src) && l.src[l.i] != '\n' {
				l.i++
			}
		case c == q:
			l.i++
			return
		default:
			l.i++
		}
	}
}

func (l *limitLexer) depthError() *Error {
	return &Error{Line: l.line, Key: l.errorKey(), Msg: fmt.Sprintf("nested more than %d deep (tables and arrays, one inside another)", MaxDepth)}
}

func (l *limitLexer) keyError() *Error {
	return &Error{Line: l.line, Msg: fmt.Sprintf("key too long: more than %d bytes, with the names of the tables it is in", MaxKeyLength)}
}

// errorKey returns the key a depth error names: that of the line it is
// on (the header's names, then those of the key/value's key), cut after
// the first MaxDepth+1 names.
func (l *limitLexer) errorKey() string {
	var names toml.Key
	add := func(start, end int) {
		if start >= 0 && end > start && len(names) <= MaxDepth {
			names = append(names, (&scanner{src: l.src[start:end]}).key()...)
		}
	}
	switch {
	case l.inHeader:
		add(l.keyStart, l.keyEnd)
	case l.n == 0 && l.inKey:
		add(l.headerStart, l.headerEnd)
		add(l.keyStart, l.keyEnd)
	default:
		add(l.headerStart, l.headerEnd)
		add(l.stmtStart, l.stmtEnd)
	}
	if len(names) > MaxDepth+1 {
		names = names[:MaxDepth+1]
	}
	return names.String()
}

// Limits are an agent's bounds on what a unit may ask of it, from the
// [limits] table of its configuration. A zero field is no bound.
type Limits struct {
	// InstancesPerUnit bounds a replicated unit's replicas (in a fleet,
	// the unit's replicas on all hosts together) and a job's or cron
	// unit's completions and parallelism, each: a job keeps the record of
	// every attempt until it is deleted or its ttl_after_finished passes.
	InstancesPerUnit int
}

// The configuration keys of the limits, for messages.
const (
	InstancesPerUnitKey = "limits.instances_per_unit"
	InstancesPerHostKey = "limits.instances_per_host"
)

// perUnitError says that n instances are more than the limit allows.
func (l Limits) perUnitError(n int) string {
	return fmt.Sprintf("%d is more than the agent allows: at most %d instances per unit (%s in the agent's config)", n, l.InstancesPerUnit, InstancesPerUnitKey)
}

// CheckInstances reports an error when n instances of one unit are more
// than l allows, naming the limit and its configuration key.
func (l Limits) CheckInstances(n int) error {
	if l.InstancesPerUnit > 0 && n > l.InstancesPerUnit {
		return errors.New(l.perUnitError(n))
	}
	return nil
}
