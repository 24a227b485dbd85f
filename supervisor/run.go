package supervisor

import (
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/tendhq/tend/probes"
	"github.com/tendhq/tend/units"
)

// The lifecycle's transitions, as the loop makes them (lifecycle.go draws
// them; decide chooses after a run). Loop goroutine only.

// create makes a new instance of spec for owner (the unit, or a cron
// run's job) in slot, on this host, and queues its start.
func (s *Supervisor) create(spec *units.Unit, owner string, kind units.Kind, slot int) *instance {
	s.noteSpec(spec)
	if kind == units.KindCron {
		kind = units.KindJob
	}
	now := s.clock.Now()
	i := &instance{
		spec: spec,
		rec: instanceRecord{
			Name:        s.newName(owner, slot),
			Unit:        owner,
			Kind:        kind,
			Slot:        slot,
			Host:        s.opt.Host,
			SpecVersion: spec.Version,
			Labels:      spec.Template.Labels, // replaced, never changed, when relabelled
			Created:     now,
			Rollout:     spec.RestartedAt,
			Life:        LifePending,
			State:       State{Phase: PhaseWaiting, Reason: "Pending"},
		},
	}
	if j := s.jobs[owner]; kind == units.KindJob && j != nil {
		i.rec.Indexed = j.rec.Indexed
	}
	s.add(i)
	s.save(i)
	s.queueStart(i)
	return i
}

// newName derives a name for a new instance of owner in slot from the
// owner's generation counter, which it moves on (units keep theirs in
// their record, jobs in theirs).
func (s *Supervisor) newName(owner string, slot int) string {
	next := func() uint64 {
		if j := s.jobs[owner]; j != nil {
			j.rec.Gen++
			s.saveJob(j)
			return j.rec.Gen
		}
		r := s.unitRecs[owner]
		r.Gen++
		s.unitRecs[owner] = r
		s.opt.Store.put(bucketUnits, owner, r)
		return r.Gen
	}
	for {
		name := instanceName(owner, slot, s.opt.Host, next())
		if s.instances[name] == nil {
			return name
		}
	}
}

// queueStart has the next pass start i.
func (s *Supervisor) queueStart(i *instance) {
	if !i.queued {
		i.queued = true
		s.starts = append(s.starts, i)
	}
}

// startQueued starts the queued instances that still want to run, at most
// maxStartsPerPass of them; the rest wait for the next pass. It returns
// how many it started (or tried to).
func (s *Supervisor) startQueued() int {
	list := s.starts
	if len(list) > maxStartsPerPass {
		list, s.starts = list[:maxStartsPerPass], append([]*instance(nil), list[maxStartsPerPass:]...)
	} else {
		s.starts = nil
	}
	todo := list[:0:0]
	for _, i := range list {
		i.queued = false
		if s.instances[i.rec.Name] == i && !i.rec.Terminating && (i.rec.Life == LifePending || i.rec.Life == LifeBackOff) && s.mayStartFenced(i) {
			todo = append(todo, i)
		}
	}
	s.startAll(todo)
	return len(todo)
}

// spawners bounds the starts that run at once, and is how many spawner
// threads the Reaper forks from (see spawner). Go lets forks run in
// parallel, and the rest of a start (its log files, its pipe, the exec's
// own work in the child) overlaps too: with two cores, two spawners
// start 1000 processes in 260 ms a batch of 500 where one takes 340.
var spawners = min(runtime.GOMAXPROCS(0), 4)

// startAll begins a run of each instance. The processes are spawned in
// parallel; the loop waits for all of them before it takes the results,
// so instance state stays the loop's alone (spawn reads only what the
// loop does not change meanwhile).
func (s *Supervisor) startAll(todo []*instance) {
	if s.quitting || len(todo) == 0 {
		return
	}
	type result struct {
		proc *Proc
		rl   *RunLog
		rp   *runProbes
		err  error
	}
	results := make([]result, len(todo))
	envs := make([][]string, len(todo))
	journal := false
	for k, i := range todo {
		if i.restartTimer != nil {
			i.restartTimer()
			i.restartTimer = nil
		}
		if i.rec.Attempts > 0 && !i.rec.Parked {
			i.rec.RestartCount++
		}
		i.rec.Parked = false
		i.rec.Attempts++
		i.gen++
		envs[k] = s.runner.environ(i) // on the loop: it reads loop state
		journal = journal || s.runner.shimmed(i)
	}
	if journal {
		// A job's attempts are on disk before they start: an agent
		// killed before their starts are written then leaves records
		// that a later agent finds the attempts' logs newer than
		// (laterRun), instead of no record, and a job that forgot what
		// it had begun.
		if err := s.opt.Store.Flush(); err != nil {
			s.log.Error("writing the store before starting a job's attempts", "err", err)
		}
	}
	spawn := func(k int) {
		i, gen := todo[k], todo[k].gen
		r := &results[k]
		r.proc, r.rl, r.rp, r.err = s.runner.spawn(i, envs[k], func(st ExitStatus) {
			s.post(func() { s.exited(i, gen, st) })
		}, func(n probes.Notify) {
			s.post(func() { s.notified(i, gen, n) })
		})
	}
	if len(todo) == 1 {
		spawn(0)
	} else {
		var wg sync.WaitGroup
		next := make(chan int)
		for range min(spawners, len(todo)) {
			wg.Go(func() {
				for k := range next {
					spawn(k)
				}
			})
		}
		for k := range todo {
			next <- k
		}
		close(next)
		wg.Wait()
	}
	for k, i := range todo {
		r := results[k]
		s.runStarted(i, r.proc, r.rl, r.rp, r.err)
	}
}

