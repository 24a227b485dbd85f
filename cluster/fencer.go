package cluster

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tendhq/tend/internal/atomicfile"
)

// The fence at work (fence.go has the rule and why it is safe): a
// Fencer heartbeats the voters for the exclusive units this host wants,
// answers heartbeats when this host is a voter, keeps on disk what the
// rule says must survive a restart, and tells the supervisor, through
// Lease, whether it may run each unit now.
//
// Transport: memberlist's best-effort packets (UDP, encrypted and
// authenticated with the gossip key like the rest of gossip), one
// heartbeat per voter per Heartbeat carrying every unit this host wants,
// one reply per heartbeat. A lost packet is a heartbeat not acknowledged,
// which the rule tolerates: Hold covers four of them. A host that holds
// the gossip key is trusted to say who it is; one that does not cannot
// send a packet the others read. A packet replayed by someone who cannot
// read it (memberlist has no replay window) can make a voter refuse a
// claimant for longer, never promise what it must not: a reply is taken
// only for a heartbeat this process sent, at the time it sent it, and a
// voter promises each epoch once.
//
// State on disk, StateDir/fence.json, written and synced before it is
// acted on: as a voter, the epoch and holder it promised each unit (the
// rule's VoterState); as a claimant, the highest epoch it claimed for each
// unit and whether it won it, so that a restarted agent neither claims an
// epoch twice nor waits again for a lease that is still its own.

// fenceFile is the name of the fence's state file in FencerConfig.StateDir.
const fenceFile = "fence.json"

// Messages of the fence.
const (
	msgFenceBeat  byte = 'F' // fenceBeat: a heartbeat to a voter
	msgFenceReply byte = 'V' // fenceReply: a voter's answer
)

// fencePacketBudget bounds the payload of one fence message, below
// memberlist's UDPBufferSize (1400) with room for its framing, the label
// and the encryption.
const fencePacketBudget = 1100

// maxFenceInbox bounds the fence messages waiting for the Fencer; more
// are dropped, as the network would.
const maxFenceInbox = 1024

// sentKept is how many of its latest heartbeats a Fencer remembers the
// send time of: replies to older ones are ignored (at a heartbeat of
// 200 ms, 6.4 s: long after their acknowledgements stopped mattering).
const sentKept = 32

type fenceBeat struct {
	From  string      `json:"f"`
	Boot  uint64      `json:"b"` // the sending process's random id
	Seq   uint64      `json:"s"`
	VH    string      `json:"vh"` // hash of the sender's voter set
	Units []fenceWant `json:"u"`
}

type fenceWant struct {
	Unit  string `json:"n"`
	Epoch uint64 `json:"e"`
}

type fenceReply struct {
	Voter string      `json:"f"`
	Boot  uint64      `json:"b"` // the heartbeat's
	Seq   uint64      `json:"s"`
	Votes []fenceVote `json:"v"`
}

type fenceVote struct {
	Unit string `json:"n"`
	Vote Vote   `json:"v"`
}

// FencerConfig configures a Fencer.
type FencerConfig struct {
	Params FenceParams
	// Voters is the fleet's voter set: every host must give the same.
	Voters []string
	// StateDir holds fence.json. Required.
	StateDir string
	// Exclusive reports whether unit is an exclusive unit of the fleet's
	// catalog: a voter answers for those only, which bounds what a
	// heartbeat can make it keep.
	Exclusive func(unit string) bool
	// Now is CLOCK_BOOTTIME (supervisor.BootTime). Required.
	Now func() time.Duration
	Log *slog.Logger

	// cut, when set, drops the fence's packets from one host to another
	// (tests: the partitions of fence_sim_test.go on real nodes).
	cut func(from, to string) bool
}

