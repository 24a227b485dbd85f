//go:build !noprofile

package main

// Go's runtime profiles, for developers: --cpu-profile and /debug/pprof.
// Left out of the armv7 build (make build sets the noprofile tag for
// GOARCH=arm; see noprofile.go), where runtime/pprof's ~140 KB of the
// static binary do not fit issue 9's 12 MB limit.

import (
	"fmt"
	"net/http"
	"os"
	"runtime/pprof"
	"strconv"
	"time"
)

// startCPUProfile writes a CPU profile of the agent to path until the
// returned function is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// stopCPUProfile ends a CPU profile, if one runs.
func stopCPUProfile() { pprof.StopCPUProfile() }

// withProfiles serves Go's runtime profiles under /debug/pprof/ beside the
// API, on the same socket and so to the same users (go tool pprof
// http+unix is not a thing: use curl --unix-socket, or socat):
//
//	/debug/pprof/                 the profiles there are, one a line
//	/debug/pprof/profile?seconds=N  a CPU profile over N seconds (30)
//	/debug/pprof/NAME[?debug=N]     heap, goroutine, allocs, block, mutex, ...
//
// net/http/pprof serves the same, but its HTML index brings in
// html/template, a fifth of a megabyte of the static binary that the
// issue 9 size limit (12 MB on armv7) has no room for. For the same
// reason there is no execution trace (runtime/trace): with it, the armv7
// binary crossed the limit by one 64 KiB segment step.
func withProfiles(api http.Handler) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/", api)
	mux.HandleFunc("/debug/pprof/{name...}", serveProfile)
	return mux
}

func serveProfile(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	seconds := func(def int) time.Duration {
		n, err := strconv.Atoi(r.URL.Query().Get("seconds"))
		if err != nil || n <= 0 {
			n = def
		}
		return time.Duration(n) * time.Second
	}
	wait := func(d time.Duration) {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
		}
	}
	switch name {
	case "":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		for _, p := range pprof.Profiles() {
			fmt.Fprintf(w, "%s\t%d\n", p.Name(), p.Count())
		}
		fmt.Fprintln(w, "profile\t(CPU, ?seconds=30)")
	case "profile":
		w.Header().Set("Content-Type", "application/octet-stream")
		if err := pprof.StartCPUProfile(w); err != nil {
			http.Error(w, "CPU profile: "+err.Error(), http.StatusConflict)
			return
		}
		wait(seconds(30))
		pprof.StopCPUProfile()
	default:
		p := pprof.Lookup(name)
		if p == nil {
			http.Error(w, "no profile "+strconv.Quote(name), http.StatusNotFound)
			return
		}
		debug, _ := strconv.Atoi(r.URL.Query().Get("debug"))
		if debug > 0 {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		} else {
			w.Header().Set("Content-Type", "application/octet-stream")
		}
		p.WriteTo(w, debug)
	}
}
