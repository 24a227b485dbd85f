package cluster

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"
)

const (
	ns  = time.Nanosecond
	ms  = time.Millisecond
	sec = time.Second
)

// wDefault is W for DefaultFenceParams: 2 s × 1.001/0.999, rounded up to
// the nanosecond, plus 200 ms.
const wDefault = 2204004005 * ns

func mustFence(t *testing.T, voters ...string) *Fence {
	t.Helper()
	f, err := NewFence(DefaultFenceParams(), voters)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestFenceParams(t *testing.T) {
	p := DefaultFenceParams()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if p.T() != 2*sec || p.W() != wDefault {
		t.Errorf("T %v W %v (%d), want 2s %v", p.T(), p.W(), p.W(), wDefault)
	}
	for _, c := range []struct {
		p    FenceParams
		want time.Duration
	}{
		{FenceParams{Heartbeat: 200 * ms, Hold: sec, KillGrace: sec, Rho: 0}, 2200 * ms},
		// 1 s × 1.1/0.9 = 1.2222… s; 0.1 as a float64 is a little more
		// than 0.1, which still rounds up to …223.
		{FenceParams{Heartbeat: 100 * ms, Hold: 500 * ms, KillGrace: 500 * ms, Rho: 0.1}, 1322222223 * ns},
		{FenceParams{Heartbeat: ns, Hold: 2 * ns, KillGrace: ns, Rho: 0}, 4 * ns},
		{FenceParams{Heartbeat: ns, Hold: 2 * ns, KillGrace: ns, Rho: 1e-3}, 5 * ns}, // 3 ns × 1.002… = 3.006 → 4, + 1
	} {
		if err := c.p.Validate(); err != nil {
			t.Errorf("%+v: %v", c.p, err)
		}
		if got := c.p.W(); got != c.want {
			t.Errorf("%+v: W %d, want %d", c.p, got, c.want)
		}
	}

	for _, c := range []struct {
		p    FenceParams
		want string
	}{
		{FenceParams{Hold: sec, KillGrace: sec, Rho: 1e-3}, "fence heartbeat 0s: want more than 0s and at most 1h0m0s"},
		{FenceParams{Heartbeat: 200 * ms, Hold: 399 * ms, KillGrace: sec, Rho: 1e-3}, "fence hold 399ms is less than twice the heartbeat 200ms: one lost heartbeat would stop the unit"},
		{FenceParams{Heartbeat: 200 * ms, Hold: sec, KillGrace: -sec, Rho: 1e-3}, "fence kill grace -1s: want more than 0s and at most 1h0m0s"},
		{FenceParams{Heartbeat: 200 * ms, Hold: 2 * time.Hour, KillGrace: sec, Rho: 1e-3}, "fence hold 2h0m0s: want more than 0s and at most 1h0m0s"},
		{FenceParams{Heartbeat: 200 * ms, Hold: sec, KillGrace: sec, Rho: math.NaN()}, "fence rho NaN: want a clock rate error from 0 to 0.1"},
		{FenceParams{Heartbeat: 200 * ms, Hold: sec, KillGrace: sec, Rho: -1e-3}, "fence rho -0.001: want a clock rate error from 0 to 0.1"},
		{FenceParams{Heartbeat: 200 * ms, Hold: sec, KillGrace: sec, Rho: 0.2}, "fence rho 0.2: want a clock rate error from 0 to 0.1"},
		{FenceParams{}, "fence heartbeat 0s: want more than 0s and at most 1h0m0s\nfence hold 0s: want more than 0s and at most 1h0m0s\nfence kill grace 0s: want more than 0s and at most 1h0m0s"},
	} {
		err := c.p.Validate()
		if err == nil || err.Error() != c.want {
			t.Errorf("%+v: %v, want %s", c.p, err, c.want)
		}
	}
}

func TestNewFence(t *testing.T) {
	for n, q := range []int{1: 1, 2: 2, 3: 2, 4: 3, 5: 3, 6: 4, 7: 4} {
		if n == 0 {
			continue
		}
		var vs []string
		for i := range n {
			vs = append(vs, string(rune('a'+i)))
		}
		if got := mustFence(t, vs...).Quorum(); got != q {
			t.Errorf("|V| = %d: quorum %d, want %d", n, got, q)
		}
	}
	f := mustFence(t, "c", "a", "b")
	if got := f.Voters(); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("voters %v, want sorted", got)
	}
	if !f.IsVoter("b") || f.IsVoter("d") || f.IsVoter("") {
		t.Error("IsVoter")
	}
	if f.W() != wDefault || f.Params() != DefaultFenceParams() {
		t.Error("W or Params")
	}
	for _, c := range []struct {
		voters []string
		want   string
	}{
		{nil, "fence: no voters"},
		{[]string{"a", ""}, "fence: a voter with no name"},
		{[]string{"b", "a", "b"}, `fence: voter "b" listed twice`},
	} {
		if _, err := NewFence(DefaultFenceParams(), c.voters); err == nil || err.Error() != c.want {
			t.Errorf("%q: %v, want %s", c.voters, err, c.want)
		}
	}
	if _, err := NewFence(FenceParams{}, []string{"a"}); err == nil {
		t.Error("invalid params accepted")
	}
}

