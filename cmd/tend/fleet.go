package main

// The agent's part of the fleet: this host's cluster member, wired to the
// supervisor through the seams the supervisor defines (Membership and
// Summaries) and to the unit directory, which the fleet's catalog keeps in
// step on every host. cluster knows nothing of supervisor, nor supervisor
// of cluster: the adapters are here.
//
// The unit directory and the fleet's catalog: every host's unit directory
// holds the fleet's units. A file added, changed or removed in any host's
// directory while its agent runs (by hand, or by tend apply, scale, edit
// or delete on that host) is a change for the whole fleet, and every
// other host's directory follows within seconds. A file changed while the
// agent was down counts as a change when it starts; a file removed while
// it was down is written back (delete a unit with tend delete, or while
// the agent runs). Two hosts changing one unit at about the same time:
// the later change wins everywhere, and the loser is logged.
//
// An invalid file is no change for the fleet: it stays on its host, which
// goes on running the fleet's valid version (after a restart too: every
// host keeps the last valid version of each unit in its store) until the
// file is fixed or deleted. A newer version made elsewhere meanwhile runs
// on that host too, without overwriting the file.

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tendhq/tend/cluster"
	"github.com/tendhq/tend/supervisor"
	"github.com/tendhq/tend/units"
)

// fleet is this host's cluster member and what keeps the unit directory
// and the fleet's catalog in step.
type fleet struct {
	node *cluster.Node
	dir  *supervisor.DirCatalog
	log  *slog.Logger
	seen map[string]bool // units in the directory at the last look; the syncer's

	// event records an event about a unit (set once the supervisor is
	// there; nil: logged only).
	event func(unit, typ, reason, message string)

	// The inter-host API: this host's identity and the listener it serves
	// on; both nil when keys_dir holds no cluster CA.
	id    *cluster.Identity
	apiLn net.Listener

	// fence holds exclusive units to one instance in the fleet; nil
	// without cluster.voters.
	fence *cluster.Fencer
}

// openFleet starts this host's member and listens for the inter-host
// API.
func openFleet(cfg supervisor.Config, dir *supervisor.DirCatalog, version string, log *slog.Logger) (_ *fleet, err error) {
	keys, err := cluster.LoadGossipKeys(cfg.Cluster.KeysDir)
	if err != nil {
		return nil, err
	}
	profile, err := cluster.ParseProfile(cfg.Cluster.Profile)
	if err != nil {
		return nil, fmt.Errorf("cluster.profile: %w", err)
	}
	bind := cfg.Cluster.Bind
	if bind == "" {
		bind = supervisor.DefaultBind
	}
	f := &fleet{dir: dir, log: log, seen: map[string]bool{}}
	defer func() {
		if err != nil && f.apiLn != nil {
			f.apiLn.Close()
		}
	}()
	apiAddr, err := f.listenAPI(cfg, bind)
	if err != nil {
		return nil, err
	}
	f.node, err = cluster.New(cluster.Config{
		Name:           cfg.Name,
		Bind:           bind,
		Advertise:      cfg.Cluster.Advertise,
		Join:           cfg.Cluster.Join,
		API:            apiAddr,
		ClusterName:    cfg.Cluster.Name,
		Profile:        profile,
		Keys:           keys,
		AllowPlaintext: cfg.Cluster.AllowPlaintext,
		StateDir:       filepath.Join(cfg.StateDir, "cluster"),
		Labels:         cfg.Labels,
		Version:        version,
		Log:            log,
	})
	if err != nil {
		return nil, err
	}
	log.Info("gossiping", "host", cfg.Name, "addr", f.node.Addr(), "join", cfg.Cluster.Join, "encrypted", len(keys) > 0, "api", apiAddr)
	if len(cfg.Cluster.Voters) > 0 {
		f.fence, err = cluster.NewFencer(f.node, cluster.FencerConfig{
			Params:   cluster.DefaultFenceParams(),
			Voters:   cfg.Cluster.Voters,
			StateDir: filepath.Join(cfg.StateDir, "cluster"),
			Exclusive: func(unit string) bool {
				u := dir.Snapshot().Units[unit]
				return u != nil && u.Exclusive
			},
			Now: supervisor.BootTime,
			Log: log,
		})
		if err != nil {
			f.node.Close()
			return nil, err
		}
		log.Info("fencing exclusive units", "voters", cfg.Cluster.Voters, "quorum", f.fence.Fence().Quorum(), "w", f.fence.Fence().W())
	}
	return f, nil
}

