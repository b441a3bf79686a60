package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/tests/testutil"
)

// Filesystem magic numbers (statfs(2)) as the probe prints them.
const (
	tmpfsMagic  = "0x1021994"
	procMagic   = "0x9fa0"
	sysfsMagic  = "0x62656572"
	mqueueMagic = "0x19800202"
	devptsMagic = "0x1cd1"
	cgroupMagic = "0x27e0eb"
)

// statfs is the probe's statfs output for one path.
type statfs struct {
	Type  string
	Flags map[string]bool
	Size  uint64
}

func parseStatfs(t *testing.T, line string) statfs {
	t.Helper()
	var typ, flags string
	var size uint64
	if _, err := fmt.Sscanf(strings.TrimSpace(line), "type=%s flags=%s size=%d", &typ, &flags, &size); err != nil {
		t.Fatalf("probe statfs output %q: %v", line, err)
	}
	st := statfs{Type: typ, Flags: map[string]bool{}, Size: size}
	for _, f := range strings.Split(flags, ",") {
		st.Flags[f] = true
	}
	return st
}

// probeStatfs runs a container that prints `probe statfs` of each path, in order.
func probeStatfs(t *testing.T, b *testutil.Bundle, paths ...string) map[string]statfs {
	t.Helper()
	var script []string
	for _, p := range paths {
		script = append(script, "/probe statfs "+p)
	}
	b.Spec.Process.Args = []string{"/bin/sh", "-c", strings.Join(script, " && ")}
	b.WriteSpec()
	out := strings.Split(strings.TrimSpace(b.MustRun()), "\n")
	if len(out) != len(paths) {
		t.Fatalf("probe statfs %v: got %q", paths, out)
	}
	res := map[string]statfs{}
	for i, p := range paths {
		res[p] = parseStatfs(t, out[i])
	}
	return res
}

// mountinfoAt returns the fields of the top-most mountinfo line whose mount point is point.
func mountinfoAt(mountinfo, point string) []string {
	var found []string
	for _, l := range strings.Split(mountinfo, "\n") {
		if f := strings.Fields(l); len(f) > 5 && f[4] == point {
			found = f
		}
	}
	return found
}

// optionalFields returns a mountinfo line's propagation fields ("shared:N", "master:N").
func optionalFields(f []string) string {
	var opt []string
	for _, x := range f[6:] {
		if x == "-" {
			break
		}
		opt = append(opt, strings.Split(x, ":")[0])
	}
	return strings.Join(opt, " ")
}

func TestRootReadonly(t *testing.T) {
	testutil.RequireRoot(t)
	b := testutil.NewBundle(t, func(s *specs.Spec) {
		s.Root.Readonly = true
		s.Process.Args = []string{"/bin/sh", "-c", "/probe statfs /; /probe write /newfile x; /probe write /tmp/x x"}
	})
	r := b.Run()
	if !strings.Contains(r.Stdout, "flags=ro") {
		t.Errorf("statfs / inside: got %q, want ro", r.Stdout)
	}
	if !strings.Contains(r.Stderr, "read-only file system") {
		t.Errorf("writing to a read-only root: got stderr %q, want EROFS", r.Stderr)
	}
	if _, err := os.Stat(filepath.Join(b.Rootfs, "newfile")); err == nil {
		t.Error("a file was written into the read-only rootfs")
	}
}

