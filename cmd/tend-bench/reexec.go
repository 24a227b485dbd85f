package main

// Re-execution (issue 12): an agent with N sleeping instances, a unit
// file each, re-executes itself K times (POST /v1/agent/reexec, what
// `tend agent reexec` sends). Each time the figure is how long the API
// was away: from the agent's 202 to the first answer of the new agent
// (GET /v1/version with a new Started), asked every millisecond on a
// fresh connection. The socket is handed over, so a request made
// meanwhile waits in its backlog rather than failing; the figure is an
// upper bound of that wait, to within the millisecond. After the K
// handovers no instance may have started again. Then the agent is
// killed with SIGKILL as many times and started again: the second figure
// is how long the next agent takes to show the N instances taken over.
// No peer re-executes itself with its workloads kept (systemd's
// daemon-reexec is PID 1's alone), nor takes over what a killed one ran:
// tend is measured alone, and, with -tend-before, an older tend that
// cannot hand over shows as unavailable.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"path/filepath"
	"syscall"
	"time"
)

// Figure IDs.
const (
	reexecP50ID = "reexec_api_away_p50_ms"
	reexecP99ID = "reexec_api_away_p99_ms"
	reexecMaxID = "reexec_api_away_max_ms"
	adoptP50ID  = "kill9_adopt_p50_ms"
	adoptP99ID  = "kill9_adopt_p99_ms"
	adoptMaxID  = "kill9_adopt_max_ms"
)

var reexecIDs = []string{reexecP50ID, reexecP99ID, reexecMaxID, adoptP50ID, adoptP99ID, adoptMaxID}

// The sizes and goals of issue 12.
const (
	goalReexecInstances = 1000
	goalReexecRuns      = 20
	goalReexecP99MS     = 100.0
	goalAdoptMS         = 200.0
	reexecWithin        = 30 * time.Second // one handover, past which the run fails
)

// agentVersion is what the bench reads of GET /v1/version.
type agentVersion struct {
	PID     int       `json:"pid"`
	Started time.Time `json:"started"`
}

func getVersion(ctx context.Context, c *http.Client) (agentVersion, int, error) {
	ctx, cancel := context.WithTimeout(ctx, askWithin)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://tend/v1/version", nil)
	resp, err := c.Do(req)
	if err != nil {
		return agentVersion{}, 0, err
	}
	defer resp.Body.Close()
	var v agentVersion
	err = json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&v)
	return v, resp.StatusCode, err
}

