package supervisor

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tendhq/tend/probes"
	"github.com/tendhq/tend/units"
	"golang.org/x/sys/unix"
)

// runner is the mechanics of an instance's run: its environment, its
// process with its output log, and what watches it (probes, the notify
// socket, the watchdog). It holds no instance state of its own: the loop
// calls it, and spawn, which runs on a spawner goroutine while the loop
// waits, touches only what it makes.
type runner struct {
	reaper   *Reaper
	log      *slog.Logger
	host     string
	agentID  string
	env      []string // the agent's environment
	logDir   string   // LogDir/<instance>/
	stateDir string   // notify sockets under stateDir/notify
	cgroups  *Cgroups // nil: process groups only
	logMax   int64
	shim     string          // Options.Shim
	fence    Fence           // Options.Fence
	bg       *sync.WaitGroup // the loop's background work, waited for when it ends

	limitsWarned map[limitsKey]struct{} // the unit versions warned of (versionWarnings); loop goroutine only
	journal      *journalOut            // instances' output to the journal; nil: none
}

// environ is the instance's environment: a little of the agent's (PATH,
// LANG, TZ), the user's identity when it runs as another user, the
// template's env, and tend's own variables, each later one replacing an
// earlier of the same name. Each name is there once: given two, glibc's
// getenv and Go's take the first, shells the last.
func (r *runner) environ(i *instance) []string {
	return dedupEnv(r.environAll(i))
}

// dedupEnv keeps the last entry of each name, in the order of the first.
func dedupEnv(env []string) []string {
	last := make(map[string]int, len(env))
	for k, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		last[name] = k
	}
	out := env[:0:0]
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if j := last[name]; j >= 0 {
			out = append(out, env[j])
			last[name] = -1
		}
	}
	return out
}

func (r *runner) environAll(i *instance) []string {
	t := &i.spec.Template
	env := make([]string, 0, len(t.Env)+8)
	for _, kv := range r.env {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "PATH", "LANG", "LC_ALL", "TZ":
			env = append(env, kv)
		}
	}
	if t.User != "" {
		env = append(env, "USER="+t.User, "LOGNAME="+t.User)
	}
	keys := make([]string, 0, len(t.Env))
	for k := range t.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+t.Env[k])
	}
	env = append(env,
		"TEND_INSTANCE="+i.rec.Name,
		"TEND_UNIT="+i.spec.Name,
		"TEND_HOST="+r.host,
		"TEND_AGENT="+r.agentID,
	)
	if i.rec.Indexed {
		n := strconv.Itoa(i.rec.Slot)
		env = append(env, CompletionIndexEnv+"="+n, "JOB_COMPLETION_INDEX="+n)
	}
	if r.fenced(i) {
		env = append(env, FencingTokenEnv+"="+strconv.FormatUint(i.rec.FenceEpoch, 10))
	}
	return env
}

// CompletionIndexEnv is the variable a job's attempt finds its completion
// index in (0 to completions−1): which part of the work is its. It is
// also set as JOB_COMPLETION_INDEX, the name a Kubernetes Indexed Job's
// pods read it under, so a program written for one runs unchanged.
const CompletionIndexEnv = "TEND_COMPLETION_INDEX"

// FencingTokenEnv is the variable an exclusive unit's instance finds its
// fencing token in: the epoch of the lease its run started under, which
// rises with every new holder. A resource that remembers the highest
// token it was shown can refuse a holder that lost its lease.
const FencingTokenEnv = "TEND_FENCING_TOKEN"

func (r *runner) instanceLogDir(name string) string { return filepath.Join(r.logDir, name) }

// shimmed reports whether i's runs start under a shim (RunShim): a job's
// attempts do, when the agent has one.
func (r *runner) shimmed(i *instance) bool {
	return r.shim != "" && (i.rec.Kind == units.KindJob || r.fenced(i))
}

