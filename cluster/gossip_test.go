package cluster

import (
	"bytes"
	"fmt"
	"net"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/tendhq/tend/units"
)

// waitFor polls cond until it holds, or fails with what.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testDeadline)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond) // gossip moves on memberlist's own timers
	}
}

// cluster3 starts three joined nodes and waits until each knows all.
func cluster3(t *testing.T, mod func(*Config)) []*Node {
	a := start(t, "a", mod)
	b := start(t, "b", func(c *Config) {
		if mod != nil {
			mod(c)
		}
		c.Join = []string{a.Addr()}
	})
	c := start(t, "c", func(c *Config) {
		if mod != nil {
			mod(c)
		}
		c.Join = []string{a.Addr()}
	})
	nodes := []*Node{a, b, c}
	for _, n := range nodes {
		waitHosts(t, n, "three Ready", func(hs map[string]Host) bool {
			return status(hs, "a") == Ready && status(hs, "b") == Ready && status(hs, "c") == Ready
		})
	}
	return nodes
}

func specOf(n *Node, name string) (string, bool) {
	e, ok := n.Catalog().Get(name)
	if !ok || e.Deleted {
		return "", false
	}
	return string(e.Spec), true
}

func TestUnitsReachEveryHost(t *testing.T) {
	nodes := cluster3(t, nil)
	nodes[0].SetUnit("kubia", []byte("kind = \"replicated\"\n"))
	for _, n := range nodes {
		waitFor(t, n.Self()+" has kubia", func() bool { s, ok := specOf(n, "kubia"); return ok && strings.HasPrefix(s, "kind") })
	}
	nodes[1].SetUnit("kubia", nil)
	for _, n := range nodes {
		waitFor(t, n.Self()+" has kubia deleted", func() bool { e, ok := n.Catalog().Get("kubia"); return ok && e.Deleted })
	}
}

// A unit file too large for a broadcast (64 KB) travels whole: its digest
// is broadcast and each host fetches the file from its origin.
func TestALargeUnitReplicatesIntact(t *testing.T) {
	nodes := cluster3(t, nil)
	big := bytes.Repeat([]byte("# a comment that makes the file large\n"), 64<<10/38+1)
	nodes[2].SetUnit("big", big)
	for _, n := range nodes {
		waitFor(t, n.Self()+" has the large unit", func() bool { s, ok := specOf(n, "big"); return ok && s == string(big) })
	}
}

// A host that joins late, or was away, catches up by push/pull.
func TestALateHostCatchesUp(t *testing.T) {
	nodes := cluster3(t, nil)
	for k := range 20 {
		nodes[k%3].SetUnit(fmt.Sprintf("u%02d", k), fmt.Appendf(nil, "v%d", k))
	}
	nodes[0].SetItem("instance/x", []byte("summary"))
	d := start(t, "d", func(c *Config) { c.Join = []string{nodes[1].Addr()} })
	waitFor(t, "d caught up", func() bool {
		if len(d.Catalog().Entries()) != 20 {
			return false
		}
		for _, it := range d.Items() {
			if it.Host == "a" && it.Key == "instance/x" && string(it.Data) == "summary" {
				return true
			}
		}
		return false
	})
}

// A host that joins is CaughtUp only once it has what the join showed
// it lacks: every unit, and every host's items, however many batches
// they take.
func TestCaughtUpMeansEverythingArrived(t *testing.T) {
	nodes := cluster3(t, nil)
	for k := range 40 {
		nodes[k%3].SetUnit(fmt.Sprintf("u%02d", k), bytes.Repeat([]byte{'v'}, 1000))
	}
	for k := range 300 {
		for _, n := range nodes[:2] {
			n.SetItem(fmt.Sprintf("instance/x%03d", k), bytes.Repeat([]byte{'s'}, 100))
		}
	}
	for _, n := range nodes {
		waitFor(t, n.Self()+" has the others' items and every unit", func() bool {
			return len(n.Items()) == 300*len(slices.DeleteFunc(slices.Clone(nodes[:2]), func(o *Node) bool { return o == n })) &&
				len(n.Catalog().Entries()) == 40
		})
	}
	d := start(t, "d", func(c *Config) { c.Join = []string{nodes[2].Addr()} })
	<-d.Joined()
	waitFor(t, "d caught up", d.CaughtUp)
	byHost := map[string]int{}
	for _, it := range d.Items() {
		byHost[it.Host]++
	}
	if len(d.Catalog().Entries()) != 40 || byHost["a"] != 300 || byHost["b"] != 300 {
		t.Fatalf("caught up with %d units and items %v, want 40 and 300 of a and of b", len(d.Catalog().Entries()), byHost)
	}
}

