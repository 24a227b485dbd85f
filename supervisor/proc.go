package supervisor

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ProcSpec describes a process for Reaper.Start. The process always leads
// its own process group (its pgid is its pid), so that stopping an instance
// can signal everything it started.
type ProcSpec struct {
	// Path is the command to run. A name without a slash is looked up in
	// the PATH of Env when Env sets PATH, else in the agent's PATH;
	// relative entries of PATH are skipped. A relative path with a slash is
	// relative to Dir. Path must not be empty.
	Path string

	// Args holds the command line, including the command as Args[0]. When
	// empty, the command line is {Path}.
	Args []string

	// Env is the environment, "KEY=value" entries. When nil the process
	// gets the agent's environment; an empty non-nil slice gives an empty
	// environment.
	Env []string

	// Dir is the working directory; "" means the agent's. A missing
	// directory fails Start with an error naming it.
	Dir string

	// Credential, when not nil, sets the user, group and supplementary
	// groups the process runs as (see Credential); nil runs it as the
	// agent's user.
	Credential *syscall.Credential

	// Stdin, Stdout and Stderr are the process's standard input, output
	// and error. A nil one is connected to /dev/null. The same file may be
	// given for Stdout and Stderr. Start dups them into the child; the
	// caller keeps its own copies and closes them when it likes (for a
	// pipe, right after Start, so that the reader sees EOF when the
	// process group is done with it).
	Stdin, Stdout, Stderr *os.File

	// ExtraFiles are passed as file descriptors 3, 4, ... in order. A nil
	// entry leaves that descriptor closed in the child.
	ExtraFiles []*os.File

	// Cgroup, when not "", is a cgroup v2 directory the process starts in
	// (clone3 with CLONE_INTO_CGROUP), so that everything it starts stays
	// within reach of Proc.SignalGroup even after leaving the process
	// group. Start makes the directory when missing; removing it, once
	// empty, is the caller's (RemoveCgroup). "" starts the process in the
	// agent's cgroup.
	Cgroup string

	// Shim, when not "", is tend's binary, to run the command under (see
	// RunShim), and ShimStatus the file it writes the command's end to,
	// as run ShimRun. The Proc is the shim's; Path is still resolved
	// here, so that a command that is not there fails Start.
	Shim       string
	ShimStatus *os.File
	ShimRun    uint64
	// ShimLease, when not nil, is the run's lease: the shim stops the
	// command when it ends (fence.go).
	ShimLease *shimLease

	// Aside marks a process of the agent's own, not an instance (the
	// check of a binary before a re-execution): where the spawner
	// threads are not made yet it forks from the agent's table rather
	// than make them. Making them closes, in each thread's table, what
	// the agent holds (2000 descriptors with 1000 instances); after the
	// check comes a handover, whose CPU that would share, and whose exec
	// ends those threads anyway.
	Aside bool
}

