package verbs

import (
	"fmt"
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
	bin, sock := journalBuild(t)
	entries := listenJournal(t, sock)
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

// journalBuild builds tend to send to the journal at sock, a socket
// path of the test's, which does not exist yet.
func journalBuild(t *testing.T) (bin, sock string) {
	t.Helper()
	dir := t.TempDir()
	sock = filepath.Join(dir, "journal.sock")
	bin = filepath.Join(dir, "tend")
	build := exec.Command("go", "build", "-o", bin, "-ldflags", "-X github.com/coreos/go-systemd/v22/journal.journalSocket="+sock, "..")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin, sock
}

// listenJournal is journald at sock: each datagram an entry.
func listenJournal(t *testing.T, sock string) <-chan string {
	t.Helper()
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	entries := make(chan string, 10000)
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
	return entries
}

// fields parses a native-protocol entry of text fields.
func fields(e string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(e, "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			m[k] = v
		}
	}
	return m
}

// Instances' output to the journal: with log = "both" each line is an
// entry tagged with the instance, and tend logs has it too; with log =
// "journal" only the journal has it and tend logs says where it is.
// Before journald runs, the output goes to the files, and the unit says
// why.
func TestInstanceOutputToTheJournal(t *testing.T) {
	t.Parallel()
	bin, sock := journalBuild(t)
	a := e2e.StartAgentBin(t, nil, bin, "", "")
	unit := func(log, word string) string {
		return fmt.Sprintf(`kind = "replicated"
replicas = 1
[template]
labels = { app = "talk" }
command = ["/bin/sh", "-c", "echo %s one; echo '<3>%s two'; exec sleep 1000"]
log = %q
stop_timeout = "2s"
`, word, word, log)
	}

	// No journald yet: the files get it, and the unit a warning.
	a.WriteUnit("early", unit("journal", "early"))
	early := a.WaitRunning("early", 1)[0]
	a.Eventually("the output in the files", func() (bool, string) {
		out, _, _ := a.Run("logs", early.Name)
		return out == "early one\n<3>early two\n", out
	})
	a.Eventually("a LogNotSent event", func() (bool, string) {
		d := a.Tend("describe", "unit", "early")
		return strings.Contains(d, "LogNotSent") && strings.Contains(d, "journald does not run here"), d
	})

	entries := listenJournal(t, sock)
	a.WriteUnit("both", unit("both", "both"))
	a.WriteUnit("only", unit("journal", "only"))
	both := a.WaitRunning("both", 1)[0]
	only := a.WaitRunning("only", 1)[0]
	got := map[string]map[string]string{}
	deadline := time.After(20 * time.Second)
	for len(got) < 4 {
		select {
		case e := <-entries:
			f := fields(e)
			if strings.HasPrefix(f["SYSLOG_IDENTIFIER"], "tend/") {
				got[f["MESSAGE"]] = f
			}
		case <-deadline:
			t.Fatalf("entries of the instances' output in 20 s: %v", got)
		}
	}
	for msg, want := range map[string]map[string]string{
		"both one": {"SYSLOG_IDENTIFIER": "tend/" + both.Name, "TEND_INSTANCE": both.Name, "TEND_UNIT": "both", "PRIORITY": "6", "SYSLOG_PID": fmt.Sprint(both.PID)},
		"both two": {"PRIORITY": "3", "TEND_INSTANCE": both.Name},
		"only one": {"SYSLOG_IDENTIFIER": "tend/" + only.Name, "TEND_UNIT": "only", "SYSLOG_PID": fmt.Sprint(only.PID)},
		"only two": {"PRIORITY": "3"},
	} {
		for k, v := range want {
			if got[msg][k] != v {
				t.Errorf("entry %q: %s = %q, want %q (%v)", msg, k, got[msg][k], v, got[msg])
			}
		}
	}
	a.Eventually("both's output in the files too", func() (bool, string) {
		out, _, _ := a.Run("logs", both.Name)
		return out == "both one\n<3>both two\n", out
	})
	_, errOut, err := a.Run("logs", only.Name)
	if err == nil || !strings.Contains(errOut, "journalctl -t tend/"+only.Name) {
		t.Errorf("tend logs of a journal-only instance: %v %s", err, errOut)
	}
	if d := a.Tend("describe", "unit", "only"); !strings.Contains(d, "Log:") || strings.Contains(d, "LogNotSent") {
		t.Errorf("describe unit only:\n%s", d)
	}
}

// A journal-only instance's output goes on reaching the journal across
// a re-execution of the agent: the same process, every line once, in
// order, none lost.
func TestInstanceOutputToTheJournalAcrossReexec(t *testing.T) {
	t.Parallel()
	bin, sock := journalBuild(t)
	entries := listenJournal(t, sock)
	a := e2e.StartAgentBin(t, nil, bin, "", "")
	a.WriteUnit("count", `kind = "replicated"
replicas = 1
[template]
labels = { app = "count" }
command = ["/bin/sh", "-c", "i=0; while :; do echo \"n $i\"; i=$((i+1)); sleep 0.05; done"]
log = "journal"
stop_timeout = "2s"
`)
	in := a.WaitRunning("count", 1)[0]
	var seq []string
	pids := map[string]bool{}
	read := func(n int) {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for len(seq) < n {
			select {
			case e := <-entries:
				f := fields(e)
				if f["TEND_INSTANCE"] == in.Name {
					seq = append(seq, f["MESSAGE"])
					pids[f["SYSLOG_PID"]] = true
				}
			case <-deadline:
				t.Fatalf("%d entries of %s in 20 s, want %d", len(seq), in.Name, n)
			}
		}
	}
	read(10)
	if out := a.Tend("agent", "reexec"); !strings.Contains(out, "agent re-executed") {
		t.Fatalf("reexec: %s", out)
	}
	read(len(seq) + 20)
	for i, m := range seq {
		if want := fmt.Sprintf("n %d", i); m != want {
			t.Fatalf("entry %d is %q, want %q (lost or doubled across the reexec): %q", i, m, want, seq)
		}
	}
	if len(pids) != 1 || !pids[fmt.Sprint(in.PID)] {
		t.Errorf("SYSLOG_PID %v, want the instance's %d alone", pids, in.PID)
	}
}
