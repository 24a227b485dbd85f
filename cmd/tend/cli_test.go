package main

// In-process tests of the CLI: the real CLI object, a real unix socket and
// the real API server (supervisor.NewAPI), over fake, an in-memory
// stand-in for the agent built on mock.Backend. The end-to-end tests against a real agent are
// in e2e_test.go.

import (
	"bytes"
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
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tendhq/tend/supervisor"
	"github.com/tendhq/tend/supervisor/mock"
	"github.com/tendhq/tend/supervisor/objects"
	"github.com/tendhq/tend/units"
)

// fake is the CLI tests' agent: instances, units and hosts in maps under
// one mutex, served through mock.Backend's function fields, which close
// over them and record what the CLI asked.
type fake struct {
	mock.Backend
	mu        sync.Mutex
	instances map[string]supervisor.Instance
	units     map[string]supervisor.Unit
	hosts     map[string]supervisor.Host
	events    []supervisor.Event
	logs      map[string]string // instance → output; instance+"/previous" → the previous run's
	files     map[string]string // unit file name → contents applied
	calls     []string
	changes   mock.Notifier
}

// fixture returns a fake with three kubia replicas, an ssd-monitor per
// host, a job and one host.
func fixture() *fake {
	b := newFake()
	now := time.Now()
	for i, n := range []string{"kubia-7hjkc", "kubia-9w7gs", "kubia-f4d5l"} {
		b.instances[n] = supervisor.Instance{Name: n, Unit: "kubia", Kind: units.KindReplicated, Host: "edge-17",
			Labels: units.Labels{"app": "kubia"}, Command: []string{"kubia"}, Created: now.Add(-time.Duration(i+1) * time.Minute),
			Status: "Running", Ready: true, PID: 100 + i}
	}
	b.instances["ssd-monitor-hkpq4"] = supervisor.Instance{Name: "ssd-monitor-hkpq4", Unit: "ssd-monitor", Kind: units.KindPerHost,
		Host: "edge-17", Labels: units.Labels{"app": "ssd-monitor"}, Created: now, Status: "Running", Ready: true}
	b.units["kubia"] = supervisor.Unit{Name: "kubia", Kind: units.KindReplicated, Replicas: 3, Desired: 3, Current: 3, Ready: 3, Selector: "app=kubia",
		Labels: units.Labels{"app": "kubia"}, Created: now, Source: "kind = \"replicated\"\nreplicas = 3\n[template]\nlabels = { app = \"kubia\" }\ncommand = [\"kubia\"]\n"}
	b.units["ssd-monitor"] = supervisor.Unit{Name: "ssd-monitor", Kind: units.KindPerHost, NodeSelector: "disk=ssd", Created: now}
	b.units["multi-completion-batch-job"] = supervisor.Unit{Name: "multi-completion-batch-job", Kind: units.KindJob, Created: now}
	b.hosts["edge-17"] = supervisor.Host{Name: "edge-17", Status: "Ready", Version: "v0.1.0", Started: now, Labels: units.Labels{"zone": "a"}}
	b.events = []supervisor.Event{{Kind: "unit", Object: "kubia", Type: "Normal", Reason: "SuccessfulCreate",
		Message: "Created instance: kubia-7hjkc", From: "replicated-controller", First: now, Last: now, Count: 1}}
	b.logs["kubia-7hjkc"] = "one\ntwo\nthree\n"
	b.logs["kubia-7hjkc/previous"] = "the run before\n"
	return b
}

