package main

import (
	"encoding/json"
	"os"
	"runtime"
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/libcontainer/apparmor"
	"github.com/husk-runtime/husk/libcontainer/capabilities"
	"github.com/husk-runtime/husk/libcontainer/cgroups/systemd"
	"github.com/husk-runtime/husk/libcontainer/label"
	"github.com/husk-runtime/husk/libcontainer/rootfs"
	"github.com/husk-runtime/husk/libcontainer/seccomp"
)

var featuresCommand = &cli.Command{
	Name:  "features",
	Usage: "print what this husk implements and this host offers (runtime-spec features.md)",
	Description: `Every claim is both implemented by husk and available on this host: a
namespace the kernel lacks, a cgroup version that is not mounted or a seccomp
architecture libseccomp cannot compile for is left out, so an engine can trust
each entry without trying it.`,
	Action: func(c *cli.Context) error {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "    ")
		return enc.Encode(hostFeatures())
	},
}

// hostFeatures computes the features document. Fields husk does not implement
// (intelRdt) are reported as disabled rather than omitted,
// so that "false" is an answer, not an unknown.
func hostFeatures() *features.Features {
	f, t := false, true
	aa, se := apparmor.IsEnabled(), label.Enabled()
	v1, v2, rdma := cgroupVersions()
	sd := systemdBooted()
	return &features.Features{
		OCIVersionMin: "1.0.0",
		OCIVersionMax: specs.Version,
		Hooks:         []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"},
		MountOptions:  mountOptions(),
		Linux: &features.Linux{
			Namespaces:   hostNamespaces(),
			Capabilities: hostCapabilities(),
			Cgroup:       &features.Cgroup{V1: &v1, V2: &v2, Systemd: &sd, SystemdUser: &f, Rdma: &rdma},
			Seccomp:      seccomp.Features(),
			Apparmor:     &features.Apparmor{Enabled: &aa},
			Selinux:      &features.Selinux{Enabled: &se},
			IntelRdt:     &features.IntelRdt{Enabled: &f, Schemata: &f, Monitoring: &f},
			MemoryPolicy: hostMemoryPolicy(),
			MountExtensions: &features.MountExtensions{
				IDMap: &features.IDMap{Enabled: &t},
			},
			NetDevices: &features.NetDevices{Enabled: &t},
		},
		Annotations: map[string]string{
			"io.github.husk-runtime.version":       version,
			"io.github.husk-runtime.commit":        commit,
			"io.github.seccomp.libseccomp.version": seccomp.Version(),
		},
		// Annotations husk acts on that reach beyond the container: systemd unit
		// properties of its scope.
		PotentiallyUnsafeConfigAnnotations: []string{systemd.AnnotationPrefix},
	}
}

// mountOptions lists the options rootfs implements.
func mountOptions() []string {
	out := rootfs.KnownOptions()
	sort.Strings(out)
	return out
}

// nsFiles maps runtime-spec namespace types to their /proc/self/ns names.
var nsFiles = map[specs.LinuxNamespaceType]string{
	specs.CgroupNamespace: "cgroup", specs.IPCNamespace: "ipc", specs.MountNamespace: "mnt",
	specs.NetworkNamespace: "net", specs.PIDNamespace: "pid", specs.TimeNamespace: "time",
	specs.UserNamespace: "user", specs.UTSNamespace: "uts",
}

// hostNamespaces lists the namespace types husk creates and joins that this kernel has.
func hostNamespaces() []string {
	var out []string
	for t, name := range nsFiles {
		if _, err := os.Lstat("/proc/self/ns/" + name); err == nil {
			out = append(out, string(t))
		}
	}
	sort.Strings(out)
	return out
}

// hostCapabilities lists the capabilities husk knows that it can grant here: known to
// the running kernel and in husk's own bounding set (a capability dropped from it, as in
// a container, cannot be given to a container of ours).
func hostCapabilities() []string {
	var out []string
	for i, name := range capabilities.Names() {
		if have, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(i), 0, 0, 0); err == nil && have == 1 {
			out = append(out, name)
		}
	}
	return out
}

// cgroupVersions reports which cgroup hierarchies are mounted (husk drives both) and
// whether the rdma controller is available in one of them.
func cgroupVersions() (v1, v2, rdma bool) {
	var st unix.Statfs_t
	if unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		v2 = true
	} else {
		v1 = unix.Statfs("/sys/fs/cgroup", &st) == nil
		v2 = unix.Statfs("/sys/fs/cgroup/unified", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
	}
	if v1 {
		if _, err := os.Stat("/sys/fs/cgroup/rdma"); err == nil {
			rdma = true
		}
	}
	for _, dir := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		if b, err := os.ReadFile(dir + "/cgroup.controllers"); err == nil && strings.Contains(" "+string(b)+" ", " rdma ") {
			rdma = true
		}
	}
	return v1, v2, rdma
}

// systemdBooted reports whether systemd runs the host (sd_booted(3)): --systemd-cgroup
// needs it.
func systemdBooted() bool {
	fi, err := os.Lstat("/run/systemd/system")
	return err == nil && fi.IsDir()
}

// hostMemoryPolicy lists the set_mempolicy(2) modes and flags this kernel accepts, tried
// on a throwaway thread.
func hostMemoryPolicy() *features.MemoryPolicy {
	modes := []struct {
		name  string
		mode  int
		nodes bool
	}{
		{"MPOL_DEFAULT", unix.MPOL_DEFAULT, false}, {"MPOL_BIND", unix.MPOL_BIND, true},
		{"MPOL_INTERLEAVE", unix.MPOL_INTERLEAVE, true}, {"MPOL_WEIGHTED_INTERLEAVE", unix.MPOL_WEIGHTED_INTERLEAVE, true},
		{"MPOL_PREFERRED", unix.MPOL_PREFERRED, true}, {"MPOL_PREFERRED_MANY", unix.MPOL_PREFERRED_MANY, true},
		{"MPOL_LOCAL", unix.MPOL_LOCAL, false},
	}
	flags := []struct {
		name string
		flag int
		mode int
	}{
		{"MPOL_F_NUMA_BALANCING", unix.MPOL_F_NUMA_BALANCING, unix.MPOL_BIND},
		{"MPOL_F_RELATIVE_NODES", unix.MPOL_F_RELATIVE_NODES, unix.MPOL_INTERLEAVE},
		{"MPOL_F_STATIC_NODES", unix.MPOL_F_STATIC_NODES, unix.MPOL_INTERLEAVE},
	}
	out := &features.MemoryPolicy{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		// The thread's policy changes: it is never unlocked, so it exits with the goroutine.
		runtime.LockOSThread()
		var node0, none unix.CPUSet
		node0.Set(firstNode())
		try := func(mode int, nodes bool) bool {
			mask := &none
			if nodes {
				mask = &node0
			}
			return unix.SetMemPolicy(mode, mask) == nil
		}
		for _, m := range modes {
			if try(m.mode, m.nodes) {
				out.Modes = append(out.Modes, m.name)
			}
		}
		for _, f := range flags {
			if try(f.mode|f.flag, true) {
				out.Flags = append(out.Flags, f.name)
			}
		}
	}()
	<-done
	return out
}

// firstNode returns the first online NUMA node (0 without sysfs).
func firstNode() int {
	b, err := os.ReadFile("/sys/devices/system/node/online")
	if err != nil {
		return 0
	}
	n := 0
	for _, c := range strings.TrimSpace(string(b)) {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
	}
	return n
}