func TestMountTypes(t *testing.T) {
	testutil.RequireRoot(t)
	b := testutil.NewBundle(t, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/scratch", Type: "tmpfs", Source: "tmpfs", Options: []string{"size=1m", "mode=1730", "nodev", "noatime"}})
	})
	got := probeStatfs(t, b, "/proc", "/sys", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys/fs/cgroup", "/sys/fs/cgroup/memory", "/scratch")
	for p, want := range map[string]string{
		"/proc": procMagic, "/sys": sysfsMagic, "/dev": tmpfsMagic, "/dev/pts": devptsMagic,
		"/dev/shm": tmpfsMagic, "/dev/mqueue": mqueueMagic, "/sys/fs/cgroup": tmpfsMagic,
		"/sys/fs/cgroup/memory": cgroupMagic, "/scratch": tmpfsMagic,
	} {
		if got[p].Type != want {
			t.Errorf("%s: filesystem type %s, want %s", p, got[p].Type, want)
		}
	}
	// Options from the default config: sysfs and cgroup read-only, /dev/shm nosuid,noexec,nodev.
	for p, flags := range map[string][]string{
		"/sys": {"ro", "nosuid", "nodev", "noexec"}, "/sys/fs/cgroup/memory": {"ro", "nosuid", "nodev", "noexec"},
		"/dev/shm": {"nosuid", "nodev", "noexec"}, "/dev/pts": {"nosuid", "noexec"}, "/scratch": {"nodev", "noatime"},
	} {
		for _, f := range flags {
			if !got[p].Flags[f] {
				t.Errorf("%s: flags %v, want %s", p, got[p].Flags, f)
			}
		}
	}
	if got["/scratch"].Size != 1<<20 {
		t.Errorf("/scratch: size %d, want 1 MiB (size=1m)", got["/scratch"].Size)
	}
	if !testutil.IsHusk() {
		return // measured: runc 1.1.5 leaves a new tmpfs's root at 0755 despite mode=1730
	}
	b.Spec.Process.Args = []string{"/probe", "stat", "/scratch"}
	b.WriteSpec()
	if out := b.MustRun(); !strings.HasPrefix(out, "mode=41730 ") {
		t.Errorf("/scratch: stat %q, want mode=41730 (mode=1730)", out)
	}
}

// hostSourceWithSubmount makes a host directory with a file and a tmpfs mounted on its "sub"
// directory (unmounted when t ends), the source of bind mounts.
func hostSourceWithSubmount(t *testing.T) string {
	t.Helper()
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "file"), []byte("hello"), 0o755); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(src, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", sub, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatalf("mount tmpfs on %s: %v", sub, err)
	}
	t.Cleanup(func() { _ = unix.Unmount(sub, unix.MNT_DETACH) })
	if err := os.WriteFile(filepath.Join(sub, "subfile"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	return src
}

func TestBindMountOptions(t *testing.T) {
	testutil.RequireRoot(t)
	src := hostSourceWithSubmount(t)
	b := testutil.NewBundle(t, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts,
			specs.Mount{Destination: "/b", Type: "bind", Source: src, Options: []string{"bind", "ro", "nosuid", "nodev", "noexec"}},
			specs.Mount{Destination: "/rb", Source: src, Options: []string{"rbind", "nosuid"}},
			specs.Mount{Destination: "/onefile", Type: "bind", Source: filepath.Join(src, "file"), Options: []string{"bind", "ro"}},
		)
	})
	got := probeStatfs(t, b, "/b", "/b/sub", "/rb", "/rb/sub", "/onefile")
	for _, f := range []string{"ro", "nosuid", "nodev", "noexec"} {
		if !got["/b"].Flags[f] {
			t.Errorf("/b: flags %v, want %s", got["/b"].Flags, f)
		}
	}
	if got["/b/sub"].Type == tmpfsMagic {
		t.Error("/b/sub: a plain bind carried the submount along")
	}
	if got["/rb/sub"].Type != tmpfsMagic {
		t.Errorf("/rb/sub: type %s, want the tmpfs submount (rbind)", got["/rb/sub"].Type)
	}
	if !got["/rb"].Flags["nosuid"] || got["/rb"].Flags["ro"] {
		t.Errorf("/rb: flags %v, want nosuid and not ro", got["/rb"].Flags)
	}
	if !got["/onefile"].Flags["ro"] {
		t.Errorf("/onefile: flags %v, want ro", got["/onefile"].Flags)
	}
	// noexec is enforced, not just reported.
	b.Spec.Process.Args = []string{"/probe", "exec", "/b/file"}
	b.WriteSpec()
	if r := b.Run(); !strings.Contains(r.Stdout, fmt.Sprintf("errno=%d", unix.EACCES)) {
		t.Errorf("exec on a noexec bind: got %q, want EACCES", r.Stdout)
	}
	// Nothing leaked back to the host.
	if _, err := os.Stat(filepath.Join(src, "sub", "subfile")); err != nil {
		t.Errorf("host submount disturbed: %v", err)
	}
}

