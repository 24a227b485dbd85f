package units

import (
	"fmt"
	"strings"
)

// RestartPolicy says when an instance that exited is started again. The
// zero value is RestartAlways, Kubernetes' default for long-running pods;
// jobs default to RestartOnFailure.
type RestartPolicy int

// The restart policies. Text forms: "always", "on-failure", "never"; the
// Kubernetes spellings "Always", "OnFailure" and "Never" are accepted too.
const (
	RestartAlways    RestartPolicy = iota // whatever the exit status
	RestartOnFailure                      // unless it exited 0
	RestartNever                          // the instance's exit is final
)

var restartPolicyNames = map[string]RestartPolicy{
	"always":     RestartAlways,
	"on-failure": RestartOnFailure,
	"onfailure":  RestartOnFailure,
	"never":      RestartNever,
}

func (p RestartPolicy) String() string {
	switch p {
	case RestartAlways:
		return "always"
	case RestartOnFailure:
		return "on-failure"
	case RestartNever:
		return "never"
	}
	return fmt.Sprintf("RestartPolicy(%d)", int(p))
}

// MarshalText implements encoding.TextMarshaler.
func (p RestartPolicy) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler, ignoring case.
func (p *RestartPolicy) UnmarshalText(b []byte) error {
	v, ok := restartPolicyNames[strings.ToLower(string(b))]
	if !ok {
		return fmt.Errorf("%q is not a restart policy (want always, on-failure or never)", b)
	}
	*p = v
	return nil
}

// ConcurrencyPolicy says what a cron unit does when a run is due while the
// previous run's job is still active. The zero value is ConcurrencyAllow.
type ConcurrencyPolicy int

// The concurrency policies. Text forms: "allow", "forbid", "replace"; the
// Kubernetes spellings "Allow", "Forbid" and "Replace" are accepted too.
const (
	ConcurrencyAllow   ConcurrencyPolicy = iota // start the new run alongside
	ConcurrencyForbid                           // skip the new run
	ConcurrencyReplace                          // stop the old run, start the new one
)

var concurrencyPolicyNames = map[string]ConcurrencyPolicy{
	"allow":   ConcurrencyAllow,
	"forbid":  ConcurrencyForbid,
	"replace": ConcurrencyReplace,
}

func (p ConcurrencyPolicy) String() string {
	switch p {
	case ConcurrencyAllow:
		return "allow"
	case ConcurrencyForbid:
		return "forbid"
	case ConcurrencyReplace:
		return "replace"
	}
	return fmt.Sprintf("ConcurrencyPolicy(%d)", int(p))
}

// MarshalText implements encoding.TextMarshaler.
func (p ConcurrencyPolicy) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler, ignoring case.
func (p *ConcurrencyPolicy) UnmarshalText(b []byte) error {
	v, ok := concurrencyPolicyNames[strings.ToLower(string(b))]
	if !ok {
		return fmt.Errorf("%q is not a concurrency policy (want allow, forbid or replace)", b)
	}
	*p = v
	return nil
}

// CatchUp says what a cron unit does about runs it missed while no agent
// was running it (within starting_deadline). The zero value is
// CatchUpLatest.
type CatchUp int

// The catch-up policies. Text forms: "latest", "skip", "all".
const (
	CatchUpLatest CatchUp = iota // run once, for the most recent missed time
	CatchUpSkip                  // run none; wait for the next scheduled time
	CatchUpAll                   // run once for every missed time
)

var catchUpNames = map[string]CatchUp{
	"latest": CatchUpLatest,
	"skip":   CatchUpSkip,
	"all":    CatchUpAll,
}

func (c CatchUp) String() string {
	switch c {
	case CatchUpLatest:
		return "latest"
	case CatchUpSkip:
		return "skip"
	case CatchUpAll:
		return "all"
	}
	return fmt.Sprintf("CatchUp(%d)", int(c))
}

// MarshalText implements encoding.TextMarshaler.
func (c CatchUp) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler, ignoring case.
func (c *CatchUp) UnmarshalText(b []byte) error {
	v, ok := catchUpNames[strings.ToLower(string(b))]
	if !ok {
		return fmt.Errorf("%q is not a catch-up policy (want latest, skip or all)", b)
	}
	*c = v
	return nil
}

// LogTarget says where an instance's output goes. The zero value is
// LogFile: tend's own files, which tend logs reads.
type LogTarget int

// The log targets. Text forms: "file", "journal", "both".
const (
	LogFile    LogTarget = iota // the run's files only
	LogJournal                  // the journal only (the files, should journald not run)
	LogBoth                     // the files and the journal
)

var logTargetNames = map[string]LogTarget{"file": LogFile, "journal": LogJournal, "both": LogBoth}

func (l LogTarget) String() string {
	switch l {
	case LogFile:
		return "file"
	case LogJournal:
		return "journal"
	case LogBoth:
		return "both"
	}
	return fmt.Sprintf("LogTarget(%d)", int(l))
}

// Files reports whether the output goes to tend's files.
func (l LogTarget) Files() bool { return l != LogJournal }

// Journal reports whether the output goes to the journal.
func (l LogTarget) Journal() bool { return l != LogFile }

// MarshalText implements encoding.TextMarshaler.
func (l LogTarget) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler, ignoring case.
func (l *LogTarget) UnmarshalText(b []byte) error {
	v, ok := logTargetNames[strings.ToLower(string(b))]
	if !ok {
		return fmt.Errorf("%q is not a log target (want file, journal or both)", b)
	}
	*l = v
	return nil
}
