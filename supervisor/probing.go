package supervisor

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/tendhq/tend/probes"
	"github.com/tendhq/tend/units"
)

// runProbes is everything that watches one run of an instance: the probe
// Set (HTTP, TCP and exec probes), the sd_notify socket, the watchdog and
// the s6 notification descriptor. It is made before the process starts
// (the socket and the descriptor are part of its environment) and ended
// with the run.
type runProbes struct {
	set      *probes.Set
	notify   *probes.NotifySocket
	watchdog *probes.Watchdog
	stopFD   func()

	fdRead  *os.File // s6: the agent's end, until the watch starts
	fdWrite *os.File // s6: the instance's end, closed by the agent after start

	// pgid is the run's process group, known once it has started;
	// started is closed then, so early notify messages wait for it.
	pgid    int
	started chan struct{}
}

// needsProbeIO reports whether a run of t needs a notify socket or a
// notification descriptor before it starts.
func needsProbeIO(t *units.Template) bool {
	return (t.Readiness != nil && (t.Readiness.Notify || t.Readiness.NotificationFD > 0)) ||
		(t.Liveness != nil && t.Liveness.Watchdog > 0)
}

// notifyPath is the instance's NOTIFY_SOCKET. A unix socket's path has
// at most 107 bytes; a deep state directory falls back to the temporary
// directory.
func (s *Supervisor) notifyPath(i *instance) string {
	dir := filepath.Join(s.opt.StateDir, "notify")
	if len(dir)+1+len(i.rec.Name) > 100 {
		id := s.opt.AgentID
		if len(id) > 12 {
			id = id[:12]
		}
		dir = filepath.Join(os.TempDir(), "tend-"+id)
	}
	return filepath.Join(dir, i.rec.Name)
}

// openProbeIO makes the notify socket and the notification pipe of run gen
// of i. It runs on a spawner goroutine: it touches only what it makes.
func (s *Supervisor) openProbeIO(i *instance, gen uint64, env []string) (*runProbes, []string, []*os.File, error) {
	t := &i.spec.Template
	rp := &runProbes{started: make(chan struct{})}
	if !needsProbeIO(t) {
		return rp, env, nil, nil
	}
	var extra []*os.File
	if (t.Readiness != nil && t.Readiness.Notify) || (t.Liveness != nil && t.Liveness.Watchdog > 0) {
		path := s.notifyPath(i)
		if err := os.MkdirAll(filepath.Dir(path), 0o711); err != nil {
			return nil, nil, nil, fmt.Errorf("notify socket: %w", err)
		}
		os.Chmod(filepath.Dir(path), 0o711)
		sock, err := probes.ListenNotify(path, func(n probes.Notify) {
			<-rp.started
			if !n.FromProcessGroup(rp.pgid) {
				return
			}
			if rp.watchdog != nil {
				switch {
				case n.WatchdogTrigger:
					rp.watchdog.Trigger()
				case n.Watchdog:
					rp.watchdog.Feed()
				}
				if n.WatchdogTimeout > 0 {
					rp.watchdog.SetTimeout(n.WatchdogTimeout)
				}
				if n.ExtendTimeout > 0 {
					rp.watchdog.Extend(n.ExtendTimeout)
				}
			}
			s.post(func() { s.notified(i, gen, n) })
		})
		if err != nil {
			return nil, nil, nil, err
		}
		rp.notify = sock
		env = append(env, "NOTIFY_SOCKET="+path)
		if t.Liveness != nil && t.Liveness.Watchdog > 0 {
			env = append(env, fmt.Sprintf("WATCHDOG_USEC=%d", t.Liveness.Watchdog.D().Microseconds()))
		}
	}
	if t.Readiness != nil && t.Readiness.NotificationFD > 0 {
		r, w, err := os.Pipe()
		if err != nil {
			rp.close()
			return nil, nil, nil, fmt.Errorf("notification descriptor: %w", err)
		}
		rp.fdRead, rp.fdWrite = r, w
		// ExtraFiles[k] is descriptor 3+k in the instance; the ones
		// below the asked-for number stay closed.
		extra = make([]*os.File, t.Readiness.NotificationFD-2)
		extra[len(extra)-1] = w
	}
	return rp, env, extra, nil
}

