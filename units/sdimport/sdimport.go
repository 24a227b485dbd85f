// Package sdimport converts systemd service units into tend unit files,
// for `tend import`.
//
// go-systemd's unit package parses the .service file; each setting that
// has a counterpart in a tend unit is mapped to it, and every other one is
// reported as a Warning naming its line, and listed in a comment at the
// top of the unit it makes: nothing is dropped silently. The unit made is
// parsed with the units package before it is returned, so what Convert
// gives is a valid unit file; a value that tend refuses (MemoryMax=50%)
// is left out with a warning saying why.
//
// What maps (systemd → tend):
//
//	ExecStart=, ExecStartPre=          command (through /bin/sh when needed)
//	Environment=, EnvironmentFile=     env; the file is read by /bin/sh at start
//	WorkingDirectory=, User=, Group=   working_dir, user, group
//	Restart=, RestartSec=              restart, restart_delay (constant, as systemd's)
//	RestartMaxDelaySec=                max_restart_delay
//	StartLimitBurst=, StartLimitIntervalSec=  start_limit_burst, start_limit_interval
//	KillSignal=, TimeoutStopSec=       stop_signal, stop_timeout
//	Type=notify                        [template.readiness] notify = true
//	WatchdogSec=                       [template.liveness] watchdog
//	MemoryMax=, CPUQuota=, TasksMax=   memory_max, cpu_max, pids_max
//	Type=oneshot                       kind = "job"; else kind = "per-host"
//	RuntimeMaxSec= (of a job)          active_deadline
//
// A command line's variable references ($NAME, ${NAME}) are left for
// /bin/sh to expand at each start, as systemd expands them then; its
// specifiers (%n, %N, %p, %i, %t, …) are resolved from the file's name
// where they can be, and reported where they cannot.
package sdimport

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/coreos/go-systemd/v22/unit"

	"github.com/tendhq/tend/units"
)

// MaxFileSize is the largest .service file Convert reads, as for unit files.
const MaxFileSize = units.MaxFileSize

// Options change what Convert makes.
type Options struct {
	// Name is the unit's name; "" derives it from the file's name:
	// nginx.service is "nginx", getty@tty1.service "getty-tty1", and a
	// template, postgresql@.service, "postgresql".
	Name string
	// Kind is the unit's kind: replicated (one replica), per-host or
	// job; 0 chooses job for Type=oneshot and per-host for the rest, as
	// a service file describes a daemon of the host it is on.
	Kind units.Kind
	// DropInDirs are where ConvertFile looks for the service's drop-ins
	// (NAME.service.d/*.conf and the others of dropInNames), highest
	// priority first, before the directory of the file itself (the
	// lowest); nil is DefaultDropInDirs.
	DropInDirs []string
	// dropIns are the drop-ins' paths and contents, in the order they
	// apply (ConvertFile finds them); timerDropIns a timer's.
	dropIns, timerDropIns []dropIn
}

// A dropIn is one NAME.service.d/*.conf file, read.
type dropIn struct {
	path string
	data []byte
}

// DefaultDropInDirs are systemd's directories of drop-ins for system
// units, highest priority first (systemd.unit(5)): systemctl
// set-property's, the admin's, the runtime's, the local and the vendor's.
var DefaultDropInDirs = []string{"/etc/systemd/system.control", "/run/systemd/system.control",
	"/etc/systemd/system", "/run/systemd/system", "/usr/local/lib/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system"}

// dropInNames are the drop-in directories' names for the unit file
// base, least specific first: service.d for every service, then each
// dash prefix (foo-.service.d, foo-bar-.service.d for
// foo-bar-baz.service), the template's, the unit's own.
func dropInNames(base string) []string {
	ext := filepath.Ext(base)
	stem := strings.TrimSuffix(base, ext)
	names := []string{strings.TrimPrefix(ext, ".") + ".d"}
	prefix, _, _ := strings.Cut(stem, "@")
	for i := 0; i < len(prefix); i++ {
		if prefix[i] == '-' && i > 0 {
			names = append(names, prefix[:i+1]+ext+".d")
		}
	}
	if t, ok := templateOf(base); ok {
		names = append(names, filepath.Base(t)+".d")
	}
	return append(names, base+".d")
}

// findDropIns reads the drop-ins of the unit at path, as systemd applies
// them: every *.conf in the directories dropInNames names, in dirs and
// beside the file, a file in a higher-priority directory (or of a more
// specific name) replacing one of the same name in a lower, applied in
// the order of their names.
func findDropIns(path string, dirs []string) ([]dropIn, error) {
	if dirs == nil {
		dirs = DefaultDropInDirs
	}
	names := dropInNames(filepath.Base(path))
	chosen := map[string]string{} // file name → path, the highest priority's
	all := append(slices.Clone(dirs), filepath.Dir(path))
	for i := len(all) - 1; i >= 0; i-- { // lowest priority first: later ones replace
		for _, n := range names { // and the more specific name
			matches, err := filepath.Glob(filepath.Join(all[i], n, "*.conf"))
			if err != nil {
				return nil, err
			}
			for _, m := range matches {
				chosen[filepath.Base(m)] = m
			}
		}
	}
	var out []dropIn
	for _, name := range slices.Sorted(maps.Keys(chosen)) {
		data, err := readFile(chosen[name])
		if err != nil {
			return nil, err
		}
		out = append(out, dropIn{chosen[name], data})
	}
	return out, nil
}

