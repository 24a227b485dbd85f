package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tendhq/tend/internal/jsonpath"
	"github.com/tendhq/tend/supervisor"
	"github.com/tendhq/tend/units"
)

// humanDuration formats d as kubectl shows ages (apimachinery's
// duration.HumanDuration): about two significant figures, seconds up to
// two minutes, "5m8s" under ten minutes, whole minutes up to three hours,
// "6h28m" under eight hours, hours up to two days, "2d3h" under eight
// days, then days, then years and days.
func humanDuration(d time.Duration) string {
	// A clock a little behind the agent's shows "0s", not "<invalid>".
	if seconds := int(d.Seconds()); seconds < -1 {
		return "<invalid>"
	} else if seconds < 0 {
		return "0s"
	} else if seconds < 60*2 {
		return fmt.Sprintf("%ds", seconds)
	}
	minutes := int(d / time.Minute)
	if minutes < 10 {
		if s := int(d/time.Second) % 60; s != 0 {
			return fmt.Sprintf("%dm%ds", minutes, s)
		}
		return fmt.Sprintf("%dm", minutes)
	} else if minutes < 60*3 {
		return fmt.Sprintf("%dm", minutes)
	}
	hours := int(d / time.Hour)
	switch {
	case hours < 8:
		if m := minutes % 60; m != 0 {
			return fmt.Sprintf("%dh%dm", hours, m)
		}
		return fmt.Sprintf("%dh", hours)
	case hours < 48:
		return fmt.Sprintf("%dh", hours)
	case hours < 24*8:
		if h := hours % 24; h != 0 {
			return fmt.Sprintf("%dd%dh", hours/24, h)
		}
		return fmt.Sprintf("%dd", hours/24)
	case hours < 24*365*2:
		return fmt.Sprintf("%dd", hours/24)
	case hours < 24*365*8:
		if days := hours / 24 % 365; days != 0 {
			return fmt.Sprintf("%dy%dd", hours/24/365, days)
		}
		return fmt.Sprintf("%dy", hours/24/365)
	}
	return fmt.Sprintf("%dy", hours/24/365)
}

// printer formats objects at one moment, in one time zone.
type printer struct {
	now time.Time
	loc *time.Location
}

func (c *CLI) printer() printer { return printer{now: c.now(), loc: c.location()} }

// age is kubectl's translateTimestampSince.
func (p printer) age(t time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return humanDuration(p.now.Sub(t))
}

// timestamp is a time as kubectl's describe prints it:
// "Sat, 24 Oct 2020 00:11:33 +0900".
func (p printer) timestamp(t time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return t.In(p.loc).Format(time.RFC1123Z)
}

// eventAge is the Age column of an event: "8m55s", or for repeats
// "4m46s (x3 over 8m23s)".
func (p printer) eventAge(e supervisor.Event) string {
	first := e.First
	if first.IsZero() {
		first = e.Last
	}
	if e.Count > 1 {
		return fmt.Sprintf("%s (x%d over %s)", p.age(e.Last), e.Count, p.age(first))
	}
	if e.Last.After(first) {
		return p.age(e.Last)
	}
	return p.age(first)
}

// table is rows of cells printed as kubectl's printers print them: columns
// left-aligned, three spaces apart (text/tabwriter with padding 3), the
// last column unpadded.
type table struct {
	w      io.Writer
	widths []int
}

// write prints rows, padding each column to the widest cell seen so far in
// it, here or in an earlier call (so that rows a watch adds line up with
// the table above them).
func (t *table) write(rows ...[]string) {
	for _, row := range rows {
		for i, cell := range row {
			if i >= len(t.widths) {
				t.widths = append(t.widths, 0)
			}
			t.widths[i] = max(t.widths[i], utf8.RuneCountInString(cell))
		}
	}
	var b strings.Builder
	for _, row := range rows {
		var line strings.Builder
		for i, cell := range row {
			line.WriteString(cell)
			if i < len(row)-1 {
				line.WriteString(strings.Repeat(" ", t.widths[i]-utf8.RuneCountInString(cell)+3))
			}
		}
		// An empty last cell (a -L column) leaves no trailing blanks.
		b.WriteString(strings.TrimRight(line.String(), " "))
		b.WriteByte('\n')
	}
	io.WriteString(t.w, b.String())
}

