package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/tendhq/tend/units"
)

// The types in this file are the local API's wire format (JSON under /v1).
// They are copies: whoever holds one may keep it; the agent never changes
// one after handing it out. Their maps and slices may be shared with the
// agent's own state, which replaces them rather than changing them in
// place: a holder must not change them either.

// Instance is the published status of one instance (a Pod, in kubectl's words).
type Instance struct {
	Name string     `json:"name"`
	Unit string     `json:"unit,omitempty"` // the owning unit; "" when orphaned
	Kind units.Kind `json:"kind,omitzero"`  // the owning unit's kind; 0 when orphaned
	// Slot is which of its unit's replicas the instance is (0, 1, ...),
	// or which attempt of its job.
	Slot    int          `json:"slot"`
	Host    string       `json:"host"`
	Labels  units.Labels `json:"labels,omitempty"`
	Command []string     `json:"command"`
	Created time.Time    `json:"created"`
	// Rollout is its unit's restarted_at when it was made (tend rollout
	// restart replaces those made under another).
	Rollout string `json:"rollout,omitempty"`

	// Status is the one word kubectl prints in STATUS: Pending, Running,
	// Terminating, Completed, Error, CrashLoopBackOff, Unknown.
	Status       string `json:"status"`
	Ready        bool   `json:"ready"`
	PID          int    `json:"pid,omitempty"`
	RestartCount int    `json:"restart_count"`
	// Cgroup is the cgroup v2 directory of the running process, on its
	// host; "" without one, or when its host uses process groups only.
	Cgroup string `json:"cgroup,omitempty"`
	// Limits are the template's memory_max, cpu_max and pids_max, as
	// describe prints them: "memory 512MiB, cpu 150%, pids 100"; "" for
	// none. The unit's LimitNotApplied events say which its host cannot
	// apply.
	Limits string `json:"limits,omitempty"`

	State     State `json:"state"`
	LastState State `json:"last_state"`

	// Probes, as describe prints them, e.g.
	// "http-get http://:8080/ delay=0s timeout=1s period=10s #success=1 #failure=3".
	Liveness  string `json:"liveness,omitempty"`
	Readiness string `json:"readiness,omitempty"`
	Startup   string `json:"startup,omitempty"`
	// NotifyStatus is the last STATUS= text the instance sent over sd_notify.
	NotifyStatus string `json:"notify_status,omitempty"`

	Env map[string]string `json:"env,omitempty"`
	// WorkingDir is where the instance runs: its working_dir, else the
	// agent's working directory.
	WorkingDir string `json:"working_dir,omitempty"`
	User       string `json:"user,omitempty"`
	// Group is the group the instance runs as when the unit sets one; ""
	// means the user's primary group (the agent's group without a user).
	Group string `json:"group,omitempty"`
}

// State is one of an instance's run states, as describe prints State and
// Last State. Phase is "" (none yet), Waiting, Running or Terminated.
type State struct {
	Phase    string    `json:"phase,omitempty"`
	Reason   string    `json:"reason,omitempty"`    // Waiting: CrashLoopBackOff, ...; Terminated: Completed, Error, OOMKilled
	Message  string    `json:"message,omitempty"`   // free text, e.g. "back-off 400ms restarting failed instance"
	ExitCode int       `json:"exit_code,omitempty"` // Terminated: the status, or 128+signal
	Signal   string    `json:"signal,omitempty"`    // Terminated by a signal: its name, "SIGKILL"
	Started  time.Time `json:"started,omitzero"`
	Finished time.Time `json:"finished,omitzero"`
}

