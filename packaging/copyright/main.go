// Command copyright writes the packages' copyright file, in Debian's
// machine-readable format (DEP-5), for the tend binary as built: tend's
// own notice, then each Go module linked into the binary, and Go's
// standard library, with its license's text as the module ships it.
//
//	go run ./packaging/copyright [-o FILE] [-debian FILE] [PACKAGE]
//
// -o writes the file with every license's text (for the .rpm and the
// .apk; standard output when neither flag is given), -debian the one in
// which the texts Debian keeps in /usr/share/common-licenses (Apache-2.0,
// MPL-2.0) are pointed to there, as Debian's policy asks (12.5), instead
// of repeated. One run writes both from one look at the modules.
//
// PACKAGE is the binary's package (default ./cmd/tend): its modules are
// those `go list -deps` names, so the file follows go.mod and never
// drifts. A module whose license file is missing, or whose license is
// not one it recognizes (MIT, BSD-2-Clause, BSD-3-Clause, Apache-2.0,
// MPL-2.0, ISC), is an error: someone must look at it.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

func main() {
	out := flag.String("o", "", "write the file, with every license's text, here")
	debian := flag.String("debian", "", "write the file for Debian, pointing to /usr/share/common-licenses, here")
	flag.Parse()
	pkg := "./cmd/tend"
	if flag.NArg() > 0 {
		pkg = flag.Arg(0)
	}
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "copyright:", err)
		os.Exit(1)
	}
	mods, err := modules(pkg)
	if err != nil {
		fail(err)
	}
	for _, f := range []struct {
		path   string
		debian bool
	}{{*out, false}, {*debian, true}} {
		if f.path == "" && (*out != "" || *debian != "" || f.debian) {
			continue
		}
		var b bytes.Buffer
		if err := write(&b, mods, f.debian); err != nil {
			fail(err)
		}
		if f.path == "" {
			os.Stdout.Write(b.Bytes())
		} else if err := os.WriteFile(f.path, b.Bytes(), 0o644); err != nil {
			fail(err)
		}
	}
}

const header = `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: tend
Upstream-Contact: tend maintainers <maintainers@tendhq.invalid>
Source: https://github.com/tendhq/tend
Comment: /usr/bin/tend is one static Go binary. Besides tend's own code it
 holds the Go modules below and Go's standard library, each under its own
 license, whose text follows as the module ships it. The list is made
 from the binary's dependencies when the package is built.

Files: *
Copyright: 2026 The tend authors
License: tend
 tend's authors have not published tend under a license yet: until they
 do, all rights in tend's own code are reserved by them.
`

// A module is one Go module in the binary.
type module struct {
	path, version, dir string
}

// commonLicenses are the licenses of the modules that Debian keeps in
// /usr/share/common-licenses.
var commonLicenses = map[string]bool{"Apache-2.0": true, "MPL-2.0": true}

func write(w io.Writer, mods []module, debian bool) error {
	io.WriteString(w, header)
	for _, m := range mods {
		text, err := licenseText(m.dir)
		if err != nil {
			return fmt.Errorf("%s: %w", m.path, err)
		}
		name := licenseName(text)
		if name == "" {
			return fmt.Errorf("%s: the license in %s is not one this recognizes: look at it, and add it", m.path, m.dir)
		}
		files := "vendor/" + m.path + "/*"
		if m.path == "std" {
			files = "go/*"
		}
		body := indent(text)
		if debian && commonLicenses[name] {
			body = fmt.Sprintf(" On Debian systems, the complete text of the license is in\n /usr/share/common-licenses/%s.\n", name)
		}
		fmt.Fprintf(w, "\nFiles: %s\nCopyright: %s\nComment: %s %s\nLicense: %s\n%s", files, copyrightOf(text, m.path),
			m.path, m.version, name, body)
	}
	return nil
}

// modules lists the modules of pkg's dependencies, tend's own left out,
// the standard library as "std".
func modules(pkg string) ([]module, error) {
	cmd := exec.Command("go", "list", "-deps", "-f", "{{with .Module}}{{.Path}}\t{{.Version}}\t{{.Dir}}{{end}}", pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %v\n%s", err, stderr.Bytes())
	}
	seen := map[string]bool{}
	var mods []module
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 3 || seen[f[0]] || f[1] == "" { // no version: the main module
			continue
		}
		seen[f[0]] = true
		mods = append(mods, module{f[0], f[1], f[2]})
	}
	slices.SortFunc(mods, func(a, b module) int { return strings.Compare(a.path, b.path) })
	root, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return nil, fmt.Errorf("go env GOROOT: %w", err)
	}
	v, err := exec.Command("go", "env", "GOVERSION").Output()
	if err != nil {
		return nil, fmt.Errorf("go env GOVERSION: %w", err)
	}
	return append(mods, module{"std", strings.TrimSpace(string(v)), strings.TrimSpace(string(root))}), nil
}

// licenseText reads the module's license file.
func licenseText(dir string) (string, error) {
	for _, name := range []string{"LICENSE", "LICENSE.md", "LICENSE.txt", "COPYING", "LICENCE"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err == nil {
			return strings.TrimSpace(strings.ReplaceAll(string(b), "\r\n", "\n")), nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
	}
	return "", fmt.Errorf("no license file in %s", dir)
}

// licenseName recognizes a license by its words, as SPDX names it.
func licenseName(text string) string {
	t := strings.Join(strings.Fields(text), " ")
	switch {
	case strings.Contains(t, "Mozilla Public License Version 2.0") || strings.Contains(t, "Mozilla Public License, version 2.0"):
		return "MPL-2.0"
	case strings.Contains(t, "Apache License") && strings.Contains(t, "Version 2.0"):
		return "Apache-2.0"
	case strings.Contains(t, "Permission is hereby granted, free of charge"):
		return "MIT"
	case strings.Contains(t, "Permission to use, copy, modify, and/or distribute this software for any purpose"):
		return "ISC"
	case strings.Contains(t, "Redistribution and use in source and binary forms") && strings.Contains(t, "Neither the name"):
		return "BSD-3-Clause"
	case strings.Contains(t, "Redistribution and use in source and binary forms"):
		return "BSD-2-Clause"
	}
	return ""
}

var copyrightLine = regexp.MustCompile(`(?mi)^\s*copyright\s*(?:\(c\)|©)?\s*(.*\d{4}.*)$`)

// copyrightOf finds the copyright holders in the license text; where it
// names none (Apache's and MPL's texts do not), the module's authors.
func copyrightOf(text, path string) string {
	var holders []string
	for _, m := range copyrightLine.FindAllStringSubmatch(text, -1) {
		h := strings.TrimSpace(m[1])
		if strings.Contains(h, "[yyyy]") || strings.Contains(h, "{yyyy}") || slices.Contains(holders, h) {
			continue
		}
		holders = append(holders, h)
	}
	if len(holders) == 0 {
		return "the authors of " + path
	}
	return strings.Join(holders, "\n ")
}

// indent writes text as a DEP-5 field's continuation lines.
func indent(text string) string {
	var b strings.Builder
	for _, l := range strings.Split(text, "\n") {
		l = strings.TrimRight(l, " \t")
		if l == "" {
			b.WriteString(" .\n")
			continue
		}
		b.WriteString(" " + l + "\n")
	}
	return b.String()
}
