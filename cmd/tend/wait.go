package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tendhq/tend/internal/jsonpath"
	"github.com/tendhq/tend/supervisor"
	"github.com/tendhq/tend/supervisor/objects"
)

const waitHelp = `Wait for a condition on instances, units or hosts.

Usage:
  tend wait --for=condition=COND[=VALUE] RESOURCE/NAME... [--timeout=30s]
  tend wait --for=condition=COND RESOURCE (-l SELECTOR | --all)
  tend wait --for=delete RESOURCE/NAME...
  tend wait --for=jsonpath='{EXPR}'[=VALUE] RESOURCE/NAME...

Waits until every object named meets the condition, saying so for each as
it does, and exits 0; or until --timeout, and exits 1 naming those that did
not. The conditions are those in the objects' status.conditions (see
'tend get -o yaml'): instances and hosts have Ready; replicated and
per-host units Available (every desired replica Ready); jobs Complete and
Failed. VALUE is True unless given; names and values ignore case.
--for=delete waits until the objects are gone; --for=jsonpath until the
expression gives VALUE (or, without =VALUE, gives anything).

With -l or --all the objects are those there when the wait starts; a
selector that matches none is an error. --timeout=0 looks once; a negative
timeout waits a week. Wait asks the agent every 200 ms about each object,
or, when it waits for more than 16 objects of a type, every second with
one list of that type.

` + resourceHelp + `
Examples:
  # Wait until an instance is Ready
  tend wait --for=condition=Ready po/kubia-7hjkc

  # Wait until every kubia instance is Ready, for at most a minute
  tend wait --for=condition=Ready po -l app=kubia --timeout=60s

  # Wait until a job completes, or a replicated unit has all its replicas
  tend wait --for=condition=Complete job/batch-job --timeout=5m
  tend wait --for=condition=Available rc/kubia

  # Wait until an instance is gone, after delete --wait=false
  tend wait --for=delete po/kubia-7hjkc

  # Wait until a host is NotReady
  tend wait --for=jsonpath='{.status.phase}'=NotReady node/edge-17
`

// waitPoll is how often wait asks the agent again about each object;
// above waitBatch objects of a type it lists them instead, every
// waitPollBatch, so that a wait for 5000 instances costs the agent one
// request a second, not 25000.
const (
	waitPoll      = 200 * time.Millisecond
	waitBatch     = 16
	waitPollBatch = time.Second
)

// waitFor is what --for asks.
type waitFor struct {
	del      bool
	cond     string // condition=COND: its type
	expr     *jsonpath.Template
	value    string // the value wanted: of the condition (True), or of expr
	hasValue bool   // jsonpath: =VALUE given
}

func parseWaitFor(s string) (waitFor, error) {
	kind, arg, _ := strings.Cut(s, "=")
	switch kind {
	case "delete":
		if arg != "" {
			break
		}
		return waitFor{del: true}, nil
	case "condition":
		cond, value, hasValue := strings.Cut(arg, "=")
		if cond == "" {
			return waitFor{}, fmt.Errorf("--for=condition needs a condition: --for=condition=Ready")
		}
		if !hasValue {
			value = "True"
		}
		return waitFor{cond: cond, value: value}, nil
	case "jsonpath":
		expr, value, hasValue := cutJSONPath(arg)
		if expr == "" {
			return waitFor{}, fmt.Errorf("--for=jsonpath needs an expression: --for=jsonpath='{.status.phase}'=Running")
		}
		t, err := jsonpath.ParseExpr(expr)
		if err != nil {
			return waitFor{}, fmt.Errorf("--for=jsonpath: %v", err)
		}
		return waitFor{expr: t, value: value, hasValue: hasValue}, nil
	}
	return waitFor{}, fmt.Errorf("unrecognized condition %q: want --for=condition=COND[=VALUE], --for=delete or --for=jsonpath='{EXPR}'[=VALUE]", s)
}

// cutJSONPath splits "{expr}=value": the expression ends at the brace
// that closes its first one, or, without braces, at the first '=' that
// is not inside brackets, parentheses or quotes.
func cutJSONPath(s string) (expr, value string, hasValue bool) {
	if strings.HasPrefix(s, "{") {
		end := closingBrace(s)
		if end < 0 {
			return s, "", false // the parse says what is wrong
		}
		expr = s[:end+1]
		rest := s[end+1:]
		value, hasValue = strings.CutPrefix(rest, "=")
		if !hasValue && rest != "" {
			return "", "", false
		}
		return expr, value, hasValue
	}
	parts := splitTopLevel(s, '=')
	if len(parts) == 1 {
		return s, "", false
	}
	return parts[0], s[len(parts[0])+1:], true
}

