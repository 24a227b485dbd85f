package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/tendhq/tend/supervisor"
	"github.com/tendhq/tend/units"
)

const applyHelp = `Add or update units from TOML unit files.

Usage:
  tend apply -f FILE|DIR [-f FILE|DIR...] [--dry-run=client|server]
  tend apply -f - --name NAME < FILE

Each file is one unit, named after the file: kubia.toml is unit kubia.
A directory means the *.toml files in it (not in its subdirectories); -f -
reads one unit from standard input, named with --name. Every file is
checked first; one with problems is reported, each problem with file, line
and key, and the valid files are still applied. The agent keeps the file
in its unit directory and reconciles the unit's instances.

For each unit apply prints what it did: created, configured (changed) or
unchanged. It exits non-zero when any file was not applied. With
--dry-run=client it checks the files here and asks the agent only what it
runs now; with --dry-run=server the agent checks them as it would apply
them (its limits, its units); either way nothing changes.

Examples:
  # Add or update one unit
  tend apply -f kubia.toml

  # Add or update every unit in a directory
  tend apply -f units/

  # A unit made by a script
  ./make-unit | tend apply -f - --name kubia

  # See what apply would do, and how the files differ from what runs
  tend apply -f units/ --dry-run=server
  tend diff -f units/
`

const createHelp = `Add units from TOML unit files; fail for a unit that exists already.

Usage:
  tend create -f FILE|DIR [-f FILE|DIR...] [--dry-run=client|server]
  tend create -f - --name NAME < FILE

Like apply, but a unit that already exists is an error and is left as it
is. Use apply (or edit) to change a unit.

Examples:
  # Add the kubia unit (a ReplicationController in the book)
  tend create -f kubia.toml

  # Add a unit with a liveness probe
  tend create -f kubia-liveness.toml
`

func (c *CLI) runApply(ctx context.Context, args []string) error {
	return c.applyFiles(ctx, "apply", args)
}

func (c *CLI) runCreate(ctx context.Context, args []string) error {
	return c.applyFiles(ctx, "create", args)
}

// unitSource is one unit file to apply or diff: its file name
// (kubia.toml), what to call it in messages (its path; for standard
// input, the file name --name gives), and its text.
type unitSource struct {
	filename string
	path     string
	data     []byte
}

func (s unitSource) name() string { return strings.TrimSuffix(s.filename, ".toml") }

// fileFlags are -f and --name, as apply, create, diff and delete take them.
type fileFlags struct {
	files listValue
	name  string
}

func (ff *fileFlags) add(fs *flagSet, what string) {
	fs.add(&ff.files, "filename", "f", what+" A unit file, a directory of them (*.toml), or - for standard input. Repeatable.")
	fs.stringVar(&ff.name, "name", "", "", "The unit's name when -f - reads it from standard input.")
}

// sources reads the files -f names: each file, each directory's *.toml
// files in name order, and standard input (once, named by --name). A file
// that cannot be read ends it.
func (c *CLI) sources(verb string, ff fileFlags) ([]unitSource, error) {
	if len(ff.files) == 0 {
		return nil, usagef(verb, "must specify -f FILE, -f DIR or -f -")
	}
	stdin := slices.Contains(ff.files, "-")
	switch {
	case stdin && ff.name == "":
		return nil, usagef(verb, "a unit read from standard input (-f -) needs its name: a unit is named after its file; give --name NAME")
	case !stdin && ff.name != "":
		return nil, usagef(verb, "--name names the unit read from standard input: use it with -f -")
	}
	if n := countOf(ff.files, "-"); n > 1 {
		return nil, usagef(verb, "standard input (-f -) can be read once")
	}
	var out []unitSource
	for _, f := range ff.files {
		if f == "-" {
			name := strings.TrimSuffix(ff.name, ".toml")
			if err := units.ValidateName(name); err != nil {
				return nil, usagef(verb, "--name %q: %v", ff.name, err)
			}
			data, err := io.ReadAll(io.LimitReader(c.Stdin, maxUnitInput+1))
			if err != nil {
				return nil, fmt.Errorf("reading standard input: %w", err)
			}
			if len(data) > maxUnitInput {
				return nil, fmt.Errorf("standard input: a unit file is at most %d bytes", maxUnitInput)
			}
			out = append(out, unitSource{filename: name + ".toml", path: name + ".toml", data: data})
			continue
		}
		paths, err := unitFiles([]string{f})
		if err != nil {
			return nil, err
		}
		for _, p := range paths {
			data, err := os.ReadFile(p)
			if err != nil {
				return nil, err
			}
			out = append(out, unitSource{filename: filepath.Base(p), path: p, data: data})
		}
	}
	return out, nil
}

// maxUnitInput bounds a unit read from standard input: the bound on a
// unit file, which the agent's API keeps too.
const maxUnitInput = units.MaxFileSize