// newFake returns a fake with no objects.
func newFake() *fake {
	f := &fake{
		instances: map[string]supervisor.Instance{},
		units:     map[string]supervisor.Unit{},
		hosts:     map[string]supervisor.Host{},
		logs:      map[string]string{},
		files:     map[string]string{},
	}
	f.Backend = mock.Backend{
		InstancesFn: func(sel units.Selector) []supervisor.Instance {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.record("Instances %q", sel.String())
			return sorted(f.instances, func(in supervisor.Instance) bool { return sel.Matches(in.Labels) })
		},
		InstanceFn: func(name string) (supervisor.Instance, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			return lookup(f.instances, "instance", name)
		},
		DeleteInstanceFn: func(name string) (err error) {
			f.change(func() {
				f.record("DeleteInstance %s", name)
				_, err = lookup(f.instances, "instance", name)
				delete(f.instances, name)
			})
			return err
		},
		DeletedUnitFn: func(name string) (supervisor.DeletedUnit, error) {
			return supervisor.DeletedUnit{}, fmt.Errorf("no deleted unit %q is remembered: %w", name, supervisor.ErrNotFound)
		},
		ReleaseFenceFn: func(name string) (supervisor.FenceReleased, error) {
			f.change(func() { f.record("ReleaseFence %s", name) })
			if name != "db" {
				return supervisor.FenceReleased{}, fmt.Errorf("unit %q is not exclusive: it has no lease to release: %w", name, supervisor.ErrInvalid)
			}
			return supervisor.FenceReleased{Unit: "db", Host: "edge-2", Epoch: 4}, nil
		},
		RestartInstanceFn: func(name string) (in supervisor.Instance, err error) {
			f.change(func() {
				f.record("RestartInstance %s", name)
				in, err = lookup(f.instances, "instance", name)
			})
			return in, err
		},
		LabelInstanceFn: func(name string, c supervisor.LabelChange) (in supervisor.Instance, err error) {
			f.change(func() {
				data, _ := json.Marshal(c)
				f.record("LabelInstance %s %s", name, data)
				if in, err = lookup(f.instances, "instance", name); err == nil {
					in.Labels = relabelled(in.Labels, c)
					f.instances[name] = in
				}
			})
			return in, err
		},
		LogsFn: func(_ context.Context, name string, opts supervisor.LogOptions) (io.ReadCloser, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			data, _ := json.Marshal(opts)
			f.record("Logs %s %s", name, data)
			key := name
			if opts.Previous {
				key += "/previous"
			}
			text, ok := f.logs[key]
			if !ok {
				return nil, fmt.Errorf("logs of %s: %w", key, supervisor.ErrNotFound)
			}
			if opts.Tail >= 0 {
				lines := strings.SplitAfter(strings.TrimSuffix(text, "\n"), "\n")
				text = strings.Join(lines[max(0, len(lines)-opts.Tail):], "") + "\n"
			}
			return io.NopCloser(strings.NewReader(text)), nil
		},

		UnitsFn: func(kind units.Kind) []supervisor.Unit {
			f.mu.Lock()
			defer f.mu.Unlock()
			return sorted(f.units, func(u supervisor.Unit) bool { return kind == 0 || u.Kind == kind })
		},
		UnitFn: func(name string) (supervisor.Unit, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			return lookup(f.units, "unit", name)
		},
		ApplyUnitFn: f.applyUnit,
		CheckUnitFn: func(filename string, data []byte) (supervisor.ApplyResult, error) {
			u, err := units.Parse(filename, data)
			if err != nil {
				return supervisor.ApplyResult{}, err
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			f.record("CheckUnit %s", filename)
			res := supervisor.ApplyResult{Name: u.Name, Kind: u.Kind, Action: "created"}
			if old, ok := f.units[u.Name]; ok {
				res.Action = "configured"
				if old.Source == string(data) {
					res.Action = "unchanged"
				}
			}
			return res, nil
		},
		DeleteUnitFn: func(name string, orphan bool) (err error) {
			f.change(func() {
				f.record("DeleteUnit %s orphan=%v", name, orphan)
				_, err = lookup(f.units, "unit", name)
				delete(f.units, name)
			})
			return err
		},
		ScaleUnitFn: func(name string, replicas int) (u supervisor.Unit, err error) {
			f.change(func() {
				f.record("ScaleUnit %s %d", name, replicas)
				if u, err = lookup(f.units, "unit", name); err == nil {
					u.Desired = replicas
					f.units[name] = u
				}
			})
			return u, err
		},

		HostsFn: func() []supervisor.Host {
			f.mu.Lock()
			defer f.mu.Unlock()
			return sorted(f.hosts, func(supervisor.Host) bool { return true })
		},
		HostFn: func(name string) (supervisor.Host, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			return lookup(f.hosts, "host", name)
		},
		LabelHostFn: func(name string, c supervisor.LabelChange) (h supervisor.Host, err error) {
			f.change(func() {
				data, _ := json.Marshal(c)
				f.record("LabelHost %s %s", name, data)
				if h, err = lookup(f.hosts, "host", name); err == nil {
					h.Labels = relabelled(h.Labels, c)
					f.hosts[name] = h
				}
			})
			return h, err
		},
		DeleteHostFn: func(name string) (err error) {
			f.change(func() {
				f.record("DeleteHost %s", name)
				var h supervisor.Host
				switch h, err = lookup(f.hosts, "host", name); {
				case err != nil:
				case h.Status == "Ready":
					err = fmt.Errorf("host %q is Ready: stop its agent first: %w", name, supervisor.ErrConflict)
				default:
					delete(f.hosts, name)
				}
			})
			return err
		},

		EventsFn: func(kind, object string) []supervisor.Event {
			f.mu.Lock()
			defer f.mu.Unlock()
			var out []supervisor.Event
			for _, e := range f.events {
				if (kind == "" || e.Kind == kind) && (object == "" || e.Object == object) {
					out = append(out, e)
				}
			}
			return out
		},
		ChangesFn: f.changes.Subscribe,
		VersionFn: func() supervisor.Version { return supervisor.Version{Version: "v0.1.0", Go: "go1.26", Host: "edge-17"} },
	}
	return f
}

// record notes a call; the caller holds the lock.
func (f *fake) record(format string, args ...any) {
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

// Calls returns what the CLI asked for that changes something, plus the
// selectors of instance lists.
func (f *fake) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// change runs fn under the lock, then wakes the watchers.
func (f *fake) change(fn func()) {
	f.mu.Lock()
	fn()
	f.mu.Unlock()
	f.changes.Notify()
}

func (f *fake) applyUnit(filename string, data []byte) (supervisor.ApplyResult, error) {
	u, err := units.Parse(filename, data)
	if err != nil {
		return supervisor.ApplyResult{}, err
	}
	res := supervisor.ApplyResult{Name: u.Name, Kind: u.Kind, Action: "created"}
	f.change(func() {
		f.record("ApplyUnit %s", filename)
		if old, ok := f.files[filename]; ok {
			res.Action = "configured"
			if old == string(data) {
				res.Action = "unchanged"
			}
		} else if _, ok := f.units[u.Name]; ok {
			res.Action = "configured"
		}
		f.files[filename] = string(data)
		f.units[u.Name] = supervisor.Unit{Name: u.Name, Kind: u.Kind, Source: string(data), Desired: u.Replicas}
	})
	return res, nil
}

func relabelled(l units.Labels, c supervisor.LabelChange) units.Labels {
	out := l.Clone()
	if out == nil {
		out = units.Labels{}
	}
	maps.Copy(out, c.Set)
	for _, k := range c.Remove {
		delete(out, k)
	}
	return out
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
		return v, fmt.Errorf("%s %q: %w", kind, name, supervisor.ErrNotFound)
	}
	return v, nil
}

// serveFake serves b's API on a unix socket for the test's duration and
// returns the socket's path.
func serveFake(t *testing.T, b supervisor.Backend) string {
	t.Helper()
	return serveHandler(t, supervisor.NewAPI(b, slog.New(slog.DiscardHandler)))
}

// serveHandler serves h as serveFake serves the API.
func serveHandler(t *testing.T, h http.Handler) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "tendcli")
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "tend.sock")
	l, err := supervisor.ListenUnix(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv := &http.Server{
		Handler:     h,
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(l) }()
	t.Cleanup(func() {
		cancel()
		srv.Close()
		<-done
		os.RemoveAll(dir)
	})
	return sock
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// cliRun is one in-process run of the CLI.
type cliRun struct {
	stdout, stderr string
	code           int
}

// tendCLI runs the CLI with args against the socket, with env as its
// whole environment (TEND_SOCKET added).
func tendCLI(t *testing.T, sock string, env map[string]string, args ...string) cliRun {
	t.Helper()
	var out, errOut syncBuffer
	e := map[string]string{"TEND_SOCKET": sock}
	maps.Copy(e, env)
	c := &CLI{Stdout: &out, Stderr: &errOut, Env: func(k string) string { return e[k] }, Stdin: strings.NewReader("")}
	code := exitCode(&errOut, c.Run(context.Background(), args))
	return cliRun{out.String(), errOut.String(), code}
}

func (r cliRun) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%sstderr:\n%s", r.code, r.stdout, r.stderr)
}

func TestCLIGetPassesTheSelector(t *testing.T) {
	b := fixture()
	sock := serveFake(t, b)
	// Flags before and after the arguments, -l and --selector.
	for _, args := range [][]string{
		{"get", "po", "-l", "app=kubia"},
		{"get", "-l", "app=kubia", "pods"},
		{"get", "instances", "--selector=app=kubia"},
		{"--socket", sock, "get", "po", "-lapp=kubia"},
	} {
		r := tendCLI(t, sock, nil, args...)
		if r.code != 0 {
			t.Fatalf("%q: %s", args, r)
		}
		if got := lineCount(r.stdout); got != 4 || !strings.HasPrefix(r.stdout, "NAME ") || strings.Contains(r.stdout, "ssd-monitor") {
			t.Errorf("%q printed:\n%s", args, r.stdout)
		}
	}
	calls := b.Calls()
	if len(calls) != 4 || calls[0] != `Instances "app=kubia"` {
		t.Errorf("backend calls = %q", calls)
	}
	r := tendCLI(t, sock, nil, "get", "po", "-l", "env notin (test),!tier")
	if r.code != 0 || !slices.Contains(b.Calls(), `Instances "env notin (test),!tier"`) {
		t.Errorf("set-based selector: %s\ncalls %q", r, b.Calls())
	}
	r = tendCLI(t, sock, nil, "get", "po", "-l", "app in (")
	if r.code != 1 || !strings.Contains(r.stderr, `error: invalid request: selector "app in ("`) {
		t.Errorf("bad selector: %s", r)
	}
}

