package supervisor

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
	"golang.org/x/sys/unix"

	"github.com/tendhq/tend/internal/atomicfile"
	"github.com/tendhq/tend/units"
)

// Catalog is the set of units this host knows of, as the loop reads it. On
// one host it is the unit directory (DirCatalog); in a fleet it is
// replicated among hosts. The supervisor defines it, so the cluster can
// slot in behind it without the supervisor knowing.
type Catalog interface {
	// Snapshot returns the catalog as it is now. The snapshot is
	// immutable and shared: callers keep it, never change it.
	Snapshot() *CatalogSnapshot
	// Changed receives (coalesced, never blocking the catalog) after
	// Snapshot's answer changed.
	Changed() <-chan struct{}
}

// CatalogSnapshot is the catalog at one moment. A unit whose newest file
// was rejected keeps its previous valid version in Units and has its
// problem in Problems; one that was never valid is only in Problems.
type CatalogSnapshot struct {
	Gen      uint64                 // grows with every change
	Units    map[string]*units.Unit // valid units by name
	Problems map[string]error       // why a unit's newest file was rejected
}

// UnitWriter changes the catalog on behalf of the API: apply, delete and
// scale go through it, never through the loop. Its methods are safe for
// concurrent use and return once Snapshot shows the change.
type UnitWriter interface {
	// Put validates data as the unit file filename (its stem names the
	// unit) and stores it. An invalid file changes nothing and returns the
	// parse error (a *units.ErrorList, wrapped).
	Put(filename string, data []byte) (ApplyResult, error)
	// Check is Put without the write: what Put would answer, the
	// problems of an invalid file included (apply --dry-run=server).
	Check(filename string, data []byte) (ApplyResult, error)
	// Remove deletes the unit; ErrNotFound when there is none.
	Remove(name string) error
}

// DirCatalog is the one-host catalog and its writer: the *.toml files of
// a directory, watched with fsnotify. A change on disk is read after a
// quiet period of Debounce (editors write a file in several steps: a temp
// file then a rename, or truncate then write), only for the files the
// change named; an overflow of the watch, SIGHUP and the start read the
// whole directory.
//
// Every change, read from disk or written by Put and Remove, happens under
// one lock and from the file as it is on disk afterwards, so a scan that
// read a file a moment before a Put can never overwrite what the Put
// wrote. Run owns the watch; the other methods are safe for concurrent
// use.
//
// With a store (OpenDirCatalog), the last valid version of every unit is
// kept in it, so that a unit whose file is invalid when the agent starts
// runs its last valid version, with the file's problem beside it, as it
// would had the agent not restarted.
type DirCatalog struct {
	dir      string
	limits   units.Limits
	log      *slog.Logger
	debounce time.Duration
	store    *Store // nil: the last valid versions are not kept

	mu       sync.Mutex // held for every change: the scan, Put, Remove
	units    map[string]*units.Unit
	problems map[string]fileProblem
	gen      uint64
	scanned  time.Time // when the last full scan began
	snap     atomic.Pointer[CatalogSnapshot]
	changed  chan struct{}
	subs     map[chan struct{}]struct{} // besides changed, for others than the loop
	deleted  map[string]DeletedUnit     // the last versions of deleted units (deleted.go)
}

// fileProblem is a rejected file version.
type fileProblem struct {
	err error
	sum [sha256.Size]byte // of the rejected bytes: the same bytes are not parsed again
}

// Debounce is how long the unit directory must be quiet before a change is
// read.
const Debounce = 20 * time.Millisecond

// NewDirCatalog reads dir (creating it) once. Its files are parsed
// within lim: a file that asks for more instances than lim allows is
// invalid (units.ParseLimited). It keeps no last valid versions: a unit
// whose file is invalid when it starts is not run.
func NewDirCatalog(dir string, lim units.Limits, log *slog.Logger) (*DirCatalog, error) {
	return OpenDirCatalog(dir, lim, nil, log)
}

