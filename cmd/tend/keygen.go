package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/tendhq/tend/cluster"
)

const keygenHelp = `Make the secrets a new cluster needs, in DIR.

Usage:
  tend keygen [--name CLUSTER] DIR
  tend keygen --host HOST DIR

The first form writes, into DIR (made with mode 0700):
  gossip.key  a new 32-byte AES-GCM key for gossip, base64, mode 0600
  ca.crt      the cluster's certificate authority, for the inter-host API
  ca.key      its private key, mode 0600
Copy DIR to every host of the cluster (the same files on each) and point
cluster.keys_dir at it. An agent that finds ca.key issues its own host
certificate when it starts and keeps it in its state directory. A host
without these files can neither join, nor read or inject gossip, nor call
another host's API.

Secret files must be their owner's alone (mode 0600): an agent refuses a
key that others may read, as ssh does.

To keep ca.key off the hosts (a host that has it can make certificates
for any name), run the second form on the machine that
keeps DIR for each host: it writes DIR/hosts/HOST.crt and HOST.key, a
certificate for HOST valid for a year. Give each host gossip.key, ca.crt
and its own hosts/HOST.* only.

keygen writes only what is missing and never replaces a key or a
certificate that is there: losing one splits the cluster. Rotate the
gossip key with tend keys rotate.

Examples:
  # Secrets for a new cluster, then on each host:
  tend keygen /etc/tend/keys
  #   [cluster] keys_dir = "/etc/tend/keys" in /etc/tend/tend.toml

  # A certificate for edge-17, made where the CA key is kept
  tend keygen --host edge-17 ./fleet-keys
`

func (c *CLI) runKeygen(ctx context.Context, args []string) error {
	fs := newFlagSet("keygen")
	var host, name string
	fs.stringVar(&host, "host", "", "", "Issue a certificate for this host from DIR's CA, instead of making a cluster's secrets.")
	fs.stringVar(&name, "name", "", "", "The cluster's name, written into the CA certificate (informational).")
	args, err := fs.parse(c, args)
	if err != nil {
		return err
	}
	if len(args) != 1 {
		return usagef("keygen", "keygen takes the directory to write: tend keygen DIR")
	}
	dir := args[0]
	if host != "" {
		return c.keygenHost(dir, host)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	wrote := 0
	keyPath := filepath.Join(dir, cluster.GossipKeyFile)
	if !exists(keyPath) {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return err
		}
		if err := writeNew(keyPath, []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600); err != nil {
			return err
		}
		fmt.Fprintf(c.Stdout, "wrote %s\n", keyPath)
		wrote++
	}
	crtPath, caKeyPath := filepath.Join(dir, cluster.CACertFile), filepath.Join(dir, cluster.CAKeyFile)
	switch {
	case !exists(crtPath) && exists(caKeyPath):
		return fmt.Errorf("%s is there without %s: put the certificate back, or move the key away", caKeyPath, crtPath)
	case !exists(crtPath):
		crt, key, err := cluster.NewCA(name, time.Now())
		if err != nil {
			return err
		}
		// The key first: a certificate without its key is of no use.
		if err := writeNew(caKeyPath, key, 0o600); err != nil {
			return err
		}
		if err := writeNew(crtPath, crt, 0o644); err != nil {
			os.Remove(caKeyPath)
			return err
		}
		fmt.Fprintf(c.Stdout, "wrote %s\nwrote %s\n", crtPath, caKeyPath)
		wrote += 2
	}
	if wrote == 0 {
		return fmt.Errorf("%s exists with %s and %s: keygen replaces no cluster secret (rotate the gossip key with tend keys rotate)", keyPath, cluster.CACertFile, cluster.CAKeyFile)
	}
	return nil
}

// keygenHost issues host's certificate from dir's CA.
func (c *CLI) keygenHost(dir, host string) error {
	if filepath.Base(host) != host || host == "." || host == ".." {
		return usagef("keygen", "--host %q: a host name cannot hold a slash", host)
	}
	caCrt, err := os.ReadFile(filepath.Join(dir, cluster.CACertFile))
	if err != nil {
		return fmt.Errorf("the CA certificate: %w (make the cluster's secrets first: tend keygen %s)", err, dir)
	}
	caKey, err := os.ReadFile(filepath.Join(dir, cluster.CAKeyFile))
	if err != nil {
		return fmt.Errorf("the CA key: %w", err)
	}
	crt, key, err := cluster.IssueHostCert(caCrt, caKey, host, time.Now())
	if err != nil {
		return err
	}
	hosts := filepath.Join(dir, cluster.HostsDir)
	if err := os.MkdirAll(hosts, 0o700); err != nil {
		return err
	}
	crtPath, keyPath := filepath.Join(hosts, host+".crt"), filepath.Join(hosts, host+".key")
	if exists(crtPath) || exists(keyPath) {
		return fmt.Errorf("%s exists: keygen replaces no certificate (move it away first if you mean to)", crtPath)
	}
	if err := writeNew(keyPath, key, 0o600); err != nil {
		return err
	}
	if err := writeNew(crtPath, crt, 0o644); err != nil {
		os.Remove(keyPath)
		return err
	}
	fmt.Fprintf(c.Stdout, "wrote %s\nwrote %s\n", crtPath, keyPath)
	return nil
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// writeNew writes a file that must not exist yet, synced, and removes it
// again when writing fails.
func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s exists: keygen replaces no cluster secret", path)
	}
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}
