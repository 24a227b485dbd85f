package cluster

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeWall is a wall clock that moves only when told.
type fakeWall struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeWall) now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.t }
func (f *fakeWall) add(d time.Duration) {
	f.mu.Lock()
	f.t = f.t.Add(d)
	f.mu.Unlock()
}

var epoch = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func TestHLCOrdersCausally(t *testing.T) {
	wa, wb := &fakeWall{t: epoch}, &fakeWall{t: epoch.Add(-10 * time.Second)} // b's clock is 10 s slow
	a, b := NewHLC(wa.now), NewHLC(wb.now)
	s1 := a.Now()
	s2 := a.Now() // same wall time: the counter moves
	if !s1.Before(s2) || s2.Wall != s1.Wall || s2.Logical != 1 {
		t.Fatalf("same instant: %v then %v", s1, s2)
	}
	if err := b.Observe(s2); err != nil {
		t.Fatal(err)
	}
	// b heard of s2: its next change comes after it though its clock is
	// behind.
	if s3 := b.Now(); !s2.Before(s3) {
		t.Fatalf("b's change %v after hearing %v", s3, s2)
	}
	// A peer whose clock is an hour fast does not drag ours along.
	if err := a.Observe(Stamp{Wall: epoch.Add(time.Hour).UnixNano()}); err == nil {
		t.Fatal("a stamp an hour ahead was taken")
	}
	if s := a.Now(); s.Wall != epoch.UnixNano() {
		t.Fatalf("after a refused stamp: %v", s)
	}
	wa.add(time.Second)
	if s := a.Now(); s.Wall != epoch.Add(time.Second).UnixNano() || s.Logical != 0 {
		t.Fatalf("after the wall clock moved: %v", s)
	}
}

func TestCatalogSetAndMerge(t *testing.T) {
	w := &fakeWall{t: epoch}
	a := NewCatalog("a", NewHLC(w.now))
	b := NewCatalog("b", NewHLC(w.now))
	e, changed := a.Set("kubia", []byte("v1"))
	if !changed || e.Origin != "a" || e.Version != Version([]byte("v1")) || !e.Prev.IsZero() {
		t.Fatalf("Set: %+v %v", e, changed)
	}
	if _, changed := a.Set("kubia", []byte("v1")); changed {
		t.Fatal("the same file again changed the catalog")
	}
	if applied, c := b.Merge(e); !applied || c != nil {
		t.Fatalf("b merged %v, conflict %v", applied, c)
	}
	if applied, _ := b.Merge(e); applied {
		t.Fatal("merged twice")
	}
	// b changes it knowing a's version: no conflict when a hears.
	w.add(time.Second)
	e2, _ := b.Set("kubia", []byte("v2"))
	if e2.Prev != e.Stamp {
		t.Fatalf("Prev %v, want %v", e2.Prev, e.Stamp)
	}
	if applied, c := a.Merge(e2); !applied || c != nil {
		t.Fatalf("a took b's edit: %v, conflict %v", applied, c)
	}
	// A damaged entry is ignored.
	bad := e2
	bad.Spec = []byte("tampered")
	bad.Stamp.Wall++
	if applied, _ := a.Merge(bad); applied {
		t.Fatal("an entry whose spec does not match its version was taken")
	}
	// A deletion is a tombstone that wins over what it replaced.
	w.add(time.Second)
	del, changed := a.Set("kubia", nil)
	if !changed || !del.Deleted || del.Spec != nil {
		t.Fatalf("delete: %+v %v", del, changed)
	}
	if applied, _ := b.Merge(del); !applied {
		t.Fatal("b kept the deleted unit")
	}
	if got, _ := b.Get("kubia"); !got.Deleted {
		t.Fatalf("b: %+v", got)
	}
	// Tombstones go after their time.
	if n := b.ForgetTombstones(w.now().Add(time.Hour), 2*time.Hour); n != 0 {
		t.Fatal("a young tombstone forgotten")
	}
	if n := b.ForgetTombstones(w.now().Add(3*time.Hour), 2*time.Hour); n != 1 {
		t.Fatal("an old tombstone kept")
	}
}

// Two hosts define one unit at once: every host ends with the same winner,
// and the loser is reported, once per host that saw both.
func TestConcurrentDefinitionsResolveAlikeEverywhere(t *testing.T) {
	w := &fakeWall{t: epoch}
	a := NewCatalog("a", NewHLC(w.now))
	b := NewCatalog("b", NewHLC(w.now))
	c := NewCatalog("c", NewHLC(w.now))
	ea, _ := a.Set("web", []byte("from a"))
	eb, _ := b.Set("web", []byte("from b")) // same wall time: b wins by name
	_, ca := a.Merge(eb)
	_, cb := b.Merge(ea)
	_, c1 := c.Merge(ea)
	_, c2 := c.Merge(eb)
	for _, cat := range []*Catalog{a, b, c} {
		if got, _ := cat.Get("web"); string(got.Spec) != "from b" {
			t.Fatalf("%s holds %q", cat.self, got.Spec)
		}
	}
	if ca == nil || ca.Loser.Origin != "a" || ca.Winner.Origin != "b" || cb == nil || cb.Loser.Origin != "a" {
		t.Fatalf("conflicts on a %+v, on b %+v", ca, cb)
	}
	if c1 != nil || c2 == nil || c2.Loser.Origin != "a" {
		t.Fatalf("conflicts on c: %+v then %+v", c1, c2)
	}
}

// Whatever order changes arrive in, every host ends with the same
// catalog: merge is commutative, associative and idempotent.
func TestMergeOrderDoesNotMatter(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for trial := range 200 {
		w := &fakeWall{t: epoch}
		hosts := []*Catalog{NewCatalog("a", NewHLC(w.now)), NewCatalog("b", NewHLC(w.now)), NewCatalog("c", NewHLC(w.now))}
		var changes []Entry
		for range 30 {
			h := hosts[r.IntN(len(hosts))]
			name := fmt.Sprintf("u%d", r.IntN(4))
			var spec []byte
			if r.IntN(4) > 0 {
				spec = fmt.Appendf(nil, "%s %d", h.self, r.IntN(3))
			}
			if e, ok := h.Set(name, spec); ok {
				changes = append(changes, e)
			}
			// Some of it is heard before the next change, some not.
			if len(changes) > 0 && r.IntN(2) == 0 {
				hosts[r.IntN(len(hosts))].Merge(changes[r.IntN(len(changes))])
			}
			w.add(time.Duration(r.IntN(3)) * time.Millisecond)
		}
		var want []Entry
		for k := range 4 {
			fresh := NewCatalog(fmt.Sprintf("x%d", k), NewHLC(w.now))
			order := slices.Clone(changes)
			r.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
			for _, e := range append(order, order[:len(order)/2]...) {
				fresh.Merge(e)
			}
			got := fresh.Entries()
			if k == 0 {
				want = got
				continue
			}
			if !slices.EqualFunc(got, want, func(x, y Entry) bool { return x.Digest() == y.Digest() }) {
				t.Fatalf("trial %d: order %d gave %v, another %v", trial, k, got, want)
			}
		}
	}
}
