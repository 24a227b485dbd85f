package supervisor

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tendhq/tend/units"
)

func openTestStore(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := OpenStore(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStoreKeepsWhatWasQueuedAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	s := openTestStore(t, dir)
	id, err := s.AgentID()
	if err != nil || len(id) != 24 {
		t.Fatalf("AgentID = %q, %v", id, err)
	}
	for n := range 1000 {
		s.put(bucketInstances, fmt.Sprintf("i-%04d", n), instanceRecord{Name: fmt.Sprintf("i-%04d", n), RestartCount: n})
	}
	s.del(bucketInstances, "i-0007")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openTestStore(t, dir)
	defer s.Close()
	if again, _ := s.AgentID(); again != id {
		t.Fatalf("agent id changed across reopen: %q then %q", id, again)
	}
	count := 0
	s.each(bucketInstances, func(k, v []byte) error { count++; return nil })
	if count != 999 {
		t.Fatalf("%d instances after reopen, want 999", count)
	}
	var r instanceRecord
	if ok, err := s.get(bucketInstances, "i-0999", &r); !ok || err != nil || r.RestartCount != 999 {
		t.Fatalf("i-0999 = %+v, %v, %v", r, ok, err)
	}
	if ok, _ := s.get(bucketInstances, "i-0007", &r); ok {
		t.Fatal("a deleted record came back")
	}
}

// An agent starting on a store learns whether it has runs to take over
// (its collector stays off meanwhile; see cmd/tend's pauseGC).
func TestStoreHasInstances(t *testing.T) {
	dir := t.TempDir()
	s := openTestStore(t, dir)
	if s.HasInstances() {
		t.Fatal("a new store has instances")
	}
	s.put(bucketInstances, "web-x7k2p", instanceRecord{Name: "web-x7k2p"})
	s.Close()
	s = openTestStore(t, dir)
	if !s.HasInstances() {
		t.Fatal("a store with an instance has none")
	}
	s.del(bucketInstances, "web-x7k2p")
	s.Close()
	s = openTestStore(t, dir)
	defer s.Close()
	if s.HasInstances() {
		t.Fatal("a store whose instance was deleted has instances")
	}
}

func TestSecondAgentOnTheSameStateIsRefused(t *testing.T) {
	dir := t.TempDir()
	s := openTestStore(t, dir)
	defer s.Close()
	_, err := OpenStore(dir, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "another agent holds it") {
		t.Fatalf("second open: %v", err)
	}
}

func TestRecorderFoldsRepeatsAndSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	s := openTestStore(t, dir)
	r, err := NewRecorder(s, 100)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	for n := range 3 {
		r.Record(t0.Add(time.Duration(n)*10*time.Second), KindInstance, "kubia-x", Warning, "Unhealthy", "supervisor",
			"Liveness probe failed: HTTP probe failed with statuscode: 500")
	}
	r.Record(t0.Add(21*time.Second), KindInstance, "kubia-x", Normal, "Killing", "supervisor", "Stopping")
	r.Record(t0, KindInstance, "other", Normal, "Started", "supervisor", "Started")
	got := r.List(KindInstance, "kubia-x")
	if len(got) != 2 || got[0].Count != 3 || !got[0].First.Equal(t0) || !got[0].Last.Equal(t0.Add(20*time.Second)) || got[1].Reason != "Killing" {
		t.Fatalf("folded events = %+v", got)
	}
	s.Close()

	s = openTestStore(t, dir)
	defer s.Close()
	r, err = NewRecorder(s, 100)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.List(KindInstance, "kubia-x"); len(got) != 2 || got[0].Count != 3 {
		t.Fatalf("after reopen: %+v", got)
	}
	r.Forget(KindInstance, "kubia-x")
	if got := r.List("", ""); len(got) != 1 || got[0].Object != "other" {
		t.Fatalf("after Forget: %+v", got)
	}
}

// An agent loads its stored events once its first pass is made
// (LazyRecorder's StartLoad), or when whatever uses the recorder first
// makes it load; an event recorded before the load ends still folds into
// the stored one equal to it, and a new one is numbered after every
// stored one.
func TestRecorderRecordsWhileItLoads(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	const stored = DefaultMaxEvents - 10
	for _, tc := range []struct {
		name string
		open func(*Store) *Recorder
	}{
		{"LazyRecorder, loading at once", func(s *Store) *Recorder {
			r := LazyRecorder(s, DefaultMaxEvents)
			r.StartLoad()
			return r
		}},
		{"LazyRecorder, first used by Record", func(s *Store) *Recorder { return LazyRecorder(s, DefaultMaxEvents) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			storeEvents(t, dir, t0, stored)
			s := openTestStore(t, dir)
			defer s.Close()
			r := tc.open(s)
			r.Record(t0.Add(time.Minute), KindInstance, "web-0007", Normal, "Started", "supervisor", "Started")
			r.Record(t0, KindInstance, "web-0007", Normal, "Killing", "supervisor", "Stopping")
			if err := r.Loaded(); err != nil {
				t.Fatal(err)
			}
			got := r.List(KindInstance, "web-0007")
			if len(got) != 2 || got[0].Reason != "Started" || got[0].Count != 2 || !got[0].Last.Equal(t0.Add(time.Minute)) || got[1].Reason != "Killing" {
				t.Fatalf("events of web-0007 = %+v, want Started x2 then Killing", got)
			}
			if all := r.List("", ""); len(all) != stored+1 {
				t.Fatalf("%d events after the load, want %d", len(all), stored+1)
			}
		})
	}
}

