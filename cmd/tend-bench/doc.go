package main

import (
	"fmt"
	"io"
	"strings"
)

// docIntro is the fixed part of docs/benchmarks.md: what is measured and
// how.
const docIntro = `# Benchmarks: tend beside supervisord, runit, s6 and daemontools

This page is written by ` + "`make bench`" + ` (cmd/tend-bench with ` + "`-docs docs`" + `);
rerun it to refresh the figures, or write it again from the last run without
measuring: ` + "`bin/tend-bench -render bench-results/results.json -docs docs`" + `.
Absolute times drift on shared machines, so what counts is tend's figure over
each peer's, measured in the same run on the same machine and clock.

## How it measures

- **Workload**: a tiny static C program, ` + "`stamp FILE exit|ok|sleep|http:PORT`" + `,
  that appends its CLOCK_MONOTONIC and CLOCK_REALTIME start times (ns) to FILE
  first thing, then exits 1, exits 0, sleeps until a signal, or answers every
  HTTP request on 127.0.0.1:PORT with a fixed 200 (SO_REUSEPORT, so a thousand
  copies share the port). The times come from the workload itself, not from
  polling a supervisor. runit, s6 and daemontools run it as ` + "`./run`" + ` (a
  symlink to the binary, so no shell sits in between); supervisord and tend run
  it as a command with arguments.
- **Supervisors**: each is started by hand on a private directory on tmpfs
  (/dev/shm, as /run is in real deployments): ` + "`runsvdir DIR`" + `, ` + "`s6-svscan DIR`" + `,
  ` + "`svscan DIR`" + `, ` + "`supervisord -n -c DIR/supervisord.conf`" + ` (private unix socket,
  no inet server, ` + "`autorestart=true startsecs=0`" + `), and ` + "`tend agent --dev`" + `
  (` + "`restart_delay = \"0s\"`" + `, and ` + "`start_limit_interval = \"0s\"`" + ` so that the
  crash-loop brake lets it flap as the peers do). Missing peers are installed from Debian's packages
  when run as root; the system's init and services are never used. The scan
  directories' mtime is set an hour back, as if laid out at boot: runsvdir
  otherwise takes a directory changed in the current second as still changing
  and starts its services a second late.
- **restart p50/p99**: the workload exits 1 at once; the gaps between its
  consecutive starts. runsv, s6-supervise and supervise throttle a service to
  one start a second and that cannot be turned off: that is the comparison.
- **fan-out N**: from starting the supervisor to the N-th workload start.
  Fan-out, memory and stop are single events, so each is the median of three
  runs (` + "`-reps`" + `). Each supervisor gets the N workloads laid out its
  usual way: a service directory each (runit, s6, daemontools), one
  ` + "`[program]`" + ` with ` + "`numprocs = N`" + ` (supervisord), and for tend N unit
  files of one replica each (` + "`kind = \"replicated\"`" + `, ` + "`replicas = 1`" + `,
  labels of its own), as users load it. That is the like-for-like layout,
  the one behind tend's fan-out, memory, idle CPU and stop figures and the
  goals that compare them with the peers. tend's other layout, one unit of
  N replicas, takes its turn in the same rounds and is shown among the
  tend-only figures.
- **memory PSS N**: the supervisor side only, every one of its processes
  (runsvdir and each runsv; s6-svscan and each s6-supervise; svscan and each
  supervise; supervisord; tend's agent), summed from /proc/PID/smaps_rollup
  once their CPU time has stopped growing.
- **idle CPU N**: the supervisor side's on-CPU time while N workloads sleep,
  summed over every thread from /proc/PID/task/TID/schedstat (the 10 ms ticks
  of /proc/PID/stat are too coarse), in ms per minute.
- **stop N**: from "stop all" to the last workload's exit, watched with
  pidfds. Stop all is the fastest each offers: ` + "`sv down`" + ` on every service
  (runit), ` + "`s6-svscanctl -t`" + ` (s6), SIGTERM to svscan then ` + "`svc -dx`" + ` on every
  service (daemontools), SIGTERM to supervisord, SIGTERM to tend's agent.
  (` + "`supervisorctl stop all`" + ` was slower than SIGTERM to supervisord here: 1.2 s
  against 0.8 s for 100; both wait on its one-second loop.)
- **floor**: fork+exec+wait of the static workload, p50 and p99, what the
  kernel allows on this machine; the restart gap goals show it beside them.
- **scaling with the number of units** (issue 8, BenchmarkManyUnits; tend
  only, as no peer has a loop whose cost could grow with its services):
  for each N (10, 100,
  1000 and 5000; ` + "`-scale`" + `), N unit files of one sleeping replica each, as
  above, plus one unit that flaps: its workload exits at once and
  ` + "`restart_delay = \"0s\"`" + ` (the brake off, as above). **start-all** is from the agent's start to the
  N-th sleeping workload's start. Once all N run and a second more has
  passed, the flapping unit's next 200 restarts (` + "`-scale-restarts`" + `) are
  timed from its own stamps: the **restart gap** p50 and p99 are the gaps
  between its consecutive starts, so they carry whatever the agent's loop
  does for the other N units on each event. **agent PSS** is the agent
  process's, read after the gaps (the agent alone: a child forked for the
  flapping unit and not yet exec'd shares its memory). **One reconcile
  pass** is the agent's own time for a pass over every unit, asked 20 times
  (` + "`-resyncs`" + `) with ` + "`POST /v1/debug/resync`" + ` on its unix socket, which answers
  once the pass is done with ` + "`{\"pass_ns\", \"units\", \"instances\"}`" + `; an
  agent without that endpoint (404) shows n/a. Each N has a deadline
  (` + "`-scale-timeout`" + `, 5 minutes): what it does not reach is shown as a
  timeout, and with at least 20 gaps by then the gaps taken are used (the
  count is in the table). How each figure grows is the exponent of a
  least-squares fit of log(figure) against log(N), and 10 to that power is
  its growth per ten times the units.
- **tend only** (no peer has these features, so there are no ratios; each
  mirrors its Go benchmark in cmd/tend and is shown next to its issue's goal):
  - **probe CPU** (issue 3, BenchmarkProbeCPU1000): 1000 instances of
    ` + "`stamp FILE http:PORT`" + `, each with ` + "`[template.liveness] http_get`" + ` on that
    port every 1 s; the agent's on-CPU time (schedstat) over a 15 s window,
    as a percentage of one core, and its system-time part. The run checks
    that no instance restarted and that the machine accepted about 1000
    connections a second meanwhile, then samples that count every
    millisecond for two seconds to see when within the second the probes
    connect, and how many of them the busiest tenth of the second holds.
    That is the **bursty** case: one unit of 1000 replicas, all started
    and so all probed at once. The **spread** case (issue 8) is probed as
    real fleets are: 1000 unit files of one replica each (an initial delay
    is a unit's, so the units must be apart), unit k's
    ` + "`initial_delay`" + ` a different k·period/1000, handed out in a golden-ratio
    stride so that however the agent's start order falls over the second
    the first probes, and so all later ones, fall evenly across it; the
    case fails rather than report a figure if the busiest tenth of the
    second holds over 25% of the connections (evenly: 10%). Each case
    gives the agent's CPU, its RSS and PSS meanwhile. **Floor**: with the
    agent gone, tend-bench starts 1000 servers itself and, from its own Go
    process, makes the same number of connections a second at the bursty
    case's moments: connect+close alone, then a bare HTTP GET on each; then
    the same GETs spread evenly over the second, the spread case's floor.
  - **cron start lag** (issue 4, BenchmarkCronStartLag): an ` + "`@every 1s`" + `
    cron unit (` + "`successful_history = 1`" + `) whose runs exit 0 at once; each
    run's lag is its workload's CLOCK_REALTIME start minus the whole second
    it was scheduled for; p50 and p99 over 30 runs, the first run (the one
    the agent's start fell into) skipped. Consecutive runs must start in
    consecutive seconds, or the run fails rather than misread a lag of a
    second or more.
  - **job throughput** (issue 4, BenchmarkJob1000): ` + "`kind = \"job\"`" + `,
    completions = 1000, parallelism = 50, ` + "`restart = \"never\"`" + `, a workload
    that exits 0 at once; the figure is the job's duration as the agent
    records it (start_time to completion_time of
    ` + "`tend get job NAME -o json`" + `, which must say Complete with 1000
    succeeded), read every 100 ms.
  - **failover** (issue 10; needs root, and fails saying so without it):
    three hosts made of network and PID namespaces (cluster/clustertest:
    each agent is PID 1 of its own host, with its own address on a bridge
    of its own in 192.0.2.0/24, so nothing leaves the namespaces the run
    made), the lan profile, and one replicated unit of 6 replicas
    (` + "`-failover-replicas`" + `) of the sleeping workload, applied once the
    three have formed a fleet so that each host holds 2. Each of 20 runs
    (` + "`-failover-runs`" + `) waits until every host has shown, for a second,
    every host Ready and exactly 6 instances, all running; then takes one
    host's link down (` + "`ip link set dev eth0 down`" + ` inside it, the seed's
    experiment of section 4.2.3; the hosts take turns). **Failover** is
    from just before that command to the moment the next host shows 6
    instances running on hosts other than the victim, asked every 10 ms
    (` + "`-failover-poll`" + `). Its parts: **detection**, until that host shows
    the victim NotReady, taken from that host's own record of when it saw
    it (its Ready condition's ` + "`lastTransitionTime`" + ` in ` + "`tend get hosts -o json`" + `), and the **replacements' start**,
    until the last replacement process started, as the host that runs it
    recorded it; what is left is the news of that start reaching the host
    that shows it, and the look. The link stays down until the victim,
    alone on its side, runs all 6 itself, so that both sides of the
    partition have acted; then it comes back. **Heal** is from the link
    coming back until all three hosts show, in one round of looks, every
    host Ready and exactly 6 instances, all running (the duplicates of
    both sides stopped). p99 over 20 runs is the slowest. Looking costs:
    tend-bench's own CPU while it looked, the three agents' CPU (which
    includes answering the looks) and the machine's busy share over the
    timed windows are shown beside the figures. On a 2-CPU machine,
    asking every 10 ms rather than every 100 ms took about 8% of a core
    more for tend-bench and 6% more for the agents (the machine 18% busy
    against 9%), and moved detection, which the agents time themselves,
    no more than its spread from run to run (p50 1067 ms against 1027 ms;
    0.8 to 1.4 s in both). Every host is a voter of the fence
    (` + "`cluster.voters`" + `); after the replicated runs, an **exclusive** unit of
    one replica of the same workload is applied, and as many times again
    its holder's link goes down once the fleet has settled with it
    running on one host: **exclusive failover** is until the next host
    shows it running on another host. The fence makes that wait W (2.2 s)
    after the holder's last acknowledged heartbeat.
- **Before and after** (` + "`-tend-before OLD`" + `, or ` + "`make bench TEND_BEFORE=OLD`" + `,
  with a tend binary built from an older commit): tend's own measurements (restart latency, fan-out,
  memory, idle CPU and stop with N unit files and with one unit of N
  replicas, the scaling table, and both probe cases) are taken for both
  binaries, taking turns in the same rounds, and shown side by side with
  the newer one's figure over the older's; the peers are not run again.
- **Fairness**: the supervisors take turns within each round, so other work on
  the machine falls on all of them alike; the page gives the load averages and
  the machine's busy share during each idle window so a skewed run shows.

`