// HostLease is this host's standing for one exclusive unit, as
// Fencer.Lease reports it.
type HostLease struct {
	// Held says this host may run the unit's instance now, under Epoch,
	// until Until (CLOCK_BOOTTIME), when it must stop it unless a later
	// Lease moved Until on.
	Held  bool
	Epoch uint64
	Until time.Duration
	// Since is when this host began to hold it under Epoch (CLOCK_BOOTTIME,
	// as Until): the moment its instance may have started, which is
	// later than the heartbeat Until counts from.
	Since time.Duration
	// Status says, when not Held, what the host waits for.
	Status string
}

type voterEntry struct {
	Epoch  uint64 `json:"epoch"`
	Holder string `json:"holder"`
}

type claimEntry struct {
	Epoch uint64 `json:"epoch"` // the highest this host claimed
	Won   bool   `json:"won"`   // it won that epoch (MayStart said so)
}

type fenceState struct {
	Voters map[string]voterEntry `json:"voters"`
	Claims map[string]claimEntry `json:"claims"`
}

// claim is a unit this host wants: its claim, or its lease once won.
type claim struct {
	epoch   uint64
	won     bool
	begun   time.Duration // when this epoch's claim began
	acks    map[string]time.Duration
	reports map[string]SilenceReport
	// heard is the highest epoch a voter said it had promised to
	// another host, and to whom.
	heard       uint64
	heardHolder string
	next        time.Duration // when to decide again (0: on news only)
	// quiet is, once this host knows a later epoch promised to another,
	// until when it heartbeats nothing for the unit (yield).
	quiet time.Duration
	pub   HostLease
}

type sentBeat struct {
	seq    uint64
	at     time.Duration
	epochs map[string]uint64
}

// Fencer is this host's part of the fence. Safe for concurrent use.
type Fencer struct {
	n       *Node
	fence   *Fence
	cfg     FencerConfig
	self    string
	vh      string
	boot    uint64
	started time.Duration
	path    string
	log     *slog.Logger

	inbox   chan []byte
	changed chan struct{}
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once

	mu       sync.Mutex
	disk     fenceState
	voters   map[string]VoterState
	claims   map[string]*claim
	releases map[string]*FenceRelease
	sent     []sentBeat // ring, the latest sentKept
	seq      uint64
	warned   map[string]time.Duration // mismatched voter sets, by host: when last logged
}

// NewFencer starts the fence of node with cfg: it answers heartbeats
// from now on, and heartbeats for what Want names. Close stops it.
func NewFencer(n *Node, cfg FencerConfig) (*Fencer, error) {
	f, err := NewFence(cfg.Params, cfg.Voters)
	if err != nil {
		return nil, err
	}
	if cfg.StateDir == "" {
		return nil, errors.New("fence: no state directory")
	}
	if cfg.Now == nil {
		return nil, errors.New("fence: no clock")
	}
	if cfg.Exclusive == nil {
		cfg.Exclusive = func(string) bool { return false }
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	var b [8]byte
	rand.Read(b[:])
	fz := &Fencer{
		n: n, fence: f, cfg: cfg, self: n.Self(), vh: voterHash(f.Voters()),
		boot: binary.BigEndian.Uint64(b[:]), started: cfg.Now(),
		path: filepath.Join(cfg.StateDir, fenceFile), log: cfg.Log,
		inbox: make(chan []byte, maxFenceInbox), changed: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{}),
		voters: map[string]VoterState{}, claims: map[string]*claim{},
		releases: map[string]*FenceRelease{}, warned: map[string]time.Duration{},
	}
	if err := fz.load(); err != nil {
		return nil, err
	}
	if !n.fencer.CompareAndSwap(nil, fz) {
		return nil, errors.New("fence: the node has a fencer already")
	}
	go fz.run()
	return fz, nil
}

// voterHash names a voter set in a few bytes, so that hosts configured
// with different sets find out.
func voterHash(voters []string) string {
	h := sha256.Sum256([]byte(strings.Join(voters, "\n")))
	return hex.EncodeToString(h[:6])
}

