package probes

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"syscall"
	"testing"
	"time"
)

func dialNotify(path string) (*net.UnixConn, error) {
	return net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
}

func TestParseNotify(t *testing.T) {
	n := parseNotify([]byte("READY=1\nSTATUS=Serving 3 clients\nMAINPID=4242\nWATCHDOG=1\n" +
		"EXTEND_TIMEOUT_USEC=5000000\nWATCHDOG_USEC=30000000\nERRNO=2\nRELOADING=1\nSTOPPING=1\nX_CUSTOM=a=b\nno equals sign\n\n"))
	want := Notify{
		Ready: true, Reloading: true, Stopping: true, Watchdog: true,
		Status: "Serving 3 clients", MainPID: 4242, ExtendTimeout: 5 * time.Second,
		WatchdogTimeout: 30 * time.Second, Errno: 2,
		Raw: map[string]string{
			"READY": "1", "STATUS": "Serving 3 clients", "MAINPID": "4242", "WATCHDOG": "1",
			"EXTEND_TIMEOUT_USEC": "5000000", "WATCHDOG_USEC": "30000000", "ERRNO": "2",
			"RELOADING": "1", "STOPPING": "1", "X_CUSTOM": "a=b",
		},
	}
	if !reflect.DeepEqual(n, want) {
		t.Errorf("got  %+v\nwant %+v", n, want)
	}
	if n := parseNotify([]byte("WATCHDOG=trigger\nREADY=0\nMAINPID=-1\nWATCHDOG_USEC=x")); !n.WatchdogTrigger || n.Watchdog || n.Ready || n.MainPID != 0 || n.WatchdogTimeout != 0 {
		t.Errorf("got %+v", n)
	}
}

// listen opens a notify socket in a 0711 directory and returns it with
// the channel its messages arrive on.
func listen(t *testing.T) (*NotifySocket, chan Notify) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "notify")
	if err := os.Mkdir(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	msgs := make(chan Notify, 16)
	s, err := ListenNotify(filepath.Join(dir, "kubia-1.sock"), func(n Notify) { msgs <- n })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, msgs
}

func receive(t *testing.T, msgs <-chan Notify) Notify {
	t.Helper()
	select {
	case n := <-msgs:
		return n
	case <-time.After(10 * time.Second):
		t.Fatal("no notify message")
		return Notify{}
	}
}

func TestNotifySocket(t *testing.T) {
	s, msgs := listen(t)
	fi, err := os.Stat(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o666 {
		t.Errorf("socket mode %v", fi.Mode())
	}

	conn, err := dialNotify(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, tc := range []struct {
		send  string
		check func(Notify) bool
	}{
		{"READY=1\nSTATUS=warming up", func(n Notify) bool { return n.Ready && n.Status == "warming up" }},
		{"WATCHDOG=1", func(n Notify) bool { return n.Watchdog && !n.Ready }},
		{"MAINPID=4242", func(n Notify) bool { return n.MainPID == 4242 }},
		{"EXTEND_TIMEOUT_USEC=2500000", func(n Notify) bool { return n.ExtendTimeout == 2500*time.Millisecond }},
		{"STATUS=", func(n Notify) bool { _, ok := n.Raw["STATUS"]; return ok && n.Status == "" }},
	} {
		if _, err := conn.Write([]byte(tc.send)); err != nil {
			t.Fatal(err)
		}
		n := receive(t, msgs)
		if !tc.check(n) {
			t.Errorf("%q: got %+v", tc.send, n)
		}
		if n.SenderPID != os.Getpid() {
			t.Errorf("%q: sender pid %d, want %d", tc.send, n.SenderPID, os.Getpid())
		}
		if !n.FromProcessGroup(syscall.Getpgrp()) || n.FromProcessGroup(1) {
			t.Errorf("%q: FromProcessGroup wrong for sender %d", tc.send, n.SenderPID)
		}
	}

	// An over-long datagram is dropped whole; the next one still arrives.
	big := make([]byte, maxNotify+1)
	for i := range big {
		big[i] = 'x'
	}
	if _, err := conn.Write(big); err != nil {
		t.Fatal(err)
	}
	conn.Write([]byte("READY=1"))
	if n := receive(t, msgs); !n.Ready {
		t.Errorf("after an over-long message: got %+v", n)
	}
}

// TestNotifySocketDescriptorsClosed checks that descriptors sent along
// (FDSTORE=1) are not kept.
func TestNotifySocketDescriptorsClosed(t *testing.T) {
	s, msgs := listen(t)
	conn, err := dialNotify(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	before := openFDs(t)
	for range 5 {
		if err := sendWithRights(conn, []byte("FDSTORE=1"), int(f.Fd())); err != nil {
			t.Fatal(err)
		}
		if n := receive(t, msgs); n.Raw["FDSTORE"] != "1" {
			t.Fatalf("got %+v", n)
		}
	}
	if after := openFDs(t); after > before {
		t.Errorf("%d descriptors open before, %d after", before, after)
	}
}

// sendWithRights sends b with descriptor fd attached, as sd_pid_notify_with_fds does.
func sendWithRights(conn *net.UnixConn, b []byte, fd int) error {
	raw, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Write(func(s uintptr) bool {
		serr = syscall.Sendmsg(int(s), b, syscall.UnixRights(fd), nil, 0)
		return serr != syscall.EAGAIN
	}); err != nil {
		return err
	}
	return serr
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip(err)
	}
	return len(ents)
}

// TestNotifySocketFromInstance has a separate process, in a process group
// of its own as an instance is, send READY=1.
func TestNotifySocketFromInstance(t *testing.T) {
	s, msgs := listen(t)
	cmd := exec.Command(os.Args[0], "notify", "READY=1\nSTATUS=up")
	cmd.Env = append(os.Environ(), helperEnv+"=1", "NOTIFY_SOCKET="+s.Path())
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("helper: %v", err)
		}
	}()
	n := receive(t, msgs)
	if !n.Ready || n.Status != "up" || n.SenderPID != cmd.Process.Pid {
		t.Errorf("got %+v from pid %d", n, cmd.Process.Pid)
	}
	if !n.FromProcessGroup(cmd.Process.Pid) {
		t.Error("not from the instance's process group")
	}
	if n.FromProcessGroup(syscall.Getpgrp()) {
		t.Error("from the agent's process group")
	}
}

