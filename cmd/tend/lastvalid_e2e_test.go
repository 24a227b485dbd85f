package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// unitRow is the row of unit name in `tend get units`, split in cells:
// NAME KIND DESIRED CURRENT READY AGE FILE.
func (a *agent) unitRow(name string) []string {
	a.t.Helper()
	for _, l := range lines(a.tend("get", "units")) {
		if f := strings.Fields(l); len(f) > 0 && f[0] == name {
			return f
		}
	}
	return nil
}

// A unit whose file turned invalid runs its last valid version after the
// agent restarts (SIGTERM or kill -9) as it did before: listed with its
// file marked Invalid, the error in describe, scale refused, a deleted
// instance replaced; fixing the file applies the new version. A file that
// was never valid is listed as Invalid too.
func TestLastValidVersionSurvivesAgentRestart(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			dir := t.TempDir()
			a := startAgent(t, dir, "")
			unit := a.helperUnit("replicated", "replicas = 2", `app = "kubia"`, "sleep")
			file := t.TempDir() + "/kubia.toml"
			writeFile(t, file, unit)
			a.tend("apply", "-f", file)
			before := a.waitRunning("kubia", 2)
			a.writeUnit("kubia", strings.Replace(unit, `restart_delay = "0s"`, `restart_delay = "soon"`, 1))
			a.writeUnit("typo", a.helperUnit("replicated", "replicaz = 1", `app = "typo"`, "sleep"))
			a.eventually("the agent has read both bad files", func() (bool, string) {
				out := a.tend("describe", "unit", "kubia")
				row := a.unitRow("typo")
				return strings.Contains(out, "restart_delay") && len(row) > 0 && row[len(row)-1] == "Invalid", out
			})
			a.signal(sig)
			a.wait()

			b := startAgent(t, dir, "")
			b.tag = a.tag
			after := b.waitRunning("kubia", 2)
			if !slices.Equal(names(after), names(before)) {
				t.Fatalf("instances changed across the restart:\nbefore %v\nafter  %v", names(before), names(after))
			}
			b.eventually("get units lists kubia as running 2 of its last valid version, its file Invalid", func() (bool, string) {
				row := b.unitRow("kubia")
				return len(row) == 7 && row[1] == "replicated" && row[2] == "2" && row[3] == "2" && row[6] == "Invalid",
					b.tend("get", "units")
			})
			if row := b.unitRow("typo"); len(row) != 7 || row[1] != "<none>" || row[6] != "Invalid" {
				t.Fatalf("a file that was never valid is not listed as Invalid:\n%s", b.tend("get", "units"))
			}
			out := b.tend("describe", "unit", "kubia")
			for _, want := range []string{"kubia.toml:7", "restart_delay", "the last valid version", "keeps running", "2 current / 2 desired"} {
				if !strings.Contains(out, want) {
					t.Errorf("describe unit kubia lacks %q:\n%s", want, out)
				}
			}
			if out := b.tend("describe", "unit", "typo"); !strings.Contains(out, "replicaz") || !strings.Contains(out, "never been valid") {
				t.Errorf("describe unit typo:\n%s", out)
			}

			// scale would rewrite the last valid version over the edit:
			// refused, saying why.
			_, errOut, err := b.run("scale", "unit", "kubia", "--replicas=3")
			if err == nil || !strings.Contains(errOut, "fix it first") || !strings.Contains(errOut, "restart_delay") {
				t.Fatalf("scale of a unit whose file is invalid: err=%v stderr=%q", err, errOut)
			}

			// Reconciliation runs on the last valid version.
			victim := after[0].Name
			b.tend("delete", "instance", victim)
			b.eventually("the deleted instance is replaced", func() (bool, string) {
				var list []string
				for _, i := range b.instances() {
					if i.Unit == "kubia" && i.Status == "Running" {
						list = append(list, i.Name)
					}
				}
				return len(list) == 2 && !slices.Contains(list, victim), fmt.Sprint(list)
			})

			// Fixed: the new version applies.
			b.writeUnit("kubia", strings.Replace(unit, "replicas = 2", "replicas = 3", 1))
			b.waitRunning("kubia", 3)
			b.eventually("the fixed file is Valid", func() (bool, string) {
				row := b.unitRow("kubia")
				return len(row) == 7 && row[2] == "3" && row[6] == "Valid", b.tend("get", "units")
			})
			// (The events keep telling of the bad file; the Error goes.)
			if out := b.tend("describe", "unit", "kubia"); strings.Contains(out, "the last valid version") {
				t.Errorf("describe still shows the fixed file's error:\n%s", out)
			}
		})
	}
}

