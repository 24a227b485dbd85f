// Package jsonpath is the subset of kubectl's JSONPath templates that
// `tend get -o jsonpath=...`, `-o custom-columns=...`, `--sort-by` and
// `tend wait --for=jsonpath=...` use, over values decoded from JSON
// (map[string]any, []any, string, json.Number, bool, nil).
//
// A template is text with actions in braces, as kubectl's
// (https://kubernetes.io/docs/reference/kubectl/jsonpath/):
//
//	{.metadata.name}                 a field; $ is the root, @ the current object
//	{.items[*].metadata.name}        every element; [0], [-1], [1:3], [::2], [0,2]
//	{..name}                         every name at any depth
//	{.items[?(@.status.ready==true)].metadata.name}
//	                                 a filter: ==, !=, <, <=, >, >= against a
//	                                 number, a quoted string, true, false or null;
//	                                 [?(@.x)] keeps those that have x
//	{.metadata.labels['app\.kubernetes\.io/name']}
//	                                 a quoted name, or a dot in a name escaped
//	{range .items[*]}{.metadata.name}{"\n"}{end}
//	                                 iteration, with quoted literal text
//
// Several results of one action are printed separated by spaces; strings
// print as they are, other values as compact JSON (as kubectl does since
// 1.x printed Go maps). A field that is missing prints nothing, as
// kubectl's default --allow-missing-template-keys=true.
//
// Not supported: functions and regular expressions in filters, and
// kubectl's union of paths in quotes ({.items[*]['metadata.name',
// 'status.capacity']}): here a quoted name is one key, dots and all, so
// that ['app.kubernetes.io/name'] names a label.
package jsonpath

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxTemplate bounds a template's length, and MaxDepth the nesting of
// its ranges and filters: a template is a command-line argument, and an
// absurd one is refused rather than parsed.
const (
	MaxTemplate = 64 << 10
	MaxDepth    = 32
)

// Template is a parsed template.
type Template struct {
	text  string
	nodes []node
}

// node is literal text, an expression to print, or a range over one.
type node struct {
	text  string // literal text when expr is nil and body is nil
	expr  *path
	body  []node // range body; expr is what it iterates
	isRng bool
}

// Parse parses a template: text with {actions}. A template with no
// braces at all is taken as one action, as kubectl's custom-columns and
// --sort-by take ".metadata.name".
func Parse(tmpl string) (*Template, error) {
	if len(tmpl) > MaxTemplate {
		return nil, fmt.Errorf("jsonpath template is %d bytes, more than the %d allowed", len(tmpl), MaxTemplate)
	}
	p := &parser{src: tmpl}
	nodes, end, err := p.template(0)
	if err != nil {
		return nil, fmt.Errorf("error parsing jsonpath %s: %w", tmpl, err)
	}
	if end {
		return nil, fmt.Errorf("error parsing jsonpath %s: {end} without {range}", tmpl)
	}
	return &Template{text: tmpl, nodes: nodes}, nil
}

// ParseExpr parses one expression, with or without its braces, as
// custom-columns and --sort-by take them.
func ParseExpr(expr string) (*Template, error) {
	e := strings.TrimSpace(expr)
	if !strings.HasPrefix(e, "{") {
		e = "{" + e + "}"
	}
	t, err := Parse(e)
	if err != nil {
		return nil, err
	}
	if len(t.nodes) != 1 || t.nodes[0].expr == nil || t.nodes[0].isRng {
		return nil, fmt.Errorf("%q is not one jsonpath expression", expr)
	}
	return t, nil
}

// String returns the template's text.
func (t *Template) String() string { return t.text }

// Execute writes the template applied to data.
func (t *Template) Execute(w *bytes.Buffer, data any) error {
	return execute(w, t.nodes, data, data)
}

// Values returns the results of a one-expression template (ParseExpr)
// applied to data.
func (t *Template) Values(data any) []any {
	if len(t.nodes) != 1 || t.nodes[0].expr == nil {
		return nil
	}
	return t.nodes[0].expr.eval(data, data)
}

func execute(w *bytes.Buffer, nodes []node, root, cur any) error {
	for _, n := range nodes {
		switch {
		case n.isRng:
			for _, v := range n.expr.eval(root, cur) {
				if err := execute(w, n.body, root, v); err != nil {
					return err
				}
			}
		case n.expr != nil:
			for i, v := range n.expr.eval(root, cur) {
				if i > 0 {
					w.WriteByte(' ')
				}
				w.WriteString(Text(v))
			}
		default:
			w.WriteString(n.text)
		}
	}
	return nil
}

