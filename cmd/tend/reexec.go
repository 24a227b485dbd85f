package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"golang.org/x/sys/unix"

	"github.com/tendhq/tend/supervisor"
)

// Re-execution: the agent executes its binary again in its own process
// and hands its instances over (supervisor.Handoff), so that an upgrade
// of tend restarts no workload. The binary is the file at the path the
// agent was started from (ExecStart=), which the upgrade replaced; the
// one running may be deleted by then. SIGUSR2 asks for it, as it does of
// nginx; so does `tend agent reexec` over the API, and `systemctl reload
// tend` (ExecReload= in packaging/tend.service).

// reexecSignal asks the agent to re-execute itself.
const reexecSignal = syscall.SIGUSR2

// successorTimeout bounds the check of the binary that is to take over.
const successorTimeout = 10 * time.Second

// drainWithin bounds the wait, at a handover, for the API's requests in
// flight to be answered (streams such as logs -f end at once).
const drainWithin = 2 * time.Second

// reexecRequest is one request to re-execute; checked says it comes from
// the API, which has checked the successor already (to answer) and, for
// that check, paused the unit directory's watch (unitWatch): handOver
// takes that pause on.
type reexecRequest struct {
	checked bool
}

// checkSuccessor runs `exe agent --handoff-version`, through the reaper
// (nothing else in the agent may wait for a child), and checks that it
// reads the handoff this agent writes: a binary that does not run here
// (another architecture, a truncated download) or predates the handoff
// is refused before anything is handed over.
func (a *tendAgent) checkSuccessor(exe string) error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	done := make(chan supervisor.ExitStatus, 1)
	env := []string{"PATH=" + os.Getenv("PATH")}
	proc, err := a.reaper.Start(supervisor.ProcSpec{
		Path: exe, Args: []string{exe, "agent", "--handoff-version"}, Env: env, Stdout: w, Stderr: w, Aside: true,
	}, func(st supervisor.ExitStatus) { done <- st })
	w.Close()
	if err != nil {
		return err
	}
	out := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(r, 4096))
		out <- b
	}()
	var st supervisor.ExitStatus
	select {
	case st = <-done:
	case <-time.After(successorTimeout):
		proc.SignalGroup(syscall.SIGKILL)
		<-done
		return fmt.Errorf("%s agent --handoff-version did not answer within %v", exe, successorTimeout)
	}
	r.SetReadDeadline(time.Now().Add(time.Second))
	b := bytes.TrimSpace(<-out)
	if !st.Success() {
		first, _, _ := strings.Cut(string(b), "\n")
		return fmt.Errorf("%s does not take over a running agent's instances (agent --handoff-version: %s; %s)", exe, st, first)
	}
	if v, err := strconv.Atoi(string(b)); err != nil || v != supervisor.HandoffVersion {
		return fmt.Errorf("%s reads handoff version %q, this agent writes %d", exe, b, supervisor.HandoffVersion)
	}
	return nil
}

// serveReexec is POST /v1/agent/reexec: 202 once the successor is
// checked, then the handoff. A refused one answers 409 with the reason.
func (a *tendAgent) serveReexec(w http.ResponseWriter, r *http.Request) {
	exe := a.exe
	a.units.pause() // its close waits out the check, not the handover (unitWatch)
	if err := a.checkSuccessor(exe); err != nil {
		a.units.resume()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusConflict)
		json.NewEncoder(w).Encode(supervisor.APIError{Error: "re-execution refused: " + err.Error()})
		return
	}
	// The whole answer first, with its length (no chunks left to send),
	// and only then the request: the handoff closes this connection.
	body, _ := json.Marshal(supervisor.ReexecAnswer{PID: os.Getpid(), Binary: exe})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusAccepted)
	w.Write(body)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	select {
	case a.reexec <- reexecRequest{checked: true}:
	default: // one is pending already: it does this one's work, with its own pause
		a.units.resume()
	}
}

// errAPIClosed is handOver's error when the API had stopped taking
// requests before the handoff failed: the agent cannot go on serving.
var errAPIClosed = errors.New("the API had stopped for the handover")

