package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/tendhq/tend/supervisor"
	"github.com/tendhq/tend/units"
)

const agentUsage = `Run the tend agent: supervise this host's units until SIGTERM.

Usage:
  tend agent [--config FILE] [--dev] [--log-level LEVEL]
  tend agent reexec

The agent reads its configuration from --config (default /etc/tend/tend.toml;
the file is optional), watches the unit directory for *.toml unit files,
keeps their instances running, and serves the CLI on a unix socket.
SIGTERM or SIGINT stops every instance (each within its stop_timeout) and
exits 0; SIGHUP rereads the unit directory; SIGUSR2 (or tend agent reexec)
executes the agent's binary again in the same process, keeping every
instance running: see tend agent reexec --help.

With --dev everything lives under the current directory: units from
./units, state, logs and the socket under ./.tend. No root needed.

Examples:
  # Try it out in the current directory
  mkdir units && cp examples/kubia.toml units/ && tend agent --dev

  # The system agent, as packaging/tend.service runs it
  tend agent --config /etc/tend/tend.toml
`

// runAgent is `tend agent`.
func runAgent(ctx context.Context, c *CLI, args []string) error {
	stdout, stderr := c.Stdout, c.Stderr
	// The collector is off from here (pauseGC): decoding the handoff of
	// 1000 runs in a fresh heap would collect it several times over. It
	// settles at the agent's own target once the start has (settleGC).
	resumeGC := pauseGC()
	// First, before anything else opens a descriptor or starts a child:
	// what an agent this process was executed by handed over. It is
	// decoded while the agent opens its store and unit directory
	// (openAgent waits for it).
	readHandoff := supervisor.StartReadHandoff()
	started := time.Now()
	defer resumeGC()
	// Sampling allocations for heap profiles costs the agent 1.5 MB of
	// profiling buckets, a tenth of its memory; GODEBUG=memprofilerate=N
	// turns it back on for /debug/pprof/heap.
	if !strings.Contains(os.Getenv("GODEBUG"), "memprofilerate") {
		runtime.MemProfileRate = 0
	}
	fs, o := agentFlags()
	configPath, dev, level, cpuProfile, handoffVersion := &o.config, &o.dev, &o.level, &o.cpuProfile, &o.handoffVersion
	rest, err := fs.parse(c, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("agent", "agent takes no arguments (got %q)", rest)
	}
	if *handoffVersion {
		fmt.Fprintln(stdout, supervisor.HandoffVersion)
		return nil
	}

	if *cpuProfile != "" {
		stop, err := startCPUProfile(*cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}

	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		return fmt.Errorf("--log-level: %v", err)
	}
	log := agentLogger("auto", lvl, stderr)

	cfg := supervisor.DefaultConfig()
	if *dev {
		wd, err := os.Getwd()
		if err != nil {
			return err
		}
		cfg = supervisor.DevConfig(wd)
	}
	path, required := supervisor.DefaultConfigPath, false
	if *configPath != "" {
		path, required = *configPath, true
	} else if *dev {
		path = filepath.Join(filepath.Dir(cfg.StateDir), "tend.toml")
	}
	cfg, err = supervisor.LoadConfig(path, cfg, required)
	if err != nil {
		return err
	}
	if cfg.LogTarget != "" && cfg.LogTarget != "auto" {
		log = agentLogger(cfg.LogTarget, lvl, stderr)
	}

	// Signals first: a SIGTERM that arrives while the agent starts must
	// still stop it cleanly.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, reexecSignal)
	defer signal.Stop(sigs)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	reload := make(chan os.Signal, 1)
	reexec := make(chan reexecRequest, 1)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case sig := <-sigs:
				if sig == syscall.SIGHUP {
					select {
					case reload <- sig:
					default:
					}
					continue
				}
				if sig == reexecSignal {
					select {
					case reexec <- reexecRequest{}:
					default:
					}
					continue
				}
				log.Info("signal received", "signal", sig.String())
				cancel()
				return
			}
		}
	}()

	a, err := openAgent(cfg, supervisor.Version{Version: version, Go: runtime.Version(), PID: os.Getpid(), Started: started}, log, readHandoff, resumeGC)
	if err != nil {
		return err
	}
	a.reexec = reexec
	if a.exe, err = os.Executable(); err != nil {
		log.Warn("the agent's binary is not known; it cannot re-execute itself", "err", err)
	}
	defer a.Close()
	if *dev {
		fmt.Fprintf(stdout, "tend agent (dev) on %s: units in %s\nPoint the CLI at it with:\n  export TEND_SOCKET=%s\n",
			cfg.Name, cfg.UnitsDir, cfg.Socket)
	}
	if err := a.Run(ctx, reload); err != nil {
		return err
	}
	return a.Close()
}

