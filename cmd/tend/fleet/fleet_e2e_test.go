package fleet

// Three agent processes on loopback, driven only through the CLI: they
// find each other, share the catalog and their instances, and every one
// answers for the whole fleet.

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tendhq/tend/cluster"
	"github.com/tendhq/tend/internal/e2e"
	"github.com/tendhq/tend/supervisor"
)

func TestFleetSharesUnitsAndInstances(t *testing.T) {
	fleet := e2e.StartFleet(t, 3)
	a, b, c := fleet[0], fleet[1], fleet[2]
	text := a.HelperUnit("replicated", "replicas = 3", "app = \"web\"", "sleep")
	path := filepath.Join(a.Dir, "web.toml")
	e2e.WriteFile(t, path, text)
	a.Tend("apply", "-f", path)

	// b and c have the unit in their unit directories, and the three
	// slots run one on each host.
	for _, x := range []*e2e.Agent{b, c} {
		x.Eventually("the unit file replicated", func() (bool, string) {
			data, err := os.ReadFile(filepath.Join(x.Dir, "units", "web.toml"))
			return err == nil && string(data) == text, string(data)
		})
	}
	perHost := func(x *e2e.Agent) map[string]int {
		m := map[string]int{}
		for _, in := range x.Instances("-l", "app=web") {
			if in.Status == "Running" {
				m[in.Host]++
			}
		}
		return m
	}
	for _, x := range fleet {
		x.Eventually("three running, one a host, seen from "+x.Dir, func() (bool, string) {
			m := perHost(x)
			return m["h0"] == 1 && m["h1"] == 1 && m["h2"] == 1, fmt.Sprint(m)
		})
	}
	// Every host has its built-in labels.
	if hosts := b.Tend("get", "hosts"); !strings.Contains(hosts, "tend.io/hostname=h2") || !strings.Contains(hosts, "tend.io/os=linux") {
		t.Fatalf("built-in labels:\n%s", hosts)
	}
	wide := b.Tend("get", "po", "-l", "app=web", "-o", "wide")
	for _, h := range []string{"h0", "h1", "h2"} {
		if !strings.Contains(wide, " "+h) {
			t.Fatalf("get po -o wide on h1 does not show host %s:\n%s", h, wide)
		}
	}

	// h2 dies outright: the others show it NotReady and its instance
	// Unknown, and its slot runs on h0 or h1 again.
	c.Signal(syscall.SIGKILL)
	c.Wait()
	a.Eventually("h2 NotReady", func() (bool, string) {
		got := a.Tend("get", "hosts")
		return strings.Contains(got, "NotReady"), got
	})
	a.Eventually("h2's instance Unknown, its slot running elsewhere", func() (bool, string) {
		var unknown, running int
		for _, in := range a.Instances("-l", "app=web") {
			switch {
			case in.Host == "h2" && in.Status == "Unknown":
				unknown++
			case in.Host != "h2" && in.Status == "Running":
				running++
			}
		}
		return unknown == 1 && running == 3, a.Tend("get", "po", "-o", "wide")
	})
	// The host that took the slot says where it came from, and why.
	if ev := a.Tend("get", "events") + b.Tend("get", "events"); !regexp.MustCompile(`Rescheduled\s.*Slot \d rescheduled from host h2 \(NodeNotReady\)`).MatchString(ev) {
		t.Fatalf("no Rescheduled event for h2's slot:\n%s", ev)
	}
	// A unit deleted on one host goes from every host.
	b.Tend("delete", "unit", "web")
	a.Eventually("web gone on h0", func() (bool, string) {
		_, err := os.Stat(filepath.Join(a.Dir, "units", "web.toml"))
		return os.IsNotExist(err) && len(runningOf(a.Instances("-l", "app=web"), "h0")) == 0, a.Tend("get", "po", "-o", "wide")
	})
}

func runningOf(list []supervisor.Instance, host string) []string {
	var out []string
	for _, in := range list {
		if in.Host == host && in.Status == "Running" {
			out = append(out, in.Name)
		}
	}
	return out
}