// OpenDirCatalog is NewDirCatalog starting from the last valid versions
// that st keeps (nil: none), and keeping them there from then on.
func OpenDirCatalog(dir string, lim units.Limits, st *Store, log *slog.Logger) (*DirCatalog, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("unit directory: %w", err)
	}
	c := &DirCatalog{
		dir:      dir,
		limits:   lim,
		log:      log,
		debounce: Debounce,
		store:    st,
		units:    map[string]*units.Unit{},
		problems: map[string]fileProblem{},
		changed:  make(chan struct{}, 1),
		subs:     map[chan struct{}]struct{}{},
	}
	if err := c.loadValid(); err != nil {
		return nil, err
	}
	if err := c.loadDeleted(); err != nil {
		return nil, fmt.Errorf("load deleted units: %w", err)
	}
	c.snap.Store(&CatalogSnapshot{Units: map[string]*units.Unit{}, Problems: map[string]error{}})
	c.Rescan()
	if c.snap.Load().Gen == 0 && len(c.units) > 0 {
		// Every file is as the store has it: nothing changed, but the
		// units are there.
		c.mu.Lock()
		c.publishLocked()
		c.mu.Unlock()
	}
	return c, nil
}

// loadValid starts the catalog from the last valid versions in the store.
// A version that no longer parses (a newer agent is stricter) is
// forgotten: its file decides alone.
func (c *DirCatalog) loadValid() error {
	if c.store == nil {
		return nil
	}
	type parsed struct {
		u      *units.Unit
		jsonOK bool
	}
	err := eachDecoded(c.store, bucketValid, func(k, v []byte) (parsed, error) {
		var sr specRecord
		if err := json.Unmarshal(v, &sr); err != nil {
			return parsed{}, err
		}
		u, err := units.ParseLimited(sr.Path, sr.Source, c.limits) // the limits may have been lowered since
		return parsed{u: u, jsonOK: true}, err
	}, func(k []byte, p parsed, err error) error {
		name := string(k)
		if !p.jsonOK {
			c.log.Warn("stored last valid version unreadable; forgotten", "unit", name, "err", err)
			c.store.del(bucketValid, name)
			return nil
		}
		u := p.u
		if err != nil || u.Name != name {
			c.log.Warn("stored last valid version no longer parses; forgotten", "unit", name, "err", err)
			c.store.del(bucketValid, name)
			return nil
		}
		c.units[name] = u
		return nil
	})
	if err != nil {
		return fmt.Errorf("load last valid units: %w", err)
	}
	return nil
}

// setUnitLocked makes u the unit's valid version, and keeps it. c.mu is
// held.
func (c *DirCatalog) setUnitLocked(u *units.Unit) {
	c.units[u.Name] = u
	c.forgetDeletedLocked(u.Name)
	if c.store != nil {
		c.store.put(bucketValid, u.Name, specRecord{Path: u.Path, Source: []byte(u.Source)})
	}
}

// dropUnitLocked forgets the unit: its file went. c.mu is held.
func (c *DirCatalog) dropUnitLocked(name string) {
	if u, ok := c.units[name]; ok {
		c.keepDeletedLocked(DeletedUnit{Name: name, Path: u.Path, Source: u.Source, Deleted: time.Now()})
		if c.store != nil {
			c.store.del(bucketValid, name)
		}
	}
	delete(c.units, name)
	delete(c.problems, name)
}

// Dir is the watched directory.
func (c *DirCatalog) Dir() string { return c.dir }

// Snapshot implements Catalog.
func (c *DirCatalog) Snapshot() *CatalogSnapshot { return c.snap.Load() }

// Changed implements Catalog.
func (c *DirCatalog) Changed() <-chan struct{} { return c.changed }

// unitFile reports whether a directory entry is a unit file: *.toml, not
// hidden (editors' swap and backup files are hidden or end otherwise).
func unitFile(name string) bool {
	return strings.HasSuffix(name, ".toml") && !strings.HasPrefix(name, ".") && len(name) > len(".toml")
}

// publishLocked makes a new snapshot of the maps. c.mu is held.
func (c *DirCatalog) publishLocked() {
	c.gen++
	probs := make(map[string]error, len(c.problems))
	for name, p := range c.problems {
		probs[name] = p.err
	}
	c.snap.Store(&CatalogSnapshot{Gen: c.gen, Units: maps.Clone(c.units), Problems: probs})
	for ch := range c.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// Subscribe returns a channel that receives (coalesced) after each change,
// for a reader other than the loop (which reads Changed), and a function
// that ends the subscription.
func (c *DirCatalog) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	c.mu.Lock()
	c.subs[ch] = struct{}{}
	c.mu.Unlock()
	return ch, func() {
		c.mu.Lock()
		delete(c.subs, ch)
		c.mu.Unlock()
	}
}

