package supervisor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/tendhq/tend/units"
)

// Catalog is the set of units this host knows of. On one host it is the
// unit directory (DirCatalog); in a fleet it is replicated among hosts. The
// supervisor defines it, so the cluster can slot in behind it.
type Catalog interface {
	// Units returns the current valid units. The slice is the caller's;
	// the units are shared and immutable.
	Units() []*units.Unit
	// Problems returns, per unit name, why the newest version of its file
	// was rejected; the previous valid version (if any) stays in Units.
	Problems() map[string]error
	// Put validates data as the unit file filename and stores it. An
	// invalid file changes nothing and returns the parse error.
	Put(filename string, data []byte) (ApplyResult, error)
	// Remove deletes the unit.
	Remove(name string) error
	// Changed receives (coalesced) after Units or Problems changed.
	Changed() <-chan struct{}
}

// DirCatalog is the one-host catalog: the *.toml files of a directory,
// watched with fsnotify. A change on disk is applied after a quiet period
// of Debounce (editors write a file in several steps: a temp file then a
// rename, or truncate then write), which keeps changes well within 100 ms.
//
// Run owns the watch; other methods are safe for concurrent use.
type DirCatalog struct {
	dir      string
	log      *slog.Logger
	debounce time.Duration

	scanMu   sync.Mutex // one rescan at a time (the watcher and SIGHUP)
	mu       sync.Mutex
	units    map[string]*units.Unit
	problems map[string]error
	changed  chan struct{}
	// onProblem is told of each newly rejected file version.
	onProblem func(name string, err error)
}

// Debounce is how long the unit directory must be quiet before a change is
// read.
const Debounce = 20 * time.Millisecond

// NewDirCatalog reads dir (creating it) once. onProblem, if set, is called
// for every rejected file version, from the caller's goroutine here and
// from Run later; it must not block.
func NewDirCatalog(dir string, log *slog.Logger, onProblem func(name string, err error)) (*DirCatalog, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("unit directory: %w", err)
	}
	c := &DirCatalog{
		dir:       dir,
		log:       log,
		debounce:  Debounce,
		units:     map[string]*units.Unit{},
		problems:  map[string]error{},
		changed:   make(chan struct{}, 1),
		onProblem: onProblem,
	}
	c.rescan()
	return c, nil
}

// Dir is the watched directory.
func (c *DirCatalog) Dir() string { return c.dir }

// Units implements Catalog.
func (c *DirCatalog) Units() []*units.Unit {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*units.Unit, 0, len(c.units))
	for _, u := range c.units {
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Problems implements Catalog.
func (c *DirCatalog) Problems() map[string]error {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]error, len(c.problems))
	for k, v := range c.problems {
		out[k] = v
	}
	return out
}

// Changed implements Catalog.
func (c *DirCatalog) Changed() <-chan struct{} { return c.changed }

