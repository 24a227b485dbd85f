package supervisor

import (
	"fmt"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// The output of every run is waited for in one place: an epoll set of
// the runs' pipe read ends, which one goroutine waits on. When a pipe has
// output, a goroutine is started to copy it (RunLog.burst) and ends when
// the pipe runs dry, so an idle run costs no goroutine and no stack, only
// its entry in the set. A goroutine parked per pipe cost a stack of 2 to
// 8 KiB each: at 1000 instances, a tenth of the agent's memory.
//
// Each pipe is in the set with EPOLLONESHOT: its readiness is reported
// once, then not again until the copy that it started re-arms it. So at
// most one goroutine copies a run's output at a time, and who that is
// moves, under RunLog.mu, between the set (idle), the copy (busy) and
// Close or Detach when they end the log (see RunLog's ownership).
//
// The set is itself in Go's own poller (an epoll set is readable when
// it has events to report), so the waiting goroutine parks as any
// goroutine reading a pipe does, and holds no thread.

// logPoller is the epoll set and the runs in it.
type logPoller struct {
	epfd int
	set  *os.File // epfd, in Go's poller

	mu   sync.Mutex
	runs map[uint64]*RunLog // by pollID; a run leaves when its log ends or is detached
	next uint64
}

var (
	pollerOnce sync.Once
	poller     *logPoller
	pollerErr  error
)

// outputPoller is the agent's one logPoller, made at first use.
func outputPoller() (*logPoller, error) {
	pollerOnce.Do(func() {
		fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err == nil {
			err = unix.SetNonblock(fd, true) // so that os.NewFile puts it in Go's poller
		}
		if err != nil {
			pollerErr = fmt.Errorf("output poller: %w", err)
			return
		}
		p := &logPoller{epfd: fd, set: os.NewFile(uintptr(fd), "output poller"), runs: map[uint64]*RunLog{}}
		rc, err := p.set.SyscallConn()
		if err != nil {
			pollerErr = fmt.Errorf("output poller: %w", err)
			return
		}
		poller = p
		go p.wait(rc)
	})
	return poller, pollerErr
}

// pollEvents is how many readiness reports one epoll_wait takes.
const pollEvents = 128

// wait is the poller's goroutine: it hands each pipe that has output (or
// has ended) to the run's log, and parks in Go's poller while the set
// has nothing to report.
func (p *logPoller) wait(rc syscall.RawConn) {
	events := make([]unix.EpollEvent, pollEvents)
	// Read returns only if the set is closed, which nothing does: the
	// set lives as long as the process.
	rc.Read(func(uintptr) bool {
		for {
			n, err := unix.EpollWait(p.epfd, events, 0)
			if err == unix.EINTR {
				continue
			}
			if n <= 0 {
				return false // nothing to report (nothing else fails on a valid set): park
			}
			p.hand(events[:n])
		}
	})
}

// hand gives each report to its run.
func (p *logPoller) hand(events []unix.EpollEvent) {
	for _, ev := range events {
		p.mu.Lock()
		l := p.runs[eventID(ev)]
		p.mu.Unlock()
		if l != nil {
			l.readable()
		}
	}
}

// add puts l's pipe in the set, armed: l is idle until it has output.
func (p *logPoller) add(l *RunLog) error {
	p.mu.Lock()
	p.next++
	l.pollID = p.next
	p.runs[l.pollID] = l
	p.mu.Unlock()
	ev := pollEvent(l.pollID)
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, l.fd, &ev); err != nil {
		p.forget(l)
		return fmt.Errorf("output poller: add the pipe: %w", err)
	}
	return nil
}

// rearm reports l's pipe's readiness once more. Called by l's owner.
func (p *logPoller) rearm(l *RunLog) error {
	ev := pollEvent(l.pollID)
	return unix.EpollCtl(p.epfd, unix.EPOLL_CTL_MOD, l.fd, &ev)
}

// remove takes l's pipe out of the set, before it is closed or handed
// over. Called by l's owner.
func (p *logPoller) remove(l *RunLog) {
	unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, l.fd, nil)
	p.forget(l)
}

func (p *logPoller) forget(l *RunLog) {
	p.mu.Lock()
	delete(p.runs, l.pollID)
	p.mu.Unlock()
}

// A run's entry is named by a number never used again (not its pipe's
// descriptor number, which a later run may get while a report for the
// earlier one is still being handed out), in the event's 64 bits of user
// data: Fd and Pad on every Linux architecture.
func pollEvent(id uint64) unix.EpollEvent {
	return unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLONESHOT, Fd: int32(uint32(id)), Pad: int32(uint32(id >> 32))}
}

func eventID(ev unix.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}

// pollFallback is how long a run whose pipe could not be armed in the
// set (it was never added, or re-arming failed: the kernel out of
// memory) waits for output at a time, polling its pipe alone, before it
// looks again whether it is being closed or detached.
const pollFallback = 10 // ms

// waitReadable waits at most pollFallback for fd to have output.
func waitReadable(fd int) {
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	unix.Poll(pfd, pollFallback)
}
