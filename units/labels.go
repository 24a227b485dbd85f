package units

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Labels are key=value pairs on units, instances and hosts. A nil Labels
// is empty. Keys and values follow Kubernetes' rules: see
// ValidateLabelKey and ValidateLabelValue.
type Labels map[string]string

// String returns the labels as "a=b,c=d", sorted by key; "" when empty.
func (l Labels) String() string {
	var b strings.Builder
	for i, k := range slices.Sorted(maps.Keys(l)) {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(l[k])
	}
	return b.String()
}

// Has reports whether the key is set, to any value including "".
func (l Labels) Has(key string) bool {
	_, ok := l[key]
	return ok
}

// Get returns the key's value, "" when it is not set.
func (l Labels) Get(key string) string { return l[key] }

// Clone returns a copy that shares nothing with l; nil for nil.
func (l Labels) Clone() Labels { return maps.Clone(l) }

// Equal reports whether l and m hold the same pairs; nil equals empty.
func (l Labels) Equal(m Labels) bool { return maps.Equal(l, m) }

// Validate checks every key and value, reporting the first problem in key
// order.
func (l Labels) Validate() error {
	for _, k := range slices.Sorted(maps.Keys(l)) {
		if err := ValidateLabelKey(k); err != nil {
			return err
		}
		if err := ValidateLabelValue(l[k]); err != nil {
			return fmt.Errorf("label %s: %w", k, err)
		}
	}
	return nil
}

const (
	maxLabelName   = 63  // a label value, or a key's name part
	maxLabelPrefix = 253 // a key's DNS subdomain prefix
)

// ValidateLabelKey checks a label key as Kubernetes does: an optional
// prefix, which is a DNS subdomain (lowercase alphanumerics, '-' and '.',
// at most 253 characters) followed by '/', then a name of at most 63
// characters from [A-Za-z0-9._-] that begins and ends with an alphanumeric.
func ValidateLabelKey(key string) error {
	name := key
	if i := strings.IndexByte(key, '/'); i >= 0 {
		prefix := key[:i]
		name = key[i+1:]
		if err := checkDNSSubdomain(prefix); err != nil {
			return fmt.Errorf("invalid label key %q: prefix %w", key, err)
		}
	}
	if name == "" {
		return fmt.Errorf("invalid label key %q: name part must not be empty", key)
	}
	if err := checkLabelName(name); err != nil {
		return fmt.Errorf("invalid label key %q: name part %w", key, err)
	}
	return nil
}

// ValidateLabelValue checks a label value as Kubernetes does: empty, or at
// most 63 characters from [A-Za-z0-9._-] beginning and ending with an
// alphanumeric.
func ValidateLabelValue(v string) error {
	if v == "" {
		return nil
	}
	if err := checkLabelName(v); err != nil {
		return fmt.Errorf("invalid label value %q: %w", v, err)
	}
	return nil
}

func checkLabelName(s string) error {
	if len(s) > maxLabelName {
		return fmt.Errorf("must be at most %d characters", maxLabelName)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && c != '-' && c != '_' && c != '.' {
			return fmt.Errorf("must consist of letters, digits, '-', '_' or '.'")
		}
	}
	if !isAlnum(s[0]) || !isAlnum(s[len(s)-1]) {
		return fmt.Errorf("must begin and end with a letter or digit")
	}
	return nil
}

func checkDNSSubdomain(s string) error {
	if s == "" {
		return fmt.Errorf("must not be empty")
	}
	if len(s) > maxLabelPrefix {
		return fmt.Errorf("must be at most %d characters", maxLabelPrefix)
	}
	for part := range strings.SplitSeq(s, ".") {
		if !isDNSLabel(part) {
			return fmt.Errorf("must be a DNS subdomain: lowercase letters, digits, '-' and '.', each part beginning and ending with a letter or digit")
		}
	}
	return nil
}

// isDNSLabel reports whether s is an RFC 1123 label: 1 to 63 lowercase
// alphanumerics or '-', beginning and ending with an alphanumeric.
func isDNSLabel(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isLowerAlnum(c) && c != '-' {
			return false
		}
	}
	return isLowerAlnum(s[0]) && isLowerAlnum(s[len(s)-1])
}

func isLowerAlnum(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }
func isAlnum(c byte) bool      { return isLowerAlnum(c) || 'A' <= c && c <= 'Z' }
