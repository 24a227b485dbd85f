package cluster

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The Fencer on real nodes over real gossip, with the fence's packets
// cut between chosen hosts. The durations are short (W = 0.45 s) so that
// each failover takes about a second; the rule itself is tested with
// exact durations in fence_test.go and fence_sim_test.go.

// bootTime is CLOCK_BOOTTIME, as the agent gives its Fencer.
func bootTime() time.Duration {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts)
	return time.Duration(ts.Nano())
}

func testFenceParams() FenceParams {
	return FenceParams{Heartbeat: 50 * time.Millisecond, Hold: 200 * time.Millisecond, KillGrace: 200 * time.Millisecond, Rho: 1e-3}
}

// cuts is a set of one-way links that drop the fence's packets.
type cuts struct {
	mu  sync.Mutex
	cut map[[2]string]bool
}

func (c *cuts) drop(from, to string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cut[[2]string{from, to}]
}

// set cuts (or mends) both directions between a and b.
func (c *cuts) set(a, b string, cut bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cut == nil {
		c.cut = map[[2]string]bool{}
	}
	c.cut[[2]string{a, b}], c.cut[[2]string{b, a}] = cut, cut
}

// isolate cuts host off from every other.
func (c *cuts) isolate(host string, all []*Node) {
	for _, n := range all {
		if n.Self() != host {
			c.set(host, n.Self(), true)
		}
	}
}

func startFencer(t *testing.T, n *Node, voters []string, c *cuts, dir string) *Fencer {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	fz, err := NewFencer(n, FencerConfig{
		Params: testFenceParams(), Voters: voters, StateDir: dir,
		Exclusive: func(u string) bool { return u == "db" },
		Now:       bootTime, Log: n.log, cut: c.drop,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fz.Close)
	return fz
}

// leaseWatch follows, every millisecond, each Fencer's lease on "db":
// for each host, the latest Until it held and the earliest Since (Until
// − Hold, the send time of the heartbeat its lease rests on, which comes
// before the host knew it held) of each stretch of holding.
type leaseWatch struct {
	mu      sync.Mutex
	stints  map[string][]stint
	stop    chan struct{}
	stopped chan struct{}
}

type stint struct{ since, until time.Duration }

func watchLeases(t *testing.T, fzs ...*Fencer) *leaseWatch {
	w := &leaseWatch{stints: map[string][]stint{}, stop: make(chan struct{}), stopped: make(chan struct{})}
	go func() {
		defer close(w.stopped)
		held := map[string]bool{}
		for {
			select {
			case <-w.stop:
				return
			case <-time.After(time.Millisecond):
			}
			w.mu.Lock()
			for _, fz := range fzs {
				l, h := fz.Lease("db"), fz.self
				if !l.Held {
					held[h] = false
					continue
				}
				s := w.stints[h]
				if !held[h] {
					// Since, when the host began to hold it: not Until - Hold,
					// the heartbeat its quorum acknowledged, which a claimant
					// may have sent before it won.
					s = append(s, stint{since: l.Since})
				}
				s[len(s)-1].until = max(s[len(s)-1].until, l.Until)
				w.stints[h], held[h] = s, true
			}
			w.mu.Unlock()
		}
	}()
	t.Cleanup(w.end)
	return w
}

func (w *leaseWatch) end() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.stopped
}

// overlaps fails t if two hosts' instances could have run at once: a
// stint begins before another host's earlier stint ended, its kill grace
// included.
func (w *leaseWatch) overlaps(t *testing.T) {
	t.Helper()
	w.end()
	grace := testFenceParams().KillGrace
	for a, sa := range w.stints {
		for b, sb := range w.stints {
			if a == b {
				continue
			}
			for _, x := range sa {
				for _, y := range sb {
					if x.since <= y.since && y.since < x.until+grace {
						t.Errorf("%s held from %s while %s held until %s (+ kill grace %s)", b, y.since, a, x.until, grace)
					}
				}
			}
		}
	}
}

