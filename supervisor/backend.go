package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tendhq/tend/units"
)

// The Supervisor serves the local API: every method below runs its work on
// the loop goroutine (call) and returns copies.
var _ Backend = (*Supervisor)(nil)

// Instances implements Backend.
func (s *Supervisor) Instances(sel units.Selector) []Instance {
	var out []Instance
	s.call(func() {
		for _, i := range s.sortedInstances() {
			if sel.Matches(i.rec.Labels) {
				out = append(out, i.publish(s.opt.Host))
			}
		}
	})
	return out
}

// Instance implements Backend.
func (s *Supervisor) Instance(name string) (Instance, error) {
	var out Instance
	err := errNotFound("instance", name)
	if cerr := s.call(func() {
		if i := s.instances[name]; i != nil {
			out, err = i.publish(s.opt.Host), nil
		}
	}); cerr != nil {
		return out, cerr
	}
	return out, err
}

func errNotFound(kind, name string) error {
	return fmt.Errorf("%s %q: %w", kind, name, ErrNotFound)
}

// DeleteInstance implements Backend.
func (s *Supervisor) DeleteInstance(name string) error {
	err := errNotFound("instance", name)
	if cerr := s.call(func() {
		if i := s.instances[name]; i != nil {
			err = nil
			s.delete(i, "deleted by request")
		}
	}); cerr != nil {
		return cerr
	}
	return err
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

// LabelInstance implements Backend.
func (s *Supervisor) LabelInstance(name string, c LabelChange) (Instance, error) {
	var out Instance
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
		// Reconcile now, so the answer shows ownership as it now is.
		if !s.quitting {
			s.reconcile()
		}
		out = i.publish(s.opt.Host)
	}); cerr != nil {
		return out, cerr
	}
	return out, err
}

// Logs implements Backend.
func (s *Supervisor) Logs(ctx context.Context, name string, opts LogOptions) (io.ReadCloser, error) {
	var dir string
	if err := s.call(func() {
		if i := s.instances[name]; i != nil {
			dir = s.logDir(i)
		}
	}); err != nil {
		return nil, err
	}
	if dir == "" {
		return nil, errNotFound("instance", name)
	}
	rc, err := ReadLog(ctx, dir, opts)
	if errors.Is(err, os.ErrNotExist) {
		if opts.Previous {
			return nil, fmt.Errorf("instance %q has no previous run: %w", name, ErrNotFound)
		}
		return nil, fmt.Errorf("instance %q has no output yet: %w", name, ErrNotFound)
	}
	return rc, err
}

