package supervisor

import (
	"time"

	"github.com/tendhq/tend/units"
)

// An instance is one supervised process (a Pod, in Kubernetes' words) and
// its history. The reconcile loop owns every instance: no other goroutine
// reads or writes one.
//
// Life of an instance:
//
//	          create
//	            │
//	            ▼
//	┌──────► Waiting ──────start──────► Running
//	│      (Pending, │                 │   │
//	│   CrashLoop-   │ start failed    │   │ stop (delete, scale down,
//	│    BackOff)    ▼                 │   │ liveness, agent shutdown):
//	│         back-off timer           │   ▼ stop_signal to the group,
//	│                                  │ Stopping  SIGKILL after stop_timeout
//	│                                  │   │
//	│    restart policy says again     ▼   ▼
//	└──────────────────────────────── Terminated ──► removed, when deleted
//	   (after RestartDelay)          (Completed, Error)
//
// A run's exit is delivered by the reaper with the run's generation, so an
// exit or timer that belongs to an earlier run is recognised and ignored.
type instance struct {
	rec  instanceRecord
	spec *units.Unit // the unit version this instance was made from

	// Runtime state, never persisted.
	proc     *Proc
	runlog   *RunLog
	gen      uint64 // incremented per run; exits and timers carry it
	stopping bool   // stop_signal sent, waiting for the exit
	// stopFor says why the running process is being stopped: "delete",
	// "shutdown" or "" (restart under the policy).
	stopFor     string
	cancelTimer func() bool // the pending restart or kill timer, if any
	// resume: it ran (or waited to) when the agent stopped; the first
	// reconcile decides whether it runs again.
	resume bool

	// Probing of the current run.
	probes       *runProbes
	probeReady   bool // readiness probe, READY=1 or s6 said ready
	startupDone  bool // no startup probe, or it has succeeded
	notifyStatus string
	mainPID      int // MAINPID= from sd_notify
}

// instanceRecord is what the store keeps of an instance.
type instanceRecord struct {
	Name        string       `json:"name"`
	Unit        string       `json:"unit,omitempty"` // owner; "" = orphaned
	Kind        string       `json:"kind,omitempty"` // kind of the unit it was made by
	SpecVersion string       `json:"spec_version"`
	Labels      units.Labels `json:"labels,omitempty"`
	Created     time.Time    `json:"created"`

	Attempts     int `json:"attempts"` // runs started, or tried
	RestartCount int `json:"restart_count"`
	Failures     int `json:"failures"` // consecutive short runs, for back-off
	// FailedRuns counts runs that ended in failure (not stopped by us);
	// LastFailure is when the newest ended. Jobs count them.
	FailedRuns  int       `json:"failed_runs,omitempty"`
	LastFailure time.Time `json:"last_failure,omitempty"`
	State       State     `json:"state"`
	LastState   State     `json:"last_state"`
	PID         int       `json:"pid,omitempty"`
	// Terminating: deletion was asked for; the record goes once the process
	// has gone, also across an agent restart.
	Terminating bool `json:"terminating,omitempty"`
	// Done: the restart policy let the last run end for good.
	Done bool `json:"done,omitempty"`
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
}

// hostRecord is what the store keeps of this host: label changes made with
// `tend label host`, applied over the configuration's labels.
type hostRecord struct {
	Set     units.Labels `json:"set,omitempty"`
	Removed []string     `json:"removed,omitempty"`
}

// Phases of State.
const (
	PhaseWaiting    = "Waiting"
	PhaseRunning    = "Running"
	PhaseTerminated = "Terminated"
)

func (i *instance) running() bool { return i.proc != nil }

// terminal: the instance will not run again (restart policy said so).
func (i *instance) terminal() bool { return i.rec.Done }

// ready: running, started (startup probe) and, with a readiness probe or
// readiness notification, declared ready.
func (i *instance) ready() bool {
	if i.proc == nil || i.stopping || !i.startupDone {
		return false
	}
	return i.spec.Template.Readiness == nil || i.probeReady
}

// status is the STATUS column's word.
func (i *instance) status() string {
	switch {
	case i.rec.Terminating:
		return "Terminating"
	case i.proc != nil:
		return "Running"
	case i.rec.Done && i.rec.State.ExitCode == 0:
		return "Completed"
	case i.rec.Done:
		return "Error"
	case i.rec.State.Reason == "CrashLoopBackOff":
		return "CrashLoopBackOff"
	case i.rec.State.Reason != "" && i.rec.State.Phase == PhaseWaiting && i.rec.State.Reason != "Pending":
		return i.rec.State.Reason
	}
	return "Pending"
}

// publish makes the wire copy of the instance.
func (i *instance) publish(host string) Instance {
	t := i.spec.Template
	out := Instance{
		Name:         i.rec.Name,
		Unit:         i.rec.Unit,
		Kind:         i.rec.Kind,
		Host:         host,
		Labels:       i.rec.Labels.Clone(),
		Command:      append([]string(nil), t.Command...),
		Created:      i.rec.Created,
		Status:       i.status(),
		Ready:        i.ready(),
		PID:          i.rec.PID,
		RestartCount: i.rec.RestartCount,
		State:        i.rec.State,
		LastState:    i.rec.LastState,
		WorkingDir:   t.WorkingDir,
		User:         t.User,
		NotifyStatus: i.notifyStatus,
	}
	if i.proc == nil {
		out.PID = 0
	}
	if len(t.Env) > 0 {
		out.Env = make(map[string]string, len(t.Env))
		for k, v := range t.Env {
			out.Env[k] = v
		}
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
