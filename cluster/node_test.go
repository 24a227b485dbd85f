package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"go.uber.org/goleak"

	"github.com/tendhq/tend/units"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testDeadline bounds every wait for the cluster to converge.
const testDeadline = 20 * time.Second

// start starts a node named name on a free loopback port.
func start(t *testing.T, name string, mod func(*Config)) *Node {
	t.Helper()
	cfg := Config{
		Name:     name,
		Bind:     "127.0.0.1:" + fmt.Sprint(freePort(t)),
		Profile:  ProfileLocal,
		StateDir: t.TempDir(),
		Version:  "test",
		Labels:   units.Labels{"name": name},
		Log:      slog.New(slog.DiscardHandler),
	}
	if os.Getenv("CLUSTER_LOG") != "" {
		cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", name)
	}
	if mod != nil {
		mod(&cfg)
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatalf("node %s: %v", name, err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// freePort is a port free for both TCP and UDP on 127.0.0.1 just now.
func freePort(t testing.TB) int {
	t.Helper()
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err == nil {
			u.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// waitHosts waits until cond holds for what n knows, or fails with what
// it knows.
func waitHosts(t *testing.T, n *Node, what string, cond func(map[string]Host) bool) {
	t.Helper()
	deadline := time.After(testDeadline)
	for {
		hs := map[string]Host{}
		for _, h := range n.Hosts() {
			hs[h.Name] = h
		}
		if cond(hs) {
			return
		}
		select {
		case <-n.Changed():
		case <-time.After(50 * time.Millisecond): // memberlist's own timers move too
		case <-deadline:
			t.Fatalf("%s: timed out waiting until %s; it knows %v", n.Self(), what, hs)
		}
	}
}

func status(hs map[string]Host, name string) Status { return hs[name].Status }

func TestHostsJoinAndShareLabels(t *testing.T) {
	a := start(t, "a", nil)
	b := start(t, "b", func(c *Config) { c.Join = []string{a.Addr()} })
	c := start(t, "c", func(c *Config) { c.Join = []string{b.Addr()} })
	for _, n := range []*Node{a, b, c} {
		waitHosts(t, n, "three Ready hosts with their labels", func(hs map[string]Host) bool {
			for _, name := range []string{"a", "b", "c"} {
				if h := hs[name]; h.Status != Ready || h.Labels["name"] != name || h.Version != "test" {
					return false
				}
			}
			return len(hs) == 3
		})
	}
	if err := b.SetLabels(units.Labels{"name": "b", "disk": "ssd"}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*Node{a, c} {
		waitHosts(t, n, "b's new label", func(hs map[string]Host) bool { return hs["b"].Labels["disk"] == "ssd" })
	}
}

func TestLeftAndDeadAreToldApart(t *testing.T) {
	a := start(t, "a", nil)
	b := start(t, "b", func(c *Config) { c.Join = []string{a.Addr()} })
	c := start(t, "c", func(c *Config) { c.Join = []string{a.Addr()} })
	for _, n := range []*Node{a, b, c} {
		waitHosts(t, n, "three Ready", func(hs map[string]Host) bool {
			return status(hs, "a") == Ready && status(hs, "b") == Ready && status(hs, "c") == Ready
		})
	}
	if err := b.Leave(time.Second); err != nil {
		t.Fatal(err)
	}
	b.Close()
	c.Close() // dies: no word
	waitHosts(t, a, "b Left and c NotReady", func(hs map[string]Host) bool {
		return status(hs, "b") == Left && status(hs, "c") == NotReady
	})
}

// Labels that do not fit in memberlist's 512 bytes of metadata travel as
// host state: every host sees them whole, none cut short.
func TestLabelsThatDoNotFitTravelAsState(t *testing.T) {
	a := start(t, "a", nil)
	b := start(t, "b", func(c *Config) { c.Join = []string{a.Addr()} })
	big := units.Labels{}
	for k := range 40 {
		big[fmt.Sprintf("label-%02d", k)] = strings.Repeat("v", 10)
	}
	if err := a.SetLabels(big); err != nil {
		t.Fatal(err)
	}
	waitHosts(t, b, "a's 40 labels", func(hs map[string]Host) bool { return hs["a"].Labels.Equal(big) })
	// Back to a few: they are in the metadata again.
	if err := a.SetLabels(units.Labels{"zone": "a"}); err != nil {
		t.Fatal(err)
	}
	waitHosts(t, b, "a's one label", func(hs map[string]Host) bool { return hs["a"].Labels.Equal(units.Labels{"zone": "a"}) })
	// A host that starts with too many labels, too.
	c := start(t, "c", func(c *Config) { c.Labels = big; c.Join = []string{a.Addr()} })
	waitHosts(t, a, "c's 40 labels", func(hs map[string]Host) bool { return hs["c"].Labels.Equal(big) })
	_ = c
}

func TestStrangersCannotJoin(t *testing.T) {
	key := []byte("0123456789abcdef")
	other := []byte("fedcba9876543210")
	a := start(t, "a", func(c *Config) { c.Keys = [][]byte{key}; c.ClusterName = "fleet" })
	cases := []struct {
		name string
		mod  func(*Config)
	}{
		{"no key", func(c *Config) { c.ClusterName = "fleet" }},
		{"another key", func(c *Config) { c.Keys = [][]byte{other}; c.ClusterName = "fleet" }},
		{"another cluster", func(c *Config) { c.Keys = [][]byte{key}; c.ClusterName = "other" }},
	}
	for _, tc := range cases {
		s := start(t, "stranger", tc.mod)
		if got, err := s.Join(a.Addr()); got != 0 || err == nil {
			t.Errorf("%s: joined %d hosts, err %v", tc.name, got, err)
		}
		s.Close()
	}
	// The right key and name: in.
	friend := start(t, "friend", func(c *Config) { c.Keys = [][]byte{other, key}; c.ClusterName = "fleet" })
	_ = friend
	f2 := start(t, "friend2", func(c *Config) { c.Keys = [][]byte{key}; c.ClusterName = "fleet"; c.Join = []string{a.Addr()} })
	waitHosts(t, a, "the friend in", func(hs map[string]Host) bool { return status(hs, "friend2") == Ready })
	if status(hostMap(a.Hosts()), "stranger") != 0 {
		t.Fatal("a stranger is known")
	}
	_ = f2
}

func hostMap(list []Host) map[string]Host {
	m := map[string]Host{}
	for _, h := range list {
		m[h.Name] = h
	}
	return m
}

func TestPlaintextBeyondLoopbackIsRefused(t *testing.T) {
	_, err := New(Config{Name: "x", Bind: "0.0.0.0:0", StateDir: t.TempDir()})
	if !errors.Is(err, errPlaintext) {
		t.Fatalf("plaintext on 0.0.0.0: %v", err)
	}
	n, err := New(Config{Name: "x", Bind: "0.0.0.0:0", StateDir: t.TempDir(), AllowPlaintext: true})
	if err != nil {
		t.Fatalf("allowed plaintext: %v", err)
	}
	n.Close()
}

// After memberlist has forgotten a dead peer (GossipToTheDeadTime), the
// two sides never merge again on their own (memberlist#222): the peer book
// joins them again, from either side.
func TestAForgottenPeerIsJoinedAgain(t *testing.T) {
	// Forget the dead at once, and never gossip to them: only the peer
	// book can bring the two together again.
	forget := func(c *Config) { c.tune = func(m *memberlist.Config) { m.GossipToTheDeadTime = 0 } }
	a := start(t, "a", forget)
	port := freePort(t)
	bAddr := fmt.Sprintf("127.0.0.1:%d", port)
	b := start(t, "b", func(c *Config) { forget(c); c.Bind = bAddr; c.Join = []string{a.Addr()} })
	waitHosts(t, a, "b Ready", func(hs map[string]Host) bool { return status(hs, "b") == Ready })
	b.Close()
	waitHosts(t, a, "b NotReady", func(hs map[string]Host) bool { return status(hs, "b") == NotReady })
	// b comes back on its address knowing nobody.
	b2 := start(t, "b", func(c *Config) { forget(c); c.Bind = bAddr })
	waitHosts(t, a, "b Ready again", func(hs map[string]Host) bool { return status(hs, "b") == Ready })
	waitHosts(t, b2, "a known to b again", func(hs map[string]Host) bool { return status(hs, "a") == Ready })
}

func TestEveryHostKnowsTheOthersAPIAddress(t *testing.T) {
	a := start(t, "a", func(c *Config) { c.API = "0.0.0.0:7947" })
	// b names an address elsewhere: the others call its gossip IP.
	b := start(t, "b", func(c *Config) { c.API = "10.9.9.9:9000"; c.Join = []string{a.Addr()} })
	waitHosts(t, b, "a's API at its gossip IP", func(hs map[string]Host) bool {
		return hs["a"].API == "127.0.0.1:7947"
	})
	waitHosts(t, a, "b's API port at its gossip IP", func(hs map[string]Host) bool {
		return hs["b"].API == "127.0.0.1:9000"
	})
	if _, err := New(Config{Name: "c", Bind: "127.0.0.1:0", API: "no port"}); err == nil || !strings.Contains(err.Error(), "cluster.api") {
		t.Errorf("a bad API address: %v, want an error naming cluster.api", err)
	}
}
