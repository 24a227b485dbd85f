package units

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/robfig/cron/v3"
)

// Defaults, as Kubernetes has them where it has them.
const (
	DefaultReplicas          = 1
	DefaultStopSignal        = Signal(syscall.SIGTERM)
	DefaultStopTimeout       = Duration(10 * time.Second)
	DefaultRestartDelay      = Duration(100 * time.Millisecond)
	DefaultMaxRestartDelay   = Duration(5 * time.Minute)
	DefaultProbeTimeout      = Duration(time.Second)
	DefaultProbePeriod       = Duration(10 * time.Second)
	DefaultSuccessThreshold  = 1
	DefaultFailureThreshold  = 3
	DefaultCompletions       = 1
	DefaultParallelism       = 1
	DefaultBackoffLimit      = 6
	DefaultBackoffDelay      = Duration(10 * time.Second)
	DefaultMaxBackoffDelay   = Duration(6 * time.Minute)
	DefaultSuccessfulHistory = 3
	DefaultFailedHistory     = 1
)

// The crash-loop brake's defaults, systemd's DefaultStartLimitBurst and
// DefaultStartLimitIntervalSec: the fifth failed run within ten seconds
// engages it.
const (
	DefaultStartLimitBurst    = 5
	DefaultStartLimitInterval = Duration(10 * time.Second)
)

// cronParser is the schedule syntax: five fields, or a descriptor such as
// @hourly or @every 30s.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseSchedule parses a cron unit's schedule, in the syntax unit files
// use, for the location given (nil for time.Local, the host's time zone).
// The schedule's Next reads it in that location whatever the location of
// the time it is given. Parse has already checked the schedules of the
// units it returns, and parsed them into Unit.Cron.
func ParseSchedule(spec string, loc *time.Location) (cron.Schedule, error) {
	s, err := parseSchedule(spec)
	if err != nil {
		return nil, err
	}
	return inLocation(s, loc), nil
}

// inLocation sets the location a freshly parsed schedule's fields are
// read in (nil for time.Local). A constant delay (@every) has none.
func inLocation(s cron.Schedule, loc *time.Location) cron.Schedule {
	spec, ok := s.(*cron.SpecSchedule)
	if !ok {
		return s
	}
	if loc == nil || loc == time.Local {
		// robfig/cron reads a schedule whose Location is time.Local in
		// the location of the time given to Next (a UTC time: in UTC),
		// so give it the host's zone under another pointer.
		_ = time.Local.String() // sets time.Local up, as its first use does
		host := *time.Local
		loc = &host
	}
	spec.Location = loc
	return s
}

func parseSchedule(spec string) (s cron.Schedule, err error) {
	t := strings.TrimSpace(spec)
	if strings.HasPrefix(t, "TZ=") || strings.HasPrefix(t, "CRON_TZ=") {
		return nil, fmt.Errorf("%q: a time zone in the schedule is not allowed (use time_zone)", spec)
	}
	defer func() {
		// robfig/cron has panicked on odd input before; a unit file must
		// never take the agent down.
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("%q is not a cron schedule", spec)
		}
	}()
	s, err = cronParser.Parse(t)
	if err != nil {
		return nil, fmt.Errorf("%q is not a cron schedule (want five fields like \"0,15,30,45 * * * *\", or @hourly, @daily, @every 30s...): %v", spec, err)
	}
	return s, nil
}

// parser collects the problems of one file.
type parser struct {
	file      string
	lim       Limits
	src       string     // the file's contents
	pos       *positions // where its keys are, once a problem needs it
	errs      ErrorList
	tableErrs ErrorList       // the tables of the wrong type decode found
	undecoded []toml.Key      // the keys decode found the schema does not have
	unknown   map[string]bool // the unknown keys reported, as toml.Key.String has them
}

// positions returns where the file's keys are, scanning it the first
// time: only a file with problems needs it.
func (p *parser) positions() *positions {
	if p.pos == nil {
		p.pos = scanPositions(p.src)
	}
	return p.pos
}