// A Warning is a setting, or a section, that was not imported, or was
// imported with a different meaning.
type Warning struct {
	File  string
	Line  int    // 1-based; 0 when unknown
	Key   string // the setting's name, "ExecReload"; for a section "[X-Foo]"
	Value string // the setting's value
	Msg   string
}

// String formats the warning as "file:line: Key=value: msg".
func (w Warning) String() string {
	var b strings.Builder
	b.WriteString(w.File)
	if w.Line > 0 {
		b.WriteString(":" + strconv.Itoa(w.Line))
	}
	b.WriteString(": " + w.setting() + ": " + w.Msg)
	return b.String()
}

func (w Warning) setting() string {
	if strings.HasPrefix(w.Key, "[") {
		return w.Key
	}
	v := w.Value
	if len(v) > 60 {
		v = v[:57] + "..."
	}
	return w.Key + "=" + v
}

// Result is one converted service.
type Result struct {
	Name     string      // the unit's name; its file is Name + ".toml"
	TOML     []byte      // the unit file
	Unit     *units.Unit // TOML, parsed
	Warnings []Warning   // in the order of their lines
}

// ConvertFile reads and converts one .service file. See Convert.
//
// An instance of a template, postgresql@15-main.service, that is not a
// file is read from its template, postgresql@.service in the same
// directory, as systemd reads it; its specifiers %i and %I are then the
// instance, "15-main".
//
// The service's drop-ins (see Options.DropInDirs) apply after it, as
// systemd applies them: what they set is imported, their warnings name
// them.
func ConvertFile(path string, opt Options) (*Result, error) {
	data, err := readInstance(path)
	if err != nil {
		return nil, err
	}
	if opt.dropIns, err = findDropIns(path, opt.DropInDirs); err != nil {
		return nil, err
	}
	return Convert(path, data, opt)
}

// readInstance reads the unit file at path, at most MaxFileSize and a
// byte; or, for an instance that is not a file, its template's.
func readInstance(path string) ([]byte, error) {
	data, err := readFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if template, ok := templateOf(path); ok {
			if tdata, terr := readFile(template); terr == nil {
				return tdata, nil
			}
		}
	}
	return data, err
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, MaxFileSize+1))
}

// templateOf returns the template of an instance's path:
// dir/name@.service of dir/name@instance.service (and so for timers).
func templateOf(path string) (string, bool) {
	base := filepath.Base(path)
	ext := filepath.Ext(base)
	prefix, instance, ok := strings.Cut(strings.TrimSuffix(base, ext), "@")
	if !ok || instance == "" || (ext != ".service" && ext != ".timer") {
		return "", false
	}
	return filepath.Join(filepath.Dir(path), prefix+"@"+ext), true
}

// Convert converts the service unit data, read from path (whose base name
// gives the unit's name and the specifiers %n, %N, %p and %i), into a tend
// unit. It fails, naming the file and, where there is one, the line, when
// the file is not a service unit systemd would run: not UTF-8, larger than
// MaxFileSize, not in systemd's syntax, of no known Type=, without an
// ExecStart= (or with several, but for Type=oneshot), or with a name that
// makes no valid unit name and no Options.Name.
func Convert(path string, data []byte, opt Options) (*Result, error) {
	fail := func(format string, args ...any) (*Result, error) {
		return nil, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...))
	}
	base := filepath.Base(path)
	if strings.HasSuffix(base, ".timer") {
		return fail("a timer: import it with the service it starts (ConvertTimer; tend import takes .timer files)")
	}
	if !strings.HasSuffix(base, ".service") {
		return fail("not a service unit (want a file whose name ends in .service)")
	}
	c, err := newConv(path, data, opt)
	if err != nil {
		return nil, err
	}
	if err := c.build(); err != nil {
		return fail("%v", err)
	}
	return c.finish()
}

// readUnit checks and parses a unit file of any type: its settings, in
// order, and their lines.
func readUnit(path string, data []byte) (*lineIndex, []*unit.UnitOption, error) {
	fail := func(format string, args ...any) (*lineIndex, []*unit.UnitOption, error) {
		return nil, nil, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...))
	}
	if len(data) > MaxFileSize {
		return fail("%d bytes or more is larger than the limit of %d", len(data), MaxFileSize)
	}
	if !utf8.Valid(data) {
		return fail("not UTF-8")
	}
	if bytes.IndexByte(data, 0) >= 0 {
		return fail("holds a NUL byte")
	}
	src := uncomment(string(data))
	ix, err := indexLines(src)
	if err != nil {
		return fail("%v", err)
	}
	opts, err := unit.DeserializeOptions(strings.NewReader(src))
	if err != nil {
		return fail("%v", err)
	}
	return ix, opts, nil
}

