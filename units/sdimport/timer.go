package sdimport

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/coreos/go-systemd/v22/unit"

	"github.com/tendhq/tend/units"
)

// Timers. A .timer and the service it starts become one cron unit: the
// service's settings make the template (as a job's), the timer's its
// schedule:
//
//	OnCalendar=             schedule (the first; a cron unit has one), time_zone
//	OnUnitActiveSec=,       schedule = "@every …" when there is no OnCalendar=
//	  OnUnitInactiveSec=      (from the agent's start, not the last run's)
//	Persistent=             catch_up = "latest" (yes) or "skip" (no, the default)
//	                        concurrency_policy = "forbid": systemd does not
//	                        start a service that is still running
//
// A calendar event maps when cron can say it: weekdays, month days,
// months, hours and minutes, each "*", a value, a list, a range (..) or a
// repetition (/); "daily", "weekly" (Monday) and the other shorthands.
// Seconds must be 0 and the year "*"; anything else is an error naming
// the line.

// ConvertTimerFile reads a timer and the service it starts (its Unit=,
// or the service of its name, in the same directory) and converts them.
// See ConvertTimer.
func ConvertTimerFile(path string, opt Options) (*Result, error) {
	data, err := readInstance(path)
	if err != nil {
		return nil, err
	}
	service := strings.TrimSuffix(filepath.Base(path), ".timer") + ".service"
	if _, opts, err := readUnit(path, data); err == nil {
		for _, o := range opts {
			if o.Section == "Timer" && o.Name == "Unit" && strings.TrimSpace(o.Value) != "" {
				service = strings.TrimSpace(o.Value)
			}
		}
	}
	if strings.Contains(service, "/") || !strings.HasSuffix(service, ".service") {
		return nil, fmt.Errorf("%s: Unit=%s: not a service of this directory", path, service)
	}
	spath := filepath.Join(filepath.Dir(path), service)
	sdata, err := readInstance(spath)
	if err != nil {
		return nil, fmt.Errorf("%s: the service it starts: %w", path, err)
	}
	if opt.dropIns, err = findDropIns(spath, opt.DropInDirs); err != nil {
		return nil, err
	}
	if opt.timerDropIns, err = findDropIns(path, opt.DropInDirs); err != nil {
		return nil, err
	}
	return ConvertTimer(path, data, spath, sdata, opt)
}

