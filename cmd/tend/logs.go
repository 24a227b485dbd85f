package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tendhq/tend/supervisor"
)

const logsHelp = `Print the output (stdout and stderr) of an instance.

Usage:
  tend logs INSTANCE [--previous] [-f] [--tail N] [--timestamps] [--since 1h | --since-time TIME]
  tend logs unit/NAME ...
  tend logs -l SELECTOR [--prefix] [--max-log-requests 5] ...

The agent keeps the output of an instance's current run and of the run
before it. --previous prints the run before the last restart, to see why
it died. With -f, new output is printed as it comes until the run ends or
you press Ctrl-C. Given a unit (unit/NAME, rc/NAME, job/NAME...), logs
picks one of its instances. --since and --since-time keep the lines
written since then (of the lines --tail chose).

With -l, logs prints the output of every instance whose labels match, one
after another in name order (the last 10 lines of each unless --tail says
otherwise, as kubectl does), or with -f all at once, a whole line at a
time; --prefix starts each line with [instance/NAME]. Following more than
--max-log-requests instances at once is refused.

The agent keeps about 2 x log_max_bytes of a run (see the agent config).
If the instance writes faster than -f reads and output is rotated away
before it was printed, logs goes on from the oldest output still kept and
says on stderr how much it skipped:
  tend: skipped N bytes (M lines) of NAME's output: the reader fell behind log rotation
With -f, logs exits 0 when the run's output has ended (the instance
exited or restarted) or on Ctrl-C, and 1 with a message if the agent's
stream ends otherwise (the agent stopped, the connection broke).

Examples:
  # The output of an instance (a pod)
  tend logs batch-job-chwnr

  # The output of the run before the last restart
  tend logs kubia-liveness --previous

  # The last 20 lines, then follow
  tend logs kubia-liveness --tail 20 -f

  # What an instance wrote in the last five minutes, with time stamps
  tend logs kubia-liveness --since 5m --timestamps

  # An instance of the kubia unit, or all of them
  tend logs rc/kubia
  tend logs -l app=kubia --prefix -f
`

// logsOptions are logs' flags beyond what the agent is asked.
type logsOptions struct {
	api        supervisor.LogOptions
	since      time.Time // keep lines from then on; zero: all
	stamps     bool      // the user asked for --timestamps
	prefix     bool
	lineByLine bool // filter or prefix: copy whole lines
}

// sinceTime is --since-time: an RFC 3339 time.
type sinceTime struct{ t *time.Time }

func (s sinceTime) Set(v string) error {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return fmt.Errorf("want an RFC 3339 time such as 2026-12-03T12:00:00Z")
	}
	*s.t = t
	return nil
}
func (s sinceTime) String() string {
	if s.t == nil || s.t.IsZero() {
		return ""
	}
	return s.t.Format(time.RFC3339)
}

func (c *CLI) runLogs(ctx context.Context, args []string) error {
	fs := newFlagSet("logs")
	var o logsOptions
	var since durationValue
	var selector string
	maxRequests := 5
	fs.boolVar(&o.api.Previous, "previous", "p", "Print the output of the previous run (before the last restart).")
	fs.boolVar(&o.api.Follow, "follow", "f", "Keep printing new output until the run ends or you press Ctrl-C.")
	fs.intVar(&o.api.Tail, "tail", "", -1, "Print only the last N lines; -1 for all (10 with -l).")
	fs.boolVar(&o.stamps, "timestamps", "", "Start each line with its RFC 3339 time stamp.")
	fs.add(&since, "since", "", "Only lines newer than this, e.g. 10s, 5m, 2h.")
	fs.add(sinceTime{&o.since}, "since-time", "", "Only lines written at or after this RFC 3339 time.")
	fs.stringVar(&selector, "selector", "l", "", "Print the logs of every instance whose labels match, e.g. -l app=kubia.")
	fs.boolVar(&o.prefix, "prefix", "", "Start each line with [instance/NAME].")
	fs.intVar(&maxRequests, "max-log-requests", "", 5, "With -l and -f, the most instances followed at once.")
	args, err := fs.parse(c, args)
	if err != nil {
		return err
	}
	if since != 0 && !o.since.IsZero() {
		return usagef("logs", "at most one of --since or --since-time may be given")
	}
	if since != 0 {
		o.since = c.now().Add(-time.Duration(since))
	}
	o.api.Timestamps = o.stamps || !o.since.IsZero()
	o.lineByLine = !o.since.IsZero() || o.prefix || selector != ""
	// "tend logs po NAME" for "tend logs po/NAME".
	if len(args) == 2 && !strings.Contains(args[0], "/") {
		if _, err := parseResource("logs", args[0]); err == nil {
			args = []string{args[0] + "/" + args[1]}
		}
	}
	defer c.close()
	if selector != "" {
		if len(args) > 0 {
			return usagef("logs", "give an instance or -l SELECTOR, not both")
		}
		if !fs.changed("tail") {
			o.api.Tail = 10
		}
		return c.logsOfSelected(ctx, selector, o, maxRequests)
	}
	if len(args) != 1 {
		return usagef("logs", "logs takes one instance: tend logs INSTANCE, or -l SELECTOR")
	}
	name, err := c.logsInstance(ctx, args[0])
	if err != nil {
		return err
	}
	return c.copyLogs(ctx, name, o, &lineWriter{w: c.Stdout})
}

