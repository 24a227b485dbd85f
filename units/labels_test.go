package units

import (
	"strings"
	"testing"
)

func TestLabels(t *testing.T) {
	l := Labels{"tier": "web", "app": "kubia", "env": ""}
	if got, want := l.String(), "app=kubia,env=,tier=web"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got := Labels(nil).String(); got != "" {
		t.Errorf("nil String() = %q, want empty", got)
	}
	if !l.Has("env") || l.Has("gone") || l.Get("app") != "kubia" || l.Get("gone") != "" {
		t.Error("Has/Get wrong")
	}
	c := l.Clone()
	c["app"] = "foo"
	if l["app"] != "kubia" {
		t.Error("Clone shares the map")
	}
	if Labels(nil).Clone() != nil {
		t.Error("nil Clone is not nil")
	}
	if l.Equal(c) || !l.Equal(l.Clone()) || !Labels(nil).Equal(Labels{}) {
		t.Error("Equal wrong")
	}
	if err := l.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	if err := (Labels{"app": "a b"}).Validate(); err == nil || !strings.Contains(err.Error(), `invalid label value "a b"`) {
		t.Errorf("Validate bad value = %v", err)
	}
}

func TestValidateLabelKey(t *testing.T) {
	long := strings.Repeat("a", 63)
	for _, c := range []struct {
		key, err string
	}{
		{key: "app"},
		{key: "App_1.x-y"},
		{key: "a"},
		{key: "9"},
		{key: long},
		{key: "kubernetes.io/name"},
		{key: "app.example.com/tier"},
		{key: "", err: `invalid label key "": name part must not be empty`},
		{key: long + "a", err: `invalid label key "` + long + `a": name part must be at most 63 characters`},
		{key: "-app", err: `invalid label key "-app": name part must begin and end with a letter or digit`},
		{key: "app.", err: `invalid label key "app.": name part must begin and end with a letter or digit`},
		{key: "a b", err: `invalid label key "a b": name part must consist of letters, digits, '-', '_' or '.'`},
		{key: "example.com/", err: `invalid label key "example.com/": name part must not be empty`},
		{key: "/app", err: `invalid label key "/app": prefix must not be empty`},
		{key: "Example.com/app", err: `invalid label key "Example.com/app": prefix must be a DNS subdomain: lowercase letters, digits, '-' and '.', each part beginning and ending with a letter or digit`},
		{key: "a/b/c", err: `invalid label key "a/b/c": name part must consist of letters, digits, '-', '_' or '.'`},
	} {
		err := ValidateLabelKey(c.key)
		if c.err == "" && err != nil {
			t.Errorf("ValidateLabelKey(%q): %v", c.key, err)
		} else if c.err != "" && (err == nil || err.Error() != c.err) {
			t.Errorf("ValidateLabelKey(%q) = %v, want %q", c.key, err, c.err)
		}
	}
}

func TestValidateLabelValue(t *testing.T) {
	for _, c := range []struct {
		v, err string
	}{
		{v: ""},
		{v: "kubia"},
		{v: "v1.2_3-x"},
		{v: strings.Repeat("x", 63)},
		{v: strings.Repeat("x", 64), err: `invalid label value "` + strings.Repeat("x", 64) + `": must be at most 63 characters`},
		{v: "a/b", err: `invalid label value "a/b": must consist of letters, digits, '-', '_' or '.'`},
		{v: "_x", err: `invalid label value "_x": must begin and end with a letter or digit`},
	} {
		err := ValidateLabelValue(c.v)
		if c.err == "" && err != nil {
			t.Errorf("ValidateLabelValue(%q): %v", c.v, err)
		} else if c.err != "" && (err == nil || err.Error() != c.err) {
			t.Errorf("ValidateLabelValue(%q) = %v, want %q", c.v, err, c.err)
		}
	}
}