// TestRecursiveMountAttrs: "rro" and kin apply to every submount (mount_setattr(2)
// AT_RECURSIVE, runtime-spec 1.1; runc 1.1 does not know them); plain "ro" only to the top.
func TestRecursiveMountAttrs(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireHusk(t)
	src := hostSourceWithSubmount(t)
	b := testutil.NewBundle(t, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts,
			specs.Mount{Destination: "/rro", Source: src, Options: []string{"rbind", "rro", "rnosuid", "rnoexec"}},
			specs.Mount{Destination: "/ro", Source: src, Options: []string{"rbind", "ro"}},
		)
	})
	got := probeStatfs(t, b, "/rro", "/rro/sub", "/ro", "/ro/sub")
	for _, p := range []string{"/rro", "/rro/sub"} {
		for _, f := range []string{"ro", "nosuid", "noexec"} {
			if !got[p].Flags[f] {
				t.Errorf("%s: flags %v, want %s", p, got[p].Flags, f)
			}
		}
	}
	if !got["/ro"].Flags["ro"] || got["/ro/sub"].Flags["ro"] {
		t.Errorf("ro (not recursive): /ro %v, /ro/sub %v; want only the top read-only", got["/ro"].Flags, got["/ro/sub"].Flags)
	}
}

func TestMountNosymfollow(t *testing.T) {
	testutil.RequireRoot(t)
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "target"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("target", filepath.Join(src, "link")); err != nil {
		t.Fatal(err)
	}
	b := testutil.NewBundle(t, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts,
			specs.Mount{Destination: "/nsf", Type: "bind", Source: src, Options: []string{"bind", "nosymfollow"}},
			specs.Mount{Destination: "/sf", Type: "bind", Source: src, Options: []string{"bind"}},
		)
		s.Process.Args = []string{"/bin/sh", "-c", "/probe statfs /nsf; /probe cat /sf/link; echo; /probe cat /nsf/link"}
	})
	r := b.Run()
	if !strings.Contains(r.Stdout, "nosymfollow") || !strings.Contains(r.Stdout, "secret\n") {
		t.Errorf("stdout %q: want /nsf nosymfollow and /sf/link followed", r.Stdout)
	}
	if !strings.Contains(r.Stderr, "too many levels of symbolic links") {
		t.Errorf("following a symlink on a nosymfollow mount: stderr %q, want ELOOP", r.Stderr)
	}
}

// makeSharedMount bind mounts dir onto itself on the host and makes it shared (a peer
// group a container's mounts can be slaves of); it is unmounted when t ends.
func makeSharedMount(t *testing.T, dir string) {
	t.Helper()
	if err := unix.Mount(dir, dir, "", unix.MS_BIND, ""); err != nil {
		t.Fatalf("bind %s: %v", dir, err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	if err := unix.Mount("", dir, "", unix.MS_SHARED, ""); err != nil {
		t.Fatalf("make %s shared: %v", dir, err)
	}
}

func TestRootfsPropagation(t *testing.T) {
	testutil.RequireRoot(t)
	for _, tc := range []struct {
		prop, want string
		strict     bool
	}{
		{"private", "", false}, {"rslave", "master", false},
		// Measured: runc 1.1.5 leaves / private with "shared".
		{"shared", "shared", true},
	} {
		t.Run(tc.prop, func(t *testing.T) {
			if tc.strict {
				testutil.RequireHusk(t)
			}
			b := testutil.NewBundle(t, func(s *specs.Spec) {
				s.Linux.RootfsPropagation = tc.prop
				s.Process.Args = []string{"/probe", "mounts"}
			})
			// This host's mounts are private: give the rootfs a host peer group to follow.
			makeSharedMount(t, b.Rootfs)
			f := mountinfoAt(b.MustRun(), "/")
			if f == nil {
				t.Fatal("no mountinfo line for /")
			}
			if got := optionalFields(f); !strings.HasPrefix(got, tc.want) || (tc.want == "" && got != "") {
				t.Errorf("rootfsPropagation %s: / has %q, want %q", tc.prop, got, tc.want)
			}
		})
	}
}

func TestMountPropagationOption(t *testing.T) {
	testutil.RequireRoot(t)
	src := t.TempDir()
	b := testutil.NewBundle(t, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts,
			specs.Mount{Destination: "/shared", Type: "bind", Source: src, Options: []string{"rbind", "rshared"}},
			specs.Mount{Destination: "/private", Type: "bind", Source: src, Options: []string{"rbind", "rprivate"}},
			specs.Mount{Destination: "/unbindable", Type: "bind", Source: src, Options: []string{"rbind", "runbindable"}},
		)
		s.Process.Args = []string{"/probe", "mounts"}
	})
	mi := b.MustRun()
	for point, want := range map[string]string{"/shared": "shared", "/private": "", "/unbindable": "unbindable"} {
		f := mountinfoAt(mi, point)
		if f == nil {
			t.Errorf("%s: not mounted", point)
			continue
		}
		if got := optionalFields(f); !strings.HasPrefix(got, want) || (want == "" && got != "") {
			t.Errorf("%s: propagation %q, want %q", point, got, want)
		}
	}
}

