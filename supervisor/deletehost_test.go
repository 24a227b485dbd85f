package supervisor

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tendhq/tend/units"
)

// fakeFleet is the Membership and Summaries of a fleet the test makes up:
// its hosts, and the other hosts' instances.
type fakeFleet struct {
	mu      sync.Mutex
	members []Member
	remote  []InstanceSummary
	changed chan struct{}
}

var (
	_ Membership = (*fakeFleet)(nil)
	_ Summaries  = (*fakeFleet)(nil)
)

func (f *fakeFleet) Members() []Member {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.members)
}

func (f *fakeFleet) SetLabels(units.Labels) error { return nil }
func (f *fakeFleet) Changed() <-chan struct{}     { return f.changed }

func (f *fakeFleet) DeleteHost(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.IndexFunc(f.members, func(m Member) bool { return m.Name == name })
	switch {
	case i < 0:
		return errNotFound("host", name)
	case f.members[i].Status == HostReady:
		return ErrConflict
	}
	f.members = slices.Delete(f.members, i, i+1)
	f.remote = slices.DeleteFunc(f.remote, func(in InstanceSummary) bool { return in.Host == name })
	return nil
}

func (f *fakeFleet) Publish([]InstanceSummary, []string) {}

func (f *fakeFleet) Remote() []InstanceSummary {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.remote)
}

// Deleting a NotReady host takes it and its Unknown instances out of the
// view before the answer, with an event on the host; a Ready host and an
// unknown one are refused with what to do.
func TestDeletingAHostTakesItOutOfTheView(t *testing.T) {
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	fleet := &fakeFleet{
		members: []Member{
			{Name: "gone", Status: HostNotReady, Started: now},
			{Name: "test", Status: HostReady, Started: now},
		},
		remote: []InstanceSummary{{Name: "web-x", Host: "gone", Life: LifeRunning, Status: "Running", Created: now}},
	}
	a := startTestAgentWith(t, t.TempDir(), newFakeClock(), func(o *Options) { o.Members, o.Peers = fleet, fleet })
	a.waitFor("gone's instance Unknown", func() bool {
		in, err := a.sup.Instance("web-x")
		return err == nil && in.Status == "Unknown"
	})
	if h, err := a.sup.Host("gone"); err != nil || h.Status != "NotReady" || h.Instances != 1 {
		t.Fatalf("host gone: %+v, %v", h, err)
	}

	if err := a.sup.DeleteHost("gone"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.sup.Host("gone"); !errors.Is(err, ErrNotFound) {
		t.Errorf("the deleted host is still listed: %v", err)
	}
	if got := a.sup.Instances(selectorAll); len(got) != 0 {
		t.Errorf("the deleted host's instances are still listed: %+v", got)
	}
	if evs := a.sup.Events(KindHost, "gone"); countReason(evs, "RemovingNode") != 1 || evs[len(evs)-1].Type != Normal ||
		evs[len(evs)-1].Message != "Removing host gone from the fleet: it was deleted" {
		t.Errorf("the host's events: %+v", evs)
	}

	err := a.sup.DeleteHost("test")
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), `host "test" is Ready`) || !strings.Contains(err.Error(), "stop its agent") {
		t.Errorf("deleting this host, which is Ready: %v", err)
	}
	if err := a.sup.DeleteHost("gone"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `host "gone"`) {
		t.Errorf("deleting it twice: %v", err)
	}
}

// Alone, the only host is this one: Ready, never deleted.
func TestAHostAloneDeletesNoHost(t *testing.T) {
	a := startTestAgent(t, t.TempDir(), newFakeClock())
	if err := a.sup.DeleteHost("test"); !errors.Is(err, ErrConflict) {
		t.Errorf("deleting the only host: %v", err)
	}
	if err := a.sup.DeleteHost("other"); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleting a host nobody knows: %v", err)
	}
	if hs := a.sup.Hosts(); len(hs) != 1 || hs[0].Name != "test" {
		t.Errorf("hosts %+v", hs)
	}
}
