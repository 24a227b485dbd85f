package supervisor_test

// The tests of the local API and its client, over a real unix socket with
// mock.Backend standing in for the agent. They are outside package
// supervisor because supervisor/mock imports it; the dot import lets them
// read as if inside, and export_test.go exports what else they need.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	. "github.com/tendhq/tend/supervisor"
	"github.com/tendhq/tend/supervisor/mock"
	"github.com/tendhq/tend/units"
)

// fake is the API tests' agent: the test data in maps under one mutex,
// served through mock.Backend's function fields, which close over them.
type fake struct {
	mock.Backend
	mu        sync.Mutex
	instances map[string]Instance
	units     map[string]Unit
	hosts     map[string]Host
	events    []Event
	logs      map[string]string      // instance → current run's output
	previous  map[string]string      // instance → previous run's output
	follow    map[string]chan string // instance → lines that a follower receives after the stored output
	applied   map[string][]byte
	orphaned  map[string]bool
	changes   mock.Notifier
	host      string // the host the fake agent runs on
}

// newFake returns a fake with no objects.
func newFake() *fake {
	f := &fake{
		instances: map[string]Instance{},
		units:     map[string]Unit{},
		hosts:     map[string]Host{},
		logs:      map[string]string{},
		previous:  map[string]string{},
		follow:    map[string]chan string{},
		applied:   map[string][]byte{},
		orphaned:  map[string]bool{},
		host:      "edge-17",
	}
	f.Backend = mock.Backend{
		InstancesFn: func(sel units.Selector) []Instance {
			f.mu.Lock()
			defer f.mu.Unlock()
			return sorted(f.instances, func(in Instance) bool { return sel.Matches(in.Labels) })
		},
		InstanceFn: func(name string) (Instance, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			return lookup(f.instances, "instance", name)
		},
		DeleteInstanceFn: func(name string) (err error) {
			f.change(func() {
				if _, err = lookup(f.instances, "instance", name); err == nil {
					delete(f.instances, name)
				}
			})
			return err
		},
		LabelInstanceFn: func(name string, c LabelChange) (in Instance, err error) {
			f.change(func() {
				if in, err = lookup(f.instances, "instance", name); err != nil {
					return
				}
				if in.Labels, err = ApplyLabels(in.Labels, c); err == nil {
					f.instances[name] = in
				}
			})
			return in, err
		},
		LogsFn: f.readLogs,

		UnitsFn: func(kind units.Kind) []Unit {
			f.mu.Lock()
			defer f.mu.Unlock()
			return sorted(f.units, func(u Unit) bool { return kind == 0 || u.Kind == kind })
		},
		UnitFn: func(name string) (Unit, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			return lookup(f.units, "unit", name)
		},
		ApplyUnitFn: f.applyUnit,
		DeleteUnitFn: func(name string, orphan bool) (err error) {
			f.change(func() {
				if _, err = lookup(f.units, "unit", name); err == nil {
					delete(f.units, name)
					f.orphaned[name] = orphan
				}
			})
			return err
		},
		ScaleUnitFn: func(name string, replicas int) (u Unit, err error) {
			f.change(func() {
				if u, err = lookup(f.units, "unit", name); err == nil {
					u.Desired = replicas
					f.units[name] = u
				}
			})
			return u, err
		},

		HostsFn: func() []Host {
			f.mu.Lock()
			defer f.mu.Unlock()
			return sorted(f.hosts, func(Host) bool { return true })
		},
		HostFn: func(name string) (Host, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			return lookup(f.hosts, "host", name)
		},
		LabelHostFn: func(name string, c LabelChange) (h Host, err error) {
			f.change(func() {
				if h, err = lookup(f.hosts, "host", name); err != nil {
					return
				}
				if h.Labels, err = ApplyLabels(h.Labels, c); err == nil {
					f.hosts[name] = h
				}
			})
			return h, err
		},
		DeleteHostFn: func(name string) (err error) {
			f.change(func() {
				var h Host
				switch h, err = lookup(f.hosts, "host", name); {
				case err != nil:
				case h.Status == "Ready":
					err = fmt.Errorf("host %q is Ready: %w", name, ErrConflict)
				default:
					delete(f.hosts, name)
				}
			})
			return err
		},

		EventsFn: func(kind, object string) []Event {
			f.mu.Lock()
			defer f.mu.Unlock()
			var out []Event
			for _, e := range f.events {
				if (kind == "" || e.Kind == kind) && (object == "" || e.Object == object) {
					out = append(out, e)
				}
			}
			return out
		},
		ChangesFn: f.changes.Subscribe,
		VersionFn: func() Version { return Version{Version: "v0.0.0-test", Go: "go1.26", Host: f.host} },
	}
	return f
}

// change runs fn under the lock, then wakes the watchers.
func (f *fake) change(fn func()) {
	f.mu.Lock()
	fn()
	f.mu.Unlock()
	f.changes.Notify()
}

func (f *fake) readLogs(ctx context.Context, name string, opts LogOptions) (io.ReadCloser, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := lookup(f.instances, "instance", name); err != nil {
		return nil, err
	}
	text := f.logs[name]
	if opts.Previous {
		var ok bool
		if text, ok = f.previous[name]; !ok {
			return nil, fmt.Errorf("previous run of instance %q: %w", name, ErrNotFound)
		}
	}
	if opts.Tail >= 0 {
		lines := strings.SplitAfter(text, "\n")
		if lines[len(lines)-1] == "" {
			lines = lines[:len(lines)-1]
		}
		text = strings.Join(lines[max(0, len(lines)-opts.Tail):], "")
	}
	if !opts.Follow {
		return io.NopCloser(strings.NewReader(text)), nil
	}
	lines := f.follow[name]
	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte(text))
		for {
			select {
			case <-ctx.Done():
				pw.CloseWithError(io.EOF)
				return
			case l, ok := <-lines:
				if !ok {
					pw.Close() // the run ended
					return
				}
				pw.Write([]byte(l))
			}
		}
	}()
	return pr, nil
}

