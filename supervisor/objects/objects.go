// Package objects holds the tend.io/v1 objects: instances, units, hosts
// and events as the CLI's -o json, -o yaml, -o jsonpath and
// -o custom-columns see them, shaped like kubectl's objects (apiVersion,
// kind, metadata, spec, status, camelCase keys) so that jq and jsonpath
// recipes written for Kubernetes carry over: `.items[].metadata.name`,
// `.status.conditions[?(@.type=="Ready")].status`,
// `.status.lastState.terminated.exitCode`.
//
// They are made from supervisor's wire types (what the agent's socket
// serves); the two are kept apart so that the socket's form can change
// with the agent while these stay the documented contract of scripts.
// docs/objects.md lists every field.
package objects

import (
	"fmt"
	"time"

	"github.com/tendhq/tend/supervisor"
	"github.com/tendhq/tend/units"
)

// APIVersion is the apiVersion of every object the CLI prints.
const APIVersion = "tend.io/v1"

// Kinds of the tend.io/v1 objects.
const (
	KindInstance = "Instance"
	KindUnit     = "Unit"
	KindHost     = "Host"
	KindEvent    = "Event"
	KindList     = "List"
)

// Annotations a unit object carries.
const (
	AnnotationPath    = "tend.io/path"    // the unit file on the answering host
	AnnotationVersion = "tend.io/version" // the checksum of the running version
	AnnotationSource  = "tend.io/source"  // the unit file's text, as kubectl's last-applied-configuration
	// AnnotationRestartedAt, on an instance: its unit's restarted_at when
	// it was made (kubectl's kubectl.kubernetes.io/restartedAt).
	AnnotationRestartedAt = "tend.io/restartedAt"
)

// ObjectMeta is an object's metadata, as Kubernetes' ObjectMeta.
type ObjectMeta struct {
	Name              string            `json:"name"`
	Labels            units.Labels      `json:"labels,omitempty"`
	Annotations       map[string]string `json:"annotations,omitempty"`
	CreationTimestamp time.Time         `json:"creationTimestamp,omitzero"`
	OwnerReferences   []OwnerReference  `json:"ownerReferences,omitempty"`
}

// OwnerReference names the object that controls this one: the unit of an
// instance, the cron unit of a job it made.
type OwnerReference struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	Controller bool   `json:"controller"`
}

// Condition is one of an object's conditions, as Kubernetes lists them:
// Status is "True", "False" or "Unknown".
type Condition struct {
	Type               string    `json:"type"`
	Status             string    `json:"status"`
	Reason             string    `json:"reason,omitempty"`
	Message            string    `json:"message,omitempty"`
	LastTransitionTime time.Time `json:"lastTransitionTime,omitzero"`
}

func condition(typ string, ok bool) Condition {
	c := Condition{Type: typ, Status: "False"}
	if ok {
		c.Status = "True"
	}
	return c
}

// List is several objects, as kubectl's List.
type List struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Items      []any  `json:"items"`
}

// NewList wraps items (tend.io/v1 objects) in a List.
func NewList(items []any) List {
	if items == nil {
		items = []any{}
	}
	return List{APIVersion: APIVersion, Kind: KindList, Items: items}
}

// Instance is an instance (a pod).
type Instance struct {
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Metadata   ObjectMeta     `json:"metadata"`
	Spec       InstanceSpec   `json:"spec"`
	Status     InstanceStatus `json:"status"`
}

// InstanceSpec is what the instance runs and where.
type InstanceSpec struct {
	Unit           string            `json:"unit,omitempty"`    // "" when orphaned
	UnitKind       units.Kind        `json:"unitKind,omitzero"` // replicated, per-host, job, cron
	Slot           int               `json:"slot"`              // which replica, or which attempt of a job
	Host           string            `json:"host"`              // Kubernetes' spec.nodeName
	Command        []string          `json:"command"`           //
	Env            map[string]string `json:"env,omitempty"`
	WorkingDir     string            `json:"workingDir,omitempty"`
	User           string            `json:"user,omitempty"`
	Group          string            `json:"group,omitempty"`
	Limits         string            `json:"limits,omitempty"`
	LivenessProbe  string            `json:"livenessProbe,omitempty"`
	ReadinessProbe string            `json:"readinessProbe,omitempty"`
	StartupProbe   string            `json:"startupProbe,omitempty"`
}

