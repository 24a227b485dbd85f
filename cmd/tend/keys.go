package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/tendhq/tend/cluster"
	"github.com/tendhq/tend/supervisor"
)

const keysHelp = `List or rotate the fleet's gossip keys.

Usage:
  tend keys list
  tend keys rotate [--force]

list shows each host's gossip keys by fingerprint: the key it encrypts
with, and the others it accepts.

rotate replaces the gossip key on every host without stopping gossip, the
way memberlist allows (it never sends keys itself): a new random key is
installed on every Ready host, then put to use on each, then every other
key is dropped on each. Each host writes its keys_dir/gossip.key before it
answers, so an agent restarted afterwards has the new key. A host must be
Ready to take part: rotate refuses while any host is NotReady, since that
host could not read the fleet's gossip afterwards; with --force it goes on
without it, and that host needs the new gossip.key copied to it by hand
(copy it from any host that took part). Hosts that left are not asked.

Rotating is also how a host is shut out for good (a stolen or retired
one): stop it, delete it from the fleet's view, rotate. It can no longer
gossip, and an agent's inter-host API answers only hosts that are Ready
members, so its certificate opens nothing either. If that host held
ca.key, it can still make certificates: make a new CA (keygen into a new
directory, then ca.crt and ca.key on every host, and restart the agents).

A rotation that stops half way (a host did not answer) leaves the fleet
working: the new key is installed, or in use beside the old one. Run
rotate again once every host answers.

Examples:
  # Rotate the key, then check every host took it
  tend keys rotate
  tend keys list
`

func (c *CLI) runKeys(ctx context.Context, args []string) error {
	fs := newFlagSet("keys")
	var force bool
	fs.boolVar(&force, "force", "", "Rotate even though some hosts are NotReady (they are left with the old key).")
	args, err := fs.parse(c, args)
	if err != nil {
		return err
	}
	if len(args) != 1 || (args[0] != "list" && args[0] != "rotate") {
		return usagef("keys", "keys takes list or rotate: tend keys list, tend keys rotate")
	}
	hosts, err := c.api().Hosts(ctx)
	if err != nil {
		return err
	}
	if args[0] == "list" {
		return c.listKeys(ctx, hosts)
	}
	return c.rotateKeys(ctx, hosts, force)
}

func (c *CLI) listKeys(ctx context.Context, hosts []supervisor.Host) error {
	tw := tabwriter.NewWriter(c.Stdout, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "HOST\tSTATUS\tPRIMARY\tOTHERS")
	var failed []string
	for _, h := range hosts {
		if h.Status != "Ready" {
			fmt.Fprintf(tw, "%s\t%s\t<unknown>\t<unknown>\n", h.Name, h.Status)
			continue
		}
		k, err := c.api().Keys(ctx, h.Name)
		if err != nil {
			fmt.Fprintf(tw, "%s\t%s\t<error>\t<error>\n", h.Name, h.Status)
			failed = append(failed, fmt.Sprintf("%s: %v", h.Name, err))
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", h.Name, h.Status, k.Primary, orNone(strings.Join(k.Others, ",")))
	}
	tw.Flush()
	if len(failed) > 0 {
		return fmt.Errorf("%s", strings.Join(failed, "\n"))
	}
	return nil
}

func (c *CLI) rotateKeys(ctx context.Context, hosts []supervisor.Host, force bool) error {
	var ready, notReady []string
	for _, h := range hosts {
		switch h.Status {
		case "Ready":
			ready = append(ready, h.Name)
		case "NotReady":
			notReady = append(notReady, h.Name)
		}
	}
	if len(notReady) > 0 && !force {
		return fmt.Errorf("hosts %s are NotReady: they could not read the fleet's gossip after a rotation; "+
			"bring them back, or remove them, or rotate with --force and copy the new gossip.key to them", strings.Join(notReady, ", "))
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	id := cluster.KeyID(key)
	fmt.Fprintf(c.Stdout, "new gossip key %s\n", id)
	steps := []struct{ op, done string }{
		{"install", "installed"},
		{"use", "in use"},
		{"prune", "the others dropped"},
	}
	for _, st := range steps {
		if st.op == "prune" {
			// Every host that is Ready now must use the new key before
			// any drops the old: a host that joined since, or one another
			// rotation reached, would be cut off.
			if err := c.checkKeyInUse(ctx, id, notReady, force); err != nil {
				return err
			}
		}
		for _, h := range ready {
			if _, err := c.api().ChangeKeys(ctx, h, supervisor.KeyChange{Op: st.op, Key: key}); err != nil {
				return fmt.Errorf("%s: %s the new key: %w\nthe fleet still gossips; run tend keys rotate again once %s answers", h, st.op, err, h)
			}
			fmt.Fprintf(c.Stdout, "%s: %s\n", h, st.done)
		}
	}
	if len(notReady) > 0 {
		fmt.Fprintf(c.Stderr, "warning: %s kept the old key: copy gossip.key from a host that took part to them, and restart their agents\n", strings.Join(notReady, ", "))
	}
	fmt.Fprintf(c.Stdout, "rotated: every Ready host gossips with key %s only\n", id)
	return nil
}

// checkKeyInUse checks that every Ready host uses the key id.
func (c *CLI) checkKeyInUse(ctx context.Context, id string, notReady []string, force bool) error {
	hosts, err := c.api().Hosts(ctx)
	if err != nil {
		return err
	}
	for _, h := range hosts {
		switch {
		case h.Status == "NotReady" && !force && !slices.Contains(notReady, h.Name):
			return fmt.Errorf("%s went NotReady during the rotation: the old key is kept; run tend keys rotate again once it is back", h.Name)
		case h.Status != "Ready":
			continue
		}
		k, err := c.api().Keys(ctx, h.Name)
		if err != nil {
			return fmt.Errorf("%s: %w; the old key is kept", h.Name, err)
		}
		if k.Primary != id {
			return fmt.Errorf("%s uses key %s, not the new %s (it joined during the rotation, or another rotation runs): the old key is kept; run tend keys rotate again", h.Name, k.Primary, id)
		}
	}
	return nil
}
