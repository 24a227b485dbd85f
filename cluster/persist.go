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
	if err := writeFileAtomic(filepath.Join(n.cfg.StateDir, catalogFile), data, 0o600); err != nil {
		n.log.Error("cluster catalog not saved", "err", err)
	}
}

// writeFileAtomic replaces path with data: a temporary file, synced, then
// renamed over it and the directory synced, so a crash leaves the old
// file or the new one, never a torn or empty one.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	// A new file of its own (never one planted under a known name), with
	// the mode set before a byte is written.
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	err = f.Chmod(mode)
	if err == nil {
		_, err = f.Write(data)
	}
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
