package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
)

// apiServer is an http.Server whose socket can be handed over to a
// successor without a request going unanswered.
//
// http.Server.Shutdown cannot do that. It closes the listener and waits
// for the connections it has accepted, but one accepted just before,
// whose request is read after Shutdown began, is closed unanswered
// (net/http's conn.serve returns once shuttingDown): its client reads
// EOF, although the successor would have answered it from the backlog.
// drain instead stops accepting (the socket stays open in the handoff's
// duplicate, so what arrives from then on waits in its backlog), turns
// keep-alives off, so that each connection closes after its answer and
// the idle ones at once, and waits until every connection accepted has
// been answered and closed.
type apiServer struct {
	*http.Server
	ln     net.Listener
	conns  sync.WaitGroup // accepted and not yet closed or hijacked
	served chan struct{}  // closed when serve has returned
}

// newAPIServer serves h on ln once serve is called.
func newAPIServer(srv *http.Server, ln net.Listener) *apiServer {
	s := &apiServer{Server: srv, ln: ln, served: make(chan struct{})}
	hook := srv.ConnState
	// Serve calls ConnState(StateNew) before it accepts the next
	// connection, so once it has returned the count takes no more Adds.
	srv.ConnState = func(c net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			s.conns.Add(1)
		case http.StateClosed, http.StateHijacked:
			s.conns.Done()
		}
		if hook != nil {
			hook(c, st)
		}
	}
	return s
}

// serve serves once ready is closed, until the server is closed or
// drained; it returns at once when quit is closed first. The error is
// nil when it ended as asked.
func (s *apiServer) serve(ready, quit <-chan struct{}) error {
	defer close(s.served)
	select {
	case <-ready:
	case <-quit:
		return nil
	}
	// Closed by Shutdown or Close, or its listener by drain.
	if err := s.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

// drain stops taking connections and waits, until ctx ends, for those
// taken to be answered and closed. The listener's socket is closed only
// if no other descriptor holds it open. Close ends what is left.
func (s *apiServer) drain(ctx context.Context) error {
	s.SetKeepAlivesEnabled(false) // also closes the idle connections
	s.ln.Close()
	quiet := make(chan struct{})
	go func() {
		<-s.served // then no connection is taken any more
		s.conns.Wait()
		close(quiet)
	}()
	select {
	case <-quiet:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
