package supervisor

import (
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"

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

// journalOut sends to the journal; its functions are the journal
// package's, but in tests.
type journalOut struct {
	send    func(msg string, p journal.Priority, vars map[string]string) error
	enabled func() bool
	log     func(instance string, err error) // the first error sending, once per run
}

func defaultJournal() *journalOut {
	return &journalOut{send: journal.Send, enabled: journal.Enabled}
}

// journalSink is one run's lineSink to the journal.
type journalSink struct {
	j        *journalOut
	instance string
	pid      atomic.Int64  // the run's main process, once known
	known    chan struct{} // closed by setPID: the first line waits for it
	once     sync.Once

	// The copier's.
	vars map[string]string
	seen int64 // the pid vars holds
	err  bool  // an error was logged
}

func (j *journalOut) sink(instance, unit, host string) *journalSink {
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
		k.vars["SYSLOG_PID"] = strconv.FormatInt(pid, 10)
		k.seen = pid
	}
	if err := k.j.send(string(p), pri, k.vars); err != nil && !k.err {
		k.err = true
		if k.j.log != nil {
			k.j.log(k.instance, err)
		}
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

// setPID tells the run's sink, if it wants to know, its main process.
func (o runOutput) setPID(pid int) {
	if k, ok := o.sink.(*journalSink); ok {
		k.setPID(pid)
	}
}

// journalWarning is the LogNotSent message for a run of i about to
// start, "" when its output goes where its unit says.
func (r *runner) journalWarning(i *instance) string {
	if !i.spec.Template.Log.Journal() || (r.journal != nil && r.journal.enabled()) {
		return ""
	}
	return fmt.Sprintf("log: %q: journald does not run here (no %s): the output goes to tend's files (tend logs)", i.spec.Template.Log, journalSocket)
}

// journalSocket is where journald listens, for messages.
const journalSocket = "/run/systemd/journal/socket"