// tend keygen makes a key the agent reads, and never overwrites one.
func TestKeygen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	r := tendCLI(t, "", nil, "keygen", dir)
	if r.code != 0 || !strings.Contains(r.stdout, "gossip.key") {
		t.Fatalf("keygen: %v", r)
	}
	keys, err := cluster.LoadGossipKeys(dir)
	if err != nil || len(keys) != 1 || len(keys[0]) != 32 {
		t.Fatalf("keys: %d, %v", len(keys), err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, cluster.GossipKeyFile)); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	if r := tendCLI(t, "", nil, "keygen", dir); r.code == 0 || !strings.Contains(r.stderr, "exists") {
		t.Fatalf("second keygen: %v", r)
	}
	again, _ := cluster.LoadGossipKeys(dir)
	if string(again[0]) != string(keys[0]) {
		t.Fatal("the key changed")
	}
	for _, f := range []string{cluster.CACertFile, cluster.CAKeyFile} {
		if !strings.Contains(r.stdout, f) {
			t.Errorf("keygen did not say it wrote %s:\n%s", f, r.stdout)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, cluster.CAKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("ca.key: %v %v", fi, err)
	}
	// An agent with the CA key issues itself a certificate; a host
	// certificate from keygen --host serves a host without it.
	if _, err := cluster.LoadIdentity(dir, t.TempDir(), "edge-1"); err != nil {
		t.Fatalf("an agent with DIR: %v", err)
	}
	if r := tendCLI(t, "", nil, "keygen", "--host", "edge-2", dir); r.code != 0 {
		t.Fatalf("keygen --host: %v", r)
	}
	if r := tendCLI(t, "", nil, "keygen", "--host", "edge-2", dir); r.code == 0 || !strings.Contains(r.stderr, "exists") {
		t.Fatalf("keygen --host again: %v", r)
	}
	if r := tendCLI(t, "", nil, "keygen", "--host", "../x", dir); r.code == 0 {
		t.Fatalf("keygen --host ../x: %v", r)
	}
	hostOnly := t.TempDir()
	for _, f := range []string{cluster.CACertFile, filepath.Join(cluster.HostsDir, "edge-2.crt"), filepath.Join(cluster.HostsDir, "edge-2.key")} {
		data, _ := os.ReadFile(filepath.Join(dir, f))
		os.MkdirAll(filepath.Dir(filepath.Join(hostOnly, f)), 0o700)
		os.WriteFile(filepath.Join(hostOnly, f), data, 0o600)
	}
	if _, err := cluster.LoadIdentity(hostOnly, t.TempDir(), "edge-2"); err != nil {
		t.Fatalf("a host with its certificate and no CA key: %v", err)
	}
	// A directory from before the CA gets one, its gossip key kept.
	old := filepath.Join(t.TempDir(), "keys")
	os.MkdirAll(old, 0o700)
	os.WriteFile(filepath.Join(old, cluster.GossipKeyFile), []byte("MDEyMzQ1Njc4OWFiY2RlZg==\n"), 0o600)
	if r := tendCLI(t, "", nil, "keygen", old); r.code != 0 || strings.Contains(r.stdout, cluster.GossipKeyFile) {
		t.Fatalf("keygen of an old directory: %v", r)
	}
	if k, _ := cluster.LoadGossipKeys(old); len(k) != 1 || string(k[0]) != "0123456789abcdef" {
		t.Fatal("keygen replaced the gossip key of an old directory")
	}

	// A damaged key file is refused with its line.
	os.WriteFile(filepath.Join(dir, cluster.GossipKeyFile), []byte("# k\nnot-base64!\n"), 0o600)
	if _, err := cluster.LoadGossipKeys(dir); err == nil || !strings.Contains(err.Error(), "gossip.key:2") {
		t.Fatalf("bad key file: %v", err)
	}
}

