package main

// The supervisors under test. Each is started by hand on a private
// directory, never through the system's init: runsvdir, s6-svscan and
// svscan on their own scan directories, supervisord on its own config file
// and unix socket, tend's agent in --dev mode.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A peer is one supervisor under test. Its methods are called from one
// goroutine.
type peer interface {
	// Name is what the tables call it.
	Name() string
	// Package is the Debian package that provides it; "" for tend.
	Package() string
	// Programs are the executables it needs on PATH (or absolute paths).
	Programs() []string
	// Setup lays out dir for n copies of the workload in mode and returns
	// the supervisor's command (not started) and how to stop everything
	// it runs the fastest way it offers.
	Setup(dir string, w spec) (cmd *exec.Cmd, stopAll func(ctx context.Context, root *exec.Cmd) error, err error)
}

// spec is what a supervisor is asked to run.
type spec struct {
	stamp string // the workload binary
	file  string // where it appends its stamps
	mode  string // modeExit or modeSleep
	n     int    // copies
}

// env is the supervisor's environment: ours plus the workload's arguments
// for the supervisors that exec ./run without any.
func (w spec) env() []string {
	return append(os.Environ(), "STAMP_FILE="+w.file, "STAMP_MODE="+w.mode)
}

// serviceDirs makes n service directories under scan, each with ./run a
// symlink to the workload (no shell in between), and returns their paths.
// scan's mtime is set an hour back, as if laid out long before the
// supervisor started (at boot, say): runsvdir otherwise takes a directory
// changed in the current second as still changing and starts its services
// a second later.
func serviceDirs(scan string, w spec) ([]string, error) {
	var dirs []string
	for i := range w.n {
		d := filepath.Join(scan, fmt.Sprintf("s%04d", i))
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
		if err := os.Symlink(w.stamp, filepath.Join(d, "run")); err != nil {
			return nil, err
		}
		dirs = append(dirs, d)
	}
	past := time.Now().Add(-time.Hour)
	if err := os.Chtimes(scan, past, past); err != nil {
		return nil, err
	}
	return dirs, nil
}