// Fence is the fleet's fence as the supervisor's seam; nil without one.
func (f *fleet) Fence() supervisor.Fence {
	if f.fence == nil {
		return nil
	}
	return fleetFence{f.fence}
}

// fleetFence is the cluster's Fencer as the supervisor's Fence.
type fleetFence struct{ fz *cluster.Fencer }

var _ supervisor.Fence = fleetFence{}

func (f fleetFence) Want(units []string) { f.fz.Want(units) }
func (f fleetFence) Lease(unit string) supervisor.FenceLease {
	l := f.fz.Lease(unit)
	return supervisor.FenceLease{Held: l.Held, Epoch: l.Epoch, Until: l.Until, Status: l.Status}
}
func (f fleetFence) Release(unit string) (string, uint64, error) {
	c, err := f.fz.Release(unit)
	return c.Host, c.Epoch, err
}
func (f fleetFence) Changed() <-chan struct{} { return f.fz.Changed() }
func (f fleetFence) KillGrace() time.Duration { return f.fz.Fence().Params().KillGrace }
func (f fleetFence) Now() time.Duration       { return supervisor.BootTime() }
func (f fleetFence) Voters() ([]string, int) {
	return f.fz.Fence().Voters(), f.fz.Fence().Quorum()
}
func (f fleetFence) Promised(unit string) (string, uint64) {
	c, _ := f.fz.Promised(unit)
	return c.Host, c.Epoch
}

// listenAPI loads this host's identity and listens for the inter-host
// API: at cluster.api, or by default on the gossip address's host and the
// port after gossip's (7947 beside 7946). It returns the address to tell
// the others; "" when keys_dir holds no CA, and then serves nothing.
func (f *fleet) listenAPI(cfg supervisor.Config, bind string) (string, error) {
	id, err := cluster.LoadIdentity(cfg.Cluster.KeysDir, filepath.Join(cfg.StateDir, "cluster"), cfg.Name)
	if errors.Is(err, cluster.ErrNoCA) {
		f.log.Warn("no inter-host API: other hosts' instances are listed, but their logs, exec, delete and label are out of reach from here",
			"reason", err.Error())
		return "", nil
	}
	if err != nil {
		// The instances run on without it: an expired certificate must
		// not take the host's work down with the API.
		f.log.Error("no inter-host API: this host's certificate or the cluster CA is not usable", "keys_dir", cfg.Cluster.KeysDir, "err", err)
		return "", nil
	}
	if left := time.Until(id.NotAfter()); left < 30*24*time.Hour {
		f.log.Warn("this host's certificate ends soon; issue a new one (tend keygen --host) or give the host ca.key",
			"host", cfg.Name, "not_after", id.NotAfter().Format(time.RFC3339))
	}
	addr := cfg.Cluster.API
	if addr == "" {
		host, port, err := net.SplitHostPort(bind)
		if err != nil {
			return "", fmt.Errorf("cluster.bind %q: %w", bind, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return "", fmt.Errorf("cluster.bind %q: bad port", bind)
		}
		if p != 0 {
			p++
		}
		addr = net.JoinHostPort(host, strconv.Itoa(p))
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("cluster.api: %w", err)
	}
	f.id, f.apiLn = id, tls.NewListener(ln, id.ServerTLS())
	return ln.Addr().String(), nil
}

// Forwarder passes requests about other hosts' instances and hosts on
// to their agents.
func (f *fleet) Forwarder() supervisor.Forwarder {
	if f.id == nil {
		return noInterHostAPI{}
	}
	return &supervisor.Proxy{
		Transport: f.id.Transport(f.apiOf),
		URL: func(host string) (*url.URL, error) {
			if _, err := f.apiOf(host); err != nil {
				return nil, err
			}
			return cluster.HostURL(host), nil
		},
		Self: f.node.Self(),
		Log:  f.log,
	}
}

// apiOf is where host's inter-host API is, or why it cannot be asked.
func (f *fleet) apiOf(host string) (string, error) {
	for _, h := range f.node.Hosts() {
		if h.Name != host {
			continue
		}
		switch {
		case h.Status != cluster.Ready:
			return "", fmt.Errorf("the host is %s", h.Status)
		case h.API == "":
			return "", errors.New("the host serves no inter-host API (its keys_dir holds no cluster CA)")
		}
		return h.API, nil
	}
	return "", errors.New("no such host in the cluster")
}

// onlyMembers lets through the inter-host API only calls from a host that
// is a Ready member of the cluster now. A certificate alone is not
// enough: it cannot be revoked, and a host shut out of gossip (its key
// rotated away) must lose the API with it.
func (f *fleet) onlyMembers(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := cluster.PeerHost(r.TLS)
		ready := false
		for _, m := range f.node.Hosts() {
			if m.Name == host && m.Name != f.node.Self() {
				ready = m.Status == cluster.Ready
			}
		}
		if !ready {
			f.log.Warn("inter-host API: a call from a host that is no Ready member refused", "host", host, "method", r.Method, "path", r.URL.Path, "from", r.RemoteAddr)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			json.NewEncoder(w).Encode(supervisor.APIError{Error: fmt.Sprintf("host %q is not a Ready member of this cluster", host)})
			return
		}
		h.ServeHTTP(w, r)
	})
}

