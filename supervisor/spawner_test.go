package supervisor

import (
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPipes opens n/2 pipes (n descriptors) that the test closes at its end.
func openPipes(t testing.TB, n int) {
	t.Helper()
	for range n / 2 {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close(); w.Close() })
	}
}

// countFDs counts the descriptors in thread tid's table.
func countFDs(t testing.TB, tid int) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/task/" + strconv.Itoa(tid) + "/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// requireSpawner fails the test if r has no spawner where the kernel
// gives what one needs, and skips it where it does not.
func requireSpawner(t testing.TB, r *Reaper) {
	t.Helper()
	<-r.spawnerDone
	if r.spawner.Load() != nil {
		return
	}
	self, err := unix.PidfdOpen(os.Getpid(), 0)
	if err == nil {
		var fd int
		fd, err = unix.PidfdGetfd(self, self, 0)
		unix.Close(fd)
		unix.Close(self)
	}
	if err != nil {
		t.Skipf("no spawner on this kernel: %v", err)
	}
	t.Fatal("the reaper has no spawner, though this kernel gives pidfd_getfd")
}

// However many descriptors the agent holds, the tables its children fork
// from hold a handful: a fork copies the table and the exec closes the
// copy's descriptors one by one, so a start would cost more with every
// instance the agent holds the output pipe of.
func TestSpawnerTablesStaySmall(t *testing.T) {
	openPipes(t, 400) // before the reaper: its spawners close their copies
	r, _ := newTestReaper(t)
	requireSpawner(t, r)
	openPipes(t, 400) // after: never in the spawners' tables
	if n := countFDs(t, unix.Gettid()); n < 800 {
		t.Fatalf("the test's own table holds %d descriptors, want 800 or more", n)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			h := startHelper(t, r, helperSpec(t, "exit:0"))
			if st := h.wait(t); !st.Success() {
				t.Errorf("helper: %v", st)
			}
		})
	}
	wg.Wait()
	for _, th := range r.spawner.Load().all {
		// 0-2, the thread's pidfd, the runtime's epoll and eventfd, the
		// reaper's: at most a dozen.
		if n := countFDs(t, th.tid); n > 12 {
			t.Errorf("spawner thread %d holds %d descriptors, want at most 12", th.tid, n)
		}
	}
}

// A descriptor that the agent opened without close-on-exec (a library's,
// or a race with a fork) does not leak into an instance: the spawner
// never had it.
func TestSpawnerLeaksNoDescriptor(t *testing.T) {
	r, _ := newTestReaper(t)
	requireSpawner(t, r)
	var p [2]int
	if err := unix.Pipe2(p[:], 0); err != nil { // no O_CLOEXEC
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(p[0]); unix.Close(p[1]) })
	got := instanceFDs(t, r)
	if slices.Contains(got, p[0]) || slices.Contains(got, p[1]) {
		t.Fatalf("the instance holds %v: the agent's descriptors %d and %d leaked into it", got, p[0], p[1])
	}
	if !slices.Equal(got[:min(3, len(got))], []int{0, 1, 2}) {
		t.Fatalf("the instance holds %v, want 0, 1 and 2 first", got)
	}
}

// instanceFDs starts a child with r and returns the descriptors it holds.
func instanceFDs(t *testing.T, r *Reaper) []int {
	t.Helper()
	w, lines := pipeLines(t)
	spec := helperSpec(t, "fds")
	spec.Stdout = w
	h := startHelper(t, r, spec)
	w.Close()
	var got []int
	for l := range lines {
		n, err := strconv.Atoi(l)
		if err != nil {
			t.Fatalf("helper printed %q", l)
		}
		got = append(got, n)
	}
	if st := h.wait(t); !st.Success() {
		t.Fatalf("helper: %v", st)
	}
	return got
}

// The spawner keeps the epoll sets and eventfds the agent held when it
// was made (the runtime's are among them), but close-on-exec in its own
// table: one opened without it, as a library may, before the spawner,
// does not reach an instance.
func TestSpawnerKeepsNothingForChildren(t *testing.T) {
	efd, err := unix.Eventfd(0, 0) // no EFD_CLOEXEC
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(efd) })
	r, _ := newTestReaper(t)
	requireSpawner(t, r)
	if got := instanceFDs(t, r); slices.Contains(got, efd) {
		t.Fatalf("the instance holds %v: the agent's eventfd %d leaked into it", got, efd)
	}
	// The agent's own descriptor is as it was.
	if flags, err := unix.FcntlInt(uintptr(efd), unix.F_GETFD, 0); err != nil || flags&unix.FD_CLOEXEC != 0 {
		t.Fatalf("the agent's eventfd: flags %#x, %v: want close-on-exec still off", flags, err)
	}
}

// Other anonymous-inode files are not kept: kept, an agent's close would
// not end them. (Before Linux 6.9 pidfds are such files: a reaped
// instance's, kept open by a spawner, stayed in the Reaper's epoll set,
// readable for ever.)
func TestSpawnerKeepsNoOtherAnonymousFile(t *testing.T) {
	ifd, err := unix.InotifyInit1(unix.IN_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(ifd) })
	r, _ := newTestReaper(t)
	requireSpawner(t, r)
	for _, th := range r.spawner.Load().all {
		dir := "/proc/self/task/" + strconv.Itoa(th.tid) + "/fd/"
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if link, _ := os.Readlink(dir + e.Name()); link == "anon_inode:inotify" {
				t.Errorf("spawner thread %d holds the agent's inotify instance as descriptor %s", th.tid, e.Name())
			}
		}
	}
}

