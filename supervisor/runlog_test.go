package supervisor

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

var stampedLine = regexp.MustCompile(`^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z) (.*)$`)

// writeRun writes a whole run's output, then closes it.
func writeRun(t testing.TB, dir string, maxBytes int64, output string) {
	t.Helper()
	l, err := OpenRunLog(dir, maxBytes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(l.Writer(), output); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

func readLog(t testing.TB, dir string, opts LogOptions) string {
	t.Helper()
	rc, err := ReadLog(context.Background(), dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var all = LogOptions{Tail: -1}

func TestRunLogStamps(t *testing.T) {
	dir := t.TempDir()
	before := time.Now()
	writeRun(t, dir, 0, "hello\n\nworld\nunfinished")
	after := time.Now()

	data, err := os.ReadFile(filepath.Join(dir, currentLog))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(data), "\n")
	if lines[len(lines)-1] != "" {
		t.Fatalf("log does not end with a newline: %q", data)
	}
	var texts []string
	for _, l := range lines[:len(lines)-1] {
		m := stampedLine.FindStringSubmatch(strings.TrimSuffix(l, "\n"))
		if m == nil {
			t.Fatalf("line %q is not stamped", l)
		}
		ts, err := time.Parse(time.RFC3339Nano, m[1])
		if err != nil {
			t.Fatal(err)
		}
		if ts.Before(before.Truncate(time.Microsecond)) || ts.After(after) {
			t.Errorf("stamp %v not within [%v, %v]", ts, before, after)
		}
		texts = append(texts, m[2])
	}
	if got, want := strings.Join(texts, "|"), "hello||world|unfinished"; got != want {
		t.Errorf("lines %q, want %q", got, want)
	}
	if got, want := readLog(t, dir, all), "hello\n\nworld\nunfinished\n"; got != want {
		t.Errorf("ReadLog = %q, want %q", got, want)
	}
	if got := readLog(t, dir, LogOptions{Tail: -1, Timestamps: true}); got != string(data) {
		t.Errorf("ReadLog with time stamps = %q, want the file %q", got, data)
	}
	fi, err := os.Stat(filepath.Join(dir, currentLog))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != endedPerm {
		t.Errorf("ended run's log has mode %v, want %v", fi.Mode().Perm(), endedPerm)
	}
}

func TestRunLogLongLines(t *testing.T) {
	dir := t.TempDir()
	long := strings.Repeat("x", 2*maxLine+100)
	writeRun(t, dir, 0, long+"\nshort\n")
	want := strings.Repeat("x", maxLine) + "\n" + strings.Repeat("x", maxLine) + "\n" +
		strings.Repeat("x", 100) + "\nshort\n"
	if got := readLog(t, dir, all); got != want {
		t.Errorf("got %d bytes, want %d: long lines not split at %d", len(got), len(want), maxLine)
	}
}

// The output of a real process, stdout and stderr, goes into the log.
func TestRunLogOfProcess(t *testing.T) {
	r, _ := newTestReaper(t)
	dir := t.TempDir()
	l, err := OpenRunLog(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	spec := helperSpec(t, "print:hello")
	spec.Stdout, spec.Stderr = l.Writer(), l.Writer()
	h := startHelper(t, r, spec)
	l.CloseWriter()
	if l.Writer() != nil {
		t.Error("Writer after CloseWriter is not nil")
	}
	h.wait(t)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := readLog(t, dir, all), "hello\nhello on stderr\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestRunLogPrevious(t *testing.T) {
	dir := t.TempDir()
	_, err := ReadLog(context.Background(), dir, LogOptions{Previous: true, Tail: -1})
	if !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), "no previous run") {
		t.Errorf("no runs, previous: %v", err)
	}
	_, err = ReadLog(context.Background(), dir, all)
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("no runs, current: %v", err)
	}

	writeRun(t, dir, 0, "one\n")
	_, err = ReadLog(context.Background(), dir, LogOptions{Previous: true, Tail: -1})
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("one run, previous: %v", err)
	}
	writeRun(t, dir, 0, "two\n")
	if got := readLog(t, dir, LogOptions{Previous: true, Tail: -1}); got != "one\n" {
		t.Errorf("previous = %q, want one", got)
	}
	if got := readLog(t, dir, all); got != "two\n" {
		t.Errorf("current = %q, want two", got)
	}

	// A run rotated by size becomes previous with both parts; the next
	// run's previous has no stale older part.
	writeRun(t, dir, 10, "three-a\nthree-b\nthree-c\n")
	if got := readLog(t, dir, all); got != "three-b\nthree-c\n" {
		t.Errorf("current = %q", got)
	}
	writeRun(t, dir, 0, "four\n")
	if got := readLog(t, dir, LogOptions{Previous: true, Tail: -1}); got != "three-b\nthree-c\n" {
		t.Errorf("previous = %q, want three-b, three-c", got)
	}
	writeRun(t, dir, 0, "five\n")
	if got := readLog(t, dir, LogOptions{Previous: true, Tail: -1}); got != "four\n" {
		t.Errorf("previous = %q, want four", got)
	}
	if _, err := os.Stat(filepath.Join(dir, previousLog+rotatedSuffix)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale %s: %v", previousLog+rotatedSuffix, err)
	}
}

