package supervisor

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// A ProcStarter is a Backend that starts processes through the agent's
// Reaper, which owns every wait of the agent (a process started any other
// way would have its exit status stolen by the Reaper's sweeps, or steal
// one). The Supervisor is one. The exec route needs it: with a Backend
// that is not one, exec answers 501.
type ProcStarter interface {
	// StartProc is Reaper.Start: onExit is called exactly once, from the
	// Reaper's goroutine, and must not block. Safe for concurrent use.
	StartProc(spec ProcSpec, onExit func(ExitStatus)) (*Proc, error)
}

const (
	// maxExecRequest bounds the body of an exec request.
	maxExecRequest = 1 << 20
	// execKillGrace is how long a command has to exit after SIGTERM once
	// its client has gone (or the agent is stopping) before SIGKILL.
	execKillGrace = 2 * time.Second
	// execDrain is how long, after the command has exited and its process
	// group has been killed, its output is still read: only processes
	// that left the group can still hold the pipes open.
	execDrain = time.Second
	// execCheckClient is how often the agent looks whether the client is
	// still there while the command is not taking its input.
	execCheckClient = time.Second
	// execLinger is how long the agent waits, after its last frame, for
	// the client to close the connection.
	execLinger = 5 * time.Second
)

// exec serves POST /v1/instances/{name}/exec: it runs a command beside one
// of this agent's own instances and connects it to the client over the
// upgraded connection (the exec protocol, exec_frame.go).
//
// The request has the headers "Connection: Upgrade" and "Upgrade:
// tend-exec" and an ExecRequest body (at most maxExecRequest bytes). The
// agent answers as every route does, with a JSON APIError, when the
// request cannot be served: 404 for an unknown instance, 400 for an
// instance of another host (an agent never runs a command for an instance
// it does not own; forwarding is the business of whoever sent the request
// here), for a missing upgrade, an empty command or a TTY asked for, 413
// for a body too large, 500 when the instance's user cannot be resolved.
// Otherwise it answers 101 Switching Protocols and then starts the command:
// one that cannot start ends the session with an error frame.
//
// The command runs in the instance's working directory, with the agent's
// environment plus, when the instance runs as a user, USER and LOGNAME,
// then the instance's env and TEND_INSTANCE (the later entry wins), as
// the instance's user and group: a caller gets what the instance has, no
// more. An instance without a user runs as the agent's user, and so does
// the command. It leads its own process group, started through the
// agent's Reaper.
func (a *api) exec(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	starter, ok := a.b.(ProcStarter)
	if !ok {
		writeError(w, http.StatusNotImplemented, "this agent does not run commands beside its instances")
		return
	}
	in, err := a.b.Instance(name)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if host := a.b.Version().Host; in.Host != host {
		a.fail(w, r, fmt.Errorf("instance %q runs on host %s, not on this agent's host %s: an agent runs commands only beside its own instances: %w",
			name, in.Host, host, ErrInvalid))
		return
	}
	if r.ProtoMajor != 1 || !hasToken(r.Header, "Connection", "upgrade") || !hasToken(r.Header, "Upgrade", ExecProtocol) {
		a.fail(w, r, fmt.Errorf("exec needs HTTP/1.1 and the headers \"Connection: Upgrade\" and \"Upgrade: %s\": %w", ExecProtocol, ErrInvalid))
		return
	}
	var req ExecRequest
	body := http.MaxBytesReader(w, r.Body, maxExecRequest)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	err = dec.Decode(&req)
	if err == nil {
		// Read to the end: what follows the body on the connection is the
		// exec protocol's.
		_, err = io.Copy(io.Discard, body)
	}
	if tooBig := new(http.MaxBytesError); errors.As(err, &tooBig) {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("exec request body is larger than %d bytes", maxExecRequest))
		return
	}
	if err != nil {
		a.fail(w, r, fmt.Errorf("%w: request body: %w", ErrInvalid, err))
		return
	}
	switch {
	case len(req.Command) == 0 || req.Command[0] == "":
		a.fail(w, r, fmt.Errorf("%w: exec: the command is empty", ErrInvalid))
		return
	case req.TTY:
		a.fail(w, r, fmt.Errorf("%w: exec: this agent gives commands no terminal: ask without tty", ErrInvalid))
		return
	}
	cred, err := Credential(in.User, in.Group)
	if err != nil {
		a.fail(w, r, fmt.Errorf("exec beside instance %q: %w", name, err))
		return
	}
	spec := ProcSpec{
		Path:       req.Command[0],
		Args:       req.Command,
		Env:        execEnviron(os.Environ(), in),
		Dir:        in.WorkingDir,
		Credential: cred,
	}

	w.Header().Set("Connection", "Upgrade")
	w.Header().Set("Upgrade", ExecProtocol)
	w.WriteHeader(http.StatusSwitchingProtocols)
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		a.log.Error("api: exec: taking over the connection", "instance", name, "err", err)
		return
	}
	// Read the connection itself, not through the server's reader (whose
	// read errors would cancel the request's context), after what that
	// reader holds already.
	var rd io.Reader = conn
	if n := brw.Reader.Buffered(); n > 0 {
		held, _ := brw.Reader.Peek(n)
		rd = io.MultiReader(bytes.NewReader(bytes.Clone(held)), conn)
	}
	s := &execSession{conn: conn, in: bufio.NewReaderSize(rd, frameHeader+MaxExecFrame), log: a.log, instance: name}
	s.run(r.Context().Done(), starter, spec)
}

