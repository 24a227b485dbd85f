package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/tendhq/tend/supervisor"
)

const logsHelp = `Print the output (stdout and stderr) of an instance.

Usage:
  tend logs INSTANCE [--previous] [-f] [--tail N] [--timestamps]
  tend logs unit/NAME ...

The agent keeps the output of an instance's current run and of the run
before it. --previous prints the run before the last restart, to see why
it died. With -f, new output is printed as it comes until the run ends or
you press Ctrl-C. Given a unit (unit/NAME, rc/NAME, job/NAME...), logs
picks one of its instances.

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

  # An instance of the kubia unit
  tend logs rc/kubia
`

func (c *CLI) runLogs(ctx context.Context, args []string) error {
	fs := newFlagSet("logs")
	var opts supervisor.LogOptions
	fs.boolVar(&opts.Previous, "previous", "p", "Print the output of the previous run (before the last restart).")
	fs.boolVar(&opts.Follow, "follow", "f", "Keep printing new output until the run ends or you press Ctrl-C.")
	fs.intVar(&opts.Tail, "tail", "", -1, "Print only the last N lines; -1 for all.")
	fs.boolVar(&opts.Timestamps, "timestamps", "", "Start each line with its RFC 3339 time stamp.")
	args, err := fs.parse(c, args)
	if err != nil {
		return err
	}
	// "tend logs po NAME" for "tend logs po/NAME".
	if len(args) == 2 && !strings.Contains(args[0], "/") {
		if _, err := parseResource("logs", args[0]); err == nil {
			args = []string{args[0] + "/" + args[1]}
		}
	}
	if len(args) != 1 {
		return usagef("logs", "logs takes one instance: tend logs INSTANCE")
	}
	defer c.close()
	name, err := c.logsInstance(ctx, args[0])
	if err != nil {
		return err
	}
	rc, err := c.api().Logs(ctx, name, opts)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer rc.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := rc.Read(buf)
		if n > 0 {
			if _, err := c.Stdout.Write(buf[:n]); err != nil {
				return fmt.Errorf("printing the logs of %s: %w", name, err)
			}
		}
		var skip *supervisor.LogSkipped
		switch {
		case err == nil:
		case errors.As(err, &skip):
			fmt.Fprintln(c.Stderr, skip.Notice(name))
		case err == io.EOF:
			return nil
		case ctx.Err() != nil:
			return nil // Ctrl-C
		default:
			return fmt.Errorf("reading the logs of %s: %w", name, err)
		}
	}
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
