// Command tend-bench runs the same tiny static workload under tend and
// under the supervisors people run today (supervisord, runit, s6,
// daemontools), on the same machine and clock, and reports tend's figures
// as ratios to theirs: restart latency, fan-out, memory, idle CPU, stop
// time, and the floor the kernel allows. Then, for tend alone (no peer has
// the features), each beside its issue's goal: how its costs grow with the
// number of units, probe CPU with 1000 HTTP liveness probes a second, all
// at once and spread over the second, and its floor, cron start lag, and
// the time of a job of 1000 completions, a fleet's figures on loopback,
// and failover and heal on three hosts made of namespaces. With
// -tend-before, an older tend binary takes its turns beside tend in
// tend's own measurements.
//
// Every supervisor is started by hand on a private directory under a
// temp dir (on tmpfs when /dev/shm exists), never through the system's
// init, and everything started is stopped by pid at the end, on error and
// on interrupt, and the namespaces removed. Nothing goes over the
// network: the fleet gossips on loopback, and the failover's hosts only
// on the bridge of their own namespaces.
//
//	tend-bench [-tend bin/tend] [-tend-before OLD] [-results DIR] [-docs DIR] [-smoke] [-no-install] [-scale 10,100,1000,5000]
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	p := &program{stdout: os.Stdout, stderr: os.Stderr}
	err := p.parseFlags(os.Args[1:])
	if err == nil {
		err = p.run(ctx)
	}
	p.close()
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case err != nil:
		fmt.Fprintf(os.Stderr, "tend-bench: %v\n", err)
		os.Exit(1)
	}
}

// config is what the flags set.
type config struct {
	tendBin   string
	before    string // an older tend binary to measure beside tendBin, or ""
	results   string
	docs      string
	peers     []string
	restarts  int
	reps      int
	ns        []int
	idle      time.Duration
	floorRuns int
	// the scaling table (issue 8): N unit files and one flapping unit
	scaleNs       []int
	scaleRestarts int
	scaleTimeout  time.Duration
	resyncs       int
	// tend only
	probeN         int
	probeWindow    time.Duration
	cronRuns       int
	jobCompletions int
	jobParallelism int
	// the fleet (issue 9)
	fleetHosts     int
	fleetUnits     int
	fleetInstances int
	fleetApplies   int
	fleetKills     int
	// failover on hosts of namespaces (issue 10)
	failoverRuns     int
	failoverReplicas int
	failoverPoll     time.Duration
	// re-execution of the agent (issue 12)
	reexecInstances int
	reexecRuns      int
	noInstall       bool
	smoke           bool
	render          string // a results.json to write out again instead of measuring
}

// program is one run of tend-bench: parseFlags, run, then close.
type program struct {
	cfg    config
	args   []string
	stdout io.Writer
	stderr io.Writer
	work   string // private temp dir, removed by close
}

var allPeers = []string{"supervisord", "runit", "s6", "daemontools"}

