package units

import (
	"reflect"
	"testing"
)

func TestSelectorMatches(t *testing.T) {
	kubia := Labels{"app": "kubia", "env": "prod"}
	special := Labels{"app": "kubia", "type": "special"}
	none := Labels{}
	for _, c := range []struct {
		name string
		sel  Selector
		want map[string]bool // labels name → matches
	}{
		{"empty", Selector{}, map[string]bool{"kubia": true, "special": true, "none": true}},
		{"match_labels", Selector{MatchLabels: Labels{"app": "kubia"}}, map[string]bool{"kubia": true, "special": true, "none": false}},
		{"match_labels both", Selector{MatchLabels: Labels{"app": "kubia", "env": "prod"}}, map[string]bool{"kubia": true, "special": false, "none": false}},
		{"match_labels empty value", Selector{MatchLabels: Labels{"env": ""}}, map[string]bool{"kubia": false, "special": false, "none": false}},
		{"In", Selector{MatchExpressions: []Requirement{{"env", OpIn, []string{"prod", "qa"}}}}, map[string]bool{"kubia": true, "special": false, "none": false}},
		{"In other", Selector{MatchExpressions: []Requirement{{"env", OpIn, []string{"qa"}}}}, map[string]bool{"kubia": false, "special": false, "none": false}},
		{"NotIn", Selector{MatchExpressions: []Requirement{{"env", OpNotIn, []string{"test"}}}}, map[string]bool{"kubia": true, "special": true, "none": true}},
		{"NotIn present", Selector{MatchExpressions: []Requirement{{"env", OpNotIn, []string{"prod"}}}}, map[string]bool{"kubia": false, "special": true, "none": true}},
		{"Exists", Selector{MatchExpressions: []Requirement{{"type", OpExists, nil}}}, map[string]bool{"kubia": false, "special": true, "none": false}},
		{"DoesNotExist", Selector{MatchExpressions: []Requirement{{"type", OpDoesNotExist, nil}}}, map[string]bool{"kubia": true, "special": false, "none": true}},
		{"all of them", Selector{
			MatchLabels: Labels{"app": "kubia"},
			MatchExpressions: []Requirement{
				{"env", OpIn, []string{"prod"}},
				{"env", OpNotIn, []string{"test"}},
				{"app", OpExists, nil},
				{"type", OpDoesNotExist, nil},
			},
		}, map[string]bool{"kubia": true, "special": false, "none": false}},
		{"bad operator", Selector{MatchExpressions: []Requirement{{Key: "app"}}}, map[string]bool{"kubia": false, "special": false, "none": false}},
	} {
		for name, l := range map[string]Labels{"kubia": kubia, "special": special, "none": none} {
			if got := c.sel.Matches(l); got != c.want[name] {
				t.Errorf("%s: Matches(%s) = %v, want %v", c.name, l, got, c.want[name])
			}
		}
		if got := c.sel.Matches(nil); got != c.want["none"] {
			t.Errorf("%s: Matches(nil) = %v, want %v", c.name, got, c.want["none"])
		}
	}
	if !(Selector{}).Empty() || (Selector{MatchLabels: Labels{"a": "b"}}).Empty() || (Selector{MatchExpressions: []Requirement{{"a", OpExists, nil}}}).Empty() {
		t.Error("Empty wrong")
	}
}

