package cluster

import (
	"flag"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

var (
	fenceSchedules = flag.Int("fence.schedules", 0, "random schedules TestFenceNeverRunsTwice simulates (0: 1000, 100 with -short)")
	fenceSeed      = flag.Uint64("fence.seed", 0, "simulate only this schedule, with a trace")
)

// maxLate is the latest a holder may act on its lease's Until:
// Heartbeat·(1−ρ)/(1+ρ), less a microsecond.
func maxLate(p FenceParams) time.Duration {
	return time.Duration(float64(p.Heartbeat)*(1-p.Rho)/(1+p.Rho)) - time.Microsecond
}

// randomSchedule is the world of one random schedule: 2 to 5 hosts, all
// or some of them voters, clocks off by up to ρ each way and changing
// rate, holders as late as they may be, messages delayed from nothing to
// 6 s, lost, duplicated; partitions of every shape, one way and both,
// and hosts crashing and rebooting. A hostile world has every host
// claiming whenever it may, the network reshaped every second or so and
// more of its messages late.
func randomSchedule(seed uint64, hostile bool) (simConfig, func(*sim)) {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	p := DefaultFenceParams()
	n := 2 + r.IntN(4)
	hosts := make([]string, n)
	for i := range hosts {
		hosts[i] = string(rune('a' + i))
	}
	var voters []string
	if r.IntN(4) == 0 {
		for _, h := range hosts {
			if r.IntN(2) == 0 {
				voters = append(voters, h)
			}
		}
		if len(voters) == 0 {
			voters = hosts[:1]
		}
	}
	w := p.W()
	cfg := simConfig{
		hosts:   hosts,
		voters:  voters,
		params:  p,
		horizon: 30 * time.Second,
		loss:    r.Float64() * 0.1,
		dup:     r.Float64() * 0.05,
		giveUp:  w + time.Duration(r.Int64N(int64(4*w))),
	}
	if r.IntN(2) == 0 {
		cfg.initialHolder = hosts[r.IntN(n)]
	}
	if r.IntN(3) == 0 {
		cfg.claimProb = 0.3
	}
	backoff := time.Duration(r.Int64N(int64(2 * time.Second)))
	if hostile {
		cfg.claimProb, backoff = 0, 0
	}
	cfg.backoff = func(r *rand.Rand) time.Duration { return time.Duration(r.Int64N(int64(backoff) + 1)) }

	rho := p.Rho
	switch r.IntN(3) {
	case 0: // on time
	case 1:
		cfg.rate = func(r *rand.Rand) float64 { return 1 - rho + 2*rho*r.Float64() }
	case 2: // the extremes only: the worst case is there
		cfg.rate = func(r *rand.Rand) float64 { return 1 - rho + 2*rho*float64(r.IntN(2)) }
	}
	if r.IntN(2) == 0 {
		cfg.segment = func(r *rand.Rand) time.Duration { return time.Duration(r.Int64N(int64(5 * time.Second))) }
	}
	late := maxLate(p)
	switch r.IntN(3) {
	case 0:
	case 1:
		cfg.lateness = func(r *rand.Rand) time.Duration { return time.Duration(r.Int64N(int64(late) + 1)) }
	case 2:
		cfg.lateness = func(*rand.Rand) time.Duration { return late }
	}
	long := 0.01 + r.Float64()*0.09
	if hostile {
		long = 0.1 + r.Float64()*0.2
	}
	cfg.delay = func(r *rand.Rand) time.Duration {
		switch x := r.Float64(); {
		case x < long/5:
			return 500*time.Millisecond + time.Duration(r.Int64N(int64(5500*time.Millisecond)))
		case x < long:
			return 5*time.Millisecond + time.Duration(r.Int64N(int64(500*time.Millisecond)))
		default:
			return time.Duration(r.Int64N(int64(5 * time.Millisecond)))
		}
	}

	partitionMean := time.Duration(500+r.IntN(20000)) * time.Millisecond
	if hostile {
		partitionMean = time.Duration(300+r.IntN(2000)) * time.Millisecond
	}
	crashMean := []time.Duration{0, 10 * time.Second, 30 * time.Second}[r.IntN(3)]
	install := func(s *sim) {
		for t := time.Duration(0); ; {
			t += time.Duration(r.ExpFloat64() * float64(partitionMean))
			if t > cfg.horizon {
				break
			}
			shape := r.IntN(6)
			victim := hosts[r.IntN(n)]
			group := map[string]bool{}
			for _, h := range hosts {
				group[h] = r.IntN(2) == 0
			}
			cuts := map[[2]string]bool{}
			for _, a := range hosts {
				for _, b := range hosts {
					if a == b {
						continue
					}
					switch shape {
					case 0: // healed
					case 1: // one host cut off
						cuts[[2]string{a, b}] = a == victim || b == victim
					case 2: // one host deaf
						cuts[[2]string{a, b}] = b == victim
					case 3: // one host mute
						cuts[[2]string{a, b}] = a == victim
					case 4: // two sides
						cuts[[2]string{a, b}] = group[a] != group[b]
					case 5: // any links, either way
						cuts[[2]string{a, b}] = r.IntN(3) == 0
					}
				}
			}
			s.at(t, func() {
				s.cut = cuts
				s.logf("network: %v", cuts)
			})
		}
		if crashMean == 0 {
			return
		}
		for _, name := range hosts {
			h := s.byName[name]
			for t := time.Duration(0); ; {
				t += time.Duration(r.ExpFloat64() * float64(crashMean))
				if t > cfg.horizon {
					break
				}
				down := time.Duration(r.Int64N(int64(4 * time.Second)))
				if r.IntN(4) == 0 {
					down = time.Duration(r.Int64N(int64(10 * time.Millisecond))) // a quick reboot
				}
				s.at(t, func() { s.crash(h) })
				s.at(t+down, func() {
					if !h.up {
						s.bootHost(h)
					}
				})
				t += down
			}
		}
	}
	return cfg, install
}

// TestFenceNeverRunsTwice is the fence's safety, property-tested: over
// many random schedules, no two instances are ever alive at once.
func TestFenceNeverRunsTwice(t *testing.T) {
	if *fenceSeed != 0 {
		runSchedule(t, *fenceSeed, true)
		return
	}
	n := *fenceSchedules
	if n == 0 {
		n = 1000
		if testing.Short() {
			n = 100
		}
	}
	var starts, events, messages, superseded int
	var up, total time.Duration
	for i := range n {
		seed := uint64(i + 1)
		s, runs, ok := runSchedule(t, seed, false)
		if !ok {
			return
		}
		starts += len(runs)
		events += s.events
		messages += s.messages
		superseded += s.superseded
		up += uptime(runs, 0, s.cfg.horizon)
		total += s.cfg.horizon
	}
	t.Logf("%d schedules, %v simulated: %d starts, an instance up %.1f%% of the time, %d events, %d messages", n, total, starts, 100*float64(up)/float64(total), events, messages)
	if superseded != 0 {
		// A holder hearing of a rightful holder beside it would be two
		// holders at once, even if the kill grace hid it from overlap.
		t.Errorf("%d holders stopped on hearing of a rightful one", superseded)
	}
}

// runSchedule simulates one random schedule, and on two instances at
// once fails with the end of its trace, simulating it again to have one.
func runSchedule(t *testing.T, seed uint64, trace bool) (*sim, []simRun, bool) {
	t.Helper()
	simulate := func(trace bool) (*sim, []simRun) {
		cfg, install := randomSchedule(seed, seed%2 == 0)
		s := newSim(cfg, seed)
		s.tracing = trace
		install(s)
		return s, s.run()
	}
	s, runs := simulate(trace)
	if trace {
		t.Logf("schedule %d: %+v\n%s", seed, s.cfg, s.traceTail(5000))
		for _, r := range runs {
			t.Log(r)
		}
	}
	if a, b, found := overlap(runs); found {
		again, _ := simulate(true)
		t.Errorf("schedule %d (-fence.seed=%d): two at once: %v and %v\n%s", seed, seed, a, b, again.traceTail(300))
		return s, runs, false
	}
	return s, runs, true
}

// A schedule is its seed: simulated twice, it runs alike, so that
// -fence.seed replays a failure.
func TestFenceSimulatorIsDeterministic(t *testing.T) {
	for _, seed := range []uint64{7, 8, 1234} {
		var runs [2][]simRun
		var events [2]int
		for i := range runs {
			cfg, install := randomSchedule(seed, seed%2 == 0)
			s := newSim(cfg, seed)
			install(s)
			runs[i], events[i] = s.run(), s.events
		}
		if !slices.Equal(runs[0], runs[1]) || events[0] != events[1] {
			t.Errorf("schedule %d: %v (%d events), then %v (%d)", seed, runs[0], events[0], runs[1], events[1])
		}
	}
}

// The simulator must catch a broken rule, or its silence proves nothing:
// each mutation here makes two instances run at once within a few
// hundred random schedules.
func TestFenceSimulatorCatchesBrokenRules(t *testing.T) {
	short := DefaultFenceParams()
	short.KillGrace = time.Millisecond // W too short by about a second
	for _, c := range []struct {
		name   string
		mutate func(*simConfig)
	}{
		{"claimants with a W that leaves out the kill grace", func(c *simConfig) { c.claimParams = &short }},
		{"voters that acknowledge an old holder after promising", func(c *simConfig) { c.voterForgets = true }},
		{"claimants that start without a lease of their own", func(c *simConfig) { c.claimIgnoresLease = true }},
	} {
		t.Run(c.name, func(t *testing.T) {
			for i := range 2000 {
				seed := uint64(i + 1)
				cfg, install := randomSchedule(seed, true)
				c.mutate(&cfg)
				s := newSim(cfg, seed)
				install(s)
				if a, b, found := overlap(s.run()); found {
					t.Logf("caught at schedule %d: %v and %v", seed, a, b)
					return
				}
			}
			t.Error("not caught in 2000 schedules")
		})
	}
}

// TestFenceSettles: the rule is not safe by never starting anything. In
// a quiet world (no loss, no partitions, no crashes; clocks, delays and
// lateness as random as ever) of three to five voters, an instance runs
// from 10 s on, the hosts having started all at once with no holder, or
// with one.
func TestFenceSettles(t *testing.T) {
	var up, total time.Duration
	for i := range 200 {
		seed := uint64(i + 1)
		cfg, _ := randomSchedule(seed, false)
		if len(cfg.hosts) < 3 || cfg.voters != nil {
			continue
		}
		cfg.loss, cfg.dup = 0, 0
		runs := newSim(cfg, seed).run()
		mustNotOverlap(t, runs)
		u := uptime(runs, 10*time.Second, cfg.horizon)
		up += u
		total += cfg.horizon - 10*time.Second
		if u < cfg.horizon-10*time.Second {
			t.Errorf("schedule %d: an instance up %v of the last %v: %v", seed, u, cfg.horizon-10*time.Second, runs)
		}
	}
	if total == 0 {
		t.Fatal("no schedule of three voters or more")
	}
}

// scripted is a quiet fleet for the scenarios below: clocks on time,
// 1 ms between hosts, no loss.
func scripted(hosts ...string) simConfig {
	return simConfig{
		hosts:   hosts,
		params:  DefaultFenceParams(),
		horizon: 60 * time.Second,
		delay:   func(*rand.Rand) time.Duration { return time.Millisecond },
	}
}

func mustNotOverlap(t *testing.T, runs []simRun) {
	t.Helper()
	if a, b, found := overlap(runs); found {
		t.Fatalf("two at once: %v and %v", a, b)
	}
}

// TestFenceFailsOver: the holder's host dies; another host starts the
// instance about W after the holder's last heartbeat, never before the
// old instance is dead.
func TestFenceFailsOver(t *testing.T) {
	var took []time.Duration
	for seed := uint64(1); seed <= 20; seed++ {
		cfg := scripted("a", "b", "c")
		cfg.initialHolder = "a"
		s := newSim(cfg, seed)
		s.at(10*time.Second, func() { s.crash(s.byName["a"]) })
		runs := s.run()
		mustNotOverlap(t, runs)
		if len(runs) != 2 || runs[0].host != "a" || runs[0].end != 10*time.Second || runs[1].host == "a" || runs[1].end != simNever {
			t.Fatalf("seed %d: runs %v", seed, runs)
		}
		took = append(took, runs[1].start-10*time.Second)
	}
	slices.Sort(took)
	p50, worst := took[len(took)/2], took[len(took)-1]
	t.Logf("failover from the holder's death: p50 %v, max %v (W = %v)", p50, worst, DefaultFenceParams().W())
	// The last heartbeat the voters heard came at most a heartbeat
	// before the death; they needed W of silence since.
	w, hb := DefaultFenceParams().W(), DefaultFenceParams().Heartbeat
	if took[0] < w-hb || worst > w+hb/2 {
		t.Errorf("failover took from %v to %v, want within [W − heartbeat, W + heartbeat/2]", took[0], worst)
	}
}

// TestFenceAsymmetricPartition: A–B and B–C up, A–C cut, A holding. C
// hears nothing from A, but B does, so B keeps promising itself to A: A
// keeps its quorum {A, B} and runs throughout, and C never starts,
// however long it claims. Cut one way only, the same.
func TestFenceAsymmetricPartition(t *testing.T) {
	for _, c := range []struct {
		name      string
		aTo, cToA bool
	}{{"both ways", true, true}, {"A to C only", true, false}, {"C to A only", false, true}} {
		t.Run(c.name, func(t *testing.T) {
			cfg := scripted("a", "b", "c")
			cfg.initialHolder = "a"
			cfg.horizon = 120 * time.Second
			s := newSim(cfg, 1)
			s.at(5*time.Second, func() { s.setCut("a", "c", c.aTo); s.setCut("c", "a", c.cToA) })
			s.at(90*time.Second, func() { s.setCut("a", "c", false); s.setCut("c", "a", false) })
			runs := s.run()
			if len(runs) != 1 || runs[0].host != "a" || runs[0].end != simNever {
				t.Errorf("runs %v, want a's alone, throughout", runs)
			}
			if c.aTo && s.byName["c"].claimed == 0 {
				t.Error("c never claimed: the scenario tested nothing")
			}
		})
	}
}

// TestFenceWorstCaseIsTight: the holder's clock as slow as ρ allows, the
// voters' and the claimant's as fast, no network delay, and the holder
// as late on its deadline as the fence allows: the claimant starts the
// instant after the old one is dead, a microsecond later. Clocks off by
// 2ρ, or a holder a whole heartbeat late, and the two overlap: the
// bound is where the fence says it is.
func TestFenceWorstCaseIsTight(t *testing.T) {
	p := DefaultFenceParams()
	for _, c := range []struct {
		name    string
		rho     float64
		late    time.Duration
		overlap bool
	}{
		{"at the bounds", p.Rho, maxLate(p), false},
		{"clocks off by 2ρ", 2 * p.Rho, maxLate(p), true},
		{"a holder a heartbeat late", p.Rho, p.Heartbeat, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, cutAt := range []time.Duration{10 * time.Second, 10*time.Second + 77*time.Millisecond, 10*time.Second + 199*time.Millisecond} {
				cfg := scripted("a", "b", "c")
				cfg.delay = nil
				cfg.initialHolder = "a"
				cfg.claimants = []string{"c"}
				slow := map[bool]float64{true: 1 - c.rho, false: 1 + c.rho}
				booted := 0
				cfg.rate = func(*rand.Rand) float64 { booted++; return slow[booted == 1] } // a boots first
				cfg.lateness = func(*rand.Rand) time.Duration { return c.late }
				s := newSim(cfg, 1)
				s.at(cutAt, func() { s.isolate("a", true) })
				runs := s.run()
				if len(runs) != 2 || runs[0].host != "a" || runs[1].host != "c" {
					t.Fatalf("cut at %v: runs %v", cutAt, runs)
				}
				gap := runs[1].start - runs[0].end
				t.Logf("cut at %v: a dead at %v, c started at %v: gap %v", cutAt, runs[0].end, runs[1].start, gap)
				if c.overlap {
					if gap >= 0 {
						t.Errorf("cut at %v: c started %v after a died, want before", cutAt, gap)
					}
					continue
				}
				if gap < 0 || gap > 2*time.Microsecond {
					t.Errorf("cut at %v: c started %v after a died, want within [0, 2µs]", cutAt, gap)
				}
			}
		})
	}
}

