package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"github.com/tendhq/tend/units"
)

// The Supervisor serves the local API. Reads come from the view, which the
// loop publishes after each pass, and never wait for the loop; changes run
// on the loop (call) and return once the pass that made them has planned
// and published what follows, so the next read shows it. Unit files are
// written by the UnitWriter on the caller's goroutine, never on the loop.
var _ Backend = (*Supervisor)(nil)

func errNotFound(kind, name string) error {
	return fmt.Errorf("%s %q: %w", kind, name, ErrNotFound)
}

// Instances implements Backend.
func (s *Supervisor) Instances(sel units.Selector) []Instance { return s.view.listInstances(sel) }

// Instance implements Backend.
func (s *Supervisor) Instance(name string) (Instance, error) {
	if in, ok := s.view.instance(name); ok {
		return in, nil
	}
	return Instance{}, errNotFound("instance", name)
}

// elsewhere says that name is an instance of another host, or nil.
func (s *Supervisor) elsewhere(name string) error {
	if in, ok := s.view.instance(name); ok && !s.view.local(name) {
		return fmt.Errorf("instance %q runs on host %s, not on %s: %w", name, in.Host, s.opt.Host, ErrInvalid)
	}
	return nil
}

// DeleteInstance implements Backend.
func (s *Supervisor) DeleteInstance(name string) error {
	if err := s.elsewhere(name); err != nil {
		return err
	}
	err := errNotFound("instance", name)
	if cerr := s.call(func() {
		if i := s.instances[name]; i != nil {
			err = nil
			s.delete(i, whyRequested)
		}
	}); cerr != nil {
		return cerr
	}
	return err
}

// reasonRestarted is the Last State reason of a run ended by tend restart.
const reasonRestarted = "Restarted"

// RestartInstance implements Backend.
func (s *Supervisor) RestartInstance(name string) (Instance, error) {
	if err := s.elsewhere(name); err != nil {
		return Instance{}, err
	}
	err := errNotFound("instance", name)
	var out Instance
	if cerr := s.call(func() {
		i := s.instances[name]
		if i == nil {
			return
		}
		switch {
		case i.rec.Terminating:
			err = fmt.Errorf("instance %q is being deleted: %w", name, ErrConflict)
		case i.rec.Life == LifeStopping:
			err = fmt.Errorf("instance %q is stopping already: %w", name, ErrConflict)
		case i.rec.Life == LifeRunning:
			err = nil
			s.stop(i, stopAsked, fmt.Sprintf("Restarting instance %s by request (%s, then SIGKILL after %s)",
				name, units.SignalName(syscall.Signal(i.spec.Template.StopSignal)), i.spec.Template.StopTimeout))
		case i.rec.Life == LifeBackOff:
			// Waiting out a back-off: start it now, as systemctl restart
			// does for a unit in its restart delay.
			err = nil
			s.queueStart(i)
		default:
			err = fmt.Errorf("instance %q is %s: it has no run to restart: %w", name, i.status(), ErrConflict)
		}
		out = i.publish()
	}); cerr != nil {
		return Instance{}, cerr
	}
	return out, err
}

// applyLabels changes l as kubectl label does: without overwrite, giving
// an existing key a different value is refused.
func applyLabels(l units.Labels, c LabelChange) (units.Labels, error) {
	out := l.Clone()
	if out == nil {
		out = units.Labels{}
	}
	keys := make([]string, 0, len(c.Set))
	for k := range c.Set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := c.Set[k]
		if err := validateLabel(k, v); err != nil {
			return nil, fmt.Errorf("label %s=%s: %v: %w", k, v, err, ErrInvalid)
		}
		if old, ok := out[k]; ok && old != v && !c.Overwrite {
			return nil, fmt.Errorf("'%s' already has a value (%s), and --overwrite is false: %w", k, old, ErrInvalid)
		}
		out[k] = v
	}
	for _, k := range c.Remove {
		delete(out, k)
	}
	return out, nil
}

