package cluster

import (
	"container/heap"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"time"
)

// A deterministic simulator of the fence: hosts that run Fence's rules
// over a network that delays, loses, duplicates and reorders messages
// and is cut in any shape, one way or both, with clocks that drift
// within ρ and hosts that crash and reboot; and the record of every
// instance's life, from its start until it is dead, on real time. Each
// host decides only from the messages it has received and its own clock:
// only the simulator knows real time, and nothing it knows reaches a
// host. A holder acts on its lease's Until as late as the fence allows,
// and its instance dies KillGrace after it decides to stop, or at once
// when its host crashes.

// simConfig is a simulated fleet and what its world does to it.
type simConfig struct {
	hosts   []string
	voters  []string // nil: every host
	params  FenceParams
	horizon time.Duration // real time simulated

	// initialHolder, when set, holds epoch 1 from the start, with every
	// voter promised to it; otherwise nobody does, and the hosts claim.
	initialHolder string

	// The network. delay nil: none. Messages a host sends itself go
	// straight to it.
	delay     func(r *rand.Rand) time.Duration
	loss, dup float64

	// Clocks: each boot's clock advances at rate() times real time,
	// changing every segment() of real time (nil: never).
	rate    func(r *rand.Rand) float64
	segment func(r *rand.Rand) time.Duration
	// lateness is how late, on its clock, a holder acts on its lease's
	// Until; nil: on time.
	lateness func(r *rand.Rand) time.Duration

	// Claimants: an idle host that has heard no other host's heartbeat
	// for Hold claims with probability claimProb on each heartbeat tick
	// (0: 1); abandons its claim once too many voters are promised above
	// it for a quorum to be left, or gives it up after giveUp (0: 4W);
	// and waits backoff() after either, or after stopping (nil: no
	// wait).
	claimProb float64
	giveUp    time.Duration
	backoff   func(r *rand.Rand) time.Duration
	// claimants, when set, are the only hosts that ever claim.
	claimants []string

	// Mutations, to show that the simulator catches a broken rule:
	// claimParams are the timings claimants use in MayStart instead of
	// params (a W too short); voterForgets has every voter acknowledge
	// any (host, epoch) it once acknowledged, whatever it promised
	// since; claimIgnoresLease has claimants start without a lease of
	// their own.
	claimParams       *FenceParams
	voterForgets      bool
	claimIgnoresLease bool
}

// simRun is one instance's life, on real time: started at start, dead at
// end (simNever while it runs).
type simRun struct {
	host       string
	epoch      uint64
	start, end time.Duration
}

const simNever = time.Duration(math.MaxInt64)

type simRole int

const (
	simIdle simRole = iota
	simClaiming
	simHolding
)

type simHost struct {
	name   string
	voter  bool
	claims bool // may claim
	up     bool
	boot   int
	clock  simClock

	// Durable: survives a crash.
	vs      VoterState // LastAck is reset at boot
	claimed uint64     // the highest epoch this host has claimed
	ever    map[FenceClaim]bool

	// This boot's.
	role      simRole
	epoch     uint64
	acks      map[string]time.Duration
	reports   []SilenceReport
	above     map[string]bool // voters promised to an epoch above the claim's
	known     uint64          // the highest epoch heard of
	heard     time.Duration   // last heartbeat from another host
	giveUpAt  time.Duration
	idleUntil time.Duration
	until     time.Duration // the lease's Until the pending timer is for
	late      time.Duration // how late this holder acts on it
	next      time.Duration // the claim's Next the pending timer is for
	gen       int           // of the pending timer
	runs      []int         // indexes in sim.runs of this host's instances
}

type simEvent struct {
	at  time.Duration
	seq uint64
	fn  func()
}

type simQueue []*simEvent

