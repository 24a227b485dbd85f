// Package supervisor is the tend agent on one host: process lifecycle,
// restart back-off, instance logs, the controllers that turn units into
// instances, events, the durable store and the local API.
package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tendhq/tend/units"
)

// Clock is the time the supervisor runs on; tests give a fake one.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine after d; the returned
	// function stops the timer and reports whether it did so in time.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }
func (realClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}

// Placement decides how many instances of a unit belong on this host. It
// is a pure function of its arguments; on one host every eligible unit is
// placed here, in a fleet the cluster decides (DESIGN §7).
type Placement interface {
	Want(u *units.Unit, host string, hostLabels units.Labels) int
}

// LocalPlacement is the placement of a fleet of one.
type LocalPlacement struct{}

// Want implements Placement.
func (LocalPlacement) Want(u *units.Unit, _ string, hostLabels units.Labels) int {
	if !eligible(u, hostLabels) {
		return 0
	}
	switch u.Kind {
	case units.KindReplicated:
		return u.Replicas
	case units.KindPerHost:
		return 1
	}
	return 0
}

// eligible: the host's labels match the unit's node selector.
func eligible(u *units.Unit, hostLabels units.Labels) bool {
	for k, v := range u.Placement.NodeSelector {
		if got, ok := hostLabels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// Options configure a Supervisor. Every field but Store, Reaper and Catalog
// has a default.
type Options struct {
	Host        string
	AgentID     string // marks every instance's environment (TEND_AGENT)
	HostLabels  units.Labels
	LogDir      string // per-instance output, LogDir/<instance>/
	StateDir    string // notify sockets go under StateDir/notify
	LogMaxBytes int64
	Store       *Store
	Events      *Recorder // default: one on Store
	Reaper      *Reaper
	Catalog     Catalog
	Placement   Placement // default LocalPlacement
	Clock       Clock     // default the real clock
	Log         *slog.Logger
	// Env is the agent's environment that instances inherit a little of
	// (PATH, LANG, TZ); default os.Environ.
	Env []string
	// Version is the agent's build, for Version and the hosts table.
	Version Version
}

// Supervisor is the reconcile loop of one host. Run owns all instance
// state in one goroutine; everything else (the reaper, timers, the API)
// only posts messages to it, so a lost or doubled message does no harm:
// each pass compares what should run with what runs and acts.
type Supervisor struct {
	opt    Options
	log    *slog.Logger
	clock  Clock
	events *Recorder

	mu      sync.Mutex
	queue   []func()
	wake    chan struct{}
	stopped chan struct{} // closed when Run has returned
	subs    map[chan struct{}]struct{}
	started time.Time
	bg      sync.WaitGroup // background work the loop started (probe shutdowns)

	// Owned by the Run goroutine.
	instances  map[string]*instance
	units      map[string]*units.Unit
	problems   map[string]error
	unitSince  map[string]time.Time
	orphaning  map[string]bool // units being deleted with --cascade=orphan
	hostLabels units.Labels
	hostRec    hostRecord
	specs      map[string]*units.Unit // version → parsed unit, for stored instances
	jobs       map[string]*job
	crons      map[string]cronRecord
	cronWake   map[string]cronTimer
	quitting   bool
}

// Controllers' names, shown as events' source.
const (
	fromReplicated = "replicated-controller"
	fromPerHost    = "per-host-controller"
)

// NewSupervisor loads the stored state. It starts nothing: Run does.
func NewSupervisor(opt Options) (*Supervisor, error) {
	if opt.Placement == nil {
		opt.Placement = LocalPlacement{}
	}
	if opt.Clock == nil {
		opt.Clock = realClock{}
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.Env == nil {
		opt.Env = os.Environ()
	}
	if opt.LogMaxBytes == 0 {
		opt.LogMaxBytes = 8 << 20
	}
	s := &Supervisor{
		opt:       opt,
		log:       opt.Log,
		clock:     opt.Clock,
		wake:      make(chan struct{}, 1),
		stopped:   make(chan struct{}),
		subs:      map[chan struct{}]struct{}{},
		instances: map[string]*instance{},
		units:     map[string]*units.Unit{},
		problems:  map[string]error{},
		unitSince: map[string]time.Time{},
		orphaning: map[string]bool{},
		specs:     map[string]*units.Unit{},
		jobs:      map[string]*job{},
		crons:     map[string]cronRecord{},
		cronWake:  map[string]cronTimer{},
	}
	s.events = opt.Events
	if s.events == nil {
		ev, err := NewRecorder(opt.Store, DefaultMaxEvents, s.notifySubs)
		if err != nil {
			return nil, fmt.Errorf("load events: %w", err)
		}
		s.events = ev
	}
	if err := s.load(); err != nil {
		return nil, err
	}
	return s, nil
}

// load reads instances, specs, units and host labels from the store.
func (s *Supervisor) load() error {
	st := s.opt.Store
	err := st.each(bucketSpecs, func(k, v []byte) error {
		var sr specRecord
		if err := json.Unmarshal(v, &sr); err != nil {
			return fmt.Errorf("spec %x: %w", k, err)
		}
		u, err := units.Parse(sr.Path, sr.Source)
		if err != nil {
			s.log.Warn("stored unit version no longer parses", "path", sr.Path, "err", err)
			return nil
		}
		s.specs[string(k)] = u
		return nil
	})
	if err != nil {
		return fmt.Errorf("load specs: %w", err)
	}
	err = st.each(bucketInstances, func(k, v []byte) error {
		var r instanceRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("instance %s: %w", k, err)
		}
		spec := s.specs[r.SpecVersion]
		if spec == nil {
			s.log.Error("instance's unit version is lost; dropping the instance", "instance", r.Name)
			st.del(bucketInstances, r.Name)
			return nil
		}
		s.instances[r.Name] = &instance{rec: r, spec: spec}
		return nil
	})
	if err != nil {
		return fmt.Errorf("load instances: %w", err)
	}
	err = st.each(bucketUnits, func(k, v []byte) error {
		var ur unitRecord
		if json.Unmarshal(v, &ur) == nil {
			s.unitSince[string(k)] = ur.Created
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("load units: %w", err)
	}
	err = st.each(bucketJobs, func(k, v []byte) error {
		var r jobRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("job %s: %w", k, err)
		}
		spec := s.specs[r.SpecVersion]
		if spec == nil {
			s.log.Error("job's unit version is lost; dropping the job", "job", r.Name)
			st.del(bucketJobs, r.Name)
			return nil
		}
		s.jobs[r.Name] = &job{rec: r, spec: spec}
		return nil
	})
	if err != nil {
		return fmt.Errorf("load jobs: %w", err)
	}
	err = st.each(bucketCrons, func(k, v []byte) error {
		var r cronRecord
		if json.Unmarshal(v, &r) == nil {
			s.crons[string(k)] = r
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("load crons: %w", err)
	}
	if _, err := st.get(bucketHosts, s.opt.Host, &s.hostRec); err != nil {
		return fmt.Errorf("load host: %w", err)
	}
	s.hostLabels = s.effectiveHostLabels()
	return nil
}

func (s *Supervisor) effectiveHostLabels() units.Labels {
	l := s.opt.HostLabels.Clone()
	if l == nil {
		l = units.Labels{}
	}
	for _, k := range s.hostRec.Removed {
		delete(l, k)
	}
	for k, v := range s.hostRec.Set {
		l[k] = v
	}
	return l
}

// post queues f to run on the loop goroutine. It never blocks.
func (s *Supervisor) post(f func()) {
	s.mu.Lock()
	s.queue = append(s.queue, f)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// errStopped is returned by calls made after the loop has ended.
var errStopped = errors.New("the agent is shutting down")

// call runs f on the loop goroutine and waits for it.
func (s *Supervisor) call(f func()) error {
	done := make(chan struct{})
	s.post(func() { f(); close(done) })
	select {
	case <-done:
		return nil
	case <-s.stopped:
		return errStopped
	}
}

// Run is the reconcile loop. It returns when ctx is done and every
// instance has been stopped (each within its stop_timeout), or when
// stopping takes longer than that plus a margin.
func (s *Supervisor) Run(ctx context.Context) error {
	defer close(s.stopped)
	defer s.bg.Wait()
	s.started = s.clock.Now()
	s.stopLeftovers(ctx)
	s.loadCatalog()
	s.forgetVanished()
	giveUp := false
	for {
		s.pass()
		if s.quitting && (s.runningCount() == 0 || giveUp) {
			if giveUp {
				s.log.Error("instances did not end after SIGKILL; leaving them", "count", s.runningCount())
			}
			return s.opt.Store.Flush()
		}
		select {
		case <-s.wake:
		case <-s.opt.Catalog.Changed():
			s.loadCatalog()
		case <-ctx.Done():
			if !s.quitting {
				s.quitting = true
				s.log.Info("stopping all instances")
				longest := time.Duration(0)
				for _, inst := range s.sortedInstances() {
					s.stop(inst, "shutdown", "")
					longest = max(longest, inst.spec.Template.StopTimeout.D())
				}
				// A process in uninterruptible sleep outlives SIGKILL; do
				// not wait for it forever.
				s.clock.AfterFunc(longest+5*time.Second, func() { s.post(func() { giveUp = true }) })
			}
			ctx = context.Background() // Done only once
		}
	}
}

// pass runs every queued message, then reconciles.
// Messages posted while it runs wait for the next pass, so a message that
// posts another (an immediate retry) cannot hold the loop: between passes
// it sees its context and the catalog.
func (s *Supervisor) pass() {
	s.mu.Lock()
	q := s.queue
	s.queue = nil
	s.mu.Unlock()
	for _, f := range q {
		f()
	}
	s.mu.Lock()
	more := len(s.queue) > 0
	s.mu.Unlock()
	if more {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	if !s.quitting {
		t0 := time.Now()
		s.reconcile()
		s.resumeStopped()
		if d := time.Since(t0); d > 100*time.Millisecond {
			s.log.Debug("slow reconcile pass", "took", d, "instances", len(s.instances))
		}
	}
	s.notifySubs()
}

func (s *Supervisor) runningCount() int {
	n := 0
	for _, i := range s.instances {
		if i.proc != nil {
			n++
		}
	}
	return n
}

func (s *Supervisor) sortedInstances() []*instance {
	out := make([]*instance, 0, len(s.instances))
	for _, i := range s.instances {
		out = append(out, i)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].rec.Name < out[b].rec.Name })
	return out
}

// stopLeftovers stops what an earlier agent on this state directory left
// running (it was killed, so its instances lost their supervisor), before
// anything starts again: no instance may run twice.
func (s *Supervisor) stopLeftovers(ctx context.Context) {
	pids, err := FindLeftovers("TEND_AGENT", s.opt.AgentID)
	if err != nil {
		s.log.Warn("looking for processes an earlier agent left", "err", err)
	}
	if len(pids) > 0 {
		timeout := 10 * time.Second
		for _, i := range s.instances {
			if d := i.spec.Template.StopTimeout.D(); d > timeout {
				timeout = d
			}
		}
		s.log.Info("stopping processes an earlier agent left running", "count", len(pids))
		StopLeftovers(ctx, pids, syscall.SIGTERM, timeout)
	}
	now := s.clock.Now()
	for _, i := range s.sortedInstances() {
		switch {
		case i.rec.Terminating:
			s.remove(i)
		case i.rec.State.Phase == PhaseRunning:
			i.rec.LastState = State{
				Phase:    PhaseTerminated,
				Reason:   "AgentRestart",
				Message:  "the agent stopped; the run was ended when it came back",
				Started:  i.rec.State.Started,
				Finished: now,
			}
			i.rec.State = State{Phase: PhaseWaiting, Reason: "Pending"}
			i.rec.PID = 0
			s.save(i)
			if !i.rec.Done {
				i.resume = true
			}
		case !i.rec.Done:
			i.resume = true
		}
	}
}

// forgetVanished drops what the store remembers of units whose files went
// away while the agent was down (their creation time, a cron's last
// schedule), so a unit made again under that name starts afresh.
func (s *Supervisor) forgetVanished() {
	for name := range s.unitSince {
		if s.units[name] == nil && s.problems[name] == nil {
			delete(s.unitSince, name)
			s.opt.Store.del(bucketUnits, name)
		}
	}
	for name := range s.crons {
		if s.units[name] == nil && s.problems[name] == nil {
			delete(s.crons, name)
			s.opt.Store.del(bucketCrons, name)
		}
	}
}

// resumeStopped starts again the instances that ran before the agent
// restarted and that the first reconcile kept.
func (s *Supervisor) resumeStopped() {
	var again []*instance
	for _, i := range s.sortedInstances() {
		if i.resume {
			i.resume = false
			if i.proc == nil && !i.rec.Terminating && !i.rec.Done {
				again = append(again, i)
			}
		}
	}
	s.startAll(again)
}

// loadCatalog takes the catalog's current units.
func (s *Supervisor) loadCatalog() {
	now := s.clock.Now()
	s.problems = s.opt.Catalog.Problems()
	next := map[string]*units.Unit{}
	for _, u := range s.opt.Catalog.Units() {
		next[u.Name] = u
		if old := s.units[u.Name]; old == nil || old.Version != u.Version {
			if _, ok := s.unitSince[u.Name]; !ok {
				s.unitSince[u.Name] = now
				s.opt.Store.put(bucketUnits, u.Name, unitRecord{Created: now})
			}
			if old != nil {
				s.events.Record(now, KindUnit, u.Name, Normal, "Updated", "supervisor",
					"Unit file changed; new instances use the new template")
			}
		}
	}
	for name := range s.units {
		if next[name] == nil && s.problems[name] == nil {
			delete(s.unitSince, name)
			s.opt.Store.del(bucketUnits, name)
			delete(s.orphaning, name)
			s.events.Forget(KindUnit, name)
			if _, ok := s.crons[name]; ok {
				delete(s.crons, name)
				s.opt.Store.del(bucketCrons, name)
			}
			if w, ok := s.cronWake[name]; ok {
				w.stop()
				delete(s.cronWake, name)
			}
		}
	}
	s.units = next
	s.dropUnusedSpecs()
}

// dropUnusedSpecs forgets unit versions that no instance or job was made
// from, so applying and scaling a unit many times does not grow the
// store.
func (s *Supervisor) dropUnusedSpecs() {
	used := map[string]bool{}
	for _, i := range s.instances {
		used[i.rec.SpecVersion] = true
	}
	for _, j := range s.jobs {
		used[j.rec.SpecVersion] = true
	}
	for v := range s.specs {
		if !used[v] {
			delete(s.specs, v)
			s.opt.Store.del(bucketSpecs, v)
		}
	}
}

// reconcile compares, for every unit, what should run on this host with
// what does, and acts on the difference.
func (s *Supervisor) reconcile() {
	names := make([]string, 0, len(s.units))
	for n := range s.units {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		u := s.units[n]
		switch u.Kind {
		case units.KindReplicated, units.KindPerHost:
			s.reconcileSet(u)
		case units.KindCron:
			if !s.orphaning[u.Name] {
				s.reconcileCron(u)
			}
		}
	}
	s.reconcileJobs()
	// Instances whose unit is gone (and was not deleted with
	// --cascade=orphan, and whose file is not merely invalid) go too.
	for _, i := range s.sortedInstances() {
		if i.rec.Unit == "" || i.rec.Terminating {
			continue
		}
		if want := s.ownerKind(i.rec.Unit); want != "" && want != i.rec.Kind {
			// The unit's kind changed: what the old kind made goes.
			s.delete(i, "the unit's kind changed")
			continue
		}
		if s.units[i.rec.Unit] == nil && s.problems[i.rec.Unit] == nil && s.jobs[i.rec.Unit] == nil {
			if s.orphaning[i.rec.Unit] {
				s.release(i, nil)
				continue
			}
			s.delete(i, "unit deleted")
		}
	}
}

// ownerKind is the kind of instance an owner makes: a job (of a job unit
// or a cron unit) makes "job" instances; "" when the owner is unknown.
func (s *Supervisor) ownerKind(owner string) string {
	if u := s.units[owner]; u != nil && u.Kind != units.KindCron {
		return u.Kind.String()
	}
	if j := s.jobs[owner]; j != nil {
		return units.KindJob.String()
	}
	return ""
}

// reconcileSet is the replicated and per-host controller: it releases
// owned instances that no longer match the selector, adopts orphans that
// do, and creates or deletes instances until the count is what placement
// wants here. Deletions pick the least useful instances first.
func (s *Supervisor) reconcileSet(u *units.Unit) {
	if s.orphaning[u.Name] {
		return
	}
	from := fromReplicated
	if u.Kind == units.KindPerHost {
		from = fromPerHost
	}
	var active []*instance
	for _, i := range s.sortedInstances() {
		if i.rec.Terminating {
			continue
		}
		switch {
		case i.rec.Unit == u.Name && i.rec.Kind != u.Kind.String():
			continue // made by the unit's former kind; it goes
		case i.rec.Unit == u.Name:
			if !u.Selector.Empty() && !u.Selector.Matches(i.rec.Labels) {
				s.release(i, u)
				continue
			}
		case i.rec.Unit == "" && !i.terminal() && !u.Selector.Empty() && u.Selector.Matches(i.rec.Labels):
			s.adopt(i, u)
		default:
			continue
		}
		if i.terminal() {
			// Finished for good: it no longer counts, and is replaced.
			s.delete(i, "finished")
			continue
		}
		active = append(active, i)
	}
	want := s.opt.Placement.Want(u, s.opt.Host, s.hostLabels)
	now := s.clock.Now()
	var created []*instance
	for n := len(active); n < want; n++ {
		i := s.create(u, u.Name, now)
		created = append(created, i)
		s.events.Record(now, KindUnit, u.Name, Normal, "SuccessfulCreate", from, "Created instance: "+i.rec.Name)
	}
	s.startAll(created)
	if extra := len(active) - want; extra > 0 {
		sort.SliceStable(active, func(a, b int) bool { return deleteFirst(active[a], active[b]) })
		for _, i := range active[:extra] {
			s.delete(i, "scaled down")
			s.events.Record(now, KindUnit, u.Name, Normal, "SuccessfulDelete", from, "Deleted instance: "+i.rec.Name)
		}
	}
}

// deleteFirst orders instances for scaling down, as the ReplicaSet
// controller does: not running before running, not ready before ready,
// running for less time before more, more restarts before fewer, newer
// before older.
func deleteFirst(a, b *instance) bool {
	if a.running() != b.running() {
		return !a.running()
	}
	if a.ready() != b.ready() {
		return !a.ready()
	}
	if sa, sb := a.rec.State.Started, b.rec.State.Started; a.ready() && !sa.Equal(sb) {
		return sa.After(sb)
	}
	if a.rec.RestartCount != b.rec.RestartCount {
		return a.rec.RestartCount > b.rec.RestartCount
	}
	if !a.rec.Created.Equal(b.rec.Created) {
		return a.rec.Created.After(b.rec.Created)
	}
	return a.rec.Name > b.rec.Name
}

// nameAlphabet is Kubernetes' alphabet for generated names: no vowels (no
// words) and no 0, 1 and 3 (no look-alikes).
const nameAlphabet = "bcdfghjklmnpqrstvwxz2456789"

func (s *Supervisor) newName(unit string) string {
	for {
		b := make([]byte, 5)
		for i := range b {
			b[i] = nameAlphabet[rand.IntN(len(nameAlphabet))]
		}
		name := unit + "-" + string(b)
		if s.instances[name] == nil {
			return name
		}
	}
}

// create makes a new instance of u owned by owner (the unit, or for a
// cron unit its job); the caller starts it.
func (s *Supervisor) create(u *units.Unit, owner string, now time.Time) *instance {
	s.noteSpec(u)
	kind := u.Kind
	if kind == units.KindCron {
		kind = units.KindJob
	}
	i := &instance{
		spec: u,
		rec: instanceRecord{
			Name:        s.newName(owner),
			Unit:        owner,
			Kind:        kind.String(),
			SpecVersion: u.Version,
			Labels:      u.Template.Labels.Clone(),
			Created:     now,
			State:       State{Phase: PhaseWaiting, Reason: "Pending"},
		},
	}
	s.instances[i.rec.Name] = i
	s.save(i)
	return i
}

func (s *Supervisor) release(i *instance, u *units.Unit) {
	i.rec.Unit = ""
	s.save(i)
	if u != nil {
		s.log.Info("instance no longer matches the selector; released", "instance", i.rec.Name, "unit", u.Name)
	}
}

func (s *Supervisor) adopt(i *instance, u *units.Unit) {
	i.rec.Unit = u.Name
	i.rec.Kind = u.Kind.String()
	s.save(i)
	s.log.Info("orphaned instance matches the selector; adopted", "instance", i.rec.Name, "unit", u.Name)
}

// save queues the instance's record for the store.
func (s *Supervisor) save(i *instance) { s.opt.Store.put(bucketInstances, i.rec.Name, &i.rec) }

// remove forgets the instance entirely. A job keeps what its attempt did.
func (s *Supervisor) remove(i *instance) {
	if j := s.jobs[i.rec.Unit]; j != nil && i.rec.Kind == units.KindJob.String() {
		j.rec.LostFailures += i.rec.FailedRuns
		if i.rec.Done && i.rec.State.Phase == PhaseTerminated && i.rec.State.ExitCode == 0 {
			j.rec.LostSucceeded++
		}
		s.saveJob(j)
	}
	if i.cancelTimer != nil {
		i.cancelTimer()
		i.cancelTimer = nil
	}
	delete(s.instances, i.rec.Name)
	s.opt.Store.del(bucketInstances, i.rec.Name)
	s.events.Forget(KindInstance, i.rec.Name)
	os.RemoveAll(s.logDir(i))
}

// delete stops the instance (if running) and removes it once stopped.
func (s *Supervisor) delete(i *instance, why string) {
	if i.rec.Terminating {
		return
	}
	i.rec.Terminating = true
	s.save(i)
	s.log.Info("deleting instance", "instance", i.rec.Name, "why", why)
	if i.proc == nil {
		s.remove(i)
		return
	}
	s.stop(i, "delete", "")
}

func (s *Supervisor) logDir(i *instance) string {
	return filepath.Join(s.opt.LogDir, i.rec.Name)
}

// from is the events' source for what happens to a process on this host.
func (s *Supervisor) from() string { return "supervisor, " + s.opt.Host }

// start begins a run of the instance now.
func (s *Supervisor) start(i *instance) { s.startAll([]*instance{i}) }

// spawners bounds the starts that run at once: fork+exec is most of a
// start, and the kernel does it in parallel on as many cores as there are.
var spawners = min(runtime.GOMAXPROCS(0), 4)

// startAll begins a run of each instance. The processes are spawned in
// parallel; the loop waits for all of them before it takes the results,
// so instance state stays the loop's alone (spawn reads only what the
// loop does not change meanwhile).
func (s *Supervisor) startAll(list []*instance) {
	if s.quitting {
		return
	}
	todo := list[:0:0]
	for _, i := range list {
		if i.proc != nil {
			continue
		}
		if i.cancelTimer != nil {
			i.cancelTimer()
			i.cancelTimer = nil
		}
		if i.rec.Attempts > 0 {
			i.rec.RestartCount++
		}
		i.rec.Attempts++
		i.gen++
		todo = append(todo, i)
	}
	type result struct {
		proc *Proc
		rl   *RunLog
		rp   *runProbes
		err  error
	}
	results := make([]result, len(todo))
	envs := make([][]string, len(todo))
	for k, i := range todo {
		envs[k] = s.environ(i) // on the loop: it reads loop state
	}
	if len(todo) == 1 {
		r := &results[0]
		r.proc, r.rl, r.rp, r.err = s.spawn(todo[0], envs[0])
	} else if len(todo) > 1 {
		var wg sync.WaitGroup
		next := make(chan int)
		for range min(spawners, len(todo)) {
			wg.Go(func() {
				for k := range next {
					r := &results[k]
					r.proc, r.rl, r.rp, r.err = s.spawn(todo[k], envs[k])
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
		s.started1(i, r.proc, r.rl, r.rp, r.err)
	}
}

// started1 takes the result of spawning i.
func (s *Supervisor) started1(i *instance, proc *Proc, rl *RunLog, rp *runProbes, err error) {
	now := s.clock.Now()
	t := &i.spec.Template
	if err != nil {
		s.events.Record(now, KindInstance, i.rec.Name, Warning, "Failed", s.from(), "Error: "+err.Error())
		s.log.Error("start failed", "instance", i.rec.Name, "err", err)
		i.rec.Failures++
		i.rec.FailedRuns++
		i.rec.LastFailure = now
		if t.Restart == units.RestartNever {
			// As the kubelet reports a container that could not start.
			i.rec.Done = true
			i.rec.State = State{Phase: PhaseTerminated, Reason: "StartError", Message: err.Error(), ExitCode: 128, Finished: now}
			s.save(i)
			return
		}
		i.rec.State = State{Phase: PhaseWaiting, Reason: "StartError", Message: err.Error()}
		// A missing program does not appear within milliseconds: never
		// retry a failed start faster than once a second.
		base, most := t.RestartDelay.D(), t.MaxRestartDelay.D()
		if i.spec.Kind.RunsToCompletion() {
			base, most = i.spec.BackoffDelay.D(), i.spec.MaxBackoffDelay.D()
		}
		s.retryLater(i, max(RestartDelay(base, most, i.rec.Failures), time.Second))
		s.save(i)
		return
	}
	i.proc, i.runlog, i.stopping, i.stopFor = proc, rl, false, ""
	i.probeReady, i.startupDone, i.notifyStatus, i.mainPID = false, false, "", 0
	i.probes = rp
	s.beginProbes(i, i.gen, rp, proc.Pid())
	i.rec.State = State{Phase: PhaseRunning, Started: proc.Started()}
	i.rec.PID = proc.Pid()
	s.save(i)
	s.events.Record(now, KindInstance, i.rec.Name, Normal, "Started", s.from(), "Started "+filepath.Base(t.Command[0]))
}

// spawn starts the process of the instance's next run. It runs on a
// spawner goroutine while the loop waits, and touches only what it makes.
func (s *Supervisor) spawn(i *instance, env []string) (*Proc, *RunLog, *runProbes, error) {
	t := &i.spec.Template
	cred, err := Credential(t.User, t.Group)
	if err != nil {
		return nil, nil, nil, err
	}
	gen := i.gen
	rp, env, extra, err := s.openProbeIO(i, gen, env)
	if err != nil {
		return nil, nil, nil, err
	}
	rl, err := OpenRunLog(s.logDir(i), s.opt.LogMaxBytes)
	if err != nil {
		rp.close()
		return nil, nil, nil, fmt.Errorf("instance log: %w", err)
	}
	spec := ProcSpec{
		Path:       t.Command[0],
		Args:       t.Command,
		Env:        env,
		Dir:        t.WorkingDir,
		Credential: cred,
		Stdout:     rl.Writer(),
		Stderr:     rl.Writer(),
		ExtraFiles: extra,
	}
	proc, err := s.opt.Reaper.Start(spec, func(st ExitStatus) {
		s.post(func() { s.exited(i, gen, st) })
	})
	rl.CloseWriter()
	if err != nil {
		rl.Close()
		rp.close()
		return nil, nil, nil, err
	}
	return proc, rl, rp, nil
}

// environ is the instance's environment: a little of the agent's (PATH,
// LANG, TZ), the user's identity when it runs as another user, the
// template's env, and tend's own variables.
func (s *Supervisor) environ(i *instance) []string {
	t := &i.spec.Template
	env := make([]string, 0, len(t.Env)+8)
	for _, kv := range s.opt.Env {
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
	return append(env,
		"TEND_INSTANCE="+i.rec.Name,
		"TEND_UNIT="+i.spec.Name,
		"TEND_HOST="+s.opt.Host,
		"TEND_AGENT="+s.opt.AgentID,
	)
}

// retryLater schedules the next start after d, showing CrashLoopBackOff.
func (s *Supervisor) retryLater(i *instance, d time.Duration) {
	if d <= 0 {
		s.post(func() {
			if s.instances[i.rec.Name] == i && i.proc == nil && !i.rec.Terminating {
				s.start(i)
			}
		})
		return
	}
	if i.rec.State.Phase != PhaseWaiting || i.rec.State.Reason != "StartError" {
		i.rec.State = State{Phase: PhaseWaiting, Reason: "CrashLoopBackOff"}
	}
	i.rec.State.Message = fmt.Sprintf("back-off %s restarting failed instance", units.Duration(d))
	gen := i.gen
	i.cancelTimer = s.clock.AfterFunc(d, func() {
		s.post(func() {
			if s.instances[i.rec.Name] == i && i.gen == gen && i.proc == nil && !i.rec.Terminating {
				i.cancelTimer = nil
				s.start(i)
			}
		})
	})
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
	// What is left of the process group goes with its leader, as it does
	// when a container's init ends.
	proc.SignalGroup(syscall.SIGKILL)
	s.endProbes(i)
	i.probeReady, i.startupDone = false, false
	i.runlog.Close()
	if i.cancelTimer != nil {
		i.cancelTimer()
		i.cancelTimer = nil
	}
	now := s.clock.Now()
	t := &i.spec.Template
	i.proc, i.runlog = nil, nil
	i.rec.PID = 0
	ended := State{
		Phase:    PhaseTerminated,
		Reason:   st.Reason(),
		ExitCode: st.ExitCode(),
		Signal:   st.SignalName(),
		Started:  proc.Started(),
		Finished: st.Time,
	}
	stopFor, wasStopping := i.stopFor, i.stopping
	i.stopping, i.stopFor = false, ""
	jobAttempt := i.spec.Kind.RunsToCompletion()
	s.log.Info("instance exited", "instance", i.rec.Name, "pid", proc.Pid(), "exit_code", st.ExitCode(), "signal", st.SignalName())

	switch {
	case i.rec.Terminating:
		s.remove(i)
		return
	case stopFor == "shutdown" && jobAttempt && st.Success():
		// It completed as the agent stopped: that counts.
		i.rec.Done = true
		i.rec.State = ended
		s.save(i)
		return
	case stopFor == "shutdown":
		// The next agent starts it again.
		i.rec.LastState = ended
		i.rec.State = State{Phase: PhaseWaiting, Reason: "Pending", Message: "the agent stopped"}
		s.save(i)
		return
	}
	if !wasStopping {
		typ := Normal
		if !st.Success() {
			typ = Warning
			i.rec.FailedRuns++
			i.rec.LastFailure = now
		}
		s.events.Record(now, KindInstance, i.rec.Name, typ, "Exited", s.from(), "Process exited: "+st.String())
	}
	ranFor := st.Time.Sub(proc.Started())
	restart := ShouldRestart(t.Restart, st)
	if wasStopping && stopFor == "" {
		// Killed for a failed liveness or startup probe: whatever its
		// exit status, it runs again unless the policy is never.
		restart = t.Restart != units.RestartNever
	}
	if !restart {
		// Done for good: the run's end is the state, as kubectl shows a
		// completed container.
		i.rec.Done = true
		i.rec.State = ended
		s.save(i)
		return
	}
	i.rec.LastState = ended
	i.rec.State = State{Phase: PhaseWaiting, Reason: "Pending"}
	i.rec.Failures = NextFailures(i.rec.Failures, ranFor)
	base, most := t.RestartDelay.D(), t.MaxRestartDelay.D()
	if i.spec.Kind.RunsToCompletion() {
		// A job's attempt restarted in place backs off as the job does.
		base, most = i.spec.BackoffDelay.D(), i.spec.MaxBackoffDelay.D()
	}
	d := RestartDelay(base, most, i.rec.Failures)
	if d > 0 {
		s.events.Record(now, KindInstance, i.rec.Name, Warning, "BackOff", s.from(), "Back-off restarting failed instance")
	}
	s.save(i)
	if d <= 0 {
		s.start(i)
		return
	}
	s.retryLater(i, d)
	s.save(i)
}

// stop ends the running process: stop_signal to its group, SIGKILL to the
// group after stop_timeout. why is "delete", "shutdown" or "" (a restart);
// message, when not "", is the Killing event's text.
func (s *Supervisor) stop(i *instance, why, message string) {
	if i.cancelTimer != nil && i.proc == nil {
		i.cancelTimer()
		i.cancelTimer = nil
	}
	if i.proc == nil {
		return
	}
	if why != "" {
		i.stopFor = why
	}
	if i.stopping {
		return
	}
	i.stopping = true
	t := &i.spec.Template
	sig := t.StopSignal
	if message == "" {
		message = fmt.Sprintf("Stopping instance %s (%s, then SIGKILL after %s)", i.rec.Name, units.SignalName(syscall.Signal(sig)), t.StopTimeout)
	}
	s.events.Record(s.clock.Now(), KindInstance, i.rec.Name, Normal, "Killing", s.from(), message)
	if err := i.proc.SignalGroup(syscall.Signal(sig)); err != nil {
		s.log.Warn("signal failed", "instance", i.rec.Name, "err", err)
	}
	gen := i.gen
	i.cancelTimer = s.clock.AfterFunc(t.StopTimeout.D(), func() {
		s.post(func() {
			if i.gen == gen && i.proc != nil {
				s.log.Warn("stop timeout; killing the process group", "instance", i.rec.Name, "pid", i.proc.Pid())
				i.proc.SignalGroup(syscall.SIGKILL)
			}
		})
	})
}

// Subscribe returns a channel that receives after every pass of the loop
// (coalesced), and a function that ends the subscription.
func (s *Supervisor) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	s.mu.Lock()
	s.subs[ch] = struct{}{}
	s.mu.Unlock()
	return ch, func() {
		s.mu.Lock()
		delete(s.subs, ch)
		s.mu.Unlock()
	}
}

func (s *Supervisor) notifySubs() {
	s.mu.Lock()
	for ch := range s.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	s.mu.Unlock()
}
