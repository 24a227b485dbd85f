package sdimport

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/units"
)

// Calendar events as cron schedules, and when they next fire.
func TestCalendarToCron(t *testing.T) {
	saturday := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC) // a Saturday noon
	for _, tc := range []struct {
		in, cron, tz string
		next         time.Time // after saturday, in UTC; zero: not checked
		err          string
	}{
		{in: "daily", cron: "0 0 * * *", next: time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)},
		{in: "weekly", cron: "0 0 * * 1", next: time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)},
		{in: "hourly", cron: "0 * * * *"},
		{in: "monthly", cron: "0 0 1 * *"},
		{in: "quarterly", cron: "0 0 1 1,4,7,10 *"},
		{in: "Mon..Fri 09:00", cron: "0 9 * * 1-5", next: time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)},
		{in: "Sat,Sun 10:30", cron: "30 10 * * 6,0", next: time.Date(2026, 12, 6, 10, 30, 0, 0, time.UTC)},
		{in: "Mon..Sun 01:00", cron: "0 1 * * 1-6,0"},
		{in: "*-*-* 06:30:00", cron: "30 6 * * *"},
		{in: "*:0/15", cron: "0/15 * * * *", next: time.Date(2026, 12, 5, 12, 15, 0, 0, time.UTC)},
		{in: "*-*-01 03:00", cron: "0 3 1 * *"},
		{in: "*-01,07-01 00:00", cron: "0 0 1 1,7 *"},
		{in: "Fri *-*-1..7 18:00", err: "a weekday and a day of the month together"},
		{in: "Fri *-*-13", err: "a weekday and a day of the month together"},
		{in: "08..17:00", cron: "0 8-17 * * *"},
		{in: "*-*-* 04:00 Europe/Berlin", cron: "0 4 * * *", tz: "Europe/Berlin"},
		{in: "daily UTC", cron: "0 0 * * *", tz: "UTC"},
		{in: "2026-*-* 00:00", err: "the year 2026"},
		{in: "*:*:30", err: "the seconds 30"},
		{in: "25:00", err: `the hour "25"`},
		{in: "Fri..Mon 10:00", err: "runs backwards"},
		{in: "*-13-01", err: `the month "13"`},
		{in: "tomorrow at noon", err: "not a calendar event"},
	} {
		cron, tz, err := calendarToCron(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: %q %v, want an error with %q", tc.in, cron, err, tc.err)
			}
			continue
		}
		if err != nil || cron != tc.cron || tz != tc.tz {
			t.Errorf("%q = %q %q %v, want %q %q", tc.in, cron, tz, err, tc.cron, tc.tz)
			continue
		}
		s, err := units.ParseSchedule(cron, time.UTC)
		if err != nil {
			t.Errorf("%q: cron %q does not parse: %v", tc.in, cron, err)
			continue
		}
		if !tc.next.IsZero() {
			if got := s.Next(saturday); !got.Equal(tc.next) {
				t.Errorf("%q: next after %v is %v, want %v", tc.in, saturday, got, tc.next)
			}
		}
	}
}