// applyUnit accepts any file, except that each line "bad KEY" is reported
// as an invalid key, as units.Parse would report it.
func (f *fake) applyUnit(filename string, data []byte) (ApplyResult, error) {
	var list units.ErrorList
	for i, line := range strings.Split(string(data), "\n") {
		if key, ok := strings.CutPrefix(line, "bad "); ok {
			list = append(list, &units.Error{File: filename, Line: i + 1, Key: key, Msg: "unknown key"})
		}
	}
	if len(list) > 0 {
		return ApplyResult{}, fmt.Errorf("unit file %s: %w", filename, list)
	}
	name := strings.TrimSuffix(filename, ".toml")
	res := ApplyResult{Name: name, Kind: units.KindReplicated, Action: "created"}
	f.change(func() {
		if old, ok := f.applied[name]; ok {
			res.Action = "configured"
			if string(old) == string(data) {
				res.Action = "unchanged"
			}
		}
		f.applied[name] = data
		f.units[name] = Unit{Name: name, Kind: units.KindReplicated, Source: string(data), Desired: 1}
	})
	return res, nil
}

// sorted returns the values of m that keep accepts, in the order of their
// keys.
func sorted[V any](m map[string]V, keep func(V) bool) []V {
	var out []V
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if keep(m[k]) {
			out = append(out, m[k])
		}
	}
	return out
}

// lookup returns m[name], or an error saying there is no kind of that name.
func lookup[V any](m map[string]V, kind, name string) (V, error) {
	v, ok := m[name]
	if !ok {
		return v, fmt.Errorf("%s %q: %w", kind, name, ErrNotFound)
	}
	return v, nil
}

// shortTempDir returns a directory short enough for a unix socket path
// (at most 108 bytes), removed when the test ends.
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "tend")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// noLeaks fails the test if goroutines started during it outlive it (its
// cleanups included: this one runs last).
func noLeaks(t *testing.T) { noLeaksBut(t) }

// noLeaksBut is noLeaks ignoring what opts say too.
func noLeaksBut(t *testing.T, opts ...goleak.Option) {
	opts = append(opts, goleak.IgnoreCurrent(), Lifelong)
	t.Cleanup(func() { goleak.VerifyNone(t, opts...) })
}

// serve runs the API for b on a real unix socket and returns a client for
// it. The server, its streams and the client's connections end with the
// test.
func serve(t *testing.T, b Backend) (*Client, string) {
	t.Helper()
	noLeaks(t)
	return serveHandler(t, NewAPI(b, slog.New(slog.DiscardHandler)))
}

