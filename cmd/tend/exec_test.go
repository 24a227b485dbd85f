package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tendhq/tend/internal/e2e"
	"github.com/tendhq/tend/supervisor"
)

// newTestReaper returns a Reaper, closed when the test ends, for fakes
// that run commands.
func newTestReaper(t *testing.T) *supervisor.Reaper {
	t.Helper()
	r, err := supervisor.NewReaper(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.Close()
		// NewReaper made this process a child subreaper; with nothing
		// left to reap orphans, let them go to init again, as the end-to-
		// end tests expect.
		unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
	})
	return r
}

// tend exec beside an instance of another host, in one process: the CLI
// asks its agent (edge-17), which forwards the request with
// httputil.ReverseProxy, as agents do between hosts, to the agent of
// edge-2, which runs the command.
func TestCLIExecOnAnotherHost(t *testing.T) {
	reaper := newTestReaper(t)
	dir := t.TempDir()
	remote := fixture() // edge-2's agent
	remote.VersionFn = func() supervisor.Version { return supervisor.Version{Version: "v0.1.0", Go: "go1.26", Host: "edge-2"} }
	remote.StartProcFn = reaper.Start
	local := fixture() // edge-17's, which knows kubia-9w7gs from edge-2's summaries
	for _, b := range []*fake{remote, local} {
		b.change(func() {
			in := b.instances["kubia-9w7gs"]
			in.Host, in.Env, in.WorkingDir = "edge-2", map[string]string{"NODE_ENV": "production"}, dir
			b.instances[in.Name] = in
		})
	}
	remoteSock := serveFake(t, remote)
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) { pr.Out.URL.Scheme, pr.Out.URL.Host = "http", "edge-2" },
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", remoteSock)
		}},
		ErrorLog: log.New(io.Discard, "", 0),
	}
	api := supervisor.NewAPI(local, slog.New(slog.DiscardHandler))
	sock := serveHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/instances/kubia-9w7gs/exec" {
			proxy.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	}))
	run := func(stdin string, args ...string) cliRun {
		var out, errOut syncBuffer
		c := &CLI{Stdout: &out, Stderr: &errOut, Stdin: strings.NewReader(stdin),
			Env: func(k string) string { return map[string]string{"TEND_SOCKET": sock}[k] }}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		code := exitCode(&errOut, c.Run(ctx, args))
		return cliRun{out.String(), errOut.String(), code}
	}

	r := run("from stdin\n", "exec", "-i", "kubia-9w7gs", "--", "sh", "-c",
		`echo $TEND_INSTANCE $NODE_ENV $(basename "$PWD"); cat; echo oops >&2; exit 5`)
	if r.code != 5 || r.stdout != "kubia-9w7gs production "+filepath.Base(dir)+"\nfrom stdin\n" || r.stderr != "oops\n" {
		t.Errorf("exec on edge-2: %s", r)
	}
	if r := run("", "exec", "po/kubia-9w7gs", "--", "true"); r.code != 0 || r.stdout != "" || r.stderr != "" {
		t.Errorf("exec of true on edge-2: %s", r)
	}
	r = run("", "exec", "kubia-9w7gs", "--", "nosuch-tend-command")
	if r.code != 1 || !strings.Contains(r.stderr, "error: exec beside kubia-9w7gs on host edge-2: start nosuch-tend-command: executable file not found") {
		t.Errorf("a command that edge-2 cannot start: %s", r)
	}
	// Gone from edge-2 before edge-17 heard of it: edge-2's 404.
	remote.change(func() { delete(remote.instances, "kubia-9w7gs") })
	r = run("", "exec", "kubia-9w7gs", "--", "true")
	if r.code != 1 || !strings.Contains(r.stderr, `instances "kubia-9w7gs" not found`) {
		t.Errorf("an instance edge-2 no longer has: %s", r)
	}
	// The local instances still run locally, as the caller.
	if r := run("", "exec", "kubia-7hjkc", "--", "sh", "-c", "echo $TEND_INSTANCE"); r.code != 0 || r.stdout != "kubia-7hjkc\n" {
		t.Errorf("exec on this host: %s", r)
	}
}

// The exec route of a real agent, beside a real instance.
func TestExecRouteOfAnAgent(t *testing.T) {
	a := e2e.StartAgent(t, "", "")
	a.WriteUnit("kubia", a.HelperUnit("replicated", "replicas = 1", `app = "kubia"`, "sleep"))
	inst := a.WaitRunning("kubia", 1)[0]
	c := supervisor.NewClient(a.Sock)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	code, err := c.Exec(ctx, inst.Name, []string{"sh", "-c", `echo $TEND_INSTANCE $TEND_TEST_TAG; cat; kill -KILL $$`},
		strings.NewReader("in\n"), &out, &errOut)
	if err != nil || code != 137 || out.String() != inst.Name+" "+a.Tag+"\nin\n" || errOut.String() != "" {
		t.Errorf("exec: exit %d, %v\nstdout:\n%s\nstderr:\n%s", code, err, out.String(), errOut.String())
	}
	// The instance itself was left alone.
	if i := a.Instance(inst.Name); i.Status != "Running" || i.PID != inst.PID || i.RestartCount != 0 {
		t.Errorf("the instance after exec: %+v", i)
	}
}

// An instance without working_dir runs in the agent's directory, and
// tend exec runs beside it there, wherever the CLI is run from.
func TestExecRunsInTheInstancesDirectory(t *testing.T) {
	a := e2e.StartAgent(t, "", "")
	a.WriteUnit("kubia", a.HelperUnit("replicated", "replicas = 1", `app = "kubia"`, "sleep"))
	inst := a.WaitRunning("kubia", 1)[0]
	cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", inst.PID))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(e2e.TendBin, "exec", inst.Name, "--", "pwd")
	cmd.Env = append(os.Environ(), "TEND_SOCKET="+a.Sock)
	cmd.Dir = t.TempDir() // somewhere else
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != cwd {
		t.Fatalf("tend exec pwd from %s: %q (%v), want the instance's directory %s", cmd.Dir, out, err, cwd)
	}
}
