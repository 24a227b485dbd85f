package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"syscall"

	"github.com/tendhq/tend/supervisor"
)

const agentUsage = `Run the tend agent: supervise this host's units until SIGTERM.

Usage:
  tend agent [--config FILE] [--dev] [--log-level LEVEL]

The agent reads its configuration from --config (default /etc/tend/tend.toml;
the file is optional), watches the unit directory for *.toml unit files,
keeps their instances running, and serves the CLI on a unix socket.
SIGTERM or SIGINT stops every instance (each within its stop_timeout) and
exits 0; SIGHUP rereads the unit directory.

With --dev everything lives under the current directory: units from
./units, state, logs and the socket under ./.tend. No root needed.

Examples:
  # Try it out in the current directory
  mkdir units && cp examples/kubia.toml units/ && tend agent --dev

  # The system agent, as packaging/tend.service runs it
  tend agent --config /etc/tend/tend.toml

Options:
`

// runAgent is `tend agent`.
func runAgent(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "configuration `file` (default "+supervisor.DefaultConfigPath+", optional)")
	dev := fs.Bool("dev", false, "development mode: units from ./units, state and socket under ./.tend")
	level := fs.String("log-level", "info", "log `level`: debug, info, warn or error")
	cpuProfile := fs.String("cpu-profile", "", "write a CPU profile of the agent's whole run to `file` (for developers)")
	fs.Usage = func() {
		fmt.Fprint(stderr, agentUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("agent takes no arguments (got %q); see tend agent --help", fs.Args())
	}

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		return fmt.Errorf("--log-level: %v", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))

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
	cfg, err := supervisor.LoadConfig(path, cfg, required)
	if err != nil {
		return err
	}

	// Signals first: a SIGTERM that arrives while the agent starts must
	// still stop it cleanly.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	reload := make(chan os.Signal, 1)
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
				log.Info("signal received", "signal", sig.String())
				cancel()
				return
			}
		}
	}()

	a, err := supervisor.NewAgent(cfg, supervisor.Version{Version: version, Go: runtime.Version()}, log)
	if err != nil {
		return err
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