// closingBrace is the index of the brace that closes s's first, outside
// quotes; -1 if none does.
func closingBrace(s string) int {
	depth := 0
	var quote byte
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quote != 0:
			if c == '\\' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '{':
			depth++
		case c == '}':
			if depth--; depth == 0 {
				return i
			}
		}
	}
	return -1
}

// waitTimeout is --timeout: 0 looks once, negative means a week, as
// kubectl's.
type waitTimeout time.Duration

func (d *waitTimeout) Set(v string) error {
	x, err := time.ParseDuration(v)
	if err != nil {
		return fmt.Errorf("want a duration such as 30s, 5m (0 looks once)")
	}
	if x < 0 {
		x = 7 * 24 * time.Hour
	}
	*d = waitTimeout(x)
	return nil
}
func (d *waitTimeout) String() string { return time.Duration(*d).String() }

// waited is one object a wait is for.
type waited struct {
	res  resource
	name string
}

func (w waited) String() string { return w.res.singular() + "/" + w.name }

func (c *CLI) runWait(ctx context.Context, args []string) error {
	fs := newFlagSet("wait")
	var forFlag, selector string
	var all bool
	timeout := waitTimeout(30 * time.Second)
	fs.stringVar(&forFlag, "for", "", "", "The condition to wait for: condition=COND[=VALUE], delete, or jsonpath='{EXPR}'[=VALUE].")
	fs.stringVar(&selector, "selector", "l", "", "Wait for the objects whose labels match, e.g. -l app=kubia.")
	fs.boolVar(&all, "all", "", "Wait for every object of the type.")
	fs.add(&timeout, "timeout", "", "How long to wait (default 30s); 0 looks once, a negative value waits a week.")
	args, err := fs.parse(c, args)
	if err != nil {
		return err
	}
	if forFlag == "" {
		return usagef("wait", "--for must be given: --for=condition=Ready, --for=delete or --for=jsonpath='{EXPR}'=VALUE")
	}
	want, err := parseWaitFor(forFlag)
	if err != nil {
		return usagef("wait", "%v", err)
	}
	targets, err := parseTargets("wait", args)
	if err != nil {
		return err
	}
	named := len(targets[0].names) > 0
	switch {
	case named && (all || selector != ""):
		return usagef("wait", "name cannot be provided when --all or a selector is specified")
	case !named && !all && selector == "":
		return usagef("wait", "resource(s) were provided, but no name was specified: give NAMEs, --all or -l SELECTOR")
	}
	for _, t := range targets {
		if t.res.typ == resEvents {
			return usagef("wait", "events have no conditions: wait for instances, units or hosts")
		}
	}
	defer c.close()

	var pending []waited
	for _, t := range targets {
		if named {
			for _, n := range t.names {
				pending = append(pending, waited{t.res, n})
			}
			continue
		}
		f, err := c.fetch(ctx, t, selector)
		if err != nil {
			return err
		}
		for _, n := range f.names() {
			pending = append(pending, waited{t.res, n})
		}
	}
	if len(pending) == 0 {
		return &plainError{"error: no matching resources found"}
	}

	start := time.Now()
	deadline := start.Add(time.Duration(timeout))
	nextProgress := start.Add(progressAfter)
	failed := false
	last := map[waited]string{} // what each still pending showed
	for {
		looks, err := c.waitLists(ctx, pending)
		if err != nil {
			return err
		}
		var still []waited
		for _, w := range pending {
			met, shows, err := c.waitCheck(ctx, w, want, looks)
			var pe *plainError
			switch {
			case errors.As(err, &pe):
				fmt.Fprintln(c.Stderr, err)
				failed = true
			case err != nil:
				return err
			case met && want.del:
				fmt.Fprintf(c.Stdout, "%s deleted\n", w)
			case met:
				fmt.Fprintf(c.Stdout, "%s condition met\n", w)
			default:
				last[w] = shows
				still = append(still, w)
			}
		}
		pending = still
		if len(pending) == 0 {
			break
		}
		now := time.Now()
		if !now.Before(deadline) {
			for _, w := range pending {
				fmt.Fprintf(c.Stderr, "error: timed out waiting for the condition on %s/%s (%s)\n", w.res, w.name, last[w])
			}
			return errSilent
		}
		if !now.Before(nextProgress) {
			var parts []string
			for _, w := range pending {
				parts = append(parts, fmt.Sprintf("%s (%s)", w, last[w]))
			}
			fmt.Fprintf(c.Stderr, "waiting %s of %s for %s...\n", now.Sub(start).Round(time.Second), time.Duration(timeout), strings.Join(parts, ", "))
			nextProgress = now.Add(15 * time.Second)
		}
		poll := waitPoll
		if looks.batched {
			poll = waitPollBatch
		}
		t := time.NewTimer(min(poll, deadline.Sub(now)))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	if failed {
		return errSilent
	}
	return nil
}

// waitLooks are the lists of the types wait asks about many objects
// of, fetched once for a round of looks; nil for a type asked about
// object by object.
type waitLooks struct {
	batched   bool
	instances map[string]supervisor.Instance
	units     map[string]supervisor.Unit
	hosts     map[string]supervisor.Host
}

func (c *CLI) waitLists(ctx context.Context, pending []waited) (waitLooks, error) {
	var l waitLooks
	count := map[resourceType]int{}
	for _, w := range pending {
		count[w.res.typ]++
	}
	api := c.api()
	if count[resInstances] > waitBatch {
		list, err := api.Instances(ctx, "")
		if err != nil {
			return l, err
		}
		l.instances = byName(list, func(in supervisor.Instance) string { return in.Name })
	}
	if count[resUnits] > waitBatch {
		list, err := api.Units(ctx, "")
		if err != nil {
			return l, err
		}
		l.units = byName(list, func(u supervisor.Unit) string { return u.Name })
	}
	if count[resHosts] > waitBatch {
		list, err := api.Hosts(ctx)
		if err != nil {
			return l, err
		}
		l.hosts = byName(list, func(h supervisor.Host) string { return h.Name })
	}
	l.batched = l.instances != nil || l.units != nil || l.hosts != nil
	return l, nil
}

func byName[T any](list []T, name func(T) string) map[string]T {
	m := make(map[string]T, len(list))
	for _, x := range list {
		m[name(x)] = x
	}
	return m
}

// from is the object called name in m, or ErrNotFound.
func from[T any](m map[string]T, name string) (T, error) {
	x, ok := m[name]
	if !ok {
		return x, supervisor.ErrNotFound
	}
	return x, nil
}

// waitCheck looks at w once: met, or what it shows instead (for the
// timeout's message). An object that is not there is met for --for=delete
// and a *plainError otherwise, as is a condition that w can never have.
func (c *CLI) waitCheck(ctx context.Context, w waited, want waitFor, looks waitLooks) (met bool, shows string, err error) {
	api := c.api()
	var obj any
	valid := []string{"Ready"}
	switch w.res.typ {
	case resInstances:
		var in supervisor.Instance
		if looks.instances != nil {
			in, err = from(looks.instances, w.name)
		} else {
			in, err = api.Instance(ctx, w.name)
		}
		obj = objects.FromInstance(in)
	case resHosts:
		var h supervisor.Host
		if looks.hosts != nil {
			h, err = from(looks.hosts, w.name)
		} else {
			h, err = api.Host(ctx, w.name)
		}
		obj = objects.FromHost(h)
	case resUnits:
		var u supervisor.Unit
		if looks.units != nil {
			if u, err = from(looks.units, w.name); err == nil && !w.res.kindMatches(u.Kind) {
				err = supervisor.ErrNotFound
			}
		} else {
			u, err = c.unitOfKind(ctx, w.res, w.name)
		}
		obj = objects.FromUnit(u)
		valid = objects.UnitConditions(u.Kind)
		var pe *plainError
		if errors.As(err, &pe) {
			err = supervisor.ErrNotFound
		}
	}
	switch {
	case errors.Is(err, supervisor.ErrNotFound) && want.del:
		return true, "", nil
	case errors.Is(err, supervisor.ErrNotFound):
		return false, "", notFound(w.res, w.name)
	case err != nil:
		return false, "", err
	case want.del:
		return false, "still there", nil
	}
	data, err := jsonpath.Decode(obj)
	if err != nil {
		return false, "", err
	}
	if want.expr != nil {
		vals := want.expr.Values(data)
		var texts []string
		for _, v := range vals {
			texts = append(texts, jsonpath.Text(v))
		}
		shows = strings.Join(texts, " ")
		if !want.hasValue {
			return len(vals) > 0, "nothing at " + want.expr.String(), nil
		}
		met = len(vals) > 0 && !slices.ContainsFunc(texts, func(s string) bool { return s != want.value })
		return met, fmt.Sprintf("%s is %q", want.expr, shows), nil
	}
	if !slices.ContainsFunc(valid, func(s string) bool { return strings.EqualFold(s, want.cond) }) {
		has := "none"
		if len(valid) > 0 {
			has = strings.Join(valid, ", ")
		}
		return false, "", &plainError{fmt.Sprintf("error: %s has no condition %s (its conditions: %s)", w, want.cond, has)}
	}
	obj1, _ := data.(map[string]any)
	status, _ := obj1["status"].(map[string]any)
	conds, _ := status["conditions"].([]any)
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if typ, _ := m["type"].(string); strings.EqualFold(typ, want.cond) {
			status, _ := m["status"].(string)
			return strings.EqualFold(status, want.value), fmt.Sprintf("%s is %s", typ, status), nil
		}
	}
	return false, want.cond + " not yet reported", nil
}