// A timer and its service make a cron unit: the service's template, the
// timer's schedule, forbid, catch-up as Persistent= says; warnings name
// the file they are in.
func TestConvertTimer(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string { return writeFile(t, filepath.Join(dir, name), text) }
	write("housekeeping.service", "[Unit]\nDescription=Cleans up\n[Service]\nType=oneshot\nExecStart=/usr/sbin/clean --old\nNice=19\n")
	timer := write("housekeeping.timer", "[Unit]\nDescription=Daily clean-up\n[Timer]\nOnCalendar=Mon..Fri 02:30\nOnCalendar=Sat 05:00\nAccuracySec=12h\nPersistent=true\n[Install]\nWantedBy=timers.target\n")
	res, err := ConvertTimerFile(timer, Options{DropInDirs: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	u := res.Unit
	if res.Name != "housekeeping" || u.Kind != units.KindCron || u.Schedule != "30 2 * * 1-5" || u.ConcurrencyPolicy != units.ConcurrencyForbid ||
		u.CatchUp != units.CatchUpLatest || !slices.Equal(u.Template.Command, []string{"/usr/sbin/clean", "--old"}) || u.BackoffLimit != 0 {
		t.Errorf("unit:\n%s", res.TOML)
	}
	var got []string
	for _, w := range res.Warnings {
		got = append(got, filepath.Base(w.File)+":"+w.Key)
	}
	if want := []string{"housekeeping.service:Nice", "housekeeping.timer:OnCalendar", "housekeeping.timer:AccuracySec"}; !slices.Equal(got, want) {
		t.Errorf("warnings %q, want %q", got, want)
	}
	if !strings.Contains(string(res.TOML), "from "+timer+" and ") || !strings.Contains(string(res.TOML), "#   housekeeping.timer:5: OnCalendar=Sat 05:00: not imported") {
		t.Errorf("header:\n%s", res.TOML)
	}

	// The timer's drop-ins apply, as the service's: the admin's override
	// of the schedule is the schedule.
	admin := t.TempDir()
	writeFile(t, filepath.Join(admin, "housekeeping.timer.d", "override.conf"), "[Timer]\nOnCalendar=\nOnCalendar=*-*-* 05:30\nPersistent=no\n")
	res, err = ConvertTimerFile(timer, Options{DropInDirs: []string{admin}})
	if err != nil || res.Unit.Schedule != "30 5 * * *" || res.Unit.CatchUp != units.CatchUpSkip ||
		!strings.Contains(string(res.TOML), "# With the timer's drop-in "+filepath.Join(admin, "housekeeping.timer.d", "override.conf")) {
		t.Errorf("a timer's drop-in: %v\n%s", err, res.TOML)
	}

	// Unit= names the service; a period after the last run is @every.
	write("other.service", "[Service]\nExecStart=/bin/true\n")
	res, err = ConvertTimer(filepath.Join(dir, "tick.timer"), []byte("[Timer]\nUnit=other.service\nOnUnitActiveSec=15min\n"), filepath.Join(dir, "other.service"), []byte("[Service]\nExecStart=/bin/true\n"), Options{})
	if err != nil || res.Unit.Schedule != "@every 15m" || res.Unit.CatchUp != units.CatchUpSkip || res.Name != "tick" {
		t.Fatalf("@every: %v\n%s", err, res.TOML)
	}
	write("tock.timer", "[Timer]\nUnit=other.service\nOnBootSec=5min\n")
	if _, err := ConvertTimerFile(filepath.Join(dir, "tock.timer"), Options{DropInDirs: []string{}}); err == nil || !strings.Contains(err.Error(), "nothing to schedule") {
		t.Errorf("a timer relative to boot: %v", err)
	}
	write("away.timer", "[Timer]\nUnit=../../etc/evil.service\nOnCalendar=daily\n")
	if _, err := ConvertTimerFile(filepath.Join(dir, "away.timer"), Options{DropInDirs: []string{}}); err == nil || !strings.Contains(err.Error(), "not a service of this directory") {
		t.Errorf("a Unit= outside the directory: %v", err)
	}
	write("lonely.timer", "[Timer]\nOnCalendar=daily\n")
	if _, err := ConvertTimerFile(filepath.Join(dir, "lonely.timer"), Options{DropInDirs: []string{}}); err == nil || !strings.Contains(err.Error(), "the service it starts") {
		t.Errorf("a timer without its service: %v", err)
	}
	write("bad.timer", "[Timer]\nOnCalendar=*:*:30\n")
	write("bad.service", "[Service]\nExecStart=/bin/true\n")
	if _, err := ConvertTimerFile(filepath.Join(dir, "bad.timer"), Options{DropInDirs: []string{}}); err == nil || !strings.Contains(err.Error(), "line 2: OnCalendar=*:*:30: the seconds 30") {
		t.Errorf("a calendar cron cannot say: %v", err)
	}
}

// Whatever the calendar event, calendarToCron gives an error or a
// schedule that parses.
func FuzzCalendarToCron(f *testing.F) {
	for _, s := range []string{"daily", "Mon..Fri 09:00", "*:0/15", "*-*-01 03:00 UTC", "Sat,Sun 10:30", "08..17:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		cron, _, err := calendarToCron(spec)
		if err != nil {
			return
		}
		if _, err := units.ParseSchedule(cron, time.UTC); err != nil {
			t.Fatalf("%q → %q, which does not parse: %v", spec, cron, err)
		}
	})
}
