package units

import (
	"fmt"
	"strings"
	"time"
)

// Duration is a non-negative time.Duration written as a Go duration string
// in unit files: "100ms", "10s", "5m", "1h30m".
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats d like time.Duration without its trailing zero units:
// "5m" rather than "5m0s", "1h" rather than "1h0m0s"; "1m30s", "100ms" and
// "0s" as time.Duration has them.
func (d Duration) String() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// MarshalText implements encoding.TextMarshaler with String.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with
// time.ParseDuration, refusing negative durations.
func (d *Duration) UnmarshalText(b []byte) error {
	s := string(b)
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration (want a number with a unit, like \"100ms\", \"10s\" or \"1h30m\")", s)
	}
	if v < 0 {
		return fmt.Errorf("%q is negative (want a duration of 0s or more)", s)
	}
	*d = Duration(v)
	return nil
}
