// Package fs2 is husk's cgroup v2 driver: one directory in the unified
// hierarchy. Resources go to the v2 files (cpu.max, memory.max, io.max,
// ...); v1-only settings are refused with an error naming the field, as the
// runtime-spec requires when no conversion exists; linux.resources.unified
// keys are written as given; devices become an eBPF program (package
// devices).
//
// Controllers are enabled in cgroup.subtree_control of the parents a
// Manager created; a pre-existing parent is written only when a configured
// resource needs a controller it has available but not enabled.
package fs2