// LabelInstance implements Backend. The answer shows the instance's
// ownership as the relabelling left it: released, adopted, or deleted as
// a surplus.
func (s *Supervisor) LabelInstance(name string, c LabelChange) (Instance, error) {
	if err := s.elsewhere(name); err != nil {
		return Instance{}, err
	}
	err := errNotFound("instance", name)
	if cerr := s.call(func() {
		i := s.instances[name]
		if i == nil {
			return
		}
		var l units.Labels
		if l, err = applyLabels(i.rec.Labels, c); err != nil {
			return
		}
		i.rec.Labels = l
		s.save(i)
		s.dirtyOwner(i)
		s.markAdopters(i)
	}); cerr != nil {
		return Instance{}, cerr
	}
	if err != nil {
		return Instance{}, err
	}
	if in, ok := s.view.instance(name); ok {
		return in, nil
	}
	return Instance{}, errNotFound("instance", name)
}

// Logs implements Backend.
func (s *Supervisor) Logs(ctx context.Context, name string, opts LogOptions) (io.ReadCloser, error) {
	inst, ok := s.view.instance(name)
	if !ok {
		return nil, errNotFound("instance", name)
	}
	if err := s.elsewhere(name); err != nil {
		return nil, err
	}
	if err := s.inJournal(inst, opts); err != nil {
		return nil, err
	}
	rc, err := ReadLog(ctx, s.runner.instanceLogDir(name), opts)
	if errors.Is(err, os.ErrNotExist) {
		if opts.Previous {
			return nil, fmt.Errorf("instance %q has no previous run: %w", name, ErrNotFound)
		}
		return nil, fmt.Errorf("instance %q has no output yet: %w", name, ErrNotFound)
	}
	return rc, err
}

// inJournal is the error for the logs of an instance whose unit sends
// its output to the journal alone, when its files hold none of it: the
// answer says where it is. (Files that hold output, from before the unit
// said so or from a host without journald, are read as any.)
func (s *Supervisor) inJournal(inst Instance, opts LogOptions) error {
	u, ok := s.view.unit(inst.Unit)
	if !ok || u.Template.Log != units.LogJournal.String() || !s.runner.journal.enabled() {
		return nil // the files have it, or will (without journald, they do)
	}
	file := currentLog
	if opts.Previous {
		file = previousLog
	}
	dir := s.runner.instanceLogDir(inst.Name)
	for _, f := range []string{file, file + rotatedSuffix} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err == nil && fi.Size() > 0 {
			return nil
		}
	}
	return fmt.Errorf("instance %q sends its output to the journal (its unit's log = %q): journalctl -t tend/%s: %w",
		inst.Name, units.LogJournal.String(), inst.Name, ErrInvalid)
}

// Units implements Backend. Jobs made by cron units are listed with the
// jobs (kind "job" or all), as kubectl lists a CronJob's Jobs.
func (s *Supervisor) Units(kind units.Kind) []Unit { return s.view.listUnits(kind) }

// Unit implements Backend; a cron unit's jobs are found by name too.
func (s *Supervisor) Unit(name string) (Unit, error) {
	if u, ok := s.view.unit(name); ok {
		if u.Exclusive && s.opt.Fence != nil {
			u.Fence = s.fenceView(name)
		}
		return u, nil
	}
	return Unit{}, errNotFound("unit", name)
}

// errNoWriter: the agent was made without a UnitWriter.
var errNoWriter = errors.New("this agent's units cannot be changed through the API")

// ApplyUnit implements Backend: the writer writes the file (the catalog
// then holds it), and the answer waits for the loop to have taken it, so
// a `get` right after `apply` sees the unit.
func (s *Supervisor) ApplyUnit(filename string, data []byte) (ApplyResult, error) {
	if s.opt.Writer == nil {
		return ApplyResult{}, errNoWriter
	}
	res, err := s.opt.Writer.Put(filename, data)
	if err != nil {
		return res, err
	}
	return res, s.call(func() {})
}

// CheckUnit implements Backend: what ApplyUnit would do, without doing it.
func (s *Supervisor) CheckUnit(filename string, data []byte) (ApplyResult, error) {
	if s.opt.Writer == nil {
		return ApplyResult{}, errNoWriter
	}
	return s.opt.Writer.Check(filename, data)
}

