package supervisor

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
)

// DefaultSocket is where the agent listens and the CLI looks by default.
const DefaultSocket = "/run/tend/tend.sock"

// Client talks to the local API of the agent on a unix socket. Its methods
// are safe for concurrent use; each takes a context that bounds the request
// (and, for the streaming ones, the stream).
type Client struct {
	socket string
	http   *http.Client
}

// NewClient returns a client for the agent listening at socketPath. It
// does not connect until a method is called.
func NewClient(socketPath string) *Client {
	d := &net.Dialer{}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", socketPath)
		},
		DisableCompression: true,
		MaxIdleConns:       4,
	}
	return &Client{socket: socketPath, http: &http.Client{Transport: tr}}
}

// Close releases the client's idle connections. The client stays usable.
func (c *Client) Close() error {
	c.http.CloseIdleConnections()
	return nil
}

// ServerError is a non-2xx answer from the agent. Its message is the
// agent's, which for an invalid unit file lists every problem, one per
// line. errors.Is matches ErrNotFound for 404, ErrInvalid for 400 and
// 422, and ErrConflict for 409.
type ServerError struct {
	Status  int    // the HTTP status
	Message string // the agent's message
}

func (e *ServerError) Error() string { return e.Message }

// Is reports whether the status stands for target.
func (e *ServerError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrInvalid:
		return e.Status == http.StatusBadRequest || e.Status == http.StatusUnprocessableEntity
	case ErrConflict:
		return e.Status == http.StatusConflict
	}
	return false
}

// Version returns the agent's build.
func (c *Client) Version(ctx context.Context) (Version, error) {
	var v Version
	return v, c.do(ctx, http.MethodGet, "/v1/version", nil, nil, &v)
}

// ReexecAnswer is the body of POST /v1/agent/reexec's 202.
type ReexecAnswer struct {
	PID    int    `json:"pid"`
	Binary string `json:"binary"`
}

// Reexec asks the agent to execute its binary again in its own process,
// handing its instances over (see Handoff). It returns once the agent has
// accepted, before the handoff: Version's Started changes when it is
// done.
func (c *Client) Reexec(ctx context.Context) (ReexecAnswer, error) {
	var a ReexecAnswer
	return a, c.do(ctx, http.MethodPost, "/v1/agent/reexec", nil, nil, &a)
}

// Instances lists the instances that match selector (kubectl's -l syntax;
// "" for all).
func (c *Client) Instances(ctx context.Context, selector string) ([]Instance, error) {
	var list []Instance
	return list, c.do(ctx, http.MethodGet, "/v1/instances", query("selector", selector), nil, &list)
}

// WatchInstances streams changes to the instances that match selector,
// calling fn for each event in order: ADDED for every instance there now,
// one BOOKMARK, then ADDED, MODIFIED and DELETED as they happen. It returns
// when ctx is done (with ctx's error), when fn returns an error (with that
// error), or when the agent ends the stream.
func (c *Client) WatchInstances(ctx context.Context, selector string, fn func(WatchEvent) error) error {
	q := query("selector", selector)
	q.Set("watch", "1")
	body, err := c.stream(ctx, "/v1/instances", q)
	if err != nil {
		return err
	}
	defer body.Close()
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var ev WatchEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return fmt.Errorf("watch: bad event from the agent: %w", err)
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	return nil
}

// Instance returns one instance.
func (c *Client) Instance(ctx context.Context, name string) (Instance, error) {
	var in Instance
	return in, c.do(ctx, http.MethodGet, "/v1/instances/"+url.PathEscape(name), nil, nil, &in)
}

// DeleteInstance begins stopping an instance; it shows Terminating until
// its process has gone.
func (c *Client) DeleteInstance(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/v1/instances/"+url.PathEscape(name), nil, nil, nil)
}

// LabelInstance sets and removes labels on an instance and returns it
// changed.
func (c *Client) LabelInstance(ctx context.Context, name string, change LabelChange) (Instance, error) {
	var in Instance
	return in, c.do(ctx, http.MethodPatch, "/v1/instances/"+url.PathEscape(name)+"/labels", nil, change, &in)
}

