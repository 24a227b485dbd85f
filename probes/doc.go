// Package probes checks whether a supervised process is alive and ready:
// HTTP, TCP and exec probers, the per-instance probe runner with
// Kubernetes semantics (startup, liveness, readiness; thresholds and
// timing), and the daemon-declared readiness protocols (systemd's
// NOTIFY_SOCKET with its watchdog, and s6's notification fd).
//
// An unhealthy target is a result, not an error: probers return a
// [Result] and a message worded as the kubelet words it, never an error.
//
// The package imports only the standard library. The supervisor adapts
// units.Probe to a [Probe] and supplies the [CommandRunner] that starts
// exec probes through its process reaper.
//
// # Integration recipe (supervisor)
//
// Adapting a unit's probe block (units.Probe) is field for field:
//
//	&probes.Probe{
//		Spec: probes.Spec{
//			InitialDelay:     time.Duration(up.InitialDelay),
//			Timeout:          time.Duration(up.Timeout),
//			Period:           time.Duration(up.Period),
//			SuccessThreshold: up.SuccessThreshold,
//			FailureThreshold: up.FailureThreshold,
//		},
//		Prober: &probes.HTTPGet{Scheme: h.Scheme, Host: h.Host, Port: h.Port, Path: h.Path, Headers: h.Headers},
//		// or &probes.TCPSocket{Host: t.Host, Port: t.Port}
//		// or &probes.Exec{Command: e.Command, Run: runner}
//	}
//
// notify, watchdog and notification_fd are not Probers: they are handled
// as below, outside the Set.
//
// For each run of an instance (a new process), right after it started:
//
//   - Build a [Set] with [NewSet] from the unit's probes (HTTPGet,
//     TCPSocket or Exec as the [Prober]), Report = a function that hands
//     the [Report] to the instance's owner goroutine without blocking,
//     Accuracy = the same small window for every Set (20ms: see
//     [SetConfig].Accuracy; it lets probes spread over the second share
//     the process's wake-ups), and call [Set.Start]. When the process
//     exits, or before it is stopped for any reason, call [Set.Stop]
//     (not from inside Report). A restarted instance gets a new Set:
//     thresholds start afresh.
//   - For every Report, record the event [Report.Event] returns (reason
//     "Unhealthy" or "ProbeWarning"; the events table folds repeats).
//   - [Report.Kill]: record `Killing: Container NAME failed liveness
//     probe, will be restarted` (startup for Kind Startup), stop the
//     instance (stop_signal to the group, SIGKILL after stop_timeout) and
//     let the restart policy and backoff decide the rest.
//   - Kind Readiness with Changed: set READY to Healthy (1/1 or 0/1) and
//     record the change. An instance with a startup probe is not ready
//     until its startup probe succeeded and then readiness succeeded; an
//     instance without a readiness probe is ready once started.
//   - notify = true: create a directory 0711 owned by the agent, call
//     [ListenNotify] on a path inside it, give the instance
//     NOTIFY_SOCKET=path, and drop each [Notify] whose
//     [Notify.FromProcessGroup] is false for the instance's process group.
//     READY=1 sets READY 1/1; STATUS= is shown in describe; MAINPID= names
//     the process to watch; WATCHDOG=1 feeds the [Watchdog];
//     WATCHDOG_USEC= calls [Watchdog.SetTimeout]; EXTEND_TIMEOUT_USEC=
//     calls [Watchdog.Extend]; WATCHDOG=trigger calls [Watchdog.Trigger].
//     Close the socket when the instance is gone.
//   - watchdog = "30s": [NewWatchdog] with the same Report function; its
//     single Report is a liveness Kill.
//   - notification_fd = N: make a pipe with os.Pipe, pass the write end as
//     fd N (ExtraFiles), close the agent's copy of the write end right
//     after the start, and [WatchNotificationFD] on the read end.
package probes
