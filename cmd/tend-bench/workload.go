package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
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
const stampSource = `
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* stamp FILE exit|sleep: append CLOCK_MONOTONIC (ns) to FILE, then exit 1
   or wait for a signal. */
int main(int argc, char **argv) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	const char *file = argc >= 3 ? argv[1] : getenv("STAMP_FILE");
	const char *mode = argc >= 3 ? argv[2] : getenv("STAMP_MODE");
	if (!file || !mode) return 2;
	char buf[32];
	int n = snprintf(buf, sizeof buf, "%lld\n", (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
	int fd = open(file, O_WRONLY | O_APPEND | O_CREAT, 0644);
	if (fd < 0 || write(fd, buf, n) != n) return 3;
	close(fd);
	if (strcmp(mode, "sleep") == 0)
		for (;;) pause();
	return 1;
}
`

// Workload modes.
const (
	modeExit  = "exit"  // exit 1 at once: the restart measurement
	modeSleep = "sleep" // wait for a signal: fan-out, memory, CPU, stop
)

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

// parseStamps reads the time stamps (ns, one a line) the workload wrote;
// a torn or foreign line is skipped.
func parseStamps(data []byte) []int64 {
	var out []int64
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if v, err := strconv.ParseInt(sc.Text(), 10, 64); err == nil {
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
