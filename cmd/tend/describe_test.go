package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/tendhq/tend/supervisor"
	"github.com/tendhq/tend/units"
)

// seedEvent is an event seen count times, first and last the given ages
// ago.
func seedEvent(typ, reason, first, last string, count int, from, msg string) supervisor.Event {
	return supervisor.Event{Type: typ, Reason: reason, First: ago(dur(first)), Last: ago(dur(last)), Count: count, From: from, Message: msg}
}

// The seed's `kubectl describe po kubia-liveness`, for a process.
func TestDescribeInstance(t *testing.T) {
	kubelet := "kubelet, gke-kubia-default-pool-ca08bdd4-b79f"
	// In the seed's order, which is not the order of last sight: describe
	// sorts them.
	events := []supervisor.Event{
		seedEvent("Normal", "Scheduled", "8m55s", "8m55s", 1, "default-scheduler", "Successfully assigned default/kubia-liveness to gke-kubia-default-pool-ca08bdd4-b79f"),
		seedEvent("Normal", "Pulling", "8m54s", "3m", 4, kubelet, `Pulling image "luksa/kubia-unhealthy"`),
		seedEvent("Normal", "Pulled", "8m26s", "2m56s", 4, kubelet, `Successfully pulled image "luksa/kubia-unhealthy"`),
		seedEvent("Normal", "Created", "8m23s", "4m46s", 3, kubelet, "Created container kubia"),
		seedEvent("Normal", "Started", "8m23s", "4m46s", 3, kubelet, "Started container kubia"),
		seedEvent("Warning", "Unhealthy", "7m30s", "3m30s", 9, kubelet, "Liveness probe failed: HTTP probe failed with statuscode: 500"),
		seedEvent("Normal", "Killing", "7m10s", "3m30s", 3, kubelet, "Container kubia failed liveness probe, will be restarted"),
	}
	in := supervisor.Instance{
		Name:    "kubia-liveness",
		Host:    "gke-kubia-default-pool-ca08bdd4-b79f",
		Created: time.Date(2020, 10, 24, 0, 9, 40, 0, kst),
		Labels:  units.Labels{"app": "kubia", "type": "special"},
		Status:  "Running",
		PID:     4242,
		Command: []string{"/usr/local/bin/kubia-unhealthy", "--port", "8080"},
		State:   supervisor.State{Phase: "Running", Started: time.Date(2020, 10, 24, 0, 11, 33, 0, kst)},
		LastState: supervisor.State{Phase: "Terminated", Reason: "Error", ExitCode: 137, Signal: "SIGKILL",
			Started: time.Date(2020, 10, 24, 0, 9, 43, 0, kst), Finished: time.Date(2020, 10, 24, 0, 11, 29, 0, kst)},
		Ready:        true,
		RestartCount: 4,
		Liveness:     "http-get http://:8080/ delay=0s timeout=1s period=10s #success=1 #failure=3",
	}
	var b bytes.Buffer
	d := describer{p: printer{now: seedNow, loc: kst}}
	d.instance(&b, in, events)
	checkGolden(t, "describe po", b.String(), `
Name:           kubia-liveness
Host:           gke-kubia-default-pool-ca08bdd4-b79f
Start Time:     Sat, 24 Oct 2020 00:09:40 +0900
Labels:         app=kubia
                type=special
Status:         Running
PID:            4242
Controlled By:  <none>
Command:        /usr/local/bin/kubia-unhealthy --port 8080
State:          Running
  Started:      Sat, 24 Oct 2020 00:11:33 +0900
Last State:     Terminated
  Reason:       Error
  Exit Code:    137 (SIGKILL)
  Started:      Sat, 24 Oct 2020 00:09:43 +0900
  Finished:     Sat, 24 Oct 2020 00:11:29 +0900
Ready:          True
Restart Count:  4
Liveness:       http-get http://:8080/ delay=0s timeout=1s period=10s #success=1 #failure=3
Environment:    <none>
Events:
  Type     Reason     Age                    From                                           Message
  ----     ------     ----                   ----                                           -------
  Normal   Scheduled  8m55s                  default-scheduler                              Successfully assigned default/kubia-liveness to gke-kubia-default-pool-ca08bdd4-b79f
  Normal   Created    4m46s (x3 over 8m23s)  kubelet, gke-kubia-default-pool-ca08bdd4-b79f  Created container kubia
  Normal   Started    4m46s (x3 over 8m23s)  kubelet, gke-kubia-default-pool-ca08bdd4-b79f  Started container kubia
  Warning  Unhealthy  3m30s (x9 over 7m30s)  kubelet, gke-kubia-default-pool-ca08bdd4-b79f  Liveness probe failed: HTTP probe failed with statuscode: 500
  Normal   Killing    3m30s (x3 over 7m10s)  kubelet, gke-kubia-default-pool-ca08bdd4-b79f  Container kubia failed liveness probe, will be restarted
  Normal   Pulling    3m (x4 over 8m54s)     kubelet, gke-kubia-default-pool-ca08bdd4-b79f  Pulling image "luksa/kubia-unhealthy"
  Normal   Pulled     2m56s (x4 over 8m26s)  kubelet, gke-kubia-default-pool-ca08bdd4-b79f  Successfully pulled image "luksa/kubia-unhealthy"
`)
}

