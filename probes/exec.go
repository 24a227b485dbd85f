package probes

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// MaxOutput is how much of an exec probe's output a CommandRunner needs to
// keep (stdout and stderr together, the first bytes), as the kubelet does.
const MaxOutput = maxRead

// A CommandRunner runs argv once and waits for it: the supervisor's
// implementation starts it through the agent's process reaper, in its own
// process group, with the instance's environment, working directory and
// credentials.
//
// It returns the exit code (128+signal for a command ended by a signal)
// and up to MaxOutput bytes of combined output. When ctx ends first it
// kills the command's whole process group and returns ctx.Err()
// (context.DeadlineExceeded at the probe's timeout). Any other error means
// the command could not be run. It is called from a probe goroutine and
// may block until the command ends or ctx is done, no longer.
type CommandRunner func(ctx context.Context, argv []string) (exitCode int, output []byte, err error)

// Exec probes by running a command, as the kubelet's exec probe does: exit
// status 0 is a Success; another status is a Failure whose message is the
// command's output (trimmed, at most 1 KiB) or "exit status N" when it
// printed nothing; the timeout is a Failure `command "cat /tmp/healthy"
// timed out`; a command that could not be run is Unknown.
//
// Probe may be called from several goroutines at once if Run may.
type Exec struct {
	Command []string // argv; Command[0] as the runner resolves it
	Run     CommandRunner
}

// Probe runs the command once.
func (p *Exec) Probe(ctx context.Context) (Result, string) {
	if len(p.Command) == 0 {
		return Unknown, "exec probe has no command"
	}
	if p.Run == nil {
		return Unknown, "exec probe has no command runner"
	}
	code, out, err := p.Run(ctx, p.Command)
	if errors.Is(err, context.DeadlineExceeded) || (err == nil && code != 0 && ctx.Err() == context.DeadlineExceeded) {
		return Failure, fmt.Sprintf("command %q timed out", strings.Join(p.Command, " "))
	}
	if err != nil {
		return Unknown, bound(err.Error())
	}
	if code == 0 {
		return Success, ""
	}
	if msg := bound(string(out)); msg != "" {
		return Failure, msg
	}
	return Failure, "exit status " + strconv.Itoa(code)
}
