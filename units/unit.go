// Package units is the schema of tend's unit files: parsing, validation,
// defaults, labels and label selectors. It is pure data: no goroutines, no
// processes, no I/O beyond reading the file it is asked to parse.
//
// A unit file has at most MaxFileSize bytes (1 MiB), is nested at most
// MaxDepth deep (16 tables and arrays, one inside another) and has no key
// longer than MaxKeyLength (512 bytes, with the names of the tables it is
// in). Parse refuses a file beyond these limits before it decodes
// anything, so that what a file costs to parse, in time and in memory,
// grows no faster than its size.
package units

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
)

// Unit is one parsed, validated and defaulted unit file. A Unit is
// immutable once returned by Parse: callers share it without copying.
// Its maps are shared too, within it: a unit without labels of its own
// has its template's Labels map as Labels and, without a [selector], as
// Selector.MatchLabels. Write none of them; copy (Labels.Clone) to change.
type Unit struct {
	Name    string // the file's stem: kubia.toml is unit "kubia"
	Path    string // the path given to Parse; Name is its stem
	Version string // hex SHA-256 of the file's bytes; equal versions mean equal specs
	// Source is the file's text, as read: the unit's one copy of it,
	// which whoever shows it shares (the API's view). The strings decoded
	// from it are copies of their own (convert in parse.go).
	Source string

	Kind   Kind
	Labels Labels // the unit's own labels; default: the template's labels, as a ReplicationController has

	// replicated
	Replicas int // default 1; 0 is allowed; 0 for the other kinds
	// Exclusive asks for at most one instance in the whole fleet at any
	// instant, even through a partition: a fenced lease rather than a
	// count that a partition may double (DESIGN §7, cluster/fence.go).
	// Only replicated units may be exclusive, and their Replicas is then
	// 0 or 1. The supervisor's fence (supervisor/fence.go) enforces it.
	Exclusive bool
	// Stopped (stopped = true, as `tend stop unit` writes it) asks for no
	// instance of the unit to run, as systemctl stop does for a service,
	// while the unit stays: replicated and per-host units stop theirs, a
	// job stops its attempts without counting them failed and starts no
	// more (Kubernetes' suspended Job), a cron unit starts no runs and
	// stops those running. Any kind.
	Stopped bool
	// RestartedAt (restarted_at, as `tend rollout restart` writes it, an
	// RFC 3339 time) asks a replicated or per-host unit to replace every
	// instance made before this value was set, one at a time, each new
	// one Ready before its old one stops. Instances remember the value
	// they were made under; the text, not the time, is compared, so
	// hosts' clocks do not matter. "" = never asked.
	RestartedAt string
	// Selector chooses the instances a replicated or per-host unit
	// manages. Defaults to the template's labels as match_labels when the
	// file has no [selector]; never empty for those kinds, and always
	// matching the template's labels. Empty for job and cron units, whose
	// instances belong to them by name.
	Selector  Selector
	Placement Placement
	Template  Template

	// job, and cron (a cron unit carries a job's keys for the jobs it makes);
	// zero for the other kinds
	Completions      int      // default 1
	Parallelism      int      // default 1
	BackoffLimit     int      // default 6
	ActiveDeadline   Duration // 0 = none
	TTLAfterFinished Duration // 0 = keep forever
	BackoffDelay     Duration // first retry delay, default 10s, doubling
	MaxBackoffDelay  Duration // default 6m

	// cron; zero for the other kinds
	Schedule          string // robfig/cron/v3 syntax, validated
	TimeZone          string // IANA name, "" = the host's; validated
	ConcurrencyPolicy ConcurrencyPolicy
	StartingDeadline  Duration // 0 = no deadline
	SuccessfulHistory int      // default 3
	FailedHistory     int      // default 1
	Suspend           bool
	CatchUp           CatchUp // default CatchUpLatest

	// Location is TimeZone loaded: time.Local when TimeZone is "". Safe
	// for concurrent use. nil for the other kinds.
	Location *time.Location `json:"-"`
	// Cron is Schedule parsed, and read in Location whatever the location
	// of the time given: Cron.Next(t) is the first run after t, in t's
	// location. Safe for concurrent use, and shared like the rest of the
	// Unit: never change it (a *cron.SpecSchedule's fields are exported).
	// nil for the other kinds.
	Cron cron.Schedule `json:"-"`
}

