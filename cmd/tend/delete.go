package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tendhq/tend/supervisor"
)

const deleteHelp = `Delete instances, units or hosts.

Usage:
  tend delete RESOURCE NAME... [--cascade=orphan] [--wait=false]
  tend delete RESOURCE (--all | -l SELECTOR)
  tend delete RESOURCE/NAME...
  tend delete -f FILE|DIR [-f FILE|DIR...]

Deleting an instance stops its process group (stop_signal, then SIGKILL
after stop_timeout); it shows Terminating until it has gone, and delete
waits for that unless --wait=false. An instance of a replicated or per-host
unit is replaced by the unit's controller.

Deleting a unit deletes its TOML file from the agent's unit directory (on
every host of a fleet): the file is the unit. Its instances stop, unless
--cascade=orphan (or kubectl's --cascade=false) leaves them running,
unmanaged; the file goes either way. The agent keeps the unit's last
version: 'tend describe unit NAME' and 'tend cat unit NAME' show it after
the delete (the last 64 units deleted), and 'tend cat unit NAME >
NAME.toml; tend apply -f NAME.toml' makes it again. -f deletes the units
that files name, as apply -f made them: kubia.toml is unit kubia, a
directory its *.toml files.

Deleting a host, as kubectl delete node does for a node that is gone,
takes a host whose agent has stopped (NotReady or Left) and its instances
out of the fleet, on every host: get hosts and get po no longer list them,
and the deletion holds through gossip and restarts. A Ready host cannot be
deleted (it would be back at once): stop its agent first. Hosts are
deleted by name only. A deleted host whose agent starts again rejoins the
fleet as a new member, with its instances.

` + resourceHelp + `
Examples:
  # Delete an instance; its unit starts a replacement
  tend delete po kubia-7hjkc

  # Delete every instance
  tend delete po --all

  # Delete a replicated unit but keep its instances running
  tend delete rc kubia --cascade=orphan

  # Delete the units a directory of files made
  tend delete -f units/

  # Delete every job, and every cron job
  tend delete jobs --all
  tend delete cronjobs --all

  # Take a dead host and its Unknown instances out of the fleet
  tend delete node edge-17
`

func (c *CLI) runDelete(ctx context.Context, args []string) error {
	fs := newFlagSet("delete")
	var all, wait bool
	var selector, cascade string
	fs.boolVar(&all, "all", "", "Delete every object of the type.")
	fs.stringVar(&selector, "selector", "l", "", "Delete the objects whose labels match, e.g. -l app=kubia.")
	fs.add(optionalValue{p: &cascade, ifBare: "background"}, "cascade", "",
		"For units: background (the default; true is the same) stops the unit's instances; orphan (or false) leaves them running.")
	wait = true
	fs.boolVar(&wait, "wait", "", "Wait until deleted instances have stopped.")
	var files listValue
	fs.add(&files, "filename", "f", "Delete the units these files name: a unit file, or a directory of them. Repeatable.")
	args, err := fs.parse(c, args)
	if err != nil {
		return err
	}
	if len(files) > 0 {
		if len(args) > 0 || all || selector != "" {
			return usagef("delete", "-f names the units to delete: give no resource, name, --all or -l with it")
		}
		if slices.Contains(files, "-") {
			return usagef("delete", "a unit is named after its file: delete one read from standard input by name, tend delete unit NAME")
		}
		paths, err := unitFiles(files)
		if err != nil {
			return err
		}
		args = []string{"units"}
		for _, p := range paths {
			args = append(args, strings.TrimSuffix(filepath.Base(p), ".toml"))
		}
	}
	orphan := false
	switch cascade {
	case "", "background", "foreground", "true":
	case "orphan", "false":
		orphan = true
	default:
		return usagef("delete", "invalid cascade value (%s): must be \"background\", \"foreground\" or \"orphan\"", cascade)
	}
	targets, err := parseTargets("delete", args)
	if err != nil {
		return err
	}
	named := len(targets[0].names) > 0
	switch {
	case named && (all || selector != ""):
		return usagef("delete", "name cannot be provided when --all or a selector is specified")
	case !named && !all && selector == "":
		return usagef("delete", "resource(s) were provided, but no name was specified: give NAMEs, --all or -l SELECTOR")
	}
	for _, t := range targets {
		switch {
		case t.res.typ == resEvents:
			return usagef("delete", "%s cannot be deleted: delete instances, units or hosts", t.res)
		case t.res.typ == resHosts && !named:
			return usagef("delete", "hosts are deleted by name only: give the NAMEs of hosts that are NotReady or Left")
		}
	}
	defer c.close()

	failed := false
	var stopping []string
	for _, t := range targets {
		if t.res.typ == resHosts {
			ok, err := c.deleteHosts(ctx, t)
			if err != nil {
				return err
			}
			failed = failed || !ok
			continue
		}
		f, err := c.fetch(ctx, t, selector)
		if err != nil {
			return err
		}
		for _, e := range f.missing {
			fmt.Fprintln(c.Stderr, e)
			failed = true
		}
		if f.len() == 0 && !named {
			fmt.Fprintln(c.Stderr, "No resources found.")
		}
		for _, in := range f.instances {
			err := c.api().DeleteInstance(ctx, in.Name)
			switch {
			case errors.Is(err, supervisor.ErrNotFound):
				fmt.Fprintln(c.Stderr, notFound(t.res, in.Name))
				failed = true
			case err != nil:
				return err
			default:
				fmt.Fprintf(c.Stdout, "instance %q deleted\n", in.Name)
				stopping = append(stopping, in.Name)
			}
		}
		for _, u := range f.units {
			err := c.api().DeleteUnit(ctx, u.Name, orphan)
			switch {
			case errors.Is(err, supervisor.ErrNotFound):
				fmt.Fprintln(c.Stderr, notFound(t.res, u.Name))
				failed = true
			case err != nil:
				return err
			default:
				fmt.Fprintf(c.Stdout, "unit %q deleted\n", u.Name)
			}
		}
	}
	if wait && len(stopping) > 0 {
		if err := c.waitGone(ctx, stopping); err != nil {
			return err
		}
	}
	if failed {
		return errSilent
	}
	return nil
}