// line returns the line key is on; see positions.line.
func (p *parser) line(key string) int { return p.positions().line(key) }

// errorf reports a problem with key, at the line the key is on.
func (p *parser) errorf(key, format string, args ...any) {
	p.errs = append(p.errs, &Error{File: p.file, Line: p.line(key), Key: key, Msg: fmt.Sprintf(format, args...)})
}

// sub returns the key for name inside the table at key.
func sub(key, name string) string { return key + "." + toml.Key{name}.String() }

// val returns o's value; def when the key is absent, or when its value
// has the wrong type, which it reports.
func val[T any](p *parser, key string, o opt[T], def T) T {
	if !o.set {
		return def
	}
	if o.err != nil {
		p.errorf(key, "%v", o.err)
		return def
	}
	return o.v
}

// ok reports whether o is present and of the right type.
func (o opt[T]) ok() bool { return o.set && o.err == nil }

func (p *parser) atLeast(key string, o opt[int], min int) {
	if o.ok() && o.v < min {
		p.errorf(key, "%d is less than %d", o.v, min)
	}
}

// instances checks a count of instances against the agent's limit.
func (p *parser) instances(key string, o opt[int]) {
	if o.ok() && p.lim.InstancesPerUnit > 0 && o.v > p.lim.InstancesPerUnit {
		p.errorf(key, "%s", p.lim.perUnitError(o.v))
	}
}

// notBelow checks that the maximum of a backoff is not below its first
// delay, pointing at whichever of the two the file sets.
func (p *parser) notBelow(maxKey string, max opt[Duration], hi Duration, baseKey string, base opt[Duration], lo Duration) {
	if !max.ok() && !base.ok() {
		return
	}
	if max.ok() {
		hi = max.v
	}
	if base.ok() {
		lo = base.v
	}
	if hi >= lo {
		return
	}
	short := func(k string) string { return k[strings.LastIndexByte(k, '.')+1:] }
	if max.ok() {
		p.errorf(maxKey, "%s is less than %s (%s)", hi, short(baseKey), lo)
	} else {
		p.errorf(baseKey, "%s is more than %s (%s, the default)", lo, short(maxKey), hi)
	}
}

func (p *parser) positive(key string, o opt[Duration], hint string) {
	if o.ok() && o.v <= 0 {
		p.errorf(key, "must be more than 0s%s", hint)
	}
}

