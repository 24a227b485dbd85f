package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestTheAgentServesProfiles(t *testing.T) {
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "api") })
	srv := httptest.NewServer(withProfiles(api))
	defer srv.Close()
	get := func(path string) (int, string) {
		res, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, body := get("/debug/pprof/"); code != 200 || !strings.Contains(body, "heap\t") || !strings.Contains(body, "goroutine\t") {
		t.Errorf("index: %d %q", code, body)
	}
	// The protocol buffer go tool pprof reads is gzipped.
	if code, body := get("/debug/pprof/heap"); code != 200 || !strings.HasPrefix(body, "\x1f\x8b") {
		t.Errorf("heap: %d, %d bytes", code, len(body))
	}
	if code, body := get("/debug/pprof/goroutine?debug=1"); code != 200 || !strings.Contains(body, "goroutine profile:") {
		t.Errorf("goroutine?debug=1: %d %q", code, body)
	}
	if code, body := get("/debug/pprof/profile?seconds=1"); code != 200 || !strings.HasPrefix(body, "\x1f\x8b") {
		t.Errorf("CPU profile: %d, %d bytes", code, len(body))
	}
	if code, _ := get("/debug/pprof/nosuch"); code != 404 {
		t.Errorf("an unknown profile: %d", code)
	}
	if code, body := get("/v1/version"); code != 200 || body != "api" {
		t.Errorf("the API beside: %d %q", code, body)
	}
}
