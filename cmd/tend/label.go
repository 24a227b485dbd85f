package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/tendhq/tend/supervisor"
	"github.com/tendhq/tend/units"
)

const labelHelp = `Set or remove labels on instances and hosts.

Usage:
  tend label RESOURCE NAME... KEY=VALUE... [KEY-...] [--overwrite]
  tend label RESOURCE (--all | -l SELECTOR) KEY=VALUE... [KEY-...] [--overwrite]

KEY=VALUE sets a label and KEY- removes one. Changing a label that already
has another value needs --overwrite. Keys and values follow Kubernetes'
rules: a value is at most 63 letters, digits, '-', '_' or '.', beginning
and ending with a letter or digit; a key may have a DNS prefix, as in
example.com/tier.

Relabelling an instance out of its unit's selector orphans it: it keeps
running, unmanaged, and the unit starts a replacement. Labelling a host
decides which per-host units run on it (their node selectors).

A unit's own labels are in its file: change them with tend edit.

Examples:
  # Add a label to an instance
  tend label po kubia-r9xtd type=special

  # Change a label: the instance leaves the kubia unit's selector
  tend label po kubia-9w7gs app=foo --overwrite

  # Remove a label
  tend label po kubia-r9xtd type-

  # Label a host (node) so that a per-host unit with node_selector disk=ssd runs there
  tend label node edge-17 disk=ssd
  tend label node edge-17 disk=hdd --overwrite
`

func (c *CLI) runLabel(ctx context.Context, args []string) error {
	fs := newFlagSet("label")
	var overwrite, all bool
	var selector string
	fs.boolVar(&overwrite, "overwrite", "", "Allow changing labels that already have a value.")
	fs.boolVar(&all, "all", "", "Label every object of the type.")
	fs.stringVar(&selector, "selector", "l", "", "Label the objects whose labels match, e.g. -l app=kubia.")
	args, err := fs.parse(c, args)
	if err != nil {
		return err
	}
	// The arguments are the resource and names, then the label changes.
	var objs, specs []string
	for _, a := range args {
		if len(objs) > 0 && (strings.Contains(a, "=") || strings.HasSuffix(a, "-")) {
			specs = append(specs, a)
		} else if len(specs) > 0 {
			return usagef("label", "%q: names must come before the label changes", a)
		} else {
			objs = append(objs, a)
		}
	}
	change, err := parseLabelSpecs(specs)
	if err != nil {
		return err
	}
	change.Overwrite = overwrite
	t, err := oneTarget("label", objs)
	if err != nil {
		return err
	}
	switch t.res.typ {
	case resUnits:
		return usagef("label", "a unit's labels are in its unit file: change them with 'tend edit unit NAME'")
	case resEvents:
		return usagef("label", "events have no labels")
	}
	named := len(t.names) > 0
	switch {
	case named && (all || selector != ""):
		return usagef("label", "name cannot be provided when --all or a selector is specified")
	case !named && !all && selector == "":
		return usagef("label", "name the %s to label, or use --all or -l SELECTOR", t.res)
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
	apply := func(name string, current units.Labels, send func() error) error {
		if !overwrite {
			if err := checkOverwrite(current, change.Set); err != nil {
				fmt.Fprintf(c.Stderr, "error: %v\n", err)
				failed = true
				return nil
			}
		}
		msg := labelOutcome(current, change)
		if msg != "not labeled" {
			if err := send(); err != nil {
				var se *supervisor.ServerError
				if errors.As(err, &se) {
					fmt.Fprintf(c.Stderr, "error: %s/%s: %s\n", t.res.singular(), name, se.Message)
					failed = true
					return nil
				}
				return err
			}
		}
		fmt.Fprintf(c.Stdout, "%s/%s %s\n", t.res.singular(), name, msg)
		return nil
	}
	for _, in := range f.instances {
		err := apply(in.Name, in.Labels, func() error {
			_, err := c.api().LabelInstance(ctx, in.Name, change)
			return err
		})
		if err != nil {
			return err
		}
	}
	for _, h := range f.hosts {
		err := apply(h.Name, h.Labels, func() error {
			_, err := c.api().LabelHost(ctx, h.Name, change)
			return err
		})
		if err != nil {
			return err
		}
	}
	if failed {
		return errSilent
	}
	return nil
}

// parseLabelSpecs reads KEY=VALUE and KEY- arguments.
func parseLabelSpecs(specs []string) (supervisor.LabelChange, error) {
	var ch supervisor.LabelChange
	if len(specs) == 0 {
		return ch, usagef("label", "at least one label update is required: KEY=VALUE or KEY-")
	}
	for _, s := range specs {
		if k, v, ok := strings.Cut(s, "="); ok {
			if err := units.ValidateLabelKey(k); err != nil {
				return ch, usagef("label", "invalid label spec %q: %v", s, err)
			}
			if err := units.ValidateLabelValue(v); err != nil {
				return ch, usagef("label", "invalid label spec %q: %v", s, err)
			}
			if ch.Set == nil {
				ch.Set = units.Labels{}
			}
			ch.Set[k] = v
			continue
		}
		k := strings.TrimSuffix(s, "-")
		if err := units.ValidateLabelKey(k); err != nil {
			return ch, usagef("label", "invalid label spec %q: %v", s, err)
		}
		ch.Remove = append(ch.Remove, k)
	}
	for _, k := range ch.Remove {
		if _, ok := ch.Set[k]; ok {
			return ch, usagef("label", "can not both modify and remove the label %q in the same command", k)
		}
	}
	return ch, nil
}

// checkOverwrite refuses to change a label that has another value, in
// kubectl's words.
func checkOverwrite(current, set units.Labels) error {
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(set)) {
		if old, ok := current[k]; ok && old != set[k] {
			errs = append(errs, fmt.Errorf("'%s' already has a value (%s), and --overwrite is false", k, old))
		}
	}
	return errors.Join(errs...)
}

// labelOutcome is what kubectl says about a label change: labeled,
// unlabeled (only removals), or not labeled (no change at all).
func labelOutcome(current units.Labels, ch supervisor.LabelChange) string {
	changed, set := false, false
	for k, v := range ch.Set {
		if old, ok := current[k]; !ok || old != v {
			changed, set = true, true
		}
	}
	for _, k := range ch.Remove {
		if _, ok := current[k]; ok {
			changed = true
		}
	}
	switch {
	case !changed:
		return "not labeled"
	case !set:
		return "unlabeled"
	}
	return "labeled"
}