// noInterHostAPI is the Forwarder of a host without a cluster CA.
type noInterHostAPI struct{}

func (noInterHostAPI) Forward(string, http.ResponseWriter, *http.Request) error {
	return fmt.Errorf("this host has no inter-host API: its keys_dir holds no cluster CA (%w)", cluster.ErrNoCA)
}

// settle waits, for at most within, until this host has joined a peer and
// has the state the join showed it lacks: the catalog, and every host's
// instances. A host that planned before it knew of the others' instances
// would start every replica itself, then stop the duplicates; one that
// came back after dying with its instances would start them again, and
// the others would stop the replacements they run.
func (f *fleet) settle(within time.Duration) {
	deadline := time.After(within)
	select {
	case <-f.node.Joined():
	case <-deadline:
		f.log.Warn("no peer answered yet; planning without the others' instances")
		return
	}
	for !f.node.CaughtUp() {
		select {
		case <-f.node.ItemsChanged():
		case <-f.node.CatalogChanged():
			f.syncRemote()
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			f.log.Warn("planning before the others' instances all arrived", "within", within)
			return
		}
	}
	f.syncRemote()
}

// Run keeps the unit directory and the fleet's catalog in step until ctx
// ends.
func (f *fleet) Run(ctx context.Context) {
	sub, unsub := f.dir.Subscribe()
	defer unsub()
	f.syncLocal()
	f.syncRemote()
	for {
		select {
		case <-ctx.Done():
			return
		case <-sub:
			f.syncLocal()
		case <-f.node.CatalogChanged():
			f.syncRemote()
		case c := <-f.node.Conflicts():
			f.conflict(c)
		}
	}
}

// conflict tells of two definitions of a unit made at about the same
// time on two hosts: every host keeps the same one, and says which went.
func (f *fleet) conflict(c cluster.Conflict) {
	won := fmt.Sprintf("the one from host %s", c.Winner.Origin)
	if c.Winner.Deleted {
		won = fmt.Sprintf("its deletion on host %s", c.Winner.Origin)
	}
	lost := fmt.Sprintf("the one from host %s", c.Loser.Origin)
	if c.Loser.Deleted {
		lost = fmt.Sprintf("its deletion on host %s", c.Loser.Origin)
	}
	msg := fmt.Sprintf("Two definitions of unit %s were made at about the same time: %s is kept on every host, %s is dropped", c.Name, won, lost)
	if f.event != nil {
		f.event(c.Name, "Warning", "ConflictingDefinitions", msg)
	}
}

