package supervisor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/user"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tendhq/tend/units"
)

// The local API: JSON over HTTP on a unix socket, routes under /v1.
//
//	GET    /v1/version
//	GET    /v1/instances?selector=S[&watch=1]       []Instance, or a stream of WatchEvent
//	GET    /v1/instances/{name}                     Instance
//	DELETE /v1/instances/{name}
//	PATCH  /v1/instances/{name}/labels              LabelChange → Instance
//	GET    /v1/instances/{name}/logs?previous&follow&tail=N&timestamps&framed   text or frames (logstream.go), streamed
//	POST   /v1/instances/{name}/exec                ExecRequest → 101, then the exec protocol (exec_api.go)
//	GET    /v1/units?kind=K                         []Unit
//	GET    /v1/units/{name}                         Unit
//	DELETE /v1/units/{name}?cascade=orphan
//	PUT    /v1/units/{filename}[?create=1]          TOML bytes → ApplyResult
//	POST   /v1/units/{name}/scale                   {"replicas":N} → Unit
//	POST   /v1/units/{name}/stop, .../start         ApplyResult
//	POST   /v1/units/{name}/rollout/restart         ApplyResult
//	GET    /v1/deleted-units/{name}                 DeletedUnit: a deleted unit's last version
//	GET    /v1/hosts                                []Host
//	GET    /v1/hosts/{name}                         Host
//	DELETE /v1/hosts/{name}                         (a NotReady or Left host, from the fleet)
//	PATCH  /v1/hosts/{name}/labels                  LabelChange → Host
//	GET    /v1/hosts/{name}/keys                    Keys (gossip key fingerprints)
//	POST   /v1/hosts/{name}/keys                    KeyChange → Keys
//	GET    /v1/events?kind=K&object=NAME            []Event
//	POST   /v1/debug/resync                         PassStats, when the backend is a Resyncer
//
// In a fleet, requests about another host's instance (its status, logs,
// labels, deletion, exec), its host's labels and events, go to that host's
// agent (forward.go); the answer is the other agent's.
//
// Every non-2xx answer but exec's 101 has an APIError body: 404 for
// ErrNotFound, 400 for ErrInvalid, bad parameters and a unit or instance
// name with directory parts (sub%2Fweb.toml), 409 for ErrConflict and when
// create finds the unit already there, 413 for a body too large (a unit
// file over units.MaxFileSize, JSON over 1 MiB, an exec request over
// maxExecRequest), 422 for an invalid unit file (the message lists every
// problem, one per line), 502 when another host that a request needs did
// not answer, 500 for anything else.

// Watch event types, as Kubernetes names them.
const (
	WatchAdded    = "ADDED"
	WatchModified = "MODIFIED"
	WatchDeleted  = "DELETED"
	// WatchBookmark ends the initial list: every instance that existed when
	// the watch began has been sent as ADDED. It carries no object.
	WatchBookmark = "BOOKMARK"
)

// WatchEvent is one line of a watch stream (newline-delimited JSON). A
// DELETED event carries the instance as it was last seen; so does one for an
// instance that stopped matching the selector.
type WatchEvent struct {
	Type   string   `json:"type"`
	Object Instance `json:"object,omitzero"`
}

// FenceView is an exclusive unit's fence as this host sees it, in
// GET /v1/units/{name}.
type FenceView struct {
	Voters []string `json:"voters"`
	Quorum int      `json:"quorum"`
	// This host's standing: Held at Epoch, or what it waits for (Status);
	// Claimed false when it does not want the unit.
	Host    string `json:"host"`
	Claimed bool   `json:"claimed"`
	Held    bool   `json:"held,omitempty"`
	Epoch   uint64 `json:"epoch,omitempty"`
	Status  string `json:"status,omitempty"`
	// This host's vote, when it is a voter that has promised the unit.
	VotedFor   string `json:"voted_for,omitempty"`
	VotedEpoch uint64 `json:"voted_epoch,omitempty"`
}