// reexecFigures takes the re-execution figures of tendBin into r.
func (b *bench) reexecFigures(ctx context.Context, tendBin string, r *supervisorResult) error {
	n, runs := b.cfg.reexecInstances, b.cfg.reexecRuns
	dir := b.dir(tendPeer{bin: tendBin, name: "tend"}, "reexec")
	w := spec{stamp: b.stamp, file: filepath.Join(dir, "starts"), mode: modeSleep, n: n}
	s, err := start(tendUnit{bin: tendBin, files: stampUnits("r", n, w.stamp, w.file, modeSleep)}, dir, w)
	if err != nil {
		return err
	}
	defer func() { s.close() }() // the last agent started: the others were killed
	if _, err := waitStamps(ctx, w.file, n, 5*time.Minute); err != nil {
		return s.failed(fmt.Errorf("%d instances did not start: %w", n, err))
	}
	sock := filepath.Join(dir, ".tend", "tend.sock")
	c := unixClient(sock)
	defer c.CloseIdleConnections()
	// Each ask on a connection of its own: a kept-alive one would break
	// at the handover and be retried, hiding nothing but muddling what
	// is timed.
	fresh := &http.Client{Transport: c.Transport.(*http.Transport).Clone()}
	fresh.Transport.(*http.Transport).DisableKeepAlives = true

	before, _, err := getVersion(ctx, c)
	if err != nil {
		return s.failed(err)
	}
	if before.Started.IsZero() {
		r.unavailable(fmt.Errorf("this agent does not re-execute itself"), reexecIDs...)
		return nil
	}
	var away []time.Duration
	for k := range runs {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://tend/v1/agent/reexec", nil)
		resp, err := fresh.Do(req)
		if err != nil {
			return s.failed(fmt.Errorf("handover %d: %w", k+1, err))
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			if k == 0 && (resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed) {
				r.unavailable(fmt.Errorf("this agent has no POST /v1/agent/reexec"), reexecIDs...)
				return nil
			}
			return s.failed(fmt.Errorf("handover %d: %d %s", k+1, resp.StatusCode, body))
		}
		d, err := pollAnswer(ctx, func() (bool, error, error) {
			v, code, err := getVersion(ctx, fresh)
			if err == nil && code == http.StatusOK && !v.Started.Equal(before.Started) {
				if v.PID != before.PID {
					return false, nil, fmt.Errorf("the agent's pid changed from %d to %d", before.PID, v.PID)
				}
				before = v
				return true, nil, nil
			}
			return false, err, nil
		})
		if err != nil {
			return s.failed(fmt.Errorf("handover %d: the new agent: %w", k+1, err))
		}
		away = append(away, d)
	}
	if err := b.spread(s, w, fmt.Sprintf("%d handovers", runs), "API away", away, r, reexecP50ID, reexecP99ID, reexecMaxID); err != nil {
		return err
	}

	// Then the agent is killed with SIGKILL as many times, and started
	// again on the same state each time. The figure is from just before
	// the new agent's start to its first answer to GET /v1/instances that
	// lists the N instances running with the pids they had: it has taken
	// them over (it answers only once it has, see Supervisor.Viewed).
	pids, err := runningPIDs(ctx, fresh)
	if err != nil || len(pids) != n {
		return s.failed(fmt.Errorf("before the kills: %d instances running (%v)", len(pids), err))
	}
	var adopt []time.Duration
	for k := range runs {
		s.cmd.Process.Signal(syscall.SIGKILL)
		select {
		case <-s.done:
		case <-time.After(reexecWithin):
			return fmt.Errorf("kill %d: the agent did not die", k+1)
		}
		if s, err = start(tendUnit{bin: tendBin}, dir, w); err != nil {
			return err
		}
		d, err := pollAnswer(ctx, func() (bool, error, error) {
			got, err := runningPIDs(ctx, fresh)
			switch {
			case err != nil:
				return false, err, nil
			case maps.Equal(got, pids):
				return true, nil, nil
			case len(got) == n:
				return false, nil, fmt.Errorf("it runs the %d instances under other pids: they were restarted", n)
			}
			return false, fmt.Errorf("%d of %d instances running with their pids", len(got), n), nil
		})
		if err != nil {
			return s.failed(fmt.Errorf("kill %d: the next agent: %w", k+1, err))
		}
		adopt = append(adopt, d)
	}
	return b.spread(s, w, fmt.Sprintf("%d kills -9", runs), "the next agent's start until it shows them taken over", adopt, r, adoptP50ID, adoptP99ID, adoptMaxID)
}

// spread checks that none of w's n workloads started twice over what
// happened (after), then takes the p50, p99 and longest of ds as the
// figures p50, p99 and most, and says so.
func (b *bench) spread(s *session, w spec, after, what string, ds []time.Duration, r *supervisorResult, p50, p99, most string) error {
	if got := len(parseStamps(mustRead(w.file))); got != w.n {
		return s.failed(fmt.Errorf("%d starts of the %d sleeping workloads after %s: some were restarted", got, w.n, after))
	}
	r.set(p50, msAt(ds, 0.5))
	r.set(p99, msAt(ds, 0.99))
	r.set(most, msAt(ds, 1))
	b.progress("%-12s %d instances, %s: %s p50 %s ms, p99 %s ms, longest %s ms; no instance restarted", "tend", w.n, after, what,
		fmtNum(r.Figures[p50]), fmtNum(r.Figures[p99]), fmtNum(r.Figures[most]))
	return nil
}