func (fz *Fencer) load() error {
	fz.disk = fenceState{Voters: map[string]voterEntry{}, Claims: map[string]claimEntry{}}
	data, err := os.ReadFile(fz.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("fence state: %w", err)
	}
	var st fenceState
	if err := json.Unmarshal(data, &st); err != nil {
		// A voter that forgot its promises could promise an epoch twice:
		// refuse to run the fence rather than guess.
		return fmt.Errorf("fence state %s does not parse (%v): remove it only if this host is not a voter or every exclusive unit is stopped", fz.path, err)
	}
	maps.Copy(fz.disk.Voters, st.Voters)
	maps.Copy(fz.disk.Claims, st.Claims)
	for u, v := range fz.disk.Voters {
		fz.voters[u] = VoterState{Epoch: v.Epoch, Holder: v.Holder, LastAck: fz.started}
	}
	return nil
}

// save writes the state the rule needs kept, synced. Under mu.
func (fz *Fencer) save() error {
	data, err := json.Marshal(fz.disk)
	if err != nil {
		return err
	}
	return atomicfile.Write(fz.path, data, 0o600)
}

// Fence returns the rule the Fencer follows.
func (fz *Fencer) Fence() *Fence { return fz.fence }

// Changed receives (coalesced) after some unit's Lease changed.
func (fz *Fencer) Changed() <-chan struct{} { return fz.changed }

// Close stops heartbeating and answering. The leases it held lapse at
// their Until. Idempotent.
func (fz *Fencer) Close() {
	fz.once.Do(func() {
		close(fz.stop)
		<-fz.done
		fz.n.fencer.CompareAndSwap(fz, nil)
	})
}

// take is the Node's hand-off of a fence message, on memberlist's
// goroutine: it never blocks.
func (fz *Fencer) take(b []byte) {
	select {
	case fz.inbox <- slices.Clone(b): // memberlist reuses b
	default:
	}
}

// Want sets the exclusive units this host wants to run: it claims or
// holds each, and gives up every other. The supervisor keeps a unit
// wanted as long as an instance of it may run here, stopping included.
func (fz *Fencer) Want(units []string) {
	fz.mu.Lock()
	defer fz.mu.Unlock()
	now := fz.cfg.Now()
	want := make(map[string]bool, len(units))
	for _, u := range units {
		want[u] = true
		if fz.claims[u] == nil {
			fz.beginClaim(u, now)
		}
	}
	for u := range fz.claims {
		if !want[u] {
			delete(fz.claims, u)
			delete(fz.releases, u)
		}
	}
	fz.signal()
}

// beginClaim starts wanting u: with the epoch this host won before, when
// it did (its lease is back as soon as a quorum acknowledges it again),
// else with a new one. Under mu.
func (fz *Fencer) beginClaim(u string, now time.Duration) {
	if d, ok := fz.disk.Claims[u]; ok && d.Won {
		c := newClaim(d.Epoch, now)
		c.won = true
		fz.claims[u] = c
		fz.publish(u, c, now)
		return
	}
	fz.claimAbove(u, 0, now)
}

func newClaim(epoch uint64, now time.Duration) *claim {
	return &claim{epoch: epoch, begun: now, acks: map[string]time.Duration{}, reports: map[string]SilenceReport{}}
}

// claimAbove claims for u an epoch above floor, every epoch this host
// claimed, and every one it knows promised; persisted before it is sent.
// Under mu.
func (fz *Fencer) claimAbove(u string, floor uint64, now time.Duration) {
	e := max(floor, fz.disk.Claims[u].Epoch, fz.voters[u].Epoch) + 1
	prev := fz.disk.Claims[u]
	fz.disk.Claims[u] = claimEntry{Epoch: e}
	c := newClaim(e, now)
	if err := fz.save(); err != nil {
		fz.disk.Claims[u] = prev
		fz.log.Error("fence: cannot keep a new claim; not claiming", "unit", u, "err", err)
		c.epoch = 0
	}
	if old := fz.claims[u]; old != nil {
		c.heard, c.heardHolder = old.heard, old.heardHolder
	}
	fz.claims[u] = c
	fz.publish(u, c, now)
}

