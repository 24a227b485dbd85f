package supervisor

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

// The test binary is also the workload: started with TEND_TEST_HELPER=mode
// (or mode:arg) it runs the helper of that name instead of the tests, as
// os/exec's tests do. A test asking for an unknown helper fails, and so
// does a full run that leaves a helper unused.
const helperEnv = "TEND_TEST_HELPER"

// helperUnknown is the exit status of a helper process given an unknown mode.
const helperUnknown = 97

// testDeadline bounds every wait for a process event in the tests.
const testDeadline = 30 * time.Second

var helpers = map[string]func(arg string) int{
	// exit:N exits with status N.
	"exit": func(arg string) int {
		n, err := strconv.Atoi(arg)
		if err != nil {
			fmt.Fprintln(os.Stderr, "exit: bad status", arg)
			return helperUnknown
		}
		return n
	},
	// token prints its fencing token, "token=N", and waits to be killed.
	"token": func(string) int {
		fmt.Println("token=" + os.Getenv(FencingTokenEnv))
		time.Sleep(10 * time.Minute)
		return 0
	},
	// sleep waits to be killed.
	"sleep": func(string) int {
		time.Sleep(10 * time.Minute)
		return 0
	},
	// ignore-term prints "ready", then "got SIGTERM" for every SIGTERM,
	// without exiting.
	"ignore-term": func(string) int {
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGTERM)
		fmt.Println("ready")
		for range c {
			fmt.Println("got SIGTERM")
		}
		return 0
	},
	// fork-grandchild starts a sleeping grandchild in its own process
	// group, prints its pid and exits 0, orphaning it.
	"fork-grandchild": func(string) int {
		exe, err := os.Executable()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		p, err := os.StartProcess(exe, []string{exe}, &os.ProcAttr{
			Env:   helperEnviron("sleep"),
			Files: []*os.File{null, null, null},
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println(p.Pid)
		return 0
	},
	// print:TEXT prints TEXT on stdout, then "TEXT on stderr" on stderr.
	"print": func(arg string) int {
		fmt.Fprintln(os.Stdout, arg)
		fmt.Fprintln(os.Stderr, arg, "on stderr")
		return 0
	},
	// read-stdin reads stdin to the end and prints how many bytes it read;
	// it fails if stdin is not open.
	"read-stdin": func(string) int {
		b, err := io.ReadAll(os.Stdin)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println(len(b))
		return 0
	},
	// fds prints the numbers of its open descriptors, one a line, but
	// for the one it reads them with.
	"fds": func(string) int {
		dir, err := unix.Open("/proc/self/fd", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		buf := make([]byte, 64<<10)
		var names []string
		for {
			n, err := unix.Getdents(dir, buf)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			if n == 0 {
				break
			}
			_, _, names = unix.ParseDirent(buf[:n], -1, names)
		}
		for _, name := range names {
			if name != strconv.Itoa(dir) {
				fmt.Println(name)
			}
		}
		return 0
	},
	// crash dies of SIGABRT, as a Go program does on a fatal error with
	// GOTRACEBACK=crash (without a core dump).
	"crash": func(string) int {
		unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{})
		debug.SetTraceback("crash")
		panic("helper crash")
	},
}

var helpersUsed sync.Map // mode name → true

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == ShimVerb {
		// The agents of these tests run job attempts under the test
		// binary, as tend's under tend's (harness: Options.Shim). First:
		// a shim has its attempt's environment, helper and all.
		syscall.Exit(RunShim(os.Args[2:])) // as tend's main does
	}
	if mode, ok := os.LookupEnv(helperEnv); ok {
		name, arg, _ := strings.Cut(mode, ":")
		h := helpers[name]
		if h == nil {
			fmt.Fprintf(os.Stderr, "unknown helper %q\n", mode)
			os.Exit(helperUnknown)
		}
		os.Exit(h(arg))
	}
	flag.Parse()
	code := m.Run()
	if code == 0 && flag.Lookup("test.run").Value.String() == "" && !testing.Short() {
		var unused []string
		for name := range helpers {
			if _, ok := helpersUsed.Load(name); !ok {
				unused = append(unused, name)
			}
		}
		if len(unused) > 0 {
			sort.Strings(unused)
			fmt.Fprintln(os.Stderr, "helpers never used:", unused)
			code = 1
		}
	}
	if code == 0 {
		if err := goleak.Find(lifelong); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// lifelong are the goroutines that live as long as the process, once
// started: the output poller's (logpoll.go).
var lifelong = goleak.IgnoreAnyFunction("github.com/tendhq/tend/supervisor.(*logPoller).wait")

// helperSpec is the spec of a helper process running mode.
func helperSpec(t testing.TB, mode string) ProcSpec {
	t.Helper()
	name, _, _ := strings.Cut(mode, ":")
	if helpers[name] == nil {
		t.Fatalf("unknown helper %q", mode)
	}
	helpersUsed.Store(name, true)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return ProcSpec{
		Path: exe,
		Args: []string{exe, mode},
		Env:  helperEnviron(mode),
	}
}

// helperEnviron is this process's environment with helperEnv set to mode.
// (os.StartProcess passes duplicates on, and the first one wins.)
func helperEnviron(mode string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, helperEnv+"=") {
			env = append(env, kv)
		}
	}
	return append(env, helperEnv+"="+mode)
}