// ConvertTimer converts the timer at path and the service it starts into
// a cron unit named after the timer (Options.Kind is ignored). Warnings
// name the file they are in.
func ConvertTimer(path string, data []byte, servicePath string, serviceData []byte, opt Options) (*Result, error) {
	fail := func(format string, args ...any) (*Result, error) {
		return nil, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...))
	}
	if !strings.HasSuffix(filepath.Base(path), ".timer") {
		return fail("not a timer (want a file whose name ends in .timer)")
	}
	ix, topts, err := readUnit(path, data)
	if err != nil {
		return nil, err
	}
	if opt.Name == "" {
		opt.Name = unitName(strings.TrimSuffix(filepath.Base(path), ".timer") + ".service")
	}
	opt.Kind = units.KindJob // the service's part is built as a job's template
	c, err := newConv(servicePath, serviceData, opt)
	if err != nil {
		return nil, err
	}
	if err := c.build(); err != nil {
		return nil, fmt.Errorf("%s: %v", servicePath, err)
	}
	c.kind = units.KindCron
	c.from = path

	warn := c.warn
	var calendars, every []setting
	persistent := false
	type timerFile struct {
		path string
		ix   *lineIndex
		opts []*unit.UnitOption
	}
	files := []timerFile{{path, ix, topts}}
	for _, d := range opt.timerDropIns {
		dix, dopts, err := readUnit(d.path, d.data)
		if err != nil {
			return nil, err
		}
		files = append(files, timerFile{d.path, dix, dopts})
		c.notes = append(c.notes, "With the timer's drop-in "+d.path+".")
	}
	var all []setting
	var sections []string
	for _, f := range files {
		for _, o := range f.opts {
			all = append(all, setting{key: o.Name, value: normalize(o.Value), line: f.ix.next(o.Section, o.Name), file: f.path})
			sections = append(sections, o.Section)
		}
	}
	for k, s := range all {
		o := struct{ Section, Name string }{sections[k], s.key}
		switch o.Section + "." + o.Name {
		case "Timer.OnCalendar":
			if s.value == "" {
				calendars = nil
			} else {
				calendars = append(calendars, s)
			}
		case "Timer.OnUnitActiveSec", "Timer.OnUnitInactiveSec":
			if s.value == "" {
				every = nil
			} else {
				every = append(every, s)
			}
		case "Timer.Persistent":
			persistent = isTrue(s.value)
		case "Timer.Unit":
		case "Unit.Description":
			c.about = append([]string{s.value + " (timer)"}, c.about...)
		case "Unit.Documentation":
			c.about = append(c.about, "Documentation (timer): "+s.value)
		case "Install.WantedBy":
			c.about = append(c.about, "The timer was installed for "+s.value+": a cron unit runs from the agent's start.")
		case "Timer.OnBootSec", "Timer.OnStartupSec", "Timer.OnActiveSec":
			warn(s, "tend has no schedule relative to boot or to the agent's start")
		case "Timer.RandomizedDelaySec", "Timer.FixedRandomDelay", "Timer.AccuracySec":
			warn(s, "tend runs each schedule on its time, without a random or coalescing delay")
		case "Timer.WakeSystem":
			warn(s, "tend does not wake a suspended system")
		case "Timer.RemainAfterElapse", "Timer.OnClockChange", "Timer.OnTimezoneChange":
			warn(s, "tend has no counterpart of this setting")
		default:
			if o.Section == "Unit" || o.Section == "Install" {
				warn(s, unmapped(o.Section, o.Name))
			} else {
				warn(s, "tend has no counterpart of this setting")
			}
		}
	}
	timerSetting := setting{key: "Persistent", value: strconv.FormatBool(persistent), file: path}
	switch {
	case len(calendars) > 0:
		for _, extra := range calendars[1:] {
			warn(extra, "not imported: a cron unit has one schedule (the first OnCalendar= is)")
		}
		for _, extra := range every {
			warn(extra, "not imported: the unit's schedule is its OnCalendar=")
		}
		spec, tz, err := calendarToCron(calendars[0].value)
		if err != nil {
			return fail("line %d: OnCalendar=%s: %v", calendars[0].line, calendars[0].value, err)
		}
		c.set("", "schedule", tomlString(spec), calendars[0])
		if tz != "" {
			c.set("", "time_zone", tomlString(tz), calendars[0])
		}
	case len(every) > 0:
		for _, extra := range every[1:] {
			warn(extra, "not imported: a cron unit has one schedule")
		}
		t, err := parseTimeSpan(every[0].value)
		if err != nil || t.infinity || t.d <= 0 {
			return fail("line %d: %s=%s: not a time span tend can repeat", every[0].line, every[0].key, every[0].value)
		}
		c.set("", "schedule", tomlString("@every "+formatDuration(t.d)), every[0])
		warn(every[0], "imported as @every: the period counts from the agent's start, not from the service's last run")
	default:
		return fail("no OnCalendar=, OnUnitActiveSec= or OnUnitInactiveSec=: nothing to schedule (tend has no schedule relative to boot)")
	}
	c.set("", "concurrency_policy", tomlString("forbid"), timerSetting)
	catchUp := "skip"
	if persistent {
		catchUp = "latest"
	}
	c.set("", "catch_up", tomlString(catchUp), timerSetting)
	return c.finish()
}

// The calendar shorthands of systemd.time(7), as cron.
var calendarShorthands = map[string]string{
	"minutely":     "* * * * *",
	"hourly":       "0 * * * *",
	"daily":        "0 0 * * *",
	"monthly":      "0 0 1 * *",
	"weekly":       "0 0 * * 1",
	"yearly":       "0 0 1 1 *",
	"annually":     "0 0 1 1 *",
	"quarterly":    "0 0 1 1,4,7,10 *",
	"semiannually": "0 0 1 1,7 *",
}