// Lease reports this host's standing for unit now.
func (fz *Fencer) Lease(unit string) HostLease {
	fz.mu.Lock()
	defer fz.mu.Unlock()
	c := fz.claims[unit]
	if c == nil {
		return HostLease{Status: "not claimed by this host"}
	}
	return c.pub
}

// Promised returns the epoch and holder this host, as a voter, has
// promised unit to; false when it is no voter or has promised nothing.
func (fz *Fencer) Promised(unit string) (FenceClaim, bool) {
	fz.mu.Lock()
	defer fz.mu.Unlock()
	st, ok := fz.voters[unit]
	if !ok || !fz.fence.IsVoter(fz.self) || st.Epoch == 0 {
		return FenceClaim{}, false
	}
	return FenceClaim{Host: st.Holder, Epoch: st.Epoch}, true
}

// Release is an operator's word that the host holding unit is down
// (tend fence release): this host, which must be claiming unit, counts
// that host as a voter silent since now, and still waits W. It returns
// the host released and its epoch.
func (fz *Fencer) Release(unit string) (FenceClaim, error) {
	fz.mu.Lock()
	defer fz.mu.Unlock()
	c := fz.claims[unit]
	if c == nil {
		return FenceClaim{}, fmt.Errorf("this host (%s) does not claim %s: release it on the host its slot is placed on", fz.self, unit)
	}
	if c.won && c.pub.Held {
		return FenceClaim{}, fmt.Errorf("this host (%s) holds %s already, at epoch %d", fz.self, unit, c.epoch)
	}
	held := FenceClaim{Host: c.heardHolder, Epoch: c.heard}
	if st := fz.voters[unit]; st.Epoch > held.Epoch && st.Holder != fz.self {
		held = FenceClaim{Host: st.Holder, Epoch: st.Epoch}
	}
	for _, r := range c.reports {
		if r.Prev.Epoch > held.Epoch && r.Prev.Host != fz.self {
			held = r.Prev
		}
	}
	if held.Host == "" || held.Host == fz.self {
		return FenceClaim{}, fmt.Errorf("no other host is known to hold %s: nothing to release", unit)
	}
	now := fz.cfg.Now()
	fz.releases[unit] = &FenceRelease{Unit: unit, Holder: held.Host, Epoch: held.Epoch, Received: now}
	fz.log.Warn("fence released by the operator", "unit", unit, "holder", held.Host, "epoch", held.Epoch)
	fz.recompute(unit, c, now)
	return held, nil
}

func (fz *Fencer) signal() {
	select {
	case fz.changed <- struct{}{}:
	default:
	}
}

func (fz *Fencer) run() {
	defer close(fz.done)
	tick := time.NewTicker(fz.fence.Params().Heartbeat)
	defer tick.Stop()
	wake := time.NewTimer(time.Hour)
	defer wake.Stop()
	fz.beat()
	for {
		select {
		case <-fz.stop:
			return
		case <-tick.C:
			fz.beat()
		case <-wake.C:
		case b := <-fz.inbox:
			fz.handle(b)
		}
		fz.mu.Lock()
		now := fz.cfg.Now()
		next := time.Duration(0)
		for u, c := range fz.claims {
			fz.recompute(u, c, now)
			for _, t := range []time.Duration{c.next, c.pub.Until} {
				if t > now && (next == 0 || t < next) {
					next = t
				}
			}
		}
		fz.mu.Unlock()
		if next > 0 {
			wake.Reset(next - now)
		}
	}
}

