package supervisor

import (
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-systemd/v22/journal"
)

// Instance output to the journal (a unit's log = "journal" or "both").
//
// The run's copier sends each line as one entry, in the journal's native
// protocol (go-systemd's journal package: a datagram to
// /run/systemd/journal/socket), with the fields that select it:
//
//	SYSLOG_IDENTIFIER=tend/<instance>   journalctl -t tend/kubia-7hjkc
//	TEND_INSTANCE=<instance>            journalctl TEND_INSTANCE=kubia-7hjkc
//	TEND_UNIT=<unit>                    journalctl TEND_UNIT=kubia
//	TEND_HOST=<host>
//	SYSLOG_PID=<the run's main process>
//	PRIORITY=6, or N for a line that begins "<N>" (N from 0 to 7), which
//	    is left out of the message, as systemd's SyslogLevelPrefix= does
//
// stdout and stderr share the run's pipe, so both are PRIORITY=6. The
// journal sees the agent as the sender (_PID, _COMM are the agent's). A
// line longer than 16 KiB is split, as in the files. Without journald
// (no socket) the output goes to the files, whatever log says, and the
// unit gets a Warning event, LogNotSent, once per version.

// journalQueue bounds the lines waiting for journald, which one sender
// goroutine sends. A copier whose line finds the queue full waits for
// room, so an instance that writes faster than journald takes it is
// slowed to journald's pace, as under systemd; but no longer than
// journalWait: a journald that stops reading (restarting, or stuck on a
// slow disk) must not hold an instance for long, nor the loop, which
// waits for a run's copier to end. Past that the run's lines are dropped
// (logged once a run; the files of a "both" unit keep them) until the
// queue has room again, and once the run's log is being closed lines
// never wait.
const (
	journalQueue = 4096
	journalWait  = time.Second
)

// errJournalBehind is logged for a run whose lines the queue dropped.
var errJournalBehind = fmt.Errorf("journald takes no lines (%d wait, none taken for %s): lines are dropped until it does (the files of log = \"both\" keep them)", journalQueue, journalWait)

// journalOut sends to the journal; its functions are the journal
// package's, but in tests.
type journalOut struct {
	send    func(msg string, p journal.Priority, vars map[string]string) error
	enabled func() bool
	log     func(instance string, err error) // the first error sending, once per run
	wait    time.Duration                    // journalWait, but in tests

	mu      sync.RWMutex // the queue's state, against close
	started bool         // by the first sink: no goroutine without one
	closed  bool
	queue   chan journalEntry
	done    chan struct{} // closed when the sender ends
}

type journalEntry struct {
	msg  string
	pri  journal.Priority
	vars map[string]string // never changed once made
	sink *journalSink
}

func defaultJournal() *journalOut {
	return &journalOut{send: journal.Send, enabled: journal.Enabled, wait: journalWait}
}

// enqueue hands e to the sender, waiting for room up to wait (0: not at
// all), and reports whether it did.
func (j *journalOut) enqueue(e journalEntry, wait time.Duration) bool {
	j.mu.RLock()
	defer j.mu.RUnlock()
	if !j.started || j.closed {
		return false
	}
	select {
	case j.queue <- e:
		return true
	default:
	}
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case j.queue <- e:
			return true
		case <-t.C:
		}
	}
	return false
}

// close ends the sender once it has sent what is queued, waiting at
// most wait for that (a journald that reads nothing keeps it; the agent
// is stopping, or about to re-execute, and goes on). Lines handed over
// afterwards are dropped.
func (j *journalOut) close(wait time.Duration) {
	j.mu.Lock()
	started := j.started && !j.closed
	if started {
		close(j.queue)
	}
	j.closed = true
	j.mu.Unlock()
	if started {
		select {
		case <-j.done:
		case <-time.After(wait):
		}
	}
}

// sender sends the queued entries, for as long as the agent runs.
func (j *journalOut) sender() {
	defer close(j.done)
	for e := range j.queue {
		if err := j.send(e.msg, e.pri, e.vars); err != nil {
			e.sink.failed(err)
		}
	}
}