// A child's standard output is in blocking mode, as os.StartProcess
// leaves it, though the agent's end of the pipe was nonblocking: the
// spawner thread must not touch the agent's descriptor numbers, which in
// its own table name nothing, or other files.
func TestSpawnedOutputIsBlocking(t *testing.T) {
	r, _ := newTestReaper(t)
	requireSpawner(t, r)
	w, lines := pipeLines(t)
	h := startHelper(t, r, ProcSpec{Path: "/bin/sh", Args: []string{"sh", "-c", "grep flags /proc/self/fdinfo/1"}, Stdout: w})
	w.Close()
	line := nextLine(t, lines)
	if st := h.wait(t); !st.Success() {
		t.Fatalf("sh: %v", st)
	}
	f := strings.Fields(line)
	flags, err := strconv.ParseInt(f[len(f)-1], 8, 64)
	if err != nil {
		t.Fatalf("fdinfo: %q", line)
	}
	if flags&unix.O_NONBLOCK != 0 {
		t.Fatalf("the child's stdout is nonblocking (%s)", line)
	}
}

// Starts under way when the reaper closes finish; starts after it fail
// with an error, and nothing hangs.
func TestSpawnerCloseDuringStarts(t *testing.T) {
	r, err := newReaper(nil, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	requireSpawner(t, r)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		pids []int
	)
	for range 16 {
		wg.Go(func() {
			for range 4 {
				p, err := r.Start(helperSpec(t, "exit:0"), func(ExitStatus) {})
				if err == nil {
					mu.Lock()
					pids = append(pids, p.Pid())
					mu.Unlock()
				}
			}
		})
	}
	r.Close()
	wg.Wait()
	if _, err := r.Start(helperSpec(t, "exit:0"), func(ExitStatus) {}); err == nil {
		t.Fatal("a start after Close succeeded")
	}
	// What the closed reaper did not reap, lest a later test's reaper
	// take them for orphans.
	for _, pid := range pids {
		unix.Wait4(pid, nil, 0, nil)
	}
}

// BenchmarkStartManyDescriptors is a start and reaped exit of /bin/true
// while the agent holds N other descriptors (the two of each instance),
// forked from a spawner thread and, for comparison, from the agent's own
// table as before.
func BenchmarkStartManyDescriptors(b *testing.B) {
	path, err := exec.LookPath("true")
	if err != nil {
		b.Skip("no true")
	}
	r, _ := newTestReaper(b)
	requireSpawner(b, r)
	sp := r.spawner.Load()
	defer r.spawner.Store(sp)
	held := 0
	for _, n := range []int{10, 1000, 5000} {
		openPipes(b, n-held)
		held = n
		for _, via := range []string{"spawner", "agent"} {
			b.Run(via+"/fds="+strconv.Itoa(n), func(b *testing.B) {
				r.spawner.Store(nil)
				if via == "spawner" {
					r.spawner.Store(sp)
				}
				done := make(chan ExitStatus, 1)
				for b.Loop() {
					if _, err := r.Start(ProcSpec{Path: path}, func(st ExitStatus) { done <- st }); err != nil {
						b.Fatal(err)
					}
					if st := <-done; !st.Success() {
						b.Fatal(st)
					}
				}
			})
		}
	}
}

// A start whose exec hangs (an executable on a dead file system) holds
// its spawner thread: once every thread is held, starts fork from the
// agent's own table after spawnerWait rather than wait behind them.
func TestStartsGoOnWhileEverySpawnerIsHeld(t *testing.T) {
	r, _ := newTestReaper(t)
	requireSpawner(t, r)
	old := spawnerWait
	spawnerWait = 10 * time.Millisecond
	t.Cleanup(func() { spawnerWait = old })
	var held []*spawnThread
	sp := r.spawner.Load()
	for range len(sp.all) {
		held = append(held, <-sp.pool)
	}
	t.Cleanup(func() {
		for _, th := range held {
			sp.pool <- th
		}
	})
	exited := make(chan ExitStatus, 1)
	started := make(chan error, 1)
	go func() {
		_, err := r.Start(helperSpec(t, "exit:0"), func(st ExitStatus) { exited <- st })
		started <- err
	}()
	select {
	case err := <-started:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(testDeadline):
		t.Fatalf("no start within %v while every spawner thread was held", testDeadline)
	}
	if st := <-exited; !st.Success() {
		t.Fatalf("helper: %v", st)
	}
}

// An agent executed by a handover makes its spawner at its first start,
// not while it takes its instances over: until then, and for that start,
// children fork from the agent's table.
func TestSpawnerOfASuccessorComesWithItsFirstStart(t *testing.T) {
	r, err := newReaper(nil, true, []int{1}) // 1 is no child: nothing inherited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	select {
	case <-r.spawnerDone:
		t.Fatal("the spawner was made before any start")
	case <-time.After(200 * time.Millisecond): // a spawner takes ~1 ms to make
	}
	h := startHelper(t, r, helperSpec(t, "exit:0"))
	if st := h.wait(t); !st.Success() {
		t.Fatalf("helper: %v", st)
	}
	requireSpawner(t, r)
}

// A start aside (the check of a binary before a re-execution) does not
// make a successor's spawner: the handover that follows would share the
// CPU with the spawner threads closing their copies of every descriptor
// the agent holds. The first instance's start makes it.
func TestAStartAsideMakesNoSpawner(t *testing.T) {
	r, err := newReaper(nil, true, []int{1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	spec := helperSpec(t, "exit:0")
	spec.Aside = true
	h := startHelper(t, r, spec)
	if st := h.wait(t); !st.Success() {
		t.Fatalf("helper: %v", st)
	}
	if r.spawnerMade.Load() {
		t.Fatal("a start aside made the spawner")
	}
	h = startHelper(t, r, helperSpec(t, "exit:0"))
	if st := h.wait(t); !st.Success() {
		t.Fatalf("helper: %v", st)
	}
	requireSpawner(t, r)
}
