package probes

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// maxNotify is the largest notification datagram read; a longer one is
// dropped whole. systemd accepts messages of this size too.
const maxNotify = 64 << 10

// maxNotifyFDs bounds the descriptors (FDSTORE=1) a datagram may carry;
// they are closed at once, tend keeps no descriptor store.
const maxNotifyFDs = 256

// Notify is one sd_notify message, parsed. Fields are zero when their
// variable is absent.
type Notify struct {
	Ready           bool          // READY=1
	Reloading       bool          // RELOADING=1
	Stopping        bool          // STOPPING=1
	Watchdog        bool          // WATCHDOG=1: feed the watchdog
	WatchdogTrigger bool          // WATCHDOG=trigger: fail as a watchdog timeout at once
	Status          string        // STATUS=; Raw tells "STATUS=" (cleared) from absent
	MainPID         int           // MAINPID=
	ExtendTimeout   time.Duration // EXTEND_TIMEOUT_USEC=
	WatchdogTimeout time.Duration // WATCHDOG_USEC=
	Errno           int           // ERRNO=
	// Raw holds every KEY=VALUE of the message (the last one of a
	// repeated key), the known ones included.
	Raw map[string]string
	// SenderPID is the sending process, from the kernel's credentials
	// (SCM_CREDENTIALS); 0 if none came with the message.
	SenderPID int
}

// FromProcessGroup reports whether the message was sent by a process of
// process group pgid (an instance's group has its leader's pid as id).
// The supervisor drops messages for which it is false: the socket may be
// reachable by other local processes, and a sender that has already
// exited cannot be attributed (as with systemd's NotifyAccess=main/exec;
// senders such as systemd-notify should wait for the message to be taken).
// It reads the sender's process group now, so call it when the message
// arrives.
func (n Notify) FromProcessGroup(pgid int) bool {
	if n.SenderPID <= 0 || pgid <= 0 {
		return false
	}
	g, err := syscall.Getpgid(n.SenderPID)
	return err == nil && g == pgid
}

// parseNotify parses systemd's format: newline-separated KEY=VALUE
// assignments; lines without "=" are ignored.
func parseNotify(b []byte) Notify {
	n := Notify{Raw: make(map[string]string)}
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		k, v, ok := bytes.Cut(line, []byte("="))
		if !ok || len(k) == 0 {
			continue
		}
		key, val := string(k), string(v)
		n.Raw[key] = val
		switch key {
		case "READY":
			n.Ready = val == "1"
		case "RELOADING":
			n.Reloading = val == "1"
		case "STOPPING":
			n.Stopping = val == "1"
		case "WATCHDOG":
			n.Watchdog = val == "1"
			n.WatchdogTrigger = val == "trigger"
		case "STATUS":
			n.Status = val
		case "MAINPID":
			n.MainPID = atoiPositive(val)
		case "ERRNO":
			n.Errno = atoiPositive(val)
		case "EXTEND_TIMEOUT_USEC":
			n.ExtendTimeout = usec(val)
		case "WATCHDOG_USEC":
			n.WatchdogTimeout = usec(val)
		}
	}
	return n
}

func atoiPositive(s string) int {
	i, err := strconv.Atoi(s)
	if err != nil || i < 0 {
		return 0
	}
	return i
}

func usec(s string) time.Duration {
	u, err := strconv.ParseUint(s, 10, 64)
	if err != nil || u > uint64(1<<63-1)/uint64(time.Microsecond) {
		return 0
	}
	return time.Duration(u) * time.Microsecond
}

// A NotifySocket is a NOTIFY_SOCKET: a unixgram socket on which an
// instance sends sd_notify messages. Use one per instance, so a message's
// socket says whose it is.
type NotifySocket struct {
	path      string
	conn      *net.UnixConn
	done      chan struct{}
	detaching atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

// ListenNotify creates a unixgram socket at path and calls onMessage for
// each message that arrives, until Close.
//
// The socket is made mode 0666, so an instance running as another user
// can send to it; the supervisor keeps strangers out with the directory
// around it (0711, owned by the agent: reachable but not listable) and
// by checking Notify.FromProcessGroup. A stale socket left at path by a
// previous agent is replaced; any other file there is an error. path must
// fit a socket address (at most 107 bytes): keep the directory short,
// such as /run/tend/notify/INSTANCE.RUN. Close removes path whatever is
// there by then, so give each socket a path of its own rather than
// listening again on the path of one that is still to be closed.
//
// onMessage is called from the socket's goroutine, one message at a
// time, in arrival order; it must not block (messages wait in the
// kernel's queue meanwhile) and must not call Close.
func ListenNotify(path string, onMessage func(Notify)) (*NotifySocket, error) {
	if onMessage == nil {
		return nil, errors.New("listen notify: nil onMessage")
	}
	if fi, err := os.Lstat(path); err == nil && fi.Mode().Type() == fs.ModeSocket {
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("listen notify: remove stale socket: %w", err)
		}
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("listen notify: %w", err)
	}
	fail := func(err error) (*NotifySocket, error) {
		conn.Close()
		os.Remove(path)
		return nil, fmt.Errorf("listen notify %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o666); err != nil {
		return fail(err)
	}
	raw, err := conn.SyscallConn()
	if err != nil {
		return fail(err)
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_PASSCRED, 1)
	}); err != nil {
		return fail(err)
	}
	if serr != nil {
		return fail(fmt.Errorf("set SO_PASSCRED: %w", serr))
	}
	s := &NotifySocket{path: path, conn: conn, done: make(chan struct{})}
	go s.loop(onMessage)
	return s, nil
}