func TestTmpcopyup(t *testing.T) {
	testutil.RequireRoot(t)
	b := testutil.NewBundle(t, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/etc", Type: "tmpfs", Source: "tmpfs", Options: []string{"tmpcopyup", "mode=755"}})
		s.Process.Args = []string{"/bin/sh", "-c", "/probe statfs /etc; /probe cat /etc/passwd; /probe write /etc/new x"}
	})
	out := b.MustRun()
	if !strings.HasPrefix(out, "type="+tmpfsMagic) {
		t.Errorf("/etc: %q, want a tmpfs", out)
	}
	if !strings.Contains(out, "root:x:0:0:") {
		t.Errorf("/etc/passwd was not copied up: %q", out)
	}
	if _, err := os.Stat(filepath.Join(b.Rootfs, "etc/new")); err == nil {
		t.Error("a write to the tmpfs reached the image's /etc")
	}
}

func TestMaskedAndReadonlyPaths(t *testing.T) {
	testutil.RequireRoot(t)
	b := testutil.NewBundle(t, func(s *specs.Spec) {
		s.Linux.MaskedPaths = append(s.Linux.MaskedPaths, "/etc/secret", "/secretdir", "/no/such/path")
		s.Linux.ReadonlyPaths = append(s.Linux.ReadonlyPaths, "/rodir", "/no/such/ro")
	})
	for _, d := range []string{"secretdir", "rodir"} {
		if err := os.Mkdir(filepath.Join(b.Rootfs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"etc/secret", "secretdir/key", "rodir/file"} {
		if err := os.WriteFile(filepath.Join(b.Rootfs, f), []byte("top secret"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b.Spec.Process.Args = []string{"/bin/sh", "-c", strings.Join([]string{
		"/probe cat /etc/secret; echo END1",
		"/probe stat /etc/secret",
		"/probe ls /secretdir; echo END2",
		"/probe statfs /secretdir",
		"/probe statfs /rodir",
		"/probe cat /rodir/file; echo",
		"/probe statfs /proc/sys",
		"/probe cat /proc/kcore | head -c 1; echo END3",
		"/probe write /rodir/file x",
	}, "; ")}
	b.WriteSpec()
	r := b.Run()
	lines := strings.Split(r.Stdout, "\n")
	if len(lines) < 9 {
		t.Fatalf("output: %q (stderr %q)", r.Stdout, r.Stderr)
	}
	if lines[0] != "END1" {
		t.Errorf("masked file /etc/secret reads %q, want nothing", lines[0])
	}
	if !strings.HasPrefix(lines[1], "mode=20") || !strings.HasSuffix(lines[1], "rdev=1:3") {
		t.Errorf("masked file: stat %q, want the 1:3 character device", lines[1])
	}
	if lines[2] != "END2" {
		t.Errorf("masked dir lists %q, want nothing", lines[2])
	}
	if st := parseStatfs(t, lines[3]); st.Type != tmpfsMagic || !st.Flags["ro"] {
		t.Errorf("masked dir: %q, want a read-only tmpfs", lines[3])
	}
	if st := parseStatfs(t, lines[4]); !st.Flags["ro"] {
		t.Errorf("readonly path /rodir: %q, want ro", lines[4])
	}
	if lines[5] != "top secret" {
		t.Errorf("readonly path content: %q, want it readable", lines[5])
	}
	if st := parseStatfs(t, lines[6]); !st.Flags["ro"] {
		t.Errorf("readonly /proc/sys: %q, want ro", lines[6])
	}
	if lines[7] != "END3" {
		t.Errorf("masked /proc/kcore reads %q, want nothing", lines[7])
	}
	if !strings.Contains(r.Stderr, "read-only file system") {
		t.Errorf("write to a readonly path: stderr %q, want EROFS", r.Stderr)
	}
	if data, _ := os.ReadFile(filepath.Join(b.Rootfs, "rodir/file")); string(data) != "top secret" {
		t.Errorf("readonly path changed on the host: %q", data)
	}
}

func TestDefaultDevices(t *testing.T) {
	testutil.RequireRoot(t)
	devs := map[string]string{
		"/dev/null": "1:3", "/dev/zero": "1:5", "/dev/full": "1:7",
		"/dev/random": "1:8", "/dev/urandom": "1:9", "/dev/tty": "5:0",
	}
	links := map[string]string{
		"/dev/fd": "/proc/self/fd", "/dev/stdin": "/proc/self/fd/0", "/dev/stdout": "/proc/self/fd/1",
		"/dev/stderr": "/proc/self/fd/2", "/dev/ptmx": "pts/ptmx",
	}
	var script []string
	for _, p := range []string{"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"} {
		script = append(script, "echo "+p+" $(/probe stat "+p+")")
	}
	for _, p := range []string{"/dev/fd", "/dev/stdin", "/dev/stdout", "/dev/stderr", "/dev/ptmx"} {
		script = append(script, "echo "+p+" $(/probe readlink "+p+")")
	}
	b := testutil.NewBundle(t, func(s *specs.Spec) { s.Process.Args = []string{"/bin/sh", "-c", strings.Join(script, "; ")} })
	got := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(b.MustRun()), "\n") {
		k, v, _ := strings.Cut(l, " ")
		got[k] = v
	}
	for p, rdev := range devs {
		if want := "mode=20666 uid=0 gid=0 rdev=" + rdev; got[p] != want {
			t.Errorf("%s: got %q, want %q", p, got[p], want)
		}
	}
	for p, target := range links {
		if got[p] != target {
			t.Errorf("%s: links to %q, want %q", p, got[p], target)
		}
	}
}

func TestLinuxDevices(t *testing.T) {
	testutil.RequireRoot(t)
	mode := os.FileMode(0o620)
	uid, gid := uint32(1000), uint32(2000)
	b := testutil.NewBundle(t, func(s *specs.Spec) {
		s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/mynull", Type: "c", Major: 1, Minor: 3, FileMode: &mode, UID: &uid, GID: &gid}}
		s.Linux.Resources.Devices = append(s.Linux.Resources.Devices, specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: ptr(int64(1)), Minor: ptr(int64(3)), Access: "rwm"})
		// The device's owner writes to it: the default capabilities lack CAP_DAC_OVERRIDE.
		s.Process.User = specs.User{UID: uid, GID: gid}
		s.Process.Args = []string{"/bin/sh", "-c", "/probe stat /dev/mynull && echo data > /dev/mynull && echo written"}
	})
	if got, want := b.MustRun(), "mode=20620 uid=1000 gid=2000 rdev=1:3\nwritten\n"; got != want {
		t.Errorf("custom device: got %q, want %q", got, want)
	}
}

func ptr[T any](v T) *T { return &v }

func TestNoPivot(t *testing.T) {
	testutil.RequireRoot(t)
	b := testutil.NewBundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"/bin/sh", "-c", "/probe ls /; /probe mounts; /probe ls " + testutil.RepoRoot() + "; exit 0"}
	})
	r := b.Husk("run", "--no-pivot", "--bundle", b.Dir, b.ID)
	if r.Code != 0 {
		t.Fatalf("run --no-pivot: exit %d: %s", r.Code, r.Stderr)
	}
	if !strings.Contains(r.Stdout, "probe\n") {
		t.Errorf("/ is not the rootfs: %q", r.Stdout)
	}
	if f := mountinfoAt(r.Stdout, "/"); f == nil {
		t.Errorf("no mount at / with --no-pivot:\n%s", r.Stdout)
	}
	// The host's root is not reachable (chroot): its directories do not show.
	if !strings.Contains(r.Stderr, "no such file or directory") {
		t.Errorf("host directory %s reachable inside: stderr %q", testutil.RepoRoot(), r.Stderr)
	}
}

