package main

import (
	"context"
	"errors"
	"fmt"
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
  tend apply -f FILE|DIR [-f FILE|DIR...]

Each file is one unit, named after the file: kubia.toml is unit kubia.
A directory means the *.toml files in it (not in its subdirectories).
Every file is checked first; one with problems is reported, each problem
with file, line and key, and the valid files are still applied. The agent
keeps the file in its unit directory and reconciles the unit's instances.

For each unit apply prints what it did: created, configured (changed) or
unchanged. It exits non-zero when any file was not applied.

Examples:
  # Add or update one unit
  tend apply -f kubia.toml

  # Add or update every unit in a directory
  tend apply -f units/
`

const createHelp = `Add units from TOML unit files; fail for a unit that exists already.

Usage:
  tend create -f FILE|DIR [-f FILE|DIR...]

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

func (c *CLI) applyFiles(ctx context.Context, verb string, args []string) error {
	fs := newFlagSet(verb)
	var files listValue
	fs.add(&files, "filename", "f", "A unit file, or a directory of them (*.toml). Repeatable.")
	args, err := fs.parse(c, args)
	if err != nil {
		return err
	}
	if len(args) > 0 {
		return usagef(verb, "unexpected arguments %q: name the unit files with -f", args)
	}
	if len(files) == 0 {
		return usagef(verb, "must specify -f FILE or -f DIR")
	}
	paths, err := unitFiles(files)
	if err != nil {
		return err
	}
	defer c.close()
	failed := false
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintf(c.Stderr, "error: %v\n", err)
			failed = true
			continue
		}
		if _, err := units.Parse(path, data); err != nil {
			printUnitErrors(c, err)
			failed = true
			continue
		}
		var res supervisor.ApplyResult
		if verb == "create" {
			res, err = c.api().CreateUnit(ctx, filepath.Base(path), data)
		} else {
			res, err = c.api().ApplyUnit(ctx, filepath.Base(path), data)
		}
		var se *supervisor.ServerError
		switch {
		case errors.As(err, &se) && se.Status == http.StatusConflict:
			fmt.Fprintf(c.Stderr, "Error from server (AlreadyExists): error when creating %q: %s\n", path, se.Message)
			failed = true
			continue
		case errors.As(err, &se):
			fmt.Fprintf(c.Stderr, "error: %s: %s\n", path, se.Message)
			failed = true
			continue
		case err != nil:
			return err // the agent is unreachable: no point trying the rest
		}
		fmt.Fprintf(c.Stdout, "unit/%s %s\n", res.Name, res.Action)
	}
	if failed {
		return errSilent
	}
	return nil
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
		if a == "-" {
			return nil, fmt.Errorf("cannot read a unit from standard input: a unit is named after its file; write it to NAME.toml and use -f NAME.toml")
		}
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