// syncLocal takes what changed in the unit directory into the catalog.
func (f *fleet) syncLocal() {
	snap := f.dir.Snapshot()
	cat := f.node.Catalog()
	now := map[string]bool{}
	for name, u := range snap.Units {
		now[name] = true
		if snap.Problems[name] != nil {
			// Its file here is invalid: what runs is the last valid
			// version (this host's, or the fleet's), no change of this
			// host's to tell the fleet. An invalid file stays local;
			// and a host that starts before any peer answers must not
			// offer its older last valid version as a new change.
			continue
		}
		if e, ok := cat.Get(name); !ok || e.Deleted || e.Version != u.Version {
			f.node.SetUnit(name, []byte(u.Source))
		}
	}
	for name := range snap.Problems {
		now[name] = true
	}
	for name := range f.seen {
		if !now[name] {
			f.node.SetUnit(name, nil) // removed here: removed for the fleet
		}
	}
	f.seen = now
}

// syncRemote writes what the catalog learnt from other hosts into the
// unit directory.
func (f *fleet) syncRemote() {
	snap := f.dir.Snapshot()
	for _, e := range f.node.Catalog().Entries() {
		u, bad := snap.Units[e.Name], snap.Problems[e.Name] != nil
		switch {
		case e.Deleted:
			if u != nil || bad {
				if err := f.dir.Remove(e.Name); err != nil && !errors.Is(err, supervisor.ErrNotFound) {
					f.log.Error("unit deleted by another host, not removed here", "unit", e.Name, "err", err)
				}
			}
		case bad:
			// Someone is editing it here: their file stays until it is
			// valid, and then it is a change like any other. Meanwhile
			// this host runs the fleet's version.
			if u == nil || u.Version != e.Version {
				if _, err := f.dir.KeepValid(e.Name, e.Spec); err != nil {
					f.log.Error("a unit from another host does not parse here", "unit", e.Name, "from", e.Origin, "err", err)
				}
			}
		case u == nil || u.Version != e.Version:
			if _, err := f.dir.Put(e.Name+".toml", e.Spec); err != nil {
				f.log.Error("a unit from another host does not parse here", "unit", e.Name, "from", e.Origin, "err", err)
			}
		}
	}
}

// Close says this host is leaving and leaves.
func (f *fleet) Close() error {
	if f.fence != nil {
		f.fence.Close()
	}
	if f.apiLn != nil {
		f.apiLn.Close()
	}
	err := f.node.Leave(2 * time.Second)
	if cerr := f.node.Close(); err == nil {
		err = cerr
	}
	return err
}

// fleetMembers is the fleet as the supervisor's Membership.
type fleetMembers struct{ f *fleet }

var _ supervisor.Membership = fleetMembers{}

func (m fleetMembers) Members() []supervisor.Member {
	hosts := m.f.node.Hosts()
	out := make([]supervisor.Member, 0, len(hosts))
	for _, h := range hosts {
		st := supervisor.HostReady
		switch h.Status {
		case cluster.NotReady:
			st = supervisor.HostNotReady
		case cluster.Left:
			st = supervisor.HostLeft
		}
		out = append(out, supervisor.Member{Name: h.Name, Labels: h.Labels, Status: st, Addr: h.Addr, API: h.API, Version: h.Version, Started: h.Started, Since: h.Since})
	}
	return out
}

func (m fleetMembers) SetLabels(l units.Labels) error { return m.f.node.SetLabels(l) }
func (m fleetMembers) Changed() <-chan struct{}       { return m.f.node.Changed() }

// DeleteHost deletes the host from the fleet, with its instances'
// summaries (its items): the cluster's errors become the supervisor's.
func (m fleetMembers) DeleteHost(name string) error {
	err := m.f.node.DeleteHost(name)
	switch {
	case errors.Is(err, cluster.ErrHostReady):
		return fmt.Errorf("%w: %w", err, supervisor.ErrConflict)
	case errors.Is(err, cluster.ErrNoHost):
		return fmt.Errorf("%w: %w", err, supervisor.ErrNotFound)
	}
	return err
}

// fleetSummaries is the fleet as the supervisor's Summaries: each
// instance's summary is an item of its host's state.
type fleetSummaries struct{ f *fleet }

var _ supervisor.Summaries = fleetSummaries{}

const summaryPrefix = "i/"

func (s fleetSummaries) Publish(changed []supervisor.InstanceSummary, gone []string) {
	for _, in := range changed {
		data, err := json.Marshal(in)
		if err != nil {
			continue
		}
		s.f.node.SetItem(summaryPrefix+in.Name, data)
	}
	for _, name := range gone {
		s.f.node.SetItem(summaryPrefix+name, nil)
	}
}

