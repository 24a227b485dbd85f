package main

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// The packages' versions rise from build to build: a tag's version as
// it is, a bare commit (even one whose hash starts with a digit, which
// dpkg would sort as a release) under 0.0.0~git and its commit time;
// Alpine's, in its own grammar, without the hash.
func TestDebVersions(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	version := func(v string) string { t.Helper(); return makeVersion(t, "deb-version", v) }
	apk := map[string]*regexp.Regexp{
		"v1.2.3":                regexp.MustCompile(`^1\.2\.3$`),
		"v1.2.3-4-gabcde":       regexp.MustCompile(`^1\.2\.3_p4$`),
		"v1.2.3-rc1":            regexp.MustCompile(`^1\.2\.3_rc1$`),
		"v1.2.3-rc1-4-gabcde":   regexp.MustCompile(`^1\.2\.3_rc1_p4$`),
		"v1.2.3-4-gabcde-dirty": regexp.MustCompile(`^1\.2\.3_p4$`),
		"1234abc":               regexp.MustCompile(`^0\.0\.0_git\d{14}$`),
		"dev":                   regexp.MustCompile(`^0\.0\.0_git\d{14}$`),
	}
	for v, want := range apk {
		if got := makeVersion(t, "apk-version", v); !want.MatchString(got) {
			t.Errorf("apk VERSION=%s: %q, want %s", v, got, want)
		}
	}
	for v, want := range map[string]string{
		"v1.2.3":              "1.2.3",
		"v1.2.3-4-gabcde":     "1.2.3+4+gabcde",
		"v1.2.3-rc1":          "1.2.3~rc1",
		"v1.2.3-rc1-4-gabcde": "1.2.3~rc1+4+gabcde",
		"dev":                 "0.0.0~dev",
	} {
		if got := version(v); got != want {
			t.Errorf("VERSION=%s: %q, want %q", v, got, want)
		}
	}
	git := regexp.MustCompile(`^0\.0\.0~git\d{14}\.(1234abc|abcdef1\+dirty)$`)
	for _, v := range []string{"1234abc", "abcdef1-dirty"} {
		if got := version(v); !git.MatchString(got) {
			t.Errorf("VERSION=%s: %q, want 0.0.0~git<time>.<hash>", v, got)
		}
	}
	dpkg, err := exec.LookPath("dpkg")
	if err != nil {
		return
	}
	// An older commit's build sorts below a newer one's whatever their
	// hashes, and below any release.
	older, newer := "0.0.0~git20261201120000.fffffff", "0.0.0~git20261203120000.1234abc"
	for _, c := range [][3]string{{older, "lt", newer}, {newer, "lt", "0.1.0"}, {version("v1.2.3-rc1"), "lt", "1.2.3"}, {version("v1.2.3-rc1-4-gabcde"), "lt", "1.2.3"}, {version("1234abc"), "lt", "0.0.1"}} {
		if err := exec.Command(dpkg, "--compare-versions", c[0], c[1], c[2]).Run(); err != nil {
			t.Errorf("dpkg: %s %s %s does not hold", c[0], c[1], c[2])
		}
	}
}

// makeVersion is what make's target (deb-version, apk-version) prints for
// VERSION=v.
func makeVersion(t *testing.T, target, v string) string {
	t.Helper()
	out, err := exec.Command("make", "-s", "-C", "../..", target, "VERSION="+v).CombinedOutput()
	if err != nil {
		t.Fatalf("make %s VERSION=%s: %v\n%s", target, v, err, out)
	}
	return strings.TrimSpace(string(out))
}
