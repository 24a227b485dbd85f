package supervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// Agent is `tend agent`: the store, the reaper, the unit directory, the
// reconcile loop and the local API of one host, wired together. New opens
// everything, Run serves until its context ends, then stops every
// instance; Close releases what New opened.
type Agent struct {
	cfg     Config
	log     *slog.Logger
	store   *Store
	reaper  *Reaper
	catalog *DirCatalog
	sup     *Supervisor
	ln      net.Listener

	closeOnce sync.Once
}

// NewAgent opens the agent's state and listens on its socket. Nothing runs
// until Run.
func NewAgent(cfg Config, version Version, log *slog.Logger) (_ *Agent, err error) {
	a := &Agent{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	if cfg.Cluster.Bind != "" && len(cfg.Cluster.Join) > 0 {
		log.Warn("the fleet is not built yet: running as a cluster of one", "join", cfg.Cluster.Join)
	}
	if a.store, err = OpenStore(cfg.StateDir, log); err != nil {
		return nil, err
	}
	agentID, err := a.store.AgentID()
	if err != nil {
		return nil, fmt.Errorf("agent id: %w", err)
	}
	var sup *Supervisor
	events, err := NewRecorder(a.store, DefaultMaxEvents, func() {
		if sup != nil {
			sup.notifySubs()
		}
	})
	if err != nil {
		return nil, fmt.Errorf("load events: %w", err)
	}
	a.catalog, err = NewDirCatalog(cfg.UnitsDir, log, func(name string, perr error) {
		events.Record(time.Now(), KindUnit, name, Warning, "InvalidUnitFile", "supervisor",
			perr.Error()+" (the previous version, if any, keeps running)")
	})
	if err != nil {
		return nil, err
	}
	if a.reaper, err = NewReaper(log); err != nil {
		return nil, err
	}
	version.Host = cfg.Name
	sup, err = NewSupervisor(Options{
		Host:        cfg.Name,
		AgentID:     agentID,
		HostLabels:  cfg.Labels,
		LogDir:      filepath.Join(cfg.StateDir, "logs"),
		StateDir:    cfg.StateDir,
		LogMaxBytes: cfg.LogMaxBytes,
		Store:       a.store,
		Events:      events,
		Reaper:      a.reaper,
		Catalog:     a.catalog,
		Log:         log,
		Version:     version,
	})
	if err != nil {
		return nil, err
	}
	a.sup = sup
	if a.ln, err = ListenUnix(cfg.Socket); err != nil {
		return nil, err
	}
	return a, nil
}

// Supervisor is the agent's reconcile loop (its Backend).
func (a *Agent) Supervisor() *Supervisor { return a.sup }

// Run serves until ctx ends, then stops every instance (each within its
// stop_timeout) and returns. reload, when it receives, rereads the unit
// directory (SIGHUP).
func (a *Agent) Run(ctx context.Context, reload <-chan os.Signal) error {
	loopCtx, stopLoop := context.WithCancel(context.Background())
	defer stopLoop()
	var wg sync.WaitGroup
	loopDone := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		loopDone <- a.sup.Run(loopCtx)
	}()

	watchCtx, stopWatch := context.WithCancel(context.Background())
	defer stopWatch()
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := a.catalog.Run(watchCtx); err != nil {
			a.log.Error("unit directory is not watched; changes need SIGHUP", "err", err)
		}
	}()

	// Streams (logs -f, get -w) end when the agent stops, not after the
	// shutdown grace.
	srv := &http.Server{
		Handler:           NewAPI(a.sup, a.log),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return watchCtx },
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := srv.Serve(a.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("local API stopped", "err", err)
		}
	}()

	wg.Add(1)
	go func() {
		defer wg.Done()
		a.watchdog(watchCtx)
	}()

	// Ready: the loop is running and the socket answers.
	if err := a.sup.call(func() {}); err == nil {
		daemon.SdNotify(false, daemon.SdNotifyReady)
		a.log.Info("agent ready", "host", a.cfg.Name, "units", a.cfg.UnitsDir, "socket", a.cfg.Socket)
	}

	var err error
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-reload:
			a.log.Info("rereading the unit directory")
			a.catalog.Rescan()
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
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	srv.Shutdown(shutdownCtx)
	cancel()
	srv.Close()
	wg.Wait()
	return err
}

// watchdog pings systemd's watchdog while the reconcile loop answers: a
// stuck loop stops the pings and systemd restarts the agent.
func (a *Agent) watchdog(ctx context.Context) {
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
			ok := make(chan struct{})
			a.sup.post(func() { close(ok) })
			select {
			case <-ok:
				daemon.SdNotify(false, daemon.SdNotifyWatchdog)
			case <-time.After(interval / 3):
				a.log.Error("reconcile loop did not answer; not pinging the watchdog")
			case <-ctx.Done():
				return
			}
		}
	}
}

// Close releases the store, the reaper and the socket. Idempotent.
func (a *Agent) Close() error {
	var err error
	a.closeOnce.Do(func() {
		if a.ln != nil {
			a.ln.Close()
			os.Remove(a.cfg.Socket)
		}
		if a.reaper != nil {
			a.reaper.Close()
		}
		if a.store != nil {
			err = a.store.Close()
		}
	})
	return err
}