// DeleteUnit implements Backend. With orphan, the unit's instances are
// released (and that is on disk) before its file goes, so that a crash in
// between cannot delete them.
func (s *Supervisor) DeleteUnit(name string, orphan bool) error {
	var err error
	fileToo := false
	if cerr := s.call(func() {
		if j := s.jobs[name]; j != nil && j.rec.Cron != "" && s.units[name] == nil {
			// A job a cron unit made: it has no file of its own.
			if orphan {
				for _, i := range s.ownedBy(name) {
					s.release(i)
				}
			}
			s.removeJob(j)
			return
		}
		if s.units[name] == nil && s.problems[name] == nil {
			err = errNotFound("unit", name)
			return
		}
		fileToo = true
		if orphan {
			s.orphaning[name] = true
			for _, i := range s.ownedBy(name) {
				s.release(i)
			}
			for _, j := range s.sortedCronJobs(name) {
				for _, i := range s.ownedBy(j.rec.Name) {
					s.release(i)
				}
			}
		}
	}); cerr != nil {
		return cerr
	}
	if err != nil || !fileToo {
		return err
	}
	undo := func() {
		if orphan {
			s.call(func() { delete(s.orphaning, name); s.dirty[name] = true })
		}
	}
	if orphan {
		if err := s.opt.Store.Flush(); err != nil {
			undo()
			return err
		}
	}
	if s.opt.Writer == nil {
		undo()
		return errNoWriter
	}
	if err := s.opt.Writer.Remove(name); err != nil {
		undo()
		return err
	}
	return s.call(func() {})
}

// ReleaseFence implements Backend.
func (s *Supervisor) ReleaseFence(name string) (FenceReleased, error) {
	u := s.opt.Catalog.Snapshot().Units[name]
	switch {
	case u == nil:
		return FenceReleased{}, errNotFound("unit", name)
	case !u.Exclusive:
		return FenceReleased{}, fmt.Errorf("unit %q is not exclusive: it has no lease to release: %w", name, ErrInvalid)
	case s.opt.Fence == nil:
		return FenceReleased{}, fmt.Errorf("unit %q: this fleet has no fence (no cluster.voters in the agent's config): %w", name, ErrInvalid)
	}
	host, epoch, err := s.opt.Fence.Release(name)
	if err != nil {
		return FenceReleased{}, fmt.Errorf("unit %q: %v: %w", name, err, ErrInvalid)
	}
	s.RecordEvent(KindUnit, name, Warning, "FenceReleased", "operator",
		fmt.Sprintf("The lease of %s at epoch %d was released by the operator; this host starts the unit once a quorum of voters has heard nothing from it for W", host, epoch))
	return FenceReleased{Unit: name, Host: host, Epoch: epoch}, nil
}

// ScaleUnit implements Backend: it rewrites the `replicas` key of the unit
// file (for a job, `parallelism`), keeping the rest of the file as it is.
// More than the limit of instances per unit is refused (ErrInvalid).
func (s *Supervisor) ScaleUnit(name string, n int) (Unit, error) {
	if n < 0 {
		return Unit{}, fmt.Errorf("replicas must not be negative: %w", ErrInvalid)
	}
	snap := s.opt.Catalog.Snapshot()
	u := snap.Units[name]
	if err := snap.Problems[name]; err != nil {
		// Rewriting the last valid version would throw the user's edit
		// away.
		return Unit{}, fmt.Errorf("unit %q: its file has errors; fix it first:\n%v: %w", name, err, ErrInvalid)
	}
	if u == nil {
		return Unit{}, errNotFound("unit", name)
	}
	key := "replicas"
	switch u.Kind {
	case units.KindJob:
		key = "parallelism"
	case units.KindPerHost, units.KindCron:
		return Unit{}, fmt.Errorf("unit %q is %s: it cannot be scaled: %w", name, u.Kind, ErrInvalid)
	}
	if err := s.opt.Limits.Unit().CheckInstances(n); err != nil {
		return Unit{}, fmt.Errorf("unit %q: %s: %v: %w", name, key, err, ErrInvalid)
	}
	src, err := units.SetTopLevelInt([]byte(u.Source), key, n)
	if err != nil {
		return Unit{}, fmt.Errorf("unit %q: %v: %w", name, err, ErrInvalid)
	}
	if _, err := s.ApplyUnit(u.Path, src); err != nil {
		return Unit{}, err
	}
	return s.Unit(name)
}