// begin starts watching run gen of i, whose process has just started.
// Loop goroutine.
func (s *Supervisor) beginProbes(i *instance, gen uint64, rp *runProbes, pid int) {
	t := &i.spec.Template
	rp.pgid = pid
	close(rp.started)
	report := func(r probes.Report) { s.post(func() { s.probeReport(i, gen, r) }) }
	if rp.fdWrite != nil {
		rp.fdWrite.Close()
		rp.fdWrite = nil
		rp.stopFD = probes.WatchNotificationFD(rp.fdRead, func() {
			s.post(func() {
				s.markReady(i, gen, "the instance wrote a newline to descriptor "+fmt.Sprint(t.Readiness.NotificationFD))
			})
		})
		rp.fdRead = nil
	}
	if t.Liveness != nil && t.Liveness.Watchdog > 0 {
		rp.watchdog = probes.NewWatchdog(t.Liveness.Watchdog.D(), report)
	}
	cfg := probes.SetConfig{Report: report}
	env := s.environ(i)
	cfg.Liveness = s.prober(i, t.Liveness, env)
	cfg.Readiness = s.prober(i, t.Readiness, env)
	cfg.Startup = s.prober(i, t.Startup, env)
	if cfg.Liveness != nil || cfg.Readiness != nil || cfg.Startup != nil {
		rp.set = probes.NewSet(cfg)
		rp.set.Start()
	}
	if t.Startup == nil || cfg.Startup == nil {
		i.startupDone = true
	}
}

// prober adapts a unit's probe block to a probes.Probe; nil for none and
// for the mechanisms that are not periodic (notify, watchdog, s6).
func (s *Supervisor) prober(i *instance, p *units.Probe, env []string) *probes.Probe {
	if p == nil {
		return nil
	}
	spec := probes.Spec{
		InitialDelay:     p.InitialDelay.D(),
		Timeout:          p.Timeout.D(),
		Period:           p.Period.D(),
		SuccessThreshold: p.SuccessThreshold,
		FailureThreshold: p.FailureThreshold,
	}
	switch {
	case p.HTTPGet != nil:
		h := p.HTTPGet
		return &probes.Probe{Spec: spec, Prober: &probes.HTTPGet{Scheme: h.Scheme, Host: h.Host, Port: h.Port, Path: h.Path, Headers: h.Headers}}
	case p.TCPSocket != nil:
		return &probes.Probe{Spec: spec, Prober: &probes.TCPSocket{Host: p.TCPSocket.Host, Port: p.TCPSocket.Port}}
	case p.Exec != nil:
		return &probes.Probe{Spec: spec, Prober: &probes.Exec{Command: p.Exec.Command, Run: s.commandRunner(i, env)}}
	}
	return nil
}

// commandRunner runs exec probes through the reaper (nothing in the agent
// may call Wait), in the instance's environment, working directory and
// credentials, in a process group of their own that is killed when the
// probe's time is up.
func (s *Supervisor) commandRunner(i *instance, env []string) probes.CommandRunner {
	t := &i.spec.Template
	dir, user, group := t.WorkingDir, t.User, t.Group
	return func(ctx context.Context, argv []string) (int, []byte, error) {
		cred, err := Credential(user, group)
		if err != nil {
			return 0, nil, err
		}
		r, w, err := os.Pipe()
		if err != nil {
			return 0, nil, err
		}
		defer r.Close()
		done := make(chan ExitStatus, 1)
		proc, err := s.opt.Reaper.Start(ProcSpec{
			Path: argv[0], Args: argv, Env: env, Dir: dir, Credential: cred, Stdout: w, Stderr: w,
		}, func(st ExitStatus) { done <- st })
		w.Close()
		if err != nil {
			return 0, nil, err
		}
		out := make(chan []byte, 1)
		go func() {
			b, _ := io.ReadAll(io.LimitReader(r, probes.MaxOutput))
			io.Copy(io.Discard, r) // do not block a chatty command on a full pipe
			out <- b
		}()
		var st ExitStatus
		var cerr error
		select {
		case st = <-done:
		case <-ctx.Done():
			proc.SignalGroup(syscall.SIGKILL)
			st = <-done
			cerr = ctx.Err()
		}
		proc.SignalGroup(syscall.SIGKILL) // what it left behind
		// A grandchild may hold the pipe: stop reading soon after.
		r.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		b := <-out
		return st.ExitCode(), b, cerr
	}
}

