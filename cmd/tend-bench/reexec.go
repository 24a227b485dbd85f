package main

// Re-execution (issue 12): an agent with N sleeping instances, a unit
// file each, re-executes itself K times (POST /v1/agent/reexec, what
// `tend agent reexec` sends). Each time the figure is how long the API
// was away: from the agent's 202 to the first answer of the new agent
// (GET /v1/version with a new Started), asked every millisecond on a
// fresh connection. The socket is handed over, so a request made
// meanwhile waits in its backlog rather than failing; the figure is an
// upper bound of that wait, to within the millisecond. After the K
// handovers no instance may have started again. No peer re-executes
// itself with its workloads kept (systemd's daemon-reexec is PID 1's
// alone): tend is measured alone, and, with -tend-before, an older tend
// that cannot hand over shows as unavailable.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"time"
)

// Figure IDs.
const (
	reexecP50ID = "reexec_api_away_p50_ms"
	reexecP99ID = "reexec_api_away_p99_ms"
	reexecMaxID = "reexec_api_away_max_ms"
)

var reexecIDs = []string{reexecP50ID, reexecP99ID, reexecMaxID}

// The sizes and goal of issue 12.
const (
	goalReexecInstances = 1000
	goalReexecRuns      = 20
	goalReexecP99MS     = 100.0
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
	defer s.close()
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
		t0 := time.Now()
		for {
			v, code, err := getVersion(ctx, fresh)
			if err == nil && code == http.StatusOK && !v.Started.Equal(before.Started) {
				if v.PID != before.PID {
					return s.failed(fmt.Errorf("handover %d: the agent's pid changed from %d to %d", k+1, before.PID, v.PID))
				}
				away = append(away, time.Since(t0))
				before = v
				break
			}
			if time.Since(t0) > reexecWithin {
				return s.failed(fmt.Errorf("%w: handover %d: the new agent did not answer within %v (last: %v)", errTimeout, k+1, reexecWithin, err))
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			time.Sleep(time.Millisecond)
		}
	}
	if got := len(parseStamps(mustRead(w.file))); got != n {
		return s.failed(fmt.Errorf("%d starts of the %d sleeping workloads after %d handovers: some were restarted", got, n, runs))
	}
	r.set(reexecP50ID, msAt(away, 0.5))
	r.set(reexecP99ID, msAt(away, 0.99))
	r.set(reexecMaxID, msAt(away, 1))
	b.progress("%-12s %d instances, %d handovers: API away p50 %s ms, p99 %s ms, longest %s ms; no instance restarted", "tend", n, runs,
		fmtNum(r.Figures[reexecP50ID]), fmtNum(r.Figures[reexecP99ID]), fmtNum(r.Figures[reexecMaxID]))
	return nil
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
