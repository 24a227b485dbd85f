package units

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Operator is a match expression's relation between a label key and a set
// of values. The zero Operator is invalid.
type Operator int

// The operators, with Kubernetes' semantics and text forms ("In", "NotIn",
// "Exists", "DoesNotExist", read ignoring case).
const (
	OpIn           Operator = iota + 1 // the key is set to one of the values
	OpNotIn                            // the key is not set, or set to none of the values
	OpExists                           // the key is set, to any value
	OpDoesNotExist                     // the key is not set
)

var operatorNames = map[string]Operator{
	"in":           OpIn,
	"notin":        OpNotIn,
	"exists":       OpExists,
	"doesnotexist": OpDoesNotExist,
}

func (o Operator) String() string {
	switch o {
	case OpIn:
		return "In"
	case OpNotIn:
		return "NotIn"
	case OpExists:
		return "Exists"
	case OpDoesNotExist:
		return "DoesNotExist"
	}
	return fmt.Sprintf("Operator(%d)", int(o))
}

// MarshalText implements encoding.TextMarshaler.
func (o Operator) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler, ignoring case.
func (o *Operator) UnmarshalText(b []byte) error {
	v, ok := operatorNames[strings.ToLower(string(b))]
	if !ok {
		return fmt.Errorf("%q is not an operator (want In, NotIn, Exists or DoesNotExist)", b)
	}
	*o = v
	return nil
}

// Requirement is one match expression. Values is non-empty for OpIn and
// OpNotIn and empty for OpExists and OpDoesNotExist.
type Requirement struct {
	Key      string
	Operator Operator
	Values   []string
}

// Matches reports whether the labels satisfy the requirement. An unknown
// operator matches nothing.
func (r Requirement) Matches(l Labels) bool {
	v, has := l[r.Key]
	switch r.Operator {
	case OpIn:
		return has && slices.Contains(r.Values, v)
	case OpNotIn:
		return !has || !slices.Contains(r.Values, v)
	case OpExists:
		return has
	case OpDoesNotExist:
		return !has
	}
	return false
}

// String returns the requirement in kubectl's selector syntax:
// "env in (prod,qa)", "env notin (test)", "tier", "!tier".
func (r Requirement) String() string {
	switch r.Operator {
	case OpIn:
		return r.Key + " in (" + strings.Join(r.Values, ",") + ")"
	case OpNotIn:
		return r.Key + " notin (" + strings.Join(r.Values, ",") + ")"
	case OpExists:
		return r.Key
	case OpDoesNotExist:
		return "!" + r.Key
	}
	return r.Key + " " + r.Operator.String() + " (" + strings.Join(r.Values, ",") + ")"
}

// validate checks the key, and the values against the operator.
func (r Requirement) validate() error {
	if err := ValidateLabelKey(r.Key); err != nil {
		return err
	}
	switch r.Operator {
	case OpIn, OpNotIn:
		if len(r.Values) == 0 {
			return fmt.Errorf("operator %s needs values", r.Operator)
		}
	case OpExists, OpDoesNotExist:
		if len(r.Values) != 0 {
			return fmt.Errorf("operator %s takes no values", r.Operator)
		}
	default:
		return fmt.Errorf("invalid operator %s", r.Operator)
	}
	for _, v := range r.Values {
		if err := ValidateLabelValue(v); err != nil {
			return err
		}
	}
	return nil
}

// Selector chooses objects by their labels, with Kubernetes' semantics: an
// object matches when it has every MatchLabels pair and satisfies every
// MatchExpressions requirement. The empty Selector matches everything.
type Selector struct {
	MatchLabels      Labels
	MatchExpressions []Requirement
}

// Empty reports whether the selector has no requirements at all, and so
// matches everything.
func (s Selector) Empty() bool { return len(s.MatchLabels) == 0 && len(s.MatchExpressions) == 0 }

// Matches reports whether the labels satisfy the selector.
func (s Selector) Matches(l Labels) bool {
	for k, want := range s.MatchLabels {
		if v, ok := l[k]; !ok || v != want {
			return false
		}
	}
	for _, r := range s.MatchExpressions {
		if !r.Matches(l) {
			return false
		}
	}
	return true
}

// String returns the selector in kubectl's -l syntax: the MatchLabels
// pairs sorted by key, then the expressions in order, comma-separated, as
// in "app=kubia,env notin (test),tier,!gone". The empty selector is "".
func (s Selector) String() string {
	parts := make([]string, 0, len(s.MatchLabels)+len(s.MatchExpressions))
	for _, k := range slices.Sorted(maps.Keys(s.MatchLabels)) {
		parts = append(parts, k+"="+s.MatchLabels[k])
	}
	for _, r := range s.MatchExpressions {
		parts = append(parts, r.String())
	}
	return strings.Join(parts, ",")
}

