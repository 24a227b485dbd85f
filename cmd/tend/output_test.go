package main

import (
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/supervisor"
)

// kubectl's scripting forms, through the CLI against the fake agent.
func TestGetJSONPath(t *testing.T) {
	sock := serveFake(t, fixture())
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"get", "po", "-l", "app=kubia", "-o", "jsonpath={.items[*].metadata.name}"}, "kubia-7hjkc kubia-9w7gs kubia-f4d5l"},
		{[]string{"get", "po", "-o=jsonpath={range .items[*]}{.metadata.name}{\"\\t\"}{.spec.host}{\"\\n\"}{end}"},
			"kubia-7hjkc\tedge-17\nkubia-9w7gs\tedge-17\nkubia-f4d5l\tedge-17\nssd-monitor-hkpq4\tedge-17\n"},
		{[]string{"get", "po", "kubia-9w7gs", "-ojsonpath={.status.pid}"}, "101"},
		{[]string{"get", "po", "kubia-9w7gs", "-o", "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}"}, "True"},
		{[]string{"get", "po", "-o", "jsonpath={.items[?(@.spec.unitKind==\"per-host\")].metadata.name}"}, "ssd-monitor-hkpq4"},
		{[]string{"get", "rc", "kubia", "-o", "jsonpath={.spec.replicas}/{.status.readyReplicas}"}, "3/3"},
		{[]string{"get", "nodes", "-o", "jsonpath={.items[0].metadata.labels.zone} {.items[0].status.conditions[0].status}"}, "a True"},
		{[]string{"get", "po", "kubia-9w7gs", "-o", "jsonpath={.nothing}"}, ""},
	} {
		r := tendCLI(t, sock, nil, tc.args...)
		if r.code != 0 || r.stdout != tc.want {
			t.Errorf("tend %s:\n%s\nwant %q", strings.Join(tc.args, " "), r, tc.want)
		}
	}
}

func TestGetCustomColumns(t *testing.T) {
	sock := serveFake(t, fixture())
	r := tendCLI(t, sock, nil, "get", "po", "-l", "app=kubia", "-o", "custom-columns=NAME:.metadata.name,PID:.status.pid,OWNER:.metadata.ownerReferences[*].name,NODE:{.spec.host},X:.nothing")
	want := `NAME          PID   OWNER   NODE      X
kubia-7hjkc   100   kubia   edge-17   <none>
kubia-9w7gs   101   kubia   edge-17   <none>
kubia-f4d5l   102   kubia   edge-17   <none>
`
	if r.code != 0 || r.stdout != want {
		t.Errorf("custom-columns:\n%s\nwant\n%s", r, want)
	}
	r = tendCLI(t, sock, nil, "get", "po", "kubia-7hjkc", "--no-headers", "-o", "custom-columns=C:.status.conditions[*].type")
	if r.code != 0 || r.stdout != "Ready\n" {
		t.Errorf("custom-columns --no-headers: %s", r)
	}
	// A comma inside a filter's string does not end the column.
	r = tendCLI(t, sock, nil, "get", "po", "kubia-7hjkc", "-o", `custom-columns=R:.status.conditions[?(@.type=="a,b")].status,N:.metadata.name`)
	if r.code != 0 || r.stdout != "R        N\n<none>   kubia-7hjkc\n" {
		t.Errorf("custom-columns with a comma in a filter: %s", r)
	}
}

func TestGetSortBy(t *testing.T) {
	b := fixture()
	// PIDs against names, and creation times that sort otherwise than
	// their text would were they not read as times.
	b.instances["kubia-7hjkc"] = with(b.instances["kubia-7hjkc"], 9, time.Date(2026, 1, 1, 10, 0, 0, 0, time.FixedZone("X", 3600*5)))
	b.instances["kubia-9w7gs"] = with(b.instances["kubia-9w7gs"], 10, time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC))
	b.instances["kubia-f4d5l"] = with(b.instances["kubia-f4d5l"], 2, time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC))
	sock := serveFake(t, b)
	names := func(args ...string) string {
		t.Helper()
		r := tendCLI(t, sock, nil, append([]string{"get", "po", "-l", "app=kubia", "-o", "name"}, args...)...)
		if r.code != 0 {
			t.Fatalf("%v: %s", args, r)
		}
		return strings.ReplaceAll(strings.TrimSpace(r.stdout), "instance/", "")
	}
	if got := names("--sort-by=.status.pid"); got != "kubia-f4d5l\nkubia-7hjkc\nkubia-9w7gs" {
		t.Errorf("--sort-by=.status.pid (numbers, not text):\n%s", got)
	}
	// 10:00+05:00 is 05:00 UTC: first.
	if got := names("--sort-by", "{.metadata.creationTimestamp}"); got != "kubia-7hjkc\nkubia-f4d5l\nkubia-9w7gs" {
		t.Errorf("--sort-by creationTimestamp (times):\n%s", got)
	}
	r := tendCLI(t, sock, nil, "get", "po", "--sort-by=.status.pid")
	if lines := strings.Split(r.stdout, "\n"); r.code != 0 || !strings.HasPrefix(lines[1], "ssd-monitor-hkpq4") || !strings.HasPrefix(lines[2], "kubia-f4d5l") {
		t.Errorf("a table sorted, the instance without a pid first:\n%s", r)
	}
	r = tendCLI(t, sock, nil, "get", "po", "--sort-by=.metadata.labels.*")
	if r.code != 0 {
		t.Errorf("one label each sorts: %s", r)
	}
	r = tendCLI(t, sock, nil, "get", "po", "--sort-by=.spec.command[*]", "-l", "app=kubia")
	if r.code == 0 {
		t.Errorf("a key with several values: no error\n%s", r)
	}
}

func with(in supervisor.Instance, pid int, created time.Time) supervisor.Instance {
	in.PID, in.Created = pid, created
	in.Command = []string{"kubia", "--port", "8080"}
	return in
}

// A bad format or template is refused before the agent is asked, with
// what is wrong.
func TestGetOutputErrors(t *testing.T) {
	b := newFake()
	sock := serveFake(t, b)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"get", "po", "-o", "jsonpath"}, "no template given"},
		{[]string{"get", "po", "-o", "jsonpath={.items[*]"}, "unclosed action"},
		{[]string{"get", "po", "-o", "custom-columns="}, "no custom columns given"},
		{[]string{"get", "po", "-o", "custom-columns=NAME"}, "expected <header>:<json-path-expr>"},
		{[]string{"get", "po", "-o", "custom-columns=N:.a[x]"}, "bad index"},
		{[]string{"get", "po", "-o", "table"}, "allowed formats are: custom-columns, json, jsonpath, name, wide, yaml"},
		{[]string{"get", "po", "-o", "json=x"}, "allowed formats"},
		{[]string{"get", "po", "--sort-by", "{.a}{.b}"}, "not one jsonpath expression"},
		{[]string{"get", "po", "-w", "--sort-by", ".a"}, "does not apply to a watch"},
	} {
		r := tendCLI(t, sock, nil, tc.args...)
		if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("tend %s: %s\nwant an error with %q", strings.Join(tc.args, " "), r, tc.want)
		}
	}
	if calls := b.Calls(); len(calls) != 0 {
		t.Errorf("the agent was asked: %q", calls)
	}
}
