package main

// Failover (issue 10): three agents, each PID 1 of a host made of network
// and PID namespaces (cluster/clustertest), gossiping with the lan
// profile, with one replicated unit of R sleeping replicas. Each run
// takes one host's link down, the seed's experiment of section 4.2.3
// (`ifconfig eth0 down` on a node), and times until its slots run on the
// other two as one of them sees it; then brings the link back and times
// until every host sees exactly R instances again, all running, and
// every host Ready (the heal).
//
// Failover is split into its parts: detection (the survivor shows the
// victim NotReady, by its own record of when it saw it) and the start of
// the replacements (the last replacement process's start, as the host
// that runs it recorded it); what is left is the news of that start
// reaching the survivor, and the look itself. The looks are API requests
// every -failover-poll (10 ms); the bench's own CPU, the agents' and the
// machine's busy share over the windows are reported beside the figures,
// so that a reader can see whether looking took the CPU the agents fail
// over with.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/tendhq/tend/cluster/clustertest"
	"github.com/tendhq/tend/supervisor"
)

// Figure IDs.
const (
	failoverP50ID       = "failover_p50_ms"
	failoverP99ID       = "failover_p99_ms"
	failoverDetectP50ID = "failover_detect_p50_ms"
	failoverDetectP99ID = "failover_detect_p99_ms"
	failoverStartP50ID  = "failover_start_p50_ms"
	failoverStartP99ID  = "failover_start_p99_ms"
	healP50ID           = "heal_p50_ms"
	healP99ID           = "heal_p99_ms"
	failoverPollCPUID   = "failover_poll_cpu_pct"     // the bench's own CPU while it looked, % of one core
	failoverAgentsCPUID = "failover_agents_cpu_pct"   // the three agents' CPU meanwhile, % of one core
	failoverBusyID      = "failover_machine_busy_pct" // the machine's busy share meanwhile
	exclusiveP50ID      = "exclusive_failover_p50_ms"
	exclusiveP99ID      = "exclusive_failover_p99_ms"
)

var failoverIDs = []string{failoverP50ID, failoverP99ID, failoverDetectP50ID, failoverDetectP99ID, failoverStartP50ID, failoverStartP99ID,
	healP50ID, healP99ID, exclusiveP50ID, exclusiveP99ID, failoverPollCPUID, failoverAgentsCPUID, failoverBusyID}

// The sizes and goals of issue 10: at least goalFailoverRuns runs on the
// lan profile.
const (
	goalFailoverRuns  = 10
	goalFailoverP50MS = 2000.0
	goalFailoverP99MS = 3000.0
	goalHealP99MS     = 10000.0
	// An exclusive unit waits W (2.2 s) after the holder's last
	// acknowledged heartbeat.
	goalExclusiveP50MS = 3500.0
)

const (
	failoverHosts = 3
	failoverUnit  = "fo"
	// exclusiveUnit is the exclusive unit of one replica timed after the
	// replicated one, in the same fleet, every host a voter.
	exclusiveUnit = "ex"
	// failoverRest is how long the fleet must have stayed settled before
	// a run takes a link down: the last heal's gossip has died out.
	failoverRest = time.Second
	// The deadlines of one failover and one heal: past them the run's
	// figures are missed, not measured.
	failoverWithin = 30 * time.Second
	healWithin     = time.Minute
	// askWithin bounds one API request.
	askWithin = 2 * time.Second
)

// hostAgent is tend's agent in --dev mode as PID 1 of a host of
// namespaces: killing it ends everything on the host.
type hostAgent struct {
	tendUnit
	host *clustertest.Host
}

func (a hostAgent) Setup(dir string, w spec) (*exec.Cmd, func(context.Context, *exec.Cmd) error, error) {
	cmd, err := tendAgent(a.bin, dir, a.files...)
	if err != nil {
		return nil, nil, err
	}
	hc := a.host.Command(cmd.Path, cmd.Args[1:]...)
	hc.Dir = cmd.Dir
	return hc, signalRoot(syscall.SIGTERM), nil
}

