package supervisor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// An instance's log directory holds the output of its current run and of
// the run before:
//
//	current.log     the current run (its newest part)
//	current.log.1   the current run's older part, after a rotation by size
//	previous.log    the previous run (newest part)
//	previous.log.1  the previous run's older part
//
// Every line is "<RFC 3339 UTC time stamp with nanoseconds> <output>\n".
// A file of a run in progress has mode 0640; when the run's output ends its
// last file is made read-only (0440), which tells followers to stop.
//
// Beside each run's files, current.idx (previous.idx) says where in the
// run each of its recent files begins, so that a follower that fell
// behind rotation knows how much it lost (see runIndex).
const (
	currentLog    = "current.log"
	previousLog   = "previous.log"
	rotatedSuffix = ".1"
	indexSuffix   = ".idx" // current.idx beside current.log

	stampLayout = "2006-01-02T15:04:05.000000000Z07:00" // fixed width
	maxLine     = 16 << 10                              // longer lines are split
	readChunk   = 4 << 10
	outBuf      = 2 * readChunk // at least a chunk, a stamp and a newline

	logPerm   os.FileMode = 0o640
	endedPerm os.FileMode = 0o440

	// drainTimeout bounds how long Close reads output still arriving, from
	// processes that outlive the run and hold the pipe open.
	drainTimeout = 100 * time.Millisecond
	drainMax     = 1 << 20
	// followPoll is how often a follower looks for appended output.
	followPoll = 100 * time.Millisecond

	// stampLen is the length of a line's time stamp and the space after it.
	stampLen = len("2006-01-02T15:04:05.000000000Z ")
	// indexKeep is how many of a run's latest files its index describes:
	// the two kept, and a few more for a follower that opened a file just
	// before it was rotated away.
	indexKeep = 8
)

// A RunLog stores the output of one run of an instance: stdout and stderr
// share one pipe, whose read end is copied into the run's file, a time
// stamp before each line.
//
// The pipe waits in the agent's one epoll set (logpoll.go) while it is
// empty; when output comes, a goroutine copies it until the pipe runs
// dry, with buffers from a pool and the log file open only for that
// burst. So an idle instance costs no goroutine, no buffer and one file
// descriptor, the pipe's read end (two before CloseWriter). Every
// descriptor the agent holds would be copied into each process it forks
// (were it not for the spawner, see spawner.go): a thousand idle
// instances holding their log files open made each start about 40 µs
// slower.
//
// Ownership: at any time one party owns the pipe's read end and the
// copier's fields below: the epoll set while the RunLog is idle (the
// pipe armed, no copy running), the copy it started (burst) while
// busy, or the one that ends the log (the copy at EOF; Close's deadline,
// expire; Detach). Who owns it changes only under mu, and only the owner
// re-arms the pipe, takes it out of the set or closes it.
//
// Writer and CloseWriter may be called from any goroutine; Close too.
type RunLog struct {
	dir      string
	maxBytes int64
	fd       int    // the pipe's read end, non-blocking; -1 when the output had ended at adoption
	pollID   uint64 // its entry in the epoll set (logPoller)
	polled   bool   // it is in the set; else the copy polls it alone (waitReadable)

	wmu sync.Mutex
	w   *os.File // write end, nil after CloseWriter

	// mu guards state, and the setting of expired and detaching.
	mu    sync.Mutex
	state logState
	// Requests of Close and Detach, read by the copy between two reads.
	expired   atomic.Bool // Close's drainTimeout has passed: drain what is there and end
	detaching atomic.Bool // Detach: stop between two reads, keep the pipe

	// The owner's (see above) until done is closed.
	file    *os.File // current.log while a burst is written; else nil
	size    int64    // bytes in file
	atStart bool     // the next byte begins a line
	lineLen int      // bytes of the line being written
	err     error    // first error writing the log
	failed  bool     // current.log could not be opened: output is dropped
	lines   int64    // lines ended in file; with linesUnknown, those this copier ended
	// linesUnknown: the file was begun by another agent and its lines not
	// counted (AdoptRunLog with Lines < 0); rotate counts them, the one
	// time they are needed.
	linesUnknown bool
	index        runIndex // where the run's latest files begin

	done      chan struct{}
	closeOnce sync.Once
	detached  bool // the log ended by Detach
	// inInstance is the descriptor number of the pipe's read end in the
	// instance's process (see spawn), 0 for none.
	inInstance int

	// out is where else the lines go (the journal); the owner's.
	out runOutput
	// part is the line being read, for out.sink: a line is sent whole;
	// partOpen says this copier has read some of it (an empty line too),
	// so that it is sent even when empty.
	part     []byte
	partOpen bool
}