// FenceReleased is the answer to POST /v1/units/{name}/fence/release:
// the unit, and the host and epoch whose lease was released.
type FenceReleased struct {
	Unit  string `json:"unit"`
	Host  string `json:"host"`
	Epoch uint64 `json:"epoch"`
}

// ScaleRequest is the body of POST /v1/units/{name}/scale.
type ScaleRequest struct {
	Replicas int `json:"replicas"`
}

// maxUnitFile bounds the body of PUT /v1/units/{filename}: what Parse
// accepts.
const maxUnitFile = units.MaxFileSize

// NewAPI returns the local API's handler, serving b. It logs failed
// requests to log at Warn and every request at Debug.
//
// The streaming routes (watch, logs with follow, exec) run until the
// client goes away or the request's context ends: give the http.Server a
// BaseContext that is cancelled at shutdown, since http.Server.Shutdown
// does not wait for them to end on their own (nor, for exec, whose
// connection it no longer tracks, at all).
func NewAPI(b Backend, log *slog.Logger) http.Handler {
	return NewAPIWith(b, APIOptions{Log: log})
}

// NewAPIWith is NewAPI with options: forwarding to other hosts, or the
// inter-host API.
func NewAPIWith(b Backend, opt APIOptions) http.Handler {
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	a := &api{b: b, log: opt.Log, opt: opt}
	if opt.Peer {
		opt.Forward = nil // a request from another host is never passed on
		a.opt = opt
	}
	mux := http.NewServeMux()
	handle := func(pattern string, h http.HandlerFunc) {
		if opt.Peer && !peerRoutes[pattern] {
			return
		}
		if strings.Contains(pattern, "/v1/hosts/") {
			// A host's name is the fleet's, whatever it holds.
			mux.HandleFunc(pattern, h)
			return
		}
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			for _, key := range [...]string{"name", "filename"} {
				if msg := badPathName(r.PathValue(key)); msg != "" {
					writeError(w, http.StatusBadRequest, msg)
					return
				}
			}
			h(w, r)
		})
	}
	handle("GET /v1/version", a.version)
	handle("GET /metrics", a.metrics)
	handle("GET /healthz", a.healthz)
	handle("GET /v1/instances", a.instances)
	handle("GET /v1/instances/{name}", a.forwarded(a.instanceOwner, true, a.instance))
	handle("DELETE /v1/instances/{name}", a.forwarded(a.instanceOwner, false, a.deleteInstance))
	handle("PATCH /v1/instances/{name}/labels", a.forwarded(a.instanceOwner, false, a.labelInstance))
	handle("GET /v1/instances/{name}/logs", a.forwarded(a.instanceOwner, false, a.logs))
	handle("POST /v1/instances/{name}/exec", a.forwarded(a.instanceOwner, false, a.exec))
	handle("POST /v1/instances/{name}/restart", a.forwarded(a.instanceOwner, false, a.restartInstance))
	handle("GET /v1/units", a.units)
	handle("GET /v1/units/{name}", a.unit)
	handle("DELETE /v1/units/{name}", a.deleteUnit)
	handle("PUT /v1/units/{filename}", a.applyUnit)
	handle("POST /v1/units/{name}/scale", a.scaleUnit)
	handle("POST /v1/units/{name}/stop", a.stopUnit(true))
	handle("POST /v1/units/{name}/start", a.stopUnit(false))
	handle("POST /v1/units/{name}/rollout/restart", a.rolloutRestart)
	handle("GET /v1/deleted-units/{name}", a.deletedUnit)
	handle("POST /v1/units/{name}/fence/release", a.releaseFence)
	handle("GET /v1/hosts", a.hosts)
	handle("GET /v1/hosts/{name}", a.host)
	// Never passed on: the host is gone, and its deletion is the fleet's.
	handle("DELETE /v1/hosts/{name}", a.deleteHost)
	handle("PATCH /v1/hosts/{name}/labels", a.forwarded(a.hostOwner, false, a.labelHost))
	handle("GET /v1/hosts/{name}/keys", a.forwarded(a.hostOwner, false, a.keys))
	handle("POST /v1/hosts/{name}/keys", a.forwarded(a.hostOwner, false, a.changeKeys))
	handle("GET /v1/events", a.mergedEvents)
	if rs, ok := b.(Resyncer); ok {
		handle("POST /v1/debug/resync", func(w http.ResponseWriter, r *http.Request) {
			st, err := rs.Resync()
			if err != nil {
				a.fail(w, r, err)
				return
			}
			writeJSON(w, http.StatusOK, st)
		})
	}
	a.mux = mux
	return a
}