// foHost is one host of the failover fleet.
type foHost struct {
	host *clustertest.Host
	s    *session
	c    *supervisor.Client
}

// look is what one host shows: the hosts and the unit's instances.
type look struct {
	hosts     []supervisor.Host
	instances []supervisor.Instance
}

func (h *foHost) look(ctx context.Context, withHosts bool) (look, error) {
	ctx, cancel := context.WithTimeout(ctx, askWithin)
	defer cancel()
	var l look
	var err error
	if withHosts {
		if l.hosts, err = h.c.Hosts(ctx); err != nil {
			return l, fmt.Errorf("%s: %w", h.host.Name, err)
		}
	}
	if l.instances, err = h.c.Instances(ctx, "app="+failoverUnit); err != nil {
		return l, fmt.Errorf("%s: %w", h.host.Name, err)
	}
	return l, nil
}

// settled: every host Ready, exactly want instances, all running. why
// says what is not so.
func (l look) settled(hosts, want int) (ok bool, why string) {
	if n := countReady(l.hosts); n != hosts {
		return false, fmt.Sprintf("%d hosts Ready", n)
	}
	running := 0
	for _, in := range l.instances {
		if in.Status == "Running" {
			running++
		}
	}
	if len(l.instances) != want || running != want {
		return false, fmt.Sprintf("%d instances, %d running: %s", len(l.instances), running, byHostStatus(l.instances))
	}
	return true, ""
}

// byHostStatus counts instances by host and status: "h0 Running 2, h2 Unknown 2".
func byHostStatus(list []supervisor.Instance) string {
	counts := map[string]int{}
	var keys []string
	for _, in := range list {
		k := in.Host + " " + in.Status
		if counts[k] == 0 {
			keys = append(keys, k)
		}
		counts[k]++
	}
	slices.Sort(keys)
	out := ""
	for i, k := range keys {
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprintf("%s %d", k, counts[k])
	}
	if out == "" {
		return "none"
	}
	return out
}

// costs adds up what the looks cost over the timed windows: the bench's
// own CPU, the agents', the machine's busy and total ticks, and the
// windows' length. begin and end bracket each window.
type costs struct {
	hosts        []*foHost
	self, agents time.Duration
	busy, total  uint64
	wall         time.Duration
	unreadable   bool // an agent's schedstat could not be read

	// the open window
	t0            time.Time
	self0         time.Duration
	agents0       map[int]uint64
	busy0, total0 uint64
}

func (c *costs) begin() {
	c.agents0, _ = cpuNS(c.pids())
	c.busy0, c.total0 = machineBusy()
	c.self0, c.t0 = selfCPU(), time.Now()
}

func (c *costs) end() {
	c.wall += time.Since(c.t0)
	c.self += selfCPU() - c.self0
	after, ok := cpuNS(c.pids())
	if !ok {
		c.unreadable = true
	}
	c.agents += time.Duration(delta(c.agents0, after))
	if busy, total := machineBusy(); total > c.total0 {
		c.busy += busy - c.busy0
		c.total += total - c.total0
	}
}

func (c *costs) pids() []int {
	var out []int
	for _, h := range c.hosts {
		out = append(out, h.s.cmd.Process.Pid)
	}
	return out
}

