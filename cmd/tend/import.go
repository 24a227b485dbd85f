package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/tendhq/tend/internal/atomicfile"
	"github.com/tendhq/tend/units"
	"github.com/tendhq/tend/units/sdimport"
)

const importHelp = `Convert systemd service units, and timers, into tend unit files.

Usage:
  tend import [--name NAME] [--kind KIND] FILE.service|FILE.timer
  tend import --dir DIR [--kind KIND] [--overwrite] FILE.service|FILE.timer...

Reads each .service file (go-systemd's parser: systemd's syntax, with
continued lines and quoting) and makes a tend unit of it: ExecStart= and
ExecStartPre= become the command, Environment= the env, WorkingDirectory=,
User= and Group= theirs, Restart= and RestartSec= the restart policy and
its delay, StartLimitBurst= and StartLimitIntervalSec= the crash-loop
brake, KillSignal= and TimeoutStopSec= how it stops, Type=notify a notify
readiness probe, WatchdogSec= a watchdog liveness probe, and MemoryMax=,
CPUQuota= and TasksMax= its cgroup limits. A command that needs what
systemd does at each start (EnvironmentFile=, ExecStartPre=, $VARIABLES)
runs through /bin/sh, which does it and then becomes the main process.

The service's drop-ins apply after it, as systemd applies them: the
*.conf files of NAME.service.d/ (and of service.d/, of the dash prefixes'
foo-.service.d/ and of a template's) beside the file and in systemd's
directories, /etc/systemd/system.control and /etc/systemd/system (the
admin's) winning over /run's and the vendor's, in the order of their
names (--drop-in-dirs says where else to look).

Every setting tend has no counterpart for is a warning, on standard
error as "FILE:LINE: Setting=value: why" and in a comment at the top of
the unit, so that nothing is dropped silently. A service becomes a
per-host unit (one instance on each host, as a service file is one
daemon of its host), a Type=oneshot service a job; --kind replicated
makes one replica that runs on one host of the fleet.

A .timer and the service it starts (its Unit=, or the service of its
name beside it) make a cron unit: OnCalendar= is its schedule (weekdays,
dates and times that cron can say: seconds 0, any year; "daily",
"weekly" and the other shorthands) and time zone, OnUnitActiveSec= an
@every schedule, Persistent=yes catch_up = "latest" (else "skip"), and
concurrency_policy = "forbid", as systemd never starts a service that
still runs.

With one file the unit goes to standard output. With --dir each unit is
written to DIR/NAME.toml, all or none: when any file cannot be converted,
or a unit file exists already (without --overwrite), nothing is written.
Give --dir the agent's unit directory to run them at once. The exit
status is 0 when every file was converted, warnings or not.

Examples:
  # See what nginx's service becomes
  tend import /lib/systemd/system/nginx.service

  # Run it with tend
  tend import /lib/systemd/system/nginx.service | tend apply -f - --name nginx

  # Convert several into the agent's unit directory
  tend import --dir /etc/tend/units.d /lib/systemd/system/{cron,rsyslog}.service

  # A timer: a cron unit
  tend import /lib/systemd/system/exim4-base.timer
`

