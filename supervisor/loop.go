// Package supervisor is the tend agent on one host: the loop that turns
// units into running instances, the planners (the replicated, per-host,
// job and cron controllers) and placement, the process lifecycle with its
// restart back-off and logs, probes' wiring, events, the durable store and
// the local API.
//
// How a unit file becomes a process, and the process's status an answer
// of the API:
//
//	unit files        tend apply, scale, delete
//	    │                   │
//	    ▼                   ▼
//	 Catalog ◄────────── UnitWriter                      catalog.go
//	    │ snapshots, diffed by the loop
//	    ▼
//	  loop ◄──── Membership: hosts, labels, readiness     membership.go
//	    │  ◄──── Summaries: the other hosts' instances
//	    │ the dirty units
//	    ▼
//	 planners: replicated, per-host, job, cron           plan.go, plan_job.go, plan_cron.go
//	    │ placement: which slot runs on which host        placement.go
//	    ▼
//	 lifecycle: start, stop, decide after a run           lifecycle.go, run.go
//	    │
//	    ▼
//	 processes, probes, output                            spawn.go, reaper.go, runlog.go
//	    │ exits, probe reports and timers: messages to the loop
//	    ▼
//	 publish ──► view ──► API, CLI                        view.go, backend.go, api.go
//	    └──────► Summaries, to the other hosts
//
// The loop owns every instance in one goroutine; everything else only
// posts messages to it. A message marks what it concerns dirty (a unit,
// when one of its instances exits, or its file changes); each pass plans
// only the dirty units, so the work per event is proportional to what
// changed, never to the number of units. The seams a fleet needs
// (Catalog, Membership, Summaries) are defined here and implemented
// elsewhere; cmd/tend wires them.
package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sort"
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

// Options configure a Supervisor. Store, Reaper and Catalog are required;
// every other field has a default.
type Options struct {
	Host    string
	AgentID string // marks every instance's environment (TEND_AGENT)
	// HostLabels are the configuration's labels of this host; changes made
	// with `tend label host` are kept in the store, over them.
	HostLabels  units.Labels
	LogDir      string // per-instance output, LogDir/<instance>/
	StateDir    string // notify sockets go under StateDir/notify
	LogMaxBytes int64
	// Limits bound what the agent takes on (its [limits] table): scale
	// refuses more than InstancesPerUnit, and the controllers create no
	// instance beyond InstancesPerHost on this host. A zero field is the
	// default (DefaultLimits). The unit files' limits are the catalog's
	// to check (NewDirCatalog).
	Limits LimitsConfig
	Store  *Store
	Events *Recorder // default: one on Store
	Reaper *Reaper
	// Cgroups, when not nil, gives every instance run a cgroup of its own
	// under it (OpenCgroups); nil contains runs by process groups only.
	Cgroups *Cgroups
	// Shim, when not "", is tend's binary (the agent runs "/proc/self/exe"):
	// a job's attempts then run under it (RunShim), so that how one ended
	// is known even when the agent was killed during the attempt. ""
	// runs them as the other instances, and an attempt the agent's kill
	// interrupts runs again.
	Shim string
	// Handoff, when not nil, is what the agent this process was executed
	// by handed over (StartReadHandoff): Run takes its runs over instead of
	// stopping them as leftovers. Reaper must be NewReaperInheriting's.
	Handoff *Handoff
	Catalog Catalog
	// Writer applies, deletes and scales units; default: Catalog, when it
	// is a UnitWriter too. Without one, the API refuses to change units.
	Writer  UnitWriter
	Members Membership // default: this host alone (LocalMembership)
	// Fence, when not nil, holds exclusive units to at most one instance
	// in the fleet (fence.go); nil runs them as any unit of one replica.
	Fence Fence
	Peers Summaries // default: NoPeers
	Clock Clock     // default the real clock
	Log   *slog.Logger
	// Env is the agent's environment that instances inherit a little of
	// (PATH, LANG, TZ); default os.Environ.
	Env []string
	// Version is the agent's build, for Version and the hosts table.
	Version Version
	// Settled, when set, is called once, off the loop, when the agent's
	// start has settled: in its first quiet pass, and after the runtime
	// has given back the memory the start used if the start was a burst
	// (see burstWork). The agent sets its collector's steady target then.
	Settled func()
}

// msgExclusiveNotEnforced is the warning on a unit with exclusive = true.
const msgExclusiveNotEnforced = "exclusive = true is not enforced: this fleet has no voters (cluster.voters in each agent's config); like any unit of one replica, it may run on both sides of a partition for a while"

// Limits of one pass, as the ReplicaSet controller has its burst: a pass
// creates or deletes at most maxActionsPerPass instances and starts at
// most maxStartsPerPass processes, then lets messages in before it goes
// on, so a unit of 100 000 replicas cannot hold the loop.
const (
	maxActionsPerPass = 500
	maxStartsPerPass  = 500
	// maxRounds bounds how often one pass plans again the units that its
	// own actions made dirty (an instance released by one unit and
	// adopted by another).
	maxRounds = 4
)

