package main

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/tendhq/tend/supervisor"
	"github.com/tendhq/tend/units"
)

func labelChange(set units.Labels, remove []string) supervisor.LabelChange {
	return supervisor.LabelChange{Set: set, Remove: remove}
}

// getFlags is get's flag set, for testing the parser.
func getFlags() (*flagSet, *getOptions, *string, *bool) {
	fs := newFlagSet("get")
	o := &getOptions{}
	var selector string
	var watch bool
	fs.stringVar(&o.output, "output", "o", "", "")
	fs.stringVar(&selector, "selector", "l", "", "")
	fs.boolVar(&o.showLabels, "show-labels", "", "")
	fs.add((*listValue)(&o.labelCols), "label-columns", "L", "")
	fs.boolVar(&watch, "watch", "w", "")
	return fs, o, &selector, &watch
}

func TestParseFlagsKubectlStyle(t *testing.T) {
	for _, tc := range []struct {
		args       []string
		positional []string
		output     string
		selector   string
		labels     []string
		show       bool
		watch      bool
	}{
		{args: []string{"po", "-l", "app=kubia"}, positional: []string{"po"}, selector: "app=kubia"},
		{args: []string{"-l", "app=kubia", "po"}, positional: []string{"po"}, selector: "app=kubia"},
		{args: []string{"po", "-o", "wide"}, positional: []string{"po"}, output: "wide"},
		{args: []string{"po", "-owide"}, positional: []string{"po"}, output: "wide"},
		{args: []string{"-ojson", "po", "kubia-x"}, positional: []string{"po", "kubia-x"}, output: "json"},
		{args: []string{"po", "--output=yaml"}, positional: []string{"po"}, output: "yaml"},
		{args: []string{"po", "-o=name"}, positional: []string{"po"}, output: "name"},
		{args: []string{"po", "-lapp=kubia"}, positional: []string{"po"}, selector: "app=kubia"},
		{args: []string{"po", "--show-labels"}, positional: []string{"po"}, show: true},
		{args: []string{"pods", "-L", "app"}, positional: []string{"pods"}, labels: []string{"app"}},
		{args: []string{"pods", "-L", "app", "-L", "tier,env", "-Lzone"}, positional: []string{"pods"}, labels: []string{"app", "tier", "env", "zone"}},
		{args: []string{"po", "-w"}, positional: []string{"po"}, watch: true},
		{args: []string{"-w", "po", "kubia-x"}, positional: []string{"po", "kubia-x"}, watch: true},
		{args: []string{"po", "--", "-w"}, positional: []string{"po", "-w"}},
		{args: []string{"po", "a", "-w", "b"}, positional: []string{"po", "a", "b"}, watch: true},
	} {
		fs, o, sel, watch := getFlags()
		pos, err := fs.parse(&CLI{}, tc.args)
		if err != nil {
			t.Errorf("%q: %v", tc.args, err)
			continue
		}
		if !slices.Equal(pos, tc.positional) || o.output != tc.output || *sel != tc.selector ||
			!slices.Equal(o.labelCols, tc.labels) || o.showLabels != tc.show || *watch != tc.watch {
			t.Errorf("%q: positional %q output %q selector %q -L %q show %v watch %v", tc.args, pos, o.output, *sel, o.labelCols, o.showLabels, *watch)
		}
	}
}

func TestParseFlagsErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"po", "--bogus"}, "unknown flag: --bogus\nSee 'tend get --help' for usage."},
		{[]string{"po", "-x"}, "unknown flag: -x\nSee 'tend get --help' for usage."},
		{[]string{"po", "-o"}, "flag needs an argument: -o\nSee 'tend get --help' for usage."},
		{[]string{"po", "--show-labels=maybe"}, `invalid argument "maybe" for --show-labels flag: want true or false` + "\nSee 'tend get --help' for usage."},
	} {
		fs, _, _, _ := getFlags()
		_, err := fs.parse(&CLI{}, tc.args)
		var ue *usageError
		if !errors.As(err, &ue) || err.Error() != tc.want {
			t.Errorf("%q: err = %v, want %q", tc.args, err, tc.want)
		}
	}
}

func TestCascadeFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
		pos  []string
	}{
		{[]string{"rc", "kubia"}, "", []string{"rc", "kubia"}},
		{[]string{"rc", "kubia", "--cascade=false"}, "false", []string{"rc", "kubia"}},
		{[]string{"rc", "kubia", "--cascade=orphan"}, "orphan", []string{"rc", "kubia"}},
		{[]string{"--cascade", "rc", "kubia"}, "background", []string{"rc", "kubia"}},
		{[]string{"rc", "kubia", "--cascade=foreground"}, "foreground", []string{"rc", "kubia"}},
	} {
		fs := newFlagSet("delete")
		var cascade string
		fs.add(optionalValue{p: &cascade, ifBare: "background"}, "cascade", "", "")
		pos, err := fs.parse(&CLI{}, tc.args)
		if err != nil || cascade != tc.want || !slices.Equal(pos, tc.pos) {
			t.Errorf("%q: cascade %q positional %q err %v; want %q", tc.args, cascade, pos, err, tc.want)
		}
	}
}