func lineCount(s string) int { return strings.Count(s, "\n") }

func TestCLIGetOutputs(t *testing.T) {
	b := fixture()
	sock := serveFake(t, b)

	r := tendCLI(t, sock, nil, "get", "instances", "-o", "json")
	var list struct {
		APIVersion string             `json:"apiVersion"`
		Kind       string             `json:"kind"`
		Items      []objects.Instance `json:"items"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || list.APIVersion != "tend.io/v1" || list.Kind != "List" || len(list.Items) != 4 {
		t.Fatalf("get instances -o json: %v\n%s", err, r)
	}
	r = tendCLI(t, sock, nil, "get", "instance", "kubia-7hjkc", "-o", "json")
	var one objects.Instance
	if err := json.Unmarshal([]byte(r.stdout), &one); err != nil || one.APIVersion != "tend.io/v1" || one.Kind != "Instance" ||
		one.Metadata.Name != "kubia-7hjkc" || one.Status.PID != 100 || one.Metadata.Labels["app"] != "kubia" {
		t.Fatalf("get instance NAME -o json: %v\n%s", err, r)
	}
	r = tendCLI(t, sock, nil, "get", "po/kubia-7hjkc", "-oyaml")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "apiVersion: tend.io/v1\nkind: Instance\nmetadata:\n  name: kubia-7hjkc\n") {
		t.Errorf("get po/NAME -oyaml: %s", r)
	}
	r = tendCLI(t, sock, nil, "get", "po", "-l", "app=kubia", "-o", "name")
	if r.stdout != "instance/kubia-7hjkc\ninstance/kubia-9w7gs\ninstance/kubia-f4d5l\n" {
		t.Errorf("-o name: %s", r)
	}
	r = tendCLI(t, sock, nil, "get", "u", "-o", "name")
	if r.stdout != "unit/kubia\nunit/multi-completion-batch-job\nunit/ssd-monitor\n" {
		t.Errorf("get u -o name: %s", r)
	}
	r = tendCLI(t, sock, nil, "get", "rc")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "NAME    DESIRED   CURRENT   READY   AGE   STOPPED   FILE\nkubia   3         3         3       ") || lineCount(r.stdout) != 2 {
		t.Errorf("get rc: %s", r)
	}
	r = tendCLI(t, sock, nil, "get", "ds")
	if !strings.Contains(r.stdout, "NODE SELECTOR") || !strings.Contains(r.stdout, "disk=ssd") {
		t.Errorf("get ds: %s", r)
	}
	r = tendCLI(t, sock, nil, "get", "no", "--show-labels")
	if !strings.Contains(r.stdout, "edge-17") || !strings.Contains(r.stdout, "zone=a") {
		t.Errorf("get no --show-labels: %s", r)
	}
	r = tendCLI(t, sock, nil, "get", "ev")
	if !strings.HasPrefix(r.stdout, "LAST SEEN   TYPE     REASON             OBJECT       MESSAGE\n") || !strings.Contains(r.stdout, "unit/kubia") {
		t.Errorf("get ev: %s", r)
	}
	r = tendCLI(t, sock, nil, "get", "po,rc")
	if !strings.Contains(r.stdout, "instance/kubia-7hjkc") || !strings.Contains(r.stdout, "\n\nNAME         DESIRED") || !strings.Contains(r.stdout, "unit/kubia ") {
		t.Errorf("get po,rc: %s", r)
	}
	r = tendCLI(t, sock, nil, "get", "po", "-o", "table")
	if r.code != 1 || !strings.Contains(r.stderr, `output format "table"`) {
		t.Errorf("-o table: %s", r)
	}
}

func TestCLIGetMissingAndEmpty(t *testing.T) {
	b := fixture()
	sock := serveFake(t, b)
	r := tendCLI(t, sock, nil, "get", "po", "kubia-7hjkc", "nope")
	if r.code != 1 || lineCount(r.stdout) != 2 || r.stderr != "Error from server (NotFound): instances \"nope\" not found\n" {
		t.Errorf("get with a missing name: %s", r)
	}
	r = tendCLI(t, sock, nil, "get", "jobs", "kubia")
	if r.code != 1 || !strings.Contains(r.stderr, `job units "kubia" not found (unit "kubia" is a replicated unit: name it as unit/kubia)`) {
		t.Errorf("get jobs on a replicated unit: %s", r)
	}
	r = tendCLI(t, sock, nil, "get", "po", "-l", "app=none")
	if r.code != 0 || r.stdout != "" || r.stderr != "No resources found.\n" {
		t.Errorf("empty list: %s", r)
	}
	r = tendCLI(t, sock, nil, "get", "cronjobs")
	if r.code != 0 || r.stderr != "No resources found.\n" {
		t.Errorf("get cronjobs: %s", r)
	}
	r = tendCLI(t, sock, nil, "get", "crontjobs")
	if r.code != 1 || !strings.Contains(r.stderr, `error: the server doesn't have a resource type "crontjobs" (did you mean "cronjobs"?)`) ||
		!strings.Contains(r.stderr, "See 'tend get --help' for usage.") {
		t.Errorf("typo: %s", r)
	}
	r = tendCLI(t, sock, nil, "get")
	if r.code != 1 || !strings.Contains(r.stderr, "you must specify the type of resource to get") {
		t.Errorf("no type: %s", r)
	}
}

func TestCLINoAgent(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "tend.sock")
	r := tendCLI(t, sock, nil, "get", "po")
	want := fmt.Sprintf("error: cannot reach the tend agent at %s: connect: no such file or directory (is \"tend agent\" running? set --socket or TEND_SOCKET)\n", sock)
	if r.code != 1 || r.stderr != want {
		t.Errorf("got %s\nwant stderr %s", r, want)
	}
	// --socket wins over $TEND_SOCKET, before or after the verb.
	for _, args := range [][]string{{"--socket", "/nowhere/a.sock", "get", "po"}, {"get", "po", "--socket=/nowhere/a.sock"}} {
		r = tendCLI(t, sock, nil, args...)
		if !strings.Contains(r.stderr, "at /nowhere/a.sock:") {
			t.Errorf("%q: %s", args, r)
		}
	}
	// Without either, the default.
	var errOut bytes.Buffer
	c := &CLI{Stdout: io.Discard, Stderr: &errOut}
	exitCode(&errOut, c.Run(context.Background(), []string{"get", "po"}))
	if !strings.Contains(errOut.String(), "at /run/tend/tend.sock:") {
		t.Errorf("default socket: %s", errOut.String())
	}
}