// tendAgent is `tend agent` wired together: the store, the reaper, the unit
// directory (the catalog and its writer), the membership of this host,
// the reconcile loop and the local API. openAgent opens everything, Run
// serves until its context ends and then stops every instance, Close
// releases what openAgent opened.
type tendAgent struct {
	cfg     supervisor.Config
	log     *slog.Logger
	store   *supervisor.Store
	reaper  *supervisor.Reaper
	cgroups *supervisor.Cgroups // nil: instances contained by process groups only
	catalog *supervisor.DirCatalog
	units   *unitWatch // the catalog's watch of the directory
	fleet   *fleet     // nil for a cluster of one
	sup     *supervisor.Supervisor
	ln      net.Listener
	exe     string               // the binary's path, as the agent was started: what reexec executes
	handoff *supervisor.Handoff  // what the agent this one replaced handed over; nil for none
	events  *supervisor.Recorder // loaded once the first pass is made (Run)
	reexec  chan reexecRequest   // SIGUSR2 and POST /v1/agent/reexec
	// resumeGC turns the collector on again once the first pass is made
	// (pauseGC); nil when it was never off.
	resumeGC func()

	closeOnce sync.Once
}

// openAgent opens the agent's state and listens on its socket. Nothing
// runs until Run. readHandoff gives what the agent this process was
// executed by handed over (supervisor.StartReadHandoff); resumeGC turns
// the collector on again (pauseGC): at once when there is nothing to
// take over, else once the first pass is made.
func openAgent(cfg supervisor.Config, version supervisor.Version, log *slog.Logger, readHandoff func() (*supervisor.Handoff, error), resumeGC func()) (_ *tendAgent, err error) {
	a := &tendAgent{cfg: cfg, log: log, reexec: make(chan reexecRequest, 1), resumeGC: resumeGC}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	t0 := time.Now()
	stage := func(what string) { log.Debug("agent start", "stage", what, "since", time.Since(t0)) }
	if a.store, err = supervisor.OpenStore(cfg.StateDir, log); err != nil {
		return nil, err
	}
	agentID, err := a.store.AgentID()
	if err != nil {
		return nil, fmt.Errorf("agent id: %w", err)
	}
	stage("store")
	if !a.store.HasInstances() {
		resumeGC() // nothing to take over: no outage to shorten (pauseGC)
	}
	// The unit directory is read and parsed (with 1000 units, a fifth of
	// a handover's time) while the handoff is decoded and the reaper takes
	// the children over: they share nothing but the store, which is safe
	// for concurrent reads.
	catalogDone := make(chan error, 1)
	go func() {
		c, err := supervisor.OpenDirCatalog(cfg.UnitsDir, cfg.Limits.Unit(), a.store, log)
		a.catalog = c
		catalogDone <- err
	}()
	handoff, err := readHandoff()
	if handoff != nil {
		log.Debug("agent start", "stage", "exec and handoff", "since_exec", time.Since(handoff.ExecAt))
	}
	if err != nil {
		// Its instances are this process's children still: as after a
		// crash, they are stopped and started again.
		log.Error("the handoff of the agent this one replaces could not be read", "err", err)
	}
	a.handoff = handoff
	events, err := a.openRest(handoff)
	if cerr := <-catalogDone; cerr != nil {
		return nil, cerr
	}
	a.units = &unitWatch{catalog: a.catalog, log: log}
	if err != nil {
		return nil, err
	}
	version.Host = cfg.Name
	cfg.Labels = withBuiltinLabels(cfg.Labels, cfg.Name, log)
	var members supervisor.Membership
	var peers supervisor.Summaries
	var fence supervisor.Fence
	if cfg.Cluster.Enabled() {
		if a.fleet, err = openFleet(cfg, a.catalog, version.Version, log); err != nil {
			return nil, err
		}
		members, peers = fleetMembers{a.fleet}, fleetSummaries{a.fleet}
		fence = a.fleet.Fence()
	}
	stage("catalog, reaper, cgroups")
	a.sup, err = supervisor.NewSupervisor(supervisor.Options{
		Members:     members,
		Peers:       peers,
		Fence:       fence,
		Host:        cfg.Name,
		AgentID:     agentID,
		HostLabels:  cfg.Labels,
		LogDir:      filepath.Join(cfg.StateDir, "logs"),
		StateDir:    cfg.StateDir,
		LogMaxBytes: cfg.LogMaxBytes,
		Limits:      cfg.Limits,
		Store:       a.store,
		Reaper:      a.reaper,
		Cgroups:     a.cgroups,
		Shim:        "/proc/self/exe",
		Handoff:     handoff,
		Catalog:     a.catalog,
		Writer:      a.catalog,
		Events:      events,
		Log:         log,
		Version:     version,
		Settled:     settleGC,
	})
	if err != nil {
		return nil, err
	}
	if a.fleet != nil {
		sup := a.sup
		a.fleet.event = func(unit, typ, reason, message string) {
			sup.RecordEvent(supervisor.KindUnit, unit, typ, reason, "catalog", message)
		}
	}
	stage("supervisor")
	if a.ln, err = inheritedListener(handoff); err != nil {
		log.Warn("listening anew", "err", err)
	}
	if a.ln == nil {
		if a.ln, err = supervisor.ListenUnixGroup(cfg.Socket, cfg.SocketGroup); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// openRest starts the reaper (taking over the children handed over, if
// any), opens the instances' cgroups and makes the recorder of events
// (loaded once the first pass is made, or when first used): what
// openAgent does while the catalog loads.
func (a *tendAgent) openRest(handoff *supervisor.Handoff) (*supervisor.Recorder, error) {
	var err error
	if handoff != nil {
		a.reaper, err = supervisor.NewReaperInheriting(a.log, handoff.PIDs())
	} else {
		a.reaper, err = supervisor.NewReaper(a.log)
	}
	if err != nil {
		return nil, err
	}
	if a.cgroups, err = supervisor.OpenCgroups(a.cfg.StateDir); err != nil {
		a.log.Info("instances are contained by their process groups only, not by cgroups", "reason", err.Error())
		a.cgroups = nil
	}
	// The stored events load once the first pass is made (Run): a
	// re-execution's API need not wait for them, nor share the CPU with
	// them while it parses the unit files. Whatever reads or records one
	// before that starts the load and waits for it: after a crash, the
	// first instance taken over (its Adopted event) does, on the loop,
	// once the unit files are parsed (with 1000 instances the take-over
	// measured 10 to 15 ms shorter so than with the load beside the
	// parse).
	a.events = supervisor.LazyRecorder(a.store, supervisor.DefaultMaxEvents)
	return a.events, nil
}

// Run serves until ctx ends, then stops every instance (each within its
// stop_timeout) and returns. reload, when it receives, rereads the unit
// directory (SIGHUP).
func (a *tendAgent) Run(ctx context.Context, reload <-chan os.Signal) error {
	loopCtx, stopLoop := context.WithCancel(context.Background())
	defer stopLoop()
	var wg sync.WaitGroup
	loopDone := make(chan error, 1)
	if a.fleet != nil {
		a.fleet.settle(5 * time.Second)
	}
	wg.Go(func() { loopDone <- a.sup.Run(loopCtx) })

	watchCtx, stopWatch := context.WithCancel(context.Background())
	defer stopWatch()
	// The unit directory's watch can be paused: a handover does so before
	// it checks the successor (unitWatch).
	a.units.start(watchCtx)

	// Streams (logs -f, get -w) end when the agent stops or hands over,
	// not after the shutdown grace.
	apiCtx, endStreams := context.WithCancel(context.Background())
	defer endStreams()
	opt := supervisor.APIOptions{Log: a.log}
	peerOpt := supervisor.APIOptions{Log: a.log, Peer: true}
	if a.fleet != nil {
		opt.Forward = a.fleet.Forwarder()
		if _, err := a.fleet.node.GossipKeys(); err == nil {
			opt.Keys = &fleetKeyring{f: a.fleet, dir: a.cfg.Cluster.KeysDir}
			peerOpt.Keys = opt.Keys
		}
	}
	local := withProfiles(supervisor.NewAPIWith(a.sup, opt))
	local.HandleFunc("POST /v1/agent/reexec", a.serveReexec)
	// Served once the loop has published what the agent knows: before,
	// every instance would seem gone. Connections wait in the backlog.
	var servers []*apiServer
	serve := func(srv *http.Server, ln net.Listener, what string) {
		s := newAPIServer(srv, ln)
		servers = append(servers, s)
		wg.Go(func() {
			if err := s.serve(a.sup.Viewed(), apiCtx.Done()); err != nil {
				a.log.Error(what+" stopped", "err", err)
			}
		})
	}
	serve(&http.Server{
		Handler:           local,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return apiCtx },
	}, a.ln, "local API")
	// The inter-host API: the routes other hosts' agents pass on, over
	// mutual TLS. Like the local one, it ends when the agent stops.
	if a.fleet != nil && a.fleet.apiLn != nil {
		serve(&http.Server{
			Handler:           peerHandler(a.fleet, supervisor.NewAPIWith(a.sup, peerOpt)),
			ReadHeaderTimeout: 10 * time.Second,
			BaseContext:       func(net.Listener) context.Context { return apiCtx },
			// Mostly failed handshakes: callers without the cluster's certificate.
			ErrorLog: slog.NewLogLogger(a.log.With("api", "inter-host").Handler(), slog.LevelInfo),
		}, a.fleet.apiLn, "inter-host API")
	}
	// metrics_addr: /metrics and /healthz for Prometheus, and nothing
	// else. A port that cannot be had is logged, not fatal: the agent's
	// work is its instances.
	if addr := a.cfg.MetricsAddr; addr != "" {
		if ln, err := net.Listen("tcp", addr); err != nil {
			a.log.Error("metrics are not served on metrics_addr (the socket serves them)", "addr", addr, "err", err)
		} else {
			a.log.Info("serving metrics", "addr", ln.Addr().String())
			serve(&http.Server{
				Handler:           supervisor.MetricsHandler(a.sup),
				ReadHeaderTimeout: 10 * time.Second,
				BaseContext:       func(net.Listener) context.Context { return apiCtx },
			}, ln, "metrics")
		}
	}
	wg.Go(func() { a.watchdog(watchCtx) })
	if a.fleet != nil {
		wg.Go(func() { a.fleet.Run(watchCtx) })
	}

	// Ready: the loop has made its first pass and the socket answers.
	pinged := a.sup.Ping(ctx)
	if a.resumeGC != nil {
		a.resumeGC()
	}
	if pinged == nil {
		// Not when the agent stops before its first pass: the load would
		// race the store's closing, for nothing.
		a.events.StartLoad()
		go func() {
			if err := a.events.Loaded(); err != nil {
				a.log.Error("stored events could not all be loaded; those read are kept", "err", err)
			}
		}()
		daemon.SdNotify(false, daemon.SdNotifyReady)
		if h := a.handoff; h != nil {
			a.log.Info("agent re-executed", "instances", len(h.Runs), "took", time.Since(h.Began).Round(time.Microsecond),
				"handing_over", h.ExecAt.Sub(h.Began).Round(time.Microsecond), "taking_over", time.Since(h.ExecAt).Round(time.Microsecond),
				"cpu", (supervisor.ProcessCPU() - h.BeganCPU).Round(time.Microsecond))
		}
		a.log.Info("agent ready", "host", a.cfg.Name, "units", a.cfg.UnitsDir, "socket", a.cfg.Socket)
	}
	// A handover first stops taking requests, and lets those in flight
	// finish while the loop still runs (they could not be answered by the
	// successor: their connections go with this process); then, with the
	// loop ended, it stops the rest. The unit directory's watch was
	// paused before the successor's check (unitWatch): the successor
	// reads the directory whole.
	quiesce := func() {
		endStreams()
		ctx, cancel := context.WithTimeout(context.Background(), drainWithin)
		defer cancel()
		var drained sync.WaitGroup
		for _, s := range servers {
			drained.Go(func() {
				if err := s.drain(ctx); err != nil {
					a.log.Warn("requests still in flight at the handover are cut", "addr", s.ln.Addr().String(), "err", err)
				}
			})
		}
		drained.Wait()
	}
	closeAll := func() {
		for _, s := range servers {
			s.Close()
		}
	}
	stopAll := func() {
		stopWatch()
		closeAll()
		wg.Wait()
		a.units.stop()
	}

	var err error
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-reload:
			a.log.Info("rereading the unit directory")
			a.catalog.Rescan()
		case req := <-a.reexec:
			a.log.Info("re-executing the agent, keeping its instances")
			if err := a.handOver(req, quiesce, stopAll); errors.Is(err, errAPIClosed) {
				a.log.Error("re-execution failed with the API closed; the agent stops", "err", err)
				done = true
			} else if err != nil {
				a.log.Error("re-execution refused; the agent goes on", "err", err)
			}
		case err = <-loopDone:
			loopDone <- err
			done = true
		}
	}
	daemon.SdNotify(false, daemon.SdNotifyStopping)
	a.log.Info("stopping")
	stopLoop()
	err = <-loopDone
	stopWatch()
	endStreams()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	for _, s := range servers {
		s.Shutdown(shutdownCtx)
	}
	cancel()
	closeAll()
	wg.Wait()
	a.units.stop()
	if a.fleet != nil {
		a.fleet.Close() // the others show it Left, not NotReady
	}
	return err
}