func TestDescribeInstanceWaitingOrphanWithEnv(t *testing.T) {
	in := supervisor.Instance{
		Name: "kubia-9w7gs", Host: "edge-17", Created: ago(time.Minute), Labels: units.Labels{"app": "foo"},
		Unit: "", Status: "CrashLoopBackOff", Command: []string{"kubia"}, WorkingDir: "/srv/kubia", User: "kubia",
		State:     supervisor.State{Phase: "Waiting", Reason: "CrashLoopBackOff", Message: "back-off 400ms restarting failed instance"},
		LastState: supervisor.State{Phase: "Terminated", Reason: "Error", ExitCode: 1, Started: ago(50 * time.Second), Finished: ago(49 * time.Second)},
		Readiness: "tcp-socket :8080 delay=0s timeout=1s period=10s #success=1 #failure=3",
		Env:       map[string]string{"NODE_ENV": "production", "A": "1"},
	}
	var b bytes.Buffer
	d := describer{p: printer{now: seedNow, loc: kst}}
	d.instance(&b, in, nil)
	checkGolden(t, "describe po", b.String(), `
Name:           kubia-9w7gs
Host:           edge-17
Start Time:     Sat, 24 Oct 2020 00:19:00 +0900
Labels:         app=foo
Status:         CrashLoopBackOff
PID:            <none>
Controlled By:  <none>
Command:        kubia
Working Dir:    /srv/kubia
User:           kubia
State:          Waiting
  Reason:       CrashLoopBackOff
  Message:      back-off 400ms restarting failed instance
Last State:     Terminated
  Reason:       Error
  Exit Code:    1
  Started:      Sat, 24 Oct 2020 00:19:10 +0900
  Finished:     Sat, 24 Oct 2020 00:19:11 +0900
Ready:          False
Restart Count:  0
Readiness:      tcp-socket :8080 delay=0s timeout=1s period=10s #success=1 #failure=3
Environment:
  A:         1
  NODE_ENV:  production
Events:      <none>
`)
}

