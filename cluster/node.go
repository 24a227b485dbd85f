package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/tendhq/tend/units"
)

// Status is whether a host takes work.
type Status uint8

// The statuses, as `tend get hosts` shows them.
const (
	Ready    Status = iota + 1 // it answers gossip
	NotReady                   // it stopped answering: declared dead
	Left                       // it said it was leaving, then left
)

func (s Status) String() string {
	switch s {
	case Ready:
		return "Ready"
	case NotReady:
		return "NotReady"
	case Left:
		return "Left"
	}
	return "Unknown"
}

// Host is one host of the cluster as this one knows it.
type Host struct {
	Name string
	Addr string // gossip address, host:port
	// API is the address of its inter-host API, host:port; "" when it
	// serves none.
	API     string
	Labels  units.Labels
	Status  Status
	Version string
	Started time.Time
	// Since is when this host last saw Status change.
	Since time.Time

	overflow bool  // its labels are its labelsKey item
	life     Stamp // its agent's life, from its metadata (deletion.go)
}

// A Node is this host's member of the cluster: memberlist with tend's
// delegate. It knows every host with its labels and status, tells the
// others this host's, says so before it leaves (memberlist alone cannot
// tell leaving from dying), and keeps joining the peers it has seen (after
// memberlist forgets a dead peer, the two sides of a healed partition
// never merge again on their own, memberlist#222).
//
// Its methods are safe for concurrent use. Close ends everything it
// started.
type Node struct {
	cfg Config
	log *slog.Logger
	ml  *memberlist.Memberlist
	// addr is where the others reach this host, read once: memberlist
	// rewrites its LocalNode under its own lock on every UpdateNode.
	addr  string
	queue *memberlist.TransmitLimitedQueue
	peers *peerBook
	// keyring holds the gossip keys; nil when gossip is not encrypted.
	keyring *memberlist.Keyring

	clock          *HLC
	catalog        *Catalog
	state          *hostState
	conflicts      chan Conflict
	catalogChanged chan struct{}
	itemsChanged   chan struct{}
	saveCatalog    chan struct{} // the catalog file (or the deleted hosts') is behind
	// savedDeletions is the deletions' count of changes last written;
	// the saver's (loadDeletions' before it starts).
	savedDeletions uint64

	mu      sync.Mutex
	hosts   map[string]*Host
	leaving map[string]time.Time // hosts that said they leave, and when
	meta    []byte               // this host's node meta
	labels  units.Labels
	// life is this host's agent's life (deletion.go): a stamp taken when
	// it started, and again when it refuted its deletion.
	life   Stamp
	closed bool
	// lastRepair is when a catalog sum last started a state exchange.
	lastRepair time.Time
	// lastFetch is when a host's sum last made this one ask for its items.
	lastFetch time.Time
	// wanted are the hosts whose items a push/pull showed this host
	// lacks, with the digest it showed: CaughtUp until it has them.
	wanted map[string]hostDigest
	// wantedUnits are the catalog's entries a push/pull showed newer
	// elsewhere, likewise.
	wantedUnits map[string]Digest

	// fencer, when not nil, takes the fence's messages (fencer.go).
	fencer atomic.Pointer[Fencer]

	changed chan struct{}
	stop    chan struct{}
	done    chan struct{}
	saved   chan struct{} // closed when the saver has ended
	summed  chan struct{} // closed when the summer has ended
	// joined is closed once the first join has succeeded, or at once
	// when there is nobody to join.
	joined     chan struct{}
	joinedOnce sync.Once
	stopOnce   sync.Once
	once       sync.Once
}

// Messages between tend's nodes, each a type byte and a payload.
const (
	msgLeaving byte = 'L' // payload: the host's name
)

