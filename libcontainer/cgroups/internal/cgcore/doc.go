// Package cgcore holds what husk's cgroup drivers share: the Config, State,
// Stats and Manager types re-exported by package cgroups, host detection
// (which hierarchies are mounted where, the caller's own cgroup), placement
// of a container's cgroup, validation of linux.resources, and file helpers
// whose errors carry the path and the data written.
//
// It lives under internal/ so that the drivers (fs, fs2, systemd) can share
// it without importing package cgroups, which imports them to implement New.
// It must not write to any cgroup itself except through the helpers its
// callers invoke on directories they own.
package cgcore