// The seed's `kubectl describe rc kubia`, for a replicated unit.
func TestDescribeReplicatedUnit(t *testing.T) {
	u := supervisor.Unit{
		Name: "kubia", Kind: units.KindReplicated, Path: "/etc/tend/units.d/kubia.toml", Selector: "app=kubia",
		Labels: units.Labels{"app": "kubia"}, Desired: 3, Current: 3, Ready: 3, Running: 3,
		Template: supervisor.TemplateSummary{Labels: units.Labels{"app": "kubia"}, Command: []string{"kubia", "--port", "8080"}, Restart: "always"},
	}
	rc := "replicated-controller"
	events := []supervisor.Event{
		seedEvent("Normal", "SuccessfulCreate", "6m37s", "6m37s", 1, rc, "Created instance: kubia-r9xtd"),
		seedEvent("Normal", "SuccessfulCreate", "6m37s", "6m37s", 1, rc, "Created instance: kubia-7hjkc"),
		seedEvent("Normal", "SuccessfulCreate", "6m37s", "6m37s", 1, rc, "Created instance: kubia-f4d5l"),
		seedEvent("Normal", "SuccessfulCreate", "2m3s", "2m3s", 1, rc, "Created instance: kubia-9w7gs"),
	}
	var b bytes.Buffer
	d := describer{p: printer{now: seedNow, loc: kst}}
	insts := []supervisor.Instance{
		{Name: "kubia-9w7gs", Unit: "kubia", Slot: 2, Host: "edge-18", Status: "Running"},
		{Name: "kubia-7hjkc", Unit: "kubia", Slot: 0, Host: "edge-17", Status: "Running"},
		{Name: "kubia-f4d5l", Unit: "kubia", Slot: 1, Host: "edge-19", Status: "Unknown"},
		{Name: "kubia-r9xtd", Unit: "kubia", Slot: 1, Host: "edge-17", Status: "Running"},
	}
	d.unit(&b, u, insts, events)
	checkGolden(t, "describe rc", b.String(), `
Name:         kubia
Kind:         replicated
File:         /etc/tend/units.d/kubia.toml
Selector:     app=kubia
Labels:       app=kubia
Replicas:     3 current / 3 desired
Pods Status:  3 Running / 0 Waiting / 0 Succeeded / 0 Failed
Slots:
  Slot  Instance     Host     Status
  ----  --------     ----     ------
  0     kubia-7hjkc  edge-17  Running
  1     kubia-r9xtd  edge-17  Running
  1     kubia-f4d5l  edge-19  Unknown
  2     kubia-9w7gs  edge-18  Running
Pod Template:
  Labels:       app=kubia
  Command:      kubia --port 8080
  Restart:      always
  Environment:  <none>
Events:
  Type    Reason            Age    From                   Message
  ----    ------            ----   ----                   -------
  Normal  SuccessfulCreate  6m37s  replicated-controller  Created instance: kubia-r9xtd
  Normal  SuccessfulCreate  6m37s  replicated-controller  Created instance: kubia-7hjkc
  Normal  SuccessfulCreate  6m37s  replicated-controller  Created instance: kubia-f4d5l
  Normal  SuccessfulCreate  2m3s   replicated-controller  Created instance: kubia-9w7gs
`)
}

func TestDescribePerHostUnitWithError(t *testing.T) {
	u := supervisor.Unit{
		Name: "ssd-monitor", Kind: units.KindPerHost, Selector: "app=ssd-monitor", NodeSelector: "disk=ssd",
		Desired: 1, Current: 1, Ready: 1, Running: 1,
		Error: "ssd-monitor.toml:7: template.restart_delay: \"soon\" is not a duration\nssd-monitor.toml:9: template.bogus: unknown key",
		Template: supervisor.TemplateSummary{Labels: units.Labels{"app": "ssd-monitor"}, Command: []string{"ssd-monitor"},
			Env: map[string]string{"DISK": "/dev/sda"}, Liveness: "exec [check] delay=0s timeout=1s period=10s #success=1 #failure=3"},
	}
	var b bytes.Buffer
	d := describer{p: printer{now: seedNow, loc: kst}}
	d.unit(&b, u, nil, nil)
	checkGolden(t, "describe ds", b.String(), `
Name:           ssd-monitor
Kind:           per-host
Selector:       app=ssd-monitor
Node-Selector:  disk=ssd
Labels:         <none>
Desired Number of Nodes Scheduled: 1
Current Number of Nodes Scheduled: 1
Number of Nodes Scheduled with Ready Pods: 1
Pods Status:  1 Running / 0 Waiting / 0 Succeeded / 0 Failed
Error:        ssd-monitor.toml:7: template.restart_delay: "soon" is not a duration
              ssd-monitor.toml:9: template.bogus: unknown key
              (the last valid version of the file keeps running)
Hosts:        <none>
Pod Template:
  Labels:    app=ssd-monitor
  Command:   ssd-monitor
  Liveness:  exec [check] delay=0s timeout=1s period=10s #success=1 #failure=3
  Environment:
    DISK:  /dev/sda
Events:    <none>
`)
}

