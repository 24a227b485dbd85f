package verbs

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/internal/e2e"
)

// An agent with log_target = "journal" writes its log to the journal's
// socket, in the native protocol, with the fields, and not to stderr. The
// journal is a datagram socket this test listens on; the agent is built
// to send there (go-systemd's journal socket is set at build time).
func TestAgentLogsToTheJournal(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sock := filepath.Join(dir, "journal.sock")
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	bin := filepath.Join(dir, "tend")
	build := exec.Command("go", "build", "-o", bin, "-ldflags", "-X github.com/coreos/go-systemd/v22/journal.journalSocket="+sock, "..")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	entries := make(chan string, 1000)
	go func() {
		buf := make([]byte, 1<<16)
		for {
			n, _, err := ln.ReadFromUnix(buf)
			if err != nil {
				close(entries)
				return
			}
			entries <- string(buf[:n])
		}
	}()
	a := e2e.StartAgentBin(t, nil, bin, "", "log_target = \"journal\"\n")
	a.WriteUnit("crash", a.HelperUnit("replicated", "replicas = 1", `app = "crash"`, "exit:3"))
	var ready, exited string
	deadline := time.After(30 * time.Second)
	for ready == "" || exited == "" {
		select {
		case e := <-entries:
			switch {
			case strings.Contains(e, "MESSAGE=agent ready\n"):
				ready = e
			case strings.Contains(e, "MESSAGE=instance exited\n") && strings.Contains(e, "EXIT_CODE=3\n"):
				exited = e
			}
		case <-deadline:
			t.Fatalf("no agent-ready and instance-exited entries in 30 s (ready %q, exited %q)", ready, exited)
		}
	}
	for _, want := range []string{"PRIORITY=6\n", "SYSLOG_IDENTIFIER=tend\n"} {
		if !strings.Contains(ready, want) {
			t.Errorf("the agent-ready entry lacks %q:\n%s", want, ready)
		}
	}
	for _, want := range []string{"INSTANCE=crash-", "PID=", "SYSLOG_IDENTIFIER=tend\n"} {
		if !strings.Contains(exited, want) {
			t.Errorf("the instance-exited entry lacks %q:\n%s", want, exited)
		}
	}
	if strings.Contains(a.Log.String(), "agent ready") {
		t.Errorf("the agent logged to stderr too:\n%s", a.Log.String())
	}
}