// newConv reads a service's settings into a conversion.
func newConv(path string, data []byte, opt Options) (*conv, error) {
	fail := func(format string, args ...any) (*conv, error) {
		return nil, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...))
	}
	base := filepath.Base(path)
	ix, opts, err := readUnit(path, data)
	if err != nil {
		return nil, err
	}
	c := &conv{file: path, sdName: base, single: map[string]setting{}, lists: map[string][]setting{}}
	c.name = opt.Name
	if c.name == "" {
		c.name = unitName(base)
	}
	if err := units.ValidateName(c.name); err != nil {
		return fail("%v; give the unit a name of its own (tend import --name)", err)
	}
	c.kind = opt.Kind
	c.read("", ix, opts)
	for _, d := range opt.dropIns {
		ix, opts, err := readUnit(d.path, d.data)
		if err != nil {
			return nil, err
		}
		c.read(d.path, ix, opts)
		c.notes = append(c.notes, "With the drop-in "+d.path+".")
	}
	return c, nil
}

// read collects the settings of the service's file (file "") or of a
// drop-in of it.
func (c *conv) read(file string, ix *lineIndex, opts []*unit.UnitOption) {
	seenSection := map[string]bool{}
	for _, o := range opts {
		s := setting{key: o.Name, value: normalize(o.Value), line: ix.next(o.Section, o.Name), file: file}
		switch o.Section {
		case "Unit", "Service", "Install":
			c.collect(o.Section, s)
		default:
			if !seenSection[o.Section] {
				seenSection[o.Section] = true
				msg := "not a section of a service unit; its settings are not imported"
				if strings.HasPrefix(o.Section, "X-") {
					msg = "an extension section; its settings are not imported"
				}
				c.warn(setting{key: "[" + o.Section + "]", line: ix.sections[o.Section], file: file}, msg)
			}
		}
	}
}