// kindList lists kinds for messages: "job or cron".
func kindList(ks ...Kind) string {
	s := make([]string, len(ks))
	for i, k := range ks {
		s[i] = k.String()
	}
	if len(s) == 1 {
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// only reports key when it is set on a unit whose kind is not among ks.
// With no valid kind there is nothing to check against.
func (p *parser) only(key string, set bool, kind Kind, ks ...Kind) {
	if set && kind != 0 && !slices.Contains(ks, kind) {
		p.errorf(key, "only for kind %s, not %s", kindList(ks...), kind)
	}
}

// unit fills in u from raw, reporting every problem.
func (p *parser) unit(u *Unit, raw *rawUnit) {
	if !raw.Kind.set {
		p.errorf("kind", "required (want replicated, per-host, job or cron)")
	}
	u.Kind = val(p, "kind", raw.Kind, 0)
	kind := u.Kind

	u.Labels = p.labels("labels", raw.Labels)
	if raw.Template == nil {
		p.errorf("template", "required: a [template] table with at least command")
		raw.Template = &rawTemplate{}
	} else if !raw.Template.Command.set {
		p.errorf("template.command", "required (want the program and its arguments, like [\"kubia\", \"--port\", \"8080\"])")
	}
	u.Template = p.template("template", raw.Template, kind)
	if !raw.Labels.set {
		// The template's map itself: a Unit is never written once
		// parsed, and a copy per unit is 300 bytes a unit, twice with
		// the selector's (a tenth of an agent's heap at 1000 units).
		u.Labels = u.Template.Labels
	}

	// replicated
	p.only("replicas", raw.Replicas.set, kind, KindReplicated)
	if kind == KindReplicated || kind == 0 {
		p.atLeast("replicas", raw.Replicas, 0)
		u.Replicas = val(p, "replicas", raw.Replicas, DefaultReplicas)
		p.instances("replicas", raw.Replicas)
	}
	u.Exclusive = p.exclusive(raw, kind)
	u.Stopped = val(p, "stopped", raw.Stopped, false)
	p.only("restarted_at", raw.Restarted.set, kind, KindReplicated, KindPerHost)
	if raw.Restarted.ok() {
		if _, err := time.Parse(time.RFC3339Nano, raw.Restarted.v); err != nil {
			p.errorf("restarted_at", "%q is not an RFC 3339 time (tend rollout restart writes it, e.g. \"2026-12-03T12:00:00Z\")", raw.Restarted.v)
		}
	}
	u.RestartedAt = val(p, "restarted_at", raw.Restarted, "")

	// replicated and per-host
	p.only("selector", raw.Selector != nil, kind, KindReplicated, KindPerHost)
	if kind == KindReplicated || kind == KindPerHost || kind == 0 {
		u.Selector = p.selector(raw.Selector, u.Template.Labels, raw.Template.Labels.err != nil, kind)
	}

	if raw.Placement != nil {
		u.Placement.NodeSelector = p.labels("placement.node_selector", raw.Placement.NodeSelector)
	}

	p.job(u, raw, kind)
	p.cron(u, raw, kind)
}

// exclusive checks exclusive = true against the kind and the replicas.
// exclusive = false says what every unit is without it, and is allowed
// on every kind.
func (p *parser) exclusive(raw *rawUnit, kind Kind) bool {
	if !val(p, "exclusive", raw.Exclusive, false) {
		return false
	}
	switch kind {
	case 0, KindReplicated:
	case KindPerHost:
		p.errorf("exclusive", "not for kind per-host, which runs an instance on every matching host (for one instance in the fleet, use kind replicated with replicas = 1)")
		return false
	default:
		p.errorf("exclusive", "only for kind replicated, not %s", kind)
		return false
	}
	if raw.Replicas.ok() && raw.Replicas.v > 1 {
		p.errorf("replicas", "%d with exclusive = true: an exclusive unit runs at most one instance in the fleet (want 0 or 1)", raw.Replicas.v)
	}
	return true
}

// labels validates a table of labels.
func (p *parser) labels(key string, o opt[map[string]string]) Labels {
	m := val(p, key, o, nil)
	if m == nil {
		return nil
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if err := ValidateLabelKey(k); err != nil {
			p.errorf(sub(key, k), "%v", err)
		} else if err := ValidateLabelValue(m[k]); err != nil {
			p.errorf(sub(key, k), "%v", err)
		}
	}
	return Labels(m)
}

func (p *parser) template(key string, r *rawTemplate, kind Kind) Template {
	t := Template{
		Labels:          p.labels(key+".labels", r.Labels),
		Command:         val(p, key+".command", r.Command, nil),
		Env:             val(p, key+".env", r.Env, nil),
		WorkingDir:      val(p, key+".working_dir", r.WorkingDir, ""),
		User:            val(p, key+".user", r.User, ""),
		Group:           val(p, key+".group", r.Group, ""),
		Log:             val(p, key+".log", r.Log, LogFile),
		StopSignal:      val(p, key+".stop_signal", r.StopSignal, DefaultStopSignal),
		StopTimeout:     val(p, key+".stop_timeout", r.StopTimeout, DefaultStopTimeout),
		RestartDelay:    val(p, key+".restart_delay", r.RestartDelay, DefaultRestartDelay),
		MaxRestartDelay: val(p, key+".max_restart_delay", r.MaxRestartDelay, DefaultMaxRestartDelay),

		StartLimitBurst:    val(p, key+".start_limit_burst", r.StartLimitBurst, DefaultStartLimitBurst),
		StartLimitInterval: val(p, key+".start_limit_interval", r.StartLimitInterval, DefaultStartLimitInterval),

		Resources: Resources{
			MemoryMax: val(p, key+".memory_max", r.MemoryMax, 0),
			CPUMax:    val(p, key+".cpu_max", r.CPUMax, 0),
			PidsMax:   int(val(p, key+".pids_max", r.PidsMax, 0)),
		},
	}

	p.argv(key+".command", r.Command)
	for _, k := range slices.Sorted(maps.Keys(t.Env)) {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			p.errorf(sub(key+".env", k), "%q is not an environment variable name", k)
		} else if strings.ContainsRune(t.Env[k], 0) {
			p.errorf(sub(key+".env", k), "value must not contain a NUL byte")
		}
	}
	if r.WorkingDir.ok() && !filepath.IsAbs(t.WorkingDir) {
		p.errorf(key+".working_dir", "%q is not an absolute path", t.WorkingDir)
	}
	if r.User.ok() && t.User == "" {
		p.errorf(key+".user", "must not be empty (leave it out to run as the agent's user)")
	}
	if r.Group.ok() && t.Group == "" {
		p.errorf(key+".group", "must not be empty (leave it out for the user's group)")
	}

	t.Restart = RestartAlways
	if kind.RunsToCompletion() {
		t.Restart = RestartOnFailure
	}
	if r.Restart.ok() && r.Restart.v == RestartAlways && kind.RunsToCompletion() {
		p.errorf(key+".restart", "%q is not allowed for kind %s (want on-failure or never)", "always", kind)
	} else {
		t.Restart = val(p, key+".restart", r.Restart, t.Restart)
	}

	// restart_delay = "0s" is allowed: restart at once, as runit and s6
	// cannot (they throttle to a second).
	p.notBelow(key+".max_restart_delay", r.MaxRestartDelay, DefaultMaxRestartDelay, key+".restart_delay", r.RestartDelay, DefaultRestartDelay)
	// start_limit_interval = "0s" turns the crash-loop brake off, as
	// systemd's StartLimitIntervalSec=0 does.
	p.atLeast(key+".start_limit_burst", r.StartLimitBurst, 1)

	t.Liveness = p.probe(key+".liveness", "liveness", r.Liveness)
	t.Readiness = p.probe(key+".readiness", "readiness", r.Readiness)
	t.Startup = p.probe(key+".startup", "startup", r.Startup)
	return t
}

// argv checks a command that is present and an array of strings.
func (p *parser) argv(key string, o opt[[]string]) {
	if !o.ok() {
		return
	}
	if len(o.v) == 0 {
		p.errorf(key, "must not be empty (want the program and its arguments)")
		return
	}
	if o.v[0] == "" {
		p.errorf(key+"[0]", "the program must not be empty")
	}
	for i, a := range o.v {
		if strings.ContainsRune(a, 0) {
			p.errorf(fmt.Sprintf("%s[%d]", key, i), "must not contain a NUL byte")
		}
	}
}

// probeMechanisms lists, for each kind of probe, the mechanisms it may use.
var probeMechanisms = map[string]string{
	"liveness":  "http_get, tcp_socket, exec or watchdog",
	"readiness": "http_get, tcp_socket, exec, notify or notification_fd",
	"startup":   "http_get, tcp_socket or exec",
}

func (p *parser) probe(key, which string, r *rawProbe) *Probe {
	if r == nil {
		return nil
	}
	pr := &Probe{
		InitialDelay:     val(p, key+".initial_delay", r.InitialDelay, 0),
		Timeout:          val(p, key+".timeout", r.Timeout, DefaultProbeTimeout),
		Period:           val(p, key+".period", r.Period, DefaultProbePeriod),
		SuccessThreshold: val(p, key+".success_threshold", r.SuccessThreshold, DefaultSuccessThreshold),
		FailureThreshold: val(p, key+".failure_threshold", r.FailureThreshold, DefaultFailureThreshold),
	}
	var mechs []string
	if r.HTTPGet != nil {
		mechs = append(mechs, "http_get")
		pr.HTTPGet = p.httpGet(key+".http_get", r.HTTPGet)
	}
	if r.TCPSocket != nil {
		mechs = append(mechs, "tcp_socket")
		pr.TCPSocket = &TCPSocketAction{
			Port: p.port(key+".tcp_socket.port", r.TCPSocket.Port),
			Host: val(p, key+".tcp_socket.host", r.TCPSocket.Host, ""),
		}
	}
	if r.Exec != nil {
		mechs = append(mechs, "exec")
		pr.Exec = &ExecAction{Command: val(p, key+".exec.command", r.Exec.Command, nil)}
		if !r.Exec.Command.set {
			p.errorf(key+".exec.command", "required (want the program and its arguments)")
		}
		p.argv(key+".exec.command", r.Exec.Command)
	}
	if val(p, key+".notify", r.Notify, false) {
		mechs = append(mechs, "notify")
		pr.Notify = true
		if which != "readiness" {
			p.errorf(key+".notify", "only for readiness probes")
		}
	}
	if r.Watchdog.set {
		mechs = append(mechs, "watchdog")
		pr.Watchdog = val(p, key+".watchdog", r.Watchdog, 0)
		if which != "liveness" {
			p.errorf(key+".watchdog", "only for liveness probes")
		} else {
			p.positive(key+".watchdog", r.Watchdog, "")
		}
	}
	if r.NotificationFD.set {
		mechs = append(mechs, "notification_fd")
		pr.NotificationFD = val(p, key+".notification_fd", r.NotificationFD, 0)
		if which != "readiness" {
			p.errorf(key+".notification_fd", "only for readiness probes")
		} else if r.NotificationFD.ok() && pr.NotificationFD < 3 {
			p.errorf(key+".notification_fd", "%d is less than 3 (0, 1 and 2 are stdin, stdout and stderr)", pr.NotificationFD)
		}
	}
	switch len(mechs) {
	case 0:
		p.errorf(key, "no probe mechanism (want one of %s)", probeMechanisms[which])
	case 1:
	default:
		p.errorf(key, "%s are exclusive (want exactly one of %s)", strings.Join(mechs, " and "), probeMechanisms[which])
	}

	p.positive(key+".timeout", r.Timeout, "")
	p.positive(key+".period", r.Period, "")
	p.atLeast(key+".success_threshold", r.SuccessThreshold, 1)
	p.atLeast(key+".failure_threshold", r.FailureThreshold, 1)
	if which != "readiness" && r.SuccessThreshold.ok() && pr.SuccessThreshold != 1 {
		p.errorf(key+".success_threshold", "must be 1 for %s probes", which)
	}
	return pr
}

func (p *parser) httpGet(key string, r *rawHTTPGet) *HTTPGetAction {
	h := &HTTPGetAction{
		Path:    val(p, key+".path", r.Path, "/"),
		Port:    p.port(key+".port", r.Port),
		Host:    val(p, key+".host", r.Host, ""),
		Scheme:  strings.ToLower(val(p, key+".scheme", r.Scheme, "http")),
		Headers: val(p, key+".headers", r.Headers, nil),
	}
	if r.Path.ok() && !strings.HasPrefix(h.Path, "/") {
		p.errorf(key+".path", "%q does not start with \"/\"", h.Path)
	}
	if h.Scheme != "http" && h.Scheme != "https" {
		p.errorf(key+".scheme", "%q is not a scheme (want http or https)", r.Scheme.v)
	}
	for _, name := range slices.Sorted(maps.Keys(h.Headers)) {
		if name == "" || strings.ContainsAny(name, " \t\r\n:()<>@,;\\\"/[]?={}") {
			p.errorf(sub(key+".headers", name), "%q is not a header name", name)
		} else if strings.ContainsAny(h.Headers[name], "\r\n\x00") {
			p.errorf(sub(key+".headers", name), "value must not contain CR, LF or NUL")
		}
	}
	return h
}

func (p *parser) port(key string, o opt[int]) int {
	if !o.set {
		p.errorf(key, "required (want a port number from 1 to 65535)")
	}
	n := val(p, key, o, 0)
	if o.ok() && (n < 1 || n > 65535) {
		p.errorf(key, "%d is not a port (want 1 to 65535)", n)
	}
	return n
}

// selector defaults and checks the selector of a replicated or per-host
// unit (kind 0 when the kind is unknown).
func (p *parser) selector(r *rawSelector, tmpl Labels, tmplBad bool, kind Kind) Selector {
	if r == nil {
		if len(tmpl) == 0 && kind != 0 && !tmplBad {
			p.errorf("template.labels", "required for kind %s without a [selector]: the selector defaults to them", kind)
		}
		return Selector{MatchLabels: tmpl} // shared, as the unit's labels are
	}
	var s Selector
	before := len(p.errs)
	s.MatchLabels = p.labels("selector.match_labels", r.MatchLabels)
	for i, rr := range r.MatchExpressions {
		key := fmt.Sprintf("selector.match_expressions[%d]", i)
		req := Requirement{
			Key:      val(p, key+".key", rr.Key, ""),
			Operator: val(p, key+".operator", rr.Operator, 0),
			Values:   val(p, key+".values", rr.Values, nil),
		}
		switch {
		case !rr.Key.set:
			p.errorf(key+".key", "required")
		case rr.Key.err == nil:
			if err := ValidateLabelKey(req.Key); err != nil {
				p.errorf(key+".key", "%v", err)
			}
		}
		if !rr.Operator.set {
			p.errorf(key+".operator", "required (want In, NotIn, Exists or DoesNotExist)")
		}
		switch req.Operator {
		case OpIn, OpNotIn:
			if rr.Values.err == nil && len(req.Values) == 0 {
				p.errorf(key+".values", "required and non-empty for operator %s", req.Operator)
			}
		case OpExists, OpDoesNotExist:
			if rr.Values.set {
				p.errorf(key+".values", "must be left out for operator %s", req.Operator)
			}
		}
		for _, v := range req.Values {
			if err := ValidateLabelValue(v); err != nil {
				p.errorf(key+".values", "%v", err)
			}
		}
		s.MatchExpressions = append(s.MatchExpressions, req)
	}
	switch {
	case len(p.errs) > before:
		// A broken selector cannot be compared with the template's labels.
	case s.Empty():
		p.errorf("selector", "empty: it would match every instance (want match_labels or match_expressions, or leave [selector] out to use the template's labels)")
	case !tmplBad && !s.Matches(tmpl):
		p.errorf("selector", "selector does not match template labels (%s does not select %s)", quoteOrNone(s.String()), quoteOrNone(tmpl.String()))
	}
	return s
}

func quoteOrNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return fmt.Sprintf("%q", s)
}

