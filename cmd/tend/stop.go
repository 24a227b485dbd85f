package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/tendhq/tend/supervisor"
)

const stopHelp = `Stop a unit's instances and keep the unit, as systemctl stop does.

Usage:
  tend stop unit NAME... [--wait=false]
  tend stop rc/NAME...

Sets stopped = true in the unit's file (the rest of the file is kept as
it is), so the stop holds across agent restarts and on every host of the
fleet: a replicated or per-host unit stops its instances and starts none,
a job stops its attempts without counting them failed and starts no more
(a suspended Job), a cron unit starts no runs and stops those running.
The unit stays: get units shows it STOPPED, and 'tend start unit NAME'
takes the key back to false and starts its instances again. Stop waits
until the unit's instances have gone (each within its stop_timeout)
unless --wait=false.

Examples:
  # Stop the kubia unit's instances; the unit stays
  tend stop unit kubia

  # And start them again
  tend start unit kubia
`

const startHelp = `Start a stopped unit's instances again, as systemctl start does.

Usage:
  tend start unit NAME...
  tend start rc/NAME...

Sets stopped = false in the unit's file, where tend stop unit had set it
true: the unit's instances start again, a job goes on from where it was
stopped, and a cron unit runs at its next scheduled time. A unit that is
not stopped is left as it is.

Examples:
  tend start unit kubia
`

func (c *CLI) runStop(ctx context.Context, args []string) error {
	return c.stopOrStart(ctx, "stop", args)
}

func (c *CLI) runStart(ctx context.Context, args []string) error {
	return c.stopOrStart(ctx, "start", args)
}

func (c *CLI) stopOrStart(ctx context.Context, verb string, args []string) error {
	fs := newFlagSet(verb)
	wait := true
	if verb == "stop" {
		fs.boolVar(&wait, "wait", "", "Wait until the unit's instances have stopped.")
	}
	args, err := fs.parse(c, args)
	if err != nil {
		return err
	}
	t, err := oneTarget(verb, args)
	if err != nil {
		return err
	}
	if t.res.typ != resUnits {
		return usagef(verb, "%s takes units (unit, rc, ds, job, cj), not %s", verb, t.res)
	}
	if len(t.names) == 0 {
		return usagef(verb, "name the units to %s: tend %s unit NAME...", verb, verb)
	}
	defer c.close()
	failed := false
	var stopping []string
	for _, name := range t.names {
		if ok, err := c.unitThere(ctx, t.res, name); err != nil {
			return err
		} else if !ok {
			failed = true
			continue
		}
		res, err := c.api().StopUnit(ctx, name, verb == "stop")
		var se *supervisor.ServerError
		switch {
		case errors.As(err, &se) && se.Status == http.StatusNotFound:
			fmt.Fprintln(c.Stderr, notFound(t.res, name))
			failed = true
			continue
		case errors.As(err, &se):
			fmt.Fprintf(c.Stderr, "error: unit %q: %s\n", name, se.Message)
			failed = true
			continue
		case err != nil:
			return err
		case res.Action == "unchanged":
			fmt.Fprintf(c.Stdout, "unit/%s already %s\n", name, map[string]string{"stop": "stopped", "start": "started"}[verb])
		default:
			fmt.Fprintf(c.Stdout, "unit/%s %s\n", name, res.Action)
		}
		if verb == "stop" && wait {
			names, err := c.instancesOf(ctx, name)
			if err != nil {
				return err
			}
			stopping = append(stopping, names...)
		}
	}
	if len(stopping) > 0 {
		if err := c.waitGone(ctx, stopping); err != nil {
			return err
		}
	}
	if failed {
		return errSilent
	}
	return nil
}

// unitThere checks that unit name is there and of the kind res names,
// saying so on stderr when it is not (false); an error is the agent's.
func (c *CLI) unitThere(ctx context.Context, res resource, name string) (bool, error) {
	_, err := c.unitOfKind(ctx, res, name)
	var pe *plainError
	switch {
	case errors.As(err, &pe):
		fmt.Fprintln(c.Stderr, err)
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}

// instancesOf are the names of the instances of unit name and, for a
// cron unit, of its jobs, that have not ended: those a stop makes go.
func (c *CLI) instancesOf(ctx context.Context, name string) ([]string, error) {
	owners := map[string]bool{name: true}
	list, err := c.api().Units(ctx, "job")
	if err != nil {
		return nil, err
	}
	for _, u := range list {
		if u.Owner == name {
			owners[u.Name] = true
		}
	}
	ins, err := c.api().Instances(ctx, "")
	if err != nil {
		return nil, err
	}
	var names []string
	for _, in := range ins {
		// A job's attempts that ended stay; the rest go.
		if owners[in.Unit] && in.State.Phase != "Terminated" {
			names = append(names, in.Name)
		}
	}
	return names, nil
}
