package supervisor

import (
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ExitStatus is how a process ended: the raw facts from wait4, kept as they
// came. The shell's and Kubernetes' single number is derived by ExitCode.
type ExitStatus struct {
	// Code is the status the process passed to exit(2), 0..255.
	// It is 0 when the process was killed by a signal.
	Code int
	// Signal is the signal that killed the process, 0 when it exited.
	Signal syscall.Signal
	// CoreDumped reports whether the kernel wrote a core dump when the
	// signal killed the process.
	CoreDumped bool
	// Time is when the exit was reaped.
	Time time.Time
}

// NewExitStatus converts a status from wait4 (of a process that has
// terminated, not merely stopped) reaped at time t.
func NewExitStatus(ws unix.WaitStatus, t time.Time) ExitStatus {
	if ws.Signaled() {
		return ExitStatus{Signal: ws.Signal(), CoreDumped: ws.CoreDump(), Time: t}
	}
	return ExitStatus{Code: ws.ExitStatus(), Time: t}
}

// Signaled reports whether a signal killed the process.
func (e ExitStatus) Signaled() bool { return e.Signal != 0 }

// Success reports whether the process exited with status 0.
func (e ExitStatus) Success() bool { return e.Signal == 0 && e.Code == 0 }

// ExitCode is the number the shell and Kubernetes report: the exit status,
// or 128 + the signal's number when a signal killed the process
// (SIGKILL → 137, SIGTERM → 143).
func (e ExitStatus) ExitCode() int {
	if e.Signaled() {
		return 128 + int(e.Signal)
	}
	return e.Code
}

// SignalName is the name of the signal that killed the process, "SIGKILL",
// or "" when it exited. A signal without a name is "SIG" and its number.
func (e ExitStatus) SignalName() string {
	if !e.Signaled() {
		return ""
	}
	if name := unix.SignalName(e.Signal); name != "" {
		return strings.ToUpper(name)
	}
	return "SIG" + strconv.Itoa(int(e.Signal))
}

// Reason is Kubernetes' word for a terminated container: "Completed" for
// exit status 0, "Error" otherwise.
func (e ExitStatus) Reason() string {
	if e.Success() {
		return "Completed"
	}
	return "Error"
}

// String is "exit status 1" or "signal SIGKILL (exit code 137)".
func (e ExitStatus) String() string {
	if !e.Signaled() {
		return "exit status " + strconv.Itoa(e.Code)
	}
	s := "signal " + e.SignalName()
	if e.CoreDumped {
		s += " (core dumped)"
	}
	return s + " (exit code " + strconv.Itoa(e.ExitCode()) + ")"
}
