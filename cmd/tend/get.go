package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/tendhq/tend/internal/jsonpath"
	"github.com/tendhq/tend/supervisor"
	"github.com/tendhq/tend/supervisor/objects"
	"github.com/tendhq/tend/units"
)

const getHelp = `Display one or many resources as a table.

Usage:
  tend get RESOURCE [NAME...] [-l SELECTOR] [-o FORMAT] [--sort-by EXPR] [--show-labels] [-L KEY] [-w]
  tend get RESOURCE/NAME...

Prints the instances, units, hosts or events, one row each. Flags may come
before or after the arguments. With -w, the table is followed by a new row
for every instance that changes, until you press Ctrl-C.

-o json and -o yaml print tend.io/v1 objects shaped like kubectl's
(apiVersion, kind, metadata, spec, status; docs/objects.md lists their
fields). -o jsonpath=TEMPLATE and -o custom-columns=HEADER:EXPR,... take
kubectl's JSONPath over those objects; --sort-by orders by one field of
each (numbers by value, times by time).

` + resourceHelp + `
Examples:
  # List all instances (pods)
  tend get po

  # List the instances of the kubia unit, with their host and pid
  tend get po -l app=kubia -o wide

  # Show every label, or only the app label as a column
  tend get po --show-labels
  tend get pods -L app

  # List the replicated units (ReplicationControllers / ReplicaSets), the
  # per-host units (DaemonSets), the jobs and the cron jobs
  tend get rc
  tend get ds
  tend get jobs

  # List the hosts (nodes) with their labels
  tend get nodes --show-labels

  # Watch the instances change
  tend get po -w

  # One instance in JSON
  tend get po kubia-7hjkc -o json

  # The names of the kubia instances, and each instance's host
  tend get po -l app=kubia -o jsonpath='{.items[*].metadata.name}'
  tend get po -o jsonpath='{range .items[*]}{.metadata.name}{"\t"}{.spec.host}{"\n"}{end}'

  # Columns of your choosing, the instances that restarted most last
  tend get po -o custom-columns=NAME:.metadata.name,RESTARTS:.status.restartCount,HOST:.spec.host --sort-by=.status.restartCount

  # Events in the order they last happened
  tend get events --sort-by=.lastTimestamp
`

func (c *CLI) runGet(ctx context.Context, args []string) error {
	fs := newFlagSet("get")
	var o getOptions
	var selector string
	var watch bool
	var sortBy string
	fs.stringVar(&o.output, "output", "o", "", "Output format: wide, json, yaml, name, jsonpath=TEMPLATE or custom-columns=SPEC.")
	fs.stringVar(&sortBy, "sort-by", "", "", "Sort the objects by a jsonpath expression of each, e.g. --sort-by=.metadata.creationTimestamp.")
	fs.stringVar(&selector, "selector", "l", "", "Selector (label query) to filter on, e.g. -l app=kubia, -l 'env in (prod,qa)', -l '!tier'.")
	fs.boolVar(&o.showLabels, "show-labels", "", "Show all labels as the last column.")
	fs.add((*listValue)(&o.labelCols), "label-columns", "L", "Labels to show as columns, one column per key: -L app,tier or -L app -L tier.")
	fs.boolVar(&watch, "watch", "w", "After listing the instances, print a row for each change until interrupted.")
	fs.boolVar(&o.noHeaders, "no-headers", "", "Print tables without their header line.")
	args, err := fs.parse(c, args)
	if err != nil {
		return err
	}
	if err := o.parseOutput("get"); err != nil {
		return err
	}
	if sortBy != "" {
		if o.sortBy, err = jsonpath.ParseExpr(sortBy); err != nil {
			return usagef("get", "--sort-by: %v", err)
		}
	}
	targets, err := parseTargets("get", args)
	if err != nil {
		return err
	}
	if selector != "" && len(targets[0].names) > 0 {
		return usagef("get", "name cannot be provided when a selector is specified")
	}
	defer c.close()
	if watch {
		if len(targets) != 1 || targets[0].res != instancesRes {
			return usagef("get", "watch (-w) is available for instances only")
		}
		if o.sortBy != nil {
			return usagef("get", "--sort-by does not apply to a watch (-w): its rows come as instances change")
		}
		return c.watchInstances(ctx, targets[0], selector, o)
	}

	var results []fetched
	failed := false
	for _, t := range targets {
		f, err := c.fetch(ctx, t, selector)
		if err != nil {
			return err
		}
		for _, e := range f.missing {
			fmt.Fprintln(c.Stderr, e)
			failed = true
		}
		results = append(results, f)
	}
	if o.sortBy != nil {
		if err := sortFetched(results, o.sortBy); err != nil {
			return err
		}
	}
	if err := c.printFetched(results, targets, o); err != nil {
		return err
	}
	if failed {
		return errSilent
	}
	return nil
}

