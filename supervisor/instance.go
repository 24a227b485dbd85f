package supervisor

import (
	"os"
	"sync"
	"time"

	"github.com/tendhq/tend/units"
)

// An instance is one supervised process (a Pod, in Kubernetes' words) and
// its history. The loop goroutine owns every instance: no other goroutine
// reads or writes one. Its life is drawn in lifecycle.go.
type instance struct {
	rec  instanceRecord
	spec *units.Unit // the unit version this instance was made from

	// Runtime state, never persisted.
	proc   *Proc
	runlog *RunLog
	gen    uint64     // incremented per run; exits, reports and timers carry it
	intent stopIntent // LifeStopping: why

	// stopTimer sends SIGKILL when the stop_signal was not enough;
	// restartTimer ends a back-off. At most one of them is set at a time,
	// but they are never the same timer.
	stopTimer    func() bool
	restartTimer func() bool
	stopAt       time.Time // when stopTimer fires
	restartAt    time.Time // when restartTimer fires
	queued       bool      // in the loop's start queue
	exitLog      logFold

	// Probing of the current run.
	// Its readiness (readiness probe, READY=1 or s6) and its startup
	// probe's verdict are the record's Ready and StartupDone, kept for an
	// agent that takes the run over.
	probes       *runProbes
	notifyStatus string
	mainPID      int // MAINPID= from sd_notify

	// The fence (fence.go), for an exclusive unit's instance: it waits
	// for its lease to start; fenceUntil is the end of the lease its run
	// holds, as last written to the run's lease file.
	fenceWait  bool
	fenceUntil time.Duration
	// fenceHeld: this agent has seen the run's lease held. Until then
	// (a run taken over from an earlier agent) the fence's "not held"
	// means it has not heard the voters yet, and the run goes on until
	// fenceUntil; after, it means the lease is gone.
	fenceHeld bool
}

// instanceRecord is what the store keeps of an instance.
type instanceRecord struct {
	Name string `json:"name"`
	// Unit is the owner: the unit, or for a cron unit's run its job;
	// "" when the instance is orphaned.
	Unit string `json:"unit,omitempty"`
	// Kind is the kind of the unit that made it (a cron unit's runs make
	// job instances).
	Kind units.Kind `json:"kind,omitempty"`
	// Slot is which of its unit's replicas the instance is (replicated:
	// 0..replicas−1), or which attempt of its job; 0 for per-host units,
	// whose instances are told apart by host.
	Slot int `json:"slot,omitempty"`
	// Indexed: the instance is an attempt of an indexed job, and its Slot
	// the completion index it runs, which its environment carries
	// (CompletionIndexEnv).
	Indexed     bool   `json:"indexed,omitempty"`
	Host        string `json:"host,omitempty"`
	SpecVersion string `json:"spec_version"`
	// Labels are replaced, never changed in place: the map may be shared
	// with the unit's template, the store's writer and the API's copies.
	Labels  units.Labels `json:"labels,omitempty"`
	Created time.Time    `json:"created"`
	// Rollout is the unit's restarted_at when the instance was made: a
	// rollout restart replaces the instances whose Rollout is not the
	// unit's (plan.go).
	Rollout string `json:"rollout,omitempty"`

	Life         Life `json:"life,omitzero"`
	Attempts     int  `json:"attempts"` // runs started, or tried
	RestartCount int  `json:"restart_count"`
	// Parked: the agent's shutdown ended the last run (its Last State is
	// AgentShutdown); the next start continues it and is no restart.
	Parked   bool `json:"parked,omitempty"`
	Failures int  `json:"failures"` // consecutive short runs, for back-off
	// StartLimit is the crash-loop brake (startLimit in lifecycle.go).
	StartLimit startLimit `json:"start_limit,omitzero"`
	// FailedRuns counts runs that ended in failure (not stopped by the
	// agent); LastFailure is when the newest ended. Jobs count them.
	FailedRuns  int       `json:"failed_runs,omitempty"`
	LastFailure time.Time `json:"last_failure,omitempty"`
	// State and LastState are what describe shows: the current run (or
	// the wait for the next) and the run before it.
	State     State `json:"state"`
	LastState State `json:"last_state"`
	PID       int   `json:"pid,omitempty"`
	// PIDStart is PID's start time (clock ticks since boot, as in
	// /proc/PID/stat): a process with PID but another start is not the
	// run's. 0 in records from before it was kept.
	PIDStart uint64 `json:"pid_start,omitempty"`
	// What a later agent needs to take the running process over after
	// this one was killed (adoptRun): the run's number, its cgroup, and
	// the descriptor by which the process holds its output pipe's read
	// end (0: none).
	RunGen uint64 `json:"run_gen,omitempty"`
	Cgroup string `json:"cgroup,omitempty"`
	OutFD  int    `json:"out_fd,omitempty"`
	// LogRun names the run's log (its index's run, written to disk before
	// the process starts): a later log than the record's is a run whose
	// start the store never got, the agent having been killed within the
	// moment a record waits to be written (countUnrecordedRun).
	LogRun int64 `json:"log_run,omitempty"`
	// Shim: the run's process is a shim (RunShim), whose status file
	// says how the run ended.
	Shim bool `json:"shim,omitempty"`
	// Ready and StartupDone: the run's readiness and its startup probe's
	// verdict, kept for the agent that takes the run over.
	Ready       bool `json:"ready,omitempty"`
	StartupDone bool `json:"startup_done,omitempty"`
	// FenceEpoch is, for an exclusive unit's run, the epoch of the lease
	// it started under: its fencing token (TEND_FENCING_TOKEN).
	FenceEpoch uint64 `json:"fence_epoch,omitempty"`
	// Terminating: deletion was asked for; the record goes once the
	// process has gone, also across an agent restart.
	Terminating bool `json:"terminating,omitempty"`

	// Done is how records written before Life existed said LifeExited.
	Done bool `json:"done,omitempty"`
}