func TestFenceBootWait(t *testing.T) {
	f := mustFence(t, "a")
	for _, c := range []struct{ now, want time.Duration }{
		{0, wDefault},
		{wDefault - ns, ns},
		{wDefault, 0},
		{time.Hour, 0},
	} {
		if got := f.BootWait(c.now); got != c.want {
			t.Errorf("BootWait(%v) = %v, want %v", c.now, got, c.want)
		}
	}
}

func TestFenceVote(t *testing.T) {
	f := mustFence(t, "a", "b", "c")
	type step struct {
		name  string
		from  string
		epoch uint64
		now   time.Duration
		want  Vote
		after VoterState
	}
	// One voter's life, each step from the state the one before left.
	st := VoterState{}
	for _, c := range []step{
		{"fresh, not yet silent for Hold since boot", "a", 1, sec - ns,
			Vote{}, VoterState{}},
		{"fresh, silent for Hold since boot: promises", "a", 1, sec,
			Vote{Ack: true, Promise: true, Silence: sec, Epoch: 1, Holder: "a"}, VoterState{1, "a", sec}},
		{"its holder", "a", 1, 1200 * ms,
			Vote{Ack: true, Epoch: 1, Holder: "a"}, VoterState{1, "a", 1200 * ms}},
		{"a duplicate from the past moves nothing back", "a", 1, 1100 * ms,
			Vote{Ack: true, Epoch: 1, Holder: "a"}, VoterState{1, "a", 1200 * ms}},
		{"another host at the same epoch", "c", 1, 5 * sec,
			Vote{Epoch: 1, Holder: "a"}, VoterState{1, "a", 1200 * ms}},
		{"a lower epoch", "c", 0, 5 * sec,
			Vote{Epoch: 1, Holder: "a"}, VoterState{1, "a", 1200 * ms}},
		{"a higher epoch while the holder was heard Hold−1ns ago", "c", 2, 2200*ms - ns,
			Vote{Epoch: 1, Holder: "a"}, VoterState{1, "a", 1200 * ms}},
		{"a higher epoch after Hold of silence: promises", "c", 2, 2200 * ms,
			Vote{Ack: true, Promise: true, Silence: sec, Prev: FenceClaim{"a", 1}, Epoch: 2, Holder: "c"}, VoterState{2, "c", 2200 * ms}},
		{"the old holder, after the promise", "a", 1, 2300 * ms,
			Vote{Epoch: 2, Holder: "c"}, VoterState{2, "c", 2200 * ms}},
		{"the new holder", "c", 2, 2400 * ms,
			Vote{Ack: true, Epoch: 2, Holder: "c"}, VoterState{2, "c", 2400 * ms}},
		{"the old holder claiming above, too soon", "a", 3, 3 * sec,
			Vote{Epoch: 2, Holder: "c"}, VoterState{2, "c", 2400 * ms}},
		{"no host", "", 9, time.Hour,
			Vote{Epoch: 2, Holder: "c"}, VoterState{2, "c", 2400 * ms}},
	} {
		next, v := f.Vote(st, c.from, c.epoch, c.now)
		if v != c.want || next != c.after {
			t.Errorf("%s:\n got %+v %+v\nwant %+v %+v", c.name, v, next, c.want, c.after)
		}
		st = next
	}

	// After a reboot: Epoch and Holder from storage, LastAck the boot.
	rebooted := VoterState{Epoch: 2, Holder: "c"}
	if _, v := f.Vote(rebooted, "c", 2, 300*ms); !v.Ack || v.Promise {
		t.Errorf("its holder after a reboot: %+v", v)
	}
	if _, v := f.Vote(rebooted, "a", 3, 300*ms); v.Ack {
		t.Errorf("a claim 300 ms after a reboot: %+v", v)
	}
	if _, v := f.Vote(rebooted, "a", 3, sec); !v.Promise || v.Silence != sec || v.Prev != (FenceClaim{"c", 2}) {
		t.Errorf("a claim Hold after a reboot: %+v", v)
	}
}

