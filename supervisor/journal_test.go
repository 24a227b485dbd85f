package supervisor

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-systemd/v22/journal"
)

// fakeJournal records what a journalOut sends, as journald would.
type fakeJournal struct {
	mu      sync.Mutex
	entries []journalEntry
	fail    error
	errs    []string
	j       *journalOut
}

func (f *fakeJournal) out(t testing.TB) *journalOut {
	t.Cleanup(func() { f.j.close(10 * time.Second) })
	f.j = &journalOut{
		send: func(msg string, p journal.Priority, vars map[string]string) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			if f.fail != nil {
				return f.fail
			}
			v := make(map[string]string, len(vars))
			for k, x := range vars {
				v[k] = x
			}
			f.entries = append(f.entries, journalEntry{msg: msg, pri: p, vars: v})
			return nil
		},
		enabled: func() bool { return true },
		wait:    10 * time.Millisecond, // not journalWait's second: the stalled test waits it once
		log: func(instance string, err error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.errs = append(f.errs, instance+": "+err.Error())
		},
	}
	return f.j
}

// sent ends the sender once it has sent what was queued.
func (f *fakeJournal) sent(t testing.TB) {
	t.Helper()
	f.j.close(10 * time.Second)
}

func (f *fakeJournal) messages() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, e := range f.entries {
		out = append(out, fmt.Sprintf("%d %s", e.pri, e.msg))
	}
	return out
}

// Each line of a run is one entry, tagged with its instance and main
// process, its "<N>" prefix its priority; a line longer than the files'
// limit is split as they split it; an unended last line is sent at the
// end. With the journal alone the files stay empty.
func TestRunLogToTheJournal(t *testing.T) {
	for _, files := range []bool{true, false} {
		t.Run(fmt.Sprintf("files=%v", files), func(t *testing.T) {
			dir := t.TempDir()
			fj := &fakeJournal{}
			sink := fj.out(t).sink("kubia-7hjkc", "kubia", "edge-1")
			sink.setPID(4242)
			l, err := openRunLog(dir, 0, runOutput{sink: sink, noFiles: !files})
			if err != nil {
				t.Fatal(err)
			}
			long := strings.Repeat("x", maxLine+10)
			if _, err := io.WriteString(l.Writer(), "hello\n\n<3>an error\n<9>not a level\n"+long+"\nunfinished"); err != nil {
				t.Fatal(err)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			fj.sent(t)
			want := []string{"6 hello", "6 ", "3 an error", "6 <9>not a level", "6 " + long[:maxLine], "6 " + long[maxLine:], "6 unfinished"}
			if got := fj.messages(); strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("entries:\n%.200q\nwant:\n%.200q", got, want)
			}
			for k, v := range map[string]string{"SYSLOG_IDENTIFIER": "tend/kubia-7hjkc", "TEND_INSTANCE": "kubia-7hjkc",
				"TEND_UNIT": "kubia", "TEND_HOST": "edge-1", "SYSLOG_PID": "4242"} {
				if got := fj.entries[0].vars[k]; got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			b, err := os.ReadFile(filepath.Join(dir, currentLog))
			if err != nil {
				t.Fatal(err)
			}
			if files != (len(b) > 0) {
				t.Errorf("files=%v, current.log holds %d bytes", files, len(b))
			}
		})
	}
}

// handedOver writes before to a run logged to the journal, hands the
// run over mid-line, writes after, ends the run under the next copier,
// and returns the entries sent.
func handedOver(t *testing.T, before, after string) string {
	t.Helper()
	dir := t.TempDir()
	fj := &fakeJournal{}
	j := fj.out(t)
	sink := func() runOutput {
		k := j.sink("a-1", "a", "h")
		k.setPID(7)
		return runOutput{sink: k}
	}
	l, err := openRunLog(dir, 0, sink())
	if err != nil {
		t.Fatal(err)
	}
	w := writeStored(t, l, dir, before)
	defer w.Close()
	r, st, err := l.detachFD()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, after)
	l2 := adoptRunLog(dir, 0, r, st, sink())
	w.Close()
	if err := l2.Close(); err != nil {
		t.Fatal(err)
	}
	fj.sent(t)
	return strings.Join(fj.messages(), "|")
}

// Across a handover a line begun before it is sent in two entries, the
// part read before and the rest after, and nothing twice; a run that ends
// just after the handover sends no empty entry (the next copier read
// nothing of the line).
func TestRunLogToTheJournalAcrossAHandover(t *testing.T) {
	if got, want := handedOver(t, "one\ntwo and a half", " the rest\nthree\n"), "6 one|6 two and a half|6  the rest|6 three"; got != want {
		t.Errorf("entries %q, want %q", got, want)
	}
	if got, want := handedOver(t, "half", ""), "6 half"; got != want {
		t.Errorf("a run ended after the handover: entries %q, want %q", got, want)
	}
}