func waitLease(t *testing.T, fz *Fencer, held bool, within time.Duration) HostLease {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		l := fz.Lease("db")
		if l.Held == held {
			return l
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: lease held=%v after %s, want %v (%s)", fz.self, l.Held, within, held, l.Status)
		}
		select {
		case <-fz.Changed():
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// stays checks that fz's lease stays as held says for d.
func stays(t *testing.T, fz *Fencer, held bool, d time.Duration) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if l := fz.Lease("db"); l.Held != held {
			t.Fatalf("%s: lease held=%v, want %v for %s (%s)", fz.self, l.Held, held, d, l.Status)
		}
	}
}

func TestFencerFailsOverAfterTheHolderIsCutOff(t *testing.T) {
	nodes := cluster3(t, nil)
	c := &cuts{}
	voters := []string{"a", "b", "c"}
	a, b := startFencer(t, nodes[0], voters, c, ""), startFencer(t, nodes[1], voters, c, "")
	startFencer(t, nodes[2], voters, c, "")
	w := watchLeases(t, a, b)

	a.Want([]string{"db"})
	la := waitLease(t, a, true, 5*time.Second)
	if la.Epoch != 1 {
		t.Errorf("first lease at epoch %d, want 1", la.Epoch)
	}
	stays(t, a, true, 4*a.Fence().W()) // renewed, heartbeat after heartbeat
	if l := a.Lease("db"); l.Since != la.Since || l.Until <= la.Until {
		t.Errorf("renewed lease since %s until %s, want since %s as at first and until after %s", l.Since, l.Until, la.Since, la.Until)
	}
	b.Want([]string{"db"}) // both want it: b must wait while a holds
	stays(t, b, false, 4*a.Fence().W())
	if !a.Lease("db").Held {
		t.Fatal("a lost its lease to a claimant while it was heard")
	}

	c.isolate("a", nodes)
	waitLease(t, a, false, 2*testFenceParams().Hold)
	lb := waitLease(t, b, true, 10*a.Fence().W())
	if lb.Epoch <= la.Epoch {
		t.Errorf("b holds epoch %d, not above a's %d", lb.Epoch, la.Epoch)
	}
	// b keeps its lease (heartbeats acknowledged by b and c), and when a
	// is heard again it does not take the unit back.
	stays(t, b, true, 4*a.Fence().W())
	c.set("a", "b", false)
	c.set("a", "c", false)
	stays(t, a, false, 4*a.Fence().W())
	stays(t, b, true, a.Fence().W())
	w.overlaps(t)
}

// The asymmetric partition: a–b and b–c up, a–c cut. b still hears the
// holder a, so c, which does not, gathers no quorum: a keeps the unit.
func TestFencerAsymmetricPartitionKeepsTheHolder(t *testing.T) {
	nodes := cluster3(t, nil)
	c := &cuts{}
	voters := []string{"a", "b", "c"}
	a := startFencer(t, nodes[0], voters, c, "")
	startFencer(t, nodes[1], voters, c, "")
	fc := startFencer(t, nodes[2], voters, c, "")
	w := watchLeases(t, a, fc)
	a.Want([]string{"db"})
	waitLease(t, a, true, 5*time.Second)
	c.set("a", "c", true)
	fc.Want([]string{"db"})
	for end := time.Now().Add(6 * a.Fence().W()); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if !a.Lease("db").Held {
			t.Fatalf("a lost its lease through b: %s", a.Lease("db").Status)
		}
		if fc.Lease("db").Held {
			t.Fatal("c took the lease while b still heard a")
		}
	}
	if st := fc.Lease("db").Status; !strings.Contains(st, "claiming epoch") {
		t.Errorf("c's status %q does not say it claims", st)
	}
	w.overlaps(t)
}

