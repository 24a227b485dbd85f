package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/tendhq/tend/supervisor"
	"github.com/tendhq/tend/units"
)

const describeHelp = `Show details of a resource: its state, its settings and its events.

Usage:
  tend describe RESOURCE [NAME...] [-l SELECTOR]
  tend describe RESOURCE/NAME...

A NAME that matches nothing exactly describes everything whose name starts
with it (as kubectl does), so "tend describe jobs multi-completion-batch"
finds multi-completion-batch-job. Without a NAME, every object of the type
is described.

` + resourceHelp + `
Examples:
  # An instance: state, last state and exit code, restarts, probes, events
  tend describe po kubia-liveness

  # A replicated unit (ReplicationController): replicas, template, events
  tend describe rc kubia

  # A job, by the start of its name
  tend describe jobs multi-completion-batch

  # A host (node): labels, status and the instances on it
  tend describe node edge-17
`

func (c *CLI) runDescribe(ctx context.Context, args []string) error {
	fs := newFlagSet("describe")
	var selector string
	fs.stringVar(&selector, "selector", "l", "", "Selector (label query) to filter on, e.g. -l app=kubia.")
	args, err := fs.parse(c, args)
	if err != nil {
		return err
	}
	targets, err := parseTargets("describe", args)
	if err != nil {
		return err
	}
	if selector != "" && len(targets[0].names) > 0 {
		return usagef("describe", "name cannot be provided when a selector is specified")
	}
	defer c.close()
	failed, first := false, true
	for _, t := range targets {
		if t.res.typ == resEvents {
			return usagef("describe", "describe shows instances, units and hosts (with their events); list events with 'tend get events'")
		}
		f, err := c.fetch(ctx, t, selector)
		if err != nil {
			return err
		}
		// kubectl describe falls back to the names that start with the
		// one given; a unit that is not there may have been deleted.
		var deleted []supervisor.DeletedUnit
		if len(f.missing) > 0 {
			all, err := c.fetch(ctx, target{res: t.res}, "")
			if err != nil {
				return err
			}
			found := f.names()
			f.missing = nil
			for _, name := range t.names {
				if slices.Contains(found, name) {
					continue
				}
				n := len(f.instances) + len(f.units) + len(f.hosts)
				for _, x := range all.instances {
					if strings.HasPrefix(x.Name, name) {
						f.instances = append(f.instances, x)
					}
				}
				for _, x := range all.units {
					if strings.HasPrefix(x.Name, name) {
						f.units = append(f.units, x)
					}
				}
				for _, x := range all.hosts {
					if strings.HasPrefix(x.Name, name) {
						f.hosts = append(f.hosts, x)
					}
				}
				if len(f.instances)+len(f.units)+len(f.hosts) == n {
					if t.res.typ == resUnits {
						d, err := c.api().DeletedUnit(ctx, name)
						if err == nil {
							deleted = append(deleted, d)
							continue
						}
						if !errors.Is(err, supervisor.ErrNotFound) {
							return err
						}
					}
					f.missing = append(f.missing, notFound(t.res, name))
				}
			}
		}
		for _, e := range f.missing {
			fmt.Fprintln(c.Stderr, e)
			failed = true
		}
		if f.len() == 0 && len(t.names) == 0 {
			fmt.Fprintln(c.Stderr, "No resources found.")
		}
		d := describer{p: c.printer()}
		sep := func() {
			if !first {
				fmt.Fprintln(c.Stdout)
			}
			first = false
		}
		for _, in := range f.instances {
			events, err := c.api().Events(ctx, "instance", in.Name)
			if err != nil {
				return err
			}
			sep()
			d.instance(c.Stdout, in, events)
		}
		var all []supervisor.Instance // every host's, for the units' placement
		if len(f.units) > 0 {
			if all, err = c.api().Instances(ctx, ""); err != nil {
				return err
			}
		}
		for _, u := range f.units {
			events, err := c.api().Events(ctx, "unit", u.Name)
			if err != nil {
				return err
			}
			sep()
			mine := slices.DeleteFunc(slices.Clone(all), func(in supervisor.Instance) bool { return in.Unit != u.Name })
			d.unit(c.Stdout, u, mine, events)
		}
		for _, u := range deleted {
			sep()
			d.deletedUnit(c.Stdout, u)
		}
		for _, h := range f.hosts {
			events, err := c.api().Events(ctx, "host", h.Name)
			if err != nil {
				return err
			}
			instances, err := c.api().Instances(ctx, "")
			if err != nil {
				return err
			}
			instances = slices.DeleteFunc(instances, func(in supervisor.Instance) bool { return in.Host != h.Name })
			sep()
			d.host(c.Stdout, h, instances, events)
		}
	}
	if failed {
		return errSilent
	}
	return nil
}