func TestNotifySocketClose(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "n.sock")
	s, err := ListenNotify(path, func(Notify) {})
	if err != nil {
		t.Fatal(err)
	}
	// A stale socket at the path is replaced.
	s2, err := ListenNotify(path, func(Notify) {})
	if err != nil {
		t.Fatalf("over a stale socket: %v", err)
	}
	if err := s.Close(); err != nil && !os.IsNotExist(err) {
		t.Logf("closing the replaced socket: %v", err)
	}
	if err := s2.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	if err := s2.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Errorf("socket file left: %v", err)
	}
	// Any other file is not replaced.
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := ListenNotify(path, func(Notify) {}); err == nil {
		s.Close()
		t.Error("listened over a regular file")
	}
}

func TestWatchNotificationFD(t *testing.T) {
	t.Run("newline", func(t *testing.T) {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		ready := make(chan struct{}, 2)
		watch := WatchNotificationFD(r, func() { ready <- struct{}{} })
		defer watch.Stop()
		w.Write([]byte("starting, ignored"))
		w.Write([]byte(" still ignored\nmore"))
		select {
		case <-ready:
		case <-time.After(10 * time.Second):
			t.Fatal("onReady not called")
		}
		watch.Stop()
		if len(ready) != 0 {
			t.Error("onReady called twice")
		}
		// The agent's end is closed after readiness: the instance's
		// writes now fail.
		if _, err := w.Write([]byte("\n")); err == nil {
			t.Error("read end still open after readiness")
		}
	})
	t.Run("eof", func(t *testing.T) {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		called := false
		watch := WatchNotificationFD(r, func() { called = true })
		w.Write([]byte("no newline"))
		w.Close()
		watch.Stop() // the goroutine ends by itself at EOF; stop waits for it
		if called {
			t.Error("onReady called without a newline")
		}
	})
	t.Run("stop", func(t *testing.T) {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		called := false
		watch := WatchNotificationFD(r, func() { called = true })
		watch.Stop()
		watch.Stop()
		if called {
			t.Error("onReady called")
		}
	})
}

// A socket handed over with Detach keeps what was sent while nobody read
// it, and its path: the taker reads every message, in order.
func TestNotifySocketDetach(t *testing.T) {
	path := filepath.Join(t.TempDir(), "n.sock")
	got := make(chan Notify, 8)
	s, err := ListenNotify(path, func(n Notify) { got <- n })
	if err != nil {
		t.Fatal(err)
	}
	c, err := dialNotify(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("STATUS=before"))
	if n := <-got; n.Status != "before" {
		t.Fatalf("first message: %+v", n)
	}
	f, err := s.Detach()
	if err != nil {
		t.Fatal(err)
	}
	s.Close() // after Detach: the path stays
	if _, err := c.Write([]byte("STATUS=between")); err != nil {
		t.Fatalf("send while detached: %v", err)
	}
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("path gone after Detach: %v", err)
	}
	select {
	case n := <-got:
		t.Fatalf("detached socket still read %+v", n)
	default:
	}
	s2, err := NotifyFromFile(path, f, func(n Notify) { got <- n })
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	c.Write([]byte("STATUS=after"))
	for _, want := range []string{"between", "after"} {
		select {
		case n := <-got:
			if n.Status != want {
				t.Fatalf("got %q, want %q", n.Status, want)
			}
			if n.SenderPID != os.Getpid() {
				t.Errorf("sender pid %d after the handover, want %d (SO_PASSCRED lost?)", n.SenderPID, os.Getpid())
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("message %q not read after the handover", want)
		}
	}
}

// A notification descriptor handed over with Detach stays open (the
// instance's writes must not fail) and the taker sees the newline.
func TestWatchNotificationFDDetach(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	called := make(chan struct{}, 2)
	watch := WatchNotificationFD(r, func() { called <- struct{}{} })
	w.Write([]byte("starting"))
	kept := watch.Detach()
	if kept == nil {
		t.Fatal("Detach returned no descriptor for a watch still waiting")
	}
	if _, err := w.Write([]byte(" still\n")); err != nil {
		t.Fatalf("the instance's write failed after Detach: %v", err)
	}
	if len(called) != 0 {
		t.Fatal("onReady called by a detached watch")
	}
	watch2 := WatchNotificationFD(kept, func() { called <- struct{}{} })
	defer watch2.Stop()
	select {
	case <-called:
	case <-time.After(10 * time.Second):
		t.Fatal("the taker did not see the newline")
	}
	if watch2.Detach() != nil {
		t.Error("Detach after readiness returned a descriptor")
	}
}