func (q simQueue) Len() int { return len(q) }
func (q simQueue) Less(i, j int) bool {
	return q[i].at < q[j].at || (q[i].at == q[j].at && q[i].seq < q[j].seq)
}
func (q simQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *simQueue) Push(x any)   { *q = append(*q, x.(*simEvent)) }
func (q *simQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

type sim struct {
	cfg    simConfig
	fence  *Fence // the holders' and voters'
	claim  *Fence // the claimants'
	r      *rand.Rand
	now    time.Duration // real
	seq    uint64
	q      simQueue
	hosts  []*simHost
	byName map[string]*simHost
	cut    map[[2]string]bool // from, to
	rel    *simRelease
	runs   []simRun

	events, messages int
	superseded       int // holders stopped by Rightful on hearing of another holder
	trace            []string
	tracing          bool
}

func newSim(cfg simConfig, seed uint64) *sim {
	if cfg.voters == nil {
		cfg.voters = cfg.hosts
	}
	f, err := NewFence(cfg.params, cfg.voters)
	if err != nil {
		panic(err)
	}
	claim := f
	if cfg.claimParams != nil {
		if claim, err = NewFence(*cfg.claimParams, cfg.voters); err != nil {
			panic(err)
		}
	}
	if cfg.giveUp == 0 {
		cfg.giveUp = 4 * f.W()
	}
	s := &sim{cfg: cfg, fence: f, claim: claim, r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		byName: map[string]*simHost{}, cut: map[[2]string]bool{}}
	for _, name := range cfg.hosts {
		h := &simHost{name: name, voter: f.IsVoter(name), claims: cfg.claimants == nil || slices.Contains(cfg.claimants, name), ever: map[FenceClaim]bool{}}
		s.hosts = append(s.hosts, h)
		s.byName[name] = h
	}
	for _, h := range s.hosts {
		s.bootHost(h)
	}
	if a := cfg.initialHolder; a != "" {
		h := s.byName[a]
		for _, v := range s.hosts {
			if v.voter {
				v.vs = VoterState{Epoch: 1, Holder: a}
				v.ever[FenceClaim{a, 1}] = true
			}
		}
		h.claimed, h.role, h.epoch = 1, simHolding, 1
		for _, v := range cfg.voters {
			h.acks[v] = 0 // as if every voter had acknowledged at the boot
		}
		s.startRun(h)
	}
	return s
}

// at runs fn at real time t.
func (s *sim) at(t time.Duration, fn func()) {
	s.seq++
	heap.Push(&s.q, &simEvent{at: t, seq: s.seq, fn: fn})
}

func (s *sim) logf(format string, args ...any) {
	if s.tracing {
		s.trace = append(s.trace, fmt.Sprintf("%14v ", s.now)+fmt.Sprintf(format, args...))
	}
}

// run simulates until the horizon and returns the instances' lives.
func (s *sim) run() []simRun {
	for s.q.Len() > 0 {
		e := heap.Pop(&s.q).(*simEvent)
		if e.at > s.cfg.horizon {
			break
		}
		s.now = e.at
		s.events++
		e.fn()
	}
	return s.runs
}

// afterLocal runs fn when h's clock, this boot, reads t; not at all if h
// has crashed since.
func (s *sim) afterLocal(h *simHost, t time.Duration, fn func()) {
	boot := h.boot
	s.at(max(h.clock.realAt(t), s.now), func() {
		if h.up && h.boot == boot {
			fn()
		}
	})
}

func (s *sim) bootHost(h *simHost) {
	h.up = true
	h.boot++
	h.clock = newSimClock(s.now, s.cfg.horizon, s.r, s.cfg.rate, s.cfg.segment)
	h.vs.LastAck = 0
	h.role, h.epoch, h.acks, h.reports = simIdle, 0, map[string]time.Duration{}, nil
	h.known, h.heard, h.idleUntil, h.until, h.next = 0, 0, 0, 0, 0
	s.logf("%s boots (boot %d), voter state %+v", h.name, h.boot, h.vs)
	phase := time.Duration(s.r.Int64N(int64(s.cfg.params.Heartbeat)))
	s.afterLocal(h, phase, func() { s.tick(h) })
}

func (s *sim) crash(h *simHost) {
	if !h.up {
		return
	}
	h.up = false
	for _, i := range h.runs {
		s.runs[i].end = min(s.runs[i].end, s.now) // dies with its host
	}
	h.runs = nil
	s.logf("%s crashes", h.name)
}

func (s *sim) tick(h *simHost) {
	now := h.clock.local(s.now)
	p := s.cfg.params
	switch h.role {
	case simHolding:
		s.broadcast(h, true)
		s.checkLease(h)
	case simClaiming:
		if now >= h.giveUpAt {
			s.logf("%s gives its claim of %d up", h.name, h.epoch)
			s.idle(h)
		} else {
			s.broadcast(h, false)
			s.checkClaim(h)
		}
	case simIdle:
		if h.claims && now >= h.idleUntil && now-h.heard >= p.Hold && (s.cfg.claimProb == 0 || s.r.Float64() < s.cfg.claimProb) {
			h.role = simClaiming
			h.epoch = max(h.known, h.vs.Epoch, h.claimed) + 1
			h.claimed = h.epoch
			h.acks, h.reports, h.above, h.next = map[string]time.Duration{}, nil, map[string]bool{}, 0
			h.giveUpAt = now + s.cfg.giveUp
			s.logf("%s claims %d", h.name, h.epoch)
			s.broadcast(h, false)
		}
	}
	s.afterLocal(h, now+p.Heartbeat, func() { s.tick(h) })
}

// send delivers fn to host to, as a message from from.
func (s *sim) send(from, to string, fn func()) {
	s.messages++
	if from == to {
		s.at(s.now, fn)
		return
	}
	if s.cut[[2]string{from, to}] || s.r.Float64() < s.cfg.loss {
		return
	}
	copies := 1
	if s.r.Float64() < s.cfg.dup {
		copies = 2
	}
	for range copies {
		var d time.Duration
		if s.cfg.delay != nil {
			d = s.cfg.delay(s.r)
		}
		s.at(s.now+d, fn)
	}
}

func (s *sim) broadcast(h *simHost, holding bool) {
	sent, boot, epoch := h.clock.local(s.now), h.boot, h.epoch
	for _, v := range s.hosts {
		if v.voter {
			s.send(h.name, v.name, func() { s.heartbeat(v, h, boot, epoch, sent, holding) })
		}
	}
}

// heartbeat is voter v receiving one from h.
func (s *sim) heartbeat(v, h *simHost, boot int, epoch uint64, sent time.Duration, holding bool) {
	if !v.up {
		return
	}
	now := v.clock.local(s.now)
	v.known = max(v.known, epoch)
	if h != v {
		v.heard = now // a holder or a claimant: someone is on it
	}
	if holding && h != v {
		if v.role == simHolding {
			if r, _ := Rightful([]FenceClaim{{v.name, v.epoch}, {h.name, epoch}}); r.Host == h.name {
				s.superseded++
				s.logf("%s stops: %s holds %d, over its %d", v.name, h.name, epoch, v.epoch)
				s.stop(v)
			}
		}
	}
	var vote Vote
	v.vs, vote = s.fence.Vote(v.vs, h.name, epoch, now)
	if s.cfg.voterForgets && !vote.Ack && v.ever[FenceClaim{h.name, epoch}] {
		vote.Ack = true
	}
	if vote.Ack {
		v.ever[FenceClaim{h.name, epoch}] = true
	}
	if vote.Promise {
		s.logf("%s promises %d to %s after %v of silence, leaving %+v", v.name, epoch, h.name, vote.Silence, vote.Prev)
	}
	s.send(v.name, h.name, func() { s.reply(h, v.name, boot, epoch, sent, vote) })
}

// reply is h receiving voter's vote on its heartbeat at epoch sent at
// sent in its boot boot.
func (s *sim) reply(h *simHost, voter string, boot int, epoch uint64, sent time.Duration, vote Vote) {
	if !h.up || h.boot != boot {
		return // another boot's: its send time is on another clock
	}
	now := h.clock.local(s.now)
	h.known = max(h.known, vote.Epoch)
	if h.role == simIdle || epoch != h.epoch {
		return
	}
	if vote.Ack {
		if a, ok := h.acks[voter]; !ok || sent > a {
			h.acks[voter] = sent
		}
	}
	if vote.Promise && h.role == simClaiming {
		h.reports = append(h.reports, SilenceReport{Voter: voter, Epoch: epoch, Prev: vote.Prev, Silence: vote.Silence, Received: now})
	}
	if h.role == simClaiming && !vote.Ack && vote.Epoch > h.epoch {
		h.above[voter] = true
	}
	switch {
	case h.role == simClaiming && len(h.above) > len(s.cfg.voters)-s.fence.Quorum():
		s.logf("%s abandons %d: %d voters are above it", h.name, h.epoch, len(h.above))
		s.idle(h)
	case h.role == simClaiming:
		s.checkClaim(h)
	case h.role == simHolding:
		s.checkLease(h)
	}
}

func (s *sim) ackList(h *simHost) []FenceAck {
	acks := make([]FenceAck, 0, len(h.acks))
	for v, t := range h.acks {
		acks = append(acks, FenceAck{Voter: v, Sent: t})
	}
	return acks
}

// checkLease is a holder deciding whether to go on. It acts on its
// lease's Until late, by as much as cfg.lateness says, whenever it looks:
// a holder stalled by up to the fence's slack.
func (s *sim) checkLease(h *simHost) {
	now := h.clock.local(s.now)
	l := s.fence.Lease(h.epoch, s.ackList(h), s.releaseFor(h), now)
	if !l.Quorate {
		s.logf("%s stops %d: no quorum ever", h.name, h.epoch)
		s.stop(h)
		return
	}
	if l.Until != h.until {
		h.until, h.late = l.Until, 0
		if s.cfg.lateness != nil {
			h.late = s.cfg.lateness(s.r)
		}
		h.gen++
		gen := h.gen
		s.afterLocal(h, l.Until+h.late, func() {
			if h.gen == gen && h.role == simHolding {
				s.checkLease(h)
			}
		})
	}
	if !l.Held && now >= l.Until+h.late {
		s.logf("%s stops %d: lease %+v at %v", h.name, h.epoch, l, now)
		s.stop(h)
	}
}

// simRelease is an operator's release, which every host learns of at
// the real time at, or when it boots after.
type simRelease struct {
	rel FenceRelease
	at  time.Duration
}

func (s *sim) releaseFor(h *simHost) *FenceRelease {
	if s.rel == nil || s.now < s.rel.at {
		return nil
	}
	r := s.rel.rel
	r.Received = h.clock.local(max(s.rel.at, h.clock.segs[0].real))
	return &r
}

func (s *sim) checkClaim(h *simHost) {
	now := h.clock.local(s.now)
	acks := s.ackList(h)
	if s.cfg.claimIgnoresLease {
		acks = acks[:0]
		for _, v := range s.cfg.voters {
			acks = append(acks, FenceAck{Voter: v, Sent: now})
		}
	}
	d := s.claim.MayStart(Claimant{Host: h.name, Epoch: h.epoch, Reports: h.reports, Acks: acks, Release: s.releaseFor(h)}, now)
	if d.Start {
		h.role, h.until = simHolding, 0
		s.startRun(h)
		s.checkLease(h)
		return
	}
	if d.Next == 0 || d.Next == h.next {
		return
	}
	h.next = d.Next
	h.gen++
	gen := h.gen
	s.afterLocal(h, d.Next, func() {
		if h.gen == gen && h.role == simClaiming {
			s.checkClaim(h)
		}
	})
}

func (s *sim) startRun(h *simHost) {
	s.logf("%s starts its instance at epoch %d (local %v)", h.name, h.epoch, h.clock.local(s.now))
	h.runs = append(h.runs, len(s.runs))
	s.runs = append(s.runs, simRun{host: h.name, epoch: h.epoch, start: s.now, end: simNever})
}

// stop stops h's instance, dead KillGrace later on h's clock.
func (s *sim) stop(h *simHost) {
	dead := h.clock.realAt(h.clock.local(s.now) + s.cfg.params.KillGrace)
	for _, i := range h.runs {
		s.runs[i].end = min(s.runs[i].end, dead)
	}
	h.runs = nil
	s.idle(h)
}

func (s *sim) idle(h *simHost) {
	h.role, h.gen = simIdle, h.gen+1
	h.idleUntil = h.clock.local(s.now)
	if s.cfg.backoff != nil {
		h.idleUntil += s.cfg.backoff(s.r)
	}
}

// setCut cuts (or heals) the link from one host to another.
func (s *sim) setCut(from, to string, cut bool) {
	s.cut[[2]string{from, to}] = cut
}

// isolate cuts (or heals) every link of host, both ways.
func (s *sim) isolate(host string, cut bool) {
	for _, o := range s.cfg.hosts {
		if o != host {
			s.setCut(host, o, cut)
			s.setCut(o, host, cut)
		}
	}
}

// overlap returns the first two runs alive at the same instant, if any.
func overlap(runs []simRun) (a, b simRun, found bool) {
	rs := slices.Clone(runs)
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].start < rs[j].start })
	for i := 1; i < len(rs); i++ {
		// The run alive longest among those before i.
		longest := rs[0]
		for _, r := range rs[1:i] {
			if r.end > longest.end {
				longest = r
			}
		}
		if rs[i].start < longest.end {
			return longest, rs[i], true
		}
	}
	return simRun{}, simRun{}, false
}