// from is the events' source for what happens to a process on this host.
func (s *Supervisor) from() string { return "supervisor, " + s.opt.Host }

// runStarted takes the result of spawning i.
func (s *Supervisor) runStarted(i *instance, proc *Proc, rl *RunLog, rp *runProbes, err error) {
	now := s.clock.Now()
	if err != nil {
		s.events.Record(now, KindInstance, i.rec.Name, Warning, "Failed", s.from(), "Error: "+err.Error())
		s.log.Error("start failed", "instance", i.rec.Name, "err", err)
		s.runEnded(i, runEnd{StartErr: err})
		return
	}
	i.proc, i.runlog, i.intent = proc, rl, stopNone
	i.notifyStatus, i.mainPID = "", 0
	i.probes = rp
	i.rec.Life = LifeRunning
	i.rec.State = State{Phase: PhaseRunning, Started: proc.Started()}
	i.rec.PID, i.rec.PIDStart = proc.Pid(), proc.startTicks
	i.rec.RunGen, i.rec.Cgroup, i.rec.OutFD = i.gen, proc.Cgroup(), rl.inInstance
	i.rec.LogRun = rl.index.run
	i.rec.Shim = s.runner.shimmed(i)
	i.rec.Ready = false
	gen := i.gen
	i.rec.StartupDone = s.runner.beginProbes(i, rp, proc.Pid(), nil, func(r probes.Report) {
		s.post(func() { s.probeReport(i, gen, r) })
	}, func(why string) {
		s.post(func() { s.markReady(i, gen, why) })
	})
	// Its unit need not plan again: to a planner a started instance and
	// one about to start are alike, except in a rollout (rolledReady).
	s.save(i)
	s.rolledReady(i)
	s.events.Record(now, KindInstance, i.rec.Name, Normal, "Started", s.from(), "Started "+filepath.Base(i.spec.Template.Command[0]))
	s.warnVersion(i, now)
}

// exited handles the end of run gen of i.
func (s *Supervisor) exited(i *instance, gen uint64, st ExitStatus) {
	if i.gen != gen || i.proc == nil {
		return
	}
	proc := i.proc
	if s.followMainPID(i, gen, proc) {
		return
	}
	oom := s.runner.cgroups.oomKills(proc.Cgroup()) // before the cgroup goes
	// What is left of the process group goes with its leader, as it does
	// when a container's init ends.
	proc.SignalGroup(syscall.SIGKILL)
	s.runner.endCgroup(i.rec.Name, proc)
	s.runner.endProbes(i)
	i.runlog.Close()
	if i.stopTimer != nil {
		i.stopTimer()
		i.stopTimer = nil
	}
	i.proc, i.runlog = nil, nil
	i.rec.PID, i.rec.OutFD, i.rec.Ready, i.rec.StartupDone = 0, 0, false, false
	intent := i.intent
	i.intent = stopNone
	if i.rec.Terminating {
		intent = stopDelete
	} else if intent == stopNone && s.fencing(i) && i.fenceUntil > 0 && s.opt.Fence.Now() >= i.fenceUntil {
		intent = stopLease // its shim ended it, at its lease's end
	}
	foreign := proc.Foreign()
	// A shim's own status is its command's too (128 + a signal's number),
	// but only its file has the whole of it; without the file (the shim
	// was killed), the shim's end is what is known.
	if end, ok := s.shimEnd(i, proc.Started(), intent); ok {
		if end.StartErr != nil {
			s.runEnded(i, end)
			return
		}
		st, foreign = end.Exit, false
	}
	if foreign {
		s.log.Info("instance ended; its exit status is not known (taken over from an earlier agent)", "instance", i.rec.Name, "pid", proc.Pid())
		s.runEnded(i, runEnd{Unknown: true, Why: msgRunNotObserved, Started: proc.Started(), Intent: intent})
		return
	}
	write, sum := i.exitLog.note(s.clock.Now(), st.ExitCode(), st.SignalName())
	s.logFolded(i, sum)
	if write {
		s.log.Info("instance exited", "instance", i.rec.Name, "pid", proc.Pid(), "exit_code", st.ExitCode(), "signal", st.SignalName())
	}
	s.runEnded(i, runEnd{Exit: st, Started: proc.Started(), Intent: intent, OOMKills: oom})
}

