package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"

	"github.com/tendhq/tend/supervisor"
)

const execHelp = `Run a command beside an instance: on its host, in its working directory,
with its environment.

Usage:
  tend exec INSTANCE -- COMMAND [ARGS...]

tend runs plain processes, not containers, so exec does not enter the
instance: it runs COMMAND beside it, in the instance's working directory,
with the instance's environment variables added and TEND_INSTANCE set.
exec exits with COMMAND's exit status (128+N when signal N killed it).
Standard input is always passed on.

When the instance runs on this host, tend runs COMMAND itself: as you, with
your environment plus the instance's, and your terminal as it is.

When the instance runs on another host, this host's agent hands COMMAND to
the agent of that host, which runs it there as the instance's user (as that
agent's own user when the instance has none), with the agent's environment
plus the instance's. Its input and output are pipes, not a terminal. It is
stopped when tend exec ends (Ctrl-C, or a lost connection), and when it
exits, what it left running in its process group is killed.

kubectl's -i and -t are accepted.

Examples:
  # Ask the kubia process for its page, as its liveness probe does
  tend exec kubia-liveness -- curl -s localhost:8080

  # A shell with the instance's environment
  tend exec -it kubia-7hjkc -- sh
`

// exitStatus is a command's exit status that tend passes on as its own.
type exitStatus struct{ code int }

func (e *exitStatus) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func (c *CLI) runExec(ctx context.Context, args []string) error {
	fs := newFlagSet("exec")
	var stdin, tty bool
	fs.boolVar(&stdin, "stdin", "i", "Accepted for kubectl's sake: standard input is always passed on.")
	fs.boolVar(&tty, "tty", "t", "Accepted for kubectl's sake: on this host the command gets your terminal as it is; on another, it has none.")
	args, err := fs.parse(c, args)
	if err != nil {
		return err
	}
	if len(args) < 2 {
		return usagef("exec", "give an instance and a command: tend exec INSTANCE -- COMMAND [ARGS...]")
	}
	name := args[0]
	if r, n, ok := cutResource(name); ok {
		if r.typ != resInstances {
			return usagef("exec", "exec runs beside instances, not %s", r)
		}
		name = n
	}
	defer c.close()
	in, err := c.api().Instance(ctx, name)
	if errors.Is(err, supervisor.ErrNotFound) {
		return notFound(instancesRes, name)
	}
	if err != nil {
		return err
	}
	v, err := c.api().Version(ctx)
	if err != nil {
		return err
	}
	if in.Host != v.Host {
		return c.execElsewhere(ctx, in, args[1:])
	}
	cmd := exec.Command(args[1], args[2:]...)
	cmd.Env = os.Environ()
	for _, k := range slices.Sorted(maps.Keys(in.Env)) {
		cmd.Env = append(cmd.Env, k+"="+in.Env[k])
	}
	cmd.Env = append(cmd.Env, "TEND_INSTANCE="+in.Name)
	cmd.Dir = in.WorkingDir
	cmd.Stdin, cmd.Stdout, cmd.Stderr = c.Stdin, c.Stdout, c.Stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code := ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int(ws.Signal()) // as the shell reports it
		}
		return &exitStatus{code: max(code, 1)}
	}
	return err
}

// execElsewhere runs command beside in, an instance of another host,
// through the local agent, which forwards it to the agent of in's host.
func (c *CLI) execElsewhere(ctx context.Context, in supervisor.Instance, command []string) error {
	code, err := c.api().Exec(ctx, in.Name, command, c.Stdin, c.Stdout, c.Stderr)
	var se *supervisor.ServerError
	switch {
	case err == nil && code == 0:
		return nil
	case err == nil:
		return &exitStatus{code: code}
	case ctx.Err() != nil:
		return fmt.Errorf("exec interrupted: the command beside %s on host %s is being stopped", in.Name, in.Host)
	case errors.Is(err, supervisor.ErrNotFound):
		return notFound(instancesRes, in.Name)
	case errors.As(err, &se):
		return err // the agent's own words
	}
	return fmt.Errorf("exec beside %s on host %s: %w", in.Name, in.Host, err)
}

// cutResource splits TYPE/NAME when TYPE is a resource word.
func cutResource(arg string) (resource, string, bool) {
	word, name, ok := strings.Cut(arg, "/")
	if !ok {
		return resource{}, "", false
	}
	r, err := parseResource("", word)
	if err != nil {
		return resource{}, "", false
	}
	return r, name, true
}
