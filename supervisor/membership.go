package supervisor

import (
	"fmt"
	"sync"
	"time"

	"github.com/tendhq/tend/units"
)

// Membership is the hosts of the fleet as the loop reads them: their
// labels and whether they are Ready. The supervisor defines it; on one
// host it is LocalMembership, in a fleet the cluster implements it.
type Membership interface {
	// Members returns every known host, this one included, sorted by
	// name. The slice is the caller's; the labels are shared and must not
	// be changed.
	Members() []Member
	// SetLabels sets this host's labels, as every host will see them. It
	// must not block on the network.
	SetLabels(units.Labels) error
	// DeleteHost deletes the host name, NotReady or Left, and its
	// instances' summaries from the fleet: Members and the Summaries'
	// Remote leave them out from its return, on this host, and on every
	// other host soon after; a host that comes back later is a member
	// again. It fails, changing nothing, with an error wrapping
	// ErrConflict for a Ready host (this one always is) and ErrNotFound
	// for a host not known. It must not block on the network.
	DeleteHost(name string) error
	// Changed receives (coalesced, never blocking) after Members' answer
	// changed.
	Changed() <-chan struct{}
}

// LocalMembership is the membership of a fleet of one: this host, always
// Ready. Safe for concurrent use.
type LocalMembership struct {
	mu      sync.Mutex
	self    Member
	changed chan struct{}
}

// NewLocalMembership returns the membership of host alone.
func NewLocalMembership(host string, labels units.Labels, version string, started time.Time) *LocalMembership {
	return &LocalMembership{
		self:    Member{Name: host, Labels: labels.Clone(), Status: HostReady, Version: version, Started: started},
		changed: make(chan struct{}, 1),
	}
}

// Members implements Membership.
func (m *LocalMembership) Members() []Member {
	m.mu.Lock()
	defer m.mu.Unlock()
	return []Member{m.self}
}

// SetLabels implements Membership.
func (m *LocalMembership) SetLabels(l units.Labels) error {
	m.mu.Lock()
	m.self.Labels = l.Clone()
	m.mu.Unlock()
	select {
	case m.changed <- struct{}{}:
	default:
	}
	return nil
}

// DeleteHost implements Membership: the only host is this one, which is
// Ready.
func (m *LocalMembership) DeleteHost(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if name == m.self.Name {
		return fmt.Errorf("host %q is Ready: %w", name, ErrConflict)
	}
	return errNotFound("host", name)
}

// Changed implements Membership.
func (m *LocalMembership) Changed() <-chan struct{} { return m.changed }

// Summaries carries instance summaries between this host and the others.
// The supervisor defines it; the cluster implements it; on one host there
// is nobody to tell (NoPeers).
type Summaries interface {
	// Publish tells the other hosts of this host's instances that changed
	// (their summaries now) and of those that are gone. The loop calls it
	// after each pass that changed some, never concurrently; it must not
	// block.
	Publish(changed []InstanceSummary, gone []string)
	// Remote returns the other hosts' instances, as last heard, sorted by
	// name. The slice is the caller's.
	Remote() []InstanceSummary
	// Changed receives (coalesced) after Remote's answer changed.
	Changed() <-chan struct{}
}

// NoPeers is the Summaries of a host alone: nothing to publish to, nothing
// to hear.
type NoPeers struct{}

// Publish implements Summaries.
func (NoPeers) Publish([]InstanceSummary, []string) {}

// Remote implements Summaries.
func (NoPeers) Remote() []InstanceSummary { return nil }

// Changed implements Summaries; it never receives.
func (NoPeers) Changed() <-chan struct{} { return nil }