func (c *DirCatalog) notify() {
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// unitFile reports whether a directory entry is a unit file: *.toml, not
// hidden (editors' swap and backup files are hidden or end otherwise).
func unitFile(name string) bool {
	return strings.HasSuffix(name, ".toml") && !strings.HasPrefix(name, ".") && len(name) > len(".toml")
}

// Put implements Catalog: the file is parsed first, then written to a
// temporary file in the directory and renamed over the unit's file, so the
// watcher (and a crash) never sees half a file.
func (c *DirCatalog) Put(filename string, data []byte) (ApplyResult, error) {
	base := filepath.Base(filename)
	if !strings.HasSuffix(base, ".toml") {
		base += ".toml"
	}
	path := filepath.Join(c.dir, base)
	u, err := units.Parse(path, data)
	if err != nil {
		return ApplyResult{}, err
	}
	res := ApplyResult{Name: u.Name, Kind: u.Kind.String(), Action: "created"}
	c.mu.Lock()
	old, broken := c.units[u.Name], c.problems[u.Name] != nil
	c.mu.Unlock()
	if old != nil {
		res.Action = "configured"
		// The same version as the running one is a no-op, unless the file
		// on disk is a rejected newer version: then it is written back.
		if old.Version == u.Version && !broken {
			res.Action = "unchanged"
			return res, nil
		}
	}
	if err := writeFileAtomic(path, data); err != nil {
		return ApplyResult{}, fmt.Errorf("unit %q: %w", u.Name, err)
	}
	c.mu.Lock()
	c.units[u.Name] = u
	delete(c.problems, u.Name)
	c.mu.Unlock()
	c.notify()
	return res, nil
}

// Remove implements Catalog.
func (c *DirCatalog) Remove(name string) error {
	c.mu.Lock()
	u := c.units[name]
	_, bad := c.problems[name]
	c.mu.Unlock()
	if u == nil && !bad {
		return fmt.Errorf("unit %q: %w", name, ErrNotFound)
	}
	path := filepath.Join(c.dir, name+".toml")
	if u != nil && u.Path != "" {
		path = u.Path
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("unit %q: %w", name, err)
	}
	c.mu.Lock()
	delete(c.units, name)
	delete(c.problems, name)
	c.mu.Unlock()
	c.notify()
	return nil
}

// Run watches the directory until ctx ends. It returns an error only when
// the watch cannot be set up.
func (c *DirCatalog) Run(ctx context.Context) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch %s: %w", c.dir, err)
	}
	defer w.Close()
	if err := w.Add(c.dir); err != nil {
		return fmt.Errorf("watch %s: %w", c.dir, err)
	}
	// A change may have happened between NewDirCatalog and Add.
	c.rescan()

	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if unitFile(filepath.Base(ev.Name)) {
				timer.Reset(c.debounce)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			// Overflow: events were lost; a full rescan makes up for it.
			c.log.Warn("watching the unit directory", "dir", c.dir, "err", err)
			timer.Reset(c.debounce)
		case <-timer.C:
			c.rescan()
		}
	}
}

// Rescan rereads the directory now (SIGHUP does this).
func (c *DirCatalog) Rescan() { c.rescan() }

// rescan reads every unit file and applies what changed: new or changed
// valid files replace their unit; invalid files are recorded as problems
// and leave the previous version in place; vanished files remove their
// unit.
func (c *DirCatalog) rescan() {
	c.scanMu.Lock()
	defer c.scanMu.Unlock()
	entries, err := os.ReadDir(c.dir)
	if err != nil {
		c.log.Error("read unit directory", "dir", c.dir, "err", err)
		return
	}
	seen := map[string]bool{}
	changed := false
	type rejection struct {
		name string
		err  error
	}
	var rejected []rejection
	for _, e := range entries {
		if e.IsDir() || !unitFile(e.Name()) {
			continue
		}
		path := filepath.Join(c.dir, e.Name())
		name := strings.TrimSuffix(e.Name(), ".toml")
		seen[name] = true
		data, err := os.ReadFile(path)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				delete(seen, name)
			}
			continue
		}
		c.mu.Lock()
		old, oldProblem := c.units[name], c.problems[name]
		c.mu.Unlock()
		if old != nil && bytes.Equal(old.Source, data) && oldProblem == nil {
			continue
		}
		u, err := units.Parse(path, data)
		c.mu.Lock()
		if err != nil {
			if oldProblem == nil || oldProblem.Error() != err.Error() {
				c.problems[name] = err
				rejected = append(rejected, rejection{name, err})
				changed = true
			}
		} else {
			delete(c.problems, name)
			if old == nil || old.Version != u.Version {
				c.units[name] = u
			}
			changed = true
		}
		c.mu.Unlock()
	}
	c.mu.Lock()
	for name := range c.units {
		if !seen[name] {
			delete(c.units, name)
			changed = true
		}
	}
	for name := range c.problems {
		if !seen[name] {
			delete(c.problems, name)
			changed = true
		}
	}
	c.mu.Unlock()
	for _, r := range rejected {
		c.log.Error("unit file rejected; the previous version keeps running", "unit", r.name, "err", r.err)
		if c.onProblem != nil {
			c.onProblem(r.name, r.err)
		}
	}
	if changed {
		c.notify()
	}
}

// writeFileAtomic writes data to path through a temporary file in the same
// directory, synced and renamed, so readers see the old or the new file.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
