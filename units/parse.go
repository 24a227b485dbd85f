package units

import (
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// MaxNameLength is the longest unit name: instance names are the unit's
// name, a dash and five characters, and must fit in 63.
const MaxNameLength = 52

// ParseFile reads and parses one unit file. See Parse. Of a file larger
// than MaxFileSize it reads no more than the limit and a byte.
func ParseFile(path string) (*Unit, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	size := int64(len(data))
	if size > MaxFileSize {
		if fi, err := f.Stat(); err == nil && fi.Size() > size {
			size = fi.Size()
		}
	}
	return parse(path, data, size, Limits{})
}

// Parse parses, validates and defaults one unit file's contents. path is
// the file's path, used for the unit's name (the file's stem) and in
// errors; nothing is read from it.
//
// When the file has problems Parse returns an ErrorList with all of them,
// each naming file, line and key.
//
// A file larger than MaxFileSize (1 MiB), nested deeper than MaxDepth (16
// tables and arrays, one inside another, where a unit file needs 4) or
// with a key longer than MaxKeyLength (512 bytes, with the names of the
// tables it is in) is refused before anything in it is decoded, with an
// error for the first limit it goes past: the file and its size, or the
// file, the line and the key. Within the limits, Parse's time and memory
// grow in proportion to the file's size.
func Parse(path string, data []byte) (*Unit, error) {
	return parse(path, data, int64(len(data)), Limits{})
}

// ParseLimited is Parse within an agent's limits: a unit that asks for
// more instances than lim allows is an invalid file, its error on the
// line of the key that asks, naming the limit and its configuration key.
func ParseLimited(path string, data []byte, lim Limits) (*Unit, error) {
	return parse(path, data, int64(len(data)), lim)
}

// parse is ParseLimited of a file of size bytes, of which data is all, or
// the first MaxFileSize and more when size is more than that.
func parse(path string, data []byte, size int64, lim Limits) (*Unit, error) {
	p := &parser{file: path, lim: lim}
	name := unitName(path)
	if ValidateName(name) != nil {
		p.errs = append(p.errs, &Error{File: path, Msg: fmt.Sprintf("%q (the file name's stem) is not a valid unit name: %s", name, nameRule)})
	}
	if size > MaxFileSize {
		p.errs = append(p.errs, sizeError(path, size))
		return nil, p.errs
	}
	src := string(data)
	if err := checkLimits(path, src); err != nil {
		// Refused before the toml package, whose work would grow with
		// the square of the file's size.
		p.errs = append(p.errs, err)
		return nil, p.errs
	}

	// Decoded once, into the toml package's own tree (which decoding
	// into an any leaves as it is), and from there into the raw structs
	// here, which notes the keys the schema does not have and the tables
	// of the wrong type, all of them: the toml package would stop at the
	// first, and which is first is up to map order.
	var doc any
	if _, err := toml.Decode(src, &doc); err != nil {
		var perr toml.ParseError
		if !errors.As(err, &perr) {
			p.errs = append(p.errs, &Error{File: path, Msg: err.Error()})
			return nil, p.errs
		}
		// A syntax error: nothing else can be trusted.
		p.errs = append(p.errs, syntaxError(path, src, perr))
		return nil, p.errs
	}
	p.src = src // for the lines of errors, scanned only when there are some
	var raw rawUnit
	table, _ := doc.(map[string]any)
	p.decode(rawUnitSchema, reflect.ValueOf(&raw).Elem(), table, nil)
	ambiguous := false
	if len(p.undecoded) > 0 {
		ambiguous = p.checkKeys()
	}
	if ambiguous || len(p.tableErrs) > 0 {
		// A key that differs from a known one only in case is most
		// likely that key, whose absence is then no news; and what is
		// under a table of the wrong type is not there: stop at these.
		p.errs = append(p.errs, p.tableErrs...)
		p.errs.sort()
		return nil, p.errs
	}
	p.checkUndecoded(p.undecoded)

	sum := sha256.Sum256(data)
	u := &Unit{
		Name:    name,
		Path:    path,
		Version: hex.EncodeToString(sum[:]),
		Source:  src,
	}
	p.unit(u, &raw)
	if len(p.errs) > 0 {
		p.errs.sort()
		return nil, p.errs
	}
	return u, nil
}

// unitName returns the stem of path's file name.
func unitName(path string) string {
	base := filepath.Base(path)
	return strings.TrimSuffix(base, filepath.Ext(base))
}

// ValidateName checks a unit name: lowercase letters, digits and '-',
// beginning and ending with a letter or digit, at most MaxNameLength
// characters.
func ValidateName(name string) error {
	if len(name) > MaxNameLength || !isDNSLabel(name) {
		return fmt.Errorf("%q is not a valid unit name: %s", name, nameRule)
	}
	return nil
}

var nameRule = fmt.Sprintf("want lowercase letters, digits and '-', beginning and ending with a letter or digit, at most %d characters (so that instance names \"<name>-xxxxx\" fit in 63)", MaxNameLength)

// The raw file, as decoded. Tables are pointers and values are opts, so
// that an absent key differs from a zero one, and a value of the wrong type
// is reported alongside every other problem rather than ending decoding.

type rawUnit struct {
	Kind      opt[Kind]              `toml:"kind"`
	Replicas  opt[int]               `toml:"replicas"`
	Exclusive opt[bool]              `toml:"exclusive"`
	Stopped   opt[bool]              `toml:"stopped"`
	Restarted opt[string]            `toml:"restarted_at"`
	Labels    opt[map[string]string] `toml:"labels"`
	Selector  *rawSelector           `toml:"selector"`
	Placement *rawPlacement          `toml:"placement"`
	Template  *rawTemplate           `toml:"template"`

	Completions      opt[int]      `toml:"completions"`
	Parallelism      opt[int]      `toml:"parallelism"`
	BackoffLimit     opt[int]      `toml:"backoff_limit"`
	ActiveDeadline   opt[Duration] `toml:"active_deadline"`
	TTLAfterFinished opt[Duration] `toml:"ttl_after_finished"`
	BackoffDelay     opt[Duration] `toml:"backoff_delay"`
	MaxBackoffDelay  opt[Duration] `toml:"max_backoff_delay"`

	Schedule          opt[string]            `toml:"schedule"`
	TimeZone          opt[string]            `toml:"time_zone"`
	ConcurrencyPolicy opt[ConcurrencyPolicy] `toml:"concurrency_policy"`
	StartingDeadline  opt[Duration]          `toml:"starting_deadline"`
	SuccessfulHistory opt[int]               `toml:"successful_history"`
	FailedHistory     opt[int]               `toml:"failed_history"`
	Suspend           opt[bool]              `toml:"suspend"`
	CatchUp           opt[CatchUp]           `toml:"catch_up"`
}

type rawSelector struct {
	MatchLabels      opt[map[string]string] `toml:"match_labels"`
	MatchExpressions []rawRequirement       `toml:"match_expressions"`
}

type rawRequirement struct {
	Key      opt[string]   `toml:"key"`
	Operator opt[Operator] `toml:"operator"`
	Values   opt[[]string] `toml:"values"`
}

type rawPlacement struct {
	NodeSelector opt[map[string]string] `toml:"node_selector"`
}

type rawTemplate struct {
	Labels          opt[map[string]string] `toml:"labels"`
	Command         opt[[]string]          `toml:"command"`
	Env             opt[map[string]string] `toml:"env"`
	WorkingDir      opt[string]            `toml:"working_dir"`
	User            opt[string]            `toml:"user"`
	Group           opt[string]            `toml:"group"`
	Restart         opt[RestartPolicy]     `toml:"restart"`
	Log             opt[LogTarget]         `toml:"log"`
	StopSignal      opt[Signal]            `toml:"stop_signal"`
	StopTimeout     opt[Duration]          `toml:"stop_timeout"`
	RestartDelay    opt[Duration]          `toml:"restart_delay"`
	MaxRestartDelay opt[Duration]          `toml:"max_restart_delay"`

	StartLimitBurst    opt[int]      `toml:"start_limit_burst"`
	StartLimitInterval opt[Duration] `toml:"start_limit_interval"`

	MemoryMax opt[ByteSize] `toml:"memory_max"`
	CPUMax    opt[CPUQuota] `toml:"cpu_max"`
	PidsMax   opt[pidsMax]  `toml:"pids_max"`

	Liveness  *rawProbe `toml:"liveness"`
	Readiness *rawProbe `toml:"readiness"`
	Startup   *rawProbe `toml:"startup"`
}

type rawProbe struct {
	HTTPGet        *rawHTTPGet   `toml:"http_get"`
	TCPSocket      *rawTCPSocket `toml:"tcp_socket"`
	Exec           *rawExec      `toml:"exec"`
	Notify         opt[bool]     `toml:"notify"`
	Watchdog       opt[Duration] `toml:"watchdog"`
	NotificationFD opt[int]      `toml:"notification_fd"`

	InitialDelay     opt[Duration] `toml:"initial_delay"`
	Timeout          opt[Duration] `toml:"timeout"`
	Period           opt[Duration] `toml:"period"`
	SuccessThreshold opt[int]      `toml:"success_threshold"`
	FailureThreshold opt[int]      `toml:"failure_threshold"`
}

type rawHTTPGet struct {
	Path    opt[string]            `toml:"path"`
	Port    opt[int]               `toml:"port"`
	Host    opt[string]            `toml:"host"`
	Scheme  opt[string]            `toml:"scheme"`
	Headers opt[map[string]string] `toml:"headers"`
}

type rawTCPSocket struct {
	Port opt[int]    `toml:"port"`
	Host opt[string] `toml:"host"`
}

type rawExec struct {
	Command opt[[]string] `toml:"command"`
}

// opt is one value from the file: whether its key was there, and the value
// converted to T, or why it could not be. It never fails decoding.
type opt[T any] struct {
	set bool
	v   T
	err error
}

// UnmarshalTOML implements toml.Unmarshaler.
func (o *opt[T]) UnmarshalTOML(data any) error {
	o.set = true
	o.err = convert(data, &o.v)
	return nil
}

// convert stores a decoded TOML value in dst, one of the types opt is used
// with.
//
// The strings it keeps are copies: the toml package decodes from a copy
// of the file's text of its own, and the strings it hands out are slices
// of that copy, which would keep all of it (comments too) alive beside
// Unit.Source for as long as the unit runs.
func convert(data any, dst any) error {
	switch d := dst.(type) {
	case *string:
		s, ok := data.(string)
		if !ok {
			return fmt.Errorf("want a string, got %s", describeTOML(data))
		}
		*d = strings.Clone(s)
	case *int:
		n, ok := data.(int64)
		if !ok {
			return fmt.Errorf("want an integer, got %s", describeTOML(data))
		}
		*d = int(n)
	case *bool:
		b, ok := data.(bool)
		if !ok {
			return fmt.Errorf("want true or false, got %s", describeTOML(data))
		}
		*d = b
	case *[]string:
		a, ok := data.([]any)
		if !ok {
			return fmt.Errorf("want an array of strings, got %s", describeTOML(data))
		}
		out := make([]string, len(a))
		for i, e := range a {
			s, ok := e.(string)
			if !ok {
				return fmt.Errorf("want an array of strings, got %s at index %d", describeTOML(e), i)
			}
			out[i] = strings.Clone(s)
		}
		*d = out
	case *map[string]string:
		m, ok := data.(map[string]any)
		if !ok {
			return fmt.Errorf("want a table of strings, like { app = \"kubia\" }, got %s", describeTOML(data))
		}
		out := make(map[string]string, len(m))
		for _, k := range slices.Sorted(maps.Keys(m)) {
			e := m[k]
			s, ok := e.(string)
			if !ok {
				return fmt.Errorf("want a table of strings, got %s for %q", describeTOML(e), k)
			}
			out[strings.Clone(k)] = strings.Clone(s)
		}
		*d = out
	case *Signal:
		if n, ok := data.(int64); ok {
			return d.UnmarshalText([]byte(strconv.FormatInt(n, 10)))
		}
		s, ok := data.(string)
		if !ok {
			return fmt.Errorf("want a signal name like \"SIGTERM\" or a number, got %s", describeTOML(data))
		}
		return d.UnmarshalText([]byte(s))
	case *ByteSize:
		v, err := parseMemoryMax(data)
		*d = v
		return err
	case *CPUQuota:
		v, err := parseCPUMax(data)
		*d = v
		return err
	case *pidsMax:
		v, err := parsePidsMax(data)
		*d = pidsMax(v)
		return err
	case *Duration:
		s, ok := data.(string)
		if !ok {
			return fmt.Errorf("want a duration string like \"10s\", got %s", describeTOML(data))
		}
		return d.UnmarshalText([]byte(s))
	case encoding.TextUnmarshaler:
		s, ok := data.(string)
		if !ok {
			return fmt.Errorf("want a string, got %s", describeTOML(data))
		}
		return d.UnmarshalText([]byte(s))
	default:
		panic(fmt.Sprintf("units: opt of unsupported type %T", dst))
	}
	return nil
}

// describeTOML names a decoded TOML value's type, with the value when it
// is short.
func describeTOML(v any) string {
	switch v := v.(type) {
	case string:
		return fmt.Sprintf("string %q", v)
	case int64:
		return fmt.Sprintf("integer %d", v)
	case float64:
		return fmt.Sprintf("float %v", v)
	case bool:
		return fmt.Sprintf("boolean %v", v)
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

var (
	unmarshalerType = reflect.TypeFor[toml.Unmarshaler]()
	rawUnitSchema   = schemaOf(reflect.TypeFor[rawUnit]())
)

// A schema is what the raw types say of one table: its keys, in the
// order of their fields, and what each holds.
type schema struct {
	fields []schemaField
	known  []string // the keys, for suggestions
}

type schemaField struct {
	name  string // the toml tag
	index int    // of the field in its struct
	kind  fieldKind
	typ   reflect.Type
	sub   *schema // of the table, or of each table in the array
}

type fieldKind int

const (
	valueField  fieldKind = iota // an opt: what is under it is a value, not schema
	tableField                   // a pointer to a raw struct
	tablesField                  // a slice of raw structs: an array of tables
)

// schemaOf returns the schema of t, a raw struct type.
func schemaOf(t reflect.Type) *schema {
	s := &schema{}
	for i := range t.NumField() {
		f := t.Field(i)
		sf := schemaField{name: f.Tag.Get("toml"), index: i, typ: f.Type}
		switch ft := f.Type; {
		case reflect.PointerTo(ft).Implements(unmarshalerType):
			sf.kind = valueField
		case ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Struct:
			sf.kind, sf.sub = tableField, schemaOf(ft.Elem())
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			sf.kind, sf.sub = tablesField, schemaOf(ft.Elem())
		default:
			panic(fmt.Sprintf("units: raw field %s of unsupported type %s", f.Name, ft))
		}
		s.fields = append(s.fields, sf)
		s.known = append(s.known, sf.name)
	}
	return s
}

// field returns the field for key, or nil.
func (s *schema) field(key string) *schemaField {
	for i := range s.fields {
		if s.fields[i].name == key {
			return &s.fields[i]
		}
	}
	return nil
}

// keyState is where a key of the document is in the schema.
type keyState struct {
	table   *schema // nil for a value, or anything under one or under an unknown key
	array   bool    // an array of tables, each of schema table
	unknown bool    // a key that the schema does not have
}

// child returns the state of the key or element one step under st.
// Anything under an opt (the keys of labels, the elements of command) is
// a value, not schema; an index into a table, or a key in an array of
// tables, is a type error that decode reports.
func (st keyState) child(sp step) keyState {
	switch {
	case st.table == nil:
		return keyState{}
	case st.array:
		if sp.index >= 0 {
			return keyState{table: st.table}
		}
		return keyState{}
	case sp.index >= 0:
		return keyState{}
	}
	f := st.table.field(sp.name)
	switch {
	case f == nil:
		return keyState{unknown: true}
	case f.kind == tableField:
		return keyState{table: f.sub}
	case f.kind == tablesField:
		return keyState{table: f.sub, array: true}
	}
	return keyState{}
}

// checkKeys reports every key in the file that the schema does not have,
// once for each unknown table rather than for everything in it, with a
// suggestion when a known key is close. It reports whether a key differed
// from a known one only in case, which the toml package decodes as if it
// were that key.
func (p *parser) checkKeys() (ambiguous bool) {
	ps := p.positions()
	nodes := ps.nodes
	states := make([]keyState, len(nodes))
	states[0] = keyState{table: rawUnitSchema} // the root
	for _, n := range nodes[1:] {
		states[n.id] = states[n.parent.id].child(n.step)
	}
	for _, n := range ps.keys { // in document order
		if !states[n.id].unknown {
			continue
		}
		if p.unknown == nil {
			p.unknown = map[string]bool{}
		}
		p.unknown[n.bare] = true
		msg := "unknown key"
		if s, sameFold := suggest(n.step.name, states[n.parent.id].table.known); sameFold {
			ambiguous = true
			msg = fmt.Sprintf("unknown key (keys are case-sensitive: did you mean %q?)", s)
		} else if s != "" {
			msg = fmt.Sprintf("unknown key (did you mean %q?)", s)
		}
		p.errs = append(p.errs, &Error{File: p.file, Line: n.line, Key: n.key, Msg: msg})
	}
	return ambiguous
}

// checkUndecoded reports the keys that decode found the schema does not
// have and checkKeys did not report: none, unless the scanner behind
// checkKeys missed one.
func (p *parser) checkUndecoded(undecoded []toml.Key) {
	var missed []string
next:
	for _, k := range undecoded {
		for i := 1; i <= len(k); i++ {
			if p.unknown[k[:i].String()] {
				continue next
			}
		}
		missed = append(missed, k.String())
	}
	slices.Sort(missed) // decode found them in map order
	for _, s := range missed {
		p.errs = append(p.errs, &Error{File: p.file, Line: p.positions().bare[s], Key: s, Msg: "unknown key"})
	}
}

// decode fills v, a raw struct of schema s, from table, the TOML table
// at path. It notes every value s wants to be a table, or an array of
// tables, that is something else, in p.tableErrs, and every key s does
// not have in p.undecoded. Values are converted by their opts, which
// never fail.
func (p *parser) decode(s *schema, v reflect.Value, table map[string]any, path keyPath) {
	found := 0
	for i := range s.fields {
		f := &s.fields[i]
		x, ok := table[f.name]
		if !ok {
			continue
		}
		found++
		fv := v.Field(f.index)
		switch f.kind {
		case valueField:
			fv.Addr().Interface().(toml.Unmarshaler).UnmarshalTOML(x)
		case tableField:
			key := path.key(f.name)
			sub, ok := x.(map[string]any)
			if !ok {
				p.tableError(key, "want a table, got %s", describeTOML(x))
				continue
			}
			t := reflect.New(f.typ.Elem())
			p.decode(f.sub, t.Elem(), sub, key)
			fv.Set(t)
		case tablesField:
			key := path.key(f.name)
			var elems []any
			switch a := x.(type) {
			case []any:
				elems = a
			case []map[string]any:
				for _, e := range a {
					elems = append(elems, e)
				}
			default:
				p.tableError(key, "want an array of tables, got %s", describeTOML(x))
				continue
			}
			ts := reflect.MakeSlice(f.typ, len(elems), len(elems))
			for i, e := range elems {
				sub, ok := e.(map[string]any)
				if !ok {
					p.tableError(key.elem(i), "want a table, got %s", describeTOML(e))
					continue
				}
				p.decode(f.sub, ts.Index(i), sub, key.elem(i))
			}
			fv.Set(ts)
		}
	}
	if found == len(table) {
		return
	}
	for k := range table {
		if s.field(k) == nil {
			p.undecoded = append(p.undecoded, append(path.names(), k))
		}
	}
}

func (p *parser) tableError(key keyPath, format string, args ...any) {
	k := key.String()
	p.tableErrs = append(p.tableErrs, &Error{File: p.file, Line: p.line(k), Key: k, Msg: fmt.Sprintf(format, args...)})
}

// suggest returns the known key that name is most likely a misspelling
// of, if any: one that differs only in case (sameFold), one that is the
// same once case, '_' and a Kubernetes "Seconds" suffix are ignored
// (initialDelaySeconds is initial_delay), or one within two edits.
func suggest(name string, known []string) (best string, sameFold bool) {
	for _, k := range known {
		if strings.EqualFold(k, name) {
			return k, true
		}
	}
	norm := func(s string) string { return strings.ToLower(strings.ReplaceAll(s, "_", "")) }
	n := strings.TrimSuffix(norm(name), "seconds")
	for _, k := range known {
		if norm(k) == n {
			return k, false
		}
	}
	bestDist := 3
	for _, k := range known {
		if abs(len(name)-len(k)) >= bestDist {
			continue // at least that many edits
		}
		if d := editDistance(name, k); d < bestDist && d < len(k)/2 {
			best, bestDist = k, d
		}
	}
	return best, false
}

func abs(n int) int { return max(n, -n) }

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	var buf [2][32]int // on the stack, for b as short as the schema's keys
	prev, cur := buf[0][:], buf[1][:]
	if len(b) >= len(buf[0]) {
		prev, cur = make([]int, len(b)+1), make([]int, len(b)+1)
	}
	prev, cur = prev[:len(b)+1], cur[:len(b)+1]
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// syntaxError is the *Error for perr, the toml package's error in src.
// When the character at fault is the newline that ends a line (an
// unclosed "[template"), the package has counted that newline already
// and names the next line: the error is put on the line the newline
// ends. The newline and the end of the file are named in words, not as
// '\n' and '\x00' (which the package also says of a NUL in the file).
func syntaxError(path, src string, perr toml.ParseError) *Error {
	line := perr.Position.Line
	if at := perr.Position.Start; at >= 0 && at < len(src) && src[at] == '\n' {
		line = 1 + strings.Count(src[:at], "\n")
	}
	msg := strings.ReplaceAll(perr.Message, `'\n'`, "the end of the line")
	if perr.Position.Start >= len(src)-1 { // not a NUL in the file
		msg = strings.ReplaceAll(msg, `'\x00'`, "the end of the file")
	}
	return &Error{File: path, Line: line, Key: perr.LastKey, Msg: "invalid TOML: " + msg}
}