// logState is who owns a RunLog's pipe (see RunLog).
type logState uint8

const (
	logIdle  logState = iota // the epoll set: the pipe is armed
	logBusy                  // a copy, or what ends the log
	logEnded                 // done is closed
)

// A lineSink takes a run's output a line at a time, without the newline,
// as the copier reads it: a line longer than maxLine comes as parts of
// maxLine bytes, each one line, as the run's files split it. Called on
// the copier goroutine only.
type lineSink interface {
	line(p []byte)
	setPID(pid int) // the run's main process, 0 for none: lines may wait for it (any goroutine)
	hurry()         // the log is closing: line must not wait long (any goroutine)
}

// runOutput says where a run's output goes besides, or instead of, its
// files. The zero runOutput is the files alone.
type runOutput struct {
	sink    lineSink // nil: none
	noFiles bool     // the sink alone: the files stay empty
}

// RunLogState is what a RunLog's copier knows of the run's files beyond
// what they hold, handed to the agent that takes the run over
// (RunLog.Detach, AdoptRunLog) so that it goes on where this one stopped:
// in the middle of a line, if that is where the output was.
type RunLogState struct {
	AtStart bool  `json:"at_start"`
	LineLen int   `json:"line_len"`
	Size    int64 `json:"size"`
	Lines   int64 `json:"lines"`
	// Run and Index are the run's index (runIndex): its start and, for
	// each of its latest files, inode, bytes and lines before it.
	Run   int64      `json:"run"`
	Index [][3]int64 `json:"index"`
}

// logBuf is the copier's working memory while output flows.
type logBuf struct {
	in  [readChunk]byte
	out []byte
}

var logBufs = sync.Pool{New: func() any { return &logBuf{out: make([]byte, 0, outBuf)} }}

// OpenRunLog starts the log of a new run in dir, creating dir if needed:
// the last run's files become previous.log (and previous.log.1), replacing
// the run before, and a fresh current.log is created. maxBytes bounds
// current.log: beyond it, the file becomes current.log.1 (replacing an
// older one) and a fresh current.log follows, so a run keeps at most about
// 2×maxBytes on disk. maxBytes ≤ 0 means no bound.
//
// The RunLog of the last run in dir must have been closed.
func OpenRunLog(dir string, maxBytes int64) (*RunLog, error) {
	return openRunLog(dir, maxBytes, runOutput{})
}

// openRunLog is OpenRunLog with the output sent to out too.
func openRunLog(dir string, maxBytes int64, out runOutput) (*RunLog, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("open run log: %w", err)
	}
	cur := filepath.Join(dir, currentLog)
	prev := filepath.Join(dir, previousLog)
	if _, err := os.Lstat(cur); err == nil {
		// The index first, so that its run never names files of a later run.
		err := os.Rename(indexName(cur), indexName(prev))
		if errors.Is(err, os.ErrNotExist) {
			err = os.Remove(indexName(prev))
			if errors.Is(err, os.ErrNotExist) {
				err = nil
			}
		}
		if err != nil {
			return nil, fmt.Errorf("open run log: rotate: %w", err)
		}
		// The older part first, so previous.log never pairs with a
		// previous.log.1 of another run for longer than this takes.
		err = os.Rename(cur+rotatedSuffix, prev+rotatedSuffix)
		if errors.Is(err, os.ErrNotExist) {
			err = os.Remove(prev + rotatedSuffix)
			if errors.Is(err, os.ErrNotExist) {
				err = nil
			}
		}
		if err != nil {
			return nil, fmt.Errorf("open run log: rotate: %w", err)
		}
		if err := os.Rename(cur, prev); err != nil {
			return nil, fmt.Errorf("open run log: rotate: %w", err)
		}
		os.Chmod(prev, endedPerm) // already, unless the last agent was killed
	}
	f, err := createLog(cur)
	if err != nil {
		return nil, fmt.Errorf("open run log: %w", err)
	}
	index := runIndex{run: time.Now().UnixNano()}
	err = index.add(f, logPos{})
	f.Close() // opened again when output comes
	if err == nil {
		err = index.write(cur)
	}
	if err != nil {
		return nil, fmt.Errorf("open run log: %w", err)
	}
	// The read end is non-blocking, for the copy; the write end blocks,
	// as a process's standard output does.
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return nil, fmt.Errorf("open run log: pipe: %w", err)
	}
	if err := unix.SetNonblock(p[0], true); err != nil {
		unix.Close(p[0])
		unix.Close(p[1])
		return nil, fmt.Errorf("open run log: pipe: %w", err)
	}
	w := os.NewFile(uintptr(p[1]), "|1")
	l := &RunLog{dir: dir, maxBytes: maxBytes, fd: p[0], w: w, atStart: true, index: index, done: make(chan struct{}), out: out}
	if err := l.watch(); err != nil {
		unix.Close(p[0])
		w.Close()
		return nil, fmt.Errorf("open run log: %w", err)
	}
	return l, nil
}

