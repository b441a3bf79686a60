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

// idmapSource makes a host directory owned by uid:gid holding a file "f" owned by uid:gid.
// It is under /var/tmp, not TMPDIR: the VM lane's /tmp is a tmpfs, which Linux idmaps only
// from 6.3.
func idmapSource(t *testing.T, uid, gid int) string {
	t.Helper()
	dir, err := os.MkdirTemp("/var/tmp", "husk-idmap-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, "f")
	if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{f, dir} {
		if err := os.Lchown(p, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func idMap(container, host, size uint32) []specs.LinuxIDMapping {
	return []specs.LinuxIDMapping{{ContainerID: container, HostID: host, Size: size}}
}

// runIDMapped runs args in a container with extra mounts and returns its output. A
// filesystem that cannot be idmapped (tmpfs before Linux 6.3) skips the test.
func runIDMapped(t *testing.T, mutate func(*specs.Spec), mounts []specs.Mount, args ...string) string {
	t.Helper()
	b := testutil.NewBundle(t, func(s *specs.Spec) {
		if mutate != nil {
			mutate(s)
		}
		s.Mounts = append(s.Mounts, mounts...)
		s.Process.Args = args
	})
	return mustRunIDMapped(t, b)
}

// mustRunIDMapped runs b and returns its output; a filesystem that cannot be idmapped skips t.
func mustRunIDMapped(t *testing.T, b *testutil.Bundle) string {
	t.Helper()
	r := b.Run()
	skipUnidmappable(t, r)
	if r.Code != 0 {
		t.Fatalf("run: exit %d\nstdout: %s\nstderr: %s", r.Code, r.Stdout, r.Stderr)
	}
	return r.Stdout
}

func skipUnidmappable(t *testing.T, r testutil.Result) {
	t.Helper()
	if r.Code != 0 && strings.Contains(r.Stderr, "may not support idmapped mounts") {
		t.Skipf("the test directory's filesystem cannot be idmapped on this kernel: %s", r.Stderr)
	}
}

// TestIDMapMount: a host file owned by 1000:1001 appears owned by 0:0 through an idmapped bind
// mount, in a container without a user namespace; the mount is idmapped as the host sees it
// too (mountinfo). runc 1.1.5 does not implement idmapped mounts.
//
// The mapping has the kernel's direction, as the user namespace handed to mount_setattr(2)
// (runc and crun pass it through too): an ID on disk is a containerID and shows as its
// hostID, so {containerID: 1000, hostID: 0} shows the file of 1000 as 0's. Used with the
// container's own user namespace mapping, files show inside with their IDs on disk.
func TestIDMapMount(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireHusk(t)
	src := idmapSource(t, 1000, 1001)
	b := testutil.NewBundle(t, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/idm", Type: "bind", Source: src,
			Options: []string{"bind", "idmap"}, UIDMappings: idMap(1000, 0, 1), GIDMappings: idMap(1001, 0, 1)})
		s.Process.Args = []string{"/probe", "sleep", "60"}
	})
	r := b.Husk("create", "--bundle", b.Dir, b.ID)
	skipUnidmappable(t, r)
	if r.Code != 0 {
		t.Fatalf("create: exit %d: %s", r.Code, r.Stderr)
	}
	b.MustHusk("start", b.ID)
	pid := statePid(t, b)
	if got := b.MustHusk("exec", b.ID, "/probe", "stat", "/idm/f"); !strings.Contains(got, "uid=0 gid=0") {
		t.Errorf("stat /idm/f inside: got %q, want uid=0 gid=0 (host 1000:1001 through the mapping)", got)
	}
	// Outside: the host's view of the file is unchanged, and the mount is idmapped.
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(src, "f"), &st); err != nil || st.Uid != 1000 {
		t.Errorf("host stat: uid %d, err %v; want 1000", st.Uid, err)
	}
	mi, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, l := range strings.Split(string(mi), "\n") {
		if f := strings.Fields(l); len(f) > 5 && f[4] == "/idm" {
			found = true
			if !strings.Contains(f[5], "idmapped") {
				t.Errorf("mountinfo of /idm: got options %q, want idmapped", f[5])
			}
		}
	}
	if !found {
		t.Errorf("no /idm in the container's mountinfo:\n%s", mi)
	}
	// Writes through the mount land with the host IDs: root inside creates as 1000:1001.
	b.MustHusk("exec", b.ID, "/bin/touch", "/idm/new")
	if err := unix.Stat(filepath.Join(src, "new"), &st); err != nil || st.Uid != 1000 || st.Gid != 1001 {
		t.Errorf("host stat of a file made inside: %d:%d, err %v; want 1000:1001", st.Uid, st.Gid, err)
	}
}