// TestFenceTwoHostFleet: with two hosts, q = 2, so when the holder dies
// the survivor never starts by itself; an operator's release lets it
// start, W after the release; and the released host, when it comes
// back, does not start beside it.
func TestFenceTwoHostFleet(t *testing.T) {
	cfg := scripted("a", "b")
	cfg.initialHolder = "a"
	cfg.horizon = 10 * time.Minute
	s := newSim(cfg, 1)
	s.at(5*time.Second, func() { s.crash(s.byName["a"]) })
	runs := s.run()
	if len(runs) != 1 || runs[0].host != "a" || runs[0].end != 5*time.Second {
		t.Fatalf("runs %v, want a's alone, until it died", runs)
	}
	if s.byName["b"].claimed == 0 {
		t.Fatal("b never claimed: the scenario tested nothing")
	}

	w := cfg.params.W()
	cfg.horizon = 5 * time.Minute
	s = newSim(cfg, 1)
	s.at(5*time.Second, func() { s.crash(s.byName["a"]) })
	s.at(30*time.Second, func() { s.rel = &simRelease{rel: FenceRelease{Unit: "u", Holder: "a", Epoch: 1}, at: 30 * time.Second} })
	s.at(2*time.Minute, func() { s.bootHost(s.byName["a"]) })
	runs = s.run()
	mustNotOverlap(t, runs)
	if len(runs) != 2 || runs[1].host != "b" || runs[1].end != simNever {
		t.Fatalf("runs %v, want a's then b's for good", runs)
	}
	if start := runs[1].start; start < 30*time.Second+w || start > 30*time.Second+w+cfg.params.Heartbeat {
		t.Errorf("b started at %v, want W (%v) after the release at 30s, within a heartbeat", start, w)
	}
}

// TestFenceRebootedHolder: the holder's host reboots in 10 ms. The old
// instance died with it; the new one starts W after the last heartbeat
// at the earliest, and on a, not before W after its boot.
func TestFenceRebootedHolder(t *testing.T) {
	w := DefaultFenceParams().W()
	for seed := uint64(1); seed <= 20; seed++ {
		cfg := scripted("a", "b", "c")
		cfg.initialHolder = "a"
		cfg.claimants = []string{"a"} // only a: it must wait out its boot
		s := newSim(cfg, seed)
		a := s.byName["a"]
		s.at(10*time.Second, func() { s.crash(a) })
		s.at(10*time.Second+10*time.Millisecond, func() { s.bootHost(a) })
		runs := s.run()
		mustNotOverlap(t, runs)
		if len(runs) != 2 || runs[1].host != "a" {
			t.Fatalf("seed %d: runs %v", seed, runs)
		}
		if boot := 10*time.Second + 10*time.Millisecond; runs[1].start < boot+w {
			t.Errorf("seed %d: a started again at %v, less than W after its boot at %v", seed, runs[1].start, boot)
		}
	}
}
