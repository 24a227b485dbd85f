package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tendhq/tend/units"
)

const completionHelp = `Print the shell completion script for bash, zsh or fish.

Usage:
  tend completion bash|zsh|fish

The script completes commands, flags, resource words, -o formats, and the
names of instances, units and hosts, which it asks the agent for (the one
--socket or $TEND_SOCKET names, as the command line would). The package
installs it for each shell; by hand:

Examples:
  # bash, for this shell, then for good
  source <(tend completion bash)
  tend completion bash > /etc/bash_completion.d/tend

  # zsh: a file named _tend on $fpath
  tend completion zsh > "${fpath[1]}/_tend"

  # fish
  tend completion fish > ~/.config/fish/completions/tend.fish
`

// The scripts call "tend __complete WORD... CURRENT", which prints the
// candidates, one a line; a last line ":files" asks the shell for file
// names instead.
const bashCompletion = `# bash completion for tend; tend completion bash
_tend() {
    local cur=${COMP_WORDS[COMP_CWORD]}
    local IFS=$'\n'
    local out
    out=$(tend __complete "${COMP_WORDS[@]:1:COMP_CWORD-1}" "$cur" 2>/dev/null)
    if [[ $out == *":files" ]]; then
        COMPREPLY=($(compgen -f -- "$cur"))
        return
    fi
    COMPREPLY=($(compgen -W "$out" -- "$cur"))
}
complete -o default -o nospace -F _tend tend 2>/dev/null || complete -F _tend tend
`

const zshCompletion = `#compdef tend
# zsh completion for tend; tend completion zsh
_tend() {
    local -a cands
    cands=("${(@f)$(tend __complete "${(@)words[2,CURRENT-1]}" "${words[CURRENT]}" 2>/dev/null)}")
    if [[ ${cands[-1]} == ":files" ]]; then
        _files
        return
    fi
    compadd -- "${cands[@]}"
}
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
    _tend "$@"
else
    compdef _tend tend
fi
`

const fishCompletion = `# fish completion for tend; tend completion fish
function __tend_complete
    set -l args (commandline -opc)
    set -e args[1]
    set -l out (tend __complete $args (commandline -ct) 2>/dev/null)
    if test "$out[-1]" = ":files"
        __fish_complete_path (commandline -ct)
        return
    end
    printf '%s\n' $out
end
complete -c tend -f -a '(__tend_complete)'
`

func (c *CLI) runCompletion(ctx context.Context, args []string) error {
	fs := newFlagSet("completion")
	args, err := fs.parse(c, args)
	if err != nil {
		return err
	}
	if len(args) != 1 {
		return usagef("completion", "name the shell: tend completion bash, zsh or fish")
	}
	script := map[string]string{"bash": bashCompletion, "zsh": zshCompletion, "fish": fishCompletion}[args[0]]
	if script == "" {
		return usagef("completion", "unsupported shell %q: want bash, zsh or fish", args[0])
	}
	fmt.Fprint(c.Stdout, script)
	return nil
}

// Verbs whose positional arguments are objects: RESOURCE NAME..., or for
// logs and exec an instance.
var objectVerbs = []string{"get", "describe", "delete", "label", "scale", "edit", "restart", "cat", "wait", "stop", "start", "rollout"}

// completeWithin bounds what completion waits for the agent.
const completeWithin = 2 * time.Second

// runComplete is "tend __complete WORD... CURRENT": the candidates for
// CURRENT after the words, one a line. It never fails: an agent that does
// not answer gives no names.
func (c *CLI) runComplete(ctx context.Context, args []string) error {
	if len(args) == 0 {
		args = []string{""}
	}
	words, cur := args[:len(args)-1], args[len(args)-1]
	// A shell waits for this: an agent that does not answer at once
	// gives no names rather than a hung prompt.
	ctx, cancel := context.WithTimeout(ctx, completeWithin)
	defer cancel()
	cands, files := c.complete(ctx, words, cur)
	defer c.close()
	for _, s := range cands {
		if strings.HasPrefix(s, cur) {
			fmt.Fprintln(c.Stdout, s)
		}
	}
	if files {
		fmt.Fprintln(c.Stdout, ":files")
	}
	return nil
}

