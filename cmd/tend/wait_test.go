package main

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tendhq/tend/supervisor"
	"github.com/tendhq/tend/units"
)

// waitFake is the fixture with an instance that is not Ready, and a
// count of the times the CLI has looked at an instance, so a test can
// change the instance once the wait is under way.
func waitFake(t *testing.T) (*fake, string, *atomic.Int32) {
	b := fixture()
	b.instances["kubia-slow1"] = supervisor.Instance{Name: "kubia-slow1", Unit: "kubia", Kind: units.KindReplicated,
		Labels: units.Labels{"app": "slow"}, Status: "Running", State: supervisor.State{Phase: "Running"}}
	b.units["every"] = supervisor.Unit{Name: "every", Kind: units.KindCron}
	b.units["batch"] = supervisor.Unit{Name: "batch", Kind: units.KindJob, Condition: "Complete"}
	var looks atomic.Int32
	get := b.Backend.InstanceFn
	b.Backend.InstanceFn = func(name string) (supervisor.Instance, error) {
		looks.Add(1)
		return get(name)
	}
	return b, serveFake(t, b), &looks
}

// afterLooks runs fn once the CLI has looked n times.
func afterLooks(looks *atomic.Int32, n int32, fn func()) chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for looks.Load() < n {
			time.Sleep(time.Millisecond) // polls the count; asserts nothing
		}
		fn()
	}()
	return done
}

func TestWaitForACondition(t *testing.T) {
	b, sock, looks := waitFake(t)
	r := tendCLI(t, sock, nil, "wait", "--for=condition=Ready", "po/kubia-7hjkc", "po/kubia-9w7gs")
	if r.code != 0 || r.stdout != "instance/kubia-7hjkc condition met\ninstance/kubia-9w7gs condition met\n" {
		t.Errorf("ready instances: %s", r)
	}
	// Not Ready at first: the wait ends when it becomes Ready.
	looks.Store(0)
	done := afterLooks(looks, 3, func() {
		b.change(func() { in := b.instances["kubia-slow1"]; in.Ready = true; b.instances["kubia-slow1"] = in })
	})
	r = tendCLI(t, sock, nil, "wait", "--for=condition=ready", "po", "-l", "app=slow", "--timeout=1m")
	<-done
	if r.code != 0 || r.stdout != "instance/kubia-slow1 condition met\n" || looks.Load() < 3 {
		t.Errorf("an instance that becomes Ready (after %d looks): %s", looks.Load(), r)
	}
	r = tendCLI(t, sock, nil, "wait", "--for=condition=Ready=false", "po/kubia-slow1", "--timeout=0")
	if r.code != 1 || !strings.Contains(r.stderr, "timed out waiting for the condition on instances/kubia-slow1 (Ready is True)") {
		t.Errorf("--timeout=0 looks once: %s", r)
	}
	for _, tc := range []struct{ args, out string }{
		{"--for=condition=Available rc/kubia", "unit/kubia condition met\n"},
		{"--for=condition=Complete job/batch", "unit/batch condition met\n"},
		{"--for=condition=Ready node/edge-17", "host/edge-17 condition met\n"},
		{"--for=jsonpath={.status.phase}=Ready node/edge-17", "host/edge-17 condition met\n"},
		{"--for=jsonpath=.spec.kind=job u/batch", "unit/batch condition met\n"},
		{"--for=jsonpath={.status.pid} po/kubia-7hjkc", "instance/kubia-7hjkc condition met\n"},
	} {
		r := tendCLI(t, sock, nil, append([]string{"wait"}, strings.Fields(tc.args)...)...)
		if r.code != 0 || r.stdout != tc.out {
			t.Errorf("wait %s: %s", tc.args, r)
		}
	}
}

