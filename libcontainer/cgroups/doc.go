// Package cgroups gives a container its cgroup: one Manager interface over
// three drivers, picked by New from the host and the config.
//
//   - fs (package fs): cgroup v1, one directory per mounted hierarchy. On a
//     hybrid host (v1 hierarchies plus a cgroup2 mount) the container is
//     also placed in the cgroup2 hierarchy, as runc does, and hugetlb limits
//     go there when hugetlb is a v2 controller.
//   - fs2 (package fs2): the cgroup v2 unified hierarchy.
//   - systemd (package systemd): a transient scope unit over D-Bus, on v1
//     or v2, with runc's "slice:prefix:name" cgroupsPath and
//     org.systemd.property.* annotations as unit properties.
//
// Device rules are in package devices (v1 lists, v2 eBPF program, and
// DefaultAllowList, runc's standard allow-list, as an opt-in helper).
//
// API:
//
//	m, err := cgroups.New(cgroups.Config{Path: spec.Linux.CgroupsPath, Name: id,
//		Systemd: systemdFlag, Rootless: rootless, Annotations: spec.Annotations,
//		Resources: spec.Linux.Resources})
//	m.Create()           // directories + resources, before any process joins
//	m.JoinFiles()        // files the single-threaded init writes "0" to (fs, fs2)
//	m.Apply(pid)         // systemd: start the scope; fs/fs2: join if not yet a member
//	m.State()            // save in state.json; cgroups.Load(state) later
//	m.Set(r) m.Pids() m.Freeze() m.Thaw() m.Paused() m.Kill(sig)
//	m.Stats() m.OOMEvents(ctx) m.Path(ctrl) m.Exists() m.Destroy()
//
// OOMEvents(ctx) returns a <-chan struct{} receiving one value per OOM kill
// (v1: eventfd on memory.oom_control; v2: inotify on memory.events), closed
// when ctx ends or the cgroup is removed. Path("") is the v2 directory (the
// hybrid unified one under fs). NewForHost(cfg, host) takes a Host from
// DetectHost (or built by hand in tests); Validate(r, unified) checks
// resources without writing. Errors: ErrNotSupported (missing controller,
// cgroup v2 or systemd), ErrInvalid (validation), ErrFreezeTimeout.
//
// Placement (cgroupfs drivers): an absolute linux.cgroupsPath is used as
// given in every hierarchy; a relative one nests under husk's own cgroup in
// that hierarchy (from /proc/self/cgroup); an empty one is <own>/<Name>.
// ".." components are rejected. Destroy removes only directories the
// manager created, parents included.
//
// Every linux.resources field of runtime-spec v1.3 is handled; Validate
// rejects bad values before anything is written, with errors that name the
// field ("linux.resources.memory.swap: must be >= memory.limit ..."), and
// file errors carry the path and the data written. Settings for a
// controller the host lacks are errors only when configured.
//
// This package and its drivers do not import runc's libcontainer or
// opencontainers/cgroups, and never touch cgroups they did not create
// except to join or read them.
package cgroups