// describer writes kubectl describe's layout: "Key:\tvalue" lines through
// a tabwriter with padding 2, nested sections indented by two spaces per
// level.
type describer struct {
	p  printer
	tw *tabwriter.Writer
}

func (d *describer) start(w io.Writer) { d.tw = tabwriter.NewWriter(w, 0, 8, 2, ' ', 0) }

// line writes one line at an indentation level.
func (d *describer) line(level int, format string, args ...any) {
	fmt.Fprintf(d.tw, strings.Repeat("  ", level)+format+"\n", args...)
}

// labels writes "Labels:\tapp=kubia" with each further label on a line of
// its own, aligned under the first.
func (d *describer) labels(level int, title string, l units.Labels) {
	if len(l) == 0 {
		d.line(level, "%s:\t<none>", title)
		return
	}
	for i, k := range slices.Sorted(maps.Keys(l)) {
		if i == 0 {
			d.line(level, "%s:\t%s=%s", title, k, l[k])
		} else {
			d.line(level, "\t%s=%s", k, l[k])
		}
	}
}

// multiline writes a value of several lines, aligned like labels.
func (d *describer) multiline(level int, title, value string) {
	for i, l := range strings.Split(strings.TrimRight(value, "\n"), "\n") {
		if i == 0 {
			d.line(level, "%s:\t%s", title, l)
		} else {
			d.line(level, "\t%s", l)
		}
	}
}

// env writes "Environment:\t<none>" or the variables, sorted, one a line.
func (d *describer) env(level int, env map[string]string) {
	if len(env) == 0 {
		d.line(level, "Environment:\t<none>")
		return
	}
	d.line(level, "Environment:")
	for _, k := range slices.Sorted(maps.Keys(env)) {
		d.line(level+1, "%s:\t%s", k, env[k])
	}
}

// state writes State or Last State, as kubectl writes a container's.
func (d *describer) state(title string, s supervisor.State) {
	switch s.Phase {
	case "Running":
		d.line(0, "%s:\tRunning", title)
		d.line(1, "Started:\t%s", d.p.timestamp(s.Started))
	case "Terminated":
		d.line(0, "%s:\tTerminated", title)
		if s.Reason != "" {
			d.line(1, "Reason:\t%s", s.Reason)
		}
		if s.Message != "" {
			d.line(1, "Message:\t%s", s.Message)
		}
		code := strconv.Itoa(s.ExitCode)
		if s.ExitCode < 0 {
			code = "unknown" // the run ended while no agent ran
		}
		if s.Signal != "" {
			code += " (" + s.Signal + ")"
		}
		d.line(1, "Exit Code:\t%s", code)
		d.line(1, "Started:\t%s", d.p.timestamp(s.Started))
		d.line(1, "Finished:\t%s", d.p.timestamp(s.Finished))
	default:
		d.line(0, "%s:\tWaiting", title)
		if s.Reason != "" {
			d.line(1, "Reason:\t%s", s.Reason)
		}
		if s.Message != "" {
			d.line(1, "Message:\t%s", s.Message)
		}
	}
}

// events writes the Events table, most recent last, repeats shown as
// "1s (x3 over 21s)"; "Events:\t<none>" when there are none.
func (d *describer) events(list []supervisor.Event) {
	if len(list) == 0 {
		d.line(0, "Events:\t<none>")
		return
	}
	d.tw.Flush()
	list = slices.Clone(list)
	sortEvents(list)
	d.line(0, "Events:")
	d.line(1, "Type\tReason\tAge\tFrom\tMessage")
	d.line(1, "----\t------\t----\t----\t-------")
	for _, e := range list {
		d.line(1, "%s\t%s\t%s\t%s\t%s", e.Type, e.Reason, d.p.eventAge(e), orNone(e.From), oneLine(e.Message))
	}
}