// A LazyRecorder asked for its events before anything started its load
// loads them first: `tend get events` right after a handover lists them
// all.
func TestLazyRecorderListsTheStoredEvents(t *testing.T) {
	dir := t.TempDir()
	storeEvents(t, dir, time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC), 30)
	s := openTestStore(t, dir)
	defer s.Close()
	if got := LazyRecorder(s, DefaultMaxEvents).List("", ""); len(got) != 30 {
		t.Fatalf("a LazyRecorder's first List gave %d events, want the 30 stored", len(got))
	}
}

// storeEvents leaves n events of distinct instances in the store in dir.
func storeEvents(t *testing.T, dir string, at time.Time, n int) {
	t.Helper()
	s := openTestStore(t, dir)
	defer s.Close()
	r, err := NewRecorder(s, DefaultMaxEvents)
	if err != nil {
		t.Fatal(err)
	}
	for k := range n {
		r.Record(at, KindInstance, fmt.Sprintf("web-%04d", k), Normal, "Started", "supervisor", "Started")
	}
}

// The recorder keeps at most max events, dropping the oldest: with its
// own hash, and with every key hashing alike (one chain).
func TestRecorderIsBounded(t *testing.T) {
	for _, tc := range []struct {
		name string
		hash func(eventKey) uint64
	}{
		{"keyHash", keyHash},
		{"colliding keys", func(eventKey) uint64 { return 7 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTestStore(t, t.TempDir())
			defer s.Close()
			r, err := NewRecorder(s, 50) // an empty store: nothing loaded under the real hash
			if err != nil {
				t.Fatal(err)
			}
			r.hash = tc.hash
			t0 := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
			for n := range 500 {
				r.Record(t0.Add(time.Duration(n)*time.Second), KindUnit, "u", Normal, "SuccessfulCreate", "c", fmt.Sprintf("Created instance: u-%d", n))
			}
			got := r.List("", "")
			if len(got) > 50 || len(got) < 40 {
				t.Fatalf("%d events kept, want between 40 and 50", len(got))
			}
			if last := got[len(got)-1]; last.Message != "Created instance: u-499" {
				t.Fatalf("newest event dropped: last is %q", last.Message)
			}
		})
	}
}

// The recorder holds its events by the hash of what makes two events one
// (object, type, reason, message, source): with every key hashing alike,
// it still folds only equal events, and forgets, loads and lists each
// event of the chain (TestRecorderIsBounded trims one).
func TestRecorderWithCollidingKeys(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	// colliding is a recorder on s whose keys all hash alike, from before
	// it loads what s holds.
	colliding := func(s *Store, max int) *Recorder {
		r := LazyRecorder(s, max)
		r.hash = func(eventKey) uint64 { return 7 }
		if err := r.Loaded(); err != nil {
			t.Fatal(err)
		}
		return r
	}

	s := openTestStore(t, t.TempDir())
	defer s.Close()
	r := colliding(s, 100)
	for n := range 30 {
		at := t0.Add(time.Duration(n) * time.Second)
		r.Record(at, KindInstance, fmt.Sprintf("web-%02d", n%10), Normal, "Started", "supervisor", "Started")
		r.Record(at, KindUnit, "web", Normal, "SuccessfulCreate", "supervisor", fmt.Sprintf("Created instance: web-%02d", n))
	}
	if all := r.List("", ""); len(all) != 40 {
		t.Fatalf("%d events, want 40: 10 instances' Started, folded, and 30 distinct creations", len(all))
	}
	if got := r.List(KindInstance, "web-09"); len(got) != 1 || got[0].Count != 3 || !got[0].Last.Equal(t0.Add(29*time.Second)) {
		t.Fatalf("events of web-09 = %+v, want Started x3 last at 29 s", got)
	}
	r.Forget(KindUnit, "web")
	if got := r.List("", ""); len(got) != 10 || got[0].Kind != KindInstance {
		t.Fatalf("after forgetting the unit's events: %d left, want the 10 instances'", len(got))
	}
	r.Forget(KindInstance, "web-09")
	r.Record(t0.Add(time.Hour), KindInstance, "web-09", Normal, "Started", "supervisor", "Started")
	if got := r.List(KindInstance, "web-09"); len(got) != 1 || got[0].Count != 1 {
		t.Fatalf("web-09's event recorded again = %+v, want one, not folded into the forgotten", got)
	}

	// What the store holds, loaded along the one chain.
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	again := colliding(s, 100)
	if got := again.List("", ""); len(got) != 10 {
		t.Fatalf("loaded again: %d events, want the 10 instances'", len(got))
	}
	again.Record(t0.Add(2*time.Hour), KindInstance, "web-03", Normal, "Started", "supervisor", "Started")
	if got := again.List(KindInstance, "web-03"); len(got) != 1 || got[0].Count != 4 {
		t.Fatalf("web-03's event after the load = %+v, want the stored one folded into, x4", got)
	}
}