// Logs opens an instance's output. With opts.Follow the reader streams new
// output until ctx is done or the run ends. The caller closes it.
//
// The reader returns io.EOF only when all the output asked for has come
// (a follower: when the run's output has ended); a stream that ends
// otherwise (the agent stops, the connection breaks) is an error. A
// follower that fell behind log rotation returns a *LogSkipped from Read
// and goes on (see LogSkipped). An agent from before the framed stream
// (logstream.go) answers text: the skip is then a line of the output, and
// any end of the stream is io.EOF.
func (c *Client) Logs(ctx context.Context, name string, opts LogOptions) (io.ReadCloser, error) {
	q := url.Values{"framed": {"1"}}
	if opts.Previous {
		q.Set("previous", "1")
	}
	if opts.Follow {
		q.Set("follow", "1")
	}
	if opts.Timestamps {
		q.Set("timestamps", "1")
	}
	if opts.Tail >= 0 {
		q.Set("tail", strconv.Itoa(opts.Tail))
	}
	resp, err := c.send(ctx, http.MethodGet, "/v1/instances/"+url.PathEscape(name)+"/logs", q, nil)
	if err != nil {
		return nil, err
	}
	if !isLogFrames(resp.Header.Get("Content-Type")) {
		return resp.Body, nil
	}
	return newLogFrameReader(resp.Body), nil
}