// uptime is how long, in [from, to), some instance ran.
func uptime(runs []simRun, from, to time.Duration) time.Duration {
	rs := slices.Clone(runs)
	sort.Slice(rs, func(i, j int) bool { return rs[i].start < rs[j].start })
	var total time.Duration
	cur, curEnd := time.Duration(-1), time.Duration(-1)
	for _, r := range rs {
		st, en := max(r.start, from), min(r.end, to)
		if st >= en {
			continue
		}
		if st > curEnd {
			if curEnd > cur {
				total += curEnd - cur
			}
			cur, curEnd = st, en
		} else {
			curEnd = max(curEnd, en)
		}
	}
	if curEnd > cur {
		total += curEnd - cur
	}
	return total
}

func (r simRun) String() string {
	end := "running"
	if r.end != simNever {
		end = r.end.String()
	}
	return fmt.Sprintf("%s at epoch %d from %v to %s", r.host, r.epoch, r.start, end)
}

// simClock is one boot's clock: CLOCK_BOOTTIME, 0 at the boot, advancing
// at a rate that changes from segment to segment.
type simClock struct {
	segs []clockSeg // by real time, the first at the boot
}

type clockSeg struct {
	real, local time.Duration
	rate        float64
}

func newSimClock(boot, horizon time.Duration, r *rand.Rand, rate func(*rand.Rand) float64, segment func(*rand.Rand) time.Duration) simClock {
	pick := func() float64 {
		if rate == nil {
			return 1
		}
		return rate(r)
	}
	c := simClock{segs: []clockSeg{{real: boot, local: 0, rate: pick()}}}
	if segment == nil {
		return c
	}
	for t := boot; t < horizon; {
		t += max(segment(r), time.Millisecond)
		c.segs = append(c.segs, clockSeg{real: t, local: c.local(t), rate: pick()})
	}
	return c
}

// local is the clock's reading at real time t (no earlier than the boot).
func (c *simClock) local(t time.Duration) time.Duration {
	i := sort.Search(len(c.segs), func(i int) bool { return c.segs[i].real > t }) - 1
	sg := c.segs[max(i, 0)]
	return sg.local + time.Duration(math.Floor(float64(t-sg.real)*sg.rate))
}

// realAt is the first real time at which the clock reads l or more.
func (c *simClock) realAt(l time.Duration) time.Duration {
	i := sort.Search(len(c.segs), func(i int) bool { return c.segs[i].local > l }) - 1
	sg := c.segs[max(i, 0)]
	t := sg.real + time.Duration(math.Ceil(float64(l-sg.local)/sg.rate))
	for c.local(t) < l {
		t++
	}
	for t > sg.real && c.local(t-1) >= l {
		t--
	}
	return t
}

// traceTail is the end of a run's trace, for a failure.
func (s *sim) traceTail(n int) string {
	tr := s.trace
	if len(tr) > n {
		tr = tr[len(tr)-n:]
	}
	return strings.Join(tr, "\n")
}
