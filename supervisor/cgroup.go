package supervisor

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Cgroups holds the cgroup v2 directory under which every instance run
// gets a cgroup of its own, so that stopping the run reaches the processes
// that left its process group (setsid, setpgid, a double fork).
//
// A nil *Cgroups means process groups only: no cgroup2 mount, or not
// allowed to write to it. Its methods are safe for concurrent use; they
// touch only the file system.
type Cgroups struct {
	base string      // absolute directory; instance runs are its subdirectories
	ctl  controllers // what base gives the runs, for their limits (cgroup_limits.go)
}

// cgroupAgentDir is the leaf the agent moves itself into when systemd
// delegates its own cgroup: a cgroup with children may hold no processes.
const cgroupAgentDir = "agent"

// OpenCgroups finds the cgroup v2 base of an agent on stateDir. Under
// systemd with delegation (INVOCATION_ID set, and the agent alone in its
// own cgroup, which it may write to) the base is the agent's own cgroup and the agent moves itself
// into its "agent" child; else it is <mount>/tend.<hash of stateDir>, so
// that two agents on one host never share one. It returns nil and the
// reason when instances cannot be contained in cgroups. It enables the
// memory, cpu and pids controllers the base has for the runs' limits,
// each where the kernel lets it.
func OpenCgroups(stateDir string) (*Cgroups, error) {
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	mount := cgroup2Mount(string(mi))
	if mount == "" {
		return nil, errors.New("no cgroup2 file system is mounted")
	}
	if _, err := os.Stat(filepath.Join(mount, "cgroup.procs")); err != nil {
		return nil, fmt.Errorf("cgroup2 at %s: %w", mount, err)
	}
	abs, err := filepath.Abs(stateDir)
	if err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	var own string
	writable := false
	systemd := os.Getenv("INVOCATION_ID") != ""
	if systemd {
		if self, err := os.ReadFile("/proc/self/cgroup"); err == nil {
			own = ownCgroup(string(self))
			dir := filepath.Join(mount, own)
			// Only the agent itself: processes that merely inherited
			// INVOCATION_ID (an agent a test or a script started from
			// another unit) must not take that unit's cgroup over.
			writable = own != "" && unix.Access(dir, unix.W_OK) == nil && onlySelf(dir)
		}
	}
	base, delegated := cgroupBase(mount, own, systemd && writable, abs)
	if delegated {
		leaf := filepath.Join(base, cgroupAgentDir)
		if err := os.Mkdir(leaf, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("delegated cgroup %s: %w", base, err)
		}
		if err := os.WriteFile(filepath.Join(leaf, "cgroup.procs"), []byte(strconv.Itoa(os.Getpid())), 0); err != nil {
			return nil, fmt.Errorf("delegated cgroup %s: move the agent: %w", base, err)
		}
		return &Cgroups{base: base, ctl: enableControllers(base)}, nil
	}
	if err := os.Mkdir(base, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("make cgroup %s: %w", base, err)
	}
	return &Cgroups{base: base, ctl: enableControllers(base)}, nil
}

// onlySelf reports whether the calling process is the only one in the
// cgroup dir.
func onlySelf(dir string) bool {
	data, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	return err == nil && strings.TrimSpace(string(data)) == strconv.Itoa(os.Getpid())
}

// cgroupBase chooses the base of an agent on the absolute state
// directory stateDir, given the cgroup2 mount and the agent's own cgroup
// own (from /proc/self/cgroup): own itself when systemd delegated it
// (the agent then moves into its "agent" child), else a directory at the
// mount named after stateDir.
func cgroupBase(mount, own string, delegated bool, stateDir string) (base string, isOwn bool) {
	if delegated && own != "" && own != "/" {
		return filepath.Join(mount, own), true
	}
	h := fnv.New32a()
	h.Write([]byte(stateDir))
	return filepath.Join(mount, fmt.Sprintf("tend.%08x", h.Sum32())), false
}

// Base is the directory holding the instances' cgroups.
func (c *Cgroups) Base() string { return c.base }

// Dir is the cgroup of one run of an instance: name.run.
func (c *Cgroups) Dir(instance string, run uint64) string {
	return filepath.Join(c.base, instance+"."+strconv.FormatUint(run, 10))
}