// TestIDMapRecursive: ridmap maps the submounts of an rbind too; idmap only its top.
func TestIDMapRecursive(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireHusk(t)
	src := idmapSource(t, 1000, 1000)
	sub := idmapSource(t, 1000, 1000)
	if err := os.Mkdir(filepath.Join(src, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(src, "sub")
	if err := unix.Mount(sub, target, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(target, unix.MNT_DETACH) })
	for _, tc := range []struct {
		opt     string
		wantSub string
	}{
		{"ridmap", "uid=0 gid=0"},
		{"idmap", "uid=1000 gid=1000"}, // the submount keeps the host's IDs
	} {
		t.Run(tc.opt, func(t *testing.T) {
			out := runIDMapped(t, nil, []specs.Mount{{Destination: "/idm", Type: "bind", Source: src,
				Options: []string{"rbind", tc.opt}, UIDMappings: idMap(1000, 0, 1), GIDMappings: idMap(1000, 0, 1)}},
				"/bin/sh", "-c", "/probe stat /idm/f; /probe stat /idm/sub/f")
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 2 || !strings.Contains(lines[0], "uid=0 gid=0") || !strings.Contains(lines[1], tc.wantSub) {
				t.Errorf("%s: stat of /idm/f and /idm/sub/f: got %q, want uid=0 gid=0 then %s", tc.opt, out, tc.wantSub)
			}
		})
	}
}

// TestIDMapContainerUserNS: without mappings of its own, the mount takes the container's user
// namespace mapping, so host root's files are root's inside instead of nobody's.
func TestIDMapContainerUserNS(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireHusk(t)
	src := idmapSource(t, 0, 0)
	plain := specs.Mount{Destination: "/plain", Type: "bind", Source: src, Options: []string{"bind"}}
	idm := specs.Mount{Destination: "/idm", Type: "bind", Source: src, Options: []string{"bind", "idmap"}}
	b := testutil.NewBundle(t, func(s *specs.Spec) {
		secUserNS(s)
		s.Mounts = append(s.Mounts, plain, idm)
		s.Process.Args = []string{"/bin/sh", "-c", "/probe stat /plain/f; /probe stat /idm/f"}
	})
	secTraversable(t, b.Dir)
	// The user namespace's root owns nothing of the test rootfs: the mount points exist.
	for _, d := range []string{"plain", "idm"} {
		if err := os.Mkdir(filepath.Join(b.Rootfs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	out := mustRunIDMapped(t, b)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "uid=65534") || !strings.Contains(lines[1], "uid=0 gid=0") {
		t.Errorf("stat inside a user namespace mapping 0 -> 100000: got %q, want uid=65534 through /plain and uid=0 gid=0 through /idm", out)
	}
}

// TestIDMapErrors: refusals name the mount, and create leaves nothing behind.
func TestIDMapErrors(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireHusk(t)
	src := idmapSource(t, 0, 0)
	for _, tc := range []struct {
		name  string
		mount specs.Mount
		want  string
	}{
		{"no mapping and no user namespace", specs.Mount{Destination: "/idm", Type: "bind", Source: src, Options: []string{"bind", "idmap"}},
			"idmap: no uidMappings and gidMappings, and the container has no user namespace"},
		{"uid without gid", specs.Mount{Destination: "/idm", Type: "bind", Source: src, Options: []string{"bind", "idmap"}, UIDMappings: idMap(0, 1000, 1)},
			"each must be specified along with the other"},
		{"not a bind mount", specs.Mount{Destination: "/idm", Type: "tmpfs", Source: "tmpfs", Options: []string{"idmap"}, UIDMappings: idMap(0, 1000, 1), GIDMappings: idMap(0, 1000, 1)},
			"only bind mounts can be idmapped"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := testutil.NewBundle(t, func(s *specs.Spec) { s.Mounts = append(s.Mounts, tc.mount) })
			r := b.Husk("create", "--bundle", b.Dir, b.ID)
			field := fmt.Sprintf("mounts[%d] (destination \"/idm\"): ", len(b.Spec.Mounts)-1)
			if r.Code == 0 || !strings.Contains(r.Stderr, field) || !strings.Contains(r.Stderr, tc.want) {
				t.Errorf("create: exit %d, stderr %q; want an error naming %q with %q", r.Code, r.Stderr, field, tc.want)
			}
			if st := b.Status(); st != "" {
				t.Errorf("after the failed create: container status %q, want none", st)
			}
		})
	}
}
