package supervisor_test

// The tests of the exec route and Client.Exec: real commands, started by a
// real Reaper, over the real API on a real unix socket, with the API
// tests' fake standing in for the rest of the agent.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	. "github.com/tendhq/tend/supervisor"
)

// execDeadline bounds every wait of the exec tests.
const execDeadline = 30 * time.Second

// execFixture is the API fixture with its commands run by a Reaper.
// kubia-7hjkc is this host's (edge-17), with env and a working directory;
// kubia-9w7gs is edge-2's; ssd-monitor-hkpq4 runs as nobody, group 12345.
type execFixture struct {
	*fake
	c      *Client
	sock   string
	dir    string       // kubia-7hjkc's working directory
	starts atomic.Int32 // StartProc calls
}

func serveExec(t *testing.T) *execFixture {
	t.Helper()
	r, err := NewReaper(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() }) // after serve's cleanups, which end the sessions
	f := &execFixture{fake: fixture(), dir: t.TempDir()}
	in := f.instances["kubia-7hjkc"]
	in.Env = map[string]string{"NODE_ENV": "production", "TEND_EXEC_OVERRIDE": "instance"}
	in.WorkingDir = f.dir
	f.instances[in.Name] = in
	in = f.instances["kubia-9w7gs"]
	in.Host = "edge-2"
	f.instances[in.Name] = in
	in = f.instances["ssd-monitor-hkpq4"]
	in.User, in.Group, in.WorkingDir = "nobody", "12345", "/"
	f.instances[in.Name] = in
	f.StartProcFn = func(spec ProcSpec, onExit func(ExitStatus)) (*Proc, error) {
		f.starts.Add(1)
		return r.Start(spec, onExit)
	}
	f.c, f.sock = serve(t, f.fake)
	return f
}

type execResult struct {
	code           int
	stdout, stderr string
	err            error
}

func (r execResult) String() string {
	return fmt.Sprintf("exit %d, err %v\nstdout:\n%s\nstderr:\n%s", r.code, r.err, r.stdout, r.stderr)
}

// exec runs command beside the instance name and waits for it.
func (f *execFixture) exec(name string, stdin io.Reader, command ...string) execResult {
	ctx, cancel := context.WithTimeout(context.Background(), execDeadline)
	defer cancel()
	var out, errOut bytes.Buffer
	code, err := f.c.Exec(ctx, name, command, stdin, &out, &errOut)
	return execResult{code, out.String(), errOut.String(), err}
}

// lockedBuffer is a bytes.Buffer that one goroutine writes while another
// reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// eventually polls cond until it holds, failing the test after
// execDeadline.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(execDeadline)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", execDeadline, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// pids waits until out holds a line of n pids and returns them.
func pids(t *testing.T, out *lockedBuffer, n int) []int {
	t.Helper()
	var list []int
	eventually(t, "the command prints its pids", func() bool {
		line, ok := strings.CutSuffix(out.String(), "\n")
		f := strings.Fields(line)
		if !ok || len(f) != n {
			return false
		}
		list = nil
		for _, s := range f {
			pid, err := strconv.Atoi(s)
			if err != nil {
				t.Fatalf("output %q", out.String())
			}
			list = append(list, pid)
		}
		return true
	})
	return list
}

// gone reports whether pid has ended and been reaped (a zombie still
// answers signal 0).
func gone(pid int) bool { return syscall.Kill(pid, 0) == syscall.ESRCH }

func waitGone(t *testing.T, pids ...int) {
	t.Helper()
	for _, pid := range pids {
		eventually(t, fmt.Sprintf("process %d is gone", pid), func() bool { return gone(pid) })
	}
}

// zeros is an endless input.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestExecRunsBesideTheInstance(t *testing.T) {
	t.Setenv("TEND_EXEC_AGENT", "agent")
	t.Setenv("TEND_EXEC_OVERRIDE", "agent")
	t.Setenv("NOTIFY_SOCKET", "/run/systemd/notify") // the agent's, not the command's
	f := serveExec(t)
	dir, err := filepath.EvalSymlinks(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	r := f.exec("kubia-7hjkc", nil, "sh", "-c",
		`echo $$; echo "$TEND_INSTANCE $NODE_ENV $TEND_EXEC_AGENT $TEND_EXEC_OVERRIDE [$NOTIFY_SOCKET]"; env | grep -c ^TEND_EXEC_OVERRIDE=; pwd -P; echo oops >&2; exit 3`)
	pid, rest, _ := strings.Cut(r.stdout, "\n")
	if r.err != nil || r.code != 3 || rest != "kubia-7hjkc production agent instance []\n1\n"+dir+"\n" || r.stderr != "oops\n" {
		t.Fatalf("exec: %s", r)
	}
	// Its exit came through the Reaper, which has reaped it.
	if n, _ := strconv.Atoi(pid); !gone(n) {
		t.Errorf("process %s is still there after its exit status came", pid)
	}

	for _, tc := range []struct {
		script string
		code   int
	}{
		{"exit 0", 0},
		{"exit 255", 255},
		{"kill -KILL $$", 128 + int(syscall.SIGKILL)},
		{"kill -TERM $$", 128 + int(syscall.SIGTERM)},
	} {
		if r := f.exec("kubia-7hjkc", nil, "sh", "-c", tc.script); r.err != nil || r.code != tc.code {
			t.Errorf("%s: want exit %d, got %s", tc.script, tc.code, r)
		}
	}
}