// RemoveLeftovers kills and removes every instance cgroup under the base
// but the keep ones (runs handed over to this agent): what an agent
// killed with SIGKILL left. Call it before any run starts. It returns the
// cgroups it could not remove, with the reason.
func (c *Cgroups) RemoveLeftovers(ctx context.Context, timeout time.Duration, keep ...string) error {
	entries, err := os.ReadDir(c.base)
	if err != nil {
		return fmt.Errorf("cgroup leftovers: %w", err)
	}
	// A set: after a handover every run's cgroup is kept, and a list
	// searched for each of 1000 entries cost milliseconds.
	kept := make(map[string]bool, len(keep))
	for _, k := range keep {
		kept[k] = true
	}
	var errs []error
	for _, e := range entries {
		if !e.IsDir() || e.Name() == cgroupAgentDir || kept[filepath.Join(c.base, e.Name())] {
			continue
		}
		if err := RemoveCgroup(ctx, filepath.Join(c.base, e.Name()), timeout); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Close removes the base when no cgroup is left under it; the agent's own
// delegated cgroup, which systemd owns, stays.
func (c *Cgroups) Close() error {
	if _, err := os.Stat(filepath.Join(c.base, cgroupAgentDir)); err == nil {
		return nil
	}
	if err := unix.Rmdir(c.base); err != nil && err != unix.ENOENT && err != unix.EBUSY {
		return fmt.Errorf("remove cgroup %s: %w", c.base, err)
	}
	return nil
}

// RemoveCgroup kills every process in the cgroup dir (cgroup.kill), waits
// up to timeout until cgroup.events says it is no longer populated and
// removes it. A cgroup that does not exist is not an error.
//
// An empty cgroup is removed at once, by one rmdir: that is a run's
// cgroup at its end, where exited's SignalGroup(SIGKILL) has written
// cgroup.kill already and its main process was the last one in it.
// (Reading cgroup.events or writing cgroup.kill costs as much as the
// rmdir.) Only one the kernel refuses to remove, being populated, is
// killed (again) and waited for.
func RemoveCgroup(ctx context.Context, dir string, timeout time.Duration) error {
	switch err := unix.Rmdir(dir); err {
	case nil, unix.ENOENT:
		return nil
	case unix.EBUSY: // populated, or it has cgroups of its own (then the last rmdir says so)
	default:
		return fmt.Errorf("remove cgroup %s: %w", dir, err)
	}
	if err := killCgroup(dir); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	if err := waitUnpopulated(ctx, dir, timeout); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	if err := unix.Rmdir(dir); err != nil && err != unix.ENOENT {
		return fmt.Errorf("remove cgroup %s: %w", dir, err)
	}
	return nil
}

// waitUnpopulated waits up to timeout until the cgroup dir is no longer
// populated, woken by the kernel's modify event on its cgroup.events
// (inotify) rather than by polling.
func waitUnpopulated(ctx context.Context, dir string, timeout time.Duration) error {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return fmt.Errorf("remove cgroup %s: inotify: %w", dir, err)
	}
	events := os.NewFile(uintptr(fd), "inotify") // non-blocking: read through the poller, with deadlines
	defer events.Close()
	if _, err := unix.InotifyAddWatch(fd, filepath.Join(dir, "cgroup.events"), unix.IN_MODIFY); err != nil {
		if err == unix.ENOENT {
			return os.ErrNotExist
		}
		return fmt.Errorf("remove cgroup %s: watch cgroup.events: %w", dir, err)
	}
	events.SetReadDeadline(time.Now().Add(timeout))
	stop := context.AfterFunc(ctx, func() { events.SetReadDeadline(time.Now()) })
	defer stop()
	buf := make([]byte, 4*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
	for {
		// Read after the watch is in place, so that no change is missed.
		populated, err := cgroupPopulated(dir)
		if err != nil {
			return err
		}
		if !populated {
			return nil
		}
		if _, err := events.Read(buf); err != nil {
			switch {
			case ctx.Err() != nil:
				return fmt.Errorf("remove cgroup %s: %w", dir, ctx.Err())
			case errors.Is(err, os.ErrDeadlineExceeded):
				return fmt.Errorf("remove cgroup %s: still populated after %v", dir, timeout)
			}
			return fmt.Errorf("remove cgroup %s: %w", dir, err)
		}
	}
}

// killCgroup sends SIGKILL to every process in the cgroup dir and its
// descendants, atomically with respect to forks.
func killCgroup(dir string) error {
	if err := writeSmall(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0); err != nil {
		return fmt.Errorf("kill cgroup %s: %w", dir, err)
	}
	return nil
}

// signalCgroup sends sig to every process listed in the cgroup's
// cgroup.procs. The agent itself is never signalled.
func signalCgroup(dir string, sig syscall.Signal) error {
	data, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return fmt.Errorf("signal cgroup %s: %w", dir, err)
	}
	self := os.Getpid()
	for _, f := range strings.Fields(string(data)) {
		pid, err := strconv.Atoi(f)
		if err != nil || pid <= 1 || pid == self {
			continue
		}
		unix.Kill(pid, sig) // ESRCH: gone meanwhile
	}
	return nil
}

// cgroupPopulated reads the "populated" key of the cgroup's cgroup.events.
func cgroupPopulated(dir string) (bool, error) {
	data, err := os.ReadFile(filepath.Join(dir, "cgroup.events"))
	if err != nil {
		return false, err
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, "populated "); ok {
			return strings.TrimSpace(v) != "0", nil
		}
	}
	return false, fmt.Errorf("%s/cgroup.events: no populated key", dir)
}

// cgroup2Mount returns the mount point of the first cgroup2 file system in
// the text of /proc/self/mountinfo, "" when there is none.
func cgroup2Mount(mountinfo string) string {
	sc := bufio.NewScanner(strings.NewReader(mountinfo))
	for sc.Scan() {
		// id parent major:minor root mountpoint options [optional...] - type source super
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		f, t := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(t) < 1 || t[0] != "cgroup2" {
			continue
		}
		return unescapeMount(f[4])
	}
	return ""
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// ownCgroup returns the cgroup v2 path of the "0::" line of the text of
// /proc/self/cgroup, "" when there is none.
func ownCgroup(procCgroup string) string {
	for line := range strings.Lines(procCgroup) {
		if p, ok := strings.CutPrefix(strings.TrimSpace(line), "0::"); ok {
			return p
		}
	}
	return ""
}