// watch puts the pipe in the epoll set. A run taken over whose pipe the
// set refuses (adoptRunLog) is copied by a goroutine that polls it alone.
func (l *RunLog) watch() error {
	p, err := outputPoller()
	if err != nil {
		return err
	}
	l.polled = true // before the pipe is armed: a copy may start at once
	if err := p.add(l); err != nil {
		l.polled = false // it never was
		return err
	}
	return nil
}

// createLog creates an empty log file open for appending. Plain system
// calls, as writeSmall's: an *os.File from os.OpenFile is offered to the
// runtime's poller, which refuses a regular file, four calls more.
func createLog(name string) (*os.File, error) {
	fd, err := unix.Open(name, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC|unix.O_APPEND|unix.O_CLOEXEC, uint32(logPerm))
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	if err := unix.Fchmod(fd, uint32(logPerm)); err != nil { // whatever the umask
		unix.Close(fd)
		return nil, &os.PathError{Op: "chmod", Path: name, Err: err}
	}
	return os.NewFile(uintptr(fd), name), nil
}

// Writer is the pipe's write end, to give the process as Stdout and Stderr.
// It is nil after CloseWriter.
func (l *RunLog) Writer() *os.File {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	return l.w
}

// CloseWriter closes the agent's copy of the write end. Call it right after
// the process has started (or failed to), so that the log sees the end of
// the output when the process group is done with it. Idempotent.
func (l *RunLog) CloseWriter() error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.w == nil {
		return nil
	}
	err := l.w.Close()
	l.w = nil
	return err
}

// Close ends the run's log; call it when the process has exited. It copies
// what is still in the pipe, waiting at most drainTimeout for more from
// processes that outlive the run and still hold the pipe, marks the run
// ended for followers, and returns once the log has ended, with the first
// error met writing it. Called while the process runs, it cuts the output
// short. Idempotent.
func (l *RunLog) Close() error {
	l.closeOnce.Do(func() {
		l.CloseWriter()
		if l.out.sink != nil {
			l.out.sink.hurry()
		}
		// EOF, which comes once every writer is gone, ends the log
		// before the deadline unless a process that outlives the run
		// holds the pipe.
		deadline := time.AfterFunc(drainTimeout, l.expire)
		<-l.done
		deadline.Stop()
	})
	return l.err
}

// Detach stops the copier between two reads, without draining, ending
// the last line or closing the pipe, and returns the pipe's read end and
// where the copier was, for AdoptRunLog in the agent that takes the run
// over. Output written meanwhile waits in the pipe (a writer blocks once
// it is full), so nothing is lost or stored twice. The RunLog is done
// with: Close after Detach does nothing. Call it at most once, instead
// of Close, while the process runs.
func (l *RunLog) Detach() (*os.File, RunLogState, error) {
	fd, st, err := l.detachFD()
	if fd < 0 {
		return nil, st, err
	}
	return os.NewFile(uintptr(fd), "output pipe"), st, err
}

// detachFD is Detach with the read end as a descriptor, -1 for none.
func (l *RunLog) detachFD() (int, RunLogState, error) {
	l.CloseWriter()
	if l.out.sink != nil {
		l.out.sink.hurry()
	}
	l.mu.Lock()
	l.detaching.Store(true)
	mine := l.take()
	l.mu.Unlock()
	if mine {
		l.detach()
	}
	<-l.done
	l.closeOnce.Do(func() {})
	if !l.detached {
		return -1, RunLogState{}, fmt.Errorf("run log %s: the output had ended already", l.dir)
	}
	st := RunLogState{AtStart: l.atStart, LineLen: l.lineLen, Size: l.size, Lines: l.lines, Run: l.index.run}
	if l.linesUnknown {
		st.Lines = -1
	}
	for _, e := range l.index.entries {
		st.Index = append(st.Index, [3]int64{int64(e.ino), e.base.bytes, e.base.lines})
	}
	return l.fd, st, l.err
}

