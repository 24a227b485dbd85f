package supervisor

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// A deleted unit's last version is kept, through a restart of the
// catalog, until the unit is made again or newer deletions push it out.
func TestDirCatalogKeepsDeletedUnits(t *testing.T) {
	unitDir := t.TempDir()
	open, store := storedCatalog(t, unitDir)

	c := open()
	if _, err := c.Put("kubia.toml", []byte(kubiaUnit)); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Deleted("kubia"); ok {
		t.Fatal("a unit that is there is remembered as deleted")
	}
	if err := c.Remove("kubia"); err != nil {
		t.Fatal(err)
	}
	d, ok := c.Deleted("kubia")
	if !ok || d.Source != kubiaUnit || d.Path != filepath.Join(unitDir, "kubia.toml") || d.Deleted.IsZero() {
		t.Fatalf("after delete: %+v, %v", d, ok)
	}
	// Through a restart.
	c = open()
	if d, ok := c.Deleted("kubia"); !ok || d.Source != kubiaUnit {
		t.Fatalf("after a restart: %+v, %v", d, ok)
	}
	// A file removed while no agent ran counts too.
	if _, err := c.Put("web.toml", []byte(kubiaUnit)); err != nil {
		t.Fatal(err)
	}
	store().Flush()
	os.Remove(filepath.Join(unitDir, "web.toml"))
	c = open()
	if _, ok := c.Deleted("web"); !ok {
		t.Fatal("a file removed while the agent was down is not remembered")
	}
	// Made again: forgotten.
	if _, err := c.Put("kubia.toml", []byte(kubiaUnit)); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Deleted("kubia"); ok {
		t.Fatal("a unit made again is still remembered as deleted")
	}
	// The newest maxDeleted are kept.
	for k := range maxDeleted + 6 {
		name := fmt.Sprintf("u%03d", k)
		if _, err := c.Put(name+".toml", []byte(kubiaUnit)); err != nil {
			t.Fatal(err)
		}
		if err := c.Remove(name); err != nil {
			t.Fatal(err)
		}
	}
	kept := 0
	for k := range maxDeleted + 6 {
		if _, ok := c.Deleted(fmt.Sprintf("u%03d", k)); ok {
			kept++
		}
	}
	if _, ok := c.Deleted("web"); ok || kept != maxDeleted {
		t.Fatalf("%d of %d kept (web: %v), want the newest %d", kept, maxDeleted+6, ok, maxDeleted)
	}
	if _, ok := c.Deleted(fmt.Sprintf("u%03d", maxDeleted+5)); !ok {
		t.Fatal("the newest deletion was pushed out")
	}
	c = open()
	kept = 0
	for k := range maxDeleted + 6 {
		if _, ok := c.Deleted(fmt.Sprintf("u%03d", k)); ok {
			kept++
		}
	}
	if kept != maxDeleted {
		t.Fatalf("after a restart %d kept, want %d", kept, maxDeleted)
	}
}