func (p *program) parseFlags(args []string) error {
	fs := flag.NewFlagSet("tend-bench", flag.ContinueOnError)
	fs.SetOutput(p.stderr)
	c := &p.cfg
	fs.StringVar(&c.tendBin, "tend", "", "the tend `binary` to measure (default: go build ./cmd/tend into the temp dir)")
	fs.StringVar(&c.before, "tend-before", "", "also measure this older tend `binary` in the same rounds (tend's own figures only) and report both side by side")
	fs.StringVar(&c.results, "results", "bench-results", "`dir` for results.json, results.md and ratios.svg")
	fs.StringVar(&c.docs, "docs", "", "also write `dir`/benchmarks.md and dir/benchmarks.svg (make bench: docs)")
	peers := fs.String("peers", strings.Join(allPeers, ","), "the peers to compare with, comma-separated")
	fs.IntVar(&c.restarts, "restarts", 30, "restarts timed per supervisor")
	fs.IntVar(&c.reps, "reps", 3, "runs per fan-out size; fan-out, memory and stop are their medians")
	n := fs.String("n", "100,1000", "fan-out sizes, comma-separated; memory at each, idle CPU and stop at the largest")
	fs.DurationVar(&c.idle, "idle", 30*time.Second, "idle CPU window")
	fs.IntVar(&c.floorRuns, "floor-runs", 200, "fork+exec+wait runs for the floor")
	scale := fs.String("scale", "10,100,1000,5000", "scaling table sizes, comma-separated: N unit files of one sleeping replica each, plus one flapping unit")
	fs.IntVar(&c.scaleRestarts, "scale-restarts", 200, "scaling table: the flapping unit's restarts timed at each N once the fleet has settled")
	fs.DurationVar(&c.scaleTimeout, "scale-timeout", 5*time.Minute, "scaling table: the deadline of each N; the figures not taken by then are reported as timed out")
	fs.IntVar(&c.resyncs, "resyncs", 20, "scaling table: reconcile passes asked of the agent at each N (POST /v1/debug/resync)")
	fs.IntVar(&c.probeN, "probes", 1000, "tend only: instances, each with an HTTP liveness probe every second")
	fs.DurationVar(&c.probeWindow, "probe-window", 15*time.Second, "tend only: the probe CPU window (and the floor's)")
	fs.IntVar(&c.cronRuns, "cron-runs", 30, "tend only: runs of an @every 1s cron timed")
	fs.IntVar(&c.jobCompletions, "job-completions", 1000, "tend only: the throughput job's completions")
	fs.IntVar(&c.jobParallelism, "job-parallelism", 50, "tend only: the throughput job's parallelism")
	fs.IntVar(&c.fleetHosts, "fleet-hosts", 20, "tend only: agents in the fleet, gossiping on loopback with the lan profile")
	fs.IntVar(&c.fleetUnits, "fleet-units", 200, "tend only: units in the fleet")
	fs.IntVar(&c.fleetInstances, "fleet-instances", 1000, "tend only: instances in the fleet, spread over the units' replicas")
	fs.IntVar(&c.fleetApplies, "fleet-applies", 20, "tend only: unit files timed from one host's directory to every host's")
	fs.IntVar(&c.fleetKills, "fleet-kills", 3, "tend only: agents killed with SIGKILL, timed until every other shows them NotReady")
	fs.IntVar(&c.failoverRuns, "failover-runs", 20, "tend only: failovers timed on 3 hosts of network and PID namespaces (needs root), a host's link down then up each")
	fs.IntVar(&c.failoverReplicas, "failover-replicas", 6, "tend only: replicas of the failover's one unit, spread over the 3 hosts")
	fs.DurationVar(&c.failoverPoll, "failover-poll", 10*time.Millisecond, "tend only: how often the failover asks the agents' APIs what they show")
	fs.IntVar(&c.reexecInstances, "reexec-instances", goalReexecInstances, "tend only: sleeping instances (a unit file each) of the agent that re-executes itself")
	fs.IntVar(&c.reexecRuns, "reexec-runs", goalReexecRuns, "tend only: re-executions timed")
	fs.StringVar(&c.render, "render", "", "measure nothing: write the results, chart and docs again from this results.json `file`")
	fs.BoolVar(&c.noInstall, "no-install", false, "never install missing peers (with apt-get, as root)")
	fs.BoolVar(&c.smoke, "smoke", false, "tiny sizes (N=10, 3 restarts, 1 run, 2s idle, 20 floor runs; scaling table at N=10 and 100 within 1m each; 10 probed instances over 2s, 3 cron runs, a job of 20 completions 5 at a time, a fleet of 3 agents with 6 instances, 2 failovers), no install: checks that every figure is produced")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: tend-bench [flags]\n\nRuns the same workload under tend and its peers and writes tend's ratios to them.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if c.smoke {
		c.noInstall = true
		if !set["restarts"] {
			c.restarts = 3
		}
		if !set["n"] {
			*n = "10"
		}
		if !set["idle"] {
			c.idle = 2 * time.Second
		}
		if !set["floor-runs"] {
			c.floorRuns = 20
		}
		if !set["scale"] {
			*scale = "10,100"
		}
		if !set["scale-timeout"] {
			c.scaleTimeout = time.Minute
		}
		if !set["reps"] {
			c.reps = 1
		}
		if !set["probes"] {
			c.probeN = 10
		}
		if !set["probe-window"] {
			c.probeWindow = 2 * time.Second
		}
		if !set["cron-runs"] {
			c.cronRuns = 3
		}
		if !set["job-completions"] {
			c.jobCompletions = 20
		}
		if !set["job-parallelism"] {
			c.jobParallelism = 5
		}
		if !set["fleet-hosts"] {
			c.fleetHosts = 3
		}
		if !set["fleet-units"] {
			c.fleetUnits = 6
		}
		if !set["fleet-instances"] {
			c.fleetInstances = 6
		}
		if !set["fleet-applies"] {
			c.fleetApplies = 3
		}
		if !set["fleet-kills"] {
			c.fleetKills = 1
		}
		if !set["failover-runs"] {
			c.failoverRuns = 2
		}
		if !set["reexec-instances"] {
			c.reexecInstances = 10
		}
		if !set["reexec-runs"] {
			c.reexecRuns = 3
		}
	}
	var err error
	if c.ns, err = parseCounts("n", *n); err != nil {
		return err
	}
	if c.scaleNs, err = parseCounts("scale", *scale); err != nil {
		return err
	}
	c.peers = nil
	for f := range strings.SplitSeq(*peers, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !slices.Contains(allPeers, f) {
			return fmt.Errorf("-peers: unknown peer %q (known: %s)", f, strings.Join(allPeers, ", "))
		}
		c.peers = append(c.peers, f)
	}
	if c.restarts < 1 || c.reps < 1 || c.floorRuns < 1 || c.idle <= 0 {
		return errors.New("-restarts, -reps, -floor-runs and -idle must be positive")
	}
	if c.scaleRestarts < 1 || c.scaleTimeout <= 0 || c.resyncs < 1 {
		return errors.New("-scale-restarts, -scale-timeout and -resyncs must be positive")
	}
	if c.fleetHosts < 2 || c.fleetUnits < 1 || c.fleetInstances < 1 || c.fleetApplies < 1 || c.fleetKills < 1 {
		return errors.New("-fleet-hosts must be at least 2, and -fleet-units, -fleet-instances, -fleet-applies and -fleet-kills positive")
	}
	if c.failoverRuns < 1 || c.failoverPoll <= 0 {
		return errors.New("-failover-runs and -failover-poll must be positive")
	}
	if c.failoverReplicas < 3 {
		return errors.New("-failover-replicas must be at least 3, a slot or more on each of the 3 hosts")
	}
	if c.probeN < 1 || c.probeWindow <= 0 || c.cronRuns < 1 || c.jobCompletions < 1 || c.jobParallelism < 1 {
		return errors.New("-probes, -probe-window, -cron-runs, -job-completions and -job-parallelism must be positive")
	}
	p.args = args
	return nil
}