func (b *bench) failoverFigures(ctx context.Context, tendBin string, r *supervisorResult) (err error) {
	if err := clustertest.Available(); err != nil {
		// Not a failure of tend's: this machine cannot make the hosts
		// (not root). The figures say why they are missing, and the run
		// still passes, as with an agent too old for a figure.
		r.unavailable(fmt.Errorf("hosts of namespaces: %w", err), failoverIDs...)
		b.progress("%-12s failover: skipped: %v", "tend", err)
		return nil
	}
	c := b.cfg
	nt, err := clustertest.New(failoverHosts)
	if err != nil {
		return err
	}
	var hosts []*foHost
	defer func() {
		// Each agent is PID 1 of its host: SIGKILL ends the host's
		// instances with it. Then the namespaces go.
		for _, h := range hosts {
			h.c.Close()
			h.s.cmd.Process.Kill()
		}
		for _, h := range hosts {
			select {
			case <-h.s.done:
			case <-time.After(5 * time.Second):
			}
		}
		if cerr := nt.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("remove the hosts: %w", cerr))
		}
		reap()
	}()

	root := b.dir(tendPeer{}, "failover")
	keys := filepath.Join(root, "keys")
	if out, err := exec.CommandContext(ctx, tendBin, "keygen", keys).CombinedOutput(); err != nil {
		return fmt.Errorf("tend keygen: %v: %s", err, out)
	}
	w := spec{stamp: b.stamp, file: filepath.Join(root, "starts"), mode: modeSleep}
	first := nt.Hosts[0].Addr + ":7946"
	for k, h := range nt.Hosts {
		dir := filepath.Join(root, h.Name)
		hostKeys := filepath.Join(dir, "keys")
		if err := copyFiles(keys, hostKeys); err != nil {
			return err
		}
		join := ""
		if k > 0 {
			join = fmt.Sprintf("join = [%q]\n", first)
		}
		cfg := fmt.Sprintf("name = %q\n[cluster]\nbind = \"%s:7946\"\napi = \"%s:7947\"\n%sprofile = \"lan\"\nname = \"bench\"\nkeys_dir = %q\nvoters = %s\n",
			h.Name, h.Addr, h.Addr, join, hostKeys, voterList(nt.Hosts))
		if err := os.MkdirAll(filepath.Join(dir, ".tend"), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, ".tend", "tend.toml"), []byte(cfg), 0o644); err != nil {
			return err
		}
		s, err := start(hostAgent{tendUnit{bin: tendBin}, h}, dir, w)
		if err != nil {
			return err
		}
		hosts = append(hosts, &foHost{host: h, s: s, c: supervisor.NewClient(filepath.Join(dir, ".tend", "tend.sock"))})
	}
	// The unit once the fleet has formed, so that its slots are placed
	// over the three hosts: the first host alone would run them all, and
	// a slot stays where it runs.
	t0 := time.Now()
	if err := b.waitSettled(ctx, hosts, 0, time.Minute); err != nil {
		return err
	}
	want := c.failoverReplicas
	actx, cancel := context.WithTimeout(ctx, askWithin)
	_, err = hosts[0].c.ApplyUnit(actx, failoverUnit+".toml", []byte(stampUnit(failoverUnit, want, w.stamp, w.file, w.mode)))
	cancel()
	if err != nil {
		return fmt.Errorf("apply the unit on h0: %w", err)
	}
	if err := b.waitSettled(ctx, hosts, want, 2*time.Minute); err != nil {
		return err
	}
	l, err := hosts[0].look(ctx, false)
	if err != nil {
		return err
	}
	b.progress("%-12s %d agents on hosts of their own (%s to %s), one unit of %d replicas: %s, settled after %.1f s", "tend", len(hosts),
		nt.Hosts[0].Addr, nt.Hosts[len(hosts)-1].Addr, want, byHostStatus(l.instances), time.Since(t0).Seconds())

	cost := &costs{hosts: hosts}
	var detects, starts, seens, heals []time.Duration
	for run := range c.failoverRuns {
		victim := hosts[run%len(hosts)]
		obs := hosts[(run+1)%len(hosts)]
		if run > 0 {
			if err := b.waitSettled(ctx, hosts, want, 30*time.Second); err != nil {
				return fmt.Errorf("before run %d: %w", run+1, err)
			}
		}
		l, err = obs.look(ctx, false)
		if err != nil {
			return err
		}
		slots := 0
		for _, in := range l.instances {
			if in.Host == victim.host.Name {
				slots++
			}
		}
		if slots == 0 {
			return fmt.Errorf("run %d: %s holds no slot, nothing to fail over: %s", run+1, victim.host.Name, byHostStatus(l.instances))
		}

		d, st, seen, err := b.failover(ctx, cost, victim, obs, want)
		if err != nil {
			return fmt.Errorf("run %d, %s's link down: %w", run+1, victim.host.Name, err)
		}
		heal, err := b.heal(ctx, cost, hosts, victim, want)
		if err != nil {
			return fmt.Errorf("run %d, %s's link up: %w", run+1, victim.host.Name, err)
		}
		detects, starts, seens, heals = append(detects, d), append(starts, st), append(seens, seen), append(heals, heal)
		b.progress("%-12s run %d: %s's link down, %d slots: NotReady on %s after %d ms, replacements started after %d ms, seen running by %s after %d ms; link up: exactly %d everywhere after %d ms",
			"tend", run+1, victim.host.Name, slots, obs.host.Name, d.Milliseconds(), st.Milliseconds(), obs.host.Name, seen.Milliseconds(), want, heal.Milliseconds())
	}
	r.set(failoverP50ID, msAt(seens, 0.5))
	r.set(failoverP99ID, msAt(seens, 0.99))
	r.set(failoverDetectP50ID, msAt(detects, 0.5))
	r.set(failoverDetectP99ID, msAt(detects, 0.99))
	r.set(failoverStartP50ID, msAt(starts, 0.5))
	r.set(failoverStartP99ID, msAt(starts, 0.99))
	r.set(healP50ID, msAt(heals, 0.5))
	r.set(healP99ID, msAt(heals, 0.99))
	if cost.wall > 0 {
		r.set(failoverPollCPUID, 100*float64(cost.self)/float64(cost.wall))
		if !cost.unreadable {
			r.set(failoverAgentsCPUID, 100*float64(cost.agents)/float64(cost.wall))
		}
		if cost.total > 0 {
			r.set(failoverBusyID, 100*float64(cost.busy)/float64(cost.total))
		}
	}
	b.progress("%-12s failover p50 %.0f ms, p99 %.0f ms (detection p50 %.0f ms, replacements started p50 %.0f ms); heal p50 %.0f ms, p99 %.0f ms; over %d runs",
		"tend", msAt(seens, 0.5), msAt(seens, 0.99), msAt(detects, 0.5), msAt(starts, 0.5), msAt(heals, 0.5), msAt(heals, 0.99), len(seens))
	b.progress("%-12s while looking every %s: the bench %s%% of one core, the agents %s%%, the machine %s%% busy",
		"tend", c.failoverPoll, fmtNum(r.Figures[failoverPollCPUID]), fmtNum(r.Figures[failoverAgentsCPUID]), fmtNum(r.Figures[failoverBusyID]))
	return b.exclusiveFailovers(ctx, hosts, want, w, r)
}

