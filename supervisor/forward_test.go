package supervisor_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/tendhq/tend/supervisor"
	"github.com/tendhq/tend/units"
)

// twoHosts is edge-17's local API, which knows edge-18's instance
// web-x from gossip, and edge-18's agent serving its inter-host API on a
// real TCP socket. down makes edge-18 unreachable.
type twoHosts struct {
	local, peer *fake
	c           *Client
	mu          sync.Mutex
	down        bool
	forwarded   []string // the ForwardedHeader of each request edge-18 got
}

func startTwoHosts(t *testing.T) *twoHosts {
	t.Helper()
	noLeaks(t)
	th := &twoHosts{local: fixture(), peer: newFake()}
	th.peer.host = "edge-18"
	web := Instance{Name: "web-x", Unit: "web", Host: "edge-18", Labels: units.Labels{"app": "web"}, Status: "Running", PID: 4242}
	th.peer.instances["web-x"] = web
	th.peer.hosts["edge-18"] = Host{Name: "edge-18", Status: "Ready", Labels: units.Labels{"zone": "b"}}
	th.peer.logs["web-x"] = "from edge-18\n"
	th.peer.previous["web-x"] = "edge-18's run before\n"
	th.peer.events = []Event{
		{Kind: "instance", Object: "web-x", Reason: "Started", Message: "Started instance", From: "edge-18", Last: time.Unix(20, 0), Count: 1},
		{Kind: "host", Object: "edge-18", Reason: "Starting", Message: "Agent started", From: "edge-18", Last: time.Unix(5, 0), Count: 1},
	}
	// What gossip told edge-17: the summary, without the PID.
	gossip := web
	gossip.PID = 0
	th.local.instances["web-x"] = gossip
	th.local.hosts["edge-18"] = Host{Name: "edge-18", Status: "Ready", Labels: units.Labels{"zone": "b"}}
	th.local.events = append(th.local.events, Event{Kind: "host", Object: "edge-18", Reason: "NodeReady", From: "edge-17", Last: time.Unix(10, 0), Count: 1})

	peerAPI := NewAPIWith(th.peer, APIOptions{Peer: true, Log: slog.New(slog.DiscardHandler)})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		th.mu.Lock()
		th.forwarded = append(th.forwarded, r.Header.Get(ForwardedHeader))
		th.mu.Unlock()
		peerAPI.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	target, _ := url.Parse(srv.URL)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	proxy := &Proxy{
		Transport: tr,
		Self:      "edge-17",
		URL: func(host string) (*url.URL, error) {
			th.mu.Lock()
			defer th.mu.Unlock()
			if host != "edge-18" || th.down {
				return nil, errors.New("not reachable")
			}
			return target, nil
		},
	}
	th.c, _ = serveHandler(t, NewAPIWith(th.local, APIOptions{Forward: proxy}))
	return th
}