// Text is a value as a template prints it: a string as it is, nil as
// nothing, anything else as compact JSON.
func Text(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	}
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(data)
}

// parser reads a template.
type parser struct {
	src   string
	pos   int
	depth int
}

func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("at %d: %s", p.pos, fmt.Sprintf(format, args...))
}

// template reads nodes until the input ends or, inside a range, until
// {end} (then end is true).
func (p *parser) template(depth int) (nodes []node, end bool, err error) {
	if depth > MaxDepth {
		return nil, false, p.errorf("ranges nested deeper than %d", MaxDepth)
	}
	for p.pos < len(p.src) {
		i := strings.IndexByte(p.src[p.pos:], '{')
		if i < 0 {
			nodes = append(nodes, node{text: p.src[p.pos:]})
			p.pos = len(p.src)
			break
		}
		if i > 0 {
			nodes = append(nodes, node{text: p.src[p.pos : p.pos+i]})
		}
		p.pos += i + 1
		body, err := p.action()
		if err != nil {
			return nil, false, err
		}
		switch {
		case body == "end":
			return nodes, true, nil
		case strings.HasPrefix(body, "range ") || strings.HasPrefix(body, "range\t"):
			expr, err := parsePath(strings.TrimSpace(body[len("range"):]))
			if err != nil {
				return nil, false, err
			}
			inner, end, err := p.template(depth + 1)
			if err != nil {
				return nil, false, err
			}
			if !end {
				return nil, false, fmt.Errorf("{range %s} without {end}", strings.TrimSpace(body[len("range"):]))
			}
			nodes = append(nodes, node{expr: expr, body: inner, isRng: true})
		case body == "":
			return nil, false, p.errorf("empty action {}")
		case body[0] == '"' || body[0] == '\'':
			s, rest, err := unquote(body)
			if err != nil {
				return nil, false, err
			}
			if strings.TrimSpace(rest) != "" {
				return nil, false, fmt.Errorf("text after the string in {%s}", body)
			}
			nodes = append(nodes, node{text: s})
		default:
			expr, err := parsePath(body)
			if err != nil {
				return nil, false, err
			}
			nodes = append(nodes, node{expr: expr})
		}
	}
	return nodes, false, nil
}

// action reads up to the brace that closes the one just read, skipping
// quoted strings and brackets, and returns what is between, trimmed.
func (p *parser) action() (string, error) {
	start := p.pos
	depth := 0
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch c {
		case '\\':
			p.pos++
		case '"', '\'':
			j := closingQuote(p.src, p.pos)
			if j < 0 {
				return "", p.errorf("unterminated string")
			}
			p.pos = j
		case '[', '(':
			depth++
		case ']', ')':
			depth--
		case '}':
			if depth <= 0 {
				body := strings.TrimSpace(p.src[start:p.pos])
				p.pos++
				return body, nil
			}
		}
		p.pos++
	}
	return "", fmt.Errorf("unclosed action")
}

// closingQuote returns the index of the quote that closes the one at i,
// or -1.
func closingQuote(s string, i int) int {
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case q:
			return j
		}
	}
	return -1
}

// unquote reads a quoted string at the start of s, with \n, \t, \\, \"
// and \' escapes; it returns the rest after it.
func unquote(s string) (string, string, error) {
	j := closingQuote(s, 0)
	if j < 0 {
		return "", "", fmt.Errorf("unterminated string %s", s)
	}
	body := s[1:j]
	var b strings.Builder
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c != '\\' || i+1 == len(body) {
			b.WriteByte(c)
			continue
		}
		i++
		switch body[i] {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		default:
			b.WriteByte(body[i])
		}
	}
	return b.String(), s[j+1:], nil
}

// path is a chain of steps from the root ($) or the current object (@,
// or a path that starts with . or [).
type path struct {
	fromRoot bool
	steps    []step
}

type stepKind int

const (
	stepField     stepKind = iota // .name or ['name', ...]
	stepRecursive                 // ..name or ..*
	stepWildcard                  // .* or [*]
	stepIndex                     // [1], [-1], [0,2]
	stepSlice                     // [a:b:c]
	stepFilter                    // [?(...)]
)

