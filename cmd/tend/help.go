package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

const topHelp = `tend keeps processes running on this host and across a fleet: replicated
processes, one per host, jobs and cron jobs, with liveness and readiness
probes, labels and selectors. Its commands are kubectl's, with the same
resource words: "tend get po" lists instances as "kubectl get po" lists pods.
`

const topFooter = `Usage:
  tend [--socket PATH] COMMAND [arguments] [flags]

Global flags:
  --socket PATH   the agent's socket (default: $TEND_SOCKET, then /run/tend/tend.sock)

Use "tend COMMAND --help" or "tend help COMMAND" for more about a command.
Use "tend help resources" for the resource types and their short names.
`

const globalFlagsHelp = `
Global flags:
  --socket PATH   the agent's socket (default: $TEND_SOCKET, then /run/tend/tend.sock)
`

// helpTexts are the verbs' help, each usage, description and examples.
var helpTexts = map[string]string{
	"apply":        applyHelp,
	"create":       createHelp,
	"get":          getHelp,
	"describe":     describeHelp,
	"edit":         editHelp,
	"delete":       deleteHelp,
	"scale":        scaleHelp,
	"label":        labelHelp,
	"logs":         logsHelp,
	"exec":         execHelp,
	"version":      versionHelp,
	"keygen":       keygenHelp,
	"keys":         keysHelp,
	"fence":        fenceHelp,
	"restart":      restartHelp,
	"cat":          catHelp,
	"wait":         waitHelp,
	"stop":         stopHelp,
	"rollout":      rolloutHelp,
	"start":        startHelp,
	"diff":         diffHelp,
	"import":       importHelp,
	"completion":   completionHelp,
	"agent reexec": reexecHelp,
	"agent":        agentUsage,
	"help":         "Help about any command.\n\nUsage:\n  tend help [COMMAND | resources]\n",
}

func (c *CLI) printTopHelp(w io.Writer) {
	var b strings.Builder
	b.WriteString(topHelp)
	group := ""
	for _, cmd := range commands {
		if cmd.group != group {
			group = cmd.group
			fmt.Fprintf(&b, "\n%s:\n", group)
		}
		fmt.Fprintf(&b, "  %-10s  %s\n", cmd.name, cmd.short)
	}
	b.WriteString("\n" + topFooter)
	io.WriteString(w, b.String())
}

// printVerbHelp prints a verb's help text and its flags, kubectl-style.
func (c *CLI) printVerbHelp(w io.Writer, fs *flagSet) {
	var b strings.Builder
	b.WriteString(helpTexts[fs.verb])
	if len(fs.docs) > 0 {
		b.WriteString("\nOptions:\n")
		for i, d := range fs.docs {
			if i > 0 {
				b.WriteByte('\n')
			}
			names := "--" + d.long
			if d.short != "" {
				names = "-" + d.short + ", " + names
			}
			fmt.Fprintf(&b, "  %s=%s:\n", names, d.def)
			for _, l := range wrap(d.usage, 72) {
				b.WriteString("      " + l + "\n")
			}
		}
	}
	b.WriteString(globalFlagsHelp)
	io.WriteString(w, b.String())
}

// wrap breaks s into lines of at most width bytes, at spaces.
func wrap(s string, width int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(s) {
		if line != "" && len(line)+1+len(word) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += word
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}

func (c *CLI) runHelp(ctx context.Context, args []string) error {
	if len(args) == 0 {
		c.printTopHelp(c.Stdout)
		return nil
	}
	switch args[0] {
	case "resources", "resource", "types":
		io.WriteString(c.Stdout, resourceHelp)
		return nil
	case "agent":
		return c.runAgentVerb(ctx, []string{"--help"})
	}
	cmd, ok := lookupCommand(args[0])
	if !ok {
		return usagef("", "unknown help topic %q", args[0])
	}
	return cmd.run(c, ctx, []string{"--help"})
}

// isHelp reports whether err only says that help was shown.
func isHelp(err error) bool {
	return errors.Is(err, errHelp) || errors.Is(err, flag.ErrHelp)
}