// TestMountDestinationSymlinkEscape: a destination that is a symlink out of the rootfs is
// resolved inside it (or refused): the mount must never land on the host path.
func TestMountDestinationSymlinkEscape(t *testing.T) {
	testutil.RequireRoot(t)
	outside := t.TempDir() // a host directory the symlink points at
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "s-file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, link string }{
		{"absolute", outside},
		{"relative", "../../../../../../../.." + outside},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := testutil.NewBundle(t, func(s *specs.Spec) {
				s.Mounts = append(s.Mounts, specs.Mount{Destination: "/evil/sub", Type: "bind", Source: src, Options: []string{"bind"}})
				s.Process.Args = []string{"/bin/sh", "-c", "/probe ls /evil/sub; /probe sleep 60; exit 0"}
			})
			if err := os.Symlink(tc.link, filepath.Join(b.Rootfs, "evil")); err != nil {
				t.Fatal(err)
			}
			r := b.Husk("create", "--bundle", b.Dir, "--pid-file", filepath.Join(b.Dir, "pid"), b.ID)
			if r.Code != 0 {
				t.Logf("refused (allowed): %s", r.Stderr)
			} else {
				data, _ := os.ReadFile(filepath.Join(b.Dir, "pid"))
				var pid int
				fmt.Sscan(string(data), &pid)
				mi, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
				if err != nil {
					t.Fatal(err)
				}
				// The init's root is the rootfs after pivot: the mount shows at the path the
				// symlink names, now inside the rootfs.
				if f := mountinfoAt(string(mi), filepath.Join(outside, "sub")); f == nil {
					t.Errorf("bind mount not at %s inside the rootfs:\n%s", filepath.Join(outside, "sub"), mi)
				}
			}
			// On the host nothing was created or mounted at the target.
			if ents, _ := os.ReadDir(outside); len(ents) != 0 {
				t.Errorf("host directory %s got %v", outside, ents)
			}
			if hostMI, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(hostMI), " "+outside) {
				t.Errorf("host mount table has a mount under %s", outside)
			}
		})
	}
}