// fenced reports whether i's run starts under a lease: an exclusive
// unit's, in a fleet with a fence (fence.go).
func (r *runner) fenced(i *instance) bool { return r.fence != nil && i.spec.Exclusive }

// shimStatusPath is where i's shim writes how its run ended.
func (r *runner) shimStatusPath(name string) string {
	return filepath.Join(r.instanceLogDir(name), shimStatusFile)
}

// removeLogs removes an instance's stored output, off the loop.
func (r *runner) removeLogs(name string) {
	dir := r.instanceLogDir(name)
	r.bg.Go(func() { os.RemoveAll(dir) })
}

// spawn starts the process of i's next run with env. onExit receives its
// exit (from the reaper's goroutine), onNotify its sd_notify messages
// (from the socket's). It runs on a spawner goroutine while the loop
// waits, and touches only what it makes.
func (r *runner) spawn(i *instance, env []string, onExit func(ExitStatus), onNotify func(probes.Notify)) (*Proc, *RunLog, *runProbes, error) {
	t := &i.spec.Template
	cred, err := Credential(t.User, t.Group)
	if err != nil {
		return nil, nil, nil, err
	}
	rp, env, extra, err := r.openProbeIO(i, env, onNotify)
	if err != nil {
		return nil, nil, nil, err
	}
	// What is made is undone if the start fails: nothing has started in
	// the cgroup, and the log's writer is closed before the log.
	var cgroup string
	var rl *RunLog
	fail := func(err error) (*Proc, *RunLog, *runProbes, error) {
		if rl != nil {
			rl.out.setPID(0) // no run: the sink waits no more
			rl.CloseWriter()
			rl.Close()
		}
		if cgroup != "" {
			unix.Rmdir(cgroup)
		}
		rp.close()
		return nil, nil, nil, err
	}
	// The cgroup first: the run's log, written to disk, tells a later
	// agent that a run began (countUnrecordedRun), so as little as can be
	// comes between it and the start.
	if r.cgroups != nil {
		cgroup = r.cgroups.Dir(i.rec.Name, i.gen)
		// The limits are in place before the process is started into
		// the cgroup: nothing of the run runs without them.
		if err := r.cgroups.makeRun(cgroup, t.Resources); err != nil {
			return fail(err)
		}
	}
	if rl, err = openRunLog(r.instanceLogDir(i.rec.Name), r.logMax, r.output(i)); err != nil {
		return fail(fmt.Errorf("instance log: %w", err))
	}
	// The instance holds the read end of its own output pipe too, as the
	// descriptor after its others (3 unless it has a notification-fd):
	// the pipe then never loses its last reader when the agent is killed,
	// so the instance's writes wait in it (not fail with EPIPE) until
	// the next agent opens it again, through /proc (adoptRun).
	keep, err := reopenPipe(rl.fd)
	if err != nil {
		return fail(fmt.Errorf("instance log: %w", err))
	}
	defer keep.Close()
	extra = append(extra, keep)
	rl.inInstance = 2 + len(extra)
	spec := ProcSpec{
		Path:       t.Command[0],
		Args:       t.Command,
		Env:        env,
		Dir:        t.WorkingDir,
		Credential: cred,
		Stdout:     rl.Writer(),
		Stderr:     rl.Writer(),
		ExtraFiles: extra,
		Cgroup:     cgroup,
	}
	if r.shimmed(i) {
		// Emptied here, so that nothing an earlier run's shim wrote is
		// taken for this run's end.
		status, err := os.OpenFile(r.shimStatusPath(i.rec.Name), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return fail(fmt.Errorf("shim's status file: %w", err))
		}
		defer status.Close()
		spec.Shim, spec.ShimStatus, spec.ShimRun = r.shim, status, i.gen
		if r.fenced(i) {
			// The lease's end is in the file before the shim reads it;
			// the shim gets it read-only, and the agent moves it on.
			path := r.leasePath(i.rec.Name)
			w, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
			if err == nil {
				err = WriteLease(w, i.fenceUntil)
				if cerr := w.Close(); err == nil {
					err = cerr
				}
			}
			var lease *os.File
			if err == nil {
				lease, err = os.Open(path)
			}
			if err != nil {
				return fail(fmt.Errorf("lease file: %w", err))
			}
			defer lease.Close()
			spec.ShimLease = &shimLease{file: lease, killGrace: r.fence.KillGrace(), stopSig: syscall.Signal(t.StopSignal), cgroup: cgroup}
		}
	}
	proc, err := r.reaper.Start(spec, onExit)
	if err != nil {
		return fail(err)
	}
	rl.out.setPID(proc.Pid())
	rl.CloseWriter()
	return proc, rl, rp, nil
}

