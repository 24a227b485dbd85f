package cluster

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// How the catalog and the host state travel:
//
//   - A change is broadcast (memberlist piggybacks broadcasts on its
//     gossip and retransmits each RetransmitMult × log(N+1) times): the
//     whole entry or item when it fits in maxBroadcast, else only its
//     digest, and a host that lacks the change asks the change's origin
//     for it over a reliable (TCP) message.
//   - Every push/pull (PushPullInterval, and on join) exchanges digests
//     of the whole state, so a host that was away catches up, and what a
//     lost broadcast missed is repaired: a digest of each catalog entry,
//     and one of each host's items (a hostDigest), never one per item. A
//     host that lacks entries asks the other side of the push/pull for
//     them; one whose digest of a host's items differs asks that host for
//     all its items (the other side when that host is not Ready).
//   - Deletions of hosts (deletion.go) are broadcast, and every push/pull
//     carries them whole: they are few and small. The catalog sums count
//     them too.
//
// Messages are a type byte and JSON.
const (
	msgEntry   byte = 'E' // an Entry
	msgDigest  byte = 'D' // a Digest: ask its origin for the entry
	msgWant    byte = 'W' // wantMsg: send me these entries
	msgItem    byte = 'I' // an Item
	msgSum     byte = 'S' // sumMsg: what this host's catalog adds up to
	msgWantH   byte = 'H' // wantHostsMsg: send me these hosts' items
	msgHost    byte = 'O' // hostItemsMsg: one host's items
	msgBatch   byte = 'B' // batchMsg: entries asked for
	msgDeleted byte = 'R' // a Deletion: a host deleted from the fleet
)

// wantHostsMsg asks for the items of Hosts.
type wantHostsMsg struct {
	From  string   `json:"f"`
	Hosts []string `json:"h"`
}

// hostItemsMsg is every item, tombstones too, that the sender holds of
// Host, and the latest stamp it has heard of them. Whole: the sender is
// Host, and these are all its items.
type hostItemsMsg struct {
	Host  string `json:"h"`
	Last  Stamp  `json:"t"`
	Whole bool   `json:"w,omitempty"`
	Items []Item `json:"i,omitempty"`
}

// batchMsg answers wants: the entries asked for.
type batchMsg struct {
	Entries []Entry `json:"e,omitempty"`
}

// fetchParallel is how many wants for hosts' items a host sends at once:
// a host that joins a fleet of a thousand asks nearly every host.
const fetchParallel = 8

// sumMsg is a host's catalog in one number, and the digest of its own
// items, broadcast every sumEvery: a host whose catalog adds up
// differently exchanges state with it at once, and one whose copy of its
// items differs asks it for them, so a change whose broadcasts were lost
// (or dropped from a full queue) is repaired in seconds rather than at
// the next push/pull, and by the host the change is about.
type sumMsg struct {
	From  string     `json:"f"`
	Addr  string     `json:"a"`
	Sum   string     `json:"s"`
	Items hostDigest `json:"i"`
}

// maxBroadcast is the most a broadcast may carry: memberlist sends
// broadcasts inside 1400-byte UDP packets beside its own messages.
const maxBroadcast = 1100

type wantMsg struct {
	From  string   `json:"f"`
	Names []string `json:"n"`
}

// digestState is what a push/pull exchanges: what each side has, without
// the unit files and the summaries themselves, which a side that lacks
// them then asks for. A push/pull with a 20-host fleet of 200 units and
// 1000 instances carried 400 KB each way when it carried everything; with
// a digest per item, 1000 hosts of 100 instances each would have carried
// 7.1 MB, and 3000 would not have fitted memberlist's 20 MiB
// (docs/cluster-limits.md). A digest per host is about 70 bytes, however
// many items the host has.
type digestState struct {
	From    string       `json:"f"`
	Entries []Digest     `json:"e,omitempty"`
	Hosts   []hostDigest `json:"h,omitempty"`
	Deleted []Deletion   `json:"r,omitempty"`
}

// broadcast is a message for memberlist's queue; a newer one for the
// same name replaces one not yet sent out.
type broadcast struct {
	name string
	msg  []byte
}

func (b broadcast) Invalidates(o memberlist.Broadcast) bool {
	nb, ok := o.(memberlist.NamedBroadcast)
	return ok && nb.Name() == b.name
}
func (b broadcast) Message() []byte { return b.msg }
func (b broadcast) Finished()       {}
func (b broadcast) Name() string    { return b.name }

