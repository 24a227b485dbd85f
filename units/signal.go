package units

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Signal is a signal written by name or number in unit files: "SIGTERM",
// "TERM", "sigterm" and "15" are the same signal.
type Signal syscall.Signal

// maxSignal is the highest signal number accepted (SIGRTMAX on Linux).
const maxSignal = 64

// SignalName returns the conventional name of s, like "SIGKILL", or
// "SIG37" for a signal without one (the real-time signals).
func SignalName(s syscall.Signal) string {
	if name := unix.SignalName(s); name != "" {
		return name
	}
	return "SIG" + strconv.Itoa(int(s))
}

// ParseSignal parses a signal's name, with or without "SIG" and in any
// case, or its number, bare or as "SIG37" (the form SignalName gives
// signals without a name).
func ParseSignal(s string) (Signal, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	if n, err := strconv.Atoi(strings.TrimPrefix(t, "SIG")); err == nil {
		if n < 1 || n > maxSignal {
			return 0, fmt.Errorf("%q is not a signal (want a name like SIGTERM or a number from 1 to %d)", s, maxSignal)
		}
		return Signal(n), nil
	}
	if !strings.HasPrefix(t, "SIG") {
		t = "SIG" + t
	}
	if n := unix.SignalNum(t); n != 0 {
		return Signal(n), nil
	}
	return 0, fmt.Errorf("%q is not a signal (want a name like SIGTERM or a number from 1 to %d)", s, maxSignal)
}

// S returns s as a syscall.Signal.
func (s Signal) S() syscall.Signal { return syscall.Signal(s) }

// String returns the signal's name, as SignalName does.
func (s Signal) String() string { return SignalName(syscall.Signal(s)) }

// MarshalText implements encoding.TextMarshaler with String.
func (s Signal) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with ParseSignal.
func (s *Signal) UnmarshalText(b []byte) error {
	v, err := ParseSignal(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}
