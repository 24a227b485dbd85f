package mock

import "sync"

// Notifier hands out change subscriptions as the agent does for
// Backend.Changes: each subscriber's channel holds one pending wake-up, so
// notifications coalesce and Notify never blocks. Set ChangesFn to a
// Notifier's Subscribe and call Notify after each change of the test's
// data. The zero Notifier is ready to use; its methods are safe for
// concurrent use.
type Notifier struct {
	mu   sync.Mutex
	subs map[chan struct{}]struct{}
}

// Subscribe returns a channel that receives after each Notify (coalesced),
// and a function that ends the subscription; calling it again does
// nothing.
func (n *Notifier) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	n.mu.Lock()
	if n.subs == nil {
		n.subs = map[chan struct{}]struct{}{}
	}
	n.subs[ch] = struct{}{}
	n.mu.Unlock()
	return ch, func() {
		n.mu.Lock()
		delete(n.subs, ch)
		n.mu.Unlock()
	}
}

// Notify wakes every subscriber that has no wake-up pending.
func (n *Notifier) Notify() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for ch := range n.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// Subscribers returns the number of subscriptions not yet ended, for tests
// that check a subscriber went away.
func (n *Notifier) Subscribers() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.subs)
}
