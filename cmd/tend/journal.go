package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/journal"
)

// The agent's own log goes to systemd's journal when the agent runs
// under systemd (its stderr is the journal's stream: JOURNAL_STREAM) or
// its configuration says log_target = "journal": each record a journal
// entry of its own, with its attributes as fields (unit → UNIT=,
// instance → INSTANCE=, pid → PID=, exit_code → EXIT_CODE=), its level
// as PRIORITY= and SYSLOG_IDENTIFIER=tend, so that `journalctl -u tend
// INSTANCE=kubia-7hjkc` finds what the agent said of one instance. A
// record the journal refuses (journald gone) goes to stderr instead.

// agentLogger is the agent's logger for target: "journal", "stderr", or
// "auto" (the journal when stderr is its stream).
func agentLogger(target string, level slog.Level, stderr io.Writer) *slog.Logger {
	text := slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})
	switch target {
	case "journal":
	case "auto":
		if ok, _ := journal.StderrIsJournalStream(); !ok {
			return slog.New(text)
		}
	default:
		return slog.New(text)
	}
	return slog.New(&journalHandler{level: level, fallback: text, send: journal.Send})
}

// journalHandler is a slog.Handler that writes to the journal.
type journalHandler struct {
	level    slog.Leveler
	fallback slog.Handler
	send     func(msg string, p journal.Priority, vars map[string]string) error
	attrs    []slog.Attr // from WithAttrs, their keys with the group prefix
	group    string      // prefix of the keys of the attributes to come
}

func (h *journalHandler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= h.level.Level()
}

func (h *journalHandler) Handle(ctx context.Context, r slog.Record) error {
	vars := map[string]string{"SYSLOG_IDENTIFIER": "tend"}
	for _, a := range h.attrs {
		addField(vars, "", a)
	}
	r.Attrs(func(a slog.Attr) bool {
		addField(vars, h.group, a)
		return true
	})
	if err := h.send(r.Message, priority(r.Level), vars); err != nil {
		return h.fallback.Handle(ctx, r)
	}
	return nil
}

func (h *journalHandler) WithAttrs(as []slog.Attr) slog.Handler {
	n := *h
	n.attrs = append([]slog.Attr(nil), h.attrs...)
	for _, a := range as {
		a.Key = h.group + a.Key
		n.attrs = append(n.attrs, a)
	}
	n.fallback = h.fallback.WithAttrs(as)
	return &n
}

func (h *journalHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	n := *h
	n.group = h.group + name + "_"
	n.fallback = h.fallback.WithGroup(name)
	return &n
}

// addField adds a as a journal field: its key in capitals, what is not
// a letter, digit or '_' made '_' (a journal field name's alphabet),
// groups flattened with '_'.
func addField(vars map[string]string, prefix string, a slog.Attr) {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		for _, g := range v.Group() {
			addField(vars, prefix+a.Key+"_", g)
		}
		return
	}
	name := fieldName(prefix + a.Key)
	if name == "" {
		return
	}
	switch v.Kind() {
	case slog.KindTime:
		vars[name] = v.Time().UTC().Format(time.RFC3339Nano)
	default:
		vars[name] = v.String()
	}
}

// fieldName is key as a journal field name, "" if nothing is left of it.
// Names the journal keeps for itself (starting with '_') and ones it
// sets from the message (MESSAGE, PRIORITY) get a TEND_ prefix.
func fieldName(key string) string {
	var b strings.Builder
	for _, c := range strings.ToUpper(key) {
		switch {
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
			b.WriteRune(c)
		default:
			b.WriteByte('_')
		}
	}
	name := b.String()
	switch {
	case strings.Trim(name, "_") == "":
		return ""
	case name[0] == '_' || name[0] >= '0' && name[0] <= '9' || name == "MESSAGE" || name == "PRIORITY" || name == "SYSLOG_IDENTIFIER":
		name = "TEND_" + strings.TrimLeft(name, "_")
	}
	if len(name) > 64 { // journald's limit on a field name
		name = name[:64]
	}
	return name
}

// priority is the syslog priority of a level.
func priority(l slog.Level) journal.Priority {
	switch {
	case l >= slog.LevelError:
		return journal.PriErr
	case l >= slog.LevelWarn:
		return journal.PriWarning
	case l >= slog.LevelInfo:
		return journal.PriInfo
	}
	return journal.PriDebug
}
