package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/tendhq/tend/internal/atomicfile"
)

// forgetPeersAfter is how long a peer not heard of stays in the book, as
// serf keeps trying a failed member for a day.
const forgetPeersAfter = 24 * time.Hour

// peerBook is the peers a host has seen, kept in a file so that a
// restarted agent, or one whose partition healed after memberlist forgot
// the other side, joins them again. Safe for concurrent use.
type peerBook struct {
	path string

	mu    sync.Mutex
	peers map[string]peer // by host name
	dirty bool
}

type peer struct {
	Addr string    `json:"addr"`
	Seen time.Time `json:"seen"`
}

// openPeerBook reads dir/peers.json; a missing file is an empty book.
func openPeerBook(dir string) (*peerBook, error) {
	b := &peerBook{peers: map[string]peer{}}
	if dir == "" {
		return b, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("cluster state: %w", err)
	}
	b.path = filepath.Join(dir, "peers.json")
	data, err := os.ReadFile(b.path)
	if errors.Is(err, os.ErrNotExist) {
		return b, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cluster state: %w", err)
	}
	if err := json.Unmarshal(data, &b.peers); err != nil {
		// A damaged book costs only the rejoins: start afresh.
		b.peers = map[string]peer{}
	}
	return b, nil
}

// note records that host was alive at addr just now.
func (b *peerBook) note(host, addr string, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	old, ok := b.peers[host]
	if ok && old.Addr == addr && now.Sub(old.Seen) < time.Minute {
		return // not news enough to write
	}
	b.peers[host] = peer{Addr: addr, Seen: now}
	b.dirty = true
}

// forget drops host, which was deleted from the fleet: it is not joined
// again. (Should it come back, it joins the others from its own book.)
func (b *peerBook) forget(host string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.peers[host]; ok {
		delete(b.peers, host)
		b.dirty = true
	}
}

// list returns the peers' addresses by host, dropping those not heard of
// for forgetPeersAfter.
func (b *peerBook) list() map[string]string {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	out := make(map[string]string, len(b.peers))
	for host, p := range b.peers {
		if now.Sub(p.Seen) > forgetPeersAfter {
			delete(b.peers, host)
			b.dirty = true
			continue
		}
		out[host] = p.Addr
	}
	return out
}

// save writes the book if it changed: a temporary file renamed over it.
func (b *peerBook) save() {
	b.mu.Lock()
	if !b.dirty || b.path == "" {
		b.mu.Unlock()
		return
	}
	data, _ := json.Marshal(maps.Clone(b.peers))
	b.dirty = false
	b.mu.Unlock()
	atomicfile.Write(b.path, data, 0o600)
}
