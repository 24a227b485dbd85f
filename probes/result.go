package probes

import (
	"context"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Result is the outcome of one probe.
type Result int

const (
	// Unknown: the probe could not be run (a misconfigured prober, a
	// command that could not be started). It is reported but not counted
	// towards either threshold, as the kubelet discards errored probes.
	Unknown Result = iota
	// Success: the target answered as healthy. A Success with a non-empty
	// message is a warning (an HTTP redirect to another host).
	Success
	// Failure: the target answered as unhealthy, did not answer in time,
	// or refused the connection.
	Failure
)

// String returns "Success", "Failure" or "Unknown".
func (r Result) String() string {
	switch r {
	case Success:
		return "Success"
	case Failure:
		return "Failure"
	case Unknown:
		return "Unknown"
	}
	return "Result(" + strconv.Itoa(int(r)) + ")"
}

// A Prober checks a target once. Probe returns when it has an answer or
// when ctx is done (its deadline is the probe's timeout); it must honour
// ctx. The message says why a Failure or Unknown happened, in the
// kubelet's words; it is empty for a plain Success.
//
// The runner never calls one Prober concurrently with itself, but the
// probers in this package are also safe for concurrent use.
type Prober interface {
	Probe(ctx context.Context) (Result, string)
}

// Bounds on what a probe reads and reports.
const (
	// maxRead is what a probe reads of a response body or of a command's
	// output, as the kubelet does (10 KiB).
	maxRead = 10 << 10
	// maxMessage bounds a message, so events stay small.
	maxMessage = 1 << 10
)

// bound trims space from s and cuts it to maxMessage bytes on a rune
// boundary, marking a cut with "...".
func bound(s string) string {
	s = strings.TrimSpace(s)
	if len(s) <= maxMessage {
		return s
	}
	cut := maxMessage - len("...")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