func encode(t byte, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("cluster: encode: " + err.Error()) // our own types always encode
	}
	return append([]byte{t}, b...)
}

// maxQueued bounds the broadcasts waiting in a host's queue. Every host
// passes every change on RetransmitMult × ceil(log10(N+1)) times (12 at
// 100 hosts), and gossip carries at most 3 packets of 1400 bytes every
// GossipInterval (84 KB/s on lan), so a burst queues faster than it
// drains: 100 hosts publishing 10 summaries each at once kept every queue
// busy for over a minute. Past maxQueued the broadcasts sent most often
// are dropped (serf bounds its queues alike); hosts that missed them are
// repaired by the catalog sums (units) and the push/pull digests (items).
const maxQueued = 256

// enqueue queues b, and drops the most-sent broadcasts past maxQueued.
func (n *Node) enqueue(b broadcast) {
	n.queue.QueueBroadcast(b)
	if n.queue.NumQueued() > maxQueued {
		n.queue.Prune(maxQueued)
	}
}

// broadcastEntry queues e, or its digest when e is too large.
func (n *Node) broadcastEntry(e Entry) {
	msg := encode(msgEntry, e)
	if len(msg) > maxBroadcast {
		msg = encode(msgDigest, e.Digest())
	}
	n.enqueue(broadcast{name: "unit/" + e.Name, msg: msg})
}

func (n *Node) broadcastItem(it Item) {
	msg := encode(msgItem, it)
	if len(msg) > maxBroadcast {
		// Items are a host's own small summaries; one this large
		// travels when the others find, at a push/pull, that this
		// host's digest changed, and ask.
		return
	}
	n.enqueue(broadcast{name: "item/" + it.Host + "/" + it.Key, msg: msg})
}

// SetUnit records a change of the unit name made on this host (spec nil
// deletes it) and tells the others. It reports whether it changed
// anything.
func (n *Node) SetUnit(name string, spec []byte) (Entry, bool) {
	e, changed := n.catalog.Set(name, spec)
	if changed {
		n.broadcastEntry(e)
		signal(n.saveCatalog)
	}
	return e, changed
}

// Catalog is the fleet's catalog as this host holds it.
func (n *Node) Catalog() *Catalog { return n.catalog }

// Conflicts receives each conflict this host found between two
// definitions of a unit (the loser is gone). Never blocks the Node: a
// conflict found while the channel is full is dropped from it (the log
// still says it).
func (n *Node) Conflicts() <-chan Conflict { return n.conflicts }

// SetItem sets an item of this host's state (data nil removes it) and
// tells the others.
func (n *Node) SetItem(key string, data []byte) {
	it := Item{Host: n.cfg.Name, Key: key, Stamp: n.clock.Now(), Data: data}
	if n.state.merge(it) {
		n.broadcastItem(it)
	}
}

// Items returns the live items of every other host.
func (n *Node) Items() []Item { return n.state.items(n.cfg.Name) }

// CatalogChanged receives (coalesced) after the catalog changed by what
// another host said.
func (n *Node) CatalogChanged() <-chan struct{} { return n.catalogChanged }

// ItemsChanged receives (coalesced) after another host's items changed.
func (n *Node) ItemsChanged() <-chan struct{} { return n.itemsChanged }

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// takeEntry merges an entry heard from another host; relay passes it on
// when it was news (a broadcast's; what was fetched is not news to the
// others).
func (n *Node) takeEntry(e Entry, relay bool) {
	applied, c := n.catalog.Merge(e)
	if c != nil {
		n.log.Warn("two definitions of a unit were made at once; the later wins",
			"unit", c.Name, "winner", c.Winner.Origin, "loser", c.Loser.Origin)
		select {
		case n.conflicts <- *c:
		default:
		}
	}
	if applied {
		// memberlist retransmits a broadcast a few times from its origin
		// only; passing news on is the receivers' part (as serf does),
		// or in a fleet of twenty most hosts would wait for a push/pull.
		if relay {
			n.broadcastEntry(e)
		}
		signal(n.catalogChanged)
		signal(n.saveCatalog)
	}
}

// takeDigest asks the origin of a change this host lacks for it.
func (n *Node) takeDigest(d Digest) {
	if d.Origin == n.cfg.Name || len(n.catalog.Lacks([]Digest{d})) == 0 {
		return
	}
	n.ask(d.Origin, []string{d.Name})
}

