package supervisor

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
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

func TestRecorderIsBounded(t *testing.T) {
	s := openTestStore(t, t.TempDir())
	defer s.Close()
	r, err := NewRecorder(s, 50)
	if err != nil {
		t.Fatal(err)
	}
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
}
