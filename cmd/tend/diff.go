package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/tendhq/tend/supervisor"
	"github.com/tendhq/tend/units"
)

const diffHelp = `Show how unit files differ from the units the agent runs.

Usage:
  tend diff -f FILE|DIR [-f FILE|DIR...]
  tend diff -f - --name NAME < FILE

For each file, compares the unit the agent runs (its file as the agent
keeps it) with the file, as kubectl diff does: the agent checks the file
as apply would (a file with problems is reported, and nothing is
compared for it), then both go to "diff -u -N" in two temporary
directories, LIVE-* and MERGED-*, one file each per unit: unit.NAME.toml.
A unit the agent does not run shows as all new.

TEND_EXTERNAL_DIFF (or kubectl's KUBECTL_EXTERNAL_DIFF) names another
diff program and its options, e.g. "diff -u --color=always" or "meld";
it is given the two directories.

Exit status: 0 when nothing differs, 1 when something does, more than 1
when the diff could not be made (a file with problems, no agent, no diff
program).

Examples:
  # What apply -f units/ would change
  tend diff -f units/

  # In color
  TEND_EXTERNAL_DIFF="diff -u -N --color=always" tend diff -f kubia.toml
`

// runDiff exits 2 for every error, usage included, as kubectl diff does:
// 1 means the files differ.
func (c *CLI) runDiff(ctx context.Context, args []string) error {
	err := c.diff(ctx, args)
	var status *exitStatus
	if err == nil || errors.As(err, &status) || isHelp(err) {
		return err
	}
	exitCode(c.Stderr, err)
	return &exitStatus{code: 2}
}

func (c *CLI) diff(ctx context.Context, args []string) error {
	fs := newFlagSet("diff")
	var ff fileFlags
	ff.add(fs, "")
	args, err := fs.parse(c, args)
	if err != nil {
		return err
	}
	if len(args) > 0 {
		return usagef("diff", "unexpected arguments %q: name the unit files with -f", args)
	}
	srcs, err := c.sources("diff", ff)
	if err != nil {
		return err
	}
	defer c.close()
	live, err := os.MkdirTemp("", "LIVE-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(live)
	merged, err := os.MkdirTemp("", "MERGED-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(merged)

	failed := false
	for _, src := range srcs {
		if _, err := units.Parse(src.path, src.data); err != nil {
			printUnitErrors(c, err)
			failed = true
			continue
		}
		_, err := c.api().CheckUnit(ctx, src.filename, src.data, false)
		var se *supervisor.ServerError
		switch {
		case errors.As(err, &se):
			fmt.Fprintf(c.Stderr, "error: %s: %s\n", src.path, se.Message)
			failed = true
			continue
		case err != nil:
			return err
		}
		u, err := c.api().Unit(ctx, src.name())
		switch {
		case errors.Is(err, supervisor.ErrNotFound):
		case err != nil:
			return err
		default:
			if err := os.WriteFile(filepath.Join(live, "unit."+src.filename), []byte(u.Source), 0o600); err != nil {
				return err
			}
		}
		if err := os.WriteFile(filepath.Join(merged, "unit."+src.filename), src.data, 0o600); err != nil {
			return err
		}
	}
	if failed {
		return &exitStatus{code: 2}
	}
	argv := []string{"diff", "-u", "-N"}
	external := c.getenv("TEND_EXTERNAL_DIFF")
	if external == "" {
		external = c.getenv("KUBECTL_EXTERNAL_DIFF")
	}
	if external != "" {
		argv = strings.Fields(external)
	}
	cmd := exec.CommandContext(ctx, argv[0], append(argv[1:], live, merged)...)
	cmd.Stdout, cmd.Stderr = c.Stdout, c.Stderr
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ee) && ee.ExitCode() == 1:
		return &exitStatus{code: 1}
	case errors.Is(err, exec.ErrNotFound):
		return &plainError{fmt.Sprintf("error: %s not found: install diffutils, or name a diff program in TEND_EXTERNAL_DIFF", argv[0])}
	case errors.As(err, &ee):
		return &exitStatus{code: max(ee.ExitCode(), 2)}
	}
	return err
}