// member is a node to send to for the Ready host named host, or nil. It
// is made from the address memberlist's events gave (Members' nodes are
// memberlist's own, changed under its lock: reading them races).
func (n *Node) member(host string) *memberlist.Node {
	n.mu.Lock()
	h := n.hosts[host]
	var addr string
	if h != nil && h.Status == Ready {
		addr = h.Addr
	}
	n.mu.Unlock()
	ip, port, err := splitHostPort("peer", addr)
	if addr == "" || err != nil {
		return nil
	}
	return &memberlist.Node{Name: host, Addr: net.ParseIP(ip), Port: uint16(port)}
}

// ask sends host a want for names, off memberlist's goroutine.
func (n *Node) ask(host string, names []string) {
	to := n.member(host)
	if to == nil {
		return // it is gone; a push/pull with anyone else repairs this
	}
	msg := encode(msgWant, wantMsg{From: n.cfg.Name, Names: names})
	go n.ml.SendReliable(to, msg)
}

// answer sends the entries a host wants.
func (n *Node) answer(w wantMsg) {
	to := n.member(w.From)
	if to == nil {
		return
	}
	var es []Entry
	for _, name := range w.Names {
		if e, ok := n.catalog.Get(name); ok {
			es = append(es, e)
		}
	}
	if len(es) == 0 {
		return
	}
	go func() {
		for _, b := range batches(es, maxBatch) {
			if n.ml.SendReliable(to, encode(msgBatch, b)) != nil {
				return // it is gone, or this host is closing
			}
		}
	}()
}

// maxBatch is about the most a batch of entries carries as JSON, unless
// one entry alone is larger (a unit file at units.MaxFileSize is 1.4 MB):
// memberlist refuses a reliable message over 20 MiB (maxUserMsgBytes),
// sixteen such files, and the whole message must cross within TCPTimeout
// (2 s on lan, 30 s on wan: 1 MiB takes 8 s at 1 Mbit/s).
const maxBatch = 1 << 20

// batches splits es into batches of about max bytes as JSON at most (a
// larger entry goes alone), in order.
func batches(es []Entry, max int) []batchMsg {
	var out []batchMsg
	var b batchMsg
	size := 0
	for _, e := range es {
		// base64 of the spec, and ~200 bytes of the rest.
		n := (len(e.Spec)+2)/3*4 + 200
		if len(b.Entries) > 0 && size+n > max {
			out = append(out, b)
			b, size = batchMsg{}, 0
		}
		b.Entries = append(b.Entries, e)
		size += n
	}
	if len(b.Entries) > 0 {
		out = append(out, b)
	}
	return out
}

// answerHosts sends a host that wants them the items of each host it
// names, one message a host, off memberlist's goroutine.
func (n *Node) answerHosts(w wantHostsMsg) {
	to := n.member(w.From)
	if to == nil {
		return
	}
	go func() {
		for _, host := range w.Hosts {
			select {
			case <-n.stop:
				return
			default:
			}
			items, last := n.state.all(host)
			if len(items) == 0 && host != n.cfg.Name {
				continue
			}
			m := hostItemsMsg{Host: host, Last: last, Whole: host == n.cfg.Name, Items: items}
			if n.ml.SendReliable(to, encode(msgHost, m)) != nil {
				return // it is gone, or this host is closing
			}
		}
	}()
}

// fetchHosts asks for the items of hosts: each of the host itself when
// it is Ready, the rest of peer, the host whose push/pull said it had
// them. At most fetchParallel wants are in flight; it runs off
// memberlist's goroutine and ends when the wants are sent.
func (n *Node) fetchHosts(hosts []string, peer string) {
	from := map[string][]string{}
	for _, h := range hosts {
		to := h
		if n.member(h) == nil {
			to = peer
		}
		from[to] = append(from[to], h)
	}
	go func() {
		sem := make(chan struct{}, fetchParallel)
		var wg sync.WaitGroup
		for to, names := range from {
			node := n.member(to)
			if node == nil {
				continue // a push/pull with anyone else repairs this
			}
			select {
			case <-n.stop:
				return
			case sem <- struct{}{}:
			}
			wg.Go(func() {
				defer func() { <-sem }()
				n.ml.SendReliable(node, encode(msgWantH, wantHostsMsg{From: n.cfg.Name, Hosts: names}))
			})
		}
		wg.Wait()
	}()
}

