package supervisor

import (
	"testing"
	"time"
)

// Exit lines: five in a minute are written, the rest folded into one
// summary written before the next line that is.
func TestLogFold(t *testing.T) {
	var f logFold
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	ms := time.Millisecond
	type step struct {
		at     time.Duration
		code   int
		write  bool
		sum    folded
		signal string
	}
	none := folded{}
	steps := []step{
		{0, 1, true, none, ""},
		{1 * ms, 1, true, none, ""},
		{2 * ms, 1, true, none, ""},
		{3 * ms, 1, true, none, ""},
		{4 * ms, 1, true, none, ""},
		{5 * ms, 1, false, none, ""},
		{6 * ms, 1, false, none, ""},
		{59 * time.Second, 1, false, none, ""},
		// The window is over: the summary, then the line.
		{60 * time.Second, 1, true, folded{n: 3, code: 1, first: at(5 * ms), final: at(59 * time.Second)}, ""},
		{60*time.Second + ms, 1, true, none, ""},
		{60*time.Second + 2*ms, 1, true, none, ""},
		{60*time.Second + 3*ms, 1, true, none, ""},
		{60*time.Second + 4*ms, 1, true, none, ""},
		{60*time.Second + 5*ms, 1, false, none, ""},
		// A different exit is written at once, after the summary.
		{60*time.Second + 6*ms, 137, true, folded{n: 1, code: 1, first: at(60*time.Second + 5*ms), final: at(60*time.Second + 5*ms)}, "SIGKILL"},
		{60*time.Second + 7*ms, 1, true, none, ""},
	}
	for k, s := range steps {
		write, sum := f.note(at(s.at), s.code, s.signal)
		if write != s.write || sum != s.sum {
			t.Fatalf("exit %d at %v: write %v, summary %+v; want %v, %+v", k+1, s.at, write, sum, s.write, s.sum)
		}
	}
	// Removal writes what is folded.
	for range 5 {
		f.note(at(61*time.Second), 1, "")
	}
	if sum := f.flush(); sum.n != 1 || sum.code != 1 {
		t.Errorf("flush: %+v, want one folded exit 1", sum)
	}
	if sum := f.flush(); sum.n != 0 {
		t.Errorf("second flush: %+v, want none", sum)
	}
}
