package supervisor

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// Idle instances cost no goroutine: their pipes wait in the epoll set.
// A goroutine a run, parked on its pipe, cost its stack (2 to 8 KiB)
// for as long as the instance ran.
func TestIdleRunLogsHoldNoGoroutine(t *testing.T) {
	const n = 200
	dir := t.TempDir()
	outputPoller() // its goroutine, once for the process, before counting
	before := runtime.NumGoroutine()
	logs := make([]*RunLog, n)
	for i := range logs {
		l, err := OpenRunLog(filepath.Join(dir, fmt.Sprint(i)), 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		logs[i] = l
		if _, err := io.WriteString(l.Writer(), "started\n"); err != nil {
			t.Fatal(err)
		}
	}
	// Every log has copied its line, and its copy has ended.
	for i := range logs {
		waitFor(t, fmt.Sprintf("log %d stores its line", i), func() bool {
			b, _ := os.ReadFile(filepath.Join(dir, fmt.Sprint(i), currentLog))
			return strings.HasSuffix(string(b), " started\n")
		})
	}
	waitFor(t, "the copies to end", func() bool { return runtime.NumGoroutine() < before+n/10 })
	// And output that comes later is copied as the first was.
	io.WriteString(logs[n-1].Writer(), "later\n")
	if err := logs[n-1].Close(); err != nil {
		t.Fatal(err)
	}
	if got := readLog(t, filepath.Join(dir, fmt.Sprint(n-1)), all); got != "started\nlater\n" {
		t.Fatalf("got %q", got)
	}
}

// A run handed over again and again while it writes (a handover every
// few lines, Detach in the middle of a burst or between two) loses no
// line and stores none twice, whichever of the copy and Detach owns the
// pipe when Detach comes.
func TestRunLogHandedOverWhileWriting(t *testing.T) {
	const lines, handovers = 20000, 60
	dir := t.TempDir()
	l, err := OpenRunLog(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	w, err := os.OpenFile("/dev/fd/"+fmt.Sprint(l.Writer().Fd()), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	l.CloseWriter()
	// The writer writes a part of the lines for each handover, taking a
	// token for each part: a handover comes while its part is being
	// written or just after, never once all is written, however the
	// machine's load spreads the two goroutines.
	const part = lines / handovers
	next, wrote := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(wrote)
		for i := range lines {
			if i%part == 0 && i/part < handovers {
				<-next
			}
			if _, err := io.WriteString(w, seqLine(i)); err != nil {
				t.Errorf("write %d: %v", i, err)
				return
			}
			if i%7 == 0 {
				runtime.Gosched() // bursts of a few lines, and pauses
			}
		}
	})
	during := 0 // handovers with some of the output stored, not all
	for k := range handovers {
		select {
		case next <- struct{}{}:
		case <-wrote: // it failed
		}
		r, st, err := l.Detach()
		if err != nil || r == nil {
			t.Fatalf("handover %d: %v, %v", k, r, err)
		}
		if st.Lines > 0 && st.Lines < lines {
			during++
		}
		l = AdoptRunLog(dir, 0, r, st)
		time.Sleep(time.Duration(k%3) * 100 * time.Microsecond) // let it copy some, or not
	}
	wg.Wait()
	w.Close() // the output ends once the handovers are done
	if during < handovers/2 {
		t.Errorf("%d of %d handovers came while the output was being written: the test tests little", during, handovers)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(readLog(t, dir, all), "\n"), "\n")
	if len(got) != lines {
		t.Errorf("%d lines stored, of %d written", len(got), lines)
	}
	for k, line := range got {
		if want := strings.TrimSuffix(seqLine(k), "\n"); line != want {
			t.Fatalf("line %d: %q, want %q", k, line, want)
		}
	}
}

// waitFor polls cond until it holds, failing the test at testDeadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(testDeadline); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: waiting for %s", testDeadline, what)
		}
	}
}
