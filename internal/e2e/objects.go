package e2e

import (
	"encoding/json"
	"strings"

	"github.com/tendhq/tend/supervisor"
	"github.com/tendhq/tend/supervisor/objects"
)

// The CLI prints tend.io/v1 objects (supervisor/objects); the tests read
// them back into supervisor's wire types, whose fields they compare, so
// that every test that reads the CLI's JSON also checks that the objects
// carry what the wire types do.

// Units are the units of kind (a resource word: "jobs", "rc", "units"),
// as `tend get KIND -o json` prints them, by name.
func (a *Agent) Units(kind string) map[string]supervisor.Unit {
	a.T.Helper()
	out := a.Tend("get", kind, "-o", "json")
	var list struct {
		Items []objects.Unit `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		a.T.Fatalf("get %s -o json: %v\n%s", kind, err, out)
	}
	m := map[string]supervisor.Unit{}
	for _, o := range list.Items {
		m[o.Metadata.Name] = UnitOf(o)
	}
	return m
}

// Events are the events as `tend get events -o json` prints them.
func (a *Agent) Events() []supervisor.Event {
	a.T.Helper()
	out := a.Tend("get", "events", "-o", "json")
	var list struct {
		Items []objects.Event `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		a.T.Fatalf("get events -o json: %v\n%s", err, out)
	}
	var evs []supervisor.Event
	for _, o := range list.Items {
		evs = append(evs, supervisor.Event{
			Kind: kindWord[o.InvolvedObject.Kind], Object: o.InvolvedObject.Name,
			Type: o.Type, Reason: o.Reason, Message: o.Message, From: o.Source.Host,
			First: o.FirstTimestamp, Last: o.LastTimestamp, Count: o.Count,
		})
	}
	return evs
}

// Hosts are the hosts as `tend get hosts -o json` prints them.
func (a *Agent) Hosts() []supervisor.Host {
	a.T.Helper()
	out := a.Tend("get", "hosts", "-o", "json")
	var list struct {
		Items []objects.Host `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		a.T.Fatalf("get hosts -o json: %v\n%s", err, out)
	}
	var hosts []supervisor.Host
	for _, o := range list.Items {
		h := supervisor.Host{
			Name: o.Metadata.Name, Labels: o.Metadata.Labels, Status: o.Status.Phase,
			Addr: o.Spec.Addr, API: o.Spec.API, Version: o.Status.Version,
			Started: o.Metadata.CreationTimestamp, Instances: o.Status.Instances,
		}
		if len(o.Status.Conditions) > 0 {
			h.Since = o.Status.Conditions[0].LastTransitionTime
		}
		hosts = append(hosts, h)
	}
	return hosts
}

var kindWord = map[string]string{
	objects.KindInstance: supervisor.KindInstance,
	objects.KindUnit:     supervisor.KindUnit,
	objects.KindHost:     supervisor.KindHost,
}

func instanceOf(o objects.Instance) supervisor.Instance {
	return supervisor.Instance{
		Name: o.Metadata.Name, Unit: o.Spec.Unit, Kind: o.Spec.UnitKind, Slot: o.Spec.Slot, Host: o.Spec.Host,
		Labels: o.Metadata.Labels, Command: o.Spec.Command, Created: o.Metadata.CreationTimestamp,
		Status: o.Status.Status, Ready: o.Status.Ready, PID: o.Status.PID, RestartCount: o.Status.RestartCount,
		Cgroup: o.Status.Cgroup, Limits: o.Spec.Limits,
		State: stateOf(o.Status.State), LastState: stateOf(o.Status.LastState),
		Liveness: o.Spec.LivenessProbe, Readiness: o.Spec.ReadinessProbe, Startup: o.Spec.StartupProbe,
		NotifyStatus: o.Status.NotifyStatus, Env: o.Spec.Env, WorkingDir: o.Spec.WorkingDir,
		User: o.Spec.User, Group: o.Spec.Group, Rollout: o.Metadata.Annotations[objects.AnnotationRestartedAt],
	}
}

func stateOf(s objects.State) supervisor.State {
	switch {
	case s.Waiting != nil:
		return supervisor.State{Phase: "Waiting", Reason: s.Waiting.Reason, Message: s.Waiting.Message}
	case s.Running != nil:
		return supervisor.State{Phase: "Running", Started: s.Running.StartedAt}
	case s.Terminated != nil:
		t := s.Terminated
		return supervisor.State{Phase: "Terminated", Reason: t.Reason, Message: t.Message, ExitCode: t.ExitCode,
			Signal: t.Signal, Started: t.StartedAt, Finished: t.FinishedAt}
	}
	return supervisor.State{}
}

// UnitOf reads a tend.io/v1 Unit back into the wire type.
func UnitOf(o objects.Unit) supervisor.Unit {
	s, st := o.Spec, o.Status
	u := supervisor.Unit{
		Name: o.Metadata.Name, Kind: s.Kind, Labels: o.Metadata.Labels, Selector: s.Selector,
		NodeSelector: s.NodeSelector, Created: o.Metadata.CreationTimestamp,
		Path:    o.Metadata.Annotations[objects.AnnotationPath],
		Version: o.Metadata.Annotations[objects.AnnotationVersion],
		Source:  o.Metadata.Annotations[objects.AnnotationSource],
		Desired: st.Replicas, Current: st.Current, Ready: st.ReadyReplicas,
		Running: st.Running, Waiting: st.Waiting, Succeeded: st.Succeeded, Failed: st.Failed,
		Template: supervisor.TemplateSummary{
			Labels: s.Template.Labels, Command: s.Template.Command, Env: s.Template.Env,
			WorkingDir: s.Template.WorkingDir, User: s.Template.User, Restart: s.Template.Restart,
			Limits: s.Template.Limits, Liveness: s.Template.LivenessProbe,
			Readiness: s.Template.ReadinessProbe, Startup: s.Template.StartupProbe,
		},
		Completions: s.Completions, Parallelism: s.Parallelism, Active: st.Active,
		StartTime: st.StartTime, CompletionTime: st.CompletionTime, BackoffLimit: s.BackoffLimit,
		Schedule: s.Schedule, TimeZone: s.TimeZone, Suspend: s.Suspend, ConcurrencyPolicy: s.Concurrency,
		LastSchedule: st.LastScheduleTime, ActiveJobs: st.ActiveJobs, Missed: st.Missed,
		Exclusive: s.Exclusive, Stopped: s.Stopped, RestartedAt: s.RestartedAt, Fence: st.Fence, Error: st.Error,
	}
	if s.Replicas != nil {
		u.Replicas = *s.Replicas
	}
	for _, r := range o.Metadata.OwnerReferences {
		if r.Controller {
			u.Owner = r.Name
		}
	}
	for _, c := range st.Conditions {
		if (c.Type == "Complete" || c.Type == "Failed") && c.Status == "True" {
			u.Condition, u.Reason = c.Type, c.Reason
		}
	}
	return u
}

// UnitRow is the row of unit name in `tend get units`, split in cells:
// NAME KIND DESIRED CURRENT READY AGE STOPPED FILE; nil when there is
// none.
func (a *Agent) UnitRow(name string) []string {
	a.T.Helper()
	for _, l := range Lines(a.Tend("get", "units")) {
		if f := strings.Fields(l); len(f) > 0 && f[0] == name {
			return f
		}
	}
	return nil
}