// meta is what a host tells the others in memberlist's node metadata,
// which is at most memberlist.MetaMaxSize (512) bytes.
type meta struct {
	Version string `json:"v,omitempty"`
	Started int64  `json:"s,omitempty"` // Unix ms
	// API is the inter-host API's port, ":7947", at the gossip IP.
	API    string       `json:"a,omitempty"`
	Labels units.Labels `json:"l,omitempty"`
	// Overflow: the labels did not fit; they are the host's state item
	// labelsKey instead.
	Overflow bool `json:"lx,omitempty"`
	// Life is the agent's life (deletion.go).
	Life Stamp `json:"g,omitzero"`
}

// labelsKey is the host-state item that carries labels too many for the
// metadata.
const labelsKey = "labels"

// encodeMeta makes the metadata, with the labels in it when they fit and
// overflow set when they do not: nothing is ever cut short.
func encodeMeta(version, api string, started time.Time, life Stamp, labels units.Labels) (b []byte, overflow bool, err error) {
	m := meta{Version: version, API: api, Started: started.UnixMilli(), Life: life, Labels: labels}
	if b, err = json.Marshal(m); err != nil || len(b) <= memberlist.MetaMaxSize {
		return b, false, err
	}
	m.Labels, m.Overflow = nil, true
	b, err = json.Marshal(m)
	if err == nil && len(b) > memberlist.MetaMaxSize {
		err = fmt.Errorf("gossip metadata of %d bytes, at most %d", len(b), memberlist.MetaMaxSize)
	}
	return b, true, err
}