// voterList is the hosts' names as a TOML array: every host a voter.
func voterList(hosts []*clustertest.Host) string {
	s := "["
	for k, h := range hosts {
		if k > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%q", h.Name)
	}
	return s + "]"
}

// exclusiveFailovers applies an exclusive unit of one replica and, as
// many times as the replicated unit failed over, takes its holder's link
// down and times until another host shows it running (the fence's W
// after the holder's last acknowledged heartbeat, plus detection and the
// start), then brings the link back and waits for the fleet to settle.
func (b *bench) exclusiveFailovers(ctx context.Context, hosts []*foHost, want int, w spec, r *supervisorResult) error {
	text := "exclusive = true\n" + stampUnit(exclusiveUnit, 1, w.stamp, w.file, w.mode)
	actx, cancel := context.WithTimeout(ctx, askWithin)
	_, err := hosts[0].c.ApplyUnit(actx, exclusiveUnit+".toml", []byte(text))
	cancel()
	if err != nil {
		return fmt.Errorf("apply the exclusive unit on h0: %w", err)
	}
	var seens []time.Duration
	for run := range b.cfg.failoverRuns {
		holder, err := b.exclusiveSettled(ctx, hosts, want)
		if err != nil {
			return fmt.Errorf("exclusive run %d: %w", run+1, err)
		}
		obs := hosts[(slices.Index(hosts, holder)+1)%len(hosts)]
		t0 := time.Now()
		if err := holder.host.LinkDown(); err != nil {
			return err
		}
		var seen time.Duration
		for seen == 0 {
			ctx2, cancel := context.WithTimeout(ctx, askWithin)
			list, err := obs.c.Instances(ctx2, "app="+exclusiveUnit)
			cancel()
			now := time.Since(t0)
			if err == nil {
				for _, in := range list {
					if in.Host != holder.host.Name && in.Status == "Running" {
						seen = now
					}
				}
			}
			if seen == 0 && now > failoverWithin {
				holder.host.LinkUp()
				return obs.s.failed(fmt.Errorf("%w: exclusive run %d: after %s no host but %s runs %s: %s", errTimeout, run+1, failoverWithin, holder.host.Name, exclusiveUnit, byHostStatus(list)))
			}
			if seen == 0 {
				if err := sleepCtx(ctx, b.cfg.failoverPoll); err != nil {
					return err
				}
			}
		}
		if err := holder.host.LinkUp(); err != nil {
			return err
		}
		seens = append(seens, seen)
		b.progress("%-12s exclusive run %d: %s's link down: %s runs on another host, as %s shows, after %d ms",
			"tend", run+1, holder.host.Name, exclusiveUnit, obs.host.Name, seen.Milliseconds())
	}
	r.set(exclusiveP50ID, msAt(seens, 0.5))
	r.set(exclusiveP99ID, msAt(seens, 0.99))
	b.progress("%-12s exclusive failover p50 %.0f ms, p99 %.0f ms over %d runs", "tend", msAt(seens, 0.5), msAt(seens, 0.99), len(seens))
	return nil
}