// Resyncer is a Backend that can be told to plan everything once and say
// how long that took (the agent is one); the benchmarks use it.
type Resyncer interface {
	Resync() (PassStats, error)
}

type api struct {
	b   Backend
	log *slog.Logger
	opt APIOptions
	mux *http.ServeMux
}

func (a *api) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	if p := r.URL.EscapedPath(); r.Method != http.MethodConnect && cleanPath(p) != p {
		// Not the mux's 307 to the clean path: a client that follows it
		// keeping the method could DELETE /v1/units/../hosts/x, and for a
		// clean path without a route it came without a Location.
		writeError(sw, http.StatusBadRequest, fmt.Sprintf("path %q is not clean: it has an empty, '.' or '..' element; ask for %q", p, cleanPath(p)))
	} else if _, pattern := a.mux.Handler(r); pattern == "" {
		// No route: answer in JSON like every other error, keeping the
		// mux's choice between 404 and 405.
		rec := &statusWriter{ResponseWriter: discardWriter{h: http.Header{}}, status: http.StatusOK}
		a.mux.ServeHTTP(rec, r)
		if rec.status == http.StatusMethodNotAllowed {
			sw.Header().Set("Allow", rec.Header().Get("Allow"))
		}
		writeError(sw, rec.status, fmt.Sprintf("no route for %s %s", r.Method, r.URL.Path))
	} else {
		a.mux.ServeHTTP(sw, r)
	}
	level := slog.LevelDebug
	if sw.status >= 400 {
		level = slog.LevelWarn
	}
	attrs := []any{"method", r.Method, "path", r.URL.Path, "status", sw.status, "duration", time.Since(start).Round(time.Microsecond)}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		// What another host changes here (exec, delete, labels, keys) is
		// on the record, with who asked.
		attrs = append(attrs, "peer", r.TLS.PeerCertificates[0].Subject.CommonName)
		if r.Method != http.MethodGet && level < slog.LevelInfo {
			level = slog.LevelInfo
		}
	}
	a.log.Log(r.Context(), level, "api request", attrs...)
}

func (a *api) version(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.b.Version())
}

func (a *api) instances(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	sel, err := units.ParseSelector(q.Get("selector"))
	if err != nil {
		a.fail(w, r, fmt.Errorf("%w: %w", ErrInvalid, err))
		return
	}
	watch, err := boolParam(q, "watch")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if watch {
		a.watch(w, r, sel)
		return
	}
	writeJSON(w, http.StatusOK, nonNil(a.b.Instances(sel)))
}

// watch streams the instances matching sel: each as ADDED, a BOOKMARK, then
// a line for every instance whose JSON changed, appeared or went away after
// each change the backend signals.
func (a *api) watch(w http.ResponseWriter, r *http.Request, sel units.Selector) {
	changes, stop := a.b.Changes() // before the first list, so no change is missed
	defer stop()
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // a stream outlives any server write timeout
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)

	seen := map[string][]byte{}   // name → JSON last sent
	last := map[string]Instance{} // name → instance last sent, for DELETED
	send := func(typ string, in Instance) bool {
		return enc.Encode(WatchEvent{Type: typ, Object: in}) == nil
	}
	diff := func() bool {
		now := a.b.Instances(sel)
		present := make(map[string]bool, len(now))
		for _, in := range now {
			present[in.Name] = true
			data, err := json.Marshal(in)
			if err != nil {
				continue
			}
			old, ok := seen[in.Name]
			switch {
			case !ok:
				if !send(WatchAdded, in) {
					return false
				}
			case string(old) != string(data):
				if !send(WatchModified, in) {
					return false
				}
			default:
				continue
			}
			seen[in.Name], last[in.Name] = data, in
		}
		for name := range seen {
			if !present[name] {
				if !send(WatchDeleted, last[name]) {
					return false
				}
				delete(seen, name)
				delete(last, name)
			}
		}
		return rc.Flush() == nil
	}

	if !diff() || enc.Encode(WatchEvent{Type: WatchBookmark}) != nil || rc.Flush() != nil {
		return
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case _, ok := <-changes:
			if !ok || !diff() {
				return
			}
		}
	}
}

