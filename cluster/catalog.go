package cluster

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"sync"
	"time"
)

// The fleet's catalog of units: for each name, the unit file every host
// runs, or a tombstone where it was deleted. Every host holds the whole
// catalog and merges what it hears by last writer wins on the hybrid
// logical clock, with the origin host's name and then the version as
// tie-breaks, so every host that has heard the same changes holds the
// same catalog, whatever the order it heard them in.
//
// This file is the catalog's state and its merge rule, without the
// gossip that carries it.

// Entry is one unit of the catalog.
type Entry struct {
	Name    string `json:"n"`
	Spec    []byte `json:"s,omitempty"` // the unit file; nil in a tombstone
	Version string `json:"v,omitempty"` // hex SHA-256 of Spec; "" in a tombstone
	Stamp   Stamp  `json:"t"`
	Origin  string `json:"o"` // the host that made this change
	// Prev is the stamp of the entry this change replaced, as its origin
	// knew it: a change that replaces an entry its origin never saw was
	// concurrent with it, and the loser is reported.
	Prev    Stamp `json:"p,omitzero"`
	Deleted bool  `json:"d,omitempty"`
}

// Digest is an entry without its spec: what a host says it has, so that
// others can ask for what they lack.
type Digest struct {
	Name    string `json:"n"`
	Version string `json:"v,omitempty"`
	Stamp   Stamp  `json:"t"`
	Origin  string `json:"o"`
	Deleted bool   `json:"d,omitempty"`
}

// Digest is e's digest.
func (e *Entry) Digest() Digest {
	return Digest{Name: e.Name, Version: e.Version, Stamp: e.Stamp, Origin: e.Origin, Deleted: e.Deleted}
}

// wins reports whether a change stamped (s, origin, version) wins over
// one stamped (t, torigin, tversion): the later stamp, then the greater
// origin, then the greater version. Every host decides alike.
func wins(s Stamp, origin, version string, t Stamp, torigin, tversion string) bool {
	if s != t {
		return t.Before(s)
	}
	if origin != torigin {
		return origin > torigin
	}
	return version > tversion
}

// Newer reports whether d describes a change that wins over e.
func (d Digest) Newer(e *Entry) bool {
	return e == nil || wins(d.Stamp, d.Origin, d.Version, e.Stamp, e.Origin, e.Version)
}

// Conflict is a change that replaced another its origin had not seen: two
// hosts defined one unit differently at about the same time, and the
// loser's definition is gone.
type Conflict struct {
	Name   string
	Winner Digest
	Loser  Digest
}

// Catalog is the state of the fleet's catalog on one host. Safe for
// concurrent use.
type Catalog struct {
	self  string
	clock *HLC

	mu      sync.Mutex
	entries map[string]*Entry
	gen     uint64
	changed chan struct{}
}

// NewCatalog returns an empty catalog for the host self.
func NewCatalog(self string, clock *HLC) *Catalog {
	return &Catalog{self: self, clock: clock, entries: map[string]*Entry{}, changed: make(chan struct{}, 1)}
}

// Version is the hex SHA-256 of a unit file, as units.Unit.Version is.
func Version(spec []byte) string {
	sum := sha256.Sum256(spec)
	return hex.EncodeToString(sum[:])
}

// Set records a change made on this host: the unit name's file is now
// spec, or, with spec nil, the unit is deleted. It returns the new entry
// and false when nothing changed (the same file again, or deleting what
// is not there).
func (c *Catalog) Set(name string, spec []byte) (Entry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.entries[name]
	version := ""
	if spec != nil {
		version = Version(spec)
	}
	switch {
	case old == nil && spec == nil:
		return Entry{}, false
	case old != nil && old.Deleted && spec == nil:
		return *old, false
	case old != nil && !old.Deleted && old.Version == version:
		return *old, false
	}
	e := &Entry{Name: name, Spec: slices.Clone(spec), Version: version, Stamp: c.clock.Now(), Origin: c.self, Deleted: spec == nil}
	if old != nil {
		e.Prev = old.Stamp
	}
	c.entries[name] = e
	c.touchLocked()
	return *e, true
}

// Merge takes an entry heard from another host. It reports whether the
// entry replaced what this host had, and the conflict when it replaced
// (or lost to) a definition its origin had not seen.
func (c *Catalog) Merge(e Entry) (applied bool, conflict *Conflict) {
	if e.Deleted {
		e.Spec, e.Version = nil, ""
	} else if Version(e.Spec) != e.Version {
		return false, nil // damaged on the way, or lying: ignore it
	}
	c.clock.Observe(e.Stamp)
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.entries[e.Name]
	if old != nil && old.Stamp == e.Stamp && old.Origin == e.Origin && old.Version == e.Version {
		return false, nil // heard before
	}
	winner, loser := &e, old
	if old != nil && !e.Digest().Newer(old) {
		winner, loser = old, &e
	}
	// The winner's origin knew of nothing as late as the loser: the two
	// were written without each other.
	if loser != nil && !loser.Deleted && !winner.Deleted && winner.Version != loser.Version &&
		winner.Prev.Before(loser.Stamp) {
		conflict = &Conflict{Name: e.Name, Winner: winner.Digest(), Loser: loser.Digest()}
	}
	if winner == old {
		return false, conflict
	}
	ne := e
	ne.Spec = slices.Clone(e.Spec)
	c.entries[e.Name] = &ne
	c.touchLocked()
	return true, conflict
}

func (c *Catalog) touchLocked() {
	c.gen++
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// Changed receives (coalesced) after the catalog changed.
func (c *Catalog) Changed() <-chan struct{} { return c.changed }

// Gen counts the catalog's changes.
func (c *Catalog) Gen() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// Get returns the entry of name.
func (c *Catalog) Get(name string) (Entry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.entries[name]; e != nil {
		return *e, true
	}
	return Entry{}, false
}

// Entries returns every entry, tombstones too, sorted by name. The specs
// are shared: do not change them.
func (c *Catalog) Entries() []Entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Entry, 0, len(c.entries))
	for _, e := range c.entries {
		out = append(out, *e)
	}
	slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Digests returns every entry's digest, sorted by name.
func (c *Catalog) Digests() []Digest {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Digest, 0, len(c.entries))
	for _, e := range c.entries {
		out = append(out, e.Digest())
	}
	slices.SortFunc(out, func(a, b Digest) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Lacks returns, of the digests heard from another host, the names whose
// change this host has not got (a later one than its own).
func (c *Catalog) Lacks(ds []Digest) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, d := range ds {
		if d.Newer(c.entries[d.Name]) {
			out = append(out, d.Name)
		}
	}
	return out
}

// ForgetTombstones drops tombstones older than ttl by the wall clock: a
// host away longer than that may bring a deleted unit back.
func (c *Catalog) ForgetTombstones(now time.Time, ttl time.Duration) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for name, e := range c.entries {
		if e.Deleted && now.Sub(time.Unix(0, e.Stamp.Wall)) > ttl {
			delete(c.entries, name)
			n++
		}
	}
	return n
}