func TestCLIDelete(t *testing.T) {
	b := fixture()
	sock := serveFake(t, b)
	r := tendCLI(t, sock, nil, "delete", "po", "kubia-7hjkc")
	if r.code != 0 || r.stdout != "instance \"kubia-7hjkc\" deleted\n" {
		t.Errorf("delete po: %s", r)
	}
	r = tendCLI(t, sock, nil, "delete", "po", "kubia-7hjkc")
	if r.code != 1 || r.stderr != "Error from server (NotFound): instances \"kubia-7hjkc\" not found\n" {
		t.Errorf("delete po again: %s", r)
	}
	r = tendCLI(t, sock, nil, "delete", "po")
	if r.code != 1 || !strings.Contains(r.stderr, "no name was specified") {
		t.Errorf("delete po without names: %s", r)
	}
	for _, tc := range []struct {
		args []string
		call string
	}{
		{[]string{"delete", "rc", "kubia", "--cascade=false"}, "DeleteUnit kubia orphan=true"},
		{[]string{"delete", "--cascade=orphan", "u/kubia"}, "DeleteUnit kubia orphan=true"},
		{[]string{"delete", "rs", "kubia", "--cascade"}, "DeleteUnit kubia orphan=false"},
		{[]string{"delete", "rc", "kubia"}, "DeleteUnit kubia orphan=false"},
	} {
		b.change(func() { b.units["kubia"] = supervisor.Unit{Name: "kubia", Kind: units.KindReplicated} })
		before := len(b.Calls())
		r := tendCLI(t, sock, nil, tc.args...)
		// The deletes this command made; reads may come from the watch
		// of an earlier command that the server has not yet ended.
		var deletes []string
		for _, c := range b.Calls()[before:] {
			if strings.HasPrefix(c, "Delete") {
				deletes = append(deletes, c)
			}
		}
		if r.code != 0 || r.stdout != "unit \"kubia\" deleted\n" || !slices.Equal(deletes, []string{tc.call}) {
			t.Errorf("%q: %s\ndeletes %q, want %q", tc.args, r, deletes, tc.call)
		}
	}
	r = tendCLI(t, sock, nil, "delete", "rc", "kubia", "--cascade=sideways")
	if r.code != 1 || !strings.Contains(r.stderr, "invalid cascade value (sideways)") {
		t.Errorf("bad cascade: %s", r)
	}
	// kubectl delete jobs --all deletes only the jobs.
	r = tendCLI(t, sock, nil, "delete", "jobs", "--all")
	if r.code != 0 || r.stdout != "unit \"multi-completion-batch-job\" deleted\n" {
		t.Errorf("delete jobs --all: %s", r)
	}
	r = tendCLI(t, sock, nil, "delete", "po", "--all")
	if r.code != 0 || r.stdout != "instance \"kubia-9w7gs\" deleted\ninstance \"kubia-f4d5l\" deleted\ninstance \"ssd-monitor-hkpq4\" deleted\n" {
		t.Errorf("delete po --all: %s", r)
	}
	r = tendCLI(t, sock, nil, "delete", "events", "--all")
	if r.code != 1 || !strings.Contains(r.stderr, "events cannot be deleted") {
		t.Errorf("delete events: %s", r)
	}
}

// A host that is gone is deleted by name; a Ready one and an unknown one
// are refused, each named, and the rest still go.
func TestCLIDeleteHost(t *testing.T) {
	b := fixture()
	long := strings.Repeat("x", 10<<10)
	b.change(func() {
		for _, name := range []string{"edge-9", "edge-10", "a/b", long} {
			b.hosts[name] = supervisor.Host{Name: name, Status: "NotReady"}
		}
		b.hosts["edge-11"] = supervisor.Host{Name: "edge-11", Status: "Left"}
	})
	sock := serveFake(t, b)
	for _, args := range [][]string{{"node", "edge-9"}, {"no/edge-10"}, {"hosts", "edge-11"}} {
		name := args[len(args)-1][strings.Index(args[len(args)-1], "/")+1:]
		r := tendCLI(t, sock, nil, append([]string{"delete"}, args...)...)
		calls := b.Calls()
		if r.code != 0 || r.stdout != fmt.Sprintf("host %q deleted\n", name) || calls[len(calls)-1] != "DeleteHost "+name {
			t.Errorf("delete %q: %s\nlast call %q", args, r, calls[len(calls)-1])
		}
	}
	// Twice: the second time it is not there.
	r := tendCLI(t, sock, nil, "delete", "node", "edge-9")
	if r.code != 1 || r.stderr != "Error from server (NotFound): hosts \"edge-9\" not found\n" {
		t.Errorf("delete node again: %s", r)
	}
	// A Ready host and an unknown one are refused, each on its own line.
	r = tendCLI(t, sock, nil, "delete", "node", "edge-17", "nope")
	if r.code != 1 || r.stdout != "" ||
		r.stderr != "Error from server (Conflict): host \"edge-17\" is Ready: stop its agent first\nError from server (NotFound): hosts \"nope\" not found\n" {
		t.Errorf("delete a Ready and an unknown host: %s", r)
	}
	if _, ok := b.hosts["edge-17"]; !ok {
		t.Fatal("the Ready host was deleted")
	}
	// Names the API must carry whole: a slash, 10 KB.
	for _, name := range []string{"a/b", long} {
		r := tendCLI(t, sock, nil, "delete", "host/"+name)
		if calls := b.Calls(); r.code != 0 || calls[len(calls)-1] != "DeleteHost "+name {
			t.Errorf("delete a host named %.20q (%d bytes): code %d, stderr %.200s", name, len(name), r.code, r.stderr)
		}
	}
	r = tendCLI(t, sock, nil, "delete", "host", "a/b")
	if r.code != 1 || !strings.Contains(r.stderr, "resource/name form") {
		t.Errorf("delete host a/b: %s", r)
	}
	// By name only: --all and selectors would reach the Ready hosts.
	for _, args := range [][]string{{"hosts", "--all"}, {"nodes", "-l", "zone=a"}, {"po,no", "--all"}} {
		before := len(b.Calls())
		r := tendCLI(t, sock, nil, append([]string{"delete"}, args...)...)
		if r.code != 1 || !strings.Contains(r.stderr, "hosts are deleted by name only") || len(b.Calls()) != before {
			t.Errorf("delete %q: %s", args, r)
		}
	}
}

