package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tendhq/tend/supervisor"
)

const restartHelp = `Restart instances: stop each one's process and start it again at once.

Usage:
  tend restart po NAME...
  tend restart po -l SELECTOR
  tend restart po/NAME...

Like systemctl restart: the instance's process group gets its stop_signal
(SIGKILL after stop_timeout), and the instance starts again as soon as it
has gone, with the unit's template as the instance has it. It counts as a
restart (RESTARTS + 1, Last State Restarted) and not as a failure: no
back-off follows. An instance waiting out a back-off starts now. An
instance that has exited for good, is stopping or being deleted is
refused. An instance on another host is restarted by that host's agent.
An exclusive unit's instance starts again only under its lease.

Examples:
  # Restart one instance
  tend restart po kubia-7hjkc

  # Restart every instance of the kubia unit, all at once
  tend restart po -l app=kubia
`

func (c *CLI) runRestart(ctx context.Context, args []string) error {
	fs := newFlagSet("restart")
	var selector string
	fs.stringVar(&selector, "selector", "l", "", "Restart the instances whose labels match, e.g. -l app=kubia.")
	args, err := fs.parse(c, args)
	if err != nil {
		return err
	}
	t, err := oneTarget("restart", args)
	if err != nil {
		return err
	}
	if t.res.typ != resInstances {
		return usagef("restart", "restart takes instances (po), not %s: to restart a unit's instances, tend restart po -l SELECTOR", t.res)
	}
	named := len(t.names) > 0
	switch {
	case named && selector != "":
		return usagef("restart", "name cannot be provided when a selector is specified")
	case !named && selector == "":
		return usagef("restart", "name the instances to restart: tend restart po NAME..., or -l SELECTOR")
	}
	defer c.close()
	f, err := c.fetch(ctx, t, selector)
	if err != nil {
		return err
	}
	failed := false
	for _, e := range f.missing {
		fmt.Fprintln(c.Stderr, e)
		failed = true
	}
	if f.len() == 0 && !named {
		fmt.Fprintln(c.Stderr, "No resources found.")
	}
	for _, in := range f.instances {
		_, err := c.api().RestartInstance(ctx, in.Name)
		switch {
		case errors.Is(err, supervisor.ErrNotFound):
			fmt.Fprintln(c.Stderr, notFound(t.res, in.Name))
			failed = true
		case errors.Is(err, supervisor.ErrConflict):
			fmt.Fprintf(c.Stderr, "error: %v\n", err)
			failed = true
		case err != nil:
			return err
		default:
			fmt.Fprintf(c.Stdout, "instance %q restarted\n", in.Name)
		}
	}
	if failed {
		return errSilent
	}
	return nil
}

const catHelp = `Print the unit files of units, as the agent runs them.

Usage:
  tend cat unit NAME...
  tend cat rc/NAME...

Like systemctl cat: each file is printed after a comment line with its
path. What is printed is the version the agent runs; when the file in the
unit directory has errors (the agent keeps running the last valid
version), a comment says so and the errors follow as comments. A unit
that was deleted prints its last version, marked DELETED (the agent keeps
the last versions of the 64 units deleted last).

Examples:
  # The seed's ReplicationController
  tend cat rc kubia
`

func (c *CLI) runCat(ctx context.Context, args []string) error {
	fs := newFlagSet("cat")
	args, err := fs.parse(c, args)
	if err != nil {
		return err
	}
	t, err := oneTarget("cat", args)
	if err != nil {
		return err
	}
	if t.res.typ != resUnits {
		return usagef("cat", "cat prints unit files, not %s: tend cat unit NAME", t.res)
	}
	if len(t.names) == 0 {
		return usagef("cat", "name the units to print: tend cat %s NAME...", t.res.describeKind())
	}
	defer c.close()
	failed := false
	for k, name := range t.names {
		u, err := c.unitOfKind(ctx, t.res, name)
		if err != nil {
			if _, ok := err.(*plainError); !ok {
				return err
			}
			// A deleted unit: its last version, said to be so.
			d, derr := c.api().DeletedUnit(ctx, name)
			if derr != nil {
				fmt.Fprintln(c.Stderr, err)
				failed = true
				continue
			}
			if k > 0 {
				fmt.Fprintln(c.Stdout)
			}
			fmt.Fprintf(c.Stderr, "unit %q was deleted; this is its last version\n", name)
			fmt.Fprintf(c.Stdout, "# %s\n# DELETED %s: the last version of this unit; tend apply -f it to make it again\n", orNone(d.Path), d.Deleted.UTC().Format(time.RFC3339))
			fmt.Fprint(c.Stdout, d.Source)
			if d.Source != "" && d.Source[len(d.Source)-1] != '\n' {
				fmt.Fprintln(c.Stdout)
			}
			continue
		}
		if k > 0 {
			fmt.Fprintln(c.Stdout)
		}
		fmt.Fprintf(c.Stdout, "# %s\n", orNone(u.Path))
		if u.Error != "" {
			fmt.Fprintln(c.Stdout, "# This file has errors; the agent runs the last valid version, below:")
			for _, l := range strings.Split(strings.TrimRight(u.Error, "\n"), "\n") {
				fmt.Fprintf(c.Stdout, "#   %s\n", l)
			}
		}
		fmt.Fprint(c.Stdout, u.Source)
		if u.Source != "" && u.Source[len(u.Source)-1] != '\n' {
			fmt.Fprintln(c.Stdout)
		}
	}
	if failed {
		return errSilent
	}
	return nil
}