// handOver re-executes the agent. It returns only when the handoff was
// refused, with the reason: before anything was stopped, or (wrapping
// errAPIClosed) after the API had stopped taking requests, when the loop
// did not hand over. Past that point it executes the successor or,
// failing that, the binary it runs, or exits. quiesce stops the API
// taking requests and waits for those in flight; stop ends the rest.
func (a *tendAgent) handOver(req reexecRequest, quiesce, stop func()) (err error) {
	exe := a.exe
	// The unit directory's watch is paused before the check (unitWatch;
	// the API's request comes with its pause), and resumed if the
	// handover is refused before the API went quiet. After, the agent
	// stops (errAPIClosed); past the point of return this never returns.
	defer func() {
		if !errors.Is(err, errAPIClosed) {
			a.units.resume()
		}
	}()
	if !req.checked {
		a.units.pause()
		if err := a.checkSuccessor(exe); err != nil {
			return err
		}
	}
	ul, ok := a.ln.(*net.UnixListener)
	if !ok {
		return errors.New("the API's listener is no unix socket")
	}
	lnFile, err := ul.File()
	if err != nil {
		return fmt.Errorf("the API's socket: %w", err)
	}
	// The collector is off from here to the exec (pauseGC), the drain of
	// the requests in flight included: the handover allocates its
	// descriptors and the handoff's encoding in a heap the collector
	// paces by, and a collection there (two cores for 5 ms) would keep
	// the API away for its time. The successor's heap starts anew; a
	// handover refused turns the collector on again.
	resumeGC := pauseGC()
	defer resumeGC()
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	daemon.SdNotify(false, fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%d", ts.Nano()/1000))
	// The socket stays where it is (its file too), and open in lnFile:
	// connections made from now on wait in its backlog for the successor.
	ul.SetUnlinkOnClose(false)
	t0 := time.Now()
	stage := func(what string) {
		a.log.Debug("handover", "stage", what, "since", time.Since(t0), "collections", collections())
	}
	quiesce()
	stage("API quiet")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	h, err := a.sup.Handoff(ctx)
	cancel()
	stage("loop handed over")
	if err != nil {
		lnFile.Close()
		return fmt.Errorf("%w: %w", errAPIClosed, err)
	}
	// Past the point of return: the loop has ended without stopping
	// anything.
	stop()
	stage("API and watch stopped")
	if a.fleet != nil {
		// No Leave: the others must not fail this host's work over. The
		// successor joins again under the same name within moments.
		if a.fleet.apiLn != nil {
			a.fleet.apiLn.Close()
		}
		a.fleet.node.Close()
	}
	if err := a.store.Close(); err != nil {
		a.log.Error("closing the store before the handoff", "err", err)
	}
	stage("store closed")
	if err := h.AddFile("api", lnFile); err != nil {
		a.log.Error("the API's socket is not handed over; the successor listens anew", "err", err)
	}
	// A CPU profile's timer (setitimer's ITIMER_PROF) survives execve,
	// and its SIGPROF would kill the successor before its runtime has a
	// handler: the profile ends here, written out, and the successor
	// starts its own (--cpu-profile is among its arguments).
	stopCPUProfile()
	a.log.Info("re-executing", "binary", exe, "instances", len(h.Runs))
	err = h.Exec(exe, os.Args, os.Environ())
	a.log.Error("re-execution failed; executing the running binary again", "binary", exe, "err", err)
	err = h.Exec("/proc/self/exe", os.Args, os.Environ())
	a.log.Error("re-execution failed; exiting: the next agent stops and starts the instances again", "err", err)
	os.Exit(1)
	return nil
}

// inheritedListener is the API's socket handed over by the agent this
// one replaces, nil when there is none.
func inheritedListener(h *supervisor.Handoff) (net.Listener, error) {
	if h == nil {
		return nil, nil
	}
	f := h.File("api")
	if f == nil {
		return nil, nil
	}
	ln, err := net.FileListener(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("the API's socket handed over: %w", err)
	}
	if ul, ok := ln.(*net.UnixListener); ok {
		ul.SetUnlinkOnClose(true) // as ListenUnix's
	}
	return ln, nil
}

const reexecHelp = `Re-execute the agent of this host in place, keeping its instances running.

Usage:
  tend agent reexec [--timeout DURATION]

The agent checks that its binary (the file it was started from, which a
package upgrade may have replaced) runs and takes over a running agent's
instances, then executes it in its own process: same pid, so every instance
stays its child, keeps its pid, its restart count and its readiness, and no
output or exit status is lost. The API's socket is handed over too: a
command run meanwhile waits for the new agent. A binary that fails the check
is refused and the agent goes on unchanged. SIGUSR2 to the agent, and
systemctl reload tend, do the same.

This command waits until the new agent answers and says how long the API was
away.

Examples:
  # After upgrading tend's package
  tend agent reexec
`

type durationValue time.Duration

func (d *durationValue) Set(v string) error {
	x, err := time.ParseDuration(v)
	if err != nil || x <= 0 {
		return fmt.Errorf("want a positive duration such as 30s")
	}
	*d = durationValue(x)
	return nil
}
func (d *durationValue) String() string { return time.Duration(*d).String() }

// runReexecVerb is `tend agent reexec`.
func (c *CLI) runReexecVerb(ctx context.Context, args []string) error {
	fs := newFlagSet("agent reexec")
	timeout := 30 * time.Second
	fs.add((*durationValue)(&timeout), "timeout", "", "How long to wait for the new agent to answer.")
	args, err := fs.parse(c, args)
	if err != nil {
		return err
	}
	if len(args) > 0 {
		return usagef("agent reexec", "agent reexec takes no arguments")
	}
	defer c.close()
	before, err := c.api().Version(ctx)
	if err != nil {
		return err
	}
	ans, err := c.api().Reexec(ctx)
	if err != nil {
		return err
	}
	asked := time.Now()
	deadline := asked.Add(timeout)
	for {
		v, err := c.api().Version(ctx)
		if err == nil && !v.Started.Equal(before.Started) {
			fmt.Fprintf(c.Stdout, "agent re-executed: pid %d, %s (was %s); the API answered again after %v\n",
				v.PID, v.Version, before.Version, time.Since(asked).Round(time.Millisecond))
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("the agent (pid %d, %s) did not answer within %v after re-executing: %w", ans.PID, ans.Binary, timeout, err)
			}
			return fmt.Errorf("the agent (pid %d) did not re-execute within %v; see its log", ans.PID, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}
