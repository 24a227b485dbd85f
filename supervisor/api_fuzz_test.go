package supervisor_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	. "github.com/tendhq/tend/supervisor"
)

// fuzzRoutes are the API's routes that decode a request body, and one
// that takes only a name and a query, in the order FuzzAPIRequest picks
// them.
var fuzzRoutes = []struct{ method, path string }{
	{"PATCH", "/v1/instances/%s/labels"},
	{"PUT", "/v1/units/%s"},
	{"POST", "/v1/units/%s/scale"},
	{"PATCH", "/v1/hosts/%s/labels"},
	{"POST", "/v1/hosts/%s/keys"},
	{"DELETE", "/v1/units/%s"},
}

// FuzzAPIRequest sends the API what a careless or hostile client might:
// any body to any route that decodes one, under any name. Whatever comes,
// the API never fails with a 5xx (that would be a panic recovered, or an
// error it did not map), says what was wrong in a JSON error, answers a
// success with JSON, and a refused request changes nothing: the backend's
// objects are as they were.
func FuzzAPIRequest(f *testing.F) {
	f.Add(uint8(0), "kubia-7hjkc", []byte(`{"set":{"app":"foo"},"overwrite":true}`))
	f.Add(uint8(0), "kubia-7hjkc", []byte(`{"set":{"app":"foo"}}`))
	f.Add(uint8(0), "kubia-7hjkc", []byte(`{"remove":["app"],"set":{"app":"x"}}`))
	f.Add(uint8(0), "kubia-7hjkc", []byte(`{"set":{"a/b/c":"-","":"x"}}`))
	f.Add(uint8(0), "../../etc/passwd", []byte(`{}`))
	f.Add(uint8(1), "kubia.toml", []byte("replicas = 2\n[template]\ncommand = [\"kubia\"]\nlabels = { app = \"kubia\" }\n"))
	f.Add(uint8(1), "sub/good.toml", []byte("[template]\ncommand = [\"true\"]\n"))
	f.Add(uint8(1), "x.toml", []byte("y = {a={a={a={a={a={a=1}}}}}}\n"))
	f.Add(uint8(2), "kubia", []byte(`{"replicas":4}`))
	f.Add(uint8(2), "kubia", []byte(`{"replicas":9223372036854775807}`))
	f.Add(uint8(2), "kubia", []byte(`{"replicas":-1}`))
	f.Add(uint8(2), "kubia", []byte(`{"replicas":1e400}`))
	f.Add(uint8(2), "kubia", []byte(`{"replicas":1,"replicas":2,"extra":3}`))
	f.Add(uint8(3), "edge-17", []byte(`{"set":{"disk":"ssd"}}`))
	f.Add(uint8(3), "edge-17", []byte(`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[`))
	f.Add(uint8(4), "edge-17", []byte(`{"op":"install","key":"AAAA"}`))
	f.Add(uint8(5), "kubia?cascade=orphan", []byte(nil))
	f.Add(uint8(5), "ssd-monitor?cascade=bogus", []byte(nil))

	f.Fuzz(func(t *testing.T, route uint8, name string, body []byte) {
		b := fixture()
		h := NewAPI(b, slog.New(slog.DiscardHandler))
		rt := fuzzRoutes[int(route)%len(fuzzRoutes)]
		escaped, query, _ := cutQuery(name)
		target := fmt.Sprintf(rt.path, url.PathEscape(escaped))
		if query != "" {
			target += "?" + url.PathEscape(query)
		}
		u, err := url.Parse(target)
		if err != nil {
			t.Skip() // not a request a client could send
		}
		req := httptest.NewRequest(rt.method, "http://tend"+u.RequestURI(), bytes.NewReader(body))
		before := snapshot(t, b)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)

		status, out := rec.Code, rec.Body.Bytes()
		if status >= 500 {
			t.Fatalf("%s %s %q: %d %s", rt.method, target, body, status, out)
		}
		switch {
		case status == http.StatusNoContent:
		case status >= 200 && status < 300:
			if !json.Valid(out) {
				t.Fatalf("%s %s: %d with a body that is not JSON: %q", rt.method, target, status, out)
			}
		case status >= 300 && status < 400:
			if rec.Header().Get("Location") == "" {
				t.Fatalf("%s %s: %d without a Location", rt.method, target, status)
			}
		default:
			var e APIError
			if err := json.Unmarshal(out, &e); err != nil || e.Error == "" {
				t.Fatalf("%s %s: %d without a JSON error: %q", rt.method, target, status, out)
			}
			if after := snapshot(t, b); after != before {
				t.Fatalf("%s %s %q refused (%d %s), yet it changed the agent:\nbefore %s\nafter  %s", rt.method, target, body, status, out, before, after)
			}
		}
	})
}

// cutQuery splits a fuzzed name at its first '?', as a client's URL would.
func cutQuery(name string) (path, query string, found bool) {
	for k := 0; k < len(name); k++ {
		if name[k] == '?' {
			return name[:k], name[k+1:], true
		}
	}
	return name, "", false
}

// snapshot is the fake's objects, as one comparable string.
func snapshot(t *testing.T, b *fake) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	data, err := json.Marshal([]any{b.instances, b.units, b.hosts, b.applied, b.orphaned})
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