func TestRequestsAboutAnotherHostsInstanceGoToIt(t *testing.T) {
	th := startTwoHosts(t)
	ctx := context.Background()

	in, err := th.c.Instance(ctx, "web-x")
	if err != nil || in.PID != 4242 {
		t.Errorf("describe: %+v, %v; want edge-18's own record (PID 4242)", in, err)
	}
	rc, err := th.c.Logs(ctx, "web-x", LogOptions{Tail: -1})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != "from edge-18\n" {
		t.Errorf("logs: %q", got)
	}
	rc, err = th.c.Logs(ctx, "web-x", LogOptions{Tail: -1, Previous: true})
	if err != nil {
		t.Fatal(err)
	}
	got, _ = io.ReadAll(rc)
	rc.Close()
	if string(got) != "edge-18's run before\n" {
		t.Errorf("logs --previous: %q", got)
	}
	if _, err := th.c.LabelInstance(ctx, "web-x", LabelChange{Set: units.Labels{"tier": "front"}}); err != nil {
		t.Fatal(err)
	}
	if l := th.peer.instances["web-x"].Labels; l["tier"] != "front" {
		t.Errorf("edge-18's instance has labels %v", l)
	}
	if _, ok := th.local.instances["web-x"].Labels["tier"]; ok {
		t.Error("edge-17 labelled its gossip copy itself")
	}
	if _, err := th.c.LabelHost(ctx, "edge-18", LabelChange{Set: units.Labels{"disk": "ssd"}}); err != nil {
		t.Fatal(err)
	}
	if l := th.peer.hosts["edge-18"].Labels; l["disk"] != "ssd" {
		t.Errorf("edge-18's labels %v", l)
	}
	if err := th.c.DeleteInstance(ctx, "web-x"); err != nil {
		t.Fatal(err)
	}
	if _, ok := th.peer.instances["web-x"]; ok {
		t.Error("edge-18 did not delete its instance")
	}
	// Errors come back as edge-18 gave them.
	if err := th.c.DeleteInstance(ctx, "web-x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleting it again: %v, want not found from edge-18", err)
	}
	th.mu.Lock()
	defer th.mu.Unlock()
	for _, f := range th.forwarded {
		if f != "edge-17" {
			t.Errorf("edge-18 got a request forwarded from %q", f)
		}
	}
	if len(th.forwarded) < 6 {
		t.Errorf("edge-18 got %d requests", len(th.forwarded))
	}
}

// A host's deletion is the fleet's, made where it is asked: never passed
// on to the host (which is gone), and no route of the inter-host API.
func TestDeletingAHostIsNotPassedOn(t *testing.T) {
	th := startTwoHosts(t)
	th.local.hosts["edge-19"] = Host{Name: "edge-19", Status: "NotReady"}
	ctx := context.Background()
	if err := th.c.DeleteHost(ctx, "edge-18"); !errors.Is(err, ErrConflict) {
		t.Errorf("deleting Ready edge-18: %v, want edge-17's own refusal", err)
	}
	if err := th.c.DeleteHost(ctx, "edge-19"); err != nil {
		t.Errorf("deleting edge-19: %v", err)
	}
	th.mu.Lock()
	n := len(th.forwarded)
	th.mu.Unlock()
	if n != 0 {
		t.Errorf("edge-18 got %d requests", n)
	}
	peer := httptest.NewServer(NewAPIWith(th.peer, APIOptions{Peer: true, Log: slog.New(slog.DiscardHandler)}))
	defer peer.Close()
	req, _ := http.NewRequest(http.MethodDelete, peer.URL+"/v1/hosts/edge-18", nil)
	res, err := peer.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode/100 == 2 {
		t.Errorf("the inter-host API answered DELETE /v1/hosts/edge-18 with %s", res.Status)
	}
}