// A fleet of two never fails over by itself; the operator's release lets
// the survivor start, W later.
func TestFencerTwoHostsNeedTheOperator(t *testing.T) {
	na := start(t, "a", nil)
	nb := start(t, "b", func(c *Config) { c.Join = []string{na.Addr()} })
	waitHosts(t, nb, "a Ready", func(hs map[string]Host) bool { return status(hs, "a") == Ready })
	waitHosts(t, na, "b Ready", func(hs map[string]Host) bool { return status(hs, "b") == Ready })
	c := &cuts{}
	voters := []string{"a", "b"}
	a, b := startFencer(t, na, voters, c, ""), startFencer(t, nb, voters, c, "")
	w := watchLeases(t, a, b)
	if _, err := b.Release("db"); err == nil || !strings.Contains(err.Error(), "does not claim") {
		t.Errorf("release on a host that does not claim: %v", err)
	}
	a.Want([]string{"db"})
	waitLease(t, a, true, 5*time.Second)
	b.Want([]string{"db"})
	c.set("a", "b", true)
	waitLease(t, a, false, 2*testFenceParams().Hold)
	stays(t, b, false, 6*a.Fence().W())
	held, err := b.Release("db")
	if err != nil {
		t.Fatal(err)
	}
	if held.Host != "a" || held.Epoch != 1 {
		t.Errorf("released %+v, want a at epoch 1", held)
	}
	released := bootTime()
	lb := waitLease(t, b, true, 4*a.Fence().W())
	if since := lb.Until - testFenceParams().Hold; since < released {
		t.Errorf("b's lease rests on a heartbeat sent %s before the release", released-since)
	}
	if time.Duration(bootTime()-released) < a.Fence().W() {
		t.Errorf("b started %s after the release, before W = %s", bootTime()-released, a.Fence().W())
	}
	w.overlaps(t)
}

// A holder whose agent restarts within Hold holds again at once, at the
// same epoch, from what it kept on disk.
func TestFencerRestartedHolderKeepsItsEpoch(t *testing.T) {
	nodes := cluster3(t, nil)
	c := &cuts{}
	voters := []string{"a", "b", "c"}
	dir := t.TempDir()
	a := startFencer(t, nodes[0], voters, c, dir)
	startFencer(t, nodes[1], voters, c, "")
	startFencer(t, nodes[2], voters, c, "")
	a.Want([]string{"db"})
	l1 := waitLease(t, a, true, 5*time.Second)
	a.Close()
	a2 := startFencer(t, nodes[0], voters, c, dir)
	a2.Want([]string{"db"})
	l2 := waitLease(t, a2, true, a.Fence().W()/2)
	if l2.Epoch != l1.Epoch {
		t.Errorf("after a restart the holder holds epoch %d, want its %d", l2.Epoch, l1.Epoch)
	}
}

func TestFencerRefusesAStateFileItCannotRead(t *testing.T) {
	n := start(t, "a", nil)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, fenceFile), []byte("{torn"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := NewFencer(n, FencerConfig{Params: testFenceParams(), Voters: []string{"a"}, StateDir: dir, Now: bootTime})
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, fenceFile)) {
		t.Fatalf("NewFencer on a torn state file: %v, want an error naming it", err)
	}
}

// Hosts configured with different voter sets do not answer each other.
func TestFencerIgnoresAnotherVoterSet(t *testing.T) {
	nodes := cluster3(t, nil)
	c := &cuts{}
	a := startFencer(t, nodes[0], []string{"a", "b", "c"}, c, "")
	startFencer(t, nodes[1], []string{"a", "b"}, c, "")
	startFencer(t, nodes[2], []string{"a", "b"}, c, "")
	a.Want([]string{"db"})
	stays(t, a, false, 4*a.Fence().W())
}

// A host that has just booted waits W after its boot before it starts an
// exclusive unit, even when the voters promise at once: it knows nothing
// of what it held before the reboot.
func TestFencerWaitsWAfterBoot(t *testing.T) {
	nodes := cluster3(t, nil)
	c := &cuts{}
	voters := []string{"a", "b", "c"}
	startFencer(t, nodes[1], voters, c, "")
	fb := startFencer(t, nodes[2], voters, c, "")
	// Voters silent for W already: they promise the first heartbeat.
	time.Sleep(fb.Fence().W())
	booted := bootTime() - 50*time.Millisecond // the host came up 50 ms ago
	justBooted := func() time.Duration { return bootTime() - booted }
	a, err := NewFencer(nodes[0], FencerConfig{
		Params: testFenceParams(), Voters: voters, StateDir: t.TempDir(),
		Exclusive: func(u string) bool { return u == "db" }, Now: justBooted, Log: nodes[0].log, cut: c.drop,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	a.Want([]string{"db"})
	waitLease(t, a, true, 5*time.Second)
	if up := justBooted(); up < a.Fence().W() {
		t.Fatalf("held %s after boot, before W = %s", up, a.Fence().W())
	}
}
