package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// "tend __man DIR" writes the manual pages, tend(1) and tend-VERB(1) for
// each command, into DIR, made from the same help texts and flags that
// --help prints, so they never say something else. make man runs it, and
// the package ships the pages.

func (c *CLI) runMan(ctx context.Context, args []string) error {
	if len(args) != 1 {
		return usagef("", "usage: tend __man DIR")
	}
	dir := args[0]
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// Reproducible builds give the date in SOURCE_DATE_EPOCH.
	date := c.now().UTC().Format("2006-01-02")
	if v := c.getenv("SOURCE_DATE_EPOCH"); v != "" {
		sec, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("SOURCE_DATE_EPOCH=%q: want seconds since 1970", v)
		}
		date = time.Unix(sec, 0).UTC().Format("2006-01-02")
	}
	var see []string
	for _, cmd := range commands {
		see = append(see, fmt.Sprintf(".BR tend\\-%s (1)", roffName(cmd.name)))
	}
	top := &strings.Builder{}
	manHeader(top, "tend", date)
	fmt.Fprintf(top, ".SH NAME\ntend \\- keep processes running on a host and across a fleet\n")
	fmt.Fprintf(top, ".SH SYNOPSIS\n.B tend\n[\\-\\-socket \\fIPATH\\fR] \\fICOMMAND\\fR [\\fIarguments\\fR] [\\fIflags\\fR]\n")
	fmt.Fprintf(top, ".SH DESCRIPTION\n%s", roffText(topHelp))
	fmt.Fprintf(top, ".SH COMMANDS\n")
	for _, cmd := range commands {
		fmt.Fprintf(top, ".TP\n.B %s\n%s\n", roffName(cmd.name), roffLine(cmd.short))
	}
	fmt.Fprintf(top, ".SH ENVIRONMENT\n.TP\n.B TEND_SOCKET\nthe agent's socket, when \\-\\-socket is not given (default /run/tend/tend.sock)\n")
	fmt.Fprintf(top, ".SH SEE ALSO\n%s\n", strings.Join(see, ",\n"))
	if err := os.WriteFile(filepath.Join(dir, "tend.1"), []byte(top.String()), 0o644); err != nil {
		return err
	}
	for _, cmd := range commands {
		text, ok := helpTexts[cmd.name]
		if !ok {
			continue
		}
		var flags []flagDoc
		switch cmd.name {
		case "agent":
			flags = agentFlagDocs()
		case "help":
		default:
			flags = c.verbFlags(ctx, cmd, nil)
		}
		b := &strings.Builder{}
		name := "tend-" + cmd.name
		manHeader(b, name, date)
		fmt.Fprintf(b, ".SH NAME\n%s \\- %s\n", roffName(name), roffLine(strings.ToLower(cmd.short[:1])+cmd.short[1:]))
		manSections(b, text)
		if len(flags) > 0 {
			b.WriteString(".SH OPTIONS\n")
			for _, d := range flags {
				names := "\\-\\-" + roffName(d.long)
				if d.short != "" {
					names = "\\-" + roffName(d.short) + ", " + names
				}
				fmt.Fprintf(b, ".TP\n.B %s\n%s\n", names, roffLine(d.usage))
			}
		}
		fmt.Fprintf(b, ".SH SEE ALSO\n.BR tend (1)\n")
		if err := os.WriteFile(filepath.Join(dir, name+".1"), []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func manHeader(b *strings.Builder, name, date string) {
	fmt.Fprintf(b, ".TH %s 1 %q \"tend %s\" \"tend manual\"\n", strings.ToUpper(roffName(name)), date, roffLine(version))
}

// manSections turns a help text into sections, in man's order: its
// "Usage:" block into SYNOPSIS, "Examples:" into EXAMPLES, the summary
// line and every other paragraph into DESCRIPTION; indented lines are
// kept as they are.
func manSections(b *strings.Builder, text string) {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	parts := map[string]*strings.Builder{"SYNOPSIS": {}, "DESCRIPTION": {}, "EXAMPLES": {}}
	section := "DESCRIPTION"
	literal := false
	w := func(s string) { parts[section].WriteString(s) }
	endLiteral := func() {
		if literal {
			w(".fi\n")
			literal = false
		}
	}
	if len(lines) > 0 {
		w(roffLine(lines[0]) + "\n")
		lines = lines[1:]
	}
	for _, l := range lines {
		switch strings.TrimSpace(l) {
		case "Usage:", "Examples:":
			endLiteral()
			section = map[string]string{"Usage:": "SYNOPSIS", "Examples:": "EXAMPLES"}[strings.TrimSpace(l)]
			continue
		case "":
			endLiteral()
			if section == "SYNOPSIS" {
				section = "DESCRIPTION"
			}
			if parts[section].Len() > 0 {
				w(".PP\n")
			}
			continue
		}
		indented := strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t")
		switch {
		case indented && !literal:
			w(".nf\n")
			literal = true
		case !indented && literal:
			endLiteral()
		}
		w(roffLine(l) + "\n")
	}
	endLiteral()
	for _, name := range []string{"SYNOPSIS", "DESCRIPTION", "EXAMPLES"} {
		if body := strings.TrimSuffix(parts[name].String(), ".PP\n"); body != "" {
			fmt.Fprintf(b, ".SH %s\n%s", name, body)
		}
	}
}

// roffText is paragraphs of text for roff.
func roffText(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		if l == "" {
			b.WriteString(".PP\n")
			continue
		}
		b.WriteString(roffLine(l) + "\n")
	}
	return b.String()
}

// roffLine escapes one line: backslashes, hyphens (so that flags are
// minus signs, which man's search and copy keep), and a leading dot or
// quote, which roff would take for a request.
func roffLine(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}

func roffName(s string) string { return strings.ReplaceAll(s, "-", `\-`) }
