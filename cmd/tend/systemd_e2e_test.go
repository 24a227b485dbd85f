package main

import (
	"github.com/tendhq/tend/internal/e2e"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The agent under systemd (Type=notify, WatchdogSec=): it says READY=1
// once it serves, pings WATCHDOG=1 while its loop answers, and STOPPING=1
// on SIGTERM. The test plays systemd's part with a socket of its own.
func TestAgentTalksToSystemd(t *testing.T) {
	dir := t.TempDir()
	sockPath := filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sockPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	os.MkdirAll(filepath.Join(dir, "units"), 0o755)
	cmd := exec.Command(e2e.TendBin, "agent", "--dev")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sockPath, "WATCHDOG_USEC=300000")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	defer func() {
		cmd.Process.Kill()
		<-exited
	}()

	// next returns the next message, failing after a deadline.
	next := func(want string) {
		t.Helper()
		buf := make([]byte, 4096)
		conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		for {
			n, err := conn.Read(buf)
			if err != nil {
				t.Fatalf("waiting for %s: %v", want, err)
			}
			if strings.Contains(string(buf[:n]), want) {
				return
			}
		}
	}
	next("READY=1")
	// Two pings: the watchdog is fed repeatedly, within WATCHDOG_USEC.
	next("WATCHDOG=1")
	next("WATCHDOG=1")
	// systemctl reload (SIGUSR2): the agent re-executes itself, saying
	// RELOADING=1 (with the time, as systemd wants) and READY=1 again.
	cmd.Process.Signal(syscall.SIGUSR2)
	next("RELOADING=1\nMONOTONIC_USEC=")
	next("READY=1")
	cmd.Process.Signal(syscall.SIGTERM)
	next("STOPPING=1")
	select {
	case <-exited:
		if waitErr != nil {
			t.Fatalf("agent exit: %v", waitErr)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the agent did not exit")
	}
}
