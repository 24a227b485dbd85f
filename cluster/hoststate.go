package cluster

import (
	"encoding/binary"
	"hash/fnv"
	"slices"
	"strings"
	"sync"
	"time"
)

// Host state: what each host says of itself that does not fit in
// memberlist's 512 bytes of metadata, chiefly the summaries of its
// instances. Every item has one writer, the host it is about, so there is
// no conflict to resolve: an item's later stamp (from that host's clock,
// which only moves forward, across restarts too) replaces the earlier.
// Every host holds every host's items and merges what it hears.
//
// Each host's items also add up to a hostDigest, a line of fixed size,
// which is all a push/pull carries of them: a host whose digest of
// another differs from a peer's asks for that host's items.

// Item is one piece of a host's state. Data nil is a removal, kept as a
// tombstone so that an older copy heard later does not bring it back.
type Item struct {
	Host  string `json:"h"`
	Key   string `json:"k"`
	Stamp Stamp  `json:"t"`
	Data  []byte `json:"d,omitempty"`
}

// hostDigest is what a host holds of one host's items, in one line: the
// latest stamp heard of them (removals too), and a hash of the live
// items' keys and stamps. Two hosts holding the same live items of a
// host have the same Sum.
type hostDigest struct {
	Host string `json:"h"`
	Last Stamp  `json:"t"`
	Sum  uint64 `json:"s,omitempty"`
}

// behind reports whether a host whose digest of d.Host is mine lacks
// something the holder of d has: they hold different live items, and d
// has heard of changes at least as late. (When d is behind instead, its
// holder asks, on its side of the same push/pull.)
func (mine hostDigest) behind(d hostDigest) bool {
	return mine.Sum != d.Sum && !d.Last.Before(mine.Last)
}

// itemHash is a live item's part of its host's Sum.
func itemHash(key string, s Stamp) uint64 {
	h := fnv.New64a()
	h.Write([]byte(key))
	var b [13]byte
	binary.LittleEndian.PutUint64(b[1:9], uint64(s.Wall))
	binary.LittleEndian.PutUint32(b[9:], s.Logical)
	h.Write(b[:])
	return h.Sum64()
}

// hostItems is one host's items.
type hostItems struct {
	items map[string]Item
	// last is the latest stamp heard of this host's items: forgetting a
	// tombstone does not lower it.
	last Stamp
	// sum is the XOR of the live items' itemHash, kept as items change.
	sum uint64
}

func (h *hostItems) put(it Item) {
	if old, ok := h.items[it.Key]; ok && old.Data != nil {
		h.sum ^= itemHash(old.Key, old.Stamp)
	}
	if it.Data != nil {
		h.sum ^= itemHash(it.Key, it.Stamp)
	}
	h.items[it.Key] = it
	if h.last.Before(it.Stamp) {
		h.last = it.Stamp
	}
}

// hostState is the items of every host, and the hosts deleted from the
// fleet (deletion.go). Safe for concurrent use.
type hostState struct {
	mu    sync.Mutex
	hosts map[string]*hostItems
	gen   uint64

	// dmu guards deleted and deletedGen. It is a leaf, held for a lookup
	// at a time, never while waiting on mu: memberlist's callbacks read
	// the deletions (Node.seen) under its own lock, and must not wait on
	// a merge of many items.
	dmu sync.Mutex
	// deleted holds the latest deletion of each host deleted: its items
	// stamped up to the deletion are gone and refused.
	deleted map[string]Deletion
	// deletedGen counts the changes of deleted, for the file that keeps
	// them.
	deletedGen uint64
}

func newHostState() *hostState {
	return &hostState{hosts: map[string]*hostItems{}, deleted: map[string]Deletion{}}
}

// merge takes an item, reporting whether it was news.
func (s *hostState) merge(it Item) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mergeLocked(it)
}

func (s *hostState) mergeLocked(it Item) bool {
	if d, ok := s.deletion(it.Host); ok && d.covers(it.Stamp) {
		return false // from before its host was deleted
	}
	h := s.hosts[it.Host]
	if h == nil {
		h = &hostItems{items: map[string]Item{}}
		s.hosts[it.Host] = h
	}
	if old, ok := h.items[it.Key]; ok && !old.Stamp.Before(it.Stamp) {
		return false
	}
	h.put(it)
	s.gen++
	return true
}

// replace takes the whole of host's items as host itself sent them,
// latest stamp last: each item is merged, and a live item missing from
// them and not later than last is removed (its tombstone was forgotten,
// or it was made before host restarted and never removed). It returns
// the keys that changed.
func (s *hostState) replace(host string, items []Item, last Stamp) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var changed []string
	in := make(map[string]bool, len(items))
	for _, it := range items {
		if it.Host != host {
			continue
		}
		in[it.Key] = true
		if s.mergeLocked(it) {
			changed = append(changed, it.Key)
		}
	}
	h := s.hosts[host]
	if h == nil {
		return changed
	}
	for key, it := range h.items {
		if !in[key] && it.Data != nil && !last.Before(it.Stamp) {
			h.put(Item{Host: host, Key: key, Stamp: it.Stamp}) // a tombstone of the same stamp
			changed = append(changed, key)
			s.gen++
		}
	}
	if h.last.Before(last) {
		h.last = last
	}
	return changed
}