func TestRunLogRotation(t *testing.T) {
	const maxBytes = 1000
	dir := t.TempDir()
	var out strings.Builder
	for i := range 100 {
		fmt.Fprintf(&out, "line %03d %s\n", i, strings.Repeat("-", 40))
	}
	writeRun(t, dir, maxBytes, out.String())

	var total int64
	for _, name := range []string{currentLog, currentLog + rotatedSuffix} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > maxBytes+100 {
			t.Errorf("%s has %d bytes, bound %d", name, fi.Size(), maxBytes)
		}
		total += fi.Size()
	}
	if total > 2*maxBytes+100 {
		t.Errorf("the run takes %d bytes, want about 2×%d at most", total, maxBytes)
	}
	got := readLog(t, dir, all)
	if !strings.HasSuffix(out.String(), got) || !strings.HasSuffix(got, "line 099 "+strings.Repeat("-", 40)+"\n") {
		t.Errorf("after rotation, got %q: not the output's last lines", got)
	}
	if n := strings.Count(got, "\n"); n < 10 {
		t.Errorf("only %d lines kept", n)
	}
}

func TestReadLogTail(t *testing.T) {
	dir := t.TempDir()
	// Lines of 10 bytes + a 31-byte stamp, 3 lines a file: the tail spans
	// current.log.1 and current.log.
	writeRun(t, dir, 100, "l1\nl2\nl3\nl4\nl5\nl6\nl7\n")
	if _, err := os.Stat(filepath.Join(dir, currentLog+rotatedSuffix)); err != nil {
		t.Fatal(err)
	}
	kept := readLog(t, dir, all)
	for _, tc := range []struct {
		tail int
		want string
	}{
		{-1, kept},
		{0, ""},
		{1, "l7\n"},
		{2, "l6\nl7\n"},
		{4, strings.Join(strings.SplitAfter(kept, "\n")[strings.Count(kept, "\n")-4:], "")},
		{100, kept},
	} {
		if got := readLog(t, dir, LogOptions{Tail: tc.tail}); got != tc.want {
			t.Errorf("tail %d: got %q, want %q", tc.tail, got, tc.want)
		}
	}
	stamped := readLog(t, dir, LogOptions{Tail: 2, Timestamps: true})
	if lines := strings.Split(strings.TrimSuffix(stamped, "\n"), "\n"); len(lines) != 2 || !stampedLine.MatchString(lines[0]) {
		t.Errorf("tail 2 with time stamps: %q", stamped)
	}
}

// followLines reads the log with Follow in a goroutine; the channel closes
// at the end of the stream. The goroutine ends before the test does.
func followLines(t testing.TB, ctx context.Context, dir string, opts LogOptions) <-chan string {
	t.Helper()
	opts.Follow = true
	rc, err := ReadLog(ctx, dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	c := make(chan string, 1000)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(c)
		sc := bufio.NewScanner(rc)
		for sc.Scan() {
			c <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		rc.Close()
		<-done
	})
	return c
}

func expectEOF(t testing.TB, lines <-chan string) {
	t.Helper()
	select {
	case l, ok := <-lines:
		if ok {
			t.Fatalf("got %q, want the end", l)
		}
	case <-time.After(testDeadline):
		t.Fatal("follow did not end")
	}
}

func TestReadLogFollow(t *testing.T) {
	dir := t.TempDir()
	writeRun(t, dir, 0, "old run\n")
	l, err := OpenRunLog(dir, 120) // about two lines a file
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	w := l.Writer()
	io.WriteString(w, "first\n")
	lines := followLines(t, context.Background(), dir, LogOptions{Tail: -1})
	if got := nextLine(t, lines); got != "first" {
		t.Fatalf("got %q, want first", got)
	}
	// Lines written while following arrive, across rotations by size.
	for i := range 10 {
		want := fmt.Sprintf("line %d %s", i, strings.Repeat("=", 30))
		io.WriteString(w, want+"\n")
		if got := nextLine(t, lines); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, currentLog+rotatedSuffix)); err != nil {
		t.Errorf("no rotation happened: %v", err)
	}
	// The end of the run ends the stream, after its last lines.
	io.WriteString(w, "last\n")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got := nextLine(t, lines); got != "last" {
		t.Fatalf("got %q, want last", got)
	}
	expectEOF(t, lines)

	// Following an ended run prints it and ends.
	lines = followLines(t, context.Background(), dir, LogOptions{Tail: 1})
	if got := nextLine(t, lines); got != "last" {
		t.Fatalf("got %q, want last", got)
	}
	expectEOF(t, lines)
}