// A store that held 100 000 instances (a scale to 2^63 made ~976 000)
// and has had them deleted is compacted when it is next opened: the file
// shrinks to about its live data, and what was kept is all there.
func TestStoreCompactsWhenMostlyFree(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tend.db")
	s := openTestStore(t, dir)
	id, _ := s.AgentID()
	rec := func(n int) instanceRecord {
		return instanceRecord{Name: fmt.Sprintf("web-%06d", n), Unit: "web", Kind: units.KindReplicated, Slot: n,
			Host: "edge-17", SpecVersion: strings.Repeat("ab", 32), Labels: units.Labels{"app": "web", "tier": "front"},
			RestartCount: n, State: State{Phase: PhaseWaiting, Reason: "Pending"}}
	}
	const total, kept = 100_000, 100
	// Written and deleted in key order, in transactions of their own, as
	// the writer would but faster (the race detector slows the writer's
	// map of pending changes ten times).
	for from := 0; from < total; from += 10_000 {
		err := s.db.Update(func(tx *bolt.Tx) error {
			for n := from; n < from+10_000; n++ {
				v, _ := json.Marshal(rec(n))
				if err := tx.Bucket(bucketInstances).Put([]byte(rec(n).Name), v); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		for n := kept; n < total; n++ {
			if err := tx.Bucket(bucketInstances).Delete([]byte(rec(n).Name)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	// A copy left by a crash mid-compaction: never renamed, so ignored
	// and removed.
	if err := os.WriteFile(path+".compact", []byte("half a copy"), 0o600); err != nil {
		t.Fatal(err)
	}

	s = openTestStore(t, dir)
	after, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d bytes before, %d after", before.Size(), after.Size())
	if before.Size() < 2*compactMinWaste || after.Size() > before.Size()/4 {
		t.Fatalf("the store has %d bytes after compaction, %d before", after.Size(), before.Size())
	}
	if _, err := os.Stat(path + ".compact"); !os.IsNotExist(err) {
		t.Fatalf("the copy is left: %v", err)
	}
	if again, _ := s.AgentID(); again != id {
		t.Fatalf("agent id %q after compaction, %q before", again, id)
	}
	n := 0
	err = s.each(bucketInstances, func(k, v []byte) error {
		var r instanceRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return err
		}
		if want := rec(n); r.Name != want.Name || string(k) != want.Name || r.RestartCount != n || r.Labels["tier"] != "front" {
			t.Errorf("record %d after compaction: %s %+v", n, k, r)
		}
		n++
		return nil
	})
	if err != nil || n != kept {
		t.Fatalf("%d records after compaction (%v), want %d", n, err, kept)
	}
	// Still a store: it takes writes and keeps them.
	s.put(bucketInstances, "new", rec(total))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTestStore(t, dir)
	defer s.Close()
	var r instanceRecord
	if ok, err := s.get(bucketInstances, "new", &r); !ok || err != nil || r.RestartCount != total {
		t.Fatalf("a record written after compaction: %v %v %+v", ok, err, r)
	}
	// Compacted once: the next open leaves the file as it is.
	if again, _ := os.Stat(path); again.Size() > after.Size()+compactMinWaste {
		t.Fatalf("%d bytes after a reopen, %d after compaction", again.Size(), after.Size())
	}
}

// A store with little free space is left alone.
func TestStoreNotCompactedWhenLittleIsFree(t *testing.T) {
	dir := t.TempDir()
	s := openTestStore(t, dir)
	for n := range 1000 {
		s.put(bucketInstances, fmt.Sprintf("i-%04d", n), instanceRecord{Name: fmt.Sprintf("i-%04d", n)})
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	for n := range 900 {
		s.del(bucketInstances, fmt.Sprintf("i-%04d", n))
	}
	s.Close()
	path := filepath.Join(dir, "tend.db")
	fi, _ := os.Stat(path)
	ino := fi.Sys().(*syscall.Stat_t).Ino
	s = openTestStore(t, dir)
	defer s.Close()
	again, _ := os.Stat(path)
	if again.Sys().(*syscall.Stat_t).Ino != ino {
		t.Fatal("a store of little free space was compacted")
	}
}

// onWorkers calls every index exactly once, whatever n is beside its
// chunks of 16 and its 64 calls a worker.
func TestOnWorkersCallsEveryIndexOnce(t *testing.T) {
	for _, n := range []int{0, 1, 15, 16, 17, 63, 64, 65, 129, 1000, 1001} {
		calls := make([]atomic.Int32, n)
		onWorkers(n, func(k int) { calls[k].Add(1) })
		for k := range calls {
			if c := calls[k].Load(); c != 1 {
				t.Fatalf("n=%d: index %d called %d times", n, k, c)
			}
		}
	}
}
