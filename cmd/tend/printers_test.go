package main

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tendhq/tend/supervisor"
	"github.com/tendhq/tend/supervisor/objects"
	"github.com/tendhq/tend/units"
)

// kst is the seed's time zone (its describe output says +0900).
var kst = time.FixedZone("KST", 9*60*60)

// seedNow is "now" in the printer tests.
var seedNow = time.Date(2020, 10, 24, 0, 20, 0, 0, kst)

func ago(d time.Duration) time.Time { return seedNow.Add(-d) }

func dur(s string) time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return d
}

func TestHumanDuration(t *testing.T) {
	day := 24 * time.Hour
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{-5 * time.Second, "<invalid>"},
		{-1500 * time.Millisecond, "0s"},
		{0, "0s"},
		{999 * time.Millisecond, "0s"},
		{5 * time.Second, "5s"},
		{79 * time.Second, "79s"},
		{119 * time.Second, "119s"},
		{2 * time.Minute, "2m"},
		{dur("2m15s"), "2m15s"},
		{dur("5m8s"), "5m8s"},
		{dur("9m59s"), "9m59s"},
		{10 * time.Minute, "10m"},
		{dur("24m30s"), "24m"},
		{80 * time.Minute, "80m"},
		{179 * time.Minute, "179m"},
		{3 * time.Hour, "3h"},
		{dur("6h28m"), "6h28m"},
		{dur("7h59m59s"), "7h59m"},
		{8 * time.Hour, "8h"},
		{47 * time.Hour, "47h"},
		{48 * time.Hour, "2d"},
		{51 * time.Hour, "2d3h"},
		{8 * day, "8d"},
		{400 * day, "400d"},
		{730 * day, "2y"},
		{733 * day, "2y3d"},
		{8 * 365 * day, "8y"},
		{20 * 365 * day, "20y"},
	} {
		if got := humanDuration(tc.d); got != tc.want {
			t.Errorf("humanDuration(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestEventAge(t *testing.T) {
	p := printer{now: seedNow, loc: kst}
	for _, tc := range []struct {
		e    supervisor.Event
		want string
	}{
		{supervisor.Event{First: ago(dur("8m4s")), Last: ago(dur("8m4s")), Count: 1}, "8m4s"},
		{supervisor.Event{First: ago(21 * time.Second), Last: ago(time.Second), Count: 3}, "1s (x3 over 21s)"},
		{supervisor.Event{First: ago(dur("8m54s")), Last: ago(3 * time.Minute), Count: 4}, "3m (x4 over 8m54s)"},
		{supervisor.Event{Last: ago(time.Second), Count: 1}, "1s"},
		{supervisor.Event{First: ago(time.Minute), Last: ago(time.Second)}, "1s"},
		{supervisor.Event{}, "<unknown>"},
	} {
		if got := p.eventAge(tc.e); got != tc.want {
			t.Errorf("eventAge(%+v) = %q, want %q", tc.e, got, tc.want)
		}
	}
}

func seedInstance(name, age string, labels units.Labels) supervisor.Instance {
	return supervisor.Instance{
		Name: name, Unit: "kubia", Kind: units.KindReplicated, Host: "gke-kubia-default-pool-ca08bdd4-b79f",
		Labels: labels, Created: ago(dur(age)), Status: "Running", Ready: true, PID: 4000 + len(age),
	}
}

func printTable(f fetched, o getOptions) string {
	var b bytes.Buffer
	printer{now: seedNow, loc: kst}.printTable(&b, f, o, "")
	return b.String()
}

func checkGolden(t *testing.T, what, got, want string) {
	t.Helper()
	want = strings.TrimPrefix(want, "\n")
	if got != want {
		t.Errorf("%s:\n--- got ---\n%s--- want ---\n%s", what, got, want)
	}
}

// The tables of the seed's `kubectl get po`, with tend's columns.
func TestInstanceTable(t *testing.T) {
	kubia := units.Labels{"app": "kubia"}
	f := fetched{res: instancesRes, instances: []supervisor.Instance{
		seedInstance("kubia-b26v6", "6h29m", kubia),
		seedInstance("kubia-gdtpr", "9s", kubia),
		seedInstance("kubia-jkgjb", "2m15s", kubia),
		seedInstance("kubia-w2sp2", "6h29m", kubia),
		seedInstance("kubia-zpkgx", "6h17m", kubia),
	}}
	checkGolden(t, "get po", printTable(f, getOptions{}), `
NAME          READY   STATUS    RESTARTS   AGE
kubia-b26v6   1/1     Running   0          6h29m
kubia-gdtpr   1/1     Running   0          9s
kubia-jkgjb   1/1     Running   0          2m15s
kubia-w2sp2   1/1     Running   0          6h29m
kubia-zpkgx   1/1     Running   0          6h17m
`)

	f.instances[1].Host = "gke-kubia-default-pool-ca08bdd4-3775"
	f.instances[1].PID = 0
	f.instances[1].Ready = false
	f.instances[1].Status = "Pending"
	checkGolden(t, "get po -o wide", printTable(f, getOptions{output: "wide"}), `
NAME          READY   STATUS    RESTARTS   AGE     HOST                                   PID
kubia-b26v6   1/1     Running   0          6h29m   gke-kubia-default-pool-ca08bdd4-b79f   4005
kubia-gdtpr   0/1     Pending   0          9s      gke-kubia-default-pool-ca08bdd4-3775   <none>
kubia-jkgjb   1/1     Running   0          2m15s   gke-kubia-default-pool-ca08bdd4-b79f   4005
kubia-w2sp2   1/1     Running   0          6h29m   gke-kubia-default-pool-ca08bdd4-b79f   4005
kubia-zpkgx   1/1     Running   0          6h17m   gke-kubia-default-pool-ca08bdd4-b79f   4005
`)

	foo := units.Labels{"app": "foo"}
	labelled := fetched{res: instancesRes, instances: []supervisor.Instance{
		seedInstance("kubia-8zw5n", "62s", foo),
		seedInstance("kubia-9w7gs", "24m", foo),
		seedInstance("kubia-f4d5l", "28m", kubia),
		seedInstance("kubia-f8d86", "7m23s", kubia),
		seedInstance("kubia-mdj5s", "62s", foo),
		seedInstance("kubia-r9xtd", "28m", units.Labels{"app": "kubia", "type": "special"}),
		seedInstance("orphan-x1234", "1s", nil),
	}}
	checkGolden(t, "get po --show-labels", printTable(labelled, getOptions{showLabels: true}), `
NAME           READY   STATUS    RESTARTS   AGE     LABELS
kubia-8zw5n    1/1     Running   0          62s     app=foo
kubia-9w7gs    1/1     Running   0          24m     app=foo
kubia-f4d5l    1/1     Running   0          28m     app=kubia
kubia-f8d86    1/1     Running   0          7m23s   app=kubia
kubia-mdj5s    1/1     Running   0          62s     app=foo
kubia-r9xtd    1/1     Running   0          28m     app=kubia,type=special
orphan-x1234   1/1     Running   0          1s      <none>
`)
	checkGolden(t, "get pods -L app -L type", printTable(labelled, getOptions{labelCols: []string{"app", "type"}}), `
NAME           READY   STATUS    RESTARTS   AGE     APP     TYPE
kubia-8zw5n    1/1     Running   0          62s     foo
kubia-9w7gs    1/1     Running   0          24m     foo
kubia-f4d5l    1/1     Running   0          28m     kubia
kubia-f8d86    1/1     Running   0          7m23s   kubia
kubia-mdj5s    1/1     Running   0          62s     foo
kubia-r9xtd    1/1     Running   0          28m     kubia   special
orphan-x1234   1/1     Running   0          1s
`)
	checkGolden(t, "--no-headers", printTable(fetched{res: instancesRes, instances: labelled.instances[:1]}, getOptions{noHeaders: true}), `
kubia-8zw5n   1/1   Running   0   62s
`)
}

func TestUnitTables(t *testing.T) {
	rc := supervisor.Unit{Name: "kubia", Path: "/etc/tend/units.d/kubia.toml", Kind: units.KindReplicated, Desired: 3, Current: 3, Ready: 3, Created: ago(dur("6m37s")),
		Selector: "app=kubia", Labels: units.Labels{"app": "kubia"}, Template: supervisor.TemplateSummary{Command: []string{"kubia", "--port", "8080"}}}
	ds := supervisor.Unit{Name: "ssd-monitor", Path: "/etc/tend/units.d/ssd-monitor.toml", Kind: units.KindPerHost, Desired: 1, Current: 1, Ready: 0, Created: ago(79 * time.Second),
		NodeSelector: "disk=ssd", Selector: "app=ssd-monitor"}
	job := supervisor.Unit{Name: "batch-job", Path: "/etc/tend/units.d/batch-job.toml", Kind: units.KindJob, Created: ago(dur("2m27s")), Completions: 1, Succeeded: 1,
		StartTime: ago(dur("2m27s")), CompletionTime: ago(dur("2m27s")).Add(dur("2m5s"))}
	running := supervisor.Unit{Name: "multi-completion-batch-job", Kind: units.KindJob, Created: ago(14 * time.Second), Completions: 5,
		StartTime: ago(14 * time.Second)}
	cron := supervisor.Unit{Name: "batch-job-every-fifteen-minutes", Path: "/etc/tend/units.d/batch-job-every-fifteen-minutes.toml", Kind: units.KindCron, Created: ago(79 * time.Second),
		Schedule: "0,15,30,45 * * * *"}
	// A job a cron unit made has no file of its own: <none>.
	running.Owner = cron.Name
	// A file made invalid after it was applied: its last valid version
	// runs. One that was never valid has a name, a path and an error only.
	broken := rc
	broken.Name, broken.Error = "kubia-broken", "kubia-broken.toml:2: replicas: want an integer"
	never := supervisor.Unit{Name: "typo", Path: "/etc/tend/units.d/typo.toml", Error: "typo.toml:1: kind: missing"}

	checkGolden(t, "get rc", printTable(fetched{res: resourceWords["rc"], units: []supervisor.Unit{rc}}, getOptions{}), `
NAME    DESIRED   CURRENT   READY   AGE     STOPPED   FILE
kubia   3         3         3       6m37s   False     Valid
`)
	checkGolden(t, "get ds", printTable(fetched{res: resourceWords["ds"], units: []supervisor.Unit{ds}}, getOptions{}), `
NAME          DESIRED   CURRENT   READY   NODE SELECTOR   AGE   STOPPED   FILE
ssd-monitor   1         1         0       disk=ssd        79s   False     Valid
`)
	// The seed's tables (4.5 and 7).
	checkGolden(t, "get jobs", printTable(fetched{res: resourceWords["jobs"], units: []supervisor.Unit{job, running}}, getOptions{}), `
NAME                         COMPLETIONS   DURATION   AGE     STOPPED   FILE
batch-job                    1/1           2m5s       2m27s   False     Valid
multi-completion-batch-job   0/5           14s        14s     False     <none>
`)
	checkGolden(t, "get cronjobs", printTable(fetched{res: resourceWords["cronjobs"], units: []supervisor.Unit{cron}}, getOptions{}), `
NAME                              SCHEDULE             SUSPEND   ACTIVE   LAST SCHEDULE   AGE   STOPPED   FILE
batch-job-every-fifteen-minutes   0,15,30,45 * * * *   False     0        <none>          79s   False     Valid
`)
	// tend stop unit: none desired, STOPPED True.
	stopped := rc
	stopped.Name, stopped.Stopped, stopped.Desired, stopped.Current, stopped.Ready = "kubia-stopped", true, 0, 0, 0
	all := fetched{res: unitsRes, units: []supervisor.Unit{job, cron, rc, broken, stopped, ds, never}}
	checkGolden(t, "get units", printTable(all, getOptions{}), `
NAME                              KIND         DESIRED   CURRENT   READY   AGE         STOPPED   FILE
batch-job                         job          0         0         0       2m27s       False     Valid
batch-job-every-fifteen-minutes   cron         0         0         0       79s         False     Valid
kubia                             replicated   3         3         3       6m37s       False     Valid
kubia-broken                      replicated   3         3         3       6m37s       False     Invalid
kubia-stopped                     replicated   0         0         0       6m37s       True      Valid
ssd-monitor                       per-host     1         1         0       79s         False     Valid
typo                              <none>       0         0         0       <unknown>   False     Invalid
`)
	checkGolden(t, "get rs -o wide --show-labels", printTable(fetched{res: resourceWords["rs"], units: []supervisor.Unit{rc, ds}}, getOptions{output: "wide", showLabels: true}), `
NAME          DESIRED   CURRENT   READY   AGE     STOPPED   FILE    COMMAND             SELECTOR          LABELS
kubia         3         3         3       6m37s   False     Valid   kubia --port 8080   app=kubia         app=kubia
ssd-monitor   1         1         0       79s     False     Valid   <none>              app=ssd-monitor   <none>
`)
}

// The seed's `kubectl get node`, without ROLES.
func TestHostTable(t *testing.T) {
	hosts := []supervisor.Host{
		{Name: "gke-kubia-default-pool-ca08bdd4-3775", Status: "NotReady", Started: ago(80 * time.Minute), Version: "v1.16.13-gke.401", Labels: units.Labels{"disk": "ssd"}, Addr: "10.0.0.3:7946"},
		{Name: "gke-kubia-default-pool-ca08bdd4-b79f", Status: "Ready", Started: ago(80 * time.Minute), Version: "v1.16.13-gke.401", Instances: 2},
	}
	checkGolden(t, "get node", printTable(fetched{res: hostsRes, hosts: hosts}, getOptions{}), `
NAME                                   STATUS     LABELS     AGE   VERSION
gke-kubia-default-pool-ca08bdd4-3775   NotReady   disk=ssd   80m   v1.16.13-gke.401
gke-kubia-default-pool-ca08bdd4-b79f   Ready      <none>     80m   v1.16.13-gke.401
`)
	checkGolden(t, "get nodes --show-labels -o wide", printTable(fetched{res: hostsRes, hosts: hosts}, getOptions{showLabels: true, output: "wide"}), `
NAME                                   STATUS     LABELS     AGE   VERSION            ADDRESS         INSTANCES
gke-kubia-default-pool-ca08bdd4-3775   NotReady   disk=ssd   80m   v1.16.13-gke.401   10.0.0.3:7946   0
gke-kubia-default-pool-ca08bdd4-b79f   Ready      <none>     80m   v1.16.13-gke.401   <none>          2
`)
}

func TestEventTable(t *testing.T) {
	events := []supervisor.Event{
		{Kind: "instance", Object: "kubia-liveness", Type: "Warning", Reason: "Unhealthy",
			Message: "Liveness probe failed: HTTP probe failed with statuscode: 500", First: ago(21 * time.Second), Last: ago(time.Second), Count: 3},
		{Kind: "unit", Object: "kubia", Type: "Normal", Reason: "SuccessfulCreate", Message: "Created instance: kubia-r9xtd",
			First: ago(dur("6m37s")), Last: ago(dur("6m37s")), Count: 1},
		{Kind: "unit", Object: "bad", Type: "Warning", Reason: "InvalidUnit",
			Message: "bad.toml:4: selector.match_expressions[0].values: must be empty for Exists\nbad.toml:9: replicas: -1 is less than 0\n",
			First:   ago(time.Minute), Last: ago(time.Minute), Count: 1},
	}
	sortEvents(events)
	checkGolden(t, "get events", printTable(fetched{res: eventsRes, events: events}, getOptions{}), `
LAST SEEN          TYPE      REASON             OBJECT                    MESSAGE
6m37s              Normal    SuccessfulCreate   unit/kubia                Created instance: kubia-r9xtd
60s                Warning   InvalidUnit        unit/bad                  bad.toml:4: selector.match_expressions[0].values: must be empty for Exists; bad.toml:9: replicas: -1 is less than 0
1s (x3 over 21s)   Warning   Unhealthy          instance/kubia-liveness   Liveness probe failed: HTTP probe failed with statuscode: 500
`)
}

// TestTableGrows checks that rows a watch adds line up with the table and
// widen a column when they must.
func TestTableGrows(t *testing.T) {
	var b bytes.Buffer
	tab := &table{w: &b}
	tab.write([]string{"NAME", "STATUS", "AGE"}, []string{"kubia-1", "Running", "5s"})
	tab.write([]string{"kubia-1", "Terminating", "6s"})
	tab.write([]string{"kubia-22", "Running", "0s"})
	checkGolden(t, "watch rows", b.String(), `
NAME      STATUS    AGE
kubia-1   Running   5s
kubia-1   Terminating   6s
kubia-22   Running       0s
`)
}

func TestShellJoin(t *testing.T) {
	for _, tc := range []struct {
		argv []string
		want string
	}{
		{[]string{"/usr/local/bin/kubia", "--port", "8080"}, "/usr/local/bin/kubia --port 8080"},
		{[]string{"sh", "-c", "echo $HOME; sleep 1"}, "sh -c 'echo $HOME; sleep 1'"},
		{[]string{"echo", "it's", ""}, `echo 'it'\''s' ''`},
		{nil, ""},
	} {
		if got := shellJoin(tc.argv); got != tc.want {
			t.Errorf("shellJoin(%q) = %s, want %s", tc.argv, got, tc.want)
		}
	}
}

func TestWriteYAML(t *testing.T) {
	var b bytes.Buffer
	in := supervisor.Instance{Name: "kubia-x", Labels: units.Labels{"app": "kubia"}, Command: []string{"kubia", "--port", "8080"},
		Status: "Running", Created: time.Date(2020, 10, 24, 0, 9, 40, 0, time.UTC), Env: map[string]string{"N": "123", "T": "true"}}
	if err := writeYAML(&b, objects.NewList([]any{objects.FromInstance(in)})); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	for _, want := range []string{
		"apiVersion: tend.io/v1\nkind: List\nitems:\n- apiVersion: tend.io/v1\n  kind: Instance\n  metadata:\n    name: kubia-x\n",
		"    labels:\n      app: kubia\n    creationTimestamp: \"2020-10-24T00:09:40Z\"\n",
		"    command:\n    - kubia\n    - --port\n    - \"8080\"\n",
		"      \"N\": \"123\"\n      T: \"true\"\n", // N is false to YAML 1.1 readers
		"  status:\n    phase: Pending\n    status: Running\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("yaml lacks %q:\n%s", want, got)
		}
	}
}

// What -o yaml prints reads back, with a YAML library, as the very object
// that -o json prints: strings that look like numbers, booleans, nulls,
// timestamps, comments or indicators stay strings, and text of several
// lines keeps its line breaks.
func TestWriteYAMLReadsBackAsTheJSON(t *testing.T) {
	strs := []string{"", " ", "a", "N", "y", "Yes", "off", "null", "~", "NaN", ".inf", "-.5", "0x1f", "1e3", "0o17", "1_000",
		"12:30", "2020-10-24", "2020-10-24T00:09:40Z", "--port", "-", "---", "...", "- a", "-x", "a: b", "a:b", "a #b", "a#b",
		"#c", "&anchor", "*alias", "!tag", "%dir", "@at", "`tick", "'q'", `"q"`, "[a]", "{a}", "a, b", "?", "? a", "|", ">",
		"trailing ", " leading", "tab\there", "é", "日本", "line\nbreak", "line\nbreak\n", "two\n\n", "\nfirst empty", " sp\nx",
		"cr\r\nlf", "nul\x00", "a\u2028b", "echo $HOME; sleep 1", "http://x:8080/p?q=1#f", "/usr/bin/kubia", "key=value"}
	obj := map[string]any{}
	var list []any
	for k, s := range strs {
		obj[s] = s
		list = append(list, map[string]any{"s": s, "n": k, "l": []any{s, []any{s}, map[string]any{}}, "e": []any{}})
	}
	obj["list"] = list
	obj["nested"] = []any{[]any{"a", "b"}, []any{}, nil, true, 1.5}
	var b bytes.Buffer
	if err := writeYAML(&b, obj); err != nil {
		t.Fatal(err)
	}
	var fromYAML any
	if err := yaml.Unmarshal(b.Bytes(), &fromYAML); err != nil {
		t.Fatalf("the YAML does not parse: %v\n%s", err, b.String())
	}
	want, _ := json.Marshal(obj)
	got, err := json.Marshal(fromYAML)
	if err != nil {
		t.Fatal(err)
	}
	var w, g any
	json.Unmarshal(want, &w)
	json.Unmarshal(got, &g)
	if !reflect.DeepEqual(w, g) {
		wm, gm := w.(map[string]any), g.(map[string]any)
		for k := range wm {
			if !reflect.DeepEqual(wm[k], gm[k]) {
				t.Errorf("key %q: read back %#v, want %#v", k, gm[k], wm[k])
			}
		}
		t.Fatalf("the YAML reads back otherwise:\n%s", b.String())
	}
}