func TestParseSelector(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Selector
		str  string // String of the result
	}{
		{"", Selector{}, ""},
		{"   ", Selector{}, ""},
		{"app=kubia", Selector{MatchLabels: Labels{"app": "kubia"}}, "app=kubia"},
		{"app==kubia", Selector{MatchLabels: Labels{"app": "kubia"}}, "app=kubia"},
		{" app = kubia ", Selector{MatchLabels: Labels{"app": "kubia"}}, "app=kubia"},
		{"app=", Selector{MatchLabels: Labels{"app": ""}}, "app="},
		{"app!=kubia", Selector{MatchExpressions: []Requirement{{"app", OpNotIn, []string{"kubia"}}}}, "app notin (kubia)"},
		{"env in (prod,qa)", Selector{MatchExpressions: []Requirement{{"env", OpIn, []string{"prod", "qa"}}}}, "env in (prod,qa)"},
		{"env in(prod, qa )", Selector{MatchExpressions: []Requirement{{"env", OpIn, []string{"prod", "qa"}}}}, "env in (prod,qa)"},
		{"env notin (test)", Selector{MatchExpressions: []Requirement{{"env", OpNotIn, []string{"test"}}}}, "env notin (test)"},
		{"tier", Selector{MatchExpressions: []Requirement{{"tier", OpExists, nil}}}, "tier"},
		{"!tier", Selector{MatchExpressions: []Requirement{{"tier", OpDoesNotExist, nil}}}, "!tier"},
		{"! tier", Selector{MatchExpressions: []Requirement{{"tier", OpDoesNotExist, nil}}}, "!tier"},
		{"example.com/tier=web", Selector{MatchLabels: Labels{"example.com/tier": "web"}}, "example.com/tier=web"},
		{
			"tier, env notin (test), !gone, zone=a, app=kubia",
			Selector{
				MatchLabels: Labels{"app": "kubia", "zone": "a"},
				MatchExpressions: []Requirement{
					{"tier", OpExists, nil},
					{"env", OpNotIn, []string{"test"}},
					{"gone", OpDoesNotExist, nil},
				},
			},
			"app=kubia,zone=a,tier,env notin (test),!gone",
		},
		{"a=x,a=y", Selector{MatchLabels: Labels{"a": "x"}, MatchExpressions: []Requirement{{"a", OpIn, []string{"y"}}}}, "a=x,a in (y)"},
		{"a=x,a=x", Selector{MatchLabels: Labels{"a": "x"}}, "a=x"},
	} {
		got, err := ParseSelector(c.in)
		if err != nil {
			t.Errorf("ParseSelector(%q): %v", c.in, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseSelector(%q) = %#v, want %#v", c.in, got, c.want)
		}
		if s := got.String(); s != c.str {
			t.Errorf("ParseSelector(%q).String() = %q, want %q", c.in, s, c.str)
		}
		// The String form parses back to the same selector.
		again, err := ParseSelector(got.String())
		if err != nil || again.String() != got.String() || !reflect.DeepEqual(again, got) {
			t.Errorf("round trip of %q: %#v, %v", got.String(), again, err)
		}
		var u Selector
		if err := u.UnmarshalText([]byte(c.in)); err != nil || !reflect.DeepEqual(u, got) {
			t.Errorf("UnmarshalText(%q) = %#v, %v", c.in, u, err)
		}
	}
}

func TestParseSelectorErrors(t *testing.T) {
	for _, c := range []struct{ in, err string }{
		{"app=kubia,", `selector "app=kubia,": empty requirement (a stray comma?)`},
		{",app", `selector ",app": empty requirement (a stray comma?)`},
		{"env in (a", `selector "env in (a": missing ")"`},
		{"env in a)", `selector "env in a)": ")" without "("`},
		{"env in ((a))", `selector "env in ((a))": nested "("`},
		{"env in ()", `selector "env in ()": requirement "env in ()": in needs at least one value`},
		{"env notin ( )", `selector "env notin ( )": requirement "env notin ( )": notin needs at least one value`},
		{"env in prod", `selector "env in prod": requirement "env in prod": want =, ==, !=, "in (...)" or "notin (...)" after the key`},
		{"env < 3", `selector "env < 3": requirement "env < 3": want =, ==, !=, "in (...)" or "notin (...)" after the key`},
		{"=kubia", `selector "=kubia": requirement "=kubia" does not start with a label key`},
		{"app=a b", `selector "app=a b": invalid label value "a b": must consist of letters, digits, '-', '_' or '.'`},
		{"-app=x", `selector "-app=x": invalid label key "-app": name part must begin and end with a letter or digit`},
		{"!", `selector "!": invalid label key "": name part must not be empty`},
		{"env in (a b)", `selector "env in (a b)": invalid label value "a b": must consist of letters, digits, '-', '_' or '.'`},
	} {
		_, err := ParseSelector(c.in)
		if err == nil || err.Error() != c.err {
			t.Errorf("ParseSelector(%q) error = %v\nwant %s", c.in, err, c.err)
		}
	}
}
