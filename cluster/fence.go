package cluster

import (
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"
)

// Fencing of exclusive units (exclusive = true in a unit file): the rule,
// as pure functions of what one host knows. Nothing here reads a clock,
// starts a goroutine or does I/O; the heartbeats that carry it, the
// voters' persisted state and the supervisor's starts and stops are wired
// elsewhere. fence_sim_test.go runs it in a simulated fleet.
//
// # Guarantee
//
// At no instant do two hosts run an exclusive unit's instance, counting
// an instance as running from its start until it is dead, kill grace
// included. No leader and no consensus: a lease held against a fixed set
// of voter hosts V, measured in durations only. It holds whatever the
// network does (messages lost, duplicated, reordered or delayed without
// bound, links cut one way, partitions of any shape) and whichever hosts
// crash and reboot, provided that:
//
//   - clocks are CLOCK_BOOTTIME (time.Duration since boot: it keeps
//     counting through suspend, which Go's monotonic clock does not,
//     golang/go#24595), and each advances at between 1−ρ and 1+ρ times
//     real time; wall clocks and their steps play no part;
//   - no process stalls for longer than its slack: a holder acts on its
//     lease's Until at most Heartbeat·(1−ρ)/(1+ρ) late (199.6 ms with the
//     defaults), and its instance is dead KillGrace after it decides to
//     stop (stop_signal, then SIGKILL to the process group, whatever the
//     unit's stop_timeout), so within T = Hold + KillGrace of its lease's
//     start, plus the slack;
//   - every host uses the same FenceParams and the same V, and V is
//     persisted;
//   - each voter persists its VoterState's Epoch and Holder before it
//     sends the Vote that changed them;
//   - a reply is counted only by the boot that sent the heartbeat it
//     answers (send times are on that boot's clock).
//
// The epoch of the lease is the fencing token the instance gets, in
// TEND_FENCING_TOKEN (supervisor.FencingTokenEnv): a resource that keeps the highest
// token it has seen can refuse a stale holder even beyond these
// assumptions.
//
// # The rule
//
// One message: a heartbeat (sender, epoch, send time on the sender's
// clock), sent every Heartbeat to every voter, the sender itself
// included when it is one, by a holder at the epoch it holds and by a
// claimant at the epoch it claims. A voter answers with a Vote
// (Fence.Vote): it acknowledges the epoch and host it has promised; it
// promises a higher epoch to its sender only when it has acknowledged
// nothing for at least Hold (so that a voter still hearing its holder
// keeps it: the asymmetric partition), saying how long it had been
// silent; after a promise it acknowledges nothing of a lower epoch, nor
// another host at the same one. A promise counts as an acknowledgement.
//
// The holder (Fence.Lease): L is the send time of the latest heartbeat
// that a quorum q = ⌊|V|/2⌋+1 of voters acknowledged. It runs while its
// clock reads before L + Hold, then stops.
//
// A claimant (Fence.MayStart) claims epoch N, one more than the highest
// it has heard of or claimed (it persists the highest it claimed, and
// never claims one twice), and starts when (1) q voters promised it N,
// each promise's silence plus the time since the claimant received it,
// on the claimant's clock, being at least W = T(1+ρ)/(1−ρ) + Heartbeat;
// (2) its own lease at N holds; (3) W has passed since it booted
// (Fence.BootWait). A promise from a host about leaving itself, a
// holder's word on its own lease, does not count, unless that host is
// the claimant. A claimant gives a claim up after a while and stops
// heartbeating it, or the voters it won would stay its own.
//
// # Why it is safe
//
// Let Y start at epoch N at real time t, with promises from the voters
// P, |P| = q, and let X be another host running at epoch M < N at any
// time from t on. Any quorum meets P, so X's L rests on an
// acknowledgement from some w in P; w acknowledged nothing below N after
// its promise, and nothing at all during the silence s_w it reported,
// so X sent that heartbeat no later than w's last acknowledgement before
// it promised. In real time that was at least (s_w + e_w)/(1+ρ) ≥
// W/(1+ρ) = T/(1−ρ) + Heartbeat/(1+ρ) before t, where e_w is the time Y
// measured since it received the promise: both were measured on clocks
// at most 1+ρ fast, which is why e_w is added undiscounted and W carries
// the factor (1+ρ). X measured at most T plus its slack on its clock,
// at least 1−ρ slow, from L until its instance was dead: dead before t.
// If instead M > N, and X started first, X's promisers refuse N after
// promising M, so Y's own lease at N rests on a heartbeat one of them
// acknowledged before that, W of silence before X started: condition (2)
// keeps Y from starting. If Y started first, the argument above, with
// the roles swapped, has Y dead before X starts. And no two hosts win
// one epoch, which every voter promises once.
//
// # Cost
//
// Failover waits for the voters' silence to reach W from the holder's
// last heartbeat they heard: 2.2 s with the defaults, 2.0 to 2.2 s after
// the holder's death (simulated p50 2.13 s, TestFenceFailsOver), plus
// the network; about 1 s on the lan profile for an ordinary replicated
// unit. A fleet of two has q = 2: the survivor never gathers a quorum
// without the other host, so it never fails over by itself; an operator
// who knows the other host is down says so with a FenceRelease (tend
// fence release UNIT), and the survivor starts W after it hears of it.

