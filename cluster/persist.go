package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/tendhq/tend/internal/atomicfile"
)

// The catalog is kept in StateDir/catalog.json, so that a restarted
// agent knows the fleet's units (and the stamps of the versions in its
// unit directory) before it hears from anyone: a file it finds unchanged
// is not taken for a new change that would override what others did
// meanwhile. The deletions of hosts are kept beside it, in
// deleted-hosts.json, so that a restarted agent refuses a deleted host's
// old state from the start (and its own clock starts after them).

const (
	catalogFile = "catalog.json"
	deletedFile = "deleted-hosts.json"
)

// saveEvery bounds how often the catalog file is written.
const saveEvery = 200 * time.Millisecond

func (n *Node) loadCatalog() error {
	if n.cfg.StateDir == "" {
		return nil
	}
	data, err := os.ReadFile(filepath.Join(n.cfg.StateDir, catalogFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cluster catalog: %w", err)
	}
	var entries []Entry
	if err := json.Unmarshal(data, &entries); err != nil {
		n.log.Warn("the cluster's catalog file does not parse; starting from the unit directory alone", "err", err)
		return nil
	}
	for _, e := range entries {
		n.catalog.Merge(e)
	}
	return nil
}

// loadDeletions takes the deletions of hosts kept on disk.
func (n *Node) loadDeletions() error {
	if n.cfg.StateDir == "" {
		return nil
	}
	data, err := os.ReadFile(filepath.Join(n.cfg.StateDir, deletedFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cluster deleted hosts: %w", err)
	}
	var ds []Deletion
	if err := json.Unmarshal(data, &ds); err != nil {
		n.log.Warn("the file of deleted hosts does not parse; starting without it", "err", err)
		return nil
	}
	for _, d := range ds {
		if d.Host == "" {
			continue
		}
		n.clock.Observe(d.Stamp)
		n.state.deleteHost(d)
	}
	_, n.savedDeletions = n.state.deletions()
	return nil
}

// saver writes the catalog file (and the deleted hosts' when they
// changed) after changes, at most every saveEvery, and once more when the
// Node stops.
func (n *Node) saver() {
	defer close(n.saved)
	for {
		select {
		case <-n.stop:
			n.writeState()
			return
		case <-n.saveCatalog:
			n.writeState()
			select {
			case <-n.stop:
				n.writeState()
				return
			case <-time.After(saveEvery):
			}
		}
	}
}

// writeState writes the catalog file, and the deleted hosts' if they
// changed since it last did. Saver goroutine.
func (n *Node) writeState() {
	n.writeCatalog()
	if n.cfg.StateDir == "" {
		return
	}
	ds, gen := n.state.deletions()
	if gen == n.savedDeletions {
		return
	}
	data, err := json.Marshal(ds)
	if err != nil {
		return
	}
	if err := atomicfile.Write(filepath.Join(n.cfg.StateDir, deletedFile), data, 0o600); err != nil {
		n.log.Error("cluster deleted hosts not saved", "err", err)
		return
	}
	n.savedDeletions = gen
}

func (n *Node) writeCatalog() {
	if n.cfg.StateDir == "" {
		return
	}
	data, err := json.Marshal(n.catalog.Entries())
	if err != nil {
		return
	}
	if err := atomicfile.Write(filepath.Join(n.cfg.StateDir, catalogFile), data, 0o600); err != nil {
		n.log.Error("cluster catalog not saved", "err", err)
	}
}