// exclusiveSettled waits until the fleet is settled for the replicated
// unit and every host shows the exclusive one running on one same host,
// for failoverRest, and returns that host.
func (b *bench) exclusiveSettled(ctx context.Context, hosts []*foHost, want int) (*foHost, error) {
	deadline := time.Now().Add(time.Minute)
	var since time.Time
	for {
		if err := b.waitSettled(ctx, hosts, want, time.Minute); err != nil {
			return nil, err
		}
		var holder *foHost
		why := ""
		for _, h := range hosts {
			ctx2, cancel := context.WithTimeout(ctx, askWithin)
			list, err := h.c.Instances(ctx2, "app="+exclusiveUnit)
			cancel()
			if err != nil {
				why = err.Error()
				break
			}
			if len(list) != 1 || list[0].Status != "Running" || holder != nil && list[0].Host != holder.host.Name {
				why = h.host.Name + " shows " + byHostStatus(list)
				break
			}
			holder = hosts[slices.IndexFunc(hosts, func(x *foHost) bool { return x.host.Name == list[0].Host })]
		}
		switch {
		case why != "":
			since = time.Time{}
		case since.IsZero():
			since = time.Now()
		case time.Since(since) >= failoverRest:
			return holder, nil
		}
		if time.Now().After(deadline) {
			return nil, hosts[0].s.failed(fmt.Errorf("%w: the exclusive unit did not settle within a minute: %s", errTimeout, why))
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return nil, err
		}
	}
}

