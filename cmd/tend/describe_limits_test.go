package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/tendhq/tend/supervisor"
	"github.com/tendhq/tend/units"
)

// An instance whose last run the OOM killer ended, under the template's
// limits, as kubectl shows a container's OOMKilled and its limits.
func TestDescribeInstanceLimitsAndOOMKilled(t *testing.T) {
	in := supervisor.Instance{
		Name: "hog-x7k2p", Unit: "hog", Host: "edge-17", Created: ago(time.Minute), Labels: units.Labels{"app": "hog"},
		Status: "Running", PID: 4242, Command: []string{"hog"}, Cgroup: "/sys/fs/cgroup/tend.0c1f2e3d/hog-x7k2p.2",
		Limits:       units.Resources{MemoryMax: 512 << 20, CPUMax: 15000, PidsMax: 100}.Describe(),
		State:        supervisor.State{Phase: "Running", Started: ago(10 * time.Second)},
		LastState:    supervisor.State{Phase: "Terminated", Reason: "OOMKilled", ExitCode: 137, Signal: "SIGKILL", Started: ago(50 * time.Second), Finished: ago(11 * time.Second)},
		RestartCount: 1,
	}
	events := []supervisor.Event{
		seedEvent("Warning", "Exited", "11s", "11s", 1, "supervisor, edge-17",
			"Process exited: signal SIGKILL (exit code 137), OOMKilled: the kernel's out-of-memory killer killed 1 process of the run"),
	}
	var b bytes.Buffer
	d := describer{p: printer{now: seedNow, loc: kst}}
	d.instance(&b, in, events)
	checkGolden(t, "describe po", b.String(), `
Name:           hog-x7k2p
Host:           edge-17
Start Time:     Sat, 24 Oct 2020 00:19:00 +0900
Labels:         app=hog
Status:         Running
PID:            4242
Cgroup:         /sys/fs/cgroup/tend.0c1f2e3d/hog-x7k2p.2
Controlled By:  unit/hog
Command:        hog
State:          Running
  Started:      Sat, 24 Oct 2020 00:19:50 +0900
Last State:     Terminated
  Reason:       OOMKilled
  Exit Code:    137 (SIGKILL)
  Started:      Sat, 24 Oct 2020 00:19:10 +0900
  Finished:     Sat, 24 Oct 2020 00:19:49 +0900
Ready:          False
Restart Count:  1
Limits:         memory 512MiB, cpu 150%, pids 100
Environment:    <none>
Events:
  Type     Reason  Age   From                 Message
  ----     ------  ----  ----                 -------
  Warning  Exited  11s   supervisor, edge-17  Process exited: signal SIGKILL (exit code 137), OOMKilled: the kernel's out-of-memory killer killed 1 process of the run
`)
}

// A unit's template shows its limits, and the unit's events say which of
// them its host cannot apply.
func TestDescribeUnitLimits(t *testing.T) {
	u := supervisor.Unit{
		Name: "hog", Kind: units.KindReplicated, Selector: "app=hog", Labels: units.Labels{"app": "hog"},
		Desired: 1, Current: 1, Running: 1,
		Template: supervisor.TemplateSummary{Labels: units.Labels{"app": "hog"}, Command: []string{"hog"}, Restart: "always",
			Limits: "memory 1GiB, pids 64"},
	}
	events := []supervisor.Event{
		seedEvent("Warning", "LimitNotApplied", "2m", "2m", 1, "supervisor, edge-17",
			"memory_max: the memory controller is not available in cgroup /sys/fs/cgroup/unified/tend.0c1f2e3d (controllers: hugetlb)"),
	}
	var b bytes.Buffer
	d := describer{p: printer{now: seedNow, loc: kst}}
	d.unit(&b, u, []supervisor.Instance{{Name: "hog-x7k2p", Unit: "hog", Host: "edge-17", Status: "Running"}}, events)
	checkGolden(t, "describe rc", b.String(), `
Name:         hog
Kind:         replicated
Selector:     app=hog
Labels:       app=hog
Replicas:     1 current / 1 desired
Pods Status:  1 Running / 0 Waiting / 0 Succeeded / 0 Failed
Slots:
  Slot  Instance   Host     Status
  ----  --------   ----     ------
  0     hog-x7k2p  edge-17  Running
Pod Template:
  Labels:       app=hog
  Command:      hog
  Restart:      always
  Limits:       memory 1GiB, pids 64
  Environment:  <none>
Events:
  Type     Reason           Age   From                 Message
  ----     ------           ----  ----                 -------
  Warning  LimitNotApplied  2m    supervisor, edge-17  memory_max: the memory controller is not available in cgroup /sys/fs/cgroup/unified/tend.0c1f2e3d (controllers: hugetlb)
`)
}