// placement lists where a unit's instances run in the fleet, a section
// kubectl has no need of: a replicated unit's slots, each with its
// instance, host and status (a slot shows twice while a partition runs it
// on both sides), or a per-host unit's hosts.
func (d *describer) placement(kind units.Kind, list []supervisor.Instance) {
	title := "Slots"
	if kind == units.KindPerHost {
		title = "Hosts"
	}
	if len(list) == 0 {
		d.line(0, "%s:\t<none>", title)
		return
	}
	list = slices.Clone(list)
	slices.SortFunc(list, func(a, b supervisor.Instance) int {
		if kind == units.KindReplicated && a.Slot != b.Slot {
			return a.Slot - b.Slot
		}
		return cmp.Or(strings.Compare(a.Host, b.Host), strings.Compare(a.Name, b.Name))
	})
	d.tw.Flush()
	d.line(0, "%s:", title)
	if kind == units.KindPerHost {
		d.line(1, "Host\tInstance\tStatus")
		d.line(1, "----\t--------\t------")
		for _, in := range list {
			d.line(1, "%s\t%s\t%s", in.Host, in.Name, in.Status)
		}
	} else {
		d.line(1, "Slot\tInstance\tHost\tStatus")
		d.line(1, "----\t--------\t----\t------")
		for _, in := range list {
			d.line(1, "%d\t%s\t%s\t%s", in.Slot, in.Name, in.Host, in.Status)
		}
	}
	d.tw.Flush()
}