type step struct {
	kind    stepKind
	names   []string // field, recursive ("" = any)
	indexes []int
	slice   [3]*int
	filter  *filter
}

type filter struct {
	left  *path
	op    string // "" = exists
	right any    // string, float64, bool, nil
}

func parsePath(src string) (*path, error) {
	pp := &pathParser{src: src}
	p, err := pp.path(0)
	if err != nil {
		return nil, err
	}
	if pp.pos != len(pp.src) {
		return nil, fmt.Errorf("unexpected %q in %s", pp.src[pp.pos:], src)
	}
	return p, nil
}

type pathParser struct {
	src string
	pos int
}

func (pp *pathParser) more() bool { return pp.pos < len(pp.src) }
func (pp *pathParser) peek() byte {
	if pp.more() {
		return pp.src[pp.pos]
	}
	return 0
}

// path reads steps until something that cannot continue a path (the end,
// or an operator or ')' inside a filter).
func (pp *pathParser) path(depth int) (*path, error) {
	if depth > MaxDepth {
		return nil, fmt.Errorf("filters nested deeper than %d", MaxDepth)
	}
	p := &path{}
	switch pp.peek() {
	case '$':
		p.fromRoot = true
		pp.pos++
	case '@':
		pp.pos++
	}
	for pp.more() {
		switch pp.peek() {
		case '.':
			pp.pos++
			recursive := false
			if pp.peek() == '.' {
				recursive = true
				pp.pos++
			}
			if pp.peek() == '*' {
				pp.pos++
				if recursive {
					p.steps = append(p.steps, step{kind: stepRecursive, names: []string{""}})
				} else {
					p.steps = append(p.steps, step{kind: stepWildcard})
				}
				continue
			}
			if pp.peek() == '[' && recursive {
				p.steps = append(p.steps, step{kind: stepRecursive, names: []string{""}})
				continue
			}
			name := pp.ident()
			if name == "" {
				if !pp.more() && !recursive && len(p.steps) == 0 {
					continue // "{.}": the object itself
				}
				return nil, fmt.Errorf("a name must follow '.' at %d in %s", pp.pos, pp.src)
			}
			kind := stepField
			if recursive {
				kind = stepRecursive
			}
			p.steps = append(p.steps, step{kind: kind, names: []string{name}})
		case '[':
			s, err := pp.bracket(depth)
			if err != nil {
				return nil, err
			}
			p.steps = append(p.steps, s)
		default:
			if len(p.steps) == 0 && !p.fromRoot && isIdentByte(pp.peek()) {
				// kubectl takes {metadata.name} as {.metadata.name}.
				p.steps = append(p.steps, step{kind: stepField, names: []string{pp.ident()}})
				continue
			}
			return p, nil
		}
	}
	return p, nil
}

// isIdentByte: names are letters, digits, '_', '-' and '/' (and any
// non-ASCII letter); any other character is escaped with '\', or the name
// quoted in brackets.
func isIdentByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '/' || c >= 0x80
}

// ident reads a name, '\' escaping the next character
// ("app\.kubernetes\.io").
func (pp *pathParser) ident() string {
	var b strings.Builder
	for pp.more() {
		c := pp.peek()
		if c == '\\' && pp.pos+1 < len(pp.src) {
			b.WriteByte(pp.src[pp.pos+1])
			pp.pos += 2
			continue
		}
		if !isIdentByte(c) {
			break
		}
		_, n := utf8.DecodeRuneInString(pp.src[pp.pos:])
		b.WriteString(pp.src[pp.pos : pp.pos+n])
		pp.pos += n
	}
	return b.String()
}

func (pp *pathParser) skipSpace() {
	for pp.more() && (pp.peek() == ' ' || pp.peek() == '\t') {
		pp.pos++
	}
}