func (c *CLI) runImport(ctx context.Context, args []string) error {
	fs := newFlagSet("import")
	var name, kind, dir string
	var overwrite bool
	fs.stringVar(&name, "name", "", "", "The unit's name (one file only); default: from the file's name, nginx.service is nginx.")
	fs.stringVar(&kind, "kind", "", "", "The units' kind: per-host, replicated or job; default: job for Type=oneshot, else per-host.")
	fs.stringVar(&dir, "dir", "d", "", "Write each unit to DIR/NAME.toml instead of standard output.")
	fs.boolVar(&overwrite, "overwrite", "", "With --dir, replace unit files that exist already.")
	dropIns := strings.Join(sdimport.DefaultDropInDirs, ",")
	fs.stringVar(&dropIns, "drop-in-dirs", "", dropIns, "Where the services' drop-ins (NAME.service.d/*.conf) are, highest priority first, besides the file's directory; \"\" for none.")
	args, err := fs.parse(c, args)
	if err != nil {
		return err
	}
	switch {
	case len(args) == 0:
		return usagef("import", "name the .service files to import")
	case len(args) > 1 && dir == "":
		return usagef("import", "%d files: give --dir DIR to write a unit file for each (standard output takes one)", len(args))
	case len(args) > 1 && name != "":
		return usagef("import", "--name names the unit of one file")
	case overwrite && dir == "":
		return usagef("import", "--overwrite is for --dir")
	}
	opt := sdimport.Options{Name: name, DropInDirs: []string{}}
	for _, d := range strings.Split(dropIns, ",") {
		if d = strings.TrimSpace(d); d != "" {
			opt.DropInDirs = append(opt.DropInDirs, d)
		}
	}
	if kind != "" {
		k, err := units.ParseKind(kind)
		if err != nil {
			return usagef("import", "--kind: %v", err)
		}
		if k == units.KindCron {
			return usagef("import", "--kind: a service is imported as per-host, replicated or job, not cron (its schedule is in a .timer)")
		}
		opt.Kind = k
	}

	// All files first: a file that does not convert writes nothing.
	var results []*sdimport.Result
	from := map[string]string{}
	failed := false
	for _, path := range args {
		var res *sdimport.Result
		var err error
		if strings.HasSuffix(path, ".timer") {
			if opt.Kind != 0 {
				return usagef("import", "--kind: %s is a timer, which makes a cron unit", path)
			}
			res, err = sdimport.ConvertTimerFile(path, opt)
		} else {
			res, err = sdimport.ConvertFile(path, opt)
		}
		if err != nil {
			fmt.Fprintf(c.Stderr, "error: %v\n", err)
			failed = true
			continue
		}
		if other, dup := from[res.Name]; dup {
			fmt.Fprintf(c.Stderr, "error: %s and %s are both unit %s: import one of them with --name\n", other, path, res.Name)
			failed = true
			continue
		}
		from[res.Name] = path
		for _, w := range res.Warnings {
			fmt.Fprintf(c.Stderr, "warning: %s\n", w)
		}
		results = append(results, res)
	}
	if failed {
		if dir != "" {
			fmt.Fprintf(c.Stderr, "error: nothing was written to %s\n", dir)
		}
		return errSilent
	}
	if dir == "" {
		_, err := c.Stdout.Write(results[0].TOML)
		return err
	}
	return c.writeImported(dir, results, from, overwrite)
}

// writeImported writes each unit into dir, each file whole (a temporary
// file renamed into place: an agent watching dir never reads half of
// one), after checking that none is there already.
func (c *CLI) writeImported(dir string, results []*sdimport.Result, from map[string]string, overwrite bool) error {
	if fi, err := os.Stat(dir); err != nil {
		return fmt.Errorf("--dir: %w", err)
	} else if !fi.IsDir() {
		return fmt.Errorf("--dir: %s is not a directory", dir)
	}
	if !overwrite {
		exists := false
		for _, r := range results {
			path := filepath.Join(dir, r.Name+".toml")
			if _, err := os.Lstat(path); err == nil {
				fmt.Fprintf(c.Stderr, "error: %s exists already (give --overwrite to replace it)\n", path)
				exists = true
			} else if !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
		if exists {
			fmt.Fprintf(c.Stderr, "error: nothing was written to %s\n", dir)
			return errSilent
		}
	}
	for _, r := range results {
		path := filepath.Join(dir, r.Name+".toml")
		write := atomicfile.Create // linked into place: a file made meanwhile is kept
		if overwrite {
			write = atomicfile.Write
		}
		if err := write(path, r.TOML, 0o644); errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s exists already (give --overwrite to replace it)", path)
		} else if err != nil {
			return err
		}
		warnings := fmt.Sprintf("%d warnings", len(r.Warnings))
		if len(r.Warnings) == 1 {
			warnings = "1 warning"
		}
		fmt.Fprintf(c.Stdout, "unit/%s imported from %s to %s (%s)\n", r.Name, from[r.Name], path, warnings)
	}
	return nil
}