// peerHandler is the inter-host API's handler: for members only.
func peerHandler(f *fleet, h http.Handler) http.Handler {
	if f == nil {
		return h
	}
	return f.onlyMembers(h)
}

// watchdog pings systemd's watchdog while the reconcile loop answers: a
// stuck loop stops the pings and systemd restarts the agent.
func (a *tendAgent) watchdog(ctx context.Context) {
	interval, err := daemon.SdWatchdogEnabled(false)
	if err != nil || interval <= 0 {
		return
	}
	t := time.NewTicker(interval / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			pctx, cancel := context.WithTimeout(ctx, interval/3)
			err := a.sup.Ping(pctx)
			cancel()
			switch {
			case err == nil:
				daemon.SdNotify(false, daemon.SdNotifyWatchdog)
			case ctx.Err() != nil:
				return
			default:
				a.log.Error("reconcile loop did not answer; not pinging the watchdog", "err", err)
			}
		}
	}
}

// Close releases the store, the reaper and the socket. Idempotent.
func (a *tendAgent) Close() error {
	var err error
	a.closeOnce.Do(func() {
		if a.ln != nil {
			a.ln.Close()
			os.Remove(a.cfg.Socket)
		}
		if a.fleet != nil {
			if a.fleet.apiLn != nil {
				a.fleet.apiLn.Close()
			}
			a.fleet.node.Close()
		}
		if a.reaper != nil {
			a.reaper.Close()
		}
		if a.cgroups != nil {
			if cerr := a.cgroups.Close(); cerr != nil {
				a.log.Warn("cgroup base", "err", cerr)
			}
		}
		if a.store != nil {
			err = a.store.Close()
		}
	})
	return err
}

