package supervisor

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A spawner forks the agent's children from threads whose descriptor
// tables hold almost nothing.
//
// A fork copies the forking thread's descriptor table and the exec then
// closes every close-on-exec descriptor of the copy, one by one: the
// work of a start grows with what the agent holds open. With 1000
// instances the agent holds 2000 (an output pipe and a pidfd each).
// BenchmarkStartManyDescriptors, a start and exit of /bin/true here:
// 629 µs with 10 descriptors held, 724 with 1000 and 1085 with 5000 from
// the agent's table (~90 ns a descriptor); 657, 647 and 641 µs from a
// spawner's. Starting N instances grew as N².
//
// So each spawner thread unshares its table (unshare(CLONE_FILES), on a
// locked OS thread that never runs another goroutine), closes in its
// copy what the agent held then but the Go runtime's own epoll and
// eventfd (which the runtime may use from any thread), and from then on
// holds only what a start is given: it copies the start's descriptors
// from the agent's table into its own with pidfd_getfd(2), forks the
// child with Go's own fork and exec, and closes them again. The child is
// still the agent's (threads share their children), so the Reaper waits
// for it as before. A descriptor the agent opens without close-on-exec
// can no longer leak into an instance either.
//
// What keeps the private table private: the Go runtime never clones a
// new thread from a locked one (newm hands that to its template thread,
// which LockOSThread starts before the lock, from a thread that shares
// the agent's table), and a spawner is never the main thread, whose
// table pidfd_getfd reads (see run).
//
// The handoff to a spawner thread costs two thread wake-ups a start, ~30
// µs here, repaid from a few hundred descriptors held on. Where the
// kernel lacks pidfd_getfd (before 5.6) or refuses unshare, there is no
// spawner and children fork from the agent's table, as before.
type spawner struct {
	mu     sync.RWMutex // read-held by starts, held by close
	closed bool
	pool   chan *spawnThread
	all    []*spawnThread
}

type spawnThread struct {
	reqs   chan *spawnReq
	exited chan struct{}
	self   int // a pidfd of this process, in the thread's own table
	tid    int
}

type spawnReq struct {
	name string
	argv []string
	attr *os.ProcAttr
	fds  []int // attr.Files' numbers in the agent's table, -1 for nil
	pid  int
	err  error
	done chan struct{}
}

