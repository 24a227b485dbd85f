// Package mock provides a fake supervisor.Backend for tests.
package mock

import (
	"context"
	"io"

	"github.com/tendhq/tend/supervisor"
	"github.com/tendhq/tend/units"
)

// Backend is a supervisor.Backend whose every method calls the function
// field named after it with Fn appended: Instances calls InstancesFn. A
// test sets only the functions it expects to be called; calling a method
// whose field is nil panics with a message naming the method (behind an
// http.Server, the server logs the panic and the request fails).
//
// Set the fields before the Backend is first used, and do not change them
// while it is in use: the methods read them without locking. The methods
// may be called from many goroutines at once (the API serves each request
// on its own), so the functions must be safe for concurrent use.
type Backend struct {
	InstancesFn      func(sel units.Selector) []supervisor.Instance
	InstanceFn       func(name string) (supervisor.Instance, error)
	DeleteInstanceFn func(name string) error
	LabelInstanceFn  func(name string, change supervisor.LabelChange) (supervisor.Instance, error)
	LogsFn           func(ctx context.Context, name string, opts supervisor.LogOptions) (io.ReadCloser, error)

	UnitsFn          func(kind units.Kind) []supervisor.Unit
	UnitFn           func(name string) (supervisor.Unit, error)
	ApplyUnitFn      func(filename string, data []byte) (supervisor.ApplyResult, error)
	CheckUnitFn      func(filename string, data []byte) (supervisor.ApplyResult, error)
	DeleteUnitFn     func(name string, orphan bool) error
	ScaleUnitFn      func(name string, replicas int) (supervisor.Unit, error)
	StopUnitFn       func(name string, stop bool) (supervisor.ApplyResult, error)
	DeletedUnitFn    func(name string) (supervisor.DeletedUnit, error)
	RolloutRestartFn func(name string) (supervisor.ApplyResult, error)
	// RestartInstanceFn: tend restart.
	RestartInstanceFn func(name string) (supervisor.Instance, error)
	// ReleaseFenceFn: tend fence release.
	ReleaseFenceFn func(name string) (supervisor.FenceReleased, error)

	HostsFn      func() []supervisor.Host
	HostFn       func(name string) (supervisor.Host, error)
	LabelHostFn  func(name string, change supervisor.LabelChange) (supervisor.Host, error)
	DeleteHostFn func(name string) error

	EventsFn  func(kind, object string) []supervisor.Event
	ChangesFn func() (<-chan struct{}, func())
	VersionFn func() supervisor.Version

	// StartProcFn serves the exec route (supervisor.ProcStarter); a test
	// that runs commands sets it to a Reaper's Start.
	StartProcFn func(spec supervisor.ProcSpec, onExit func(supervisor.ExitStatus)) (*supervisor.Proc, error)
}

var (
	_ supervisor.Backend     = (*Backend)(nil)
	_ supervisor.ProcStarter = (*Backend)(nil)
)

// need panics unless the function field for method is set.
func need(set bool, method string) {
	if !set {
		panic("mock.Backend." + method + " called, but " + method + "Fn is not set")
	}
}

func (b *Backend) Instances(sel units.Selector) []supervisor.Instance {
	need(b.InstancesFn != nil, "Instances")
	return b.InstancesFn(sel)
}

func (b *Backend) Instance(name string) (supervisor.Instance, error) {
	need(b.InstanceFn != nil, "Instance")
	return b.InstanceFn(name)
}

func (b *Backend) DeleteInstance(name string) error {
	need(b.DeleteInstanceFn != nil, "DeleteInstance")
	return b.DeleteInstanceFn(name)
}

func (b *Backend) LabelInstance(name string, change supervisor.LabelChange) (supervisor.Instance, error) {
	need(b.LabelInstanceFn != nil, "LabelInstance")
	return b.LabelInstanceFn(name, change)
}

func (b *Backend) Logs(ctx context.Context, name string, opts supervisor.LogOptions) (io.ReadCloser, error) {
	need(b.LogsFn != nil, "Logs")
	return b.LogsFn(ctx, name, opts)
}

func (b *Backend) Units(kind units.Kind) []supervisor.Unit {
	need(b.UnitsFn != nil, "Units")
	return b.UnitsFn(kind)
}

func (b *Backend) Unit(name string) (supervisor.Unit, error) {
	need(b.UnitFn != nil, "Unit")
	return b.UnitFn(name)
}

func (b *Backend) ApplyUnit(filename string, data []byte) (supervisor.ApplyResult, error) {
	need(b.ApplyUnitFn != nil, "ApplyUnit")
	return b.ApplyUnitFn(filename, data)
}

func (b *Backend) CheckUnit(filename string, data []byte) (supervisor.ApplyResult, error) {
	need(b.CheckUnitFn != nil, "CheckUnit")
	return b.CheckUnitFn(filename, data)
}

func (b *Backend) DeleteUnit(name string, orphan bool) error {
	need(b.DeleteUnitFn != nil, "DeleteUnit")
	return b.DeleteUnitFn(name, orphan)
}

func (b *Backend) StopUnit(name string, stop bool) (supervisor.ApplyResult, error) {
	need(b.StopUnitFn != nil, "StopUnit")
	return b.StopUnitFn(name, stop)
}

func (b *Backend) DeletedUnit(name string) (supervisor.DeletedUnit, error) {
	need(b.DeletedUnitFn != nil, "DeletedUnit")
	return b.DeletedUnitFn(name)
}

func (b *Backend) RolloutRestart(name string) (supervisor.ApplyResult, error) {
	need(b.RolloutRestartFn != nil, "RolloutRestart")
	return b.RolloutRestartFn(name)
}

func (b *Backend) ScaleUnit(name string, replicas int) (supervisor.Unit, error) {
	need(b.ScaleUnitFn != nil, "ScaleUnit")
	return b.ScaleUnitFn(name, replicas)
}

func (b *Backend) RestartInstance(name string) (supervisor.Instance, error) {
	need(b.RestartInstanceFn != nil, "RestartInstance")
	return b.RestartInstanceFn(name)
}

func (b *Backend) ReleaseFence(name string) (supervisor.FenceReleased, error) {
	need(b.ReleaseFenceFn != nil, "ReleaseFence")
	return b.ReleaseFenceFn(name)
}

func (b *Backend) Hosts() []supervisor.Host {
	need(b.HostsFn != nil, "Hosts")
	return b.HostsFn()
}

func (b *Backend) Host(name string) (supervisor.Host, error) {
	need(b.HostFn != nil, "Host")
	return b.HostFn(name)
}

func (b *Backend) LabelHost(name string, change supervisor.LabelChange) (supervisor.Host, error) {
	need(b.LabelHostFn != nil, "LabelHost")
	return b.LabelHostFn(name, change)
}

func (b *Backend) DeleteHost(name string) error {
	need(b.DeleteHostFn != nil, "DeleteHost")
	return b.DeleteHostFn(name)
}

func (b *Backend) Events(kind, object string) []supervisor.Event {
	need(b.EventsFn != nil, "Events")
	return b.EventsFn(kind, object)
}

func (b *Backend) Changes() (<-chan struct{}, func()) {
	need(b.ChangesFn != nil, "Changes")
	return b.ChangesFn()
}

func (b *Backend) Version() supervisor.Version {
	need(b.VersionFn != nil, "Version")
	return b.VersionFn()
}

func (b *Backend) StartProc(spec supervisor.ProcSpec, onExit func(supervisor.ExitStatus)) (*supervisor.Proc, error) {
	need(b.StartProcFn != nil, "StartProc")
	return b.StartProcFn(spec, onExit)
}