// prepare resolves the command and builds the arguments of
// os.StartProcess. cleanup closes what prepare opened; call it after the
// start, whether or not it succeeded.
func (s ProcSpec) prepare() (name string, argv []string, attr *os.ProcAttr, cleanup func(), err error) {
	cleanup = func() {}
	if s.Path == "" {
		return "", nil, nil, cleanup, errors.New("start: empty path")
	}
	name = s.Path
	if !strings.Contains(name, "/") {
		path, ok := envPath(s.Env)
		if !ok {
			path = os.Getenv("PATH")
		}
		if name, err = lookPath(s.Path, path); err != nil {
			return "", nil, nil, cleanup, fmt.Errorf("start %s: %w", s.Path, err)
		}
	}
	if s.Dir != "" {
		fi, err := os.Stat(s.Dir)
		if pe, ok := err.(*os.PathError); ok {
			err = pe.Err
		} else if err == nil && !fi.IsDir() {
			err = syscall.ENOTDIR
		}
		if err != nil {
			return "", nil, nil, cleanup, fmt.Errorf("start %s: working directory %s: %w", s.Path, s.Dir, err)
		}
	}
	argv = s.Args
	if len(argv) == 0 {
		argv = []string{s.Path}
	}

	files := make([]*os.File, 0, 3+len(s.ExtraFiles))
	for _, f := range []*os.File{s.Stdin, s.Stdout, s.Stderr} {
		if f == nil {
			if f, err = devNull(); err != nil {
				return "", nil, nil, cleanup, fmt.Errorf("start %s: %w", s.Path, err)
			}
		}
		files = append(files, f)
	}
	files = append(files, s.ExtraFiles...)
	if s.Shim != "" {
		if s.ShimStatus == nil {
			return "", nil, nil, cleanup, fmt.Errorf("start %s: a shim without its status file", s.Path)
		}
		name, argv = shimCommand(s.Shim, len(files), s.ShimRun, s.ShimLease, name, argv)
		files = append(files, s.ShimStatus)
		if s.ShimLease != nil {
			files = append(files, s.ShimLease.file)
		}
	}

	attr = &os.ProcAttr{
		Dir:   s.Dir,
		Env:   s.Env,
		Files: files,
		Sys:   &syscall.SysProcAttr{Setpgid: true, Credential: s.Credential},
	}
	if s.Cgroup != "" {
		if err := os.Mkdir(s.Cgroup, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return "", nil, nil, cleanup, fmt.Errorf("start %s: make cgroup: %w", s.Path, err)
		}
		fd, err := unix.Open(s.Cgroup, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return "", nil, nil, cleanup, fmt.Errorf("start %s: open cgroup: %w", s.Path, err)
		}
		prev := cleanup
		cleanup = func() { prev(); unix.Close(fd) }
		attr.Sys.UseCgroupFD, attr.Sys.CgroupFD = true, fd
	}
	return name, argv, attr, cleanup, nil
}

// devNull returns the agent's /dev/null, opened at the first start that
// wants it and kept open for every start after it (each one's standard
// input): not opened and closed again at each, six system calls a start.
// It is never closed.
func devNull() (*os.File, error) {
	devNullMu.Lock()
	defer devNullMu.Unlock()
	if devNullFile == nil {
		f, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
		if err != nil {
			return nil, err // tried again at the next start
		}
		devNullFile = f
	}
	return devNullFile, nil
}

var (
	devNullMu   sync.Mutex
	devNullFile *os.File
)

// envPath returns the value of the last PATH entry in env.
func envPath(env []string) (path string, ok bool) {
	for _, kv := range env {
		if v, found := strings.CutPrefix(kv, "PATH="); found {
			path, ok = v, true
		}
	}
	return path, ok
}

// lookPath finds an executable file in the absolute directories of path.
func lookPath(file, path string) (string, error) {
	for _, dir := range filepath.SplitList(path) {
		if !filepath.IsAbs(dir) {
			continue // "" and relative entries: exec.ErrDot's reasoning
		}
		if p, err := exec.LookPath(filepath.Join(dir, file)); err == nil {
			return p, nil
		}
	}
	return "", exec.ErrNotFound
}

// A Proc is a process started by Reaper.Start. Its methods may be called
// from any goroutine, before and after the process has exited.
type Proc struct {
	pid     int
	pgid    int    // 0: pid (a started process leads its own group)
	pidfd   int    // the Reaper's pidfd of it, -1 for none; the Reaper's alone
	cgroup  string // ProcSpec.Cgroup
	started time.Time
	// startTicks is the process's start time as /proc/PID/stat says, 0
	// when it could not be read (it had been reaped already).
	startTicks uint64
	// foreign: not the agent's child (Reaper.Watch): its end is seen, but
	// not how it ended.
	foreign bool

	reaper *Reaper

	mu     sync.Mutex
	reaped bool
	onExit func(ExitStatus) // nil until an inherited process is taken (Reaper.Inherited)
	exit   *ExitStatus      // an inherited process's exit, before it was taken
}

// Pid is the process id, which is also the id of its process group.
func (p *Proc) Pid() int { return p.pid }

// Started is when the process was started.
func (p *Proc) Started() time.Time { return p.started }

