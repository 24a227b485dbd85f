package probes

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// httpProbe returns an HTTPGet for srv's address and path.
func httpProbe(t testing.TB, srv *httptest.Server, path string) *HTTPGet {
	t.Helper()
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(u.Port())
	return &HTTPGet{Scheme: u.Scheme, Host: u.Hostname(), Port: port, Path: path}
}

func probeWithin(p Prober, timeout time.Duration) (Result, string) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return p.Probe(ctx)
}

func TestHTTPGetStatus(t *testing.T) {
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	mux.HandleFunc("/status/{code}", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.PathValue("code"))
		w.WriteHeader(code)
		fmt.Fprint(w, "body of ", code)
	})
	mux.HandleFunc("/same-host", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/status/200", http.StatusFound)
	})
	mux.HandleFunc("/same-host-to-500", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/status/500", http.StatusFound)
	})
	mux.HandleFunc("/other-host", func(w http.ResponseWriter, r *http.Request) {
		// localhost is another host name for the same server: a probe
		// must not follow it.
		http.Redirect(w, r, fmt.Sprintf("http://localhost:%d/status/500", port), http.StatusFound)
	})
	mux.HandleFunc("/early-hints", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.WriteHeader(http.StatusOK)
	})
	mux.HandleFunc("/huge-headers", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Big", strings.Repeat("x", 100<<10))
	})
	mux.HandleFunc("/bad-location", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "http://[::1")
		w.WriteHeader(http.StatusFound)
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/loop", http.StatusFound)
	})

	for _, tc := range []struct {
		path    string
		result  Result
		message string
	}{
		{"/status/200", Success, ""},
		{"/status/204", Success, ""},
		{"/status/399", Success, "Probe terminated redirects, Response body: body of 399"},
		{"/same-host", Success, ""},
		{"/same-host-to-500", Failure, "HTTP probe failed with statuscode: 500"},
		{"/other-host", Success, "Probe terminated redirects, Response body: <a href=\"http://localhost:" + strconv.Itoa(port) + "/status/500\">Found</a>."},
		{"/loop", Success, "Probe terminated redirects, Response body: <a href=\"/loop\">Found</a>."},
		{"/early-hints", Success, ""},
		{"/huge-headers", Failure, `Get "` + srv.URL + `/huge-headers": server response headers exceeded 65536 bytes; aborted`},
		{"/bad-location", Failure, `Get "` + srv.URL + `/bad-location": failed to parse Location header "http://[::1": parse "http://[::1": missing ']' in host`},
		{"/status/404", Failure, "HTTP probe failed with statuscode: 404"},
		{"/status/500", Failure, "HTTP probe failed with statuscode: 500"},
		{"/status/400", Failure, "HTTP probe failed with statuscode: 400"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			res, msg := probeWithin(httpProbe(t, srv, tc.path), 5*time.Second)
			if res != tc.result || msg != tc.message {
				t.Errorf("got %v %q, want %v %q", res, msg, tc.result, tc.message)
			}
		})
	}
}

func TestHTTPGetHeaders(t *testing.T) {
	got := make(chan *http.Request, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r
	}))
	defer srv.Close()

	p := httpProbe(t, srv, "/healthz?full=1")
	p.Headers = map[string]string{"x-probe": "yes", "Host": "kubia.example"}
	if res, msg := probeWithin(p, 5*time.Second); res != Success || msg != "" {
		t.Fatalf("got %v %q", res, msg)
	}
	r := <-got
	if r.URL.Path != "/healthz" || r.URL.RawQuery != "full=1" {
		t.Errorf("URL %s", r.URL)
	}
	if ua := r.Header.Get("User-Agent"); ua != "tend-probe/1.0" {
		t.Errorf("User-Agent %q", ua)
	}
	if v := r.Header.Get("X-Probe"); v != "yes" {
		t.Errorf("X-Probe %q", v)
	}
	if r.Host != "kubia.example" {
		t.Errorf("Host %q", r.Host)
	}
	if !r.Close {
		t.Error("keep-alive not disabled: request does not ask to close the connection")
	}

	p2 := httpProbe(t, srv, "")
	p2.Headers = map[string]string{"User-Agent": "mine"}
	probeWithin(p2, 5*time.Second)
	if r := <-got; r.Header.Get("User-Agent") != "mine" || r.URL.Path != "/" {
		t.Errorf("User-Agent %q path %q", r.Header.Get("User-Agent"), r.URL.Path)
	}
}

func TestHTTPGetConcurrent(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	p := httpProbe(t, srv, "/")
	p.Headers = map[string]string{"X-Probe": "1"}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if res, msg := probeWithin(p, 5*time.Second); res != Success {
				t.Errorf("got %v %q", res, msg)
			}
		})
	}
	wg.Wait()
}