// parseCounts reads a flag's comma-separated positive counts, sorted and
// without repeats.
func parseCounts(flagName, s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v < 1 {
			return nil, fmt.Errorf("-%s: %q is not a positive count", flagName, f)
		}
		out = append(out, v)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

func newPeer(name string) peer {
	switch name {
	case "runit":
		return runitPeer{}
	case "s6":
		return s6Peer{}
	case "daemontools":
		return daemontoolsPeer{}
	default:
		return supervisordPeer{}
	}
}

func (p *program) run(ctx context.Context) error {
	c := p.cfg
	if c.render != "" {
		return p.rerender(c.render)
	}
	// Orphans of what this program starts (workloads whose supervisor
	// died) come back to it, so they can be found and stopped by pid.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("become a child subreaper: %w", err)
	}
	base, tmpfs := "/dev/shm", true
	if st, err := os.Stat(base); err != nil || !st.IsDir() {
		base, tmpfs = "", false
	}
	work, err := os.MkdirTemp(base, "tend-bench-")
	if err != nil {
		return err
	}
	p.work = work

	peers := []peer{}
	for _, name := range c.peers {
		peers = append(peers, newPeer(name))
	}
	skipped := p.install(ctx, peers)

	stamp, err := buildStamp(ctx, work)
	if err != nil {
		return err
	}
	tendBin := c.tendBin
	if tendBin == "" {
		tendBin = filepath.Join(work, "tend")
		fmt.Fprintf(p.stdout, "building tend: go build -o %s ./cmd/tend\n", tendBin)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", tendBin, "./cmd/tend")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build ./cmd/tend (run from the repository, or pass -tend): %v\n%s", err, out)
		}
	}
	if tendBin, err = filepath.Abs(tendBin); err != nil {
		return err
	}
	before := c.before
	if before != "" {
		if before, err = filepath.Abs(before); err != nil {
			return err
		}
		if st, err := os.Stat(before); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			return fmt.Errorf("-tend-before %s: not an executable file", c.before)
		}
	}

	r := results{
		Date:    time.Now(),
		Command: commandLine(p.args),
		Smoke:   c.smoke,
		Machine: machineInfo(tmpfs),
		Sizes: sizes{Restarts: c.restarts, Reps: c.reps, N: c.ns, IdleSeconds: c.idle.Seconds(), FloorRuns: c.floorRuns,
			ScaleN: c.scaleNs, ScaleRestarts: c.scaleRestarts, ScaleTimeoutSeconds: c.scaleTimeout.Seconds(), Resyncs: c.resyncs,
			ProbeN: c.probeN, ProbeWindowSeconds: c.probeWindow.Seconds(), CronRuns: c.cronRuns,
			JobCompletions: c.jobCompletions, JobParallelism: c.jobParallelism,
			FleetHosts: c.fleetHosts, FleetUnits: c.fleetUnits, FleetInstances: c.fleetInstances, FleetApplies: c.fleetApplies, FleetKills: c.fleetKills,
			FailoverRuns: c.failoverRuns, FailoverReplicas: c.failoverReplicas, FailoverPollMS: float64(c.failoverPoll) / float64(time.Millisecond),
			ReexecInstances: c.reexecInstances, ReexecRuns: c.reexecRuns},
		Later: laterMeasurements,
	}
	b := &bench{cfg: c, stamp: stamp, work: work, out: p.stdout}

	fmt.Fprintf(p.stdout, "floor: fork+exec+wait of %s, %d runs\n", stamp, c.floorRuns)
	if runs, err := measureFloor(ctx, stamp, work, c.floorRuns); err != nil {
		r.FloorError = err.Error()
	} else {
		slices.Sort(runs)
		v, v99 := percentile(runs, 0.5), percentile(runs, 0.99)
		r.FloorP50, r.FloorP99 = &v, &v99
		fmt.Fprintf(p.stdout, "  p50 %s ms, p99 %s ms\n", fmtNum(v), fmtNum(v99))
	}

	// Every supervisor gets a result, tend first; the skipped ones say why.
	// tend takes a second turn in each round with its other layout, one
	// unit of N replicas, whose figures are kept apart from the ratios.
	var run []entrant
	all := append([]peer{tendPeer{bin: tendBin}}, peers...)
	r.Supervisors = make([]supervisorResult, len(all))
	for i, pr := range all {
		res := &r.Supervisors[i]
		res.Name, res.Figures = pr.Name(), map[string]float64{}
		if why, ok := skipped[pr.Name()]; ok {
			res.Skipped = why
			fmt.Fprintf(p.stdout, "%s: skipped: %s\n", pr.Name(), why)
			continue
		}
		res.Version = version(ctx, pr)
		fmt.Fprintf(p.stdout, "%s %s\n", pr.Name(), res.Version)
		run = append(run, entrant{p: pr, r: res})
		if i == 0 {
			run = append(run, entrant{p: tendPeer{bin: tendBin, name: "tend-1unit", oneUnit: true}, r: res, replicas: true})
		}
	}
	tends := []tendRun{{bin: tendBin, name: "tend", r: &r.Supervisors[0]}}
	if before != "" {
		// The older binary takes its turns beside tend in every round.
		r.Before = &supervisorResult{Name: "tend-before", Figures: map[string]float64{}}
		r.Before.Version = version(ctx, tendPeer{bin: before})
		fmt.Fprintf(p.stdout, "tend-before %s\n", r.Before.Version)
		run = slices.Insert(run, 2,
			entrant{p: tendPeer{bin: before, name: "tend-before"}, r: r.Before},
			entrant{p: tendPeer{bin: before, name: "tend-before-1unit", oneUnit: true}, r: r.Before, replicas: true})
		tends = append(tends, tendRun{bin: before, name: "tend-before", r: r.Before})
	}
	b.runAll(ctx, run)
	b.runTendOnly(ctx, tends)
	if err := ctx.Err(); err != nil {
		return err
	}

	r.Machine.LoadAfter = loadavg()
	ms := metrics(c.ns)
	r.derive(ms)
	writeText(p.stdout, r)
	if err := p.write(r, ms); err != nil {
		return err
	}
	if miss := missingTend(ms, r); len(miss) > 0 {
		return fmt.Errorf("tend figures missing: %s", strings.Join(miss, ", "))
	}
	return nil
}

