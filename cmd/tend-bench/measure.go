package main

// The measurements, run the same way under every supervisor.

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"time"
)

// session is one supervisor running on its own directory. It is used from
// one goroutine; close is idempotent.
type session struct {
	cmd     *exec.Cmd
	done    chan struct{} // closed when cmd has been waited for
	t0      int64         // CLOCK_MONOTONIC just before the start, ns
	stopAll func(context.Context, *exec.Cmd) error
	exe     string // the workload, to tell it from the supervisor side
	logPath string
	closed  bool
}

// start lays out dir for w under p and starts p's supervisor, its output
// going to dir/supervisor.log.
func start(p peer, dir string, w spec) (*session, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	cmd, stopAll, err := p.Setup(dir, w)
	if err != nil {
		return nil, fmt.Errorf("%s: lay out %s: %w", p.Name(), dir, err)
	}
	logPath := filepath.Join(dir, "supervisor.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child keeps its own copy
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group: a Ctrl-C reaches this program, which then
	// stops everything in order. What Setup set (a host's namespaces)
	// stays.
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	s := &session{cmd: cmd, done: make(chan struct{}), stopAll: stopAll, exe: w.stamp, logPath: logPath}
	s.t0 = monotonicNow()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: start %s: %w", p.Name(), cmd.Path, err)
	}
	go func() {
		cmd.Wait()
		close(s.done)
	}()
	return s, nil
}

// side lists the supervisor's own processes (root and every descendant
// that is not a workload); work lists the workloads.
func (s *session) side() []int {
	side, _, _ := tree(s.cmd.Process.Pid, s.exe)
	return side
}

func (s *session) work() []int {
	_, work, _ := tree(s.cmd.Process.Pid, s.exe)
	return work
}

// exited reports whether the supervisor's root process has ended.
func (s *session) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// failed decorates err with the end of the supervisor's output.
func (s *session) failed(err error) error {
	data, _ := os.ReadFile(s.logPath)
	if len(data) > 600 {
		data = data[len(data)-600:]
	}
	if len(data) > 0 {
		return fmt.Errorf("%w; supervisor output ends: %q", err, data)
	}
	if s.exited() {
		return fmt.Errorf("%w (the supervisor exited: %v)", err, s.cmd.ProcessState)
	}
	return err
}

// close kills, by pid, every process the session started and waits for
// the supervisor's root, for at most a few seconds.
func (s *session) close() {
	if s.closed {
		return
	}
	s.closed = true
	killOurs()
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
	}
	reap()
}

// bench runs the measurements. Its methods are called from one goroutine.
type bench struct {
	cfg   config
	stamp string // the workload binary
	work  string // the private temp directory everything happens in
	out   io.Writer
	seq   int
}

func (b *bench) dir(p peer, what string) string {
	b.seq++
	return filepath.Join(b.work, fmt.Sprintf("%02d-%s-%s", b.seq, p.Name(), what))
}

func (b *bench) progress(format string, args ...any) {
	fmt.Fprintf(b.out, "  "+format+"\n", args...)
}

// entrant is one run of runAll's rounds: a supervisor, or another layout
// of tend's, and the result its figures go into.
type entrant struct {
	p peer
	r *supervisorResult
	// replicas: tend with the N workloads as the replicas of one unit, a
	// layout no peer has; it takes only fan-out and memory, kept under
	// fanoutReplicasID and pssReplicasID.
	replicas bool
}

// ids are the figure IDs e takes at size n (top: the largest).
func (e entrant) ids(n int, top bool) []string {
	switch {
	case e.replicas:
		return []string{fanoutReplicasID(n), pssReplicasID(n)}
	case top:
		return []string{fanoutID(n), pssID(n), idleID(n), stopID(n)}
	}
	return []string{fanoutID(n), pssID(n)}
}

// runAll takes every figure for every entrant. They take turns, one run
// each per round, so that other work on the machine falls on all of them
// alike. A failed measurement is recorded as an error for its figures and
// the next one is tried.
func (b *bench) runAll(ctx context.Context, es []entrant) {
	fmt.Fprintf(b.out, "restart latency, %d restarts\n", b.cfg.restarts)
	for _, e := range es {
		if ctx.Err() != nil {
			return
		}
		if e.replicas {
			continue // one workload: the same as the unit-file layout
		}
		if err := b.restart(ctx, e.p, e.r); err != nil {
			e.r.fail(err, "restart_p50", "restart_p99")
			b.progress("%-12s failed: %v", e.p.Name(), err)
		}
	}
	ns := slices.Sorted(slices.Values(b.cfg.ns))
	for i, n := range ns {
		top := i == len(ns)-1
		// Fan-out, memory and stop are single events, so each is the
		// median of a few runs; idle CPU is measured in the last.
		got := make([]map[string][]float64, len(es))
		errs := make([]error, len(es))
		for rep := range b.cfg.reps {
			fmt.Fprintf(b.out, "N=%d, run %d of %d\n", n, rep+1, b.cfg.reps)
			for j, e := range es {
				if ctx.Err() != nil {
					return
				}
				if errs[j] != nil {
					continue
				}
				f, err := b.fleet(ctx, e.p, n, top && !e.replicas, top && !e.replicas && rep == b.cfg.reps-1)
				if err != nil {
					errs[j] = err
					b.progress("%-12s failed: %v", e.p.Name(), err)
					continue
				}
				if e.replicas {
					f = map[string]float64{fanoutReplicasID(n): f[fanoutID(n)], pssReplicasID(n): f[pssID(n)]}
				}
				if got[j] == nil {
					got[j] = map[string][]float64{}
				}
				for id, v := range f {
					got[j][id] = append(got[j][id], v)
				}
				ids := e.ids(n, top)
				msg := fmt.Sprintf("%-12s fan-out %s s, PSS %s MB", e.p.Name(), fmtNum(f[ids[0]]), fmtNum(f[ids[1]]))
				if v, ok := f[idleID(n)]; ok {
					msg += fmt.Sprintf(", idle CPU %s ms per minute", fmtNum(v))
				}
				if v, ok := f[stopID(n)]; ok {
					msg += fmt.Sprintf(", stop %s ms", fmtNum(v))
				}
				b.progress("%s", msg)
			}
		}
		for j, e := range es {
			for id, vs := range got[j] {
				if id == backgroundID {
					e.r.BackgroundBusy = &vs[0]
					continue
				}
				slices.Sort(vs)
				e.r.set(id, median(vs))
			}
			if errs[j] != nil {
				e.r.fail(errs[j], e.ids(n, top)...)
			}
		}
	}
}