func TestWaitForDelete(t *testing.T) {
	b, sock, looks := waitFake(t)
	done := afterLooks(looks, 2, func() {
		b.change(func() { delete(b.instances, "kubia-slow1") })
	})
	r := tendCLI(t, sock, nil, "wait", "--for=delete", "po/kubia-slow1", "po/gone-already")
	<-done
	if r.code != 0 || r.stdout != "instance/gone-already deleted\ninstance/kubia-slow1 deleted\n" {
		t.Errorf("wait --for=delete: %s", r)
	}
}

func TestWaitRefuses(t *testing.T) {
	_, sock, _ := waitFake(t)
	for _, tc := range []struct {
		args string
		code int
		want string
	}{
		{"po/kubia-7hjkc", 1, "--for must be given"},
		{"--for=ready po/kubia-7hjkc", 1, "unrecognized condition"},
		{"--for=condition= po/kubia-7hjkc", 1, "needs a condition"},
		{"--for=jsonpath={.a po/kubia-7hjkc", 1, "unclosed action"},
		{"--for=condition=Ready po", 1, "no name was specified"},
		{"--for=condition=Ready ev/x", 1, "events have no conditions"},
		{"--for=condition=Ready po -l app=nothing", 1, "no matching resources found"},
		{"--for=condition=Ready po/nothing", 1, `instances "nothing" not found`},
		{"--for=condition=Ready cj/every", 1, "unit/every has no condition Ready (its conditions: none)"},
		{"--for=condition=Complete rc/kubia", 1, "unit/kubia has no condition Complete (its conditions: Available)"},
		{"--for=condition=Ready po/kubia-slow1 --timeout=x", 1, "want a duration"},
		{"--for=condition=Ready po/kubia-slow1 --timeout=50ms", 1, "timed out waiting for the condition on instances/kubia-slow1 (Ready is False)"},
	} {
		r := tendCLI(t, sock, nil, append([]string{"wait"}, strings.Fields(tc.args)...)...)
		if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("wait %s: %s\nwant exit %d with %q", tc.args, r, tc.code, tc.want)
		}
	}
}

func TestCutJSONPath(t *testing.T) {
	for _, tc := range []struct{ in, expr, value string }{
		{"{.status.phase}=Running", "{.status.phase}", "Running"},
		{".status.phase=Running", ".status.phase", "Running"},
		{`{.items[?(@.a=="b")].c}=d=e`, `{.items[?(@.a=="b")].c}`, "d=e"},
		{`.a[?(@.b=="=")].c=x`, `.a[?(@.b=="=")].c`, "x"},
		{"{.status.pid}", "{.status.pid}", ""},
	} {
		expr, value, _ := cutJSONPath(tc.in)
		if expr != tc.expr || value != tc.value {
			t.Errorf("cutJSONPath(%q) = %q, %q", tc.in, expr, value)
		}
	}
}

// A wait for many objects asks for one list a round, not for each.
func TestWaitForManyListsThem(t *testing.T) {
	b := newFake()
	for i := range 20 {
		n := fmt.Sprintf("many-%02d", i)
		b.instances[n] = supervisor.Instance{Name: n, Labels: units.Labels{"app": "many"}, Status: "Running"}
	}
	var one, lists atomic.Int32
	get, list := b.Backend.InstanceFn, b.Backend.InstancesFn
	b.Backend.InstanceFn = func(name string) (supervisor.Instance, error) { one.Add(1); return get(name) }
	b.Backend.InstancesFn = func(sel units.Selector) []supervisor.Instance { lists.Add(1); return list(sel) }
	sock := serveFake(t, b)
	done := afterLooks(&lists, 3, func() {
		b.change(func() {
			for n, in := range b.instances {
				in.Ready = true
				b.instances[n] = in
			}
		})
	})
	r := tendCLI(t, sock, nil, "wait", "--for=condition=Ready", "po", "-l", "app=many", "--timeout=1m")
	<-done
	if r.code != 0 || strings.Count(r.stdout, "condition met") != 20 {
		t.Errorf("wait for 20: %s", r)
	}
	if one.Load() != 0 || lists.Load() < 3 {
		t.Errorf("wait for 20 asked for %d instances one by one and %d lists", one.Load(), lists.Load())
	}
}
