// Command tend is the tend agent (tend agent) and its kubectl-style
// command line (tend get, describe, apply, ...). See DESIGN.md §4.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/tendhq/tend/supervisor"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == supervisor.ShimVerb {
		// A job attempt's parent (the agent starts it): nothing of the
		// command line's, which it is not. It has nothing to flush at
		// exit, and a race-detector build would wait a second there.
		syscall.Exit(supervisor.RunShim(os.Args[2:]))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	cli := &CLI{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Env: os.Getenv}
	err := cli.Run(ctx, os.Args[1:])
	stop()
	os.Exit(exitCode(os.Stderr, err))
}

// exitCode reports err on w and returns the exit status: 0 for success, 1
// for every failure, as kubectl does (except that exec passes on its
// command's status).
func exitCode(w io.Writer, err error) int {
	var plain *plainError
	var status *exitStatus
	switch {
	case err == nil:
		return 0
	case errors.As(err, &status):
		return status.code // tend exec: the command's own status
	case errors.Is(err, errSilent):
	case errors.As(err, &plain):
		fmt.Fprintln(w, plain.msg)
	default:
		fmt.Fprintf(w, "error: %v\n", err)
	}
	return 1
}
