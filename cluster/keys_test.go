package cluster

import (
	"errors"
	"slices"
	"testing"
)

// The fleet rotates its gossip key host by host without losing anyone;
// afterwards the old key opens nothing.
func TestRotatingTheGossipKey(t *testing.T) {
	old, fresh := []byte("0123456789abcdef0123456789abcdef"), []byte("fedcba9876543210fedcba9876543210")
	nodes := cluster3(t, func(c *Config) { c.Keys = [][]byte{old}; c.ClusterName = "fleet" })
	step := func(what string, fn func(*Node) error) {
		for _, n := range nodes {
			if err := fn(n); err != nil {
				t.Fatalf("%s on %s: %v", what, n.Self(), err)
			}
			// Gossip goes on between hosts at different steps.
			name := what + "-" + n.Self()
			n.SetUnit(name, []byte("kind = \"replicated\"\n"))
			for _, m := range nodes {
				waitFor(t, m.Self()+" hears "+name, func() bool { _, ok := specOf(m, name); return ok })
			}
		}
	}
	if err := nodes[0].UseKey(fresh); err == nil {
		t.Fatal("a key that is not installed was put to use")
	}
	step("install", func(n *Node) error { return n.InstallKey(fresh) })
	step("use", func(n *Node) error { return n.UseKey(fresh) })
	step("remove", func(n *Node) error { return n.RemoveKey(old) })
	for _, n := range nodes {
		keys, err := n.GossipKeys()
		if err != nil || len(keys) != 1 || !slices.Equal(keys[0], fresh) {
			t.Fatalf("%s keys %v, %v", n.Self(), keys, err)
		}
	}
	s := start(t, "stranger", func(c *Config) { c.Keys = [][]byte{old}; c.ClusterName = "fleet" })
	if got, err := s.Join(nodes[0].Addr()); got != 0 || err == nil {
		t.Errorf("the old key joined %d hosts, err %v", got, err)
	}
	if err := nodes[0].RemoveKey(fresh); err == nil {
		t.Error("the key in use was removed")
	}
}

func TestAPlaintextHostHasNoKeysToRotate(t *testing.T) {
	n := start(t, "a", nil)
	if _, err := n.GossipKeys(); !errors.Is(err, ErrNotEncrypted) {
		t.Errorf("GossipKeys: %v", err)
	}
	if err := n.InstallKey([]byte("0123456789abcdef")); !errors.Is(err, ErrNotEncrypted) {
		t.Errorf("InstallKey: %v", err)
	}
}