func runTool(ctx context.Context, name string, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

func signalRoot(sig syscall.Signal) func(context.Context, *exec.Cmd) error {
	return func(_ context.Context, root *exec.Cmd) error {
		return root.Process.Signal(sig)
	}
}

// tend: the agent in --dev mode, units from dir/units, state under
// dir/.tend. Stop all: SIGTERM to the agent.
//
// Laid out as the peers are, each of the n workloads is a unit file of its
// own with one replica and labels of its own (shared labels would make the
// units' selectors overlap). With oneUnit, the n workloads are the
// replicas of one unit instead: a layout only tend has.
type tendPeer struct {
	bin     string
	name    string // what the tables call it; "" is "tend"
	oneUnit bool
}

func (p tendPeer) Name() string {
	if p.name == "" {
		return "tend"
	}
	return p.name
}
func (p tendPeer) Package() string    { return "" }
func (p tendPeer) Programs() []string { return []string{p.bin} }

func (p tendPeer) Setup(dir string, w spec) (*exec.Cmd, func(context.Context, *exec.Cmd) error, error) {
	var files []unitFile
	if p.oneUnit {
		files = []unitFile{{"stamp", stampUnit("stamp", w.n, w.stamp, w.file, w.mode)}}
	} else {
		files = stampUnits("s", w.n, w.stamp, w.file, w.mode)
	}
	cmd, err := tendAgent(p.bin, dir, files...)
	return cmd, signalRoot(syscall.SIGTERM), err
}

// unitFile is one file of an agent's unit directory: NAME.toml.
type unitFile struct {
	name, text string
}

// stampUnit is a replicated unit of the workload, labelled app = label.
func stampUnit(label string, replicas int, stamp, file, mode string) string {
	return fmt.Sprintf(`kind = "replicated"
replicas = %d
[template]
labels = { app = %q }
command = [%q, %q, %q]
restart_delay = "0s"
%sstop_timeout = "5s"
`, replicas, label, stamp, file, mode, brakeOff)
}

// brakeOff turns tend's crash-loop brake off: the flapping workload
// measures the restart path itself, as it does under the peers, so it
// must go on restarting at once. tendAgent drops the line for an older
// binary that does not know the key (-tend-before).
const brakeOff = "start_limit_interval = \"0s\"\n"

// knowsBrake reports whether the tend binary at bin reads
// start_limit_interval: the key's name is in every binary that does.
func knowsBrake(bin string) bool {
	b, err := os.ReadFile(bin)
	return err != nil || bytes.Contains(b, []byte("start_limit_interval"))
}

// stampUnits are n unit files of one replica each, named and labelled
// PREFIX0000 and on, all stamping into file.
func stampUnits(prefix string, n int, stamp, file, mode string) []unitFile {
	out := make([]unitFile, n)
	for i := range out {
		name := unitName(prefix, i, n)
		out[i] = unitFile{name, stampUnit(name, 1, stamp, file, mode)}
	}
	return out
}

// unitName is the i-th of n names PREFIX0000, PREFIX0001, ...: zero-padded
// so that they sort in order, at least four digits wide.
func unitName(prefix string, i, n int) string {
	return fmt.Sprintf("%s%0*d", prefix, max(4, len(strconv.Itoa(n-1))), i)
}

// tendAgent writes the unit files into dir/units and returns the agent's
// command, in --dev mode on dir (not started).
func tendAgent(bin, dir string, files ...unitFile) (*exec.Cmd, error) {
	if err := os.MkdirAll(filepath.Join(dir, "units"), 0o755); err != nil {
		return nil, err
	}
	old := !knowsBrake(bin)
	for _, f := range files {
		if old {
			f.text = strings.ReplaceAll(f.text, brakeOff, "")
		}
		if err := os.WriteFile(filepath.Join(dir, "units", f.name+".toml"), []byte(f.text), 0o644); err != nil {
			return nil, err
		}
	}
	cmd := exec.Command(bin, "agent", "--dev", "--log-level", "warn")
	cmd.Dir = dir
	return cmd, nil
}

// runit: runsvdir on a private service directory; runsv throttles starts
// to one a second. Stop all: `sv down` on every service.
type runitPeer struct{}

func (runitPeer) Name() string       { return "runit" }
func (runitPeer) Package() string    { return "runit" }
func (runitPeer) Programs() []string { return []string{"runsvdir", "runsv", "sv"} }

func (runitPeer) Setup(dir string, w spec) (*exec.Cmd, func(context.Context, *exec.Cmd) error, error) {
	scan := filepath.Join(dir, "service")
	dirs, err := serviceDirs(scan, w)
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command("runsvdir", scan)
	cmd.Env = w.env()
	stop := func(ctx context.Context, _ *exec.Cmd) error {
		return runTool(ctx, "sv", append([]string{"down"}, dirs...)...)
	}
	return cmd, stop, nil
}

// s6: s6-svscan on a private scan directory; s6-supervise waits a second
// between two starts. Stop all: `s6-svscanctl -t`, which brings every
// service down and ends the tree.
type s6Peer struct{}

func (s6Peer) Name() string       { return "s6" }
func (s6Peer) Package() string    { return "s6" }
func (s6Peer) Programs() []string { return []string{"s6-svscan", "s6-supervise", "s6-svscanctl"} }

func (s6Peer) Setup(dir string, w spec) (*exec.Cmd, func(context.Context, *exec.Cmd) error, error) {
	scan := filepath.Join(dir, "scan")
	if _, err := serviceDirs(scan, w); err != nil {
		return nil, nil, err
	}
	cmd := exec.Command("s6-svscan", "-c", fmt.Sprint(max(w.n+10, 1000)), scan)
	cmd.Env = w.env()
	stop := func(ctx context.Context, _ *exec.Cmd) error {
		return runTool(ctx, "s6-svscanctl", "-t", scan)
	}
	return cmd, stop, nil
}

// daemontools: svscan on a private directory; supervise sleeps a second
// after a start. Stop all: SIGTERM to svscan (so it restarts nothing),
// then `svc -dx` on every service.
type daemontoolsPeer struct{}

func (daemontoolsPeer) Name() string       { return "daemontools" }
func (daemontoolsPeer) Package() string    { return "daemontools" }
func (daemontoolsPeer) Programs() []string { return []string{"svscan", "supervise", "svc"} }

func (daemontoolsPeer) Setup(dir string, w spec) (*exec.Cmd, func(context.Context, *exec.Cmd) error, error) {
	scan := filepath.Join(dir, "svc")
	dirs, err := serviceDirs(scan, w)
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command("svscan", scan)
	cmd.Env = w.env()
	stop := func(ctx context.Context, root *exec.Cmd) error {
		if err := root.Process.Signal(syscall.SIGTERM); err != nil {
			return err
		}
		return runTool(ctx, "svc", append([]string{"-dx"}, dirs...)...)
	}
	return cmd, stop, nil
}

// supervisord: in the foreground on a private config file and unix socket,
// no inet server; autorestart with startsecs = 0, so an exit is restarted
// on its next tick. Stop all: SIGTERM to supervisord.
type supervisordPeer struct{}

func (supervisordPeer) Name() string       { return "supervisord" }
func (supervisordPeer) Package() string    { return "supervisor" }
func (supervisordPeer) Programs() []string { return []string{"supervisord"} }

func (supervisordPeer) Setup(dir string, w spec) (*exec.Cmd, func(context.Context, *exec.Cmd) error, error) {
	conf := fmt.Sprintf(`[unix_http_server]
file = %[1]s/supervisor.sock

[supervisord]
nodaemon = true
logfile = %[1]s/supervisord.log
pidfile = %[1]s/supervisord.pid
childlogdir = %[1]s
loglevel = warn
minfds = %[2]d
minprocs = %[2]d

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl = unix://%[1]s/supervisor.sock

[program:stamp]
command = %[3]s %[4]s %[5]s
numprocs = %[6]d
process_name = %%(program_name)s_%%(process_num)04d
autostart = true
autorestart = true
startsecs = 0
startretries = 1000000
stdout_logfile = NONE
stderr_logfile = NONE
stopsignal = TERM
stopwaitsecs = 5
`, dir, 4*w.n+1024, w.stamp, w.file, w.mode, w.n)
	path := filepath.Join(dir, "supervisord.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return nil, nil, err
	}
	cmd := exec.Command("supervisord", "-n", "-c", path)
	cmd.Dir = dir
	return cmd, signalRoot(syscall.SIGTERM), nil
}