// serveHandler is serve for any handler of the API, without the check
// for leaks (call noLeaks before whatever else the test starts).
func serveHandler(t *testing.T, h http.Handler) (*Client, string) {
	t.Helper()
	sock := filepath.Join(shortTempDir(t), "run", "tend.sock")
	l, err := ListenUnix(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv := &http.Server{
		Handler:     h,
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(l)
	}()
	c := NewClient(sock)
	t.Cleanup(func() {
		cancel()
		srv.Close()
		<-done
		c.Close()
	})
	return c, sock
}

func fixture() *fake {
	b := newFake()
	t0 := time.Date(2020, 10, 24, 0, 9, 40, 0, time.UTC)
	for _, n := range []string{"kubia-7hjkc", "kubia-9w7gs"} {
		b.instances[n] = Instance{Name: n, Unit: "kubia", Kind: units.KindReplicated, Host: "edge-17",
			Labels: units.Labels{"app": "kubia"}, Command: []string{"kubia"}, Created: t0, Status: "Running", Ready: true}
	}
	b.instances["ssd-monitor-hkpq4"] = Instance{Name: "ssd-monitor-hkpq4", Unit: "ssd-monitor", Kind: units.KindPerHost,
		Host: "edge-17", Labels: units.Labels{"app": "ssd-monitor"}, Status: "Running"}
	b.units["kubia"] = Unit{Name: "kubia", Kind: units.KindReplicated, Desired: 3, Current: 3, Ready: 3, Selector: "app=kubia"}
	b.units["ssd-monitor"] = Unit{Name: "ssd-monitor", Kind: units.KindPerHost, NodeSelector: "disk=ssd"}
	b.hosts["edge-17"] = Host{Name: "edge-17", Status: "Ready", Version: "v0.0.0-test", Labels: units.Labels{"zone": "a"}}
	b.events = []Event{
		{Kind: "unit", Object: "kubia", Type: "Normal", Reason: "SuccessfulCreate", Message: "Created instance: kubia-7hjkc", Count: 1},
		{Kind: "instance", Object: "kubia-7hjkc", Type: "Warning", Reason: "Unhealthy", Message: "Liveness probe failed", Count: 3},
	}
	b.logs["kubia-7hjkc"] = "one\ntwo\nthree\n"
	b.previous["kubia-7hjkc"] = "before the restart\n"
	return b
}

func names[T any](list []T, name func(T) string) []string {
	var out []string
	for _, x := range list {
		out = append(out, name(x))
	}
	return out
}

func instName(in Instance) string { return in.Name }

func TestAPIVersion(t *testing.T) {
	c, _ := serve(t, fixture())
	v, err := c.Version(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if v.Version != "v0.0.0-test" || v.Host != "edge-17" {
		t.Errorf("Version = %+v", v)
	}
}

func TestAPIInstances(t *testing.T) {
	c, _ := serve(t, fixture())
	ctx := context.Background()
	for _, tc := range []struct {
		selector string
		want     []string
	}{
		{"", []string{"kubia-7hjkc", "kubia-9w7gs", "ssd-monitor-hkpq4"}},
		{"app=kubia", []string{"kubia-7hjkc", "kubia-9w7gs"}},
		{"app in (ssd-monitor, foo)", []string{"ssd-monitor-hkpq4"}},
		{"app!=kubia", []string{"ssd-monitor-hkpq4"}},
		{"app=none", nil},
	} {
		list, err := c.Instances(ctx, tc.selector)
		if err != nil {
			t.Fatalf("Instances(%q): %v", tc.selector, err)
		}
		if got := names(list, instName); !slices.Equal(got, tc.want) {
			t.Errorf("Instances(%q) = %q, want %q", tc.selector, got, tc.want)
		}
	}
	_, err := c.Instances(ctx, "app in (")
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "app in (") {
		t.Errorf("bad selector: err = %v, want ErrInvalid naming the selector", err)
	}
}

func TestAPIEmptyListIsArray(t *testing.T) {
	c, sock := serve(t, newFake())
	resp := rawGet(t, sock, "/v1/instances")
	if strings.TrimSpace(resp) != "200 OK []" {
		t.Errorf("empty list = %q, want 200 OK []", resp)
	}
	hosts, err := c.Hosts(context.Background())
	if err != nil || len(hosts) != 0 {
		t.Errorf("Hosts = %v, %v", hosts, err)
	}
}

// rawGet fetches path over the socket without the Client.
func rawGet(t *testing.T, sock, path string) string {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
	}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Get("http://tend" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.Status + " " + string(data)
}

func TestAPIInstanceAndErrors(t *testing.T) {
	b := fixture()
	var failing atomic.Bool // once set, Instance fails, to test a 500
	instance := b.InstanceFn
	b.InstanceFn = func(name string) (Instance, error) {
		if failing.Load() {
			return Instance{}, errors.New("store: disk on fire")
		}
		return instance(name)
	}
	c, _ := serve(t, b)
	ctx := context.Background()
	in, err := c.Instance(ctx, "kubia-7hjkc")
	if err != nil || in.Unit != "kubia" || !in.Created.Equal(time.Date(2020, 10, 24, 0, 9, 40, 0, time.UTC)) {
		t.Fatalf("Instance = %+v, %v", in, err)
	}

	_, err = c.Instance(ctx, "nope")
	var se *ServerError
	if !errors.As(err, &se) || se.Status != http.StatusNotFound || !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing instance: err = %#v, want a 404 ServerError matching ErrNotFound", err)
	}
	if got, want := err.Error(), `instance "nope": not found`; got != want {
		t.Errorf("404 message = %q, want %q", got, want)
	}

	failing.Store(true)
	_, err = c.Instance(ctx, "kubia-7hjkc")
	if !errors.As(err, &se) || se.Status != http.StatusInternalServerError || err.Error() != "store: disk on fire" {
		t.Errorf("backend failure: err = %#v, want 500 with the backend's message", err)
	}
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrInvalid) {
		t.Errorf("500 matches a sentinel: %v", err)
	}
}

func TestAPINoRoute(t *testing.T) {
	_, sock := serve(t, fixture())
	for path, want := range map[string]string{
		"/v1/nothing":  `404 Not Found {"error":"no route for GET /v1/nothing"}`,
		"/v2/version":  `404 Not Found {"error":"no route for GET /v2/version"}`,
		"/v1/units/x/": `404 Not Found {"error":"no route for GET /v1/units/x/"}`,
	} {
		if got := strings.TrimSpace(rawGet(t, sock, path)); got != want {
			t.Errorf("GET %s = %s, want %s", path, got, want)
		}
	}
	// A known path with the wrong method is a 405, in JSON too.
	c := NewClient(sock)
	defer c.Close()
	err := c.Do(context.Background(), http.MethodPost, "/v1/hosts", nil, nil, nil)
	var se *ServerError
	if !errors.As(err, &se) || se.Status != http.StatusMethodNotAllowed || se.Message != "no route for POST /v1/hosts" {
		t.Errorf("POST /v1/hosts: err = %#v", err)
	}
}

func TestAPIDeleteInstance(t *testing.T) {
	b := fixture()
	c, _ := serve(t, b)
	ctx := context.Background()
	if err := c.DeleteInstance(ctx, "kubia-7hjkc"); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.instances["kubia-7hjkc"]; ok {
		t.Error("instance still there after DeleteInstance")
	}
	if err := c.DeleteInstance(ctx, "kubia-7hjkc"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: err = %v, want ErrNotFound", err)
	}
}