// TestCLIDeleteWaits checks that delete returns only when the instance has
// gone, as kubectl's delete waits.
func TestCLIDeleteWaits(t *testing.T) {
	b := fixture()
	// Delete marks the instance Terminating, like the agent; the test
	// removes it.
	asked := make(chan struct{}) // closed at the first delete
	var once sync.Once
	b.DeleteInstanceFn = func(name string) error {
		b.change(func() {
			in := b.instances[name]
			in.Status = "Terminating"
			b.instances[name] = in
		})
		once.Do(func() { close(asked) })
		return nil
	}
	sock := serveFake(t, b)
	done := make(chan cliRun)
	go func() { done <- tendCLI(t, sock, nil, "delete", "po", "kubia-7hjkc") }()
	<-asked // the CLI asked; the instance is Terminating
	select {
	case r := <-done:
		t.Fatalf("delete returned while the instance was terminating: %s", r)
	default:
	}
	b.change(func() { delete(b.instances, "kubia-7hjkc") })
	if r := <-done; r.code != 0 {
		t.Errorf("delete: %s", r)
	}

	r := tendCLI(t, sock, nil, "delete", "po", "kubia-9w7gs", "--wait=false")
	if r.code != 0 {
		t.Errorf("delete --wait=false: %s", r)
	}
}

func TestCLILabel(t *testing.T) {
	b := fixture()
	sock := serveFake(t, b)
	r := tendCLI(t, sock, nil, "label", "po", "kubia-7hjkc", "type=special")
	if r.code != 0 || r.stdout != "instance/kubia-7hjkc labeled\n" {
		t.Errorf("label: %s", r)
	}
	r = tendCLI(t, sock, nil, "label", "po", "kubia-9w7gs", "app=foo")
	if r.code != 1 || r.stderr != "error: 'app' already has a value (kubia), and --overwrite is false\n" {
		t.Errorf("label without --overwrite: %s", r)
	}
	r = tendCLI(t, sock, nil, "label", "po", "kubia-9w7gs", "app=foo", "--overwrite")
	if r.code != 0 || r.stdout != "instance/kubia-9w7gs labeled\n" {
		t.Errorf("label --overwrite: %s", r)
	}
	r = tendCLI(t, sock, nil, "label", "po", "kubia-7hjkc", "type-")
	if r.code != 0 || r.stdout != "instance/kubia-7hjkc unlabeled\n" {
		t.Errorf("label k-: %s", r)
	}
	r = tendCLI(t, sock, nil, "label", "po", "kubia-7hjkc", "app=kubia")
	if r.code != 0 || r.stdout != "instance/kubia-7hjkc not labeled\n" {
		t.Errorf("label to the same value: %s", r)
	}
	r = tendCLI(t, sock, nil, "label", "node", "edge-17", "disk=ssd")
	if r.code != 0 || r.stdout != "host/edge-17 labeled\n" {
		t.Errorf("label node: %s", r)
	}
	calls := b.Calls()
	for _, want := range []string{
		`LabelInstance kubia-7hjkc {"set":{"type":"special"},"overwrite":false}`,
		`LabelInstance kubia-9w7gs {"set":{"app":"foo"},"overwrite":true}`,
		`LabelInstance kubia-7hjkc {"remove":["type"],"overwrite":false}`,
		`LabelHost edge-17 {"set":{"disk":"ssd"},"overwrite":false}`,
	} {
		if !slices.Contains(calls, want) {
			t.Errorf("no call %s in %q", want, calls)
		}
	}
	if n := len(slices.DeleteFunc(calls, func(s string) bool { return !strings.HasPrefix(s, "Label") })); n != 4 {
		t.Errorf("%d label calls, want 4 (no call for refused or empty changes)", n)
	}
	r = tendCLI(t, sock, nil, "label", "po", "-l", "app=kubia", "tier=web")
	if r.code != 0 || lineCount(r.stdout) != 2 {
		t.Errorf("label -l: %s", r)
	}
	for _, bad := range [][]string{
		{"label", "po", "kubia-7hjkc"},
		{"label", "po", "kubia-7hjkc", "-bad=x"},
		{"label", "po", "kubia-7hjkc", "a=b", "a-"},
		{"label", "rc", "kubia", "a=b"},
	} {
		if r := tendCLI(t, sock, nil, bad...); r.code != 1 || !strings.Contains(r.stderr, "See 'tend label --help'") {
			t.Errorf("%q: %s", bad, r)
		}
	}
}

func TestCLIScale(t *testing.T) {
	b := fixture()
	sock := serveFake(t, b)
	for _, args := range [][]string{
		{"scale", "rc", "kubia", "--replicas=4"},
		{"scale", "--replicas", "4", "unit", "kubia"},
		{"scale", "rs/kubia", "--replicas=4"},
	} {
		r := tendCLI(t, sock, nil, args...)
		calls := b.Calls()
		if r.code != 0 || r.stdout != "unit/kubia scaled\n" || calls[len(calls)-1] != "ScaleUnit kubia 4" {
			t.Errorf("%q: %s", args, r)
		}
	}
	r := tendCLI(t, sock, nil, "scale", "job", "multi-completion-batch-job", "--replicas=3")
	if r.code != 0 || !slices.Contains(b.Calls(), "ScaleUnit multi-completion-batch-job 3") {
		t.Errorf("scale job --replicas: %s", r)
	}
	r = tendCLI(t, sock, nil, "scale", "job", "multi-completion-batch-job", "--parallelism=2")
	if r.code != 0 || !slices.Contains(b.Calls(), "ScaleUnit multi-completion-batch-job 2") {
		t.Errorf("scale job --parallelism: %s", r)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"scale", "rc", "kubia"}, "--replicas=COUNT is required"},
		{[]string{"scale", "rc", "kubia", "--replicas=many"}, `invalid argument "many" for --replicas flag: want a whole number`},
		{[]string{"scale", "rc", "kubia", "--parallelism=2"}, "--parallelism is for jobs"},
		{[]string{"scale", "ds", "ssd-monitor", "--replicas=2"}, "is per-host"},
		{[]string{"scale", "po", "kubia-7hjkc", "--replicas=2"}, "only units can be scaled"},
		{[]string{"scale", "job", "kubia", "--replicas=2"}, `job units "kubia" not found`},
	} {
		if r := tendCLI(t, sock, nil, tc.args...); r.code != 1 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%q: %s\nwant stderr containing %q", tc.args, r, tc.want)
		}
	}
}

const validUnit = `kind = "replicated"
replicas = 2
[template]
labels = { app = "web" }
command = ["web"]
`

