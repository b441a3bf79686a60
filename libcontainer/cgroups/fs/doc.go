// Package fs is husk's cgroup v1 driver: one directory per mounted
// hierarchy (cpu, cpuacct, cpuset, memory, devices, freezer, blkio, pids,
// hugetlb, net_cls, net_prio, perf_event, rdma, misc, name=systemd), one file
// per controller here (cpu.go, memory.go, ...). On a hybrid host it also
// places the container in the cgroup2 hierarchy, as runc does, and writes
// hugetlb limits there when v1 has no hugetlb hierarchy but the v2 cgroup
// has the controller.
//
// A Manager only ever writes to directories inside its own cgroup paths and
// removes only the directories it created (State.Created). The one write
// above the container's directory is a realtime budget (cpu.rt_*) given to
// parents it created, which the kernel needs before the container's own.
package fs
