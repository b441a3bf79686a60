package integration

import (
	"encoding/json"
	"fmt"
	"math/bits"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/tests/testutil"
)

// The tests in this file take each claim of `features` and use it in a container: an
// engine must be able to trust the document without trying.

func runtimeFeatures(t *testing.T) *features.Features {
	t.Helper()
	b := testutil.NewBundle(t, nil)
	out := b.MustHusk("features")
	var f features.Features
	if err := json.Unmarshal([]byte(out), &f); err != nil {
		t.Fatalf("features output %q: %v", out, err)
	}
	if f.Linux == nil {
		t.Fatal("features: no linux section")
	}
	return &f
}

func TestFeaturesVersions(t *testing.T) {
	testutil.RequireRoot(t)
	f := runtimeFeatures(t)
	if f.OCIVersionMin == "" || f.OCIVersionMax == "" {
		t.Fatalf("ociVersionMin %q, ociVersionMax %q", f.OCIVersionMin, f.OCIVersionMax)
	}
	if testutil.IsHusk() && f.OCIVersionMax != specs.Version {
		t.Errorf("ociVersionMax %q, want %q (the spec husk is built against)", f.OCIVersionMax, specs.Version)
	}
}

// TestFeaturesMountOptions mounts one tmpfs (or, for the bind options, one bind mount) per
// listed option in one container: create must accept every one.
func TestFeaturesMountOptions(t *testing.T) {
	testutil.RequireRoot(t)
	// runc 1.1.5 lists "defaults" (and more) that its tmpfs mounts then pass to the kernel
	// as data: EINVAL.
	testutil.RequireHusk(t)
	f := runtimeFeatures(t)
	if len(f.MountOptions) == 0 {
		t.Fatal("no mount options listed")
	}
	b := testutil.NewBundle(t, nil)
	src := filepath.Join(b.Dir, "bindsrc")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, o := range f.MountOptions {
		m := specs.Mount{Destination: fmt.Sprintf("/mnt/o%d", i), Type: "tmpfs", Source: "tmpfs", Options: []string{o}}
		switch o {
		case "bind", "rbind":
			m = specs.Mount{Destination: m.Destination, Type: "bind", Source: src, Options: []string{o}}
		case "idmap", "ridmap":
			ids := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 0, Size: 65536}}
			m = specs.Mount{Destination: m.Destination, Type: "bind", Source: src, Options: []string{"rbind", o}, UIDMappings: ids, GIDMappings: ids}
		case "remount":
			// Meaningful on top of a mount: remount the one just made read-only.
			m.Destination = fmt.Sprintf("/mnt/o%d", i-1)
			m.Options = []string{"remount", "ro"}
		}
		b.Spec.Mounts = append(b.Spec.Mounts, m)
	}
	b.Spec.Process.Args = []string{"/probe", "mounts"}
	b.WriteSpec()
	r := b.Run()
	if r.Code != 0 {
		t.Fatalf("a container using each listed mount option failed: %s", r.Stderr)
	}
	// The flag options must show in the container's mountinfo.
	for i, o := range f.MountOptions {
		want := map[string]string{"ro": "ro", "nosuid": "nosuid", "nodev": "nodev", "noexec": "noexec", "noatime": "noatime"}[o]
		if want == "" {
			continue
		}
		dest := fmt.Sprintf(" /mnt/o%d ", i)
		found := false
		for _, l := range strings.Split(r.Stdout, "\n") {
			if strings.Contains(l, dest) {
				found = true
				if opts := strings.Fields(l)[5]; !strings.Contains(","+opts+",", ","+want+",") {
					t.Errorf("mount option %s: mountinfo of %s has %s", o, dest, opts)
				}
			}
		}
		if !found {
			t.Errorf("mount option %s: no %s in the container's mountinfo", o, dest)
		}
	}
}

