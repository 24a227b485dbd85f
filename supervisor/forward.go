package supervisor

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"time"
)

// Forwarding between hosts. Gossip carries every host's instance
// summaries, so any agent lists the whole fleet, but an instance's logs,
// its full status and events, and the changes to it (delete, label, exec)
// are its own host's. The local API passes those requests on to that
// host's agent, which serves them on its inter-host API: the same routes,
// over mutual TLS, a few of them only (peerRoutes), and never passed on
// again. A host that cannot be reached is an error for changes and logs;
// reads of status and events fall back to what gossip said.

// A Forwarder passes a request on to another host's agent and copies its
// answer to w. It returns an error, having written nothing, when the host
// cannot be reached.
type Forwarder interface {
	Forward(host string, w http.ResponseWriter, r *http.Request) error
}

// ForwardedHeader names the host that passed a request on.
const ForwardedHeader = "Tend-Forwarded-From"

// APIOptions configures NewAPIWith.
type APIOptions struct {
	Log *slog.Logger
	// Forward, when set, passes requests about other hosts' instances and
	// hosts on to them.
	Forward Forwarder
	// Peer makes the handler the inter-host API: only peerRoutes, nothing
	// passed on.
	Peer bool
	// Keys is this host's gossip keyring; nil when it does not gossip.
	Keys Keyring
}

// peerRoutes are the routes another host's agent may call: what it passes
// on for its own users. Units, scaling and host lists are the catalog's
// and gossip's, not a host's.
var peerRoutes = map[string]bool{
	"GET /v1/version":                   true,
	"GET /v1/instances/{name}":          true,
	"DELETE /v1/instances/{name}":       true,
	"PATCH /v1/instances/{name}/labels": true,
	"GET /v1/instances/{name}/logs":     true,
	"POST /v1/instances/{name}/exec":    true,
	"GET /v1/events":                    true,
	"GET /v1/hosts/{name}":              true,
	"PATCH /v1/hosts/{name}/labels":     true,
	"GET /v1/hosts/{name}/keys":         true,
	"POST /v1/hosts/{name}/keys":        true,
}

// owner is the host other than this one that a request is about, or "".
type owner func(r *http.Request) string

// instanceOwner: the host of the instance in the path.
func (a *api) instanceOwner(r *http.Request) string { return a.hostOf(r.PathValue("name")) }

// hostOf is the host of instance name when it is another host's.
func (a *api) hostOf(name string) string {
	in, err := a.b.Instance(name)
	if err != nil || in.Host == "" || in.Host == a.b.Version().Host {
		return ""
	}
	return in.Host
}

// hostOwner: the host in the path, when it is another.
func (a *api) hostOwner(r *http.Request) string {
	if h := r.PathValue("name"); h != a.b.Version().Host {
		return h
	}
	return ""
}

// eventsOwner: the host whose events about object are its own.
func (a *api) eventsOwner(r *http.Request) string {
	q := r.URL.Query()
	switch q.Get("kind") {
	case "instance":
		return a.hostOf(q.Get("object"))
	case "host":
		if h := q.Get("object"); h != "" && h != a.b.Version().Host {
			return h
		}
	}
	return ""
}

// forwarded wraps h: a request owned by another host goes to it. With
// fallback, a host that cannot be reached leaves the request to h, which
// answers from gossip; without, it is a 502 naming the host.
func (a *api) forwarded(of owner, fallback bool, h http.HandlerFunc) http.HandlerFunc {
	if a.opt.Forward == nil {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		host := of(r)
		if host == "" {
			h(w, r)
			return
		}
		err := a.opt.Forward.Forward(host, w, r)
		switch {
		case err == nil:
		case fallback:
			a.log.Debug("api: host not reached; answering from gossip", "host", host, "path", r.URL.Path, "err", err)
			h(w, r)
		default:
			writeError(w, http.StatusBadGateway, fmt.Sprintf("host %s: %v", host, err))
		}
	}
}