// upgrade fills Life in a record written before it existed.
func (r *instanceRecord) upgrade() {
	if r.Life != 0 {
		return
	}
	switch {
	case r.Done:
		r.Life = LifeExited
	case r.State.Phase == PhaseRunning:
		r.Life = LifeRunning
	default:
		r.Life = LifePending
	}
}

// specRecord is what the store keeps of a unit version that instances were
// made from, so that a template change affects only newer instances even
// across agent restarts.
type specRecord struct {
	Path   string `json:"path"`
	Source []byte `json:"source"`
}

// unitRecord is what the store keeps of a unit itself.
type unitRecord struct {
	Created time.Time `json:"created"`
	// Gen counts the instances made for the unit; each instance's name is
	// derived from it, so no two are named alike.
	Gen uint64 `json:"gen,omitempty"`
}

// hostRecord is what the store keeps of this host: label changes made with
// `tend label host`, applied over the configuration's labels.
type hostRecord struct {
	Set     units.Labels `json:"set,omitempty"`
	Removed []string     `json:"removed,omitempty"`
}

// Phases of State, as kubectl describe shows a container's state.
const (
	PhaseWaiting    = "Waiting"
	PhaseRunning    = "Running"
	PhaseTerminated = "Terminated"
)

// ready: running, started (startup probe) and, with a readiness probe or
// readiness notification, declared ready.
func (i *instance) ready() bool {
	if i.rec.Life != LifeRunning || !i.rec.StartupDone {
		return false
	}
	return i.spec.Template.Readiness == nil || i.rec.Ready
}

// status is the STATUS column's word.
func (i *instance) status() string {
	r := &i.rec
	switch {
	case r.Terminating:
		return "Terminating"
	case r.Life.hasProcess():
		return "Running"
	case r.Life == LifeExited && r.State.Reason == reasonOOMKilled:
		return reasonOOMKilled
	case r.Life == LifeExited && r.State.ExitCode == 0:
		return "Completed"
	case r.Life == LifeExited:
		return "Error"
	case r.Life == LifeBackOff:
		return r.State.Reason // CrashLoopBackOff, StartError
	}
	return "Pending"
}

