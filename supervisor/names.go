package supervisor

import (
	"encoding/binary"
	"hash/fnv"
)

// nameAlphabet is Kubernetes' alphabet for generated names: no vowels (no
// words) and no 0, 1 and 3 (no look-alikes).
const nameAlphabet = "bcdfghjklmnpqrstvwxz2456789"

// instanceName is the name of an instance of owner (a unit, or a cron
// run's job): owner-xxxxx, as kubectl users know from pods. The five
// characters are derived from the owner, the slot, the host and the
// owner's generation counter, so a name says nothing random, every host
// would name the same instance alike, and no two instances ever made for
// one owner share a name (the counter moves on at every creation).
func instanceName(owner string, slot int, host string, gen uint64) string {
	h := fnv.New64a()
	h.Write([]byte(owner))
	h.Write([]byte{0})
	h.Write([]byte(host))
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], uint64(slot))
	binary.LittleEndian.PutUint64(b[8:], gen)
	h.Write(b[:])
	x := mix64(h.Sum64())
	var code [5]byte
	for k := range code {
		code[k] = nameAlphabet[x%uint64(len(nameAlphabet))]
		x /= uint64(len(nameAlphabet))
	}
	return owner + "-" + string(code[:])
}
