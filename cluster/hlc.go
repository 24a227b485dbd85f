package cluster

import (
	"fmt"
	"sync"
	"time"
)

// Stamp is a hybrid logical clock's reading (Kulkarni et al., 2014): the
// wall time in nanoseconds as the clock last knew it, and a counter that
// orders events within the same wall time. Stamps follow causality: a
// change made after hearing of another gets a later stamp, even when this
// host's wall clock is behind the other's.
type Stamp struct {
	Wall    int64  `json:"w"`
	Logical uint32 `json:"l,omitempty"`
}

// Before reports whether s comes before t.
func (s Stamp) Before(t Stamp) bool {
	return s.Wall < t.Wall || (s.Wall == t.Wall && s.Logical < t.Logical)
}

// IsZero reports whether s is no reading at all.
func (s Stamp) IsZero() bool { return s.Wall == 0 && s.Logical == 0 }

func (s Stamp) String() string {
	return fmt.Sprintf("%s+%d", time.Unix(0, s.Wall).UTC().Format(time.RFC3339Nano), s.Logical)
}

// maxDrift bounds how far ahead of this host's wall clock a stamp heard
// from another host may carry the clock: a peer whose clock is an hour
// fast must not drag every stamp of the fleet an hour ahead.
const maxDrift = time.Minute

// HLC is a hybrid logical clock. Safe for concurrent use.
type HLC struct {
	now func() time.Time

	mu   sync.Mutex
	last Stamp
}

// NewHLC returns a clock reading wall time from now (time.Now when nil).
func NewHLC(now func() time.Time) *HLC {
	if now == nil {
		now = time.Now
	}
	return &HLC{now: now}
}

// Now returns a stamp for a change made here: after every stamp this clock
// has given or heard.
func (c *HLC) Now() Stamp {
	c.mu.Lock()
	defer c.mu.Unlock()
	pt := c.now().UnixNano()
	if pt > c.last.Wall {
		c.last = Stamp{Wall: pt}
	} else {
		c.last.Logical++
	}
	return c.last
}

// Observe takes a stamp heard from another host, so that later changes
// here come after it. A stamp more than maxDrift ahead of this host's
// clock is refused (the peer's clock is wrong), with an error saying so.
func (c *HLC) Observe(s Stamp) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	pt := c.now().UnixNano()
	if s.Wall > pt+int64(maxDrift) {
		return fmt.Errorf("a stamp %s ahead of this host's clock", time.Duration(s.Wall-pt))
	}
	if c.last.Before(s) {
		c.last = s
	}
	return nil
}

// NowAfter returns a stamp for a change made here that must come after s,
// however far ahead of this host's wall clock s is: the clock jumps to s.
// Only a host answering its own removal (removal.go) uses it, since a
// stamp it refused with Observe would otherwise leave it behind the
// removal for as long as its clock is slow.
func (c *HLC) NowAfter(s Stamp) Stamp {
	c.mu.Lock()
	if c.last.Before(s) {
		c.last = s
	}
	c.mu.Unlock()
	return c.Now()
}
