package main

import (
	"fmt"
	"github.com/tendhq/tend/internal/e2e"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// A unit whose file turned invalid runs its last valid version after the
// agent restarts (SIGTERM or kill -9) as it did before: listed with its
// file marked Invalid, the error in describe, scale refused, a deleted
// instance replaced; fixing the file applies the new version. A file that
// was never valid is listed as Invalid too.
func TestLastValidVersionSurvivesAgentRestart(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			dir := t.TempDir()
			a := e2e.StartAgent(t, dir, "")
			unit := a.HelperUnit("replicated", "replicas = 2", `app = "kubia"`, "sleep")
			file := t.TempDir() + "/kubia.toml"
			e2e.WriteFile(t, file, unit)
			a.Tend("apply", "-f", file)
			before := a.WaitRunning("kubia", 2)
			a.WriteUnit("kubia", strings.Replace(unit, `restart_delay = "0s"`, `restart_delay = "soon"`, 1))
			a.WriteUnit("typo", a.HelperUnit("replicated", "replicaz = 1", `app = "typo"`, "sleep"))
			a.Eventually("the agent has read both bad files", func() (bool, string) {
				out := a.Tend("describe", "unit", "kubia")
				row := a.UnitRow("typo")
				return strings.Contains(out, "restart_delay") && len(row) > 0 && row[len(row)-1] == "Invalid", out
			})
			a.Signal(sig)
			a.Wait()

			b := e2e.StartAgent(t, dir, "")
			b.Tag = a.Tag
			after := b.WaitRunning("kubia", 2)
			if !slices.Equal(names(after), names(before)) {
				t.Fatalf("instances changed across the restart:\nbefore %v\nafter  %v", names(before), names(after))
			}
			b.Eventually("get units lists kubia as running 2 of its last valid version, its file Invalid", func() (bool, string) {
				row := b.UnitRow("kubia")
				return len(row) == 8 && row[1] == "replicated" && row[2] == "2" && row[3] == "2" && row[7] == "Invalid",
					b.Tend("get", "units")
			})
			if row := b.UnitRow("typo"); len(row) != 8 || row[1] != "<none>" || row[7] != "Invalid" {
				t.Fatalf("a file that was never valid is not listed as Invalid:\n%s", b.Tend("get", "units"))
			}
			out := b.Tend("describe", "unit", "kubia")
			for _, want := range []string{"kubia.toml:7", "restart_delay", "the last valid version", "keeps running", "2 current / 2 desired"} {
				if !strings.Contains(out, want) {
					t.Errorf("describe unit kubia lacks %q:\n%s", want, out)
				}
			}
			if out := b.Tend("describe", "unit", "typo"); !strings.Contains(out, "replicaz") || !strings.Contains(out, "never been valid") {
				t.Errorf("describe unit typo:\n%s", out)
			}

			// scale would rewrite the last valid version over the edit:
			// refused, saying why.
			_, errOut, err := b.Run("scale", "unit", "kubia", "--replicas=3")
			if err == nil || !strings.Contains(errOut, "fix it first") || !strings.Contains(errOut, "restart_delay") {
				t.Fatalf("scale of a unit whose file is invalid: err=%v stderr=%q", err, errOut)
			}

			// Reconciliation runs on the last valid version.
			victim := after[0].Name
			b.Tend("delete", "instance", victim)
			b.Eventually("the deleted instance is replaced", func() (bool, string) {
				var list []string
				for _, i := range b.Instances() {
					if i.Unit == "kubia" && i.Status == "Running" {
						list = append(list, i.Name)
					}
				}
				return len(list) == 2 && !slices.Contains(list, victim), fmt.Sprint(list)
			})

			// Fixed: the new version applies.
			b.WriteUnit("kubia", strings.Replace(unit, "replicas = 2", "replicas = 3", 1))
			b.WaitRunning("kubia", 3)
			b.Eventually("the fixed file is Valid", func() (bool, string) {
				row := b.UnitRow("kubia")
				return len(row) == 8 && row[2] == "3" && row[7] == "Valid", b.Tend("get", "units")
			})
			// (The events keep telling of the bad file; the Error goes.)
			if out := b.Tend("describe", "unit", "kubia"); strings.Contains(out, "the last valid version") {
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
	fleet := e2e.StartFleet(t, 2)
	h0, h1 := fleet[0], fleet[1]
	unit := h0.HelperUnit("replicated", "replicas = 2", `app = "web"`, "sleep")
	path := filepath.Join(h0.Dir, "web.toml")
	e2e.WriteFile(t, path, unit)
	h0.Tend("apply", "-f", path)
	fileOn := func(a *e2e.Agent) string {
		data, _ := os.ReadFile(filepath.Join(a.Dir, "units", "web.toml"))
		return string(data)
	}
	runningIn := func(a *e2e.Agent) int {
		n := 0
		for _, in := range a.Instances("-l", "app=web") {
			if in.Status == "Running" {
				n++
			}
		}
		return n
	}
	h1.Eventually("h1 has the unit", func() (bool, string) { return fileOn(h1) == unit, fileOn(h1) })
	h0.Eventually("2 running", func() (bool, string) { n := runningIn(h0); return n == 2, fmt.Sprint(n) })

	broken := strings.Replace(unit, `restart_delay = "0s"`, `restart_delay = "soon"`, 1)
	h1.WriteUnit("web", broken)
	h1.Eventually("h1 shows the file Invalid", func() (bool, string) {
		row := h1.UnitRow("web")
		return len(row) == 8 && row[7] == "Invalid", h1.Tend("get", "units")
	})
	h1.Signal(syscall.SIGKILL)
	h1.Wait()
	r := e2e.StartAgent(t, h1.Dir, "")
	r.Tag = h1.Tag
	r.Eventually("h1 again: the fleet's version runs, the file Invalid", func() (bool, string) {
		row := r.UnitRow("web")
		return len(row) == 8 && row[2] == "2" && row[3] == "2" && row[7] == "Invalid", r.Tend("get", "units")
	})
	if got := fileOn(h0); got != unit {
		t.Fatalf("h0's file changed by h1's invalid one:\n%s", got)
	}
	if row := h0.UnitRow("web"); len(row) != 8 || row[7] != "Valid" {
		t.Fatalf("h0:\n%s", h0.Tend("get", "units"))
	}

	// A newer version made on h0 runs on h1 too; h1's file is left alone.
	v2 := strings.Replace(unit, "replicas = 2", "replicas = 3", 1)
	e2e.WriteFile(t, path, v2)
	h0.Tend("apply", "-f", path)
	r.Eventually("h1 runs h0's new version, its file still Invalid", func() (bool, string) {
		row := r.UnitRow("web")
		return len(row) == 8 && row[2] == "3" && row[3] == "3" && row[7] == "Invalid", r.Tend("get", "units")
	})
	if got := fileOn(r); got != broken {
		t.Fatalf("h1's file was overwritten:\n%s", got)
	}

	// Fixed on h1: a change for the fleet.
	v3 := strings.Replace(unit, "replicas = 2", "replicas = 1", 1)
	r.WriteUnit("web", v3)
	h0.Eventually("h0 follows h1's fix", func() (bool, string) { return fileOn(h0) == v3, fileOn(h0) })
	h0.Eventually("1 running", func() (bool, string) { n := runningIn(h0); return n == 1, fmt.Sprint(n) })

	// Broken on h1 again, and h1 down while h0 makes a newer version:
	// h1's last valid version, older, must not come back over it.
	r.WriteUnit("web", broken)
	r.Eventually("h1 shows the file Invalid", func() (bool, string) {
		row := r.UnitRow("web")
		return len(row) == 8 && row[7] == "Invalid", r.Tend("get", "units")
	})
	r.Signal(syscall.SIGTERM)
	r.Wait()
	v4 := strings.Replace(unit, "replicas = 2", "replicas = 4", 1)
	e2e.WriteFile(t, path, v4)
	h0.Tend("apply", "-f", path)
	r = e2e.StartAgent(t, h1.Dir, "")
	r.Tag = h1.Tag
	r.Eventually("h1 again: h0's newer version runs, the file Invalid", func() (bool, string) {
		row := r.UnitRow("web")
		return len(row) == 8 && row[2] == "4" && row[7] == "Invalid", r.Tend("get", "units")
	})
	h0.Eventually("4 running", func() (bool, string) { n := runningIn(h0); return n == 4, fmt.Sprint(n) })
	if got := fileOn(h0); got != v4 {
		t.Fatalf("h1's older last valid version came back on h0:\n%s", got)
	}
}