func TestFenceLease(t *testing.T) {
	f := mustFence(t, "a", "b", "c")
	acks := []FenceAck{{"a", 9500 * ms}, {"b", 9 * sec}, {"c", 5 * sec}}
	for _, c := range []struct {
		name  string
		acks  []FenceAck
		rel   *FenceRelease
		epoch uint64
		now   time.Duration
		want  Lease
	}{
		{"held until Hold after the second latest", acks, nil, 1, 10*sec - ns,
			Lease{Held: true, Quorate: true, Since: 9 * sec, Until: 10 * sec}},
		{"not held at exactly L + Hold", acks, nil, 1, 10 * sec,
			Lease{Quorate: true, Since: 9 * sec, Until: 10 * sec}},
		{"one voter is no quorum", []FenceAck{{"a", 10 * sec}}, nil, 1, 10 * sec,
			Lease{}},
		{"a non-voter counts for nothing", []FenceAck{{"a", 10 * sec}, {"x", 10 * sec}}, nil, 1, 10 * sec,
			Lease{}},
		{"the latest of each voter", []FenceAck{{"a", sec}, {"a", 10 * sec}, {"b", 10 * sec}, {"b", 2 * sec}}, nil, 1, 10 * sec,
			Lease{Held: true, Quorate: true, Since: 10 * sec, Until: 11 * sec}},
		{"a send time after now is not this boot's", []FenceAck{{"a", 10 * sec}, {"b", 11 * sec}, {"c", 7 * sec}}, nil, 1, 10500 * ms,
			Lease{Quorate: true, Since: 7 * sec, Until: 8 * sec}},
	} {
		if got := f.Lease(c.epoch, c.acks, c.rel, c.now); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}

	// Two hosts: the survivor b alone is no quorum, unless a is released.
	two := mustFence(t, "a", "b")
	own := []FenceAck{{"b", 19900 * ms}}
	rel := &FenceRelease{Unit: "u", Holder: "a", Epoch: 4}
	if got := two.Lease(5, own, nil, 20*sec); got != (Lease{}) {
		t.Errorf("two hosts, no release: %+v", got)
	}
	if got, want := two.Lease(5, own, rel, 20*sec), (Lease{Held: true, Quorate: true, Since: 19900 * ms, Until: 20900 * ms}); got != want {
		t.Errorf("two hosts, released: %+v, want %+v", got, want)
	}
	if got := two.Lease(4, own, rel, 20*sec); got != (Lease{}) {
		t.Errorf("a release of epoch 4 at epoch 4: %+v", got)
	}
	if got := two.Lease(5, own, &FenceRelease{Holder: "a", Epoch: 4, Received: 20*sec + ns}, 20*sec); got != (Lease{}) {
		t.Errorf("a release not yet received: %+v", got)
	}
	// Three hosts: a release stands for one voter, no more.
	if got, want := f.Lease(5, []FenceAck{{"b", 3 * sec}}, &FenceRelease{Holder: "c", Epoch: 4}, 20*sec), (Lease{Quorate: true, Since: 3 * sec, Until: 4 * sec}); got != want {
		t.Errorf("three hosts, released: %+v, want %+v", got, want)
	}
}