func TestAPILabelInstance(t *testing.T) {
	c, _ := serve(t, fixture())
	ctx := context.Background()
	in, err := c.LabelInstance(ctx, "kubia-7hjkc", LabelChange{Set: units.Labels{"type": "special"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := in.Labels.String(); got != "app=kubia,type=special" {
		t.Errorf("labels = %q", got)
	}
	_, err = c.LabelInstance(ctx, "kubia-7hjkc", LabelChange{Set: units.Labels{"app": "foo"}})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "'app' already has a value (kubia), and --overwrite is false") {
		t.Errorf("relabel without overwrite: err = %v", err)
	}
	in, err = c.LabelInstance(ctx, "kubia-7hjkc", LabelChange{Set: units.Labels{"app": "foo"}, Remove: []string{"type"}, Overwrite: true})
	if err != nil || in.Labels.String() != "app=foo" {
		t.Errorf("relabel with overwrite = %q, %v", in.Labels, err)
	}
	_, err = c.LabelInstance(ctx, "nope", LabelChange{})
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("label missing instance: err = %v", err)
	}
}

func readAll(t *testing.T, rc io.ReadCloser, err error) string {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestAPILogs(t *testing.T) {
	c, _ := serve(t, fixture())
	ctx := context.Background()
	logs := func(opts LogOptions) string {
		rc, err := c.Logs(ctx, "kubia-7hjkc", opts)
		return readAll(t, rc, err)
	}
	if got := logs(LogOptions{Tail: -1}); got != "one\ntwo\nthree\n" {
		t.Errorf("logs = %q", got)
	}
	if got := logs(LogOptions{Tail: 2}); got != "two\nthree\n" {
		t.Errorf("logs --tail 2 = %q", got)
	}
	if got := logs(LogOptions{Tail: 0}); got != "" {
		t.Errorf("logs --tail 0 = %q", got)
	}
	if got := logs(LogOptions{Previous: true, Tail: -1}); got != "before the restart\n" {
		t.Errorf("logs --previous = %q", got)
	}
	_, err := c.Logs(ctx, "kubia-9w7gs", LogOptions{Previous: true, Tail: -1})
	if !errors.Is(err, ErrNotFound) || err.Error() != `previous run of instance "kubia-9w7gs": not found` {
		t.Errorf("no previous run: err = %v", err)
	}
	_, err = c.Logs(ctx, "nope", LogOptions{Tail: -1})
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("logs of missing instance: err = %v", err)
	}
}

// TestAPILogsFollow checks that each write reaches a follower at once
// (the server flushes per write) and that the stream ends with the run.
func TestAPILogsFollow(t *testing.T) {
	b := fixture()
	lines := make(chan string)
	b.follow["kubia-7hjkc"] = lines
	c, _ := serve(t, b)
	rc, err := c.Logs(context.Background(), "kubia-7hjkc", LogOptions{Follow: true, Tail: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	r := bufio.NewReader(rc)
	expect := func(want string) {
		t.Helper()
		got, err := r.ReadString('\n')
		if err != nil || got != want {
			t.Fatalf("read %q, %v; want %q", got, err, want)
		}
	}
	expect("three\n")
	for _, l := range []string{"four\n", "five\n"} {
		lines <- l // unbuffered: the backend has taken it before the read
		expect(l)
	}
	close(lines)
	if rest, err := io.ReadAll(r); err != nil || len(rest) != 0 {
		t.Errorf("after the run ended: %q, %v; want EOF", rest, err)
	}
}

// TestAPILogsFollowCancel checks that a follower that goes away ends the
// backend's stream.
func TestAPILogsFollowCancel(t *testing.T) {
	b := fixture()
	b.follow["kubia-7hjkc"] = make(chan string)
	c, _ := serve(t, b)
	ctx, cancel := context.WithCancel(context.Background())
	rc, err := c.Logs(ctx, "kubia-7hjkc", LogOptions{Follow: true, Tail: -1})
	if err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(rc)
	if l, err := r.ReadString('\n'); err != nil || l != "one\n" {
		t.Fatalf("first line %q, %v", l, err)
	}
	cancel()
	if _, err := io.ReadAll(r); err == nil {
		t.Error("read after cancel succeeded")
	}
	rc.Close()
	// noLeaks checks that the backend's goroutine ended.
}

// logStep is one Read of a scripted log reader.
type logStep struct {
	out string
	err error
}

// scriptedLogs is a reader whose Reads return steps, one each, then
// block until ctx is done (a follower of a run that goes on).
type scriptedLogs struct {
	ctx   context.Context
	steps []logStep
}

func (s *scriptedLogs) Read(p []byte) (int, error) {
	if len(s.steps) == 0 {
		<-s.ctx.Done()
		return 0, io.EOF
	}
	st := s.steps[0]
	s.steps = s.steps[1:]
	if st.err == http.ErrAbortHandler {
		panic(st.err) // the agent dies mid-stream, in effect
	}
	return copy(p, st.out), st.err
}

func (s *scriptedLogs) Close() error { return nil }

// readLogEvents reads a log stream to its end, as the output, skips and
// end it shows: "out:...", "skip:LINES,BYTES", and "eof" or "err:...".
func readLogEvents(t *testing.T, rc io.ReadCloser) []string {
	t.Helper()
	defer rc.Close()
	var events []string
	buf := make([]byte, 64)
	for {
		n, err := rc.Read(buf)
		if n > 0 {
			if k := len(events) - 1; k >= 0 && strings.HasPrefix(events[k], "out:") {
				events[k] += string(buf[:n])
			} else {
				events = append(events, "out:"+string(buf[:n]))
			}
		}
		var skip *LogSkipped
		switch {
		case err == nil:
		case errors.As(err, &skip):
			events = append(events, fmt.Sprintf("skip:%d,%d", skip.Lines, skip.Bytes))
		case err == io.EOF:
			return append(events, "eof")
		default:
			return append(events, "err:"+err.Error())
		}
	}
}

// TestAPILogsSkipsAndEnds checks what a client of the log stream sees of
// a follower's skips and of each way the stream ends: a skip as a
// *LogSkipped between the output before and after it, io.EOF only when
// the output has ended, an error otherwise, and in text (for curl) a skip
// as one marked line.
func TestAPILogsSkipsAndEnds(t *testing.T) {
	skip := &LogSkipped{Lines: 3, Bytes: 30}
	for _, tc := range []struct {
		name  string
		steps []logStep
		want  []string
	}{
		{"skip then the end of the run",
			[]logStep{{"a\n", nil}, {"", skip}, {"b\n", nil}, {"", io.EOF}},
			[]string{"out:a\n", "skip:3,30", "out:b\n", "eof"}},
		{"a read error",
			[]logStep{{"a\n", nil}, {"", errors.New("disk on fire")}},
			[]string{"out:a\n", "err:agent: reading the log: disk on fire"}},
		{"the agent dies",
			[]logStep{{"a\n", nil}, {"", http.ErrAbortHandler}},
			[]string{"out:a\n", "err:the agent's log stream was cut off (the agent stopped, or the connection broke)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := fixture()
			b.LogsFn = func(ctx context.Context, name string, opts LogOptions) (io.ReadCloser, error) {
				return &scriptedLogs{ctx: ctx, steps: slices.Clone(tc.steps)}, nil
			}
			c, sock := serve(t, b)
			rc, err := c.Logs(context.Background(), "kubia-7hjkc", LogOptions{Follow: true, Tail: -1})
			if err != nil {
				t.Fatal(err)
			}
			if got := readLogEvents(t, rc); !slices.Equal(got, tc.want) {
				t.Errorf("events %q, want %q", got, tc.want)
			}
			if tc.name != "skip then the end of the run" {
				return
			}
			hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, "unix", sock)
			}}}
			defer hc.CloseIdleConnections()
			resp, err := hc.Get("http://tend/v1/instances/kubia-7hjkc/logs?follow=1")
			if err != nil {
				t.Fatal(err)
			}
			text, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			want := "a\ntend: skipped 30 bytes (3 lines) of kubia-7hjkc's output: the reader fell behind log rotation\nb\n"
			if err != nil || string(text) != want || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
				t.Errorf("as text: %q, %v, %s; want %q", text, err, resp.Header.Get("Content-Type"), want)
			}
		})
	}
}

