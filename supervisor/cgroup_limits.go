package supervisor

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tendhq/tend/units"
)

// The template's memory_max, cpu_max and pids_max, written into a run's
// cgroup before its process starts in it, and the OOM kills read from it
// when the run ends.
//
// A limit needs its controller in the base's cgroup.subtree_control, so
// that the runs' cgroups have the controller's files. The agent enables
// memory, cpu and pids there when the base has them (OpenCgroups). A
// limit whose controller the base does not give, or set where the agent
// has no cgroups at all, is not applied: the instance starts without it,
// and its unit gets a Warning event, LimitNotApplied, once per version.

// limitControllers are the controllers the limits need, in the order the
// agent enables them.
var limitControllers = []string{"memory", "cpu", "pids"}

// reasonOOMKilled is the State reason of a run in whose cgroup the
// kernel's OOM killer killed a process, Kubernetes' word for it.
const reasonOOMKilled = "OOMKilled"

// controllers is what a base gives its runs' cgroups.
type controllers struct {
	// available is the base's cgroup.controllers, as the kernel lists
	// it ("" for none): what the base may enable for its children.
	available string
	// enabled are the limit controllers in the base's
	// cgroup.subtree_control, which the runs' cgroups have; failed, why
	// one that is available could not be enabled.
	enabled map[string]bool
	failed  map[string]error
}

// enableControllers enables the limit controllers that the cgroup base
// has in its cgroup.subtree_control, one at a time so that one the
// kernel refuses leaves the others enabled, and reports what the base
// gives its children then.
func enableControllers(base string) controllers {
	c := controllers{enabled: map[string]bool{}, failed: map[string]error{}}
	data, err := os.ReadFile(filepath.Join(base, "cgroup.controllers"))
	if err != nil {
		return c
	}
	c.available = strings.TrimSpace(string(data))
	have := strings.Fields(c.available)
	for _, name := range limitControllers {
		if !slices.Contains(have, name) {
			continue
		}
		// Writing "+name" where it is enabled already is no error.
		if err := os.WriteFile(filepath.Join(base, "cgroup.subtree_control"), []byte("+"+name), 0); err != nil {
			c.failed[name] = err
			continue
		}
		c.enabled[name] = true
	}
	return c
}

// A runLimit is one of the template's limits as its cgroup file has it.
type runLimit struct {
	key        string // the template's key, memory_max
	controller string // memory
	file       string // memory.max
	value      string // what is written into file; "" when the unit sets no limit
}

// runLimits lists the limits r sets.
func runLimits(r units.Resources) []runLimit {
	var out []runLimit
	if r.MemoryMax > 0 {
		out = append(out, runLimit{"memory_max", "memory", "memory.max", strconv.FormatInt(int64(r.MemoryMax), 10)})
	}
	if r.CPUMax > 0 {
		out = append(out, runLimit{"cpu_max", "cpu", "cpu.max", fmt.Sprintf("%d %d", r.CPUMax.Micros(), units.CPUPeriod)})
	}
	if r.PidsMax > 0 {
		out = append(out, runLimit{"pids_max", "pids", "pids.max", strconv.Itoa(r.PidsMax)})
	}
	return out
}

// makeRun makes the cgroup dir of a run with the limits r sets, before
// anything starts in it: each limit whose controller c's runs have is
// written into its file. The others are left out, as unapplied says. A
// limit the kernel refuses fails the run's start, and the caller removes
// dir. Safe for concurrent use (spawner goroutines).
func (c *Cgroups) makeRun(dir string, r units.Resources) error {
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("make cgroup %s: %w", dir, err)
	}
	for _, l := range runLimits(r) {
		if !c.ctl.enabled[l.controller] {
			continue
		}
		if err := writeSmall(filepath.Join(dir, l.file), []byte(l.value), 0); err != nil {
			return fmt.Errorf("cgroup %s: %s: write %s %q: %w", dir, l.key, l.file, l.value, err)
		}
	}
	return nil
}

