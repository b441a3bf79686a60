package integration

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/husk-runtime/husk/tests/testutil"
)

// secSymlink replaces path (inside a rootfs) by a symlink to target.
func secSymlink(t *testing.T, path, target string) {
	t.Helper()
	if err := os.RemoveAll(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
}

// secUp is a relative symlink target that climbs out of any rootfs to the host's dir.
func secUp(dir string) string { return strings.Repeat("../", 40) + strings.TrimPrefix(dir, "/") }

// secWithout drops the mounts at dest and below it from s.
func secWithout(s *specs.Spec, dest string) {
	var mounts []specs.Mount
	for _, m := range s.Mounts {
		if m.Destination != dest && !strings.HasPrefix(m.Destination, dest+"/") {
			mounts = append(mounts, m)
		}
	}
	s.Mounts = mounts
}

// TestMountSymlinkEscape: mount destinations and the directories and files the runtime
// creates for them (mkdir -p) pass through symlinks in the image that point at a host
// directory, absolute and relative (CVE-2021-30465, CVE-2024-45310). Nothing may be created or
// mounted outside the rootfs.
func TestMountSymlinkEscape(t *testing.T) {
	testutil.RequireRoot(t)
	host, check := secHostDir(t)
	src := t.TempDir()
	srcFile := filepath.Join(src, "file")
	if err := os.WriteFile(srcFile, []byte("bind source\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b := testutil.NewBundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"/probe", "mounts"}
		s.Mounts = append(s.Mounts,
			specs.Mount{Destination: "/evil/sub/dir", Type: "tmpfs", Source: "tmpfs"},
			specs.Mount{Destination: "/evil/file", Type: "bind", Source: srcFile, Options: []string{"bind"}},
			specs.Mount{Destination: "/evil/bdir/x", Type: "bind", Source: src, Options: []string{"rbind"}},
			specs.Mount{Destination: "/evilrel/y/z", Type: "tmpfs", Source: "tmpfs"},
			specs.Mount{Destination: "/evilrel/file", Type: "bind", Source: srcFile, Options: []string{"bind"}},
		)
	})
	secSymlink(t, filepath.Join(b.Rootfs, "evil"), host)
	secSymlink(t, filepath.Join(b.Rootfs, "evilrel"), secUp(host))
	// Resolved inside the rootfs, the links lead to this directory, so the mounts can succeed.
	if err := os.MkdirAll(filepath.Join(b.Rootfs, host), 0o755); err != nil {
		t.Fatal(err)
	}
	r := b.Run()
	t.Logf("run: exit %d\n%s", r.Code, r.Stderr)
	if r.Code != 0 {
		t.Errorf("run: exit %d, want the mounts made inside the rootfs: %s", r.Code, r.Stderr)
	} else {
		// The mounts landed somewhere inside the container: where the symlinks lead when
		// resolved against the container's root.
		for _, want := range []string{host + "/sub/dir", host + "/file", host + "/bdir/x", host + "/y/z"} {
			if !strings.Contains(r.Stdout, " "+want+" ") {
				t.Errorf("no mount at %s (the symlink resolved inside the rootfs) in:\n%s", want, r.Stdout)
			}
		}
	}
	check()
}

// TestMountSymlinkRace: a second container shares a volume with the one being created and
// swaps a directory on it with a symlink to a host directory as fast as it can, while the
// runtime creates mount points through it (CVE-2021-30465, CVE-2024-45310).
func TestMountSymlinkRace(t *testing.T) {
	testutil.RequireRoot(t)
	// runc 1.1.5 predates the CVE-2024-45310 fix (1.1.14): it creates mount points in the
	// test's host directory.
	testutil.RequireHusk(t)
	host, check := secHostDir(t)
	vol := t.TempDir()
	volMount := specs.Mount{Destination: "/vol", Type: "bind", Source: vol, Options: []string{"rbind", "rw"}}
	attacker := testutil.NewBundle(t, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, volMount)
		s.Process.Args = []string{"/probe", "swap", "/vol", "x", host, "30"}
	})
	secKillFirst(t, attacker)
	attacker.Create()
	attacker.MustHusk("start", attacker.ID)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Lstat(filepath.Join(vol, "x.link")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the attacker container did not start swapping")
		}
		time.Sleep(10 * time.Millisecond)
	}
	victim := testutil.NewBundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"/bin/true"}
		s.Mounts = append(s.Mounts, volMount,
			specs.Mount{Destination: "/vol/x/a/b", Type: "tmpfs", Source: "tmpfs"},
			specs.Mount{Destination: "/vol/x/c", Type: "bind", Source: vol, Options: []string{"rbind"}},
		)
	})
	ok, failed := 0, 0
	for i := 0; i < 25; i++ {
		if r := victim.Run(); r.Code == 0 {
			ok++
		} else {
			failed++
		}
		victim.Husk("delete", "--force", victim.ID)
	}
	t.Logf("victim runs: %d succeeded, %d refused", ok, failed)
	check()
}