// AdoptRunLog goes on with the log of a run in dir that another agent
// started (OpenRunLog) and handed over (Detach): r is the pipe's read
// end, st where that agent's copier stopped. The run's files stay as
// they are; the copier appends to current.log. A nil r is a run whose
// output had ended before the handover: the RunLog is ended already.
func AdoptRunLog(dir string, maxBytes int64, r *os.File, st RunLogState) *RunLog {
	fd := -1
	if r != nil {
		// A descriptor of the RunLog's own, out of Go's poller.
		if rc, err := r.SyscallConn(); err == nil {
			rc.Control(func(u uintptr) { fd, _ = unix.FcntlInt(u, unix.F_DUPFD_CLOEXEC, 0) })
		}
		r.Close()
	}
	return adoptRunLog(dir, maxBytes, fd, st, runOutput{})
}

// adoptRunLog is AdoptRunLog with the read end as a descriptor (the
// RunLog's from now on, non-blocking; -1 for none) and the output sent
// to out too. A
// line that the last copier had begun to read goes to out.sink from
// where this one begins: what the other had read of it was sent then.
func adoptRunLog(dir string, maxBytes int64, fd int, st RunLogState, out runOutput) *RunLog {
	l := &RunLog{dir: dir, maxBytes: maxBytes, fd: fd, out: out, atStart: st.AtStart, lineLen: st.LineLen,
		size: st.Size, lines: max(st.Lines, 0), linesUnknown: st.Lines < 0, index: runIndex{run: st.Run}, done: make(chan struct{})}
	for _, e := range st.Index {
		l.index.entries = append(l.index.entries, indexEntry{ino: uint64(e[0]), base: logPos{bytes: e[1], lines: e[2]}})
	}
	if fd < 0 {
		l.state = logEnded
		close(l.done)
		return l
	}
	if err := l.watch(); err != nil {
		// Never lost for that: copied by a goroutine that polls the pipe.
		l.setErr(err)
		l.state = logBusy
		go l.burst()
	}
	return l
}

// readable is the epoll set's report that the pipe has output, or has
// ended: a copy starts, unless the RunLog is owned by another already.
func (l *RunLog) readable() {
	l.mu.Lock()
	if l.state != logIdle {
		l.mu.Unlock()
		return
	}
	l.state = logBusy
	l.mu.Unlock()
	go l.burst()
}

// burst copies the pipe into the log until it runs dry, then gives the
// pipe back to the epoll set; or it ends the log: at EOF, when Close's
// deadline has passed, or for Detach. It runs as the owner.
func (l *RunLog) burst() {
	var b *logBuf
	release := func() {
		if b != nil {
			logBufs.Put(b)
			b = nil
		}
	}
	for {
		if l.detaching.Load() {
			release()
			l.detach()
			return
		}
		if l.expired.Load() {
			release()
			l.drain()
			l.end()
			return
		}
		if b == nil {
			b = logBufs.Get().(*logBuf)
		}
		n, err := readFD(l.fd, b.in[:])
		if err == unix.EAGAIN {
			release()
			l.closeFile() // the burst is over
			if len(l.part) == 0 {
				l.part = nil // nor is a line of it held
			}
			if l.idle() {
				return
			}
			if !l.detaching.Load() && !l.expired.Load() {
				waitReadable(l.fd) // not in the epoll set
			}
			continue
		}
		if err != nil || n <= 0 {
			release()
			l.end() // EOF, or a read error
			return
		}
		l.write(b, b.in[:n], time.Now())
	}
}

// readFD reads fd once, again if interrupted.
func readFD(fd int, p []byte) (int, error) {
	for {
		n, err := unix.Read(fd, p)
		if err != unix.EINTR {
			return n, err
		}
	}
}

// idle gives the pipe back to the epoll set, re-armed, unless Close's
// deadline has passed or Detach is waiting (the owner goes on and ends
// the log) or the pipe is not in the set; it reports whether it did.
func (l *RunLog) idle() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.polled || l.detaching.Load() || l.expired.Load() {
		return false
	}
	if err := poller.rearm(l); err != nil {
		l.setErr(fmt.Errorf("output poller: re-arm the pipe: %w", err))
		l.polled = false // polled alone from now on
		return false
	}
	l.state = logIdle
	return true
}

// take makes the caller the owner of an idle RunLog, after it has set
// what it asks (Close's deadline, Detach): it reports whether it did; if
// not, the copy running sees the request between two reads.
func (l *RunLog) take() bool {
	if l.state != logIdle {
		return false
	}
	l.state = logBusy
	return true
}

// expire is Close's deadline: what is left in the pipe is drained and
// the log ends, by the copy running or, if none, here.
func (l *RunLog) expire() {
	l.mu.Lock()
	l.expired.Store(true)
	mine := l.take()
	l.mu.Unlock()
	if mine {
		l.drain()
		l.end()
	}
}

