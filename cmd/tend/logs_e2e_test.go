package main

import (
	"bufio"
	"fmt"
	"github.com/tendhq/tend/internal/e2e"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The case, end to end: an instance writes much faster than the
// follower reads (here the follower does not read at all for a while),
// its output rotates many times meanwhile, and `tend logs -f` goes on
// from the oldest output still kept, says on stderr how much it skipped,
// and does not exit while the instance runs; when the instance goes, it
// exits 0.
func TestLogsFollowKeepsGoingWhenItFallsBehindRotation(t *testing.T) {
	const total = 200_000
	a := e2e.StartAgent(t, "", "log_max_bytes = 65536\n")
	gate := filepath.Join(t.TempDir(), "gate")
	a.WriteUnit("counter", fmt.Sprintf(`kind = "replicated"
replicas = 1
[template]
labels = { app = "counter" }
command = ["sh", "-c", "echo ready; while [ ! -e %s ]; do sleep 0.05; done; seq 1 %d; exec sleep 300"]
env = { TEND_TEST_TAG = %q }
stop_timeout = "2s"
`, gate, total, a.Tag))
	var name string
	a.Eventually("the counter running", func() (bool, string) {
		ins := a.Instances("-l", "app=counter")
		if len(ins) == 1 && ins[0].Status == "Running" {
			name = ins[0].Name
			return true, ""
		}
		return false, fmt.Sprint(ins)
	})

	follow := exec.Command(e2e.TendBin, "logs", "-f", name)
	follow.Env = append(os.Environ(), "TEND_SOCKET="+a.Sock)
	stderr := &e2e.LockedBuffer{}
	follow.Stderr = stderr
	out, err := follow.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = follow.Wait(); close(exited) }()
	t.Cleanup(func() { follow.Process.Kill(); <-exited })
	rd := bufio.NewReader(out)
	if l, err := rd.ReadString('\n'); err != nil || l != "ready\n" {
		t.Fatalf("first line %q, %v", l, err)
	}
	// The follower is attached; now the counter writes, and nobody reads.
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	a.Eventually("the counter done writing", func() (bool, string) {
		tail, _, _ := a.Run("logs", name, "--tail", "1")
		return tail == fmt.Sprintf("%d\n", total), tail
	})

	// Read what the follower prints: in order, to the last line, with
	// gaps only as large as what it said it skipped.
	prev, gaps := 0, 0
	for prev < total {
		l, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("the follower's output ended after %d (%v); stderr:\n%s", prev, err, stderr.String())
		}
		n, err := strconv.Atoi(strings.TrimSuffix(l, "\n"))
		if err != nil || n <= prev {
			t.Fatalf("line %q after %d", l, prev)
		}
		gaps += n - prev - 1
		prev = n
	}
	select {
	case <-exited:
		t.Fatalf("tend logs -f exited (%v) while the instance runs; stderr:\n%s", waitErr, stderr.String())
	default:
	}
	if gaps == 0 {
		t.Fatalf("the follower never fell behind (log_max_bytes too large for this test?)")
	}
	a.Tend("delete", "po", name)
	select {
	case <-exited:
		if waitErr != nil {
			t.Fatalf("tend logs -f after the instance went: %v; stderr:\n%s", waitErr, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("tend logs -f still running 30 s after its instance was deleted")
	}
	// One line per skip, each giving the count; together they are the gaps.
	skip := regexp.MustCompile(`^tend: skipped (\d+) bytes \((\d+) lines\) of ` + regexp.QuoteMeta(name) + `'s output: the reader fell behind log rotation$`)
	said := 0
	for _, l := range e2e.Lines(stderr.String()) {
		m := skip.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("stderr line %q", l)
		}
		k, _ := strconv.Atoi(m[2])
		said += k
	}
	if said != gaps {
		t.Fatalf("the follower said it skipped %d lines; %d were missing:\n%s", said, gaps, stderr.String())
	}
}
