package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain runs the test binary as kubia itself when asked to, so the
// signal test exercises the real main.
func TestMain(m *testing.M) {
	if os.Getenv("KUBIA_TEST_MAIN") == "1" {
		os.Args = append([]string{"kubia"}, strings.Fields(os.Getenv("KUBIA_TEST_ARGS"))...)
		main()
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// syncBuffer is a bytes.Buffer safe for the server's concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startServer runs kubia in-process on ln and returns its base URL and log.
// The server is stopped, and run's result checked, when the test ends.
func startServer(t *testing.T, ln net.Listener, opts options) (string, *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, ln, opts, out) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	return localURL(t, ln), out
}

// localURL is the loopback URL of a wildcard listener.
func localURL(t *testing.T, ln net.Listener) string {
	return "http://127.0.0.1:" + strconv.Itoa(portOf(t, ln)) + "/"
}

// get fetches url on a fresh connection and returns status and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

func mustListen(t *testing.T, port int) net.Listener {
	t.Helper()
	ln, err := listen(context.Background(), port)
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func portOf(t *testing.T, ln net.Listener) int {
	t.Helper()
	return ln.Addr().(*net.TCPAddr).Port
}

func TestAnswersWithName(t *testing.T) {
	url, out := startServer(t, mustListen(t, 0), options{name: "kubia-x7k2p"})

	code, body := get(t, url)
	if code != http.StatusOK || body != "You've hit kubia-x7k2p\n" {
		t.Errorf("GET / = %d %q, want 200 %q", code, body, "You've hit kubia-x7k2p\n")
	}
	log := out.String()
	for _, want := range []string{"Kubia server starting...\n", "Received request from 127.0.0.1\n"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q; log:\n%s", want, log)
		}
	}
}

func TestFailAfter(t *testing.T) {
	url, _ := startServer(t, mustListen(t, 0), options{name: "kubia-unhealthy", failAfter: 3})

	for i := 1; i <= 5; i++ {
		code, body := get(t, url)
		wantCode, wantBody := http.StatusOK, "You've hit kubia-unhealthy\n"
		if i > 3 {
			wantCode, wantBody = http.StatusInternalServerError, "I'm not well. Please restart me!"
		}
		if code != wantCode || body != wantBody {
			t.Errorf("request %d: got %d %q, want %d %q", i, code, body, wantCode, wantBody)
		}
	}
}

func TestReusePort(t *testing.T) {
	a := mustListen(t, 0)
	port := portOf(t, a)
	b, err := listen(context.Background(), port)
	if err != nil {
		a.Close()
		t.Fatalf("second listener on port %d: %v", port, err)
	}

	// Without SO_REUSEPORT the same port is taken: the control that shows
	// the option is what made the second listen succeed.
	if plain, err := net.Listen("tcp", net.JoinHostPort("0.0.0.0", strconv.Itoa(port))); err == nil {
		plain.Close()
		t.Errorf("plain listen on port %d succeeded; want EADDRINUSE", port)
	} else if !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("plain listen on port %d: %v; want EADDRINUSE", port, err)
	}

	// Both replicas serve: the kernel spreads new connections between
	// them by hashing each connection's addresses, so fresh connections
	// reach both well within the bound (chance of missing one: 2^-199).
	url, _ := startServer(t, a, options{name: "kubia-a"})
	startServer(t, b, options{name: "kubia-b"})
	seen := map[string]bool{}
	for i := 0; i < 200 && len(seen) < 2; i++ {
		_, body := get(t, url)
		seen[body] = true
	}
	if !seen["You've hit kubia-a\n"] || !seen["You've hit kubia-b\n"] {
		t.Errorf("answers seen = %v; want both kubia-a and kubia-b", seen)
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	ln := mustListen(t, 0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	out := &syncBuffer{}
	go func() { done <- run(ctx, ln, options{name: "k"}, out) }()
	if code, _ := get(t, localURL(t, ln)); code != http.StatusOK {
		t.Fatalf("GET / = %d, want 200", code)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run after cancel: %v, want nil", err)
	}
	if c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(portOf(t, ln)))); err == nil {
		c.Close()
		t.Error("still accepting connections after shutdown")
	}
}

func TestParseArgs(t *testing.T) {
	env := func(m map[string]string) func(string) string {
		return func(k string) string { return m[k] }
	}
	host := func() (string, error) { return "box1", nil }
	tests := []struct {
		args    []string
		env     map[string]string
		want    options
		wantErr string
	}{
		{args: nil, want: options{port: 8080, name: "box1"}},
		{args: []string{"--port", "9000", "--fail-after", "5"}, env: map[string]string{"TEND_INSTANCE": "kubia-1"},
			want: options{port: 9000, failAfter: 5, name: "kubia-1"}},
		{args: []string{"-port=0"}, want: options{port: 0, name: "box1"}},
		{args: []string{"--port", "70000"}, wantErr: "want 0..65535"},
		{args: []string{"--fail-after", "-1"}, wantErr: "want 0 or more"},
		{args: []string{"extra"}, wantErr: `unexpected argument "extra"`},
		{args: []string{"--nope"}, wantErr: "flag provided but not defined"},
	}
	for _, tt := range tests {
		got, err := parseArgs(tt.args, env(tt.env), host, io.Discard)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseArgs(%q) error = %v, want one containing %q", tt.args, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseArgs(%q) = %+v, %v; want %+v", tt.args, got, err, tt.want)
		}
	}
	if _, err := parseArgs([]string{"--version"}, env(nil), host, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("parseArgs(--version) error = %v, want flag.ErrHelp", err)
	}
}

// TestSIGTERMExitsZero runs the test binary as kubia, waits until it
// listens, sends SIGTERM and expects a graceful exit with status 0.
func TestSIGTERMExitsZero(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "KUBIA_TEST_MAIN=1", "KUBIA_TEST_ARGS=--port 0", "TEND_INSTANCE=kubia-sig",
		"GORACE=atexit_sleep_ms=0") // under -race, do not linger a second at exit
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := false
	defer func() {
		if !waited {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()

	// Read lines until the address appears; the pipe closes if kubia dies.
	sc := bufio.NewScanner(stdout)
	var addr string
	var lines []string
	for addr == "" && sc.Scan() {
		lines = append(lines, sc.Text())
		if a, ok := strings.CutPrefix(sc.Text(), "Listening on "); ok {
			addr, _, _ = strings.Cut(a, " ")
		}
	}
	if addr == "" {
		t.Fatalf("kubia never said where it listens; stdout %q, stderr %q", lines, stderr.String())
	}
	if lines[0] != "Kubia server starting..." {
		t.Errorf("first line = %q, want %q", lines[0], "Kubia server starting...")
	}
	_, port, _ := net.SplitHostPort(addr)
	if code, body := get(t, "http://127.0.0.1:"+port+"/"); code != http.StatusOK || body != "You've hit kubia-sig\n" {
		t.Errorf("GET / = %d %q, want 200 %q", code, body, "You've hit kubia-sig\n")
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(stdout)
	err = cmd.Wait()
	waited = true
	if err != nil {
		t.Fatalf("kubia after SIGTERM: %v, want exit 0; stderr %q", err, stderr.String())
	}
	if !strings.Contains(string(rest), "Kubia server shutting down...") {
		t.Errorf("output after SIGTERM = %q, want the shutdown line", rest)
	}
}
