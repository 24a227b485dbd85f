package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tendhq/tend/cluster"
	"github.com/tendhq/tend/supervisor"
	"github.com/tendhq/tend/units"
)

// A prune drops the old keys only for the rotation whose key is in use:
// a second rotation under way cannot leave hosts with different keys.
func TestPruneIsForTheKeyInUse(t *testing.T) {
	dir := t.TempDir()
	k1, k2 := []byte("0123456789abcdef0123456789abcdef"), []byte("fedcba9876543210fedcba9876543210")
	if err := cluster.SaveGossipKeys(dir, [][]byte{k1}); err != nil {
		t.Fatal(err)
	}
	node, err := cluster.New(cluster.Config{Name: "a", Bind: "127.0.0.1:0", Profile: cluster.ProfileLocal,
		Keys: [][]byte{k1}, StateDir: t.TempDir(), Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	kr := &fleetKeyring{f: &fleet{node: node, log: slog.New(slog.DiscardHandler)}, dir: dir}
	change := func(op string, key []byte) error {
		_, err := kr.ChangeKeys(supervisor.KeyChange{Op: op, Key: key})
		return err
	}
	if err := change("install", k2); err != nil {
		t.Fatal(err)
	}
	if err := change("prune", k2); err == nil || !strings.Contains(err.Error(), "another rotation") {
		t.Errorf("prune for k2 while k1 is in use: %v", err)
	}
	if err := change("use", k2); err != nil {
		t.Fatal(err)
	}
	if err := change("prune", k1); err == nil {
		t.Error("prune for k1 while k2 is in use went through")
	}
	if err := change("prune", k2); err != nil {
		t.Fatal(err)
	}
	keys, err := cluster.LoadGossipKeys(dir)
	if err != nil || len(keys) != 1 || string(keys[0]) != string(k2) {
		t.Errorf("gossip.key after the rotation: %d keys, %v", len(keys), err)
	}
	for _, bad := range []supervisor.KeyChange{{Op: "install", Key: []byte("short")}, {Op: "explode"}, {Op: "use", Key: k1}} {
		if _, err := kr.ChangeKeys(bad); err == nil {
			t.Errorf("%+v went through", bad)
		}
	}
}

// An expired host certificate costs the host its inter-host API, not its
// instances: the agent starts without it.
func TestAnExpiredCertificateLeavesTheAgentRunning(t *testing.T) {
	keys := t.TempDir()
	crt, key, err := cluster.NewCA("", time.Now().Add(-3*365*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	hostCrt, hostKey, err := cluster.IssueHostCert(crt, key, "edge-1", time.Now().Add(-2*365*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(keys, cluster.HostsDir), 0o700)
	os.WriteFile(filepath.Join(keys, cluster.CACertFile), crt, 0o644)
	os.WriteFile(filepath.Join(keys, cluster.HostsDir, "edge-1.crt"), hostCrt, 0o644)
	os.WriteFile(filepath.Join(keys, cluster.HostsDir, "edge-1.key"), hostKey, 0o600)
	cfg := supervisor.DefaultConfig()
	cfg.Name, cfg.StateDir, cfg.Cluster.KeysDir = "edge-1", t.TempDir(), keys
	f := &fleet{log: slog.New(slog.DiscardHandler)}
	addr, err := f.listenAPI(cfg, "127.0.0.1:0")
	if err != nil || addr != "" || f.apiLn != nil {
		t.Errorf("listenAPI with an expired certificate: %q, %v; want no API and no error", addr, err)
	}
}

// Two hosts define one unit at about the same time: a warning event on
// the host that learns of it says which definition was kept and which
// dropped.
func TestConflictingDefinitionsAreAnEvent(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	events := make(chan string, 16)
	var fleets []*fleet
	for k, name := range []string{"a", "b"} {
		cfg := cluster.Config{Name: name, Bind: "127.0.0.1:0", Profile: cluster.ProfileLocal, StateDir: t.TempDir(), Log: log}
		if k > 0 {
			cfg.Join = []string{fleets[0].node.Addr()}
		}
		node, err := cluster.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { node.Close() })
		dir, err := supervisor.NewDirCatalog(t.TempDir(), units.Limits{}, log)
		if err != nil {
			t.Fatal(err)
		}
		f := &fleet{node: node, dir: dir, log: log, seen: map[string]bool{}}
		f.event = func(unit, typ, reason, message string) { events <- typ + " " + reason + " " + unit + ": " + message }
		fleets = append(fleets, f)
	}
	select {
	case <-fleets[1].node.Joined():
	case <-time.After(20 * time.Second):
		t.Fatal("b never joined a")
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	for _, f := range fleets {
		wg.Go(func() { f.Run(ctx) })
	}
	spec := func(host string) []byte {
		return []byte(fmt.Sprintf("kind = \"replicated\"\nreplicas = 0\n[template]\nlabels = { from = %q }\ncommand = [\"true\"]\n", host))
	}
	fleets[0].node.SetUnit("web", spec("a"))
	fleets[1].node.SetUnit("web", spec("b"))
	select {
	case ev := <-events:
		if !strings.HasPrefix(ev, "Warning ConflictingDefinitions web: Two definitions of unit web") ||
			!regexp.MustCompile(`the one from host (a|b) is kept on every host, the one from host (a|b) is dropped`).MatchString(ev) {
			t.Errorf("event %q", ev)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no host told of the conflict")
	}
}
