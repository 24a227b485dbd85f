package supervisor

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
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
// line. errors.Is matches ErrNotFound for 404 and ErrInvalid for 400 and
// 422.
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
	}
	return false
}

// Version returns the agent's build.
func (c *Client) Version(ctx context.Context) (Version, error) {
	var v Version
	return v, c.do(ctx, http.MethodGet, "/v1/version", nil, nil, &v)
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
func (c *Client) Logs(ctx context.Context, name string, opts LogOptions) (io.ReadCloser, error) {
	q := url.Values{}
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
	return c.stream(ctx, "/v1/instances/"+url.PathEscape(name)+"/logs", q)
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
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		var apiErr APIError
		msg := ""
		if json.Unmarshal(data, &apiErr) == nil && apiErr.Error != "" {
			msg = apiErr.Error
		} else {
			msg = fmt.Sprintf("the tend agent answered %s to %s %s: %s", resp.Status, method, path, bytes.TrimSpace(data))
		}
		return nil, &ServerError{Status: resp.StatusCode, Message: msg}
	}
	return resp, nil
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