func TestExecPassesStdin(t *testing.T) {
	f := serveExec(t)
	if r := f.exec("kubia-7hjkc", strings.NewReader("hello\nworld\n"), "cat"); r.err != nil || r.code != 0 || r.stdout != "hello\nworld\n" {
		t.Errorf("cat: %s", r)
	}
	if r := f.exec("kubia-7hjkc", strings.NewReader("there\n"), "sh", "-c", "read x; echo got $x"); r.err != nil || r.stdout != "got there\n" {
		t.Errorf("read: %s", r)
	}
	// No stdin: the command's is closed at once.
	if r := f.exec("kubia-7hjkc", nil, "cat"); r.err != nil || r.code != 0 || r.stdout != "" {
		t.Errorf("cat without stdin: %s", r)
	}
	// A command that does not read its input ends all the same.
	if r := f.exec("kubia-7hjkc", zeros{}, "sh", "-c", "exit 4"); r.err != nil || r.code != 4 {
		t.Errorf("endless input to a command that ignores it: %s", r)
	}
}

func TestExecCommandThatCannotStart(t *testing.T) {
	f := serveExec(t)
	r := f.exec("kubia-7hjkc", strings.NewReader("input nobody reads\n"), "nosuch-tend-command", "arg")
	var se *ServerError
	if r.err == nil || r.code != -1 || errors.As(r.err, &se) ||
		!strings.Contains(r.err.Error(), "nosuch-tend-command") || !strings.Contains(r.err.Error(), "executable file not found") {
		t.Errorf("a command that does not exist: %s", r)
	}
	if f.starts.Load() != 1 {
		t.Errorf("StartProc called %d times", f.starts.Load())
	}
}

// rawExec sends an exec request for name with body by hand and returns
// the answer, with the connection to read the rest from.
func rawExec(t *testing.T, sock, name, body string, upgrade bool) (*http.Response, *bufio.Reader, net.Conn) {
	t.Helper()
	conn, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	req := fmt.Sprintf("POST /v1/instances/%s/exec HTTP/1.1\r\nHost: tend\r\nContent-Type: application/json\r\nContent-Length: %d\r\n", name, len(body))
	if upgrade {
		req += "Connection: Upgrade\r\nUpgrade: tend-exec\r\n"
	}
	if _, err := io.WriteString(conn, req+"\r\n"+body); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	return resp, br, conn
}

func TestExecRefusedBeforeUpgrade(t *testing.T) {
	f := serveExec(t)
	var se *ServerError
	r := f.exec("nope", nil, "true")
	if !errors.Is(r.err, ErrNotFound) || r.code != -1 {
		t.Errorf("unknown instance: %s", r)
	}
	// The agent never runs a command beside an instance of another host.
	r = f.exec("kubia-9w7gs", nil, "true")
	if !errors.As(r.err, &se) || se.Status != http.StatusBadRequest ||
		!strings.Contains(se.Message, `instance "kubia-9w7gs" runs on host edge-2, not on this agent's host edge-17`) {
		t.Errorf("instance of another host: %s", r)
	}
	r = f.exec("kubia-7hjkc", nil)
	if !errors.Is(r.err, ErrInvalid) || !strings.Contains(r.err.Error(), "the command is empty") {
		t.Errorf("no command: %s", r)
	}
	r = f.exec("kubia-7hjkc", nil, "echo", strings.Repeat("x", 1<<20))
	if !errors.As(r.err, &se) || se.Status != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized request: %s", r)
	}

	// By hand: JSON answers, never a 101.
	for _, tc := range []struct {
		name, body string
		upgrade    bool
		status     int
		msg        string
	}{
		{"nope", `{"command":["true"]}`, true, http.StatusNotFound, `instance "nope"`},
		{"kubia-9w7gs", `{"command":["true"]}`, true, http.StatusBadRequest, "runs on host edge-2"},
		{"kubia-7hjkc", `{"command":["true"]}`, false, http.StatusBadRequest, `"Upgrade: tend-exec"`},
		{"kubia-7hjkc", `{"command":["true"],"tty":true}`, true, http.StatusBadRequest, "no terminal"},
		{"kubia-7hjkc", `{"command":["true"],"user":"root"}`, true, http.StatusBadRequest, `unknown field "user"`},
		{"kubia-7hjkc", `{"command":[""]}`, true, http.StatusBadRequest, "the command is empty"},
	} {
		resp, _, _ := rawExec(t, f.sock, tc.name, tc.body, tc.upgrade)
		data, _ := io.ReadAll(resp.Body)
		var apiErr APIError
		if resp.StatusCode != tc.status || resp.Header.Get("Content-Type") != "application/json" ||
			json.Unmarshal(data, &apiErr) != nil || !strings.Contains(apiErr.Error, tc.msg) {
			t.Errorf("%s %s: %s %q", tc.name, tc.body, resp.Status, data)
		}
	}
	if n := f.starts.Load(); n != 0 {
		t.Errorf("StartProc called %d times for requests refused", n)
	}
}