func TestAPIWatch(t *testing.T) {
	b := fixture()
	c, _ := serve(t, b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := make(chan WatchEvent)
	errc := make(chan error, 1)
	go func() {
		errc <- c.WatchInstances(ctx, "app=kubia", func(ev WatchEvent) error {
			select {
			case events <- ev:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	next := func() WatchEvent {
		t.Helper()
		select {
		case ev := <-events:
			return ev
		case err := <-errc:
			t.Fatalf("watch ended: %v", err)
		}
		return WatchEvent{}
	}
	expect := func(typ, name string) WatchEvent {
		t.Helper()
		ev := next()
		if ev.Type != typ || ev.Object.Name != name {
			t.Fatalf("event %s %s, want %s %s", ev.Type, ev.Object.Name, typ, name)
		}
		return ev
	}
	expect(WatchAdded, "kubia-7hjkc")
	expect(WatchAdded, "kubia-9w7gs")
	expect(WatchBookmark, "")

	b.change(func() {
		in := b.instances["kubia-9w7gs"]
		in.Status = "Terminating"
		b.instances["kubia-9w7gs"] = in
	})
	if ev := expect(WatchModified, "kubia-9w7gs"); ev.Object.Status != "Terminating" {
		t.Errorf("modified object status %q", ev.Object.Status)
	}
	b.change(func() {
		b.instances["kubia-zpkgx"] = Instance{Name: "kubia-zpkgx", Labels: units.Labels{"app": "kubia"}, Status: "Pending"}
		b.instances["other"] = Instance{Name: "other", Labels: units.Labels{"app": "other"}}
	})
	expect(WatchAdded, "kubia-zpkgx")
	b.change(func() { delete(b.instances, "kubia-9w7gs") })
	if ev := expect(WatchDeleted, "kubia-9w7gs"); ev.Object.Status != "Terminating" {
		t.Errorf("deleted object is not the last seen: %+v", ev.Object)
	}
	// Relabelled out of the selector: it leaves the watch.
	if _, err := b.LabelInstance("kubia-7hjkc", LabelChange{Set: units.Labels{"app": "foo"}, Overwrite: true}); err != nil {
		t.Fatal(err)
	}
	expect(WatchDeleted, "kubia-7hjkc")
	// A change that leaves everything as it was sends nothing; the next
	// real change arrives next.
	b.change(func() {})
	b.change(func() {
		in := b.instances["kubia-zpkgx"]
		in.Status = "Running"
		b.instances["kubia-zpkgx"] = in
	})
	expect(WatchModified, "kubia-zpkgx")

	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("WatchInstances after cancel = %v, want context.Canceled", err)
	}
	// The server notices the client has gone and unsubscribes.
	deadline := time.Now().Add(5 * time.Second)
	for b.changes.Subscribers() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("watch handler still subscribed after the client went away")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestAPIWatchBadSelector(t *testing.T) {
	c, _ := serve(t, fixture())
	err := c.WatchInstances(context.Background(), "a in", func(WatchEvent) error { return nil })
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("err = %v, want ErrInvalid", err)
	}
}

func TestAPIUnits(t *testing.T) {
	c, _ := serve(t, fixture())
	ctx := context.Background()
	unitName := func(u Unit) string { return u.Name }
	for kind, want := range map[string][]string{
		"":           {"kubia", "ssd-monitor"},
		"replicated": {"kubia"},
		"ReplicaSet": {"kubia"},
		"daemonset":  {"ssd-monitor"},
		"job":        nil,
	} {
		list, err := c.Units(ctx, kind)
		if err != nil {
			t.Fatalf("Units(%q): %v", kind, err)
		}
		if got := names(list, unitName); !slices.Equal(got, want) {
			t.Errorf("Units(%q) = %q, want %q", kind, got, want)
		}
	}
	if _, err := c.Units(ctx, "pods"); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `"pods" is not a kind`) {
		t.Errorf("Units(pods): err = %v", err)
	}
	u, err := c.Unit(ctx, "kubia")
	if err != nil || u.Desired != 3 || u.Selector != "app=kubia" {
		t.Errorf("Unit = %+v, %v", u, err)
	}
	if _, err := c.Unit(ctx, "nope"); !errors.Is(err, ErrNotFound) || err.Error() != `unit "nope": not found` {
		t.Errorf("missing unit: err = %v", err)
	}
}

func TestAPIApplyUnit(t *testing.T) {
	b := newFake()
	c, _ := serve(t, b)
	ctx := context.Background()
	data := []byte("kind = \"replicated\"\nreplicas = 3\n")
	for _, want := range []string{"created", "unchanged"} {
		res, err := c.ApplyUnit(ctx, "kubia.toml", data)
		if err != nil || res.Action != want || res.Name != "kubia" {
			t.Fatalf("ApplyUnit = %+v, %v; want %s", res, err, want)
		}
	}
	if got := string(b.applied["kubia"]); got != string(data) {
		t.Errorf("backend got %q", got)
	}

	_, err := c.CreateUnit(ctx, "kubia.toml", data)
	var se *ServerError
	if !errors.As(err, &se) || se.Status != http.StatusConflict || err.Error() != `units "kubia" already exists` {
		t.Errorf("create of an existing unit: err = %#v", err)
	}
	res, err := c.CreateUnit(ctx, "exporter.toml", []byte("kind = \"job\"\n"))
	if err != nil || res.Action != "created" {
		t.Errorf("create = %+v, %v", res, err)
	}

	// Every problem reaches the client, one per line.
	_, err = c.ApplyUnit(ctx, "broken.toml", []byte("kind = \"replicated\"\nbad replica\nbad templat.command\n"))
	if !errors.As(err, &se) || se.Status != http.StatusUnprocessableEntity || !errors.Is(err, ErrInvalid) {
		t.Fatalf("invalid unit: err = %#v, want 422", err)
	}
	want := "unit file broken.toml: broken.toml:2: replica: unknown key\nbroken.toml:3: templat.command: unknown key"
	if err.Error() != want {
		t.Errorf("invalid unit message:\n%s\nwant:\n%s", err, want)
	}
	if _, ok := b.units["broken"]; ok {
		t.Error("invalid unit was stored")
	}
}

func TestAPIDeleteUnit(t *testing.T) {
	b := fixture()
	c, _ := serve(t, b)
	ctx := context.Background()
	if err := c.DeleteUnit(ctx, "kubia", true); err != nil {
		t.Fatal(err)
	}
	if orphan, ok := b.orphaned["kubia"]; !ok || !orphan {
		t.Errorf("DeleteUnit(orphan) reached the backend as orphan=%v", orphan)
	}
	if err := c.DeleteUnit(ctx, "ssd-monitor", false); err != nil || b.orphaned["ssd-monitor"] {
		t.Errorf("DeleteUnit(cascade): %v, orphan=%v", err, b.orphaned["ssd-monitor"])
	}
	if err := c.DeleteUnit(ctx, "kubia", false); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: err = %v", err)
	}
	// kubectl's spellings of --cascade.
	for cascade, orphan := range map[string]bool{"false": true, "orphan": true, "background": false, "foreground": false, "true": false} {
		b.units["x"] = Unit{Name: "x"}
		if err := c.Do(ctx, http.MethodDelete, "/v1/units/x", map[string][]string{"cascade": {cascade}}, nil, nil); err != nil {
			t.Fatalf("cascade=%s: %v", cascade, err)
		}
		if b.orphaned["x"] != orphan {
			t.Errorf("cascade=%s: orphan = %v, want %v", cascade, b.orphaned["x"], orphan)
		}
	}
	err := c.Do(ctx, http.MethodDelete, "/v1/units/x", map[string][]string{"cascade": {"sideways"}}, nil, nil)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `cascade="sideways"`) {
		t.Errorf("bad cascade: err = %v", err)
	}
}

func TestAPIScaleUnit(t *testing.T) {
	c, _ := serve(t, fixture())
	ctx := context.Background()
	u, err := c.ScaleUnit(ctx, "kubia", 4)
	if err != nil || u.Desired != 4 {
		t.Fatalf("ScaleUnit = %+v, %v", u, err)
	}
	if _, err := c.ScaleUnit(ctx, "kubia", -1); !errors.Is(err, ErrInvalid) {
		t.Errorf("negative replicas: err = %v", err)
	}
	if _, err := c.ScaleUnit(ctx, "nope", 1); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing unit: err = %v", err)
	}
	err = c.Do(ctx, http.MethodPost, "/v1/units/kubia/scale", nil, map[string]any{"replica": 3}, nil)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `unknown field "replica"`) {
		t.Errorf("misspelt body: err = %v", err)
	}
}