// close ends everything of rp without waiting on the loop. Idempotent.
func (rp *runProbes) close() {
	if rp == nil {
		return
	}
	select {
	case <-rp.started:
	default:
		close(rp.started) // release early notify messages; they are dropped
	}
	if rp.set != nil {
		rp.set.Stop()
	}
	if rp.watchdog != nil {
		rp.watchdog.Stop()
	}
	if rp.stopFD != nil {
		rp.stopFD()
	}
	if rp.notify != nil {
		rp.notify.Close()
		os.Remove(rp.notify.Path())
	}
	for _, f := range []*os.File{rp.fdRead, rp.fdWrite} {
		if f != nil {
			f.Close()
		}
	}
}

// endProbes stops watching i's run. Stopping a Set waits for a probe in
// flight (bounded by its timeout, cancelled at once), so it happens off
// the loop; reports that come meanwhile carry an old generation and are
// ignored.
func (s *Supervisor) endProbes(i *instance) {
	rp := i.probes
	i.probes = nil
	if rp == nil {
		return
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		rp.close()
	}()
}

// probeReport takes a probe's report for run gen of i. Loop goroutine.
func (s *Supervisor) probeReport(i *instance, gen uint64, r probes.Report) {
	if i.gen != gen || i.proc == nil || i.rec.Terminating {
		return
	}
	now := s.clock.Now()
	if reason, msg := r.Event(); reason != "" {
		typ := Warning
		if reason == "ProbeWarning" {
			typ = Normal
		}
		s.events.Record(now, KindInstance, i.rec.Name, typ, reason, s.from(), msg)
	}
	switch {
	case r.Kill():
		what := "liveness"
		if r.Kind == probes.Startup {
			what = "startup"
		}
		if r.Result == probes.Failure && r.Kind == probes.Liveness && r.Message != "" && i.spec.Template.Liveness.Watchdog > 0 {
			s.events.Record(now, KindInstance, i.rec.Name, Warning, "Unhealthy", s.from(), "Liveness probe failed: "+r.Message)
		}
		s.stop(i, "", fmt.Sprintf("Container %s failed %s probe, will be restarted", i.spec.Name, what))
	case r.Kind == probes.Readiness && r.Changed:
		if r.Healthy {
			s.markReady(i, gen, "readiness probe succeeded")
		} else {
			i.probeReady = false
		}
	case r.Kind == probes.Startup && r.Changed && r.Healthy:
		i.startupDone = true
	}
}

// markReady marks run gen of i ready (readiness probe, READY=1 or s6).
func (s *Supervisor) markReady(i *instance, gen uint64, why string) {
	if i.gen != gen || i.proc == nil || i.probeReady {
		return
	}
	i.probeReady = true
	s.log.Debug("instance ready", "instance", i.rec.Name, "why", why)
}

// notified takes an sd_notify message from run gen of i. Loop goroutine.
func (s *Supervisor) notified(i *instance, gen uint64, n probes.Notify) {
	if i.gen != gen || i.proc == nil {
		return
	}
	if _, ok := n.Raw["STATUS"]; ok {
		i.notifyStatus = n.Status
	}
	if n.MainPID > 0 && n.MainPID != i.proc.Pid() {
		// Only a process of the instance's own group may be its main
		// process: anything else could make the agent adopt a stranger.
		if g, err := syscall.Getpgid(n.MainPID); err == nil && g == i.proc.Pgid() {
			i.mainPID = n.MainPID
		} else {
			s.log.Warn("ignoring MAINPID outside the instance's process group", "instance", i.rec.Name, "pid", n.MainPID)
		}
	}
	if n.Ready && i.spec.Template.Readiness != nil && i.spec.Template.Readiness.Notify {
		s.markReady(i, gen, "READY=1")
	}
}

// followMainPID handles the exit of the process the run started with when
// the instance announced another main process (MAINPID=, as a forking
// daemon does): that process becomes the run's, and the run goes on. It
// reports whether it did. Loop goroutine.
func (s *Supervisor) followMainPID(i *instance, gen uint64, old *Proc) bool {
	main := i.mainPID
	i.mainPID = 0
	if main == 0 || main == old.Pid() || i.stopping {
		return false
	}
	proc, err := s.opt.Reaper.Adopt(main, old.Pgid(), func(st ExitStatus) {
		s.post(func() { s.exited(i, gen, st) })
	})
	if err != nil {
		s.log.Info("announced main process is gone", "instance", i.rec.Name, "pid", main, "err", err)
		return false
	}
	i.proc = proc
	i.rec.PID = main
	s.save(i)
	s.events.Record(s.clock.Now(), KindInstance, i.rec.Name, Normal, "MainPID", s.from(),
		fmt.Sprintf("Process %d exited; %d (MAINPID=) is now the main process", old.Pid(), main))
	return true
}
