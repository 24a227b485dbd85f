package supervisor

import (
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestExitStatus(t *testing.T) {
	at := time.Date(2026, 11, 27, 0, 45, 39, 0, time.UTC)
	for _, tc := range []struct {
		ws                 unix.WaitStatus // as wait4 encodes it
		code               int
		signal             syscall.Signal
		core               bool
		exitCode           int
		signalName, reason string
		str                string
	}{
		{0 << 8, 0, 0, false, 0, "", "Completed", "exit status 0"},
		{1 << 8, 1, 0, false, 1, "", "Error", "exit status 1"},
		{255 << 8, 255, 0, false, 255, "", "Error", "exit status 255"},
		{unix.WaitStatus(syscall.SIGKILL), 0, syscall.SIGKILL, false, 137, "SIGKILL", "Error", "signal SIGKILL (exit code 137)"},
		{unix.WaitStatus(syscall.SIGTERM), 0, syscall.SIGTERM, false, 143, "SIGTERM", "Error", "signal SIGTERM (exit code 143)"},
		{unix.WaitStatus(syscall.SIGSEGV) | 0x80, 0, syscall.SIGSEGV, true, 139, "SIGSEGV", "Error", "signal SIGSEGV (core dumped) (exit code 139)"},
		{40, 0, 40, false, 168, "SIG40", "Error", "signal SIG40 (exit code 168)"},
	} {
		st := NewExitStatus(tc.ws, at)
		want := ExitStatus{Code: tc.code, Signal: tc.signal, CoreDumped: tc.core, Time: at}
		if st != want {
			t.Errorf("NewExitStatus(%#x) = %+v, want %+v", uint32(tc.ws), st, want)
			continue
		}
		if st.ExitCode() != tc.exitCode || st.SignalName() != tc.signalName || st.Reason() != tc.reason ||
			st.String() != tc.str || st.Signaled() != (tc.signal != 0) || st.Success() != (tc.exitCode == 0) {
			t.Errorf("%+v: ExitCode %d, SignalName %q, Reason %q, String %q; want %d, %q, %q, %q",
				st, st.ExitCode(), st.SignalName(), st.Reason(), st.String(),
				tc.exitCode, tc.signalName, tc.reason, tc.str)
		}
	}
}
