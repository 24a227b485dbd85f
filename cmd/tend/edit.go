package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/tendhq/tend/supervisor"
	"github.com/tendhq/tend/units"
)

const editHelp = `Edit a unit file in your editor and apply it.

Usage:
  tend edit unit NAME
  tend edit rc NAME        (or rs, ds, job, cj: kubectl's words for units)

Opens the unit's file, as the agent has it, in $TEND_EDITOR, else
$KUBE_EDITOR, else $EDITOR, else vi. When you save and quit, the file is
checked and applied. If it has problems, the editor opens again with them
listed in a note at the top (each with its line); quit without saving to
give up, and the copy is kept for you. Saving the file unchanged cancels
the edit.

A changed template applies to instances created afterwards; existing
instances keep running as they are.

Examples:
  # Edit the kubia unit (a ReplicationController in the book)
  tend edit rc kubia

  # With another editor
  KUBE_EDITOR=nano tend edit unit kubia
`

// editNoteEnd ends the note edit puts above the unit file; everything up
// to it is removed before the file is applied.
const editNoteEnd = "# ---- end of note: the unit file follows ----\n"

func (c *CLI) runEdit(ctx context.Context, args []string) error {
	fs := newFlagSet("edit")
	args, err := fs.parse(c, args)
	if err != nil {
		return err
	}
	t, err := oneTarget("edit", args)
	if err != nil {
		return err
	}
	if t.res.typ != resUnits {
		if t.res.typ == resInstances {
			return usagef("edit", "instances are made from their unit's template: edit the unit (tend edit unit NAME); the change applies to new instances")
		}
		return usagef("edit", "only units can be edited, not %s", t.res)
	}
	if len(t.names) != 1 {
		return usagef("edit", "edit one unit at a time: tend edit unit NAME")
	}
	defer c.close()
	u, err := c.unitOfKind(ctx, t.res, t.names[0])
	if err != nil {
		return err
	}
	if u.Source == "" && u.Error != "" {
		return fmt.Errorf("unit %q has never been valid: edit its file %s itself:\n%s", u.Name, u.Path, u.Error)
	}
	if u.Source == "" {
		return fmt.Errorf("the agent sent no file for unit %q", u.Name)
	}
	dir, err := os.MkdirTemp("", "tend-edit-")
	if err != nil {
		return err
	}
	path := filepath.Join(dir, u.Name+".toml")
	keep := func() {
		fmt.Fprintf(c.Stderr, "A copy of your changes has been stored to %q\n", path)
	}
	// The editor may see Ctrl-C (vi uses it); that must not cancel the
	// apply that follows.
	ctx = context.WithoutCancel(ctx)

	original := []byte(u.Source)
	content, problems := original, []string(nil)
	for round := 0; ; round++ {
		text := append(editNote(u.Name, problems), content...)
		if err := os.WriteFile(path, text, 0o600); err != nil {
			os.RemoveAll(dir)
			return err
		}
		if err := c.runEditor(path); err != nil {
			keep()
			return err
		}
		edited, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Equal(edited, text) {
			if round == 0 {
				os.RemoveAll(dir)
				fmt.Fprintln(c.Stdout, "Edit cancelled, no changes made.")
				return nil
			}
			fmt.Fprintln(c.Stderr, "error: Edit cancelled, no valid changes were saved.")
			for _, p := range problems {
				fmt.Fprintln(c.Stderr, p)
			}
			keep()
			return errSilent
		}
		body := stripEditNote(edited)
		switch {
		case len(bytes.TrimSpace(body)) == 0:
			os.RemoveAll(dir)
			fmt.Fprintln(c.Stdout, "Edit cancelled, saved file was empty.")
			return nil
		case bytes.Equal(body, original):
			os.RemoveAll(dir)
			fmt.Fprintln(c.Stdout, "Edit cancelled, no changes made.")
			return nil
		}
		if _, err := units.Parse(path, body); err != nil {
			content, problems = body, unitProblems(u.Name, err)
			continue
		}
		res, err := c.api().ApplyUnit(ctx, u.Name+".toml", body)
		var se *supervisor.ServerError
		if errors.As(err, &se) && errors.Is(err, supervisor.ErrInvalid) {
			content, problems = body, strings.Split(se.Message, "\n")
			continue
		}
		if err != nil {
			keep()
			return err
		}
		os.RemoveAll(dir)
		fmt.Fprintf(c.Stdout, "unit/%s edited\n", res.Name)
		return nil
	}
}

// editNote is the comment edit puts above the file: how to edit, and the
// problems of the last try.
func editNote(name string, problems []string) []byte {
	var b strings.Builder
	b.WriteString("# Please edit the unit file below. Lines up to the end of this note will be\n")
	b.WriteString("# ignored, and an empty file will abort the edit. If an error occurs while\n")
	b.WriteString("# saving, this file will be reopened with the relevant failures.\n")
	if len(problems) > 0 {
		fmt.Fprintf(&b, "#\n# unit %q was not valid:\n", name)
		for _, p := range problems {
			for i, l := range strings.Split(p, "\n") {
				if i == 0 {
					b.WriteString("# * " + l + "\n")
				} else {
					b.WriteString("#   " + l + "\n")
				}
			}
		}
	}
	b.WriteString(editNoteEnd)
	return []byte(b.String())
}

// stripEditNote removes the note, if it is still at the top.
func stripEditNote(data []byte) []byte {
	if !bytes.HasPrefix(data, []byte("# Please edit the unit file below.")) {
		return data
	}
	if i := bytes.Index(data, []byte(editNoteEnd)); i >= 0 {
		return data[i+len(editNoteEnd):]
	}
	return data
}

// unitProblems lists a unit file's problems for the note, with line
// numbers as the reopened file will show them: below the note.
func unitProblems(name string, err error) []string {
	var list units.ErrorList
	if !errors.As(err, &list) {
		return strings.Split(err.Error(), "\n")
	}
	var out []string
	for _, e := range list {
		out = append(out, e.Error())
	}
	// Shifting line numbers changes no line count.
	offset := bytes.Count(editNote(name, out), []byte("\n"))
	out = out[:0]
	for _, e := range list {
		moved := *e
		if moved.Line > 0 {
			moved.Line += offset
		}
		out = append(out, moved.Error())
	}
	return out
}

// editor is the command that edits a file: $TEND_EDITOR, $KUBE_EDITOR,
// $EDITOR, or vi.
func (c *CLI) editor() string {
	for _, k := range []string{"TEND_EDITOR", "KUBE_EDITOR", "EDITOR"} {
		if v := strings.TrimSpace(c.getenv(k)); v != "" {
			return v
		}
	}
	return "vi"
}

// runEditor runs the editor on path through the shell, so that an editor
// setting with arguments ("code --wait") works. It is not tied to a
// context: Ctrl-C belongs to the editor.
func (c *CLI) runEditor(path string) error {
	ed := c.editor()
	cmd := exec.Command("sh", "-c", ed+` "$1"`, "sh", path)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = c.Stdin, c.Stdout, c.Stderr
	if cmd.Stdin == nil {
		cmd.Stdin = os.Stdin
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("the editor (%s) failed: %w; set TEND_EDITOR, KUBE_EDITOR or EDITOR to choose another", ed, err)
	}
	return nil
}
