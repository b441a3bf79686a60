package validate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// validSpec returns a minimal spec that passes Spec with bundle as its bundle directory
// (root.path "rootfs", created here).
func validSpec(t *testing.T) (*specs.Spec, string) {
	t.Helper()
	bundle := t.TempDir()
	if err := os.Mkdir(filepath.Join(bundle, "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	return &specs.Spec{
		Version: specs.Version,
		Root:    &specs.Root{Path: "rootfs"},
		Process: &specs.Process{Args: []string{"sh"}, Cwd: "/"},
		Mounts:  []specs.Mount{{Destination: "/proc", Type: "proc", Source: "proc"}},
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.MountNamespace},
			},
		},
	}, bundle
}

func ns(types ...specs.LinuxNamespaceType) []specs.LinuxNamespace {
	var out []specs.LinuxNamespace
	for _, t := range types {
		out = append(out, specs.LinuxNamespace{Type: t})
	}
	return out
}

func intp(v int) *int { return &v }

// checkErr fails t unless err is nil when want is "", or names want otherwise.
func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("got: %v, want: no error", err)
	case want != "" && err == nil:
		t.Errorf("got: no error, want: an error naming %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Errorf("got: %v, want: an error naming %q", err, want)
	}
}

func TestSpec(t *testing.T) {
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	absRoot := t.TempDir()
	mapping := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	tests := []struct {
		name   string
		mutate func(s *specs.Spec)
		// want is a substring of the error naming the field; "" means valid.
		want string
	}{
		{"valid", func(s *specs.Spec) {}, ""},
		{"absolute root", func(s *specs.Spec) { s.Root.Path = absRoot }, ""},
		{"no process", func(s *specs.Spec) { s.Process = nil }, ""},
		{"no linux", func(s *specs.Spec) { s.Linux = nil }, ""},

		{"no ociVersion", func(s *specs.Spec) { s.Version = "" }, "ociVersion"},
		{"ociVersion 2", func(s *specs.Spec) { s.Version = "2.0.0" }, "ociVersion"},
		{"ociVersion 1.0.2", func(s *specs.Spec) { s.Version = "1.0.2" }, ""},

		{"no root", func(s *specs.Spec) { s.Root = nil }, "root.path"},
		{"empty root", func(s *specs.Spec) { s.Root.Path = "" }, "root.path"},
		{"missing root", func(s *specs.Spec) { s.Root.Path = "nope" }, "root.path"},
		{"root not a directory", func(s *specs.Spec) { s.Root.Path = notDir }, "root.path"},

		{"no args", func(s *specs.Spec) { s.Process.Args = nil }, "process.args"},
		{"empty args[0]", func(s *specs.Spec) { s.Process.Args = []string{""} }, "process.args"},
		{"relative cwd", func(s *specs.Spec) { s.Process.Cwd = "tmp" }, "process.cwd"},
		{"empty cwd", func(s *specs.Spec) { s.Process.Cwd = "" }, ""},
		{"rlimit without RLIMIT_", func(s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "NOFILE", Soft: 1, Hard: 1}}
		}, "process.rlimits[0].type"},
		{"duplicate rlimit", func(s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 1, Hard: 1}, {Type: "RLIMIT_NOFILE", Soft: 2, Hard: 2}}
		}, "process.rlimits[1].type"},
		{"soft rlimit above hard", func(s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_CORE", Soft: 0, Hard: 0}, {Type: "RLIMIT_NOFILE", Soft: 2048, Hard: 1024}}
		}, "process.rlimits[1]"},
		{"soft rlimit equal to hard", func(s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 1024, Hard: 1024}}
		}, ""},

		{"unknown namespace", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "foo"})
		}, "linux.namespaces[2].type"},
		{"duplicate namespace", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.PIDNamespace})
		}, "linux.namespaces[2].type"},
		{"relative namespace path", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: "proc/self/ns/net"})
		}, "linux.namespaces[2].path"},
		{"missing namespace path", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: "/nonexistent/ns/net"})
		}, "linux.namespaces[2].path"},
		{"joined namespace path", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UTSNamespace, Path: "/proc/self/ns/uts"})
		}, ""},
		{"uid mappings without user namespace", func(s *specs.Spec) { s.Linux.UIDMappings = mapping }, "linux.uidMappings"},
		{"gid mappings without user namespace", func(s *specs.Spec) { s.Linux.GIDMappings = mapping }, "Mappings"},
		{"new user namespace without mappings", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		}, "linux.uidMappings"},
		{"new user namespace without gid mappings", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
			s.Linux.UIDMappings = mapping
		}, "linux.gidMappings"},
		{"new user namespace with mappings", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
			s.Linux.UIDMappings, s.Linux.GIDMappings = mapping, mapping
		}, ""},
		{"joined user namespace without mappings", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace, Path: "/proc/self/ns/user"})
		}, ""},
		{"time offsets without time namespace", func(s *specs.Spec) {
			s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 10}}
		}, "linux.timeOffsets"},
		{"unknown clock", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.TimeNamespace})
			s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"realtime": {Secs: 10}}
		}, `linux.timeOffsets "realtime"`},
		{"clock smuggling a bootstrap line", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.TimeNamespace})
			s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"monotonic 1 0\ncgroup /etc/passwd\ntimens boottime": {Secs: 1}}
		}, "linux.timeOffsets"},
		{"namespace path with a newline", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: "/proc/self/ns/net\ncgroup /etc/passwd"})
		}, "linux.namespaces[2].path"},
		{"time offsets with time namespace", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.TimeNamespace})
			s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 10}, "boottime": {Nanosecs: 5}}
		}, ""},
		{"hostname without UTS namespace", func(s *specs.Spec) { s.Hostname = "c1" }, "hostname"},
		{"hostname with UTS namespace", func(s *specs.Spec) {
			s.Hostname = "c1"
			s.Linux.Namespaces = ns(specs.UTSNamespace)
		}, ""},
		{"domainname without UTS namespace", func(s *specs.Spec) { s.Domainname = "example.org" }, "domainname"},
		{"domainname with UTS namespace", func(s *specs.Spec) {
			s.Domainname = "example.org"
			s.Linux.Namespaces = ns(specs.UTSNamespace)
		}, ""},

		{"relative mount destination", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "tmp", Type: "tmpfs", Source: "tmpfs"})
		}, "mounts[1].destination"},

		{"non-namespaced sysctl", func(s *specs.Spec) {
			s.Linux.Sysctl = map[string]string{"vm.swappiness": "0"}
		}, `linux.sysctl "vm.swappiness"`},
		{"kernel sysctl outside IPC", func(s *specs.Spec) {
			s.Linux.Namespaces = ns(specs.IPCNamespace, specs.UTSNamespace)
			s.Linux.Sysctl = map[string]string{"kernel.pid_max": "1000"}
		}, `linux.sysctl "kernel.pid_max"`},
		{"net sysctl without netns", func(s *specs.Spec) {
			s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
		}, `linux.sysctl "net.ipv4.ip_forward"`},
		{"net sysctl with new netns", func(s *specs.Spec) {
			s.Linux.Namespaces = ns(specs.NetworkNamespace)
			s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
		}, ""},
		{"net sysctl in the host's netns by /proc/self", func(s *specs.Spec) {
			s.Linux.Namespaces = []specs.LinuxNamespace{{Type: specs.NetworkNamespace, Path: "/proc/self/ns/net"}}
			s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
		}, `linux.sysctl "net.ipv4.ip_forward"`},
		{"net sysctl with path traversal", func(s *specs.Spec) {
			s.Linux.Namespaces = ns(specs.NetworkNamespace)
			s.Linux.Sysctl = map[string]string{"net.ipv4/../../../vm/swappiness": "0"}
		}, "linux.sysctl"},
		{"ipc sysctl without IPC namespace", func(s *specs.Spec) {
			s.Linux.Sysctl = map[string]string{"kernel.shmmax": "1"}
		}, `linux.sysctl "kernel.shmmax"`},
		{"ipc sysctls with IPC namespace", func(s *specs.Spec) {
			s.Linux.Namespaces = ns(specs.IPCNamespace)
			s.Linux.Sysctl = map[string]string{"kernel.shmmax": "1", "kernel.sem": "1 2 3 4", "fs.mqueue.msg_max": "10"}
		}, ""},
		{"uts sysctl without UTS namespace", func(s *specs.Spec) {
			s.Linux.Sysctl = map[string]string{"kernel.domainname": "x"}
		}, `linux.sysctl "kernel.domainname"`},

		{"cgroupsPath with ..", func(s *specs.Spec) { s.Linux.CgroupsPath = "/husk/../../escape" }, "linux.cgroupsPath"},
		{"cgroupsPath ..", func(s *specs.Spec) { s.Linux.CgroupsPath = ".." }, "linux.cgroupsPath"},
		{"cgroupsPath ending in ..", func(s *specs.Spec) { s.Linux.CgroupsPath = "a/.." }, "linux.cgroupsPath"},
		{"cgroupsPath with dots in a name", func(s *specs.Spec) { s.Linux.CgroupsPath = "/husk/a..b" }, ""},
		{"systemd cgroupsPath", func(s *specs.Spec) { s.Linux.CgroupsPath = "system.slice:husk:c1" }, ""},

		{"relative hook path", func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{Poststart: []specs.Hook{{Path: "bin/true"}}}
		}, "hooks.poststart[0].path"},
		{"hook timeout 0", func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/true"}, {Path: "/bin/true", Timeout: intp(0)}}}
		}, "hooks.createRuntime[1].timeout"},
		{"negative hook timeout", func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{Prestart: []specs.Hook{{Path: "/bin/true", Timeout: intp(-1)}}}
		}, "hooks.prestart[0].timeout"},
		{"hooks of every stage", func(s *specs.Spec) {
			h := []specs.Hook{{Path: "/bin/true", Timeout: intp(5)}}
			s.Hooks = &specs.Hooks{Prestart: h, CreateRuntime: h, CreateContainer: h, StartContainer: h, Poststart: h, Poststop: h}
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, bundle := validSpec(t)
			tt.mutate(s)
			checkErr(t, Spec(s, bundle), tt.want)
		})
	}
}

func TestProcess(t *testing.T) {
	tests := []struct {
		name  string
		p     *specs.Process
		field string
		want  string // substring of the error; "" means valid
	}{
		{"nil", nil, "process", "process: must be set"},
		{"valid", &specs.Process{Args: []string{"/bin/true"}, Cwd: "/"}, "process", ""},
		{"no args", &specs.Process{Cwd: "/"}, "process", "process.args"},
		{"relative cwd", &specs.Process{Args: []string{"true"}, Cwd: "home"}, "process", `process.cwd "home"`},
		{"field prefix", &specs.Process{Args: []string{"true"}, Cwd: "."}, "exec.process", "exec.process.cwd"},
		{"soft rlimit above hard", &specs.Process{Args: []string{"true"},
			Rlimits: []specs.POSIXRlimit{{Type: "RLIMIT_NPROC", Soft: 10, Hard: 5}}}, "process", "process.rlimits[0] RLIMIT_NPROC"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErr(t, Process(tt.p, tt.field), tt.want)
		})
	}
}
