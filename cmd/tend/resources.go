package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/tendhq/tend/units"
)

// resourceType is what a resource word names.
type resourceType int

const (
	resInstances resourceType = iota + 1
	resUnits
	resHosts
	resEvents
)

// resource is a resource word resolved: a type and, for units, the kind
// that kubectl's words for workloads select (rs, ds, jobs...).
type resource struct {
	typ  resourceType
	kind units.Kind // units: 0 for every kind
}

var (
	instancesRes = resource{typ: resInstances}
	unitsRes     = resource{typ: resUnits}
	hostsRes     = resource{typ: resHosts}
	eventsRes    = resource{typ: resEvents}
)

// resourceWords are tend's resource words and kubectl's (DESIGN §4).
var resourceWords = map[string]resource{
	"instance": instancesRes, "instances": instancesRes, "inst": instancesRes,
	"pod": instancesRes, "pods": instancesRes, "po": instancesRes,

	"unit": unitsRes, "units": unitsRes, "u": unitsRes,
	"rs": {resUnits, units.KindReplicated}, "replicaset": {resUnits, units.KindReplicated},
	"replicasets": {resUnits, units.KindReplicated},
	"rc":          {resUnits, units.KindReplicated}, "replicationcontroller": {resUnits, units.KindReplicated},
	"replicationcontrollers": {resUnits, units.KindReplicated},
	"replicated":             {resUnits, units.KindReplicated},
	"ds":                     {resUnits, units.KindPerHost}, "daemonset": {resUnits, units.KindPerHost},
	"daemonsets": {resUnits, units.KindPerHost}, "per-host": {resUnits, units.KindPerHost},
	"job": {resUnits, units.KindJob}, "jobs": {resUnits, units.KindJob},
	"cronjob": {resUnits, units.KindCron}, "cronjobs": {resUnits, units.KindCron},
	"cj": {resUnits, units.KindCron}, "cron": {resUnits, units.KindCron},

	"host": hostsRes, "hosts": hostsRes, "node": hostsRes, "nodes": hostsRes, "no": hostsRes,

	"event": eventsRes, "events": eventsRes, "ev": eventsRes,
}

// resourceHelp is the table of resource words that the help of get,
// describe and delete shows.
const resourceHelp = `Resource types (kubectl's words work too):
  instances  (instance, inst, pods, pod, po)   supervised processes
  units      (unit, u)                         units of every kind, and by kind:
    rs, replicasets, rc, replicationcontrollers   replicated units
    ds, daemonsets                                per-host units
    jobs, job                                     job units
    cronjobs, cronjob, cj                         cron units
  hosts      (host, nodes, node, no)           machines running "tend agent"
  events     (event, ev)                       what happened to them
`

// parseResource resolves a resource word, ignoring case.
func parseResource(verb, word string) (resource, error) {
	if r, ok := resourceWords[strings.ToLower(word)]; ok {
		return r, nil
	}
	msg := fmt.Sprintf("the server doesn't have a resource type %q", word)
	if s := suggest(strings.ToLower(word), slices.Sorted(maps.Keys(resourceWords))); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	return resource{}, usagef(verb, "%s", msg)
}

// String is the resource's plural, as kubectl's messages use it:
// `instances "kubia-x" not found`.
func (r resource) String() string {
	switch r.typ {
	case resInstances:
		return "instances"
	case resUnits:
		return "units"
	case resHosts:
		return "hosts"
	case resEvents:
		return "events"
	}
	return "resources"
}

// singular is the resource's name in -o name and in messages:
// "instance/kubia-x", `unit "kubia" deleted`.
func (r resource) singular() string { return strings.TrimSuffix(r.String(), "s") }

// kindMatches reports whether a unit of kind k is one that r selects.
func (r resource) kindMatches(k units.Kind) bool {
	return r.typ == resUnits && (r.kind == 0 || r.kind == k)
}

// describeKind says which units r selects, for messages: "replicated units".
func (r resource) describeKind() string {
	if r.kind == 0 {
		return "units"
	}
	return r.kind.String() + " units"
}

// target is a resource and the names given for it (none: all of them).
type target struct {
	res   resource
	names []string
}

// parseTargets reads the arguments of get, describe and delete in kubectl's
// forms: TYPE [NAME...], TYPE,TYPE [NAME...], or TYPE/NAME [TYPE/NAME...].
func parseTargets(verb string, args []string) ([]target, error) {
	if len(args) == 0 {
		return nil, usagef(verb, "you must specify the type of resource to %s (instances, units, hosts, events; see 'tend %s --help')", verb, verb)
	}
	if strings.Contains(args[0], "/") {
		var out []target
		for _, a := range args {
			word, name, ok := strings.Cut(a, "/")
			if !ok || name == "" || word == "" {
				return nil, usagef(verb, "there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'tend %s po/kubia-x')", verb)
			}
			r, err := parseResource(verb, word)
			if err != nil {
				return nil, err
			}
			if i := slices.IndexFunc(out, func(t target) bool { return t.res == r }); i >= 0 {
				out[i].names = append(out[i].names, name)
			} else {
				out = append(out, target{res: r, names: []string{name}})
			}
		}
		return out, nil
	}
	var out []target
	for word := range strings.SplitSeq(args[0], ",") {
		r, err := parseResource(verb, word)
		if err != nil {
			return nil, err
		}
		if !slices.ContainsFunc(out, func(t target) bool { return t.res == r }) {
			out = append(out, target{res: r})
		}
	}
	for _, name := range args[1:] {
		if strings.Contains(name, "/") {
			return nil, usagef(verb, "arguments in resource/name form must have a single resource and name (got %q after %q)", name, args[0])
		}
	}
	for i := range out {
		out[i].names = slices.Clone(args[1:])
	}
	return out, nil
}

// oneTarget reads the arguments of verbs that act on named objects of one
// type: TYPE NAME... or TYPE/NAME...
func oneTarget(verb string, args []string) (target, error) {
	ts, err := parseTargets(verb, args)
	if err != nil {
		return target{}, err
	}
	if len(ts) > 1 {
		return target{}, usagef(verb, "%s acts on one resource type at a time", verb)
	}
	return ts[0], nil
}