// journalSink is one run's lineSink to the journal.
type journalSink struct {
	j        *journalOut
	instance string
	pid      atomic.Int64  // the run's main process, once known
	known    chan struct{} // closed by setPID: the first line waits for it
	once     sync.Once
	logged   atomic.Bool // an error or a drop was logged
	hurried  atomic.Bool // the run's log is closing: lines wait for no room

	// The copier's.
	vars   map[string]string // replaced, never changed: queued entries hold it
	seen   int64             // the pid vars holds
	behind bool              // a line found no room in journalWait: drop until there is
}

func (j *journalOut) sink(instance, unit, host string) *journalSink {
	j.mu.Lock()
	if !j.started && !j.closed {
		j.queue, j.done, j.started = make(chan journalEntry, journalQueue), make(chan struct{}), true
		go j.sender()
	}
	j.mu.Unlock()
	return &journalSink{j: j, instance: instance, known: make(chan struct{}), vars: map[string]string{
		"SYSLOG_IDENTIFIER": "tend/" + instance,
		"TEND_INSTANCE":     instance,
		"TEND_UNIT":         unit,
		"TEND_HOST":         host,
	}}
}

// setPID gives the sink the run's main process, for SYSLOG_PID; 0 when
// the run did not start. Lines wait for it: a process may write before
// the agent learns its PID. Call it once the start is done, whatever its
// end. Any goroutine.
func (k *journalSink) setPID(pid int) {
	k.pid.Store(int64(pid))
	k.once.Do(func() { close(k.known) })
}

func (k *journalSink) line(p []byte) {
	pri := journal.PriInfo
	if len(p) >= 3 && p[0] == '<' && p[1] >= '0' && p[1] <= '7' && p[2] == '>' {
		pri, p = journal.Priority(p[1]-'0'), p[3:]
	}
	if k.seen == 0 {
		<-k.known
	}
	if pid := k.pid.Load(); pid != k.seen && pid > 0 {
		vars := make(map[string]string, len(k.vars)+1)
		for key, v := range k.vars {
			vars[key] = v
		}
		vars["SYSLOG_PID"] = strconv.FormatInt(pid, 10)
		k.vars, k.seen = vars, pid
	}
	wait := k.j.wait
	if k.behind || k.hurried.Load() {
		wait = 0
	}
	ok := k.j.enqueue(journalEntry{msg: string(p), pri: pri, vars: k.vars, sink: k}, wait)
	k.behind = !ok && (k.behind || wait > 0)
	if !ok {
		k.failed(errJournalBehind)
	}
}

// hurry makes the run's lines wait for no room from now on: its log is
// being closed, or handed over. Any goroutine.
func (k *journalSink) hurry() { k.hurried.Store(true) }

// failed logs the first error of the run's output to the journal. Any
// goroutine.
func (k *journalSink) failed(err error) {
	if !k.logged.Swap(true) && k.j.log != nil {
		k.j.log(k.instance, err)
	}
}

// output is where the output of i's runs goes: its files, and the journal
// too (or instead) when its template says so and journald runs.
func (r *runner) output(i *instance) runOutput {
	l := i.spec.Template.Log
	if !l.Journal() || r.journal == nil || !r.journal.enabled() {
		return runOutput{}
	}
	return runOutput{sink: r.journal.sink(i.rec.Name, i.spec.Name, r.host), noFiles: !l.Files()}
}

// setPID tells the run's sink, if there is one, its main process.
func (o runOutput) setPID(pid int) {
	if o.sink != nil {
		o.sink.setPID(pid)
	}
}

// journalWarning is the LogNotSent message for a run of i about to
// start, "" when its output goes where its unit says.
func (r *runner) journalWarning(i *instance) string {
	if !i.spec.Template.Log.Journal() || (r.journal != nil && r.journal.enabled()) {
		return ""
	}
	return fmt.Sprintf("log: %q: journald does not run here (its socket does not answer): the output goes to tend's files (tend logs)", i.spec.Template.Log)
}