// A host that comes back to a running fleet learns of the others'
// instances before its first pass: it starts no replica that it would
// then stop as a duplicate.
func TestAReturningHostStartsNoDuplicates(t *testing.T) {
	fleet := e2e.StartFleet(t, 2)
	a, b := fleet[0], fleet[1]
	path := filepath.Join(a.Dir, "web.toml")
	e2e.WriteFile(t, path, a.HelperUnit("replicated", "replicas = 2", "app = \"web\"", "sleep"))
	a.Tend("apply", "-f", path)
	running := func(x *e2e.Agent) int {
		n := 0
		for _, in := range x.Instances("-l", "app=web") {
			if in.Status == "Running" {
				n++
			}
		}
		return n
	}
	a.Eventually("two running", func() (bool, string) { return running(a) == 2, a.Tend("get", "po", "-o", "wide") })
	// h1 stops; h0 runs both slots meanwhile.
	b.Signal(syscall.SIGTERM)
	b.Wait()
	a.Eventually("both slots on h0", func() (bool, string) {
		return len(runningOf(a.Instances("-l", "app=web"), "h0")) == 2, a.Tend("get", "po", "-o", "wide")
	})
	// h1 comes back, its unit directory still holding web. The first
	// peer it tries accepts the connection and never answers, so its join
	// takes a second (the local profile's TCP timeout): long after it
	// would have planned, had it not waited.
	hole, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hole.Close()
	go func() {
		for {
			conn, err := hole.Accept()
			if err != nil {
				return
			}
			defer conn.Close()
		}
	}()
	cfgPath := filepath.Join(b.Dir, ".tend", "tend.toml")
	cfg, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	e2e.WriteFile(t, cfgPath, strings.Replace(string(cfg), "join = [", fmt.Sprintf("join = [%q, ", hole.Addr().String()), 1))
	back := time.Now()
	b2 := e2e.StartAgent(t, b.Dir, "")
	// The fleet settles at two, both still on h0: h1's own instance,
	// stopped with its agent, does not start again to take its slot back
	// from the one h0 runs, and h1 made none.
	b2.Eventually("two running on h0, seen from h1 and from h0", func() (bool, string) {
		return len(runningOf(b2.Instances("-l", "app=web"), "h0")) == 2 && running(a) == 2 && len(b2.Instances("-l", "app=web")) == 2, b2.Tend("get", "po", "-o", "wide")
	})
	for _, e := range b2.Events() {
		if e.Reason == "SuccessfulCreate" && !e.Last.Before(back) {
			t.Fatalf("the returning host created an instance: %+v", e)
		}
	}
}

