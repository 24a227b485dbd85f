package cluster

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/tendhq/tend/internal/atomicfile"
)

// Gossip key rotation, memberlist's way: memberlist never sends keys, so
// each host is told, in turn, to install the new key (it then reads
// gossip under either), to use it (it then writes under the new one), and
// once every host uses it, to drop the others. A host that missed the
// rotation cannot read the fleet's gossip until it is given the new key.

// ErrNotEncrypted: this host's gossip has no keys, so there is nothing to
// rotate; encryption is turned on by giving every host a key and
// restarting it.
var ErrNotEncrypted = errors.New("gossip on this host is not encrypted: there is no key to rotate (make one with tend keygen, give it to every host and restart them)")

// KeyID is a key's fingerprint, safe to show: the first 8 bytes of its
// SHA-256, hex.
func KeyID(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:8])
}

// CheckKey says whether key can be a gossip key: AES-128, -192 or -256.
func CheckKey(key []byte) error {
	if n := len(key); n != 16 && n != 24 && n != 32 {
		return fmt.Errorf("a key of %d bytes (want 16, 24 or 32)", n)
	}
	return nil
}

// GossipKeys are the keys gossip accepts, the primary (the one it
// encrypts with) first.
func (n *Node) GossipKeys() ([][]byte, error) {
	if n.keyring == nil {
		return nil, ErrNotEncrypted
	}
	primary := n.keyring.GetPrimaryKey()
	out := [][]byte{primary}
	for _, k := range n.keyring.GetKeys() {
		if !slices.Equal(k, primary) {
			out = append(out, k)
		}
	}
	return out, nil
}

// InstallKey makes gossip accept key as well (16, 24 or 32 bytes).
func (n *Node) InstallKey(key []byte) error {
	if n.keyring == nil {
		return ErrNotEncrypted
	}
	return n.keyring.AddKey(key)
}

// UseKey makes gossip encrypt with key, which must be installed.
func (n *Node) UseKey(key []byte) error {
	if n.keyring == nil {
		return ErrNotEncrypted
	}
	if err := n.keyring.UseKey(key); err != nil {
		return fmt.Errorf("key %s: %w", KeyID(key), err)
	}
	return nil
}

// RemoveKey makes gossip refuse key. The primary key cannot be removed.
func (n *Node) RemoveKey(key []byte) error {
	if n.keyring == nil {
		return ErrNotEncrypted
	}
	return n.keyring.RemoveKey(key)
}

// GossipKeyFile is where keys_dir keeps the gossip keys.
const GossipKeyFile = "gossip.key"

// LoadGossipKeys reads dir/gossip.key: base64 keys, one a line, the first
// the one that encrypts. A missing file is no keys.
func LoadGossipKeys(dir string) ([][]byte, error) {
	if dir == "" {
		return nil, nil
	}
	path := filepath.Join(dir, GossipKeyFile)
	data, err := readSecret(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("gossip keys: %w", err)
	}
	var keys [][]byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		t := strings.TrimSpace(sc.Text())
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		k, err := base64.StdEncoding.DecodeString(t)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: not base64: %v", path, line, err)
		}
		if err := CheckKey(k); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		keys = append(keys, k)
	}
	return keys, sc.Err()
}

// SaveGossipKeys replaces dir/gossip.key with keys, the first the one
// that encrypts, synced to disk before it is renamed into place.
func SaveGossipKeys(dir string, keys [][]byte) error {
	var b strings.Builder
	b.WriteString("# tend gossip keys: the first encrypts, all are accepted (tend keys rotate)\n")
	for _, k := range keys {
		b.WriteString(base64.StdEncoding.EncodeToString(k))
		b.WriteByte('\n')
	}
	return atomicfile.Write(filepath.Join(dir, GossipKeyFile), []byte(b.String()), 0o600)
}