func TestLogsOfAnotherHostFollow(t *testing.T) {
	th := startTwoHosts(t)
	lines := make(chan string)
	th.peer.follow["web-x"] = lines
	rc, err := th.c.Logs(context.Background(), "web-x", LogOptions{Follow: true, Tail: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	r := bufio.NewReader(rc)
	for _, want := range []string{"from edge-18\n", "later\n"} {
		if want == "later\n" {
			lines <- want // edge-18's backend has it: it must arrive without more output behind it
		}
		if got, err := r.ReadString('\n'); got != want || err != nil {
			t.Fatalf("read %q, %v; want %q", got, err, want)
		}
	}
	close(lines)
	if rest, err := io.ReadAll(r); err != nil || len(rest) != 0 {
		t.Errorf("after edge-18's run ended: %q, %v", rest, err)
	}
}

func TestEventsOfAnotherHostAreMerged(t *testing.T) {
	th := startTwoHosts(t)
	ev, err := th.c.Events(context.Background(), "host", "edge-18")
	if err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for _, e := range ev {
		reasons = append(reasons, e.From+":"+e.Reason)
	}
	if got := strings.Join(reasons, " "); got != "edge-18:Starting edge-17:NodeReady" {
		t.Errorf("events of edge-18: %s; want edge-18's own, then what edge-17 saw, by time", got)
	}
}

func TestAHostThatCannotBeReached(t *testing.T) {
	th := startTwoHosts(t)
	th.mu.Lock()
	th.down = true
	th.mu.Unlock()
	ctx := context.Background()
	// Reads fall back to gossip.
	if in, err := th.c.Instance(ctx, "web-x"); err != nil || in.Host != "edge-18" || in.PID != 0 {
		t.Errorf("describe of an unreachable host's instance: %+v, %v; want gossip's copy", in, err)
	}
	if ev, err := th.c.Events(ctx, "host", "edge-18"); err != nil || len(ev) != 1 || ev[0].Reason != "NodeReady" {
		t.Errorf("events: %+v, %v; want edge-17's own", ev, err)
	}
	// Changes and logs say which host did not answer.
	for what, err := range map[string]error{
		"delete": th.c.DeleteInstance(ctx, "web-x"),
		"logs":   func() error { _, err := th.c.Logs(ctx, "web-x", LogOptions{Tail: -1}); return err }(),
		"label": func() error {
			_, err := th.c.LabelHost(ctx, "edge-18", LabelChange{Set: units.Labels{"a": "b"}})
			return err
		}(),
	} {
		if err == nil || !strings.Contains(err.Error(), "host edge-18: not reachable") {
			t.Errorf("%s: %v; want the host named", what, err)
		}
	}
	if _, ok := th.peer.instances["web-x"]; !ok {
		t.Error("the instance went though its host was not reached")
	}
}

func TestThePeerAPIServesOnlyWhatHostsAsk(t *testing.T) {
	noLeaks(t)
	srv := httptest.NewServer(NewAPIWith(fixture(), APIOptions{Peer: true}))
	defer srv.Close()
	for _, r := range []struct{ method, path string }{
		{"PUT", "/v1/units/x.toml"},
		{"DELETE", "/v1/units/kubia"},
		{"POST", "/v1/units/x/scale"},
		{"GET", "/v1/instances"},
		{"POST", "/v1/debug/resync"},
	} {
		req, _ := http.NewRequest(r.method, srv.URL+r.path, strings.NewReader("{}"))
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if !strings.Contains(string(body), "no route for "+r.method) {
			t.Errorf("%s %s on the inter-host API: %s %s; want no route", r.method, r.path, res.Status, body)
		}
	}
}

// A host that answers with too many events, or never finishes, is left
// out of the list: this host's own events still come back.
func TestALyingHostsEventsAreLeftOut(t *testing.T) {
	noLeaks(t)
	for _, tc := range []struct {
		name string
		peer http.HandlerFunc
	}{
		{"too many", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("["))
			chunk := []byte(strings.Repeat(`{"kind":"host","object":"edge-18","reason":"Junk"},`, 1000))
			for range 20 << 20 / len(chunk) {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		}},
		{"never done", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("["))
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.peer)
			defer srv.Close()
			target, _ := url.Parse(srv.URL)
			tr := &http.Transport{}
			defer tr.CloseIdleConnections()
			local := fixture()
			local.hosts["edge-18"] = Host{Name: "edge-18", Status: "Ready"}
			local.events = []Event{{Kind: "host", Object: "edge-18", Reason: "NodeReady", From: "edge-17", Count: 1}}
			proxy := &Proxy{Transport: tr, Self: "edge-17", URL: func(string) (*url.URL, error) { return target, nil }}
			c, _ := serveHandler(t, NewAPIWith(local, APIOptions{Forward: proxy}))
			ev, err := c.Events(context.Background(), "host", "edge-18")
			if err != nil || len(ev) != 1 || ev[0].Reason != "NodeReady" {
				t.Errorf("events: %d, %v; want this host's one", len(ev), err)
			}
		})
	}
}