// TestProcSysNotReal: /proc or /sys in the image is a symlink, or config.json bind mounts a
// directory of the host there. The runtime must refuse: a fake /proc would take the writes of
// LSM labels and sysctls (CVE-2019-16884, CVE-2023-27561, CVE-2023-28642).
func TestProcSysNotReal(t *testing.T) {
	testutil.RequireRoot(t)
	cases := []struct {
		name string
		prep func(t *testing.T, b *testutil.Bundle, host string)
		// strict: runc 1.1.5 accepts it (it checks the source of a /proc mount only).
		strict bool
	}{
		{"proc symlink absolute", func(t *testing.T, b *testutil.Bundle, host string) {
			secSymlink(t, filepath.Join(b.Rootfs, "proc"), host)
		}, false},
		{"proc symlink relative", func(t *testing.T, b *testutil.Bundle, host string) {
			secSymlink(t, filepath.Join(b.Rootfs, "proc"), secUp(host))
		}, false},
		{"sys symlink absolute", func(t *testing.T, b *testutil.Bundle, host string) {
			secSymlink(t, filepath.Join(b.Rootfs, "sys"), host)
		}, false},
		{"proc bind mount of a directory", func(t *testing.T, b *testutil.Bundle, host string) {
			secWithout(b.Spec, "/proc")
			b.Spec.Mounts = append(b.Spec.Mounts, specs.Mount{Destination: "/proc", Type: "bind", Source: host, Options: []string{"rbind"}})
			b.WriteSpec()
		}, false},
		{"sys bind mount of a directory", func(t *testing.T, b *testutil.Bundle, host string) {
			secWithout(b.Spec, "/sys")
			b.Spec.Mounts = append(b.Spec.Mounts, specs.Mount{Destination: "/sys", Type: "bind", Source: host, Options: []string{"rbind"}})
			b.WriteSpec()
		}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.strict {
				testutil.RequireHusk(t)
			}
			host, check := secHostDir(t)
			b := testutil.NewBundle(t, func(s *specs.Spec) { s.Process.Args = []string{"/probe", "mounts"} })
			tc.prep(t, b, host)
			r := b.Husk("create", "--bundle", b.Dir, b.ID)
			if r.Code == 0 {
				t.Errorf("create succeeded, want a refusal")
			} else {
				t.Logf("refused: %s", strings.TrimSpace(r.Stderr))
			}
			check()
		})
	}
}