// newSpawner starts n spawner threads. probe is a descriptor open in the
// agent's table, to check that pidfd_getfd works.
func newSpawner(n, probe int) (*spawner, error) {
	// The runtime's poller must exist before the first table is copied,
	// so that every spawner's copy holds its descriptors: the runtime
	// polls from whatever thread starts the world after a collection.
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("spawner: %w", err)
	}
	r.Close()
	w.Close()
	s := &spawner{pool: make(chan *spawnThread, n)}
	threads := make([]*spawnThread, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for k := range n {
		wg.Go(func() { threads[k], errs[k] = startSpawnThread(probe) })
	}
	wg.Wait()
	for _, t := range threads {
		if t != nil {
			s.all = append(s.all, t)
			s.pool <- t
		}
	}
	if err := errors.Join(errs...); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// startSpawnThread starts one spawner thread and waits until its table is
// its own and clean.
func startSpawnThread(probe int) (*spawnThread, error) {
	t := &spawnThread{reqs: make(chan *spawnReq), exited: make(chan struct{}), self: -1}
	ready := make(chan error, 1)
	go t.run(probe, ready)
	if err := <-ready; err != nil {
		<-t.exited
		return nil, err
	}
	return t, nil
}

// run is the spawner thread: it serves t.reqs until they are closed.
func (t *spawnThread) run(probe int, ready chan<- error) {
	// Never unlocked once the table is unshared: the thread ends with
	// the goroutine, and its table with it, rather than serve another.
	runtime.LockOSThread()
	if unix.Gettid() == unix.Getpid() {
		// The main thread, whose table pidfd_getfd copies from (and
		// which the runtime never ends): another thread serves. While
		// this goroutine holds the main thread, the other cannot land
		// on it.
		moved := make(chan struct{})
		go func() {
			runtime.LockOSThread()
			close(moved)
			t.serve(probe, ready)
		}()
		<-moved
		runtime.UnlockOSThread()
		return
	}
	t.serve(probe, ready)
}

// serve unshares the thread's table and forks what it is asked to. The
// thread is locked and not the main one.
func (t *spawnThread) serve(probe int, ready chan<- error) {
	defer close(t.exited)
	if err := t.init(probe); err != nil {
		ready <- err
		return
	}
	ready <- nil
	for req := range t.reqs {
		req.pid, req.err = t.fork(req)
		req.done <- struct{}{}
	}
	unix.Close(t.self)
}

// init unshares the thread's table, opens the pidfd it copies through,
// checks that copying works and closes what the agent held.
func (t *spawnThread) init(probe int) error {
	if err := unix.Unshare(unix.CLONE_FILES); err != nil {
		return fmt.Errorf("spawner: unshare the descriptor table: %w", err)
	}
	t.tid = unix.Gettid()
	self, err := unix.PidfdOpen(os.Getpid(), 0)
	if err != nil {
		return fmt.Errorf("spawner: pidfd_open: %w", err)
	}
	t.self = self
	fd, err := unix.PidfdGetfd(self, probe, 0)
	if err != nil {
		unix.Close(self)
		return fmt.Errorf("spawner: pidfd_getfd: %w", err)
	}
	unix.Close(fd)
	if err := t.clean(probe); err != nil {
		unix.Close(self)
		return err
	}
	return nil
}

// clean closes, in the thread's table, every descriptor but standard
// input, output and error, the thread's pidfd and the epoll sets and
// eventfds (the runtime's are among them: it may poll from this thread),
// and makes those it keeps close-on-exec in this table, so that none
// reaches a child. Anything else is closed, other anonymous-inode files
// too: an inotify instance, or a pidfd before Linux 6.9 (pidfs), which
// kept open here would outlive the agent's close, stay in the Reaper's
// epoll set (an entry goes with the file's last descriptor), and, its
// process reaped, make the set report it readable for ever. One fstat a
// descriptor, and a readlink for those of anonymous inodes: after a
// handover the table holds the 2000 of 1000 instances.
func (t *spawnThread) clean(probe int) error {
	dir, err := unix.Open("/proc/thread-self/fd", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("spawner: list descriptors: %w", err)
	}
	var fds []int
	buf := make([]byte, 16<<10)
	for {
		n, err := unix.Getdents(dir, buf)
		if err != nil {
			unix.Close(dir)
			return fmt.Errorf("spawner: list descriptors: %w", err)
		}
		if n == 0 {
			break
		}
		var names []string
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
		for _, name := range names {
			if fd, err := strconv.Atoi(name); err == nil {
				fds = append(fds, fd)
			}
		}
	}
	unix.Close(dir)
	var anon unix.Stat_t
	if err := unix.Fstat(probe, &anon); err != nil {
		return fmt.Errorf("spawner: %w", err)
	}
	for _, fd := range fds {
		if fd <= 2 || fd == t.self {
			continue
		}
		var st unix.Stat_t
		if unix.Fstat(fd, &st) == nil && st.Dev == anon.Dev && st.Ino == anon.Ino && runtimeKind(fd) {
			// Perhaps the runtime's. The flag is this table's own: the
			// agent's descriptor is left as it is.
			unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC)
			continue
		}
		unix.Close(fd)
	}
	return nil
}

// runtimeKind reports whether fd, of an anonymous inode, is of a kind the
// Go runtime's poller holds: an epoll set or an eventfd.
func runtimeKind(fd int) bool {
	var buf [64]byte
	n, err := unix.Readlink("/proc/thread-self/fd/"+strconv.Itoa(fd), buf[:])
	if err != nil {
		return true // unknown: kept, lest the runtime lose its poller
	}
	link := string(buf[:n])
	return link == "anon_inode:[eventpoll]" || link == "anon_inode:[eventfd]"
}