// hasToken reports whether the comma-separated header key of h holds
// token, in any case.
func hasToken(h http.Header, key, token string) bool {
	for _, v := range h.Values(key) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// execEnviron is the environment of a command run beside in: agent (the
// agent's environment) less what systemd hands the agent alone, USER and
// LOGNAME when in has a user (as the instance gets them), in's env and
// TEND_INSTANCE. A variable set twice keeps its later value: execve would
// otherwise pass both, and getenv return the first.
func execEnviron(agent []string, in Instance) []string {
	env := make([]string, 0, len(agent)+len(in.Env)+3)
	for _, kv := range agent {
		switch k, _, _ := strings.Cut(kv, "="); k {
		case "NOTIFY_SOCKET", "WATCHDOG_PID", "WATCHDOG_USEC", "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES":
		default:
			env = append(env, kv)
		}
	}
	if in.User != "" {
		env = append(env, "USER="+in.User, "LOGNAME="+in.User)
	}
	for _, k := range slices.Sorted(maps.Keys(in.Env)) {
		env = append(env, k+"="+in.Env[k])
	}
	env = append(env, "TEND_INSTANCE="+in.Name)

	seen := make(map[string]bool, len(env))
	out := make([]string, 0, len(env))
	for _, kv := range slices.Backward(env) {
		k, _, _ := strings.Cut(kv, "=")
		if !seen[k] {
			seen[k] = true
			out = append(out, kv)
		}
	}
	slices.Reverse(out)
	return out
}

// execSession is one exec over a taken-over connection: the command, the
// goroutines that copy between it and the client, and the frames. run
// owns it; the input goroutine and the two output pumps share only send.
type execSession struct {
	conn     net.Conn
	in       *bufio.Reader // the client's frames
	log      *slog.Logger
	instance string

	wmu   sync.Mutex // one frame at a time on conn; guards gone and ended
	gone  bool       // a write to the client failed: nothing more is sent
	ended bool       // the last frame has been sent
}

// errExecEnded is send's error once the session has sent its last frame
// or lost its client.
var errExecEnded = errors.New("exec session ended")

// send writes frame (header included) to the client. It fails once the
// session has ended or a write has failed. Safe for concurrent use.
func (s *execSession) send(frame []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.gone || s.ended {
		return errExecEnded
	}
	if _, err := s.conn.Write(frame); err != nil {
		s.gone = true
		return err
	}
	return nil
}

// finish sends the last frame, after which send sends nothing.
func (s *execSession) finish(t frameType, p []byte) {
	p = p[:min(len(p), MaxExecFrame)]
	b := make([]byte, frameHeader+len(p))
	putHeader(b, t, len(p))
	copy(b[frameHeader:], p)
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if !s.gone && !s.ended {
		if _, err := s.conn.Write(b); err != nil {
			s.gone = true
		}
	}
	s.ended = true
}

// execProtocolError is a client's breach of the exec protocol.
type execProtocolError struct{ msg string }

func (e *execProtocolError) Error() string { return e.msg }

// run starts the command and serves the session until the command has
// exited, its output has been sent and the client has closed the
// connection (or execLinger has passed); it closes the connection. stop
// closing (the agent stopping) stops the command.
func (s *execSession) run(stop <-chan struct{}, starter ProcStarter, spec ProcSpec) {
	var input sync.WaitGroup
	defer func() {
		s.conn.Close()
		input.Wait() // its read ends with the connection
	}()
	inputDone := make(chan error, 1)

	// The command's ends of the pipes are closed once it has started
	// (it has its copies); the agent's ends by the end of run.
	var pipes [3][2]*os.File // stdin, stdout, stderr; [0] reads, [1] writes
	for i := range pipes {
		r, w, err := os.Pipe()
		if err != nil {
			for _, p := range pipes[:i] {
				p[0].Close()
				p[1].Close()
			}
			s.finish(frameError, []byte("exec: "+err.Error()))
			s.linger(&input)
			return
		}
		pipes[i] = [2]*os.File{r, w}
	}
	stdin, stdout, stderr := pipes[0][1], pipes[1][0], pipes[2][0]
	defer stdout.Close()
	defer stderr.Close()
	spec.Stdin, spec.Stdout, spec.Stderr = pipes[0][0], pipes[1][1], pipes[2][1]
	input.Go(func() { inputDone <- s.readInput(stdin) })

	exited := make(chan ExitStatus, 1)
	proc, err := starter.StartProc(spec, func(st ExitStatus) { exited <- st })
	spec.Stdin.Close()
	spec.Stdout.Close()
	spec.Stderr.Close()
	if err != nil {
		stdin.Close()
		s.log.Info("exec could not start", "instance", s.instance, "command", spec.Args, "err", err)
		s.finish(frameError, []byte(err.Error()))
		s.linger(&input)
		return
	}
	s.log.Info("exec started", "instance", s.instance, "command", spec.Args, "pid", proc.Pid())
	var pumps sync.WaitGroup
	pumps.Go(func() { s.pump(stdout, frameStdout) })
	pumps.Go(func() { s.pump(stderr, frameStderr) })

	var (
		st       ExitStatus
		why      string // why the session ends without the exit status
		stopping bool
		kill     *time.Timer
		killC    <-chan time.Time
	)
	terminate := func(reason string) {
		if why == "" {
			why = reason
		}
		if stopping {
			return
		}
		stopping = true
		proc.SignalGroup(syscall.SIGTERM)
		kill = time.NewTimer(execKillGrace)
		killC = kill.C
	}
	for running := true; running; {
		select {
		case st = <-exited:
			running = false
		case err := <-inputDone:
			inputDone = nil
			if pe := new(execProtocolError); errors.As(err, &pe) {
				terminate(pe.msg)
			} else {
				terminate("") // the client has gone: nobody to tell
			}
		case <-stop:
			stop = nil
			terminate("the agent is stopping")
			// Output still on its way to a client that does not read
			// must not hold the agent up.
			s.conn.SetWriteDeadline(time.Now().Add(execKillGrace))
		case <-killC:
			killC = nil
			proc.SignalGroup(syscall.SIGKILL)
		}
	}
	if kill != nil {
		kill.Stop()
	}
	proc.SignalGroup(syscall.SIGKILL) // what the command left in its group
	stdin.Close()                     // input that still comes is dropped
	deadline := time.Now().Add(execDrain)
	stdout.SetReadDeadline(deadline)
	stderr.SetReadDeadline(deadline)
	pumps.Wait()
	s.log.Info("exec ended", "instance", s.instance, "pid", proc.Pid(), "exit_code", st.ExitCode(), "signal", st.SignalName())
	if why != "" {
		s.finish(frameError, []byte(why))
	} else {
		var code [4]byte
		binary.BigEndian.PutUint32(code[:], uint32(st.ExitCode()))
		s.finish(frameExit, code[:])
	}
	s.linger(&input)
}

// linger closes the agent's side of the connection for writing and waits,
// at most execLinger, for the input goroutine to see the client close its
// side. Closing at once could lose the last frame: over TCP, closing with
// unread input resets the connection.
func (s *execSession) linger(input *sync.WaitGroup) {
	if cw, ok := s.conn.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	s.conn.SetReadDeadline(time.Now().Add(execLinger))
	input.Wait()
}

// pump sends what the command writes to r as frames of type t until r
// ends (EOF, or its read deadline). Output for a client that has gone is
// read and dropped, so that the command never blocks on a full pipe.
func (s *execSession) pump(r *os.File, t frameType) {
	buf := make([]byte, frameHeader+MaxExecFrame)
	for {
		n, err := r.Read(buf[frameHeader:])
		if n > 0 {
			putHeader(buf, t, n)
			s.send(buf[:frameHeader+n])
		}
		if err != nil {
			return
		}
	}
}

// readInput reads the client's frames until the connection ends, handing
// stdin to the command; it closes stdin at stdin-eof and on return. It
// returns an *execProtocolError for a frame that breaks the protocol,
// otherwise what ended the connection.
func (s *execSession) readInput(stdin *os.File) error {
	defer stdin.Close()
	buf := make([]byte, MaxExecFrame)
	open := true   // the command may still take input
	ended := false // stdin-eof came
	for {
		t, p, err := readFrame(s.in, buf)
		if se := new(frameSizeError); errors.As(err, &se) {
			return &execProtocolError{msg: "exec: the client sent " + se.Error()}
		}
		if err != nil {
			return err
		}
		switch {
		case t == frameStdin && ended:
			return &execProtocolError{msg: "exec: the client sent input after its end"}
		case t == frameStdin && open:
			if err := s.writeStdin(stdin, p); errors.Is(err, errExecEnded) {
				return err
			} else if err != nil {
				open = false // the command closed its input, or has exited
			}
		case t == frameStdin:
		case t == frameStdinEOF && !ended && len(p) == 0:
			ended = true
			stdin.Close()
		default:
			return &execProtocolError{msg: fmt.Sprintf("exec: the client sent a frame of unknown type %d", t)}
		}
	}
}

// writeStdin writes p to the command's input. While the command does not
// take it, it sends an empty stdout frame every execCheckClient, and gives
// up with errExecEnded when that fails: a client that went away must not
// leave the command running, and the input goroutine would not see it
// go while it waits here.
func (s *execSession) writeStdin(stdin *os.File, p []byte) error {
	var ping [frameHeader]byte
	putHeader(ping[:], frameStdout, 0)
	for len(p) > 0 {
		stdin.SetWriteDeadline(time.Now().Add(execCheckClient))
		n, err := stdin.Write(p)
		p = p[n:]
		if errors.Is(err, os.ErrDeadlineExceeded) {
			if err := s.send(ping[:]); err != nil {
				return errExecEnded
			}
			continue
		}
		if err != nil {
			return err
		}
	}
	return nil
}