// reopenPipe opens the pipe end fd anew, a file description of its own
// (through /proc/self/fd), for a child to inherit. Not a dup: starting a
// process puts the descriptors it is given in blocking mode, and a dup
// shares fd's description, so the copier's reads would block.
func reopenPipe(fd int) (*os.File, error) {
	n, err := unix.Open("/proc/self/fd/"+strconv.Itoa(fd), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("reopen the output pipe: %w", err)
	}
	return os.NewFile(uintptr(n), "output pipe, kept by the instance"), nil
}

// cgroupTimeout bounds how long the removal of a run's cgroup waits for
// its processes, killed with cgroup.kill, to be gone.
const cgroupTimeout = 10 * time.Second

// endCgroup removes the cgroup of a run whose main process has been
// reaped, off the loop, once it is empty. What was left in it has been
// killed already (exited's SignalGroup(SIGKILL) writes cgroup.kill), so
// nothing of the run outlives it into the next run, which has a cgroup of
// its own.
func (r *runner) endCgroup(instance string, proc *Proc) {
	dir := proc.Cgroup()
	if dir == "" {
		return
	}
	r.bg.Go(func() {
		if err := RemoveCgroup(context.Background(), dir, cgroupTimeout); err != nil {
			r.log.Warn("removing a run's cgroup", "instance", instance, "err", err)
		}
	})
}

// runProbes is everything that watches one run of an instance: the probe
// Set (HTTP, TCP and exec probes), the sd_notify socket, the watchdog and
// the s6 notification descriptor. It is made before the process starts
// (the socket and the descriptor are part of its environment) and ended
// with the run.
type runProbes struct {
	set      *probes.Set
	notify   *probes.NotifySocket
	watchdog *probes.Watchdog
	fdWatch  *probes.NotificationWatch // s6, once the run has started

	fdRead  *os.File // s6: the agent's end, until the watch starts
	fdWrite *os.File // s6: the instance's end, closed by the agent after start

	// pgid and watchdog are set before started is closed, and only read
	// after it: an early notify message waits for them.
	pgid    int
	started chan struct{}
}

// probeAccuracy is how late a probe may start so that the probes of every
// instance due within the same window share one wake-up of the agent
// (probes.SetConfig.Accuracy). Probe periods are whole seconds; with 1000
// probes spread over each second, exact timing woke the agent a thousand
// times a second and cost it 18 % of a core, this about 7 %.
const probeAccuracy = 20 * time.Millisecond

// needsProbeIO reports whether a run of t needs a notify socket or a
// notification descriptor before it starts.
func needsProbeIO(t *units.Template) bool {
	return (t.Readiness != nil && (t.Readiness.Notify || t.Readiness.NotificationFD > 0)) ||
		(t.Liveness != nil && t.Liveness.Watchdog > 0)
}

