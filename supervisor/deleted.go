package supervisor

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"
)

// The last versions of deleted units. Deleting a unit deletes its file
// (tend delete unit, a file removed by hand, or a deletion that came over
// gossip): the file is the unit. So that `tend describe unit NAME` can
// still show what was deleted, the catalog keeps the last valid version
// of each deleted unit, with when it saw the file go, in the store: the
// newest maxDeleted of them, and no more than maxDeletedBytes of file
// text together. A unit made again under the name drops its record.

const (
	maxDeleted      = 64
	maxDeletedBytes = 8 << 20
)

// DeletedUnit is the last valid version of a deleted unit.
type DeletedUnit struct {
	Name    string    `json:"name"`
	Path    string    `json:"path"`
	Source  string    `json:"source"`
	Deleted time.Time `json:"deleted"` // when this host saw its file go
}

// DeletedUnits is what a Catalog that remembers deleted units offers the
// API (DirCatalog does).
type DeletedUnits interface {
	// Deleted returns the last version of the deleted unit name; false
	// when none is kept (never deleted, made again, or pushed out).
	Deleted(name string) (DeletedUnit, bool)
}

// Deleted implements DeletedUnits.
func (c *DirCatalog) Deleted(name string) (DeletedUnit, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.deleted[name]
	return d, ok
}

// loadDeleted reads the kept records; one that does not decode is
// forgotten.
func (c *DirCatalog) loadDeleted() error {
	c.deleted = map[string]DeletedUnit{}
	if c.store == nil {
		return nil
	}
	return c.store.each(bucketDeleted, func(k, v []byte) error {
		var d DeletedUnit
		if err := json.Unmarshal(v, &d); err != nil || d.Name != string(k) {
			c.log.Warn("stored deleted unit unreadable; forgotten", "unit", string(k), "err", err)
			c.store.del(bucketDeleted, string(k))
			return nil
		}
		c.deleted[d.Name] = d
		return nil
	})
}

// keepDeletedLocked records u's last version as deleted now, and pushes
// out the oldest records beyond the bounds. c.mu is held.
func (c *DirCatalog) keepDeletedLocked(d DeletedUnit) {
	if c.deleted == nil {
		c.deleted = map[string]DeletedUnit{}
	}
	c.deleted[d.Name] = d
	if c.store != nil {
		c.store.put(bucketDeleted, d.Name, d)
	}
	total := 0
	list := make([]DeletedUnit, 0, len(c.deleted))
	for _, x := range c.deleted {
		list = append(list, x)
		total += len(x.Source)
	}
	sort.Slice(list, func(a, b int) bool {
		if !list[a].Deleted.Equal(list[b].Deleted) {
			return list[a].Deleted.Before(list[b].Deleted)
		}
		return list[a].Name < list[b].Name
	})
	for k := 0; k < len(list) && (len(c.deleted) > maxDeleted || total > maxDeletedBytes); k++ {
		c.forgetDeletedLocked(list[k].Name)
		total -= len(list[k].Source)
	}
}

// forgetDeletedLocked drops the record of name. c.mu is held.
func (c *DirCatalog) forgetDeletedLocked(name string) {
	if _, ok := c.deleted[name]; !ok {
		return
	}
	delete(c.deleted, name)
	if c.store != nil {
		c.store.del(bucketDeleted, name)
	}
}

// DeletedUnit implements Backend.
func (s *Supervisor) DeletedUnit(name string) (DeletedUnit, error) {
	if d, ok := s.opt.Catalog.(DeletedUnits); ok {
		if u, ok := d.Deleted(name); ok {
			return u, nil
		}
	}
	return DeletedUnit{}, fmt.Errorf("no deleted unit %q is remembered: %w", name, ErrNotFound)
}