// get returns host's item key, tombstone or not.
func (s *hostState) get(host, key string) (Item, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h := s.hosts[host]; h != nil {
		it, ok := h.items[key]
		return it, ok
	}
	return Item{}, false
}

// items returns the live items of every host but skip, sorted by host
// then key.
func (s *hostState) items(skip string) []Item {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Item
	for host, h := range s.hosts {
		if host == skip {
			continue
		}
		for _, it := range h.items {
			if it.Data != nil {
				out = append(out, it)
			}
		}
	}
	slices.SortFunc(out, func(a, b Item) int {
		if c := strings.Compare(a.Host, b.Host); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
	return out
}

// all returns every item of host, tombstones too, and the latest stamp
// heard of them: what a host that asks for host's items is sent.
func (s *hostState) all(host string) ([]Item, Stamp) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.hosts[host]
	if h == nil {
		return nil, Stamp{}
	}
	out := make([]Item, 0, len(h.items))
	for _, it := range h.items {
		out = append(out, it)
	}
	return out, h.last
}

// digest is this host's digest of host's items; zero when it holds none.
func (s *hostState) digest(host string) hostDigest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.digestLocked(host)
}

func (s *hostState) digestLocked(host string) hostDigest {
	if h := s.hosts[host]; h != nil {
		return hostDigest{Host: host, Last: h.last, Sum: h.sum}
	}
	return hostDigest{Host: host}
}

// wants reports whether this host should ask for the items of d.Host that
// the holder of d has: its own copy lacks some (behind), and they are not
// all from before d.Host's deletion, which it would refuse.
func (s *hostState) wants(d hostDigest) bool {
	if del, ok := s.deletion(d.Host); ok && del.covers(d.Last) {
		return false
	}
	return s.digest(d.Host).behind(d)
}

// digests returns the digest of every host's items, sorted by host.
func (s *hostState) digests() []hostDigest {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]hostDigest, 0, len(s.hosts))
	for host, h := range s.hosts {
		out = append(out, hostDigest{Host: host, Last: h.last, Sum: h.sum})
	}
	slices.SortFunc(out, func(a, b hostDigest) int { return strings.Compare(a.Host, b.Host) })
	return out
}

// deleteHost takes a deletion of d.Host: noteDeletion, then dropDeleted.
func (s *hostState) deleteHost(d Deletion) (news, dropped bool) {
	if !s.noteDeletion(d) {
		return false, false
	}
	return true, s.dropDeleted(d)
}

// noteDeletion records a deletion of d.Host, from when on its items
// stamped up to d.Stamp are refused. It reports whether d was news: later
// than the deletion of d.Host known so far.
func (s *hostState) noteDeletion(d Deletion) bool {
	s.dmu.Lock()
	defer s.dmu.Unlock()
	if old, ok := s.deleted[d.Host]; ok && !d.after(old) {
		return false
	}
	s.deleted[d.Host] = d
	s.deletedGen++
	return true
}

// dropDeleted drops the items of d.Host stamped up to d.Stamp, and
// reports whether live items went.
func (s *hostState) dropDeleted(d Deletion) (dropped bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.hosts[d.Host]
	if h == nil {
		return false
	}
	for key, it := range h.items {
		if !d.covers(it.Stamp) {
			continue
		}
		if it.Data != nil {
			h.sum ^= itemHash(key, it.Stamp)
			dropped = true
		}
		delete(h.items, key)
	}
	if len(h.items) == 0 {
		delete(s.hosts, d.Host)
	}
	s.gen++
	return dropped
}

// deletion is the latest deletion of host, if any.
func (s *hostState) deletion(host string) (Deletion, bool) {
	s.dmu.Lock()
	defer s.dmu.Unlock()
	d, ok := s.deleted[host]
	return d, ok
}

// deletions returns every deletion kept, sorted by host, and the count of
// their changes.
func (s *hostState) deletions() ([]Deletion, uint64) {
	s.dmu.Lock()
	defer s.dmu.Unlock()
	out := make([]Deletion, 0, len(s.deleted))
	for _, d := range s.deleted {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b Deletion) int { return strings.Compare(a.Host, b.Host) })
	return out, s.deletedGen
}

// forgetDeletions drops deletions older than ttl by the wall clock, and
// reports how many.
func (s *hostState) forgetDeletions(now time.Time, ttl time.Duration) int {
	s.dmu.Lock()
	defer s.dmu.Unlock()
	n := 0
	for host, d := range s.deleted {
		if now.Sub(time.Unix(0, d.Stamp.Wall)) > ttl {
			delete(s.deleted, host)
			n++
		}
	}
	if n > 0 {
		s.deletedGen++
	}
	return n
}

// forgetTombstones drops removals older than ttl by the wall clock: long
// enough for the removal to have reached every host. A host left with
// no items at all is forgotten.
func (s *hostState) forgetTombstones(now time.Time, ttl time.Duration) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for host, h := range s.hosts {
		for key, it := range h.items {
			if it.Data == nil && now.Sub(time.Unix(0, it.Stamp.Wall)) > ttl {
				delete(h.items, key)
				n++
			}
		}
		if len(h.items) == 0 {
			delete(s.hosts, host)
		}
	}
	return n
}
