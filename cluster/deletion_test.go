package cluster

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

// The merge rule of a host's deletion, on the host state alone: it drops
// what is stamped up to it and refuses that much from then on, leaves
// what is later, and a later deletion wins over an earlier one.
func TestAHostsDeletionMerges(t *testing.T) {
	s := newHostState()
	old := Item{Host: "c", Key: "i/web-1", Stamp: Stamp{Wall: 10}, Data: []byte("web-1")}
	gone := Item{Host: "c", Key: "i/web-0", Stamp: Stamp{Wall: 11}} // a removed instance
	newest := Item{Host: "c", Key: "i/web-2", Stamp: Stamp{Wall: 20}, Data: []byte("web-2")}
	other := Item{Host: "b", Key: "i/db-0", Stamp: Stamp{Wall: 5}, Data: []byte("db-0")}
	for _, it := range []Item{old, gone, newest, other} {
		s.merge(it)
	}

	// A deletion older than c's newest state does not remove that state.
	early := Deletion{Host: "c", Stamp: Stamp{Wall: 15}, Origin: "a"}
	if news, dropped := s.deleteHost(early); !news || !dropped {
		t.Fatalf("the first deletion: news %v, dropped %v", news, dropped)
	}
	if got := keys(s.items("")); fmt.Sprint(got) != "[b/i/db-0 c/i/web-2]" {
		t.Fatalf("after a deletion older than c's newest item: %v", got)
	}
	// A newer one removes it all; b's items are b's.
	late := Deletion{Host: "c", Stamp: Stamp{Wall: 30}, Origin: "a"}
	if news, dropped := s.deleteHost(late); !news || !dropped {
		t.Fatalf("the later deletion: news %v, dropped %v", news, dropped)
	}
	if got := keys(s.items("")); fmt.Sprint(got) != "[b/i/db-0]" {
		t.Fatalf("after a deletion newer than all of c: %v", got)
	}
	if d := s.digest("c"); d != (hostDigest{Host: "c"}) {
		t.Fatalf("c's digest after its deletion: %+v", d)
	}
	// The same deletion again, or an earlier one heard late, is no news.
	for _, d := range []Deletion{late, early, {Host: "c", Stamp: Stamp{Wall: 29, Logical: 9}, Origin: "z"}} {
		if news, _ := s.deleteHost(d); news {
			t.Errorf("deletion %+v after %+v was news", d, late)
		}
	}
	if d, _ := s.deletion("c"); d != late {
		t.Fatalf("kept %+v, want %+v", d, late)
	}
	// At the same stamp, the greater origin wins, on every host alike.
	tie := Deletion{Host: "c", Stamp: late.Stamp, Origin: "b"}
	if !tie.after(late) || late.after(tie) {
		t.Fatal("a tie is not broken by origin")
	}

	// Old state spread again after the deletion is refused: an item, a
	// host's whole list from someone who had not heard, and a digest
	// that shows nothing later is not even asked for.
	if s.merge(old) || s.merge(newest) {
		t.Fatal("an item from before the deletion was taken")
	}
	if changed := s.replace("c", []Item{old, newest}, Stamp{Wall: 20}); len(changed) != 0 || len(s.items("")) != 1 {
		t.Fatalf("a whole list from before the deletion changed %v", changed)
	}
	stale := hostDigest{Host: "c", Last: Stamp{Wall: 20}, Sum: 42}
	if s.wants(stale) {
		t.Fatal("asked for items that are all older than the deletion")
	}
	// c comes back: what it says after the deletion is taken.
	back := Item{Host: "c", Key: "i/web-3", Stamp: Stamp{Wall: 31}, Data: []byte("web-3")}
	if !s.wants(hostDigest{Host: "c", Last: back.Stamp, Sum: 7}) {
		t.Fatal("c's state after its deletion is not asked for")
	}
	if !s.merge(back) {
		t.Fatal("an item after the deletion was refused")
	}
	if got := keys(s.items("")); fmt.Sprint(got) != "[b/i/db-0 c/i/web-3]" {
		t.Fatalf("after c came back: %v", got)
	}
	// Deletions are kept for their time, then forgotten.
	ds, gen := s.deletions()
	if len(ds) != 1 || ds[0] != late || gen == 0 {
		t.Fatalf("deletions %v, gen %d", ds, gen)
	}
	if s.forgetDeletions(time.Unix(0, 30).Add(time.Hour), 2*time.Hour) != 0 {
		t.Fatal("a young deletion forgotten")
	}
	if s.forgetDeletions(time.Unix(0, 30).Add(3*time.Hour), 2*time.Hour) != 1 || !s.merge(Item{Host: "c", Key: "i/web-1", Stamp: Stamp{Wall: 12}, Data: []byte("x")}) {
		t.Fatal("a forgotten deletion still refuses")
	}
	if _, gen2 := s.deletions(); gen2 == gen {
		t.Fatal("forgetting a deletion is no change to save")
	}
}

