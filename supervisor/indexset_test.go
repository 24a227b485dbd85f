package supervisor

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestIndexSet(t *testing.T) {
	var s indexSet
	for _, i := range []int{5, 0, 2, 1, 9, 7, 8, 3, -1} {
		s.add(i)
	}
	if got := s.String(); got != "0-3,5,7-9" {
		t.Fatalf("set %q, want 0-3,5,7-9", got)
	}
	if s.add(2) || !s.add(4) || s.String() != "0-5,7-9" || s.len() != 9 {
		t.Fatalf("adding 2 again and 4: %q, %d", s, s.len())
	}
	if !s.add(6) || s.String() != "0-9" || len(s.r) != 1 {
		t.Fatalf("adding the gap: %q %v", s, s.r)
	}
	for from, want := range map[int]int{-3: 10, 0: 10, 9: 10, 10: 10, 12: 12} {
		if got := s.nextMissing(from); got != want {
			t.Errorf("nextMissing(%d) = %d, want %d", from, got, want)
		}
	}
	if s.has(-1) || !s.has(0) || !s.has(9) || s.has(10) {
		t.Fatalf("has: %q", s)
	}
	// A copy is a value: what is added to it (or to the set) stays its
	// own, as the store's copy of a record needs.
	c := s
	c.add(11)
	s.add(10)
	if s.String() != "0-10" || c.String() != "0-9,11" {
		t.Fatalf("a copy's add reached the set, or the set's the copy: %q, %q", s, c)
	}

	// A record keeps the set as text; an empty one not at all.
	data, err := json.Marshal(jobRecord{Name: "batch", Done: c})
	if err != nil || !strings.Contains(string(data), `"done":"0-9,11"`) {
		t.Fatalf("record %s, %v", data, err)
	}
	var back jobRecord
	if err := json.Unmarshal(data, &back); err != nil || back.Done.String() != "0-9,11" {
		t.Fatalf("read back %+v, %v", back, err)
	}
	if data, _ := json.Marshal(jobRecord{Name: "batch"}); strings.Contains(string(data), "done") {
		t.Fatalf("an empty set is written: %s", data)
	}
	// A ten-thousand completion job done in order keeps one range.
	var big indexSet
	for i := range 10000 {
		big.add(i)
	}
	if big.String() != "0-9999" {
		t.Fatalf("%q", big)
	}
}

func TestIndexSetRejectsWhatItDoesNotWrite(t *testing.T) {
	for _, text := range []string{"x", "-1", "3-1", "2-2", "0-3,2", "0-3,4", "5,1", "1,,2", "1-", "0-99999999999999999999"} {
		if _, err := parseIndexSet(text); err == nil {
			t.Errorf("%q read without an error", text)
		}
	}
	var rec jobRecord
	if err := json.Unmarshal([]byte(`{"name":"batch","done":"4,1"}`), &rec); err == nil || !strings.Contains(err.Error(), `"4,1"`) {
		t.Fatalf("a record with a bad set: %v", err)
	}
}
