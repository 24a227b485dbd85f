package supervisor

// emptied returns set emptied, to be filled again by the next pass.
//
// clear keeps a map's table, and ranging over a map walks its whole
// table, not its entries: a set that once held every unit (a start, a
// resync or a change of hosts marks them all) would make each later
// pass, though it plans one unit, walk thousands of empty slots, in
// every set the loop ranges over. A set that held more than
// reuseSetMax entries is dropped for a new one instead; a small one
// keeps its table, and the pass allocates nothing.
func emptied[K comparable, V any](set map[K]V) map[K]V {
	if len(set) > reuseSetMax {
		return make(map[K]V)
	}
	clear(set)
	return set
}

// reuseSetMax is the most entries a set keeps its table for: two of a Go
// map's groups of eight slots.
const reuseSetMax = 16