// unapplied says, for each limit r sets that runs under c cannot have,
// which key it is and why: "memory_max: the memory controller is not
// available in cgroup /sys/fs/cgroup/unified/tend.1234 (controllers:
// hugetlb)". A nil c (no cgroups) applies none.
func (c *Cgroups) unapplied(r units.Resources) []string {
	var out []string
	for _, l := range runLimits(r) {
		switch {
		case c == nil:
			out = append(out, l.key+": not applied: this agent contains instances by process groups only, without cgroup v2 (its log says why, at start)")
		case c.ctl.enabled[l.controller]:
		case c.ctl.failed[l.controller] != nil:
			out = append(out, fmt.Sprintf("%s: the %s controller is not available in cgroup %s: enabling it for the instances failed: %v",
				l.key, l.controller, c.base, c.ctl.failed[l.controller]))
		default:
			out = append(out, fmt.Sprintf("%s: the %s controller is not available in cgroup %s (controllers: %s)",
				l.key, l.controller, c.base, cmpOr(c.ctl.available, "none")))
		}
	}
	return out
}

// oomKills is the oom_kill count of the run cgroup dir's memory.events:
// how many of the run's processes the kernel's OOM killer killed, for
// whatever reason (the run's memory_max, or the host's memory). 0 when c
// gives its runs no memory controller, which keeps the file away, and
// for no cgroup (dir ""). Read it before the cgroup is removed.
func (c *Cgroups) oomKills(dir string) int {
	if c == nil || dir == "" || !c.ctl.enabled["memory"] {
		return 0
	}
	var buf [512]byte // six short lines
	n, err := readSmall(filepath.Join(dir, "memory.events"), buf[:])
	if err != nil {
		return 0
	}
	return memoryEventsOOMKills(string(buf[:n]))
}

// memoryEventsOOMKills reads the oom_kill key of memory.events' text.
func memoryEventsOOMKills(events string) int {
	for line := range strings.Lines(events) {
		if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}

// oomText is what the Exited event adds for a run with n OOM kills.
func oomText(n int) string {
	if n == 0 {
		return ""
	}
	what := "1 process"
	if n > 1 {
		what = strconv.Itoa(n) + " processes"
	}
	return fmt.Sprintf(", %s: the kernel's out-of-memory killer killed %s of the run", reasonOOMKilled, what)
}

// limitsWarnedMax bounds the unit versions a runner remembers having
// warned of; past it, it forgets them all, and a version that starts
// again warns again.
const limitsWarnedMax = 4096

// limitsKey is one version of a unit.
type limitsKey struct{ unit, version string }

// A versionWarning is a Warning event for a unit, made once per version:
// what its runs on this host cannot have.
type versionWarning struct{ reason, msg string }

// versionWarnings returns the warnings for the run of i about to start, the
// first time a version of its unit starts, and nil after: LimitNotApplied
// for each limit the host cannot apply, LogNotSent when its output
// cannot go to the journal. Loop goroutine.
func (r *runner) versionWarnings(i *instance) []versionWarning {
	res := i.spec.Template.Resources
	if res.Empty() && !i.spec.Template.Log.Journal() {
		return nil
	}
	k := limitsKey{i.spec.Name, i.spec.Version}
	if _, done := r.limitsWarned[k]; done {
		return nil
	}
	if r.limitsWarned == nil || len(r.limitsWarned) >= limitsWarnedMax {
		r.limitsWarned = map[limitsKey]struct{}{}
	}
	r.limitsWarned[k] = struct{}{}
	var out []versionWarning
	if !res.Empty() {
		for _, msg := range r.cgroups.unapplied(res) {
			out = append(out, versionWarning{"LimitNotApplied", msg})
		}
	}
	if msg := r.journalWarning(i); msg != "" {
		out = append(out, versionWarning{"LogNotSent", msg})
	}
	return out
}

// warnVersion records, on i's unit, a Warning event for each limit its
// run cannot have (and for its output, should it not reach the journal),
// once per version of the unit. Loop goroutine.
func (s *Supervisor) warnVersion(i *instance, now time.Time) {
	for _, w := range s.runner.versionWarnings(i) {
		s.events.Record(now, KindUnit, i.spec.Name, Warning, w.reason, s.from(), w.msg)
		s.log.Warn("the unit's run cannot have all its file asks", "unit", i.spec.Name, "reason", w.reason, "err", w.msg)
	}
}
