package main

// The fleet (issue 9): real agents gossiping on loopback with the lan
// profile, as a fleet would run, each a process of its own with its own
// directory and copy of the cluster's secrets. The units start in one
// host's directory and reach the others by gossip; the instances are
// spread over all of them.
//
// Figures: how long a unit file that appears in one host's unit
// directory takes to be in every host's (p50, p99); how long a host's
// death (kill -9) takes to be seen as NotReady by every other host (p50,
// max); each agent's memory at rest with the whole fleet running (mean
// and max RSS, mean PSS); and how long the fleet took to run every
// instance from the first agent's start.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tendhq/tend/supervisor"
)

// Figure IDs.
const (
	fleetApplyP50ID = "fleet_apply_p50_ms"
	fleetApplyP99ID = "fleet_apply_p99_ms"
	fleetDeathP50ID = "fleet_death_p50_ms"
	fleetDeathMaxID = "fleet_death_max_ms"
	fleetRSSID      = "fleet_rss_mean_mb"
	fleetRSSMaxID   = "fleet_rss_max_mb"
	fleetPSSID      = "fleet_pss_mean_mb"
	fleetStartID    = "fleet_start_s"
)

var fleetIDs = []string{fleetApplyP50ID, fleetApplyP99ID, fleetDeathP50ID, fleetDeathMaxID, fleetRSSID, fleetRSSMaxID, fleetPSSID, fleetStartID}

// The sizes the fleet goal is set at (issue 9).
const (
	goalFleetHosts    = 20
	goalFleetApplyP99 = 2000.0 // ms
)

// fleetHost is one agent of the fleet.
type fleetHost struct {
	name, dir, sock string
	s               *session
	c               *supervisor.Client
}

// freeGossipPort is a loopback port free for TCP and UDP just now.
func freeGossipPort() (int, error) {
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err == nil {
			u.Close()
			return port, nil
		}
	}
	return 0, errors.New("no free loopback port for gossip")
}

