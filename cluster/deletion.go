package cluster

import (
	"errors"
	"fmt"
	"time"
)

// Deleting a host from the fleet (tend delete host, as kubectl delete node
// for a node that is gone). A host that stopped answering stays in every
// host's view, NotReady or Left, with its instances Unknown, until someone
// says it is gone for good. That is a Deletion: a tombstone stamped on the
// hybrid logical clock of the host that made it, gossiped, merged and kept
// on disk like a unit's deletion, under these rules:
//
//   - Every host forgets the deleted host, and its items (the summaries of
//     its instances) stamped up to the deletion. Such an item heard later,
//     from a host that had not heard of the deletion yet, is refused, so no
//     copy of the old state spreads again; and a host is never asked for
//     items that are all that old.
//   - What memberlist says of a host is tied to one life of its agent: an
//     agent takes a stamp from its clock when it starts (its life) and
//     tells it in its metadata, and every host observes it (so a deletion
//     made after seeing a life is stamped after it). memberlist's news of
//     a life up to the deletion is ignored: the dead node it keeps for
//     GossipToTheDeadTime, or a peer that had not declared the host dead
//     yet, does not bring it back.
//   - A host that comes back after its deletion (its agent restarts and
//     rejoins) is a new member: its new life and its new items are stamped
//     after the deletion and are taken as any host's. Should they not be
//     (its clock is slow, or the host was only cut off and never stopped),
//     it refutes the deletion when it hears of it, as memberlist's nodes
//     refute their own death: it takes a new life after the deletion's
//     stamp, tells it, and stamps its items again.
//
// A Ready host cannot be deleted: it answers, and would refute at once.
// Deletions are kept for deletionTTL, as units' tombstones: a host that
// was away longer may bring back the items it held of a deleted host.
// The HLC orders the deletion after everything its maker had heard of
// the host; a host whose clock ran ahead, and whose last items only some
// hosts heard, may keep those items past a deletion (they are later).

// Deletion says that Host was deleted from the fleet: everything of it
// stamped up to Stamp is gone.
type Deletion struct {
	Host   string `json:"h"`
	Stamp  Stamp  `json:"t"`
	Origin string `json:"o"` // the host where it was deleted
}

// covers reports whether d deletes what is stamped s: everything up to
// d's own stamp.
func (d Deletion) covers(s Stamp) bool { return !d.Stamp.Before(s) }

// after reports whether d wins over another deletion of the same host: a
// later one covers more; the greater origin breaks a tie, so every host
// keeps the same.
func (d Deletion) after(o Deletion) bool {
	if d.Stamp != o.Stamp {
		return o.Stamp.Before(d.Stamp)
	}
	return d.Origin > o.Origin
}

// deletionTTL is how long a deletion is kept.
const deletionTTL = tombstoneTTL

// Errors of DeleteHost, for callers to branch on.
var (
	// ErrNoHost: no host of that name is known here.
	ErrNoHost = errors.New("no such host")
	// ErrHostReady: the host answers; it cannot be deleted.
	ErrHostReady = errors.New("the host is Ready")
)

// DeleteHost deletes the host name, which must be NotReady or Left, from
// the fleet: this host forgets it and its items at once, and tells the
// others, who do the same; it does not wait for them to hear. It fails,
// changing nothing, with ErrHostReady for a Ready host (this one always
// is) and ErrNoHost for one this host does not know (or no longer knows:
// a second deletion of a host). A host that comes back meanwhile refutes
// the deletion (see above). Safe for concurrent use.
func (n *Node) DeleteHost(name string) error {
	n.mu.Lock()
	h := n.hosts[name]
	status := Status(0)
	if h != nil {
		status = h.Status
	}
	if name == n.cfg.Name {
		status = Ready
	}
	n.mu.Unlock()
	switch status {
	case 0:
		return fmt.Errorf("host %q: %w", name, ErrNoHost)
	case Ready:
		return fmt.Errorf("host %q is %s: %w", name, status, ErrHostReady)
	}
	d := Deletion{Host: name, Stamp: n.clock.Now(), Origin: n.cfg.Name}
	n.log.Info("host deleted from the fleet", "host", name, "status", status.String())
	n.takeDeletion(d, true)
	return nil
}

// takeDeletion merges a deletion made here or heard from another host;
// relay passes it on when it was news (a broadcast's, or this host's own).
func (n *Node) takeDeletion(d Deletion, relay bool) {
	if err := n.clock.Observe(d.Stamp); err != nil {
		// Taken all the same, as the catalog takes an entry: every host
		// must keep the same deletions.
		n.log.Warn("a host's deletion is stamped ahead of this host's clock", "host", d.Host, "by", d.Origin, "err", err)
	}
	// Noted and the host forgotten under n.mu, as seen looks at the
	// deletions (node.go): neither comes between the other's look and its
	// change. From here on the host's old items are refused; those held
	// are dropped after, without n.mu.
	n.mu.Lock()
	news := n.state.noteDeletion(d)
	gone := false
	if h := n.hosts[d.Host]; news && h != nil && d.Host != n.cfg.Name && d.covers(h.life) {
		delete(n.hosts, d.Host)
		delete(n.leaving, d.Host)
		gone = true
	}
	n.mu.Unlock()
	if !news {
		return
	}
	if d.Host == n.cfg.Name {
		n.refute(d) // its items stamped again before the old ones go
	}
	dropped := n.state.dropDeleted(d)
	if gone {
		n.peers.forget(d.Host)
		n.notify()
	}
	if dropped {
		signal(n.itemsChanged)
	}
	if msg := encode(msgDeleted, d); relay && len(msg) <= maxBroadcast {
		// (A deletion too large, of a host with a name of a kilobyte,
		// travels by push/pull: the sums count it.)
		n.enqueue(broadcast{name: "deleted/" + d.Host, msg: msg})
	}
	signal(n.saveCatalog)
}

// refute answers a deletion of this host, which is alive: unless its life
// is later already, it takes a new one after the deletion, tells the
// others (memberlist gossips the new metadata), and stamps its items
// again so that they are later too.
func (n *Node) refute(d Deletion) {
	n.mu.Lock()
	if !d.covers(n.life) {
		n.mu.Unlock()
		return
	}
	n.life = n.clock.NowAfter(d.Stamp)
	api, _ := metaAPI(n.cfg.API) // New checked it
	m, _, err := encodeMeta(n.cfg.Version, api, n.cfg.Started, n.life, n.labels)
	if err == nil {
		n.meta = m
	}
	n.mu.Unlock()
	n.log.Warn("this host was deleted from the fleet while its agent ran; it takes itself back", "host", n.cfg.Name, "by", d.Origin)
	items, _ := n.state.all(n.cfg.Name)
	for _, it := range items {
		if it.Data != nil {
			n.SetItem(it.Key, it.Data)
		}
	}
	if n.ml != nil {
		go n.ml.UpdateNode(time.Second)
	}
}