func (c *CLI) complete(ctx context.Context, words []string, cur string) (cands []string, files bool) {
	if len(words) == 0 {
		if strings.HasPrefix(cur, "-") {
			return []string{"--socket", "--help", "--version"}, false
		}
		for _, cmd := range commands {
			cands = append(cands, cmd.name)
		}
		return cands, false
	}
	verb := words[0]
	cmd, ok := lookupCommand(verb)
	if !ok {
		return nil, false
	}
	flags := c.verbFlags(ctx, cmd, words[1:])
	// The value of the flag just before (-o, -f, --for...), or after its
	// '=' (--output=, -o=).
	if prev := words[len(words)-1]; len(words) > 1 && strings.HasPrefix(prev, "-") && !strings.Contains(prev, "=") {
		if d, ok := flagNamed(flags, prev); ok && takesValue(d) {
			return flagValues(d.long)
		}
	}
	if name, _, ok := strings.Cut(cur, "="); ok && strings.HasPrefix(cur, "-") {
		if d, ok := flagNamed(flags, name); ok {
			vals, files := flagValues(d.long)
			for _, v := range vals {
				cands = append(cands, name+"="+v)
			}
			return cands, files
		}
		return nil, false
	}
	if strings.HasPrefix(cur, "-") {
		for _, d := range flags {
			cands = append(cands, "--"+d.long)
			if d.short != "" {
				cands = append(cands, "-"+d.short)
			}
		}
		return cands, false
	}
	var pos []string // the positional words so far
	for k := 1; k < len(words); k++ {
		w := words[k]
		if strings.HasPrefix(w, "-") {
			if d, ok := flagNamed(flags, w); ok && !strings.Contains(w, "=") && takesValue(d) {
				k++ // its value
			}
			continue
		}
		pos = append(pos, w)
	}
	switch verb {
	case "completion":
		if len(pos) == 0 {
			return []string{"bash", "zsh", "fish"}, false
		}
		return nil, false
	case "help":
		for _, cmd := range commands {
			cands = append(cands, cmd.name)
		}
		return append(cands, "resources"), false
	case "logs", "exec":
		if len(pos) == 0 {
			return c.names(ctx, instancesRes), false
		}
		return nil, verb == "exec"
	case "rollout":
		if len(pos) == 0 {
			return []string{"restart", "status"}, false
		}
		pos = pos[1:]
	}
	if !slices.Contains(objectVerbs, verb) {
		return nil, false
	}
	if len(pos) == 0 {
		if word, _, ok := strings.Cut(cur, "/"); ok {
			res, err := parseResource(verb, word)
			if err != nil {
				return nil, false
			}
			for _, n := range c.names(ctx, res) {
				cands = append(cands, word+"/"+n)
			}
			return cands, false
		}
		return resourceWordList(), false
	}
	if strings.Contains(pos[0], "/") {
		return nil, false
	}
	res, err := parseResource(verb, pos[0])
	if err != nil {
		return nil, false
	}
	return c.names(ctx, res), false
}

// verbFlags are the verb's flags, as its own parse would take them.
func (c *CLI) verbFlags(ctx context.Context, cmd command, args []string) []flagDoc {
	switch {
	case cmd.name == "agent" && (len(args) == 0 || args[0] != "reexec"):
		return agentFlagDocs()
	case cmd.name == "help":
		return nil // help takes no flags, and would print
	}
	var docs []flagDoc
	c.flagsOf = &docs
	defer func() { c.flagsOf = nil }()
	cmd.run(c, ctx, args)
	return docs
}

// takesValue reports whether the flag takes the next word as its value
// (not a boolean, nor --cascade and --dry-run, whose value follows '=').
func takesValue(d flagDoc) bool {
	return strings.HasPrefix(d.def, "'") && d.long != "cascade" && d.long != "dry-run"
}

func flagNamed(flags []flagDoc, w string) (flagDoc, bool) {
	name := strings.TrimLeft(w, "-")
	name, _, _ = strings.Cut(name, "=")
	for _, d := range flags {
		if d.long == name || d.short == name {
			return d, true
		}
	}
	return flagDoc{}, false
}

// flagValues are the candidates for the value of the flag called long.
func flagValues(long string) ([]string, bool) {
	switch long {
	case "output":
		return []string{"wide", "json", "yaml", "name", "jsonpath=", "custom-columns="}, false
	case "filename":
		return nil, true
	case "for":
		return []string{"condition=Ready", "condition=Available", "condition=Complete", "condition=Failed", "delete", "jsonpath="}, false
	case "cascade":
		return []string{"background", "orphan"}, false
	case "dry-run":
		return []string{"client", "server", "none"}, false
	}
	return nil, false
}

// resourceWordList is every resource word, tend's and kubectl's.
func resourceWordList() []string {
	var words []string
	for w := range resourceWords {
		words = append(words, w)
	}
	slices.Sort(words)
	return words
}

// names are the names of the objects of res the agent has; none when it
// does not answer.
func (c *CLI) names(ctx context.Context, res resource) []string {
	api := c.api()
	var out []string
	switch res.typ {
	case resInstances:
		list, err := api.Instances(ctx, "")
		if err != nil {
			return nil
		}
		for _, in := range list {
			out = append(out, in.Name)
		}
	case resUnits:
		kind := ""
		if res.kind != 0 {
			kind = res.kind.String()
		}
		list, err := api.Units(ctx, kind)
		if err != nil {
			return nil
		}
		for _, u := range list {
			if res.kind == 0 || u.Kind == res.kind || u.Kind == units.Kind(0) {
				out = append(out, u.Name)
			}
		}
	case resHosts:
		list, err := api.Hosts(ctx)
		if err != nil {
			return nil
		}
		for _, h := range list {
			out = append(out, h.Name)
		}
	}
	slices.Sort(out)
	return out
}
