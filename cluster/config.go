package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/tendhq/tend/units"
)

// Profile is a set of gossip timings: how soon a host that stopped
// answering is declared dead, against how much a slow or lossy link is
// forgiven. Each names memberlist's own starting point (DefaultLANConfig,
// DefaultWANConfig, DefaultLocalConfig) with tend's changes.
type Profile string

// The profiles.
const (
	// ProfileLAN is tuned for fast failure detection on a local network:
	// a host that stops answering is declared dead in about a second
	// (memberlist's LAN defaults take 5.7 s p50 and 8 s at most on three
	// hosts, too slow to fail work over within seconds). The price: a host
	// unreachable for ~0.8 s (a stall, a NIC failover) is declared dead
	// too; it refutes as soon as it is heard again and returns, and
	// placement then stops the duplicates its absence caused.
	ProfileLAN Profile = "lan"
	// ProfileWAN is memberlist's WAN timing, for edge devices on slow or
	// lossy links: death is declared after tens of seconds.
	ProfileWAN Profile = "wan"
	// ProfileLocal is for tests on one machine: faster still.
	ProfileLocal Profile = "local"
)

// ParseProfile reads a profile's name; "" is ProfileLAN.
func ParseProfile(s string) (Profile, error) {
	switch Profile(s) {
	case "", ProfileLAN:
		return ProfileLAN, nil
	case ProfileWAN, ProfileLocal:
		return Profile(s), nil
	}
	return "", fmt.Errorf("%q is not a profile (want lan, wan or local)", s)
}

// memberlistConfig is the profile's memberlist configuration.
func (p Profile) memberlistConfig() *memberlist.Config {
	switch p {
	case ProfileWAN:
		return memberlist.DefaultWANConfig()
	case ProfileLocal:
		c := memberlist.DefaultLocalConfig()
		c.ProbeInterval = 100 * time.Millisecond
		c.ProbeTimeout = 50 * time.Millisecond
		c.SuspicionMult = 2
		c.SuspicionMaxTimeoutMult = 2
		c.GossipInterval = 20 * time.Millisecond
		c.PushPullInterval = 2 * time.Second
		c.GossipToTheDeadTime = 2 * time.Second
		c.TCPTimeout = time.Second
		return c
	}
	// research/cluster.md measured these on the project's machines: death
	// declared in 0.94 s p50, 1.2 s at most, on three hosts; 1.2 s p50 on
	// twenty.
	c := memberlist.DefaultLANConfig()
	c.ProbeInterval = 200 * time.Millisecond
	c.ProbeTimeout = 100 * time.Millisecond
	c.SuspicionMult = 3
	c.SuspicionMaxTimeoutMult = 3
	c.GossipInterval = 50 * time.Millisecond
	c.TCPTimeout = 2 * time.Second
	c.PushPullInterval = 10 * time.Second
	return c
}

// Config configures a Node. Name, Bind and StateDir are required.
type Config struct {
	// Name is the host's name: unique in the cluster.
	Name string
	// Bind is the address gossip listens on, UDP and TCP: "0.0.0.0:7946",
	// "127.0.0.2:7946". Port 0 picks a free one (tests).
	Bind string
	// Advertise is the address the other hosts reach this one at, when
	// Bind's is a wildcard or translated; "" is Bind's.
	Advertise string
	// Join lists peers to join ("10.0.0.1:7946"); any one that answers is
	// enough. Joining goes on in the background until one does.
	Join []string
	// API is the address of this host's inter-host API; its port is told
	// to the others, who call it at this host's gossip IP. "" when it
	// serves none.
	API string
	// ClusterName keeps fleets apart: hosts with another name, or none,
	// are not heard (memberlist's Label, at most 255 bytes).
	ClusterName string
	Profile     Profile
	// Keys are the gossip keys (16, 24 or 32 bytes, AES-GCM), the first
	// the one that encrypts; the others are also accepted, for rotation.
	// No keys: gossip is neither encrypted nor authenticated, which New
	// refuses unless the bind address is loopback or AllowPlaintext is
	// set.
	Keys           [][]byte
	AllowPlaintext bool
	// StateDir keeps the peers this host has seen, to join them again
	// after a restart and after a partition outlived memberlist's memory
	// of them.
	StateDir string
	Labels   units.Labels
	Version  string
	// Started is when this host's agent started; shown on every host.
	Started time.Time
	Log     *slog.Logger

	// tune, when set, changes memberlist's configuration last (tests).
	tune func(*memberlist.Config)
}

// errPlaintext: gossip beyond loopback without keys.
var errPlaintext = errors.New("gossip on a non-loopback address must be encrypted: " +
	"make keys with `tend keygen DIR` and set cluster.keys_dir, " +
	"or set cluster.allow_plaintext = true to accept that anyone on the network can read and join the cluster")

// splitHostPort parses "host:port" into an IP and a port.
func splitHostPort(what, addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("%s %q: %w", what, addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("%s %q: bad port", what, addr)
	}
	if host == "" {
		host = "0.0.0.0"
	}
	return host, port, nil
}

// loopback reports whether host is a loopback IP address.
func loopback(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
