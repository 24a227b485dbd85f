package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/tendhq/tend/supervisor"
)

// version is the build's version, set by the release build with
// -ldflags "-X main.version=v0.1.0"; the agent reports it too.
var version = "dev"

const versionHelp = `Print the client and agent versions.

Usage:
  tend version [--client] [-o json|yaml]

Examples:
  # Both versions; fails when the agent cannot be reached
  tend version

  # Only this binary's version
  tend version --client
`

// clientVersion is this binary's build.
func clientVersion() supervisor.Version {
	v := supervisor.Version{Version: version, Go: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v.Version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				v.Commit = s.Value
			}
		}
	}
	return v
}

func (c *CLI) runVersion(ctx context.Context, args []string) error {
	fs := newFlagSet("version")
	var clientOnly bool
	var output string
	fs.boolVar(&clientOnly, "client", "", "Print only this binary's version; do not ask the agent.")
	fs.stringVar(&output, "output", "o", "", "Output format: json or yaml.")
	args, err := fs.parse(c, args)
	if err != nil {
		return err
	}
	if len(args) > 0 {
		return usagef("version", "version takes no arguments")
	}
	switch output {
	case "", "json", "yaml":
	default:
		return usagef("version", "--output must be json or yaml, not %q", output)
	}
	client := clientVersion()
	var server *supervisor.Version
	var serverErr error
	if !clientOnly {
		defer c.close()
		v, err := c.api().Version(ctx)
		if err == nil {
			server = &v
		}
		serverErr = err
	}
	if output != "" {
		v := struct {
			Client supervisor.Version  `json:"clientVersion"`
			Server *supervisor.Version `json:"serverVersion,omitempty"`
		}{client, server}
		if output == "json" {
			err = writeJSON(c.Stdout, v)
		} else {
			err = writeYAML(c.Stdout, v)
		}
		if err != nil {
			return err
		}
		return serverErr
	}
	fmt.Fprintf(c.Stdout, "Client Version: %s\n", describeVersion(client))
	if server != nil {
		fmt.Fprintf(c.Stdout, "Server Version: %s (host %s)\n", describeVersion(*server), server.Host)
	}
	return serverErr
}

func describeVersion(v supervisor.Version) string {
	s := v.Version
	if v.Commit != "" {
		s += " (" + shortCommit(v.Commit) + ")"
	}
	if v.Go != "" {
		s += " " + v.Go
	}
	return s
}

func shortCommit(c string) string {
	if len(c) > 12 {
		return c[:12]
	}
	return c
}
