package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// tend writes YAML (-o yaml) but never reads it, and what it writes is
// the JSON form of its objects: so it converts JSON to block YAML itself,
// in a few lines, rather than carry a YAML library (two tenths of a
// megabyte of the armv7 binary) for the job.

// writeYAML prints v as YAML with the keys of its JSON form, in the same
// order, two-space indented with sequences not indented (as kubectl's).
// Strings are plain where YAML reads them back as the same strings,
// literal blocks when they span lines, and double-quoted (JSON's quoting,
// which YAML reads alike) otherwise.
func writeYAML(w io.Writer, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	root, err := readJSONNode(dec)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	writeYAMLNode(&b, root, "", "")
	_, err = w.Write(b.Bytes())
	return err
}

// jsonField is a key of a JSON object and its value, in the order written.
type jsonField struct {
	key   string
	value any
}

// readJSONNode reads one JSON value: an object as []jsonField (order
// kept), an array as []any, a scalar as string, json.Number, bool or nil.
func readJSONNode(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch tok {
	case json.Delim('{'):
		obj := []jsonField{}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return nil, err
			}
			v, err := readJSONNode(dec)
			if err != nil {
				return nil, err
			}
			obj = append(obj, jsonField{k.(string), v})
		}
		_, err = dec.Token()
		return obj, err
	case json.Delim('['):
		arr := []any{}
		for dec.More() {
			v, err := readJSONNode(dec)
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
		}
		_, err = dec.Token()
		return arr, err
	}
	return tok, nil
}

// writeYAMLNode writes v, its first line after lead (what the line holds
// already) and its next lines indented by ind.
func writeYAMLNode(b *bytes.Buffer, v any, lead, ind string) {
	switch v := v.(type) {
	case []jsonField:
		if len(v) == 0 {
			b.WriteString(lead + "{}\n")
			return
		}
		for k, f := range v {
			if k > 0 {
				lead = ind
			}
			b.WriteString(lead + yamlString(f.key) + ":")
			switch c := f.value.(type) {
			case []jsonField:
				if len(c) > 0 {
					b.WriteString("\n")
					writeYAMLNode(b, c, ind+"  ", ind+"  ")
					continue
				}
			case []any:
				if len(c) > 0 {
					b.WriteString("\n")
					writeYAMLNode(b, c, ind, ind) // sequences not indented
					continue
				}
			}
			writeYAMLNode(b, f.value, " ", ind+"  ")
		}
	case []any:
		if len(v) == 0 {
			b.WriteString(lead + "[]\n")
			return
		}
		for k, item := range v {
			if k > 0 {
				lead = ind
			}
			writeYAMLNode(b, item, lead+"- ", ind+"  ")
		}
	case string:
		if s, ok := literalBlock(v, ind); ok {
			b.WriteString(lead + s)
			return
		}
		b.WriteString(lead + yamlString(v) + "\n")
	case json.Number:
		b.WriteString(lead + v.String() + "\n")
	case bool:
		fmt.Fprintf(b, "%s%t\n", lead, v)
	default: // nil
		b.WriteString(lead + "null\n")
	}
}

// literalBlock writes s, a string of several lines, as a literal block
// whose lines are indented by ind: "|" keeps one final newline, "|-"
// none, "|+" all of them. A string a block cannot hold as it is (a first
// line that starts with a space, control characters, line breaks other
// than \n) is not one.
func literalBlock(s, ind string) (string, bool) {
	body := strings.TrimRight(s, "\n")
	if !strings.Contains(body, "\n") || strings.HasPrefix(body, " ") || strings.HasPrefix(body, "\t") {
		return "", false
	}
	for _, r := range s {
		if (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f || r == 0x85 || r == 0x2028 || r == 0x2029 || r == 0xfeff {
			return "", false
		}
	}
	trailing := len(s) - len(body)
	chomp := "-"
	if trailing == 1 {
		chomp = ""
	} else if trailing > 1 {
		chomp = "+"
	}
	var b strings.Builder
	b.WriteString("|" + chomp + "\n")
	for _, l := range strings.Split(body, "\n") {
		if l != "" {
			b.WriteString(ind + l)
		}
		b.WriteString("\n")
	}
	for range trailing - 1 {
		b.WriteString("\n") // "|+" keeps the empty lines at the end
	}
	return b.String(), true
}

// yamlString is s as a YAML scalar (a value or a mapping key): plain when
// YAML reads it back as this very string, else double-quoted.
func yamlString(s string) string {
	if plainSafe(s) {
		return s
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}

// plainSafe says whether s can be a plain YAML scalar that reads back as
// the string s under YAML 1.1 and 1.2 alike. It is strict: a string it
// refuses is quoted, which is always right.
func plainSafe(s string) bool {
	if s == "" || s[len(s)-1] == ' ' || s[len(s)-1] == ':' {
		return false
	}
	c := s[0]
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '/', c == '_':
	case c == '-' && len(s) > 1 && (s[1] == '-' && !strings.HasPrefix(s, "---") || s[1] >= 'a' && s[1] <= 'z' || s[1] >= 'A' && s[1] <= 'Z'):
	default:
		return false // digits, signs and dots (numbers), indicators, spaces
	}
	for k := 0; k < len(s); k++ {
		c := s[k]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("-_./@=+%,()$", c) >= 0:
		case c == ':' && s[k+1] != ' ':
		case c == ' ' && s[k+1] != '#' && s[k+1] != ' ':
		default:
			return false
		}
	}
	switch strings.ToLower(s) {
	case "y", "n", "yes", "no", "true", "false", "on", "off", "null", "nan", "inf":
		return false
	}
	return true
}