func TestFenceMayStart(t *testing.T) {
	f := mustFence(t, "a", "b", "c") // a held epoch 1; c claims 2
	const epoch = 2
	at := 10 * sec
	fresh := []FenceAck{{"b", at}, {"c", at}}
	silent := func(v string, d, received time.Duration) SilenceReport {
		return SilenceReport{Voter: v, Epoch: epoch, Prev: FenceClaim{"a", 1}, Silence: d, Received: received}
	}
	for _, c := range []struct {
		name    string
		reports []SilenceReport
		acks    []FenceAck
		rel     *FenceRelease
		now     time.Duration
		want    StartDecision
	}{
		{"two voters silent for exactly W", []SilenceReport{silent("b", wDefault, at), silent("c", wDefault, at)}, fresh, nil, at,
			StartDecision{Start: true, Next: at + sec, Silent: 2}},
		{"one of them W−1ns", []SilenceReport{silent("b", wDefault-ns, at), silent("c", wDefault, at)}, fresh, nil, at,
			StartDecision{Next: at + ns, Silent: 1}},
		{"...which ages into W 1ns later", []SilenceReport{silent("b", wDefault-ns, at), silent("c", wDefault, at)}, fresh, nil, at + ns,
			StartDecision{Start: true, Next: at + sec, Silent: 2}},
		{"promised after 1 sec of silence: 1ns before it adds up to W", []SilenceReport{silent("b", sec, at), silent("c", sec, at)}, []FenceAck{{"b", at + wDefault - sec}, {"c", at + wDefault - sec}}, nil, at + wDefault - sec - ns,
			StartDecision{Next: at + wDefault - sec}},
		{"promised after 1 sec of silence: when it adds up to W", []SilenceReport{silent("b", sec, at), silent("c", sec, at)}, []FenceAck{{"b", at + wDefault - sec}, {"c", at + wDefault - sec}}, nil, at + wDefault - sec,
			StartDecision{Start: true, Next: at + wDefault, Silent: 2}},
		{"the holder's lease of its own must hold", []SilenceReport{silent("b", wDefault, at), silent("c", wDefault, at)}, []FenceAck{{"b", 5 * sec}, {"c", 5 * sec}}, nil, at,
			StartDecision{Silent: 2}},
		{"a non-voter", []SilenceReport{silent("x", wDefault, at), silent("c", wDefault, at)}, fresh, nil, at,
			StartDecision{Silent: 1}},
		{"a voter twice", []SilenceReport{silent("c", wDefault, at), silent("c", wDefault, at)}, fresh, nil, at,
			StartDecision{Silent: 1}},
		{"the holder about itself", []SilenceReport{{Voter: "a", Epoch: epoch, Prev: FenceClaim{"a", 1}, Silence: time.Hour, Received: at}, silent("c", wDefault, at)}, fresh, nil, at,
			StartDecision{Silent: 1}},
		{"a report from the future", []SilenceReport{silent("b", wDefault, at+ns), silent("c", wDefault, at)}, fresh, nil, at,
			StartDecision{Silent: 1}},
		{"a promise of another epoch", []SilenceReport{{Voter: "b", Epoch: 3, Silence: wDefault, Received: at}, silent("c", wDefault, at)}, fresh, nil, at,
			StartDecision{Silent: 1}},
		{"a negative silence", []SilenceReport{silent("b", -ns, at), silent("c", wDefault, at)}, fresh, nil, at,
			StartDecision{Silent: 1}},
		{"the best of a voter's two", []SilenceReport{silent("b", sec, at), silent("b", wDefault, at), silent("c", wDefault, at)}, fresh, nil, at,
			StartDecision{Start: true, Next: at + sec, Silent: 2}},
	} {
		if got := f.MayStart(Claimant{Host: "c", Epoch: epoch, Reports: c.reports, Acks: c.acks, Release: c.rel}, c.now); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}

	// A host that booted less than W ago waits, however silent the voters.
	reports := []SilenceReport{silent("b", time.Hour, 0), silent("c", time.Hour, 0)}
	early := []FenceAck{{"b", wDefault - ns}, {"c", wDefault - ns}}
	if got, want := f.MayStart(Claimant{Host: "c", Epoch: epoch, Reports: reports, Acks: early}, wDefault-ns), (StartDecision{Next: wDefault, Silent: 2}); got != want {
		t.Errorf("W−1ns after boot: %+v, want %+v", got, want)
	}
	if got, want := f.MayStart(Claimant{Host: "c", Epoch: epoch, Reports: reports, Acks: early}, wDefault), (StartDecision{Start: true, Next: wDefault - ns + sec, Silent: 2}); got != want {
		t.Errorf("W after boot: %+v, want %+v", got, want)
	}
}