func TestCLIApplyAndCreate(t *testing.T) {
	b := fixture()
	sock := serveFake(t, b)
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	web := write("web.toml", validUnit)
	write("broken.toml", "kind = \"replicated\"\nreplicas = -1\n[template]\ncomand = [\"x\"]\n")
	write("README.md", "not a unit")

	// A directory: the valid file is applied, the broken one reported
	// with file, line and key, and the exit status says so.
	r := tendCLI(t, sock, nil, "apply", "-f", dir)
	if r.code != 1 || r.stdout != "unit/web created\n" {
		t.Fatalf("apply -f DIR: %s", r)
	}
	for _, want := range []string{
		filepath.Join(dir, "broken.toml") + ":2: replicas: ",
		filepath.Join(dir, "broken.toml") + ":4: template.comand: unknown key",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if calls := b.Calls(); !slices.Equal(calls, []string{"ApplyUnit web.toml"}) {
		t.Errorf("calls %q", calls)
	}
	r = tendCLI(t, sock, nil, "apply", "-f", web)
	if r.code != 0 || r.stdout != "unit/web unchanged\n" {
		t.Errorf("apply again: %s", r)
	}
	r = tendCLI(t, sock, nil, "create", "-f", web)
	if r.code != 1 || r.stderr != fmt.Sprintf("Error from server (AlreadyExists): error when creating %q: units \"web\" already exists\n", web) {
		t.Errorf("create of an existing unit: %s", r)
	}
	other := write("other.toml", validUnit)
	r = tendCLI(t, sock, nil, "create", "-f", other)
	if r.code != 0 || r.stdout != "unit/other created\n" {
		t.Errorf("create: %s", r)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"apply"}, "must specify -f FILE, -f DIR or -f -"},
		{[]string{"apply", "-f", filepath.Join(dir, "missing.toml")}, "does not exist"},
		{[]string{"apply", "-f", filepath.Join(dir, "README.md")}, "end in .toml"},
		{[]string{"create", "-f", "-"}, "standard input"},
	} {
		if r := tendCLI(t, sock, nil, tc.args...); r.code != 1 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%q: %s", tc.args, r)
		}
	}
}

func TestCLILogs(t *testing.T) {
	b := fixture()
	sock := serveFake(t, b)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"logs", "kubia-7hjkc"}, "one\ntwo\nthree\n"},
		{[]string{"logs", "kubia-7hjkc", "--previous"}, "the run before\n"},
		{[]string{"logs", "-p", "po/kubia-7hjkc"}, "the run before\n"},
		{[]string{"logs", "kubia-7hjkc", "--tail", "1"}, "three\n"},
		{[]string{"logs", "--tail=2", "kubia-7hjkc"}, "two\nthree\n"},
		{[]string{"logs", "rc/kubia", "--tail=1"}, "three\n"},
	} {
		r := tendCLI(t, sock, nil, tc.args...)
		if r.code != 0 || r.stdout != tc.want {
			t.Errorf("%q: %s", tc.args, r)
		}
	}
	r := tendCLI(t, sock, nil, "logs", "rc/kubia")
	if r.stderr != "Found 3 instances, using instance/kubia-7hjkc\n" {
		t.Errorf("logs rc/kubia: %s", r)
	}
	r = tendCLI(t, sock, nil, "logs", "kubia-9w7gs", "--previous")
	if r.code != 1 || r.stderr != "error: logs of kubia-9w7gs/previous: not found\n" {
		t.Errorf("logs --previous without one: %s", r)
	}
	if !slices.Contains(b.Calls(), `Logs kubia-7hjkc {"Previous":true,"Follow":false,"Tail":-1,"Timestamps":false}`) {
		t.Errorf("calls %q", b.Calls())
	}
}

// stepReader returns its steps, one a Read: output, or an error (nil
// output), then io.EOF.
type stepReader []any

func (r *stepReader) Read(p []byte) (int, error) {
	if len(*r) == 0 {
		return 0, io.EOF
	}
	st := (*r)[0]
	*r = (*r)[1:]
	if err, ok := st.(error); ok {
		return 0, err
	}
	return copy(p, st.(string)), nil
}

// TestCLILogsFollowSkipsAndEnds checks that logs -f prints a skip on
// stderr, not in the output, and goes on; that it exits 0 when the run's
// output ends and 1 with a message when the agent's stream ends otherwise.
func TestCLILogsFollowSkipsAndEnds(t *testing.T) {
	for _, tc := range []struct {
		steps      stepReader
		code       int
		out, notes string
	}{
		{stepReader{"a\n", &supervisor.LogSkipped{Lines: 2, Bytes: 20}, "b\n"}, 0, "a\nb\n",
			"tend: skipped 20 bytes (2 lines) of kubia-7hjkc's output: the reader fell behind log rotation\n"},
		{stepReader{"a\n", errors.New("disk on fire")}, 1, "a\n",
			"error: reading the logs of kubia-7hjkc: agent: reading the log: disk on fire\n"},
	} {
		b := fixture()
		b.LogsFn = func(context.Context, string, supervisor.LogOptions) (io.ReadCloser, error) {
			r := slices.Clone(tc.steps)
			return io.NopCloser(&r), nil
		}
		r := tendCLI(t, serveFake(t, b), nil, "logs", "-f", "kubia-7hjkc")
		if r.code != tc.code || r.stdout != tc.out || r.stderr != tc.notes {
			t.Errorf("steps %q: %s", tc.steps, r)
		}
	}
}

func TestCLIDescribe(t *testing.T) {
	b := fixture()
	sock := serveFake(t, b)
	r := tendCLI(t, sock, nil, "describe", "po", "kubia-7hjkc")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "Name:           kubia-7hjkc\n") || !strings.Contains(r.stdout, "Controlled By:  unit/kubia\n") {
		t.Errorf("describe po: %s", r)
	}
	r = tendCLI(t, sock, nil, "describe", "rc", "kubia")
	if r.code != 0 || !strings.Contains(r.stdout, "Replicas:     3 current / 3 desired\n") || !strings.Contains(r.stdout, "SuccessfulCreate") {
		t.Errorf("describe rc: %s", r)
	}
	// A name that is only the start of one, as in the seed.
	r = tendCLI(t, sock, nil, "describe", "jobs", "multi-completion-batch")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "Name:           multi-completion-batch-job\n") {
		t.Errorf("describe by prefix: %s", r)
	}
	r = tendCLI(t, sock, nil, "describe", "po", "kubia")
	if r.code != 0 || strings.Count(r.stdout, "Name:  ") != 3 {
		t.Errorf("describe po kubia (prefix of three): %s", r)
	}
	r = tendCLI(t, sock, nil, "describe", "node", "edge-17")
	if r.code != 0 || !strings.Contains(r.stdout, "(4 in total)") {
		t.Errorf("describe node: %s", r)
	}
	r = tendCLI(t, sock, nil, "describe", "po", "nothing")
	if r.code != 1 || r.stderr != "Error from server (NotFound): instances \"nothing\" not found\n" {
		t.Errorf("describe missing: %s", r)
	}
}