func keys(items []Item) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.Host+"/"+it.Key)
	}
	return out
}

func itemOf(n *Node, host, key string) (Item, bool) {
	for _, it := range n.Items() {
		if it.Host == host && it.Key == key {
			return it, true
		}
	}
	return Item{}, false
}

// A dead host deleted on one host goes from every host, with its items;
// memberlist's memory of it and old copies of its state do not bring it
// back; and when it comes back itself, it is a member again.
func TestADeletedHostGoesFromEveryHost(t *testing.T) {
	a := start(t, "a", nil)
	b := start(t, "b", func(c *Config) { c.Join = []string{a.Addr()} })
	cDir, cBind := t.TempDir(), fmt.Sprintf("127.0.0.1:%d", freePort(t))
	c := start(t, "c", func(cfg *Config) { cfg.StateDir, cfg.Bind, cfg.Join = cDir, cBind, []string{a.Addr()} })
	c.SetItem("i/web-2", []byte("web-2 on c"))
	for _, n := range []*Node{a, b} {
		waitFor(t, n.Self()+" has c's item", func() bool { _, ok := itemOf(n, "c", "i/web-2"); return ok })
	}
	old, _ := itemOf(b, "c", "i/web-2")
	c.Close() // dies, without a word
	for _, n := range []*Node{a, b} {
		waitHosts(t, n, "c NotReady", func(hs map[string]Host) bool { return status(hs, "c") == NotReady })
	}
	// c's metadata as memberlist keeps it, with the life it told.
	oldMeta, _, _ := encodeMeta("test", "", time.Now(), hostMap(b.Hosts())["c"].life, nil)

	// Refused: a Ready host (this one or another), and one nobody knows.
	for name, want := range map[string]error{"a": ErrHostReady, "b": ErrHostReady, "nobody": ErrNoHost} {
		if err := a.DeleteHost(name); !errors.Is(err, want) {
			t.Errorf("DeleteHost(%q) = %v, want %v", name, err, want)
		}
	}
	if err := a.DeleteHost("c"); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*Node{a, b} {
		waitFor(t, n.Self()+" has forgotten c", func() bool {
			_, known := hostMap(n.Hosts())["c"]
			_, item := itemOf(n, "c", "i/web-2")
			return !known && !item
		})
	}
	// A second deletion: c is not known any more.
	if err := b.DeleteHost("c"); !errors.Is(err, ErrNoHost) {
		t.Errorf("deleting c again: %v", err)
	}
	// What memberlist may still say of c's old life (the dead node it
	// keeps, or a peer that had not declared it dead) brings nothing back;
	// nor does its old state from a host that had not heard of the
	// deletion.
	b.seen(&memberlist.Node{Name: "c", Addr: []byte{127, 0, 0, 1}, Port: 1, Meta: oldMeta}, NotReady)
	b.seen(&memberlist.Node{Name: "c", Addr: []byte{127, 0, 0, 1}, Port: 1, Meta: oldMeta}, Ready)
	b.takeItem(old, true)
	b.takeHostItems(hostItemsMsg{Host: "c", Last: old.Stamp, Whole: true, Items: []Item{old}})
	if _, known := hostMap(b.Hosts())["c"]; known {
		t.Fatal("memberlist's news of c's old life brought it back")
	}
	if _, ok := itemOf(b, "c", "i/web-2"); ok {
		t.Fatal("c's old item, spread again, was taken")
	}

	// c's agent starts again, on its old address and state: a new member,
	// Ready on every host with what it says now.
	c2 := start(t, "c", func(cfg *Config) { cfg.StateDir, cfg.Bind, cfg.Join = cDir, cBind, []string{a.Addr()} })
	c2.SetItem("i/web-3", []byte("web-3 on c"))
	for _, n := range []*Node{a, b} {
		waitHosts(t, n, "c Ready again", func(hs map[string]Host) bool { return status(hs, "c") == Ready })
		waitFor(t, n.Self()+" has c's new item", func() bool { _, ok := itemOf(n, "c", "i/web-3"); return ok })
	}
	if _, ok := itemOf(a, "c", "i/web-2"); ok {
		t.Fatal("c's item from before its deletion is back")
	}
	// And when it dies again, it shows NotReady, as any host.
	c2.Close()
	waitHosts(t, b, "c NotReady again", func(hs map[string]Host) bool { return status(hs, "c") == NotReady })
}

