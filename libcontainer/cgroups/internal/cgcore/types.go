package cgcore

import (
	"context"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Driver names stored in State.Driver.
const (
	DriverFs      = "fs"      // cgroup v1, one hierarchy per controller (plus a hybrid unified dir)
	DriverFs2     = "fs2"     // cgroup v2 unified hierarchy
	DriverSystemd = "systemd" // transient scope units over D-Bus, on v1 or v2
)

// UnifiedKey is the State.Paths key of the cgroup v2 directory: the only
// key for the fs2 driver, and the hybrid-host extra for the fs driver.
const UnifiedKey = ""

// Config says where a container's cgroup lives and how it is driven.
type Config struct {
	// Path is linux.cgroupsPath as given: "", relative, absolute, or
	// "slice:prefix:name" with Systemd.
	Path string
	// Name is the container ID, the leaf name when Path is empty.
	Name string
	// Systemd selects the systemd driver (--systemd-cgroup).
	Systemd bool
	// Rootless makes permission errors on cgroup creation non-fatal when
	// no resources need the controller concerned.
	Rootless bool
	// Annotations holds org.systemd.property.<Name> = value pairs, which
	// become unit properties (systemd driver only); others are ignored.
	Annotations map[string]string
	// Resources is linux.resources; may be nil.
	Resources *specs.LinuxResources
}

// State is what another husk process needs to manage the same cgroup; it is
// JSON-serialisable and stored in the container's state.json.
type State struct {
	// Driver is DriverFs, DriverFs2 or DriverSystemd.
	Driver string `json:"driver"`
	// Paths maps a controller (v1 hierarchy name such as "memory" or
	// "name=systemd"; UnifiedKey for v2) to the absolute cgroup directory.
	Paths map[string]string `json:"paths"`
	// Rel maps the same keys to the cgroup path as /proc/<pid>/cgroup
	// shows it, used to tell whether a process is already a member.
	Rel map[string]string `json:"rel,omitempty"`
	// Created lists the directories this manager made, parents first.
	Created []string `json:"created,omitempty"`
	// Unit is the systemd scope unit name; Slice its parent slice.
	Unit  string `json:"unit,omitempty"`
	Slice string `json:"slice,omitempty"`
	// Unified is true when the systemd driver runs on a cgroup v2 host.
	Unified bool `json:"unified,omitempty"`
	// Rootless mirrors Config.Rootless.
	Rootless bool `json:"rootless,omitempty"`
}

// Manager drives one container's cgroup. Methods are not safe for
// concurrent use on one value; separate husk processes coordinate through
// the container lock.
type Manager interface {
	// Create makes the cgroup directories (parents included, remembering
	// which it made) and applies Config.Resources, before any process
	// joins. The systemd driver does nothing until Apply.
	Create() error
	// JoinFiles lists files that a single-threaded process writes "0" to in
	// order to join the cgroup itself: v1 each hierarchy's "tasks" (the
	// kernel's fast path), v2 "cgroup.procs". Empty when the driver needs
	// Apply (systemd).
	JoinFiles() []string
	// Apply ensures pid is in the cgroup. systemd starts the scope with it
	// and applies resources; fs and fs2 write the pid only to hierarchies
	// where /proc/<pid>/cgroup shows it elsewhere.
	Apply(pid int) error
	// Set changes resources of a live container: everything is validated
	// first, then written.
	Set(r *specs.LinuxResources) error
	// Pids lists every process in the cgroup and its sub-cgroups.
	Pids() ([]int, error)
	// Freeze freezes the cgroup and waits until the kernel reports it
	// frozen; on timeout it thaws again and returns an error.
	Freeze() error
	// Thaw undoes Freeze.
	Thaw() error
	// Paused reports whether the cgroup is frozen.
	Paused() (bool, error)
	// Kill sends sig to every process in the cgroup.
	Kill(sig unix.Signal) error
	// Destroy kills leftovers with SIGKILL, waits for them to go, and
	// removes every directory it created (or stops the systemd unit).
	Destroy() error
	// Stats reads the cgroup's counters.
	Stats() (*Stats, error)
	// OOMEvents returns a channel that receives a value per OOM event and
	// is closed when ctx ends or the cgroup goes away.
	OOMEvents(ctx context.Context) (<-chan struct{}, error)
	// Path returns the directory for a controller ("" for the v2 unified
	// directory), or "" when the cgroup has no such controller.
	Path(controller string) string
	// State returns what Load needs to rebuild the manager.
	State() State
	// Exists reports whether the cgroup directory still exists.
	Exists() bool
}
