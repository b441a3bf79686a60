// Package devices turns linux.resources.devices into device-cgroup policy:
// on cgroup v1 lines for devices.allow and devices.deny, on cgroup v2 an
// eBPF program of type BPF_PROG_TYPE_CGROUP_DEVICE attached to the cgroup,
// assembled and loaded here with bpf(2) itself (bpf.go). DefaultAllowList returns the rules runc grants every
// container, for callers that want them; nothing here adds them implicitly.
//
// It writes only to the cgroup directory it is given.
package devices