// job checks the keys of jobs, which cron units carry for their jobs too.
func (p *parser) job(u *Unit, r *rawUnit, kind Kind) {
	jobKeys := []struct {
		key string
		set bool
	}{
		{"completions", r.Completions.set},
		{"parallelism", r.Parallelism.set},
		{"backoff_limit", r.BackoffLimit.set},
		{"active_deadline", r.ActiveDeadline.set},
		{"ttl_after_finished", r.TTLAfterFinished.set},
		{"backoff_delay", r.BackoffDelay.set},
		{"max_backoff_delay", r.MaxBackoffDelay.set},
	}
	for _, k := range jobKeys {
		p.only(k.key, k.set, kind, KindJob, KindCron)
	}
	if !kind.RunsToCompletion() && kind != 0 {
		return
	}
	p.atLeast("completions", r.Completions, 1)
	p.atLeast("parallelism", r.Parallelism, 0)
	p.atLeast("backoff_limit", r.BackoffLimit, 0)
	p.instances("completions", r.Completions)
	p.instances("parallelism", r.Parallelism)
	p.positive("active_deadline", r.ActiveDeadline, " (leave it out for no deadline)")
	p.positive("ttl_after_finished", r.TTLAfterFinished, " (leave it out to keep finished jobs)")
	p.positive("backoff_delay", r.BackoffDelay, "")
	p.notBelow("max_backoff_delay", r.MaxBackoffDelay, DefaultMaxBackoffDelay, "backoff_delay", r.BackoffDelay, DefaultBackoffDelay)
	u.Completions = val(p, "completions", r.Completions, DefaultCompletions)
	u.Parallelism = val(p, "parallelism", r.Parallelism, DefaultParallelism)
	u.BackoffLimit = val(p, "backoff_limit", r.BackoffLimit, DefaultBackoffLimit)
	u.ActiveDeadline = val(p, "active_deadline", r.ActiveDeadline, 0)
	u.TTLAfterFinished = val(p, "ttl_after_finished", r.TTLAfterFinished, 0)
	u.BackoffDelay = val(p, "backoff_delay", r.BackoffDelay, DefaultBackoffDelay)
	u.MaxBackoffDelay = val(p, "max_backoff_delay", r.MaxBackoffDelay, DefaultMaxBackoffDelay)
}

