package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// The catalog is kept in StateDir/catalog.json, so that a restarted
// agent knows the fleet's units (and the stamps of the versions in its
// unit directory) before it hears from anyone: a file it finds unchanged
// is not taken for a new change that would override what others did
// meanwhile.

const catalogFile = "catalog.json"

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

// saver writes the catalog file after changes, at most every saveEvery,
// and once more when the Node stops.
func (n *Node) saver() {
	defer close(n.saved)
	for {
		select {
		case <-n.stop:
			n.writeCatalog()
			return
		case <-n.saveCatalog:
			n.writeCatalog()
			select {
			case <-n.stop:
				n.writeCatalog()
				return
			case <-time.After(saveEvery):
			}
		}
	}
}

func (n *Node) writeCatalog() {
	if n.cfg.StateDir == "" {
		return
	}
	data, err := json.Marshal(n.catalog.Entries())
	if err != nil {
		return
	}
	path := filepath.Join(n.cfg.StateDir, catalogFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		n.log.Error("cluster catalog not saved", "err", err)
		return
	}
	if err := os.Rename(tmp, path); err != nil {
		n.log.Error("cluster catalog not saved", "err", err)
	}
}
