package supervisor

import (
	"math"
	"time"

	"github.com/tendhq/tend/units"
)

// Restart decisions are pure functions of facts: the caller passes what
// happened (failure count, how long the run lasted, how it exited) and
// gets a decision back. Nothing here reads the clock or sleeps.

// ResetAfter is how long a run must stay up for its exit to begin a new
// series of failures (see NextFailures), as kubelet forgets a container's
// back-off after a quiet spell.
const ResetAfter = 10 * time.Minute

// RestartDelay is how long to wait before restarting after the n-th
// consecutive failed run (n ≥ 1): base × 2^(n−1), at most max. It is 0 for
// n < 1 or base ≤ 0; max ≤ 0 means no bound (short of overflow).
func RestartDelay(base, max time.Duration, consecutiveFailures int) time.Duration {
	if base <= 0 || consecutiveFailures < 1 {
		return 0
	}
	if max <= 0 {
		max = math.MaxInt64
	}
	d := base
	for i := 1; i < consecutiveFailures && d < max; i++ {
		if d > max/2 {
			return max
		}
		d *= 2
	}
	return min(d, max)
}

// NextFailures is the count of consecutive failed runs after a run that
// lasted ranFor ended, given the count prev before it: prev+1, or 1 when
// the run stayed up for ResetAfter or longer.
func NextFailures(prev int, ranFor time.Duration) int {
	if ranFor >= ResetAfter || prev < 0 {
		return 1
	}
	return prev + 1
}

// ShouldRestart reports whether an instance whose process ended with exit
// is started again under policy: always yes; on-failure unless it exited
// with status 0; never no.
func ShouldRestart(policy units.RestartPolicy, exit ExitStatus) bool {
	switch policy {
	case units.RestartAlways:
		return true
	case units.RestartOnFailure:
		return !exit.Success()
	}
	return false
}