func TestExecClientGoneKillsTheCommand(t *testing.T) {
	f := serveExec(t)
	for _, tc := range []struct {
		what, script string
		stdin        io.Reader
		n            int // pids printed
	}{
		// The command and what it started in its group.
		{"a command and its child", "sleep 600 & echo $$ $!; wait", nil, 2},
		// SIGTERM ignored: SIGKILL after the grace.
		{"a command that ignores SIGTERM", `trap "" TERM; echo $$; while :; do sleep 1; done`, nil, 1},
		// The agent waits on the command to take its input, and must
		// still see the client go.
		{"a command that does not read its input", "echo $$; exec sleep 600", zeros{}, 1},
	} {
		t.Run(tc.what, func(t *testing.T) {
			var out lockedBuffer
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() {
				_, err := f.c.Exec(ctx, "kubia-7hjkc", []string{"sh", "-c", tc.script}, tc.stdin, &out, nil)
				done <- err
			}()
			list := pids(t, &out, tc.n)
			cancel()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("Exec returned %v, want context.Canceled", err)
				}
			case <-time.After(execDeadline):
				t.Fatal("Exec did not return when its context ended")
			}
			waitGone(t, list...)
		})
	}
}

func TestExecOversizedOrUnknownFrameIsRefused(t *testing.T) {
	f := serveExec(t)
	for _, tc := range []struct {
		header [5]byte
		want   string
	}{
		{[5]byte{FrameStdin, 0, 0, 0x80, 0x01}, "exec: the client sent a frame of 32769 bytes, over the limit of 32768"},
		{[5]byte{9, 0, 0, 0, 0}, "exec: the client sent a frame of unknown type 9"},
		{[5]byte{FrameExit, 0, 0, 0, 0}, "exec: the client sent a frame of unknown type 3"},
	} {
		resp, br, conn := rawExec(t, f.sock, "kubia-7hjkc", `{"command":["sh","-c","echo $$; exec sleep 600"]}`, true)
		if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Upgrade") != "tend-exec" {
			t.Fatalf("answer %s %v", resp.Status, resp.Header)
		}
		typ, p, err := ReadExecFrame(br)
		if err != nil || typ != FrameStdout {
			t.Fatalf("first frame: %d %q %v", typ, p, err)
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(string(p)))
		if _, err := conn.Write(tc.header[:]); err != nil {
			t.Fatal(err)
		}
		for {
			typ, p, err = ReadExecFrame(br)
			if err != nil || typ != FrameStdout {
				break
			}
		}
		if err != nil || typ != FrameError || string(p) != tc.want {
			t.Errorf("after header % x: frame %d %q, %v; want an error frame %q", tc.header, typ, p, err, tc.want)
		}
		if _, _, err := ReadExecFrame(br); err != io.EOF {
			t.Errorf("after the error frame: %v, want EOF", err)
		}
		waitGone(t, pid)
	}
}

