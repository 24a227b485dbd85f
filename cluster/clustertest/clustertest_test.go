package clustertest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as the program run on the hosts: with
// CLUSTERTEST_LISTEN it answers one line on a TCP address; with
// CLUSTERTEST_DIAL it sends one and prints the answer.
func TestMain(m *testing.M) {
	if addr := os.Getenv("CLUSTERTEST_LISTEN"); addr != "" {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		fmt.Println("listening")
		for {
			c, err := l.Accept()
			if err != nil {
				os.Exit(1)
			}
			line, _ := bufio.NewReader(c).ReadString('\n')
			host, _ := os.Hostname()
			fmt.Fprintf(c, "%d %s %s", os.Getpid(), host, line)
			c.Close()
		}
	}
	if addr := os.Getenv("CLUSTERTEST_DIAL"); addr != "" {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		fmt.Fprintln(c, "hello")
		line, _ := bufio.NewReader(c).ReadString('\n')
		fmt.Print(line)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func newNet(t *testing.T, n int) *Net {
	t.Helper()
	if err := Available(); err != nil {
		t.Skipf("needs hosts made of namespaces: %v", err)
	}
	net, err := New(n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := net.Close(); err != nil {
			t.Error(err)
		}
	})
	return net
}

func links(t *testing.T) string {
	out, err := exec.Command("ip", "-o", "link").Output()
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestHostsTalkOverTheirOwnLinksOnly(t *testing.T) {
	before := links(t)
	nt := newNet(t, 2)
	if after := links(t); after != before {
		t.Fatalf("the machine's own links changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	h0, h1 := nt.Hosts[0], nt.Hosts[1]
	srv := h1.Command(self)
	srv.Env = append(os.Environ(), "CLUSTERTEST_LISTEN="+h1.Addr+":7000")
	out, err := srv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Wait()
	defer srv.Process.Kill()
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "listening\n" {
		t.Fatalf("the server on h1 said %q (%v)", line, err)
	}

	dial := func() (string, error) {
		c := h0.Command(self)
		c.Env = append(os.Environ(), "CLUSTERTEST_DIAL="+h1.Addr+":7000")
		b, err := c.CombinedOutput()
		return string(b), err
	}
	// h0 reaches h1, whose server is PID 1 of its own namespace.
	got, err := dial()
	if err != nil || !strings.HasPrefix(got, "1 ") || !strings.HasSuffix(got, " hello\n") {
		t.Fatalf("h0 → h1: %q (%v)", got, err)
	}
	// The machine itself has no route to the hosts.
	if c, err := net.DialTimeout("tcp", h1.Addr+":7000", 200*time.Millisecond); err == nil {
		c.Close()
		t.Fatal("the machine reached a host's address outside its Net")
	}

	// With h1's link down nothing gets through; with it up again, it does.
	if err := h1.LinkDown(); err != nil {
		t.Fatal(err)
	}
	if got, err := dial(); err == nil {
		t.Fatalf("h0 reached h1 with h1's link down: %q", got)
	}
	if err := h1.LinkUp(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := dial()
		if err == nil && strings.HasSuffix(got, " hello\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("h0 → h1 after the link came back: %q (%v)", got, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestKillingAHostKillsEverythingOnIt(t *testing.T) {
	nt := newNet(t, 1)
	h := nt.Hosts[0]
	// PID 1 of the host starts a child that would outlive it elsewhere,
	// and names the processes it sees.
	cmd := h.Command("sh", "-c", `sleep 1000 & echo $$; for p in /proc/[0-9]*; do cat $p/comm; done; echo end; wait`)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(out)
	if line, err := r.ReadString('\n'); err != nil || line != "1\n" {
		t.Fatalf("the host's first process is %q (%v), want pid 1", line, err)
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line == "end\n" {
			break
		}
		// sh, its sleep and the cats: nothing of the machine's.
		if c := strings.TrimSpace(line); c != "sh" && c != "sleep" && c != "cat" {
			t.Fatalf("the host's /proc shows %q", c)
		}
	}
	pids := func() []string {
		b, _ := exec.Command("ip", "netns", "pids", h.NS).Output()
		return strings.Fields(string(b))
	}
	if p := pids(); len(p) != 2 {
		t.Fatalf("processes on the host: %v, want sh and sleep", p)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for len(pids()) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("still running on the killed host: %v", pids())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestCloseRemovesEveryNamespace(t *testing.T) {
	if err := Available(); err != nil {
		t.Skipf("needs hosts made of namespaces: %v", err)
	}
	nt, err := New(3)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, h := range nt.Hosts {
		names = append(names, h.NS)
	}
	names = append(names, nt.sw)
	// A process left running on a host does not keep it.
	left := nt.Hosts[1].Command("sleep", "1000")
	if err := left.Start(); err != nil {
		t.Fatal(err)
	}
	if err := nt.Close(); err != nil {
		t.Fatal(err)
	}
	left.Wait()
	for _, n := range names {
		if _, err := os.Stat(filepath.Join("/run/netns", n)); !os.IsNotExist(err) {
			t.Errorf("namespace %s is still there (%v)", n, err)
		}
	}
	if err := nt.Close(); err != nil {
		t.Fatalf("a second Close: %v", err)
	}
	if _, err := New(0); err == nil {
		t.Fatal("New(0) made a Net")
	}
	if _, err := New(MaxHosts + 1); err == nil {
		t.Fatalf("New(%d) made a Net", MaxHosts+1)
	}
}
