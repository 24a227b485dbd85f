package main

// The scaling table of issue 8: how tend's costs grow with the number of
// units, loaded the way users load it. For each N, N unit files of one
// sleeping replica each and one more unit that flaps (its workload exits
// at once, restart_delay = "0s", the crash-loop brake off); the figures are the flapping unit's
// restart gaps once the fleet has settled, the time to start all N, the
// agent's memory, and the time of one reconcile pass as the agent reports
// it.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"time"
)

// Kinds of the scaling table's figures; the figure of kind k at size n is
// scaleID(k, n) in tend's Figures.
const (
	scaleGapP50   = "gap_p50"   // ms between consecutive starts of the flapping unit, p50
	scaleGapP99   = "gap_p99"   // the same, p99
	scaleGaps     = "gaps"      // how many gaps were timed
	scaleStartAll = "start_all" // s from the agent's start to the N-th sleeping workload's start
	scalePSS      = "pss"       // MiB, the agent process
	scalePSSFile  = "pss_file"  // MiB of it in mapped files: the binary's pages, the store's
	scalePSSAnon  = "pss_anon"  // MiB of it anonymous: the heap, the stacks, the runtime's own
	scalePassP50  = "pass_p50"  // ms, one reconcile pass (POST /v1/debug/resync), p50
	scalePassMax  = "pass_max"  // the same, the slowest
)

func scaleID(kind string, n int) string { return "scale_" + kind + "_" + strconv.Itoa(n) }

// scaleKind is one row of the scaling table.
type scaleKind struct {
	Kind, Title, Unit string
	Required          bool // missing (not timed out) is a failure of the run
	Grows             bool // fitted against N
}

var scaleKinds = []scaleKind{
	{scaleGapP50, "restart gap p50 of the flapping unit", "ms", true, true},
	{scaleGapP99, "restart gap p99 of the flapping unit", "ms", true, true},
	{scaleGaps, "restart gaps timed", "gaps", true, false},
	{scaleStartAll, "start-all: agent start to the N-th sleeping workload's start", "s", true, true},
	{scalePSS, "agent PSS, settled", "MiB", true, true},
	{scalePSSFile, "of it, mapped files (the binary's pages, the store)", "MiB", false, true},
	{scalePSSAnon, "of it, anonymous (heap, stacks, the runtime's)", "MiB", false, true},
	{scalePassP50, "one reconcile pass, p50 (the agent's pass_ns)", "ms", false, true},
	{scalePassMax, "one reconcile pass, the slowest", "ms", false, true},
}

// scaleIDs are the figure IDs of size n.
func scaleIDs(n int) []string {
	var out []string
	for _, k := range scaleKinds {
		out = append(out, scaleID(k.Kind, n))
	}
	return out
}

// oldScaleFigures are the restart gap p50s the author measured on
// the code before issue 8, by N, to show beside the table.
var oldScaleFigures = map[int]string{10: "0.72", 100: "2.4", 300: "23.6", 1000: "244–288"}

// Sizes of the scaling measurement.
const (
	scaleSettle  = time.Second // after the N-th start, before the gaps are timed
	scaleMinGaps = 20          // fewer by the deadline: the gaps time out
)

// errTimeout marks a measurement that ran out of its deadline: its figures
// are missed, and the run goes on.
var errTimeout = errors.New("timeout")

// timedOut turns the end of a measurement's own deadline into errTimeout;
// the end of parent (an interrupt) stays what it is.
func timedOut(parent context.Context, err error, what string) error {
	if err != nil && parent.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %s", errTimeout, what)
	}
	return err
}

// tendRun is one tend binary under test and the result its figures go
// into.
type tendRun struct {
	bin  string
	name string // what the tables call it
	r    *supervisorResult
}

func (t tendRun) peer() tendPeer { return tendPeer{bin: t.bin, name: t.name} }