// TestFeaturesNamespaces creates a container with every listed namespace (the user
// namespace with a mapping) and checks from the host that each differs from ours.
func TestFeaturesNamespaces(t *testing.T) {
	testutil.RequireRoot(t)
	f := runtimeFeatures(t)
	files := map[string]string{"cgroup": "cgroup", "ipc": "ipc", "mount": "mnt", "network": "net", "pid": "pid", "time": "time", "user": "user", "uts": "uts"}
	var nss []specs.LinuxNamespace
	for _, n := range f.Linux.Namespaces {
		if _, ok := files[n]; !ok {
			t.Errorf("unknown namespace %q listed", n)
			continue
		}
		nss = append(nss, specs.LinuxNamespace{Type: specs.LinuxNamespaceType(n)})
	}
	b := testutil.NewBundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"/probe", "sleep", "60"}
		s.Linux.Namespaces = nss
		for _, n := range nss {
			if n.Type == specs.UserNamespace {
				// Root inside is root outside: the test rootfs needs no chown.
				s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 0, Size: 65536}}
				s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 0, Size: 65536}}
			}
		}
	})
	pid := startSleeper(t, b)
	for _, n := range nss {
		name := files[string(n.Type)]
		self, ctr := mustReadlink(t, "/proc/self/ns/"+name), mustReadlink(t, "/proc/"+strconv.Itoa(pid)+"/ns/"+name)
		if self == ctr {
			t.Errorf("namespace %s listed, but the container shares the host's %s", n.Type, self)
		}
	}
}

// TestFeaturesCapabilities grants every listed capability and checks the container holds
// them all.
func TestFeaturesCapabilities(t *testing.T) {
	testutil.RequireRoot(t)
	f := runtimeFeatures(t)
	caps := f.Linux.Capabilities
	if len(caps) == 0 {
		t.Fatal("no capabilities listed")
	}
	if !testutil.IsHusk() {
		// runc 1.1.5 lists every capability it knows, also those the host's bounding
		// set lacks (this machine has no CAP_SYS_RESOURCE): keep what we hold.
		caps = heldCaps(t, caps)
	}
	b := testutil.NewBundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"/probe", "sleep", "60"}
		s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps}
	})
	pid := startSleeper(t, b)
	st := procStatus(t, pid)
	for _, set := range []string{"CapBnd", "CapEff", "CapPrm"} {
		v, err := strconv.ParseUint(st[set], 16, 64)
		if err != nil {
			t.Fatalf("%s %q: %v", set, st[set], err)
		}
		if n := bits.OnesCount64(v); n != len(caps) {
			t.Errorf("%s of the container: %d capabilities (%s), %d listed", set, n, st[set], len(caps))
		}
	}
}

// TestFeaturesSeccomp uses every listed action, operator, architecture and supported flag
// in one profile.
func TestFeaturesSeccomp(t *testing.T) {
	testutil.RequireRoot(t)
	// runc 1.1.5 lists architectures its libseccomp cannot add to a filter (EDOM).
	testutil.RequireHusk(t)
	f := runtimeFeatures(t)
	sc := f.Linux.Seccomp
	if sc == nil || sc.Enabled == nil || !*sc.Enabled {
		t.Skip("seccomp not enabled in features")
	}
	// Syscalls neither busybox nor the probe make; one per rule.
	unused := []string{"acct", "swapon", "swapoff", "vhangup", "kexec_load", "init_module", "delete_module", "quotactl", "ustat", "sysfs", "uselib", "lookup_dcookie", "get_kernel_syms", "create_module", "query_module"}
	next := func() string {
		s := unused[0]
		unused = unused[1:]
		return s
	}
	prof := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: nil}
	for _, a := range sc.Archs {
		prof.Architectures = append(prof.Architectures, specs.Arch(a))
	}
	for _, fl := range sc.SupportedFlags {
		prof.Flags = append(prof.Flags, specs.LinuxSeccompFlag(fl))
	}
	var listener string
	for _, a := range sc.Actions {
		if specs.LinuxSeccompAction(a) == specs.ActNotify {
			listener = seccompListener(t)
			prof.ListenerPath = listener
		}
		prof.Syscalls = append(prof.Syscalls, specs.LinuxSyscall{Names: []string{next()}, Action: specs.LinuxSeccompAction(a)})
	}
	opSyscall := next()
	for _, op := range sc.Operators {
		arg := specs.LinuxSeccompArg{Index: 0, Value: 1, Op: specs.LinuxSeccompOperator(op)}
		if arg.Op == specs.OpMaskedEqual {
			arg.ValueTwo = 1
		}
		prof.Syscalls = append(prof.Syscalls, specs.LinuxSyscall{Names: []string{opSyscall}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{arg}})
	}
	if listener == "" && hasString(sc.SupportedFlags, "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV") {
		t.Log("WAIT_KILLABLE_RECV listed without SCMP_ACT_NOTIFY")
	}
	b := testutil.NewBundle(t, func(s *specs.Spec) {
		s.Linux.Seccomp = prof
		s.Process.Args = []string{"/probe", "caps"}
	})
	r := b.Run()
	if r.Code != 0 {
		t.Fatalf("a profile with every listed action, operator, arch and flag was refused: %s", r.Stderr)
	}
	if !strings.Contains(r.Stdout, "Seccomp:\t2") {
		t.Errorf("the container runs without a seccomp filter:\n%s", r.Stdout)
	}
}

