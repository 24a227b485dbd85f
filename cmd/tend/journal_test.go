package main

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/coreos/go-systemd/v22/journal"
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
