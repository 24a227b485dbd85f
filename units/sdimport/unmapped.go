package sdimport

import "strings"

// Why each setting without a counterpart is not imported, by family, so
// that a warning tells the operator what tend does instead.

const (
	whyDeps      = "tend has no ordering or dependencies between units: every unit runs from the agent's start"
	whyCondition = "tend checks no conditions: the unit runs on every host it is placed on (choose them with [placement] node_selector)"
	whyReload    = "tend has no reload (tend exec runs a command beside the instance; tend rollout restart replaces it)"
	whyStop      = "tend runs no stop command: it sends stop_signal, then SIGKILL after stop_timeout"
	whyKill      = "tend stops a run with stop_signal, then SIGKILL to all of it after stop_timeout"
	whyRlimit    = "tend sets no resource limits (setrlimit): the instance has the agent's"
	whyOutput    = "the instance's output goes to tend's files (tend logs NAME), or with log = \"journal\" or \"both\" to the journal"
	whySandbox   = "tend does not sandbox: the instance sees the system as the agent does"
	whyDirectory = "tend does not make the directory: make it with the package, or in the command"
	whySched     = "tend does not set the process's scheduling, priority or OOM score"
	whyCgroup    = "tend sets only memory_max, cpu_max and pids_max of each run's cgroup"
	whyExit      = "tend judges exits as its restart policy does: 0 is success, anything else a failure"
	whyUser      = "tend runs the instance as user and group only"
	whyFDs       = "tend passes the instance no sockets or stored descriptors"
)

