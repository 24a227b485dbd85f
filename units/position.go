package units

import (
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// BurntSushi/toml knows the line of every key but keeps it private, so
// this file has a scanner of its own that understands just enough TOML
// (tables, arrays of tables, dotted and quoted keys, strings, inline tables
// and arrays) to record where each key is written. It only ever sees
// documents the toml package has accepted, and Parse gives it only those
// within the limits of limits.go; on anything else it must still end,
// without panicking, but may record nonsense. Each key is a node made
// once, with its path formatted from its parent's, so that within the
// limits the scanner's work is in proportion to the document's size.

// step is one step of a key path: a key, or an index into an array.
type step struct {
	name  string
	index int // -1 for a key
}

// keyPath is a key's full path from the document's root.
type keyPath []step

func (p keyPath) key(name string) keyPath { return append(p[:len(p):len(p)], step{name, -1}) }
func (p keyPath) elem(i int) keyPath      { return append(p[:len(p):len(p)], step{"", i}) }

// String formats the path as errors show it: keys joined by dots and
// quoted as in TOML when they are not bare, indexes in brackets, as in
// `selector.match_expressions[1].values` or `labels."example.com/tier"`.
func (p keyPath) String() string {
	var b strings.Builder
	for i, s := range p {
		if s.index >= 0 {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(s.index))
			b.WriteByte(']')
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(toml.Key{s.name}.String())
	}
	return b.String()
}

// names returns the path's keys without its indexes, as the toml package
// has a key.
func (p keyPath) names() toml.Key {
	names := make(toml.Key, 0, len(p))
	for _, s := range p {
		if s.index < 0 {
			names = append(names, s.name)
		}
	}
	return names
}

// positions is where the keys of one document are written.
type positions struct {
	keys  []*node        // every key and array element, in document order
	lines map[string]int // keyPath.String() → line
	bare  map[string]int // keyPath.names().String() → line of its first occurrence

	nodes    []*node        // every node made, parents before children
	children map[edge]*node // each node's, by the step from it
}

// A node is a key or an array element of the document, with its path
// formatted both ways; made once however many times it is named, so that
// what the scanner does for a key is in proportion to what is written.
type node struct {
	parent *node // nil for the document's root
	step   step
	id     int    // its index in positions.nodes
	key    string // the path as keyPath.String formats it
	bare   string // and without its indexes, as keyPath.names().String()
	line   int    // where it is first written; 0 until then
	elems  int    // for an array of tables, the elements seen so far
}

// edge is a step from a node, in positions.children.
type edge struct {
	parent *node
	step   step
}

// line returns the line key is written on; for a key that is not in the
// document, that of the closest enclosing table that is; 0 if none is.
func (ps *positions) line(key string) int {
	for key != "" {
		if n, ok := ps.lines[key]; ok {
			return n
		}
		i := strings.LastIndexAny(key, ".[")
		if i < 0 {
			break
		}
		key = key[:i]
	}
	return 0
}

func scanPositions(src string) *positions {
	ps := &positions{lines: map[string]int{}, bare: map[string]int{}, children: map[edge]*node{}}
	root := ps.node(nil, step{})
	s := &scanner{src: src, line: 1, ps: ps}
	s.skipBOM()
	table := root
	for s.i < len(s.src) {
		start := s.i
		s.skipBlank()
		if s.i >= len(s.src) {
			break
		}
		if s.peek() == '[' {
			table = s.header(root)
		} else {
			s.keyValue(table)
		}
		s.skipSpace()
		s.skipComment()
		if s.i == start {
			s.i++
		}
	}
	return ps
}

// node returns the node one step from parent, making it the first time.
func (ps *positions) node(parent *node, st step) *node {
	e := edge{parent, st}
	if n, ok := ps.children[e]; ok {
		return n
	}
	n := &node{parent: parent, step: st, id: len(ps.nodes)}
	switch {
	case parent == nil: // the root
	case st.index >= 0:
		n.key = parent.key + "[" + strconv.Itoa(st.index) + "]"
		n.bare = parent.bare
	default:
		name := quoteKey(st.name)
		if parent.key == "" {
			n.key = name
		} else {
			n.key = parent.key + "." + name
		}
		switch {
		case parent.bare == "":
			n.bare = name
		case parent.bare == parent.key:
			n.bare = n.key
		default:
			n.bare = parent.bare + "." + name
		}
	}
	ps.nodes = append(ps.nodes, n)
	ps.children[e] = n
	return n
}

// quoteKey formats one key as TOML has it: bare when it can be, quoted
// otherwise, as toml.Key.String does.
func quoteKey(name string) string {
	if name == "" {
		return `""`
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return toml.Key{name}.String()
		}
	}
	return name
}