// end ends the log as its output has ended: the last line is ended, the
// run's file marked ended for followers, and the pipe closed. Called by
// the owner.
func (l *RunLog) end() {
	if !l.atStart {
		l.writeFile([]byte{'\n'}) // end the last, unfinished line
	}
	l.sendPart()
	l.closeFile()
	if !l.failed {
		l.setErr(os.Chmod(filepath.Join(l.dir, currentLog), endedPerm))
	}
	if l.polled {
		poller.remove(l)
	}
	unix.Close(l.fd)
	l.finish()
}

// detach ends the copy for Detach, between two reads: the pipe leaves
// the epoll set and stays open, for the agent that takes the run over.
// Called by the owner.
func (l *RunLog) detach() {
	l.sendPart() // a journal entry cannot be continued by the next agent
	l.closeFile()
	if l.polled {
		poller.remove(l)
	}
	l.detached = true
	l.finish()
}

// finish marks the log ended; the owner's last act.
func (l *RunLog) finish() {
	l.mu.Lock()
	l.state = logEnded
	l.mu.Unlock()
	close(l.done)
}

// drain copies what the pipe holds when Close's deadline has passed
// (busy as the machine may have been), until the pipe is empty or at EOF,
// and at most drainMax bytes, lest a process that outlives the run keep
// the copier forever. Called by the owner.
func (l *RunLog) drain() {
	b := logBufs.Get().(*logBuf)
	defer logBufs.Put(b)
	for total := 0; total < drainMax; {
		n, err := readFD(l.fd, b.in[:])
		if err != nil || n <= 0 {
			return // EAGAIN: empty; 0: EOF
		}
		l.write(b, b.in[:n], time.Now())
		total += n
	}
}

// write stamps the lines of in with now and appends them to the log,
// splitting lines longer than maxLine and rotating by size between lines.
func (l *RunLog) write(b *logBuf, in []byte, now time.Time) {
	out := b.out[:0]
	now = now.UTC()
	for len(in) > 0 {
		if l.atStart {
			if l.maxBytes > 0 && l.size+int64(len(out)) > l.maxBytes {
				out = l.flush(out)
				l.rotate() // lazily, so that current.log is never empty
			}
			if len(out)+len(stampLayout)+1 > cap(out) {
				out = l.flush(out)
			}
			out = now.AppendFormat(out, stampLayout)
			out = append(out, ' ')
			l.atStart, l.lineLen = false, 0
		}
		seg := in[:min(len(in), maxLine-l.lineLen)]
		end := false
		if i := bytes.IndexByte(seg, '\n'); i >= 0 {
			seg, end = seg[:i+1], true
		}
		if len(out)+len(seg)+1 > cap(out) {
			out = l.flush(out)
		}
		out = append(out, seg...)
		in = in[len(seg):]
		l.lineLen += len(seg)
		if l.out.sink != nil {
			l.part = append(l.part, bytes.TrimSuffix(seg, []byte{'\n'})...)
			l.partOpen = true
		}
		if !end && l.lineLen == maxLine {
			out = append(out, '\n')
			end = true
		}
		if end {
			l.lines++
			l.sendPart()
		}
		l.atStart = end
	}
	b.out = l.flush(out)
}

// sendPart sends the line read so far to the sink, if there is one.
func (l *RunLog) sendPart() {
	if l.out.sink != nil && l.partOpen {
		l.out.sink.line(l.part)
	}
	l.part, l.partOpen = l.part[:0], false
}

func (l *RunLog) flush(out []byte) []byte {
	l.writeFile(out)
	return out[:0]
}

func (l *RunLog) writeFile(p []byte) {
	if len(p) == 0 || l.failed || l.out.noFiles {
		return
	}
	if l.file == nil {
		f, err := os.OpenFile(filepath.Join(l.dir, currentLog), os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			l.fail(err)
			return
		}
		l.file = f
	}
	n, err := l.file.Write(p)
	l.size += int64(n)
	l.setErr(err) // and go on draining the pipe, so the process never blocks
}

// closeFile closes current.log between bursts of output.
func (l *RunLog) closeFile() {
	if l.file != nil {
		l.setErr(l.file.Close())
		l.file = nil
	}
}

// fail gives up writing the log after err: the pipe is still drained, so
// the process never blocks on its output.
func (l *RunLog) fail(err error) {
	l.setErr(err)
	l.failed = true
}

