package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The manual: a page for tend and one for each command, from the help
// texts and flags --help prints, that roff reads without a warning.
func TestManPages(t *testing.T) {
	dir := t.TempDir()
	r := tendCLI(t, "/nonexistent.sock", map[string]string{"SOURCE_DATE_EPOCH": "1764763200"}, "__man", dir)
	if r.code != 0 || r.stdout != "" {
		t.Fatalf("__man: %s", r)
	}
	requests := map[string]bool{".TH": true, ".SH": true, ".PP": true, ".TP": true, ".B": true, ".BR": true, ".nf": true, ".fi": true}
	for _, cmd := range append([]command{{name: ""}}, commands...) {
		name := "tend"
		if cmd.name != "" {
			name += "-" + cmd.name
		}
		data, err := os.ReadFile(filepath.Join(dir, name+".1"))
		if err != nil {
			t.Errorf("no page for %q: %v", cmd.name, err)
			continue
		}
		page := string(data)
		for _, sec := range []string{".SH NAME\n", ".SH SYNOPSIS\n", ".SH DESCRIPTION\n"} {
			if !strings.Contains(page, sec) {
				t.Errorf("%s.1 lacks %q", name, sec)
			}
		}
		if !strings.Contains(page, `"2025-12-03"`) {
			t.Errorf("%s.1 is not dated by SOURCE_DATE_EPOCH:\n%.200s", name, page)
		}
		for _, l := range strings.Split(page, "\n") {
			if req, _, _ := strings.Cut(l, " "); strings.HasPrefix(l, ".") && !requests[req] {
				t.Errorf("%s.1: a line roff takes for an unknown request: %q", name, l)
			}
		}
	}
	get, _ := os.ReadFile(filepath.Join(dir, "tend-get.1"))
	for _, want := range []string{`\-\-sort\-by`, `.SH EXAMPLES`, `jsonpath=`, `.SH OPTIONS`} {
		if !strings.Contains(string(get), want) {
			t.Errorf("tend-get.1 lacks %q", want)
		}
	}
	groff, err := exec.LookPath("groff")
	if err != nil {
		t.Log("no groff here: the pages' roff is not checked further")
		return
	}
	pages, _ := filepath.Glob(filepath.Join(dir, "*.1"))
	for _, p := range pages {
		if out, err := exec.Command(groff, "-man", "-Tutf8", "-ww", "-z", p).CombinedOutput(); err != nil || len(out) > 0 {
			t.Errorf("groff on %s: %v\n%s", filepath.Base(p), err, out)
		}
	}
}

// tend agent has the help style of every other verb: on stdout, with
// double-dash flags, and kubectl's usage errors.
func TestAgentHelpAsEveryVerb(t *testing.T) {
	r := tendCLI(t, "/nonexistent.sock", nil, "agent", "--help")
	if r.code != 0 || r.stderr != "" || !strings.Contains(r.stdout, "Options:\n  --config='':\n") || !strings.Contains(r.stdout, "  --dev=false:\n") {
		t.Errorf("agent --help: %s", r)
	}
	r = tendCLI(t, "/nonexistent.sock", nil, "agent", "--bogus")
	if r.code != 1 || !strings.Contains(r.stderr, "unknown flag: --bogus\nSee 'tend agent --help' for usage.") {
		t.Errorf("agent --bogus: %s", r)
	}
}