type scanner struct {
	src  string
	i    int
	line int
	ps   *positions // nil to record nothing
}

// skipBOM skips a byte order mark at the start.
func (s *scanner) skipBOM() {
	if s.i == 0 {
		s.i = bomLength(s.src)
	}
}

// bomLength returns the length of the byte order mark src starts with,
// which the toml package skips (a UTF-16 one too, though it then refuses
// what is really UTF-16).
func bomLength(src string) int {
	switch {
	case strings.HasPrefix(src, "\xef\xbb\xbf"):
		return 3
	case strings.HasPrefix(src, "\xff\xfe"), strings.HasPrefix(src, "\xfe\xff"):
		return 2
	}
	return 0
}

func (s *scanner) peek() byte {
	if s.i < len(s.src) {
		return s.src[s.i]
	}
	return 0
}

// adv moves over one byte, counting lines.
func (s *scanner) adv() {
	if s.src[s.i] == '\n' {
		s.line++
	}
	s.i++
}

// child returns the node one step from p; nil when s records nothing.
func (s *scanner) child(p *node, st step) *node {
	if s.ps == nil {
		return nil
	}
	return s.ps.node(p, st)
}

func (s *scanner) record(n *node, line int) {
	if n == nil || n.line != 0 {
		return
	}
	n.line = line
	s.ps.lines[n.key] = line
	s.ps.keys = append(s.ps.keys, n)
	if n.bare != "" {
		if _, ok := s.ps.bare[n.bare]; !ok {
			s.ps.bare[n.bare] = line
		}
	}
}

func (s *scanner) skipSpace() {
	for s.peek() == ' ' || s.peek() == '\t' {
		s.i++
	}
}

func (s *scanner) skipComment() {
	if s.peek() != '#' {
		return
	}
	for s.i < len(s.src) && s.src[s.i] != '\n' {
		s.i++
	}
}

// skipBlank skips whitespace, newlines and comments.
func (s *scanner) skipBlank() {
	for s.i < len(s.src) {
		switch s.src[s.i] {
		case ' ', '\t', '\r', '\n':
			s.adv()
		case '#':
			s.skipComment()
		default:
			return
		}
	}
}

// header reads "[a.b]" or "[[a.b]]" and returns the table's node.
func (s *scanner) header(root *node) *node {
	line := s.line
	s.i++
	array := s.peek() == '['
	if array {
		s.i++
	}
	names := s.key()
	s.skipSpace()
	for n := 0; n < 2 && s.peek() == ']'; n++ {
		s.i++
	}
	p := root
	for j, name := range names {
		p = s.child(p, step{name, -1})
		if array && j == len(names)-1 {
			p.elems++
			s.record(p, line)
			p = s.child(p, step{"", p.elems - 1})
		} else if p.elems > 0 {
			p = s.child(p, step{"", p.elems - 1})
		}
		s.record(p, line)
	}
	return p
}

// keyValue reads "key = value" in the table at p.
func (s *scanner) keyValue(p *node) {
	line := s.line
	for _, name := range s.key() {
		p = s.child(p, step{name, -1})
		s.record(p, line)
	}
	s.skipSpace()
	if s.peek() == '=' {
		s.i++
	}
	s.skipSpace()
	s.value(p)
}