// A client refuses what breaks the protocol on the agent's side too.
func TestExecClientRefusesABadAgent(t *testing.T) {
	noLeaks(t)
	sock := filepath.Join(shortTempDir(t), "bad.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var handlers sync.WaitGroup
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handlers.Add(1)
		defer handlers.Done()
		io.Copy(io.Discard, r.Body)
		if r.URL.Path == "/v1/instances/ok/exec" {
			w.WriteHeader(http.StatusOK) // an agent that does not upgrade
			return
		}
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", ExecProtocol)
		w.WriteHeader(http.StatusSwitchingProtocols)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		var h [5]byte
		h[0] = FrameStdout
		binary.BigEndian.PutUint32(h[1:], MaxExecFrame+1)
		conn.Write(h[:])
		io.Copy(io.Discard, conn) // until the client closes
	})}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(l) }()
	c := NewClient(sock)
	t.Cleanup(func() { c.Close(); srv.Close(); <-done; handlers.Wait() })

	ctx := context.Background()
	code, err := c.Exec(ctx, "big", []string{"true"}, nil, io.Discard, io.Discard)
	if code != -1 || err == nil || !strings.Contains(err.Error(), "the tend agent sent a frame of 32769 bytes, over the limit of 32768") {
		t.Errorf("oversized frame from the agent: %d, %v", code, err)
	}
	code, err = c.Exec(ctx, "ok", []string{"true"}, nil, io.Discard, io.Discard)
	if code != -1 || err == nil || !strings.Contains(err.Error(), "not 101 Switching Protocols") {
		t.Errorf("no upgrade: %d, %v", code, err)
	}
}

func TestExecLargeOutputArrivesIntact(t *testing.T) {
	f := serveExec(t)
	data := make([]byte, 6<<20+12345)
	rand.Read(data)
	if err := os.WriteFile(filepath.Join(f.dir, "big"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	r := f.exec("kubia-7hjkc", nil, "sh", "-c", "cat big & cat big >&2; wait")
	if r.err != nil || r.code != 0 || r.stdout != string(data) || r.stderr != string(data) {
		t.Errorf("6 MiB on stdout and stderr: exit %d, err %v, %d and %d bytes, intact %v %v",
			r.code, r.err, len(r.stdout), len(r.stderr), r.stdout == string(data), r.stderr == string(data))
	}
	r = f.exec("kubia-7hjkc", bytes.NewReader(data), "cat")
	if r.err != nil || r.code != 0 || r.stdout != string(data) {
		t.Errorf("6 MiB through cat: exit %d, err %v, %d bytes, intact %v", r.code, r.err, len(r.stdout), r.stdout == string(data))
	}
}

func TestExecRunsAsTheInstanceUser(t *testing.T) {
	f := serveExec(t)
	// Without a user, as the agent's.
	if r := f.exec("kubia-7hjkc", nil, "id", "-u"); r.err != nil || r.stdout != strconv.Itoa(os.Geteuid())+"\n" {
		t.Errorf("an instance without a user: %s", r)
	}
	if os.Geteuid() != 0 {
		t.Skip("only root can run commands as another user")
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody:", err)
	}
	r := f.exec("ssd-monitor-hkpq4", nil, "sh", "-c", "id -u; id -g; echo $USER $LOGNAME")
	if want := u.Uid + "\n12345\nnobody nobody\n"; r.err != nil || r.stdout != want {
		t.Errorf("an instance of user nobody, group 12345: want %q, got %s", want, r)
	}
}

// Exit statuses reach their own sessions while the Reaper reaps many
// children at once.
func TestExecConcurrentExitStatuses(t *testing.T) {
	f := serveExec(t)
	var wg sync.WaitGroup
	results := make([]execResult, 24)
	for i := range results {
		wg.Go(func() { results[i] = f.exec("kubia-7hjkc", nil, "sh", "-c", fmt.Sprintf("echo %d; exit %d", i, i)) })
	}
	wg.Wait()
	for i, r := range results {
		if r.err != nil || r.code != i || r.stdout != fmt.Sprintf("%d\n", i) {
			t.Errorf("session %d: %s", i, r)
		}
	}
}

func TestExecLeavesNoDescriptors(t *testing.T) {
	f := serveExec(t)
	f.exec("kubia-7hjkc", nil, "true") // the first connection sets up what stays
	fds := func() int {
		entries, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		return len(entries)
	}
	before := fds()
	f.exec("kubia-7hjkc", strings.NewReader("x\n"), "cat")
	f.exec("kubia-7hjkc", nil, "nosuch-tend-command")
	f.exec("kubia-7hjkc", nil, "sh", "-c", "sleep 600 & exit 2")
	f.exec("nope", nil, "true")
	ctx, cancel := context.WithCancel(context.Background())
	var out lockedBuffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.c.Exec(ctx, "kubia-7hjkc", []string{"sh", "-c", "echo $$; exec sleep 600"}, nil, &out, nil)
	}()
	pid := pids(t, &out, 1)
	cancel()
	<-done
	waitGone(t, pid...)
	eventually(t, fmt.Sprintf("the agent's descriptors are back to %d", before), func() bool {
		f.c.Close()
		return fds() <= before
	})
}