func (s fleetSummaries) Remote() []supervisor.InstanceSummary {
	var out []supervisor.InstanceSummary
	for _, it := range s.f.node.Items() {
		if !strings.HasPrefix(it.Key, summaryPrefix) {
			continue
		}
		var in supervisor.InstanceSummary
		if json.Unmarshal(it.Data, &in) != nil || in.Host != it.Host {
			continue // a host speaks for its own instances only
		}
		out = append(out, in)
	}
	slices.SortFunc(out, func(a, b supervisor.InstanceSummary) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func (s fleetSummaries) Changed() <-chan struct{} { return s.f.node.ItemsChanged() }

// fleetKeyring is this host's gossip keyring for the API: each change is
// written to keys_dir/gossip.key before memberlist's keyring takes it
// where a crash must not lose a key that is in use (install, use), and
// after it where the file must not hold a key memberlist still needs
// (prune), so a restarted agent always starts with keys the fleet reads.
type fleetKeyring struct {
	f   *fleet
	dir string
	mu  sync.Mutex // one change at a time
}

var _ supervisor.Keyring = (*fleetKeyring)(nil)

func (k *fleetKeyring) Keys() (supervisor.Keys, error) {
	keys, err := k.f.node.GossipKeys()
	if err != nil {
		return supervisor.Keys{}, fmt.Errorf("%w: %w", err, supervisor.ErrInvalid)
	}
	out := supervisor.Keys{Host: k.f.node.Self(), Primary: cluster.KeyID(keys[0])}
	for _, key := range keys[1:] {
		out.Others = append(out.Others, cluster.KeyID(key))
	}
	return out, nil
}

func (k *fleetKeyring) ChangeKeys(c supervisor.KeyChange) (supervisor.Keys, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	keys, err := k.f.node.GossipKeys()
	if err != nil {
		return supervisor.Keys{}, fmt.Errorf("%w: %w", err, supervisor.ErrInvalid)
	}
	has := slices.ContainsFunc(keys, func(x []byte) bool { return slices.Equal(x, c.Key) })
	invalid := func(format string, args ...any) (supervisor.Keys, error) {
		return supervisor.Keys{}, fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), supervisor.ErrInvalid)
	}
	switch c.Op {
	case "install":
		if err := cluster.CheckKey(c.Key); err != nil {
			return invalid("gossip key: %v", err)
		}
		if !has {
			if err := cluster.SaveGossipKeys(k.dir, append(slices.Clone(keys), c.Key)); err != nil {
				return supervisor.Keys{}, err
			}
			if err := k.f.node.InstallKey(c.Key); err != nil {
				return supervisor.Keys{}, err
			}
		}
	case "use":
		if !has {
			return invalid("key %s is not installed on %s", cluster.KeyID(c.Key), k.f.node.Self())
		}
		rest := slices.DeleteFunc(slices.Clone(keys), func(x []byte) bool { return slices.Equal(x, c.Key) })
		if err := cluster.SaveGossipKeys(k.dir, append([][]byte{c.Key}, rest...)); err != nil {
			return supervisor.Keys{}, err
		}
		if err := k.f.node.UseKey(c.Key); err != nil {
			return supervisor.Keys{}, err
		}
	case "prune":
		// Only the rotation that put its key to use may drop the others:
		// two rotations at once would leave hosts with different keys.
		if !slices.Equal(keys[0], c.Key) {
			return invalid("%s uses key %s, not %s: another rotation is under way, or this one did not reach it", k.f.node.Self(), cluster.KeyID(keys[0]), cluster.KeyID(c.Key))
		}
		for _, key := range keys[1:] {
			if err := k.f.node.RemoveKey(key); err != nil {
				return supervisor.Keys{}, err
			}
		}
		if err := cluster.SaveGossipKeys(k.dir, keys[:1]); err != nil {
			return supervisor.Keys{}, err
		}
	default:
		return invalid("op %q: want install, use or prune", c.Op)
	}
	if c.Key != nil {
		k.f.log.Info("gossip keys changed", "op", c.Op, "key", cluster.KeyID(c.Key))
	} else {
		k.f.log.Info("gossip keys changed", "op", c.Op)
	}
	return k.Keys()
}