// fork copies the request's descriptors into the thread's table, forks
// and execs the child as os.StartProcess would, and closes the copies.
// Nothing here may use a descriptor number of the agent's table but as
// pidfd_getfd's argument: in this thread's table it names nothing, or
// another file.
func (t *spawnThread) fork(req *spawnReq) (pid int, err error) {
	name, attr := req.name, req.attr
	var copies []int
	defer func() {
		for _, fd := range copies {
			unix.Close(fd)
		}
	}()
	get := func(fd int) (uintptr, error) {
		c, err := unix.PidfdGetfd(t.self, fd, 0)
		if err != nil {
			return 0, fmt.Errorf("descriptor %d: %w", fd, err)
		}
		copies = append(copies, c)
		return uintptr(c), nil
	}
	pa := &syscall.ProcAttr{Dir: attr.Dir, Env: attr.Env, Files: make([]uintptr, len(attr.Files))}
	if pa.Env == nil {
		pa.Env = os.Environ() // os.StartProcess's default
	}
	for i, fd := range req.fds {
		if fd < 0 {
			pa.Files[i] = ^uintptr(0) // closed in the child
			continue
		}
		if pa.Files[i], err = get(fd); err != nil {
			return 0, &os.PathError{Op: "fork/exec", Path: name, Err: err}
		}
	}
	if attr.Sys != nil {
		sys := *attr.Sys
		if sys.UseCgroupFD {
			c, err := get(sys.CgroupFD)
			if err != nil {
				return 0, &os.PathError{Op: "fork/exec", Path: name, Err: err}
			}
			sys.CgroupFD = int(c)
		}
		pa.Sys = &sys
	}
	pid, err = syscall.ForkExec(name, req.argv, pa)
	if err != nil {
		return 0, &os.PathError{Op: "fork/exec", Path: name, Err: err}
	}
	return pid, nil
}

// errSpawnerClosed is what a start gets once the spawner is closed.
var errSpawnerClosed = errors.New("spawner closed")

// errSpawnersBusy: no spawner thread came free within spawnerWait; the
// start forks from the agent's table instead.
var errSpawnersBusy = errors.New("every spawner thread is busy")

// spawnerWait bounds how long a start waits for a spawner thread. A
// start holds its thread until the child has exec'd, which an
// executable on a hung file system can stop for good: the other starts
// then fork as before instead of queueing behind it.
var spawnerWait = time.Second

// start forks and execs name on a spawner thread and returns the child's
// pid, as os.StartProcess would.
func (s *spawner) start(name string, argv []string, attr *os.ProcAttr) (int, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, errSpawnerClosed
	}
	req := &spawnReq{name: name, argv: argv, attr: attr, fds: make([]int, len(attr.Files)), done: make(chan struct{}, 1)}
	for i, f := range attr.Files {
		// Here, in the agent's table: Fd also puts the descriptor in
		// blocking mode, as os.StartProcess does, for the child.
		req.fds[i] = -1
		if f != nil {
			req.fds[i] = int(f.Fd())
		}
	}
	var t *spawnThread
	select {
	case t = <-s.pool:
	default:
		wait := time.NewTimer(spawnerWait)
		select {
		case t = <-s.pool:
			wait.Stop()
		case <-wait.C:
			return 0, errSpawnersBusy
		}
	}
	defer func() { s.pool <- t }()
	t.reqs <- req
	<-req.done
	runtime.KeepAlive(attr) // its files open until the child has its own
	return req.pid, req.err
}

// close ends the spawner threads once the starts under way are done.
func (s *spawner) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	for _, t := range s.all {
		close(t.reqs)
		<-t.exited
	}
}
