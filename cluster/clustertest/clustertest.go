// Package clustertest makes hosts for tests and benchmarks of a fleet on
// one machine: each host is a network namespace with its own address and
// link, and what it runs is PID 1 of its own PID namespace, so that
// killing a host kills everything on it, and taking its link down is the
// experiment of Kubernetes in Action's section 4.2.3 (`ifconfig eth0
// down` on a node).
//
// The hosts hang off a bridge in a namespace of its own (the switch), so
// nothing is added to the machine's own network: no interface, address or
// route appears outside the namespaces a Net made, and a host has no
// route anywhere but its own subnet. Addresses come from 192.0.2.0/24
// (TEST-NET-1, RFC 5737), which no real network uses.
//
// It needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN) and iproute2's ip;
// Available says whether this machine can. The package is not a test
// file so that cmd/tend-bench can use it too.
package clustertest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// MaxHosts is the most hosts a Net has: the addresses of one /24 after
// the network and before the broadcast address.
const MaxHosts = 253

// prefix starts the name of every namespace a Net makes, followed by the
// making process's pid, so that namespaces left by a process that died
// can be told from those of one that runs.
const prefix = "tendtest"

var seq atomic.Uint64

// Available reports why this machine cannot make hosts, or nil when it
// can.
func Available() error {
	if os.Geteuid() != 0 {
		return errors.New("network and PID namespaces need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return errors.New("iproute2's ip is not installed")
	}
	return nil
}

// Net is a switch and the hosts on it.
type Net struct {
	name   string // this Net's prefix, for its namespaces
	sw     string // the switch's namespace
	Hosts  []*Host
	mu     sync.Mutex
	closed bool
}

// Host is one host of a Net.
type Host struct {
	Name string // h0, h1, ...
	NS   string // its network namespace, as `ip netns` names it
	Addr string // its address on the Net, 192.0.2.k
	Link string // its interface, eth0
}

// New makes a Net of n hosts named h0 … h(n−1), with the addresses
// 192.0.2.1 … 192.0.2.n, every link up. Close removes it.
func New(n int) (*Net, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	if n < 1 || n > MaxHosts {
		return nil, fmt.Errorf("clustertest: %d hosts: want 1 to %d", n, MaxHosts)
	}
	removeStale()
	name := fmt.Sprintf("%s%d-%d", prefix, os.Getpid(), seq.Add(1))
	net := &Net{name: name, sw: name + "-sw"}
	fail := func(err error) (*Net, error) {
		net.Close()
		return nil, err
	}
	if err := ip("netns", "add", net.sw); err != nil {
		return fail(err)
	}
	if err := ipIn(net.sw, "link", "add", "br0", "type", "bridge"); err != nil {
		return fail(err)
	}
	if err := ipIn(net.sw, "link", "set", "br0", "up"); err != nil {
		return fail(err)
	}
	for k := range n {
		h := &Host{
			Name: fmt.Sprintf("h%d", k),
			NS:   fmt.Sprintf("%s-h%d", name, k),
			Addr: fmt.Sprintf("192.0.2.%d", k+1),
			Link: "eth0",
		}
		net.Hosts = append(net.Hosts, h)
		port := h.Name // the host's end on the switch
		steps := [][]string{
			{"netns", "add", h.NS},
			{"-n", net.sw, "link", "add", port, "type", "veth", "peer", "name", h.Link, "netns", h.NS},
			{"-n", net.sw, "link", "set", port, "master", "br0", "up"},
			{"-n", h.NS, "link", "set", "lo", "up"},
			{"-n", h.NS, "addr", "add", h.Addr + "/24", "dev", h.Link},
			{"-n", h.NS, "link", "set", h.Link, "up"},
		}
		for _, s := range steps {
			if err := ip(s...); err != nil {
				return fail(err)
			}
		}
	}
	return net, nil
}

// Command is the command name with args as it runs on h: in h's network
// namespace, as PID 1 of a new PID namespace with its own /proc, in a
// mount namespace of its own so that nothing it mounts is seen outside.
// The returned Cmd's Process is that PID 1 (its pid as this machine sees
// it): SIGKILL to it ends every process of the host at once, as a host
// that loses power. Set Dir, Env, Stdout and the rest before Start; keep
// SysProcAttr's Cloneflags.
func (h *Host) Command(name string, args ...string) *exec.Cmd {
	// ip netns exec enters the network namespace, makes the mounts its
	// own (rslave) and execs sh, which mounts a /proc for the new PID
	// namespace and execs the command: one pid all the way.
	script := `mount -t proc proc /proc && exec "$0" "$@"`
	cmd := exec.Command("ip", append([]string{"netns", "exec", h.NS, "sh", "-c", script, name}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNS}
	return cmd
}

// Run runs name with args in h's network namespace (not a PID namespace
// of its own) and returns its combined output.
func (h *Host) Run(name string, args ...string) (string, error) {
	out, err := exec.Command("ip", append([]string{"netns", "exec", h.NS, name}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s on %s: %v: %s", name, h.Name, err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// LinkDown takes h's link down, as `ip link set dev eth0 down` on the
// host does: it neither sends nor receives until LinkUp.
func (h *Host) LinkDown() error { return ipIn(h.NS, "link", "set", "dev", h.Link, "down") }

// LinkUp brings h's link back.
func (h *Host) LinkUp() error { return ipIn(h.NS, "link", "set", "dev", h.Link, "up") }

// Cut drops everything between h and other, both ways, while both keep
// their links to every other host: the asymmetric partition, in which a
// third host still hears both. Mend undoes it.
func (h *Host) Cut(other *Host) error {
	if err := ipIn(h.NS, "route", "add", "blackhole", other.Addr+"/32"); err != nil {
		return err
	}
	return ipIn(other.NS, "route", "add", "blackhole", h.Addr+"/32")
}

// Mend joins h and other again after Cut.
func (h *Host) Mend(other *Host) error {
	err := ipIn(h.NS, "route", "del", "blackhole", other.Addr+"/32")
	if err2 := ipIn(other.NS, "route", "del", "blackhole", h.Addr+"/32"); err == nil {
		err = err2
	}
	return err
}

// Close kills whatever still runs in the Net's namespaces and removes
// them. It is safe to call more than once.
func (n *Net) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil
	}
	n.closed = true
	var errs []error
	for _, h := range n.Hosts {
		errs = append(errs, removeNS(h.NS))
	}
	errs = append(errs, removeNS(n.sw))
	return errors.Join(errs...)
}

// removeNS kills the processes in the network namespace ns and removes
// it. A namespace that is not there is no error.
func removeNS(ns string) error {
	if _, err := os.Stat(filepath.Join("/run/netns", ns)); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if out, err := exec.Command("ip", "netns", "pids", ns).Output(); err == nil {
		for _, f := range strings.Fields(string(out)) {
			if pid, err := strconv.Atoi(f); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	return ip("netns", "del", ns)
}

// removeStale removes the namespaces that a process that no longer runs
// made (a test binary killed before its cleanup).
func removeStale() {
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok {
			continue
		}
		pidText, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			removeNS(e.Name())
		}
	}
}

func ipIn(ns string, args ...string) error { return ip(append([]string{"-n", ns}, args...)...) }

func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}