// fetched is what a target resolved to: the objects found, and an error
// for each name that was not.
type fetched struct {
	res       resource
	instances []supervisor.Instance
	units     []supervisor.Unit
	hosts     []supervisor.Host
	events    []supervisor.Event
	missing   []error
}

func (f fetched) len() int {
	return len(f.instances) + len(f.units) + len(f.hosts) + len(f.events)
}

func (f fetched) names() []string {
	var out []string
	for _, x := range f.instances {
		out = append(out, x.Name)
	}
	for _, x := range f.units {
		out = append(out, x.Name)
	}
	for _, x := range f.hosts {
		out = append(out, x.Name)
	}
	return out
}

// items are the tend.io/v1 objects for -o json, yaml, jsonpath and
// custom-columns.
func (f fetched) items() []any {
	var out []any
	for _, x := range f.instances {
		out = append(out, objects.FromInstance(x))
	}
	for _, x := range f.units {
		out = append(out, objects.FromUnit(x))
	}
	for _, x := range f.hosts {
		out = append(out, objects.FromHost(x))
	}
	for _, x := range f.events {
		out = append(out, objects.FromEvent(x))
	}
	return out
}

// notFound is kubectl's message for a name that is not there.
func notFound(res resource, name string) error {
	return &plainError{fmt.Sprintf("Error from server (NotFound): %s %q not found", res, name)}
}

// fetch gets the target's objects: the named ones, or all of them that
// match selector.
func (c *CLI) fetch(ctx context.Context, t target, selector string) (fetched, error) {
	f := fetched{res: t.res}
	api := c.api()
	var sel units.Selector
	if selector != "" && t.res.typ != resInstances {
		var err error
		if sel, err = units.ParseSelector(selector); err != nil {
			return f, usagef("", "%v", err)
		}
	}
	switch t.res.typ {
	case resInstances:
		if len(t.names) == 0 {
			list, err := api.Instances(ctx, selector)
			if errors.Is(err, supervisor.ErrInvalid) {
				return f, usagef("", "%v", err)
			}
			f.instances = list
			return f, err
		}
		var err error
		f.instances, f.missing, err = getEach(t.names, func(name string) (supervisor.Instance, error) {
			in, err := api.Instance(ctx, name)
			if errors.Is(err, supervisor.ErrNotFound) {
				err = notFound(t.res, name)
			}
			return in, err
		})
		return f, err
	case resUnits:
		if len(t.names) == 0 {
			kind := ""
			if t.res.kind != 0 {
				kind = t.res.kind.String()
			}
			list, err := api.Units(ctx, kind)
			if err != nil {
				return f, err
			}
			for _, u := range list {
				if sel.Matches(u.Labels) {
					f.units = append(f.units, u)
				}
			}
			return f, nil
		}
		var err error
		f.units, f.missing, err = getEach(t.names, func(name string) (supervisor.Unit, error) {
			return c.unitOfKind(ctx, t.res, name)
		})
		return f, err
	case resHosts:
		if len(t.names) == 0 {
			list, err := api.Hosts(ctx)
			if err != nil {
				return f, err
			}
			for _, h := range list {
				if sel.Matches(h.Labels) {
					f.hosts = append(f.hosts, h)
				}
			}
			return f, nil
		}
		var err error
		f.hosts, f.missing, err = getEach(t.names, func(name string) (supervisor.Host, error) {
			h, err := api.Host(ctx, name)
			if errors.Is(err, supervisor.ErrNotFound) {
				err = notFound(t.res, name)
			}
			return h, err
		})
		return f, err
	case resEvents:
		if selector != "" {
			return f, usagef("", "events have no labels: -l does not apply to them")
		}
		// Names select the events of the objects so named.
		objects := t.names
		if len(objects) == 0 {
			objects = []string{""}
		}
		for _, obj := range objects {
			list, err := api.Events(ctx, "", obj)
			if err != nil {
				return f, err
			}
			f.events = append(f.events, list...)
		}
		sortEvents(f.events)
	}
	return f, nil
}

