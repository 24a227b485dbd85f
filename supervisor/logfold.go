package supervisor

import "time"

// Folding the agent log's repeated lines about an instance, as the
// Recorder folds repeated events: an instance in a crash loop must not
// write a line per restart (with restart_delay = "0s" and the brake off
// that is ~930 lines a second). Loop goroutine only, as the instance.

// An instance writes at most foldBurst identical exit lines in a window
// of foldWindow; the rest are counted and summed up in one line when the
// next line that is written comes (the next exit after the window, a
// different exit, the instance's removal or the agent's shutdown).
const (
	foldBurst  = 5
	foldWindow = time.Minute
)

// folded is the summary of the lines folded: n of them, from first to
// final, saying code and signal.
type folded struct {
	n            int
	code         int
	signal       string
	first, final time.Time
}

// logFold is the folding of one instance's exit lines.
type logFold struct {
	since   time.Time // the window began
	logged  int       // lines written in the window
	code    int       // what the lines said: exit code
	signal  string    // and signal
	pending folded    // the lines not written since the last one written
}

// note takes an exit with code and signal at now. It reports whether its
// line is to be written, and the summary of lines folded before it to
// write first (n > 0).
func (f *logFold) note(now time.Time, code int, signal string) (write bool, sum folded) {
	same := f.logged > 0 && code == f.code && signal == f.signal
	if !same || now.Before(f.since) || now.Sub(f.since) >= foldWindow {
		sum = f.flush()
		f.since, f.logged, f.code, f.signal = now, 0, code, signal
	}
	if f.logged < foldBurst {
		f.logged++
		return true, sum
	}
	if f.pending.n == 0 {
		f.pending = folded{code: code, signal: signal, first: now}
	}
	f.pending.n++
	f.pending.final = now
	return false, sum
}

// flush returns the summary of the lines folded so far and forgets them.
func (f *logFold) flush() folded {
	sum := f.pending
	f.pending = folded{}
	return sum
}