// writeDoc writes docs/benchmarks.md: the method, the machine and command,
// the misses said plainly, then every table.
func writeDoc(w io.Writer, r results) {
	io.WriteString(w, docIntro)
	fmt.Fprintf(w, "## Latest figures\n\n")
	if r.Smoke {
		fmt.Fprintf(w, "Made by a smoke run, `bin/%s`: tiny sizes that check every figure is produced, not how fast tend is; `make bench` measures at full size.\n\n", r.Command)
	} else {
		fmt.Fprintf(w, "Made by `make bench`, that is `bin/%s`.\n\n", r.Command)
	}

	var missed []string
	for _, g := range r.Goals {
		if g.Met != nil && !*g.Met {
			missed = append(missed, fmt.Sprintf("- **%s**: missed. %s.", g.Goal, g.Measured))
		}
	}
	if len(missed) > 0 {
		fmt.Fprintf(w, "Where tend misses a goal of issue 5 in this run:\n\n%s\n\n", strings.Join(missed, "\n"))
	} else {
		fmt.Fprintf(w, "tend met every goal of issue 5 that this run could check.\n\n")
	}
	missed = nil
	for _, g := range r.TendGoals {
		if g.Met != nil && !*g.Met {
			item := fmt.Sprintf("- **%s**: missed. %s.", g.Goal, g.Measured)
			if strings.HasPrefix(g.Goal, "probe CPU") && strings.HasSuffix(g.Goal, "(issue 3)") && len(r.Supervisors) > 0 {
				if why := probeWhy(r.Supervisors[0], r.Sizes); why != "" {
					item += " Why: " + why
				}
			}
			missed = append(missed, item)
		}
	}
	if len(missed) > 0 {
		fmt.Fprintf(w, "Where tend misses a goal of its own features (issues 3, 4, 8, 9 and 10; no peer has them):\n\n%s\n\n", strings.Join(missed, "\n"))
	} else if len(r.TendGoals) > 0 {
		fmt.Fprintf(w, "tend met every goal of its own features (issues 3, 4, 8, 9 and 10) that this run could check.\n\n")
	}
	missed = nil
	for _, g := range r.ScaleGoals {
		if g.Met != nil && !*g.Met {
			missed = append(missed, fmt.Sprintf("- **%s**: missed. %s.", g.Goal, g.Measured))
		}
	}
	if len(missed) > 0 {
		fmt.Fprintf(w, "Where tend misses a goal of issue 8 (many units):\n\n%s\n\n", strings.Join(missed, "\n"))
	} else if len(r.ScaleGoals) > 0 {
		fmt.Fprintf(w, "tend met every goal of issue 8 (many units) that this run could check.\n\n")
	}
	if b := behind(r); len(b) > 0 {
		fmt.Fprintf(w, "Where tend's figure is above a peer's, goal or not:\n\n%s\n\n", strings.Join(b, "\n"))
	}
	writeMarkdown(w, r, "###", "benchmarks.svg")
}

// behind lists, as Markdown items, every figure where tend does worse than
// a peer.
func behind(r results) []string {
	if len(r.Supervisors) == 0 {
		return nil
	}
	units := map[string]string{}
	for _, m := range metrics(r.Sizes.N) {
		units[m.ID] = m.Unit
	}
	var out []string
	for _, x := range r.Ratios {
		if x.Value == nil || *x.Value <= 1 {
			continue
		}
		var peerV float64
		for _, p := range r.Supervisors {
			if p.Name == x.Peer {
				peerV = p.Figures[x.Metric]
			}
		}
		out = append(out, fmt.Sprintf("- %s: tend %s %s, %s %s %s (tend/%s = %s)", x.Title,
			fmtNum(r.Supervisors[0].Figures[x.Metric]), units[x.Metric], x.Peer, fmtNum(peerV), units[x.Metric], x.Peer, fmtRatio(*x.Value)))
	}
	return out
}