func countOf(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

// dryRunMode parses --dry-run: none, client or server; bare means client.
func dryRunMode(verb, v string) (string, error) {
	switch v {
	case "", "none", "false":
		return "", nil
	case "client", "true":
		return "client", nil
	case "server":
		return "server", nil
	}
	return "", usagef(verb, "invalid dry-run value (%s): must be \"none\", \"server\", or \"client\"", v)
}

func (c *CLI) applyFiles(ctx context.Context, verb string, args []string) error {
	fs := newFlagSet(verb)
	var ff fileFlags
	var dryRun string
	ff.add(fs, "")
	fs.add(optionalValue{p: &dryRun, ifBare: "client"}, "dry-run", "", "client or server: say what would be done, and change nothing.")
	args, err := fs.parse(c, args)
	if err != nil {
		return err
	}
	if len(args) > 0 {
		return usagef(verb, "unexpected arguments %q: name the unit files with -f", args)
	}
	mode, err := dryRunMode(verb, dryRun)
	if err != nil {
		return err
	}
	srcs, err := c.sources(verb, ff)
	if err != nil {
		return err
	}
	defer c.close()
	failed := false
	for _, src := range srcs {
		if _, err := units.Parse(src.path, src.data); err != nil {
			printUnitErrors(c, err)
			failed = true
			continue
		}
		var res supervisor.ApplyResult
		suffix := ""
		switch {
		case mode == "client":
			res, err = c.clientDryRun(ctx, verb, src)
			suffix = " (dry run)"
		case mode == "server":
			res, err = c.api().CheckUnit(ctx, src.filename, src.data, verb == "create")
			suffix = " (server dry run)"
		case verb == "create":
			res, err = c.api().CreateUnit(ctx, src.filename, src.data)
		default:
			res, err = c.api().ApplyUnit(ctx, src.filename, src.data)
		}
		var se *supervisor.ServerError
		switch {
		case errors.As(err, &se) && se.Status == http.StatusConflict:
			fmt.Fprintf(c.Stderr, "Error from server (AlreadyExists): error when creating %q: %s\n", src.path, se.Message)
			failed = true
			continue
		case errors.As(err, &se):
			fmt.Fprintf(c.Stderr, "error: %s: %s\n", src.path, se.Message)
			failed = true
			continue
		case err != nil:
			return err // the agent is unreachable: no point trying the rest
		}
		fmt.Fprintf(c.Stdout, "unit/%s %s%s\n", res.Name, res.Action, suffix)
	}
	if failed {
		return errSilent
	}
	return nil
}

// clientDryRun says what apply would do from the file (valid: the caller
// parsed it) and the unit the agent runs now. The agent compares parsed
// versions, so a change of comments only says configured here and
// unchanged there.
func (c *CLI) clientDryRun(ctx context.Context, verb string, src unitSource) (supervisor.ApplyResult, error) {
	u, _ := units.Parse(src.path, src.data)
	res := supervisor.ApplyResult{Name: src.name(), Kind: u.Kind, Action: "created"}
	live, err := c.api().Unit(ctx, src.name())
	switch {
	case errors.Is(err, supervisor.ErrNotFound):
		return res, nil
	case err != nil:
		return res, err
	case verb == "create":
		return res, &supervisor.ServerError{Status: http.StatusConflict, Message: fmt.Sprintf("units %q already exists", src.name())}
	case live.Source == string(src.data):
		res.Action = "unchanged"
	default:
		res.Action = "configured"
	}
	return res, nil
}

// printUnitErrors prints a unit file's problems one per line, as
// "file:line: key: message" (the units package's form), like a compiler.
func printUnitErrors(c *CLI, err error) {
	var list units.ErrorList
	if errors.As(err, &list) {
		for _, e := range list {
			fmt.Fprintln(c.Stderr, e)
		}
		return
	}
	fmt.Fprintf(c.Stderr, "error: %v\n", err)
}

// unitFiles expands the -f arguments: a file as is, a directory into its
// *.toml files in name order.
func unitFiles(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		fi, err := os.Stat(a)
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("the path %q does not exist", a)
		}
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			if !strings.HasSuffix(a, ".toml") {
				return nil, fmt.Errorf("%s: unit files are TOML and their names end in .toml (kubia.toml is unit kubia)", a)
			}
			out = append(out, a)
			continue
		}
		entries, err := os.ReadDir(a)
		if err != nil {
			return nil, err
		}
		n := len(out)
		for _, e := range entries {
			if !e.IsDir() && strings.HasSuffix(e.Name(), ".toml") && !strings.HasPrefix(e.Name(), ".") {
				out = append(out, filepath.Join(a, e.Name()))
			}
		}
		if len(out) == n {
			return nil, fmt.Errorf("no unit files (*.toml) in %s", a)
		}
		slices.Sort(out[n:])
	}
	return out, nil
}
