package supervisor

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
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
	for _, u := range c.Units() {
		if u.Name == name {
			return u.Replicas
		}
	}
	return -1
}

func TestDirCatalogFollowsTheDirectory(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	var rejected []string
	c, err := NewDirCatalog(dir, slog.New(slog.DiscardHandler), func(name string, err error) {
		mu.Lock()
		rejected = append(rejected, err.Error())
		mu.Unlock()
	})
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
	waitCatalog(t, c, "problem recorded", func() bool { return c.Problems()["kubia"] != nil })
	if msg := c.Problems()["kubia"].Error(); !strings.Contains(msg, "kubia.toml:2") || !strings.Contains(msg, "replicas") {
		t.Fatalf("problem does not name file:line and key: %q", msg)
	}
	if replicasOf(c, "kubia") != 3 {
		t.Fatal("the previous valid version was dropped")
	}
	mu.Lock()
	if len(rejected) != 1 {
		t.Fatalf("onProblem called %d times, want 1", len(rejected))
	}
	mu.Unlock()

	// The way vim and most editors save: a new file renamed over the old.
	tmp := filepath.Join(dir, ".kubia.toml.swp")
	if err := os.WriteFile(tmp, []byte(strings.Replace(kubiaUnit, "replicas = 3", "replicas = 5", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	waitCatalog(t, c, "renamed over", func() bool { return replicasOf(c, "kubia") == 5 && c.Problems()["kubia"] == nil })

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	waitCatalog(t, c, "removed", func() bool { return replicasOf(c, "kubia") == -1 })
}

func TestDirCatalogPutValidatesBeforeWriting(t *testing.T) {
	dir := t.TempDir()
	c, err := NewDirCatalog(dir, slog.New(slog.DiscardHandler), nil)
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
	if err := c.Remove("kubia"); err != nil {
		t.Fatal(err)
	}
	if err := c.Remove("kubia"); err == nil {
		t.Fatal("removing a missing unit succeeded")
	}
}