// A job's settings come from its unit file, which the wire form carries;
// its completed indexes are listed as kubectl lists an Indexed Job's.
func TestDescribeJobUnit(t *testing.T) {
	u := supervisor.Unit{
		Name: "multi-completion-batch-job", Kind: units.KindJob, Running: 1, Active: 1, Succeeded: 1,
		CompletionMode: "Indexed", CompletedIndexes: "0",
		Source:   "kind = \"job\"\ncompletions = 5\nparallelism = 2\n[template]\ncommand = [\"batch\"]\nrestart = \"on-failure\"\n",
		Template: supervisor.TemplateSummary{Command: []string{"batch"}, Restart: "on-failure"},
	}
	events := []supervisor.Event{
		seedEvent("Normal", "SuccessfulCreate", "6m50s", "6m50s", 1, "job-controller", "Created instance: multi-completion-batch-job-9rrv4"),
		seedEvent("Normal", "Completed", "66s", "66s", 1, "job-controller", "Job completed"),
	}
	var b bytes.Buffer
	d := describer{p: printer{now: seedNow, loc: kst}}
	d.unit(&b, u, nil, events)
	checkGolden(t, "describe job", b.String(), `
Name:               multi-completion-batch-job
Kind:               job
Selector:           <none>
Labels:             <none>
Parallelism:        2
Completions:        5
Completion Mode:    Indexed
Backoff Limit:      6
Pods Statuses:      1 Active / 1 Succeeded / 0 Failed
Completed Indexes:  0
Pod Template:
  Labels:       <none>
  Command:      batch
  Restart:      on-failure
  Environment:  <none>
Events:
  Type    Reason            Age    From            Message
  ----    ------            ----   ----            -------
  Normal  SuccessfulCreate  6m50s  job-controller  Created instance: multi-completion-batch-job-9rrv4
  Normal  Completed         66s    job-controller  Job completed
`)
}

func TestDescribeHost(t *testing.T) {
	h := supervisor.Host{Name: "edge-17", Labels: units.Labels{"disk": "ssd", "zone": "a"}, Status: "Ready", Version: "v0.1.0",
		Started: time.Date(2020, 10, 23, 22, 40, 0, 0, kst), Instances: 1}
	instances := []supervisor.Instance{{Name: "ssd-monitor-hkpq4", Unit: "ssd-monitor", Status: "Running", Created: ago(dur("2m30s"))}}
	events := []supervisor.Event{seedEvent("Normal", "Starting", "11s", "11s", 1, "agent, edge-17", "Starting tend agent.")}
	var b bytes.Buffer
	d := describer{p: printer{now: seedNow, loc: kst}}
	d.host(&b, h, instances, events)
	checkGolden(t, "describe node", b.String(), `
Name:     edge-17
Labels:   disk=ssd
          zone=a
Status:   Ready
Version:  v0.1.0
Started:  Fri, 23 Oct 2020 22:40:00 +0900
Conditions:
  Type   Status  LastTransitionTime               Reason     Message
  ----   ------  ------------------               ------     -------
  Ready  True    Fri, 23 Oct 2020 22:40:00 +0900  NodeReady  the host answers gossip
Instances:           (1 in total)
  Name               Unit         Status   Restarts  Age
  ----               ----         ------   --------  ---
  ssd-monitor-hkpq4  ssd-monitor  Running  0         2m30s
Events:
  Type    Reason    Age   From            Message
  ----    ------    ----  ----            -------
  Normal  Starting  11s   agent, edge-17  Starting tend agent.
`)
	// A host that stopped answering, as the seed's node whose network
	// was cut (4.2.3).
	h.Status, h.Since = "NotReady", time.Date(2020, 10, 24, 1, 2, 3, 0, kst)
	b.Reset()
	d.host(&b, h, nil, []supervisor.Event{seedEvent("Warning", "NodeNotReady", "1m", "1m", 1, "cluster", "Host edge-17 stopped answering")})
	checkGolden(t, "describe node, not ready", b.String(), `
Name:     edge-17
Labels:   disk=ssd
          zone=a
Status:   NotReady
Version:  v0.1.0
Started:  Fri, 23 Oct 2020 22:40:00 +0900
Conditions:
  Type   Status   LastTransitionTime               Reason             Message
  ----   ------   ------------------               ------             -------
  Ready  Unknown  Sat, 24 Oct 2020 01:02:03 +0900  NodeStatusUnknown  the host stopped answering gossip
Instances:  (0 in total)
Events:
  Type     Reason        Age   From     Message
  ----     ------        ----  ----     -------
  Warning  NodeNotReady  60s   cluster  Host edge-17 stopped answering
`)
}