// InstanceStatus is how the instance is doing.
type InstanceStatus struct {
	// Phase is Kubernetes' pod phase: Pending, Running (also while it
	// waits to be restarted), Succeeded, Failed or Unknown. Status is the
	// word `tend get po` prints: CrashLoopBackOff, Terminating, ...
	Phase        string      `json:"phase"`
	Status       string      `json:"status"`
	Ready        bool        `json:"ready"`
	Conditions   []Condition `json:"conditions"`
	PID          int         `json:"pid,omitempty"`
	RestartCount int         `json:"restartCount"`
	Cgroup       string      `json:"cgroup,omitempty"`
	State        State       `json:"state"`
	LastState    State       `json:"lastState"`
	NotifyStatus string      `json:"notifyStatus,omitempty"`
}

// State is a run state as Kubernetes' ContainerState: at most one
// of its members is set; none before the first run.
type State struct {
	Waiting    *StateWaiting    `json:"waiting,omitempty"`
	Running    *StateRunning    `json:"running,omitempty"`
	Terminated *StateTerminated `json:"terminated,omitempty"`
}

type StateWaiting struct {
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

type StateRunning struct {
	StartedAt time.Time `json:"startedAt,omitzero"`
}

type StateTerminated struct {
	ExitCode   int       `json:"exitCode"`
	Signal     string    `json:"signal,omitempty"`
	Reason     string    `json:"reason,omitempty"`
	Message    string    `json:"message,omitempty"`
	StartedAt  time.Time `json:"startedAt,omitzero"`
	FinishedAt time.Time `json:"finishedAt,omitzero"`
}

func state(s supervisor.State) State {
	switch s.Phase {
	case "Waiting":
		return State{Waiting: &StateWaiting{Reason: s.Reason, Message: s.Message}}
	case "Running":
		return State{Running: &StateRunning{StartedAt: s.Started}}
	case "Terminated":
		return State{Terminated: &StateTerminated{
			ExitCode: s.ExitCode, Signal: s.Signal, Reason: s.Reason, Message: s.Message,
			StartedAt: s.Started, FinishedAt: s.Finished,
		}}
	}
	return State{}
}

// FromInstance is the instance as a tend.io/v1 Instance.
func FromInstance(in supervisor.Instance) Instance {
	o := Instance{
		APIVersion: APIVersion,
		Kind:       KindInstance,
		Metadata:   ObjectMeta{Name: in.Name, Labels: in.Labels, CreationTimestamp: in.Created},
		Spec: InstanceSpec{
			Unit: in.Unit, UnitKind: in.Kind, Slot: in.Slot, Host: in.Host,
			Command: in.Command, Env: in.Env, WorkingDir: in.WorkingDir, User: in.User, Group: in.Group,
			Limits: in.Limits, LivenessProbe: in.Liveness, ReadinessProbe: in.Readiness, StartupProbe: in.Startup,
		},
		Status: InstanceStatus{
			Phase: in.PodPhase(), Status: in.Status, Ready: in.Ready,
			Conditions: []Condition{condition("Ready", in.Ready)},
			PID:        in.PID, RestartCount: in.RestartCount, Cgroup: in.Cgroup,
			State: state(in.State), LastState: state(in.LastState),
			NotifyStatus: in.NotifyStatus,
		},
	}
	if in.Status == "Unknown" {
		o.Status.Conditions[0].Status = "Unknown"
	}
	if in.Rollout != "" {
		o.Metadata.Annotations = map[string]string{AnnotationRestartedAt: in.Rollout}
	}
	if in.Unit != "" {
		o.Metadata.OwnerReferences = []OwnerReference{{APIVersion: APIVersion, Kind: KindUnit, Name: in.Unit, Controller: true}}
	}
	return o
}

// Unit is a unit (a ReplicaSet, DaemonSet, Job or CronJob).
type Unit struct {
	APIVersion string     `json:"apiVersion"`
	Kind       string     `json:"kind"`
	Metadata   ObjectMeta `json:"metadata"`
	Spec       UnitSpec   `json:"spec"`
	Status     UnitStatus `json:"status"`
}

// UnitSpec is what the unit file asks for, as far as the agent reports it;
// the whole file is in the tend.io/source annotation.
type UnitSpec struct {
	Kind         units.Kind   `json:"kind,omitzero"` // the file's kind key; none when it was never valid
	Replicas     *int         `json:"replicas,omitempty"`
	Selector     string       `json:"selector,omitempty"`
	NodeSelector string       `json:"nodeSelector,omitempty"`
	Exclusive    bool         `json:"exclusive,omitempty"`
	Stopped      bool         `json:"stopped,omitempty"`     // tend stop unit: no instance runs
	RestartedAt  string       `json:"restartedAt,omitempty"` // tend rollout restart
	Template     TemplateSpec `json:"template"`
	Completions  int          `json:"completions,omitempty"`
	Parallelism  int          `json:"parallelism,omitempty"`
	BackoffLimit int          `json:"backoffLimit,omitempty"`
	// CompletionMode: Indexed or NonIndexed, as a Kubernetes Job's
	// (jobs, and the jobs of a cron unit).
	CompletionMode string `json:"completionMode,omitempty"`
	Schedule       string `json:"schedule,omitempty"`
	TimeZone       string `json:"timeZone,omitempty"`
	Suspend        bool   `json:"suspend,omitempty"`
	Concurrency    string `json:"concurrencyPolicy,omitempty"`
}

// TemplateSpec is the unit's instance template.
type TemplateSpec struct {
	Labels         units.Labels      `json:"labels,omitempty"`
	Command        []string          `json:"command,omitempty"`
	Env            map[string]string `json:"env,omitempty"`
	WorkingDir     string            `json:"workingDir,omitempty"`
	User           string            `json:"user,omitempty"`
	Restart        string            `json:"restart,omitempty"`
	Log            string            `json:"log,omitempty"`
	Limits         string            `json:"limits,omitempty"`
	LivenessProbe  string            `json:"livenessProbe,omitempty"`
	ReadinessProbe string            `json:"readinessProbe,omitempty"`
	StartupProbe   string            `json:"startupProbe,omitempty"`
}

// UnitStatus is how the unit's instances stand, fleet-wide as the
// answering host sees them.
type UnitStatus struct {
	Replicas      int `json:"replicas"` // desired: replicas, or eligible hosts of a per-host unit
	Current       int `json:"currentReplicas"`
	ReadyReplicas int `json:"readyReplicas"`
	Running       int `json:"running"`
	Waiting       int `json:"waiting"`
	Succeeded     int `json:"succeeded"`
	Failed        int `json:"failed"`
	Active        int `json:"active,omitempty"`
	// CompletedIndexes: an indexed job's completed indexes, as
	// Kubernetes writes them ("0-3,5").
	CompletedIndexes string `json:"completedIndexes,omitempty"`
	// Conditions: Available (replicated and per-host units: every desired
	// replica Ready); Complete or Failed (jobs, once ended).
	Conditions       []Condition           `json:"conditions,omitempty"`
	StartTime        time.Time             `json:"startTime,omitzero"`
	CompletionTime   time.Time             `json:"completionTime,omitzero"`
	LastScheduleTime time.Time             `json:"lastScheduleTime,omitzero"`
	ActiveJobs       []string              `json:"activeJobs,omitempty"`
	Missed           int                   `json:"missedSchedules,omitempty"`
	Fence            *supervisor.FenceView `json:"fence,omitempty"`
	// Error is the newest file's problem when it was rejected: the last
	// valid version keeps running.
	Error string `json:"error,omitempty"`
}

// FromUnit is the unit as a tend.io/v1 Unit.
func FromUnit(u supervisor.Unit) Unit {
	o := Unit{
		APIVersion: APIVersion,
		Kind:       KindUnit,
		Metadata:   ObjectMeta{Name: u.Name, Labels: u.Labels, CreationTimestamp: u.Created},
		Spec: UnitSpec{
			Kind: u.Kind, Selector: u.Selector, NodeSelector: u.NodeSelector, Exclusive: u.Exclusive, Stopped: u.Stopped, RestartedAt: u.RestartedAt,
			Template: TemplateSpec{
				Labels: u.Template.Labels, Command: u.Template.Command, Env: u.Template.Env,
				WorkingDir: u.Template.WorkingDir, User: u.Template.User, Restart: u.Template.Restart,
				Log: u.Template.Log, Limits: u.Template.Limits, LivenessProbe: u.Template.Liveness,
				ReadinessProbe: u.Template.Readiness, StartupProbe: u.Template.Startup,
			},
			Completions: u.Completions, Parallelism: u.Parallelism, BackoffLimit: u.BackoffLimit, CompletionMode: u.CompletionMode,
			Schedule: u.Schedule, TimeZone: u.TimeZone, Suspend: u.Suspend, Concurrency: u.ConcurrencyPolicy,
		},
		Status: UnitStatus{
			Replicas: u.Desired, Current: u.Current, ReadyReplicas: u.Ready,
			Running: u.Running, Waiting: u.Waiting, Succeeded: u.Succeeded, Failed: u.Failed, Active: u.Active, CompletedIndexes: u.CompletedIndexes,
			StartTime: u.StartTime, CompletionTime: u.CompletionTime, LastScheduleTime: u.LastSchedule,
			ActiveJobs: u.ActiveJobs, Missed: u.Missed, Fence: u.Fence, Error: u.Error,
		},
	}
	ann := map[string]string{}
	if u.Path != "" {
		ann[AnnotationPath] = u.Path
	}
	if u.Version != "" {
		ann[AnnotationVersion] = u.Version
	}
	if u.Source != "" {
		ann[AnnotationSource] = u.Source
	}
	if len(ann) > 0 {
		o.Metadata.Annotations = ann
	}
	if u.Owner != "" {
		o.Metadata.OwnerReferences = []OwnerReference{{APIVersion: APIVersion, Kind: KindUnit, Name: u.Owner, Controller: true}}
	}
	switch u.Kind {
	case units.KindReplicated:
		n := u.Replicas
		o.Spec.Replicas = &n
		o.Status.Conditions = []Condition{condition("Available", u.Ready >= u.Desired)}
	case units.KindPerHost:
		o.Status.Conditions = []Condition{condition("Available", u.Ready >= u.Desired)}
	case units.KindJob:
		if u.Condition != "" {
			o.Status.Conditions = []Condition{{Type: u.Condition, Status: "True", Reason: u.Reason, LastTransitionTime: u.CompletionTime}}
		}
	}
	return o
}

// UnitConditions are the condition types a unit of kind can have, for
// `tend wait` to refuse one that can never come.
func UnitConditions(kind units.Kind) []string {
	switch kind {
	case units.KindReplicated, units.KindPerHost:
		return []string{"Available"}
	case units.KindJob:
		return []string{"Complete", "Failed"}
	}
	return nil
}

// Host is a host (a node).
type Host struct {
	APIVersion string     `json:"apiVersion"`
	Kind       string     `json:"kind"`
	Metadata   ObjectMeta `json:"metadata"`
	Spec       HostSpec   `json:"spec"`
	Status     HostStatus `json:"status"`
}

// HostSpec is where the host is reached.
type HostSpec struct {
	Addr string `json:"addr,omitempty"` // its gossip address; "" alone
	API  string `json:"api,omitempty"`  // its inter-host API
}

// HostStatus is the host's standing in the fleet.
type HostStatus struct {
	Phase      string      `json:"phase"` // Ready, NotReady, Left
	Conditions []Condition `json:"conditions"`
	Version    string      `json:"version"`
	Instances  int         `json:"instances"`
}

// FromHost is the host as a tend.io/v1 Host.
func FromHost(h supervisor.Host) Host {
	c := Condition{Type: "Ready", Status: "Unknown", Reason: h.Status, LastTransitionTime: h.Since}
	switch h.Status {
	case "Ready":
		c.Status = "True"
	case "Left":
		c.Status = "False"
	}
	return Host{
		APIVersion: APIVersion,
		Kind:       KindHost,
		Metadata:   ObjectMeta{Name: h.Name, Labels: h.Labels, CreationTimestamp: h.Started},
		Spec:       HostSpec{Addr: h.Addr, API: h.API},
		Status:     HostStatus{Phase: h.Status, Conditions: []Condition{c}, Version: h.Version, Instances: h.Instances},
	}
}

// Event is an event, as Kubernetes' core/v1 Event.
type Event struct {
	APIVersion     string          `json:"apiVersion"`
	Kind           string          `json:"kind"`
	Metadata       ObjectMeta      `json:"metadata"`
	InvolvedObject ObjectReference `json:"involvedObject"`
	Type           string          `json:"type"` // Normal, Warning
	Reason         string          `json:"reason"`
	Message        string          `json:"message"`
	Source         EventSource     `json:"source"`
	FirstTimestamp time.Time       `json:"firstTimestamp,omitzero"`
	LastTimestamp  time.Time       `json:"lastTimestamp,omitzero"`
	Count          int             `json:"count"`
}

// ObjectReference names the object an event is about.
type ObjectReference struct {
	Kind string `json:"kind"` // Instance, Unit, Host
	Name string `json:"name"`
}

// EventSource is the host that recorded the event.
type EventSource struct {
	Host string `json:"host,omitempty"`
}

var eventKinds = map[string]string{supervisor.KindInstance: KindInstance, supervisor.KindUnit: KindUnit, supervisor.KindHost: KindHost}

// FromEvent is the event as a tend.io/v1 Event. Its name is, as Kubernetes
// names events, the object's name and the first time in hex nanoseconds.
func FromEvent(e supervisor.Event) Event {
	kind := eventKinds[e.Kind]
	if kind == "" {
		kind = e.Kind
	}
	return Event{
		APIVersion:     APIVersion,
		Kind:           KindEvent,
		Metadata:       ObjectMeta{Name: fmt.Sprintf("%s.%x", e.Object, e.First.UnixNano()), CreationTimestamp: e.First},
		InvolvedObject: ObjectReference{Kind: kind, Name: e.Object},
		Type:           e.Type, Reason: e.Reason, Message: e.Message,
		Source:         EventSource{Host: e.From},
		FirstTimestamp: e.First, LastTimestamp: e.Last, Count: e.Count,
	}
}
