// Command kubia is the demo web server that tend's examples run: a Go twin
// of luksa/kubia from "Kubernetes in Action" (app.js), including the
// kubia-unhealthy variant that the liveness-probe experiments restart.
//
//	kubia [--port 8080] [--fail-after N]
//
// Every request is answered with "You've hit NAME\n", where NAME is
// $TEND_INSTANCE (the agent sets it for each instance) or else the hostname,
// so repeated requests show which replica answered. Each request is logged
// to stdout as "Received request from ADDR". With --fail-after N, requests
// after the N-th are answered 500 "I'm not well. Please restart me!", as
// kubia-unhealthy does after its fifth.
//
// The listening socket (0.0.0.0:PORT, and [::]:PORT where the host has
// IPv6) is opened with SO_REUSEPORT, so several replicas on one host can all
// listen on the same port, and the kernel spreads incoming connections among
// them: a replicated unit of kubia needs no load balancer on a single host.
//
// On SIGTERM or SIGINT kubia stops accepting, lets requests in flight finish
// (http.Server.Shutdown) and exits 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// shutdownTimeout bounds how long requests in flight may take after SIGTERM.
// It is shorter than tend's default stop_timeout (10s), so a graceful stop
// finishes before the agent resorts to SIGKILL.
const shutdownTimeout = 5 * time.Second

// options are kubia's settings, parsed from the command line and environment.
type options struct {
	port      int
	failAfter int    // answer 500 after this many requests; 0 = never
	name      string // the name in "You've hit NAME"
}

func main() {
	opts, err := parseArgs(os.Args[1:], os.Getenv, os.Hostname, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "kubia:", err)
		os.Exit(2)
	}

	// Catch signals before listening, so that a SIGTERM sent as soon as
	// the server is up always takes the graceful path.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	ln, err := listen(ctx, opts.port)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kubia:", err)
		os.Exit(1)
	}
	if err := run(ctx, ln, opts, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "kubia:", err)
		os.Exit(1)
	}
}

// parseArgs reads kubia's flags. The instance name comes from
// $TEND_INSTANCE, else from the hostname.
func parseArgs(args []string, getenv func(string) string, hostname func() (string, error), stderr io.Writer) (options, error) {
	var opts options
	fs := flag.NewFlagSet("kubia", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&opts.port, "port", 8080, "TCP `port` to listen on (0 picks a free one)")
	fs.IntVar(&opts.failAfter, "fail-after", 0, "answer 500 to every request after the first `N` (0: never)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: kubia [--port 8080] [--fail-after N]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return opts, err
	}
	if *showVersion {
		fmt.Fprintln(stderr, "kubia", version)
		return opts, flag.ErrHelp
	}
	if fs.NArg() > 0 {
		return opts, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if opts.port < 0 || opts.port > 65535 {
		return opts, fmt.Errorf("--port %d: want 0..65535", opts.port)
	}
	if opts.failAfter < 0 {
		return opts, fmt.Errorf("--fail-after %d: want 0 or more", opts.failAfter)
	}
	opts.name = getenv("TEND_INSTANCE")
	if opts.name == "" {
		h, err := hostname()
		if err != nil {
			return opts, fmt.Errorf("no $TEND_INSTANCE and no hostname: %w", err)
		}
		opts.name = h
	}
	return opts, nil
}

// listen opens a TCP listener on the wildcard address and port with
// SO_REUSEPORT set, so other kubia processes may listen on the same port.
func listen(ctx context.Context, port int) (net.Listener, error) {
	lc := net.ListenConfig{Control: reusePort}
	addr := net.JoinHostPort("0.0.0.0", strconv.Itoa(port))
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return ln, nil
}

// reusePort sets SO_REUSEPORT on a socket before it is bound.
func reusePort(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	})
	if err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("set SO_REUSEPORT: %w", serr)
	}
	return nil
}

// run serves HTTP on ln until ctx is done, then shuts down gracefully and
// returns nil. It returns an error only if serving or the shutdown fails.
// It closes ln. Log lines go to stdout, which may be shared: each line is
// written with one call.
func run(ctx context.Context, ln net.Listener, opts options, stdout io.Writer) error {
	logger := log.New(stdout, "", 0)
	h := &handler{name: opts.name, failAfter: int64(opts.failAfter), log: logger}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          logger,
	}

	logger.Print("Kubia server starting...")
	logger.Printf("Listening on %s as %s", ln.Addr(), opts.name)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	logger.Print("Kubia server shutting down...")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	<-served // Serve returns http.ErrServerClosed as soon as Shutdown begins
	if err != nil {
		srv.Close()
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// handler answers every request as app.js does. It is called concurrently
// by the HTTP server.
type handler struct {
	name      string
	failAfter int64 // 0 = never fail
	log       *log.Logger
	requests  atomic.Int64
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	addr := r.RemoteAddr
	if host, _, err := net.SplitHostPort(addr); err == nil {
		addr = host
	}
	h.log.Printf("Received request from %s", addr)

	n := h.requests.Add(1)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if h.failAfter > 0 && n > h.failAfter {
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, "I'm not well. Please restart me!")
		return
	}
	fmt.Fprintf(w, "You've hit %s\n", h.name)
}