// takeHostItems merges what another host sent of host's items; when host
// sent its own, whole, what it no longer has goes.
func (n *Node) takeHostItems(m hostItemsMsg) {
	if m.Host == n.cfg.Name {
		return // what others say of this host is old news
	}
	n.clock.Observe(m.Last)
	// What was asked for has come, whatever it holds: a peer's digest of
	// a host may differ from the host's own (it missed some items), and
	// the answer is all there is to have.
	n.mu.Lock()
	delete(n.wanted, m.Host)
	n.mu.Unlock()
	var changed []string
	if m.Whole {
		changed = n.state.replace(m.Host, m.Items, m.Last)
	} else {
		for _, it := range m.Items {
			if it.Host == m.Host && n.state.merge(it) {
				changed = append(changed, it.Key)
			}
		}
	}
	if len(changed) == 0 {
		return
	}
	if slices.Contains(changed, labelsKey) {
		n.notify() // a host's labels: membership news
	}
	if len(changed) > 1 || changed[0] != labelsKey {
		signal(n.itemsChanged)
	}
}

func (n *Node) takeItem(it Item, relay bool) {
	if it.Host == n.cfg.Name {
		return // what others say of this host is old news
	}
	n.clock.Observe(it.Stamp)
	if n.state.merge(it) {
		if relay {
			n.broadcastItem(it) // passed on, as entries are
		}
		if it.Key == labelsKey {
			n.notify() // a host's labels: membership news
		} else {
			signal(n.itemsChanged)
		}
	}
}

// handle dispatches a message from another host. Called from memberlist's
// goroutines; must not block long.
func (n *Node) handle(b []byte) {
	if len(b) == 0 {
		return
	}
	body := b[1:]
	switch b[0] {
	case msgLeaving:
		n.leavingMsg(string(body))
	case msgEntry:
		var e Entry
		if json.Unmarshal(body, &e) == nil {
			n.takeEntry(e, true)
		}
	case msgDigest:
		var d Digest
		if json.Unmarshal(body, &d) == nil {
			n.takeDigest(d)
		}
	case msgWant:
		var w wantMsg
		if json.Unmarshal(body, &w) == nil {
			n.answer(w)
		}
	case msgItem:
		var it Item
		if json.Unmarshal(body, &it) == nil {
			n.takeItem(it, true)
		}
	case msgWantH:
		var w wantHostsMsg
		if json.Unmarshal(body, &w) == nil {
			n.answerHosts(w)
		}
	case msgHost:
		var m hostItemsMsg
		if json.Unmarshal(body, &m) == nil {
			n.takeHostItems(m)
		}
	case msgBatch:
		var bm batchMsg
		if json.Unmarshal(body, &bm) == nil {
			for _, e := range bm.Entries {
				n.takeEntry(e, false)
			}
		}
	case msgSum:
		var m sumMsg
		if json.Unmarshal(body, &m) == nil {
			n.takeSum(m)
		}
	case msgFenceBeat, msgFenceReply:
		if fz := n.fencer.Load(); fz != nil {
			fz.take(b)
		}
	case msgDeleted:
		var d Deletion
		if json.Unmarshal(body, &d) == nil && d.Host != "" {
			n.takeDeletion(d, true)
		}
	}
}

// localState is this host's side of a push/pull: the digests of all it
// has.
func (n *Node) localState() []byte {
	deleted, _ := n.state.deletions()
	st := digestState{From: n.cfg.Name, Entries: n.catalog.Digests(), Hosts: n.state.digests(), Deleted: deleted}
	b, _ := json.Marshal(st)
	return b
}

// mergeState takes the other side of a push/pull: removals of entries it
// can apply at once, the entries it lacks it asks the other side for, and
// the items of each host whose digest differs it asks that host for.
func (n *Node) mergeState(b []byte) {
	var st digestState
	if json.Unmarshal(b, &st) != nil || st.From == n.cfg.Name {
		return
	}
	// Deletions first: the digests of deleted hosts are then not asked for.
	for _, d := range st.Deleted {
		if d.Host != "" {
			n.takeDeletion(d, false)
		}
	}
	var names []string
	var wantedUnits []Digest
	for _, d := range st.Entries {
		if !d.Newer(n.catalogEntry(d.Name)) {
			continue
		}
		if d.Deleted {
			n.takeEntry(Entry{Name: d.Name, Stamp: d.Stamp, Origin: d.Origin, Deleted: true}, false)
		} else {
			names = append(names, d.Name)
			wantedUnits = append(wantedUnits, d)
		}
	}
	if len(wantedUnits) > 0 {
		n.mu.Lock()
		if n.wantedUnits == nil {
			n.wantedUnits = map[string]Digest{}
		}
		for _, d := range wantedUnits {
			n.wantedUnits[d.Name] = d
		}
		n.mu.Unlock()
	}
	var hosts []string
	var wanted []hostDigest
	for _, d := range st.Hosts {
		if d.Host != n.cfg.Name && n.state.wants(d) {
			hosts = append(hosts, d.Host)
			wanted = append(wanted, d)
		}
	}
	if len(wanted) > 0 {
		n.mu.Lock()
		if n.wanted == nil {
			n.wanted = map[string]hostDigest{}
		}
		for _, d := range wanted {
			n.wanted[d.Host] = d
		}
		n.mu.Unlock()
	}
	if len(names) > 0 {
		n.ask(st.From, names)
	}
	if len(hosts) > 0 {
		n.fetchHosts(hosts, st.From)
	}
}

