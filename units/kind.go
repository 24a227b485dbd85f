package units

import (
	"fmt"
	"strings"
)

// Kind is what a unit does with its template: keep replicas running, run
// one instance per host, run to completion, or run to completion on a
// schedule. The zero Kind is invalid: every unit file names its kind.
type Kind int

// The unit kinds. Their text forms are "replicated", "per-host", "job" and
// "cron"; the Kubernetes names are accepted as aliases.
const (
	KindReplicated Kind = iota + 1 // ReplicaSet, ReplicationController
	KindPerHost                    // DaemonSet
	KindJob                        // Job
	KindCron                       // CronJob
)

var kindNames = map[string]Kind{
	"replicated":            KindReplicated,
	"replicaset":            KindReplicated,
	"replicationcontroller": KindReplicated,
	"per-host":              KindPerHost,
	"daemonset":             KindPerHost,
	"job":                   KindJob,
	"cron":                  KindCron,
	"cronjob":               KindCron,
}

// ParseKind parses a kind's name or its Kubernetes alias, ignoring case.
func ParseKind(s string) (Kind, error) {
	if k, ok := kindNames[strings.ToLower(s)]; ok {
		return k, nil
	}
	return 0, fmt.Errorf("%q is not a kind (want replicated, per-host, job or cron)", s)
}

// String returns the kind's name in unit files: "replicated", "per-host",
// "job" or "cron".
func (k Kind) String() string {
	switch k {
	case KindReplicated:
		return "replicated"
	case KindPerHost:
		return "per-host"
	case KindJob:
		return "job"
	case KindCron:
		return "cron"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// KubeName returns the name of the Kubernetes resource the kind stands for:
// "ReplicaSet", "DaemonSet", "Job" or "CronJob".
func (k Kind) KubeName() string {
	switch k {
	case KindReplicated:
		return "ReplicaSet"
	case KindPerHost:
		return "DaemonSet"
	case KindJob:
		return "Job"
	case KindCron:
		return "CronJob"
	}
	return k.String()
}

// RunsToCompletion reports whether the kind's instances are meant to exit:
// true for jobs and cron jobs, false for replicated and per-host units.
func (k Kind) RunsToCompletion() bool { return k == KindJob || k == KindCron }

// MarshalText implements encoding.TextMarshaler.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with ParseKind.
func (k *Kind) UnmarshalText(b []byte) error {
	v, err := ParseKind(string(b))
	if err != nil {
		return err
	}
	*k = v
	return nil
}