// calendarToCron writes a calendar event as a five-field cron schedule
// and its time zone, "" for the host's.
func calendarToCron(spec string) (string, string, error) {
	fields := strings.Fields(spec)
	tz := ""
	if n := len(fields); n > 1 {
		last := fields[n-1]
		if last == "UTC" || strings.Contains(last, "/") && !strings.ContainsAny(last, ":*") {
			tz, fields = last, fields[:n-1]
		}
	}
	if len(fields) == 1 {
		if c, ok := calendarShorthands[strings.ToLower(fields[0])]; ok {
			return c, tz, nil
		}
	}
	dow := "*"
	if len(fields) > 0 && isWeekdays(fields[0]) {
		d, err := weekdays(fields[0])
		if err != nil {
			return "", "", err
		}
		dow, fields = d, fields[1:]
	}
	date, clock := "*-*-*", "00:00:00"
	switch len(fields) {
	case 0:
	case 1:
		if strings.Contains(fields[0], ":") {
			clock = fields[0]
		} else {
			date = fields[0]
		}
	case 2:
		date, clock = fields[0], fields[1]
	default:
		return "", "", errors.New("not a calendar event tend can map (want [weekdays] [date] [time] [time zone])")
	}
	d := strings.Split(date, "-")
	switch len(d) {
	case 2:
		d = append([]string{"*"}, d...) // month-day
	case 3:
	default:
		return "", "", fmt.Errorf("%q is not a date (want year-month-day or month-day)", date)
	}
	if d[0] != "*" {
		return "", "", fmt.Errorf("the year %s: cron schedules have no year", d[0])
	}
	t := strings.Split(clock, ":")
	switch len(t) {
	case 2:
		t = append(t, "00")
	case 3:
	default:
		return "", "", fmt.Errorf("%q is not a time (want hour:minute[:second])", clock)
	}
	if sec := strings.TrimLeft(t[2], "0"); sec != "" {
		return "", "", fmt.Errorf("the seconds %s: cron schedules start on a minute", t[2])
	}
	out := make([]string, 4)
	for i, f := range []struct {
		v        string
		min, max int
		what     string
	}{{t[1], 0, 59, "minute"}, {t[0], 0, 23, "hour"}, {d[2], 1, 31, "day"}, {d[1], 1, 12, "month"}} {
		v, err := cronField(f.v, f.min, f.max)
		if err != nil {
			return "", "", fmt.Errorf("the %s %q: %v", f.what, f.v, err)
		}
		out[i] = v
	}
	if dow != "*" && out[2] != "*" {
		// cron runs when either day field matches, systemd when both do.
		return "", "", errors.New("a weekday and a day of the month together: cron would run on either, systemd runs when both hold")
	}
	return strings.Join(append(out, dow), " "), tz, nil
}

// cronField writes one calendar component (*, 5, 1,15, 8..17, 0/15,
// */2) as a cron field, checking its values.
func cronField(v string, min, max int) (string, error) {
	var parts []string
	for _, p := range strings.Split(v, ",") {
		base, step, hasStep := strings.Cut(p, "/")
		if hasStep {
			if n, err := strconv.Atoi(step); err != nil || n < 1 || n > max {
				return "", fmt.Errorf("%q is not a repetition", step)
			}
		}
		lo, hi, isRange := strings.Cut(base, "..")
		check := func(s string) error {
			n, err := strconv.Atoi(s)
			if err != nil || n < min || n > max {
				return fmt.Errorf("%q is not from %d to %d", s, min, max)
			}
			return nil
		}
		switch {
		case base == "*":
		case isRange:
			if err := check(lo); err != nil {
				return "", err
			}
			if err := check(hi); err != nil {
				return "", err
			}
			a, _ := strconv.Atoi(lo)
			b, _ := strconv.Atoi(hi)
			if b < a {
				return "", fmt.Errorf("%s..%s runs backwards", lo, hi)
			}
			base = fmt.Sprintf("%d-%d", a, b)
		default:
			if err := check(base); err != nil {
				return "", err
			}
			n, _ := strconv.Atoi(base)
			base = strconv.Itoa(n)
		}
		if hasStep {
			base += "/" + step
		}
		parts = append(parts, base)
	}
	return strings.Join(parts, ","), nil
}

var weekdayNames = map[string]int{"mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 0,
	"monday": 1, "tuesday": 2, "wednesday": 3, "thursday": 4, "friday": 5, "saturday": 6, "sunday": 0}

func isWeekdays(f string) bool {
	names := strings.FieldsFunc(f, func(r rune) bool { return r == ',' || r == '.' })
	if len(names) == 0 {
		return false
	}
	_, ok := weekdayNames[strings.ToLower(names[0])]
	return ok
}

// weekdays writes "Mon..Fri,Sun" as cron's "1-5,0".
func weekdays(f string) (string, error) {
	var parts []string
	for _, p := range strings.Split(f, ",") {
		lo, hi, isRange := strings.Cut(strings.ToLower(p), "..")
		a, ok := weekdayNames[lo]
		if !ok {
			return "", fmt.Errorf("%q is not a weekday", lo)
		}
		if !isRange {
			parts = append(parts, strconv.Itoa(a))
			continue
		}
		b, ok := weekdayNames[hi]
		if !ok {
			return "", fmt.Errorf("%q is not a weekday", hi)
		}
		sunday := b == 0 // ..Sun: cron's Sunday is 0, before Monday
		if sunday {
			b = 6
		}
		if b < a && !(sunday && a == 0) {
			return "", fmt.Errorf("%s..%s runs backwards", lo, hi)
		}
		if a <= b {
			parts = append(parts, fmt.Sprintf("%d-%d", a, b))
		}
		if sunday && a != 0 {
			parts = append(parts, "0")
		}
	}
	return strings.Join(parts, ","), nil
}