// Supervisor is the reconcile loop of one host. Run owns all instance
// state in one goroutine; everything else (the reaper, timers, probes, the
// API) only posts messages to it, and reads what it publishes.
type Supervisor struct {
	opt    Options
	log    *slog.Logger
	clock  Clock
	events *Recorder
	runner *runner // the mechanics of a run: spawning, probes' wiring
	view   view    // what the API reads without the loop

	mu      sync.Mutex
	queue   []message
	wake    chan struct{}
	stopped chan struct{} // closed when Run has returned
	viewed  chan struct{} // closed when the view first holds what was loaded
	handoff chan chan *Handoff
	subs    map[chan struct{}]struct{}
	bg      sync.WaitGroup // background work the loop started (probe shutdowns, log removal)

	// Owned by the Run goroutine.
	started    time.Time
	cat        *CatalogSnapshot
	units      map[string]*units.Unit // the catalog's: never written to
	problems   map[string]error       // the catalog's: never written to
	members    []Member
	hostLabels units.Labels
	// agentStarted is this host's Member's Started: when this agent
	// started, as the other hosts know it.
	agentStarted time.Time
	hostRec      hostRecord
	instances    map[string]*instance
	owned        map[string]map[string]*instance // owner (unit or job) → its instances
	orphans      map[string]*instance
	remote       map[string][]InstanceSummary // owner → other hosts' instances
	unitRecs     map[string]unitRecord
	specs        map[string]*units.Unit // version → parsed unit, for stored instances and jobs
	jobs         map[string]*job
	cronJobs     map[string]map[string]*job // cron unit → its jobs
	crons        map[string]cronRecord
	cronWake     map[string]*wakeTimer
	orphaning    map[string]bool // units being deleted with --cascade=orphan
	// full are the units refused an instance because this host is at its
	// limit (Limits.InstancesPerHost): planned again when one goes.
	full map[string]bool
	// fenced are this host's instances of exclusive units under the
	// fence; fenceWant the units last told to it (Fence.Want); fenceWake
	// when takeFence is due again for a lease that is ending.
	fenced    map[*instance]struct{}
	fenceWant []string
	fenceWake time.Duration
	dirty     map[string]bool // units to plan in the next pass
	starts    []*instance     // to start in the next pass
	budget    int             // actions left in this pass
	quitting  bool
	// What the next publish sends: instances and units (and cron jobs)
	// that changed, instances that went, whether the hosts did.
	touched       map[string]bool
	touchedUnits  map[string]bool
	gone          []string
	hostsChanged  bool
	remoteChanged bool // the other hosts' instances, to show again
	stats         loopStats
	trim          trimState
}

// message is a function for the loop; done, when set, is closed after the
// pass that ran it has planned and published, and stats, when set, gets
// that pass's figures first.
type message struct {
	f     func()
	done  chan struct{}
	stats *PassStats
}

// loopStats are the loop's own figures, for the log and the benchmarks.
type loopStats struct {
	passes   uint64
	lastPass time.Duration // catalog, reconcile, starts and publish of the last pass
	// passHist counts the passes by duration, for /metrics:
	// passHist[i] those within passBuckets[i], the last the rest.
	passHist [len(passBuckets) + 1]uint64
	passSum  time.Duration
	// mostActions is the most creates and deletes one pass has made.
	mostActions int
}

// job is one job: its record and the unit it was made from.
type job struct {
	rec  jobRecord
	spec *units.Unit // the job unit, or the cron unit (as it was) that made it
	// wake is the pending timer that brings the controller back for a
	// deadline, a back-off or the ttl.
	wake wakeTimer
}

// wakeTimer is a timer that marks a unit dirty at a wall-clock time.
type wakeTimer struct {
	at   time.Time
	stop func() bool
}

// NewSupervisor loads the stored state. It starts nothing: Run does.
func NewSupervisor(opt Options) (*Supervisor, error) {
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
	if opt.Limits.InstancesPerUnit == 0 {
		opt.Limits.InstancesPerUnit = DefaultInstancesPerUnit
	}
	if opt.Limits.InstancesPerHost == 0 {
		opt.Limits.InstancesPerHost = DefaultInstancesPerHost
	}
	if opt.Writer == nil {
		opt.Writer, _ = opt.Catalog.(UnitWriter)
	}
	if opt.Peers == nil {
		opt.Peers = NoPeers{}
	}
	s := &Supervisor{
		opt:          opt,
		log:          opt.Log,
		clock:        opt.Clock,
		wake:         make(chan struct{}, 1),
		stopped:      make(chan struct{}),
		viewed:       make(chan struct{}),
		handoff:      make(chan chan *Handoff),
		subs:         map[chan struct{}]struct{}{},
		units:        map[string]*units.Unit{},
		problems:     map[string]error{},
		instances:    map[string]*instance{},
		owned:        map[string]map[string]*instance{},
		orphans:      map[string]*instance{},
		remote:       map[string][]InstanceSummary{},
		unitRecs:     map[string]unitRecord{},
		specs:        map[string]*units.Unit{},
		jobs:         map[string]*job{},
		cronJobs:     map[string]map[string]*job{},
		crons:        map[string]cronRecord{},
		cronWake:     map[string]*wakeTimer{},
		orphaning:    map[string]bool{},
		full:         map[string]bool{},
		fenced:       map[*instance]struct{}{},
		dirty:        map[string]bool{},
		touched:      map[string]bool{},
		touchedUnits: map[string]bool{},
	}
	s.view.init()
	s.events = opt.Events
	if s.events == nil {
		ev, err := NewRecorder(opt.Store, DefaultMaxEvents)
		if err != nil {
			return nil, fmt.Errorf("load events: %w", err)
		}
		s.events = ev
	}
	s.runner = &runner{
		reaper:   opt.Reaper,
		log:      opt.Log,
		host:     opt.Host,
		agentID:  opt.AgentID,
		env:      opt.Env,
		logDir:   opt.LogDir,
		stateDir: opt.StateDir,
		cgroups:  opt.Cgroups,
		logMax:   opt.LogMaxBytes,
		shim:     opt.Shim,
		fence:    opt.Fence,
		bg:       &s.bg,
		journal:  defaultJournal(),
	}
	s.runner.journal.log = func(instance string, err error) {
		opt.Log.Warn("sending an instance's output to the journal", "instance", instance, "err", err)
	}
	if err := s.load(); err != nil {
		return nil, err
	}
	if opt.Members == nil {
		s.opt.Members = NewLocalMembership(opt.Host, s.hostLabels, opt.Version.Version, opt.Clock.Now())
	} else if err := opt.Members.SetLabels(s.hostLabels); err != nil {
		return nil, fmt.Errorf("host labels: %w", err)
	}
	return s, nil
}