// getEach gets each named object; the ones not there (a *plainError from
// get) are collected as missing, any other error ends it.
func getEach[T any](names []string, get func(name string) (T, error)) (found []T, missing []error, err error) {
	for _, name := range names {
		v, err := get(name)
		var pe *plainError
		switch {
		case errors.As(err, &pe):
			missing = append(missing, err)
		case err != nil:
			return found, missing, err
		default:
			found = append(found, v)
		}
	}
	return found, missing, nil
}

// unitOfKind gets the named unit, checking that it is of the kind the
// resource word asked for (a ReplicaSet word for a job is not found). A
// unit that is missing or of another kind comes back as a *plainError.
func (c *CLI) unitOfKind(ctx context.Context, res resource, name string) (supervisor.Unit, error) {
	u, err := c.api().Unit(ctx, name)
	if errors.Is(err, supervisor.ErrNotFound) {
		return u, notFound(res, name)
	}
	if err != nil {
		return u, err
	}
	if !res.kindMatches(u.Kind) {
		return u, &plainError{fmt.Sprintf("Error from server (NotFound): %s %q not found (unit %q is a %s unit: name it as unit/%s)",
			res.describeKind(), name, name, u.Kind, name)}
	}
	return u, nil
}

// printFetched prints what get found in the chosen format.
func (c *CLI) printFetched(results []fetched, targets []target, o getOptions) error {
	total := 0
	for _, f := range results {
		total += f.len()
	}
	named := false
	for _, t := range targets {
		named = named || len(t.names) > 0
	}
	switch o.output {
	case "json", "yaml", "jsonpath":
		var v any
		if len(targets) == 1 && len(targets[0].names) == 1 && total == 1 && targets[0].res != eventsRes {
			v = results[0].items()[0]
		} else {
			var items []any
			for _, f := range results {
				items = append(items, f.items()...)
			}
			v = objects.NewList(items)
		}
		switch o.output {
		case "json":
			return writeJSON(c.Stdout, v)
		case "jsonpath":
			return printJSONPath(c.Stdout, o.template, v)
		}
		return writeYAML(c.Stdout, v)
	case "custom-columns":
		var items []any
		for _, f := range results {
			items = append(items, f.items()...)
		}
		rows, err := columnRows(o.columns, items)
		if err != nil {
			return err
		}
		if len(rows) == 0 && !named {
			fmt.Fprintln(c.Stderr, "No resources found.")
			return nil
		}
		if !o.noHeaders {
			rows = append([][]string{columnHeader(o.columns)}, rows...)
		}
		(&table{w: c.Stdout}).write(rows...)
		return nil
	case "name":
		for _, f := range results {
			if f.res == eventsRes && f.len() > 0 {
				return usagef("get", "events have no names: -o name does not apply to them")
			}
			for _, n := range f.names() {
				fmt.Fprintf(c.Stdout, "%s/%s\n", f.res.singular(), n)
			}
		}
		return nil
	}
	if total == 0 {
		if !named {
			fmt.Fprintln(c.Stderr, "No resources found.")
		}
		return nil
	}
	p := c.printer()
	first := true
	for _, f := range results {
		if f.len() == 0 {
			continue
		}
		if !first {
			fmt.Fprintln(c.Stdout)
		}
		first = false
		prefix := ""
		if len(results) > 1 {
			prefix = f.res.singular() + "/"
		}
		p.printTable(c.Stdout, f, o, prefix)
	}
	return nil
}