// scale takes the scaling table's figures at size n for t, all within
// the -scale-timeout deadline.
func (b *bench) scale(ctx context.Context, t tendRun, n int) error {
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, b.cfg.scaleTimeout)
	defer cancel()
	deadline, _ := ctx.Deadline()

	dir := b.dir(t.peer(), fmt.Sprintf("scale%d", n))
	w := spec{stamp: b.stamp, file: filepath.Join(dir, "starts"), mode: modeSleep, n: n}
	flap := filepath.Join(dir, "flap")
	files := append(stampUnits("s", n, w.stamp, w.file, modeSleep), unitFile{"flap", stampUnit("flap", 1, w.stamp, flap, modeExit)})
	s, err := start(tendUnit{bin: t.bin, files: files}, dir, w)
	if err != nil {
		return err
	}
	defer s.close()
	r := t.r

	stamps, err := waitStamps(ctx, w.file, n, time.Until(deadline)+time.Second)
	if err != nil {
		return s.failed(timedOut(parent, err, fmt.Sprintf("start-all: %d of %d started within %s", len(stamps), n, b.cfg.scaleTimeout)))
	}
	r.set(scaleID(scaleStartAll, n), float64(nthStamp(stamps, n)-s.t0)/1e9)

	// The gaps once the fleet has settled, leaving a third of what is
	// left of the deadline (at most 30 s) for memory and the passes.
	if err := sleepCtx(ctx, scaleSettle); err != nil {
		return timedOut(parent, err, "settling")
	}
	mark := len(parseStamps(mustRead(flap)))
	gapCtx, gapCancel := context.WithDeadline(ctx, deadline.Add(-min(30*time.Second, time.Until(deadline)/3)))
	got, err := waitStamps(gapCtx, flap, mark+b.cfg.scaleRestarts+1, time.Until(deadline))
	gapCancel()
	if err != nil && parent.Err() != nil {
		return err
	}
	gaps := gapsMS(got[min(mark, len(got)):min(len(got), mark+b.cfg.scaleRestarts+1)])
	if len(gaps) < min(scaleMinGaps, b.cfg.scaleRestarts) {
		return s.failed(fmt.Errorf("%w: %d restart gaps of the flapping unit timed, want %d", errTimeout, len(gaps), b.cfg.scaleRestarts))
	}
	slices.Sort(gaps)
	r.set(scaleID(scaleGapP50, n), percentile(gaps, 0.50))
	r.set(scaleID(scaleGapP99, n), percentile(gaps, 0.99))
	r.set(scaleID(scaleGaps, n), float64(len(gaps)))
	if k := len(parseStamps(mustRead(w.file))); k != n {
		return s.failed(fmt.Errorf("%d starts of the %d sleeping workloads: some restarted", k, n))
	}

	// The agent process alone: a child forked for the flapping unit and
	// not yet exec'd shares its memory, and would count it twice.
	kb, err := pssKB([]int{s.cmd.Process.Pid})
	if err != nil {
		return s.failed(fmt.Errorf("memory at %d units: %w", n, err))
	}
	r.set(scaleID(scalePSS, n), float64(kb)/1024)
	// Its parts, where the kernel tells them: what the binary costs does
	// not grow with N, and no change to the agent's data makes it less.
	if file, anon, err := pssParts(s.cmd.Process.Pid); err == nil {
		r.set(scaleID(scalePSSFile, n), float64(file)/1024)
		r.set(scaleID(scalePSSAnon, n), float64(anon)/1024)
	}
	b.progress("%-12s N=%d: start-all %s s, restart gap p50 %s ms, p99 %s ms over %d gaps, PSS %s MiB", t.name, n,
		fmtNum(r.Figures[scaleID(scaleStartAll, n)]), fmtNum(r.Figures[scaleID(scaleGapP50, n)]),
		fmtNum(r.Figures[scaleID(scaleGapP99, n)]), len(gaps), fmtNum(r.Figures[scaleID(scalePSS, n)]))

	passIDs := []string{scaleID(scalePassP50, n), scaleID(scalePassMax, n)}
	passes, err := b.passes(ctx, filepath.Join(dir, ".tend", "tend.sock"), n)
	switch {
	case errors.Is(err, errNoResync):
		r.unavailable(err, passIDs...)
		b.progress("%-12s N=%d: reconcile pass n/a: %v", t.name, n, err)
		return nil
	case err != nil:
		r.fail(timedOut(parent, err, "reconcile passes"), passIDs...)
		b.progress("%-12s N=%d: reconcile pass failed: %v", t.name, n, err)
		return nil
	}
	slices.Sort(passes)
	r.set(passIDs[0], percentile(passes, 0.5))
	r.set(passIDs[1], passes[len(passes)-1])
	b.progress("%-12s N=%d: reconcile pass p50 %s ms, slowest %s ms", t.name, n, fmtNum(passes[len(passes)/2]), fmtNum(passes[len(passes)-1]))
	return nil
}

// passes asks the agent on sock for -resyncs reconcile passes, one after
// the other, and returns their times in ms as the agent took them.
func (b *bench) passes(ctx context.Context, sock string, n int) ([]float64, error) {
	c := unixClient(sock)
	defer c.CloseIdleConnections()
	var out []float64
	for range b.cfg.resyncs {
		a, err := resync(ctx, c)
		if err != nil {
			return nil, err
		}
		if a.Units < n+1 {
			return nil, fmt.Errorf("a pass over %d units and %d instances, want %d units", a.Units, a.Instances, n+1)
		}
		out = append(out, float64(a.PassNS)/1e6)
	}
	return out, nil
}