// shimEnd is the end of i's run as its shim wrote it (RunShim); ok is
// false when it wrote none: the run had no shim, or the shim was killed.
func (s *Supervisor) shimEnd(i *instance, started time.Time, intent stopIntent) (end runEnd, ok bool) {
	r := &i.rec
	if !r.Shim {
		return runEnd{}, false
	}
	r.Shim = false
	kept, err := readShimStatus(s.runner.shimStatusPath(r.Name), r.RunGen)
	if err != nil {
		s.log.Warn("the attempt's shim left no exit status", "instance", r.Name, "err", err)
		return runEnd{}, false
	}
	if kept.StartErr != nil {
		s.events.Record(s.clock.Now(), KindInstance, r.Name, Warning, "Failed", s.from(), "Error: "+kept.StartErr.Error())
		return runEnd{StartErr: kept.StartErr, Intent: intent}, true
	}
	return runEnd{Exit: kept.Exit, Started: started, Intent: intent}, true
}

// runEnded applies decide's verdict on a run that ended (or could not
// start).
func (s *Supervisor) runEnded(i *instance, end runEnd) {
	now := s.clock.Now()
	d := decide(end, ruleOf(i.spec), i.rec.Failures, i.rec.StartLimit, now)
	r := &i.rec
	r.Failures, r.StartLimit = d.Failures, d.Limit
	if d.Failed {
		r.FailedRuns++
		r.LastFailure = now
	}
	ran := end.StartErr == nil
	ended := State{Phase: PhaseTerminated, Reason: "StartError", ExitCode: 128, Finished: now}
	switch {
	case end.Unknown:
		// As Kubernetes' ContainerStatusUnknown: the facts are not known,
		// and the exit code says so (-1, shown as "unknown").
		why := cmpOr(end.Why, msgExitedUnobserved)
		ended = State{Phase: PhaseTerminated, Reason: reasonUnknown, Message: why,
			ExitCode: -1, Started: end.Started, Finished: now}
		if end.Intent == stopNone {
			s.events.Record(now, KindInstance, r.Name, Warning, "Exited", s.from(), "Process ended: "+why)
		}
	case ran:
		st := end.Exit
		ended = State{
			Phase:    PhaseTerminated,
			Reason:   st.Reason(),
			ExitCode: st.ExitCode(),
			Signal:   st.SignalName(),
			Started:  end.Started,
			Finished: st.Time,
		}
		if end.OOMKills > 0 {
			// Kubernetes' reason; the exit code stays the run's own
			// (137 when the OOM killer's SIGKILL ended its main process).
			ended.Reason = reasonOOMKilled
		}
		if end.Intent == stopNone {
			typ := Normal
			if d.Failed {
				typ = Warning
			}
			s.events.Record(now, KindInstance, r.Name, typ, "Exited", s.from(), "Process exited: "+st.String()+oomText(end.OOMKills))
		}
	default:
		ended.Message = end.StartErr.Error()
	}
	s.dirtyOwner(i)
	switch d.Verdict {
	case verdictRemove:
		s.remove(i)
		return
	case verdictFinish:
		// Done for good: the run's end is the state, as kubectl shows a
		// completed container.
		r.Life, r.State = LifeExited, ended
	case verdictPark:
		if ran {
			// The facts stay; the reason is the agent's, not the run's.
			ended.Reason, ended.Message = reasonAgentShutdown, "the agent stopped; the next agent starts it again"
			r.LastState = ended
		}
		r.Parked = true
		r.Life = LifePending
		r.State = State{Phase: PhaseWaiting, Reason: "Pending", Message: "the agent stopped"}
	case verdictRestart:
		if ran {
			switch end.Intent {
			case stopLease:
				ended.Reason, ended.Message = reasonLeaseEnded, "the exclusive unit's lease ended; the fence stopped the run"
			case stopAsked:
				ended.Reason, ended.Message = reasonRestarted, "restarted by request (tend restart)"
			}
			r.LastState = ended
		}
		if d.Delay <= 0 {
			r.Life = LifePending
			r.State = State{Phase: PhaseWaiting, Reason: "Pending"}
			s.queueStart(i)
			break
		}
		r.Life = LifeBackOff
		r.State = State{Phase: PhaseWaiting, Reason: d.Reason,
			Message: fmt.Sprintf("back-off %s restarting failed instance", units.Duration(d.Delay))}
		if ran {
			s.events.Record(now, KindInstance, r.Name, Warning, "BackOff", s.from(), "Back-off restarting failed instance")
		}
		s.armRestart(i, d.Delay)
	}
	s.save(i)
}

