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
instance: it runs COMMAND on this host (the instance must run here), in
the instance's working directory, with the instance's environment
variables added to yours and TEND_INSTANCE set. It runs as you, not as the
instance's user. exec exits with COMMAND's exit status. kubectl's -i and -t
are accepted; standard input is always passed on.

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
	fs.boolVar(&tty, "tty", "t", "Accepted for kubectl's sake: the command gets your terminal as it is.")
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
		return fmt.Errorf("instance %s runs on host %s, and this agent is %s: run tend exec on %s", name, in.Host, v.Host, in.Host)
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
