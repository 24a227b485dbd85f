package cluster

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// keysDir writes a new CA into a directory and returns it.
func keysDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	crt, key, err := NewCA("test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, CACertFile), crt, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, CAKeyFile), key, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func identity(t *testing.T, keys, host string) *Identity {
	t.Helper()
	id, err := LoadIdentity(keys, t.TempDir(), host)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// handshake serves one TLS connection with server's configuration and
// dials it with client's; it returns the host the server saw and each
// side's error.
func handshake(t *testing.T, server, client *tls.Config) (peer string, serr, cerr error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		peer string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer c.Close()
		tc := tls.Server(c, server)
		err = tc.Handshake()
		if err == nil {
			// TLS 1.3 checks the client's certificate after the client
			// thinks the handshake is done: read to make it see a refusal.
			_, err = tc.Write([]byte("ok"))
		}
		st := tc.ConnectionState()
		done <- result{PeerHost(&st), err}
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), client)
	if err == nil {
		buf := make([]byte, 2)
		_, err = io.ReadFull(c, buf)
		c.Close()
	}
	r := <-done
	return r.peer, r.err, err
}

func TestMutualTLSBetweenHostsOfOneCluster(t *testing.T) {
	keys := keysDir(t)
	a, b := identity(t, keys, "edge-1"), identity(t, keys, "edge-2")
	peer, serr, cerr := handshake(t, a.ServerTLS(), b.ClientTLS("edge-1"))
	if serr != nil || cerr != nil {
		t.Fatalf("server: %v, client: %v", serr, cerr)
	}
	if peer != "edge-2" {
		t.Errorf("the server saw host %q, want edge-2", peer)
	}
}

func TestAHostOfAnotherClusterIsRefused(t *testing.T) {
	ours, theirs := keysDir(t), keysDir(t)
	a, stranger := identity(t, ours, "edge-1"), identity(t, theirs, "edge-9")
	t.Run("as a caller", func(t *testing.T) {
		_, serr, cerr := handshake(t, a.ServerTLS(), stranger.ClientTLS("edge-1"))
		if serr == nil {
			t.Error("the server accepted a caller with another CA's certificate")
		}
		if cerr == nil {
			t.Error("the stranger's call went through")
		}
	})
	t.Run("as a server", func(t *testing.T) {
		_, _, cerr := handshake(t, stranger.ServerTLS(), a.ClientTLS("edge-9"))
		if cerr == nil || !strings.Contains(cerr.Error(), "certificate") {
			t.Errorf("calling a server of another CA: %v, want a certificate error", cerr)
		}
	})
	t.Run("with no certificate", func(t *testing.T) {
		anon := &tls.Config{MinVersion: tls.VersionTLS13, InsecureSkipVerify: true}
		_, serr, _ := handshake(t, a.ServerTLS(), anon)
		if serr == nil {
			t.Error("the server accepted a caller without a certificate")
		}
	})
}

func TestACallerChecksItReachedTheHostItMeant(t *testing.T) {
	keys := keysDir(t)
	a, b := identity(t, keys, "edge-1"), identity(t, keys, "edge-2")
	// edge-1 answers at the address the caller believes is edge-3's.
	_, _, cerr := handshake(t, a.ServerTLS(), b.ClientTLS("edge-3"))
	if cerr == nil || !strings.Contains(cerr.Error(), `host "edge-1", not "edge-3"`) {
		t.Errorf("got %v, want the wrong host named", cerr)
	}
}

func TestASelfIssuedCertificateIsKeptAndRenewed(t *testing.T) {
	keys, state := keysDir(t), t.TempDir()
	first, err := LoadIdentity(keys, state, "edge-1")
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadIdentity(keys, state, "edge-1")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.cert.Certificate[0], again.cert.Certificate[0]) {
		t.Error("a restart issued a new certificate though the kept one is good for a year")
	}
	// Eleven months on, the kept one is due.
	later := func() time.Time { return time.Now().Add(hostLifetime - renewBefore/2) }
	renewed, err := loadIdentity(keys, state, "edge-1", later)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(first.cert.Certificate[0], renewed.cert.Certificate[0]) {
		t.Error("a certificate with two weeks left was not renewed")
	}
	// A running agent renews before it presents a certificate that is due.
	first.now = later
	c, err := first.certificate()
	if err != nil {
		t.Fatal(err)
	}
	if !c.Leaf.NotAfter.After(later().Add(renewBefore)) {
		t.Errorf("the running agent presents a certificate ending %v", c.Leaf.NotAfter)
	}
}

func TestAHostCertificateFromKeygen(t *testing.T) {
	keys := keysDir(t)
	caCrt, _ := os.ReadFile(filepath.Join(keys, CACertFile))
	caKey, _ := os.ReadFile(filepath.Join(keys, CAKeyFile))
	os.Remove(filepath.Join(keys, CAKeyFile)) // this host holds no CA key
	os.MkdirAll(filepath.Join(keys, HostsDir), 0o700)
	put := func(host, as string) {
		crt, key, err := IssueHostCert(caCrt, caKey, as, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(keys, HostsDir, host+".crt"), crt, 0o644)
		os.WriteFile(filepath.Join(keys, HostsDir, host+".key"), key, 0o600)
	}
	put("edge-1", "edge-1")
	if _, err := LoadIdentity(keys, t.TempDir(), "edge-1"); err != nil {
		t.Errorf("edge-1 with its own certificate: %v", err)
	}
	put("edge-2", "edge-1") // edge-1's certificate copied under edge-2's name
	if _, err := LoadIdentity(keys, t.TempDir(), "edge-2"); err == nil || !strings.Contains(err.Error(), `host "edge-1"'s, not "edge-2"'s`) {
		t.Errorf("edge-2 with edge-1's certificate: %v", err)
	}
	_, err := LoadIdentity(keys, t.TempDir(), "edge-3")
	if err == nil || !strings.Contains(err.Error(), "tend keygen --host edge-3") {
		t.Errorf("edge-3 with no certificate and no CA key: %v, want the keygen command", err)
	}
	if _, err := LoadIdentity(keys, t.TempDir(), "../edge-1"); err == nil {
		t.Error("a host name with a slash read a file outside hosts/")
	}
}