func hasString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// seccompListener listens on a unix socket for the runtime's notify fd and drops it.
func seccompListener(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.AcceptUnix()
			if err != nil {
				return
			}
			buf, oob := make([]byte, 64<<10), make([]byte, 1024)
			_, oobn, _, _, _ := c.ReadMsgUnix(buf, oob)
			closeRights(oob[:oobn])
			c.Close()
		}
	}()
	return path
}

// TestFeaturesCgroup checks that each cgroup version claimed is one the container is
// placed in.
func TestFeaturesCgroup(t *testing.T) {
	testutil.RequireRoot(t)
	f := runtimeFeatures(t)
	cg := f.Linux.Cgroup
	if cg == nil {
		t.Fatal("no cgroup section")
	}
	b := testutil.NewBundle(t, func(s *specs.Spec) { s.Process.Args = []string{"/probe", "sleep", "60"} })
	pid := startSleeper(t, b)
	data := hostFile(t, pid, "cgroup")
	var v1, v2 bool
	for _, l := range strings.Split(strings.TrimSpace(data), "\n") {
		p := strings.SplitN(l, ":", 3)
		if len(p) != 3 || !strings.Contains(p[2], testutil.CgroupParent()) {
			continue
		}
		if p[0] == "0" && p[1] == "" {
			v2 = true
		} else {
			v1 = true
		}
	}
	if cg.V1 != nil && *cg.V1 && !v1 {
		t.Errorf("cgroup v1 claimed, but the container has no v1 cgroup of its own:\n%s", data)
	}
	if cg.V2 != nil && *cg.V2 && !v2 && testutil.IsHusk() {
		// runc 1.1.5 does not join the hybrid unified hierarchy.
		t.Errorf("cgroup v2 claimed, but the container has no v2 cgroup of its own:\n%s", data)
	}
	// runc 1.1.5 claims systemd whether or not the host runs it.
	if cg.Systemd != nil && *cg.Systemd && testutil.IsHusk() {
		if _, err := os.Stat("/run/systemd/system"); err != nil {
			t.Error("systemd cgroup driver claimed on a host not booted with systemd")
		}
	}
	if cg.Rdma != nil && *cg.Rdma {
		_, err1 := os.Stat("/sys/fs/cgroup/rdma")
		c2, _ := os.ReadFile("/sys/fs/cgroup/cgroup.controllers")
		if err1 != nil && !strings.Contains(string(c2), "rdma") && testutil.IsHusk() {
			t.Error("rdma claimed, but the host has no rdma controller")
		}
	}
}

// TestFeaturesMemoryPolicy creates a container with each listed mode and flag.
func TestFeaturesMemoryPolicy(t *testing.T) {
	testutil.RequireRoot(t)
	f := runtimeFeatures(t)
	mp := f.Linux.MemoryPolicy
	if mp == nil {
		t.Skip("no memoryPolicy in features")
	}
	try := func(name string, m specs.LinuxMemoryPolicy) {
		t.Run(name, func(t *testing.T) {
			b := testutil.NewBundle(t, func(s *specs.Spec) {
				s.Linux.MemoryPolicy = &m
				s.Process.Args = []string{"/probe", "mempolicy"}
			})
			if r := b.Run(); r.Code != 0 {
				t.Errorf("memoryPolicy %+v: %s", m, r.Stderr)
			}
		})
	}
	for _, mode := range mp.Modes {
		m := specs.LinuxMemoryPolicy{Mode: specs.MemoryPolicyModeType(mode), Nodes: "0"}
		if m.Mode == specs.MpolDefault || m.Mode == specs.MpolLocal {
			m.Nodes = ""
		}
		try(mode, m)
	}
	for _, fl := range mp.Flags {
		mode := specs.MpolInterleave
		if fl == string(specs.MpolFNumaBalancing) {
			mode = specs.MpolBind
		}
		try(fl, specs.LinuxMemoryPolicy{Mode: mode, Nodes: "0", Flags: []specs.MemoryPolicyFlagType{specs.MemoryPolicyFlagType(fl)}})
	}
}