// Put implements UnitWriter: the file is parsed first, then written to a
// temporary file in the directory and renamed over the unit's file, so the
// watcher (and a crash) never sees half a file; then it is read back as
// any change is. A unit file that is a symlink is written through: the
// file it points to is replaced, in its own directory, and the link stays.
func (c *DirCatalog) Put(filename string, data []byte) (ApplyResult, error) {
	return c.put(filename, data, true)
}

// Check implements UnitWriter.
func (c *DirCatalog) Check(filename string, data []byte) (ApplyResult, error) {
	return c.put(filename, data, false)
}

func (c *DirCatalog) put(filename string, data []byte, write bool) (ApplyResult, error) {
	base := filepath.Base(filename)
	if !strings.HasSuffix(base, ".toml") {
		base += ".toml"
	}
	path := filepath.Join(c.dir, base)
	u, err := units.ParseLimited(path, data, c.limits)
	if err != nil {
		return ApplyResult{}, err
	}
	res := ApplyResult{Name: u.Name, Kind: u.Kind, Action: "created"}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.units[u.Name]
	_, broken := c.problems[u.Name]
	if old != nil {
		res.Action = "configured"
		// The same version as the running one is a no-op, unless the file
		// on disk is a rejected newer version: then it is written back.
		if old.Version == u.Version && !broken {
			res.Action = "unchanged"
			return res, nil
		}
	}
	if !write {
		return res, nil
	}
	target, err := throughLinks(path)
	if err != nil {
		return ApplyResult{}, fmt.Errorf("unit %q: %w", u.Name, err)
	}
	if err := atomicfile.Write(target, data, 0o644); err != nil {
		return ApplyResult{}, fmt.Errorf("unit %q: %w", u.Name, err)
	}
	if c.readLocked(u.Name) {
		c.publishLocked()
	}
	return res, nil
}

// KeepValid takes data, a valid version of unit name from elsewhere (the
// fleet's catalog), as the unit's valid version when the unit's file here
// is invalid: the file (someone's edit) and its problem stay as they are,
// and the unit runs the fleet's version meanwhile. It reports false, and
// changes nothing, when the file is not invalid: then data is to be Put.
func (c *DirCatalog) KeepValid(name string, data []byte) (bool, error) {
	u, err := units.ParseLimited(filepath.Join(c.dir, name+".toml"), data, c.limits)
	if err != nil {
		return false, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, bad := c.problems[u.Name]; !bad {
		return false, nil
	}
	if old := c.units[u.Name]; old == nil || old.Version != u.Version {
		c.setUnitLocked(u)
		c.publishLocked()
	}
	return true, nil
}

// Remove implements UnitWriter.
func (c *DirCatalog) Remove(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	u := c.units[name]
	_, bad := c.problems[name]
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
	if c.readLocked(name) {
		c.publishLocked()
	}
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
	// A change may have happened between the scan of NewDirCatalog and
	// Add: the files changed since it began are read again.
	c.rescanSince()

	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	names := map[string]bool{}
	all := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if base := filepath.Base(ev.Name); unitFile(base) {
				names[strings.TrimSuffix(base, ".toml")] = true
				timer.Reset(c.debounce)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			// Overflow: events were lost; a full rescan makes up for it.
			c.log.Warn("watching the unit directory", "dir", c.dir, "err", err)
			all = true
			timer.Reset(c.debounce)
		case <-timer.C:
			if all {
				c.Rescan()
			} else {
				c.mu.Lock()
				changed := false
				for name := range names {
					changed = c.readLocked(name) || changed
				}
				if changed {
					c.publishLocked()
				}
				c.mu.Unlock()
			}
			clear(names)
			all = false
		}
	}
}