// Two hosts define one unit at once: every host ends with the same
// winner, and the conflict is reported.
func TestConcurrentDefinitionsConverge(t *testing.T) {
	nodes := cluster3(t, nil)
	nodes[0].SetUnit("web", []byte("from a"))
	nodes[2].SetUnit("web", []byte("from c"))
	var winner string
	waitFor(t, "one winner everywhere", func() bool {
		var got []string
		for _, n := range nodes {
			s, _ := specOf(n, "web")
			got = append(got, s)
		}
		winner = got[0]
		return got[0] != "" && got[0] == got[1] && got[1] == got[2]
	})
	select {
	case c := <-nodes[1].Conflicts():
		if c.Name != "web" || "from "+c.Winner.Origin != winner {
			t.Fatalf("conflict %+v, winner %q", c, winner)
		}
	case c := <-nodes[0].Conflicts():
		if c.Name != "web" {
			t.Fatalf("conflict %+v", c)
		}
	case c := <-nodes[2].Conflicts():
		if c.Name != "web" {
			t.Fatalf("conflict %+v", c)
		}
	case <-time.After(testDeadline):
		t.Fatal("no host reported the conflict")
	}
}

func TestHostItemsReachEveryHost(t *testing.T) {
	nodes := cluster3(t, nil)
	nodes[1].SetItem("instance/kubia-x", []byte("running"))
	has := func(n *Node, data string) bool {
		for _, it := range n.Items() {
			if it.Host == "b" && it.Key == "instance/kubia-x" {
				return string(it.Data) == data
			}
		}
		return data == ""
	}
	for _, n := range []*Node{nodes[0], nodes[2]} {
		waitFor(t, n.Self()+" has b's item", func() bool { return has(n, "running") })
	}
	if len(nodes[1].Items()) != 0 {
		t.Fatal("a host lists its own items among the others'")
	}
	nodes[1].SetItem("instance/kubia-x", nil)
	for _, n := range []*Node{nodes[0], nodes[2]} {
		waitFor(t, n.Self()+" has b's item removed", func() bool { return has(n, "") })
	}
}

// A host without the cluster's key cannot put a unit into the catalog by
// sending gossip to a member directly.
func TestAStrangerCannotInjectUnits(t *testing.T) {
	key := []byte("0123456789abcdef")
	nodes := cluster3(t, func(c *Config) { c.Keys = [][]byte{key}; c.ClusterName = "fleet" })
	stranger := start(t, "mallory", func(c *Config) { c.ClusterName = "fleet" })
	host, port, _ := net.SplitHostPort(nodes[0].Addr())
	p, _ := strconv.Atoi(port)
	target := &memberlist.Node{Name: "a", Addr: net.ParseIP(host), Port: uint16(p)}
	forged := Entry{Name: "evil", Spec: []byte("x"), Version: Version([]byte("x")), Stamp: Stamp{Wall: time.Now().UnixNano()}, Origin: "a"}
	stranger.ml.SendReliable(target, encode(msgEntry, forged))
	stranger.ml.SendBestEffort(target, encode(msgEntry, forged))
	// A change made by a member afterwards arrives; the forged one never.
	nodes[1].SetUnit("good", []byte("ok"))
	waitFor(t, "a has the member's unit", func() bool { _, ok := specOf(nodes[0], "good"); return ok })
	if _, ok := nodes[0].Catalog().Get("evil"); ok {
		t.Fatal("a unit sent by a host without the key was taken")
	}
}