// beat sends one heartbeat to every voter, for every unit wanted.
func (fz *Fencer) beat() {
	fz.mu.Lock()
	now := fz.cfg.Now()
	fz.seq++
	sb := sentBeat{seq: fz.seq, at: now, epochs: map[string]uint64{}}
	var wants []fenceWant
	for _, u := range slices.Sorted(maps.Keys(fz.claims)) {
		if c := fz.claims[u]; c.epoch > 0 && c.quiet <= now {
			wants = append(wants, fenceWant{Unit: u, Epoch: c.epoch})
			sb.epochs[u] = c.epoch
		}
	}
	if len(wants) == 0 {
		fz.mu.Unlock()
		return
	}
	if len(fz.sent) == sentKept {
		fz.sent = fz.sent[1:]
	}
	fz.sent = append(fz.sent, sb)
	beats := splitBeats(fenceBeat{From: fz.self, Boot: fz.boot, Seq: sb.seq, VH: fz.vh}, wants)
	var self []*fenceReply
	if fz.fence.IsVoter(fz.self) {
		for _, b := range beats {
			if r := fz.vote(b, now); r != nil {
				self = append(self, r)
			}
		}
		for _, r := range self {
			fz.takeReply(*r, now)
		}
	}
	fz.mu.Unlock()
	for _, v := range fz.fence.Voters() {
		if v == fz.self {
			continue
		}
		to := fz.n.member(v)
		if to == nil || fz.cfg.cut != nil && fz.cfg.cut(fz.self, v) {
			continue
		}
		for _, b := range beats {
			fz.n.ml.SendBestEffort(to, encode(msgFenceBeat, b))
		}
	}
}

// splitBeats cuts a heartbeat into packets within the budget.
func splitBeats(head fenceBeat, wants []fenceWant) []fenceBeat {
	var out []fenceBeat
	size := 0
	for _, w := range wants {
		n := len(w.Unit) + 30
		if len(out) == 0 || size+n > fencePacketBudget-100 {
			out = append(out, head)
			size = 0
		}
		last := &out[len(out)-1]
		last.Units = append(last.Units, w)
		size += n
	}
	return out
}

func (fz *Fencer) handle(b []byte) {
	if len(b) == 0 {
		return
	}
	switch b[0] {
	case msgFenceBeat:
		var m fenceBeat
		if json.Unmarshal(b[1:], &m) != nil || m.From == "" {
			return
		}
		fz.mu.Lock()
		now := fz.cfg.Now()
		fz.heardFrom(m.From)
		r := fz.vote(m, now)
		fz.mu.Unlock()
		if r == nil {
			return
		}
		if to := fz.n.member(m.From); to != nil && (fz.cfg.cut == nil || !fz.cfg.cut(fz.self, m.From)) {
			for _, p := range splitReply(*r) {
				fz.n.ml.SendBestEffort(to, encode(msgFenceReply, p))
			}
		}
	case msgFenceReply:
		var m fenceReply
		if json.Unmarshal(b[1:], &m) != nil {
			return
		}
		fz.mu.Lock()
		fz.heardFrom(m.Voter)
		fz.takeReply(m, fz.cfg.Now())
		fz.mu.Unlock()
	}
}

func splitReply(r fenceReply) []fenceReply {
	var out []fenceReply
	size := 0
	for _, v := range r.Votes {
		n := len(v.Unit) + len(v.Vote.Holder) + len(v.Vote.Prev.Host) + 160
		if len(out) == 0 || size+n > fencePacketBudget-100 {
			out = append(out, fenceReply{Voter: r.Voter, Boot: r.Boot, Seq: r.Seq})
			size = 0
		}
		last := &out[len(out)-1]
		last.Votes = append(last.Votes, v)
		size += n
	}
	return out
}

// heardFrom drops the operator's releases of host, which is up after
// all. Under mu.
func (fz *Fencer) heardFrom(host string) {
	for u, r := range fz.releases {
		if r.Holder == host {
			delete(fz.releases, u)
			fz.log.Warn("fence: heard from a released host; its release is void", "unit", u, "host", host)
		}
	}
}