// Any host answers for every instance of the fleet: logs, describe,
// label and delete of an instance on another host go to that host's
// agent over the inter-host API, and nobody without the cluster's
// certificate gets an answer from it.
func TestAnyHostReachesEveryInstance(t *testing.T) {
	fleet := e2e.StartFleet(t, 2)
	a, b := fleet[0], fleet[1]
	path := filepath.Join(a.Dir, "web.toml")
	e2e.WriteFile(t, path, a.HelperUnit("replicated", "replicas = 2", "app = \"web\"", "sleep"))
	a.Tend("apply", "-f", path)
	var onA supervisor.Instance
	b.Eventually("one instance on each host", func() (bool, string) {
		list := b.Instances("-l", "app=web")
		if len(runningOf(list, "h0")) != 1 || len(runningOf(list, "h1")) != 1 {
			return false, b.Tend("get", "po", "-o", "wide")
		}
		for _, in := range list {
			if in.Host == "h0" {
				onA = in
			}
		}
		return true, ""
	})
	// The start line is in h0's log of it, and h1 shows it.
	b.Eventually("h0's instance's output, through h1", func() (bool, string) {
		out, stderr, err := b.Run("logs", onA.Name)
		return err == nil && strings.Contains(out, "started "+onA.Name), out + stderr
	})
	// describe on h1 shows h0's own record (its PID) and h0's events.
	desc := b.Tend("describe", "po", onA.Name)
	pid := a.Instance(onA.Name).PID
	if !regexp.MustCompile(fmt.Sprintf(`PID:\s+%d\n`, pid)).MatchString(desc) || !regexp.MustCompile(`supervisor, h0\s+Started`).MatchString(desc) {
		t.Fatalf("describe on h1 lacks h0's PID %d or its events:\n%s", pid, desc)
	}
	// label on h1 changes h0's instance; h0 tells everyone.
	b.Tend("label", "po", onA.Name, "tier=front")
	if l := a.Instance(onA.Name).Labels; l["tier"] != "front" {
		t.Fatalf("h0's instance labels %v", l)
	}
	// A host label set from h1 is h0's own.
	b.Tend("label", "node", "h0", "disk=ssd")
	a.Eventually("h0 labelled disk=ssd by h1", func() (bool, string) {
		out := a.Tend("get", "hosts", "-l", "disk=ssd")
		return strings.Contains(out, "h0"), out
	})
	// exec on h1 runs beside h0's instance, on h0, and passes its status back.
	out, stderr, err := b.Run("exec", onA.Name, "--", "sh", "-c", `echo "$TEND_INSTANCE in $PWD"; echo oops >&2; exit 3`)
	var ee *exec.ExitError
	// The unit names no working directory: the instance runs in h0's agent's.
	if !errors.As(err, &ee) || ee.ExitCode() != 3 || out != onA.Name+" in "+a.Dir+"\n" || !strings.Contains(stderr, "oops") {
		t.Fatalf("exec through h1: %v, stdout %q, stderr %q", err, out, stderr)
	}
	// delete on h1 stops the process on h0; the unit starts another.
	b.Tend("delete", "po", onA.Name)
	a.Eventually("h0's instance gone and replaced", func() (bool, string) {
		list := a.Instances("-l", "app=web")
		for _, in := range list {
			if in.Name == onA.Name {
				return false, a.Tend("get", "po", "-o", "wide")
			}
		}
		return len(runningOf(list, "h0")) == 1, a.Tend("get", "po", "-o", "wide")
	})

	// A caller with another cluster's certificate, or none, is refused.
	api := hostOf(t, b, "h0").API
	if api == "" {
		t.Fatal("h0 has no API address")
	}
	strangerKeys := t.TempDir()
	if r := tendCLI(t, "", nil, "keygen", strangerKeys); r.code != 0 {
		t.Fatal(r)
	}
	stranger, err := cluster.LoadIdentity(strangerKeys, t.TempDir(), "h0")
	if err != nil {
		t.Fatal(err)
	}
	for what, cfg := range map[string]*tls.Config{
		"another cluster's certificate": stranger.ClientTLS("h0"),
		"no certificate":                {MinVersion: tls.VersionTLS13, InsecureSkipVerify: true},
	} {
		cfg.InsecureSkipVerify = true
		cfg.VerifyPeerCertificate = nil // the stranger does not care whom it reaches
		tr := &http.Transport{TLSClientConfig: cfg}
		res, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get("https://" + api + "/v1/instances/" + onA.Name)
		tr.CloseIdleConnections()
		if err == nil {
			res.Body.Close()
			t.Errorf("with %s, h0's inter-host API answered %s", what, res.Status)
		}
	}
	// A certificate of the cluster's CA is not enough: the caller must be
	// a Ready member (a host shut out by a key rotation, or one whose
	// name nobody knows, is refused).
	evicted, err := cluster.LoadIdentity(keysDirOf(t, a), t.TempDir(), "evicted")
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{TLSClientConfig: evicted.ClientTLS("h0")}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest("DELETE", "https://"+api+"/v1/instances/"+onA.Name, nil)
	res, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden || !strings.Contains(string(body), `evicted\" is not a Ready member`) {
		t.Errorf("a certificate of a host that is no member: %s %s", res.Status, body)
	}
}

