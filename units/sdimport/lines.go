package sdimport

import (
	"fmt"
	"strings"
)

// go-systemd's parser gives each setting its section, name and value but
// not its line, which every warning names: scan the file's lines as that
// parser reads them, and hand out the lines of each (section, name) in
// the order the parser returns its assignments.

type lineIndex struct {
	settings map[string][]int // section+"\x00"+name → lines, in file order
	sections map[string]int   // section → the line of its first header
}

// uncomment makes comments what systemd makes of them, for go-systemd's
// parser, which differs: a comment line is never continued by a trailing
// backslash (it becomes an empty line), and one inside a continued value
// is skipped (it becomes a lone backslash, which continues the value by
// nothing). Every line keeps its number.
func uncomment(src string) string {
	lines := strings.Split(src, "\n")
	cont := false // the line before ended with a backslash
	for i, line := range lines {
		t := strings.TrimLeft(strings.TrimSuffix(line, "\r"), " \t")
		if t != "" && (t[0] == '#' || t[0] == ';') {
			if cont {
				lines[i] = `\`
			} else {
				lines[i] = ""
			}
			continue
		}
		cont = t != "" && strings.HasSuffix(strings.TrimRight(line, " \t\r"), `\`)
	}
	return strings.Join(lines, "\n")
}

// indexLines scans src, uncommented. A line that is not blank, a comment or a section
// header before the first header is an error: go-systemd's parser would
// skip it a character at a time, and could read a section header out of
// the middle of it.
func indexLines(src string) (*lineIndex, error) {
	ix := &lineIndex{settings: map[string][]int{}, sections: map[string]int{}}
	section := ""
	inSection := false
	cont := false // the line before ended with a backslash
	for n, line := range strings.Split(src, "\n") {
		no := n + 1
		line = strings.TrimSuffix(line, "\r")
		if cont {
			cont = strings.HasSuffix(strings.TrimRight(line, " "), `\`)
			continue
		}
		t := strings.TrimLeft(line, " \t")
		switch {
		case t == "":
		case t[0] == '#' || t[0] == ';': // uncomment has made these empty
		case t[0] == '[':
			end := strings.IndexByte(t, ']')
			if end < 0 {
				return nil, fmt.Errorf("line %d: %q: a section header without its ']'", no, t)
			}
			section, inSection = t[1:end], true
			if _, ok := ix.sections[section]; !ok {
				ix.sections[section] = no
			}
		case !inSection:
			return nil, fmt.Errorf("line %d: %q is before any [section]", no, t)
		default:
			eq := strings.IndexByte(t, '=')
			if eq < 0 {
				return nil, fmt.Errorf("line %d: %q is not a setting (want Name=value)", no, t)
			}
			k := section + "\x00" + strings.TrimSpace(t[:eq])
			ix.settings[k] = append(ix.settings[k], no)
			cont = strings.HasSuffix(strings.TrimRight(line, " "), `\`)
		}
	}
	return ix, nil
}

// next returns the line of the next assignment of name in section, 0
// when the scan found no more of them.
func (ix *lineIndex) next(section, name string) int {
	k := section + "\x00" + name
	lines := ix.settings[k]
	if len(lines) == 0 {
		return 0
	}
	ix.settings[k] = lines[1:]
	return lines[0]
}