// A journal that refuses is logged once per run, and the files still get
// every line.
func TestRunLogJournalFailure(t *testing.T) {
	dir := t.TempDir()
	fj := &fakeJournal{fail: errors.New("connection refused")}
	sink := fj.out(t).sink("a-1", "a", "h")
	l, err := openRunLog(dir, 0, runOutput{sink: sink})
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(l.Writer(), "one\ntwo\n")
	sink.setPID(0) // the start failed: the lines go on without a PID
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	fj.sent(t)
	fj.mu.Lock()
	defer fj.mu.Unlock()
	if len(fj.errs) != 1 || fj.errs[0] != "a-1: connection refused" {
		t.Errorf("errors logged: %q", fj.errs)
	}
	if got := readLog(t, dir, all); got != "one\ntwo\n" {
		t.Errorf("files: %q", got)
	}
}

// A journald that stops reading stops neither the instance nor the end
// of its run: the lines past the queue are dropped, logged once, and the
// files keep every line.
func TestRunLogJournalStalled(t *testing.T) {
	dir := t.TempDir()
	fj := &fakeJournal{}
	j := fj.out(t)
	release := make(chan struct{})
	send := j.send
	j.send = func(msg string, p journal.Priority, vars map[string]string) error {
		<-release // journald reads nothing
		return send(msg, p, vars)
	}
	sink := j.sink("a-1", "a", "h")
	sink.setPID(7)
	l, err := openRunLog(dir, 0, runOutput{sink: sink})
	if err != nil {
		t.Fatal(err)
	}
	const lines = 3 * journalQueue
	var out strings.Builder
	for i := range lines {
		fmt.Fprintf(&out, "line %d\n", i)
	}
	done := make(chan error, 1)
	go func() {
		_, err := io.WriteString(l.Writer(), out.String())
		l.CloseWriter()
		if err == nil {
			err = l.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the run's output and its end waited for a journald that reads nothing")
	}
	if got := strings.Count(readLog(t, dir, all), "\n"); got != lines {
		t.Errorf("the files hold %d lines of %d", got, lines)
	}
	close(release)
	fj.sent(t)
	fj.mu.Lock()
	defer fj.mu.Unlock()
	if n := len(fj.entries); n < journalQueue || n >= lines {
		t.Errorf("%d entries reached the journal: want the queue's %d (and the one being sent), not all %d", n, journalQueue, lines)
	}
	if len(fj.errs) != 1 || !strings.Contains(fj.errs[0], "journald takes no lines") {
		t.Errorf("logged: %q", fj.errs)
	}
}

// BenchmarkRunLogJournal is the copier's cost per line: to the files
// alone, and to the files and a real datagram socket in the journal's
// native protocol (go-systemd's journal.Send). The journal's socket is
// set at link time, so:
//
//	go test -run '^$' -bench RunLogJournal -ldflags \
//	  "-X github.com/coreos/go-systemd/v22/journal.journalSocket=/tmp/tend-bench-journal.sock" ./supervisor
//
// Without the flag the journal case is skipped.
func BenchmarkRunLogJournal(b *testing.B) {
	const sock = "/tmp/tend-bench-journal.sock"
	line := []byte(strings.Repeat("x", 80) + "\n")
	for _, tc := range []struct {
		name string
		out  func() runOutput
	}{
		{"files", func() runOutput { return runOutput{} }},
		{"both", func() runOutput {
			j := defaultJournal()
			b.Cleanup(func() { j.close(10 * time.Second) })
			k := j.sink("bench-1", "bench", "h")
			k.setPID(1)
			return runOutput{sink: k}
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			if tc.name == "both" {
				if journal.Enabled() {
					b.Skip("a journal answers already: this benchmark sends only to a socket of its own (see its comment)")
				}
				os.Remove(sock)
				ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
				if err != nil {
					b.Fatal(err)
				}
				defer ln.Close()
				defer os.Remove(sock)
				ln.SetReadBuffer(8 << 20)
				go func() {
					buf := make([]byte, 1<<16)
					for {
						if _, _, err := ln.ReadFromUnix(buf); err != nil {
							return
						}
					}
				}()
				if !journal.Enabled() {
					b.Skip("the journal's socket is not this benchmark's: see its comment")
				}
			}
			l, err := openRunLog(b.TempDir(), 0, tc.out())
			if err != nil {
				b.Fatal(err)
			}
			w := l.Writer()
			b.SetBytes(int64(len(line)))
			b.ResetTimer()
			for b.Loop() {
				w.Write(line)
			}
			l.CloseWriter()
			l.Close()
		})
	}
}