// FenceParams are the fence's timings. Every host of a fleet must use the
// same: a claimant's W has to cover every holder's T.
type FenceParams struct {
	// Heartbeat is how often a holder or claimant heartbeats the voters.
	// It is also the slack in W for a holder late on its deadline.
	Heartbeat time.Duration
	// Hold (T_hold) is how long a holder keeps running after sending the
	// latest heartbeat a quorum acknowledged; and how long a voter must
	// have acknowledged nothing before it promises a new epoch. At least
	// twice Heartbeat, so that one lost heartbeat stops nothing.
	Hold time.Duration
	// KillGrace is how long a holder's instance may take to die once the
	// holder decides to stop it: stop_signal, then SIGKILL to the process
	// group KillGrace later, whatever the unit's stop_timeout.
	KillGrace time.Duration
	// Rho (ρ) bounds every host's clock rate error: over any interval, a
	// clock advances by between 1−ρ and 1+ρ times real time. From 0 to
	// 0.1 (10 %); 1e-3 is generous for a quartz clock under NTP, which
	// slews by at most 5e-4.
	Rho float64
}

// DefaultFenceParams are the fence's timings with the figures of
// DESIGN §7: heartbeat 200 ms, T_hold 1 s, kill grace 1 s, ρ 1e-3,
// so T = 2 s and W = 2.204004005 s.
func DefaultFenceParams() FenceParams {
	return FenceParams{
		Heartbeat: 200 * time.Millisecond,
		Hold:      time.Second,
		KillGrace: time.Second,
		Rho:       1e-3,
	}
}

// maxFenceDuration bounds each of the timings, so that the sums below
// cannot overflow and no lease lasts beyond what a person would wait.
const maxFenceDuration = time.Hour

// maxRho bounds Rho: a clock off by more than 10 % is broken, not slow.
const maxRho = 0.1

// Validate reports every problem with p, or nil.
func (p FenceParams) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"heartbeat", p.Heartbeat}, {"hold", p.Hold}, {"kill grace", p.KillGrace}} {
		if d.v <= 0 || d.v > maxFenceDuration {
			bad("fence %s %s: want more than 0s and at most %s", d.name, d.v, maxFenceDuration)
		}
	}
	if p.Heartbeat > 0 && p.Hold > 0 && p.Hold < 2*p.Heartbeat {
		bad("fence hold %s is less than twice the heartbeat %s: one lost heartbeat would stop the unit", p.Hold, p.Heartbeat)
	}
	if !(p.Rho >= 0 && p.Rho <= maxRho) { // false for NaN too
		bad("fence rho %v: want a clock rate error from 0 to %v", p.Rho, maxRho)
	}
	return errors.Join(errs...)
}

// T is how long after L a holder's instance is dead at the latest, on the
// holder's clock: Hold + KillGrace.
func (p FenceParams) T() time.Duration { return p.Hold + p.KillGrace }