// logsOfSelected prints the logs of the instances selector matches: one
// after another, or followed all at once.
func (c *CLI) logsOfSelected(ctx context.Context, selector string, o logsOptions, maxRequests int) error {
	list, err := c.api().Instances(ctx, selector)
	if errors.Is(err, supervisor.ErrInvalid) {
		return usagef("logs", "%v", err)
	}
	if err != nil {
		return err
	}
	if len(list) == 0 {
		fmt.Fprintln(c.Stderr, "No resources found.")
		return nil
	}
	w := &lineWriter{w: c.Stdout}
	if !o.api.Follow {
		for _, in := range list {
			if err := c.copyLogs(ctx, in.Name, o, w); err != nil {
				return err
			}
		}
		return nil
	}
	if len(list) > maxRequests {
		return &plainError{fmt.Sprintf("error: you are attempting to follow %d log streams, but maximum allowed concurrency is %d, use --max-log-requests to increase the limit", len(list), maxRequests)}
	}
	errs := make(chan error, len(list))
	for _, in := range list {
		go func() { errs <- c.copyLogs(ctx, in.Name, o, w) }()
	}
	var first error
	for range list {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// lineWriter writes whole lines from several streams without mixing them.
type lineWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lineWriter) write(b []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, err := l.w.Write(b)
	return err
}

// copyLogs prints one instance's output: as it comes, or, to filter by
// time or prefix lines, a line at a time.
func (c *CLI) copyLogs(ctx context.Context, name string, o logsOptions, w *lineWriter) error {
	rc, err := c.api().Logs(ctx, name, o.api)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer rc.Close()
	handle := func(err error) (bool, error) {
		var skip *supervisor.LogSkipped
		switch {
		case err == nil:
		case errors.As(err, &skip):
			fmt.Fprintln(c.Stderr, skip.Notice(name))
		case err == io.EOF:
			return true, nil
		case ctx.Err() != nil:
			return true, nil // Ctrl-C
		default:
			return true, fmt.Errorf("reading the logs of %s: %w", name, err)
		}
		return false, nil
	}
	if !o.lineByLine {
		buf := make([]byte, 32<<10)
		for {
			n, err := rc.Read(buf)
			if n > 0 {
				if err := w.write(buf[:n]); err != nil {
					return fmt.Errorf("printing the logs of %s: %w", name, err)
				}
			}
			if done, err := handle(err); done {
				return err
			}
		}
	}
	prefix := ""
	if o.prefix {
		prefix = "[instance/" + name + "] "
	}
	r := bufio.NewReaderSize(rc, 64<<10)
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A line longer than the buffer: its parts, as they come.
			err = nil
		}
		if len(line) > 0 && o.keep(line) {
			out := line
			if !o.stamps && len(out) >= stampLen && out[stampLen-1] == ' ' {
				out = out[stampLen:]
			}
			if err := w.write(append([]byte(prefix), out...)); err != nil {
				return fmt.Errorf("printing the logs of %s: %w", name, err)
			}
		}
		if done, err := handle(err); done {
			return err
		}
	}
}

// stampLen is the length of the time stamp that starts each line when
// the agent is asked for them, and the space after it.
const stampLen = len("2006-01-02T15:04:05.000000000Z ")

// keep reports whether a line (with its stamp) is one --since keeps. A
// line without a stamp that reads as one (the rest of a long line) is kept.
func (o logsOptions) keep(line []byte) bool {
	if o.since.IsZero() || len(line) < stampLen {
		return true
	}
	t, err := time.Parse(time.RFC3339Nano, string(line[:stampLen-1]))
	return err != nil || !t.Before(o.since)
}

// logsInstance resolves the argument of logs to an instance name:
// NAME, instance/NAME, or a unit's word/NAME for one of its instances.
func (c *CLI) logsInstance(ctx context.Context, arg string) (string, error) {
	word, name, ok := strings.Cut(arg, "/")
	if !ok {
		return arg, nil
	}
	res, err := parseResource("logs", word)
	if err != nil {
		return "", err
	}
	switch res.typ {
	case resInstances:
		return name, nil
	case resUnits:
	default:
		return "", usagef("logs", "logs are kept for instances and units, not %s", res)
	}
	if _, err := c.unitOfKind(ctx, res, name); err != nil {
		return "", err
	}
	list, err := c.api().Instances(ctx, "")
	if err != nil {
		return "", err
	}
	var names []string
	for _, in := range list {
		if in.Unit == name {
			names = append(names, in.Name)
		}
	}
	if len(names) == 0 {
		return "", fmt.Errorf("unit %q has no instances", name)
	}
	slices.Sort(names)
	if len(names) > 1 {
		fmt.Fprintf(c.Stderr, "Found %d instances, using instance/%s\n", len(names), names[0])
	}
	return names[0], nil
}