// unitName derives a unit name from a service's file name.
func unitName(base string) string {
	n := strings.TrimSuffix(base, ".service")
	n = strings.TrimSuffix(n, "@") // a template
	n = unit.UnitNameUnescape(n)
	n = strings.ToLower(n)
	var b strings.Builder
	for _, r := range n {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	return strings.Trim(b.String(), "-")
}

// normalize joins a value's continued lines as systemd does, with a space.
func normalize(v string) string {
	return strings.TrimSpace(strings.ReplaceAll(v, "\\\n", " "))
}

type setting struct {
	key, value string
	line       int
	file       string // "": the service's
	seq        int    // the order of assignments, across the file and its drop-ins
}

// The settings kept as lists: each assignment adds, an empty one clears.
var listSettings = map[string]bool{
	"Unit.Documentation": true, "Service.ExecStart": true, "Service.ExecStartPre": true,
	"Service.Environment": true, "Service.EnvironmentFile": true,
	"Install.WantedBy": true, "Install.RequiredBy": true, "Install.UpheldBy": true,
}

// The settings that map, kept as the last assignment wins.
var singleSettings = map[string]bool{
	"Unit.Description": true, "Unit.StartLimitBurst": true, "Unit.StartLimitIntervalSec": true,
	"Service.Type": true, "Service.WorkingDirectory": true, "Service.User": true, "Service.Group": true,
	"Service.Restart": true, "Service.RestartSec": true, "Service.RestartMaxDelaySec": true,
	"Service.KillSignal": true, "Service.KillMode": true, "Service.TimeoutStopSec": true, "Service.TimeoutSec": true,
	"Service.WatchdogSec": true, "Service.MemoryMax": true, "Service.MemoryLimit": true,
	"Service.CPUQuota": true, "Service.TasksMax": true, "Service.RemainAfterExit": true,
	"Service.RuntimeMaxSec": true, "Service.NotifyAccess": true, "Service.RestartSteps": true,
	// Before systemd 230 these were in [Service].
	"Service.StartLimitBurst": true, "Service.StartLimitInterval": true, "Unit.StartLimitInterval": true,
}

type conv struct {
	file, sdName, name string
	from               string // the timer, for a cron unit; "" for a service
	kind               units.Kind

	single map[string]setting
	lists  map[string][]setting
	warns  []Warning
	about  []string // the description, documentation and install targets
	notes  []string // comment lines about what was mapped, and how

	entries []entry
	seq     int               // assignments collected
	env     map[string]string // Environment=, as imported
}

// An entry is one key of the unit made, with the setting it came from.
type entry struct {
	table, key, value string // value: TOML
	from              setting
}

func (c *conv) warn(s setting, msg string) {
	file := c.file
	if s.file != "" {
		file = s.file
	}
	c.warns = append(c.warns, Warning{File: file, Line: s.line, Key: s.key, Value: s.value, Msg: msg})
}

func (c *conv) collect(section string, s setting) {
	c.seq++
	s.seq = c.seq
	k := section + "." + s.key
	switch {
	case listSettings[k]:
		if s.value == "" {
			delete(c.lists, k)
		} else {
			c.lists[k] = append(c.lists[k], s)
		}
	case singleSettings[k]:
		if s.value == "" {
			delete(c.single, k)
		} else {
			c.single[k] = s
		}
	case k == "Service.IgnoreSIGPIPE" && !isTrue(s.value):
		// What tend does: SIGPIPE has its default action.
	default:
		c.warn(s, unmapped(section, s.key))
	}
}

func (c *conv) get(k string) (setting, bool) { s, ok := c.single[k]; return s, ok }

func (c *conv) has(k string) bool { _, ok := c.single[k]; return ok }

func (c *conv) set(table, key, value string, from setting) {
	c.entries = append(c.entries, entry{table: table, key: key, value: value, from: from})
}

// spec resolves the specifiers of a system service that the file's name
// and the system's fixed directories give.
func (c *conv) spec(b byte) (string, bool) {
	full := c.sdName
	stem := strings.TrimSuffix(full, ".service")
	prefix, instance, isInst := strings.Cut(stem, "@")
	switch b {
	case 'n':
		return full, true
	case 'N':
		return stem, true
	case 'p':
		return prefix, true
	case 'P':
		return unit.UnitNameUnescape(prefix), true
	case 'i':
		return instance, isInst && instance != ""
	case 'I':
		return unit.UnitNameUnescape(instance), isInst && instance != ""
	case 't':
		return "/run", true
	case 'S':
		return "/var/lib", true
	case 'C':
		return "/var/cache", true
	case 'L':
		return "/var/log", true
	case 'E':
		return "/etc", true
	case 'T':
		return "/tmp", true
	case 'V':
		return "/var/tmp", true
	}
	return "", false
}

// expand resolves the specifiers of a plain value, reporting those it
// cannot.
func (c *conv) expand(s setting) string {
	w, unresolved := expandWord(rawWord{text: s.value, literal: make([]bool, len(s.value))}, c.spec, false)
	c.unresolved(s, unresolved)
	v, _ := w.literal()
	return v
}

func (c *conv) unresolved(s setting, specs []string) {
	for _, sp := range slices.Compact(slices.Sorted(slices.Values(specs))) {
		c.warn(s, fmt.Sprintf("the specifier %s is not resolved (it is kept as it is): edit the unit", sp))
	}
}

func (c *conv) build() error {
	typ := "simple"
	typSet, hasType := c.get("Service.Type")
	if hasType {
		typ = typSet.value
	}
	switch typ {
	case "simple", "exec":
	case "notify":
		c.set("template.readiness", "notify", "true", typSet)
	case "notify-reload":
		c.set("template.readiness", "notify", "true", typSet)
		c.warn(typSet, "imported as Type=notify: tend sends no reload signal (tend exec or tend rollout restart instead)")
	case "forking":
		c.warn(typSet, "tend runs the main process in the foreground and takes its exit for the instance's: "+
			"change the command to keep the daemon in the foreground (often -D, -f, -n or --foreground), or it is restarted at once")
	case "oneshot":
	case "dbus":
		c.warn(typSet, "imported as Type=simple: tend does not watch the bus for BusName=")
	case "idle":
		c.warn(typSet, "imported as Type=simple: tend starts the instance at once")
	default:
		return fmt.Errorf("line %d: Type=%s is not a service type (want simple, exec, forking, oneshot, dbus, notify, notify-reload or idle)", typSet.line, typ)
	}
	if c.kind == 0 {
		c.kind = units.KindPerHost
		if typ == "oneshot" {
			c.kind = units.KindJob
		}
	}
	if c.kind != units.KindReplicated && c.kind != units.KindPerHost && c.kind != units.KindJob {
		return fmt.Errorf("a service is imported as a replicated, per-host or job unit, not %s", c.kind)
	}

	order, from := c.environment() // first: the command's warnings look at the values
	if err := c.command(typ); err != nil {
		return err
	}
	if len(order) > 0 {
		kv := make([]string, len(order))
		for i, k := range order {
			kv[i] = tomlKey(k) + " = " + tomlString(c.env[k])
		}
		c.set("template", "env", "{ "+strings.Join(kv, ", ")+" }", from)
	}
	if s, ok := c.get("Service.WorkingDirectory"); ok {
		v := c.expand(s)
		if strings.HasPrefix(v, "-") {
			v = v[1:]
			c.warn(s, "tend does not ignore a missing directory: the instance fails to start without it")
		}
		if strings.HasPrefix(v, "~") {
			c.warn(s, "not imported: tend does not resolve the user's home directory; give the directory's path")
		} else {
			c.set("template", "working_dir", tomlString(v), s)
		}
	}
	for _, k := range []string{"User", "Group"} {
		if s, ok := c.get("Service." + k); ok {
			c.set("template", strings.ToLower(k), tomlString(c.expand(s)), s)
		}
	}
	c.restart(typ)
	c.stopping()
	c.limits()
	c.probes()
	c.unitSection()
	return nil
}

// command makes the template's command of ExecStartPre= and ExecStart=.
func (c *conv) command(typ string) error {
	starts := c.lists["Service.ExecStart"]
	switch {
	case len(starts) == 0:
		return errors.New("no ExecStart=: nothing to run")
	case len(starts) > 1 && typ != "oneshot":
		return fmt.Errorf("line %d: a second ExecStart=: only a Type=oneshot service runs more than one", starts[1].line)
	}
	type cmdAt struct {
		command
		from setting
	}
	var cmds []cmdAt
	parse := func(s setting) error {
		cmd, unresolved, err := parseCommand(s.value, c.spec)
		if err != nil {
			return fmt.Errorf("line %d: %s=%s: %v", s.line, s.key, s.value, err)
		}
		c.unresolved(s, unresolved)
		if cmd.prefix.argv0 {
			c.warn(s, `"@": tend cannot give the program another argv[0]; the program's name is its argv[0]`)
		}
		if cmd.prefix.privileged {
			c.warn(s, `"+", "!" or "!!": tend runs every command as the template's user`)
		}
		for _, w := range cmd.words {
			for _, p := range w {
				if v := c.env[p.text]; p.split && strings.ContainsAny(v, `"'\`) {
					c.warn(s, fmt.Sprintf("$%s is split by /bin/sh on whitespace alone: the quotes and backslashes in its value %q, which systemd would remove, stay in the words", p.text, v))
				}
			}
		}
		if cmd.prefix.ignoreFailure && s.key == "ExecStart" && typ != "oneshot" {
			c.warn(s, `"-": the exit status is not ignored: a failing exit is a failure to tend's restart policy`)
			cmd.prefix.ignoreFailure = false
		}
		cmds = append(cmds, cmdAt{cmd, s})
		return nil
	}
	for _, s := range c.lists["Service.ExecStartPre"] {
		if err := parse(s); err != nil {
			return err
		}
	}
	for _, s := range starts {
		if err := parse(s); err != nil {
			return err
		}
	}
	main := cmds[len(cmds)-1]
	envFiles := c.lists["Service.EnvironmentFile"]
	hasRefs := false
	for _, cmd := range cmds {
		for _, w := range cmd.words {
			if _, ok := w.literal(); !ok {
				hasRefs = true
			}
		}
	}
	needShell := len(cmds) > 1 || len(envFiles) > 0 || hasRefs
	if !needShell {
		argv := make([]string, len(main.words))
		for i, w := range main.words {
			argv[i], _ = w.literal()
		}
		c.set("template", "command", tomlArray(argv), main.from)
		return nil
	}

	// The shell does, at each start, what systemd would: read the
	// environment files, run the commands before the main one, each
	// failure ending the start, and expand variables; then it becomes
	// the main process.
	var script []string
	splits := false
	for _, cmd := range cmds {
		for _, w := range cmd.words {
			for _, p := range w {
				splits = splits || p.split
			}
		}
	}
	if splits {
		script = append(script, "set -f") // $NAME splits into words, and is not a pattern
	}
	if len(envFiles) > 0 {
		script = append(script, "set -a")
		for _, s := range envFiles {
			for _, f := range c.envFiles(s) {
				if f.optional {
					script = append(script, "[ ! -e "+shellQuote(f.path)+" ] || . "+shellQuote(f.path))
				} else {
					script = append(script, ". "+shellQuote(f.path))
				}
			}
		}
		script = append(script, "set +a")
	}
	for i, cmd := range cmds {
		words := make([]string, len(cmd.words))
		for j, w := range cmd.words {
			words[j] = w.shell()
			if j == 0 && (strings.Contains(words[0], "=") || shellReserved[words[0]]) && !strings.HasPrefix(words[0], "'") {
				// Quoted, the program is never an assignment or a
				// reserved word to the shell.
				words[0] = "'" + words[0] + "'"
			}
		}
		line := strings.Join(words, " ")
		switch {
		case i < len(cmds)-1 && cmd.prefix.ignoreFailure:
			line += " || :"
		case i < len(cmds)-1:
			line += " || exit $?"
		case cmd.prefix.ignoreFailure:
			line += " || :"
		default:
			line = "exec " + line
		}
		script = append(script, line)
	}
	c.set("template", "command", tomlArray([]string{"/bin/sh", "-c", strings.Join(script, "; ")}), main.from)
	var does []string
	if len(envFiles) > 0 {
		does = append(does, "reads EnvironmentFile=")
	}
	if len(cmds) > len(starts) {
		does = append(does, "runs ExecStartPre= first")
	}
	if len(starts) > 1 {
		does = append(does, "runs the ExecStart= lines in order")
	}
	if hasRefs {
		does = append(does, "expands $VARIABLES")
	}
	c.notes = append(c.notes, "The command is /bin/sh: at each start it "+strings.Join(does, ", ")+
		", as systemd does, then execs the main command.")
	return nil
}

// shellReserved are the words that begin a command with a meaning of the
// shell's own, unquoted.
var shellReserved = map[string]bool{"if": true, "then": true, "else": true, "elif": true, "fi": true, "do": true,
	"done": true, "case": true, "esac": true, "while": true, "until": true, "for": true, "in": true, "!": true, "{": true, "}": true}

type envFile struct {
	path     string
	optional bool
}

// envFiles reads an EnvironmentFile= setting, which may name several.
func (c *conv) envFiles(s setting) []envFile {
	words, err := splitWords(c.expand(s))
	if err != nil {
		c.warn(s, "not imported: "+err.Error())
		return nil
	}
	var files []envFile
	for _, w := range words {
		f := envFile{path: w}
		if strings.HasPrefix(w, "-") {
			f = envFile{path: w[1:], optional: true}
		}
		files = append(files, f)
	}
	c.warn(s, "read by /bin/sh at each start (set -a; . FILE), so in the shell's syntax, which differs from systemd's: "+
		"quotes, $ and backslashes are the shell's, and a line that is not a shell command fails the start")
	return files
}

// environment reads Environment= into c.env: the names, sorted, and the
// last setting, for the template's env.
func (c *conv) environment() ([]string, setting) {
	env := map[string]string{}
	var order []string
	var from setting
	for _, s := range c.lists["Service.Environment"] {
		from = s
		words, err := splitWords(s.value)
		if err != nil {
			c.warn(s, "not imported: "+err.Error())
			continue
		}
		for _, w := range words {
			w = c.expand(setting{key: s.key, value: w, line: s.line, file: s.file}) // specifiers after splitting, as systemd
			k, v, ok := strings.Cut(w, "=")
			if !ok || !isName(k) {
				c.warn(s, fmt.Sprintf("not imported: %q is not an assignment (want NAME=value)", w))
				continue
			}
			if _, dup := env[k]; !dup {
				order = append(order, k)
			}
			env[k] = v
		}
	}
	c.env = env
	slices.Sort(order)
	return order, from
}

// restart maps Restart= and RestartSec=.
func (c *conv) restart(typ string) {
	job := c.kind == units.KindJob
	s, ok := c.get("Service.Restart")
	policy := "never" // systemd's default is Restart=no
	if ok {
		switch s.value {
		case "no":
		case "always":
			policy = "always"
			if job {
				policy = "on-failure"
				c.warn(s, "imported as on-failure: a job that succeeded is complete")
			}
		case "on-failure":
			policy = "on-failure"
		case "on-abnormal", "on-abort", "on-watchdog":
			policy = "on-failure"
			c.warn(s, "imported as on-failure, which also restarts an instance that exited with a status other than 0")
		case "on-success":
			c.warn(s, "imported as never: tend has no policy that restarts only after a clean exit")
		default:
			c.warn(s, "not imported: not a restart policy (want no, always, on-success, on-failure, on-abnormal, on-abort or on-watchdog); imported as never")
		}
	} else {
		s = setting{key: "Restart", value: "no"}
		c.notes = append(c.notes, "Restart= is not set: systemd does not restart the service, so neither does tend (restart = \"never\").")
	}
	c.set("template", "restart", tomlString(policy), s)
	if job && policy == "never" {
		c.set("", "backoff_limit", "0", s) // a failed oneshot is failed, not tried again
	}
	// systemd waits RestartSec= (default 100ms) before each restart, the
	// same each time unless RestartSteps= grows it to
	// RestartMaxDelaySec=; tend doubles restart_delay up to
	// max_restart_delay, which keeps it constant when they are equal.
	if policy != "never" || c.has("Service.RestartSec") {
		delay := setting{key: "RestartSec", value: "100ms"}
		if s, ok := c.get("Service.RestartSec"); ok {
			delay = s
		}
		if d, ok := c.span(delay); ok {
			c.set("template", "restart_delay", tomlString(formatDuration(d)), delay)
			maxDelay := d
			steps, hasSteps := c.get("Service.RestartSteps")
			if s, ok := c.get("Service.RestartMaxDelaySec"); ok {
				n, err := strconv.Atoi(steps.value)
				switch {
				case !hasSteps || err != nil || n <= 0:
					c.warn(s, "not imported: without RestartSteps= systemd does not grow the delay either")
				default:
					if m, ok := c.span(s); ok {
						maxDelay = m
						c.warn(steps, "tend doubles the delay after each failed run up to max_restart_delay, rather than in these steps")
					}
				}
			} else if hasSteps {
				c.warn(steps, "not imported: without RestartMaxDelaySec= the delay does not grow")
			}
			c.set("template", "max_restart_delay", tomlString(formatDuration(maxDelay)), delay)
		}
	}
	burst, hasBurst := c.get("Unit.StartLimitBurst")
	if b, ok := c.get("Service.StartLimitBurst"); ok && !hasBurst {
		burst, hasBurst = b, true
	}
	if hasBurst {
		if n, err := strconv.Atoi(burst.value); err != nil {
			c.warn(burst, "not imported: not a number")
		} else {
			c.set("template", "start_limit_burst", strconv.Itoa(n), burst)
		}
	}
	for _, k := range []string{"Unit.StartLimitIntervalSec", "Unit.StartLimitInterval", "Service.StartLimitInterval"} {
		if s, ok := c.get(k); ok {
			if d, ok := c.span(s); ok {
				c.set("template", "start_limit_interval", tomlString(formatDuration(d)), s)
			}
			break
		}
	}
}

// span parses a time span, warning of one that is not, or is infinite.
func (c *conv) span(s setting) (time.Duration, bool) {
	t, err := parseTimeSpan(s.value)
	if err != nil {
		c.warn(s, "not imported: "+err.Error())
		return 0, false
	}
	if t.infinity {
		c.warn(s, "not imported: tend has no infinite time span here")
		return 0, false
	}
	return t.d, true
}

// stopping maps KillSignal=, KillMode= and the stop timeout.
func (c *conv) stopping() {
	if s, ok := c.get("Service.KillSignal"); ok {
		sig, err := units.ParseSignal(s.value)
		if err != nil {
			c.warn(s, "not imported: "+err.Error())
		} else {
			c.set("template", "stop_signal", tomlString(sig.String()), s)
		}
	}
	if s, ok := c.get("Service.KillMode"); ok && s.value != "control-group" {
		c.warn(s, "tend stops the whole run, its process group and cgroup, as KillMode=control-group does")
	}
	stop, ok := c.get("Service.TimeoutStopSec")
	if both, hasBoth := c.get("Service.TimeoutSec"); hasBoth {
		if !ok || both.seq > stop.seq { // the later assignment sets the stop timeout
			c.warn(both, "only its stop timeout is imported: tend has no start timeout (a startup probe bounds the start)")
			stop, ok = both, true
		} else {
			c.warn(both, "not imported: TimeoutStopSec= comes after it; tend has no start timeout")
		}
	}
	if ok {
		t, err := parseTimeSpan(stop.value)
		switch {
		case err != nil:
			c.warn(stop, "not imported: "+err.Error())
		case t.infinity || t.d == 0:
			c.warn(stop, "not imported: tend always sends SIGKILL after stop_timeout (default 10s); give it a time")
		default:
			c.set("template", "stop_timeout", tomlString(formatDuration(t.d)), stop)
		}
	}
	if s, ok := c.get("Service.RuntimeMaxSec"); ok {
		if c.kind != units.KindJob {
			c.warn(s, "not imported: only a job has a deadline (active_deadline)")
		} else if d, ok := c.span(s); ok {
			c.set("", "active_deadline", tomlString(formatDuration(d)), s)
		}
	}
	if s, ok := c.get("Service.RemainAfterExit"); ok && c.kind != units.KindJob && isTrue(s.value) {
		c.warn(s, "tend shows an instance that exited as Completed or Error; nothing stays active after it")
	}
}

func isTrue(v string) bool {
	switch strings.ToLower(v) {
	case "1", "yes", "y", "true", "t", "on":
		return true
	}
	return false
}

// limits maps the cgroup limits; their values are checked by parsing the
// unit made.
func (c *conv) limits() {
	mem, ok := c.get("Service.MemoryMax")
	if old, hasOld := c.get("Service.MemoryLimit"); hasOld {
		if ok {
			c.warn(old, "not imported: MemoryMax= is given too, and wins")
		} else {
			mem, ok = old, true
		}
	}
	if ok {
		c.set("template", "memory_max", bareOrString(mem.value), mem)
	}
	if s, ok := c.get("Service.CPUQuota"); ok {
		c.set("template", "cpu_max", tomlString(s.value), s)
	}
	if s, ok := c.get("Service.TasksMax"); ok {
		c.set("template", "pids_max", bareOrString(s.value), s)
	}
}

// bareOrString writes a number of digits as a TOML integer, anything else
// as a string.
func bareOrString(v string) string {
	if v != "" && strings.Trim(v, "0123456789") == "" && len(v) < 19 {
		return strings.TrimLeft(v, "0") + map[bool]string{true: "0"}[strings.Trim(v, "0") == ""]
	}
	return tomlString(v)
}

// probes maps WatchdogSec= (Type=notify was mapped with the type).
func (c *conv) probes() {
	if s, ok := c.get("Service.WatchdogSec"); ok {
		t, err := parseTimeSpan(s.value)
		switch {
		case err != nil:
			c.warn(s, "not imported: "+err.Error())
		case t.infinity || t.d == 0: // no watchdog
		default:
			c.set("template.liveness", "watchdog", tomlString(formatDuration(t.d)), s)
		}
	}
	if s, ok := c.get("Service.NotifyAccess"); ok && s.value == "none" {
		c.warn(s, "tend takes notifications from the instance's process group")
	}
}

// unitSection puts the description, the documentation and the install
// targets in the unit's header comment.
func (c *conv) unitSection() {
	if s, ok := c.get("Unit.Description"); ok {
		c.about = append(c.about, s.value)
	}
	for _, s := range c.lists["Unit.Documentation"] {
		c.about = append(c.about, "Documentation: "+s.value)
	}
	var targets []string
	for _, k := range []string{"Install.WantedBy", "Install.RequiredBy", "Install.UpheldBy"} {
		for _, s := range c.lists[k] {
			targets = append(targets, s.value)
		}
	}
	if len(targets) > 0 {
		c.about = append(c.about, "Installed for "+strings.Join(targets, ", ")+": tend runs every unit it has, from the agent's start.")
	}
}

// The tables of the unit made, in the order they are written.
var tableOrder = []string{"", "template", "template.readiness", "template.liveness"}

// finish writes the unit, parses it, and leaves out, with a warning, each
// value tend refuses; it fails only if what is left does not parse, which
// would be a bug here.
func (c *conv) finish() (*Result, error) {
	for range 8 {
		src := c.render()
		u, err := units.Parse(c.name+".toml", src)
		if err == nil {
			sortWarnings(c.warns)
			return &Result{Name: c.name, TOML: src, Unit: u, Warnings: c.warns}, nil
		}
		var list units.ErrorList
		if !errors.As(err, &list) {
			return nil, fmt.Errorf("%s: the unit made does not parse: %w", c.file, err)
		}
		dropped := false
		for _, e := range list {
			i := slices.IndexFunc(c.entries, func(en entry) bool { return joinKey(en.table, en.key) == e.Key })
			if i < 0 || c.entries[i].from.line == 0 {
				return nil, fmt.Errorf("%s: the unit made does not parse: %w", c.file, err)
			}
			c.warn(c.entries[i].from, "not imported: "+e.Msg)
			c.entries = slices.Delete(c.entries, i, i+1)
			dropped = true
		}
		if !dropped {
			break
		}
	}
	return nil, fmt.Errorf("%s: the unit made does not parse", c.file)
}

// sortWarnings orders warnings by file, then line.
func sortWarnings(w []Warning) {
	slices.SortStableFunc(w, func(a, b Warning) int {
		if a.File != b.File {
			return strings.Compare(a.File, b.File)
		}
		return a.Line - b.Line
	})
}

func joinKey(table, key string) string {
	if table == "" {
		return key
	}
	return table + "." + key
}

// render writes the unit file: the header comment, then the keys table by
// table.
func (c *conv) render() []byte {
	var b bytes.Buffer
	if c.from != "" {
		fmt.Fprintf(&b, "# %s.toml, made by `tend import` from %s and %s.\n", c.name, comment(c.from), comment(c.file))
	} else {
		fmt.Fprintf(&b, "# %s.toml, made by `tend import` from %s.\n", c.name, comment(c.file))
	}
	for _, group := range [][]string{c.about, c.notes} {
		if len(group) > 0 {
			b.WriteString("#\n")
		}
		for _, n := range group {
			b.WriteString("# " + comment(n) + "\n")
		}
	}
	if len(c.warns) > 0 {
		b.WriteString("#\n# Not imported, or imported otherwise (line: setting: why):\n")
		warns := slices.Clone(c.warns)
		sortWarnings(warns)
		for _, w := range warns {
			where := strconv.Itoa(w.Line)
			if c.from != "" || w.File != c.file {
				where = filepath.Base(w.File) + ":" + where
			}
			fmt.Fprintf(&b, "#   %s: %s: %s\n", where, comment(w.setting()), comment(w.Msg))
		}
	}
	labels := "{ app = " + tomlString(c.name) + " }"
	fmt.Fprintf(&b, "kind = %s\n", tomlString(c.kind.String()))
	if c.kind == units.KindReplicated {
		b.WriteString("replicas = 1\n")
	}
	b.WriteString("labels = " + labels + "\n")
	for _, t := range tableOrder {
		first := true
		for _, e := range c.entries {
			if e.table != t {
				continue
			}
			if first && t != "" {
				fmt.Fprintf(&b, "\n[%s]\n", t)
				if t == "template" {
					b.WriteString("labels = " + labels + "\n")
				}
			}
			first = false
			fmt.Fprintf(&b, "%s = %s\n", e.key, e.value)
		}
	}
	return b.Bytes()
}

// comment makes s fit on one comment line.
func comment(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