func (a *api) instance(w http.ResponseWriter, r *http.Request) {
	in, err := a.b.Instance(r.PathValue("name"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, in)
}

func (a *api) deleteInstance(w http.ResponseWriter, r *http.Request) {
	if err := a.b.DeleteInstance(r.PathValue("name")); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *api) restartInstance(w http.ResponseWriter, r *http.Request) {
	in, err := a.b.RestartInstance(r.PathValue("name"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, in)
}

func (a *api) labelInstance(w http.ResponseWriter, r *http.Request) {
	var change LabelChange
	if err := readJSON(w, r, &change); err != nil {
		a.fail(w, r, err)
		return
	}
	in, err := a.b.LabelInstance(r.PathValue("name"), change)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, in)
}

func (a *api) logs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	opts := LogOptions{Tail: -1}
	var err error
	if opts.Previous, err = boolParam(q, "previous"); err != nil {
		a.fail(w, r, err)
		return
	}
	if opts.Follow, err = boolParam(q, "follow"); err != nil {
		a.fail(w, r, err)
		return
	}
	if opts.Timestamps, err = boolParam(q, "timestamps"); err != nil {
		a.fail(w, r, err)
		return
	}
	framed, err := boolParam(q, "framed")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if s := q.Get("tail"); s != "" {
		if opts.Tail, err = strconv.Atoi(s); err != nil {
			a.fail(w, r, fmt.Errorf("%w: tail=%q is not a number", ErrInvalid, s))
			return
		}
	}
	name := r.PathValue("name")
	rd, err := a.b.Logs(r.Context(), name, opts)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	defer rd.Close()
	rc := http.NewResponseController(w)
	if opts.Follow {
		_ = rc.SetWriteDeadline(time.Time{})
	}
	if framed {
		w.Header().Set("Content-Type", LogFramesType)
	} else {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	// send writes a frame, or in text the output and skips, and flushes
	// it, so a follower sees lines as they are written rather than when a
	// buffer fills.
	var h [frameHeader]byte
	send := func(t frameType, p []byte) error {
		if framed {
			putHeader(h[:], t, len(p))
			if _, err := w.Write(h[:]); err != nil {
				return err
			}
		} else if t != logOutput {
			return nil
		}
		if _, err := w.Write(p); err != nil {
			return err
		}
		return rc.Flush()
	}
	buf := make([]byte, MaxExecFrame)
	for {
		n, rerr := rd.Read(buf)
		if n > 0 {
			if err := send(logOutput, buf[:n]); err != nil {
				return
			}
		}
		var skip *LogSkipped
		switch {
		case rerr == nil:
			continue
		case errors.As(rerr, &skip):
			var err error
			if framed {
				data, _ := json.Marshal(skip)
				err = send(logSkipped, data)
			} else {
				err = send(logOutput, []byte(skip.Notice(name)+"\n"))
			}
			if err != nil {
				return
			}
			continue
		case r.Context().Err() != nil:
			// The client went away, or the agent is shutting down.
			send(logError, []byte("the agent stopped sending the log (it is shutting down)"))
		case rerr == io.EOF:
			send(logEnd, nil)
		default:
			a.log.Warn("api: reading logs", "instance", name, "err", rerr)
			send(logError, []byte("reading the log: "+rerr.Error()))
		}
		return
	}
}

func (a *api) units(w http.ResponseWriter, r *http.Request) {
	var kind units.Kind
	if q := r.URL.Query().Get("kind"); q != "" {
		k, err := units.ParseKind(q)
		if err != nil {
			a.fail(w, r, fmt.Errorf("%w: %w", ErrInvalid, err))
			return
		}
		kind = k
	}
	writeJSON(w, http.StatusOK, nonNil(a.b.Units(kind)))
}

func (a *api) unit(w http.ResponseWriter, r *http.Request) {
	u, err := a.b.Unit(r.PathValue("name"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, u)
}

func (a *api) deleteUnit(w http.ResponseWriter, r *http.Request) {
	var orphan bool
	switch c := r.URL.Query().Get("cascade"); c {
	case "orphan", "false":
		orphan = true
	case "", "true", "background", "foreground":
	default:
		a.fail(w, r, fmt.Errorf("%w: cascade=%q: want orphan, background or foreground", ErrInvalid, c))
		return
	}
	if err := a.b.DeleteUnit(r.PathValue("name"), orphan); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *api) applyUnit(w http.ResponseWriter, r *http.Request) {
	filename := r.PathValue("filename")
	create, err := boolParam(r.URL.Query(), "create")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	dryRun, err := boolParam(r.URL.Query(), "dry_run")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxUnitFile))
	if tooBig := new(http.MaxBytesError); errors.As(err, &tooBig) {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("unit file %s is larger than %d bytes", filename, maxUnitFile))
		return
	}
	if err != nil {
		a.fail(w, r, fmt.Errorf("%w: reading %s: %w", ErrInvalid, filename, err))
		return
	}
	if create {
		name := strings.TrimSuffix(filename, filepath.Ext(filename))
		if _, err := a.b.Unit(name); err == nil {
			writeError(w, http.StatusConflict, fmt.Sprintf("units %q already exists", name))
			return
		} else if !errors.Is(err, ErrNotFound) {
			a.fail(w, r, err)
			return
		}
	}
	apply := a.b.ApplyUnit
	if dryRun {
		apply = a.b.CheckUnit
	}
	res, err := apply(filename, data)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (a *api) stopUnit(stop bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		res, err := a.b.StopUnit(r.PathValue("name"), stop)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, res)
	}
}