// publishUnit makes the wire copy of u with its counts. Loop goroutine only.
func (s *Supervisor) publishUnit(u *units.Unit) Unit {
	out := Unit{
		Name:     u.Name,
		Kind:     u.Kind.String(),
		Path:     u.Path,
		Version:  u.Version,
		Labels:   u.Labels.Clone(),
		Selector: u.Selector.String(),
		Created:  s.unitSince[u.Name],
		Source:   string(u.Source),
		Template: TemplateSummary{
			Labels:     u.Template.Labels.Clone(),
			Command:    append([]string(nil), u.Template.Command...),
			Env:        u.Template.Env,
			WorkingDir: u.Template.WorkingDir,
			User:       u.Template.User,
			Restart:    u.Template.Restart.String(),
		},
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
	out.Desired = s.opt.Placement.Want(u, s.opt.Host, s.hostLabels)
	for _, i := range s.instances {
		if i.rec.Unit != u.Name {
			continue
		}
		switch {
		case i.rec.Terminating:
		case i.proc != nil:
			out.Current++
			out.Running++
			if i.ready() {
				out.Ready++
			}
		case i.rec.Done && i.rec.State.ExitCode == 0:
			out.Succeeded++
		case i.rec.Done:
			out.Failed++
		default:
			out.Current++
			out.Waiting++
		}
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
		for _, j := range s.sortedJobs() {
			if j.rec.Cron == u.Name && !j.finished() {
				out.ActiveJobs = append(out.ActiveJobs, j.rec.Name)
			}
		}
	}
	return out
}

// Units implements Backend. Jobs made by cron units are listed with the
// jobs (kind "job" or all), as kubectl lists a CronJob's Jobs.
func (s *Supervisor) Units(kind string) []Unit {
	var out []Unit
	s.call(func() {
		for _, u := range s.sortedUnits() {
			if kind == "" || u.Kind.String() == kind {
				out = append(out, s.publishUnit(u))
			}
		}
		if kind == "" || kind == units.KindJob.String() {
			for _, j := range s.sortedJobs() {
				if j.rec.Cron != "" {
					out = append(out, s.publishCronJob(j))
				}
			}
		}
		sort.SliceStable(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	})
	return out
}

// publishJobInto adds a job's progress to its wire copy.
func (s *Supervisor) publishJobInto(out *Unit, j *job) {
	u := j.spec
	c := s.countJob(j)
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
}

// publishCronJob makes the wire copy of a job a cron unit made.
func (s *Supervisor) publishCronJob(j *job) Unit {
	out := s.publishUnit(j.spec)
	out.Name, out.Kind, out.Path, out.Created = j.rec.Name, units.KindJob.String(), "", j.rec.Start
	out.Schedule, out.TimeZone, out.Suspend, out.ConcurrencyPolicy = "", "", false, ""
	out.LastSchedule, out.ActiveJobs, out.Missed = time.Time{}, nil, 0
	out.Desired, out.Current, out.Ready, out.Running, out.Waiting = 0, 0, 0, 0, 0
	for _, i := range s.instances {
		if i.rec.Unit == j.rec.Name && i.proc != nil {
			out.Current++
			out.Running++
		}
	}
	s.publishJobInto(&out, j)
	return out
}

func (s *Supervisor) sortedUnits() []*units.Unit {
	out := make([]*units.Unit, 0, len(s.units))
	for _, u := range s.units {
		out = append(out, u)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out
}

// Unit implements Backend; a cron unit's jobs are found by name too.
func (s *Supervisor) Unit(name string) (Unit, error) {
	var out Unit
	err := errNotFound("unit", name)
	if cerr := s.call(func() {
		if u := s.units[name]; u != nil {
			out, err = s.publishUnit(u), nil
		} else if j := s.jobs[name]; j != nil && j.rec.Cron != "" {
			out, err = s.publishCronJob(j), nil
		}
	}); cerr != nil {
		return out, cerr
	}
	return out, err
}

// ApplyUnit implements Backend. The catalog's change is taken into the
// loop before the answer, so a `get` right after `apply` sees the unit.
func (s *Supervisor) ApplyUnit(filename string, data []byte) (ApplyResult, error) {
	res, err := s.opt.Catalog.Put(filename, data)
	if err != nil {
		return res, err
	}
	if cerr := s.call(s.loadCatalog); cerr != nil {
		return res, cerr
	}
	return res, nil
}

// DeleteUnit implements Backend.
func (s *Supervisor) DeleteUnit(name string, orphan bool) error {
	var err error
	if cerr := s.call(func() {
		if j := s.jobs[name]; j != nil && j.rec.Cron != "" && s.units[name] == nil {
			// A job a cron unit made: it has no file of its own.
			if orphan {
				for _, i := range s.instances {
					if i.rec.Unit == name {
						s.release(i, nil)
					}
				}
			}
			s.removeJob(j)
			return
		}
		if s.units[name] == nil && s.problems[name] == nil {
			err = errNotFound("unit", name)
			return
		}
		if orphan {
			s.orphaning[name] = true
			for _, i := range s.instances {
				j := s.jobs[i.rec.Unit]
				if i.rec.Unit == name || (j != nil && j.rec.Cron == name) {
					s.release(i, nil)
				}
			}
			// The release must be on disk before the file goes: after a
			// crash in between, the instances would otherwise be deleted.
			if err = s.opt.Store.Flush(); err != nil {
				delete(s.orphaning, name)
				return
			}
		}
		if err = s.opt.Catalog.Remove(name); err != nil {
			delete(s.orphaning, name)
			return
		}
		s.loadCatalog()
	}); cerr != nil {
		return cerr
	}
	return err
}

// ScaleUnit implements Backend: it rewrites the `replicas` key of the unit
// file (for a job, `parallelism`), keeping the rest of the file as it is.
func (s *Supervisor) ScaleUnit(name string, n int) (Unit, error) {
	if n < 0 {
		return Unit{}, fmt.Errorf("replicas must not be negative: %w", ErrInvalid)
	}
	var u *units.Unit
	if err := s.call(func() { u = s.units[name] }); err != nil {
		return Unit{}, err
	}
	if u == nil {
		return Unit{}, errNotFound("unit", name)
	}
	if err := s.opt.Catalog.Problems()[name]; err != nil {
		// Rewriting the last valid version would throw the user's edit
		// away.
		return Unit{}, fmt.Errorf("unit %q: its file has errors; fix it first:\n%v: %w", name, err, ErrInvalid)
	}
	key := "replicas"
	switch u.Kind {
	case units.KindJob:
		key = "parallelism"
	case units.KindPerHost, units.KindCron:
		return Unit{}, fmt.Errorf("unit %q is %s: it cannot be scaled: %w", name, u.Kind, ErrInvalid)
	}
	src := setTopLevelInt(u.Source, key, n)
	if _, err := s.ApplyUnit(u.Path, src); err != nil {
		return Unit{}, err
	}
	return s.Unit(name)
}

var topLevelKey = regexp.MustCompile(`^\s*([A-Za-z0-9_-]+)\s*=`)

// setTopLevelInt sets key = n among the top-level keys of a TOML document
// (before its first table), replacing the key's line if there is one and
// adding it after the kind line (or first) otherwise. Comments and the
// rest of the file are kept.
func setTopLevelInt(src []byte, key string, n int) []byte {
	lines := strings.SplitAfter(string(src), "\n")
	insertAt := 0
	for idx, line := range lines {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "[") {
			break
		}
		m := topLevelKey.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		switch m[1] {
		case key:
			comment := ""
			if j := strings.Index(line, "#"); j >= 0 {
				comment = "  " + strings.TrimRight(line[j:], "\n")
			}
			lines[idx] = key + " = " + strconv.Itoa(n) + comment + "\n"
			return []byte(strings.Join(lines, ""))
		case "kind":
			insertAt = idx + 1
		}
	}
	newLine := key + " = " + strconv.Itoa(n) + "\n"
	if insertAt > 0 && !strings.HasSuffix(lines[insertAt-1], "\n") {
		lines[insertAt-1] += "\n"
	}
	lines = append(lines[:insertAt], append([]string{newLine}, lines[insertAt:]...)...)
	return []byte(strings.Join(lines, ""))
}

// Hosts implements Backend.
func (s *Supervisor) Hosts() []Host {
	var out []Host
	s.call(func() { out = []Host{s.publishHost()} })
	return out
}

func (s *Supervisor) publishHost() Host {
	return Host{
		Name:      s.opt.Host,
		Labels:    s.hostLabels.Clone(),
		Status:    "Ready",
		Version:   s.opt.Version.Version,
		Started:   s.started,
		Instances: len(s.instances),
	}
}

// Host implements Backend.
func (s *Supervisor) Host(name string) (Host, error) {
	var out Host
	if err := s.call(func() { out = s.publishHost() }); err != nil {
		return out, err
	}
	if name != out.Name {
		return Host{}, errNotFound("host", name)
	}
	return out, nil
}

// LabelHost implements Backend. The change is kept in the store, over the
// configuration's labels; per-host units react at once.
func (s *Supervisor) LabelHost(name string, c LabelChange) (Host, error) {
	var out Host
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
		s.hostRec = rec
		s.hostLabels = l
		s.opt.Store.put(bucketHosts, s.opt.Host, rec)
		s.events.Record(s.clock.Now(), KindHost, name, Normal, "Labelled", "supervisor",
			"Host labels are now "+labelsOrNone(l))
		if !s.quitting {
			s.reconcile()
		}
		out = s.publishHost()
	}); cerr != nil {
		return out, cerr
	}
	return out, err
}

func labelsOrNone(l units.Labels) string {
	if len(l) == 0 {
		return "<none>"
	}
	return l.String()
}

// Events implements Backend.
func (s *Supervisor) Events(kind, object string) []Event { return s.events.List(kind, object) }

// Changes implements Backend.
func (s *Supervisor) Changes() (<-chan struct{}, func()) { return s.Subscribe() }

// Version implements Backend.
func (s *Supervisor) Version() Version { return s.opt.Version }