// getOptions are the flags of get that shape a table.
type getOptions struct {
	output     string   // "", wide, json, yaml, name, jsonpath, custom-columns
	showLabels bool     // --show-labels: a LABELS column
	labelCols  []string // -L: a column per key
	noHeaders  bool

	template *jsonpath.Template // -o jsonpath=
	columns  []column           // -o custom-columns=
	sortBy   *jsonpath.Template // --sort-by
}

func (o getOptions) wide() bool { return o.output == "wide" }

// labelColumns adds the -L and --show-labels columns.
func (o getOptions) labelColumns(header []string) ([]string, func(units.Labels) []string) {
	for _, k := range o.labelCols {
		header = append(header, strings.ToUpper(k))
	}
	if o.showLabels {
		header = append(header, "LABELS")
	}
	return header, func(l units.Labels) []string {
		var cells []string
		for _, k := range o.labelCols {
			cells = append(cells, l[k])
		}
		if o.showLabels {
			cells = append(cells, labelsOrNone(l))
		}
		return cells
	}
}

func labelsOrNone(l units.Labels) string {
	if len(l) == 0 {
		return "<none>"
	}
	return l.String()
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

// instanceTable returns the header and row function of `get instances`:
// NAME READY STATUS RESTARTS AGE, -o wide adding HOST and PID.
func (p printer) instanceTable(o getOptions) ([]string, func(supervisor.Instance) []string) {
	header := []string{"NAME", "READY", "STATUS", "RESTARTS", "AGE"}
	if o.wide() {
		header = append(header, "HOST", "PID")
	}
	header, labelCells := o.labelColumns(header)
	return header, func(in supervisor.Instance) []string {
		ready := "0/1"
		if in.Ready {
			ready = "1/1"
		}
		row := []string{in.Name, ready, orNone(in.Status), strconv.Itoa(in.RestartCount), p.age(in.Created)}
		if o.wide() {
			pid := "<none>"
			if in.PID != 0 {
				pid = strconv.Itoa(in.PID)
			}
			row = append(row, orNone(in.Host), pid)
		}
		return append(row, labelCells(in.Labels)...)
	}
}

// unitTable returns the header and row function of `get units` and of its
// kind words: replicated units as ReplicaSets (NAME DESIRED CURRENT READY
// AGE), per-host ones as DaemonSets (with NODE SELECTOR), all kinds
// together with a KIND column, jobs as kubectl's Jobs (NAME COMPLETIONS
// DURATION AGE) and cron units as CronJobs. Every table ends with
// STOPPED (True after tend stop unit) and FILE: Invalid when the unit's
// file was rejected (the last valid version runs; describe tells why),
// Valid otherwise, <none> for a cron unit's job.
func (p printer) unitTable(kind units.Kind, o getOptions) ([]string, func(supervisor.Unit) []string) {
	var header []string
	var cells func(u supervisor.Unit) []string
	counts := func(u supervisor.Unit) []string {
		return []string{strconv.Itoa(u.Desired), strconv.Itoa(u.Current), strconv.Itoa(u.Ready)}
	}
	switch kind {
	case units.KindReplicated:
		header = []string{"NAME", "DESIRED", "CURRENT", "READY", "AGE"}
		cells = func(u supervisor.Unit) []string {
			return append(append([]string{u.Name}, counts(u)...), p.age(u.Created))
		}
	case units.KindPerHost:
		header = []string{"NAME", "DESIRED", "CURRENT", "READY", "NODE SELECTOR", "AGE"}
		cells = func(u supervisor.Unit) []string {
			return append(append([]string{u.Name}, counts(u)...), orNone(u.NodeSelector), p.age(u.Created))
		}
	case units.KindJob:
		header = []string{"NAME", "COMPLETIONS", "DURATION", "AGE"}
		cells = func(u supervisor.Unit) []string {
			return []string{u.Name, fmt.Sprintf("%d/%d", u.Succeeded, u.Completions), p.jobDuration(u), p.age(u.Created)}
		}
	case units.KindCron:
		header = []string{"NAME", "SCHEDULE", "SUSPEND", "ACTIVE", "LAST SCHEDULE", "AGE"}
		cells = func(u supervisor.Unit) []string {
			last := "<none>"
			if !u.LastSchedule.IsZero() {
				last = p.age(u.LastSchedule)
			}
			return []string{u.Name, u.Schedule, trueFalse(u.Suspend), strconv.Itoa(len(u.ActiveJobs)), last, p.age(u.Created)}
		}
	default:
		header = []string{"NAME", "KIND", "DESIRED", "CURRENT", "READY", "AGE"}
		cells = func(u supervisor.Unit) []string {
			return append(append([]string{u.Name, kindOrNone(u.Kind)}, counts(u)...), p.age(u.Created))
		}
	}
	header = append(header, "STOPPED", "FILE")
	if o.wide() {
		header = append(header, "COMMAND", "SELECTOR")
	}
	header, labelCells := o.labelColumns(header)
	return header, func(u supervisor.Unit) []string {
		row := append(cells(u), trueFalse(u.Stopped), fileState(u))
		if o.wide() {
			row = append(row, orNone(shellJoin(u.Template.Command)), orNone(u.Selector))
		}
		return append(row, labelCells(u.Labels)...)
	}
}

// trueFalse is a boolean as kubectl's tables print one.
func trueFalse(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

// fileState is the FILE column of the unit tables.
func fileState(u supervisor.Unit) string {
	switch {
	case u.Error != "":
		return "Invalid"
	case u.Path == "":
		return "<none>"
	}
	return "Valid"
}

// jobDuration is how long a job ran (or has run so far), as kubectl shows
// it.
func (p printer) jobDuration(u supervisor.Unit) string {
	if u.StartTime.IsZero() {
		return ""
	}
	end := p.now
	if !u.CompletionTime.IsZero() {
		end = u.CompletionTime
	}
	return humanDuration(end.Sub(u.StartTime))
}

// hostTable: NAME STATUS LABELS AGE VERSION (labels decide placement, so
// they are shown without --show-labels), -o wide adding ADDRESS and
// INSTANCES.
func (p printer) hostTable(o getOptions) ([]string, func(supervisor.Host) []string) {
	header := []string{"NAME", "STATUS", "LABELS", "AGE", "VERSION"}
	if o.wide() {
		header = append(header, "ADDRESS", "INSTANCES")
	}
	o.showLabels = false // the LABELS column is there already
	header, labelCells := o.labelColumns(header)
	return header, func(h supervisor.Host) []string {
		row := []string{h.Name, orNone(h.Status), labelsOrNone(h.Labels), p.age(h.Started), orNone(h.Version)}
		if o.wide() {
			row = append(row, orNone(h.Addr), strconv.Itoa(h.Instances))
		}
		return append(row, labelCells(h.Labels)...)
	}
}

// eventTable: LAST SEEN TYPE REASON OBJECT MESSAGE, -o wide adding FROM,
// FIRST SEEN and COUNT.
func (p printer) eventTable(o getOptions) ([]string, func(supervisor.Event) []string) {
	header := []string{"LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"}
	if o.wide() {
		header = append(header, "FROM", "FIRST SEEN", "COUNT")
	}
	return header, func(e supervisor.Event) []string {
		last := e.Last
		if last.IsZero() {
			last = e.First
		}
		seen := p.age(last)
		if o.wide() {
			return []string{seen, e.Type, e.Reason, e.Kind + "/" + e.Object, oneLine(e.Message),
				orNone(e.From), p.age(e.First), strconv.Itoa(max(e.Count, 1))}
		}
		if e.Count > 1 {
			seen = p.eventAge(e)
		}
		return []string{seen, e.Type, e.Reason, e.Kind + "/" + e.Object, oneLine(e.Message)}
	}
}

// sortEvents orders events by when they last happened, as kubectl does.
func sortEvents(list []supervisor.Event) {
	slices.SortStableFunc(list, func(a, b supervisor.Event) int {
		return cmp.Compare(lastSeen(a).UnixNano(), lastSeen(b).UnixNano())
	})
}

func lastSeen(e supervisor.Event) time.Time {
	if e.Last.IsZero() {
		return e.First
	}
	return e.Last
}

// oneLine keeps a table row on one line: a multi-line message (a unit
// file's list of problems) has its lines joined with "; ".
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "\n") {
		return s
	}
	var parts []string
	for l := range strings.SplitSeq(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, "; ")
}

// shellJoin writes argv as a shell command line, quoting what needs it.
func shellJoin(argv []string) string {
	var parts []string
	for _, a := range argv {
		if a == "" || strings.ContainsFunc(a, func(r rune) bool {
			return r <= ' ' || strings.ContainsRune(`"'\$`+"`"+`!*?[]{}()<>|&;#~`, r)
		}) {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

// writeJSON prints v as kubectl's -o json does: indented by four spaces.
func writeJSON(w io.Writer, v any) error {
	data, err := json.MarshalIndent(v, "", "    ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(data, '\n'))
	return err
}
