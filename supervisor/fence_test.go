package supervisor

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// scriptedFence is a Fence whose leases the test sets: the fence's rule
// and transport are cluster's, tested there and end to end; this is how
// the loop and the shim obey what a fence says. Its clock is the real
// CLOCK_BOOTTIME, which the shims read too.
type scriptedFence struct {
	mu      sync.Mutex
	leases  map[string]FenceLease
	wants   [][]string
	changed chan struct{}
	grace   time.Duration
}

func newScriptedFence(grace time.Duration) *scriptedFence {
	return &scriptedFence{leases: map[string]FenceLease{}, changed: make(chan struct{}, 1), grace: grace}
}

func (f *scriptedFence) Want(units []string) {
	f.mu.Lock()
	f.wants = append(f.wants, slices.Clone(units))
	f.mu.Unlock()
}

func (f *scriptedFence) wanted() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.wants) == 0 {
		return nil
	}
	return f.wants[len(f.wants)-1]
}

func (f *scriptedFence) Lease(unit string) FenceLease {
	f.mu.Lock()
	defer f.mu.Unlock()
	if l, ok := f.leases[unit]; ok {
		return l
	}
	return FenceLease{Status: "claiming epoch 1: 0 of 2 voters needed have heard nothing from the last holder for 2.2s"}
}

func (f *scriptedFence) set(unit string, l FenceLease) {
	f.mu.Lock()
	f.leases[unit] = l
	f.mu.Unlock()
	select {
	case f.changed <- struct{}{}:
	default:
	}
}

func (f *scriptedFence) Release(unit string) (string, uint64, error) {
	return "", 0, errors.New("not scripted")
}
func (f *scriptedFence) Changed() <-chan struct{} { return f.changed }
func (f *scriptedFence) KillGrace() time.Duration { return f.grace }
func (f *scriptedFence) Now() time.Duration       { return BootTime() }
func (f *scriptedFence) Voters() ([]string, int)  { return []string{"a", "b", "test"}, 2 }
func (f *scriptedFence) Promised(string) (string, uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return "test", f.leases["db"].Epoch
}

func (a *testAgent) fencedInstance() Instance {
	a.t.Helper()
	list := a.ownedBy("db")
	if len(list) != 1 {
		a.t.Fatalf("db has %d instances, want 1: %+v", len(list), list)
	}
	return list[0]
}

func (a *testAgent) logText(name string) string {
	rc, err := a.sup.Logs(context.Background(), name, LogOptions{Tail: -1})
	if err != nil {
		return ""
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	return string(b)
}

// pollFor polls cond until it holds: for what the agent's notifications
// do not announce, as a process's output.
func pollFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testDeadline)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// An exclusive unit's instance starts only under a lease, with the
// lease's epoch as its token; its shim ends it when the lease ends even
// though the agent does nothing; and the agent stops it, within the kill
// grace, when the fence says the lease is gone.
func TestAnExclusiveUnitRunsOnlyUnderItsLease(t *testing.T) {
	fence := newScriptedFence(300 * time.Millisecond)
	a := startTestAgentWith(t, t.TempDir(), newFakeClock(), func(o *Options) {
		fleet := &fakeFleet{members: []Member{{Name: "test", Status: HostReady}}}
		o.Members, o.Peers, o.Fence = fleet, fleet, fence
	})
	a.apply("db", "kind = \"replicated\"\nreplicas = 1\nexclusive = true", "token")
	a.waitFor("db waiting for its lease", func() bool {
		in := a.ownedBy("db")
		return len(in) == 1 && in[0].State.Reason == reasonWaitingForLease
	})
	if in := a.fencedInstance(); in.PID != 0 || !strings.Contains(in.State.Message, "claiming epoch 1") {
		t.Fatalf("waiting instance: pid %d, message %q", in.PID, in.State.Message)
	}
	if w := fence.wanted(); !slices.Equal(w, []string{"db"}) {
		t.Fatalf("the fence was asked for %v, want [db]", w)
	}
	if n := countReason(a.sup.Events(KindUnit, "db"), "ExclusiveNotEnforced"); n != 0 {
		t.Errorf("a fenced unit warns that it is not enforced (%d)", n)
	}

	// A lease that the fence holds but never moves on: the agent leaves
	// the run alone, and its shim ends it at the lease's end.
	until := BootTime() + 1500*time.Millisecond
	fence.set("db", FenceLease{Held: true, Epoch: 7, Until: until})
	a.waitFor("db running", func() bool { return a.fencedInstance().State.Phase == PhaseRunning })
	first := a.fencedInstance()
	pollFor(t, "its token in its output", func() bool { return strings.Contains(a.logText(first.Name), "token=7\n") })
	a.waitFor("the run ended by its shim", func() bool { return a.fencedInstance().PID != first.PID })
	if end := BootTime(); end < until {
		t.Fatalf("the run ended %s before its lease did", until-end)
	}
	if end := BootTime(); end > until+fence.grace+2*time.Second {
		t.Fatalf("the run ended %s after its lease, well past the kill grace", end-until)
	}
	if last := a.fencedInstance().LastState; last.Reason != reasonLeaseEnded || last.Signal != "SIGTERM" {
		t.Errorf("the ended run's last state: %+v, want LeaseEnded by SIGTERM", last)
	}
	// Its lease is over: the instance waits and does not start again.
	a.waitFor("waiting again", func() bool {
		in := a.fencedInstance()
		return in.State.Reason == reasonWaitingForLease && in.PID == 0
	})

	// A lease the agent renews; then the fence says it is lost.
	fence.set("db", FenceLease{Held: true, Epoch: 8, Until: BootTime() + time.Minute})
	a.waitFor("running at epoch 8", func() bool { return a.fencedInstance().State.Phase == PhaseRunning })
	pollFor(t, "token 8 in its output", func() bool { return strings.Contains(a.logText(a.fencedInstance().Name), "token=8\n") })
	if u, err := a.sup.Unit("db"); err != nil || !u.Exclusive || u.Fence == nil || !u.Fence.Held || u.Fence.Epoch != 8 ||
		u.Fence.VotedFor != "test" || u.Fence.Quorum != 2 || len(u.Fence.Voters) != 3 {
		t.Errorf("the unit's fence as the API shows it: %+v, %v", u.Fence, err)
	}
	pid := a.fencedInstance().PID
	lost := BootTime()
	fence.set("db", FenceLease{Status: "epoch 8: waiting for 2 of the voters a, b, c to acknowledge this host"})
	a.waitFor("stopped and waiting", func() bool {
		in := a.fencedInstance()
		return in.State.Reason == reasonWaitingForLease && in.PID == 0
	})
	if took := BootTime() - lost; took > fence.grace+time.Second {
		t.Errorf("stopping after the lease was lost took %s, kill grace %s", took, fence.grace)
	}
	if syscall.Kill(pid, 0) == nil {
		t.Errorf("the run %d is still alive", pid)
	}
	if n := countReason(a.sup.Events(KindInstance, a.fencedInstance().Name), "LeaseLost"); n != 1 {
		t.Errorf("%d LeaseLost events, want 1", n)
	}

	// The operator's release goes to the fence, which refuses it here.
	if _, err := a.sup.ReleaseFence("db"); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "not scripted") {
		t.Errorf("release: %v", err)
	}
	if _, err := a.sup.ReleaseFence("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("release of a missing unit: %v", err)
	}
	// Deleted: the fence is told the unit is no longer wanted.
	if err := a.sup.DeleteUnit("db", false); err != nil {
		t.Fatal(err)
	}
	a.waitFor("db no longer wanted", func() bool { return len(a.ownedBy("db")) == 0 && len(fence.wanted()) == 0 })
}

