package supervisor

import (
	"math"
	"syscall"
	"testing"
	"time"

	"github.com/tendhq/tend/units"
)

func TestRestartDelay(t *testing.T) {
	const s, ms = time.Second, time.Millisecond
	for _, tc := range []struct {
		base, max time.Duration
		n         int
		want      time.Duration
	}{
		{10 * s, 5 * time.Minute, 0, 0},
		{10 * s, 5 * time.Minute, -1, 0},
		{10 * s, 5 * time.Minute, 1, 10 * s},
		{10 * s, 5 * time.Minute, 2, 20 * s},
		{10 * s, 5 * time.Minute, 3, 40 * s},
		{10 * s, 5 * time.Minute, 5, 160 * s},
		{10 * s, 5 * time.Minute, 6, 5 * time.Minute},
		{10 * s, 5 * time.Minute, 64, 5 * time.Minute},
		{10 * s, 5 * time.Minute, math.MaxInt, 5 * time.Minute},
		{100 * ms, 10 * s, 3, 400 * ms},
		{100 * ms, 10 * s, 8, 10 * s},
		{0, 10 * s, 5, 0},
		{-s, 10 * s, 5, 0},
		{10 * s, 5 * s, 1, 5 * s},                         // max below base
		{s, 0, 11, 1024 * s},                              // no bound
		{s, 0, math.MaxInt, time.Duration(math.MaxInt64)}, // saturates
		{time.Duration(math.MaxInt64/2 + 1), 0, 2, time.Duration(math.MaxInt64)},
	} {
		if got := RestartDelay(tc.base, tc.max, tc.n); got != tc.want {
			t.Errorf("RestartDelay(%v, %v, %d) = %v, want %v", tc.base, tc.max, tc.n, got, tc.want)
		}
	}
}

func TestNextFailures(t *testing.T) {
	for _, tc := range []struct {
		prev   int
		ranFor time.Duration
		want   int
	}{
		{0, 0, 1},
		{0, time.Second, 1},
		{1, time.Second, 2},
		{5, ResetAfter - time.Nanosecond, 6},
		{5, ResetAfter, 1},
		{5, time.Hour, 1},
		{0, ResetAfter, 1},
		{-3, time.Second, 1},
	} {
		if got := NextFailures(tc.prev, tc.ranFor); got != tc.want {
			t.Errorf("NextFailures(%d, %v) = %d, want %d", tc.prev, tc.ranFor, got, tc.want)
		}
	}
}

func TestShouldRestart(t *testing.T) {
	ok := ExitStatus{}
	failed := ExitStatus{Code: 1}
	killed := ExitStatus{Signal: syscall.SIGKILL}
	for _, tc := range []struct {
		policy units.RestartPolicy
		exit   ExitStatus
		want   bool
	}{
		{units.RestartAlways, ok, true},
		{units.RestartAlways, failed, true},
		{units.RestartAlways, killed, true},
		{units.RestartOnFailure, ok, false},
		{units.RestartOnFailure, failed, true},
		{units.RestartOnFailure, killed, true},
		{units.RestartNever, ok, false},
		{units.RestartNever, failed, false},
		{units.RestartNever, killed, false},
	} {
		if got := ShouldRestart(tc.policy, tc.exit); got != tc.want {
			t.Errorf("ShouldRestart(%v, %s) = %v, want %v", tc.policy, tc.exit, got, tc.want)
		}
	}
}
