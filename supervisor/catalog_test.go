package supervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tendhq/tend/units"
)

const kubiaUnit = `kind = "replicated"
replicas = 3
[template]
labels = { app = "kubia" }
command = ["kubia"]
`

// waitCatalog waits, with a deadline, until cond holds after a change.
func waitCatalog(t *testing.T, c *DirCatalog, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for !cond() {
		select {
		case <-c.Changed():
		case <-deadline:
			t.Fatalf("timed out waiting for the catalog: %s", what)
		}
	}
}

func replicasOf(c *DirCatalog, name string) int {
	if u := c.Snapshot().Units[name]; u != nil {
		return u.Replicas
	}
	return -1
}

func problemOf(c *DirCatalog, name string) error { return c.Snapshot().Problems[name] }

func TestDirCatalogFollowsTheDirectory(t *testing.T) {
	dir := t.TempDir()
	c, err := NewDirCatalog(dir, units.Limits{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	path := filepath.Join(dir, "kubia.toml")
	if err := os.WriteFile(path, []byte(kubiaUnit), 0o644); err != nil {
		t.Fatal(err)
	}
	waitCatalog(t, c, "kubia added", func() bool { return replicasOf(c, "kubia") == 3 })

	// An invalid version is rejected with file, line and key; the valid
	// one stays.
	bad := strings.Replace(kubiaUnit, `replicas = 3`, `replicas = "three"`, 1)
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	waitCatalog(t, c, "problem recorded", func() bool { return problemOf(c, "kubia") != nil })
	if msg := problemOf(c, "kubia").Error(); !strings.Contains(msg, "kubia.toml:2") || !strings.Contains(msg, "replicas") {
		t.Fatalf("problem does not name file:line and key: %q", msg)
	}
	if replicasOf(c, "kubia") != 3 {
		t.Fatal("the previous valid version was dropped")
	}
	// The same rejected bytes read again (SIGHUP) are not news.
	gen := c.Snapshot().Gen
	c.Rescan()
	if c.Snapshot().Gen != gen {
		t.Fatal("rereading an unchanged invalid file changed the catalog")
	}

	// The way vim and most editors save: a new file renamed over the old.
	tmp := filepath.Join(dir, ".kubia.toml.swp")
	if err := os.WriteFile(tmp, []byte(strings.Replace(kubiaUnit, "replicas = 3", "replicas = 5", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	waitCatalog(t, c, "renamed over", func() bool { return replicasOf(c, "kubia") == 5 && problemOf(c, "kubia") == nil })

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	waitCatalog(t, c, "removed", func() bool { return replicasOf(c, "kubia") == -1 })
}

func TestDirCatalogPutValidatesBeforeWriting(t *testing.T) {
	dir := t.TempDir()
	c, err := NewDirCatalog(dir, units.Limits{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Put("/somewhere/else/kubia.toml", []byte(kubiaUnit))
	if err != nil || res.Action != "created" || res.Name != "kubia" {
		t.Fatalf("Put = %+v, %v", res, err)
	}
	if data, err := os.ReadFile(filepath.Join(dir, "kubia.toml")); err != nil || string(data) != kubiaUnit {
		t.Fatalf("file in the unit directory: %q, %v", data, err)
	}
	if replicasOf(c, "kubia") != 3 {
		t.Fatal("Put returned before the catalog showed the unit")
	}
	if res, _ := c.Put("kubia.toml", []byte(kubiaUnit)); res.Action != "unchanged" {
		t.Fatalf("same bytes again: %+v", res)
	}
	if _, err := c.Put("kubia.toml", []byte("kind = \"replicated\"\nbogus = 1\n")); err == nil {
		t.Fatal("invalid unit accepted")
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "kubia.toml")); string(data) != kubiaUnit {
		t.Fatal("an invalid Put changed the file")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
	if err := c.Remove("kubia"); err != nil || replicasOf(c, "kubia") != -1 {
		t.Fatalf("Remove = %v; unit still there: %v", err, replicasOf(c, "kubia") != -1)
	}
	if err := c.Remove("kubia"); !errors.Is(err, ErrNotFound) {
		t.Fatal("removing a missing unit succeeded")
	}
}

// Check answers as Put would, and writes nothing: apply --dry-run=server.
func TestDirCatalogCheckWritesNothing(t *testing.T) {
	dir := t.TempDir()
	c, err := NewDirCatalog(dir, units.Limits{InstancesPerUnit: 10}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if res, err := c.Check("kubia.toml", []byte(kubiaUnit)); err != nil || res.Action != "created" || res.Name != "kubia" {
		t.Fatalf("Check of a new unit = %+v, %v", res, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 || replicasOf(c, "kubia") != -1 {
		t.Fatalf("Check wrote: %v", entries)
	}
	if _, err := c.Put("kubia.toml", []byte(kubiaUnit)); err != nil {
		t.Fatal(err)
	}
	if res, _ := c.Check("kubia.toml", []byte(kubiaUnit)); res.Action != "unchanged" {
		t.Errorf("Check of the same version: %+v", res)
	}
	five := strings.Replace(kubiaUnit, "replicas = 3", "replicas = 5", 1)
	if res, err := c.Check("kubia.toml", []byte(five)); err != nil || res.Action != "configured" {
		t.Errorf("Check of a new version = %+v, %v", res, err)
	}
	// The agent's own limits, which a client cannot know.
	var list units.ErrorList
	if _, err := c.Check("kubia.toml", []byte(strings.Replace(kubiaUnit, "replicas = 3", "replicas = 11", 1))); !errors.As(err, &list) {
		t.Errorf("Check above the agent's max replicas: %v", err)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "kubia.toml")); string(data) != kubiaUnit || replicasOf(c, "kubia") != 3 {
		t.Errorf("Check changed the unit: %q, %d replicas", data, replicasOf(c, "kubia"))
	}
}

// TestDirCatalogPutIsNeverUndoneByARescan: a rescan that listed or read
// the directory just before a Put wrote a file must not undo the Put (drop
// the new unit, or put the old version back), not even for a moment:
// the loop acts on what it sees. A monitor watches, while rescans run
// beside the Puts, that every Put that has returned keeps showing. The
// directory holds a hundred other units so that each rescan takes a
// while.
func TestDirCatalogPutIsNeverUndoneByARescan(t *testing.T) {
	dir := t.TempDir()
	for k := range 100 {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("other-%03d.toml", k)), []byte(kubiaUnit), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c, err := NewDirCatalog(dir, units.Limits{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	want := map[string]int{} // unit → the replicas its last Put gave it
	var undone []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
					c.Rescan()
				}
			}
		})
	}
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			mu.Lock()
			for name, n := range want {
				if got := replicasOf(c, name); got != n && got != n+1 {
					undone = append(undone, fmt.Sprintf("%s: replicas %d after a Put of %d", name, got, n))
				}
			}
			mu.Unlock()
		}
	})
	for n := 1; n <= 50; n++ {
		for _, name := range []string{fmt.Sprintf("new-%03d", n), "kubia"} {
			text := strings.Replace(kubiaUnit, "replicas = 3", fmt.Sprintf("replicas = %d", n), 1)
			mu.Lock()
			if _, ok := want[name]; ok {
				want[name] = n - 1 // while this Put runs, the old or the new version
			}
			mu.Unlock()
			if _, err := c.Put(name+".toml", []byte(text)); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			want[name] = n
			mu.Unlock()
		}
	}
	close(stop)
	wg.Wait()
	if len(undone) > 0 {
		t.Fatalf("%d times a rescan undid a Put, the first: %s", len(undone), undone[0])
	}
}

func TestApplyingTheRunningVersionRepairsABrokenFile(t *testing.T) {
	dir := t.TempDir()
	c, err := NewDirCatalog(dir, units.Limits{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Put("kubia.toml", []byte(kubiaUnit)); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "kubia.toml")
	os.WriteFile(path, []byte("kind = 3\n"), 0o644)
	c.Rescan()
	if problemOf(c, "kubia") == nil {
		t.Fatal("broken file not noticed")
	}
	res, err := c.Put("kubia.toml", []byte(kubiaUnit))
	if err != nil || res.Action == "unchanged" {
		t.Fatalf("Put = %+v, %v", res, err)
	}
	if data, _ := os.ReadFile(path); string(data) != kubiaUnit {
		t.Fatalf("file on disk: %q", data)
	}
	if !strings.Contains(res.Action, "configured") {
		t.Fatalf("action %q", res.Action)
	}
}

// A unit file over units.MaxFileSize is refused, saying how large it is,
// without the catalog reading it whole.
func TestDirCatalogRefusesAHugeFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "huge.toml")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(50 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	c, err := NewDirCatalog(dir, units.Limits{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := problemOf(c, "huge"); err == nil || !strings.Contains(err.Error(), "too large: 52428800 bytes") {
		t.Fatalf("problem: %v", err)
	}
}

// The last valid version of a unit outlives the agent: a unit whose file
// is invalid when the catalog opens runs that version, with the problem
// beside it, as it did before the restart.
func TestDirCatalogKeepsTheLastValidVersionInTheStore(t *testing.T) {
	unitDir := t.TempDir()
	open, store := storedCatalog(t, unitDir)
	write := func(name, text string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(unitDir, name+".toml"), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	c := open()
	if _, err := c.Put("kubia.toml", []byte(kubiaUnit)); err != nil {
		t.Fatal(err)
	}
	// Every file as the store has it: the units are there all the same.
	if c = open(); replicasOf(c, "kubia") != 3 || problemOf(c, "kubia") != nil {
		t.Fatalf("valid file, after a restart: replicas %d, problem %v", replicasOf(c, "kubia"), problemOf(c, "kubia"))
	}
	write("kubia", strings.Replace(kubiaUnit, "replicas = 3", "replicas = \"many\"", 1))
	write("typo", "kind = \"replicated\"\nreplicaz = 1\n")
	c.Rescan()
	if replicasOf(c, "kubia") != 3 || problemOf(c, "kubia") == nil {
		t.Fatalf("before the restart: replicas %d, problem %v; want the last valid 3 and the file's problem", replicasOf(c, "kubia"), problemOf(c, "kubia"))
	}

	for _, how := range []string{"restart", "second restart"} {
		c = open()
		if replicasOf(c, "kubia") != 3 {
			t.Fatalf("after a %s: replicas %d, want the last valid version's 3", how, replicasOf(c, "kubia"))
		}
		if err := problemOf(c, "kubia"); err == nil || !strings.Contains(err.Error(), "replicas") {
			t.Fatalf("after a %s: problem %v, want the file's", how, err)
		}
		if c.Snapshot().Units["typo"] != nil || problemOf(c, "typo") == nil {
			t.Fatalf("after a %s: a file that was never valid has a unit (%v) or no problem", how, c.Snapshot().Units["typo"])
		}
	}

	// A valid version from elsewhere (the fleet's) runs while the file
	// stays as it is.
	if ok, err := c.KeepValid("kubia", []byte(strings.Replace(kubiaUnit, "replicas = 3", "replicas = 4", 1))); !ok || err != nil {
		t.Fatalf("KeepValid: %v, %v", ok, err)
	}
	if ok, _ := c.KeepValid("other", []byte(kubiaUnit)); ok {
		t.Fatal("KeepValid took a unit whose file is not invalid")
	}
	c = open()
	if replicasOf(c, "kubia") != 4 || problemOf(c, "kubia") == nil {
		t.Fatalf("after KeepValid and a restart: replicas %d, problem %v; want 4 and the file's problem", replicasOf(c, "kubia"), problemOf(c, "kubia"))
	}

	// Fixed: the new version, kept in turn.
	write("kubia", strings.Replace(kubiaUnit, "replicas = 3", "replicas = 5", 1))
	c.Rescan()
	c = open()
	if replicasOf(c, "kubia") != 5 || problemOf(c, "kubia") != nil {
		t.Fatalf("fixed, after a restart: replicas %d, problem %v; want 5 and none", replicasOf(c, "kubia"), problemOf(c, "kubia"))
	}

	// Removed, while the agent runs or while it is down: forgotten.
	if err := c.Remove("kubia"); err != nil {
		t.Fatal(err)
	}
	c = open()
	if c.Snapshot().Units["kubia"] != nil {
		t.Fatal("a removed unit came back from the store")
	}
	write("kubia", kubiaUnit)
	c.Rescan()
	write("kubia", "kind = 1\n")
	c.Rescan()
	if err := os.Remove(filepath.Join(unitDir, "kubia.toml")); err != nil {
		t.Fatal(err)
	}
	c = open()
	if c.Snapshot().Units["kubia"] != nil || problemOf(c, "kubia") != nil {
		t.Fatal("a unit whose file went while the agent was down is still there")
	}
	var sr specRecord
	store().Flush()
	if ok, _ := store().get(bucketValid, "kubia", &sr); ok {
		t.Fatal("the store still keeps the last valid version of a removed unit")
	}

	// A kept version that no longer parses is forgotten, not fatal.
	store().put(bucketValid, "kubia", specRecord{Path: filepath.Join(unitDir, "kubia.toml"), Source: []byte("kind = 7\n")})
	write("kubia", "kind = 1\n")
	c = open()
	if c.Snapshot().Units["kubia"] != nil || problemOf(c, "kubia") == nil {
		t.Fatal("a stored version that does not parse was taken")
	}
}

// After a restart, a unit whose file is invalid is planned from its last
// valid version and published with the file's error; one whose file was
// never valid is published too, with its error only; scale refuses both.
func TestRestartRunsTheLastValidVersion(t *testing.T) {
	dir := t.TempDir()
	a := startTestAgent(t, dir, newFakeClock())
	a.apply("kubia", "kind = \"replicated\"\nreplicas = 2", "sleep")
	a.waitUnit("kubia", "2 running", func(u Unit) bool { return u.Running == 2 })
	path := filepath.Join(dir, "units", "kubia.toml")
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	writeFile := func(name string, data []byte) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, "units", name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeFile("kubia.toml", []byte(strings.Replace(string(src), "replicas = 2", "replicas = \"two\"", 1)))
	writeFile("typo.toml", []byte("kind = \"replicated\"\nreplicaz = 1\n"))
	a.catalog.Rescan()
	a.waitUnit("kubia", "the file's error", func(u Unit) bool { return u.Error != "" })
	a.stop()

	b := startTestAgent(t, dir, newFakeClock())
	u := b.waitUnit("kubia", "2 running of the last valid version, with the file's error", func(u Unit) bool {
		return u.Running == 2 && u.Desired == 2 && strings.Contains(u.Error, "replicas")
	})
	if u.Kind != units.KindReplicated || u.Source != string(src) {
		t.Fatalf("kubia after the restart: kind %v, source %q; want the last valid version", u.Kind, u.Source)
	}
	typo := b.waitUnit("typo", "a file that was never valid is listed", func(u Unit) bool { return u.Error != "" })
	if typo.Kind != 0 || typo.Path != filepath.Join(dir, "units", "typo.toml") || !strings.Contains(typo.Error, "replicaz") {
		t.Fatalf("typo: %+v", typo)
	}
	for _, name := range []string{"kubia", "typo"} {
		if _, err := b.sup.ScaleUnit(name, 3); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "fix it first") {
			t.Errorf("scale %s: %v, want ErrInvalid saying to fix the file", name, err)
		}
	}
}

// TestDirCatalogPutWritesThroughASymlink: a unit file may be a link to a
// file kept elsewhere (a checkout, a package's directory). Scale and apply
// change the file it points to; they once renamed a new file over the
// link, cutting it.
func TestDirCatalogPutWritesThroughASymlink(t *testing.T) {
	dir, elsewhere := t.TempDir(), t.TempDir()
	target := filepath.Join(elsewhere, "kubia.toml")
	if err := os.WriteFile(target, []byte(kubiaUnit), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "kubia.toml")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	c, err := NewDirCatalog(dir, units.Limits{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	u := c.Snapshot().Units["kubia"]
	if u == nil {
		t.Fatalf("the linked unit was not read: %v", problemOf(c, "kubia"))
	}
	scaled, err := units.SetTopLevelInt([]byte(u.Source), "replicas", 5)
	if err != nil {
		t.Fatal(err)
	}
	// As ScaleUnit calls it, with the unit's path.
	if _, err := c.Put(u.Path, scaled); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode().Type() != os.ModeSymlink {
		t.Fatalf("the link was replaced: %v, %v", fi.Mode(), err)
	}
	if data, _ := os.ReadFile(target); string(data) != string(scaled) {
		t.Fatalf("the link's target:\n%s\nwant:\n%s", data, scaled)
	}
	if replicasOf(c, "kubia") != 5 {
		t.Fatalf("replicas = %d, want 5", replicasOf(c, "kubia"))
	}
	if entries, _ := os.ReadDir(elsewhere); len(entries) != 1 {
		t.Fatalf("temporary files left beside the target: %v", entries)
	}

	// A link to nothing is not written over either: the error says where
	// it points.
	if err := os.Remove(target); err != nil {
		t.Fatal(err)
	}
	_, err = c.Put("kubia.toml", []byte(kubiaUnit))
	if err == nil || !strings.Contains(err.Error(), "is a symlink to "+target) {
		t.Fatalf("Put through a dangling link: %v", err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode().Type() != os.ModeSymlink {
		t.Fatalf("the dangling link was replaced: %v, %v", fi.Mode(), err)
	}
}

// TestUnitFileThatIsADirectoryIsReported: a unit file that is a symlink to
// a directory (or a directory, or a pipe) is an invalid file: an event
// and an invalid unit in the list, not a line in the agent's log only. A
// pipe is never opened for reading, which would block the catalog.
func TestUnitFileThatIsADirectoryIsReported(t *testing.T) {
	dir := t.TempDir()
	unitsDir := filepath.Join(dir, "units")
	if err := os.MkdirAll(unitsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	elsewhere := t.TempDir()
	if err := os.Symlink(elsewhere, filepath.Join(unitsDir, "web.toml")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(unitsDir, "pipe.toml"), 0o644); err != nil {
		t.Fatal(err)
	}
	a := startTestAgent(t, dir, newFakeClock())
	for name, want := range map[string]string{
		"web":  filepath.Join(unitsDir, "web.toml") + ": is a directory (a symlink to " + elsewhere + "), not a unit file",
		"pipe": filepath.Join(unitsDir, "pipe.toml") + ": is a named pipe, not a unit file",
	} {
		u := a.waitUnit(name, "listed as invalid", func(u Unit) bool { return u.Error != "" })
		if u.Error != want {
			t.Errorf("%s: error %q, want %q", name, u.Error, want)
		}
		a.waitFor(name+"'s event", func() bool { return countReason(a.sup.Events(KindUnit, name), "InvalidUnitFile") == 1 })
	}

	// A valid unit whose file becomes a link to a directory keeps running
	// its last valid version, as with any invalid file.
	a.apply("kubia", "kind = \"replicated\"\nreplicas = 1", "sleep")
	a.waitUnit("kubia", "running", func(u Unit) bool { return u.Running == 1 })
	path := filepath.Join(unitsDir, "kubia.toml")
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(elsewhere, path); err != nil {
		t.Fatal(err)
	}
	a.catalog.Rescan()
	u := a.waitUnit("kubia", "the file's error", func(u Unit) bool { return u.Error != "" })
	if u.Running != 1 || !strings.Contains(u.Error, "is a directory") {
		t.Fatalf("kubia: %+v", u)
	}
}

// What changes between the catalog's first scan and the start of its
// watch is not missed: a file written again (even one given back its old
// modification time, as cp -p does), a file added, a file removed.
func TestDirCatalogSeesChangesBeforeItsWatch(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name+".toml"), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("kubia", kubiaUnit)
	write("gone", kubiaUnit)
	for k := range 50 { // untouched: not read again
		write(fmt.Sprintf("steady%02d", k), kubiaUnit)
	}
	c, err := NewDirCatalog(dir, units.Limits{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if replicasOf(c, "kubia") != 3 || replicasOf(c, "gone") != 3 {
		t.Fatalf("first scan: %v", c.Snapshot().Units)
	}

	write("kubia", strings.Replace(kubiaUnit, "replicas = 3", "replicas = 5", 1))
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "kubia.toml"), old, old); err != nil {
		t.Fatal(err)
	}
	write("added", kubiaUnit)
	if err := os.Remove(filepath.Join(dir, "gone.toml")); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	waitCatalog(t, c, "the changes made before the watch", func() bool {
		return replicasOf(c, "kubia") == 5 && replicasOf(c, "added") == 3 && replicasOf(c, "gone") == -1
	})
	if n := len(c.Snapshot().Units); n != 52 {
		t.Fatalf("%d units, want 52", n)
	}
}

// BenchmarkOpenDirCatalog opens a catalog of n unit files whose valid
// versions the store holds ("stored"), as every start and every
// re-execution of the agent does, or none ("first", a first start).
func BenchmarkOpenDirCatalog(b *testing.B) {
	for _, n := range []int{10, 100, 1000, 5000} {
		for _, first := range []bool{false, true} {
			name := fmt.Sprintf("stored/units=%d", n)
			if first {
				name = fmt.Sprintf("first/units=%d", n)
			}
			b.Run(name, func(b *testing.B) {
				unitDir, log := b.TempDir(), slog.New(slog.DiscardHandler)
				for k := range n {
					text := strings.ReplaceAll(kubiaUnit, "kubia", fmt.Sprintf("web-%d", k))
					if err := os.WriteFile(filepath.Join(unitDir, fmt.Sprintf("web-%d.toml", k)), []byte(text), 0o644); err != nil {
						b.Fatal(err)
					}
				}
				st, err := OpenStore(b.TempDir(), log)
				if err != nil {
					b.Fatal(err)
				}
				defer st.Close()
				if _, err := OpenDirCatalog(unitDir, units.Limits{}, st, log); err != nil {
					b.Fatal(err)
				}
				st.Flush()
				var use *Store
				if !first {
					use = st
				}
				for b.Loop() {
					c, err := OpenDirCatalog(unitDir, units.Limits{}, use, log)
					if err != nil || len(c.Snapshot().Units) != n {
						b.Fatalf("%v; %d units", err, len(c.Snapshot().Units))
					}
				}
				b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/float64(n), "µs/unit")
			})
		}
	}
}

// storedCatalog returns open, which opens (again, as a restarted agent
// does) a catalog of unitDir with a store in a state directory of its
// own, closing the store of the last open first; and the store of the
// last open. The test's end closes the store.
func storedCatalog(t *testing.T, unitDir string) (open func() *DirCatalog, store func() *Store) {
	state := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	var st *Store
	t.Cleanup(func() {
		if st != nil {
			st.Close()
		}
	})
	open = func() *DirCatalog {
		t.Helper()
		if st != nil {
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
		}
		var err error
		if st, err = OpenStore(state, log); err != nil {
			t.Fatal(err)
		}
		c, err := OpenDirCatalog(unitDir, units.Limits{}, st, log)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	return open, func() *Store { return st }
}