func TestResourceWords(t *testing.T) {
	for words, want := range map[string]resource{
		"instance instances inst pods pod po PODS Po": instancesRes,
		"unit units u": unitsRes,
		"rs replicaset replicasets rc replicationcontroller replicationcontrollers RS": {resUnits, units.KindReplicated},
		"ds daemonset daemonsets":  {resUnits, units.KindPerHost},
		"job jobs":                 {resUnits, units.KindJob},
		"cronjob cronjobs cj":      {resUnits, units.KindCron},
		"host hosts nodes node no": hostsRes,
		"event events ev":          eventsRes,
	} {
		for _, w := range strings.Fields(words) {
			got, err := parseResource("get", w)
			if err != nil || got != want {
				t.Errorf("parseResource(%q) = %+v, %v; want %+v", w, got, err, want)
			}
		}
	}
	for word, want := range map[string]string{
		"crontjobs": `the server doesn't have a resource type "crontjobs" (did you mean "cronjobs"?)`,
		"pdos":      `the server doesn't have a resource type "pdos" (did you mean "pods"?)`,
		"services":  `the server doesn't have a resource type "services"`,
	} {
		_, err := parseResource("get", word)
		var ue *usageError
		if !errors.As(err, &ue) || ue.err.Error() != want {
			t.Errorf("parseResource(%q) err = %v, want %q", word, err, want)
		}
	}
}

func TestParseTargets(t *testing.T) {
	rc := resource{resUnits, units.KindReplicated}
	for _, tc := range []struct {
		args []string
		want []target
	}{
		{[]string{"po"}, []target{{instancesRes, nil}}},
		{[]string{"po", "a", "b"}, []target{{instancesRes, []string{"a", "b"}}}},
		{[]string{"po/a"}, []target{{instancesRes, []string{"a"}}}},
		{[]string{"po/a", "rc/kubia", "pod/b"}, []target{{instancesRes, []string{"a", "b"}}, {rc, []string{"kubia"}}}},
		{[]string{"po,rc"}, []target{{instancesRes, []string{}}, {rc, []string{}}}},
		{[]string{"pods,po"}, []target{{instancesRes, []string{}}}},
	} {
		got, err := parseTargets("get", tc.args)
		if err != nil {
			t.Errorf("%q: %v", tc.args, err)
			continue
		}
		if len(got) != len(tc.want) {
			t.Errorf("%q = %+v, want %+v", tc.args, got, tc.want)
			continue
		}
		for i := range got {
			if got[i].res != tc.want[i].res || !slices.Equal(got[i].names, tc.want[i].names) {
				t.Errorf("%q = %+v, want %+v", tc.args, got, tc.want)
			}
		}
	}
	for _, bad := range [][]string{{}, {"po/"}, {"po/a", "b"}, {"po", "rc/x"}, {"bogus"}} {
		if _, err := parseTargets("get", bad); err == nil {
			t.Errorf("parseTargets(%q) succeeded", bad)
		}
	}
}

func TestParseLabelSpecs(t *testing.T) {
	ch, err := parseLabelSpecs([]string{"type=special", "app=foo", "tier-", "example.com/x="})
	if err != nil {
		t.Fatal(err)
	}
	if ch.Set.String() != "app=foo,example.com/x=,type=special" || !slices.Equal(ch.Remove, []string{"tier"}) {
		t.Errorf("got %+v", ch)
	}
	for _, bad := range [][]string{nil, {"-x=1"}, {"a=b c"}, {"a=1", "a-"}} {
		if _, err := parseLabelSpecs(bad); err == nil {
			t.Errorf("parseLabelSpecs(%q) succeeded", bad)
		}
	}
}

func TestCheckOverwriteAndOutcome(t *testing.T) {
	cur := units.Labels{"app": "kubia", "type": "special"}
	if err := checkOverwrite(cur, units.Labels{"app": "kubia", "new": "x"}); err != nil {
		t.Errorf("same value refused: %v", err)
	}
	err := checkOverwrite(cur, units.Labels{"app": "foo", "type": "plain"})
	want := "'app' already has a value (kubia), and --overwrite is false\n'type' already has a value (special), and --overwrite is false"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v, want %q", err, want)
	}
	for _, tc := range []struct {
		set    units.Labels
		remove []string
		want   string
	}{
		{units.Labels{"app": "foo"}, nil, "labeled"},
		{units.Labels{"app": "kubia"}, nil, "not labeled"},
		{nil, []string{"type"}, "unlabeled"},
		{nil, []string{"missing"}, "not labeled"},
		{units.Labels{"x": "1"}, []string{"type"}, "labeled"},
	} {
		ch := labelChange(tc.set, tc.remove)
		if got := labelOutcome(cur, ch); got != tc.want {
			t.Errorf("labelOutcome(%v, -%v) = %q, want %q", tc.set, tc.remove, got, tc.want)
		}
	}
}

func TestSuggest(t *testing.T) {
	for s, want := range map[string]string{"gte": "get", "desribe": "describe", "xyz": "", "lable": "label", "ap": ""} {
		if got := suggest(s, commandNames()); got != want {
			t.Errorf("suggest(%q) = %q, want %q", s, got, want)
		}
	}
}

func TestStripEditNote(t *testing.T) {
	body := "# my own comment\nkind = \"job\"\n"
	edited := string(editNote("x", []string{"x.toml:2: kind: bad"})) + body
	if got := string(stripEditNote([]byte(edited))); got != body {
		t.Errorf("stripEditNote = %q, want %q", got, body)
	}
	if got := string(stripEditNote([]byte(body))); got != body {
		t.Errorf("a file without the note changed: %q", got)
	}
}
