package units

import (
	"encoding"
	"syscall"
	"testing"
	"time"
)

// textCase is one UnmarshalText input: the String it must give back, or
// the error it must fail with.
type textCase struct {
	in, want, err string
}

func testText[T interface{ String() string }](t *testing.T, cases []textCase, newT func() (encoding.TextUnmarshaler, func() T)) {
	t.Helper()
	for _, c := range cases {
		u, get := newT()
		err := u.UnmarshalText([]byte(c.in))
		if c.err != "" {
			if err == nil || err.Error() != c.err {
				t.Errorf("UnmarshalText(%q) error = %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("UnmarshalText(%q): %v", c.in, err)
			continue
		}
		if got := get().String(); got != c.want {
			t.Errorf("UnmarshalText(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestKindText(t *testing.T) {
	testText(t, []textCase{
		{in: "replicated", want: "replicated"},
		{in: "ReplicaSet", want: "replicated"},
		{in: "replicaset", want: "replicated"},
		{in: "ReplicationController", want: "replicated"},
		{in: "per-host", want: "per-host"},
		{in: "DaemonSet", want: "per-host"},
		{in: "Per-Host", want: "per-host"},
		{in: "job", want: "job"},
		{in: "Job", want: "job"},
		{in: "cron", want: "cron"},
		{in: "CronJob", want: "cron"},
		{in: "", err: `"" is not a kind (want replicated, per-host, job or cron)`},
		{in: "deployment", err: `"deployment" is not a kind (want replicated, per-host, job or cron)`},
		{in: "perhost", err: `"perhost" is not a kind (want replicated, per-host, job or cron)`},
	}, func() (encoding.TextUnmarshaler, func() Kind) {
		var k Kind
		return &k, func() Kind { return k }
	})
	kube := map[Kind]string{KindReplicated: "ReplicaSet", KindPerHost: "DaemonSet", KindJob: "Job", KindCron: "CronJob"}
	for k, want := range kube {
		if got := k.KubeName(); got != want {
			t.Errorf("%v.KubeName() = %q, want %q", k, got, want)
		}
		if got, err := ParseKind(want); err != nil || got != k {
			t.Errorf("ParseKind(%q) = %v, %v; want %v", want, got, err, k)
		}
	}
	if got := Kind(0).String(); got != "Kind(0)" {
		t.Errorf("Kind(0).String() = %q", got)
	}
	if KindReplicated.RunsToCompletion() || KindPerHost.RunsToCompletion() || !KindJob.RunsToCompletion() || !KindCron.RunsToCompletion() {
		t.Error("RunsToCompletion is wrong")
	}
}

func TestPolicyText(t *testing.T) {
	testText(t, []textCase{
		{in: "always", want: "always"},
		{in: "Always", want: "always"},
		{in: "on-failure", want: "on-failure"},
		{in: "OnFailure", want: "on-failure"},
		{in: "never", want: "never"},
		{in: "Never", want: "never"},
		{in: "sometimes", err: `"sometimes" is not a restart policy (want always, on-failure or never)`},
		{in: "on_failure", err: `"on_failure" is not a restart policy (want always, on-failure or never)`},
	}, func() (encoding.TextUnmarshaler, func() RestartPolicy) {
		var v RestartPolicy
		return &v, func() RestartPolicy { return v }
	})
	testText(t, []textCase{
		{in: "allow", want: "allow"},
		{in: "Allow", want: "allow"},
		{in: "Forbid", want: "forbid"},
		{in: "replace", want: "replace"},
		{in: "Replace", want: "replace"},
		{in: "deny", err: `"deny" is not a concurrency policy (want allow, forbid or replace)`},
	}, func() (encoding.TextUnmarshaler, func() ConcurrencyPolicy) {
		var v ConcurrencyPolicy
		return &v, func() ConcurrencyPolicy { return v }
	})
	testText(t, []textCase{
		{in: "latest", want: "latest"},
		{in: "skip", want: "skip"},
		{in: "ALL", want: "all"},
		{in: "none", err: `"none" is not a catch-up policy (want latest, skip or all)`},
	}, func() (encoding.TextUnmarshaler, func() CatchUp) {
		var v CatchUp
		return &v, func() CatchUp { return v }
	})
	testText(t, []textCase{
		{in: "In", want: "In"},
		{in: "in", want: "In"},
		{in: "NotIn", want: "NotIn"},
		{in: "notin", want: "NotIn"},
		{in: "Exists", want: "Exists"},
		{in: "DoesNotExist", want: "DoesNotExist"},
		{in: "doesnotexist", want: "DoesNotExist"},
		{in: "Equals", err: `"Equals" is not an operator (want In, NotIn, Exists or DoesNotExist)`},
	}, func() (encoding.TextUnmarshaler, func() Operator) {
		var v Operator
		return &v, func() Operator { return v }
	})
	// The zero values are the documented defaults.
	if RestartPolicy(0) != RestartAlways || ConcurrencyPolicy(0) != ConcurrencyAllow || CatchUp(0) != CatchUpLatest {
		t.Error("zero values are not the defaults")
	}
}

func TestDurationText(t *testing.T) {
	testText(t, []textCase{
		{in: "0", want: "0s"},
		{in: "0s", want: "0s"},
		{in: "100ms", want: "100ms"},
		{in: "1.5s", want: "1.5s"},
		{in: "10s", want: "10s"},
		{in: "90s", want: "1m30s"},
		{in: "5m", want: "5m"},
		{in: "6m", want: "6m"},
		{in: "1h", want: "1h"},
		{in: "1h30m", want: "1h30m"},
		{in: "1h0m5s", want: "1h0m5s"},
		{in: "36h", want: "36h"},
		{in: "10", err: `"10" is not a duration (want a number with a unit, like "100ms", "10s" or "1h30m")`},
		{in: "", err: `"" is not a duration (want a number with a unit, like "100ms", "10s" or "1h30m")`},
		{in: "ten seconds", err: `"ten seconds" is not a duration (want a number with a unit, like "100ms", "10s" or "1h30m")`},
		{in: "-1s", err: `"-1s" is negative (want a duration of 0s or more)`},
	}, func() (encoding.TextUnmarshaler, func() Duration) {
		var v Duration
		return &v, func() Duration { return v }
	})
	if got := Duration(1500 * time.Millisecond).D(); got != 1500*time.Millisecond {
		t.Errorf("D() = %v", got)
	}
}

func TestSignalText(t *testing.T) {
	testText(t, []textCase{
		{in: "SIGTERM", want: "SIGTERM"},
		{in: "TERM", want: "SIGTERM"},
		{in: "sigterm", want: "SIGTERM"},
		{in: "term", want: "SIGTERM"},
		{in: "15", want: "SIGTERM"},
		{in: "9", want: "SIGKILL"},
		{in: "SIGINT", want: "SIGINT"},
		{in: "HUP", want: "SIGHUP"},
		{in: "SIGUSR1", want: "SIGUSR1"},
		{in: "SIGQUIT", want: "SIGQUIT"},
		{in: "37", want: "SIG37"},
		{in: "SIG37", want: "SIG37"},
		{in: "SIGFOO", err: `"SIGFOO" is not a signal (want a name like SIGTERM or a number from 1 to 64)`},
		{in: "0", err: `"0" is not a signal (want a name like SIGTERM or a number from 1 to 64)`},
		{in: "65", err: `"65" is not a signal (want a name like SIGTERM or a number from 1 to 64)`},
		{in: "", err: `"" is not a signal (want a name like SIGTERM or a number from 1 to 64)`},
	}, func() (encoding.TextUnmarshaler, func() Signal) {
		var v Signal
		return &v, func() Signal { return v }
	})
	for s, want := range map[syscall.Signal]string{
		syscall.SIGKILL: "SIGKILL",
		syscall.SIGTERM: "SIGTERM",
		syscall.SIGSEGV: "SIGSEGV",
		37:              "SIG37",
	} {
		if got := SignalName(s); got != want {
			t.Errorf("SignalName(%d) = %q, want %q", int(s), got, want)
		}
	}
	if Signal(syscall.SIGTERM).S() != syscall.SIGTERM || DefaultStopSignal != Signal(syscall.SIGTERM) {
		t.Error("SIGTERM mismatch")
	}
}

func TestMarshalText(t *testing.T) {
	for _, c := range []struct {
		v    encoding.TextMarshaler
		want string
	}{
		{KindPerHost, "per-host"},
		{RestartOnFailure, "on-failure"},
		{ConcurrencyForbid, "forbid"},
		{CatchUpAll, "all"},
		{OpDoesNotExist, "DoesNotExist"},
		{Duration(5 * time.Minute), "5m"},
		{Signal(syscall.SIGKILL), "SIGKILL"},
		{Selector{MatchLabels: Labels{"app": "kubia"}}, "app=kubia"},
	} {
		b, err := c.v.MarshalText()
		if err != nil || string(b) != c.want {
			t.Errorf("%#v.MarshalText() = %q, %v; want %q", c.v, b, err, c.want)
		}
	}
}