// withBuiltinLabels adds the labels every host has, as every Kubernetes
// node has kubernetes.io/hostname, os and arch, under the configuration's
// own (which win). A host name that is no valid label value is left out,
// with a warning.
func withBuiltinLabels(l units.Labels, host string, log *slog.Logger) units.Labels {
	out := units.Labels{"tend.io/os": runtime.GOOS, "tend.io/arch": runtime.GOARCH}
	if err := units.ValidateLabelValue(host); err == nil {
		out["tend.io/hostname"] = host
	} else {
		log.Warn("the host name is no label value; no tend.io/hostname label", "host", host, "err", err)
	}
	for k, v := range l {
		out[k] = v
	}
	return out
}

// agentOptions are tend agent's flags.
type agentOptions struct {
	config, level, cpuProfile string
	dev, handoffVersion       bool
}

// agentFlags defines tend agent's flags on a new set, with the help style
// of every other verb.
func agentFlags() (*flagSet, *agentOptions) {
	o := &agentOptions{}
	fs := newFlagSet("agent")
	fs.stringVar(&o.config, "config", "", "", "The configuration file (default "+supervisor.DefaultConfigPath+"; optional).")
	fs.boolVar(&o.dev, "dev", "", "Development mode: units from ./units, state, logs and the socket under ./.tend.")
	fs.stringVar(&o.level, "log-level", "", "info", "Log level: debug, info, warn or error.")
	fs.stringVar(&o.cpuProfile, "cpu-profile", "", "", "Write a CPU profile of the agent's whole run to this file (for developers; a re-executed agent writes it anew).")
	fs.boolVar(&o.handoffVersion, "handoff-version", "", "Print the version of the handoff this binary takes over (tend agent reexec checks it), and exit.")
	return fs, o
}

// agentFlagDocs are tend agent's flags, for completion and the manual.
func agentFlagDocs() []flagDoc {
	fs, _ := agentFlags()
	return fs.docs
}
