package supervisor

import (
	"context"
	"log/slog"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tendhq/tend/units"
)

// BenchmarkRestart is one restart of an instance whose process exits at
// once, on the runner's path as the loop takes it: spawn (run log, cgroup,
// fork+exec), the exit reaped, then exited's end of the run (SIGKILL to
// what is left, the cgroup's removal off the loop, the log closed). With
// and without a cgroup per run, so that what containment costs a restart
// stays in sight. BenchmarkForkExecWait is the floor.
func BenchmarkRestart(b *testing.B) {
	path, err := exec.LookPath("true")
	if err != nil {
		b.Skip("no true to run")
	}
	reaper, _ := newTestReaper(b)
	for _, mode := range []string{"process-groups", "cgroup"} {
		b.Run(mode, func(b *testing.B) {
			var bg sync.WaitGroup
			r := &runner{
				reaper:   reaper,
				log:      slog.New(slog.DiscardHandler),
				logDir:   filepath.Join(b.TempDir(), "logs"),
				stateDir: b.TempDir(),
				bg:       &bg,
			}
			if mode == "cgroup" {
				r.cgroups = benchCgroups(b)
			}
			i := &instance{
				rec:  instanceRecord{Name: "bench-0"},
				spec: &units.Unit{Name: "bench", Template: units.Template{Command: []string{path}}},
			}
			done := make(chan ExitStatus, 1)
			cpu0 := cpuTime()
			for b.Loop() {
				i.gen++
				proc, rl, rp, err := r.spawn(i, nil, func(st ExitStatus) { done <- st }, nil)
				if err != nil {
					b.Fatal(err)
				}
				r.beginProbes(i, rp, proc.Pid(), nil, nil, nil)
				if st := <-done; !st.Success() {
					b.Fatal(st)
				}
				proc.SignalGroup(syscall.SIGKILL)
				r.endCgroup(i.rec.Name, proc)
				rp.close()
				rl.Close()
			}
			b.StopTimer()
			bg.Wait()
			// The agent's own CPU (the removal off the loop included, the
			// child's not): what a restart costs beside the other
			// instances, steadier than the time on a busy machine.
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// cpuTime is the CPU time this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchCgroups is testCgroups for a benchmark.
func benchCgroups(b *testing.B) *Cgroups {
	b.Helper()
	if syscall.Geteuid() != 0 {
		b.Skip("cgroups: needs root to make cgroups")
	}
	b.Setenv("INVOCATION_ID", "")
	cg, err := OpenCgroups(b.TempDir())
	if err != nil {
		b.Skipf("cgroups: %v", err)
	}
	b.Cleanup(func() {
		if err := cg.RemoveLeftovers(context.Background(), testDeadline); err != nil {
			b.Error(err)
		}
		cg.Close()
	})
	return cg
}