func TestCLIWatch(t *testing.T) {
	b := fixture()
	sock := serveFake(t, b)
	var out, errOut syncBuffer
	c := &CLI{Stdout: &out, Stderr: &errOut, Env: func(k string) string {
		if k == "TEND_SOCKET" {
			return sock
		}
		return ""
	}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx, []string{"get", "po", "-l", "app=kubia", "-w"}) }()
	waitFor := func(what string, cond func(string) bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond(out.String()) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; output:\n%s", what, out.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor("the table", func(s string) bool { return lineCount(s) == 4 })
	b.change(func() {
		in := b.instances["kubia-9w7gs"]
		in.Status, in.Ready = "Terminating", false
		b.instances["kubia-9w7gs"] = in
	})
	waitFor("the changed row", func(s string) bool { return lineCount(s) == 5 })
	rows := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if !strings.HasPrefix(rows[4], "kubia-9w7gs   0/1     Terminating   0") {
		t.Errorf("watch row %q\n%s", rows[4], out.String())
	}
	b.change(func() { delete(b.instances, "kubia-9w7gs") })
	waitFor("the deletion row", func(s string) bool { return lineCount(s) == 6 })
	cancel()
	if err := <-done; err != nil {
		t.Errorf("watch ended with %v", err)
	}
}

func TestCLIEdit(t *testing.T) {
	b := fixture()
	sock := serveFake(t, b)
	editor := func(script string) map[string]string { return map[string]string{"TEND_EDITOR": script} }

	r := tendCLI(t, sock, editor("true"), "edit", "rc", "kubia")
	if r.code != 0 || r.stdout != "Edit cancelled, no changes made.\n" {
		t.Errorf("unchanged edit: %s", r)
	}
	// $KUBE_EDITOR works too, as the seed sets it.
	r = tendCLI(t, sock, map[string]string{"KUBE_EDITOR": `sed -i "s/replicas = 3/replicas = 4/"`}, "edit", "rc", "kubia")
	if r.code != 0 || r.stdout != "unit/kubia edited\n" || !strings.Contains(b.files["kubia.toml"], "replicas = 4\n") {
		t.Errorf("edit: %s\nfile %q", r, b.files["kubia.toml"])
	}
	if strings.Contains(b.files["kubia.toml"], "Please edit") {
		t.Errorf("the note reached the agent: %q", b.files["kubia.toml"])
	}

	// Invalid: reopened with the problems on top; the second round fixes
	// it. The script saves each round's view for the test.
	dir := t.TempDir()
	script := filepath.Join(dir, "ed.sh")
	os.WriteFile(script, []byte(`#!/bin/sh
n=$(ls "`+dir+`" | grep -c round)
cp "$1" "`+dir+`/round$n"
if [ "$n" = 0 ]; then sed -i 's/replicas = 4/replicas = "four"/' "$1"; else sed -i 's/replicas = "four"/replicas = 5/' "$1"; fi
`), 0o755)
	r = tendCLI(t, sock, editor(script), "edit", "unit/kubia")
	if r.code != 0 || r.stdout != "unit/kubia edited\n" || !strings.Contains(b.files["kubia.toml"], "replicas = 5\n") {
		t.Fatalf("edit with a mistake: %s", r)
	}
	second, _ := os.ReadFile(filepath.Join(dir, "round1"))
	text := string(second)
	if !strings.Contains(text, "# unit \"kubia\" was not valid:\n# * ") || !strings.Contains(text, "kubia.toml:9: replicas: ") {
		t.Errorf("the reopened file does not list the problem with its line:\n%s", text)
	}
	if lines := strings.Split(text, "\n"); len(lines) < 9 || lines[8] != `replicas = "four"` {
		t.Errorf("line 9 of the reopened file is not the bad line:\n%s", text)
	}

	// Giving up: an invalid file saved unchanged the second time keeps
	// the copy and fails.
	r = tendCLI(t, sock, editor(`f() { grep -q "was not valid" "$1" || sed -i 's/replicas = 5/replicas = -5/' "$1"; }; f`), "edit", "rc", "kubia")
	if r.code != 1 || !strings.Contains(r.stderr, "Edit cancelled, no valid changes were saved.") || !strings.Contains(r.stderr, "A copy of your changes has been stored to ") {
		t.Errorf("abandoned edit: %s", r)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"edit", "po", "kubia-7hjkc"}, "edit the unit (tend edit unit NAME)"},
		{[]string{"edit", "rc"}, "edit one unit at a time"},
		{[]string{"edit", "ds", "kubia"}, `per-host units "kubia" not found`},
	} {
		if r := tendCLI(t, sock, editor("true"), tc.args...); r.code != 1 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%q: %s", tc.args, r)
		}
	}
}

func TestCLIVersion(t *testing.T) {
	sock := serveFake(t, fixture())
	r := tendCLI(t, sock, nil, "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "Client Version: ") || !strings.Contains(r.stdout, "Server Version: v0.1.0 go1.26 (host edge-17)\n") {
		t.Errorf("version: %s", r)
	}
	r = tendCLI(t, "/nowhere.sock", nil, "version", "--client")
	if r.code != 0 || strings.Contains(r.stdout, "Server") {
		t.Errorf("version --client: %s", r)
	}
	r = tendCLI(t, "/nowhere.sock", nil, "version")
	if r.code != 1 || !strings.HasPrefix(r.stdout, "Client Version:") || !strings.Contains(r.stderr, "cannot reach the tend agent") {
		t.Errorf("version without an agent: %s", r)
	}
}

func TestCLIHelp(t *testing.T) {
	r := tendCLI(t, "", nil, "help")
	if r.code != 0 || !strings.Contains(r.stdout, "Basic Commands:") || !strings.Contains(r.stdout, "  get         Display one or many resources") {
		t.Errorf("help: %s", r)
	}
	r = tendCLI(t, "", nil)
	if r.code != 1 || !strings.Contains(r.stderr, "Basic Commands:") {
		t.Errorf("no arguments: %s", r)
	}
	// Every verb's help has usage, examples from the seed and its flags.
	for verb, example := range map[string]string{
		"get":      "tend get pods -L app",
		"describe": "tend describe rc kubia",
		"apply":    "tend apply -f kubia.toml",
		"create":   "tend create -f kubia.toml",
		"delete":   "tend delete rc kubia --cascade=orphan",
		"scale":    "tend scale rc kubia --replicas=4",
		"label":    "tend label po kubia-9w7gs app=foo --overwrite",
		"logs":     "tend logs kubia-liveness --previous",
		"edit":     "tend edit rc kubia",
		"version":  "tend version --client",
		"exec":     "tend exec kubia-liveness -- curl -s localhost:8080",
	} {
		for _, args := range [][]string{{verb, "--help"}, {verb, "-h"}, {"help", verb}} {
			r := tendCLI(t, "", nil, args...)
			if r.code != 0 || !strings.Contains(r.stdout, "Usage:\n  tend "+verb) || !strings.Contains(r.stdout, "Examples:") || !strings.Contains(r.stdout, example) {
				t.Errorf("%q: %s", args, r)
			}
		}
	}
	if r := tendCLI(t, "", nil, "delete", "--help"); !strings.Contains(r.stdout, "tend delete node edge-17") || !strings.Contains(r.stdout, "A Ready host cannot be") {
		t.Errorf("delete --help does not tell of hosts: %s", r)
	}
	r = tendCLI(t, "", nil, "get", "--help")
	if !strings.Contains(r.stdout, "  -l, --selector='':\n") || !strings.Contains(r.stdout, "--socket PATH") {
		t.Errorf("get --help lacks its flags: %s", r)
	}
	r = tendCLI(t, "", nil, "gte", "po")
	if r.code != 1 || !strings.Contains(r.stderr, "unknown command \"gte\" for \"tend\"\n\nDid you mean this?\n\tget") {
		t.Errorf("typo: %s", r)
	}
	r = tendCLI(t, "", nil, "get", "po", "--bogus")
	if r.code != 1 || r.stderr != "error: unknown flag: --bogus\nSee 'tend get --help' for usage.\n" {
		t.Errorf("unknown flag: %s", r)
	}
}