// metaAPI is how the metadata gives the inter-host API's address: its
// port only. The peers call it at the host's gossip IP, never at an
// address a host names itself: a member that holds the gossip key but no
// certificate cannot point the others' calls anywhere else.
func metaAPI(addr string) (string, error) {
	if addr == "" {
		return "", nil
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("cluster.api %q: %w", addr, err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return "", fmt.Errorf("cluster.api %q: bad port", addr)
	}
	return ":" + port, nil
}

// apiAddr is a host's API address from its metadata's port and its
// gossip IP; "" when the metadata gives no port.
func apiAddr(api string, gossipIP net.IP) string {
	port, ok := strings.CutPrefix(api, ":")
	if !ok || port == "" || gossipIP == nil {
		return ""
	}
	return net.JoinHostPort(gossipIP.String(), port)
}

// New starts this host's member and begins joining cfg.Join and the
// peers seen before, in the background.
func New(cfg Config) (*Node, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Name == "" {
		return nil, errors.New("cluster: no host name")
	}
	if cfg.Started.IsZero() {
		cfg.Started = time.Now()
	}
	bindHost, bindPort, err := splitHostPort("cluster.bind", cfg.Bind)
	if err != nil {
		return nil, err
	}
	if len(cfg.Keys) == 0 && !loopback(bindHost) && !cfg.AllowPlaintext {
		return nil, fmt.Errorf("cluster.bind %s: %w", cfg.Bind, errPlaintext)
	}
	if len(cfg.ClusterName) > 255 {
		return nil, fmt.Errorf("cluster name: %d bytes, at most 255", len(cfg.ClusterName))
	}
	api, err := metaAPI(cfg.API)
	if err != nil {
		return nil, err
	}
	book, err := openPeerBook(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	n := &Node{
		cfg:     cfg,
		log:     cfg.Log,
		peers:   book,
		hosts:   map[string]*Host{},
		leaving: map[string]time.Time{},
		labels:  cfg.Labels.Clone(),
		changed: make(chan struct{}, 1),
		stop:    make(chan struct{}),

		state:          newHostState(),
		conflicts:      make(chan Conflict, 16),
		catalogChanged: make(chan struct{}, 1),
		itemsChanged:   make(chan struct{}, 1),
		saveCatalog:    make(chan struct{}, 1),
		done:           make(chan struct{}),
		saved:          make(chan struct{}),
		summed:         make(chan struct{}),
		joined:         make(chan struct{}),
	}

	n.clock = NewHLC(nil)
	n.catalog = NewCatalog(cfg.Name, n.clock)
	if err := n.loadCatalog(); err != nil {
		return nil, err
	}
	if err := n.loadDeletions(); err != nil {
		return nil, err
	}
	// After every stamp on disk: a deletion of this host made before it
	// stopped does not cover the life it starts now.
	n.life = n.clock.Now()
	m, overflow, err := encodeMeta(cfg.Version, api, cfg.Started, n.life, cfg.Labels)
	if err != nil {
		return nil, err
	}
	n.meta = m

	mc := cfg.Profile.memberlistConfig()
	mc.Name = cfg.Name
	mc.BindAddr, mc.BindPort = bindHost, bindPort
	if cfg.Advertise != "" {
		if mc.AdvertiseAddr, mc.AdvertisePort, err = splitHostPort("cluster.advertise", cfg.Advertise); err != nil {
			return nil, err
		}
	}
	mc.Label = cfg.ClusterName
	if len(cfg.Keys) > 0 {
		kr, err := memberlist.NewKeyring(cfg.Keys, cfg.Keys[0])
		if err != nil {
			return nil, fmt.Errorf("gossip keys: %w", err)
		}
		mc.Keyring = kr
		n.keyring = kr
		mc.GossipVerifyIncoming, mc.GossipVerifyOutgoing = true, true
	}
	if cfg.tune != nil {
		cfg.tune(mc)
	}
	mc.Delegate = delegate{n}
	mc.Events = events{n}
	mc.Logger = log.New(slogWriter{cfg.Log}, "", 0)
	n.queue = &memberlist.TransmitLimitedQueue{
		NumNodes:       func() int { return n.numMembers() },
		RetransmitMult: mc.RetransmitMult,
	}
	if n.ml, err = memberlist.Create(mc); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	n.addr = n.ml.LocalNode().Address()
	if overflow {
		n.setLabelsItem(cfg.Labels)
	}
	go n.joiner()
	go n.saver()
	go func() { n.summer(); close(n.summed) }()
	return n, nil
}

func (n *Node) numMembers() int {
	if n.ml == nil {
		return 1
	}
	return n.ml.NumMembers()
}

// Addr is the address the other hosts reach this one at.
func (n *Node) Addr() string { return n.addr }

// CaughtUp reports whether this host has every host's items as the
// push/pulls it took part in showed them (on joining, above all): an
// agent that plans before would not know what the other hosts run.
func (n *Node) CaughtUp() bool {
	// Copies, for the state and the catalog have locks of their own.
	n.mu.Lock()
	wanted, units := maps.Clone(n.wanted), maps.Clone(n.wantedUnits)
	n.mu.Unlock()
	var have []string
	for h, d := range wanted {
		if !n.state.wants(d) {
			have = append(have, h)
		}
	}
	var haveUnits []string
	for name, d := range units {
		if !d.Newer(n.catalogEntry(name)) {
			haveUnits = append(haveUnits, name)
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, h := range have {
		if d, ok := n.wanted[h]; ok && d == wanted[h] {
			delete(n.wanted, h)
		}
	}
	for _, name := range haveUnits {
		if d, ok := n.wantedUnits[name]; ok && d == units[name] {
			delete(n.wantedUnits, name)
		}
	}
	return len(n.wanted) == 0 && len(n.wantedUnits) == 0
}

// Joined is closed once this host has joined a peer (or found nobody to
// join). A join exchanges state with the peer; what this host then asks
// for arrives shortly after.
func (n *Node) Joined() <-chan struct{} { return n.joined }

// Self is this host's name.
func (n *Node) Self() string { return n.cfg.Name }

// Hosts returns every host known, this one included, sorted by name.
func (n *Node) Hosts() []Host {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]Host, 0, len(n.hosts)+1)
	for _, h := range n.hosts {
		c := *h
		if c.overflow && c.Name != n.cfg.Name {
			// Until the item comes, the labels it had before.
			if it, ok := n.state.get(c.Name, labelsKey); ok && it.Data != nil {
				var l units.Labels
				if json.Unmarshal(it.Data, &l) == nil {
					c.Labels = l
				}
			}
		}
		out = append(out, c)
	}
	if _, ok := n.hosts[n.cfg.Name]; !ok {
		out = append(out, Host{Name: n.cfg.Name, Labels: n.labels, Status: Ready, Version: n.cfg.Version, Started: n.cfg.Started})
	}
	slices.SortFunc(out, func(a, b Host) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Changed receives (coalesced, never blocking the Node) after Hosts'
// answer changed.
func (n *Node) Changed() <-chan struct{} { return n.changed }

func (n *Node) notify() {
	select {
	case n.changed <- struct{}{}:
	default:
	}
}

// SetLabels sets this host's labels and tells the others. It does not
// wait for them to hear it.
func (n *Node) SetLabels(l units.Labels) error {
	api, _ := metaAPI(n.cfg.API) // New checked it
	n.mu.Lock()
	life := n.life
	n.mu.Unlock()
	m, overflow, err := encodeMeta(n.cfg.Version, api, n.cfg.Started, life, l)
	if err != nil {
		return err
	}
	// The item before the metadata that points to it.
	if overflow {
		n.setLabelsItem(l)
	} else if _, ok := n.state.get(n.cfg.Name, labelsKey); ok {
		n.SetItem(labelsKey, nil)
	}
	n.mu.Lock()
	n.meta, n.labels = m, l.Clone()
	if h := n.hosts[n.cfg.Name]; h != nil {
		h.Labels = n.labels
	}
	n.mu.Unlock()
	n.notify()
	// UpdateNode waits up to its timeout for the broadcast to go out;
	// the change is known locally at once either way.
	go n.ml.UpdateNode(time.Second)
	return nil
}

func (n *Node) setLabelsItem(l units.Labels) {
	data, _ := json.Marshal(l)
	n.SetItem(labelsKey, data)
}

// Join joins the cluster through any of addrs, now; it returns how many
// answered. New already keeps joining Config.Join in the background.
func (n *Node) Join(addrs ...string) (int, error) { return n.ml.Join(addrs) }

// Leave tells the other hosts that this one is leaving (so they show it
// Left, not NotReady), then leaves, waiting up to timeout for the news to
// go out. The Node stops joining; Close it after.
func (n *Node) Leave(timeout time.Duration) error {
	n.stopJoining()
	msg := append([]byte{msgLeaving}, n.cfg.Name...)
	var wg sync.WaitGroup
	for _, h := range n.Hosts() {
		if h.Name == n.cfg.Name {
			continue
		}
		if to := n.member(h.Name); to != nil {
			wg.Go(func() { n.ml.SendReliable(to, msg) })
		}
	}
	wait := make(chan struct{})
	go func() { wg.Wait(); close(wait) }()
	select {
	case <-wait:
	case <-time.After(timeout):
	}
	return n.ml.Leave(timeout)
}

// Close stops the member at once, without saying goodbye (the others will
// declare it dead), and ends the Node's goroutines. Idempotent.
func (n *Node) Close() error {
	var err error
	n.once.Do(func() {
		n.stopJoining()
		err = n.ml.Shutdown()
		n.peers.save()
	})
	return err
}

// stopJoining ends the joiner and waits for it. Idempotent.
func (n *Node) stopJoining() {
	n.stopOnce.Do(func() {
		n.mu.Lock()
		n.closed = true
		n.mu.Unlock()
		close(n.stop)
		<-n.done
		<-n.saved
		<-n.summed
	})
}

// joiner joins Config.Join and the peers seen before until one answers,
// then keeps joining, every rejoinEvery, the seen peers that are not
// members now; and writes the peer book when it changed.
func (n *Node) joiner() {
	defer close(n.done)
	rejoin := rejoinEvery(n.cfg.Profile)
	wait := time.Duration(0)
	joined := false
	for {
		select {
		case <-n.stop:
			return
		case <-time.After(wait):
		}
		n.peers.save()
		if k := n.catalog.ForgetTombstones(time.Now(), tombstoneTTL); k > 0 {
			n.log.Debug("forgot tombstones of deleted units", "count", k)
		}
		if k := n.state.forgetDeletions(time.Now(), deletionTTL); k > 0 {
			n.log.Debug("forgot deletions of hosts", "count", k)
			signal(n.saveCatalog)
		}
		n.state.forgetTombstones(time.Now(), itemTombstoneTTL)
		addrs := n.rejoinAddrs(!joined)
		if len(addrs) > 0 {
			got, err := n.join(addrs)
			switch {
			case got > 0:
				if !joined {
					n.log.Info("joined the cluster", "host", n.cfg.Name, "answered", got, "of", len(addrs))
				}
				joined = true
				n.joinedOnce.Do(func() { close(n.joined) })
			case !joined:
				n.log.Warn("no peer answered; trying again", "peers", addrs, "err", err)
			}
		} else if len(n.cfg.Join) == 0 {
			joined = true // nobody to join: a cluster of one, until someone joins it
			n.joinedOnce.Do(func() { close(n.joined) })
		}
		switch {
		case !joined && wait < rejoin:
			wait = min(max(2*wait, 250*time.Millisecond), rejoin)
		default:
			wait = rejoin
		}
	}
}

// join joins each of addrs at the same time, so that peers that do not
// answer cost one TCP timeout in all, not one each, and returns how many
// answered.
func (n *Node) join(addrs []string) (int, error) {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		got  int
		errs []error
	)
	for _, a := range addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, err := n.ml.Join([]string{a})
			mu.Lock()
			defer mu.Unlock()
			got += k
			if err != nil {
				errs = append(errs, err)
			}
		}()
	}
	wg.Wait()
	return got, errors.Join(errs...)
}

// maxRejoin bounds how many gone peers one round of the joiner tries:
// one that answers is enough to merge the two sides of a healed
// partition, and a fleet with many dead hosts must not open a connection
// to each of them every rejoinEvery.
const maxRejoin = 4

// rejoinAddrs are the addresses to join: Config.Join while not joined,
// and up to maxRejoin of the seen peers that are not alive members now,
// picked at random so that every one is tried in time.
func (n *Node) rejoinAddrs(first bool) []string {
	alive := map[string]bool{}
	for _, m := range n.ml.Members() {
		alive[m.Name] = true
	}
	seen := map[string]bool{}
	var out []string
	add := func(a string) {
		if a != "" && !seen[a] && a != n.Addr() {
			seen[a] = true
			out = append(out, a)
		}
	}
	if first {
		for _, a := range n.cfg.Join {
			add(a)
		}
	}
	var gone []string
	for name, addr := range n.peers.list() {
		if !alive[name] && name != n.cfg.Name {
			gone = append(gone, addr)
		}
	}
	rand.Shuffle(len(gone), func(a, b int) { gone[a], gone[b] = gone[b], gone[a] })
	for _, a := range gone[:min(len(gone), maxRejoin)] {
		add(a)
	}
	return out
}

// rejoinEvery is how often a Node tries peers that are gone. memberlist
// itself never calls on a host it declared dead once its gossip to the
// dead is over (and sends no gossip when it has no news), so the two
// sides of a healed partition find each other only through this: on a
// LAN every 2 s, so that a fleet is whole again well within the 10 s
// that a heal may take (README); on a WAN every 30 s, as serf
// reconnects.
func rejoinEvery(p Profile) time.Duration {
	switch p {
	case ProfileLocal:
		return time.Second
	case ProfileLAN:
		return 2 * time.Second
	}
	return 30 * time.Second
}

// seen records what memberlist says of a host. Called from memberlist's
// goroutines; must not block.
func (n *Node) seen(node *memberlist.Node, status Status) {
	var m meta
	if len(node.Meta) > 0 {
		if err := json.Unmarshal(node.Meta, &m); err != nil {
			n.log.Warn("a host's gossip metadata does not parse", "host", node.Name, "err", err)
		}
	}
	if node.Name != n.cfg.Name {
		n.clock.Observe(m.Life) // a deletion made after this is later
	}
	now := time.Now()
	n.mu.Lock()
	// Under n.mu, as takeDeletion deletes: one cannot come between the
	// other's look and its change.
	if d, ok := n.state.deletion(node.Name); ok && node.Name != n.cfg.Name && d.covers(m.Life) {
		// A life of a deleted host from before its deletion: the dead
		// node memberlist keeps, or a peer that had not declared it dead
		// yet (deletion.go).
		n.mu.Unlock()
		return
	}
	h := n.hosts[node.Name]
	if h == nil {
		h = &Host{Name: node.Name}
		n.hosts[node.Name] = h
	}
	if status == NotReady {
		if _, ok := n.leaving[node.Name]; ok {
			status = Left
		}
	} else {
		delete(n.leaving, node.Name)
	}
	if h.Status != status {
		h.Since = now
	}
	h.Status = status
	h.Addr = node.Address()
	if status == Ready && len(node.Meta) > 0 {
		h.Version, h.Started, h.overflow, h.life = m.Version, time.UnixMilli(m.Started), m.Overflow, m.Life
		h.API = apiAddr(m.API, node.Addr)
		if !m.Overflow {
			h.Labels = m.Labels
		}
	}
	if node.Name == n.cfg.Name {
		h.Labels = n.labels
	}
	n.mu.Unlock()
	if status == Ready && node.Name != n.cfg.Name {
		n.peers.note(node.Name, node.Address(), now)
	}
	n.notify()
}

// leavingMsg takes a host's word that it leaves.
func (n *Node) leavingMsg(name string) {
	n.mu.Lock()
	n.leaving[name] = time.Now()
	if h := n.hosts[name]; h != nil && h.Status == NotReady {
		h.Status, h.Since = Left, time.Now()
	}
	n.mu.Unlock()
	n.notify()
}

// delegate is memberlist's Delegate for a Node.
type delegate struct{ n *Node }

func (d delegate) NodeMeta(limit int) []byte {
	d.n.mu.Lock()
	defer d.n.mu.Unlock()
	return slices.Clone(d.n.meta)
}

func (d delegate) NotifyMsg(b []byte) { d.n.handle(b) }

func (d delegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.n.queue.GetBroadcasts(overhead, limit)
}

func (d delegate) LocalState(join bool) []byte            { return d.n.localState() }
func (d delegate) MergeRemoteState(buf []byte, join bool) { d.n.mergeState(buf) }

// events is memberlist's EventDelegate for a Node.
type events struct{ n *Node }

func (e events) NotifyJoin(node *memberlist.Node)   { e.n.seen(node, Ready) }
func (e events) NotifyUpdate(node *memberlist.Node) { e.n.seen(node, Ready) }
func (e events) NotifyLeave(node *memberlist.Node)  { e.n.seen(node, NotReady) }

// slogWriter turns memberlist's log lines ("[DEBUG] memberlist: ...")
// into slog records at their level.
type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	level := slog.LevelInfo
	for prefix, l := range map[string]slog.Level{"[DEBUG]": slog.LevelDebug, "[INFO]": slog.LevelInfo, "[WARN]": slog.LevelWarn, "[ERR]": slog.LevelError} {
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			line, level = strings.TrimSpace(rest), l
			break
		}
	}
	w.log.Log(context.Background(), level, line, "from", "memberlist")
	return len(p), nil
}

var _ io.Writer = slogWriter{}
