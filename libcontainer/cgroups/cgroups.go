package cgroups

import (
	"fmt"

	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/husk-runtime/husk/libcontainer/cgroups/fs"
	"github.com/husk-runtime/husk/libcontainer/cgroups/fs2"
	"github.com/husk-runtime/husk/libcontainer/cgroups/internal/cgcore"
	"github.com/husk-runtime/husk/libcontainer/cgroups/systemd"
)

type (
	// Config says where a container's cgroup lives and how it is driven.
	Config = cgcore.Config
	// State is the JSON-serialisable description Load needs.
	State = cgcore.State
	// Manager drives one container's cgroup.
	Manager = cgcore.Manager
	// Host describes the cgroup mounts and husk's own cgroup.
	Host = cgcore.Host
	// Stats is one sample of a cgroup's counters, shaped like the "data"
	// of `runc events --stats`.
	Stats = cgcore.Stats
	// The parts of Stats.
	CPUStats     = cgcore.CPUStats
	CPUUsage     = cgcore.CPUUsage
	Throttling   = cgcore.Throttling
	CPUSetStats  = cgcore.CPUSetStats
	MemoryStats  = cgcore.MemoryStats
	MemoryEntry  = cgcore.MemoryEntry
	PidsStats    = cgcore.PidsStats
	BlkioStats   = cgcore.BlkioStats
	BlkioEntry   = cgcore.BlkioEntry
	HugetlbStats = cgcore.HugetlbStats
	PSIStats     = cgcore.PSIStats
	PSIData      = cgcore.PSIData
)

// Driver names as stored in State.Driver.
const (
	DriverFs      = cgcore.DriverFs
	DriverFs2     = cgcore.DriverFs2
	DriverSystemd = cgcore.DriverSystemd
)

// New returns the manager for cfg on this host. It creates nothing.
func New(cfg Config) (Manager, error) {
	host, err := cgcore.DetectHost()
	if err != nil {
		return nil, err
	}
	return NewForHost(cfg, host)
}

// NewForHost is New with the host description given, for tests and for
// callers that detected it once already.
func NewForHost(cfg Config, host *Host) (Manager, error) {
	switch {
	case cfg.Systemd:
		return systemd.New(cfg, host)
	case host.IsUnified():
		return fs2.New(cfg, host)
	default:
		return fs.New(cfg, host)
	}
}

// DetectHost reads the cgroup mounts and the caller's own cgroup.
func DetectHost() (*Host, error) { return cgcore.DetectHost() }

// DetectHostFrom is DetectHost with the caller's mount table read already (mountinfo.GetMounts).
func DetectHostFrom(mounts []*mountinfo.Info) (*Host, error) { return cgcore.DetectHostFrom(mounts) }

// Load returns the manager for a container whose State was saved earlier,
// possibly by another husk process.
func Load(s State) (Manager, error) {
	switch s.Driver {
	case DriverFs:
		return fs.Load(s), nil
	case DriverFs2:
		return fs2.Load(s), nil
	case DriverSystemd:
		return systemd.Load(s)
	default:
		return nil, fmt.Errorf("load cgroup state: unknown driver %q", s.Driver)
	}
}

// Validate checks r against the host's cgroup version without writing.
func Validate(r *specs.LinuxResources, unified bool) error {
	v := cgcore.V1
	if unified {
		v = cgcore.V2
	}
	return cgcore.Validate(r, v)
}