// rescanSince reads again the files that changed since the last full
// scan began, and those that came or went: what a watch set up after that
// scan would have missed. A change is a status change time (ctime: a
// write, a rename over the file, a chmod) from one second before the scan
// on, as file systems with coarse time stamps keep them; a symlink is
// judged by the file it points to. At a start with 1000 unit files this
// is 1000 stat calls where the full rescan it replaces read and compared
// every file again, beside the first pass.
func (c *DirCatalog) rescanSince() {
	c.mu.Lock()
	defer c.mu.Unlock()
	since := c.scanned.Add(-time.Second)
	entries, err := os.ReadDir(c.dir)
	if err != nil {
		c.log.Error("read unit directory", "dir", c.dir, "err", err)
		return
	}
	listed := map[string]bool{}
	changed := false
	for _, e := range entries {
		if !unitFile(e.Name()) {
			continue
		}
		name := strings.TrimSuffix(e.Name(), ".toml")
		listed[name] = true
		_, known := c.units[name]
		_, bad := c.problems[name]
		if known || bad {
			var st unix.Stat_t
			if unix.Stat(filepath.Join(c.dir, e.Name()), &st) == nil && time.Unix(st.Ctim.Unix()).Before(since) {
				continue
			}
		}
		changed = c.readLocked(name) || changed
	}
	for name := range c.units {
		if !listed[name] {
			changed = c.readLocked(name) || changed
		}
	}
	for name := range c.problems {
		if !listed[name] {
			changed = c.readLocked(name) || changed
		}
	}
	if changed {
		c.publishLocked()
	}
}

// Rescan rereads the whole directory now (SIGHUP does this).
func (c *DirCatalog) Rescan() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rescanLocked()
}

// rescanLocked is Rescan with c.mu held.
func (c *DirCatalog) rescanLocked() {
	c.scanned = time.Now()
	entries, err := os.ReadDir(c.dir)
	if err != nil {
		c.log.Error("read unit directory", "dir", c.dir, "err", err)
		return
	}
	seen := map[string]bool{}
	for _, e := range entries {
		// A directory called *.toml is read too: it is reported, as a
		// symlink to one is.
		if unitFile(e.Name()) {
			seen[strings.TrimSuffix(e.Name(), ".toml")] = true
		}
	}
	for name := range c.units {
		seen[name] = true
	}
	for name := range c.problems {
		seen[name] = true
	}
	changed := false
	names := slices.Collect(maps.Keys(seen))
	for k, f := range c.readAllLocked(names) {
		changed = c.applyLocked(names[k], f) || changed
	}
	if changed {
		c.publishLocked()
	}
}

// unitRead is what reading one unit file gave and, when it differs from
// the unit's valid version, parsing it.
type unitRead struct {
	data   []byte
	err    error
	parsed bool
	u      *units.Unit
	perr   error
}

// readAllLocked reads the unit files of names, and parses those that
// changed, a few at a time: a directory of 1000 files is read at each
// start and each full rescan (a re-execution's API waits for it), and
// parsed at a first start. c.mu is held, so c.units does not change
// while the workers read it.
func (c *DirCatalog) readAllLocked(names []string) []unitRead {
	files := make([]unitRead, len(names))
	onWorkers(len(names), func(k int) {
		path := filepath.Join(c.dir, names[k]+".toml")
		f := unitRead{}
		f.data, f.err = readBounded(path)
		if f.err == nil && c.changedLocked(names[k], f.data) {
			f.u, f.perr = c.parse(path, f.data)
			f.parsed = true
		}
		files[k] = f
	})
	return files
}

// changedLocked reports whether data, name's file as read, is neither its
// valid version nor the invalid one already reported: what applyLocked
// parses. c.mu is held.
func (c *DirCatalog) changedLocked(name string, data []byte) bool {
	if old := c.units[name]; old != nil && old.Source == string(data) {
		return false
	}
	p, bad := c.problems[name]
	return !bad || p.sum != sha256.Sum256(data)
}

// parse parses a unit file's bytes under the catalog's limits.
func (c *DirCatalog) parse(path string, data []byte) (*units.Unit, error) {
	if len(data) > units.MaxFileSize {
		_, err := units.ParseFile(path) // says how large it is
		return nil, err
	}
	return units.ParseLimited(path, data, c.limits)
}