// pollAnswer calls ask every millisecond until it reports done, and
// returns how long that took. A fatal error from ask ends the wait at
// once; past reexecWithin it fails with errTimeout and ask's last error.
func pollAnswer(ctx context.Context, ask func() (done bool, last, fatal error)) (time.Duration, error) {
	t0 := time.Now()
	for {
		done, last, fatal := ask()
		switch {
		case fatal != nil:
			return 0, fatal
		case done:
			return time.Since(t0), nil
		case time.Since(t0) > reexecWithin:
			return 0, fmt.Errorf("%w: no answer within %v (last: %v)", errTimeout, reexecWithin, last)
		case ctx.Err() != nil:
			return 0, ctx.Err()
		}
		time.Sleep(time.Millisecond)
	}
}

// runningPIDs asks the agent for its instances: the pid of each that
// runs, by name.
func runningPIDs(ctx context.Context, c *http.Client) (map[string]int, error) {
	ctx, cancel := context.WithTimeout(ctx, askWithin)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://tend/v1/instances", nil)
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /v1/instances: %s", resp.Status)
	}
	var list []struct {
		Name   string `json:"name"`
		Status string `json:"status"`
		PID    int    `json:"pid"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return nil, err
	}
	pids := map[string]int{}
	for _, i := range list {
		if i.Status == "Running" && i.PID > 0 {
			pids[i.Name] = i.PID
		}
	}
	return pids, nil
}

// adoptGoal checks issue 12's second goal at its size.
func adoptGoal(tend supervisorResult, s sizes) goal {
	g := goal{Goal: fmt.Sprintf("after kill -9 of the agent with %d instances, the next one's start until it has taken them over: under %g ms (issue 12)",
		goalReexecInstances, goalAdoptMS)}
	p50, ok := tend.figure(adoptP50ID)
	switch {
	case tend.TimedOut[adoptP50ID] != "":
		g.Measured = "tend: " + tend.TimedOut[adoptP50ID]
		f := false
		g.Met = &f
	case !ok:
		g.Measured = "tend: no figure"
	default:
		p99, _ := tend.figure(adoptP99ID)
		g.Measured = fmt.Sprintf("tend p50 %s ms, p99 %s ms over %d kills with %d instances", fmtNum(p50), fmtNum(p99), s.ReexecRuns, s.ReexecInstances)
		if s.ReexecInstances >= goalReexecInstances {
			met := p99 < goalAdoptMS
			g.Met = &met
		} else {
			g.Measured += fmt.Sprintf(" (the goal is for %d instances)", goalReexecInstances)
		}
	}
	return g
}

// reexecGoal checks issue 12's goal at its sizes.
func reexecGoal(tend supervisorResult, s sizes) goal {
	g := goal{Goal: fmt.Sprintf("re-execution of the agent with %d instances: the API away under %g ms p99 over %d handovers, no instance restarted (issue 12)",
		goalReexecInstances, goalReexecP99MS, goalReexecRuns)}
	p99, ok := tend.figure(reexecP99ID)
	switch {
	case tend.TimedOut[reexecP99ID] != "":
		g.Measured = "tend: " + tend.TimedOut[reexecP99ID]
		f := false
		g.Met = &f
	case !ok:
		g.Measured = "tend: no figure"
	default:
		p50, _ := tend.figure(reexecP50ID)
		g.Measured = fmt.Sprintf("tend p50 %s ms, p99 %s ms over %d handovers of %d instances", fmtNum(p50), fmtNum(p99), s.ReexecRuns, s.ReexecInstances)
		if s.ReexecInstances >= goalReexecInstances && s.ReexecRuns >= goalReexecRuns {
			met := p99 < goalReexecP99MS
			g.Met = &met
		} else {
			g.Measured += fmt.Sprintf(" (the goal is for %d instances, %d handovers)", goalReexecInstances, goalReexecRuns)
		}
	}
	return g
}