// StopUnit implements Backend: it sets the `stopped` key of the unit file
// (tend stop/start unit), keeping the rest of the file as it is; the
// planners then stop the unit's instances, or start them again. A unit
// already so is left alone (Action "unchanged"; a file without the key
// is not given stopped = false).
func (s *Supervisor) StopUnit(name string, stop bool) (ApplyResult, error) {
	snap := s.opt.Catalog.Snapshot()
	u := snap.Units[name]
	if err := snap.Problems[name]; err != nil {
		return ApplyResult{}, fmt.Errorf("unit %q: its file has errors; fix it first:\n%v: %w", name, err, ErrInvalid)
	}
	if u == nil {
		if wu, err := s.Unit(name); err == nil && wu.Owner != "" {
			return ApplyResult{}, fmt.Errorf("job %q was made by cron unit %q: stop or start that unit: %w", name, wu.Owner, ErrInvalid)
		}
		return ApplyResult{}, errNotFound("unit", name)
	}
	res := ApplyResult{Name: name, Kind: u.Kind, Action: "unchanged"}
	if u.Stopped == stop {
		return res, nil
	}
	src, err := units.SetTopLevelBool([]byte(u.Source), "stopped", stop)
	if err != nil {
		return ApplyResult{}, fmt.Errorf("unit %q: %v: %w", name, err, ErrInvalid)
	}
	if _, err := s.ApplyUnit(u.Path, src); err != nil {
		return ApplyResult{}, err
	}
	res.Action = "started"
	if stop {
		res.Action = "stopped"
	}
	return res, nil
}

// RolloutRestart implements Backend: it sets the unit file's
// restarted_at to this host's time now, in UTC to the nanosecond (two
// rollouts in a second are two).
func (s *Supervisor) RolloutRestart(name string) (ApplyResult, error) {
	snap := s.opt.Catalog.Snapshot()
	u := snap.Units[name]
	if err := snap.Problems[name]; err != nil {
		return ApplyResult{}, fmt.Errorf("unit %q: its file has errors; fix it first:\n%v: %w", name, err, ErrInvalid)
	}
	switch {
	case u == nil:
		return ApplyResult{}, errNotFound("unit", name)
	case u.Kind != units.KindReplicated && u.Kind != units.KindPerHost:
		return ApplyResult{}, fmt.Errorf("unit %q is %s: its instances run to completion; restart one with tend restart po NAME: %w", name, u.Kind, ErrInvalid)
	case u.Stopped:
		return ApplyResult{}, fmt.Errorf("unit %q is stopped: start it (tend start unit %s); it starts with new instances: %w", name, name, ErrInvalid)
	}
	src, err := units.SetTopLevelString([]byte(u.Source), "restarted_at", s.clock.Now().UTC().Format(time.RFC3339Nano))
	if err != nil {
		return ApplyResult{}, fmt.Errorf("unit %q: %v: %w", name, err, ErrInvalid)
	}
	if _, err := s.ApplyUnit(u.Path, src); err != nil {
		return ApplyResult{}, err
	}
	return ApplyResult{Name: name, Kind: u.Kind, Action: "restarted"}, nil
}

// Hosts implements Backend.
func (s *Supervisor) Hosts() []Host { return s.view.listHosts() }

// Host implements Backend.
func (s *Supervisor) Host(name string) (Host, error) {
	for _, h := range s.view.listHosts() {
		if h.Name == name {
			return h, nil
		}
	}
	return Host{}, errNotFound("host", name)
}

