package main

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// stampSource is the workload every supervisor runs, the same program as
// cmd/tend's benchmarks use. It takes its time stamp first thing, so the
// figures come from the workload and not from polling a supervisor.
//
// With no arguments it reads STAMP_FILE and STAMP_MODE from its
// environment: runit, s6 and daemontools exec a service directory's ./run
// without arguments, and a symlink to this binary spares them a shell.
//
//go:embed workload/stamp.c
var stampSource string

// Workload modes.
const (
	modeExit  = "exit"  // exit 1 at once: the restart measurement
	modeSleep = "sleep" // wait for a signal: fan-out, memory, CPU, stop
	modeOK    = "ok"    // exit 0 at once: cron runs and job completions
)

// modeHTTP serves a fixed 200 on 127.0.0.1:port: the probe measurement.
func modeHTTP(port int) string { return "http:" + strconv.Itoa(port) }

// buildStamp compiles the workload, statically, into dir and returns its
// absolute path.
func buildStamp(ctx context.Context, dir string) (string, error) {
	src := filepath.Join(dir, "stamp.c")
	if err := os.WriteFile(src, []byte(stampSource), 0o644); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "stamp")
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "gcc", "-O2", "-static", "-o", bin, src).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("build the workload with gcc -static (Debian: apt-get install gcc libc6-dev): %v\n%s", err, out)
	}
	return filepath.EvalSymlinks(bin)
}

// Columns of a stamp line.
const (
	colMono = 0 // CLOCK_MONOTONIC, ns
	colWall = 1 // CLOCK_REALTIME, ns
)

// parseStamps reads the monotonic time stamps (ns, one a line) the
// workload wrote; a torn or foreign line is skipped.
func parseStamps(data []byte) []int64 { return parseColumn(data, colMono) }

// parseColumn reads column col (colMono or colWall) of the workload's
// stamp lines; a foreign line, or a last one without its newline, is
// skipped.
func parseColumn(data []byte, col int) []int64 {
	// A line without its newline may still be being written.
	data = data[:bytes.LastIndexByte(data, '\n')+1]
	var out []int64
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		if v, err := strconv.ParseInt(f[col], 10, 64); err == nil {
			out = append(out, v)
		}
	}
	return out
}

// waitStamps polls file until it holds n stamps, for at most within, and
// returns them in the order written. Polling is fine here: the times are
// the workload's own stamps, not when this loop saw them.
func waitStamps(ctx context.Context, file string, n int, within time.Duration) ([]int64, error) {
	deadline := time.Now().Add(within)
	for {
		data, _ := os.ReadFile(file)
		s := parseStamps(data)
		if len(s) >= n {
			return s, nil
		}
		if time.Now().After(deadline) {
			return s, fmt.Errorf("%d of %d workload starts after %s", len(s), n, within)
		}
		if err := sleepCtx(ctx, 5*time.Millisecond); err != nil {
			return s, err
		}
	}
}

// gapsMS are the gaps between consecutive stamps, in ms.
func gapsMS(stamps []int64) []float64 {
	var out []float64
	for i := 1; i < len(stamps); i++ {
		out = append(out, float64(stamps[i]-stamps[i-1])/1e6)
	}
	return out
}

// nthStamp is the time of the n-th start (1-based): stamps from concurrent
// starts may land out of order.
func nthStamp(stamps []int64, n int) int64 {
	s := slices.Clone(stamps)
	slices.Sort(s)
	return s[n-1]
}

func monotonicNow() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// measureFloor is what the kernel allows: fork+exec+wait of the static
// workload, runs times, in ms each.
func measureFloor(ctx context.Context, stamp, dir string, runs int) ([]float64, error) {
	file := filepath.Join(dir, "floor-starts")
	argv := []string{stamp, file, modeExit}
	attr := &syscall.ProcAttr{Env: []string{}}
	var out []float64
	for range runs {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		t := time.Now()
		pid, err := syscall.ForkExec(stamp, argv, attr)
		if err != nil {
			return out, fmt.Errorf("fork+exec %s: %w", stamp, err)
		}
		var ws syscall.WaitStatus
		if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil {
			return out, fmt.Errorf("wait %d: %w", pid, err)
		}
		out = append(out, float64(time.Since(t).Nanoseconds())/1e6)
		if ws.ExitStatus() != 1 {
			return out, fmt.Errorf("workload exited %v, want status 1", ws)
		}
	}
	return out, nil
}
