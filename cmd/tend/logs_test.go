package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/supervisor"
)

// stampedFake serves each instance's lines with the agent's time stamps
// when asked for them, and records what it was asked.
func stampedFake(t *testing.T, lines map[string][][2]string) (*fake, string) {
	b := fixture()
	b.Backend.LogsFn = func(_ context.Context, name string, opts supervisor.LogOptions) (io.ReadCloser, error) {
		b.mu.Lock()
		b.record("Logs %s tail=%d stamps=%v follow=%v", name, opts.Tail, opts.Timestamps, opts.Follow)
		b.mu.Unlock()
		ls, ok := lines[name]
		if !ok {
			return nil, fmt.Errorf("logs of %s: %w", name, supervisor.ErrNotFound)
		}
		if opts.Tail >= 0 && opts.Tail < len(ls) {
			ls = ls[len(ls)-opts.Tail:]
		}
		var sb strings.Builder
		for _, l := range ls {
			if opts.Timestamps {
				sb.WriteString(l[0] + " ")
			}
			sb.WriteString(l[1] + "\n")
		}
		return io.NopCloser(strings.NewReader(sb.String())), nil
	}
	return b, serveFake(t, b)
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000000Z") }

func TestLogsSince(t *testing.T) {
	now := time.Now()
	_, sock := stampedFake(t, map[string][][2]string{"kubia-7hjkc": {
		{stamp(now.Add(-2 * time.Hour)), "old"},
		{stamp(now.Add(-time.Minute)), "recent"},
		{stamp(now.Add(-time.Second)), "newest"},
	}})
	if r := tendCLI(t, sock, nil, "logs", "kubia-7hjkc", "--since", "1h"); r.code != 0 || r.stdout != "recent\nnewest\n" {
		t.Errorf("--since 1h: %s", r)
	}
	since := now.Add(-30 * time.Second).UTC().Format(time.RFC3339Nano)
	r := tendCLI(t, sock, nil, "logs", "kubia-7hjkc", "--since-time", since, "--timestamps")
	if want := stamp(now.Add(-time.Second)) + " newest\n"; r.code != 0 || r.stdout != want {
		t.Errorf("--since-time --timestamps: %s\nwant %q", r, want)
	}
	if r := tendCLI(t, sock, nil, "logs", "kubia-7hjkc"); r.code != 0 || r.stdout != "old\nrecent\nnewest\n" {
		t.Errorf("no --since: %s", r)
	}
	for _, tc := range []struct{ args, want string }{
		{"--since 1h --since-time 2026-01-01T00:00:00Z", "at most one of --since or --since-time"},
		{"--since-time yesterday", "RFC 3339"},
		{"--since -1h", "positive duration"},
	} {
		if r := tendCLI(t, sock, nil, append([]string{"logs", "kubia-7hjkc"}, strings.Fields(tc.args)...)...); r.code != 1 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("logs %s: %s", tc.args, r)
		}
	}
}

func TestLogsOfASelector(t *testing.T) {
	var lines = map[string][][2]string{}
	for _, n := range []string{"kubia-7hjkc", "kubia-9w7gs", "kubia-f4d5l"} {
		for i := range 12 {
			lines[n] = append(lines[n], [2]string{stamp(time.Now()), fmt.Sprintf("%s %d", n, i)})
		}
	}
	_, sock := stampedFake(t, lines)
	r := tendCLI(t, sock, nil, "logs", "-l", "app=kubia", "--prefix")
	got := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if r.code != 0 || len(got) != 30 || got[0] != "[instance/kubia-7hjkc] kubia-7hjkc 2" || got[29] != "[instance/kubia-f4d5l] kubia-f4d5l 11" {
		t.Errorf("logs -l --prefix (10 lines each, in name order): %s", r)
	}
	if r := tendCLI(t, sock, nil, "logs", "-l", "app=kubia", "--tail", "1"); r.code != 0 || r.stdout != "kubia-7hjkc 11\nkubia-9w7gs 11\nkubia-f4d5l 11\n" {
		t.Errorf("logs -l --tail 1: %s", r)
	}
	// Followed together: every line whole, each stream's in its order.
	r = tendCLI(t, sock, nil, "logs", "-l", "app=kubia", "-f", "--prefix", "--tail", "-1")
	per := map[string]int{}
	for _, l := range strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n") {
		var pod, name string
		var i int
		if _, err := fmt.Sscanf(l, "[instance/%s %s %d", &pod, &name, &i); err != nil || pod != name+"]" || i != per[name] {
			t.Fatalf("line %q out of place in:\n%s", l, r)
		}
		per[name]++
	}
	if r.code != 0 || len(per) != 3 || per["kubia-9w7gs"] != 12 {
		t.Errorf("logs -l -f: %v\n%s", per, r)
	}
	if r := tendCLI(t, sock, nil, "logs", "-l", "app=kubia", "-f", "--max-log-requests", "2"); r.code != 1 || !strings.Contains(r.stderr, "maximum allowed concurrency is 2") {
		t.Errorf("-f over the limit: %s", r)
	}
	if r := tendCLI(t, sock, nil, "logs", "-l", "app=nothing"); r.code != 0 || !strings.Contains(r.stderr, "No resources found") {
		t.Errorf("-l matching none: %s", r)
	}
	if r := tendCLI(t, sock, nil, "logs", "kubia-7hjkc", "-l", "app=kubia"); r.code != 1 || !strings.Contains(r.stderr, "not both") {
		t.Errorf("a name and -l: %s", r)
	}
}