// A fleet of one needs no fence: an exclusive unit, of one replica, runs
// at most once there, and nothing warns.
func TestAnExclusiveUnitAloneNeedsNoFence(t *testing.T) {
	alone := startTestAgent(t, t.TempDir(), newFakeClock())
	alone.apply("db", "kind = \"replicated\"\nreplicas = 1\nexclusive = true", "sleep")
	alone.waitFor("db running alone", func() bool {
		in := alone.ownedBy("db")
		return len(in) == 1 && in[0].State.Phase == PhaseRunning
	})
	if n := countReason(alone.sup.Events(KindUnit, "db"), "ExclusiveNotEnforced"); n != 0 {
		t.Errorf("alone, the unit warns %d times", n)
	}
	if _, err := alone.sup.ReleaseFence("db"); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "this fleet has no fence") {
		t.Errorf("release without a fence: %v", err)
	}
}

// In a fleet without voters, an exclusive unit says once that it is not
// enforced.
func TestAnExclusiveUnitWithoutVotersSaysItIsNotEnforced(t *testing.T) {
	fleet := &fakeFleet{members: []Member{{Name: "test", Status: HostReady}}}
	a := startTestAgentWith(t, t.TempDir(), newFakeClock(), func(o *Options) { o.Members, o.Peers = fleet, fleet })
	a.apply("db", "kind = \"replicated\"\nreplicas = 1\nexclusive = true", "sleep")
	a.waitFor("the warning", func() bool { return countReason(a.sup.Events(KindUnit, "db"), "ExclusiveNotEnforced") == 1 })
	// A new version that stays exclusive does not say it again; one that
	// is not exclusive says nothing.
	a.apply("db", "kind = \"replicated\"\nreplicas = 0\nexclusive = true", "sleep")
	a.waitUnit("db", "scaled to 0", func(u Unit) bool { return u.Desired == 0 })
	a.apply("web", "kind = \"replicated\"\nreplicas = 1", "sleep")
	a.waitUnit("web", "web known", func(u Unit) bool { return u.Desired == 1 })
	for _, ev := range a.sup.Events(KindUnit, "db") {
		if ev.Reason == "ExclusiveNotEnforced" && (ev.Count != 1 || ev.Type != Warning || ev.Message != msgExclusiveNotEnforced) {
			t.Fatalf("the warning: %+v", ev)
		}
	}
	if n := countReason(a.sup.Events(KindUnit, "web"), "ExclusiveNotEnforced"); n != 0 {
		t.Fatalf("a unit that is not exclusive warns %d times", n)
	}
}

// cluster.voters: names, each once, in a cluster; each problem named.
func TestConfigVoters(t *testing.T) {
	load := func(text string) (Config, error) {
		path := filepath.Join(t.TempDir(), "agent.toml")
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return LoadConfig(path, DefaultConfig(), true)
	}
	c, err := load("[cluster]\nbind = \"127.0.0.1:7946\"\nvoters = [\"a\", \"b\", \"c\"]\n")
	if err != nil || !slices.Equal(c.Cluster.Voters, []string{"a", "b", "c"}) {
		t.Fatalf("voters: %v, %v", c.Cluster.Voters, err)
	}
	_, err = load("[cluster]\nbind = \"127.0.0.1:7946\"\nvoters = [\"a\", \"a\", \"\"]\n")
	if err == nil || !strings.Contains(err.Error(), `cluster.voters: "a" is listed twice`) || !strings.Contains(err.Error(), "cluster.voters: a voter with no name") {
		t.Errorf("bad voters: %v", err)
	}
	_, err = load("[cluster]\nvoters = [\"a\"]\n")
	if err == nil || !strings.Contains(err.Error(), "cluster.voters: set, but this host is in no cluster") {
		t.Errorf("voters without a cluster: %v", err)
	}
}
