package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/tendhq/tend/supervisor"
)

const rolloutHelp = `Replace a unit's instances one by one, and follow that.

Usage:
  tend rollout restart unit NAME...
  tend rollout status unit NAME [--timeout 0] [--watch=false]

restart sets restarted_at in the unit's file to now (the rest of the file
is kept as it is), as kubectl rollout restart stamps a Deployment's
template: a replicated or per-host unit then replaces every instance made
before, one at a time and on its host, each new instance Ready before its
old one stops, so the unit never has fewer Ready instances than it wants.
The new instances run the unit's template as it is now: this is how a
template change ('tend edit', 'tend apply') reaches running instances. A
new instance that never gets Ready stops the rollout there, the old one
still running; fix the file, and restart again. An exclusive unit, which
cannot run twice, has its instance stopped first, then started anew.

status waits until every instance is new and Ready, saying how far the
rollout is as it goes (with --watch=false it says so once), and exits 1
if --timeout (0: none) passes first.

Examples:
  # Restart kubia's instances one by one, and wait until it is done
  tend rollout restart unit kubia
  tend rollout status unit kubia

  # A template change, then its rollout
  tend edit unit kubia
  tend rollout restart rc/kubia
`

func (c *CLI) runRollout(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		if len(args) == 0 {
			return usagef("rollout", "rollout needs a subcommand: restart or status")
		}
		fmt.Fprint(c.Stdout, rolloutHelp)
		return nil
	}
	switch args[0] {
	case "restart":
		return c.rolloutRestart(ctx, args[1:])
	case "status":
		return c.rolloutStatus(ctx, args[1:])
	}
	return usagef("rollout", "unknown rollout subcommand %q: want restart or status", args[0])
}

func (c *CLI) rolloutRestart(ctx context.Context, args []string) error {
	fs := newFlagSet("rollout")
	args, err := fs.parse(c, args)
	if err != nil {
		return err
	}
	t, err := c.rolloutTarget(args)
	if err != nil {
		return err
	}
	defer c.close()
	failed := false
	for _, name := range t.names {
		if ok, err := c.unitThere(ctx, t.res, name); err != nil {
			return err
		} else if !ok {
			failed = true
			continue
		}
		_, err := c.api().RolloutRestart(ctx, name)
		var se *supervisor.ServerError
		switch {
		case errors.As(err, &se) && se.Status == http.StatusNotFound:
			fmt.Fprintln(c.Stderr, notFound(t.res, name))
			failed = true
		case errors.As(err, &se):
			fmt.Fprintf(c.Stderr, "error: %s\n", se.Message)
			failed = true
		case err != nil:
			return err
		default:
			fmt.Fprintf(c.Stdout, "unit/%s restarted\n", name)
		}
	}
	if failed {
		return errSilent
	}
	return nil
}

func (c *CLI) rolloutTarget(args []string) (target, error) {
	t, err := oneTarget("rollout", args)
	if err != nil {
		return t, err
	}
	if t.res.typ != resUnits {
		return t, usagef("rollout", "rollout takes units (unit, rc, ds), not %s", t.res)
	}
	if len(t.names) == 0 {
		return t, usagef("rollout", "name the unit: tend rollout restart unit NAME")
	}
	return t, nil
}

// rolloutState is how far a unit's rollout is.
type rolloutState struct {
	desired, updated, updatedReady, old int
}

func (r rolloutState) done() bool {
	return r.updated >= r.desired && r.updatedReady >= r.desired && r.old == 0
}

// String is kubectl's wording of what the rollout waits for.
func (r rolloutState) String() string {
	switch {
	case r.updated < r.desired:
		return fmt.Sprintf("Waiting for rollout to finish: %d out of %d new instances have been updated...", r.updated, r.desired)
	case r.old > 0:
		return fmt.Sprintf("Waiting for rollout to finish: %d old instances are pending termination...", r.old)
	case r.updatedReady < r.desired:
		return fmt.Sprintf("Waiting for rollout to finish: %d of %d updated instances are available...", r.updatedReady, r.desired)
	}
	return ""
}

func (c *CLI) rolloutOf(ctx context.Context, t target, name string) (rolloutState, error) {
	u, err := c.unitOfKind(ctx, t.res, name)
	if err != nil {
		return rolloutState{}, err
	}
	list, err := c.api().Instances(ctx, "")
	if err != nil {
		return rolloutState{}, err
	}
	r := rolloutState{desired: u.Desired}
	for _, in := range list {
		if in.Unit != name || in.Status == "Terminating" {
			continue
		}
		if in.Rollout == u.RestartedAt {
			r.updated++
			if in.Ready {
				r.updatedReady++
			}
		} else {
			r.old++
		}
	}
	return r, nil
}

func (c *CLI) rolloutStatus(ctx context.Context, args []string) error {
	fs := newFlagSet("rollout")
	var timeout waitTimeout
	watch := true
	fs.add(&timeout, "timeout", "", "How long to wait (0: as long as it takes).")
	fs.boolVar(&watch, "watch", "w", "Wait until the rollout is done (true), or say how far it is once.")
	args, err := fs.parse(c, args)
	if err != nil {
		return err
	}
	t, err := c.rolloutTarget(args)
	if err != nil {
		return err
	}
	if len(t.names) != 1 {
		return usagef("rollout", "rollout status takes one unit")
	}
	name := t.names[0]
	defer c.close()
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(time.Duration(timeout))
	}
	last := ""
	for {
		r, err := c.rolloutOf(ctx, t, name)
		if err != nil {
			return err
		}
		if r.done() {
			fmt.Fprintf(c.Stdout, "unit %q successfully rolled out\n", name)
			return nil
		}
		if s := r.String(); s != last {
			fmt.Fprintln(c.Stdout, s)
			last = s
		}
		if !watch {
			return nil
		}
		if !deadline.IsZero() && time.Now().After(deadline) {
			return &plainError{fmt.Sprintf("error: timed out waiting for the rollout of unit %q", name)}
		}
		tm := time.NewTimer(waitPoll)
		select {
		case <-ctx.Done():
			tm.Stop()
			return nil
		case <-tm.C:
		}
	}
}
