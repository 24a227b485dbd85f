package main

import (
	"context"
	"fmt"
)

const fenceHelp = `Act on the fence that keeps exclusive units to one instance in the fleet.

Usage:
  tend fence release UNIT

An exclusive unit (exclusive = true) runs at most once in the fleet, even
through a partition: its host holds a lease against the fleet's voters
(cluster.voters in each agent's config) and stops the instance when the
lease lapses; another host starts it only when a majority of the voters
have heard nothing from the holder for W (2.2 s with the default timings),
by which time the old instance is dead. A fleet of two voters has no
majority without both: when one host goes, the other never starts the
unit by itself, since it cannot tell a dead host from a cut cable.

release is the operator's word that the host holding UNIT is down. Run it
on the host that waits for the unit's lease (tend get po shows its instance
WaitingForLease): that host counts the holder as a voter that has heard
nothing since now, still waits W, then starts the unit under a new epoch.
It is only as safe as the word: if the released host is in fact up, both
may run the unit until the hosts hear each other again. A release is void
once the released host is heard again.

Examples:
  # Host b of a two-host fleet is powered off; a waits for the lease
  tend fence release db
`

func (c *CLI) runFence(ctx context.Context, args []string) error {
	fs := newFlagSet("fence")
	args, err := fs.parse(c, args)
	if err != nil {
		return err
	}
	if len(args) == 0 || args[0] != "release" {
		return usagef("fence", "fence takes release: tend fence release UNIT")
	}
	if len(args) != 2 {
		return usagef("fence", "name one exclusive unit: tend fence release UNIT")
	}
	defer c.close()
	res, err := c.api().ReleaseFence(ctx, args[1])
	if err != nil {
		return err
	}
	fmt.Fprintf(c.Stdout, "unit/%s released: %s (epoch %d) is taken for down; this host starts the unit once W has passed\n", res.Unit, res.Host, res.Epoch)
	return nil
}
