package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// drainServer serves "hello" on a fresh unix socket, and returns the
// server with the socket's path, a duplicate of its descriptor, as a
// handover keeps one for the successor, and a channel that receives as
// the server accepts each connection.
func drainServer(t *testing.T) (*apiServer, string, *os.File, <-chan struct{}) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "api.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ul := ln.(*net.UnixListener)
	ul.SetUnlinkOnClose(false)
	dup, err := ul.File()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dup.Close() })
	taken := make(chan struct{}, 16)
	s := newAPIServer(&http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "hello")
		}),
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				taken <- struct{}{}
			}
		},
	}, ln)
	ready := make(chan struct{})
	close(ready)
	go s.serve(ready, nil)
	t.Cleanup(func() { s.Close() })
	return s, path, dup, taken
}

// accepted dials path and waits until the server has accepted the
// connection, without sending anything on it.
func accepted(t *testing.T, path string, taken <-chan struct{}) net.Conn {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	select {
	case <-taken:
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not accept the connection within 10s")
	}
	return c
}

// A connection the server accepted before the handover, whose request
// comes only once the server is draining, is answered: with
// http.Server.Shutdown its client would read EOF.
func TestDrainAnswersARequestThatComesAfterItBegan(t *testing.T) {
	s, path, _, taken := drainServer(t)
	c := accepted(t, path, taken)
	drained := make(chan error, 1)
	go func() { drained <- s.drain(context.Background()) }()
	// The server accepts nothing once the drain has begun: a dial now
	// waits in the backlog kept by the duplicate.
	select {
	case <-s.served:
	case <-time.After(10 * time.Second):
		t.Fatal("the drain did not stop accepting within 10s")
	}
	select {
	case err := <-drained:
		t.Fatalf("the drain ended (%v) with a connection accepted and not answered", err)
	default:
	}
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: tend\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("the request sent after the drain began was not answered: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(body) != "hello" {
		t.Fatalf("answer %s %q, want 200 hello", resp.Status, body)
	}
	if !resp.Close {
		t.Error("a connection answered during the drain is kept alive; it should close")
	}
	select {
	case err := <-drained:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the drain did not end within 10s of the last connection's answer")
	}
}

// The socket stays open in the duplicate the handover keeps: a client
// that connects while the server drains waits in the backlog, and the
// next server on the same descriptor answers it.
func TestDrainLeavesTheBacklogToTheSuccessor(t *testing.T) {
	s, path, dup, _ := drainServer(t)
	if err := s.drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("connecting while the socket is handed over: %v", err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: tend\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	ln, err := net.FileListener(dup)
	if err != nil {
		t.Fatal(err)
	}
	next := newAPIServer(&http.Server{Handler: s.Handler}, ln)
	ready := make(chan struct{})
	close(ready)
	go next.serve(ready, nil)
	defer next.Close()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("the successor did not answer the connection from the backlog: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("successor answered %s", resp.Status)
	}
}

// A client that connects and never sends a request holds the drain no
// longer than its context.
func TestDrainIsBoundedByItsContext(t *testing.T) {
	s, path, _, taken := drainServer(t)
	accepted(t, path, taken)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.drain(ctx); err == nil {
		t.Fatal("the drain ended with a silent client's connection open")
	}
}