// TestDevNullNotReal: the image's /dev/null is a symlink to a file of the host (absolute and
// relative), a regular file or a FIFO, and /dev is the image's own (no tmpfs). Masked paths
// must be masked by the real 1:3 character device, or the runtime refuses; the host file must
// not be bind mounted into the container nor written (CVE-2025-31133).
func TestDevNullNotReal(t *testing.T) {
	testutil.RequireRoot(t)
	cases := []struct {
		name string
		prep func(t *testing.T, null, host string)
		// vulnerable: runc 1.1.5 predates the CVE-2025-31133 fix and uses the fake /dev/null
		// (for the container's stdio too).
		vulnerable bool
	}{
		{"symlink absolute", func(t *testing.T, null, host string) { secSymlink(t, null, filepath.Join(host, "host-marker")) }, false},
		{"symlink relative", func(t *testing.T, null, host string) { secSymlink(t, null, secUp(host)+"/host-marker") }, false},
		{"symlink absolute, target also in the rootfs", func(t *testing.T, null, host string) {
			// Resolved inside the rootfs the link leads to a regular file there.
			inRoot := filepath.Join(filepath.Dir(filepath.Dir(null)), host)
			if err := os.MkdirAll(inRoot, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(inRoot, "host-marker"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			secSymlink(t, null, filepath.Join(host, "host-marker"))
		}, true},
		{"regular file", func(t *testing.T, null, host string) {
			if err := os.WriteFile(null, []byte("not a device\n"), 0o666); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"fifo", func(t *testing.T, null, host string) {
			if err := syscall.Mkfifo(null, 0o666); err != nil {
				t.Fatal(err)
			}
		}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.vulnerable {
				testutil.RequireHusk(t)
			}
			host, check := secHostDir(t)
			b := testutil.NewBundle(t, func(s *specs.Spec) {
				secWithout(s, "/dev")
				s.Process.Args = []string{"/bin/sh", "-c", "/probe stat /proc/keys && /probe write /proc/keys pwned && /probe stat /proc/timer_list"}
			})
			tc.prep(t, filepath.Join(b.Rootfs, "dev", "null"), host)
			r := b.Run()
			t.Logf("run: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
			if r.Code == 0 {
				for _, l := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
					if !strings.HasPrefix(l, "mode=20") || !strings.HasSuffix(l, "rdev=1:3") {
						t.Errorf("masked path is not the 1:3 character device: %q", l)
					}
				}
			}
			check()
		})
	}
}

// TestDevSymlink: /dev in the image is a symlink to a host directory (absolute and relative).
// Mounting /dev and creating device nodes must stay inside the rootfs, with and without a
// /dev tmpfs and in a user namespace, where devices are bind mounts (CVE-2026-41579,
// CVE-2026-47766).
func TestDevSymlink(t *testing.T) {
	testutil.RequireRoot(t)
	// runc 1.1.5 follows the image's /dev symlink and creates device nodes in the test's host
	// directory.
	testutil.RequireHusk(t)
	// In a user namespace the host's node of the same path is bind mounted: it must exist.
	dev := specs.LinuxDevice{Path: "/dev/zero", Type: "c", Major: 1, Minor: 5}
	cases := []struct {
		name     string
		relative bool
		inRoot   bool // the link's target exists inside the rootfs too
		mutate   func(*specs.Spec)
	}{
		{"absolute, /dev tmpfs", false, false, nil},
		{"relative, /dev tmpfs", true, false, nil},
		{"absolute in rootfs, /dev tmpfs", false, true, nil},
		{"relative in rootfs, /dev tmpfs", true, true, nil},
		{"absolute, no /dev tmpfs", false, false, func(s *specs.Spec) { secWithout(s, "/dev") }},
		{"absolute in rootfs, no /dev tmpfs", false, true, func(s *specs.Spec) { secWithout(s, "/dev") }},
		{"relative in rootfs, no /dev tmpfs", true, true, func(s *specs.Spec) { secWithout(s, "/dev") }},
		{"absolute in rootfs, user namespace", false, true, secUserNS},
		{"absolute in rootfs, user namespace, no /dev tmpfs", false, true, func(s *specs.Spec) { secUserNS(s); secWithout(s, "/dev") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			host, check := secHostDir(t)
			b := testutil.NewBundle(t, func(s *specs.Spec) {
				if tc.mutate != nil {
					tc.mutate(s)
				}
				s.Linux.Devices = append(s.Linux.Devices, dev)
				s.Process.Args = []string{"/probe", "stat", "/dev/zero"}
			})
			secTraversable(t, b.Dir)
			target := host
			if tc.relative {
				target = secUp(host)
			}
			secSymlink(t, filepath.Join(b.Rootfs, "dev"), target)
			if tc.inRoot {
				// Writable by the root of a user namespace too.
				if err := os.MkdirAll(filepath.Join(b.Rootfs, host), 0o777); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(filepath.Join(b.Rootfs, host), 0o777); err != nil {
					t.Fatal(err)
				}
			}
			r := b.Run()
			t.Logf("run: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
			if r.Code == 0 && !strings.HasSuffix(strings.TrimSpace(r.Stdout), "rdev=1:5") {
				t.Errorf("/dev/zero in the container: %q, want the 1:5 device", r.Stdout)
			}
			check()
		})
	}
}