// W is the silence a claimant needs from each voter of a quorum:
// T(1+ρ)/(1−ρ), rounded up to the nanosecond, plus Heartbeat. It is
// computed exactly, from ρ's float64 value as it is, so that every host
// gets the same W. p must be valid.
func (p FenceParams) W() time.Duration {
	one := big.NewRat(1, 1)
	rho := new(big.Rat).SetFloat64(p.Rho)
	x := new(big.Rat).SetInt64(int64(p.T()))
	x.Mul(x, new(big.Rat).Add(one, rho))
	x.Quo(x, new(big.Rat).Sub(one, rho))
	q, r := new(big.Int).QuoRem(x.Num(), x.Denom(), new(big.Int)) // x > 0: q is its floor
	if r.Sign() != 0 {
		q.Add(q, big.NewInt(1))
	}
	return time.Duration(q.Int64()) + p.Heartbeat
}

// Fence is the rule for one fleet: its timings and its voter set.
// Immutable, and safe for concurrent use. One Fence serves every
// exclusive unit: each unit has its own epochs, acknowledgements,
// promises and voter states, which the caller keeps apart.
type Fence struct {
	p      FenceParams
	w      time.Duration
	voters []string // sorted, distinct
}

// NewFence returns the fence of the voter set voters (host names, in any
// order; the fleet persists the set, and every host must use the same)
// with the timings p.
func NewFence(p FenceParams, voters []string) (*Fence, error) {
	errs := []error{p.Validate()}
	vs := slices.Clone(voters)
	slices.Sort(vs)
	if len(vs) == 0 {
		errs = append(errs, errors.New("fence: no voters"))
	}
	for i, v := range vs {
		if v == "" {
			errs = append(errs, errors.New("fence: a voter with no name"))
		} else if i > 0 && vs[i-1] == v {
			errs = append(errs, fmt.Errorf("fence: voter %q listed twice", v))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &Fence{p: p, w: p.W(), voters: slices.Compact(vs)}, nil
}

// Params returns the fence's timings.
func (f *Fence) Params() FenceParams { return f.p }

// W returns the silence a claimant needs; see FenceParams.W.
func (f *Fence) W() time.Duration { return f.w }

// Voters returns the voter set, sorted.
func (f *Fence) Voters() []string { return slices.Clone(f.voters) }

// Quorum returns q = ⌊|V|/2⌋+1: any two sets of q voters share one.
func (f *Fence) Quorum() int { return len(f.voters)/2 + 1 }

// IsVoter reports whether host is in the voter set.
func (f *Fence) IsVoter(host string) bool {
	_, ok := slices.BinarySearch(f.voters, host)
	return ok
}

// BootWait is how much longer a host must wait before it starts an
// exclusive instance, now being its CLOCK_BOOTTIME: W after boot, so that
// nothing from before a reboot, which the host no longer knows of, is
// relied on. 0 once W has passed. MayStart waits for it.
func (f *Fence) BootWait(now time.Duration) time.Duration { return max(f.w-now, 0) }

// VoterState is one voter's state for one exclusive unit. Epoch and
// Holder must reach stable storage before the Vote that changed them is
// sent, and survive restarts. LastAck is kept in memory only, on
// CLOCK_BOOTTIME, and starts at the instant the voter's process started
// (0 after a reboot): its real last acknowledgement came before, so a
// silence counted from then is never longer than the truth.
type VoterState struct {
	Epoch   uint64        // the highest epoch promised; 0 for none yet
	Holder  string        // the host Epoch was promised to
	LastAck time.Duration // when the voter last acknowledged anything
}

// Vote is a voter's answer to one heartbeat.
type Vote struct {
	// Ack says the heartbeat is acknowledged: its sender may count the
	// heartbeat's send time towards its lease (a FenceAck).
	Ack bool
	// Promise says the heartbeat won the voter over to its epoch (Ack is
	// set too): the sender may count it towards its claim (a
	// SilenceReport) with the two fields below.
	Promise bool
	// Silence is, with Promise, how long the voter had acknowledged
	// nothing before it promised, on its clock.
	Silence time.Duration
	// Prev is, with Promise, the epoch and holder the voter left.
	Prev FenceClaim
	// Epoch and Holder are the voter's state after the heartbeat:
	// without Ack, whom it is promised to instead, and the highest epoch
	// its sender now knows of.
	Epoch  uint64
	Holder string
}

// Vote is a voter's rule: the state st of the voter, on a heartbeat from
// host at epoch, received at now on the voter's clock, becomes the
// returned state; the Vote goes back to host. host may be the voter
// itself. A heartbeat at epoch 0 or from no host is refused.
func (f *Fence) Vote(st VoterState, from string, epoch uint64, now time.Duration) (VoterState, Vote) {
	refuse := Vote{Epoch: st.Epoch, Holder: st.Holder}
	switch {
	case from == "" || epoch == 0:
		return st, refuse
	case epoch == st.Epoch && from == st.Holder:
		st.LastAck = max(st.LastAck, now)
		return st, Vote{Ack: true, Epoch: st.Epoch, Holder: st.Holder}
	case epoch <= st.Epoch:
		return st, refuse
	}
	silence := now - st.LastAck
	if silence < f.p.Hold {
		// Still acknowledging someone, recently: it is alive, or was
		// a moment ago. Giving it away would stop it for a claimant
		// that may never gather a quorum.
		return st, refuse
	}
	v := Vote{Ack: true, Promise: true, Silence: silence, Prev: FenceClaim{Host: st.Holder, Epoch: st.Epoch}, Epoch: epoch, Holder: from}
	return VoterState{Epoch: epoch, Holder: from, LastAck: now}, v
}

// FenceAck is what a holder, or a claimant, knows of one voter's
// acknowledgements at its epoch: the send time, on its own clock and in
// this boot, of the latest heartbeat the voter acknowledged (Vote.Ack).
type FenceAck struct {
	Voter string
	Sent  time.Duration
}

// Lease is a holder's right to run, as Fence.Lease finds it.
type Lease struct {
	// Held says the holder may run its instance at now. When it is
	// false, a running instance must be stopped now: it is then dead by
	// Since + T.
	Held bool
	// Quorate says a quorum of voters has acknowledged some heartbeat;
	// Since and Until are 0 otherwise.
	Quorate bool
	// Since (L) is the send time of the latest heartbeat a quorum
	// acknowledged.
	Since time.Duration
	// Until is Since + Hold: Held is now < Until. When Held, the holder
	// must decide again at Until (set a timer), unless acknowledgements
	// that move Since come first.
	Until time.Duration
}

// Lease is a holder's rule: whether the holder at epoch may run at now,
// given acks, the latest acknowledgement of each voter at epoch (others
// are ignored, as are non-voters and acknowledgements of heartbeats sent
// after now, which cannot be this boot's), and rel, an operator's
// release or nil. A release of an epoch below epoch counts its holder,
// when it is a voter, as acknowledging at now.
func (f *Fence) Lease(epoch uint64, acks []FenceAck, rel *FenceRelease, now time.Duration) Lease {
	latest := make(map[string]time.Duration, len(f.voters))
	for _, a := range acks {
		if !f.IsVoter(a.Voter) || a.Sent > now || a.Sent < 0 {
			continue
		}
		if s, ok := latest[a.Voter]; !ok || a.Sent > s {
			latest[a.Voter] = a.Sent
		}
	}
	if rel.covers(epoch, now) && f.IsVoter(rel.Holder) {
		latest[rel.Holder] = now
	}
	q := f.Quorum()
	if len(latest) < q {
		return Lease{}
	}
	sent := make([]time.Duration, 0, len(latest))
	for _, s := range latest {
		sent = append(sent, s)
	}
	slices.Sort(sent)
	since := sent[len(sent)-q] // the q-th latest: q voters acknowledged it or later
	until := since + f.p.Hold
	return Lease{Held: now < until, Quorate: true, Since: since, Until: until}
}

// SilenceReport is a promise as the claimant received it: a Vote with
// Promise, from Voter, for the claimant's epoch.
type SilenceReport struct {
	Voter    string
	Epoch    uint64        // the epoch promised: the claimant's
	Prev     FenceClaim    // Vote.Prev
	Silence  time.Duration // Vote.Silence, on the voter's clock
	Received time.Duration // when the claimant received it, on its clock, this boot
}

// Claimant is what a claimant knows of its claim.
type Claimant struct {
	Host    string          // the claimant
	Epoch   uint64          // the epoch it claims; it must never claim one twice
	Reports []SilenceReport // the promises it received for Epoch
	Acks    []FenceAck      // acknowledgements at Epoch, promises included
	Release *FenceRelease   // an operator's release, or nil
}

// StartDecision is a claimant's answer from Fence.MayStart.
type StartDecision struct {
	// Start says the claimant may start its instance now, and holds the
	// lease from now on (Fence.Lease).
	Start bool
	// Next is when to decide again if nothing new arrives: the instant
	// the promises in hand add up to a quorum of W each, or the boot
	// wait ends, whichever is later. 0 when only new promises or
	// acknowledgements can change the answer; the Lease's Until when
	// Start.
	Next time.Duration
	// Silent is how many distinct voters' silence counts at now.
	Silent int
}

// MayStart is a claimant's rule: whether c may start at now.
//
// A report counts when it is from a voter, for c.Epoch, received no
// later than now, and not from another host about leaving itself (a
// holder's word on its own lease; the claimant's own word on its own
// earlier claim counts); one per voter, the best. Its silence at now is
// Silence + (now − Received). A release counts its holder, when it is a
// voter, as a promise of no silence received when the release was.
func (f *Fence) MayStart(c Claimant, now time.Duration) StartDecision {
	// ready[v] is the instant v's silence reaches W.
	ready := make(map[string]time.Duration, len(f.voters))
	note := func(v string, at time.Duration) {
		if t, ok := ready[v]; !ok || at < t {
			ready[v] = at
		}
	}
	for _, r := range c.Reports {
		if r.Epoch != c.Epoch || !f.IsVoter(r.Voter) || (r.Voter == r.Prev.Host && r.Voter != c.Host) || r.Received > now || r.Silence < 0 {
			continue
		}
		note(r.Voter, r.Received+f.w-r.Silence) // Silence + (at − Received) = W
	}
	if rel := c.Release; rel.covers(c.Epoch, now) && f.IsVoter(rel.Holder) {
		note(rel.Holder, rel.Received+f.w)
	}
	d := StartDecision{}
	at := make([]time.Duration, 0, len(ready))
	for _, t := range ready {
		at = append(at, t)
		if t <= now {
			d.Silent++
		}
	}
	q := f.Quorum()
	if len(at) < q {
		return d
	}
	slices.Sort(at)
	when := max(at[q-1], f.w) // the q-th voter silent for W, and W since boot
	if now < when {
		d.Next = when
		return d
	}
	l := f.Lease(c.Epoch, c.Acks, c.Release, now)
	if !l.Held {
		return d // the claimant's own heartbeats must be acknowledged again
	}
	return StartDecision{Start: true, Next: l.Until, Silent: d.Silent}
}

// FenceRelease is an operator's word (tend fence release UNIT) that
// Holder, which held Unit at Epoch, is down and will acknowledge nothing
// more until it has heard of a later epoch: what a fleet of two needs to
// fail over, since its survivor alone is no quorum. A claimant of an
// epoch above Epoch counts Holder, when it is a voter, as a voter that
// promised it with no silence at Received, so it still waits W, and as
// one that acknowledges every heartbeat. The rule is only as safe as the
// word: a released host that is in fact up, or comes back among voters
// that have not heard of the later epoch, can run beside the claimant.
// The caller drops a release once it hears from its holder again.
type FenceRelease struct {
	Unit     string
	Holder   string
	Epoch    uint64
	Received time.Duration // when this host learned of it, on its clock, this boot
}

// covers reports whether r releases the lease a claimant of epoch takes
// over, at now.
func (r *FenceRelease) covers(epoch uint64, now time.Duration) bool {
	return r != nil && r.Holder != "" && epoch > r.Epoch && r.Received <= now
}

// FenceClaim is a host's claim to hold a unit at an epoch.
type FenceClaim struct {
	Host  string
	Epoch uint64
}

// Rightful returns, of claims, the one every host agrees must run the
// unit: the highest epoch, then the smallest host name. After a
// partition heals, every host that hears the same claims stops its own
// instance of the unit unless its claim is this one. Claims at epoch 0
// or of no host are ignored; false when none is left.
func Rightful(claims []FenceClaim) (FenceClaim, bool) {
	var best FenceClaim
	ok := false
	for _, c := range claims {
		if c.Epoch == 0 || c.Host == "" {
			continue
		}
		if !ok || c.Epoch > best.Epoch || (c.Epoch == best.Epoch && c.Host < best.Host) {
			best, ok = c, true
		}
	}
	return best, ok
}
