package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/tendhq/tend/supervisor"
)

// CLI is the tend command line: kubectl's verbs over the agent's local
// API. main builds one from the process's streams and environment; tests
// build one over buffers and run it in-process. A CLI runs one command at a
// time.
type CLI struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Env looks up an environment variable (TEND_SOCKET, the editors); nil
	// means an empty environment.
	Env func(string) string
	// Now is the clock for ages; nil means time.Now.
	Now func() time.Time
	// Location is where times are shown; nil means time.Local.
	Location *time.Location

	socket string             // from --socket, $TEND_SOCKET or the default
	client *supervisor.Client // made on first use
	// flagsOf, when set, makes the next flag parse store its verb's flags
	// here and return errHelp at once (completion.go).
	flagsOf *[]flagDoc
}

// errSilent is returned after a command has already reported its problems
// on stderr: main exits 1 without printing anything more.
var errSilent = errors.New("errors reported above")

// plainError is an error printed as it stands, without main's "error: "
// prefix, like kubectl's "Error from server (NotFound): ...".
type plainError struct{ msg string }

func (e *plainError) Error() string { return e.msg }

// usageError is a mistake in the command line; main adds a pointer to the
// verb's help.
type usageError struct {
	verb string
	err  error
}

func (e *usageError) Error() string {
	if e.verb == "" {
		return fmt.Sprintf("%v\nSee 'tend help' for usage.", e.err)
	}
	return fmt.Sprintf("%v\nSee 'tend %s --help' for usage.", e.err, e.verb)
}

func (e *usageError) Unwrap() error { return e.err }

func usagef(verb, format string, args ...any) error {
	return &usageError{verb: verb, err: fmt.Errorf(format, args...)}
}

// command is one verb.
type command struct {
	name  string
	short string // one line for `tend help`
	group string
	run   func(c *CLI, ctx context.Context, args []string) error
}

// commands in the order `tend help` lists them. (Set in init: help
// looks them up.)
var commands []command

func init() {
	commands = []command{
		{"apply", "Add or update units from TOML files", "Basic Commands", (*CLI).runApply},
		{"create", "Add units from TOML files; fail if one exists already", "Basic Commands", (*CLI).runCreate},
		{"get", "Display one or many resources", "Basic Commands", (*CLI).runGet},
		{"describe", "Show details of a resource, with its events", "Basic Commands", (*CLI).runDescribe},
		{"edit", "Edit a unit file in your editor and apply it", "Basic Commands", (*CLI).runEdit},
		{"diff", "Show how unit files differ from the units the agent runs", "Basic Commands", (*CLI).runDiff},
		{"delete", "Delete instances, units or hosts", "Basic Commands", (*CLI).runDelete},
		{"scale", "Set the number of replicas of a unit (a job's parallelism)", "Management Commands", (*CLI).runScale},
		{"label", "Set or remove labels on instances and hosts", "Management Commands", (*CLI).runLabel},
		{"stop", "Stop a unit's instances and keep the unit, as systemctl stop", "Management Commands", (*CLI).runStop},
		{"start", "Start a stopped unit's instances again", "Management Commands", (*CLI).runStart},
		{"restart", "Restart instances: stop and start each again at once", "Management Commands", (*CLI).runRestart},
		{"rollout", "Replace a unit's instances one by one (restart), and follow that (status)", "Management Commands", (*CLI).runRollout},
		{"import", "Convert systemd .service and .timer files into tend units", "Management Commands", (*CLI).runImport},
		{"cat", "Print units' files, as the agent runs them", "Management Commands", (*CLI).runCat},
		{"wait", "Wait for a condition on instances, units or hosts", "Management Commands", (*CLI).runWait},
		{"logs", "Print the output of an instance", "Troubleshooting Commands", (*CLI).runLogs},
		{"exec", "Run a command with an instance's environment, on its host", "Troubleshooting Commands", (*CLI).runExec},
		{"agent", "Run the tend agent on this host", "Agent", (*CLI).runAgentVerb},
		{"keygen", "Make the secrets of a new cluster", "Agent", (*CLI).runKeygen},
		{"keys", "List or rotate the fleet's gossip keys", "Agent", (*CLI).runKeys},
		{"fence", "Release the lease of an exclusive unit whose host is down", "Agent", (*CLI).runFence},
		{"version", "Print the client and agent versions", "Other Commands", (*CLI).runVersion},
		{"completion", "Print a shell's completion script: bash, zsh or fish", "Other Commands", (*CLI).runCompletion},
		{"help", "Help about any command", "Other Commands", (*CLI).runHelp},
	}
}

func lookupCommand(name string) (command, bool) {
	for _, cmd := range commands {
		if cmd.name == name {
			return cmd, true
		}
	}
	return command{}, false
}