func (p *parser) cron(u *Unit, r *rawUnit, kind Kind) {
	cronKeys := []struct {
		key string
		set bool
	}{
		{"schedule", r.Schedule.set},
		{"time_zone", r.TimeZone.set},
		{"concurrency_policy", r.ConcurrencyPolicy.set},
		{"starting_deadline", r.StartingDeadline.set},
		{"successful_history", r.SuccessfulHistory.set},
		{"failed_history", r.FailedHistory.set},
		{"suspend", r.Suspend.set},
		{"catch_up", r.CatchUp.set},
	}
	for _, k := range cronKeys {
		p.only(k.key, k.set, kind, KindCron)
	}
	if kind != KindCron && kind != 0 {
		return
	}
	if kind == KindCron && !r.Schedule.set {
		p.errorf("schedule", "required for kind cron (want a cron schedule like \"0,15,30,45 * * * *\" or \"@hourly\")")
	}
	var sched cron.Schedule
	if r.Schedule.ok() {
		var err error
		if sched, err = parseSchedule(r.Schedule.v); err != nil {
			p.errorf("schedule", "%v", err)
		}
	}
	loc := time.Local
	if r.TimeZone.ok() {
		if r.TimeZone.v == "" {
			p.errorf("time_zone", "must not be empty (leave it out for the host's time zone)")
		} else if l, err := time.LoadLocation(r.TimeZone.v); err != nil {
			p.errorf("time_zone", "%q is not a time zone (want an IANA name like \"Asia/Seoul\" or \"UTC\")", r.TimeZone.v)
		} else {
			loc = l
		}
	}
	if kind == KindCron && sched != nil {
		u.Location = loc
		u.Cron = inLocation(sched, loc)
	}
	p.positive("starting_deadline", r.StartingDeadline, " (leave it out for no deadline)")
	p.atLeast("successful_history", r.SuccessfulHistory, 0)
	p.atLeast("failed_history", r.FailedHistory, 0)
	u.Schedule = val(p, "schedule", r.Schedule, "")
	u.TimeZone = val(p, "time_zone", r.TimeZone, "")
	u.ConcurrencyPolicy = val(p, "concurrency_policy", r.ConcurrencyPolicy, ConcurrencyAllow)
	u.StartingDeadline = val(p, "starting_deadline", r.StartingDeadline, 0)
	u.SuccessfulHistory = val(p, "successful_history", r.SuccessfulHistory, DefaultSuccessfulHistory)
	u.FailedHistory = val(p, "failed_history", r.FailedHistory, DefaultFailedHistory)
	u.Suspend = val(p, "suspend", r.Suspend, false)
	u.CatchUp = val(p, "catch_up", r.CatchUp, CatchUpLatest)
}
