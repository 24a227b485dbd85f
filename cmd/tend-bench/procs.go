package main

// Reading /proc: process trees, memory (PSS), CPU time, and waiting for a
// set of processes to be gone.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// procStat is what this program needs from /proc/PID/stat.
type procStat struct {
	state        byte
	ppid         int
	utime, stime uint64 // clock ticks, the whole thread group's
}

// parseStat parses the text of /proc/PID/stat. The command name, in
// parentheses, may hold spaces and parentheses itself, so the fields are
// counted from the last ')'.
func parseStat(data []byte) (procStat, error) {
	i := bytes.LastIndexByte(data, ')')
	if i < 0 || i+2 > len(data) {
		return procStat{}, errors.New("stat: no command name")
	}
	f := strings.Fields(string(data[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return procStat{}, fmt.Errorf("stat: %d fields after the name, want 13 or more", len(f))
	}
	var s procStat
	var err error
	s.state = f[0][0]
	if s.ppid, err = strconv.Atoi(f[1]); err != nil {
		return procStat{}, fmt.Errorf("stat: ppid: %w", err)
	}
	if s.utime, err = strconv.ParseUint(f[11], 10, 64); err != nil {
		return procStat{}, fmt.Errorf("stat: utime: %w", err)
	}
	if s.stime, err = strconv.ParseUint(f[12], 10, 64); err != nil {
		return procStat{}, fmt.Errorf("stat: stime: %w", err)
	}
	return s, nil
}

func readStat(pid int) (procStat, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	return parseStat(data)
}

// proc is one process in a snapshot of /proc.
type proc struct {
	pid, ppid int
	zombie    bool
	exe       string // "" when unreadable (a zombie, a kernel thread)
}

// snapshot lists every process. Processes that vanish while it reads are
// left out.
func snapshot() (map[int]proc, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	out := make(map[int]proc, len(entries))
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := readStat(pid)
		if err != nil {
			continue
		}
		exe, _ := os.Readlink("/proc/" + e.Name() + "/exe")
		out[pid] = proc{pid: pid, ppid: st.ppid, zombie: st.state == 'Z' || st.state == 'X', exe: exe}
	}
	return out, nil
}

// descendants returns the pids below root in snap (root excluded), parents
// before children.
func descendants(snap map[int]proc, root int) []int {
	children := make(map[int][]int)
	for _, p := range snap {
		children[p.ppid] = append(children[p.ppid], p.pid)
	}
	var out []int
	queue := []int{root}
	for len(queue) > 0 && len(out) <= len(snap) {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// tree splits root and the live processes below it into the supervisor
// side (root included) and the workloads (running exe).
func tree(root int, exe string) (side, work []int, err error) {
	snap, err := snapshot()
	if err != nil {
		return nil, nil, err
	}
	if p, ok := snap[root]; ok && !p.zombie {
		side = append(side, root)
	}
	for _, pid := range descendants(snap, root) {
		p := snap[pid]
		switch {
		case p.zombie:
		case p.exe == exe:
			work = append(work, pid)
		default:
			side = append(side, pid)
		}
	}
	return side, work, nil
}

// parsePSS returns the Pss line of /proc/PID/smaps_rollup, in kB.
func parsePSS(data []byte) (int64, error) { return parseRollup(data, "Pss") }

// parseRollup returns the line field (Pss, Rss, ...) of
// /proc/PID/smaps_rollup, in kB.
func parseRollup(data []byte, field string) (int64, error) {
	for line := range strings.SplitSeq(string(data), "\n") {
		rest, ok := strings.CutPrefix(line, field+":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("smaps_rollup: odd %s line %q", field, line)
		}
		return strconv.ParseInt(f[0], 10, 64)
	}
	return 0, fmt.Errorf("smaps_rollup: no %s line", field)
}

// pssParts splits pid's PSS, in kB, into mapped files (Pss_File, and
// Pss_Shmem: a store on tmpfs is shared memory, on a disk a mapped file)
// and anonymous memory (Pss_Anon), as smaps_rollup has them since Linux
// 5.6.
func pssParts(pid int) (file, anon int64, err error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/smaps_rollup")
	if err != nil {
		return 0, 0, err
	}
	f, err := parseRollup(data, "Pss_File")
	if err != nil {
		return 0, 0, err
	}
	sh, err := parseRollup(data, "Pss_Shmem")
	if err != nil {
		return 0, 0, err
	}
	anon, err = parseRollup(data, "Pss_Anon")
	if err != nil {
		return 0, 0, err
	}
	return f + sh, anon, nil
}

// pssKB sums the PSS of pids; processes gone meanwhile count as nothing.
func pssKB(pids []int) (int64, error) { return rollupKB(pids, "Pss") }

// rollupKB sums the smaps_rollup field (Pss, Rss) of pids, in kB;
// processes gone meanwhile count as nothing.
func rollupKB(pids []int, field string) (int64, error) {
	var sum int64
	read := 0
	for _, pid := range pids {
		data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/smaps_rollup")
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
			continue
		}
		if err != nil {
			return 0, err
		}
		kb, err := parseRollup(data, field)
		if err != nil {
			return 0, fmt.Errorf("pid %d: %w", pid, err)
		}
		sum += kb
		read++
	}
	if read == 0 {
		return 0, errors.New("no supervisor process left to read")
	}
	return sum, nil
}

// cpuTicks sums utime+stime of pids (processes gone count as nothing).
func cpuTicks(pids []int) map[int]uint64 {
	out := make(map[int]uint64, len(pids))
	for _, pid := range pids {
		if st, err := readStat(pid); err == nil {
			out[pid] = st.utime + st.stime
		}
	}
	return out
}

// parseSchedstat returns the first field of /proc/PID/task/TID/schedstat:
// time spent on a CPU, in ns.
func parseSchedstat(data []byte) (uint64, error) {
	f := strings.Fields(string(data))
	if len(f) < 1 {
		return 0, errors.New("schedstat: empty")
	}
	return strconv.ParseUint(f[0], 10, 64)
}

// cpuNS sums the on-CPU time of every thread of each pid, in ns, from
// schedstat: the tick counts of /proc/PID/stat (10 ms) are too coarse for a
// supervisor that sleeps. ok is false when schedstat cannot be read.
func cpuNS(pids []int) (per map[int]uint64, ok bool) {
	per = make(map[int]uint64, len(pids))
	for _, pid := range pids {
		dir := "/proc/" + strconv.Itoa(pid) + "/task"
		tasks, err := os.ReadDir(dir)
		if err != nil {
			continue // gone
		}
		var sum uint64
		for _, t := range tasks {
			data, err := os.ReadFile(filepath.Join(dir, t.Name(), "schedstat"))
			if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
				continue
			}
			if err != nil {
				return nil, false
			}
			v, err := parseSchedstat(data)
			if err != nil {
				return nil, false
			}
			sum += v
		}
		per[pid] = sum
	}
	return per, true
}

// delta sums after-before over the pids present in both.
func delta(before, after map[int]uint64) uint64 {
	var d uint64
	for pid, a := range after {
		if b, ok := before[pid]; ok && a >= b {
			d += a - b
		}
	}
	return d
}

func sum(m map[int]uint64) uint64 {
	var s uint64
	for _, v := range m {
		s += v
	}
	return s
}

// settle waits until the CPU time of the processes side() returns stops
// growing for 200 ms (a supervisor finishing its start-up work), for at
// most within. It reports whether they settled.
func settle(ctx context.Context, side func() []int, within time.Duration) (bool, error) {
	deadline := time.Now().Add(within)
	last := uint64(1<<64 - 1)
	for time.Now().Before(deadline) {
		now := sum(cpuTicks(side()))
		if now == last {
			return true, nil
		}
		last = now
		if err := sleepCtx(ctx, 200*time.Millisecond); err != nil {
			return false, err
		}
	}
	return false, nil
}

// waitGone waits until every process of pids has exited (a zombie counts
// as exited), for at most within, and returns when the last one went. It
// watches them with pidfds, or polls /proc where pidfd_open is missing.
func waitGone(ctx context.Context, pids []int, within time.Duration) (time.Time, error) {
	deadline := time.Now().Add(within)
	var fds []unix.PollFd
	var polled []int
	for _, pid := range pids {
		fd, err := unix.PidfdOpen(pid, 0)
		switch {
		case err == nil:
			fds = append(fds, unix.PollFd{Fd: int32(fd), Events: unix.POLLIN})
		case errors.Is(err, unix.ESRCH):
			// already reaped
		default:
			polled = append(polled, pid)
		}
	}
	defer func() {
		for _, f := range fds {
			if f.Fd >= 0 {
				unix.Close(int(f.Fd))
			}
		}
	}()
	left := len(fds)
	for left > 0 || len(polled) > 0 {
		if err := ctx.Err(); err != nil {
			return time.Time{}, err
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			return time.Time{}, fmt.Errorf("%d of %d workloads still running after %s", left+len(polled), len(pids), within)
		}
		wait = min(wait, 100*time.Millisecond)
		if len(polled) > 0 {
			wait = min(wait, time.Millisecond)
		}
		if left > 0 {
			n, err := unix.Poll(fds, int(wait.Milliseconds())+1)
			if err != nil && !errors.Is(err, unix.EINTR) {
				return time.Time{}, fmt.Errorf("poll: %w", err)
			}
			if n > 0 {
				for i := range fds {
					if fds[i].Fd >= 0 && fds[i].Revents != 0 {
						unix.Close(int(fds[i].Fd))
						fds[i].Fd = -1 // poll ignores negative fds
						left--
					}
				}
			}
		} else {
			time.Sleep(wait)
		}
		polled = stillRunning(polled)
	}
	return time.Now(), nil
}

func stillRunning(pids []int) []int {
	var out []int
	for _, pid := range pids {
		if st, err := readStat(pid); err == nil && st.state != 'Z' && st.state != 'X' {
			out = append(out, pid)
		}
	}
	return out
}

// killOurs sends SIGKILL, by pid, to every live process below this one
// (this program is a child subreaper, so orphans of what it started stay
// below it), until none is left or the bounded rounds run out; then it
// reaps what is left to reap. Call it only when no exec.Cmd of this
// program is running: it reaps any child.
func killOurs() (left int) {
	self := os.Getpid()
	for range 50 {
		snap, err := snapshot()
		if err != nil {
			return -1
		}
		var live []int
		for _, pid := range descendants(snap, self) {
			if !snap[pid].zombie {
				live = append(live, pid)
			}
		}
		reap()
		if len(live) == 0 {
			return 0
		}
		for _, pid := range live {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond)
		left = len(live)
	}
	return left
}

// reap collects every exited child without blocking.
func reap() {
	for range 100000 {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}

// parseProcStat returns the machine's busy and total CPU time from the
// "cpu" line of /proc/stat, in ticks; idle and iowait count as not busy.
func parseProcStat(data []byte) (busy, total uint64, err error) {
	line, _, _ := bytes.Cut(data, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 6 || f[0] != "cpu" {
		return 0, 0, errors.New("/proc/stat: no cpu line")
	}
	for i, x := range f[1:] {
		v, err := strconv.ParseUint(x, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/stat: %w", err)
		}
		if i >= 8 { // guest times are counted in user already
			break
		}
		total += v
		if i != 3 && i != 4 { // idle, iowait
			busy += v
		}
	}
	return busy, total, nil
}

func machineBusy() (busy, total uint64) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	busy, total, _ = parseProcStat(data)
	return busy, total
}