// load reads instances, specs, units, jobs and host labels from the store.
func (s *Supervisor) load() error {
	st := s.opt.Store
	// Most stored versions are the catalog's current ones, parsed
	// already: the same bytes (the version is their hash) at the same
	// path parse the same. With 1000 units that is 1000 parses fewer at
	// each start, a fifth of a re-execution's time.
	//
	// Two unit files of the same bytes (one copied from the other) share
	// a version, and so a stored spec, but are two units: an instance or
	// a job takes the version of its own unit (specFor).
	known := map[string]*units.Unit{}
	ofUnit := map[[2]string]*units.Unit{} // by version and name
	if s.opt.Catalog != nil {
		if snap := s.opt.Catalog.Snapshot(); snap != nil {
			for _, u := range snap.Units {
				known[u.Version] = u
				ofUnit[[2]string{u.Version, u.Name}] = u
			}
		}
	}
	specFor := func(version, unit string) *units.Unit {
		if u := ofUnit[[2]string{version, unit}]; u != nil {
			return u
		}
		u := s.specs[version]
		if u != nil && unit != "" && u.Name != unit {
			// The unit's file has changed since, and another file had
			// these bytes: they are the same unit but for its name.
			named := *u
			named.Name, named.Path = unit, filepath.Join(filepath.Dir(u.Path), unit+".toml")
			return &named
		}
		return u
	}
	// known is only read while the workers decode.
	err := eachDecoded(st, bucketSpecs, func(k, v []byte) (*units.Unit, error) {
		var sr specRecord
		if err := json.Unmarshal(v, &sr); err != nil {
			return nil, fmt.Errorf("spec %x: %w", k, err)
		}
		if u := known[string(k)]; u != nil && u.Path == sr.Path && u.Source == string(sr.Source) {
			return u, nil
		}
		u, err := units.Parse(sr.Path, sr.Source)
		if err != nil {
			return nil, &staleSpec{path: sr.Path, err: err}
		}
		return u, nil
	}, func(k []byte, u *units.Unit, err error) error {
		var stale *staleSpec
		if errors.As(err, &stale) {
			s.log.Warn("stored unit version no longer parses", "path", stale.path, "err", stale.err)
			return nil
		}
		if err != nil {
			return err
		}
		s.specs[string(k)] = u
		return nil
	})
	if err != nil {
		return fmt.Errorf("load specs: %w", err)
	}
	err = st.each(bucketJobs, func(k, v []byte) error {
		var r jobRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("job %s: %w", k, err)
		}
		spec := specFor(r.SpecVersion, cmpOr(r.Cron, r.Name))
		if spec == nil {
			s.log.Error("job's unit version is lost; dropping the job", "job", r.Name)
			st.del(bucketJobs, r.Name)
			return nil
		}
		s.addJob(&job{rec: r, spec: spec})
		return nil
	})
	if err != nil {
		return fmt.Errorf("load jobs: %w", err)
	}
	err = eachDecoded(st, bucketInstances, func(k, v []byte) (r instanceRecord, err error) {
		return r, json.Unmarshal(v, &r)
	}, func(k []byte, r instanceRecord, err error) error {
		if err != nil {
			return fmt.Errorf("instance %s: %w", k, err)
		}
		spec := specFor(r.SpecVersion, s.unitOf(r.Unit)) // the jobs are loaded: a cron run's unit is known
		if spec == nil {
			s.log.Error("instance's unit version is lost; dropping the instance", "instance", r.Name)
			st.del(bucketInstances, r.Name)
			return nil
		}
		r.upgrade()
		r.Host = s.opt.Host // the store is this host's: whatever it was called then
		s.add(&instance{rec: r, spec: spec})
		return nil
	})
	if err != nil {
		return fmt.Errorf("load instances: %w", err)
	}
	err = eachDecoded(st, bucketUnits, func(k, v []byte) (ur unitRecord, err error) {
		return ur, json.Unmarshal(v, &ur)
	}, func(k []byte, ur unitRecord, err error) error {
		if err == nil {
			s.unitRecs[string(k)] = ur
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("load units: %w", err)
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
	s.hostLabels = effectiveLabels(s.opt.HostLabels, s.hostRec)
	return nil
}

// staleSpec is a stored unit version that no longer parses (a newer
// agent is stricter): warned about and left out, not fatal.
type staleSpec struct {
	path string
	err  error
}

func (e *staleSpec) Error() string { return e.path + ": " + e.err.Error() }

// effectiveLabels are the configuration's labels with the changes of
// `tend label host` applied.
func effectiveLabels(config units.Labels, rec hostRecord) units.Labels {
	l := config.Clone()
	if l == nil {
		l = units.Labels{}
	}
	for _, k := range rec.Removed {
		delete(l, k)
	}
	maps.Copy(l, rec.Set)
	return l
}

// post queues f to run on the loop goroutine. It never blocks.
func (s *Supervisor) post(f func()) { s.enqueue(message{f: f}) }

func (s *Supervisor) enqueue(m message) {
	s.mu.Lock()
	s.queue = append(s.queue, m)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// errStopped is returned by calls made after the loop has ended.
var errStopped = errors.New("the agent is shutting down")

// call runs f on the loop goroutine and returns once the pass that ran it
// has planned what f changed and published the outcome, so that what the
// caller reads next shows it.
func (s *Supervisor) call(f func()) error {
	done := make(chan struct{})
	s.enqueue(message{f: f, done: done})
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
	// After the runs' copiers, the lines they queued for the journal.
	defer s.runner.journal.close(time.Second)
	defer s.bg.Wait()
	s.started = s.clock.Now()
	t0 := time.Now()
	stage := func(what string) { s.log.Debug("agent start", "stage", what, "since_run", time.Since(t0)) }
	var later map[*instance]int64
	if s.opt.Handoff != nil {
		s.resume(s.opt.Handoff)
		stage("runs resumed")
	} else {
		later = s.adoptRuns()
		stage("runs adopted")
	}
	s.stopLeftovers(ctx, later)
	// Say everything again, exits too: what this host's earlier agent
	// said is stale to the others from now on.
	for _, i := range s.instances {
		s.touch(i)
	}
	s.takeMembers()
	s.takeRemote()
	s.takeCatalog()
	s.forgetVanished()
	s.markAll()
	// What the store and the handed-over runs say, before the first pass
	// plans anything (with 1000 units that pass takes tens of
	// milliseconds after a handover, and seconds at a first start).
	s.publish()
	close(s.viewed)
	stage("published")
	var fenceChanged <-chan struct{} // nil: never
	if s.opt.Fence != nil {
		fenceChanged = s.opt.Fence.Changed()
	}
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
		case reply := <-s.handoff:
			h := s.handOff()
			reply <- h
			if h != nil {
				s.publish()
				return s.opt.Store.Flush()
			}
		case <-s.wake:
		case <-s.opt.Catalog.Changed():
		case <-s.opt.Members.Changed():
			s.takeMembers()
		case <-s.opt.Peers.Changed():
			s.takeRemote()
		case <-fenceChanged:
			s.takeFence()
		case <-ctx.Done():
			if !s.quitting {
				s.quitting = true
				s.log.Info("stopping all instances")
				longest := time.Duration(0)
				for _, i := range s.sortedInstances() {
					s.logFolded(i, i.exitLog.flush())
					s.stop(i, stopShutdown, "")
					longest = max(longest, i.spec.Template.StopTimeout.D())
				}
				// A process in uninterruptible sleep outlives SIGKILL; do
				// not wait for it forever.
				s.clock.AfterFunc(longest+5*time.Second, func() { s.post(func() { giveUp = true }) })
			}
			ctx = context.Background() // Done only once
		}
	}
}

// pass runs the queued messages, takes the catalog if it changed, plans
// the dirty units, starts what is due and publishes what changed.
// Messages posted while it runs wait for the next pass, so a message that
// posts another (an immediate retry) cannot hold the loop: between passes
// it sees its context and the catalog.
func (s *Supervisor) pass() {
	s.mu.Lock()
	q := s.queue
	s.queue = nil
	s.mu.Unlock()
	for _, m := range q {
		if m.f != nil {
			m.f()
		}
	}
	t0 := time.Now()
	s.takeCatalog()
	planned, started := 0, 0
	if !s.quitting {
		planned = s.reconcile()
		s.wantFenced()
		started = s.startQueued()
		s.afterBurst(planned + started)
	}
	s.publish()
	s.stats.passes++
	s.stats.lastPass = time.Since(t0)
	s.stats.observePass(s.stats.lastPass)
	if s.stats.lastPass > 100*time.Millisecond {
		s.log.Debug("slow pass", "took", s.stats.lastPass, "units", planned, "instances", len(s.instances))
	}
	for _, m := range q {
		if m.stats != nil {
			*m.stats = PassStats{PassNS: s.stats.lastPass.Nanoseconds(), Units: planned, Instances: len(s.instances)}
		}
		if m.done != nil {
			close(m.done)
		}
	}
	s.mu.Lock()
	more := len(s.queue) > 0
	s.mu.Unlock()
	if more || (!s.quitting && (len(s.dirty) > 0 || len(s.starts) > 0)) {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// reconcile plans every dirty unit, within the pass's budget, and reports
// how many it planned. Units that its own actions made dirty are planned
// again in the same pass, a few rounds at most; what is left waits for the
// next pass.
func (s *Supervisor) reconcile() int {
	s.budget = maxActionsPerPass
	planned := 0
	for round := 0; round < maxRounds && len(s.dirty) > 0 && s.budget > 0; round++ {
		names := slices.Sorted(maps.Keys(s.dirty))
		s.dirty = emptied(s.dirty)
		for _, n := range names {
			s.reconcileUnit(n)
		}
		planned += len(names)
	}
	s.stats.mostActions = max(s.stats.mostActions, maxActionsPerPass-s.budget)
	return planned
}

// markAll makes every unit, and every owner of an instance or job, dirty:
// after a start, and when the hosts changed.
func (s *Supervisor) markAll() {
	for n := range s.units {
		s.dirty[n] = true
	}
	for n := range s.problems {
		s.dirty[n] = true
	}
	for owner := range s.owned {
		s.dirty[s.unitOf(owner)] = true
	}
	for n, j := range s.jobs {
		s.dirty[cmpOr(j.rec.Cron, n)] = true
	}
	for n := range s.cronJobs {
		s.dirty[n] = true
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// unitOf is the unit an owner belongs to: a cron unit's job belongs to
// the cron unit, anything else is a unit itself.
func (s *Supervisor) unitOf(owner string) string {
	if j := s.jobs[owner]; j != nil && j.rec.Cron != "" {
		return j.rec.Cron
	}
	return owner
}

// dirtyOwner makes the unit of i's owner dirty.
func (s *Supervisor) dirtyOwner(i *instance) {
	if i.rec.Unit != "" {
		s.dirty[s.unitOf(i.rec.Unit)] = true
	}
}

// takeCatalog takes the catalog's snapshot if it changed, and makes dirty
// the units whose version or problem changed.
func (s *Supervisor) takeCatalog() {
	snap := s.opt.Catalog.Snapshot()
	if snap == s.cat {
		return
	}
	s.cat = snap
	now := s.clock.Now()
	for name, u := range snap.Units {
		old := s.units[name]
		if old == u {
			continue
		}
		s.dirty[name] = true
		s.touchedUnits[name] = true
		if _, ok := s.unitRecs[name]; !ok {
			s.unitRecs[name] = unitRecord{Created: now}
			s.opt.Store.put(bucketUnits, name, s.unitRecs[name])
		}
		if old != nil && old.Version != u.Version {
			s.events.Record(now, KindUnit, name, Normal, "Updated", "supervisor",
				"Unit file changed; new instances use the new template")
		}
		if u.Exclusive && (old == nil || !old.Exclusive) && s.opt.Fence == nil && !s.alone() {
			// A fleet without voters has no fence: say so where the
			// operator looks, rather than let the key promise what the
			// agent does not do.
			s.events.Record(now, KindUnit, name, Warning, "ExclusiveNotEnforced", "supervisor", msgExclusiveNotEnforced)
			s.log.Warn("exclusive = true is not enforced: no cluster.voters", "unit", name)
		}
	}
	for name := range s.units {
		if snap.Units[name] == nil {
			s.dirty[name] = true
			s.touchedUnits[name] = true
		}
	}
	for name, err := range snap.Problems {
		if old := s.problems[name]; old == nil || old.Error() != err.Error() {
			s.events.Record(now, KindUnit, name, Warning, "InvalidUnitFile", "supervisor",
				err.Error()+" (the previous version, if any, keeps running)")
			s.dirty[name] = true
			s.touchedUnits[name] = true
		}
	}
	for name := range s.problems {
		if snap.Problems[name] == nil {
			s.dirty[name] = true
			s.touchedUnits[name] = true
		}
	}
	s.units, s.problems = snap.Units, snap.Problems
	s.dropUnusedSpecs()
}

// takeMembers takes the membership; a change of any host's labels or
// readiness makes every unit dirty.
func (s *Supervisor) takeMembers() {
	ms := s.opt.Members.Members()
	if slices.EqualFunc(ms, s.members, func(a, b Member) bool {
		return a.Name == b.Name && a.Status == b.Status && a.Labels.Equal(b.Labels) &&
			a.Addr == b.Addr && a.API == b.API && a.Version == b.Version && a.Started.Equal(b.Started) && a.Since.Equal(b.Since)
	}) {
		return
	}
	old := make(map[string]*Member, len(s.members))
	for k := range s.members {
		old[s.members[k].Name] = &s.members[k]
	}
	restarted := false
	for k := range ms {
		if o := old[ms[k].Name]; o != nil && !o.Started.Equal(ms[k].Started) {
			restarted = true
		}
	}
	prev := s.members
	s.members = ms
	if restarted {
		s.takeRemote() // what the hosts' earlier agents said is stale now
	}
	now := s.clock.Now()
	// A host that is no longer a member was deleted (tend delete host):
	// only that takes a host out of the membership.
	still, _ := memberFinder(ms)
	for _, m := range prev {
		if still(m.Name) == nil && m.Name != s.opt.Host {
			s.events.Record(now, KindHost, m.Name, Normal, "RemovingNode", "cluster", "Removing host "+m.Name+" from the fleet: it was deleted")
		}
	}
	for _, m := range ms {
		if m.Name == s.opt.Host {
			s.hostLabels = m.Labels
			s.agentStarted = m.Started
			continue
		}
		if o := old[m.Name]; o != nil && o.Status == m.Status {
			continue
		}
		switch m.Status {
		case HostReady:
			s.events.Record(now, KindHost, m.Name, Normal, "NodeReady", "cluster", "Host "+m.Name+" is ready")
		case HostNotReady:
			s.events.Record(now, KindHost, m.Name, Warning, "NodeNotReady", "cluster", "Host "+m.Name+" stopped answering")
		case HostLeft:
			s.events.Record(now, KindHost, m.Name, Normal, "NodeLeft", "cluster", "Host "+m.Name+" left the cluster")
		}
	}
	s.hostsChanged = true
	s.markAll()
}

// takeRemote takes the other hosts' instances and makes dirty the units
// whose instances elsewhere changed. What an earlier run of a host's
// agent said of its processes is not taken for granted
// (InstanceSummary.stale).
func (s *Supervisor) takeRemote() {
	next := map[string][]InstanceSummary{}
	member, _ := memberFinder(s.members)
	for _, in := range s.opt.Peers.Remote() {
		if in.Host == s.opt.Host {
			continue // what a peer says of this host is old news
		}
		if in.stale(member(in.Host)) {
			in = in.unknownProcess()
		}
		next[in.Unit] = append(next[in.Unit], in)
	}
	for owner, list := range next {
		if !slices.EqualFunc(list, s.remote[owner], sameSummary) {
			s.dirty[s.unitOf(owner)] = true
		}
	}
	for owner := range s.remote {
		if _, ok := next[owner]; !ok {
			s.dirty[s.unitOf(owner)] = true
		}
	}
	s.remote = next
	s.remoteChanged = true
}

func sameSummary(a, b InstanceSummary) bool {
	return a.Name == b.Name && a.Unit == b.Unit && a.Kind == b.Kind && a.Slot == b.Slot &&
		a.Host == b.Host && a.Labels.Equal(b.Labels) && a.Life == b.Life &&
		a.Terminating == b.Terminating && a.Ready == b.Ready && a.ExitCode == b.ExitCode &&
		a.Restarts == b.Restarts && a.FailedRuns == b.FailedRuns &&
		a.LastFailure.Equal(b.LastFailure) && a.Created.Equal(b.Created) && a.Started.Equal(b.Started) &&
		a.Status == b.Status && a.PID == b.PID && a.Rollout == b.Rollout && a.FenceEpoch == b.FenceEpoch
}

// forgetVanished drops what the store remembers of units whose files went
// away while the agent was down (their creation time, a cron's last
// schedule), so a unit made again under that name starts afresh.
func (s *Supervisor) forgetVanished() {
	for name := range s.unitRecs {
		if s.units[name] == nil && s.problems[name] == nil {
			delete(s.unitRecs, name)
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

// stopLeftovers stops what an earlier agent on this state directory left
// running (it was killed, so its instances lost their supervisor), before
// anything starts again: no instance may run twice. What ran or waited to
// run is started again once the first pass has planned it.
//
// After a handoff (Options.Handoff) the runs taken over are no leftovers:
// only the cgroups of other runs are removed, and no process is looked
// for by its environment (the agent that handed over had stopped what
// its own predecessor left). later are the runs that began unrecorded
// (adoptRuns), counted once their processes are stopped.
func (s *Supervisor) stopLeftovers(ctx context.Context, later map[*instance]int64) {
	// Which runs were still going when this agent started, before they
	// are stopped: the others ended while no agent ran.
	alive := make(map[*instance]bool)
	for _, i := range s.instances {
		if i.proc == nil && i.rec.Life.hasProcess() {
			alive[i] = runAlive(i.rec.PID, i.rec.PIDStart)
		}
	}
	var keep []string
	for _, i := range s.instances {
		if i.proc != nil && i.proc.Cgroup() != "" {
			keep = append(keep, i.proc.Cgroup())
		}
	}
	if cg := s.opt.Cgroups; cg != nil {
		// Cgroups first: they hold what left the process groups, and what
		// no longer carries TEND_AGENT in its environment.
		if err := cg.RemoveLeftovers(ctx, 10*time.Second, keep...); err != nil {
			s.log.Warn("removing cgroups an earlier agent left", "err", err)
		}
	}
	var pids []int
	var err error
	if s.opt.Handoff == nil {
		// The main processes of the runs taken over are not even read:
		// with 1000 of them, their environments were most of the scan.
		taken := map[int]bool{}
		for _, i := range s.instances {
			if i.proc != nil {
				taken[i.proc.Pid()] = true
			}
		}
		pids, err = FindLeftovers("TEND_AGENT", s.opt.AgentID, taken)
		pids = s.notAdopted(pids)
	}
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
		r := &i.rec
		switch {
		case i.proc != nil || i.restartTimer != nil:
			continue // handed over, running or waiting out its back-off
		case r.Terminating:
			s.remove(i)
			continue
		case r.Life.hasProcess() && !alive[i] && !r.Terminating:
			r.PID, r.PIDStart = 0, 0
			s.runEnded(i, s.endedWhileAway(i))
			continue
		case r.Life.hasProcess():
			r.LastState = State{
				Phase:    PhaseTerminated,
				Reason:   "AgentRestart",
				Message:  "the agent stopped; the run was ended when it came back",
				Started:  r.State.Started,
				Finished: now,
			}
			r.State = State{Phase: PhaseWaiting, Reason: "Pending"}
			r.PID, r.PIDStart = 0, 0
		case r.Life == LifeExited:
			continue
		}
		r.Life = LifePending
		s.save(i)
		s.queueStart(i)
	}
	for _, i := range s.sortedInstances() {
		if run := later[i]; run != 0 {
			s.countUnrecordedRun(i, run)
		}
	}
}

// endedWhileAway is how i's run ended while no agent ran: not known
// (Unknown), unless a shim wrote it down.
func (s *Supervisor) endedWhileAway(i *instance) runEnd {
	r := &i.rec
	end, ok := s.shimEnd(i, r.State.Started, stopNone)
	if !ok {
		return runEnd{Unknown: true, Started: r.State.Started}
	}
	s.log.Info("instance exited while no agent ran; its shim kept how", "instance", r.Name,
		"exit_code", end.Exit.ExitCode(), "signal", end.Exit.SignalName())
	return end
}

// runAlive reports whether the process pid that started at start (clock
// ticks; 0 for not known) is still running.
func runAlive(pid int, start uint64) bool {
	if pid <= 0 {
		return false
	}
	st, err := readProcStat(pid)
	if err != nil || st.gone() {
		return false
	}
	return start == 0 || st.start == start
}

// reconcileUnit plans the unit name and applies what falls to this host.
func (s *Supervisor) reconcileUnit(name string) {
	s.touchedUnits[name] = true
	if s.orphaning[name] {
		return // its instances are released; the file goes next
	}
	u := s.units[name]
	if u == nil {
		if s.problems[name] == nil {
			s.unitGone(name)
		}
		// A file that was never valid since the agent started leaves what
		// runs alone.
		return
	}
	switch u.Kind {
	case units.KindReplicated, units.KindPerHost:
		s.dropJobs(name, false)
		s.reconcileSet(u)
	case units.KindJob:
		s.dropJobs(name, true)
		s.dropKind(name, units.KindJob)
		s.reconcileJobUnit(u)
	case units.KindCron:
		if j := s.jobs[name]; j != nil && j.rec.Cron == "" {
			s.removeJob(j) // it was a job unit
		}
		s.dropKind(name, 0)
		s.reconcileCron(u)
	}
}

// dropKind deletes the instances owned by name that a unit of another
// kind made (kind 0: all of them, for a cron unit owns jobs, not
// instances).
func (s *Supervisor) dropKind(name string, kind units.Kind) {
	for _, i := range s.ownedBy(name) {
		if i.rec.Kind != kind {
			s.delete(i, whyKindChanged)
		}
	}
}

// dropJobs removes the jobs of name that its kind does not have: a cron
// unit's jobs, and unless keepOwn the job of a job unit.
func (s *Supervisor) dropJobs(name string, keepOwn bool) {
	for _, j := range s.sortedCronJobs(name) {
		s.removeJob(j)
	}
	if j := s.jobs[name]; j != nil && j.rec.Cron == "" && !keepOwn {
		s.removeJob(j)
	}
}

// unitGone removes what a deleted unit made: its instances are deleted,
// or released when it was deleted with --cascade=orphan; its jobs and
// records go.
func (s *Supervisor) unitGone(name string) {
	orphan := s.orphaning[name]
	release := func(owner string) {
		for _, i := range s.ownedBy(owner) {
			if orphan {
				s.release(i)
			} else {
				s.delete(i, whyUnitDeleted)
			}
		}
	}
	release(name)
	for _, j := range s.sortedCronJobs(name) {
		release(j.rec.Name)
		s.removeJob(j)
	}
	if j := s.jobs[name]; j != nil && j.rec.Cron == "" {
		s.removeJob(j)
	}
	if _, ok := s.unitRecs[name]; ok {
		delete(s.unitRecs, name)
		s.opt.Store.del(bucketUnits, name)
	}
	if _, ok := s.crons[name]; ok {
		delete(s.crons, name)
		s.opt.Store.del(bucketCrons, name)
	}
	if w := s.cronWake[name]; w != nil {
		if w.stop != nil {
			w.stop()
		}
		delete(s.cronWake, name)
	}
	delete(s.orphaning, name)
	delete(s.full, name)
	s.events.Forget(KindUnit, name)
}

// reconcileSet runs the replicated or per-host controller for u.
func (s *Supervisor) reconcileSet(u *units.Unit) {
	var orphans []InstanceSummary
	if !u.Selector.Empty() && len(s.orphans) > 0 {
		for _, name := range slices.Sorted(maps.Keys(s.orphans)) {
			orphans = append(orphans, s.orphans[name].summary())
		}
	}
	acts := planSet(u, s.summariesOf(u.Name), orphans, s.members)
	from := fromReplicated
	if u.Kind == units.KindPerHost {
		from = fromPerHost
	}
	s.apply(u.Name, acts, func(a Action) *instance {
		i := s.create(u, u.Name, u.Kind, a.Slot)
		now := s.clock.Now()
		s.events.Record(now, KindUnit, u.Name, Normal, "SuccessfulCreate", from, "Created instance: "+i.rec.Name)
		s.recordScheduled(now, i, a)
		return i
	}, u, from)
}

// apply carries out the actions of a plan for owner that fall to this
// host, within the pass's budget; create makes the instance of an
// OpCreate. An action the loop's state has overtaken (the instance went,
// or another unit adopted it first) is skipped and the unit planned again.
func (s *Supervisor) apply(owner string, acts []Action, create func(Action) *instance, u *units.Unit, from string) {
	unit := s.unitOf(owner)
	for _, a := range acts {
		if a.Host != s.opt.Host {
			continue
		}
		switch a.Op {
		case OpCreate, OpDelete:
			if s.budget <= 0 {
				s.dirty[unit] = true
				continue
			}
		}
		var i *instance
		if a.Op != OpCreate {
			if i = s.instances[a.Instance]; i == nil || i.rec.Terminating {
				s.dirty[unit] = true
				continue
			}
		}
		switch a.Op {
		case OpCreate:
			if len(s.instances) >= s.opt.Limits.InstancesPerHost {
				s.refuseCreate(owner, unit, from)
				continue
			}
			s.budget--
			create(a)
		case OpDelete:
			s.budget--
			s.delete(i, a.Why)
			if announced(a.Why) {
				s.events.Record(s.clock.Now(), KindUnit, owner, Normal, "SuccessfulDelete", from, "Deleted instance: "+i.rec.Name)
			}
		case OpRelease:
			if i.rec.Unit == owner {
				s.release(i)
				s.log.Info("instance no longer matches the selector; released", "instance", i.rec.Name, "unit", owner)
			}
		case OpAdopt:
			if i.rec.Unit != "" {
				s.dirty[unit] = true
				continue
			}
			s.adopt(i, u)
		case OpReslot:
			i.rec.Slot = a.Slot
			s.save(i)
		}
	}
}

// msgHostFull is the message of the Warning event on a unit that this
// host created no instance for, being at its limit.
func msgHostFull(limit int) string {
	return fmt.Sprintf("Error creating: this host keeps %d instances, the most it allows (%s in the agent's config); "+
		"the unit waits until some go", limit, units.InstancesPerHostKey)
}

// refuseCreate notes that an instance of owner (a unit's or a job's) was
// not created, this host being at its limit of instances: the unit gets a
// Warning event (once until an instance goes, then folded into the last
// like any repeat) and is planned again when an instance goes (remove),
// not before, so that a full host does not plan the unit on every pass.
func (s *Supervisor) refuseCreate(owner, unit, from string) {
	if s.full[unit] {
		return
	}
	s.full[unit] = true
	s.events.Record(s.clock.Now(), KindUnit, owner, Warning, "FailedCreate", from, msgHostFull(s.opt.Limits.InstancesPerHost))
	s.log.Warn("instance not created: the host is at its limit of instances", "unit", unit, "limit", s.opt.Limits.InstancesPerHost)
}

// add puts i into the loop's maps and indexes.
func (s *Supervisor) add(i *instance) {
	s.instances[i.rec.Name] = i
	if s.fencing(i) {
		s.fenced[i] = struct{}{}
	}
	s.index(i)
	s.touched[i.rec.Name] = true
	s.hostsChanged = true
}

func (s *Supervisor) index(i *instance) {
	if i.rec.Unit == "" {
		s.orphans[i.rec.Name] = i
		return
	}
	m := s.owned[i.rec.Unit]
	if m == nil {
		m = map[string]*instance{}
		s.owned[i.rec.Unit] = m
	}
	m[i.rec.Name] = i
}

func (s *Supervisor) unindex(i *instance) {
	if i.rec.Unit == "" {
		delete(s.orphans, i.rec.Name)
		return
	}
	if m := s.owned[i.rec.Unit]; m != nil {
		delete(m, i.rec.Name)
		if len(m) == 0 {
			delete(s.owned, i.rec.Unit)
		}
	}
}

// setOwner moves i to another owner ("" orphans it).
func (s *Supervisor) setOwner(i *instance, owner string) {
	s.touchOwner(i)
	s.unindex(i)
	i.rec.Unit = owner
	s.index(i)
	s.save(i)
}

// release orphans i: it keeps running, unmanaged, and any unit whose
// selector matches it may adopt it.
func (s *Supervisor) release(i *instance) {
	s.dirtyOwner(i)
	s.setOwner(i, "")
	s.markAdopters(i)
}

// adopt makes the orphan i an instance of u.
func (s *Supervisor) adopt(i *instance, u *units.Unit) {
	i.rec.Kind = u.Kind
	s.setOwner(i, u.Name)
	s.log.Info("orphaned instance matches the selector; adopted", "instance", i.rec.Name, "unit", u.Name)
}

// markAdopters makes dirty the units that could adopt the orphan i.
func (s *Supervisor) markAdopters(i *instance) {
	if i.rec.Unit != "" || i.rec.Terminating || i.rec.Life == LifeExited {
		return
	}
	for name, u := range s.units {
		if (u.Kind == units.KindReplicated || u.Kind == units.KindPerHost) &&
			!u.Selector.Empty() && u.Selector.Matches(i.rec.Labels) {
			s.dirty[name] = true
		}
	}
}

// ownedBy returns the local instances of owner, sorted by name.
func (s *Supervisor) ownedBy(owner string) []*instance {
	m := s.owned[owner]
	out := make([]*instance, 0, len(m))
	for _, i := range m {
		out = append(out, i)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].rec.Name < out[b].rec.Name })
	return out
}

// summariesOf returns the instances of owner on every host, sorted by
// name.
func (s *Supervisor) summariesOf(owner string) []InstanceSummary {
	m, rem := s.owned[owner], s.remote[owner]
	out := make([]InstanceSummary, 0, len(m)+len(rem))
	for _, i := range m {
		out = append(out, i.summary())
	}
	out = append(out, rem...)
	sort.Slice(out, func(a, b int) bool {
		if out[a].Name != out[b].Name {
			return out[a].Name < out[b].Name
		}
		return out[a].Host < out[b].Host
	})
	return out
}

func (s *Supervisor) sortedInstances() []*instance {
	out := make([]*instance, 0, len(s.instances))
	for _, i := range s.instances {
		out = append(out, i)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].rec.Name < out[b].rec.Name })
	return out
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

// save queues the instance's record for the store and its copy for the
// next publish.
func (s *Supervisor) save(i *instance) {
	s.opt.Store.put(bucketInstances, i.rec.Name, i.rec) // a copy: the writer encodes it later
	s.touch(i)
}

// touch marks i, and what shows it (its unit, its job and the job's cron
// unit), for the next publish.
func (s *Supervisor) touch(i *instance) {
	s.touched[i.rec.Name] = true
	s.touchOwner(i)
}

func (s *Supervisor) touchOwner(i *instance) {
	if i.rec.Unit != "" {
		s.touchedUnits[i.rec.Unit] = true
		if u := s.unitOf(i.rec.Unit); u != i.rec.Unit {
			s.touchedUnits[u] = true
		}
	}
}

// noteSpec keeps the unit version that instances or jobs are made from.
func (s *Supervisor) noteSpec(u *units.Unit) {
	if s.specs[u.Version] == nil {
		s.specs[u.Version] = u
		s.opt.Store.put(bucketSpecs, u.Version, specRecord{Path: u.Path, Source: []byte(u.Source)})
	}
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

// Subscribe returns a channel that receives after every pass of the loop
// that changed what it publishes (coalesced), and a function that ends
// the subscription.
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

// trimState is whether the loop owes the runtime a trim.
type trimState struct {
	burst   bool // a burst has happened since the last trim
	settled bool // the start has settled (Options.Settled)
}

// burstWork is how much one pass must plan or start to be a burst (the
// agent's start, an apply of many units). In the first quiet pass after a
// burst, once the store has written it, the loop has the runtime return
// the memory the burst used (a forced collection, off the loop: about 20
// ms of CPU at 1000 units), so that an agent at rest holds about what it
// needs, the heap's live part, rather than the peak of its start, twice
// that.
const burstWork = 100

// afterBurst notes a pass's work, trims after a burst, and says when the
// start has settled (its first quiet pass, after that trim).
func (s *Supervisor) afterBurst(work int) {
	if work >= burstWork {
		s.trim.burst = true
		return
	}
	trim, settle := s.trim.burst, !s.trim.settled && s.opt.Settled != nil
	s.trim.burst, s.trim.settled = false, true
	if !trim && !settle {
		return
	}
	s.bg.Go(func() {
		if trim {
			s.opt.Store.Flush() // the writer's encoding of the burst is garbage too
			t0 := time.Now()
			debug.FreeOSMemory()
			s.log.Debug("memory given back after a burst", "took", time.Since(t0))
		}
		if settle {
			s.opt.Settled()
		}
	})
}

// recordScheduled says where a new instance was placed and why there, as
// the scheduler's Scheduled event does, and when its slot came from a host
// that stopped answering or left, which one.
func (s *Supervisor) recordScheduled(now time.Time, i *instance, a Action) {
	if len(s.members) <= 1 && a.From == "" {
		return // one host: there is no choice to tell of
	}
	msg := fmt.Sprintf("Successfully assigned %s to %s", i.rec.Name, s.opt.Host)
	reason := "Scheduled"
	if a.From != "" {
		reason = "Rescheduled"
		why := "NodeNotReady"
		if a.FromStatus == HostLeft {
			why = "NodeLeft"
		}
		msg = fmt.Sprintf("Slot %d rescheduled from host %s (%s): assigned %s to %s", a.Slot, a.From, why, i.rec.Name, s.opt.Host)
	}
	s.events.Record(now, KindInstance, i.rec.Name, Normal, reason, fromScheduler, msg)
}