// waitSettled waits until every host shows every host Ready and exactly
// want instances, all running, and has done so for failoverRest.
func (b *bench) waitSettled(ctx context.Context, hosts []*foHost, want int, within time.Duration) error {
	deadline := time.Now().Add(within)
	var since time.Time
	for {
		for _, h := range hosts {
			if h.s.exited() {
				return h.s.failed(fmt.Errorf("agent %s exited", h.host.Name))
			}
		}
		why := unsettled(ctx, hosts, want)
		switch {
		case why != "":
			since = time.Time{}
		case since.IsZero():
			since = time.Now()
		case time.Since(since) >= failoverRest:
			return nil
		}
		if time.Now().After(deadline) {
			return hosts[0].s.failed(fmt.Errorf("%w: the fleet did not settle within %s: %s", errTimeout, within, why))
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

// failover takes victim's link down and times, as obs sees it, until
// victim is NotReady (detect), until the last replacement process started
// (started, by its host's record), and until want instances run on hosts
// other than victim (seen). It returns with the link still down once
// victim, alone on its side, also runs every slot itself: both sides of
// the partition have acted, and the heal has their duplicates to settle.
func (b *bench) failover(ctx context.Context, cost *costs, victim, obs *foHost, want int) (detect, started, seen time.Duration, err error) {
	cost.begin()
	defer cost.end()
	// Taken before the ip command runs: its own time can only add to the
	// figures.
	t0 := time.Now()
	if err := victim.host.LinkDown(); err != nil {
		return 0, 0, 0, err
	}
	name := victim.host.Name
	var why string
	alone := false
	for {
		l, err := obs.look(ctx, detect == 0)
		now := time.Since(t0)
		if err == nil {
			if detect == 0 {
				for _, h := range l.hosts {
					if h.Name == name && h.Status == "NotReady" {
						// The survivor's own record of when it saw it, not
						// when this look came.
						detect = now
						if h.Since.After(t0) && h.Since.Sub(t0) < now {
							detect = h.Since.Sub(t0)
						}
					}
				}
			}
			if seen == 0 {
				running := 0
				var last time.Time
				for _, in := range l.instances {
					if in.Host != name && in.Status == "Running" {
						running++
						if in.State.Started.After(last) {
							last = in.State.Started
						}
					}
				}
				if running == want {
					seen = now
					started = last.Sub(t0)
					if !last.After(t0) {
						return 0, 0, 0, fmt.Errorf("%d running on the other hosts, none started since the link went down", running)
					}
				}
				why = obs.host.Name + " shows " + byHostStatus(l.instances)
			}
		} else {
			why = err.Error()
		}
		if detect > 0 && seen > 0 && !alone {
			if l, err := victim.look(ctx, false); err == nil {
				running := 0
				for _, in := range l.instances {
					if in.Host == name && in.Status == "Running" {
						running++
					}
				}
				alone = running == want
				why = fmt.Sprintf("%s, alone, shows %s", name, byHostStatus(l.instances))
			}
		}
		if detect > 0 && seen > 0 && alone {
			return detect, started, seen, nil
		}
		if now > failoverWithin {
			state := "not NotReady"
			if detect > 0 {
				state = "NotReady"
			}
			return 0, 0, 0, obs.s.failed(fmt.Errorf("%w: after %s %s is %s on %s; %s", errTimeout, failoverWithin, name, state, obs.host.Name, why))
		}
		if err := sleepCtx(ctx, b.cfg.failoverPoll); err != nil {
			return 0, 0, 0, err
		}
	}
}

// unsettled says why the fleet is not settled, as its hosts show it in
// one round of looks (every host Ready, exactly want instances, all
// running), or "" when it is.
func unsettled(ctx context.Context, hosts []*foHost, want int) string {
	for _, h := range hosts {
		l, err := h.look(ctx, true)
		if err != nil {
			return err.Error()
		}
		if ok, w := l.settled(len(hosts), want); !ok {
			return h.host.Name + " shows " + w
		}
	}
	return ""
}

// heal brings victim's link back and times until every host shows every
// host Ready and exactly want instances, all running, in one round of
// looks.
func (b *bench) heal(ctx context.Context, cost *costs, hosts []*foHost, victim *foHost, want int) (time.Duration, error) {
	cost.begin()
	defer cost.end()
	t0 := time.Now()
	if err := victim.host.LinkUp(); err != nil {
		return 0, err
	}
	for {
		why := unsettled(ctx, hosts, want)
		took := time.Since(t0)
		if why == "" {
			return took, nil
		}
		if took > healWithin {
			return 0, victim.s.failed(fmt.Errorf("%w: not healed after %s: %s", errTimeout, healWithin, why))
		}
		if err := sleepCtx(ctx, b.cfg.failoverPoll); err != nil {
			return 0, err
		}
	}
}
