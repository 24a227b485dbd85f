package main

import (
	"context"
	"fmt"

	"github.com/tendhq/tend/units"
)

const scaleHelp = `Set the number of replicas of a unit, or a job's parallelism.

Usage:
  tend scale RESOURCE NAME --replicas=N
  tend scale job NAME --parallelism=N

The agent rewrites the replicas key of the unit file, and the unit's
controller starts or stops instances to match; scaling down stops the
newest, not-ready instances first. For a job (or the jobs of a cron unit),
--replicas sets parallelism, which kubectl refuses; --parallelism says so
plainly. RESOURCE is unit or one of kubectl's words for it (rc, rs, job...).
The agent refuses more than its limit of instances per unit
(limits.instances_per_unit in its config, 1000 by default).

Examples:
  # Run four replicas of kubia (a ReplicationController in the book)
  tend scale rc kubia --replicas=4

  # The same, with tend's own word
  tend scale unit kubia --replicas=4

  # Let a job run three instances at once
  tend scale job multi-completion-batch-job --replicas=3
`

func (c *CLI) runScale(ctx context.Context, args []string) error {
	fs := newFlagSet("scale")
	var replicas, parallelism int
	fs.intVar(&replicas, "replicas", "", -1, "The new number of replicas (for a job: its parallelism).")
	fs.intVar(&parallelism, "parallelism", "", -1, "For a job or cron unit: how many instances may run at once.")
	args, err := fs.parse(c, args)
	if err != nil {
		return err
	}
	if replicas >= 0 && parallelism >= 0 {
		return usagef("scale", "give --replicas or --parallelism, not both")
	}
	n := replicas
	if n < 0 {
		n = parallelism
	}
	if n < 0 {
		return usagef("scale", "--replicas=COUNT is required, and must be 0 or more")
	}
	t, err := oneTarget("scale", args)
	if err != nil {
		return err
	}
	if t.res.typ != resUnits {
		return usagef("scale", "only units can be scaled, not %s", t.res)
	}
	if len(t.names) == 0 {
		return usagef("scale", "name the unit to scale: tend scale %s NAME --replicas=N", t.res.describeKind())
	}
	defer c.close()
	failed := false
	for _, name := range t.names {
		u, err := c.unitOfKind(ctx, t.res, name)
		if err != nil {
			if _, ok := err.(*plainError); ok {
				fmt.Fprintln(c.Stderr, err)
				failed = true
				continue
			}
			return err
		}
		kind := u.Kind
		if kind == units.KindPerHost {
			return usagef("scale", "unit %q is per-host: it runs one instance on each host its node selector matches; change the selector or the hosts' labels instead", name)
		}
		if parallelism >= 0 && !kind.RunsToCompletion() {
			return usagef("scale", "--parallelism is for jobs and cron units; unit %q is %s: use --replicas", name, u.Kind)
		}
		if _, err := c.api().ScaleUnit(ctx, name, n); err != nil {
			return err
		}
		fmt.Fprintf(c.Stdout, "unit/%s scaled\n", name)
	}
	if failed {
		return errSilent
	}
	return nil
}