// armRestart ends i's back-off after delay.
func (s *Supervisor) armRestart(i *instance, delay time.Duration) {
	gen := i.gen
	i.restartAt = s.clock.Now().Add(delay)
	i.restartTimer = s.clock.AfterFunc(delay, func() {
		s.post(func() {
			if s.instances[i.rec.Name] == i && i.gen == gen && i.rec.Life == LifeBackOff {
				i.restartTimer = nil
				s.queueStart(i)
			}
		})
	})
}

// stop ends the running process: stop_signal to its group, SIGKILL to the
// group after stop_timeout. intent says what follows its exit; message,
// when not "", is the Killing event's text. A stop for deletion or
// shutdown overrides one for a restart; stopping twice signals once.
func (s *Supervisor) stop(i *instance, intent stopIntent, message string) {
	s.stopWithin(i, intent, message, i.spec.Template.StopTimeout.D())
}

// stopWithin is stop with SIGKILL after timeout rather than stop_timeout.
func (s *Supervisor) stopWithin(i *instance, intent stopIntent, message string, timeout time.Duration) {
	if i.proc == nil {
		return
	}
	if i.rec.Life == LifeStopping {
		if intent != stopRestart && intent != stopLease && intent != stopAsked {
			i.intent = intent
		}
		return
	}
	i.intent = intent
	i.rec.Life = LifeStopping
	t := &i.spec.Template
	sig := t.StopSignal
	if message == "" {
		message = fmt.Sprintf("Stopping instance %s (%s, then SIGKILL after %s)", i.rec.Name, units.SignalName(syscall.Signal(sig)), timeout)
	}
	s.events.Record(s.clock.Now(), KindInstance, i.rec.Name, Normal, "Killing", s.from(), message)
	if err := i.proc.SignalGroup(syscall.Signal(sig)); err != nil {
		s.log.Warn("signal failed", "instance", i.rec.Name, "err", err)
	}
	s.armKill(i, timeout)
	s.touch(i)
}

// armKill sends SIGKILL to i's run after timeout, unless it has ended.
func (s *Supervisor) armKill(i *instance, timeout time.Duration) {
	gen := i.gen
	i.stopAt = s.clock.Now().Add(timeout)
	i.stopTimer = s.clock.AfterFunc(timeout, func() {
		s.post(func() {
			if i.gen == gen && i.proc != nil {
				s.log.Warn("stop timeout; killing the process group", "instance", i.rec.Name, "pid", i.proc.Pid())
				i.proc.SignalGroup(syscall.SIGKILL)
			}
		})
	})
}

// delete stops the instance (if running) and removes it once stopped.
func (s *Supervisor) delete(i *instance, why string) {
	if i.rec.Terminating {
		return
	}
	i.rec.Terminating = true
	s.save(i)
	s.dirtyOwner(i)
	s.log.Info("deleting instance", "instance", i.rec.Name, "why", why)
	if i.proc == nil {
		s.remove(i)
		return
	}
	s.stop(i, stopDelete, "")
}

// logFolded writes the summary of the exit lines of i that were folded
// (see logFold), if any.
func (s *Supervisor) logFolded(i *instance, sum folded) {
	if sum.n > 0 {
		s.log.Info("instance exited repeatedly", "instance", i.rec.Name, "exit_code", sum.code, "signal", sum.signal,
			"times", sum.n, "over", sum.final.Sub(sum.first).Round(time.Millisecond).String())
	}
}

