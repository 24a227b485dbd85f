package probes

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// helperEnv makes the test binary run as a helper program (see helper).
const helperEnv = "TEND_PROBES_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		os.Exit(helper(os.Args[1:]))
	}
	goleak.VerifyTestMain(m)
}

// helper is the workload the tests start by re-running the test binary:
//
//	exit N [TEXT]         print TEXT, exit with status N
//	hang                  sleep for an hour
//	grandchild PIDFILE    start "hang" in this process group, write its
//	                      pid to PIDFILE, then hang
//	notify TEXT           send TEXT to $NOTIFY_SOCKET, then wait for stdin
//	                      to close
//	serve                 serve HTTP 200 on a loopback port, print the port,
//	                      until stdin closes
func helper(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "helper: no command")
		return 2
	}
	switch args[0] {
	case "exit":
		code, _ := strconv.Atoi(args[1])
		if len(args) > 2 {
			fmt.Println(args[2])
		}
		return code
	case "hang":
		time.Sleep(time.Hour)
		return 0
	case "grandchild":
		cmd := exec.Command(os.Args[0], "hang")
		cmd.Env = os.Environ()
		if err := cmd.Start(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		tmp := args[1] + ".tmp"
		if err := os.WriteFile(tmp, []byte(strconv.Itoa(cmd.Process.Pid)), 0o600); err != nil {
			return 2
		}
		if err := os.Rename(tmp, args[1]); err != nil {
			return 2
		}
		time.Sleep(time.Hour)
		return 0
	case "notify":
		conn, err := dialNotify(os.Getenv("NOTIFY_SOCKET"))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		if _, err := conn.Write([]byte(args[1])); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		conn.Close()
		buf := make([]byte, 1)
		os.Stdin.Read(buf)
		return 0
	case "serve":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		go http.Serve(ln, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		fmt.Println(ln.Addr().(*net.TCPAddr).Port)
		io.Copy(io.Discard, os.Stdin)
		return 0
	}
	fmt.Fprintf(os.Stderr, "helper: unknown command %q\n", args[0])
	return 2
}

// helperCommand returns the argv that runs helper with args.
func helperCommand(args ...string) []string {
	return append([]string{os.Args[0]}, args...)
}

// runCommand is a CommandRunner for tests: exec.Command in its own process
// group, the group killed when ctx ends. (The agent's runner goes through
// its reaper instead; this package has none.)
func runCommand(ctx context.Context, argv []string) (int, []byte, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out := &limitedBuffer{max: MaxOutput}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return 0, nil, err
	}
	pid := cmd.Process.Pid
	stop := context.AfterFunc(ctx, func() { syscall.Kill(-pid, syscall.SIGKILL) })
	err := cmd.Wait()
	if !stop() {
		return 0, out.Bytes(), ctx.Err()
	}
	if err != nil && cmd.ProcessState == nil {
		return 0, out.Bytes(), err
	}
	ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		return 128 + int(ws.Signal()), out.Bytes(), nil
	}
	return ws.ExitStatus(), out.Bytes(), nil
}

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if room := l.max - len(l.b); room > 0 {
		l.b = append(l.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (l *limitedBuffer) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]byte(nil), l.b...)
}