// printTable prints one resource's objects as a table; prefix goes before
// each name when several types share the output.
func (p printer) printTable(w io.Writer, f fetched, o getOptions, prefix string) {
	var header []string
	var rows [][]string
	named := func(row []string) []string {
		row[0] = prefix + row[0]
		return row
	}
	switch f.res.typ {
	case resInstances:
		h, row := p.instanceTable(o)
		header = h
		for _, x := range f.instances {
			rows = append(rows, named(row(x)))
		}
	case resUnits:
		h, row := p.unitTable(f.res.kind, o)
		header = h
		for _, x := range f.units {
			rows = append(rows, named(row(x)))
		}
	case resHosts:
		h, row := p.hostTable(o)
		header = h
		for _, x := range f.hosts {
			rows = append(rows, named(row(x)))
		}
	case resEvents:
		h, row := p.eventTable(o)
		header = h
		for _, x := range f.events {
			rows = append(rows, row(x))
		}
	}
	if !o.noHeaders {
		rows = append([][]string{header}, rows...)
	}
	(&table{w: w}).write(rows...)
}

// watchInstances prints the instances, then a row for each change, until
// ctx ends.
func (c *CLI) watchInstances(ctx context.Context, t target, selector string, o getOptions) error {
	tab := &table{w: c.Stdout}
	headerDone := o.noHeaders
	synced := false
	var initial []supervisor.Instance
	last := map[string]string{} // instance → its row last printed
	print := func(list ...supervisor.Instance) error {
		switch o.output {
		case "json":
			for _, in := range list {
				if err := writeJSON(c.Stdout, objects.FromInstance(in)); err != nil {
					return err
				}
			}
			return nil
		case "yaml":
			for _, in := range list {
				io.WriteString(c.Stdout, "---\n")
				if err := writeYAML(c.Stdout, objects.FromInstance(in)); err != nil {
					return err
				}
			}
			return nil
		case "name":
			for _, in := range list {
				fmt.Fprintf(c.Stdout, "instance/%s\n", in.Name)
			}
			return nil
		case "jsonpath":
			for _, in := range list {
				if err := printJSONPath(c.Stdout, o.template, objects.FromInstance(in)); err != nil {
					return err
				}
			}
			return nil
		case "custom-columns":
			var items []any
			for _, in := range list {
				items = append(items, objects.FromInstance(in))
			}
			rows, err := columnRows(o.columns, items)
			if err != nil {
				return err
			}
			if !headerDone && len(rows) > 0 {
				rows = append([][]string{columnHeader(o.columns)}, rows...)
				headerDone = true
			}
			tab.write(rows...)
			return nil
		}
		header, row := c.printer().instanceTable(o)
		var rows [][]string
		for _, in := range list {
			r := row(in)
			// A change to what the table does not show (a new pid in
			// the JSON, say) would repeat the row as it stands.
			line := strings.Join(r, "\t")
			if last[in.Name] == line {
				continue
			}
			last[in.Name] = line
			rows = append(rows, r)
		}
		if !headerDone && len(rows) > 0 {
			rows = append([][]string{header}, rows...)
			headerDone = true
		}
		tab.write(rows...)
		return nil
	}
	err := c.api().WatchInstances(ctx, selector, func(ev supervisor.WatchEvent) error {
		if ev.Type == supervisor.WatchBookmark {
			synced = true
			if len(initial) == 0 && (o.output == "" || o.wide()) {
				fmt.Fprintln(c.Stderr, "No resources found.")
			}
			return print(initial...)
		}
		if len(t.names) > 0 && !slices.Contains(t.names, ev.Object.Name) {
			return nil
		}
		if !synced {
			initial = append(initial, ev.Object)
			return nil
		}
		if ev.Type == supervisor.WatchDeleted {
			delete(last, ev.Object.Name) // always show the last row
		}
		return print(ev.Object)
	})
	if errors.Is(err, supervisor.ErrInvalid) {
		return usagef("get", "%v", err)
	}
	if ctx.Err() != nil {
		return nil // interrupted: the normal end of a watch
	}
	return err
}