// unixClient is an HTTP client for the agent's local API on sock.
func unixClient(sock string) *http.Client {
	var d net.Dialer
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", sock)
		},
		DisableCompression: true,
	}}
}

// resyncAnswer is the agent's answer to POST /v1/debug/resync, sent once
// its loop has reconciled every unit once.
type resyncAnswer struct {
	PassNS    int64 `json:"pass_ns"` // how long the whole pass took
	Units     int   `json:"units"`
	Instances int   `json:"instances"`
}

// errNoResync: the agent predates POST /v1/debug/resync, so its pass
// times are not available.
var errNoResync = errors.New("the agent has no POST /v1/debug/resync")

// resync asks for one reconcile pass, for at most 30 s.
func resync(ctx context.Context, c *http.Client) (resyncAnswer, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://tend/v1/debug/resync", nil)
	if err != nil {
		return resyncAnswer{}, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return resyncAnswer{}, fmt.Errorf("POST /v1/debug/resync: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return resyncAnswer{}, fmt.Errorf("POST /v1/debug/resync: %w", err)
	}
	return parseResync(resp.StatusCode, body)
}

// parseResync reads the answer to POST /v1/debug/resync: no such route
// (404, or 405 where another method has one) is errNoResync.
func parseResync(status int, body []byte) (resyncAnswer, error) {
	var a resyncAnswer
	switch {
	case status == http.StatusNotFound || status == http.StatusMethodNotAllowed:
		return a, fmt.Errorf("%w (%d)", errNoResync, status)
	case status/100 != 2:
		return a, fmt.Errorf("POST /v1/debug/resync: %d %s", status, bytes.TrimSpace(body))
	}
	if err := json.Unmarshal(body, &a); err != nil {
		return a, fmt.Errorf("POST /v1/debug/resync: %w", err)
	}
	if a.PassNS <= 0 {
		return a, fmt.Errorf("POST /v1/debug/resync: pass_ns %d in %s", a.PassNS, bytes.TrimSpace(body))
	}
	return a, nil
}

// growth is how one figure of the scaling table grows with N: the slope k
// of a least-squares line through log(figure) against log(N), so that the
// figure goes as N^k, 10^k times per ten times the units.
type growth struct {
	Supervisor string   `json:"supervisor"`
	Kind       string   `json:"kind"`
	Exponent   *float64 `json:"exponent"` // nil with fewer than two sizes that have a figure
	Per10x     *float64 `json:"per_10x"`
	Sizes      []int    `json:"sizes"` // the Ns fitted
}

// growths fits every kind that grows, for each of sups, over the sizes ns.
func growths(ns []int, sups ...supervisorResult) []growth {
	var out []growth
	for _, s := range sups {
		for _, k := range scaleKinds {
			if !k.Grows {
				continue
			}
			g := growth{Supervisor: s.Name, Kind: k.Kind}
			var xs, ys []float64
			for _, n := range ns {
				if v, ok := s.figure(scaleID(k.Kind, n)); ok && v > 0 {
					xs, ys = append(xs, float64(n)), append(ys, v)
					g.Sizes = append(g.Sizes, n)
				}
			}
			if e, ok := fitExponent(xs, ys); ok {
				p := math.Pow(10, e)
				g.Exponent, g.Per10x = &e, &p
			}
			out = append(out, g)
		}
	}
	return out
}

// fitExponent is the slope of the least-squares line through
// (log x, log y): y grows as x^slope. Points without a positive x and y
// are left out; ok is false with fewer than two distinct xs left.
func fitExponent(xs, ys []float64) (slope float64, ok bool) {
	var lx, ly []float64
	for i := range min(len(xs), len(ys)) {
		if xs[i] > 0 && ys[i] > 0 {
			lx, ly = append(lx, math.Log(xs[i])), append(ly, math.Log(ys[i]))
		}
	}
	if len(lx) < 2 {
		return 0, false
	}
	var mx, my float64
	for i := range lx {
		mx += lx[i]
		my += ly[i]
	}
	mx /= float64(len(lx))
	my /= float64(len(ly))
	var sxy, sxx float64
	for i := range lx {
		sxy += (lx[i] - mx) * (ly[i] - my)
		sxx += (lx[i] - mx) * (lx[i] - mx)
	}
	if sxx == 0 {
		return 0, false
	}
	return sxy / sxx, true
}