func TestAPIHosts(t *testing.T) {
	c, _ := serve(t, fixture())
	ctx := context.Background()
	hosts, err := c.Hosts(ctx)
	if err != nil || len(hosts) != 1 || hosts[0].Name != "edge-17" {
		t.Fatalf("Hosts = %+v, %v", hosts, err)
	}
	h, err := c.Host(ctx, "edge-17")
	if err != nil || h.Status != "Ready" {
		t.Errorf("Host = %+v, %v", h, err)
	}
	if _, err := c.Host(ctx, "gke-3775"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing host: err = %v", err)
	}
	h, err = c.LabelHost(ctx, "edge-17", LabelChange{Set: units.Labels{"disk": "ssd"}})
	if err != nil || h.Labels.String() != "disk=ssd,zone=a" {
		t.Errorf("LabelHost = %q, %v", h.Labels, err)
	}
	_, err = c.LabelHost(ctx, "edge-17", LabelChange{Set: units.Labels{"disk": "hdd"}})
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("relabel without overwrite: err = %v", err)
	}
}

// DELETE /v1/hosts/{name}: 204 for a host that is gone, 409 for a Ready
// one, 404 for one not known; the name travels whole.
func TestAPIDeleteHost(t *testing.T) {
	b := fixture()
	for _, name := range []string{"gke-3775", "a/b", "x y%2F"} {
		b.hosts[name] = Host{Name: name, Status: "NotReady"}
	}
	c, _ := serve(t, b)
	ctx := context.Background()
	for _, name := range []string{"gke-3775", "a/b", "x y%2F"} {
		if err := c.DeleteHost(ctx, name); err != nil {
			t.Errorf("DeleteHost(%q): %v", name, err)
		}
		if _, err := c.Host(ctx, name); !errors.Is(err, ErrNotFound) {
			t.Errorf("host %q after its deletion: %v", name, err)
		}
	}
	var se *ServerError
	if err := c.DeleteHost(ctx, "edge-17"); !errors.Is(err, ErrConflict) || !errors.As(err, &se) || se.Status != http.StatusConflict {
		t.Errorf("deleting a Ready host: %v", err)
	}
	if err := c.DeleteHost(ctx, "gke-3775"); !errors.Is(err, ErrNotFound) || errors.Is(err, ErrConflict) {
		t.Errorf("deleting it again: %v", err)
	}
	if err := c.DeleteHost(ctx, strings.Repeat("x", 10<<10)); !errors.Is(err, ErrNotFound) {
		t.Errorf("a 10 KB name: %v", err)
	}
}