// TestFenceTwoHosts: with V = {a, b}, q = 2, so the survivor of the two
// never starts alone, however long a has been silent, until an operator
// releases a's lease; even then it waits W from the release, since a may
// have acknowledged someone the moment before it went down.
func TestFenceTwoHosts(t *testing.T) {
	f := mustFence(t, "a", "b")
	now := 24 * time.Hour
	// b's own promise, left from a claim of its own that failed: its
	// word on itself counts.
	own := []SilenceReport{{Voter: "b", Epoch: 9, Prev: FenceClaim{"b", 8}, Silence: time.Hour, Received: now - sec}}
	acks := []FenceAck{{"b", now}}
	claim := Claimant{Host: "b", Epoch: 9, Reports: own, Acks: acks}
	if got, want := f.MayStart(claim, now), (StartDecision{Silent: 1}); got != want {
		t.Errorf("no release: %+v, want %+v", got, want)
	}
	rel := FenceRelease{Unit: "u", Holder: "a", Epoch: 3, Received: now - wDefault}
	claim.Release = &rel
	if got, want := f.MayStart(claim, now), (StartDecision{Start: true, Next: now + sec, Silent: 2}); got != want {
		t.Errorf("released W ago: %+v, want %+v", got, want)
	}
	rel.Received = now - wDefault + ns
	if got, want := f.MayStart(claim, now), (StartDecision{Next: now + ns, Silent: 1}); got != want {
		t.Errorf("released W−1ns ago: %+v, want %+v", got, want)
	}
	// A release is of an epoch below the claim's, and known by now.
	for _, r := range []FenceRelease{
		{Holder: "a", Epoch: 9, Received: 0},
		{Holder: "a", Epoch: 3, Received: now + ns},
		{Holder: "", Epoch: 3, Received: 0},
	} {
		claim.Release = &r
		if got := f.MayStart(claim, now); got.Start {
			t.Errorf("release %+v: %+v", r, got)
		}
	}
	// Another host's word on its own lease does not count.
	theirs := Claimant{Host: "b", Epoch: 9, Acks: []FenceAck{{"a", now}, {"b", now}}, Reports: []SilenceReport{
		{Voter: "a", Epoch: 9, Prev: FenceClaim{"a", 8}, Silence: time.Hour, Received: now - sec},
		{Voter: "b", Epoch: 9, Prev: FenceClaim{"a", 8}, Silence: time.Hour, Received: now - sec},
	}}
	if got, want := f.MayStart(theirs, now), (StartDecision{Silent: 1}); got != want {
		t.Errorf("a about itself: %+v, want %+v", got, want)
	}
}

func TestRightful(t *testing.T) {
	for _, c := range []struct {
		claims []FenceClaim
		want   FenceClaim
		ok     bool
	}{
		{nil, FenceClaim{}, false},
		{[]FenceClaim{{"a", 0}, {"", 3}}, FenceClaim{}, false},
		{[]FenceClaim{{"a", 1}}, FenceClaim{"a", 1}, true},
		{[]FenceClaim{{"a", 1}, {"c", 3}, {"b", 2}}, FenceClaim{"c", 3}, true},
		{[]FenceClaim{{"c", 3}, {"b", 3}, {"d", 3}}, FenceClaim{"b", 3}, true},
		{[]FenceClaim{{"b", 3}, {"", 9}, {"a", 0}}, FenceClaim{"b", 3}, true},
	} {
		for _, claims := range [][]FenceClaim{c.claims, reversed(c.claims)} {
			got, ok := Rightful(claims)
			if got != c.want || ok != c.ok {
				t.Errorf("Rightful(%v) = %v %v, want %v %v", claims, got, ok, c.want, c.ok)
			}
		}
	}
}

func reversed[T any](sec []T) []T {
	r := slices.Clone(sec)
	slices.Reverse(r)
	return r
}

// After a partition heals, every host that hears the same claims agrees
// which one runs the unit, and the others stop theirs.
func ExampleRightful() {
	c, _ := Rightful([]FenceClaim{{"b", 3}, {"a", 3}, {"c", 2}})
	fmt.Println(c.Host, c.Epoch)
	// Output: a 3
}