// LabelHost implements Backend. The change is kept in the store, over the
// configuration's labels, and handed to the membership; every unit is
// planned again before the answer.
func (s *Supervisor) LabelHost(name string, c LabelChange) (Host, error) {
	err := errNotFound("host", name)
	if cerr := s.call(func() {
		if name != s.opt.Host {
			return
		}
		var l units.Labels
		if l, err = applyLabels(s.hostLabels, c); err != nil {
			return
		}
		rec := hostRecord{Set: units.Labels{}}
		for k, v := range l {
			if s.opt.HostLabels[k] != v || !s.opt.HostLabels.Has(k) {
				rec.Set[k] = v
			}
		}
		for k := range s.opt.HostLabels {
			if !l.Has(k) {
				rec.Removed = append(rec.Removed, k)
			}
		}
		sort.Strings(rec.Removed)
		if err = s.opt.Members.SetLabels(l); err != nil {
			return
		}
		s.hostRec = rec
		s.opt.Store.put(bucketHosts, s.opt.Host, rec)
		s.events.Record(s.clock.Now(), KindHost, name, Normal, "Labelled", "supervisor",
			"Host labels are now "+labelsOrNone(l))
		s.takeMembers()
	}); cerr != nil {
		return Host{}, cerr
	}
	if err != nil {
		return Host{}, err
	}
	return s.Host(name)
}

// DeleteHost implements Backend: the membership deletes the host, and the
// loop takes the membership and the summaries before the answer, so that
// the next read no longer shows the host or its instances.
func (s *Supervisor) DeleteHost(name string) error {
	var err error
	if cerr := s.call(func() {
		if err = s.opt.Members.DeleteHost(name); err != nil {
			return
		}
		s.takeMembers()
		s.takeRemote()
	}); cerr != nil {
		return cerr
	}
	switch {
	case errors.Is(err, ErrConflict):
		return fmt.Errorf("host %q is Ready: its agent answers, and a host that answers cannot be deleted "+
			"(it would be back at once); stop its agent, wait until the host shows NotReady or Left, then delete it: %w", name, ErrConflict)
	case errors.Is(err, ErrNotFound):
		return errNotFound("host", name)
	}
	return err
}

func labelsOrNone(l units.Labels) string {
	if len(l) == 0 {
		return "<none>"
	}
	return l.String()
}

// Events implements Backend.
func (s *Supervisor) Events(kind, object string) []Event { return s.events.List(kind, object) }

// RecordEvent records an event that the agent's other parts saw (the
// fleet's catalog: two definitions of a unit at once), now.
func (s *Supervisor) RecordEvent(kind, object, typ, reason, from, message string) {
	s.events.Record(s.clock.Now(), kind, object, typ, reason, from, message)
	s.notifySubs()
}

// Changes implements Backend.
func (s *Supervisor) Changes() (<-chan struct{}, func()) { return s.Subscribe() }

// Version implements Backend.
func (s *Supervisor) Version() Version { return s.opt.Version }

var _ ProcStarter = (*Supervisor)(nil)

// StartProc implements ProcStarter with the agent's Reaper.
func (s *Supervisor) StartProc(spec ProcSpec, onExit func(ExitStatus)) (*Proc, error) {
	return s.opt.Reaper.Start(spec, onExit)
}

// PassStats is the answer of Resync: how long a pass over every unit
// took.
type PassStats struct {
	PassNS    int64 `json:"pass_ns"`
	Units     int   `json:"units"`
	Instances int   `json:"instances"`
}

// Resync has the loop plan every unit once, as after a change of the
// hosts, and reports how long that pass took: the cost of a full
// reconcile, for the benchmarks (POST /v1/debug/resync).
func (s *Supervisor) Resync() (PassStats, error) {
	st := &PassStats{}
	done := make(chan struct{})
	s.enqueue(message{f: s.markAll, done: done, stats: st})
	select {
	case <-done:
		return *st, nil
	case <-s.stopped:
		return PassStats{}, errStopped
	}
}

// Viewed is closed once Run has published what the agent knows from its
// store and from the agent it took over from, before the first pass: an
// API served before then would answer that no instance exists. The
// agent serves its API from then on; connections made earlier wait in
// the socket's backlog.
func (s *Supervisor) Viewed() <-chan struct{} { return s.viewed }

// Ping returns once the loop has made a pass after the call: it answers.
// It fails when ctx ends first or the loop has stopped.
func (s *Supervisor) Ping(ctx context.Context) error {
	done := make(chan struct{})
	s.enqueue(message{done: done})
	select {
	case <-done:
		return nil
	case <-s.stopped:
		return errStopped
	case <-ctx.Done():
		return ctx.Err()
	}
}