func (a *api) deletedUnit(w http.ResponseWriter, r *http.Request) {
	d, err := a.b.DeletedUnit(r.PathValue("name"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// Metrics is what a Backend that has metrics offers (the Supervisor):
// GET /metrics writes them, GET /healthz asks whether the agent is well.
type Metrics interface {
	WriteMetrics(w io.Writer) error
	Healthz(ctx context.Context) error
}

func (a *api) metrics(w http.ResponseWriter, r *http.Request) {
	m, ok := a.b.(Metrics)
	if !ok {
		writeError(w, http.StatusNotFound, "this agent has no metrics")
		return
	}
	serveMetrics(m)(w, r)
}

func (a *api) healthz(w http.ResponseWriter, r *http.Request) {
	m, ok := a.b.(Metrics)
	if !ok {
		writeError(w, http.StatusNotFound, "this agent has no health check")
		return
	}
	serveHealthz(m)(w, r)
}

func serveMetrics(m Metrics) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var b bytes.Buffer
		if err := m.WriteMetrics(&b); err != nil {
			http.Error(w, err.Error()+"\n", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		w.Write(b.Bytes())
	}
}

func serveHealthz(m Metrics) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := m.Healthz(r.Context()); err != nil {
			http.Error(w, err.Error()+"\n", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	}
}

// MetricsHandler serves /metrics and /healthz of m, and nothing else: what
// the agent's metrics_addr listens with.
func MetricsHandler(m Metrics) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", serveMetrics(m))
	mux.HandleFunc("GET /healthz", serveHealthz(m))
	return mux
}

func (a *api) rolloutRestart(w http.ResponseWriter, r *http.Request) {
	res, err := a.b.RolloutRestart(r.PathValue("name"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (a *api) scaleUnit(w http.ResponseWriter, r *http.Request) {
	var req ScaleRequest
	if err := readJSON(w, r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	if req.Replicas < 0 {
		a.fail(w, r, fmt.Errorf("%w: replicas must not be negative, got %d", ErrInvalid, req.Replicas))
		return
	}
	u, err := a.b.ScaleUnit(r.PathValue("name"), req.Replicas)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, u)
}

func (a *api) releaseFence(w http.ResponseWriter, r *http.Request) {
	res, err := a.b.ReleaseFence(r.PathValue("name"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (a *api) hosts(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, nonNil(a.b.Hosts()))
}

func (a *api) host(w http.ResponseWriter, r *http.Request) {
	h, err := a.b.Host(r.PathValue("name"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, h)
}

func (a *api) deleteHost(w http.ResponseWriter, r *http.Request) {
	if err := a.b.DeleteHost(r.PathValue("name")); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *api) labelHost(w http.ResponseWriter, r *http.Request) {
	var change LabelChange
	if err := readJSON(w, r, &change); err != nil {
		a.fail(w, r, err)
		return
	}
	h, err := a.b.LabelHost(r.PathValue("name"), change)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, h)
}

// keyring is this host's keyring for a request about host name.
func (a *api) keyring(name string) (Keyring, error) {
	if name != a.b.Version().Host {
		return nil, errNotFound("host", name)
	}
	if a.opt.Keys == nil {
		return nil, fmt.Errorf("host %s has no gossip keys to change: %w", name, ErrInvalid)
	}
	return a.opt.Keys, nil
}

func (a *api) keys(w http.ResponseWriter, r *http.Request) {
	kr, err := a.keyring(r.PathValue("name"))
	var k Keys
	if err == nil {
		k, err = kr.Keys()
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, k)
}

func (a *api) changeKeys(w http.ResponseWriter, r *http.Request) {
	var change KeyChange
	if err := readJSON(w, r, &change); err != nil {
		a.fail(w, r, err)
		return
	}
	kr, err := a.keyring(r.PathValue("name"))
	var k Keys
	if err == nil {
		k, err = kr.ChangeKeys(change)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, k)
}

// cleanPath is p as http.ServeMux cleans it: path.Clean, keeping a
// trailing slash.
func cleanPath(p string) string {
	if p == "" || p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if strings.HasSuffix(p, "/") && np != "/" {
		np += "/"
	}
	return np
}

// badPathName says what is wrong with a unit's or an instance's name, or a
// unit's file name, taken from the request's path ("" when nothing is, or
// the route has none): each names a file or directory here, so it is one
// path element. One with directory parts (sent escaped, as
// sub%2Fweb.toml) is refused, never cut to its last part: a PUT of
// sub/web.toml must not write web.toml.
func badPathName(v string) string {
	if strings.ContainsAny(v, "/\x00") || v == "." || v == ".." {
		return fmt.Sprintf("invalid name %q: a name is one path element: it may not contain '/' or be '.' or '..'", v)
	}
	return ""
}

// fail answers with err's status and message.
func (a *api) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := errorStatus(err)
	if status == http.StatusInternalServerError {
		a.log.Error("api: backend failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeError(w, status, err.Error())
}

// errorStatus maps an error from the Backend (or from decoding a request)
// to an HTTP status.
func errorStatus(err error) int {
	var list units.ErrorList
	var plist *units.ErrorList
	switch {
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.As(err, &list), errors.As(err, &plist):
		return http.StatusUnprocessableEntity
	case errors.Is(err, ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, ErrConflict):
		return http.StatusConflict
	case errors.Is(err, errTooLarge):
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusInternalServerError
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "encoding answer: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(data, '\n'))
}

func writeError(w http.ResponseWriter, status int, msg string) {
	data, _ := json.Marshal(APIError{Error: msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(data, '\n'))
}

// maxJSONBody bounds the JSON body of a request (labels, scale, keys).
const maxJSONBody = 1 << 20

// readJSON decodes the request body into v, rejecting unknown fields. A
// body larger than maxJSONBody, even one whose JSON value ends sooner, is
// an errTooLarge.
func readJSON(w http.ResponseWriter, r *http.Request, v any) error {
	body := http.MaxBytesReader(w, r.Body, maxJSONBody)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		_, err = io.Copy(io.Discard, body)
	}
	if tooBig := new(http.MaxBytesError); errors.As(err, &tooBig) {
		return errTooLarge
	}
	if err != nil {
		return fmt.Errorf("%w: request body: %w", ErrInvalid, err)
	}
	return nil
}

// errTooLarge: a request body over maxJSONBody (413).
var errTooLarge = fmt.Errorf("request body is larger than %d bytes", maxJSONBody)

// boolParam reads a query flag: absent, "" (present without a value), "1",
// "true" and the rest of strconv.ParseBool's words.
func boolParam(q map[string][]string, key string) (bool, error) {
	vs, ok := q[key]
	if !ok {
		return false, nil
	}
	v := ""
	if len(vs) > 0 {
		v = vs[0]
	}
	if v == "" {
		return true, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%w: %s=%q: want true or false", ErrInvalid, key, v)
	}
	return b, nil
}

// nonNil makes an empty list encode as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// statusWriter records the status written through it. It forwards Flush
// and the rest through Unwrap, for http.ResponseController.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// discardWriter swallows the mux's plain-text 404 and 405 answers.
type discardWriter struct{ h http.Header }

func (d discardWriter) Header() http.Header         { return d.h }
func (d discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d discardWriter) WriteHeader(int)             {}

// ListenUnix listens on the unix socket at path for the local API. It
// creates the parent directory (0755) if needed and makes the socket 0660,
// so that root and the socket's group may use it.
//
// A socket file left behind by an agent that died is removed; one that an
// agent still answers on is not: ListenUnix then fails with "another agent
// is listening on PATH". A file at path that is not a socket is never
// removed.
func ListenUnix(path string) (net.Listener, error) {
	return ListenUnixGroup(path, "")
}

// DefaultSocketGroup is the group the socket goes to when the
// configuration names none and the host has it: the package makes it.
const DefaultSocketGroup = "tend"

// ListenUnixGroup is ListenUnix with the socket given to group: "" is
// DefaultSocketGroup when the host has that group and the agent may give
// the socket to it, else the agent's own group.
func ListenUnixGroup(path, group string) (net.Listener, error) {
	gid := -1
	name := group
	if name == "" {
		name = DefaultSocketGroup
	}
	if g, err := user.LookupGroup(name); err == nil {
		if gid, err = strconv.Atoi(g.Gid); err != nil {
			return nil, fmt.Errorf("local API socket: group %s: gid %q", name, g.Gid)
		}
	} else if group != "" {
		return nil, fmt.Errorf("local API socket: socket_group %q: %w", group, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("local API socket: %w", err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != os.ModeSocket {
			return nil, fmt.Errorf("local API socket: %s exists and is not a socket; move it away or set another socket path", path)
		}
		conn, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			conn.Close()
			return nil, fmt.Errorf("another agent is listening on %s", path)
		}
		if !errors.Is(err, syscall.ECONNREFUSED) && !errors.Is(err, syscall.ENOENT) {
			return nil, fmt.Errorf("local API socket: checking %s for a running agent: %w", path, err)
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("local API socket: removing stale %s: %w", path, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("local API socket: %w", err)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("local API socket: %w", err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		l.Close()
		return nil, fmt.Errorf("local API socket: %w", err)
	}
	if gid >= 0 {
		// An agent that may not give it away (not root, nor in the
		// group) keeps its own group for the default; a group the
		// configuration names is a must.
		if err := os.Chown(path, -1, gid); err != nil && group != "" {
			l.Close()
			return nil, fmt.Errorf("local API socket: giving %s to group %s: %w", path, name, err)
		}
	}
	return l, nil
}
