package supervisor

import (
	"cmp"
	"maps"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/tendhq/tend/units"
)

// view is what the loop publishes for the API: copies of instances, units
// and hosts, updated at the end of each pass for what the pass changed
// (never rebuilt), and read without the loop, so that a `tend get` answers
// while the loop is busy starting five hundred processes. The loop is its
// only writer.
type view struct {
	mu        sync.RWMutex
	instances map[string]Instance
	remote    map[string]Instance // other hosts' instances, from their summaries
	units     map[string]Unit     // units, and the jobs cron units made
	hosts     []Host
}

func (v *view) init() {
	v.instances = map[string]Instance{}
	v.units = map[string]Unit{}
}

// publish hands the view and the peers what the pass changed. Loop
// goroutine.
func (s *Supervisor) publish() {
	if len(s.touched) == 0 && len(s.touchedUnits) == 0 && len(s.gone) == 0 && !s.hostsChanged && !s.remoteChanged {
		return
	}
	if s.remoteChanged || s.hostsChanged {
		s.view.setRemote(s.remoteInstances())
		s.remoteChanged = false
		for owner := range s.remote {
			s.touchedUnits[s.unitOf(owner)] = true // their counts
		}
	}
	insts := make(map[string]*Instance, len(s.touched))
	var sums []InstanceSummary
	for name := range s.touched {
		if i := s.instances[name]; i != nil {
			in := i.publish()
			insts[name] = &in
			sum := i.summary()
			sum.Agent = s.agentStarted
			sums = append(sums, sum)
		}
	}
	for _, name := range s.gone {
		if s.instances[name] == nil {
			insts[name] = nil
		}
	}
	us := make(map[string]*Unit, len(s.touchedUnits))
	for name := range s.touchedUnits {
		switch j := s.jobs[name]; {
		case s.units[name] != nil:
			u := s.publishUnit(s.units[name])
			us[name] = &u
		case j != nil && j.rec.Cron != "":
			u := s.publishCronJob(j)
			us[name] = &u
		case s.problems[name] != nil:
			// A file that was never valid: listed, with its problem,
			// so that it is not seen in the events only.
			u := Unit{Name: name, Path: s.problemPath(name), Error: s.problems[name].Error()}
			us[name] = &u
		default:
			us[name] = nil
		}
	}
	var hosts []Host
	if s.hostsChanged {
		hosts = s.publishHosts()
	}
	s.view.update(insts, us, hosts)
	if len(sums) > 0 || len(s.gone) > 0 {
		sort.Slice(sums, func(a, b int) bool { return sums[a].Name < sums[b].Name })
		s.opt.Peers.Publish(sums, s.gone)
	}
	s.touched = emptied(s.touched)
	s.touchedUnits = emptied(s.touchedUnits)
	s.gone = nil
	s.hostsChanged = false
	s.notifySubs()
}

// update applies a pass's changes: a nil entry removes.
func (v *view) update(insts map[string]*Instance, us map[string]*Unit, hosts []Host) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for name, in := range insts {
		if in == nil {
			delete(v.instances, name)
		} else {
			v.instances[name] = *in
		}
	}
	for name, u := range us {
		if u == nil {
			delete(v.units, name)
		} else {
			v.units[name] = *u
		}
	}
	if hosts != nil {
		v.hosts = hosts
	}
}

func (v *view) instance(name string) (Instance, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if in, ok := v.instances[name]; ok {
		return in, true
	}
	in, ok := v.remote[name]
	return in, ok
}

// local reports whether name is an instance of this host.
func (v *view) local(name string) bool {
	v.mu.RLock()
	defer v.mu.RUnlock()
	_, ok := v.instances[name]
	return ok
}

func (v *view) setRemote(m map[string]Instance) {
	v.mu.Lock()
	v.remote = m
	v.mu.Unlock()
}