// notifyPath is the NOTIFY_SOCKET of run gen of the instance called
// name. Each run has a path of its own: a run's socket is closed and
// removed off the loop (endProbes), possibly after the next run has
// started, and that removal must not take the next run's socket away. A
// unix socket's path has at most 107 bytes; a deep state directory falls
// back to the temporary directory.
func (r *runner) notifyPath(name string, gen uint64) string {
	file := name + "." + strconv.FormatUint(gen, 10)
	dir := filepath.Join(r.stateDir, "notify")
	if len(dir)+1+len(file) > 100 {
		id := r.agentID
		if len(id) > 12 {
			id = id[:12]
		}
		dir = filepath.Join(os.TempDir(), "tend-"+id)
	}
	return filepath.Join(dir, file)
}

// openProbeIO makes the notify socket and the notification pipe of i's
// next run. Messages on the socket from the run's process group go to the
// watchdog and to onNotify. It runs on a spawner goroutine: it touches
// only what it makes.
func (r *runner) openProbeIO(i *instance, env []string, onNotify func(probes.Notify)) (*runProbes, []string, []*os.File, error) {
	t := &i.spec.Template
	rp := &runProbes{started: make(chan struct{})}
	if !needsProbeIO(t) {
		return rp, env, nil, nil
	}
	var extra []*os.File
	if (t.Readiness != nil && t.Readiness.Notify) || (t.Liveness != nil && t.Liveness.Watchdog > 0) {
		path := r.notifyPath(i.rec.Name, i.gen)
		if err := os.MkdirAll(filepath.Dir(path), 0o711); err != nil {
			return nil, nil, nil, fmt.Errorf("notify socket: %w", err)
		}
		os.Chmod(filepath.Dir(path), 0o711)
		sock, err := probes.ListenNotify(path, notifyHandler(rp, onNotify))
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
		rd, w, err := os.Pipe()
		if err != nil {
			rp.close()
			return nil, nil, nil, fmt.Errorf("notification descriptor: %w", err)
		}
		rp.fdRead, rp.fdWrite = rd, w
		// ExtraFiles[k] is descriptor 3+k in the instance; the ones
		// below the asked-for number stay closed.
		extra = make([]*os.File, t.Readiness.NotificationFD-2)
		extra[len(extra)-1] = w
	}
	return rp, env, extra, nil
}

// notifyHandler passes the sd_notify messages of rp's run from its
// process group to the watchdog and to onNotify, once the run has begun.
func notifyHandler(rp *runProbes, onNotify func(probes.Notify)) func(probes.Notify) {
	return func(n probes.Notify) {
		<-rp.started
		if !n.FromProcessGroup(rp.pgid) {
			return
		}
		if wd := rp.watchdog; wd != nil {
			switch {
			case n.WatchdogTrigger:
				wd.Trigger()
			case n.Watchdog:
				wd.Feed()
			}
			if n.WatchdogTimeout > 0 {
				wd.SetTimeout(n.WatchdogTimeout)
			}
			if n.ExtendTimeout > 0 {
				wd.Extend(n.ExtendTimeout)
			}
		}
		onNotify(n)
	}
}

// adoptNotify takes over the notify socket of a run handed over (f, at
// path) for rp.
func (r *runner) adoptNotify(path string, f *os.File, rp *runProbes, onNotify func(probes.Notify)) (*probes.NotifySocket, error) {
	return probes.NotifyFromFile(path, f, notifyHandler(rp, onNotify))
}