// helperProc is a started helper and its exit.
type helperProc struct {
	*Proc
	done chan struct{}
	st   ExitStatus
}

// startHelper starts spec (from helperSpec) and makes sure the process
// group is killed and the exit reaped when the test ends.
func startHelper(t testing.TB, r *Reaper, spec ProcSpec) *helperProc {
	t.Helper()
	h := &helperProc{done: make(chan struct{})}
	p, err := r.Start(spec, func(st ExitStatus) {
		h.st = st
		close(h.done)
	})
	if err != nil {
		t.Fatal(err)
	}
	h.Proc = p
	t.Cleanup(func() {
		p.SignalGroup(syscall.SIGKILL)
		select {
		case <-h.done:
		case <-time.After(testDeadline):
			t.Errorf("helper %d: no exit after SIGKILL", p.Pid())
		}
	})
	return h
}

// wait returns the helper's exit status, failing the test at the deadline.
func (h *helperProc) wait(t testing.TB) ExitStatus {
	t.Helper()
	select {
	case <-h.done:
		return h.st
	case <-time.After(testDeadline):
		t.Fatalf("helper %d: no exit within %v", h.Pid(), testDeadline)
		return ExitStatus{}
	}
}

// newTestReaper opens a Reaper closed at the end of the test; its debug
// records of reaped orphans go to orphans.
func newTestReaper(t testing.TB) (r *Reaper, orphans <-chan int) {
	return newTestReaperMode(t, true)
}

// newTestReaperMode is newTestReaper reaping through pidfds, or by
// sweeps only as on a kernel without them.
func newTestReaperMode(t testing.TB, pidfds bool) (r *Reaper, orphans <-chan int) {
	t.Helper()
	c := make(chan int, 100)
	r, err := newReaper(slog.New(orphanHandler(c)), pidfds, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if r.polling.Load() != pidfds {
		t.Skipf("pidfds wanted %v, available %v", pidfds, r.polling.Load())
	}
	return r, c
}

// forEachReaperMode runs test with a Reaper that uses pidfds and with one
// that sweeps.
func forEachReaperMode(t *testing.T, test func(t *testing.T, pidfds bool)) {
	t.Run("pidfds", func(t *testing.T) { test(t, true) })
	// Where the epoll set cannot wait in the runtime's poller.
	t.Run("pidfds-blocking", func(t *testing.T) {
		reapInPoller = false
		defer func() { reapInPoller = true }()
		test(t, true)
	})
	t.Run("sweeps", func(t *testing.T) { test(t, false) })
}

// orphanHandler sends the pid of each "reaped orphan" record to c, never
// blocking.
type orphanHandler chan<- int

func (h orphanHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h orphanHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h orphanHandler) WithGroup(string) slog.Handler            { return h }
func (h orphanHandler) Handle(_ context.Context, rec slog.Record) error {
	if rec.Message != "reaped orphan" {
		return nil
	}
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == "pid" {
			select {
			case h <- int(a.Value.Int64()):
			default:
			}
		}
		return true
	})
	return nil
}

// pipeLines returns a pipe for a helper's stdout (the caller closes the
// write end after Start) and a channel of the lines read from it, closed at
// EOF. The reading goroutine ends before the test does.
func pipeLines(t testing.TB) (w *os.File, lines <-chan string) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	c := make(chan string, 100)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(c)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			c <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		w.Close()
		r.Close() // ends the reader even if a process still holds w
		<-done
	})
	return w, c
}

// nextLine returns the next line from lines, failing at the deadline or EOF.
func nextLine(t testing.TB, lines <-chan string) string {
	t.Helper()
	select {
	case l, ok := <-lines:
		if !ok {
			t.Fatal("unexpected EOF")
		}
		return l
	case <-time.After(testDeadline):
		t.Fatalf("no line within %v", testDeadline)
		return ""
	}
}