// Signal sends sig to the process only (not its group). Once the process
// has been reaped it returns os.ErrProcessDone; it never signals a process
// that reused the pid.
func (p *Proc) Signal(sig syscall.Signal) error {
	// The reaper marks the process reaped while it holds reaping
	// exclusively, so under the read lock the pid is still ours (a zombie
	// at worst) or known to be gone.
	p.reaper.reaping.RLock()
	defer p.reaper.reaping.RUnlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reaped {
		return os.ErrProcessDone
	}
	if p.pid <= 1 {
		// kill(-1) would signal every process we may signal.
		return fmt.Errorf("refusing to signal pid %d", p.pid)
	}
	if p.foreign {
		// Not a child, so nothing holds its pid for it: signal through
		// the pidfd, which names only that process.
		if err := unix.PidfdSendSignal(p.pidfd, sig, nil, 0); err != nil && err != unix.ESRCH {
			return fmt.Errorf("signal %d: %w", p.pid, err)
		}
		return nil
	}
	if err := unix.Kill(p.pid, sig); err != nil && err != unix.ESRCH {
		return fmt.Errorf("signal %d: %w", p.pid, err)
	}
	return nil
}

// markReaped records that the reaper has reaped the process.
func (p *Proc) markReaped() {
	p.mu.Lock()
	p.reaped = true
	p.mu.Unlock()
}