func yesNo(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

// instance describes an instance as kubectl describes a pod and its one
// container.
func (d *describer) instance(w io.Writer, in supervisor.Instance, events []supervisor.Event) {
	d.start(w)
	d.line(0, "Name:\t%s", in.Name)
	d.line(0, "Host:\t%s", orNone(in.Host))
	d.line(0, "Start Time:\t%s", d.p.timestamp(in.Created))
	d.labels(0, "Labels", in.Labels)
	d.line(0, "Status:\t%s", orNone(in.Status))
	if in.PID != 0 {
		d.line(0, "PID:\t%d", in.PID)
	} else {
		d.line(0, "PID:\t<none>")
	}
	if in.Cgroup != "" {
		d.line(0, "Cgroup:\t%s", in.Cgroup)
	}
	if in.Unit != "" {
		d.line(0, "Controlled By:\tunit/%s", in.Unit)
	} else {
		d.line(0, "Controlled By:\t<none>")
	}
	d.line(0, "Command:\t%s", orNone(shellJoin(in.Command)))
	if in.WorkingDir != "" {
		d.line(0, "Working Dir:\t%s", in.WorkingDir)
	}
	if in.User != "" {
		d.line(0, "User:\t%s", in.User)
	}
	d.state("State", in.State)
	if in.LastState.Phase != "" {
		d.state("Last State", in.LastState)
	}
	d.line(0, "Ready:\t%s", yesNo(in.Ready))
	d.line(0, "Restart Count:\t%d", in.RestartCount)
	if in.Limits != "" {
		d.line(0, "Limits:\t%s", in.Limits)
	}
	d.probes(0, in.Liveness, in.Readiness, in.Startup)
	if in.NotifyStatus != "" {
		d.line(0, "Notify Status:\t%s", in.NotifyStatus)
	}
	d.env(0, in.Env)
	d.events(events)
	d.tw.Flush()
}

func (d *describer) probes(level int, liveness, readiness, startup string) {
	if liveness != "" {
		d.line(level, "Liveness:\t%s", liveness)
	}
	if readiness != "" {
		d.line(level, "Readiness:\t%s", readiness)
	}
	if startup != "" {
		d.line(level, "Startup:\t%s", startup)
	}
}

// unit describes a unit as kubectl describes a ReplicaSet, DaemonSet, Job
// or CronJob.
// fence describes an exclusive unit's fence as the answering host sees
// it: its standing, and its vote when it is a voter.
func (d *describer) fence(f *supervisor.FenceView) {
	if f == nil {
		d.line(0, "Exclusive:\tyes, without a fence (at most once on a host alone; not enforced across hosts without cluster.voters)")
		return
	}
	d.line(0, "Exclusive:\tyes, fenced: a lease from %d of the voters %s", f.Quorum, strings.Join(f.Voters, ", "))
	switch {
	case f.Held:
		d.line(1, "This Host:\t%s holds the lease, epoch %d", f.Host, f.Epoch)
	case f.Claimed:
		d.line(1, "This Host:\t%s waits for the lease: %s", f.Host, f.Status)
	default:
		d.line(1, "This Host:\t%s does not claim it", f.Host)
	}
	if f.VotedFor != "" {
		d.line(1, "Its Vote:\t%s, epoch %d", f.VotedFor, f.VotedEpoch)
	}
}

func (d *describer) unit(w io.Writer, u supervisor.Unit, instances []supervisor.Instance, events []supervisor.Event) {
	// The wire form lacks a job's and a cron job's settings; the unit
	// file has them.
	var spec *units.Unit
	if u.Source != "" {
		spec, _ = units.Parse(u.Name+".toml", []byte(u.Source))
	}
	kind := u.Kind

	d.start(w)
	d.line(0, "Name:\t%s", u.Name)
	d.line(0, "Kind:\t%s", kindOrNone(kind))
	if u.Path != "" {
		d.line(0, "File:\t%s", u.Path)
	}
	if kind == 0 && u.Error != "" {
		d.multiline(0, "Error", u.Error+"\n(the file has never been valid: nothing runs for it)")
		d.events(events)
		d.tw.Flush()
		return
	}
	d.line(0, "Selector:\t%s", orNone(u.Selector))
	if kind == units.KindPerHost {
		d.line(0, "Node-Selector:\t%s", orNone(u.NodeSelector))
	}
	d.labels(0, "Labels", u.Labels)
	if u.Owner != "" {
		d.line(0, "Controlled By:\tunit/%s", u.Owner)
	}
	if spec != nil && kind == units.KindCron {
		d.line(0, "Schedule:\t%s", spec.Schedule)
		if spec.TimeZone != "" {
			d.line(0, "Time Zone:\t%s", spec.TimeZone)
		}
		d.line(0, "Concurrency Policy:\t%s", spec.ConcurrencyPolicy)
		d.line(0, "Suspend:\t%s", yesNo(spec.Suspend))
		d.line(0, "Successful Job History Limit:\t%d", spec.SuccessfulHistory)
		d.line(0, "Failed Job History Limit:\t%d", spec.FailedHistory)
		if spec.StartingDeadline > 0 {
			d.line(0, "Starting Deadline:\t%s", spec.StartingDeadline)
		}
		d.line(0, "Catch Up:\t%s", spec.CatchUp)
		last := "<unset>"
		if !u.LastSchedule.IsZero() {
			last = d.p.timestamp(u.LastSchedule)
		}
		d.line(0, "Last Schedule Time:\t%s", last)
		d.line(0, "Active Jobs:\t%s", orNone(strings.Join(u.ActiveJobs, ", ")))
		if u.Missed > 0 {
			d.line(0, "Missed Runs:\t%d", u.Missed)
		}
	}
	if spec != nil && (kind == units.KindJob || kind == units.KindCron) {
		d.line(0, "Parallelism:\t%d", spec.Parallelism)
		d.line(0, "Completions:\t%d", spec.Completions)
		if u.CompletionMode != "" {
			d.line(0, "Completion Mode:\t%s", u.CompletionMode)
		}
		d.line(0, "Backoff Limit:\t%d", spec.BackoffLimit)
		if spec.ActiveDeadline > 0 {
			d.line(0, "Active Deadline:\t%s", spec.ActiveDeadline)
		}
	}
	if kind == units.KindJob {
		if !u.StartTime.IsZero() {
			d.line(0, "Start Time:\t%s", d.p.timestamp(u.StartTime))
		}
		if !u.CompletionTime.IsZero() {
			label := "Completed At"
			if u.Condition == "Failed" {
				label = "Failed At"
			}
			d.line(0, "%s:\t%s", label, d.p.timestamp(u.CompletionTime))
			d.line(0, "Duration:\t%s", humanDuration(u.CompletionTime.Sub(u.StartTime)))
		}
		if u.Condition != "" {
			d.line(0, "Condition:\t%s (%s)", u.Condition, u.Reason)
		}
	}
	switch kind {
	case units.KindJob:
		d.line(0, "Pods Statuses:\t%d Active / %d Succeeded / %d Failed", u.Active, u.Succeeded, u.Failed)
		if u.CompletionMode == "Indexed" {
			d.line(0, "Completed Indexes:\t%s", orNone(u.CompletedIndexes))
		}
	case units.KindCron:
	case units.KindPerHost:
		// kubectl writes these long lines untabbed, outside the columns.
		d.line(0, "Desired Number of Nodes Scheduled: %d", u.Desired)
		d.line(0, "Current Number of Nodes Scheduled: %d", u.Current)
		d.line(0, "Number of Nodes Scheduled with Ready Pods: %d", u.Ready)
		d.line(0, "Pods Status:\t%d Running / %d Waiting / %d Succeeded / %d Failed", u.Running, u.Waiting, u.Succeeded, u.Failed)
	default:
		d.line(0, "Replicas:\t%d current / %d desired", u.Current, u.Desired)
		d.line(0, "Pods Status:\t%d Running / %d Waiting / %d Succeeded / %d Failed", u.Running, u.Waiting, u.Succeeded, u.Failed)
	}
	if u.Stopped {
		d.line(0, "Stopped:\tyes: no instance runs (stopped = true in its file; tend start unit %s starts them)", u.Name)
	}
	if u.Exclusive {
		d.fence(u.Fence)
	}
	if u.Error != "" {
		d.multiline(0, "Error", u.Error+"\n(the last valid version of the file keeps running)")
	}
	if kind == units.KindReplicated || kind == units.KindPerHost {
		d.placement(kind, instances)
	}
	t := u.Template
	d.line(0, "Pod Template:")
	d.labels(1, "Labels", t.Labels)
	d.line(1, "Command:\t%s", orNone(shellJoin(t.Command)))
	if t.WorkingDir != "" {
		d.line(1, "Working Dir:\t%s", t.WorkingDir)
	}
	if t.User != "" {
		d.line(1, "User:\t%s", t.User)
	}
	if t.Restart != "" {
		d.line(1, "Restart:\t%s", t.Restart)
		if t.Log != "" {
			d.line(1, "Log:\t%s", t.Log)
		}
	}
	if t.Limits != "" {
		d.line(1, "Limits:\t%s", t.Limits)
	}
	d.probes(1, t.Liveness, t.Readiness, t.Startup)
	d.env(1, t.Env)
	d.events(events)
	d.tw.Flush()
}

// host describes a host as kubectl describes a node, with the instances
// on it.
func (d *describer) host(w io.Writer, h supervisor.Host, instances []supervisor.Instance, events []supervisor.Event) {
	d.start(w)
	d.line(0, "Name:\t%s", h.Name)
	d.labels(0, "Labels", h.Labels)
	d.line(0, "Status:\t%s", orNone(h.Status))
	d.line(0, "Version:\t%s", orNone(h.Version))
	d.line(0, "Started:\t%s", d.p.timestamp(h.Started))
	if h.Addr != "" {
		d.line(0, "Addresses:")
		d.line(1, "Gossip:\t%s", h.Addr)
		d.line(1, "API:\t%s", orNone(h.API))
	}
	d.tw.Flush()
	ready, reason, message := "True", "NodeReady", "the host answers gossip"
	switch h.Status {
	case "NotReady":
		ready, reason, message = "Unknown", "NodeStatusUnknown", "the host stopped answering gossip"
	case "Left":
		ready, reason, message = "False", "NodeLeft", "the host left the cluster"
	}
	d.line(0, "Conditions:")
	d.line(1, "Type\tStatus\tLastTransitionTime\tReason\tMessage")
	d.line(1, "----\t------\t------------------\t------\t-------")
	d.line(1, "Ready\t%s\t%s\t%s\t%s", ready, d.p.timestamp(cmp.Or(h.Since, h.Started)), reason, message)
	d.tw.Flush()
	d.line(0, "Instances:\t(%d in total)", len(instances))
	if len(instances) > 0 {
		d.line(1, "Name\tUnit\tStatus\tRestarts\tAge")
		d.line(1, "----\t----\t------\t--------\t---")
		for _, in := range instances {
			d.line(1, "%s\t%s\t%s\t%d\t%s", in.Name, orNone(in.Unit), orNone(in.Status), in.RestartCount, d.p.age(in.Created))
		}
	}
	d.events(events)
	d.tw.Flush()
}

// kindOrNone is a unit kind's name, or <none> for no kind.
func kindOrNone(k units.Kind) string {
	if k == 0 {
		return "<none>"
	}
	return k.String()
}

// deletedUnit describes the last version of a deleted unit.
func (d *describer) deletedUnit(w io.Writer, u supervisor.DeletedUnit) {
	d.start(w)
	d.line(0, "Name:\t%s", u.Name)
	d.line(0, "Deleted:\t%s (%s ago): its file %s was removed", d.p.timestamp(u.Deleted), d.p.age(u.Deleted), orNone(u.Path))
	d.multiline(0, "Last Version", u.Source)
	d.line(0, "To make it again, save its last version as %s.toml and tend apply -f %s.toml", u.Name, u.Name)
	d.tw.Flush()
}
