package objects

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/supervisor"
	"github.com/tendhq/tend/units"
)

var t0 = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

// The phase is Kubernetes' pod phase, which scripts test; the STATUS word
// is kept beside it.
func TestInstancePhase(t *testing.T) {
	for _, tc := range []struct {
		in   supervisor.Instance
		want string
	}{
		{supervisor.Instance{Status: "Pending"}, "Pending"},
		{supervisor.Instance{Status: "Running", State: supervisor.State{Phase: "Running"}}, "Running"},
		{supervisor.Instance{Status: "CrashLoopBackOff", RestartCount: 3, State: supervisor.State{Phase: "Waiting", Reason: "CrashLoopBackOff"}}, "Running"},
		{supervisor.Instance{Status: "WaitingForLease", State: supervisor.State{Phase: "Waiting", Reason: "WaitingForLease"}}, "Pending"},
		{supervisor.Instance{Status: "Completed", State: supervisor.State{Phase: "Terminated", Reason: "Completed"}}, "Succeeded"},
		{supervisor.Instance{Status: "Error", State: supervisor.State{Phase: "Terminated", Reason: "Error", ExitCode: 137, Signal: "SIGKILL"}}, "Failed"},
		{supervisor.Instance{Status: "Unknown", State: supervisor.State{Phase: "Running"}}, "Unknown"},
	} {
		if got := FromInstance(tc.in).Status.Phase; got != tc.want {
			t.Errorf("%s/%s: phase %s, want %s", tc.in.Status, tc.in.State.Phase, got, tc.want)
		}
	}
}

func TestInstanceObject(t *testing.T) {
	in := supervisor.Instance{
		Name: "kubia-7hjkc", Unit: "kubia", Kind: units.KindReplicated, Slot: 2, Host: "edge-17",
		Labels: units.Labels{"app": "kubia"}, Command: []string{"kubia"}, Created: t0,
		Status: "Running", Ready: true, PID: 100, RestartCount: 1,
		State:     supervisor.State{Phase: "Running", Started: t0.Add(time.Minute)},
		LastState: supervisor.State{Phase: "Terminated", Reason: "Error", ExitCode: 137, Signal: "SIGKILL", Started: t0, Finished: t0.Add(time.Second)},
		Liveness:  "http-get http://:8080/",
	}
	data, err := json.Marshal(FromInstance(in))
	if err != nil {
		t.Fatal(err)
	}
	got := string(data)
	for _, want := range []string{
		`"apiVersion":"tend.io/v1","kind":"Instance"`,
		`"metadata":{"name":"kubia-7hjkc","labels":{"app":"kubia"},"creationTimestamp":"2026-12-03T12:00:00Z","ownerReferences":[{"apiVersion":"tend.io/v1","kind":"Unit","name":"kubia","controller":true}]}`,
		`"unit":"kubia","unitKind":"replicated","slot":2,"host":"edge-17"`,
		`"livenessProbe":"http-get http://:8080/"`,
		`"phase":"Running","status":"Running","ready":true,"conditions":[{"type":"Ready","status":"True"}],"pid":100,"restartCount":1`,
		`"state":{"running":{"startedAt":"2026-12-03T12:01:00Z"}}`,
		`"lastState":{"terminated":{"exitCode":137,"signal":"SIGKILL","reason":"Error","startedAt":"2026-12-03T12:00:00Z","finishedAt":"2026-12-03T12:00:01Z"}}`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("lacks %s:\n%s", want, got)
		}
	}
	// An orphan has no owner; an instance of a host that is gone is
	// neither ready nor not.
	o := FromInstance(supervisor.Instance{Name: "x", Status: "Unknown"})
	if o.Metadata.OwnerReferences != nil || o.Status.Conditions[0] != (Condition{Type: "Ready", Status: "Unknown"}) {
		t.Errorf("orphan of a lost host: %+v", o)
	}
}

func TestUnitObject(t *testing.T) {
	rs := FromUnit(supervisor.Unit{Name: "kubia", Kind: units.KindReplicated, Replicas: 3, Desired: 3, Ready: 2, Path: "/etc/tend/units/kubia.toml", Source: "kind = \"replicated\"\n"})
	if rs.Spec.Replicas == nil || *rs.Spec.Replicas != 3 || rs.Status.Conditions[0] != (Condition{Type: "Available", Status: "False"}) ||
		rs.Metadata.Annotations[AnnotationSource] != "kind = \"replicated\"\n" || rs.Metadata.Annotations[AnnotationPath] != "/etc/tend/units/kubia.toml" {
		t.Errorf("replicated, 2 of 3 ready: %+v", rs)
	}
	ds := FromUnit(supervisor.Unit{Name: "ssd-monitor", Kind: units.KindPerHost, Desired: 2, Ready: 2})
	if ds.Spec.Replicas != nil || ds.Status.Conditions[0].Status != "True" {
		t.Errorf("per-host, all ready: %+v", ds)
	}
	job := FromUnit(supervisor.Unit{Name: "batch", Kind: units.KindJob, Completions: 5})
	if job.Status.Conditions != nil {
		t.Errorf("a running job has conditions: %+v", job.Status.Conditions)
	}
	job = FromUnit(supervisor.Unit{Name: "every-1234", Kind: units.KindJob, Owner: "every", Condition: "Failed", Reason: "BackoffLimitExceeded", CompletionTime: t0})
	if c := job.Status.Conditions; len(c) != 1 || c[0] != (Condition{Type: "Failed", Status: "True", Reason: "BackoffLimitExceeded", LastTransitionTime: t0}) {
		t.Errorf("a failed job: %+v", c)
	}
	if r := job.Metadata.OwnerReferences; len(r) != 1 || r[0].Name != "every" || !r[0].Controller {
		t.Errorf("a cron unit's job: owners %+v", r)
	}
}

func TestHostAndEventObjects(t *testing.T) {
	for status, want := range map[string]string{"Ready": "True", "NotReady": "Unknown", "Left": "False"} {
		h := FromHost(supervisor.Host{Name: "edge-17", Status: status, Since: t0})
		if c := h.Status.Conditions[0]; c.Type != "Ready" || c.Status != want || c.LastTransitionTime != t0 || h.Status.Phase != status {
			t.Errorf("%s host: %+v", status, h.Status)
		}
	}
	e := FromEvent(supervisor.Event{Kind: supervisor.KindInstance, Object: "kubia-x", Type: "Warning", Reason: "Unhealthy", From: "edge-17", First: t0, Last: t0, Count: 2})
	if e.InvolvedObject != (ObjectReference{Kind: "Instance", Name: "kubia-x"}) || e.Source.Host != "edge-17" ||
		!strings.HasPrefix(e.Metadata.Name, "kubia-x.") || e.Count != 2 {
		t.Errorf("event: %+v", e)
	}
}