// In a fleet, an invalid file stays on its host: the others keep the
// fleet's valid version, files and all; the host with the invalid file
// runs the fleet's version, after a restart too, and takes a newer one
// made elsewhere without overwriting the file; fixing the file is a
// change for the whole fleet.
func TestInvalidFileStaysOnItsHost(t *testing.T) {
	fleet := startFleet(t, 2)
	h0, h1 := fleet[0], fleet[1]
	unit := h0.helperUnit("replicated", "replicas = 2", `app = "web"`, "sleep")
	path := filepath.Join(h0.dir, "web.toml")
	writeFile(t, path, unit)
	h0.tend("apply", "-f", path)
	fileOn := func(a *agent) string {
		data, _ := os.ReadFile(filepath.Join(a.dir, "units", "web.toml"))
		return string(data)
	}
	runningIn := func(a *agent) int {
		n := 0
		for _, in := range a.instances("-l", "app=web") {
			if in.Status == "Running" {
				n++
			}
		}
		return n
	}
	h1.eventually("h1 has the unit", func() (bool, string) { return fileOn(h1) == unit, fileOn(h1) })
	h0.eventually("2 running", func() (bool, string) { n := runningIn(h0); return n == 2, fmt.Sprint(n) })

	broken := strings.Replace(unit, `restart_delay = "0s"`, `restart_delay = "soon"`, 1)
	h1.writeUnit("web", broken)
	h1.eventually("h1 shows the file Invalid", func() (bool, string) {
		row := h1.unitRow("web")
		return len(row) == 7 && row[6] == "Invalid", h1.tend("get", "units")
	})
	h1.signal(syscall.SIGKILL)
	h1.wait()
	r := startAgent(t, h1.dir, "")
	r.tag = h1.tag
	r.eventually("h1 again: the fleet's version runs, the file Invalid", func() (bool, string) {
		row := r.unitRow("web")
		return len(row) == 7 && row[2] == "2" && row[3] == "2" && row[6] == "Invalid", r.tend("get", "units")
	})
	if got := fileOn(h0); got != unit {
		t.Fatalf("h0's file changed by h1's invalid one:\n%s", got)
	}
	if row := h0.unitRow("web"); len(row) != 7 || row[6] != "Valid" {
		t.Fatalf("h0:\n%s", h0.tend("get", "units"))
	}

	// A newer version made on h0 runs on h1 too; h1's file is left alone.
	v2 := strings.Replace(unit, "replicas = 2", "replicas = 3", 1)
	writeFile(t, path, v2)
	h0.tend("apply", "-f", path)
	r.eventually("h1 runs h0's new version, its file still Invalid", func() (bool, string) {
		row := r.unitRow("web")
		return len(row) == 7 && row[2] == "3" && row[3] == "3" && row[6] == "Invalid", r.tend("get", "units")
	})
	if got := fileOn(r); got != broken {
		t.Fatalf("h1's file was overwritten:\n%s", got)
	}

	// Fixed on h1: a change for the fleet.
	v3 := strings.Replace(unit, "replicas = 2", "replicas = 1", 1)
	r.writeUnit("web", v3)
	h0.eventually("h0 follows h1's fix", func() (bool, string) { return fileOn(h0) == v3, fileOn(h0) })
	h0.eventually("1 running", func() (bool, string) { n := runningIn(h0); return n == 1, fmt.Sprint(n) })

	// Broken on h1 again, and h1 down while h0 makes a newer version:
	// h1's last valid version, older, must not come back over it.
	r.writeUnit("web", broken)
	r.eventually("h1 shows the file Invalid", func() (bool, string) {
		row := r.unitRow("web")
		return len(row) == 7 && row[6] == "Invalid", r.tend("get", "units")
	})
	r.signal(syscall.SIGTERM)
	r.wait()
	v4 := strings.Replace(unit, "replicas = 2", "replicas = 4", 1)
	writeFile(t, path, v4)
	h0.tend("apply", "-f", path)
	r = startAgent(t, h1.dir, "")
	r.tag = h1.tag
	r.eventually("h1 again: h0's newer version runs, the file Invalid", func() (bool, string) {
		row := r.unitRow("web")
		return len(row) == 7 && row[2] == "4" && row[6] == "Invalid", r.tend("get", "units")
	})
	h0.eventually("4 running", func() (bool, string) { n := runningIn(h0); return n == 4, fmt.Sprint(n) })
	if got := fileOn(h0); got != v4 {
		t.Fatalf("h1's older last valid version came back on h0:\n%s", got)
	}
}