func (b *bench) fleetFigures(ctx context.Context, tendBin string, r *supervisorResult) error {
	c := b.cfg
	root := b.dir(tendPeer{}, "fleet")
	keys := filepath.Join(root, "keys")
	if out, err := exec.CommandContext(ctx, tendBin, "keygen", keys).CombinedOutput(); err != nil {
		return fmt.Errorf("tend keygen: %v: %s", err, out)
	}
	perUnit := max(1, c.fleetInstances/c.fleetUnits)
	w := spec{stamp: b.stamp, file: filepath.Join(root, "starts"), mode: modeSleep}
	var hosts []*fleetHost
	defer func() {
		for _, h := range hosts {
			h.c.Close()
		}
		if len(hosts) > 0 {
			hosts[0].s.close() // every process this program started
		}
	}()
	first := ""
	t0 := time.Now()
	for k := range c.fleetHosts {
		port, err := freeGossipPort()
		if err != nil {
			return err
		}
		h := &fleetHost{name: fmt.Sprintf("h%02d", k), dir: filepath.Join(root, fmt.Sprintf("h%02d", k))}
		h.sock = filepath.Join(h.dir, ".tend", "tend.sock")
		bind := fmt.Sprintf("127.0.0.1:%d", port)
		join := ""
		if k == 0 {
			first = bind
		} else {
			join = fmt.Sprintf("join = [%q]\n", first)
		}
		hostKeys := filepath.Join(h.dir, "keys")
		if err := copyFiles(keys, hostKeys); err != nil {
			return err
		}
		cfg := fmt.Sprintf("name = %q\n[cluster]\nbind = %q\napi = \"127.0.0.1:0\"\n%sname = \"bench\"\nprofile = \"lan\"\nkeys_dir = %q\n", h.name, bind, join, hostKeys)
		if err := os.MkdirAll(filepath.Join(h.dir, ".tend"), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(h.dir, ".tend", "tend.toml"), []byte(cfg), 0o644); err != nil {
			return err
		}
		var files []unitFile
		if k == 0 {
			for u := range c.fleetUnits {
				files = append(files, unitFile{fmt.Sprintf("u%04d", u), fmt.Sprintf(`kind = "replicated"
replicas = %d
[template]
labels = { app = "u%04d" }
command = [%q, %q, %q]
`, perUnit, u, w.stamp, w.file, w.mode)})
			}
		}
		if h.s, err = start(tendUnit{bin: tendBin, files: files}, h.dir, w); err != nil {
			return err
		}
		h.c = supervisor.NewClient(h.sock)
		hosts = append(hosts, h)
	}
	want := perUnit * c.fleetUnits
	b.progress("%-12s %d agents, %d units of %d replicas in h00's directory", "tend", len(hosts), c.fleetUnits, perUnit)

	// Settled: every host Ready on every host, every unit file everywhere,
	// every instance running.
	deadline := time.Now().Add(3*time.Minute + time.Duration(want)*20*time.Millisecond)
	settled := func() (bool, string, error) {
		for _, h := range hosts {
			if h.s.exited() {
				return false, "", h.s.failed(fmt.Errorf("agent %s exited", h.name))
			}
			list, err := h.c.Hosts(ctx)
			if err != nil {
				return false, h.name + ": " + err.Error(), nil
			}
			if n := countReady(list); n != len(hosts) {
				return false, fmt.Sprintf("%s sees %d hosts Ready", h.name, n), nil
			}
			ents, err := os.ReadDir(filepath.Join(h.dir, "units"))
			if err != nil || len(ents) < c.fleetUnits {
				return false, fmt.Sprintf("%s has %d unit files", h.name, len(ents)), nil
			}
		}
		list, err := hosts[0].c.Instances(ctx, "")
		if err != nil {
			return false, err.Error(), nil
		}
		running := 0
		for _, in := range list {
			if in.Status == "Running" {
				running++
			}
		}
		return running == want, fmt.Sprintf("%d of %d instances running", running, want), nil
	}
	for {
		ok, why, err := settled()
		if err != nil {
			return err
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			return hosts[0].s.failed(fmt.Errorf("%w: the fleet did not settle: %s", errTimeout, why))
		}
		if err := sleepCtx(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
	r.set(fleetStartID, time.Since(t0).Seconds())
	b.progress("%-12s every instance running after %.1f s", "tend", time.Since(t0).Seconds())
	// At rest: the start's broadcasts have died out.
	if err := sleepCtx(ctx, 5*time.Second); err != nil {
		return err
	}
	var rss, pss []float64
	for _, h := range hosts {
		pid := h.s.cmd.Process.Pid
		rk, err := rollupKB([]int{pid}, "Rss")
		if err != nil {
			return err
		}
		pk, err := rollupKB([]int{pid}, "Pss")
		if err != nil {
			return err
		}
		rss, pss = append(rss, float64(rk)/1024), append(pss, float64(pk)/1024)
	}
	r.set(fleetRSSID, mean(rss))
	r.set(fleetRSSMaxID, slices.Max(rss))
	r.set(fleetPSSID, mean(pss))
	b.progress("%-12s agent RSS mean %.1f MiB, max %.1f MiB; PSS mean %.1f MiB", "tend", mean(rss), slices.Max(rss), mean(pss))

	// A unit file appears in one host's directory (renamed into place, as
	// an editor or a config manager writes it): until it is in every
	// host's.
	var applies []time.Duration
	for k := range c.fleetApplies {
		h := hosts[k%len(hosts)]
		name := fmt.Sprintf("probe%03d.toml", k)
		tmp := filepath.Join(h.dir, "."+name+".tmp")
		unit := fmt.Sprintf("kind = \"replicated\"\nreplicas = 0\n[template]\nlabels = { app = \"probe%03d\" }\ncommand = [\"true\"]\n", k)
		if err := os.WriteFile(tmp, []byte(unit), 0o644); err != nil {
			return err
		}
		start := time.Now()
		if err := os.Rename(tmp, filepath.Join(h.dir, "units", name)); err != nil {
			return err
		}
		for _, x := range hosts {
			for {
				if _, err := os.Stat(filepath.Join(x.dir, "units", name)); err == nil {
					break
				}
				if time.Since(start) > 30*time.Second {
					return fmt.Errorf("%w: %s never had %s", errTimeout, x.name, name)
				}
				time.Sleep(time.Millisecond)
			}
		}
		applies = append(applies, time.Since(start))
	}
	r.set(fleetApplyP50ID, msAt(applies, 0.5))
	r.set(fleetApplyP99ID, msAt(applies, 0.99))
	b.progress("%-12s a unit file on every host: p50 %.0f ms, p99 %.0f ms over %d", "tend", msAt(applies, 0.5), msAt(applies, 0.99), len(applies))

	// kill -9 of one agent: until every other shows it NotReady.
	var deaths []time.Duration
	live := slices.Clone(hosts)
	for range min(c.fleetKills, len(hosts)-1) {
		victim := live[len(live)-1]
		live = live[:len(live)-1]
		start := time.Now()
		if err := victim.s.cmd.Process.Kill(); err != nil {
			return err
		}
		waiting := slices.Clone(live)
		for len(waiting) > 0 {
			if time.Since(start) > time.Minute {
				return fmt.Errorf("%w: %d hosts never saw %s die", errTimeout, len(waiting), victim.name)
			}
			waiting = slices.DeleteFunc(waiting, func(h *fleetHost) bool {
				list, err := h.c.Hosts(ctx)
				return err == nil && statusOf(list, victim.name) == "NotReady"
			})
			// Each look asks every host still waiting: looking more often
			// would take the CPU the agents detect the death with.
			time.Sleep(20 * time.Millisecond)
		}
		deaths = append(deaths, time.Since(start))
	}
	r.set(fleetDeathP50ID, msAt(deaths, 0.5))
	r.set(fleetDeathMaxID, msAt(deaths, 1))
	b.progress("%-12s a host's death seen by all: p50 %.0f ms, max %.0f ms over %d", "tend", msAt(deaths, 0.5), msAt(deaths, 1), len(deaths))
	return nil
}

func countReady(list []supervisor.Host) int {
	n := 0
	for _, h := range list {
		if h.Status == "Ready" {
			n++
		}
	}
	return n
}

func statusOf(list []supervisor.Host, name string) string {
	for _, h := range list {
		if h.Name == name {
			return h.Status
		}
	}
	return ""
}

// msAt is the p-quantile of d in ms (p = 1: the largest).
func msAt(d []time.Duration, p float64) float64 {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return float64(s[min(len(s)-1, int(p*float64(len(s))))]) / float64(time.Millisecond)
}

func mean(v []float64) float64 {
	sum := 0.0
	for _, x := range v {
		sum += x
	}
	return sum / float64(len(v))
}

// copyFiles copies the files of one directory (not below) into a new one.
func copyFiles(from, to string) error {
	if err := os.MkdirAll(to, 0o700); err != nil {
		return err
	}
	ents, err := os.ReadDir(from)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}
