package main

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/tendhq/tend/internal/jsonpath"
)

// outputFormats are what -o takes, for the error that lists them.
const outputFormats = "custom-columns, json, jsonpath, name, wide, yaml"

// parseOutput checks -o and parses its template: -o jsonpath=TEMPLATE or
// -o custom-columns=SPEC, as kubectl spells them.
func (o *getOptions) parseOutput(verb string) error {
	format, arg, hasArg := strings.Cut(o.output, "=")
	switch format {
	case "", "wide", "json", "yaml", "name":
		if hasArg {
			break
		}
		return nil
	case "jsonpath":
		if !hasArg || arg == "" {
			return usagef(verb, "template format specified but no template given: use -o jsonpath='{.items[*].metadata.name}'")
		}
		t, err := jsonpath.Parse(arg)
		if err != nil {
			return usagef(verb, "%v", err)
		}
		o.output, o.template = "jsonpath", t
		return nil
	case "custom-columns":
		cols, err := parseColumns(arg)
		if err != nil {
			return usagef(verb, "%v", err)
		}
		o.output, o.columns = "custom-columns", cols
		return nil
	}
	return usagef(verb, "unable to match a printer suitable for the output format %q, allowed formats are: %s", o.output, outputFormats)
}

// column is one of -o custom-columns: a header and the expression of its
// cells.
type column struct {
	header string
	expr   *jsonpath.Template
}

// parseColumns parses kubectl's custom-columns spec:
// NAME:.metadata.name,HOST:.spec.host. A comma inside brackets or quotes
// (a union, a filter's string) does not end a column.
func parseColumns(spec string) ([]column, error) {
	if strings.TrimSpace(spec) == "" {
		return nil, fmt.Errorf("custom-columns format specified but no custom columns given: use -o custom-columns=NAME:.metadata.name,HOST:.spec.host")
	}
	var cols []column
	for _, part := range splitTopLevel(spec, ',') {
		header, expr, ok := strings.Cut(part, ":")
		if !ok || strings.TrimSpace(header) == "" || strings.TrimSpace(expr) == "" {
			return nil, fmt.Errorf("unexpected custom-columns spec: %s, expected <header>:<json-path-expr>", part)
		}
		t, err := jsonpath.ParseExpr(expr)
		if err != nil {
			return nil, fmt.Errorf("custom-columns %s: %v", header, err)
		}
		cols = append(cols, column{header: strings.TrimSpace(header), expr: t})
	}
	return cols, nil
}

// splitTopLevel splits s at sep outside brackets, parentheses, braces and
// quotes.
func splitTopLevel(s string, sep byte) []string {
	var parts []string
	depth, start := 0, 0
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '[' || c == '(' || c == '{':
			depth++
		case c == ']' || c == ')' || c == '}':
			depth--
		case c == sep && depth == 0:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// printJSONPath prints the template applied to v (an object, or a List).
func printJSONPath(w io.Writer, t *jsonpath.Template, v any) error {
	data, err := jsonpath.Decode(v)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return err
	}
	_, err = w.Write(b.Bytes())
	return err
}

// columnRows are the custom-columns cells of each object: a cell's
// several values joined by commas, none as <none>, as kubectl prints them.
func columnRows(cols []column, items []any) ([][]string, error) {
	var rows [][]string
	for _, it := range items {
		data, err := jsonpath.Decode(it)
		if err != nil {
			return nil, err
		}
		row := make([]string, len(cols))
		for i, c := range cols {
			var cells []string
			for _, v := range c.expr.Values(data) {
				cells = append(cells, jsonpath.Text(v))
			}
			row[i] = orNone(strings.Join(cells, ","))
		}
		rows = append(rows, row)
	}
	return rows, nil
}

func columnHeader(cols []column) []string {
	var h []string
	for _, c := range cols {
		h = append(h, c.header)
	}
	return h
}

// sortKeys are --sort-by's key of each object, for sortOrder.
func sortKeys(expr *jsonpath.Template, items []any) ([]any, error) {
	keys := make([]any, len(items))
	for i, it := range items {
		data, err := jsonpath.Decode(it)
		if err != nil {
			return nil, err
		}
		vals := expr.Values(data)
		switch len(vals) {
		case 0:
		case 1:
			keys[i] = vals[0]
		default:
			return nil, usagef("get", "--sort-by %s gives %d values for one object, want one: sort by a field of each object, e.g. --sort-by=.status.restartCount", expr, len(vals))
		}
	}
	return keys, nil
}

// sortOrder is the order of the indexes of keys that --sort-by asks for:
// ascending, stable; numbers by value, times (RFC 3339 strings) by time,
// other strings by bytes; objects without the field first.
func sortOrder(keys []any) []int {
	order := make([]int, len(keys))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return compareKeys(keys[a], keys[b])
	})
	return order
}

func compareKeys(a, b any) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	if as, ok := a.(string); ok {
		if bs, ok := b.(string); ok {
			ta, ea := time.Parse(time.RFC3339Nano, as)
			tb, eb := time.Parse(time.RFC3339Nano, bs)
			if ea == nil && eb == nil {
				return ta.Compare(tb)
			}
		}
	}
	if c, ok := jsonpath.Compare(a, b); ok {
		return c
	}
	// Values of different types: by their text, so the order is still
	// the same on every run.
	return strings.Compare(jsonpath.Text(a), jsonpath.Text(b))
}

// sortFetched puts each result's objects in --sort-by's order.
func sortFetched(results []fetched, expr *jsonpath.Template) error {
	for k := range results {
		f := &results[k]
		keys, err := sortKeys(expr, f.items())
		if err != nil {
			return err
		}
		order := sortOrder(keys)
		f.instances = permute(f.instances, order)
		f.units = permute(f.units, order)
		f.hosts = permute(f.hosts, order)
		f.events = permute(f.events, order)
	}
	return nil
}

// permute reorders s by order, when s is the slice order was made for (a
// fetched holds one kind of object).
func permute[T any](s []T, order []int) []T {
	if len(s) != len(order) {
		return s
	}
	out := make([]T, len(s))
	for i, j := range order {
		out[i] = s[j]
	}
	return out
}