// key reads a dotted key.
func (s *scanner) key() []string {
	var names []string
	for {
		s.skipSpace()
		if c := s.peek(); c == '"' || c == '\'' {
			names = append(names, s.str())
		} else {
			start := s.i
			for s.i < len(s.src) && isBareKeyByte(s.src[s.i]) {
				s.i++
			}
			if s.i == start {
				return names
			}
			names = append(names, s.src[start:s.i])
		}
		s.skipSpace()
		if s.peek() != '.' {
			return names
		}
		s.i++
	}
}

func isBareKeyByte(c byte) bool {
	return !strings.ContainsRune(" \t\r\n=.[]{},\"'#", rune(c))
}

func (s *scanner) value(p *node) {
	switch s.peek() {
	case '"', '\'':
		s.str()
	case '{':
		s.inlineTable(p)
	case '[':
		s.array(p)
	default: // numbers, booleans, dates: never across lines
		for s.i < len(s.src) && !strings.ContainsRune(",]}#\r\n", rune(s.src[s.i])) {
			s.i++
		}
	}
}

func (s *scanner) inlineTable(p *node) {
	s.i++
	for s.i < len(s.src) {
		start := s.i
		s.skipBlank() // TOML 1.1 allows newlines in inline tables
		switch s.peek() {
		case '}':
			s.i++
			return
		case ',':
			s.i++
			continue
		}
		s.keyValue(p)
		if s.i == start {
			s.i++
		}
	}
}

func (s *scanner) array(p *node) {
	s.i++
	for n := 0; s.i < len(s.src); {
		start := s.i
		s.skipBlank()
		switch s.peek() {
		case ']':
			s.i++
			return
		case ',':
			s.i++
			continue
		case 0:
			return
		}
		e := s.child(p, step{"", n})
		n++
		s.record(e, s.line)
		s.value(e)
		if s.i == start {
			s.i++
		}
	}
}

// str reads a string of any of TOML's four kinds and returns its contents,
// unescaped when that is simple.
func (s *scanner) str() string {
	q := s.src[s.i]
	delim := strings.Repeat(string(q), 3)
	if strings.HasPrefix(s.src[s.i:], delim) {
		s.i += 3
		start := s.i
		for s.i < len(s.src) {
			if q == '"' && s.src[s.i] == '\\' {
				s.adv()
				if s.i < len(s.src) {
					s.adv()
				}
				continue
			}
			if strings.HasPrefix(s.src[s.i:], delim) {
				s.i += 3
				end := s.i - 3
				for n := 0; n < 2 && s.peek() == q; n++ { // """a"""" is `a"`
					s.i++
					end++
				}
				return s.src[start:end]
			}
			s.adv()
		}
		return s.src[start:]
	}
	s.i++
	start := s.i
	for s.i < len(s.src) && s.src[s.i] != '\n' {
		c := s.src[s.i]
		if c == '\\' && q == '"' && s.i+1 < len(s.src) && s.src[s.i+1] != '\n' {
			s.i += 2
			continue
		}
		if c == q {
			raw := s.src[start:s.i]
			s.i++
			if q == '"' {
				return unescape(raw)
			}
			return raw
		}
		s.i++
	}
	return s.src[start:s.i]
}

// unescape decodes the escapes of a TOML basic string (TOML 1.1's \e and
// \xHH included), leaving any it does not understand as they are.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch c := s[i]; c {
		case 'b':
			b.WriteByte('\b')
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'f':
			b.WriteByte('\f')
		case 'r':
			b.WriteByte('\r')
		case 'e':
			b.WriteByte(0x1b)
		case '"', '\\':
			b.WriteByte(c)
		case 'x', 'u', 'U':
			n := 2 // hex digits
			if c == 'u' {
				n = 4
			} else if c == 'U' {
				n = 8
			}
			if i+1+n <= len(s) {
				if r, err := strconv.ParseUint(s[i+1:i+1+n], 16, 32); err == nil {
					b.WriteRune(rune(r))
					i += n
					continue
				}
			}
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte('\\')
			b.WriteByte(c)
		}
	}
	return b.String()
}