// catalogEntry is the catalog's entry of name, or nil.
func (n *Node) catalogEntry(name string) *Entry {
	if e, ok := n.catalog.Get(name); ok {
		return &e
	}
	return nil
}

// tombstoneTTL is how long a deleted unit's tombstone is kept: a host
// away longer than that may bring the unit back when it returns.
const tombstoneTTL = 7 * 24 * time.Hour

// itemTombstoneTTL is how long a removed item (an instance that went) is
// remembered: far longer than gossip takes to reach every host, and
// short enough that a host making thousands of short-lived job attempts
// does not pile them up.
const itemTombstoneTTL = 10 * time.Minute

// sumEvery is how often a host broadcasts its catalog's sum.
func sumEvery(p Profile) time.Duration {
	switch p {
	case ProfileLocal:
		return 500 * time.Millisecond
	case ProfileWAN:
		return 15 * time.Second
	}
	return 2 * time.Second
}

// catalogSum adds the catalog up, with the deletions of hosts: the hash
// of their digests.
func (n *Node) catalogSum() string {
	h := sha256.New()
	for _, d := range n.catalog.Digests() {
		fmt.Fprintf(h, "%s\x00%s\x00%d\x00%d\x00%s\x00%t\n", d.Name, d.Version, d.Stamp.Wall, d.Stamp.Logical, d.Origin, d.Deleted)
	}
	deleted, _ := n.state.deletions()
	for _, d := range deleted {
		fmt.Fprintf(h, "host\x00%s\x00%d\x00%d\x00%s\n", d.Host, d.Stamp.Wall, d.Stamp.Logical, d.Origin)
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}

// summer broadcasts this host's catalog sum every sumEvery until the Node
// stops.
func (n *Node) summer() {
	every := sumEvery(n.cfg.Profile)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
			msg := encode(msgSum, sumMsg{From: n.cfg.Name, Addr: n.Addr(), Sum: n.catalogSum(), Items: n.state.digest(n.cfg.Name)})
			n.enqueue(broadcast{name: "sum/" + n.cfg.Name, msg: msg})
		}
	}
}

// takeOwnDigest asks host for its items when the digest it gave of them
// says this host's copy lacks some: unless this host has not heard of
// host's latest change yet and its broadcast may still be on the way
// (the next sum tells), and at most once every sumEvery. That is the
// fine repair; after a burst (a fleet booting), the push/pulls ask for
// all that differs at once, and a host answering its sums in a burst
// would load every host with fetches.
func (n *Node) takeOwnDigest(host string, d hostDigest) {
	if d.Host != host {
		return // a host before digests were in the sums
	}
	if !n.state.wants(d) {
		return
	}
	mine := n.state.digest(host)
	every := sumEvery(n.cfg.Profile)
	if mine.Last != d.Last && time.Since(time.Unix(0, d.Last.Wall)) < every {
		return
	}
	n.mu.Lock()
	due := time.Since(n.lastFetch) >= every
	if due {
		n.lastFetch = time.Now()
	}
	n.mu.Unlock()
	if due {
		n.fetchHosts([]string{host}, host)
	}
}

// takeSum starts a state exchange with a host whose catalog adds up
// differently, at most one every sumEvery, and asks a host for its items
// when this host's copy lacks some.
func (n *Node) takeSum(m sumMsg) {
	if m.From == n.cfg.Name {
		return
	}
	n.takeOwnDigest(m.From, m.Items)
	if m.Sum == n.catalogSum() {
		return
	}
	n.mu.Lock()
	due := time.Since(n.lastRepair) >= sumEvery(n.cfg.Profile)
	if due {
		n.lastRepair = time.Now()
	}
	closed := n.closed
	n.mu.Unlock()
	if due && !closed {
		go n.ml.Join([]string{m.Addr}) // a join is a push/pull with that host
	}
}