// SignalGroup sends sig to every process of the process group the process
// leads, including members left behind after the leader exited, and, when
// it was started in a cgroup, to every process of the cgroup (SIGKILL by
// cgroup.kill, which no fork escapes). A group or cgroup that is gone is
// not an error.
func (p *Proc) SignalGroup(sig syscall.Signal) error {
	g := p.Pgid()
	if g <= 1 {
		// kill(-1) would signal every process we may signal, kill(-0)
		// our own group.
		return fmt.Errorf("refusing to signal process group %d", g)
	}
	var errs []error
	if err := unix.Kill(-g, sig); err != nil && err != unix.ESRCH {
		errs = append(errs, fmt.Errorf("signal group %d: %w", g, err))
	}
	if p.cgroup != "" {
		var err error
		if sig == syscall.SIGKILL {
			err = killCgroup(p.cgroup)
		} else {
			err = signalCgroup(p.cgroup, sig)
		}
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Cgroup is the cgroup v2 directory the process was started in, "" for
// none.
func (p *Proc) Cgroup() string { return p.cgroup }

// Pgid is the process group the process belongs to.
func (p *Proc) Pgid() int {
	if p.pgid != 0 {
		return p.pgid
	}
	return p.pid
}

// exited is called by the Reaper's goroutine, once, after reaping. An
// inherited process nobody has taken yet keeps its exit for setOnExit.
func (p *Proc) exited(st ExitStatus) {
	p.mu.Lock()
	f := p.onExit
	if f == nil {
		p.exit = &st
	}
	p.mu.Unlock()
	if f != nil {
		f(st)
	}
}

// setOnExit gives an inherited process its onExit, calling it at once
// (on the caller's goroutine) if the process has exited already.
func (p *Proc) setOnExit(f func(ExitStatus)) {
	p.mu.Lock()
	p.onExit = f
	st := p.exit
	p.exit = nil
	p.mu.Unlock()
	if st != nil {
		f(*st)
	}
}

// Credential resolves the user and group an instance runs as, each a name
// or a numeric id, into a credential for ProcSpec.Credential. It returns
// nil, nil when both are empty.
//
// With a user, the group defaults to the user's primary group and the
// supplementary groups are the user's; a numeric user unknown to the user
// database gets its uid as gid and no supplementary groups. With only a
// group, the agent's user runs with that group.
//
// Only root can change its user or group: an agent that is not root
// accepts only its own uid and gid (and then returns nil).
func Credential(userName, groupName string) (*syscall.Credential, error) {
	return credential(userName, groupName, os.Geteuid(), os.Getegid())
}

func credential(userName, groupName string, euid, egid int) (*syscall.Credential, error) {
	if userName == "" && groupName == "" {
		return nil, nil
	}
	cred := &syscall.Credential{Uid: uint32(euid), Gid: uint32(egid), NoSetGroups: true}
	if userName != "" {
		u, uid, err := lookupUser(userName)
		if err != nil {
			return nil, fmt.Errorf("run as user %s: %w", userName, err)
		}
		cred.Uid, cred.Gid, cred.NoSetGroups = uid, uid, false
		if u != nil {
			gid, err := strconv.ParseUint(u.Gid, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("run as user %s: primary group %q: %w", userName, u.Gid, err)
			}
			cred.Gid = uint32(gid)
			ids, err := u.GroupIds()
			if err != nil {
				return nil, fmt.Errorf("run as user %s: supplementary groups: %w", userName, err)
			}
			for _, id := range ids {
				g, err := strconv.ParseUint(id, 10, 32)
				if err != nil {
					return nil, fmt.Errorf("run as user %s: supplementary group %q: %w", userName, id, err)
				}
				cred.Groups = append(cred.Groups, uint32(g))
			}
		}
	}
	if groupName != "" {
		gid, err := lookupGroup(groupName)
		if err != nil {
			return nil, fmt.Errorf("run as group %s: %w", groupName, err)
		}
		cred.Gid = gid
	}
	if euid != 0 {
		if cred.Uid != uint32(euid) {
			return nil, fmt.Errorf("run as user %s: the agent is not root", userName)
		}
		if cred.Gid != uint32(egid) {
			return nil, fmt.Errorf("run as group %s: the agent is not root", cmp.Or(groupName, userName))
		}
		return nil, nil // nothing to change, and setgroups would fail
	}
	return cred, nil
}

// lookupUser resolves a user name or numeric uid; u is nil for a numeric
// uid the user database does not know.
func lookupUser(name string) (u *user.User, uid uint32, err error) {
	if n, perr := strconv.ParseUint(name, 10, 32); perr == nil {
		u, err = user.LookupId(name)
		if errors.As(err, new(user.UnknownUserIdError)) {
			return nil, uint32(n), nil
		}
	} else {
		u, err = user.Lookup(name)
	}
	if err != nil {
		return nil, 0, err
	}
	id, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, 0, fmt.Errorf("uid %q: %w", u.Uid, err)
	}
	return u, uint32(id), nil
}

// lookupGroup resolves a group name or numeric gid; a numeric gid need not
// be in the group database.
func lookupGroup(name string) (uint32, error) {
	if n, err := strconv.ParseUint(name, 10, 32); err == nil {
		return uint32(n), nil
	}
	g, err := user.LookupGroup(name)
	if err != nil {
		return 0, err
	}
	id, err := strconv.ParseUint(g.Gid, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("gid %q: %w", g.Gid, err)
	}
	return uint32(id), nil
}

// FindLeftovers returns the pids of the processes whose initial environment
// contains envKey=envValue: what an agent killed with SIGKILL left running,
// found by the marker it puts in every instance's environment (grandchildren
// inherit it). The calling process, and processes that vanish or cannot be
// read, are skipped, as are the pids in skip. Call StopLeftovers soon after:
// a pid may be reused.
func FindLeftovers(envKey, envValue string, skip map[int]bool) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("find leftovers: %w", err)
	}
	want := []byte(envKey + "=" + envValue)
	self := os.Getpid()
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self || skip[pid] {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil {
			continue // gone, or not ours to read
		}
		for len(env) > 0 {
			kv := env
			if i := bytes.IndexByte(env, 0); i >= 0 {
				kv, env = env[:i], env[i+1:]
			} else {
				env = nil
			}
			if bytes.Equal(kv, want) {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids, nil
}

// StopLeftovers stops processes that are not the caller's children (as
// found by FindLeftovers): it sends sig to each one's process group (to
// the process alone when it shares the caller's group), waits up to
// timeout for all of them to be gone, then sends SIGKILL the same way and
// waits up to timeout again. It returns nil when they are gone, ctx's
// error when ctx ends first, or an error naming the survivors. It never
// waits for them with wait4: their parent reaps them.
func StopLeftovers(ctx context.Context, pids []int, sig syscall.Signal, timeout time.Duration) error {
	own := unix.Getpgrp()
	var targets []procStat
	groups := make(map[int]bool) // pgid → signal the group
	for _, pid := range pids {
		st, err := readProcStat(pid)
		if err != nil || st.gone() {
			continue
		}
		targets = append(targets, st)
		if st.pgid > 1 && st.pgid != own {
			groups[st.pgid] = true
		}
	}
	send := func(sig syscall.Signal) {
		for pg := range groups {
			unix.Kill(-pg, sig) // ESRCH: the group is gone already
		}
		for _, t := range targets {
			if !groups[t.pgid] {
				unix.Kill(t.pid, sig)
			}
		}
	}
	if len(targets) == 0 {
		return nil
	}
	send(sig)
	if err := waitGone(ctx, targets, timeout); err == nil || ctx.Err() != nil {
		return err
	}
	send(syscall.SIGKILL)
	return waitGone(ctx, targets, timeout)
}

// leftoverPoll is how often StopLeftovers looks whether processes are gone.
const leftoverPoll = 20 * time.Millisecond

// waitGone polls until every target is gone, timeout passes or ctx ends.
func waitGone(ctx context.Context, targets []procStat, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(leftoverPoll)
	defer tick.Stop()
	for {
		var alive []int
		for _, t := range targets {
			if !t.goneNow() {
				alive = append(alive, t.pid)
			}
		}
		if len(alive) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("stop leftovers: still running after %v: %v", timeout, alive)
		case <-tick.C:
		}
	}
}

// procStat is what StopLeftovers needs of /proc/PID/stat.
type procStat struct {
	pid   int
	state byte
	pgid  int
	start uint64 // start time in clock ticks since boot: tells a reused pid
}

func readProcStat(pid int) (procStat, error) {
	var buf [1024]byte // the line is a few hundred bytes: comm is at most 64
	path := "/proc/" + strconv.Itoa(pid) + "/stat"
	n, err := readSmall(path, buf[:])
	if err != nil {
		return procStat{}, err
	}
	data := buf[:n]
	// "pid (comm) state ppid pgrp ... starttime(22) ..."; comm may hold
	// spaces and parentheses, so split after the last ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	var f [20][]byte // state … starttime: the fields after comm
	k := 0
	for field := range bytes.FieldsSeq(data[i+1:]) {
		if k == len(f) {
			break
		}
		f[k] = field
		k++
	}
	if k < len(f) {
		return procStat{}, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	st := procStat{pid: pid, state: f[0][0]}
	if st.pgid, err = strconv.Atoi(string(f[2])); err != nil {
		return procStat{}, fmt.Errorf("/proc/%d/stat: pgrp: %w", pid, err)
	}
	if st.start, err = strconv.ParseUint(string(f[19]), 10, 64); err != nil {
		return procStat{}, fmt.Errorf("/proc/%d/stat: starttime: %w", pid, err)
	}
	return st, nil
}

// readSmall reads the file at path into buf, and says how much it read:
// a file of /proc, or another known to be small. A file larger than buf
// is an error. Plain system calls, not an *os.File: a takeover of 1000
// runs reads two such files a run, and the runtime's poller (which
// refuses these files, one more call each), the stat os.ReadFile makes
// and a finalizer per file were a third of their time.
func readSmall(path string, buf []byte) (int, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	n := 0
	var past [1]byte // read into once buf is full: the end, or one byte too many
	for {
		into := buf[n:]
		if n == len(buf) {
			into = past[:]
		}
		m, err := unix.Read(fd, into)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return 0, &os.PathError{Op: "read", Path: path, Err: err}
		case m == 0:
			return n, nil
		case n == len(buf):
			return 0, &os.PathError{Op: "read", Path: path, Err: fmt.Errorf("larger than %d bytes", len(buf))}
		}
		n += m
	}
}

// writeSmall writes data to the file at path, as os.WriteFile does
// (created with perm if missing, truncated), in plain system calls, as
// readSmall reads: for the files a start or an exit writes (cgroup.kill,
// a limit, a run's index), where an *os.File made six calls of every
// three (the runtime's poller tried and refused each file, and put it
// back in blocking mode).
func writeSmall(path string, data []byte, perm uint32) error {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC|unix.O_CLOEXEC, perm)
	if err != nil {
		return &os.PathError{Op: "open", Path: path, Err: err}
	}
	for len(data) > 0 {
		n, err := unix.Write(fd, data)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			unix.Close(fd)
			return &os.PathError{Op: "write", Path: path, Err: err}
		}
		data = data[n:]
	}
	if err := unix.Close(fd); err != nil {
		return &os.PathError{Op: "close", Path: path, Err: err}
	}
	return nil
}

// gone reports whether the process had terminated when st was read (a
// zombie has: only its parent's wait is missing).
func (st procStat) gone() bool { return st.state == 'Z' || st.state == 'X' }

// goneNow reports whether the process st describes has terminated by now.
func (st procStat) goneNow() bool {
	now, err := readProcStat(st.pid)
	return err != nil || now.start != st.start || now.gone()
}