// Unit is the published status of a unit.
type Unit struct {
	Name     string       `json:"name"`
	Kind     units.Kind   `json:"kind,omitzero"` // replicated, per-host, job, cron; none when the file was never valid
	Path     string       `json:"path"`
	Version  string       `json:"version"`
	Labels   units.Labels `json:"labels,omitempty"`
	Selector string       `json:"selector"` // units.Selector.String()
	// NodeSelector is placement.node_selector, "" when every host is eligible.
	NodeSelector string    `json:"node_selector,omitempty"`
	Created      time.Time `json:"created"`

	// Replicas is a replicated unit's replicas key; Stopped its stopped
	// key (tend stop unit), for every kind.
	Replicas int  `json:"replicas,omitempty"`
	Stopped  bool `json:"stopped,omitempty"`
	// RestartedAt is the restarted_at key (tend rollout restart).
	RestartedAt string `json:"restarted_at,omitempty"`

	// replicated and per-host: desired and observed counts (none desired
	// while stopped, or while no host is eligible).
	Desired int `json:"desired"`
	Current int `json:"current"`
	Ready   int `json:"ready"`
	// Pods Status line of describe.
	Running   int `json:"running"`
	Waiting   int `json:"waiting"`
	Succeeded int `json:"succeeded"`
	Failed    int `json:"failed"`

	Template TemplateSummary `json:"template"`

	// job (kind job, and each run of a cron unit): progress.
	Owner          string    `json:"owner,omitempty"` // the cron unit that made the job
	Completions    int       `json:"completions,omitempty"`
	Parallelism    int       `json:"parallelism,omitempty"`
	Active         int       `json:"active,omitempty"`
	StartTime      time.Time `json:"start_time,omitzero"`
	CompletionTime time.Time `json:"completion_time,omitzero"`
	Condition      string    `json:"condition,omitempty"` // Complete, Failed
	Reason         string    `json:"reason,omitempty"`    // BackoffLimitExceeded, DeadlineExceeded
	BackoffLimit   int       `json:"backoff_limit,omitempty"`
	// CompletionMode is Indexed for a job whose attempts run completion
	// indexes (every job an agent of this version makes), NonIndexed for
	// one an older agent made; CompletedIndexes are the indexes completed
	// so far, as Kubernetes writes them ("0-3,5").
	CompletionMode   string `json:"completion_mode,omitempty"`
	CompletedIndexes string `json:"completed_indexes,omitempty"`

	// cron
	Schedule          string    `json:"schedule,omitempty"`
	TimeZone          string    `json:"time_zone,omitempty"`
	Suspend           bool      `json:"suspend,omitempty"`
	ConcurrencyPolicy string    `json:"concurrency_policy,omitempty"`
	LastSchedule      time.Time `json:"last_schedule,omitzero"`
	ActiveJobs        []string  `json:"active_jobs,omitempty"`
	Missed            int       `json:"missed,omitempty"`

	// Exclusive: exclusive = true; Fence is its fence as the answering
	// host sees it, when the fleet has one.
	Exclusive bool       `json:"exclusive,omitempty"`
	Fence     *FenceView `json:"fence,omitempty"`

	// Source is the unit file's text, for edit and -o yaml.
	Source string `json:"source"`
	// Error is the last problem with the unit file, if its newest version was
	// rejected: the last valid version keeps running, and one that was never
	// valid has only Name, Path and Error.
	Error string `json:"error,omitempty"`
}

// TemplateSummary is what describe shows under "Template:".
type TemplateSummary struct {
	Labels     units.Labels      `json:"labels,omitempty"`
	Command    []string          `json:"command"`
	Env        map[string]string `json:"env,omitempty"`
	WorkingDir string            `json:"working_dir,omitempty"`
	User       string            `json:"user,omitempty"`
	Restart    string            `json:"restart"`
	Log        string            `json:"log,omitempty"`    // journal or both; "" for file, the default
	Limits     string            `json:"limits,omitempty"` // as Instance.Limits
	Liveness   string            `json:"liveness,omitempty"`
	Readiness  string            `json:"readiness,omitempty"`
	Startup    string            `json:"startup,omitempty"`
}

// Host is the published status of a host (a Node).
type Host struct {
	Name   string       `json:"name"`
	Labels units.Labels `json:"labels,omitempty"`
	Status string       `json:"status"`         // Ready, NotReady, Left
	Addr   string       `json:"addr,omitempty"` // its gossip address; "" alone
	API    string       `json:"api,omitempty"`  // its inter-host API; "" when it serves none
	// Since is when Status last changed, as the answering host saw it.
	Since   time.Time `json:"since,omitzero"`
	Version string    `json:"version"`
	Started time.Time `json:"started"`
	// Instances is the number of instances on the host.
	Instances int `json:"instances"`
}