// Run runs one command line (without the program name). Errors come back
// to the caller to print, except where they say they were printed already
// (errSilent).
func (c *CLI) Run(ctx context.Context, args []string) error {
	c.client = nil
	args, err := c.globalFlags(args)
	if err != nil {
		return err
	}
	if len(args) == 0 {
		c.printTopHelp(c.Stderr)
		return errSilent
	}
	verb := args[0]
	switch verb {
	case "-h", "--help", "-help":
		c.printTopHelp(c.Stdout)
		return nil
	case "--version", "-version":
		return c.runVersion(ctx, []string{"--client"})
	}
	switch verb {
	case "__complete":
		return c.runComplete(ctx, args[1:])
	case "__man":
		return c.runMan(ctx, args[1:])
	}
	cmd, ok := lookupCommand(verb)
	if !ok {
		msg := fmt.Sprintf("unknown command %q for \"tend\"", verb)
		if s := suggest(verb, commandNames()); s != "" {
			msg += fmt.Sprintf("\n\nDid you mean this?\n\t%s", s)
		}
		return usagef("", "%s", msg)
	}
	if err := cmd.run(c, ctx, args[1:]); !isHelp(err) {
		return err
	}
	return nil
}

func commandNames() []string {
	var names []string
	for _, cmd := range commands {
		names = append(names, cmd.name)
	}
	return names
}

// globalFlags takes --socket out of args wherever it is (kubectl's global
// flags go anywhere) and settles the socket path: --socket, then
// $TEND_SOCKET, then the default.
func (c *CLI) globalFlags(args []string) ([]string, error) {
	socket := ""
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i:]...)
			break
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "socket" {
			rest = append(rest, a)
			continue
		}
		if !hasValue {
			if i+1 >= len(args) {
				return nil, usagef("", "flag needs an argument: --socket")
			}
			i++
			value = args[i]
		}
		socket = value
	}
	if socket == "" {
		socket = c.getenv("TEND_SOCKET")
	}
	if socket == "" {
		socket = supervisor.DefaultSocket
	}
	c.socket = socket
	return rest, nil
}

func (c *CLI) getenv(key string) string {
	if c.Env == nil {
		return ""
	}
	return c.Env(key)
}

func (c *CLI) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *CLI) location() *time.Location {
	if c.Location != nil {
		return c.Location
	}
	return time.Local
}

func (c *CLI) api() *supervisor.Client {
	if c.client == nil {
		c.client = supervisor.NewClient(c.socket)
	}
	return c.client
}

// close releases the client's connections.
func (c *CLI) close() {
	if c.client != nil {
		c.client.Close()
	}
}

func (c *CLI) runAgentVerb(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == "reexec" {
		return c.runReexecVerb(ctx, args[1:])
	}
	return runAgent(ctx, c, args)
}

// flagSet is a verb's flags: the standard library's FlagSet, parsed the
// kubectl way (flags before, between and after the arguments; -owide as
// well as -o wide), with short and long names and kubectl-style help.
type flagSet struct {
	*flag.FlagSet
	verb string
	docs []flagDoc
}

type flagDoc struct {
	long, short string
	def         string // as help shows it: 'wide', 'false', '-1'
	usage       string
}