// countLines counts the lines ended in the file at path.
func countLines(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var n int64
	buf := make([]byte, 64<<10)
	for {
		k, err := f.Read(buf)
		n += int64(bytes.Count(buf[:k], []byte{'\n'}))
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// rotate moves current.log to current.log.1 and starts a fresh current.log.
func (l *RunLog) rotate() {
	if l.failed {
		return
	}
	// The next file is made under a temporary name and entered in the
	// index before it takes the name current.log: a follower that opens
	// current.log then always finds it in the index. (Were it named
	// first, a follower could look it up in the index written before it,
	// and find there a file of the same inode number, deleted and reused:
	// it would count its place in the run wrong.)
	cur := filepath.Join(l.dir, currentLog)
	next := filepath.Join(l.dir, "."+currentLog+".next")
	l.closeFile()
	base := l.index.last()
	base.bytes += l.size
	if l.linesUnknown {
		n, err := countLines(cur)
		l.setErr(err)
		base.lines += n
	} else {
		base.lines += l.lines
	}
	l.size, l.lines, l.linesUnknown = 0, 0, false
	f, err := createLog(next)
	if err != nil {
		l.setErr(os.Rename(cur, cur+rotatedSuffix))
		l.fail(err)
		return
	}
	l.file = f
	err = l.index.add(f, base)
	if err == nil {
		err = l.index.write(cur)
	}
	l.setErr(err) // followers that fall behind cannot count what they lost
	l.setErr(os.Rename(cur, cur+rotatedSuffix))
	l.setErr(os.Rename(next, cur))
}

func (l *RunLog) setErr(err error) {
	if err != nil && l.err == nil {
		l.err = fmt.Errorf("run log %s: %w", l.dir, err)
	}
}

// ReadLog opens the stored output of the current run in dir (or with
// opts.Previous of the run before), older part first. Without
// opts.Timestamps each line's time stamp is left out; with opts.Tail ≥ 0
// only the last Tail lines are returned; with opts.Follow (current run
// only) the reader then waits for more output until ctx is done, the run's
// output ends, or the reader is closed (ctx done and the end of the run
// both end it with io.EOF). A follower that falls behind rotation goes on
// from the oldest output kept: Read returns a *LogSkipped for the gap,
// then what follows it. A missing run is an error wrapping os.ErrNotExist.
//
// The reader holds no goroutine; Read must not be called concurrently,
// Close may be called at any time (it makes a blocked Read return).
func ReadLog(ctx context.Context, dir string, opts LogOptions) (io.ReadCloser, error) {
	name := currentLog
	if opts.Previous {
		name = previousLog
	}
	files, err := openRun(filepath.Join(dir, name))
	if errors.Is(err, os.ErrNotExist) {
		if opts.Previous {
			return nil, fmt.Errorf("no previous run (%w)", err)
		}
		return nil, fmt.Errorf("no run yet (%w)", err)
	}
	if err != nil {
		return nil, fmt.Errorf("read log: %w", err)
	}
	if opts.Tail >= 0 {
		if files, err = seekTail(files, opts.Tail); err != nil {
			closeAll(files)
			return nil, fmt.Errorf("read log: %w", err)
		}
	}
	r := &logReader{
		ctx:     ctx,
		dir:     dir,
		follow:  opts.Follow && !opts.Previous,
		stamps:  opts.Timestamps,
		files:   files,
		inStamp: true,
		closed:  make(chan struct{}),
	}
	if r.follow {
		r.bases = make(map[*os.File]logPos)
		if x, err := readIndex(filepath.Join(dir, name)); err == nil {
			r.run = x.run
			r.learn(x, files)
		}
	}
	if !r.stamps {
		r.buf = make([]byte, 32<<10)
	}
	return r, nil
}

// openRun opens a run's files, name+".1" (if there) and name, retrying if
// a rotation happens in between.
func openRun(name string) ([]*os.File, error) {
	for attempt := 0; ; attempt++ {
		older, err := os.Open(name + rotatedSuffix)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		newer, err := os.Open(name)
		if err != nil {
			closeAll([]*os.File{older})
			return nil, err
		}
		files := []*os.File{newer}
		if older != nil {
			files = []*os.File{older, newer}
		}
		if attempt == 2 || sameAsNamed(older, name+rotatedSuffix) {
			return files, nil
		}
		closeAll(files)
	}
}

// sameAsNamed reports whether name is (still) the file f, or both are
// absent (f nil and no file at name).
func sameAsNamed(f *os.File, name string) bool {
	fi, err := os.Stat(name)
	if f == nil {
		return errors.Is(err, os.ErrNotExist)
	}
	ffi, ferr := f.Stat()
	return err == nil && ferr == nil && os.SameFile(fi, ffi)
}

func closeAll(files []*os.File) {
	for _, f := range files {
		if f != nil {
			f.Close()
		}
	}
}

// seekTail positions files at the start of their last n lines, closing and
// dropping the files before it.
func seekTail(files []*os.File, n int) ([]*os.File, error) {
	last := len(files) - 1
	if n == 0 {
		closeAll(files[:last])
		_, err := files[last].Seek(0, io.SeekEnd)
		return files[last:], err
	}
	buf := make([]byte, 4<<10)
	lines := 0
	final := true // the next byte seen is the content's last
	for i := last; i >= 0; i-- {
		fi, err := files[i].Stat()
		if err != nil {
			return files, err
		}
		for end := fi.Size(); end > 0; {
			start := max(0, end-int64(len(buf)))
			chunk := buf[:end-start]
			if _, err := files[i].ReadAt(chunk, start); err != nil {
				return files, err
			}
			for j := len(chunk) - 1; j >= 0; j-- {
				if final {
					final = false
					if chunk[j] == '\n' {
						continue // ends the last line, not a line before it
					}
				}
				if chunk[j] != '\n' {
					continue
				}
				if lines++; lines == n {
					closeAll(files[:i])
					_, err := files[i].Seek(start+int64(j)+1, io.SeekStart)
					return files[i:], err
				}
			}
			end = start
		}
	}
	return files, nil // n lines or fewer: all of them
}

// logReader is the io.ReadCloser of ReadLog.
type logReader struct {
	ctx    context.Context
	dir    string
	follow bool
	stamps bool // keep time stamps

	mu      sync.Mutex // held by Read except while it waits; by Close
	files   []*os.File // files[0] is being read
	ended   bool       // the run's output has ended: files are complete
	buf     []byte     // raw bytes, when stripping stamps
	pending []byte     // stripped bytes not yet returned
	inStamp bool       // the next bytes are a time stamp to strip

	// Following only.
	run   int64               // the run's index names it so; 0: unknown
	bases map[*os.File]logPos // where in the run the files begin, if known
	jump  *jump               // a skip ahead after files[0]

	closed    chan struct{}
	closeOnce sync.Once
}

func (r *logReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		select {
		case <-r.closed:
			return 0, os.ErrClosed
		default:
		}
		if len(r.pending) > 0 {
			n := copy(p, r.pending)
			r.pending = r.pending[n:]
			return n, nil
		}
		if len(r.files) == 0 {
			return 0, io.EOF
		}
		var n int
		var err error
		if r.stamps {
			if n, err = r.files[0].Read(p); n > 0 {
				return n, nil
			}
		} else {
			if n, err = r.files[0].Read(r.buf); n > 0 {
				r.pending = r.strip(r.buf[:n])
				continue
			}
		}
		if err != nil && err != io.EOF {
			return 0, err
		}
		if len(r.files) > 1 || !r.follow || r.ended {
			skip := r.skipped()
			r.files[0].Close()
			delete(r.bases, r.files[0])
			r.files = r.files[1:]
			if skip != nil {
				return 0, skip
			}
			continue
		}
		if err := r.waitMore(); err != nil {
			return 0, err
		}
	}
}

// waitMore is called at the end of the last file while following: it moves
// on to the next file after a rotation by size, notices the end of the run,
// or else waits a poll interval. Called with r.mu held.
func (r *logReader) waitMore() error {
	f := r.files[0]
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&0o200 == 0 {
		r.ended = true // read what is left, then stop
		return nil
	}
	// Rotated by size, the file is now current.log.1 and the run goes on in
	// current.log; if a new run has begun since, they are previous.log.1 and
	// previous.log.
	for _, next := range []string{currentLog, previousLog} {
		older := filepath.Join(r.dir, next+rotatedSuffix)
		if !sameAsNamed(f, older) {
			continue
		}
		nf, err := os.Open(filepath.Join(r.dir, next))
		if err != nil {
			break // between rename and create: look again later
		}
		if !sameAsNamed(f, older) { // rotated again meanwhile
			nf.Close()
			break
		}
		r.files = append(r.files, nf)
		if x, err := readIndex(filepath.Join(r.dir, next)); err == nil && x.run == r.run {
			r.learn(x, []*os.File{nf})
		}
		return nil
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink == 0 {
		// Rotated twice (or more) between two looks: the next file may be
		// kept still, or gone too.
		r.skipAhead()
		return nil
	}

	r.mu.Unlock()
	defer r.mu.Lock()
	t := time.NewTimer(followPoll)
	defer t.Stop()
	select {
	case <-r.ctx.Done():
		return io.EOF
	case <-r.closed:
		return os.ErrClosed
	case <-t.C:
		return nil
	}
}

// learn records where files begin in the run, as far as x knows.
func (r *logReader) learn(x runIndex, files []*os.File) {
	for _, f := range files {
		if pos, ok := x.find(f); ok {
			r.bases[f] = pos
		}
	}
}

// A jump is a follower's move, after the file it reads (from), to the
// oldest output of its run still kept (to, known or not).
type jump struct {
	from    *os.File
	to      logPos
	toKnown bool
}

// skipAttempts and skipRetry bound how long skipAhead looks for the files
// of its run before it decides the run has no more output kept.
const (
	skipAttempts = 20
	skipRetry    = 5 * time.Millisecond
)

// skipAhead is called at the end of files[0], which is no longer linked:
// rotated away before the follower read what came after it. It queues the
// oldest files of the run still kept after it, with a jump to count the
// output between, or marks the run ended when none are kept (a run or two
// has begun since, or the instance's logs were removed). Called with r.mu
// held.
func (r *logReader) skipAhead() {
	for attempt := 0; attempt < skipAttempts; attempt++ {
		if attempt > 0 {
			// Between the writer's two renames current.log is missing
			// for an instant; under load that instant can be long.
			time.Sleep(skipRetry)
		}
		for _, name := range []string{currentLog, previousLog} {
			log := filepath.Join(r.dir, name)
			files, err := openRun(log)
			if err != nil {
				continue
			}
			// The index is read after the files are open: one read before
			// could be older than files a rotation made in between, whose
			// inodes may be those of deleted files the older index still
			// lists, which would give them those files' places in the run
			// (and a skip counted wrong). Files held open keep their
			// inodes, and an index written since lists them after any
			// older file of the same inode.
			x, err := readIndex(log)
			if r.run != 0 && (err != nil || x.run != r.run) {
				closeAll(files)
				continue // another run's files, or none
			}
			r.learn(x, files)
			to, ok := r.bases[files[0]]
			if !ok && r.run != 0 && attempt < skipAttempts-1 {
				closeAll(files) // rotated again meanwhile
				for _, f := range files {
					delete(r.bases, f)
				}
				break
			}
			r.jump = &jump{from: r.files[0], to: to, toKnown: ok}
			r.files = append(r.files, files...)
			return
		}
	}
	r.ended = true
}

// skipped returns the *LogSkipped to report when files[0], read to its
// end, is left for the jump after it: nil if nothing was lost. Called
// with r.mu held.
func (r *logReader) skipped() *LogSkipped {
	j := r.jump
	if j == nil || j.from != r.files[0] {
		return nil
	}
	r.jump = nil
	r.inStamp = true // whole lines: rotation happens between them
	unknown := &LogSkipped{Lines: -1, Bytes: -1}
	base, ok := r.bases[j.from]
	if !ok || !j.toKnown {
		return unknown
	}
	end, err := fileEnd(j.from, base)
	if err != nil {
		return unknown
	}
	lines, bytes := j.to.lines-end.lines, j.to.bytes-end.bytes
	switch {
	case lines == 0 && bytes == 0:
		return nil
	case lines < 0 || bytes < lines*int64(stampLen):
		return unknown // not the index of this run's files after all
	}
	return &LogSkipped{Lines: lines, Bytes: bytes - lines*int64(stampLen)}
}

// fileEnd returns where in the run f ends, given where it begins.
func fileEnd(f *os.File, base logPos) (logPos, error) {
	buf := make([]byte, 32<<10)
	for off := int64(0); ; {
		n, err := f.ReadAt(buf, off)
		base.lines += int64(bytes.Count(buf[:n], []byte{'\n'}))
		base.bytes += int64(n)
		off += int64(n)
		if err == io.EOF {
			return base, nil
		}
		if err != nil {
			return base, err
		}
	}
}

// strip removes the time stamps from b, in place.
func (r *logReader) strip(b []byte) []byte {
	out := b[:0]
	for len(b) > 0 {
		if r.inStamp {
			k := bytes.IndexAny(b, " \n")
			if k < 0 {
				return out // all stamp
			}
			if b[k] == '\n' {
				out = append(out, '\n') // a line without a stamp
			} else {
				r.inStamp = false
			}
			b = b[k+1:]
			continue
		}
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return append(out, b...)
		}
		out = append(out, b[:i+1]...)
		b = b[i+1:]
		r.inStamp = true
	}
	return out
}

// Close releases the reader's files; a Read blocked in it returns
// os.ErrClosed. Idempotent.
func (r *logReader) Close() error {
	r.closeOnce.Do(func() {
		close(r.closed)
		r.mu.Lock()
		closeAll(r.files)
		r.files = nil
		r.mu.Unlock()
	})
	return nil
}