func TestNoCAIsErrNoCA(t *testing.T) {
	if _, err := LoadIdentity(t.TempDir(), t.TempDir(), "edge-1"); !errors.Is(err, ErrNoCA) {
		t.Errorf("got %v, want ErrNoCA", err)
	}
}

func TestAForeignCAKeyIsRefused(t *testing.T) {
	a, b := keysDir(t), keysDir(t)
	crt, _ := os.ReadFile(filepath.Join(a, CACertFile))
	key, _ := os.ReadFile(filepath.Join(b, CAKeyFile))
	if _, _, err := IssueHostCert(crt, key, "edge-1", time.Now()); err == nil {
		t.Error("a host certificate was issued with a key that is not the CA's")
	}
}

func TestTheTransportReachesAHostByName(t *testing.T) {
	keys := keysDir(t)
	a, b := identity(t, keys, "edge 1:a"), identity(t, keys, "edge-2")
	ln, err := tls.Listen("tcp", "127.0.0.1:0", a.ServerTLS())
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello "+PeerHost(r.TLS))
	})}
	go srv.Serve(ln)
	defer srv.Close()
	tr := b.Transport(func(host string) (string, error) {
		if host != "edge 1:a" {
			return "", fmt.Errorf("no host %q", host)
		}
		return ln.Addr().String(), nil
	})
	defer tr.CloseIdleConnections()
	res, err := (&http.Client{Transport: tr}).Get(HostURL("edge 1:a").String() + "/v1/version")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(body) != "hello edge-2" {
		t.Errorf("got %q", body)
	}
	// Asking for another host at that address fails the handshake.
	tr2 := b.Transport(func(string) (string, error) { return ln.Addr().String(), nil })
	defer tr2.CloseIdleConnections()
	if _, err := (&http.Client{Transport: tr2}).Get(HostURL("edge-3").String()); err == nil {
		t.Error("edge-1 answered a call meant for edge-3")
	}
}

func TestAPeerThatSaysNothingDoesNotHoldTheCaller(t *testing.T) {
	keys := keysDir(t)
	b := identity(t, keys, "edge-2")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var held []net.Conn // taken, never answered
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	defer func() { ln.Close(); <-done }()
	tr := b.Transport(func(string) (string, error) { return ln.Addr().String(), nil })
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", HostURL("edge-1").String()+"/v1/version", nil)
	_, err = tr.RoundTrip(req)
	if err == nil || ctx.Err() != nil {
		t.Fatalf("a silent peer: %v (the caller's own deadline: %v); want the handshake's timeout", err, ctx.Err())
	}
}

func TestAPeersEndlessHeadersAreRefused(t *testing.T) {
	keys := keysDir(t)
	a, b := identity(t, keys, "edge-1"), identity(t, keys, "edge-2")
	ln, err := tls.Listen("tcp", "127.0.0.1:0", a.ServerTLS())
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Junk", strings.Repeat("x", 1<<20))
	})}
	go srv.Serve(ln)
	defer srv.Close()
	tr := b.Transport(func(string) (string, error) { return ln.Addr().String(), nil })
	defer tr.CloseIdleConnections()
	if _, err := (&http.Client{Transport: tr}).Get(HostURL("edge-1").String()); err == nil || !strings.Contains(err.Error(), "header") {
		t.Errorf("a 1 MiB header: %v, want it refused", err)
	}
}

func TestSecretsReadableByOthersAreRefused(t *testing.T) {
	keys := keysDir(t)
	os.Chmod(filepath.Join(keys, CAKeyFile), 0o644)
	if _, err := LoadIdentity(keys, t.TempDir(), "edge-1"); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("a ca.key of mode 0644: %v", err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, GossipKeyFile), []byte("MDEyMzQ1Njc4OWFiY2RlZg==\n"), 0o640)
	if _, err := LoadGossipKeys(dir); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("a gossip.key of mode 0640: %v", err)
	}
}

func TestAnExpiredHostCertificateIsRefused(t *testing.T) {
	keys := keysDir(t)
	caCrt, _ := os.ReadFile(filepath.Join(keys, CACertFile))
	caKey, _ := os.ReadFile(filepath.Join(keys, CAKeyFile))
	os.Remove(filepath.Join(keys, CAKeyFile))
	crt, key, err := IssueHostCert(caCrt, caKey, "edge-1", time.Now().Add(-2*hostLifetime))
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(keys, HostsDir), 0o700)
	os.WriteFile(filepath.Join(keys, HostsDir, "edge-1.crt"), crt, 0o644)
	os.WriteFile(filepath.Join(keys, HostsDir, "edge-1.key"), key, 0o600)
	if _, err := LoadIdentity(keys, t.TempDir(), "edge-1"); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("an expired certificate: %v", err)
	}
}
