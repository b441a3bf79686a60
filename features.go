package main

import (
	"encoding/json"
	"os"
	"sort"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
	"github.com/urfave/cli/v2"

	"github.com/husk-runtime/husk/libcontainer/apparmor"
	"github.com/husk-runtime/husk/libcontainer/capabilities"
	"github.com/husk-runtime/husk/libcontainer/label"
	"github.com/husk-runtime/husk/libcontainer/rootfs"
	"github.com/husk-runtime/husk/libcontainer/seccomp"
)

var featuresCommand = &cli.Command{
	Name:  "features",
	Usage: "print what this husk implements and this host offers (runtime-spec features.md)",
	Action: func(c *cli.Context) error {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "    ")
		return enc.Encode(hostFeatures())
	},
}

func hostFeatures() *features.Features {
	t, f := true, false
	opts := rootfs.KnownOptions()
	sort.Strings(opts)
	aa, se := apparmor.IsEnabled(), label.Enabled()
	return &features.Features{
		OCIVersionMin: "1.0.0",
		OCIVersionMax: specs.Version,
		Hooks:         []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"},
		MountOptions:  opts,
		Linux: &features.Linux{
			Namespaces:   []string{"cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"},
			Capabilities: capabilities.Names(),
			Cgroup:       &features.Cgroup{V1: &t, V2: &t, Systemd: &t, SystemdUser: &f, Rdma: &t},
			Seccomp:      seccomp.Features(),
			Apparmor:     &features.Apparmor{Enabled: &aa},
			Selinux:      &features.Selinux{Enabled: &se},
			IntelRdt:     &features.IntelRdt{Enabled: &f},
			MountExtensions: &features.MountExtensions{
				IDMap: &features.IDMap{Enabled: &f},
			},
		},
		Annotations: map[string]string{
			"io.github.husk-runtime.version":       version,
			"io.github.seccomp.libseccomp.version": seccomp.Version(),
		},
	}
}