var unmappedWhy = map[string]string{
	"Unit.After": whyDeps, "Unit.Before": whyDeps, "Unit.Wants": whyDeps, "Unit.Requires": whyDeps,
	"Unit.Requisite": whyDeps, "Unit.BindsTo": whyDeps, "Unit.PartOf": whyDeps, "Unit.Upholds": whyDeps,
	"Unit.Conflicts": whyDeps, "Unit.OnFailure": whyDeps, "Unit.OnSuccess": whyDeps,
	"Unit.PropagatesReloadTo": whyDeps, "Unit.ReloadPropagatedFrom": whyDeps, "Unit.PropagatesStopTo": whyDeps,
	"Unit.StopPropagatedFrom": whyDeps, "Unit.JoinsNamespaceOf": whyDeps, "Unit.RequiresMountsFor": whyDeps,
	"Unit.WantsMountsFor": whyDeps, "Unit.DefaultDependencies": whyDeps, "Unit.StopWhenUnneeded": whyDeps,
	"Unit.RefuseManualStart": whyDeps, "Unit.RefuseManualStop": whyDeps, "Unit.AllowIsolate": whyDeps,
	"Unit.IgnoreOnIsolate": whyDeps, "Unit.OnFailureJobMode": whyDeps, "Unit.CollectMode": whyDeps,
	"Unit.StartLimitAction":               "tend holds restarts back while the brake is on; it takes no other action",
	"Unit.FailureAction":                  "tend takes no action on the host when an instance fails",
	"Unit.SuccessAction":                  "tend takes no action on the host when an instance succeeds",
	"Unit.JobTimeoutSec":                  whyDeps,
	"Unit.SourcePath":                     "where a generator made the unit from; nothing to import",
	"Service.ExecReload":                  whyReload,
	"Service.ReloadSignal":                whyReload,
	"Service.ExecStop":                    whyStop,
	"Service.ExecStopPost":                "tend runs no command after a run ends",
	"Service.ExecStartPost":               "tend runs no command after the main one starts",
	"Service.ExecCondition":               "tend runs no condition command: it starts the instance",
	"Service.PIDFile":                     "tend supervises the main process in the foreground and reads no PID file",
	"Service.GuessMainPID":                "tend supervises the main process in the foreground",
	"Service.BusName":                     "tend does not watch the bus",
	"Service.SendSIGKILL":                 whyKill,
	"Service.SendSIGHUP":                  whyKill,
	"Service.FinalKillSignal":             whyKill,
	"Service.RestartKillSignal":           whyKill,
	"Service.WatchdogSignal":              whyKill,
	"Service.TimeoutAbortSec":             whyKill,
	"Service.TimeoutStartSec":             "tend has no start timeout (a startup probe bounds the start)",
	"Service.TimeoutStartFailureMode":     "tend has no start timeout",
	"Service.TimeoutStopFailureMode":      whyKill,
	"Service.RestartMode":                 "tend restarts a run when it ends",
	"Service.RestartPreventExitStatus":    whyExit,
	"Service.RestartForceExitStatus":      whyExit,
	"Service.SuccessExitStatus":           whyExit,
	"Service.StartLimitAction":            "tend holds restarts back while the brake is on; it takes no other action",
	"Service.FailureAction":               "tend takes no action on the host when an instance fails",
	"Service.SuccessAction":               "tend takes no action on the host when an instance succeeds",
	"Service.PassEnvironment":             "the instance gets the agent's environment and the unit's env",
	"Service.UnsetEnvironment":            "the instance gets the agent's environment and the unit's env",
	"Service.DynamicUser":                 whyUser,
	"Service.SupplementaryGroups":         whyUser,
	"Service.PAMName":                     whyUser,
	"Service.Sockets":                     whyFDs,
	"Service.FileDescriptorStoreMax":      whyFDs,
	"Service.FileDescriptorStorePreserve": whyFDs,
	"Service.NonBlocking":                 whyFDs,
	"Service.OOMPolicy":                   "tend reports an OOM kill as OOMKilled and applies the restart policy",
	"Service.StandardInput":               whyOutput, "Service.StandardOutput": whyOutput, "Service.StandardError": whyOutput,
	"Service.SyslogIdentifier": whyOutput, "Service.SyslogFacility": whyOutput, "Service.SyslogLevel": whyOutput,
	"Service.SyslogLevelPrefix": whyOutput, "Service.LogLevelMax": whyOutput, "Service.LogExtraFields": whyOutput,
	"Service.LogNamespace": whyOutput, "Service.TTYPath": whyOutput, "Service.TTYReset": whyOutput,
	"Service.TTYVHangup": whyOutput, "Service.TTYVTDisallocate": whyOutput, "Service.UtmpIdentifier": whyOutput,
	"Service.UtmpMode":      whyOutput,
	"Service.IgnoreSIGPIPE": "the instance starts with SIGPIPE's default action, as IgnoreSIGPIPE=no gives",
	"Service.Nice":          whySched, "Service.OOMScoreAdjust": whySched, "Service.CPUSchedulingPolicy": whySched,
	"Service.CPUSchedulingPriority": whySched, "Service.CPUSchedulingResetOnFork": whySched,
	"Service.CPUAffinity": whySched, "Service.NUMAPolicy": whySched, "Service.NUMAMask": whySched,
	"Service.IOSchedulingClass": whySched, "Service.IOSchedulingPriority": whySched,
	"Service.UMask":          "tend does not set the umask: the instance has the agent's",
	"Service.TimerSlackNSec": whySched, "Service.Personality": whySched, "Service.CoredumpFilter": whySched,
	"Service.KeyringMode": whySandbox, "Service.RemoveIPC": whySandbox, "Service.NoNewPrivileges": whySandbox,
	"Service.CapabilityBoundingSet": whySandbox, "Service.AmbientCapabilities": whySandbox,
	"Service.SecureBits": whySandbox, "Service.LockPersonality": whySandbox, "Service.MemoryDenyWriteExecute": whySandbox,
	"Service.RootDirectory": whySandbox, "Service.RootImage": whySandbox, "Service.MountAPIVFS": whySandbox,
	"Service.MountFlags": whySandbox, "Service.TemporaryFileSystem": whySandbox, "Service.BindPaths": whySandbox,
	"Service.BindReadOnlyPaths": whySandbox, "Service.ReadWritePaths": whySandbox, "Service.ReadOnlyPaths": whySandbox,
	"Service.InaccessiblePaths": whySandbox, "Service.ExecPaths": whySandbox, "Service.NoExecPaths": whySandbox,
	"Service.ReadWriteDirectories": whySandbox, "Service.ReadOnlyDirectories": whySandbox,
	"Service.InaccessibleDirectories": whySandbox, "Service.DevicePolicy": whySandbox, "Service.DeviceAllow": whySandbox,
	"Service.IPAddressAllow": whySandbox, "Service.IPAddressDeny": whySandbox, "Service.SELinuxContext": whySandbox,
	"Service.AppArmorProfile": whySandbox, "Service.SmackProcessLabel": whySandbox, "Service.ProcSubset": whySandbox,
	"Service.NetworkNamespacePath": whySandbox, "Service.IPCNamespacePath": whySandbox,
	"Service.RuntimeDirectory": whyDirectory, "Service.StateDirectory": whyDirectory, "Service.CacheDirectory": whyDirectory,
	"Service.LogsDirectory": whyDirectory, "Service.ConfigurationDirectory": whyDirectory,
	"Service.RuntimeDirectoryMode": whyDirectory, "Service.StateDirectoryMode": whyDirectory,
	"Service.CacheDirectoryMode": whyDirectory, "Service.LogsDirectoryMode": whyDirectory,
	"Service.ConfigurationDirectoryMode": whyDirectory, "Service.RuntimeDirectoryPreserve": whyDirectory,
	"Service.Slice": whyCgroup, "Service.Delegate": whyCgroup, "Service.MemoryHigh": whyCgroup,
	"Service.MemoryLow": whyCgroup, "Service.MemoryMin": whyCgroup, "Service.MemorySwapMax": whyCgroup,
	"Service.MemoryZSwapMax": whyCgroup, "Service.CPUWeight": whyCgroup, "Service.StartupCPUWeight": whyCgroup,
	"Service.CPUShares": whyCgroup, "Service.StartupCPUShares": whyCgroup, "Service.AllowedCPUs": whyCgroup,
	"Service.AllowedMemoryNodes": whyCgroup, "Service.IOWeight": whyCgroup, "Service.StartupIOWeight": whyCgroup,
	"Service.IODeviceWeight": whyCgroup, "Service.IOReadBandwidthMax": whyCgroup, "Service.IOWriteBandwidthMax": whyCgroup,
	"Service.IOReadIOPSMax": whyCgroup, "Service.IOWriteIOPSMax": whyCgroup, "Service.BlockIOWeight": whyCgroup,
	"Service.CPUAccounting": whyCgroup, "Service.MemoryAccounting": whyCgroup, "Service.TasksAccounting": whyCgroup,
	"Service.IOAccounting": whyCgroup, "Service.BlockIOAccounting": whyCgroup, "Service.IPAccounting": whyCgroup,
	"Service.ManagedOOMSwap": whyCgroup, "Service.ManagedOOMMemoryPressure": whyCgroup, "Service.CPUQuotaPeriodSec": whyCgroup,
	"Install.Alias":           "tend units have one name",
	"Install.Also":            "tend imports one file at a time: import the other units too",
	"Install.DefaultInstance": "tend has no template units",
}

// unmapped says why the setting section.name is not imported.
func unmapped(section, name string) string {
	if why, ok := unmappedWhy[section+"."+name]; ok {
		return why
	}
	switch {
	case section == "Unit" && (strings.HasPrefix(name, "Condition") || strings.HasPrefix(name, "Assert")):
		return whyCondition
	case section == "Service" && strings.HasPrefix(name, "Limit"):
		return whyRlimit
	case section == "Service" && (strings.HasPrefix(name, "Protect") || strings.HasPrefix(name, "Private") ||
		strings.HasPrefix(name, "Restrict") || strings.HasPrefix(name, "SystemCall")):
		return whySandbox
	case section == "Service" && (strings.HasPrefix(name, "LogRateLimit") || strings.HasPrefix(name, "Standard")):
		return whyOutput
	}
	return "tend has no counterpart of this setting"
}