// Event is something that happened to an object, with repeats folded.
type Event struct {
	Kind    string    `json:"kind"` // instance, unit, host
	Object  string    `json:"object"`
	Type    string    `json:"type"` // Normal, Warning
	Reason  string    `json:"reason"`
	Message string    `json:"message"`
	From    string    `json:"from"`
	First   time.Time `json:"first"`
	Last    time.Time `json:"last"`
	Count   int       `json:"count"`
}

// Version is the agent's build.
type Version struct {
	Version string `json:"version"`
	Commit  string `json:"commit,omitempty"`
	Go      string `json:"go"`
	Host    string `json:"host"`
	// PID is the agent's process; Started when this agent's binary began
	// to run it (a re-execution starts it again, in the same process).
	PID     int       `json:"pid,omitempty"`
	Started time.Time `json:"started,omitzero"`
}

// APIError is the body of every non-2xx answer.
type APIError struct {
	Error string `json:"error"`
}

// ExecRequest is the body of POST /v1/instances/{name}/exec, which runs
// Command beside the instance (see exec_api.go).
type ExecRequest struct {
	// Command is the program and its arguments; it must not be empty.
	Command []string `json:"command"`
	// TTY asks for a terminal for the command. No agent gives one yet, and
	// a request with TTY set is refused (400) rather than given pipes.
	TTY bool `json:"tty,omitempty"`
}

// LabelChange asks to set and remove labels on an instance or host.
type LabelChange struct {
	Set       units.Labels `json:"set,omitempty"`
	Remove    []string     `json:"remove,omitempty"`
	Overwrite bool         `json:"overwrite"`
}

// ApplyResult says what apply did with one unit file.
type ApplyResult struct {
	Name   string     `json:"name"`
	Kind   units.Kind `json:"kind"`
	Action string     `json:"action"` // created, configured, unchanged
}

// KeyChange asks a host to change its gossip keyring (POST
// /v1/hosts/{name}/keys): Op is "install" (accept Key too), "use"
// (encrypt with Key, which must be installed) or "prune" (drop every key
// but Key, which must be the one in use).
type KeyChange struct {
	Op  string `json:"op"`
	Key []byte `json:"key,omitempty"` // base64 in JSON
}

// Keys is a host's gossip keyring, as fingerprints: the key in use, then
// the others it accepts.
type Keys struct {
	Host    string   `json:"host"`
	Primary string   `json:"primary"`
	Others  []string `json:"others,omitempty"`
}

// Keyring is a host's gossip keyring, as the API changes it. Changes are
// kept on disk before they are answered, so a restarted agent has them.
type Keyring interface {
	Keys() (Keys, error)
	ChangeKeys(KeyChange) (Keys, error)
}

// Errors the Backend returns and the API maps to status codes.
var (
	// ErrNotFound: no such instance, unit or host (404).
	ErrNotFound = errors.New("not found")
	// ErrInvalid: the request itself is wrong (400); wrapped with the reason.
	ErrInvalid = errors.New("invalid request")
	// ErrConflict: the object's state does not allow the change (409):
	// deleting a host that is Ready.
	ErrConflict = errors.New("conflict")
)

// LogOptions selects what Logs returns.
type LogOptions struct {
	Previous   bool // the previous run's output instead of the current run's
	Follow     bool // keep streaming new lines until ctx ends or the run ends
	Tail       int  // only the last Tail lines; <0 = all
	Timestamps bool // keep each line's RFC 3339 time stamp
}

// LogSkipped is the error a follower's Read returns, with no bytes, when
// the follower fell so far behind the log's rotation that output it had
// not read was deleted: the follower goes on from the oldest output still
// kept, and the next Read returns it. The counts are of the instance's
// output, time stamps left out; -1 when unknown (a run written by an
// older agent). A follower returns at most one LogSkipped per skip, and
// none while it reads only kept output.
type LogSkipped struct {
	Lines int64 `json:"lines"`
	Bytes int64 `json:"bytes"`
}