func TestHTTPGetHTTPS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	p := httpProbe(t, srv, "/")
	if p.Scheme != "https" {
		t.Fatalf("scheme %q", p.Scheme)
	}
	p.Scheme = "HTTPS" // as written in a unit file
	if res, msg := probeWithin(p, 5*time.Second); res != Success || msg != "" {
		t.Fatalf("self-signed https: got %v %q", res, msg)
	}
}

func TestHTTPGetClosedPort(t *testing.T) {
	port := closedPort(t)
	p := &HTTPGet{Port: port}
	res, msg := probeWithin(p, 5*time.Second)
	want := fmt.Sprintf(`Get "http://127.0.0.1:%d/": dial tcp 127.0.0.1:%d: connect: connection refused`, port, port)
	if res != Failure || msg != want {
		t.Fatalf("got %v %q, want Failure %q", res, msg, want)
	}
}

// TestHTTPGetTimeout checks that the probe's context ends a request to a
// server that never answers, at the deadline.
func TestHTTPGetTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)

	p := httpProbe(t, srv, "/slow")
	const timeout = 300 * time.Millisecond
	begin := time.Now()
	res, msg := probeWithin(p, timeout)
	took := time.Since(begin)
	want := fmt.Sprintf(`Get "%s/slow": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`, srv.URL)
	if res != Failure || msg != want {
		t.Errorf("got %v %q, want Failure %q", res, msg, want)
	}
	if took < timeout || took > timeout+250*time.Millisecond {
		t.Errorf("took %v with a %v timeout", took, timeout)
	}
}

// TestHTTPGetBodyTimeout checks a server that sends its headers, then
// stalls in the body.
func TestHTTPGetBodyTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("partial"))
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	res, msg := probeWithin(httpProbe(t, srv, "/"), 300*time.Millisecond)
	want := `Get "` + srv.URL + `/": context deadline exceeded (Client.Timeout or context cancellation while reading body)`
	if res != Failure || msg != want {
		t.Errorf("got %v %q, want Failure %q", res, msg, want)
	}
}

// TestHTTPGetCancel checks that cancelling (not timing out) the context
// ends a request at once.
func TestHTTPGetCancel(t *testing.T) {
	arrived := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-r.Context().Done()
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	go func() { <-arrived; cancel() }()
	res, msg := httpProbe(t, srv, "/").Probe(ctx)
	if res != Failure || !strings.Contains(msg, "context canceled") {
		t.Fatalf("got %v %q", res, msg)
	}
}

// TestHTTPGetBodyBound checks that a large body is not read whole: the
// probe closes the connection after 10 KiB and the server's writes fail.
func TestHTTPGetBodyBound(t *testing.T) {
	t.Run("content-length", func(t *testing.T) { testBodyBound(t, true) })
	t.Run("chunked", func(t *testing.T) { testBodyBound(t, false) })
}

func testBodyBound(t *testing.T, contentLength bool) {
	const size = 10 << 20
	var written atomic.Int64
	done := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if contentLength {
			w.Header().Set("Content-Length", strconv.Itoa(size))
		}
		chunk := make([]byte, 32<<10)
		var err error
		for written.Load() < size {
			var n int
			n, err = w.Write(chunk)
			written.Add(int64(n))
			if err != nil {
				break
			}
		}
		done <- err
	}))
	defer srv.Close()

	if res, msg := probeWithin(httpProbe(t, srv, "/big"), 5*time.Second); res != Success || msg != "" {
		t.Fatalf("got %v %q", res, msg)
	}
	if err := <-done; err == nil {
		t.Fatalf("server wrote all %d bytes: the probe read the whole body", written.Load())
	}
	if n := written.Load(); n >= size {
		t.Fatalf("server wrote %d bytes", n)
	}
}

func TestHostPort(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:8080/": "127.0.0.1:8080",
		"http://127.0.0.1/":      "127.0.0.1:80",
		"https://example.org/":   "example.org:443",
		"http://[::1]/":          "[::1]:80",
	} {
		u, _ := url.Parse(in)
		if got := hostPort(u); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
	p := &HTTPGet{Host: "::1", Path: "/ready"}
	p.once.Do(p.init)
	if got := p.url.String(); got != "http://[::1]/ready" {
		t.Errorf("url %s", got)
	}
}

func TestTCPSocket(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		if c, err := ln.Accept(); err == nil {
			c.Close()
		}
	}()
	open := ln.Addr().(*net.TCPAddr).Port
	if res, msg := probeWithin(&TCPSocket{Port: open}, 5*time.Second); res != Success || msg != "" {
		t.Errorf("open port: got %v %q", res, msg)
	}
	<-accepted

	closed := closedPort(t)
	res, msg := probeWithin(&TCPSocket{Host: "127.0.0.1", Port: closed}, 5*time.Second)
	want := fmt.Sprintf("dial tcp 127.0.0.1:%d: connect: connection refused", closed)
	if res != Failure || msg != want {
		t.Errorf("closed port: got %v %q, want Failure %q", res, msg, want)
	}
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}