// write puts the results under the results dir, and the docs page when
// asked for.
func (p *program) write(r results, ms []metric) error {
	dir := p.cfg.results
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	var md, svg bytes.Buffer
	fmt.Fprintf(&md, "# tend-bench results\n\n")
	writeMarkdown(&md, r, "##", "ratios.svg")
	if err := writeChart(&svg, ms, r.Ratios); err != nil {
		return err
	}
	files := map[string][]byte{"results.json": append(js, '\n'), "results.md": md.Bytes(), "ratios.svg": svg.Bytes()}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(p.stdout, "\nwrote %s/{results.json,results.md,ratios.svg}\n", dir)

	if p.cfg.docs == "" {
		return nil
	}
	if err := os.MkdirAll(p.cfg.docs, 0o755); err != nil {
		return err
	}
	var doc bytes.Buffer
	writeDoc(&doc, r)
	if err := os.WriteFile(filepath.Join(p.cfg.docs, "benchmarks.md"), doc.Bytes(), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(p.cfg.docs, "benchmarks.svg"), svg.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(p.stdout, "wrote %s/benchmarks.md and %s/benchmarks.svg\n", p.cfg.docs, p.cfg.docs)
	return nil
}

// rerender writes the outputs again from a results.json, for instance
// after a change to the page's text.
func (p *program) rerender(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var r results
	if err := json.Unmarshal(data, &r); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if len(r.Sizes.N) == 0 {
		return fmt.Errorf("%s: no sizes; not a tend-bench results file", path)
	}
	ms := metrics(r.Sizes.N)
	r.derive(ms)
	r.Later = laterMeasurements
	writeText(p.stdout, r)
	return p.write(r, ms)
}

// close stops whatever is still running, by pid, and removes the temp dir.
// It is idempotent.
func (p *program) close() {
	if left := killOurs(); left != 0 {
		fmt.Fprintf(p.stderr, "tend-bench: %d processes would not die\n", left)
	}
	if p.work != "" {
		os.RemoveAll(p.work)
		p.work = ""
	}
}

// install installs the missing peers from Debian's packages when this runs
// as root and may, and returns the peers to skip with the reason.
func (p *program) install(ctx context.Context, peers []peer) map[string]string {
	skipped := map[string]string{}
	var missing []peer
	for _, pr := range peers {
		if !installed(pr) {
			missing = append(missing, pr)
		}
	}
	if len(missing) == 0 {
		return skipped
	}
	why := ""
	switch {
	case p.cfg.noInstall:
		why = "not installed (and -no-install)"
	case os.Geteuid() != 0:
		why = "not installed, and installing needs root"
	default:
		if _, err := exec.LookPath("apt-get"); err != nil {
			why = "not installed, and there is no apt-get here"
		}
	}
	if why != "" {
		for _, pr := range missing {
			skipped[pr.Name()] = fmt.Sprintf("%s; install Debian package %q", why, pr.Package())
		}
		return skipped
	}
	fmt.Fprintln(p.stdout, "apt-get update")
	if err := apt(ctx, p.stdout, "update", "-qq"); err != nil {
		fmt.Fprintf(p.stdout, "  apt-get update failed (%v); trying the install anyway\n", err)
	}
	for _, pr := range missing {
		fmt.Fprintf(p.stdout, "apt-get install %s\n", pr.Package())
		if err := apt(ctx, p.stdout, "install", "-y", "-qq", "--no-install-recommends", pr.Package()); err != nil {
			skipped[pr.Name()] = fmt.Sprintf("apt-get install %s failed: %v", pr.Package(), err)
			continue
		}
		if !installed(pr) {
			skipped[pr.Name()] = fmt.Sprintf("package %s installed but %s still missing", pr.Package(), strings.Join(pr.Programs(), ", "))
		}
	}
	return skipped
}

func installed(pr peer) bool {
	for _, prog := range pr.Programs() {
		if _, err := exec.LookPath(prog); err != nil {
			return false
		}
	}
	return true
}

func apt(ctx context.Context, out io.Writer, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "apt-get", args...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	if err != nil {
		out.Write(buf.Bytes())
	}
	return err
}

// version is the peer's Debian package version, or tend's own.
func version(ctx context.Context, pr peer) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var out []byte
	if pr.Package() == "" {
		out, _ = exec.CommandContext(ctx, pr.Programs()[0], "version").Output()
	} else {
		out, _ = exec.CommandContext(ctx, "dpkg-query", "-W", "-f", "${Version}", pr.Package()).Output()
	}
	s := strings.TrimSpace(string(out))
	s = strings.TrimPrefix(s, "Client Version: ")
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

func machineInfo(tmpfs bool) machine {
	m := machine{CPUs: runtime.NumCPU(), Go: runtime.Version(), Tmpfs: tmpfs, LoadBefore: loadavg()}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.Model = strings.TrimSpace(v)
				break
			}
		}
	}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	return m
}

// loadavg is the 1, 5 and 15 minute load averages.
func loadavg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func commandLine(args []string) string {
	return strings.TrimSpace("tend-bench " + strings.Join(args, " "))
}
