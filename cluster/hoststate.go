package cluster

import (
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

// Item is one piece of a host's state. Data nil is a removal, kept as a
// tombstone so that an older copy heard later does not bring it back.
type Item struct {
	Host  string `json:"h"`
	Key   string `json:"k"`
	Stamp Stamp  `json:"t"`
	Data  []byte `json:"d,omitempty"`
}

// hostState is the items of every host. Safe for concurrent use.
type hostState struct {
	mu    sync.Mutex
	hosts map[string]map[string]Item // host → key → item
	gen   uint64
}

func newHostState() *hostState { return &hostState{hosts: map[string]map[string]Item{}} }

// merge takes an item, reporting whether it was news.
func (s *hostState) merge(it Item) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.hosts[it.Host]
	if m == nil {
		m = map[string]Item{}
		s.hosts[it.Host] = m
	}
	if old, ok := m[it.Key]; ok && !old.Stamp.Before(it.Stamp) {
		return false
	}
	m[it.Key] = it
	s.gen++
	return true
}

// get returns host's item key, tombstone or not.
func (s *hostState) get(host, key string) (Item, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	it, ok := s.hosts[host][key]
	return it, ok
}

// items returns the live items of every host but skip, sorted by host
// then key.
func (s *hostState) items(skip string) []Item {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Item
	for host, m := range s.hosts {
		if host == skip {
			continue
		}
		for _, it := range m {
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

// all returns every item, tombstones too, of host ("" for all hosts), for
// a full exchange.
func (s *hostState) all(host string) []Item {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Item
	for h, m := range s.hosts {
		if host != "" && h != host {
			continue
		}
		for _, it := range m {
			out = append(out, it)
		}
	}
	return out
}

// drop forgets host's items (the host was removed from the cluster).
func (s *hostState) drop(host string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.hosts[host]; !ok {
		return false
	}
	delete(s.hosts, host)
	s.gen++
	return true
}

// forgetTombstones drops removals older than ttl by the wall clock: long
// enough for the removal to have reached every host.
func (s *hostState) forgetTombstones(now time.Time, ttl time.Duration) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for host, m := range s.hosts {
		for key, it := range m {
			if it.Data == nil && now.Sub(time.Unix(0, it.Stamp.Wall)) > ttl {
				delete(m, key)
				n++
			}
		}
		if len(m) == 0 {
			delete(s.hosts, host)
		}
	}
	return n
}
