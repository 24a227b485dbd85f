package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// maxArmv7Size is issue 9's limit on the static armv7 binary, as make
// build makes it (GOARCH=arm: without Go's runtime profiles, the
// noprofile tag, and without inlining in the Makefile's ARM_COLD
// packages): edge devices have small flash.
const maxArmv7Size = 12_000_000

// armCold is the Makefile's ARM_COLD list, as -gcflags.
func armCold(t *testing.T) []string {
	data, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	// The assignment and the lines its backslashes continue it onto.
	m := regexp.MustCompile(`(?m)^ARM_COLD\s*:=((?:.*\\\n)*.*)$`).FindSubmatch(data)
	if m == nil {
		t.Fatal("the Makefile has no ARM_COLD")
	}
	var flags []string
	for _, p := range strings.Fields(strings.ReplaceAll(string(m[1]), "\\\n", " ")) {
		flags = append(flags, "-gcflags="+p+"=-l")
	}
	return flags
}

func TestTheArmv7BinaryFits(t *testing.T) {
	if testing.Short() {
		t.Skip("builds tend for armv7")
	}
	bin := filepath.Join(t.TempDir(), "tend")
	args := append([]string{"build", "-trimpath", "-tags", "netgo,osusergo,noprofile"}, armCold(t)...)
	cmd := exec.Command("go", append(args, "-ldflags", "-s -w", "-o", bin, ".")...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm", "GOARM=7", "GOFLAGS=-buildvcs=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build for armv7: %v\n%s", err, out)
	}
	fi, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("armv7 static binary: %d bytes", fi.Size())
	if fi.Size() >= maxArmv7Size {
		t.Errorf("the armv7 binary is %d bytes, the limit %d", fi.Size(), maxArmv7Size)
	}
}