// deleteHosts deletes the named hosts, saying what became of each as
// kubectl does. It reports whether all went; an error that is not about
// one host (the agent does not answer) ends it.
func (c *CLI) deleteHosts(ctx context.Context, t target) (bool, error) {
	ok := true
	for _, name := range t.names {
		err := c.api().DeleteHost(ctx, name)
		switch {
		case errors.Is(err, supervisor.ErrNotFound):
			fmt.Fprintln(c.Stderr, notFound(t.res, name))
			ok = false
		case errors.Is(err, supervisor.ErrConflict):
			// kubectl's prefix says it; the sentinel's word need not.
			msg := strings.TrimSuffix(err.Error(), ": "+supervisor.ErrConflict.Error())
			fmt.Fprintf(c.Stderr, "Error from server (Conflict): %s\n", msg)
			ok = false
		case err != nil:
			return false, err
		default:
			fmt.Fprintf(c.Stdout, "%s %q deleted\n", t.res.singular(), name)
		}
	}
	return ok, nil
}

// progressAfter is how long a wait stays quiet before saying what it is
// waiting for.
const progressAfter = 3 * time.Second

// waitGone waits until none of the named instances is left, watching
// rather than polling. Interrupted, it returns nil: the instances go on
// stopping without us.
func (c *CLI) waitGone(ctx context.Context, names []string) error {
	pending := map[string]bool{}
	for _, n := range names {
		pending[n] = true
	}
	done := make(chan struct{})
	quiet := make(chan struct{})
	go func() {
		defer close(quiet)
		t := time.NewTimer(progressAfter)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
			fmt.Fprintf(c.Stderr, "waiting for %d instance(s) to stop (each within its stop_timeout; Ctrl-C stops waiting)...\n", len(names))
		}
	}()
	defer func() { close(done); <-quiet }()

	errDone := errors.New("all gone")
	seen := map[string]bool{}
	synced := false
	err := c.api().WatchInstances(ctx, "", func(ev supervisor.WatchEvent) error {
		switch ev.Type {
		case supervisor.WatchBookmark:
			synced = true
			for n := range pending {
				if !seen[n] {
					delete(pending, n)
				}
			}
		case supervisor.WatchDeleted:
			delete(pending, ev.Object.Name)
		default:
			seen[ev.Object.Name] = true
		}
		if synced && len(pending) == 0 {
			return errDone
		}
		return nil
	})
	if errors.Is(err, errDone) || ctx.Err() != nil {
		return nil
	}
	return err
}