func TestAPIEvents(t *testing.T) {
	c, _ := serve(t, fixture())
	ctx := context.Background()
	reason := func(e Event) string { return e.Reason }
	for _, tc := range []struct {
		kind, object string
		want         []string
	}{
		{"", "", []string{"SuccessfulCreate", "Unhealthy"}},
		{"unit", "", []string{"SuccessfulCreate"}},
		{"instance", "kubia-7hjkc", []string{"Unhealthy"}},
		{"instance", "kubia-9w7gs", nil},
	} {
		list, err := c.Events(ctx, tc.kind, tc.object)
		if err != nil {
			t.Fatal(err)
		}
		if got := names(list, reason); !slices.Equal(got, tc.want) {
			t.Errorf("Events(%q, %q) = %q, want %q", tc.kind, tc.object, got, tc.want)
		}
	}
}

func TestClientDialError(t *testing.T) {
	sock := filepath.Join(shortTempDir(t), "tend.sock")
	c := NewClient(sock)
	defer c.Close()
	_, err := c.Version(context.Background())
	want := fmt.Sprintf(`cannot reach the tend agent at %s: connect: no such file or directory (is "tend agent" running? set --socket or TEND_SOCKET)`, sock)
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant  %s", err, want)
	}
	if !errors.Is(err, syscall.ENOENT) {
		t.Errorf("err does not wrap ENOENT: %#v", err)
	}
}

func TestListenUnix(t *testing.T) {
	dir := shortTempDir(t)
	sock := filepath.Join(dir, "a", "b", "tend.sock")
	l, err := ListenUnix(sock)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o660 {
		t.Errorf("socket mode = %v, want a socket with 0660", fi.Mode())
	}
	if di, err := os.Stat(filepath.Dir(sock)); err != nil || di.Mode().Perm() != 0o755 {
		t.Errorf("parent dir: %v, %v; want 0755", di.Mode(), err)
	}

	// A second agent must not steal the socket of a live one.
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		if conn, err := l.Accept(); err == nil {
			conn.Close()
		}
	}()
	if _, err := ListenUnix(sock); err == nil || err.Error() != "another agent is listening on "+sock {
		t.Errorf("second ListenUnix: err = %v", err)
	}
	<-accepted
	l.Close()

	// A socket file left by an agent that died is removed. Make one that
	// survives its listener's Close, as after kill -9.
	stale, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()
	if _, err := os.Stat(sock); err != nil {
		t.Fatalf("stale socket did not survive: %v", err)
	}
	l, err = ListenUnix(sock)
	if err != nil {
		t.Fatalf("ListenUnix over a stale socket: %v", err)
	}
	l.Close()

	// Anything else at the path is left alone.
	plain := filepath.Join(dir, "not-a-socket")
	if err := os.WriteFile(plain, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ListenUnix(plain); err == nil || !strings.Contains(err.Error(), "is not a socket") {
		t.Errorf("ListenUnix over a file: err = %v", err)
	}
	if data, _ := os.ReadFile(plain); string(data) != "precious" {
		t.Error("ListenUnix clobbered a regular file")
	}
}

// The API's answers are plain JSON that other tools can read.
func TestAPIWireJSON(t *testing.T) {
	_, sock := serve(t, fixture())
	body := rawGet(t, sock, "/v1/units/kubia")
	status, js, _ := strings.Cut(body, " {")
	if status != "200 OK" {
		t.Fatalf("status %q", status)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte("{"+js), &m); err != nil {
		t.Fatal(err)
	}
	if m["name"] != "kubia" || m["desired"] != 3.0 {
		t.Errorf("unit JSON = %v", m)
	}
}

// TestAPIRefusesNamesWithDirectoryParts: a name in the path is one path
// element. "sub%2Fgood.toml" once reached the catalog as sub/good.toml,
// was cut to good.toml, and so ?create=1 overwrote unit good instead of
// answering 409.
func TestAPIRefusesNamesWithDirectoryParts(t *testing.T) {
	b := newFake()
	c, sock := serve(t, b)
	if _, err := c.ApplyUnit(context.Background(), "good.toml", []byte("replicas = 1\n")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ method, path, name string }{
		{http.MethodPut, "/v1/units/sub%2Fgood.toml?create=1", "sub/good.toml"},
		{http.MethodPut, "/v1/units/..%2F..%2Fetc%2Fpasswd", "../../etc/passwd"},
		{http.MethodPut, "/v1/units/%2E%2E", ".."},
		{http.MethodGet, "/v1/units/sub%2Fgood", "sub/good"},
		{http.MethodDelete, "/v1/units/..%2Fgood", "../good"},
		{http.MethodPost, "/v1/units/sub%2Fgood/scale", "sub/good"},
		{http.MethodGet, "/v1/instances/a%2Fb", "a/b"},
	} {
		resp, body := rawDo(t, sock, tc.method, tc.path, "replicas = 2\n")
		want := fmt.Sprintf("invalid name %q: a name is one path element: it may not contain '/' or be '.' or '..'", tc.name)
		if resp.StatusCode != http.StatusBadRequest || body.Error != want {
			t.Errorf("%s %s = %d %q, want 400 %q", tc.method, tc.path, resp.StatusCode, body.Error, want)
		}
	}
	if got := string(b.applied["good"]); got != "replicas = 1\n" {
		t.Errorf("unit good was overwritten: %q", got)
	}
	if len(b.applied) != 1 {
		t.Errorf("applied: %v", slices.Collect(maps.Keys(b.applied)))
	}
}