// bracket reads [...].
func (pp *pathParser) bracket(depth int) (step, error) {
	pp.pos++ // [
	pp.skipSpace()
	switch pp.peek() {
	case '*':
		pp.pos++
		pp.skipSpace()
		if pp.peek() != ']' {
			return step{}, fmt.Errorf("want ] after [* in %s", pp.src)
		}
		pp.pos++
		return step{kind: stepWildcard}, nil
	case '?':
		pp.pos++
		pp.skipSpace()
		if pp.peek() != '(' {
			return step{}, fmt.Errorf("want ( after [? in %s", pp.src)
		}
		pp.pos++
		f, err := pp.filter(depth + 1)
		if err != nil {
			return step{}, err
		}
		pp.skipSpace()
		if pp.peek() != ')' {
			return step{}, fmt.Errorf("want ) to close the filter in %s", pp.src)
		}
		pp.pos++
		pp.skipSpace()
		if pp.peek() != ']' {
			return step{}, fmt.Errorf("want ] after the filter in %s", pp.src)
		}
		pp.pos++
		return step{kind: stepFilter, filter: f}, nil
	case '\'', '"':
		var names []string
		for {
			s, rest, err := unquote(pp.src[pp.pos:])
			if err != nil {
				return step{}, err
			}
			pp.pos = len(pp.src) - len(rest)
			names = append(names, s)
			pp.skipSpace()
			if pp.peek() == ',' {
				pp.pos++
				pp.skipSpace()
				continue
			}
			if pp.peek() != ']' {
				return step{}, fmt.Errorf("want ] after a quoted name in %s", pp.src)
			}
			pp.pos++
			return step{kind: stepField, names: names}, nil
		}
	}
	// Numbers: an index, a union of them, or a slice.
	end := strings.IndexByte(pp.src[pp.pos:], ']')
	if end < 0 {
		return step{}, fmt.Errorf("unclosed [ in %s", pp.src)
	}
	body := strings.TrimSpace(pp.src[pp.pos : pp.pos+end])
	pp.pos += end + 1
	if strings.Contains(body, ":") {
		parts := strings.Split(body, ":")
		if len(parts) > 3 {
			return step{}, fmt.Errorf("bad slice [%s] in %s", body, pp.src)
		}
		var s step
		s.kind = stepSlice
		for i, part := range parts {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			n, err := strconv.Atoi(part)
			if err != nil {
				return step{}, fmt.Errorf("bad slice [%s] in %s", body, pp.src)
			}
			s.slice[i] = &n
		}
		if s.slice[2] != nil && *s.slice[2] == 0 {
			return step{}, fmt.Errorf("slice step must not be 0 in [%s]", body)
		}
		return s, nil
	}
	var s step
	s.kind = stepIndex
	for _, part := range strings.Split(body, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil {
			return step{}, fmt.Errorf("bad index [%s] in %s", body, pp.src)
		}
		s.indexes = append(s.indexes, n)
	}
	return s, nil
}

// filter reads what is inside ?( ): @.path [op value].
func (pp *pathParser) filter(depth int) (*filter, error) {
	pp.skipSpace()
	if pp.peek() != '@' && pp.peek() != '$' {
		return nil, fmt.Errorf("a filter starts with @ in %s", pp.src)
	}
	left, err := pp.path(depth)
	if err != nil {
		return nil, err
	}
	f := &filter{left: left}
	pp.skipSpace()
	for _, op := range []string{"==", "!=", "<=", ">=", "<", ">"} {
		if strings.HasPrefix(pp.src[pp.pos:], op) {
			f.op = op
			pp.pos += len(op)
			break
		}
	}
	if f.op == "" {
		return f, nil
	}
	pp.skipSpace()
	switch c := pp.peek(); {
	case c == '\'' || c == '"':
		s, rest, err := unquote(pp.src[pp.pos:])
		if err != nil {
			return nil, err
		}
		pp.pos = len(pp.src) - len(rest)
		f.right = s
	default:
		start := pp.pos
		for pp.more() && pp.peek() != ')' && pp.peek() != ' ' {
			pp.pos++
		}
		word := pp.src[start:pp.pos]
		switch word {
		case "true":
			f.right = true
		case "false":
			f.right = false
		case "null":
			f.right = nil
		default:
			n, err := strconv.ParseFloat(word, 64)
			if err != nil {
				return nil, fmt.Errorf("bad value %q in the filter of %s: want a number, a quoted string, true, false or null", word, pp.src)
			}
			f.right = n
		}
	}
	return f, nil
}

// eval applies the path to root (for $) or cur.
func (p *path) eval(root, cur any) []any {
	vals := []any{cur}
	if p.fromRoot {
		vals = []any{root}
	}
	for _, s := range p.steps {
		var next []any
		for _, v := range vals {
			next = s.apply(next, root, v)
		}
		vals = next
	}
	return vals
}