// beginProbes starts watching i's run, whose process (pid, leading its
// group) has just started: report receives probe and watchdog reports,
// ready is called when the s6 descriptor says ready. It reports whether
// the run counts as started at once (no startup probe). resume, when not
// nil, is the run as an agent handed it over: the probes go on from
// there (see Handoff). Loop goroutine.
func (r *runner) beginProbes(i *instance, rp *runProbes, pgid int, resume *HandoffRun, report func(probes.Report), ready func(why string)) (startupDone bool) {
	t := &i.spec.Template
	// Everything the notify goroutine reads after started is set before
	// it is closed: a WATCHDOG=1 sent at once must find the watchdog.
	rp.pgid = pgid
	if t.Liveness != nil && t.Liveness.Watchdog > 0 {
		rp.watchdog = probes.NewWatchdog(t.Liveness.Watchdog.D(), report)
	}
	close(rp.started)
	if rp.fdWrite != nil {
		rp.fdWrite.Close()
		rp.fdWrite = nil
	}
	if rp.fdRead != nil && t.Readiness != nil {
		fd := t.Readiness.NotificationFD
		rp.fdWatch = probes.WatchNotificationFD(rp.fdRead, func() {
			ready(fmt.Sprintf("the instance wrote a newline to descriptor %d", fd))
		})
		rp.fdRead = nil
	}
	cfg := probes.SetConfig{Report: report, Accuracy: probeAccuracy}
	var env []string // only exec probes run in the instance's environment
	for _, p := range []*units.Probe{t.Liveness, t.Readiness, t.Startup} {
		if p != nil && p.Exec != nil {
			env = r.environ(i)
			break
		}
	}
	cfg.Liveness = r.prober(t, t.Liveness, env)
	cfg.Readiness = r.prober(t, t.Readiness, env)
	cfg.Startup = r.prober(t, t.Startup, env)
	if resume != nil {
		// Initial delays count from the run's start, not the handoff's.
		ran := time.Since(resume.Started)
		for _, p := range []*probes.Probe{cfg.Liveness, cfg.Readiness, cfg.Startup} {
			if p != nil {
				p.Spec.InitialDelay = max(p.Spec.InitialDelay-ran, 0)
			}
		}
		if resume.StartupDone {
			cfg.Startup = nil
		}
		cfg.Ready = resume.Ready
	}
	if cfg.Liveness != nil || cfg.Readiness != nil || cfg.Startup != nil {
		rp.set = probes.NewSet(cfg)
		rp.set.Start()
	}
	return t.Startup == nil || cfg.Startup == nil || (resume != nil && resume.StartupDone)
}

// prober adapts a unit's probe block to a probes.Probe; nil for none and
// for the mechanisms that are not periodic (notify, watchdog, s6).
func (r *runner) prober(t *units.Template, p *units.Probe, env []string) *probes.Probe {
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
		return &probes.Probe{Spec: spec, Prober: &probes.Exec{Command: p.Exec.Command, Run: r.commandRunner(t, env)}}
	}
	return nil
}

// commandRunner runs exec probes through the reaper (nothing in the agent
// may call Wait), in the instance's environment, working directory and
// credentials, in a process group of their own that is killed when the
// probe's time is up.
func (r *runner) commandRunner(t *units.Template, env []string) probes.CommandRunner {
	dir, user, group := t.WorkingDir, t.User, t.Group
	return func(ctx context.Context, argv []string) (int, []byte, error) {
		cred, err := Credential(user, group)
		if err != nil {
			return 0, nil, err
		}
		rd, w, err := os.Pipe()
		if err != nil {
			return 0, nil, err
		}
		defer rd.Close()
		done := make(chan ExitStatus, 1)
		proc, err := r.reaper.Start(ProcSpec{
			Path: argv[0], Args: argv, Env: env, Dir: dir, Credential: cred, Stdout: w, Stderr: w,
		}, func(st ExitStatus) { done <- st })
		w.Close()
		if err != nil {
			return 0, nil, err
		}
		out := make(chan []byte, 1)
		go func() {
			b, _ := io.ReadAll(io.LimitReader(rd, probes.MaxOutput))
			io.Copy(io.Discard, rd) // do not block a chatty command on a full pipe
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
		rd.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
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
	if rp.fdWatch != nil {
		rp.fdWatch.Stop()
	}
	if rp.notify != nil {
		rp.notify.Close() // and removes its path
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
// ignored. Loop goroutine.
func (r *runner) endProbes(i *instance) {
	rp := i.probes
	i.probes = nil
	if rp == nil {
		return
	}
	r.bg.Go(rp.close)
}