// keysDirOf is the keys_dir in an agent's configuration.
func keysDirOf(t *testing.T, a *e2e.Agent) string {
	t.Helper()
	cfg, err := os.ReadFile(filepath.Join(a.Dir, ".tend", "tend.toml"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`keys_dir = "([^"]+)"`).FindSubmatch(cfg)
	if m == nil {
		t.Fatalf("no keys_dir in\n%s", cfg)
	}
	return string(m[1])
}

// tend keys rotate gives every host a new gossip key while gossip goes
// on; the old key then opens nothing, and a restarted host has the new.
func TestKeysRotateAcrossTheFleet(t *testing.T) {
	fleet := e2e.StartFleet(t, 3)
	a, b, c := fleet[0], fleet[1], fleet[2]
	old, err := cluster.LoadGossipKeys(keysDirOf(t, a))
	if err != nil || len(old) != 1 {
		t.Fatalf("old keys %v, %v", old, err)
	}
	out := a.Tend("keys", "rotate")
	if !strings.Contains(out, "rotated") {
		t.Fatalf("rotate:\n%s", out)
	}
	var fresh []byte
	for _, x := range fleet {
		keys, err := cluster.LoadGossipKeys(keysDirOf(t, x))
		if err != nil || len(keys) != 1 || string(keys[0]) == string(old[0]) {
			t.Fatalf("%s's gossip.key after the rotation: %d keys, %v", x.Dir, len(keys), err)
		}
		if fresh == nil {
			fresh = keys[0]
		} else if string(keys[0]) != string(fresh) {
			t.Fatal("hosts have different keys")
		}
	}
	list := b.Tend("keys", "list")
	if strings.Count(list, cluster.KeyID(fresh)) != 3 || strings.Contains(list, cluster.KeyID(old[0])) {
		t.Fatalf("keys list after the rotation:\n%s", list)
	}
	// Gossip goes on: a unit applied on h2 reaches h0.
	path := filepath.Join(c.Dir, "after.toml")
	e2e.WriteFile(t, path, c.HelperUnit("replicated", "replicas = 0", "app = \"after\"", "sleep"))
	c.Tend("apply", "-f", path)
	a.Eventually("the unit applied after the rotation", func() (bool, string) {
		_, err := os.Stat(filepath.Join(a.Dir, "units", "after.toml"))
		return err == nil, a.Tend("get", "units")
	})
	// The old key no longer joins.
	stranger, err := cluster.New(cluster.Config{Name: "stranger", Bind: fmt.Sprintf("127.0.0.1:%d", e2e.FreeGossipPort(t)),
		Profile: cluster.ProfileLocal, ClusterName: "test", Keys: old, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	if got, err := stranger.Join(hostOf(t, a, "h0").Addr); got != 0 || err == nil {
		t.Errorf("the old key joined %d hosts (%v)", got, err)
	}
	// A host restarted after the rotation rejoins with its new key.
	b.Signal(syscall.SIGTERM)
	b.Wait()
	a.Eventually("h1 Left", func() (bool, string) {
		got := a.Tend("get", "hosts")
		return strings.Contains(got, "Left"), got
	})
	b = e2e.StartAgent(t, b.Dir, "")
	a.Eventually("h1 Ready again", func() (bool, string) {
		got := a.Tend("get", "hosts")
		return strings.Count(got, " Ready ") == 3, got
	})
	// A host that is down stops a rotation, which names it.
	c.Signal(syscall.SIGKILL)
	c.Wait()
	a.Eventually("h2 NotReady", func() (bool, string) {
		got := a.Tend("get", "hosts")
		return strings.Contains(got, "NotReady"), got
	})
	if _, stderr, err := a.Run("keys", "rotate"); err == nil || !strings.Contains(stderr, "h2") {
		t.Errorf("rotate with h2 down: %v, %s", err, stderr)
	}
	keys, _ := cluster.LoadGossipKeys(keysDirOf(t, a))
	if len(keys) != 1 || string(keys[0]) != string(fresh) {
		t.Error("a refused rotation changed h0's keys")
	}
}

// hostOf is a host as an agent lists it.
func hostOf(t *testing.T, a *e2e.Agent, host string) supervisor.Host {
	t.Helper()
	for _, h := range a.Hosts() {
		if h.Name == host {
			return h
		}
	}
	t.Fatalf("no host %s", host)
	return supervisor.Host{}
}

// tend delete host takes a dead host and its instances out of the fleet,
// on every host, through a restart; refuses a Ready host and an unknown
// one; and a deleted host whose agent starts again is a member again.
func TestDeleteHost(t *testing.T) {
	fleet := e2e.StartFleet(t, 3)
	a, b, c := fleet[0], fleet[1], fleet[2]
	path := filepath.Join(a.Dir, "web.toml")
	e2e.WriteFile(t, path, a.HelperUnit("replicated", "replicas = 3", "app = \"web\"", "sleep"))
	a.Tend("apply", "-f", path)
	var onC string
	a.Eventually("one web instance on each host", func() (bool, string) {
		list := a.Instances("-l", "app=web")
		on := runningOf(list, "h2")
		if len(runningOf(list, "h0")) != 1 || len(runningOf(list, "h1")) != 1 || len(on) != 1 {
			return false, a.Tend("get", "po", "-o", "wide")
		}
		onC = on[0]
		return true, ""
	})

	// h2 dies outright, its instance with it (the units carry h0's tag).
	c.Signal(syscall.SIGKILL)
	c.Wait()
	for _, pid := range e2e.TaggedProcesses(a.Tag)[onC] {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	for _, x := range []*e2e.Agent{a, b} {
		x.Eventually("h2 NotReady, its instance Unknown", func() (bool, string) {
			in, ok := instanceNamed(x.Instances(), onC)
			return hostOf(t, x, "h2").Status == "NotReady" && ok && in.Status == "Unknown", x.Tend("get", "po", "-o", "wide")
		})
	}

	// Refused, saying why: a Ready host, and one nobody knows.
	_, stderr, err := b.Run("delete", "host", "h0")
	if exitOf(err) != 1 || !strings.Contains(stderr, `Error from server (Conflict): host "h0" is Ready`) || !strings.Contains(stderr, "stop its agent") {
		t.Errorf("delete a Ready host: exit %d, %s", exitOf(err), stderr)
	}
	_, stderr, err = b.Run("delete", "node", "nope")
	if exitOf(err) != 1 || stderr != "Error from server (NotFound): hosts \"nope\" not found\n" {
		t.Errorf("delete an unknown host: exit %d, %s", exitOf(err), stderr)
	}

	// Deleted on h1: gone there at once, and on h0 soon after.
	if out := b.Tend("delete", "host", "h2"); out != "host \"h2\" deleted\n" {
		t.Fatalf("delete host h2: %q", out)
	}
	if hosts := b.Tend("get", "hosts"); strings.Contains(hosts, "h2") {
		t.Errorf("h1 lists h2 after deleting it:\n%s", hosts)
	}
	if _, ok := instanceNamed(b.Instances(), onC); ok {
		t.Errorf("h1 lists h2's instance after deleting h2:\n%s", b.Tend("get", "po", "-o", "wide"))
	}
	gone := func(x *e2e.Agent) (bool, string) {
		hosts, po := x.Tend("get", "hosts"), x.Tend("get", "po", "-o", "wide")
		return !strings.Contains(hosts, "h2") && !strings.Contains(po, "h2"), hosts + po
	}
	a.Eventually("h2 and its instance gone from h0", func() (bool, string) { return gone(a) })
	a.Eventually("the three slots running on h0 and h1", func() (bool, string) {
		list := a.Instances("-l", "app=web")
		return len(runningOf(list, "h0"))+len(runningOf(list, "h1")) == 3 && len(list) == 3, a.Tend("get", "po", "-o", "wide")
	})
	for _, x := range []*e2e.Agent{a, b} {
		if ev := x.Tend("get", "events"); !regexp.MustCompile(`Normal\s+RemovingNode\s+host/h2\s.*Removing host h2 from the fleet`).MatchString(ev) {
			t.Errorf("no RemovingNode event for h2 on %s:\n%s", x.Dir, ev)
		}
	}
	// Twice: it is not there any more.
	if _, stderr, err := a.Run("delete", "no", "h2"); exitOf(err) != 1 || !strings.Contains(stderr, `hosts "h2" not found`) {
		t.Errorf("delete h2 again: exit %d, %s", exitOf(err), stderr)
	}

	// h0 restarts: once it knows h1 and h1's instances again, h2 is still
	// gone.
	a.Signal(syscall.SIGTERM)
	a.Wait()
	a = e2e.StartAgent(t, a.Dir, "")
	a.Eventually("h0 back with h1 and its instances", func() (bool, string) {
		list := a.Instances("-l", "app=web")
		return hostOf(t, a, "h1").Status == "Ready" && len(runningOf(list, "h1")) > 0 && len(list) == 3, a.Tend("get", "po", "-o", "wide")
	})
	if ok, seen := gone(a); !ok {
		t.Errorf("h2 is back on the restarted h0:\n%s", seen)
	}

	// h2's agent starts again: a new member on every host, with its
	// instance, and Ready it cannot be deleted. The fleet is back at three.
	c = e2e.StartAgent(t, c.Dir, "")
	for _, x := range []*e2e.Agent{a, b, c} {
		x.Eventually("three Ready hosts", func() (bool, string) {
			got := x.Tend("get", "hosts")
			return strings.Count(got, " Ready ") == 3, got
		})
	}
	a.Eventually("exactly three web instances running again", func() (bool, string) {
		list := a.Instances("-l", "app=web")
		return len(e2e.Running(list)) == 3 && len(list) == 3, a.Tend("get", "po", "-o", "wide")
	})
	if _, stderr, err := b.Run("delete", "host", "h2"); exitOf(err) != 1 || !strings.Contains(stderr, `host "h2" is Ready`) {
		t.Errorf("delete h2 after it came back: exit %d, %s", exitOf(err), stderr)
	}
}

// instanceNamed is the instance called name in list.
func instanceNamed(list []supervisor.Instance, name string) (supervisor.Instance, bool) {
	for _, in := range list {
		if in.Name == name {
			return in, true
		}
	}
	return supervisor.Instance{}, false
}

// exitOf is the exit status of a CLI run: 0, or what it exited with.
func exitOf(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// A host deleted while its agent is starting again, before the others
// have seen it back, takes itself back: every host ends with it Ready and
// its instance listed.
func TestDeletingAHostThatComesBack(t *testing.T) {
	fleet := e2e.StartFleet(t, 3)
	a, b, c := fleet[0], fleet[1], fleet[2]
	path := filepath.Join(a.Dir, "mon.toml")
	e2e.WriteFile(t, path, a.HelperUnit("per-host", "", "app = \"mon\"", "sleep"))
	a.Tend("apply", "-f", path)
	a.Eventually("a monitor on each host", func() (bool, string) {
		return len(e2e.Running(a.Instances("-l", "app=mon"))) == 3, a.Tend("get", "po", "-o", "wide")
	})
	c.Signal(syscall.SIGKILL)
	c.Wait()
	b.Eventually("h2 NotReady", func() (bool, string) { return hostOf(t, b, "h2").Status == "NotReady", b.Tend("get", "hosts") })

	// h2 starts again on a new gossip port (the others keep trying the
	// old one), and joins through a gate that refuses it until h1 has
	// deleted it: meanwhile it runs, its new life stamped, known to
	// nobody. Its socket answers after five seconds (the agent waits that
	// long to hear from a peer before it plans).
	cfgPath := filepath.Join(c.Dir, ".tend", "tend.toml")
	cfg, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	first := regexp.MustCompile(`join = \["([^"]+)"`).FindStringSubmatch(string(cfg))
	if first == nil {
		t.Fatalf("no join in h2's config:\n%s", cfg)
	}
	gate, open := joinGate(t, first[1])
	text := regexp.MustCompile(`join = \[[^]]*\]`).ReplaceAllString(string(cfg), fmt.Sprintf("join = [%q]", gate))
	text = regexp.MustCompile(`bind = "[^"]+"`).ReplaceAllString(text, fmt.Sprintf("bind = \"127.0.0.1:%d\"", e2e.FreeGossipPort(t)))
	e2e.WriteFile(t, cfgPath, text)
	// It forgets the peers it knew, or it would join them directly (if it
	// had written them down before it was killed: it is dead, so the
	// file cannot appear after this).
	if err := os.Remove(filepath.Join(c.Dir, ".tend", "state", "cluster", "peers.json")); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	c = e2e.StartAgent(t, c.Dir, "")
	// h1 still has it NotReady, and deletes it; then h2 gets through.
	if out, stderr, err := b.Run("delete", "host", "h2"); err != nil || out != "host \"h2\" deleted\n" {
		t.Fatalf("delete h2 while it comes back: %v, %s%s", err, out, stderr)
	}
	open()
	for _, x := range []*e2e.Agent{a, b, c} {
		x.Eventually("h2 Ready with its monitor", func() (bool, string) {
			list := x.Instances("-l", "app=mon")
			ok := strings.Contains(x.Tend("get", "hosts"), "h2") && hostOf(t, x, "h2").Status == "Ready"
			return ok && len(runningOf(list, "h2")) == 1 && len(e2e.Running(list)) == 3, x.Tend("get", "po", "-o", "wide")
		})
	}
	if !strings.Contains(c.Log.String(), "it takes itself back") {
		t.Errorf("h2 did not refute its deletion:\n%s", c.Log.String())
	}
}

// joinGate is a gossip address that passes TCP connections (a join's
// push/pull) on to peer once open is called, and closes them until then.
func joinGate(t *testing.T, peer string) (addr string, open func()) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var opened atomic.Bool
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			if !opened.Load() {
				conn.Close()
				continue
			}
			go func() {
				defer conn.Close()
				up, err := net.Dial("tcp", peer)
				if err != nil {
					return
				}
				defer up.Close()
				go io.Copy(up, conn)
				io.Copy(conn, up)
			}()
		}
	}()
	return l.Addr().String(), func() { opened.Store(true) }
}