// summary is the instance as planners and other hosts see it.
func (i *instance) summary() InstanceSummary {
	r := &i.rec
	s := InstanceSummary{
		Name:        r.Name,
		Unit:        r.Unit,
		Kind:        r.Kind,
		Slot:        r.Slot,
		Host:        r.Host,
		Labels:      r.Labels,
		Life:        r.Life,
		Terminating: r.Terminating,
		Ready:       i.ready(),
		Restarts:    r.RestartCount,
		FenceEpoch:  r.FenceEpoch,
		FailedRuns:  r.FailedRuns,
		LastFailure: r.LastFailure,
		Created:     r.Created,
		Rollout:     r.Rollout,
		Status:      i.status(),
	}
	if r.Life.hasProcess() {
		s.Started = r.State.Started
		s.PID = r.PID
	}
	if r.Life == LifeExited {
		s.ExitCode = r.State.ExitCode
	}
	return s
}

// agentDir is the agent's working directory, which an instance without
// working_dir runs in (and `tend exec` beside it): the API says where.
var agentDir = sync.OnceValue(func() string {
	wd, _ := os.Getwd()
	return wd
})

// publish makes the API's copy of the instance.
func (i *instance) publish() Instance {
	t := i.spec.Template
	out := Instance{
		Name:         i.rec.Name,
		Unit:         i.rec.Unit,
		Kind:         i.rec.Kind,
		Slot:         i.rec.Slot,
		Host:         i.rec.Host,
		Labels:       i.rec.Labels,
		Command:      t.Command,
		Created:      i.rec.Created,
		Rollout:      i.rec.Rollout,
		Status:       i.status(),
		Ready:        i.ready(),
		RestartCount: i.rec.RestartCount,
		State:        i.rec.State,
		LastState:    i.rec.LastState,
		WorkingDir:   cmpOr(t.WorkingDir, agentDir()),
		User:         t.User,
		Group:        t.Group,
		NotifyStatus: i.notifyStatus,
		Env:          t.Env,
		Limits:       t.Resources.Describe(),
	}
	if i.proc != nil {
		out.PID = i.rec.PID
		out.Cgroup = i.proc.Cgroup()
	}
	if t.Liveness != nil {
		out.Liveness = t.Liveness.Describe()
	}
	if t.Readiness != nil {
		out.Readiness = t.Readiness.Describe()
	}
	if t.Startup != nil {
		out.Startup = t.Startup.Describe()
	}
	return out
}

// InstanceSummary is an instance as the planners see it, and as a host
// tells its peers of its instances: small (a couple of hundred bytes as
// JSON), and enough to decide which instance is which and which to keep.
type InstanceSummary struct {
	Name        string       `json:"name"`
	Unit        string       `json:"unit,omitempty"` // the owner; "" when orphaned
	Kind        units.Kind   `json:"kind,omitempty"`
	Slot        int          `json:"slot,omitempty"`
	Host        string       `json:"host"`
	Labels      units.Labels `json:"labels,omitempty"`
	Life        Life         `json:"life"`
	Terminating bool         `json:"terminating,omitempty"`
	Ready       bool         `json:"ready,omitempty"`
	// ExitCode is the final run's exit code when Life is LifeExited.
	ExitCode int `json:"exit_code,omitempty"`
	Restarts int `json:"restarts,omitempty"`
	// FenceEpoch is, for an exclusive unit's instance, the epoch of the
	// lease its last run started under: of two running, the later lease
	// is the one the fence let run, and the one kept.
	FenceEpoch  uint64    `json:"fence_epoch,omitempty"`
	FailedRuns  int       `json:"failed_runs,omitempty"`
	LastFailure time.Time `json:"last_failure,omitzero"`
	Created     time.Time `json:"created"`
	// Rollout is the unit's restarted_at the instance was made under.
	Rollout string `json:"rollout,omitempty"`
	// Started is when the current process started; zero without one.
	Started time.Time `json:"started,omitzero"`
	// Status is the STATUS column's word on its host; PID its process.
	Status string `json:"status,omitempty"`
	PID    int    `json:"pid,omitempty"`
	// Agent is when the agent that said this started (its Member's
	// Started); zero from agents that do not say. See stale.
	Agent time.Time `json:"agent,omitzero"`
}