// Exec runs command beside the instance name, on the instance's host, as
// the instance's user (see the exec route, exec_api.go), and returns its
// exit status: 0..255, or 128+N when signal N killed it. It sends what it
// reads from stdin as the command's standard input (nil: none, the input
// is closed at once) and writes the command's standard output and error
// to stdout and stderr as they come (nil: dropped).
//
// The agent runs commands only beside its own instances: ask the agent of
// the instance's host, or one that forwards the request there. A refusal
// before the command starts is a *ServerError (errors.Is ErrNotFound for
// an unknown instance); a command that could not start is an error with
// the agent's message, and the status -1. When ctx ends first, Exec
// closes the connection, which makes the agent stop the command, and
// returns ctx's error. A failure to write to stdout or stderr ends the
// session the same way.
//
// Exec returns without waiting for a Read of stdin in progress (a
// terminal's may never end): the goroutine sending stdin ends when that
// Read returns.
func (c *Client) Exec(ctx context.Context, name string, command []string, stdin io.Reader, stdout, stderr io.Writer) (exitCode int, err error) {
	path := "/v1/instances/" + url.PathEscape(name) + "/exec"
	data, err := json.Marshal(ExecRequest{Command: command})
	if err != nil {
		return -1, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://tend"+path, bytes.NewReader(data))
	if err != nil {
		return -1, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", ExecProtocol)
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return -1, ctx.Err()
		}
		return -1, c.dialError(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return -1, answerError(resp, http.MethodPost, path)
		}
		return -1, fmt.Errorf("the tend agent answered %s to exec, not 101 Switching Protocols: is it older than this client?", resp.Status)
	}
	conn, ok := resp.Body.(io.ReadWriteCloser)
	if !ok || !strings.EqualFold(resp.Header.Get("Upgrade"), ExecProtocol) {
		resp.Body.Close()
		return -1, fmt.Errorf("the tend agent switched exec to protocol %q, not %q", resp.Header.Get("Upgrade"), ExecProtocol)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	go sendStdin(conn, stdin)
	code, err := readExecOutput(conn, stdout, stderr)
	if ctx.Err() != nil {
		return -1, ctx.Err()
	}
	return code, err
}

// sendStdin sends what it reads from stdin as stdin frames, then
// stdin-eof, until a write fails.
func sendStdin(conn io.Writer, stdin io.Reader) {
	if stdin != nil {
		buf := make([]byte, frameHeader+MaxExecFrame)
		for {
			n, err := stdin.Read(buf[frameHeader:])
			if n > 0 {
				putHeader(buf, frameStdin, n)
				if _, err := conn.Write(buf[:frameHeader+n]); err != nil {
					return
				}
			}
			if err != nil {
				break // EOF, or an input that cannot be read: its end either way
			}
		}
	}
	writeFrame(conn, frameStdinEOF, nil)
}

// readExecOutput reads the agent's frames until the exit or error frame.
func readExecOutput(conn io.Reader, stdout, stderr io.Writer) (int, error) {
	rd := bufio.NewReaderSize(conn, frameHeader+MaxExecFrame)
	buf := make([]byte, MaxExecFrame)
	for {
		t, p, err := readFrame(rd, buf)
		if se := new(frameSizeError); errors.As(err, &se) {
			return -1, fmt.Errorf("exec: the tend agent sent %v", se)
		}
		if err == io.EOF {
			return -1, errors.New("exec: the tend agent closed the connection before the command's exit status came")
		}
		if err != nil {
			return -1, fmt.Errorf("exec: reading from the tend agent: %w", err)
		}
		var w io.Writer
		switch t {
		case frameStdout:
			w = stdout
		case frameStderr:
			w = stderr
		case frameExit:
			if len(p) != 4 {
				return -1, fmt.Errorf("exec: the tend agent sent an exit frame of %d bytes, not 4", len(p))
			}
			return int(binary.BigEndian.Uint32(p)), nil
		case frameError:
			return -1, errors.New(string(p))
		default:
			return -1, fmt.Errorf("exec: the tend agent sent a frame of unknown type %d", t)
		}
		if w != nil && len(p) > 0 {
			if _, err := w.Write(p); err != nil {
				return -1, fmt.Errorf("exec: writing the command's output: %w", err)
			}
		}
	}
}

// Units lists the units of a kind ("" for all; kinds and their Kubernetes
// aliases as units.ParseKind reads them).
func (c *Client) Units(ctx context.Context, kind string) ([]Unit, error) {
	var list []Unit
	return list, c.do(ctx, http.MethodGet, "/v1/units", query("kind", kind), nil, &list)
}

// Unit returns one unit.
func (c *Client) Unit(ctx context.Context, name string) (Unit, error) {
	var u Unit
	return u, c.do(ctx, http.MethodGet, "/v1/units/"+url.PathEscape(name), nil, nil, &u)
}

// ApplyUnit adds or updates the unit file called filename ("kubia.toml"
// is unit kubia) with data.
func (c *Client) ApplyUnit(ctx context.Context, filename string, data []byte) (ApplyResult, error) {
	return c.putUnit(ctx, filename, data, nil)
}

// CreateUnit is ApplyUnit that fails with a 409 ServerError when the unit
// already exists.
func (c *Client) CreateUnit(ctx context.Context, filename string, data []byte) (ApplyResult, error) {
	return c.putUnit(ctx, filename, data, url.Values{"create": {"1"}})
}

// CheckUnit is ApplyUnit (CreateUnit with create) that changes nothing:
// the agent answers what it would do, or the file's problems.
func (c *Client) CheckUnit(ctx context.Context, filename string, data []byte, create bool) (ApplyResult, error) {
	q := url.Values{"dry_run": {"1"}}
	if create {
		q.Set("create", "1")
	}
	return c.putUnit(ctx, filename, data, q)
}

func (c *Client) putUnit(ctx context.Context, filename string, data []byte, q url.Values) (ApplyResult, error) {
	var res ApplyResult
	return res, c.do(ctx, http.MethodPut, "/v1/units/"+url.PathEscape(filename), q, rawBody(data), &res)
}

// DeleteUnit removes a unit; its instances are stopped, or with orphan
// released to keep running unmanaged.
func (c *Client) DeleteUnit(ctx context.Context, name string, orphan bool) error {
	var q url.Values
	if orphan {
		q = url.Values{"cascade": {"orphan"}}
	}
	return c.do(ctx, http.MethodDelete, "/v1/units/"+url.PathEscape(name), q, nil, nil)
}

// ScaleUnit sets a unit's replicas (a job's parallelism) and returns the
// unit.
func (c *Client) ScaleUnit(ctx context.Context, name string, replicas int) (Unit, error) {
	var u Unit
	return u, c.do(ctx, http.MethodPost, "/v1/units/"+url.PathEscape(name)+"/scale", nil, ScaleRequest{Replicas: replicas}, &u)
}

// StopUnit stops (stop) or starts a unit (tend stop/start unit); see
// Backend.StopUnit.
func (c *Client) StopUnit(ctx context.Context, name string, stop bool) (ApplyResult, error) {
	verb := "/start"
	if stop {
		verb = "/stop"
	}
	var res ApplyResult
	return res, c.do(ctx, http.MethodPost, "/v1/units/"+url.PathEscape(name)+verb, nil, nil, &res)
}

// DeletedUnit is the last version of a deleted unit; see
// Backend.DeletedUnit.
func (c *Client) DeletedUnit(ctx context.Context, name string) (DeletedUnit, error) {
	var d DeletedUnit
	return d, c.do(ctx, http.MethodGet, "/v1/deleted-units/"+url.PathEscape(name), nil, nil, &d)
}

// RolloutRestart replaces a unit's instances one by one (tend rollout
// restart); see Backend.RolloutRestart.
func (c *Client) RolloutRestart(ctx context.Context, name string) (ApplyResult, error) {
	var res ApplyResult
	return res, c.do(ctx, http.MethodPost, "/v1/units/"+url.PathEscape(name)+"/rollout/restart", nil, nil, &res)
}

// RestartInstance restarts an instance's run (tend restart); see
// Backend.RestartInstance.
func (c *Client) RestartInstance(ctx context.Context, name string) (Instance, error) {
	var in Instance
	return in, c.do(ctx, http.MethodPost, "/v1/instances/"+url.PathEscape(name)+"/restart", nil, nil, &in)
}

// ReleaseFence releases the lease of the exclusive unit name, held by a
// host that is down (tend fence release); see Backend.ReleaseFence.
func (c *Client) ReleaseFence(ctx context.Context, name string) (FenceReleased, error) {
	var res FenceReleased
	return res, c.do(ctx, http.MethodPost, "/v1/units/"+url.PathEscape(name)+"/fence/release", nil, nil, &res)
}

// Hosts lists the hosts.
func (c *Client) Hosts(ctx context.Context) ([]Host, error) {
	var list []Host
	return list, c.do(ctx, http.MethodGet, "/v1/hosts", nil, nil, &list)
}

// Host returns one host.
func (c *Client) Host(ctx context.Context, name string) (Host, error) {
	var h Host
	return h, c.do(ctx, http.MethodGet, "/v1/hosts/"+url.PathEscape(name), nil, nil, &h)
}

// DeleteHost deletes a NotReady or Left host, with its instances, from
// the fleet; a *ServerError matching ErrConflict when it is Ready, and
// ErrNotFound when the agent knows no such host.
func (c *Client) DeleteHost(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/v1/hosts/"+url.PathEscape(name), nil, nil, nil)
}

// LabelHost sets and removes labels on a host and returns it changed.
func (c *Client) LabelHost(ctx context.Context, name string, change LabelChange) (Host, error) {
	var h Host
	return h, c.do(ctx, http.MethodPatch, "/v1/hosts/"+url.PathEscape(name)+"/labels", nil, change, &h)
}

// Keys lists host's gossip keys, by fingerprint.
func (c *Client) Keys(ctx context.Context, host string) (Keys, error) {
	var out Keys
	err := c.do(ctx, http.MethodGet, "/v1/hosts/"+url.PathEscape(host)+"/keys", nil, nil, &out)
	return out, err
}

// ChangeKeys changes host's gossip keys.
func (c *Client) ChangeKeys(ctx context.Context, host string, change KeyChange) (Keys, error) {
	var out Keys
	err := c.do(ctx, http.MethodPost, "/v1/hosts/"+url.PathEscape(host)+"/keys", nil, change, &out)
	return out, err
}

// Events lists events, oldest first; kind ("instance", "unit", "host") and
// object "" match all.
func (c *Client) Events(ctx context.Context, kind, object string) ([]Event, error) {
	q := query("kind", kind)
	if object != "" {
		q.Set("object", object)
	}
	var list []Event
	return list, c.do(ctx, http.MethodGet, "/v1/events", q, nil, &list)
}

// rawBody is a request body sent as is rather than as JSON.
type rawBody []byte

// do sends one request and decodes a 2xx answer into out (when not nil).
func (c *Client) do(ctx context.Context, method, path string, q url.Values, in, out any) error {
	resp, err := c.send(ctx, method, path, q, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("bad answer from the tend agent to %s %s: %w", method, path, err)
	}
	return nil
}

// stream sends a GET and returns the body of a 2xx answer to be read as it
// arrives.
func (c *Client) stream(ctx context.Context, path string, q url.Values) (io.ReadCloser, error) {
	resp, err := c.send(ctx, http.MethodGet, path, q, nil)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// send makes the request; an answer other than 2xx becomes a *ServerError
// and a failure to connect an error that says what to check.
func (c *Client) send(ctx context.Context, method, path string, q url.Values, in any) (*http.Response, error) {
	u := "http://tend" + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var body io.Reader
	contentType := ""
	switch v := in.(type) {
	case nil:
	case rawBody:
		body, contentType = bytes.NewReader(v), "application/toml"
	default:
		data, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		body, contentType = bytes.NewReader(data), "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, c.dialError(err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		return nil, answerError(resp, method, path)
	}
	return resp, nil
}

// answerError is the *ServerError of an answer the caller did not want:
// the agent's APIError, or what it sent instead.
func answerError(resp *http.Response, method, path string) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var apiErr APIError
	msg := ""
	if json.Unmarshal(data, &apiErr) == nil && apiErr.Error != "" {
		msg = apiErr.Error
	} else {
		msg = fmt.Sprintf("the tend agent answered %s to %s %s: %s", resp.Status, method, path, bytes.TrimSpace(data))
	}
	return &ServerError{Status: resp.StatusCode, Message: msg}
}

// dialError explains a failed request: when the socket could not be
// reached, what to do about it.
func (c *Client) dialError(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		hint := `is "tend agent" running? set --socket or TEND_SOCKET`
		if errors.Is(op.Err, syscall.EACCES) {
			hint = "run as root, or as a member of the socket's group"
		}
		return fmt.Errorf("cannot reach the tend agent at %s: %w (%s)", c.socket, op.Err, hint)
	}
	return fmt.Errorf("talking to the tend agent at %s: %w", c.socket, err)
}

func query(key, value string) url.Values {
	q := url.Values{}
	if value != "" {
		q.Set(key, value)
	}
	return q
}
