package main

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-systemd/v22/journal"

	"github.com/tendhq/tend/internal/e2e"
)

type sent struct {
	msg  string
	pri  journal.Priority
	vars map[string]string
}

// The handler's fields: attributes by their journal names, groups
// flattened, reserved names kept apart, levels as priorities, and stderr
// when the journal refuses.
func TestJournalHandler(t *testing.T) {
	var got []sent
	fail := false
	var stderr bytes.Buffer
	h := &journalHandler{level: slog.LevelInfo, fallback: slog.NewTextHandler(&stderr, nil),
		send: func(msg string, p journal.Priority, vars map[string]string) error {
			if fail {
				return errors.New("no journald")
			}
			got = append(got, sent{msg, p, vars})
			return nil
		}}
	log := slog.New(h).With("host", "edge-17")
	log.Info("instance exited", "instance", "kubia-7hjkc", "unit", "kubia", "pid", 4242, "exit_code", 137, "signal", "SIGKILL")
	log.Warn("stop timeout", slog.Group("probe", "kind", "liveness"), "_hidden", "x", "message", "y", "3d", "z")
	log.Debug("not at info")
	log.WithGroup("api").Error("request failed", "path", "/v1/units")
	if len(got) != 3 {
		t.Fatalf("sent %d entries: %+v", len(got), got)
	}
	e := got[0]
	for k, v := range map[string]string{"SYSLOG_IDENTIFIER": "tend", "HOST": "edge-17", "INSTANCE": "kubia-7hjkc", "UNIT": "kubia",
		"PID": "4242", "EXIT_CODE": "137", "SIGNAL": "SIGKILL"} {
		if e.vars[k] != v {
			t.Errorf("%s = %q, want %q (%v)", k, e.vars[k], v, e.vars)
		}
	}
	if e.msg != "instance exited" || e.pri != journal.PriInfo {
		t.Errorf("entry %q at %d", e.msg, e.pri)
	}
	w := got[1]
	if w.pri != journal.PriWarning || w.vars["PROBE_KIND"] != "liveness" || w.vars["TEND_HIDDEN"] != "x" || w.vars["TEND_MESSAGE"] != "y" || w.vars["TEND_3D"] != "z" {
		t.Errorf("warning entry: %d %v", w.pri, w.vars)
	}
	if got[2].pri != journal.PriErr || got[2].vars["API_PATH"] != "/v1/units" {
		t.Errorf("error entry: %d %v", got[2].pri, got[2].vars)
	}
	fail = true
	log.Error("journald went away", "unit", "kubia")
	if !strings.Contains(stderr.String(), "journald went away") || !strings.Contains(stderr.String(), "host=edge-17") {
		t.Errorf("a refused record is not on stderr: %q", stderr.String())
	}
}

// An agent with log_target = "journal" writes its log to the journal's
// socket, in the native protocol, with the fields, and not to stderr. The
// journal is a datagram socket this test listens on; the agent is built
// to send there (go-systemd's journal socket is set at build time).
func TestAgentLogsToTheJournal(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "journal.sock")
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	bin := filepath.Join(dir, "tend")
	build := exec.Command("go", "build", "-o", bin, "-ldflags", "-X github.com/coreos/go-systemd/v22/journal.journalSocket="+sock, ".")
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