func TestHostStateMerge(t *testing.T) {
	s := newHostState()
	old := Item{Host: "b", Key: "k", Stamp: Stamp{Wall: 1}, Data: []byte("old")}
	newer := Item{Host: "b", Key: "k", Stamp: Stamp{Wall: 2}, Data: []byte("new")}
	gone := Item{Host: "b", Key: "k", Stamp: Stamp{Wall: 3}}
	if !s.merge(newer) || s.merge(old) || s.merge(newer) {
		t.Fatal("an older or repeated item was news")
	}
	if got := s.items(""); len(got) != 1 || string(got[0].Data) != "new" {
		t.Fatalf("items %v", got)
	}
	if !s.merge(gone) || len(s.items("")) != 0 || s.merge(newer) {
		t.Fatal("a removal did not hold")
	}
	s.merge(Item{Host: "c", Key: "k", Stamp: Stamp{Wall: 1}, Data: []byte("c")})
	if got := s.items("c"); len(got) != 0 {
		t.Fatalf("items but c's: %v", got)
	}
	if news, dropped := s.deleteHost(Deletion{Host: "c", Stamp: Stamp{Wall: 1}}); !news || !dropped || len(s.items("")) != 0 {
		t.Fatal("deleting host c left its items")
	}
	if n := s.forgetTombstones(time.Unix(0, 3).Add(time.Minute), 2*time.Minute); n != 0 {
		t.Fatal("a young removal forgotten")
	}
	if n := s.forgetTombstones(time.Unix(0, 3).Add(time.Hour), 2*time.Minute); n != 1 || len(s.digests()) != 0 {
		t.Fatal("an old removal kept")
	}
}

// A restarted host knows the catalog, with its stamps, before it hears
// from anyone.
func TestTheCatalogSurvivesARestart(t *testing.T) {
	dir := t.TempDir()
	a := start(t, "a", func(c *Config) { c.StateDir = dir })
	e, _ := a.SetUnit("kubia", []byte("v1"))
	a.SetUnit("gone", []byte("x"))
	a.SetUnit("gone", nil)
	a.Close()
	b := start(t, "a", func(c *Config) { c.StateDir = dir })
	got, ok := b.Catalog().Get("kubia")
	if !ok || got.Stamp != e.Stamp || string(got.Spec) != "v1" {
		t.Fatalf("after the restart: %+v %v", got, ok)
	}
	if g, _ := b.Catalog().Get("gone"); !g.Deleted {
		t.Fatalf("the tombstone was lost: %+v", g)
	}
	// The clock carries on after the stamps it knows.
	if e2, _ := b.SetUnit("kubia", []byte("v2")); !e.Stamp.Before(e2.Stamp) {
		t.Fatalf("new stamp %v not after %v", e2.Stamp, e.Stamp)
	}
}

// A change whose broadcasts were all lost is repaired by the catalog sums
// in seconds, not at the next push/pull (turned off here).
func TestALostChangeIsRepaired(t *testing.T) {
	noPushPull := func(c *Config) { c.tune = func(m *memberlist.Config) { m.PushPullInterval = 0 } }
	nodes := cluster3(t, noPushPull)
	nodes[0].Catalog().Set("quiet", []byte("never broadcast")) // as if every packet were lost
	for _, n := range nodes[1:] {
		waitFor(t, n.Self()+" repaired", func() bool { s, ok := specOf(n, "quiet"); return ok && s == "never broadcast" })
	}
}