// MarshalText implements encoding.TextMarshaler with String.
func (s Selector) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with ParseSelector.
func (s *Selector) UnmarshalText(b []byte) error {
	v, err := ParseSelector(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// ParseSelector parses kubectl's -l syntax: comma-separated requirements,
// each one of
//
//	app=kubia, app==kubia   the key is set to the value
//	app!=kubia              the key is not set, or set to another value
//	env in (prod,qa)        the key is set to one of the values
//	env notin (test)        the key is not set, or set to none of the values
//	tier                    the key is set
//	!tier                   the key is not set
//
// with spaces allowed around every token. Equalities become MatchLabels
// (a second equality on a key already there becomes an In requirement, so
// that "a=x,a=y" keeps meaning both); the rest become MatchExpressions in
// order, "!=" as a one-value NotIn. "" is the empty selector.
func ParseSelector(s string) (Selector, error) {
	var sel Selector
	if strings.TrimSpace(s) == "" {
		return sel, nil
	}
	terms, err := splitTerms(s)
	if err != nil {
		return Selector{}, fmt.Errorf("selector %q: %w", s, err)
	}
	for _, t := range terms {
		if err := sel.addTerm(t); err != nil {
			return Selector{}, fmt.Errorf("selector %q: %w", s, err)
		}
	}
	return sel, nil
}

// splitTerms splits at the commas outside parentheses.
func splitTerms(s string) ([]string, error) {
	var terms []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(':
			if depth > 0 {
				return nil, fmt.Errorf("nested \"(\"")
			}
			depth++
		case ')':
			if depth == 0 {
				return nil, fmt.Errorf("\")\" without \"(\"")
			}
			depth--
		case ',':
			if depth == 0 {
				terms = append(terms, s[start:i])
				start = i + 1
			}
		}
	}
	if depth > 0 {
		return nil, fmt.Errorf("missing \")\"")
	}
	return append(terms, s[start:]), nil
}

func (sel *Selector) addTerm(term string) error {
	t := strings.TrimSpace(term)
	if t == "" {
		return fmt.Errorf("empty requirement (a stray comma?)")
	}
	if rest, ok := strings.CutPrefix(t, "!"); ok {
		key := strings.TrimSpace(rest)
		if err := ValidateLabelKey(key); err != nil {
			return err
		}
		sel.MatchExpressions = append(sel.MatchExpressions, Requirement{Key: key, Operator: OpDoesNotExist})
		return nil
	}
	n := 0
	for n < len(t) && isKeyChar(t[n]) {
		n++
	}
	key, rest := t[:n], strings.TrimSpace(t[n:])
	if key == "" {
		return fmt.Errorf("requirement %q does not start with a label key", t)
	}
	if err := ValidateLabelKey(key); err != nil {
		return err
	}
	switch {
	case rest == "":
		sel.MatchExpressions = append(sel.MatchExpressions, Requirement{Key: key, Operator: OpExists})
	case strings.HasPrefix(rest, "!="):
		v := strings.TrimSpace(rest[2:])
		if err := ValidateLabelValue(v); err != nil {
			return err
		}
		sel.MatchExpressions = append(sel.MatchExpressions, Requirement{Key: key, Operator: OpNotIn, Values: []string{v}})
	case strings.HasPrefix(rest, "="):
		v := strings.TrimSpace(strings.TrimPrefix(rest[1:], "="))
		if err := ValidateLabelValue(v); err != nil {
			return err
		}
		if old, ok := sel.MatchLabels[key]; ok && old != v {
			sel.MatchExpressions = append(sel.MatchExpressions, Requirement{Key: key, Operator: OpIn, Values: []string{v}})
			return nil
		}
		if sel.MatchLabels == nil {
			sel.MatchLabels = Labels{}
		}
		sel.MatchLabels[key] = v
	default:
		op, list, ok := cutSetOp(rest)
		if !ok {
			return fmt.Errorf("requirement %q: want =, ==, !=, \"in (...)\" or \"notin (...)\" after the key", t)
		}
		r := Requirement{Key: key, Operator: op}
		for v := range strings.SplitSeq(list, ",") {
			v = strings.TrimSpace(v)
			if err := ValidateLabelValue(v); err != nil {
				return err
			}
			r.Values = append(r.Values, v)
		}
		if len(r.Values) == 1 && r.Values[0] == "" {
			return fmt.Errorf("requirement %q: %s needs at least one value", t, strings.ToLower(op.String()))
		}
		sel.MatchExpressions = append(sel.MatchExpressions, r)
	}
	return nil
}

// cutSetOp parses "in (a,b)" or "notin (a,b)" and returns the operator and
// the text between the parentheses.
func cutSetOp(s string) (Operator, string, bool) {
	var op Operator
	switch {
	case strings.HasPrefix(s, "notin"):
		op, s = OpNotIn, s[len("notin"):]
	case strings.HasPrefix(s, "in"):
		op, s = OpIn, s[len("in"):]
	default:
		return 0, "", false
	}
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "(") || !strings.HasSuffix(s, ")") {
		return 0, "", false
	}
	return op, s[1 : len(s)-1], true
}

// isKeyChar reports whether c may appear in a label key.
func isKeyChar(c byte) bool {
	return isAlnum(c) || c == '-' || c == '_' || c == '.' || c == '/'
}