// NotifyFromFile takes over a NOTIFY_SOCKET at path that another process
// listened on (ListenNotify) and handed over as f with Detach: messages
// queued meanwhile are read first. f is closed; the socket keeps its
// path, mode and SO_PASSCRED. onMessage is as for ListenNotify.
func NotifyFromFile(path string, f *os.File, onMessage func(Notify)) (*NotifySocket, error) {
	if onMessage == nil {
		return nil, errors.New("notify socket: nil onMessage")
	}
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("notify socket %s: %w", path, err)
	}
	conn, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("notify socket %s: not a unix socket", path)
	}
	s := &NotifySocket{path: path, conn: conn, done: make(chan struct{})}
	go s.loop(onMessage)
	return s, nil
}

// Path returns the socket's path, the instance's NOTIFY_SOCKET.
func (s *NotifySocket) Path() string { return s.path }

func (s *NotifySocket) loop(onMessage func(Notify)) {
	defer close(s.done)
	buf := make([]byte, maxNotify)
	oob := make([]byte, syscall.CmsgSpace(syscall.SizeofUcred)+syscall.CmsgSpace(4*maxNotifyFDs))
	for {
		n, oobn, flags, _, err := s.conn.ReadMsgUnix(buf, oob)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || (s.detaching.Load() && errors.Is(err, os.ErrDeadlineExceeded)) {
				return
			}
			continue // a datagram socket has no lasting read errors
		}
		pid := readCredentials(oob[:oobn])
		if flags&syscall.MSG_TRUNC != 0 || n == 0 {
			continue // too long to be whole, or empty: systemd drops them too
		}
		msg := parseNotify(buf[:n])
		msg.SenderPID = pid
		onMessage(msg)
	}
}

// readCredentials returns the sender's pid from the control messages and
// closes any descriptors they carried.
func readCredentials(oob []byte) (pid int) {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return 0
	}
	for i := range msgs {
		m := &msgs[i]
		if m.Header.Level != syscall.SOL_SOCKET {
			continue
		}
		switch m.Header.Type {
		case syscall.SCM_CREDENTIALS:
			if cred, err := syscall.ParseUnixCredentials(m); err == nil {
				pid = int(cred.Pid)
			}
		case syscall.SCM_RIGHTS:
			if fds, err := syscall.ParseUnixRights(m); err == nil {
				for _, fd := range fds {
					syscall.Close(fd)
				}
			}
		}
	}
	return pid
}

// Detach stops reading the socket without closing it or removing its
// path, and returns a duplicate of its descriptor for the process that
// takes it over (NotifyFromFile): a message that arrives from now on
// waits in the kernel's queue for the next reader. The socket is closed
// as with Close, but its path stays. Call Detach instead of Close, once.
func (s *NotifySocket) Detach() (*os.File, error) {
	s.detaching.Store(true)
	s.conn.SetReadDeadline(time.Unix(1, 0))
	<-s.done
	f, err := s.conn.File()
	s.closeOnce.Do(func() { s.closeErr = s.conn.Close() })
	if err != nil {
		return nil, fmt.Errorf("detach notify socket %s: %w", s.path, err)
	}
	return f, nil
}

// Close closes the socket, removes its file and returns when its
// goroutine has ended: no onMessage call comes after it returns. Close is
// idempotent and safe from any goroutine but onMessage's.
func (s *NotifySocket) Close() error {
	s.closeOnce.Do(func() {
		s.closeErr = s.conn.Close()
		<-s.done
		if err := os.Remove(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) && s.closeErr == nil {
			s.closeErr = err
		}
	})
	return s.closeErr
}
