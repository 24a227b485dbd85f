package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tendhq/tend/supervisor"
)

func (w *unitWatch) watching() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.cancel != nil
}

// The watch of the unit directory runs only while no pause is held, never
// after stop or the agent's end, and once it runs again it reads what was
// written while it was paused.
func TestUnitWatchPausesAreCounted(t *testing.T) {
	dir := t.TempDir()
	cat, err := supervisor.NewDirCatalog(dir, supervisor.DefaultConfig().Limits.Unit(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	w := &unitWatch{catalog: cat, log: slog.New(slog.DiscardHandler)}
	w.start(ctx)
	if !w.watching() {
		t.Fatal("not watching once started")
	}
	w.pause()  // a re-execution asked over the API
	w.pause()  // and one by SIGUSR2, at once
	w.resume() // the first is refused
	if w.watching() {
		t.Fatal("watching again while the second re-execution still holds its pause")
	}
	unit := "kind = \"replicated\"\nreplicas = 1\n[template]\nlabels = { app = \"paused\" }\ncommand = [\"/bin/sleep\", \"1000\"]\n"
	if err := os.WriteFile(filepath.Join(dir, "paused.toml"), []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	w.resume()
	if !w.watching() {
		t.Fatal("not watching once every pause is resumed")
	}
	for deadline := time.Now().Add(10 * time.Second); cat.Snapshot().Units["paused"] == nil; {
		if time.Now().After(deadline) {
			t.Fatalf("the unit written while the watch was paused was never read (problems: %v)", cat.Snapshot().Problems)
		}
		time.Sleep(10 * time.Millisecond)
	}
	w.resume() // one too many: nothing to undo
	w.pause()
	if w.watching() {
		t.Fatal("watching after a pause that followed a resume too many")
	}
	w.resume()

	w.stop() // the agent stops, its context not yet ended
	w.pause()
	w.resume()
	if w.watching() {
		t.Fatal("a watch started again after stop")
	}
	cancel() // the agent's end
	late := &unitWatch{catalog: cat, log: slog.New(slog.DiscardHandler)}
	late.start(ctx)
	if late.watching() {
		t.Fatal("a watch started after the agent's context ended")
	}
}