// A host that hears of its own deletion while it runs (it was only cut
// off from the host that deleted it, or came back just then) takes
// itself back: every host shows it Ready with its items again.
func TestADeletedHostThatRunsTakesItselfBack(t *testing.T) {
	nodes := cluster3(t, nil)
	a, c := nodes[0], nodes[2]
	c.SetItem("i/web-2", []byte("web-2 on c"))
	for _, n := range nodes[:2] {
		waitFor(t, n.Self()+" has c's item", func() bool { _, ok := itemOf(n, "c", "i/web-2"); return ok })
	}
	// As if a had found c NotReady and deleted it.
	a.takeDeletion(Deletion{Host: "c", Stamp: a.clock.Now(), Origin: "a"}, true)
	if _, known := hostMap(a.Hosts())["c"]; known {
		t.Fatal("a still knows c after deleting it") // c's answer takes a few gossip rounds
	}
	for _, n := range nodes[:2] {
		waitHosts(t, n, "c Ready", func(hs map[string]Host) bool { return status(hs, "c") == Ready })
		waitFor(t, n.Self()+" has c's item again", func() bool { _, ok := itemOf(n, "c", "i/web-2"); return ok })
	}
	d, ok := c.state.deletion("c")
	c.mu.Lock()
	life := c.life
	c.mu.Unlock()
	if !ok || d.covers(life) {
		t.Fatalf("c's life %v is not after its deletion %+v", life, d)
	}
}

// A deletion is kept on disk: a restarted host refuses the deleted host's
// old state from the start, and its clock carries on after the deletion.
func TestADeletionSurvivesARestart(t *testing.T) {
	dir := t.TempDir()
	a := start(t, "a", func(c *Config) { c.StateDir = dir })
	old := Item{Host: "c", Key: "i/web-2", Stamp: a.clock.Now(), Data: []byte("web-2 on c")}
	a.takeItem(old, false)
	a.mu.Lock()
	a.hosts["c"] = &Host{Name: "c", Status: NotReady}
	a.mu.Unlock()
	if err := a.DeleteHost("c"); err != nil {
		t.Fatal(err)
	}
	d, _ := a.state.deletion("c")
	a.Close()
	a2 := start(t, "a", func(c *Config) { c.StateDir = dir })
	if got, ok := a2.state.deletion("c"); !ok || got != d {
		t.Fatalf("after the restart: %+v %v, want %+v", got, ok, d)
	}
	a2.takeHostItems(hostItemsMsg{Host: "c", Last: old.Stamp, Items: []Item{old}})
	if _, ok := itemOf(a2, "c", "i/web-2"); ok {
		t.Fatal("a restarted host took the deleted host's old item")
	}
	if s := a2.clock.Now(); !d.Stamp.Before(s) {
		t.Fatalf("the clock after the restart %v, not after the deletion %v", s, d.Stamp)
	}
}

// A deletion too large for a broadcast (a host with a name of 1.5 KB)
// reaches the others all the same, by push/pull.
func TestALargeDeletionTravels(t *testing.T) {
	nodes := cluster3(t, nil)
	a := nodes[0]
	name := strings.Repeat("h", 1500)
	a.mu.Lock()
	a.hosts[name] = &Host{Name: name, Status: Left}
	a.mu.Unlock()
	if err := a.DeleteHost(name); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes[1:] {
		waitFor(t, n.Self()+" has the deletion", func() bool { _, ok := n.state.deletion(name); return ok })
	}
}