func (v *view) listInstances(sel units.Selector) []Instance {
	v.mu.RLock()
	defer v.mu.RUnlock()
	out := make([]Instance, 0, len(v.instances)+len(v.remote))
	for _, m := range []map[string]Instance{v.instances, v.remote} {
		for _, in := range m {
			if sel.Matches(in.Labels) {
				out = append(out, in)
			}
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out
}

func (v *view) unit(name string) (Unit, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	u, ok := v.units[name]
	return u, ok
}

// listUnits lists the units of kind (0: all); the jobs cron units made
// are listed with the jobs, as kubectl lists a CronJob's Jobs.
func (v *view) listUnits(kind units.Kind) []Unit {
	v.mu.RLock()
	defer v.mu.RUnlock()
	var out []Unit
	for _, name := range slices.Sorted(maps.Keys(v.units)) {
		if u := v.units[name]; kind == 0 || u.Kind == kind {
			out = append(out, u)
		}
	}
	return out
}

func (v *view) listHosts() []Host {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return slices.Clone(v.hosts)
}

// remoteInstances are the API's copies of the other hosts' instances.
func (s *Supervisor) remoteInstances() map[string]Instance {
	ready := map[string]bool{}
	for _, m := range s.members {
		ready[m.Name] = m.Status == HostReady
	}
	out := map[string]Instance{}
	for _, list := range s.remote {
		for _, in := range list {
			out[in.Name] = remoteInstance(in, ready[in.Host])
		}
	}
	return out
}

// publishUnit makes the API's copy of u with its counts. Loop goroutine.
func (s *Supervisor) publishUnit(u *units.Unit) Unit {
	out := Unit{
		Name:        u.Name,
		Kind:        u.Kind,
		Path:        u.Path,
		Version:     u.Version,
		Labels:      u.Labels,
		Selector:    u.Selector.String(),
		Created:     s.unitRecs[u.Name].Created,
		Source:      u.Source,
		Exclusive:   u.Exclusive,
		Stopped:     u.Stopped,
		Replicas:    u.Replicas,
		RestartedAt: u.RestartedAt,
		Template: TemplateSummary{
			Labels:     u.Template.Labels,
			Command:    u.Template.Command,
			Env:        u.Template.Env,
			WorkingDir: u.Template.WorkingDir,
			User:       u.Template.User,
			Restart:    u.Template.Restart.String(),
			Limits:     u.Template.Resources.Describe(),
		},
	}
	if u.Template.Log != units.LogFile {
		out.Template.Log = u.Template.Log.String()
	}
	if len(u.Placement.NodeSelector) > 0 {
		out.NodeSelector = u.Placement.NodeSelector.String()
	}
	if p := u.Template.Liveness; p != nil {
		out.Template.Liveness = p.Describe()
	}
	if p := u.Template.Readiness; p != nil {
		out.Template.Readiness = p.Describe()
	}
	if p := u.Template.Startup; p != nil {
		out.Template.Startup = p.Describe()
	}
	if err := s.problems[u.Name]; err != nil {
		out.Error = err.Error()
	}
	switch hosts := len(eligibleHosts(u, s.members)); {
	case hosts == 0, u.Stopped:
	case u.Kind == units.KindReplicated:
		out.Desired = u.Replicas
	case u.Kind == units.KindPerHost:
		out.Desired = hosts
	}
	for _, i := range s.owned[u.Name] {
		countInto(&out, i)
	}
	for _, in := range s.remote[u.Name] {
		countRemote(&out, &in)
	}
	switch u.Kind {
	case units.KindJob:
		if j := s.jobs[u.Name]; j != nil {
			s.publishJobInto(&out, j)
		}
	case units.KindCron:
		rec := s.crons[u.Name]
		out.Schedule = u.Schedule
		out.TimeZone = u.TimeZone
		out.Suspend = u.Suspend
		out.ConcurrencyPolicy = u.ConcurrencyPolicy.String()
		out.LastSchedule = rec.LastSchedule
		out.Missed = rec.Missed
		for _, j := range s.sortedCronJobs(u.Name) {
			if !j.rec.finished() {
				out.ActiveJobs = append(out.ActiveJobs, j.rec.Name)
			}
		}
	}
	return out
}

// countInto counts i in its unit's copy.
func countInto(out *Unit, i *instance) {
	switch r := &i.rec; {
	case r.Terminating:
	case r.Life.hasProcess():
		out.Current++
		out.Running++
		if i.ready() {
			out.Ready++
		}
	case r.Life == LifeExited && r.State.ExitCode == 0:
		out.Succeeded++
	case r.Life == LifeExited:
		out.Failed++
	default:
		out.Current++
		out.Waiting++
	}
}

// countRemote counts an instance of another host in its unit's copy.
func countRemote(out *Unit, in *InstanceSummary) {
	switch {
	case in.Terminating:
	case in.running():
		out.Current++
		out.Running++
		if in.Ready {
			out.Ready++
		}
	case in.succeeded():
		out.Succeeded++
	case in.Life == LifeExited:
		out.Failed++
	default:
		out.Current++
		out.Waiting++
	}
}

// publishJobInto adds a job's progress to its copy.
func (s *Supervisor) publishJobInto(out *Unit, j *job) {
	u := j.spec
	c := countAttempts(&j.rec, s.fleetAttempts(j))
	out.Completions = u.Completions
	out.Parallelism = u.Parallelism
	out.BackoffLimit = u.BackoffLimit
	out.Active = c.active
	out.Succeeded = c.succeeded
	out.Failed = c.failures
	out.StartTime = j.rec.Start
	out.CompletionTime = j.rec.Completion
	out.Condition = j.rec.Condition
	out.Reason = j.rec.Reason
	out.Owner = j.rec.Cron
	out.CompletionMode = "NonIndexed"
	if j.rec.Indexed {
		out.CompletionMode = "Indexed"
		out.CompletedIndexes = j.rec.Done.String()
	}
}

// problemPath is the file of a unit that has only a problem, when the
// catalog is a directory.
func (s *Supervisor) problemPath(name string) string {
	if d, ok := s.opt.Catalog.(interface{ Dir() string }); ok {
		return filepath.Join(d.Dir(), name+".toml")
	}
	return ""
}

// publishCronJob makes the copy of a job a cron unit made.
func (s *Supervisor) publishCronJob(j *job) Unit {
	out := s.publishUnit(j.spec)
	out.Name, out.Kind, out.Path, out.Created, out.Error = j.rec.Name, units.KindJob, "", j.rec.Start, ""
	out.Schedule, out.TimeZone, out.Suspend, out.ConcurrencyPolicy = "", "", false, ""
	out.LastSchedule, out.ActiveJobs, out.Missed = time.Time{}, nil, 0
	out.Desired, out.Current, out.Ready, out.Running, out.Waiting = 0, 0, 0, 0, 0
	for _, i := range s.owned[j.rec.Name] {
		if i.proc != nil {
			out.Current++
			out.Running++
		}
	}
	s.publishJobInto(&out, j)
	return out
}

// publishHosts makes the copies of the hosts.
func (s *Supervisor) publishHosts() []Host {
	count := map[string]int{s.opt.Host: len(s.instances)}
	for _, list := range s.remote {
		for _, in := range list {
			count[in.Host]++
		}
	}
	out := make([]Host, 0, len(s.members))
	for _, m := range s.members {
		out = append(out, Host{
			Name:      m.Name,
			Labels:    m.Labels,
			Status:    m.Status.String(),
			Addr:      m.Addr,
			API:       m.API,
			Since:     cmp.Or(m.Since, m.Started),
			Version:   m.Version,
			Started:   m.Started,
			Instances: count[m.Name],
		})
	}
	return out
}
