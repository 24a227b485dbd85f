package supervisor

import (
	"strconv"
	"testing"
)

func TestEmptiedSetsAreEmptyAndFillAgain(t *testing.T) {
	for _, n := range []int{0, 1, reuseSetMax, reuseSetMax + 1, 5000} {
		set := map[string]bool{}
		for i := range n {
			set[strconv.Itoa(i)] = true
		}
		set = emptied(set)
		if len(set) != 0 {
			t.Fatalf("%d entries emptied: %d left", n, len(set))
		}
		set["again"] = true // a nil map would panic here
		if !set["again"] || len(set) != 1 {
			t.Fatalf("%d entries emptied, then one added: %v", n, set)
		}
	}
}

// BenchmarkRangeAfterEmptied is what a pass that plans one unit pays to
// range over its set of dirty units, after a start that marked n units:
// "clear" keeps the table of n slots, "emptied" does not.
func BenchmarkRangeAfterEmptied(b *testing.B) {
	ways := []struct {
		name  string
		empty func(map[string]bool) map[string]bool
	}{
		{"clear", func(set map[string]bool) map[string]bool { clear(set); return set }},
		{"emptied", emptied[string, bool]},
	}
	for _, n := range []int{10, 100, 1000, 5000} {
		for _, way := range ways {
			b.Run(strconv.Itoa(n)+"/"+way.name, func(b *testing.B) {
				set := map[string]bool{}
				for i := range n {
					set[strconv.Itoa(i)] = true
				}
				set = way.empty(set)
				for b.Loop() {
					set["one"] = true
					for k := range set {
						_ = k
					}
					set = way.empty(set)
				}
			})
		}
	}
}