func TestReadLogFollowEnds(t *testing.T) {
	dir := t.TempDir()
	l, err := OpenRunLog(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	// when ctx ends
	ctx, cancel := context.WithCancel(context.Background())
	lines := followLines(t, ctx, dir, LogOptions{Tail: 0})
	io.WriteString(l.Writer(), "a\n")
	if got := nextLine(t, lines); got != "a" {
		t.Fatalf("got %q, want a", got)
	}
	cancel()
	expectEOF(t, lines)

	// when the reader is closed
	rc, err := ReadLog(context.Background(), dir, LogOptions{Tail: 0, Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := rc.Read(make([]byte, 10))
		errc <- err
	}()
	rc.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, os.ErrClosed) {
			t.Errorf("Read after Close: %v, want os.ErrClosed", err)
		}
	case <-time.After(testDeadline):
		t.Fatal("Close did not end a blocked Read")
	}

	// when the run ends and the next begins
	lines = followLines(t, context.Background(), dir, LogOptions{Tail: -1})
	if got := nextLine(t, lines); got != "a" {
		t.Fatalf("got %q, want a", got)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	writeRun(t, dir, 0, "next run\n")
	expectEOF(t, lines)
}

// Close does not wait for a process that keeps the pipe open, beyond a
// short drain.
func TestRunLogCloseWithWriterHeld(t *testing.T) {
	dir := t.TempDir()
	l, err := OpenRunLog(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	fd, err := syscall.Dup(int(l.Writer().Fd()))
	if err != nil {
		t.Fatal(err)
	}
	held := os.NewFile(uintptr(fd), "held") // as a grandchild would
	defer held.Close()
	io.WriteString(held, "from the grandchild\n")
	start := time.Now()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 50*drainTimeout {
		t.Errorf("Close took %v", d)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if got := readLog(t, dir, all); got != "from the grandchild\n" {
		t.Errorf("got %q", got)
	}
}

// TestRunLogMemory reports the memory of idle run logs, as an agent with
// 1000 instances holds them.
func TestRunLogMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	const n = 200
	dir := t.TempDir()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	logs := make([]*RunLog, n)
	for i := range logs {
		l, err := OpenRunLog(filepath.Join(dir, fmt.Sprint(i)), 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(l.Writer(), "started\n") // the write end stays open, as a running instance holds it
		logs[i] = l
	}
	for _, l := range logs {
		defer l.Close()
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perLog := (int64(after.HeapInuse+after.StackInuse) - int64(before.HeapInuse+before.StackInuse)) / n
	t.Logf("idle run log: about %d bytes each (heap + stack)", perLog)
}

// seqLine is line i of a sequence-numbered output: 32 bytes with its
// newline, 63 stored with its time stamp, so that a file of at most
// 1000 bytes holds exactly 16 lines.
func seqLine(i int) string { return fmt.Sprintf("seq %06d %s\n", i, strings.Repeat(".", 20)) }

// writeSeq writes lines from..to of the sequence to w and waits until
// the log's copier has stored the last of them.
func writeSeq(t *testing.T, dir string, w io.Writer, from, to int) {
	t.Helper()
	var b strings.Builder
	for i := from; i <= to; i++ {
		b.WriteString(seqLine(i))
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		t.Fatal(err)
	}
	last := strings.TrimSuffix(seqLine(to), "\n")
	deadline := time.Now().Add(testDeadline)
	for {
		data, _ := os.ReadFile(filepath.Join(dir, currentLog))
		if strings.Contains(string(data), last) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v, the log has not stored %q", testDeadline, last)
		}
		time.Sleep(time.Millisecond) // polling a file, with a deadline
	}
}

// seqFollower reads a follower of sequence-numbered output and checks
// that every line is the one after the last, or, after a *LogSkipped,
// exactly as many lines and bytes further on as it announced.
type seqFollower struct {
	t       *testing.T
	r       *bufio.Reader
	next    int // the line expected next
	skips   []LogSkipped
	skipped int64 // lines announced by the last skip, not yet seen missing
}

// readThrough reads until line last, failing at any line out of order,
// any gap not announced and any end of the stream.
func (f *seqFollower) readThrough(last int) {
	f.t.Helper()
	for f.next <= last {
		line, err := f.r.ReadString('\n')
		var skip *LogSkipped
		if errors.As(err, &skip) {
			if line != "" {
				f.t.Fatalf("a skip in the middle of a line, after %q", line)
			}
			if skip.Bytes != skip.Lines*int64(len(seqLine(0))) {
				f.t.Fatalf("skip of %d lines announced %d bytes, want %d", skip.Lines, skip.Bytes, skip.Lines*int64(len(seqLine(0))))
			}
			f.skips = append(f.skips, *skip)
			f.skipped += skip.Lines
			continue
		}
		if err != nil {
			f.t.Fatalf("the stream ended (%v) before line %d, waiting for line %d, while the run goes on", err, f.next, last)
		}
		var i int
		if _, err := fmt.Sscanf(line, "seq %06d", &i); err != nil || line != seqLine(i) {
			f.t.Fatalf("line %q is not of the sequence", line)
		}
		if want := f.next + int(f.skipped); i != want {
			f.t.Fatalf("got line %d, want %d (after line %d and %d lines announced skipped)", i, want, f.next-1, f.skipped)
		}
		f.next, f.skipped = i+1, 0
	}
}

// TestReadLogFollowBehind pauses a follower (it reads nothing) while the
// run writes on and rotates its log, then lets it read again: a follower
// whose next unread byte is still kept (it holds its file open) loses and
// repeats nothing; one that fell further behind goes on from the oldest
// output kept, after one *LogSkipped that counts the lines it lost. It
// keeps following in every case, until the run ends.
func TestReadLogFollowBehind(t *testing.T) {
	for _, tc := range []struct {
		name     string
		paused   int // lines written while the follower is paused
		wantSkip bool
	}{
		{"one rotation", 20, false},
		// The follower's file is gone, the next one is whole.
		{"two rotations", 40, false},
		{"three rotations", 55, true},
		{"sixty rotations", 1000, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l, err := OpenRunLog(dir, 1000) // 16 lines a file
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			w := l.Writer()
			ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
			defer cancel()
			rc, err := ReadLog(ctx, dir, LogOptions{Follow: true, Tail: -1})
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			f := &seqFollower{t: t, r: bufio.NewReaderSize(rc, 16)}
			writeSeq(t, dir, w, 0, 0)
			f.readThrough(0)

			writeSeq(t, dir, w, 1, tc.paused) // the follower reads nothing meanwhile
			f.readThrough(tc.paused)
			if got := len(f.skips) > 0; got != tc.wantSkip {
				t.Errorf("skips %+v, want a skip: %v", f.skips, tc.wantSkip)
			}
			t.Logf("skips: %+v", f.skips)
			if len(f.skips) > 1 {
				t.Errorf("%d skips %+v, want one", len(f.skips), f.skips)
			}

			// Still following, it reads what comes next, and ends with the run.
			writeSeq(t, dir, w, tc.paused+1, tc.paused+1)
			f.readThrough(tc.paused + 1)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if rest, err := io.ReadAll(f.r); err != nil || len(rest) != 0 {
				t.Errorf("after the run ended: %q, %v; want EOF", rest, err)
			}
		})
	}
}

// A run's log handed over in the middle of a line goes on in the same
// line: one time stamp, nothing lost or stored twice, and output written
// while nobody read waits in the pipe. Rotation and the index go on
// where they were.
func TestRunLogDetachAdopt(t *testing.T) {
	dir := t.TempDir()
	l, err := OpenRunLog(dir, 150)
	if err != nil {
		t.Fatal(err)
	}
	w := writeStored(t, l, dir, "one\ntwo and a half")
	defer w.Close()
	r, st, err := l.Detach()
	if err != nil || r == nil {
		t.Fatalf("Detach: %v, %v", r, err)
	}
	if st.AtStart || st.Lines != 1 {
		t.Fatalf("state %+v: want mid-line after one line", st)
	}
	l.Close() // after Detach: nothing
	io.WriteString(w, " the rest\nthree\n")
	if b, _ := os.ReadFile(filepath.Join(dir, currentLog)); strings.Contains(string(b), "rest") {
		t.Fatalf("a detached log still copies: %q", b)
	}
	l2 := AdoptRunLog(dir, 150, r, st)
	io.WriteString(w, strings.Repeat("x", 70)+"\nlast")
	w.Close()
	if err := l2.Close(); err != nil {
		t.Fatal(err)
	}
	got := readLog(t, dir, all)
	want := "one\ntwo and a half the rest\nthree\n" + strings.Repeat("x", 70) + "\nlast\n"
	if got != want {
		t.Fatalf("log across the handover:\n%q\nwant\n%q", got, want)
	}
	x, err := readIndex(filepath.Join(dir, currentLog))
	if err != nil {
		t.Fatal(err)
	}
	if x.run != st.Run || len(x.entries) < 2 {
		t.Fatalf("index after a rotation by the adopter: %+v (run %d)", x, st.Run)
	}
}

// writeStored takes the run's writer over from l (as the process holds
// it), writes out to it, and waits until the copier has stored it in
// dir's current.log: else a Detach may come first and leave it in the
// pipe (which would be fine too, but not what the callers test).
func writeStored(t *testing.T, l *RunLog, dir, out string) *os.File {
	t.Helper()
	w, err := os.OpenFile("/dev/fd/"+fmt.Sprint(l.Writer().Fd()), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	l.CloseWriter()
	io.WriteString(w, out)
	// The stored log ends as out's last line does (its stamp is before).
	last := out[strings.LastIndexByte(strings.TrimSuffix(out, "\n"), '\n')+1:]
	for deadline := time.Now().Add(testDeadline); ; time.Sleep(time.Millisecond) {
		b, _ := os.ReadFile(filepath.Join(dir, currentLog))
		if strings.HasSuffix(string(b), last) {
			return w
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q not stored within %v; %s holds %q", last, testDeadline, currentLog, b)
		}
	}
}

// After a kill -9 there is no handover: the next agent learns where the
// log ends from its files (runLogState), reading only their tail. It goes
// on in the same line, and the lines it did not count are counted when
// the log rotates, so the index still says how many lines came before
// each file.
func TestRunLogTakenOverFromItsFiles(t *testing.T) {
	dir := t.TempDir()
	l, err := OpenRunLog(dir, 600) // one rotation: both files kept
	if err != nil {
		t.Fatal(err)
	}
	w, err := os.OpenFile("/dev/fd/"+fmt.Sprint(l.Writer().Fd()), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	l.CloseWriter()
	writeSeq(t, dir, w, 0, 2)
	io.WriteString(w, "half")
	for deadline := time.Now().Add(testDeadline); ; time.Sleep(time.Millisecond) {
		if b, _ := os.ReadFile(filepath.Join(dir, currentLog)); strings.HasSuffix(string(b), "half") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the copier did not store the half line")
		}
	}
	r, known, err := l.Detach() // the copier stops, as if its agent were killed
	if err != nil {
		t.Fatal(err)
	}
	st, err := runLogState(filepath.Join(dir, currentLog))
	if err != nil {
		t.Fatal(err)
	}
	if st.Size != known.Size || st.AtStart || st.LineLen != known.LineLen || st.Lines != -1 || st.Run != known.Run {
		t.Fatalf("from the files %+v, the copier knew %+v", st, known)
	}
	l2 := AdoptRunLog(dir, 600, r, st)
	io.WriteString(w, " and the rest\n")
	for i := 3; i < 12; i++ {
		io.WriteString(w, seqLine(i))
	}
	w.Close()
	if err := l2.Close(); err != nil {
		t.Fatal(err)
	}
	got := readLog(t, dir, all)
	var want strings.Builder
	for i := range 12 {
		if want.WriteString(seqLine(i)); i == 2 {
			want.WriteString("half and the rest\n")
		}
	}
	if got != want.String() {
		t.Fatalf("log across the takeover:\n%q\nwant\n%q", got, want.String())
	}
	x, err := readIndex(filepath.Join(dir, currentLog))
	if err != nil {
		t.Fatal(err)
	}
	cur, _ := os.ReadFile(filepath.Join(dir, currentLog))
	before := int64(strings.Count(got, "\n") - strings.Count(string(cur), "\n"))
	if len(x.entries) < 2 || x.last().lines != before {
		t.Fatalf("index %+v: the current file should begin after %d lines", x, before)
	}
}

// What the next agent reads of a run's log to take the run over, by the
// log's size (a log is up to LogMaxBytes, 8 MiB by default).
func BenchmarkRunLogState(b *testing.B) {
	for _, size := range []int{4 << 10, 1 << 20, 8 << 20} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			dir := b.TempDir()
			line := strings.Repeat("x", 99) + "\n"
			if err := os.WriteFile(filepath.Join(dir, currentLog), []byte(strings.Repeat(line, size/len(line))), 0o644); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := runLogState(filepath.Join(dir, currentLog)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
