package supervisor

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// indexSet is a set of a job's completion indexes: sorted, disjoint,
// non-adjacent closed ranges, written as Kubernetes writes a Job's
// completedIndexes ("0-3,5,7-9"), so that a job of ten thousand
// completions done in order keeps one range in its record.
//
// A set is a value: add never writes to the ranges a copy may share
// (the store encodes a copy of the job's record on its own goroutine
// while the loop goes on adding to it), it makes new ones.
type indexSet struct {
	r []indexRange
}

type indexRange struct{ lo, hi int } // lo ≤ hi, both in the set

// has reports whether i is in the set.
func (s *indexSet) has(i int) bool {
	k := sort.Search(len(s.r), func(k int) bool { return s.r[k].hi >= i })
	return k < len(s.r) && s.r[k].lo <= i
}

// add puts i in the set and reports whether it was not there. Negative
// indexes are not indexes and are ignored.
func (s *indexSet) add(i int) bool {
	if i < 0 || s.has(i) {
		return false
	}
	k := sort.Search(len(s.r), func(k int) bool { return s.r[k].lo > i })
	// s.r[k-1] (if any) ends below i, s.r[k] (if any) begins above it.
	joinLeft := k > 0 && s.r[k-1].hi == i-1
	joinRight := k < len(s.r) && s.r[k].lo == i+1
	r := make([]indexRange, 0, len(s.r)+1)
	switch {
	case joinLeft && joinRight:
		r = append(append(append(r, s.r[:k-1]...), indexRange{s.r[k-1].lo, s.r[k].hi}), s.r[k+1:]...)
	case joinLeft:
		r = append(append(append(r, s.r[:k-1]...), indexRange{s.r[k-1].lo, i}), s.r[k:]...)
	case joinRight:
		r = append(append(append(r, s.r[:k]...), indexRange{i, s.r[k].hi}), s.r[k+1:]...)
	default:
		r = append(append(append(r, s.r[:k]...), indexRange{i, i}), s.r[k:]...)
	}
	s.r = r
	return true
}

// len is the number of indexes in the set.
func (s *indexSet) len() int {
	n := 0
	for _, r := range s.r {
		n += r.hi - r.lo + 1
	}
	return n
}

// nextMissing returns the smallest index ≥ from that is not in the set.
func (s *indexSet) nextMissing(from int) int {
	from = max(from, 0)
	k := sort.Search(len(s.r), func(k int) bool { return s.r[k].hi >= from })
	if k < len(s.r) && s.r[k].lo <= from {
		return s.r[k].hi + 1 // ranges are non-adjacent: the next one begins later
	}
	return from
}

func (s indexSet) String() string {
	var b strings.Builder
	for k, r := range s.r {
		if k > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(r.lo))
		if r.hi > r.lo {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(r.hi))
		}
	}
	return b.String()
}

// parseIndexSet reads the form String writes, and nothing looser: ranges
// in increasing order, neither overlapping nor adjacent.
func parseIndexSet(text string) (indexSet, error) {
	var s indexSet
	if text == "" {
		return s, nil
	}
	for _, part := range strings.Split(text, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return indexSet{}, fmt.Errorf("completion indexes %q: %q is not an index", text, lo)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b <= a {
				return indexSet{}, fmt.Errorf("completion indexes %q: %q is not a range", text, part)
			}
		}
		if n := len(s.r); n > 0 && a <= s.r[n-1].hi+1 {
			return indexSet{}, fmt.Errorf("completion indexes %q: %q is not after the range before it", text, part)
		}
		s.r = append(s.r, indexRange{a, b})
	}
	return s, nil
}

func (s indexSet) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

func (s *indexSet) UnmarshalJSON(data []byte) error {
	var text string
	if err := json.Unmarshal(data, &text); err != nil {
		return err
	}
	v, err := parseIndexSet(text)
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// IsZero makes an empty set omitted from a record (omitzero).
func (s indexSet) IsZero() bool { return len(s.r) == 0 }

// addSucceeded puts in the set the index of each attempt that succeeded,
// and reports whether any was new.
func (s *indexSet) addSucceeded(attempts []InstanceSummary) bool {
	added := false
	for k := range attempts {
		if attempts[k].succeeded() && s.add(attempts[k].Slot) {
			added = true
		}
	}
	return added
}