func (e *LogSkipped) Error() string {
	if e.Lines < 0 {
		return "skipped output: the reader fell behind log rotation"
	}
	return fmt.Sprintf("skipped %d bytes (%d lines) of output: the reader fell behind log rotation", e.Bytes, e.Lines)
}

// Backend is what the local API serves; the agent implements it. Every
// method is safe for concurrent use, does not block on running processes,
// and returns copies the caller may keep.
type Backend interface {
	Instances(sel units.Selector) []Instance
	Instance(name string) (Instance, error)
	// DeleteInstance begins stopping the instance (it shows Terminating) and
	// returns at once; the record goes when the process has gone.
	DeleteInstance(name string) error
	LabelInstance(name string, change LabelChange) (Instance, error)
	// RestartInstance stops the instance's run and starts it again at
	// once (a run in a back-off starts now): no failure counted, restart
	// count +1, Last State Restarted. ErrConflict when it has no run to
	// restart (exited for good, stopping, being deleted).
	RestartInstance(name string) (Instance, error)
	// Logs opens the instance's stored output. With Follow it streams until
	// ctx is done or the run ends.
	Logs(ctx context.Context, name string, opts LogOptions) (io.ReadCloser, error)

	// Units lists units of kind; 0 = all.
	Units(kind units.Kind) []Unit
	Unit(name string) (Unit, error)
	// ApplyUnit validates the file (filename's stem names the unit) and
	// writes it into the unit directory atomically. An invalid file returns
	// a *units.ErrorList (wrapped) and changes nothing.
	ApplyUnit(filename string, data []byte) (ApplyResult, error)
	// CheckUnit answers as ApplyUnit would, problems and all, and
	// changes nothing (apply --dry-run=server).
	CheckUnit(filename string, data []byte) (ApplyResult, error)
	// DeleteUnit removes the unit's file; with orphan its instances are
	// released and keep running, otherwise they are stopped and removed.
	DeleteUnit(name string, orphan bool) error
	// ScaleUnit rewrites the unit file's replicas (for a job: parallelism).
	ScaleUnit(name string, replicas int) (Unit, error)
	// StopUnit sets (stop) or clears the unit file's stopped key: the
	// unit stays, its instances stop, or start again. Action is
	// "stopped", "started" or "unchanged".
	StopUnit(name string, stop bool) (ApplyResult, error)
	// DeletedUnit is the last version of a deleted unit, while it is
	// remembered (deleted.go); ErrNotFound otherwise.
	DeletedUnit(name string) (DeletedUnit, error)
	// RolloutRestart sets the unit file's restarted_at to now: a
	// replicated or per-host unit then replaces its instances one by one
	// (plan.go). Action is "restarted".
	RolloutRestart(name string) (ApplyResult, error)
	// ReleaseFence is the operator's word that the host holding the
	// exclusive unit name is down (tend fence release): this host, which
	// must be waiting for the unit's lease, counts that host as silent
	// and may start the unit W later. ErrInvalid when this host does not
	// wait for the lease, or the fleet has no fence.
	ReleaseFence(name string) (FenceReleased, error)

	Hosts() []Host
	Host(name string) (Host, error)
	LabelHost(name string, change LabelChange) (Host, error)
	// DeleteHost deletes a host that is NotReady or Left, with its
	// instances, from the fleet's view, on every host (kubectl delete
	// node). ErrConflict for a Ready host (this one is), ErrNotFound for
	// one not known. It returns once this host's view shows it gone; the
	// others follow within seconds.
	DeleteHost(name string) error

	// Events lists events, oldest first; kind and object "" = all.
	Events(kind, object string) []Event

	// Changes returns a channel that receives (coalesced, never blocking the
	// agent) after any change of state, and a function to stop it.
	Changes() (<-chan struct{}, func())

	Version() Version
}