func (s step) apply(out []any, root, v any) []any {
	switch s.kind {
	case stepField:
		if m, ok := v.(map[string]any); ok {
			for _, n := range s.names {
				if x, ok := m[n]; ok {
					out = append(out, x)
				}
			}
		}
	case stepWildcard:
		switch v := v.(type) {
		case []any:
			out = append(out, v...)
		case map[string]any:
			for _, k := range sortedKeys(v) {
				out = append(out, v[k])
			}
		}
	case stepRecursive:
		out = descend(out, v, s.names[0])
	case stepIndex:
		if a, ok := v.([]any); ok {
			for _, i := range s.indexes {
				if i < 0 {
					i += len(a)
				}
				if i >= 0 && i < len(a) {
					out = append(out, a[i])
				}
			}
		}
	case stepSlice:
		if a, ok := v.([]any); ok {
			out = append(out, slice(a, s.slice)...)
		}
	case stepFilter:
		var items []any
		switch v := v.(type) {
		case []any:
			items = v
		case map[string]any:
			for _, k := range sortedKeys(v) {
				items = append(items, v[k])
			}
		}
		for _, x := range items {
			if s.filter.keep(root, x) {
				out = append(out, x)
			}
		}
	}
	return out
}

// descend collects, depth first, every value under v named name (any
// value when name is ""), v's own members included.
func descend(out []any, v any, name string) []any {
	switch v := v.(type) {
	case map[string]any:
		for _, k := range sortedKeys(v) {
			if name == "" || k == name {
				out = append(out, v[k])
			}
		}
		for _, k := range sortedKeys(v) {
			out = descend(out, v[k], name)
		}
	case []any:
		for _, x := range v {
			if name == "" {
				out = append(out, x)
			}
		}
		for _, x := range v {
			out = descend(out, x, name)
		}
	}
	return out
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func slice(a []any, s [3]*int) []any {
	n := len(a)
	step := 1
	if s[2] != nil {
		step = *s[2]
	}
	clamp := func(p *int, def int) int {
		if p == nil {
			return def
		}
		i := *p
		if i < 0 {
			i += n
		}
		return max(-1, min(i, n))
	}
	var out []any
	if step > 0 {
		for i := max(clamp(s[0], 0), 0); i < clamp(s[1], n); i += step {
			out = append(out, a[i])
		}
	} else {
		for i := min(clamp(s[0], n-1), n-1); i > clamp(s[1], -1); i += step {
			out = append(out, a[i])
		}
	}
	return out
}

func (f *filter) keep(root, x any) bool {
	vals := f.left.eval(root, x)
	if f.op == "" {
		return len(vals) > 0
	}
	for _, v := range vals {
		if compare(v, f.op, f.right) {
			return true
		}
	}
	return false
}

func compare(v any, op string, right any) bool {
	c, ok := Compare(v, right)
	if !ok {
		return op == "!="
	}
	switch op {
	case "==":
		return c == 0
	case "!=":
		return c != 0
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	case ">":
		return c > 0
	case ">=":
		return c >= 0
	}
	return false
}

// Compare orders two values of the same type (numbers by value, strings
// by bytes, false before true, nil equal to nil); ok is false for values
// of different types, or maps and lists.
func Compare(a, b any) (c int, ok bool) {
	if an, aok := number(a); aok {
		bn, bok := number(b)
		if !bok {
			return 0, false
		}
		switch {
		case an < bn:
			return -1, true
		case an > bn:
			return 1, true
		}
		return 0, true
	}
	switch a := a.(type) {
	case nil:
		return 0, b == nil
	case string:
		bs, ok := b.(string)
		if !ok {
			return 0, false
		}
		return strings.Compare(a, bs), true
	case bool:
		bb, ok := b.(bool)
		if !ok {
			return 0, false
		}
		switch {
		case a == bb:
			return 0, true
		case !a:
			return -1, true
		}
		return 1, true
	}
	return 0, false
}

func number(v any) (float64, bool) {
	switch v := v.(type) {
	case json.Number:
		f, err := v.Float64()
		return f, err == nil && !math.IsNaN(f)
	case float64:
		return v, true
	case int:
		return float64(v), true
	}
	return 0, false
}

// Decode turns v (any value encoding/json can marshal) into the generic
// form templates walk, numbers kept exact as json.Number.
func Decode(v any) (any, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var out any
	if err := dec.Decode(&out); err != nil {
		return nil, err
	}
	return out, nil
}