// Each host's items add up to a digest that depends on the live items
// alone, and a host's own whole list replaces what others kept of it.
func TestHostDigests(t *testing.T) {
	a, b := newHostState(), newHostState()
	x := Item{Host: "h", Key: "x", Stamp: Stamp{Wall: 1}, Data: []byte("x")}
	y := Item{Host: "h", Key: "y", Stamp: Stamp{Wall: 2}, Data: []byte("y")}
	yGone := Item{Host: "h", Key: "y", Stamp: Stamp{Wall: 3}}
	a.merge(x)
	a.merge(y)
	a.merge(yGone)
	b.merge(yGone)
	b.merge(x)
	if da, db := a.digest("h"), b.digest("h"); da != db {
		t.Fatalf("same items, digests %+v and %+v", da, db)
	}
	if d := b.digest("h"); d.Last != yGone.Stamp || d.Sum == 0 {
		t.Fatalf("digest %+v", d)
	}
	// b missed the removal of y but heard of a later change.
	c := newHostState()
	c.merge(x)
	c.merge(y)
	z := Item{Host: "h", Key: "z", Stamp: Stamp{Wall: 4}, Data: []byte("z")}
	c.merge(z)
	a.merge(z)
	if !a.digest("h").behind(c.digest("h")) || !c.digest("h").behind(a.digest("h")) {
		t.Fatal("equal latest stamps, different items: both sides should ask")
	}
	if a.digest("h").behind(a.digest("h")) || newHostState().digest("h").behind(hostDigest{Host: "h", Last: Stamp{Wall: 9}}) {
		t.Fatal("nothing live to lack, but behind")
	}
	// h restarted and never removed y: its whole list, latest stamp 5,
	// removes y from c, keeps what is newer than the list.
	late := Item{Host: "h", Key: "late", Stamp: Stamp{Wall: 6}, Data: []byte("l")}
	c.merge(late)
	changed := c.replace("h", []Item{x, z}, Stamp{Wall: 5})
	if len(changed) != 1 || changed[0] != "y" {
		t.Fatalf("changed %v", changed)
	}
	if got := c.items(""); len(got) != 3 || got[0].Key != "late" || got[1].Key != "x" || got[2].Key != "z" {
		t.Fatalf("items %v", got)
	}
	if c.merge(y) {
		t.Fatal("the removed item came back")
	}
}

// A push/pull carries one digest a host, however many instances each has:
// 1000 hosts of 100 instances took 7.1 MB with a digest an item (a third
// of memberlist's 20 MiB cap; 3000 such hosts would not have fitted).
func TestPushPullStateGrowsWithHostsNotInstances(t *testing.T) {
	n := &Node{cfg: Config{Name: "h0000"}, catalog: NewCatalog("h0000", NewHLC(nil)), state: newHostState()}
	for h := range 1000 {
		for k := range 100 {
			n.state.merge(Item{Host: fmt.Sprintf("h%04d", h), Key: fmt.Sprintf("i/web-%05d", k), Stamp: Stamp{Wall: int64(1e18) + int64(h*100+k)}, Data: []byte("s")})
		}
	}
	size := len(n.localState())
	if size > 100*1000 {
		t.Fatalf("1000 hosts of 100 instances: a push/pull of %d bytes, want at most 100 bytes a host", size)
	}
}

// Items that no broadcast carried, of the members and of many hosts that
// are gone, reach every host through push/pulls and the wants they
// raise; each push/pull stays a digest a host; and a copy of an item its
// host does not have (it restarted since) is dropped once that host is
// asked.
func TestManyHostsItemsConvergeThroughPushPull(t *testing.T) {
	nodes := cluster3(t, nil)
	a, b, c := nodes[0], nodes[1], nodes[2]
	const gone, perGone = 200, 50
	stamp := a.clock.Now()
	for h := range gone {
		for k := range perGone {
			a.state.merge(Item{Host: fmt.Sprintf("gone%03d", h), Key: fmt.Sprintf("i/x-%02d", k), Stamp: stamp, Data: []byte("summary of an instance of a host that is gone")})
		}
	}
	ghost := Item{Host: "b", Key: "i/before-restart", Stamp: b.clock.Now(), Data: []byte("ran before b restarted")}
	c.state.merge(ghost)
	for k := range 300 {
		a.state.merge(Item{Host: "a", Key: fmt.Sprintf("i/a-%03d", k), Stamp: a.clock.Now(), Data: []byte("a's")})
	}
	for k := range 100 {
		b.state.merge(Item{Host: "b", Key: fmt.Sprintf("i/b-%03d", k), Stamp: b.clock.Now(), Data: []byte("b's")})
	}
	want := a.state.digests()
	want = append(want, b.state.digest("b"))
	slices.SortFunc(want, func(x, y hostDigest) int { return strings.Compare(x.Host, y.Host) })
	for _, n := range nodes {
		waitFor(t, n.Self()+" holds every host's items", func() bool {
			return slices.Equal(n.state.digests(), want)
		})
	}
	for _, n := range []*Node{a, c} {
		if it, _ := n.state.get("b", ghost.Key); it.Data != nil {
			t.Fatalf("%s still shows an item b does not have", n.Self())
		}
	}
	if got := len(c.Items()); got != gone*perGone+300+100 {
		t.Fatalf("c holds %d items of the others", got)
	}
	for _, n := range nodes {
		if size := len(n.localState()); size > 100*(gone+3) {
			t.Fatalf("%s: a push/pull of %d bytes for %d hosts", n.Self(), size, gone+3)
		}
	}
}