func TestCLIExec(t *testing.T) {
	b := fixture()
	b.change(func() {
		in := b.instances["kubia-7hjkc"]
		in.Env = map[string]string{"NODE_ENV": "production"}
		in.WorkingDir = t.TempDir()
		b.instances["kubia-7hjkc"] = in
		in = b.instances["kubia-9w7gs"]
		in.Host = "edge-2"
		b.instances["kubia-9w7gs"] = in
	})
	sock := serveFake(t, b)
	r := tendCLI(t, sock, nil, "exec", "kubia-7hjkc", "--", "sh", "-c", `echo $TEND_INSTANCE $NODE_ENV $(basename "$PWD"); exit 3`)
	if r.code != 3 || r.stdout != "kubia-7hjkc production "+filepath.Base(b.instances["kubia-7hjkc"].WorkingDir)+"\n" || r.stderr != "" {
		t.Errorf("exec: %s", r)
	}
	r = tendCLI(t, sock, nil, "exec", "-it", "po/kubia-7hjkc", "--", "true")
	if r.code != 0 {
		t.Errorf("exec -it po/NAME: %s", r)
	}
	// Another host's instance: the CLI asks its agent, which runs nothing
	// for an instance it does not own (forwarding is exec_test.go's).
	r = tendCLI(t, sock, nil, "exec", "kubia-9w7gs", "--", "true")
	if r.code != 1 || !strings.Contains(r.stderr, `instance "kubia-9w7gs" runs on host edge-2, not on this agent's host edge-17`) {
		t.Errorf("exec on another host: %s", r)
	}
	r = tendCLI(t, sock, nil, "exec", "nope", "--", "true")
	if r.code != 1 || !strings.Contains(r.stderr, `instances "nope" not found`) {
		t.Errorf("exec on a missing instance: %s", r)
	}
}

func TestCLIRestart(t *testing.T) {
	b := fixture()
	sock := serveFake(t, b)
	restarts := func(before int) []string {
		var out []string
		for _, c := range b.Calls()[before:] {
			if strings.HasPrefix(c, "RestartInstance ") {
				out = append(out, c)
			}
		}
		return out
	}
	before := len(b.Calls())
	r := tendCLI(t, sock, nil, "restart", "po", "kubia-7hjkc")
	if r.code != 0 || r.stdout != "instance \"kubia-7hjkc\" restarted\n" || !slices.Equal(restarts(before), []string{"RestartInstance kubia-7hjkc"}) {
		t.Errorf("restart po: %s, calls %q", r, restarts(before))
	}
	before = len(b.Calls())
	r = tendCLI(t, sock, nil, "restart", "po", "-l", "app=kubia")
	if got := restarts(before); r.code != 0 || len(got) != 3 || strings.Count(r.stdout, "restarted\n") != 3 {
		t.Errorf("restart po -l app=kubia: %s, calls %q", r, got)
	}
	r = tendCLI(t, sock, nil, "restart", "po", "nope")
	if r.code != 1 || r.stderr != "Error from server (NotFound): instances \"nope\" not found\n" {
		t.Errorf("restart of a missing instance: %s", r)
	}
	for _, args := range [][]string{{"restart", "rc", "kubia"}, {"restart", "po"}, {"restart", "po", "kubia-7hjkc", "-l", "app=kubia"}} {
		if r := tendCLI(t, sock, nil, args...); r.code != 1 || !strings.Contains(r.stderr, "restart") {
			t.Errorf("%q: %s", args, r)
		}
	}
}

func TestCLICat(t *testing.T) {
	b := fixture()
	b.change(func() {
		u := b.units["kubia"]
		u.Path, u.Source = "/etc/tend/units.d/kubia.toml", "kind = \"replicated\"\nreplicas = 3\n"
		b.units["kubia"] = u
		u = b.units["ssd-monitor"]
		u.Path, u.Source, u.Error = "/etc/tend/units.d/ssd-monitor.toml", "kind = \"per-host\"", "ssd-monitor.toml:2: replicas: not for kind per-host"
		b.units["ssd-monitor"] = u
	})
	sock := serveFake(t, b)
	r := tendCLI(t, sock, nil, "cat", "rc", "kubia")
	if r.code != 0 || r.stdout != "# /etc/tend/units.d/kubia.toml\nkind = \"replicated\"\nreplicas = 3\n" {
		t.Errorf("cat rc kubia: %s", r)
	}
	r = tendCLI(t, sock, nil, "cat", "unit/ssd-monitor", "unit/nope")
	want := "# /etc/tend/units.d/ssd-monitor.toml\n# This file has errors; the agent runs the last valid version, below:\n#   ssd-monitor.toml:2: replicas: not for kind per-host\nkind = \"per-host\"\n"
	if r.code != 1 || r.stdout != want || !strings.Contains(r.stderr, `"nope" not found`) {
		t.Errorf("cat of a unit with errors, and a missing one: %s", r)
	}
	if r := tendCLI(t, sock, nil, "cat", "po", "kubia-7hjkc"); r.code != 1 || !strings.Contains(r.stderr, "cat prints unit files") {
		t.Errorf("cat po: %s", r)
	}
}

func TestCLIFenceRelease(t *testing.T) {
	b := fixture()
	sock := serveFake(t, b)
	r := tendCLI(t, sock, nil, "fence", "release", "db")
	if r.code != 0 || r.stdout != "unit/db released: edge-2 (epoch 4) is taken for down; this host starts the unit once W has passed\n" {
		t.Errorf("fence release db: %s", r)
	}
	r = tendCLI(t, sock, nil, "fence", "release", "kubia")
	if r.code != 1 || !strings.Contains(r.stderr, `unit "kubia" is not exclusive`) {
		t.Errorf("fence release of a unit that is not exclusive: %s", r)
	}
	for _, args := range [][]string{{"fence"}, {"fence", "grab", "db"}, {"fence", "release"}, {"fence", "release", "a", "b"}} {
		if r := tendCLI(t, sock, nil, args...); r.code != 1 || !strings.Contains(r.stderr, "fence") {
			t.Errorf("%q: %s", args, r)
		}
	}
}
