package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

const keygenHelp = `Make the secrets a new cluster needs, in DIR.

Usage:
  tend keygen DIR

It writes DIR/gossip.key: a new 32-byte AES-GCM key for gossip, base64,
mode 0600. Copy DIR to every host of the cluster (the same files on each)
and point cluster.keys_dir at it; a host without the key can neither join
nor read nor inject gossip. keygen refuses to overwrite a key that is
there: losing it splits the cluster.

Examples:
  # Secrets for a new cluster, then on each host:
  tend keygen /etc/tend/keys
  #   [cluster] keys_dir = "/etc/tend/keys" in /etc/tend/tend.toml
`

func (c *CLI) runKeygen(ctx context.Context, args []string) error {
	fs := newFlagSet("keygen")
	args, err := fs.parse(c, args)
	if err != nil {
		return err
	}
	if len(args) != 1 {
		return usagef("keygen", "keygen takes the directory to write: tend keygen DIR")
	}
	dir := args[0]
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	path := filepath.Join(dir, gossipKeyFile)
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s exists: a cluster's key is not replaced by keygen (move it away first if you mean to)", path)
	}
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(f, "%s\n", base64.StdEncoding.EncodeToString(key))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return err
	}
	fmt.Fprintf(c.Stdout, "wrote %s\n", path)
	return nil
}