// vote is the voter's answer to b, with what changed kept on disk
// first; nil when this host answers nothing. Under mu.
func (fz *Fencer) vote(b fenceBeat, now time.Duration) *fenceReply {
	if !fz.fence.IsVoter(fz.self) || !fz.fence.IsVoter(b.From) && !fz.mayClaim(b.From) {
		return nil
	}
	if b.VH != fz.vh {
		if t, ok := fz.warned[b.From]; !ok || now-t > time.Minute {
			fz.warned[b.From] = now
			fz.log.Error("fence: a host has another voter set; its heartbeats are not answered (every host must list the same cluster.voters)", "host", b.From)
		}
		return nil
	}
	r := &fenceReply{Voter: fz.self, Boot: b.Boot, Seq: b.Seq}
	before := map[string]VoterState{}
	for _, w := range b.Units {
		if !fz.cfg.Exclusive(w.Unit) {
			continue
		}
		st := fz.voters[w.Unit]
		if _, ok := fz.voters[w.Unit]; !ok {
			st.LastAck = fz.started
		}
		nst, v := fz.fence.Vote(st, b.From, w.Epoch, now)
		if nst.Epoch != st.Epoch || nst.Holder != st.Holder {
			if _, ok := before[w.Unit]; !ok {
				before[w.Unit] = st
			}
			fz.disk.Voters[w.Unit] = voterEntry{Epoch: nst.Epoch, Holder: nst.Holder}
		}
		fz.voters[w.Unit] = nst
		r.Votes = append(r.Votes, fenceVote{Unit: w.Unit, Vote: v})
	}
	if len(before) > 0 {
		if err := fz.save(); err != nil {
			// A promise not on disk must not be sent.
			for u, st := range before {
				fz.voters[u] = st
				fz.disk.Voters[u] = voterEntry{Epoch: st.Epoch, Holder: st.Holder}
			}
			fz.log.Error("fence: cannot keep a promise; not answering", "err", err)
			return nil
		}
	}
	if len(r.Votes) == 0 {
		return nil
	}
	return r
}

// mayClaim is whether a host that is no voter may claim: any member of
// the fleet. Under mu (reads the Node's hosts under its own lock).
func (fz *Fencer) mayClaim(host string) bool {
	fz.n.mu.Lock()
	defer fz.n.mu.Unlock()
	_, ok := fz.n.hosts[host]
	return ok
}

// takeReply counts a voter's answer to one of this process's heartbeats.
// Under mu.
func (fz *Fencer) takeReply(r fenceReply, now time.Duration) {
	if r.Boot != fz.boot || !fz.fence.IsVoter(r.Voter) {
		return
	}
	var sb *sentBeat
	for k := range fz.sent {
		if fz.sent[k].seq == r.Seq {
			sb = &fz.sent[k]
		}
	}
	if sb == nil {
		return
	}
	for _, fv := range r.Votes {
		c := fz.claims[fv.Unit]
		if c == nil || sb.epochs[fv.Unit] != c.epoch {
			continue
		}
		v := fv.Vote
		if v.Ack && sb.at > c.acks[r.Voter] {
			c.acks[r.Voter] = sb.at
		}
		if v.Promise && v.Epoch == c.epoch {
			c.reports[r.Voter] = SilenceReport{Voter: r.Voter, Epoch: c.epoch, Prev: v.Prev, Silence: v.Silence, Received: now}
		}
		if !v.Ack && v.Holder != "" && v.Holder != fz.self && v.Epoch > c.heard {
			c.heard, c.heardHolder = v.Epoch, v.Holder
		}
		fz.recompute(fv.Unit, c, now)
	}
}