// A burst of changes larger than the broadcast queue does not pile up in
// it, and still reaches every host: what was dropped from the queue comes
// with the push/pulls.
func TestABurstBeyondTheQueueConverges(t *testing.T) {
	nodes := cluster3(t, nil)
	a := nodes[0]
	const burst = 4 * maxQueued
	for k := range burst {
		a.SetItem(fmt.Sprintf("i/burst-%04d", k), []byte("an instance's summary"))
	}
	if q := a.queue.NumQueued(); q > maxQueued {
		t.Fatalf("%d broadcasts queued, want at most %d", q, maxQueued)
	}
	for _, n := range nodes[1:] {
		waitFor(t, n.Self()+" has the whole burst", func() bool { return len(n.Items()) == burst })
	}
}

// A host that joins late catches up on a catalog larger than one
// reliable message may carry (memberlist refuses those over 20 MiB): 16
// unit files at the 1 MiB limit are 21 MiB as JSON.
func TestALargeCatalogReachesALateHost(t *testing.T) {
	if raceEnabled() {
		// Under the race detector, JSON and LZW over 21 MiB take longer
		// than the wants they answer wait, and the wants repeat.
		t.Skip("too slow under the race detector")
	}
	a := start(t, "a", nil)
	const count = 16
	for k := range count {
		// Not broadcast: what a host that joins asks for at its push/pull.
		a.Catalog().Set(fmt.Sprintf("big-%02d", k), bytes.Repeat([]byte{'#', byte('a' + k), '\n'}, units.MaxFileSize/3))
	}
	d := start(t, "d", func(c *Config) { c.Join = []string{a.Addr()} })
	waitFor(t, "d has every large unit", func() bool { return len(d.Catalog().Entries()) == count })
}

// raceEnabled reports whether the test binary was built with -race.
func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

func TestBatchesStayUnderTheirSize(t *testing.T) {
	entry := func(size int) Entry { return Entry{Name: fmt.Sprint(size), Spec: make([]byte, size)} }
	es := []Entry{entry(100), entry(600 << 10), entry(300 << 10), entry(2 << 20), entry(10)}
	got := batches(es, 1<<20)
	var sizes [][]int
	for _, b := range got {
		var s []int
		for _, e := range b.Entries {
			s = append(s, len(e.Spec))
		}
		sizes = append(sizes, s)
	}
	want := [][]int{{100, 600 << 10}, {300 << 10}, {2 << 20}, {10}}
	if fmt.Sprint(sizes) != fmt.Sprint(want) {
		t.Fatalf("batches of %v, want %v", sizes, want)
	}
}

// An item whose broadcasts were all lost (or dropped from a full queue)
// is repaired in seconds by its host's sums, not at the next push/pull
// (turned off here), and not only by a peer that happens to have it.
func TestALostItemIsRepairedBySums(t *testing.T) {
	noPushPull := func(c *Config) { c.tune = func(m *memberlist.Config) { m.PushPullInterval = 0 } }
	nodes := cluster3(t, noPushPull)
	a := nodes[0]
	a.state.merge(Item{Host: "a", Key: "i/quiet", Stamp: a.clock.Now(), Data: []byte("never broadcast")})
	for _, n := range nodes[1:] {
		waitFor(t, n.Self()+" repaired", func() bool {
			it, ok := n.state.get("a", "i/quiet")
			return ok && string(it.Data) == "never broadcast"
		})
	}
}