// mergedEvents answers GET /v1/events about another host's object with
// its host's events and this host's own (what it saw of that host) in one
// list, oldest first.
func (a *api) mergedEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	local := a.b.Events(q.Get("kind"), q.Get("object"))
	host := a.eventsOwner(r)
	if host == "" || a.opt.Forward == nil {
		writeJSON(w, http.StatusOK, nonNil(local))
		return
	}
	// A host that answers slowly, or too much, is left out: this host's
	// own answer must not wait on it or go with it.
	ctx, cancel := context.WithTimeout(r.Context(), eventsTimeout)
	defer cancel()
	rec := newCapture()
	var theirs []Event
	if err := forwardInto(a.opt.Forward, host, rec, r.WithContext(ctx)); err != nil {
		a.log.Debug("api: host not reached; its events are left out", "host", host, "err", err)
	} else if rec.overflow {
		a.log.Warn("api: a host's events are more than this host takes; left out", "host", host, "limit", maxCapture)
	} else if rec.status == http.StatusOK {
		if err := json.Unmarshal(rec.body.Bytes(), &theirs); err != nil {
			a.log.Warn("api: a host's events do not parse", "host", host, "err", err)
		}
	}
	writeJSON(w, http.StatusOK, nonNil(mergeEvents(local, theirs)))
}

// forwardInto is Forward into a capture. A reverse proxy aborts (panics
// with http.ErrAbortHandler) when the answer breaks off half way, which
// for a capture is only an error.
func forwardInto(fw Forwarder, host string, rec *capture, r *http.Request) (err error) {
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler {
				panic(v)
			}
			err = errors.New("the answer broke off")
		}
	}()
	return fw.Forward(host, rec, r)
}

// mergeEvents is both lists without the events they share, by time.
func mergeEvents(a, b []Event) []Event {
	type key struct {
		kind, object, reason, message, from string
		first                               time.Time
	}
	seen := map[key]bool{}
	var out []Event
	for _, list := range [][]Event{a, b} {
		for _, e := range list {
			k := key{e.Kind, e.Object, e.Reason, e.Message, e.From, e.First}
			if !seen[k] {
				seen[k] = true
				out = append(out, e)
			}
		}
	}
	slices.SortStableFunc(out, func(x, y Event) int { return x.Last.Compare(y.Last) })
	return out
}

// eventsTimeout bounds the wait for another host's events.
const eventsTimeout = 5 * time.Second

// capture is a ResponseWriter that keeps a small answer (events), and
// drops the rest of one too large (a write error would make the reverse
// proxy abort this host's own answer).
type capture struct {
	h        http.Header
	status   int
	body     bytes.Buffer
	overflow bool
}

func newCapture() *capture { return &capture{h: http.Header{}, status: http.StatusOK} }

func (c *capture) Header() http.Header { return c.h }
func (c *capture) WriteHeader(s int)   { c.status = s }
func (c *capture) Write(p []byte) (int, error) {
	if c.overflow || c.body.Len()+len(p) > maxCapture {
		c.overflow = true
		c.body.Reset()
		return len(p), nil
	}
	return c.body.Write(p)
}

// maxCapture bounds the events a host sends back: the event log keeps a
// few thousand, far below it.
const maxCapture = 16 << 20

// Proxy is the Forwarder of an agent: a reverse proxy over the inter-host
// API's transport.
type Proxy struct {
	// Transport reaches other hosts' inter-host APIs.
	Transport http.RoundTripper
	// URL is where host's inter-host API is for Transport, or an error
	// saying why the host cannot be asked (not Ready, serves no API).
	URL func(host string) (*url.URL, error)
	// Self is this host's name, sent in ForwardedHeader.
	Self string
	Log  *slog.Logger
}

// Forward implements Forwarder.
func (p *Proxy) Forward(host string, w http.ResponseWriter, r *http.Request) error {
	target, err := p.URL(host)
	if err != nil {
		return err
	}
	var failed error
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Header.Set(ForwardedHeader, p.Self)
		},
		Transport:     p.Transport,
		FlushInterval: -1, // logs -f: each chunk as it comes
		ErrorLog:      slog.NewLogLogger(cmp.Or(p.Log, slog.New(slog.DiscardHandler)).With("forwarding", host).Handler(), slog.LevelWarn),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			failed = err
		},
	}
	rp.ServeHTTP(w, r)
	return failed
}