// remove forgets the instance entirely. A job keeps what its attempt did.
func (s *Supervisor) remove(i *instance) {
	s.logFolded(i, i.exitLog.flush())
	if j := s.jobs[i.rec.Unit]; j != nil && i.rec.Kind == units.KindJob {
		j.rec.LostFailures += i.rec.FailedRuns
		if i.rec.Life == LifeExited && i.rec.State.ExitCode == 0 {
			j.rec.LostSucceeded++
			if j.rec.Indexed {
				j.rec.Done.add(i.rec.Slot)
			}
		}
		s.saveJob(j)
	}
	for _, stop := range []func() bool{i.restartTimer, i.stopTimer} {
		if stop != nil {
			stop()
		}
	}
	i.restartTimer, i.stopTimer = nil, nil
	s.dirtyOwner(i)
	s.touchOwner(i)
	s.unindex(i)
	delete(s.instances, i.rec.Name)
	delete(s.fenced, i)
	for unit := range s.full {
		s.dirty[unit] = true // room for one of theirs now
	}
	s.full = emptied(s.full)
	delete(s.touched, i.rec.Name)
	s.gone = append(s.gone, i.rec.Name)
	s.hostsChanged = true
	s.opt.Store.del(bucketInstances, i.rec.Name)
	s.events.Forget(KindInstance, i.rec.Name)
	s.runner.removeLogs(i.rec.Name)
}

// probeReport takes a probe's report for run gen of i.
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
		s.stop(i, stopRestart, fmt.Sprintf("Container %s failed %s probe, will be restarted", i.spec.Name, what))
	case r.Kind == probes.Readiness && r.Changed:
		if r.Healthy {
			s.markReady(i, gen, "readiness probe succeeded")
		} else if i.rec.Ready {
			i.rec.Ready = false
			s.save(i)
		}
	case r.Kind == probes.Startup && r.Changed && r.Healthy:
		i.rec.StartupDone = true
		s.save(i)
		s.rolledReady(i)
	}
}

// rolledReady plans i's unit again when it is in a rollout restart and i
// may have become Ready: the old instance i replaces goes then.
func (s *Supervisor) rolledReady(i *instance) {
	if i.spec.RestartedAt != "" && i.ready() {
		s.dirtyOwner(i)
	}
}

// markReady marks run gen of i ready (readiness probe, READY=1 or s6).
func (s *Supervisor) markReady(i *instance, gen uint64, why string) {
	if i.gen != gen || i.proc == nil || i.rec.Ready {
		return
	}
	i.rec.Ready = true
	s.save(i) // kept for an agent that takes the run over
	s.rolledReady(i)
	s.log.Debug("instance ready", "instance", i.rec.Name, "why", why)
}

// notified takes an sd_notify message from run gen of i.
func (s *Supervisor) notified(i *instance, gen uint64, n probes.Notify) {
	if i.gen != gen || i.proc == nil {
		return
	}
	if _, ok := n.Raw["STATUS"]; ok && i.notifyStatus != n.Status {
		i.notifyStatus = n.Status
		s.touch(i)
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
// reports whether it did.
func (s *Supervisor) followMainPID(i *instance, gen uint64, old *Proc) bool {
	main := i.mainPID
	i.mainPID = 0
	if main == 0 || main == old.Pid() || i.rec.Life == LifeStopping {
		return false
	}
	proc, err := s.opt.Reaper.Adopt(main, old.Pgid(), func(st ExitStatus) {
		s.post(func() { s.exited(i, gen, st) })
	})
	if err != nil {
		s.log.Info("announced main process is gone", "instance", i.rec.Name, "pid", main, "err", err)
		return false
	}
	proc.cgroup = old.cgroup // the daemon forked within the run's cgroup; only the loop has proc yet
	i.proc = proc
	i.rec.PID, i.rec.PIDStart = main, proc.startTicks
	s.save(i)
	s.events.Record(s.clock.Now(), KindInstance, i.rec.Name, Normal, "MainPID", s.from(),
		fmt.Sprintf("Process %d exited; %d (MAINPID=) is now the main process", old.Pid(), main))
	return true
}

// wakeAt sets a wall-clock timer that makes unit dirty at t, replacing
// w unless w already fires at t or earlier (and not yet).
func (s *Supervisor) wakeAt(w *wakeTimer, unit string, t, now time.Time) {
	if w.stop != nil && !w.at.After(t) && w.at.After(now) {
		return
	}
	if w.stop != nil {
		w.stop()
	}
	w.at = t
	// A timer counts monotonic time, the target is wall time: when it
	// fires, the pass that follows sets it again if the wall clock has not
	// got there yet.
	w.stop = s.clock.AfterFunc(t.Sub(now), func() {
		s.post(func() {
			if w.at.Equal(t) {
				w.stop, w.at = nil, time.Time{}
			}
			s.dirty[unit] = true
		})
	})
}
