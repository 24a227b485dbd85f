package supervisor

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/tendhq/tend/units"
)

// DefaultConfigPath is where the agent looks for its configuration when
// --config is not given. The file is optional: a host needs none.
const DefaultConfigPath = "/etc/tend/tend.toml"

// Config is the agent's configuration (DESIGN §5). Every field has a
// default; see DefaultConfig and DevConfig.
type Config struct {
	Name     string       `toml:"name"`      // host name; default: the hostname
	UnitsDir string       `toml:"units_dir"` // watched for *.toml unit files
	StateDir string       `toml:"state_dir"` // the store and instance logs
	Socket   string       `toml:"socket"`    // local API, mode 0660
	Labels   units.Labels `toml:"labels"`    // this host's labels
	// MetricsAddr, when set, is a TCP address ("127.0.0.1:9847",
	// ":9847") where the agent serves /metrics and /healthz, and nothing
	// else, for Prometheus; the socket serves them always.
	MetricsAddr string `toml:"metrics_addr"`
	// SocketGroup is the group the local API's socket (mode 0660)
	// belongs to, whose members may use tend without root: "" means
	// "tend" when this host has such a group (the package makes it), else
	// the agent's own group. A group named here must exist.
	SocketGroup string `toml:"socket_group"`
	// LogTarget is where the agent's own log goes: "auto" (the default:
	// the journal when the agent's stderr is the journal's stream, as
	// under systemd), "journal" or "stderr".
	LogTarget string `toml:"log_target"`

	// LogMaxBytes bounds one run's stored output; the run keeps about
	// twice this much on disk (the current file and one rotated part).
	LogMaxBytes int64 `toml:"log_max_bytes"`

	Cluster ClusterConfig `toml:"cluster"`
	Limits  LimitsConfig  `toml:"limits"`
}

// LimitsConfig is the [limits] table: how much the agent takes on, so
// that a unit of replicas = 100000, or a scale to 2^63, is refused with
// an error rather than exhausting the host's processes, memory and disk.
type LimitsConfig struct {
	// InstancesPerUnit bounds a replicated unit's replicas (in a fleet,
	// on all hosts together) and a job's or cron unit's completions and
	// parallelism. A unit file over it is invalid, as any unit file with
	// an error is: apply and scale are refused, and a file in the unit
	// directory leaves the last valid version of the unit running.
	InstancesPerUnit int `toml:"instances_per_unit"`
	// InstancesPerHost bounds the instances this host keeps, of all
	// units, the finished attempts of jobs and the orphans too: beyond
	// it the controllers create none, and say so in a Warning event on
	// the unit (FailedCreate).
	InstancesPerHost int `toml:"instances_per_host"`
}

// The default limits: a unit of 1000 replicas and 5000 units of one
// replica each (the largest figures tend-bench takes) fit with room.
const (
	DefaultInstancesPerUnit = 1000
	DefaultInstancesPerHost = 10000
)

// DefaultLimits are the limits of an agent whose configuration sets none.
func DefaultLimits() LimitsConfig {
	return LimitsConfig{InstancesPerUnit: DefaultInstancesPerUnit, InstancesPerHost: DefaultInstancesPerHost}
}

// Unit is the part of the limits the unit parser checks.
func (l LimitsConfig) Unit() units.Limits {
	return units.Limits{InstancesPerUnit: l.InstancesPerUnit}
}

// ClusterConfig is the [cluster] table. With neither bind nor join set the
// host is a cluster of one and gossips with nobody.
type ClusterConfig struct {
	Bind      string   `toml:"bind"`      // gossip address, "0.0.0.0:7946"
	Advertise string   `toml:"advertise"` // the address peers use, when bind is a wildcard
	Join      []string `toml:"join"`      // peers to join, any of them
	Profile   string   `toml:"profile"`   // lan, wan or local
	// Name keeps fleets on one network apart: hosts of another name are
	// not heard.
	Name    string `toml:"name"`
	API     string `toml:"api"`
	KeysDir string `toml:"keys_dir"` // gossip.key: the gossip keys, one a line, base64
	// AllowPlaintext lets gossip beyond loopback go unencrypted: anyone on
	// the network can then read it and join.
	AllowPlaintext bool `toml:"allow_plaintext"`
	// Voters are the hosts whose majority decides which host may run
	// each exclusive unit (the fence): every host of the fleet must list
	// the same names. Empty: exclusive units are not enforced.
	Voters []string `toml:"voters"`
}

// Enabled reports whether the host gossips with others at all.
func (c ClusterConfig) Enabled() bool { return c.Bind != "" || len(c.Join) > 0 }

// DefaultBind is the gossip address when join is set without bind.
const DefaultBind = "0.0.0.0:7946"

// DefaultConfig is the configuration of a system-wide agent.
func DefaultConfig() Config {
	host, _ := os.Hostname()
	return Config{
		Name:        host,
		UnitsDir:    "/etc/tend/units.d",
		StateDir:    "/var/lib/tend",
		Socket:      DefaultSocket,
		LogMaxBytes: 8 << 20,
		Limits:      DefaultLimits(),
		Cluster: ClusterConfig{
			Profile: "lan",
			KeysDir: "/etc/tend/keys",
		},
	}
}