// TestFeaturesHooks gives a container one hook of each listed kind and checks that each
// ran.
func TestFeaturesHooks(t *testing.T) {
	testutil.RequireRoot(t)
	f := runtimeFeatures(t)
	b := testutil.NewBundle(t, nil)
	writeHook(t, filepath.Join(b.Rootfs, "touch.sh"), `touch "$1"`+"\n")
	for _, h := range f.Hooks {
		hook := specs.Hook{Path: filepath.Join(b.Rootfs, "touch.sh"), Env: hookEnv}
		hook.Args = []string{hook.Path, filepath.Join(b.Rootfs, "ran-"+h)}
		if h == "startContainer" {
			hook.Args = []string{"/touch.sh", "/ran-" + h}
			hook.Path = "/touch.sh"
		}
		setHooks(b.Spec, h, hook)
	}
	b.WriteSpec()
	b.MustRun()
	for _, h := range f.Hooks {
		if _, err := os.Stat(filepath.Join(b.Rootfs, "ran-"+h)); err != nil {
			t.Errorf("listed hook %s did not run", h)
		}
	}
}

// TestFeaturesUnimplemented checks that what features reports as disabled is refused, not
// ignored, where husk can tell.
func TestFeaturesUnimplemented(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireHusk(t)
	f := runtimeFeatures(t)
	if rdt := f.Linux.IntelRdt; rdt == nil || rdt.Enabled == nil || *rdt.Enabled {
		t.Errorf("intelRdt: got %+v, want enabled false", rdt)
	}
	b := testutil.NewBundle(t, func(s *specs.Spec) { s.Linux.IntelRdt = &specs.LinuxIntelRdt{ClosID: "x"} })
	requireCreateFails(t, b, "linux.intelRdt")
	idmap := f.Linux.MountExtensions != nil && f.Linux.MountExtensions.IDMap != nil &&
		f.Linux.MountExtensions.IDMap.Enabled != nil && *f.Linux.MountExtensions.IDMap.Enabled
	for _, o := range f.MountOptions {
		if (o == "idmap" || o == "ridmap") && !idmap {
			t.Errorf("mount option %s listed while mountExtensions.idmap is off", o)
		}
	}
}

// closeRights closes the fds of SCM_RIGHTS messages in oob.
func closeRights(oob []byte) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return
	}
	for i := range msgs {
		fds, err := unix.ParseUnixRights(&msgs[i])
		if err != nil {
			continue
		}
		for _, fd := range fds {
			unix.Close(fd)
		}
	}
}

// heldCaps keeps the capabilities of names that this process's bounding set has.
func heldCaps(t *testing.T, names []string) []string {
	t.Helper()
	var out []string
	for _, n := range names {
		v, ok := capBits[n]
		if !ok {
			continue
		}
		if have, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(v), 0, 0, 0); err == nil && have == 1 {
			out = append(out, n)
		}
	}
	return out
}

var capBits = map[string]int{
	"CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_FOWNER": 3, "CAP_FSETID": 4,
	"CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8, "CAP_LINUX_IMMUTABLE": 9,
	"CAP_NET_BIND_SERVICE": 10, "CAP_NET_BROADCAST": 11, "CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13,
	"CAP_IPC_LOCK": 14, "CAP_IPC_OWNER": 15, "CAP_SYS_MODULE": 16, "CAP_SYS_RAWIO": 17,
	"CAP_SYS_CHROOT": 18, "CAP_SYS_PTRACE": 19, "CAP_SYS_PACCT": 20, "CAP_SYS_ADMIN": 21,
	"CAP_SYS_BOOT": 22, "CAP_SYS_NICE": 23, "CAP_SYS_RESOURCE": 24, "CAP_SYS_TIME": 25,
	"CAP_SYS_TTY_CONFIG": 26, "CAP_MKNOD": 27, "CAP_LEASE": 28, "CAP_AUDIT_WRITE": 29,
	"CAP_AUDIT_CONTROL": 30, "CAP_SETFCAP": 31, "CAP_MAC_OVERRIDE": 32, "CAP_MAC_ADMIN": 33,
	"CAP_SYSLOG": 34, "CAP_WAKE_ALARM": 35, "CAP_BLOCK_SUSPEND": 36, "CAP_AUDIT_READ": 37,
	"CAP_PERFMON": 38, "CAP_BPF": 39, "CAP_CHECKPOINT_RESTORE": 40,
}
