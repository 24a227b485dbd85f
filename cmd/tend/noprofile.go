//go:build noprofile

package main

// The agent without Go's runtime profiles (the noprofile build tag, which
// make build sets for armv7): --cpu-profile is refused, /debug/pprof/
// says why it is not there. profile.go has them.

import (
	"errors"
	"net/http"
)

var errNoProfiles = errors.New("this tend was built without profiles (the noprofile tag, as make build does for armv7, whose flash is small); build it with go build ./cmd/tend for them")

func startCPUProfile(string) (func(), error) { return nil, errNoProfiles }

func stopCPUProfile() {}

func withProfiles(api http.Handler) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/", api)
	mux.HandleFunc("/debug/pprof/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, errNoProfiles.Error(), http.StatusNotFound)
	})
	return mux
}