// DevConfig is DefaultConfig moved under dir: units from dir/units, state,
// socket and logs under dir/.tend. It is what `tend agent --dev` runs.
func DevConfig(dir string) Config {
	c := DefaultConfig()
	c.UnitsDir = filepath.Join(dir, "units")
	c.StateDir = filepath.Join(dir, ".tend", "state")
	c.Socket = filepath.Join(dir, ".tend", "tend.sock")
	c.Cluster.KeysDir = filepath.Join(dir, ".tend", "keys")
	return c
}

// LoadConfig reads path over base. A missing file is an error only when
// required is set (the user named it with --config). Unknown keys are
// errors naming the file, line and key.
func LoadConfig(path string, base Config, required bool) (Config, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && !required {
		return base, nil
	}
	if err != nil {
		return base, fmt.Errorf("read config: %w", err)
	}
	c := base
	md, err := toml.Decode(string(data), &c)
	if err != nil {
		var perr toml.ParseError
		if errors.As(err, &perr) {
			return base, fmt.Errorf("%s:%d: %s", path, perr.Position.Line, perr.Message)
		}
		return base, fmt.Errorf("%s: %w", path, err)
	}
	var problems []string
	for _, k := range md.Undecoded() {
		problems = append(problems, fmt.Sprintf("%s:%d: %s: unknown key", path, keyLine(data, k), k.String()))
	}
	problems = append(problems, c.validate(path)...)
	if len(problems) > 0 {
		return base, errors.New(strings.Join(problems, "\n"))
	}
	return c, nil
}

func (c *Config) validate(path string) []string {
	var p []string
	need := func(key, v string) {
		if strings.TrimSpace(v) == "" {
			p = append(p, fmt.Sprintf("%s: %s: must not be empty", path, key))
		}
	}
	need("name", c.Name)
	need("units_dir", c.UnitsDir)
	need("state_dir", c.StateDir)
	need("socket", c.Socket)
	if c.SocketGroup != "" {
		if _, err := user.LookupGroup(c.SocketGroup); err != nil {
			p = append(p, fmt.Sprintf("%s: socket_group: no group %q on this host (create it, or leave socket_group out)", path, c.SocketGroup))
		}
	}
	switch c.LogTarget {
	case "", "auto", "journal", "stderr":
	default:
		p = append(p, fmt.Sprintf("%s: log_target: %q is not a log target (want \"auto\", \"journal\" or \"stderr\")", path, c.LogTarget))
	}
	if c.MetricsAddr != "" {
		if _, port, err := net.SplitHostPort(c.MetricsAddr); err != nil || port == "" {
			p = append(p, fmt.Sprintf("%s: metrics_addr: %q is not a host:port (want e.g. \"127.0.0.1:9847\" or \":9847\")", path, c.MetricsAddr))
		}
	}
	if c.LogMaxBytes < 4096 {
		p = append(p, fmt.Sprintf("%s: log_max_bytes: %d is too small (want at least 4096)", path, c.LogMaxBytes))
	}
	if c.Limits.InstancesPerUnit < 1 {
		p = append(p, fmt.Sprintf("%s: %s: %d is too small (want at least 1; default %d)", path, units.InstancesPerUnitKey, c.Limits.InstancesPerUnit, DefaultInstancesPerUnit))
	}
	if c.Limits.InstancesPerHost < 1 {
		p = append(p, fmt.Sprintf("%s: %s: %d is too small (want at least 1; default %d)", path, units.InstancesPerHostKey, c.Limits.InstancesPerHost, DefaultInstancesPerHost))
	}
	keys := make([]string, 0, len(c.Labels))
	for k := range c.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := validateLabel(k, c.Labels[k]); err != nil {
			p = append(p, fmt.Sprintf("%s: labels.%s: %v", path, k, err))
		}
	}
	seen := map[string]bool{}
	for _, v := range c.Cluster.Voters {
		switch {
		case strings.TrimSpace(v) == "":
			p = append(p, fmt.Sprintf("%s: cluster.voters: a voter with no name", path))
		case seen[v]:
			p = append(p, fmt.Sprintf("%s: cluster.voters: %q is listed twice", path, v))
		}
		seen[v] = true
	}
	if len(c.Cluster.Voters) > 0 && !c.Cluster.Enabled() {
		p = append(p, fmt.Sprintf("%s: cluster.voters: set, but this host is in no cluster (no cluster.bind or cluster.join)", path))
	}
	switch c.Cluster.Profile {
	case "", "lan", "wan", "local":
	default:
		p = append(p, fmt.Sprintf("%s: cluster.profile: %q is not a profile (want lan, wan or local)", path, c.Cluster.Profile))
	}
	return p
}

// keyLine finds the line of a dotted key in a TOML document, for error
// messages; 0 when it cannot tell.
func keyLine(data []byte, k toml.Key) int {
	if len(k) == 0 {
		return 0
	}
	last := k[len(k)-1]
	table := strings.Join(k[:len(k)-1], ".")
	cur := ""
	for i, line := range strings.Split(string(data), "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "[") {
			cur = strings.Trim(t, "[] ")
			if j := strings.IndexByte(cur, '#'); j >= 0 {
				cur = strings.TrimSpace(cur[:j])
			}
			continue
		}
		if cur != table {
			continue
		}
		if name, _, ok := strings.Cut(t, "="); ok && strings.Trim(strings.TrimSpace(name), `"'`) == last {
			return i + 1
		}
	}
	return 0
}

// validateLabel checks one label as Kubernetes does.
func validateLabel(k, v string) error {
	if err := units.ValidateLabelKey(k); err != nil {
		return err
	}
	return units.ValidateLabelValue(v)
}
