package supervisor

import (
	"errors"
	"fmt"
	"os"
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

	// LogMaxBytes bounds one run's stored output; the run keeps about
	// twice this much on disk (the current file and one rotated part).
	LogMaxBytes int64 `toml:"log_max_bytes"`

	Cluster ClusterConfig `toml:"cluster"`
}

// ClusterConfig is the [cluster] table. The fleet is a later addition; a
// configuration that names peers is accepted so one file serves both, and
// the agent says at start that it runs as a cluster of one.
type ClusterConfig struct {
	Bind      string   `toml:"bind"`
	Advertise string   `toml:"advertise"`
	Join      []string `toml:"join"`
	Profile   string   `toml:"profile"`
	API       string   `toml:"api"`
	KeysDir   string   `toml:"keys_dir"`
}

// DefaultConfig is the configuration of a system-wide agent.
func DefaultConfig() Config {
	host, _ := os.Hostname()
	return Config{
		Name:        host,
		UnitsDir:    "/etc/tend/units.d",
		StateDir:    "/var/lib/tend",
		Socket:      DefaultSocket,
		LogMaxBytes: 8 << 20,
		Cluster: ClusterConfig{
			Bind:    "127.0.0.1:7946",
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
	if c.LogMaxBytes < 4096 {
		p = append(p, fmt.Sprintf("%s: log_max_bytes: %d is too small (want at least 4096)", path, c.LogMaxBytes))
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