// stale reports whether in was said by an earlier run of its host's agent
// than the one host (its Member) now runs: that agent died, and what it
// said of its processes no longer holds (they may have died with their
// host) until the new agent says it again, which it does in its first
// pass. Times are compared in milliseconds, as hosts tell each other.
func (in *InstanceSummary) stale(host *Member) bool {
	return host != nil && !in.Agent.IsZero() && !host.Started.IsZero() &&
		in.Agent.UnixMilli() < host.Started.UnixMilli()
}

// unknownProcess is in with its process no longer taken for granted: it
// does not count as running, and shows Unknown. An instance that had
// exited for good stays as it was: an exit is final.
func (in InstanceSummary) unknownProcess() InstanceSummary {
	if in.Life.hasProcess() {
		in.Life, in.Ready, in.Started, in.PID = LifePending, false, time.Time{}, 0
		in.Status = "Unknown"
	}
	return in
}

// remoteInstance is the API's copy of an instance of another host, from
// its summary: Unknown while its host is not Ready, as kubectl shows the
// pods of a node that stopped answering.
func remoteInstance(in InstanceSummary, hostReady bool) Instance {
	out := Instance{
		Name:         in.Name,
		Unit:         in.Unit,
		Kind:         in.Kind,
		Slot:         in.Slot,
		Host:         in.Host,
		Labels:       in.Labels,
		Created:      in.Created,
		Rollout:      in.Rollout,
		Status:       in.Status,
		Ready:        in.Ready && hostReady,
		PID:          in.PID,
		RestartCount: in.Restarts,
	}
	switch {
	case in.Life.hasProcess():
		out.State = State{Phase: PhaseRunning, Started: in.Started}
	case in.Life == LifeExited:
		out.State = State{Phase: PhaseTerminated, ExitCode: in.ExitCode}
	default:
		out.State = State{Phase: PhaseWaiting, Reason: in.Status}
	}
	if !hostReady {
		out.Status = "Unknown"
	}
	return out
}

// active: it runs or will run again, and counts toward its unit.
func (s *InstanceSummary) active() bool { return !s.Terminating && s.Life != LifeExited }

// running: it has a live process.
func (s *InstanceSummary) running() bool { return s.Life.hasProcess() }

// succeeded: it ended for good with exit code 0 (a job's completion).
func (s *InstanceSummary) succeeded() bool { return s.Life == LifeExited && s.ExitCode == 0 }

// deleteFirst orders instances for removal, as the ReplicaSet controller
// does when it scales down: not running before running, an earlier
// fence epoch before a later (an exclusive unit's summary from before a
// partition healed can still say Running), not ready before
// ready, running for less time before more, more restarts before fewer,
// newer before older, then by name and host. Every host orders the same
// summaries alike, so duplicates after a partition are resolved the same
// way everywhere.
func deleteFirst(a, b *InstanceSummary) bool {
	if a.running() != b.running() {
		return !a.running()
	}
	if a.FenceEpoch != b.FenceEpoch {
		return a.FenceEpoch < b.FenceEpoch
	}
	if a.Ready != b.Ready {
		return !a.Ready
	}
	if a.Ready && !a.Started.Equal(b.Started) {
		return a.Started.After(b.Started)
	}
	if a.Restarts != b.Restarts {
		return a.Restarts > b.Restarts
	}
	if !a.Created.Equal(b.Created) {
		return a.Created.After(b.Created)
	}
	if a.Name != b.Name {
		return a.Name > b.Name
	}
	return a.Host > b.Host
}
