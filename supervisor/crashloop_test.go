package supervisor

// The crash-loop brake and the folding of exit lines with real processes
// on a fake clock: restarts are counted over fake time, log lines in the
// agent's log.

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tendhq/tend/units"
)

func init() {
	// fast-then-slow:N:DIR:D exits 1 at once on its first N runs
	// (counted by files in DIR), and after sleeping D on later ones.
	helpers["fast-then-slow"] = func(arg string) int {
		n, rest, _ := strings.Cut(arg, ":")
		dir, d, _ := strings.Cut(rest, ":")
		var limit int
		fmt.Sscan(n, &limit)
		wait, _ := time.ParseDuration(d)
		f, err := os.CreateTemp(dir, "run-")
		if err != nil {
			return 2
		}
		f.Close()
		if entries, _ := os.ReadDir(dir); len(entries) > limit {
			time.Sleep(wait)
		}
		return 1
	}
}

// syncBuffer is a bytes.Buffer the agent's log and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// count is how many lines hold msg="msg".
func (s *syncBuffer) count(msg string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Count(s.b.String(), "msg=\""+msg+"\"")
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startLoggedAgent is startTestAgent with the agent's log kept.
func startLoggedAgent(t *testing.T, clock *fakeClock) (*testAgent, *syncBuffer) {
	logs := &syncBuffer{}
	a := startTestAgentWith(t, t.TempDir(), clock, func(o *Options) {
		o.Log = slog.New(slog.NewTextHandler(logs, nil))
	})
	return a, logs
}

// applyTemplate adds a replicated unit running the helper in mode, with
// keys in its template.
func (a *testAgent) applyTemplate(name, keys, mode string) {
	a.t.Helper()
	name0, _, _ := strings.Cut(mode, ":")
	helpersUsed.Store(name0, true)
	exe, _ := os.Executable()
	text := fmt.Sprintf("kind = \"replicated\"\n[template]\nlabels = { app = %q }\ncommand = [%q]\nenv = { %s = %q }\nstop_timeout = \"1s\"\n%s\n",
		name, exe, helperEnv, mode, keys)
	if _, err := a.sup.ApplyUnit(name+".toml", []byte(text)); err != nil {
		a.t.Fatal(err)
	}
}

// only is the one instance of owner, once cond holds for it.
func (a *testAgent) only(owner, what string, cond func(Instance) bool) Instance {
	a.t.Helper()
	var got Instance
	a.waitFor(what, func() bool {
		list := a.ownedBy(owner)
		if len(list) != 1 {
			return false
		}
		got = list[0]
		return cond(got)
	})
	return got
}

// An instance that exits at once under restart_delay = "0s" is restarted
// at once four times; the fifth exit within 10s engages the brake, and it
// waits in CrashLoopBackOff 1s, 2s, 4s … up to max_restart_delay, however
// often the loop passes meanwhile. Its exit lines are folded.
func TestCrashLoopIsHeldBackAfterABurst(t *testing.T) {
	clock := newFakeClock()
	a, logs := startLoggedAgent(t, clock)
	a.applyTemplate("crash", `restart_delay = "0s"`, "exit:1")
	held := func(restarts int, d time.Duration) func(Instance) bool {
		msg := fmt.Sprintf("back-off %s restarting failed instance", units.Duration(d))
		return func(i Instance) bool {
			return i.RestartCount == restarts && i.Status == "CrashLoopBackOff" && i.State.Message == msg
		}
	}
	// Five runs at the same fake instant: four immediate restarts.
	a.only("crash", "four restarts, then held back 1s", held(4, time.Second))
	for range 20 {
		a.sup.Ping(t.Context())
	}
	clock.Advance(time.Second - time.Millisecond)
	for range 20 {
		a.sup.Ping(t.Context())
	}
	if i := a.only("crash", "the one instance", func(Instance) bool { return true }); i.RestartCount != 4 {
		t.Fatalf("%d restarts before the brake's second was over, want 4", i.RestartCount)
	}
	clock.Advance(time.Millisecond)
	elapsed := time.Second
	restarts := 5
	// Then each wait doubles up to max_restart_delay.
	for _, d := range []time.Duration{2, 4, 8, 16, 32, 64, 128, 256, 300, 300} {
		d *= time.Second
		a.only("crash", fmt.Sprintf("restart %d, then held back %s", restarts, d), held(restarts, d))
		clock.Advance(d)
		elapsed += d
		restarts++
	}
	a.only("crash", "the last restart", func(i Instance) bool { return i.RestartCount == restarts && i.Status == "CrashLoopBackOff" })
	t.Logf("%d restarts in %s of fake time", restarts, elapsed)
	if elapsed != 1111*time.Second || restarts != 15 {
		t.Fatalf("%d restarts in %s", restarts, elapsed)
	}
	// 16 exits: 5 lines in the first minute, the next 5 folded into one
	// summary written at the first exit after the minute, then a line for
	// each exit (each a minute or more after the one before).
	if n, sums := logs.count("instance exited"), logs.count("instance exited repeatedly"); n != 11 || sums != 1 || !strings.Contains(logs.String(), "times=5 over=30s") {
		t.Fatalf("%d exit lines and %d summaries, want 11 and 1:\n%s", n, sums, logs)
	}
}

// With the brake off (start_limit_interval = "0s") the restarts go on at
// once, but the agent's log has five exit lines a minute, then one line
// that says how many it folded.
func TestCrashLoopExitLinesAreFolded(t *testing.T) {
	clock := newFakeClock()
	a, logs := startLoggedAgent(t, clock)
	a.applyTemplate("spin", "restart_delay = \"0s\"\nstart_limit_interval = \"0s\"", "exit:1")
	a.only("spin", "100 restarts", func(i Instance) bool { return i.RestartCount >= 100 })
	if n, sums := logs.count("instance exited"), logs.count("instance exited repeatedly"); n != foldBurst || sums != 0 {
		t.Fatalf("%d exit lines and %d summaries after 100 restarts in the same minute, want %d and 0:\n%s", n, sums, foldBurst, logs)
	}
	clock.Advance(foldWindow)
	a.waitFor("the summary", func() bool { return logs.count("instance exited repeatedly") == 1 })
	if !strings.Contains(logs.String(), "times=") {
		t.Fatalf("no count in the summary:\n%s", logs)
	}
}

// A run that stays up for start_limit_interval lets the brake go: the
// next restart is at once again, without the clock moving.
func TestCrashLoopBrakeLetsGoAfterALongEnoughRun(t *testing.T) {
	clock := newFakeClock()
	a, _ := startLoggedAgent(t, clock)
	runs := t.TempDir()
	a.applyTemplate("heal", "restart_delay = \"0s\"\nstart_limit_interval = \"500ms\"", "fast-then-slow:5:"+runs+":600ms")
	a.only("heal", "held back after five fast exits", func(i Instance) bool {
		return i.RestartCount == 4 && i.Status == "CrashLoopBackOff"
	})
	clock.Advance(time.Second)
	// Runs 6 and 7 last 600ms each (real time), longer than the interval:
	// each is restarted at once.
	a.only("heal", "two more restarts without the clock moving", func(i Instance) bool { return i.RestartCount >= 6 })
}

// The agent's shutdown writes what it folded: no count is lost.
func TestCrashLoopFoldedLinesAreWrittenAtShutdown(t *testing.T) {
	clock := newFakeClock()
	a, logs := startLoggedAgent(t, clock)
	a.applyTemplate("crash", `restart_delay = "0s"`, "exit:1")
	a.only("crash", "held back 1s", func(i Instance) bool { return i.Status == "CrashLoopBackOff" })
	clock.Advance(time.Second)
	a.only("crash", "held back 2s", func(i Instance) bool {
		return i.RestartCount == 5 && i.State.Message == "back-off 2s restarting failed instance"
	})
	a.stop()
	if !strings.Contains(logs.String(), `msg="instance exited repeatedly" instance=crash-`) || !strings.Contains(logs.String(), "times=1 over=0s") {
		t.Fatalf("no summary at shutdown:\n%s", logs)
	}
}