// UnmarshalJSON implements json.Unmarshaler. Location and Cron have no
// JSON form: they are derived again from TimeZone and Schedule, as Parse
// derives them, so a decoded cron unit is ready to use like a parsed one.
// It fails when this host does not know the time zone.
func (u *Unit) UnmarshalJSON(b []byte) error {
	type fields Unit // Unit without its methods
	if err := json.Unmarshal(b, (*fields)(u)); err != nil {
		return err
	}
	u.Location, u.Cron = nil, nil
	if u.Kind != KindCron {
		return nil
	}
	loc := time.Local
	if u.TimeZone != "" {
		l, err := time.LoadLocation(u.TimeZone)
		if err != nil {
			return fmt.Errorf("unit %q: time_zone: %w", u.Name, err)
		}
		loc = l
	}
	s, err := ParseSchedule(u.Schedule, loc)
	if err != nil {
		return fmt.Errorf("unit %q: schedule: %w", u.Name, err)
	}
	u.Location, u.Cron = loc, s
	return nil
}

// Placement says which hosts may run the unit's instances.
type Placement struct {
	NodeSelector Labels // empty = every host
}

// Template is what each instance is made from.
type Template struct {
	Labels          Labels
	Command         []string // argv; Command[0] is looked up in PATH when it has no slash
	Env             map[string]string
	WorkingDir      string
	User            string        // name or numeric uid; only applied when the agent runs as root
	Group           string        // name or numeric gid
	Restart         RestartPolicy // default always; jobs: on-failure (always is refused)
	Log             LogTarget     // where the output goes: file (default), journal or both
	StopSignal      Signal        // default SIGTERM
	StopTimeout     Duration      // default 10s; then SIGKILL to the process group
	RestartDelay    Duration      // default 100ms; doubles per consecutive failed run
	MaxRestartDelay Duration      // default 5m
	// StartLimitBurst and StartLimitInterval are the crash-loop brake,
	// as systemd's StartLimitBurst= and StartLimitIntervalSec=: restarts
	// follow RestartDelay until StartLimitBurst runs have ended within
	// StartLimitInterval; from then on each waits at least 1s, doubling up
	// to MaxRestartDelay (STATUS CrashLoopBackOff), until a run stays up
	// for StartLimitInterval. An interval of 0 turns the brake off.
	StartLimitBurst    int      // default 5; at least 1
	StartLimitInterval Duration // default 10s
	// Resources are memory_max, cpu_max and pids_max: each run's cgroup
	// v2 limits, none by default.
	Resources Resources

	Liveness  *Probe // nil = none
	Readiness *Probe
	Startup   *Probe
}

// Probe is one probe block. Exactly one mechanism is set (HTTPGet,
// TCPSocket, Exec, Notify for readiness, Watchdog for liveness,
// NotificationFD for readiness). Thresholds are at least 1, and
// SuccessThreshold is 1 for liveness and startup probes; Timeout and
// Period are more than 0.
type Probe struct {
	HTTPGet        *HTTPGetAction
	TCPSocket      *TCPSocketAction
	Exec           *ExecAction
	Notify         bool     // readiness: sd_notify READY=1
	Watchdog       Duration // liveness: WATCHDOG=1 at least this often
	NotificationFD int      // readiness: s6-style, a newline on this fd (0 = unset)

	InitialDelay     Duration // default 0
	Timeout          Duration // default 1s
	Period           Duration // default 10s
	SuccessThreshold int      // default 1
	FailureThreshold int      // default 3
}

// HTTPGetAction is a probe's http_get table.
type HTTPGetAction struct {
	Path    string // default "/"
	Port    int
	Host    string // "" = loopback
	Scheme  string // "http" (default) or "https"
	Headers map[string]string
}

// TCPSocketAction is a probe's tcp_socket table.
type TCPSocketAction struct {
	Port int
	Host string // "" = loopback
}

// ExecAction is a probe's exec table.
type ExecAction struct {
	Command []string
}