// readLocked reads the unit file of name as it is on disk now and applies
// it: a new or changed valid file replaces the unit; an invalid one is
// recorded as a problem and leaves the previous version in place; a
// missing one removes the unit. It reports whether anything changed. c.mu
// is held.
func (c *DirCatalog) readLocked(name string) bool {
	data, err := readBounded(filepath.Join(c.dir, name+".toml"))
	return c.applyLocked(name, unitRead{data: data, err: err})
}

// applyLocked applies what reading name's unit file gave (readLocked).
func (c *DirCatalog) applyLocked(name string, f unitRead) bool {
	path := filepath.Join(c.dir, name+".toml")
	data, err := f.data, f.err
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		// A directory, a pipe or unreadable: an invalid file, reported as
		// one; the previous version keeps running.
		if p, ok := c.problems[name]; ok && p.err.Error() == err.Error() {
			return false
		}
		c.problems[name] = fileProblem{err: err}
		c.log.Error("unit file unreadable; the previous version keeps running", "unit", name, "err", err)
		return true
	}
	if err != nil {
		_, had := c.units[name]
		_, bad := c.problems[name]
		c.dropUnitLocked(name)
		return had || bad
	}
	old, oldProblem := c.units[name], c.problems[name]
	_, hadProblem := c.problems[name]
	if old != nil && old.Source == string(data) {
		if hadProblem {
			delete(c.problems, name) // the file went back to the valid version
			return true
		}
		return false
	}
	sum := sha256.Sum256(data)
	if hadProblem && oldProblem.sum == sum {
		return false
	}
	u, err := f.u, f.perr
	if !f.parsed {
		u, err = c.parse(path, data)
	}
	if err != nil {
		c.problems[name] = fileProblem{err: err, sum: sum}
		c.log.Error("unit file rejected; the previous version keeps running", "unit", name, "err", err)
		return true
	}
	delete(c.problems, name)
	c.setUnitLocked(u)
	return true
}

// throughLinks is the file that a write to path should replace: path, or
// when path is a symlink the file it resolves to. A link that resolves to
// nothing is an error, not a file to write over.
func throughLinks(path string) (string, error) {
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode().Type() != os.ModeSymlink {
		return path, nil
	}
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		to, _ := os.Readlink(path)
		return "", fmt.Errorf("%s is a symlink to %s, which cannot be resolved: %w", path, to, err)
	}
	return target, nil
}

// readBounded reads a unit file, but no more than one byte past
// units.MaxFileSize: a 50 MB file in the unit directory is refused without
// being read whole. What is not a regular file (a directory, or a symlink
// to one; a pipe, opened without blocking and never read) is an error
// that says what it is.
func readBounded(path string) ([]byte, error) {
	// Plain system calls, not an *os.File: a start reads every unit
	// file, and the runtime's poller (which refuses regular files, one
	// more call each) and a finalizer per file were a quarter of it.
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		fi, err := os.Stat(path)
		if err != nil {
			return nil, err
		}
		what := "a directory"
		if !fi.IsDir() {
			what = "a " + fileType(fi.Mode())
		}
		if to, err := os.Readlink(path); err == nil {
			what += " (a symlink to " + to + ")"
		}
		return nil, fmt.Errorf("%s: is %s, not a unit file", path, what)
	}
	// Up to one byte past the limit, so that a larger file shows as one;
	// the size is a hint (the file may grow or shrink meanwhile).
	buf := make([]byte, 0, min(max(st.Size, 0), units.MaxFileSize)+1)
	for len(buf) <= units.MaxFileSize {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(cap(buf), units.MaxFileSize+1-len(buf)))
		}
		n, err := unix.Read(fd, buf[len(buf):cap(buf)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 {
			break
		}
		buf = buf[:len(buf)+n]
	}
	return buf, nil
}

// fileType names the type of a file that is not regular nor a directory.
func fileType(m os.FileMode) string {
	switch {
	case m&os.ModeNamedPipe != 0:
		return "named pipe"
	case m&os.ModeSocket != 0:
		return "socket"
	case m&os.ModeDevice != 0:
		return "device"
	}
	return "special file"
}