func newFlagSet(verb string) *flagSet {
	fs := flag.NewFlagSet(verb, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &flagSet{FlagSet: fs, verb: verb}
}

// add registers v under its long name and its short one ("" for none).
func (fs *flagSet) add(v flag.Value, long, short, usage string) {
	fs.Var(v, long, usage)
	if short != "" {
		fs.Var(v, short, usage)
	}
	def := v.String()
	if _, ok := v.(*boolValue); !ok {
		def = "'" + def + "'"
	}
	fs.docs = append(fs.docs, flagDoc{long: long, short: short, def: def, usage: usage})
}

func (fs *flagSet) stringVar(p *string, long, short, def, usage string) {
	*p = def
	fs.add((*stringValue)(p), long, short, usage)
}

func (fs *flagSet) boolVar(p *bool, long, short string, usage string) {
	fs.add((*boolValue)(p), long, short, usage)
}

func (fs *flagSet) intVar(p *int, long, short string, def int, usage string) {
	*p = def
	fs.add((*intValue)(p), long, short, usage)
}

// changed reports whether the flag called name was given.
func (fs *flagSet) changed(name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

type stringValue string

func (s *stringValue) Set(v string) error { *s = stringValue(v); return nil }
func (s *stringValue) String() string     { return string(*s) }

type boolValue bool

func (b *boolValue) Set(v string) error {
	x, err := strconv.ParseBool(v)
	if err != nil {
		return fmt.Errorf("want true or false")
	}
	*b = boolValue(x)
	return nil
}
func (b *boolValue) String() string   { return strconv.FormatBool(bool(*b)) }
func (b *boolValue) IsBoolFlag() bool { return true }

type intValue int

func (n *intValue) Set(v string) error {
	x, err := strconv.Atoi(v)
	if err != nil {
		return fmt.Errorf("want a whole number")
	}
	*n = intValue(x)
	return nil
}
func (n *intValue) String() string { return strconv.Itoa(int(*n)) }

// listValue collects a repeatable flag whose values may also be
// comma-separated, like -L app -L tier or -L app,tier.
type listValue []string

func (l *listValue) Set(v string) error {
	for s := range strings.SplitSeq(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}
func (l *listValue) String() string { return strings.Join(*l, ",") }

// optionalValue is a string flag whose value may be left out, like
// kubectl's --cascade: "--cascade" alone means ifBare, "--cascade=orphan"
// gives the value. (As with kubectl, a value must be joined with '='.)
type optionalValue struct {
	p      *string
	ifBare string
}

func (o optionalValue) Set(v string) error {
	if v == "true" { // what the flag package passes for a bare flag
		v = o.ifBare
	}
	*o.p = v
	return nil
}
func (o optionalValue) String() string {
	if o.p == nil {
		return ""
	}
	return *o.p
}
func (o optionalValue) IsBoolFlag() bool { return true }

// errHelp is returned by parse when the user asked for the verb's help,
// which parse has printed.
var errHelp = errors.New("help shown")

// parse parses args, returning the positional arguments. Flags may come
// anywhere; "--" ends them. A single-letter flag that takes a value may
// have it attached (-owide, -lapp=kubia); one-letter booleans may be
// combined (-it). -h and --help print the verb's
// help and return errHelp.
func (fs *flagSet) parse(c *CLI, args []string) ([]string, error) {
	if c.flagsOf != nil {
		*c.flagsOf = fs.docs
		return nil, errHelp
	}
	args = fs.expandShortFlags(args)
	var positional []string
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			c.printVerbHelp(c.Stdout, fs)
			return nil, errHelp
		}
		if err != nil {
			return nil, &usageError{verb: fs.verb, err: flagError(err)}
		}
		rest := fs.Args()
		consumed := len(args) - len(rest)
		if consumed > 0 && args[consumed-1] == "--" {
			return append(positional, rest...), nil
		}
		if len(rest) == 0 {
			return positional, nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// expandShortFlags rewrites -owide as -o=wide for the one-letter flags
// that take a value, and -it as -i -t for one-letter booleans.
func (fs *flagSet) expandShortFlags(args []string) []string {
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		if len(a) > 2 && a[0] == '-' && a[1] != '-' && a[2] != '=' {
			name, _, _ := strings.Cut(a[1:], "=")
			if fs.Lookup(name) == nil {
				if f := fs.Lookup(a[1:2]); f != nil && !isBoolFlag(f) {
					a = a[:2] + "=" + a[2:]
				} else if bools := splitBools(fs, a[1:]); bools != nil {
					out = append(out, bools...)
					continue
				}
			}
		}
		out = append(out, a)
	}
	return out
}

// splitBools returns "-i", "-t" for "it" when each letter is a boolean
// flag, else nil.
func splitBools(fs *flagSet, letters string) []string {
	var out []string
	for _, r := range letters {
		f := fs.Lookup(string(r))
		if f == nil || !isBoolFlag(f) {
			return nil
		}
		out = append(out, "-"+string(r))
	}
	return out
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// flagError rewords the flag package's errors as kubectl words them.
func flagError(err error) error {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		return fmt.Errorf("unknown flag: %s", dashed(name))
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		return fmt.Errorf("flag needs an argument: %s", dashed(name))
	}
	// invalid boolean value "x" for -wait: want true or false
	if rest, ok := strings.CutPrefix(msg, "invalid boolean value "); ok {
		if i := strings.Index(rest, " for -"); i >= 0 {
			value := rest[:i]
			name, why, _ := strings.Cut(rest[i+len(" for -"):], ": ")
			return fmt.Errorf("invalid argument %s for %s flag: %s", value, dashed(name), why)
		}
	}
	// invalid value "x" for flag -replicas: want a whole number
	if rest, ok := strings.CutPrefix(msg, "invalid value "); ok {
		if i := strings.Index(rest, " for flag -"); i >= 0 {
			value := rest[:i]
			name, why, _ := strings.Cut(rest[i+len(" for flag -"):], ": ")
			return fmt.Errorf("invalid argument %s for %s flag: %s", value, dashed(name), why)
		}
	}
	return err
}

func dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// suggest returns the candidate closest to s, if it is close enough to be
// a likely typo.
func suggest(s string, candidates []string) string {
	best, bestDist := "", 3
	for _, cand := range candidates {
		if d := editDistance(s, cand); d < bestDist {
			best, bestDist = cand, d
		}
	}
	if bestDist > 2 || (bestDist == 2 && len(s) < 5) {
		return ""
	}
	return best
}

// editDistance is the optimal string alignment distance: Levenshtein's,
// with a swap of two neighbours ("gte" for "get") counting as one edit.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