func TestMountBadOption(t *testing.T) {
	testutil.RequireRoot(t)
	b := testutil.NewBundle(t, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/scratch", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "bogus-option"}})
	})
	expectCreateFails(t, b, "bogus-option")
}

// TestMountSlavePropagation: a host mount made after start appears under an "rslave" bind of
// a shared host directory, and not under an "rprivate" one.
func TestMountSlavePropagation(t *testing.T) {
	testutil.RequireRoot(t)
	src := t.TempDir()
	sub := filepath.Join(src, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	makeSharedMount(t, src)
	b := testutil.NewBundle(t, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts,
			specs.Mount{Destination: "/slave", Type: "bind", Source: src, Options: []string{"rbind", "rslave"}},
			specs.Mount{Destination: "/private", Type: "bind", Source: src, Options: []string{"rbind", "rprivate"}},
		)
		s.Process.Args = []string{"/bin/sleep", "60"}
	})
	startSleeper(t, b)
	if err := unix.Mount("tmpfs", sub, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(sub, unix.MNT_DETACH) })
	slave := parseStatfs(t, b.MustHusk("exec", b.ID, "/probe", "statfs", "/slave/sub"))
	private := parseStatfs(t, b.MustHusk("exec", b.ID, "/probe", "statfs", "/private/sub"))
	if slave.Type != tmpfsMagic {
		t.Errorf("/slave/sub: type %s, want the host's new tmpfs (rslave)", slave.Type)
	}
	if private.Type == tmpfsMagic {
		t.Error("/private/sub: the host's new mount propagated into an rprivate bind")
	}
}