// recompute applies the rule to c at now and publishes the result. Under
// mu.
func (fz *Fencer) recompute(u string, c *claim, now time.Duration) {
	if c.epoch == 0 {
		fz.claimAbove(u, c.heard, now) // the last try could not be kept; try again
		return
	}
	rel := fz.releases[u]
	var l Lease
	if c.won {
		l = fz.fence.Lease(c.epoch, c.ackList(), rel, now)
	}
	if !(c.won && l.Held) && c.heard > c.epoch {
		fz.yield(u, c, now)
		return
	}
	if !c.won {
		d := fz.fence.MayStart(Claimant{Host: fz.self, Epoch: c.epoch, Reports: slices.Collect(maps.Values(c.reports)), Acks: c.ackList(), Release: rel}, now)
		c.next = d.Next
		if d.Start {
			fz.disk.Claims[u] = claimEntry{Epoch: c.epoch, Won: true}
			if err := fz.save(); err != nil {
				fz.disk.Claims[u] = claimEntry{Epoch: c.epoch}
				fz.log.Error("fence: cannot keep a won lease; not starting", "unit", u, "err", err)
			} else {
				c.won = true
				l = fz.fence.Lease(c.epoch, c.ackList(), rel, now)
				fz.log.Info("fence: lease won", "unit", u, "epoch", c.epoch)
			}
		}
	}
	if c.won {
		if l.Held && fz.fence.BootWait(now) == 0 {
			since := now
			if c.pub.Held && c.pub.Epoch == c.epoch {
				since = c.pub.Since // held on, renewed
			}
			fz.set(u, c, HostLease{Held: true, Epoch: c.epoch, Until: l.Until, Since: since})
			return
		}
		c.next = max(c.next, now+fz.fence.BootWait(now))
	}
	fz.publish(u, c, now)
}

// yield is what a host does that does not hold u and has heard that a
// voter promised a later epoch to another host: its epoch cannot win that
// voter, and its heartbeats would only keep its own voter, if it is one,
// from acknowledging the other host. It heartbeats nothing for a while,
// then claims above the later epoch if it still wants the unit. The while
// is long (3 W) when that host is a Ready member, whose claim is likely
// the fleet's choice (placement stops this host's wanting soon), and Hold
// when it is not heard: it is the other side of a partition. Under mu.
func (fz *Fencer) yield(u string, c *claim, now time.Duration) {
	if c.quiet == 0 {
		wait := fz.fence.Params().Hold
		if fz.n.member(c.heardHolder) != nil {
			wait = 3 * fz.fence.W()
		}
		c.quiet = now + wait
		fz.log.Info("fence: another host holds a later epoch; this host gives way", "unit", u, "epoch", c.epoch, "holder", c.heardHolder, "later", c.heard, "for", wait)
	}
	if now < c.quiet {
		c.next = c.quiet
		fz.set(u, c, HostLease{Epoch: c.epoch, Status: fmt.Sprintf("%s holds epoch %d; this host gives way until %s from now, then claims above it if the unit is still placed here",
			c.heardHolder, c.heard, (c.quiet - now).Round(time.Millisecond))})
		return
	}
	fz.claimAbove(u, c.heard, now)
}

func (c *claim) ackList() []FenceAck {
	acks := make([]FenceAck, 0, len(c.acks))
	for v, t := range c.acks {
		acks = append(acks, FenceAck{Voter: v, Sent: t})
	}
	return acks
}

// publish sets c's standing when it is not held, with what it waits
// for. Under mu.
func (fz *Fencer) publish(u string, c *claim, now time.Duration) {
	var why string
	switch {
	case c.epoch == 0:
		why = "cannot keep a claim on disk (see the agent's log)"
	case c.won && fz.fence.BootWait(now) > 0:
		why = fmt.Sprintf("epoch %d: this host booted %s ago; it waits %s after boot", c.epoch, now.Round(time.Millisecond), fz.fence.W())
	case c.won:
		why = fmt.Sprintf("epoch %d: waiting for %d of the voters %s to acknowledge this host", c.epoch, fz.fence.Quorum(), strings.Join(fz.fence.Voters(), ", "))
	default:
		silent := 0
		for _, r := range c.reports {
			if r.Silence+(now-r.Received) >= fz.fence.W() {
				silent++
			}
		}
		why = fmt.Sprintf("claiming epoch %d: %d of %d voters needed have heard nothing from the last holder for %s", c.epoch, silent, fz.fence.Quorum(), fz.fence.W().Round(time.Millisecond))
		if fz.releases[u] != nil {
			why += fmt.Sprintf(" (%s released by the operator)", fz.releases[u].Holder)
		}
	}
	fz.set(u, c, HostLease{Epoch: c.epoch, Status: why})
}

func (fz *Fencer) set(u string, c *claim, l HostLease) {
	if c.pub != l {
		c.pub = l
		fz.signal()
	}
}