// rawDo sends a request over the socket without the Client, which would
// escape the path, and decodes the APIError of the answer, if any.
func rawDo(t *testing.T, sock, method, path, body string) (*http.Response, APIError) {
	t.Helper()
	hc := &http.Client{
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer hc.CloseIdleConnections()
	req, err := http.NewRequest(method, "http://tend"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e APIError
	json.NewDecoder(resp.Body).Decode(&e)
	return resp, e
}

// TestAPIOversizeBodiesAre413: a unit file over units.MaxFileSize, or a
// JSON body over its 1 MiB, is refused as too large, saying how large a
// body may be, rather than as a malformed one.
func TestAPIOversizeBodiesAre413(t *testing.T) {
	// The server lingers on a connection it closes after a body it did
	// not read to the end (net/http's rstAvoidanceDelay, 500 ms).
	noLeaksBut(t, goleak.IgnoreAnyFunction("net/http.(*conn).closeWriteAndWait"))
	b := fixture()
	_, sock := serveHandler(t, NewAPI(b, slog.New(slog.DiscardHandler)))
	big := strings.Repeat("#", units.MaxFileSize+1)
	for _, tc := range []struct{ method, path, body, want string }{
		{http.MethodPut, "/v1/units/kubia.toml", big, "unit file kubia.toml is larger than 1048576 bytes"},
		{http.MethodPost, "/v1/units/kubia/scale", `{"replicas":1}` + strings.Repeat(" ", 1<<20), "request body is larger than 1048576 bytes"},
		{http.MethodPatch, "/v1/instances/kubia-7hjkc/labels", `{"set":{"a":"` + strings.Repeat("x", 1<<20) + `"}}`, "request body is larger than 1048576 bytes"},
	} {
		resp, body := rawDo(t, sock, tc.method, tc.path, tc.body)
		if resp.StatusCode != http.StatusRequestEntityTooLarge || body.Error != tc.want {
			t.Errorf("%s %s with %d bytes = %d %q, want 413 %q", tc.method, tc.path, len(tc.body), resp.StatusCode, body.Error, tc.want)
		}
	}
	if _, ok := b.applied["kubia"]; ok {
		t.Error("the oversize unit file was applied")
	}
}

// TestAPIUncleanPathIs400: the mux would answer a path with an empty, "."
// or ".." element with a 307 to its clean form, and for one whose clean
// form has no route the 307 came without a Location. A redirect that keeps
// the method could also turn a DELETE of /v1/units/../hosts/x into one of
// a host: every unclean path is refused, naming the clean one.
func TestAPIUncleanPathIs400(t *testing.T) {
	_, sock := serve(t, fixture())
	for _, tc := range []struct{ method, path, clean string }{
		{http.MethodGet, "/v1//units", "/v1/units"},
		{http.MethodGet, "/v1/units/./kubia", "/v1/units/kubia"},
		{http.MethodPut, "/v1/units/../../etc/passwd", "/etc/passwd"},
		{http.MethodDelete, "/v1/units/../hosts/gke-3775", "/v1/hosts/gke-3775"},
		{http.MethodGet, "/v1/units/x/../", "/v1/units/"},
	} {
		resp, body := rawDo(t, sock, tc.method, tc.path, "")
		want := fmt.Sprintf("path %q is not clean: it has an empty, '.' or '..' element; ask for %q", tc.path, tc.clean)
		if resp.StatusCode != http.StatusBadRequest || body.Error != want {
			t.Errorf("%s %s = %d (Location %q) %q, want 400 %q", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Location"), body.Error, want)
		}
	}
}

// The socket goes to the configured group (daemon: gid 1, on every
// Debian), and a group that does not exist is refused, at the config's
// load and at the listen.
func TestListenUnixGroup(t *testing.T) {
	g, err := user.LookupGroup("daemon")
	if err != nil || os.Geteuid() != 0 {
		t.Skip("needs root and a group daemon")
	}
	sock := filepath.Join(shortTempDir(t), "tend.sock")
	l, err := ListenUnixGroup(sock, "daemon")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); strconv.Itoa(int(st.Gid)) != g.Gid || fi.Mode().Perm() != 0o660 {
		t.Errorf("socket gid %d mode %v, want %s and 0660", st.Gid, fi.Mode().Perm(), g.Gid)
	}
	if _, err := ListenUnixGroup(filepath.Join(shortTempDir(t), "x.sock"), "no-such-group-7q"); err == nil || !strings.Contains(err.Error(), `socket_group "no-such-group-7q"`) {
		t.Errorf("a missing group: %v", err)
	}
	path := filepath.Join(t.TempDir(), "tend.toml")
	os.WriteFile(path, []byte("socket_group = \"no-such-group-7q\"\n"), 0o644)
	if _, err := LoadConfig(path, DefaultConfig(), true); err == nil || !strings.Contains(err.Error(), `socket_group: no group "no-such-group-7q" on this host`) {
		t.Errorf("config with a missing group: %v", err)
	}
}