// median of sorted values (the mean of the middle two for an even count).
func median(sorted []float64) float64 {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// restart: one workload that exits 1 at once; the gaps between its
// consecutive starts.
func (b *bench) restart(ctx context.Context, p peer, r *supervisorResult) error {
	dir := b.dir(p, "restart")
	w := spec{stamp: b.stamp, file: filepath.Join(dir, "starts"), mode: modeExit, n: 1}
	s, err := start(p, dir, w)
	if err != nil {
		return err
	}
	defer s.close()
	within := time.Duration(b.cfg.restarts)*3*time.Second + 20*time.Second
	stamps, err := waitStamps(ctx, w.file, b.cfg.restarts+1, within)
	if err != nil {
		return s.failed(fmt.Errorf("restart: %w", err))
	}
	gaps := gapsMS(stamps[:b.cfg.restarts+1])
	slices.Sort(gaps)
	r.set("restart_p50", percentile(gaps, 0.50))
	r.set("restart_p99", percentile(gaps, 0.99))
	b.progress("%-12s p50 %s ms, p99 %s ms", p.Name(), fmtNum(r.Figures["restart_p50"]), fmtNum(r.Figures["restart_p99"]))
	return nil
}

// fleet: n sleeping workloads; the time from the supervisor's start to the
// n-th start, then the supervisor side's memory; when idle, its idle CPU;
// when top, the stop of all n. It returns the figures by metric ID.
func (b *bench) fleet(ctx context.Context, p peer, n int, top, idle bool) (map[string]float64, error) {
	dir := b.dir(p, fmt.Sprintf("n%d", n))
	w := spec{stamp: b.stamp, file: filepath.Join(dir, "starts"), mode: modeSleep, n: n}
	s, err := start(p, dir, w)
	if err != nil {
		return nil, err
	}
	defer s.close()
	f := map[string]float64{}

	within := 30*time.Second + time.Duration(n)*60*time.Millisecond
	stamps, err := waitStamps(ctx, w.file, n, within)
	if err != nil {
		return nil, s.failed(fmt.Errorf("fan-out to %d: %w", n, err))
	}
	f[fanoutID(n)] = float64(nthStamp(stamps, n)-s.t0) / 1e9

	// Memory once the supervisor has finished its start-up work.
	if _, err := settle(ctx, s.side, 20*time.Second); err != nil {
		return nil, err
	}
	kb, err := pssKB(s.side())
	if err != nil {
		return nil, s.failed(fmt.Errorf("memory at %d: %w", n, err))
	}
	f[pssID(n)] = float64(kb) / 1024

	if idle {
		// The supervisor side's on-CPU time over the window.
		side := s.side()
		before, precise := cpuNS(side)
		ticksBefore := cpuTicks(side)
		busy0, total0 := machineBusy()
		t := time.Now()
		if err := sleepCtx(ctx, b.cfg.idle); err != nil {
			return nil, err
		}
		after, precise2 := cpuNS(side)
		ticksAfter := cpuTicks(side)
		window := time.Since(t)
		// The whole machine's busy share meanwhile, this supervisor's idle
		// work included: other work skews single events such as fan-out.
		if busy1, total1 := machineBusy(); total1 > total0 {
			f[backgroundID] = 100 * float64(busy1-busy0) / float64(total1-total0)
		}
		var ms float64
		if precise && precise2 {
			ms = float64(delta(before, after)) / 1e6
		} else {
			ms = float64(delta(ticksBefore, ticksAfter)) * 1000 / float64(clockTicks)
		}
		f[idleID(n)] = ms * float64(time.Minute) / float64(window)
	}
	if !top {
		return f, nil
	}

	// Stop all: from the request to the last workload's exit.
	work := s.work()
	if len(work) != n {
		return nil, s.failed(fmt.Errorf("stop: %d workloads running, want %d", len(work), n))
	}
	t1 := time.Now()
	if err := s.stopAll(ctx, s.cmd); err != nil {
		return nil, s.failed(fmt.Errorf("stop all: %w", err))
	}
	t2, err := waitGone(ctx, work, 60*time.Second)
	if err != nil {
		return nil, s.failed(fmt.Errorf("stop: %w", err))
	}
	f[stopID(n)] = float64(t2.Sub(t1).Microseconds()) / 1000
	return f, nil
}

// backgroundID carries the machine's busy share during the idle window out
// of fleet; it is not a figure of the supervisor.
const backgroundID = "background_busy"

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times: 100 on every
// Linux this runs on.
const clockTicks = 100

// percentile of sorted values, nearest rank below.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p * float64(len(sorted)-1))
	return sorted[i]
}
