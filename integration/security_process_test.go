package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/tests/testutil"
)

// secCaps is the capability set of the privilege tests; secCapsMask is its mask as
// /proc/<pid>/status prints it.
var (
	secCaps     = []string{"CAP_CHOWN", "CAP_KILL", "CAP_SETGID", "CAP_SETUID"}
	secCapsMask = fmt.Sprintf("%016x", uint64(1)<<unix.CAP_CHOWN|1<<unix.CAP_KILL|1<<unix.CAP_SETGID|1<<unix.CAP_SETUID)
)

// secStatus parses "Key:\tvalue" lines (probe caps, /proc/<pid>/status) into a map.
func secStatus(out string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

// TestSetuidEscalation: a non-root container process runs a setuid-root binary of the image.
// With no_new_privs it must stay unprivileged; without, it may become root but never hold a
// capability outside the configured bounding set. Checked for the container's process and for
// an exec'd one.
func TestSetuidEscalation(t *testing.T) {
	testutil.RequireRoot(t)
	script := []string{"/bin/sh", "-c", "/suid id; /suid caps"}
	for _, nnp := range []bool{true, false} {
		t.Run(fmt.Sprintf("noNewPrivileges=%v", nnp), func(t *testing.T) {
			b := testutil.NewBundle(t, func(s *specs.Spec) {
				s.Process.User = specs.User{UID: 1000, GID: 1000}
				s.Process.NoNewPrivileges = nnp
				s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: secCaps, Effective: secCaps, Permitted: secCaps}
				s.Process.Args = []string{"/bin/sleep", "60"}
			})
			suid := filepath.Join(b.Rootfs, "suid")
			if out, err := exec.Command("cp", filepath.Join(b.Rootfs, "probe"), suid).CombinedOutput(); err != nil {
				t.Fatalf("cp: %v: %s", err, out)
			}
			if err := os.Chmod(suid, 0o4755); err != nil {
				t.Fatal(err)
			}
			pid := b.Create()
			b.MustHusk("start", b.ID)
			secWaitExec(t, pid, "/bin/sleep")
			check := func(what, out string) {
				t.Helper()
				st := secStatus(out)
				if nnp {
					unprivileged := strings.Contains(out, "euid=1000") || strings.HasPrefix(st["Uid"], "1000\t1000\t")
					if !unprivileged || st["CapEff"] != "0000000000000000" || st["CapPrm"] != "0000000000000000" {
						t.Errorf("%s: setuid binary gained privileges despite no_new_privs:\n%s", what, out)
					}
				}
				for _, k := range []string{"CapBnd", "CapPrm", "CapEff", "CapInh", "CapAmb"} {
					v, err := strconv.ParseUint(st[k], 16, 64)
					bnd, _ := strconv.ParseUint(secCapsMask, 16, 64)
					if err != nil || v&^bnd != 0 {
						t.Errorf("%s: %s %q holds capabilities outside the bounding set %s", what, k, st[k], secCapsMask)
					}
				}
				if st["CapBnd"] != secCapsMask {
					t.Errorf("%s: CapBnd %s, want %s", what, st["CapBnd"], secCapsMask)
				}
				if want := map[bool]string{true: "1", false: "0"}[nnp]; st["NoNewPrivs"] != want {
					t.Errorf("%s: NoNewPrivs %q, want %s", what, st["NoNewPrivs"], want)
				}
			}
			// The container's own process, from the host.
			host, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
			if err != nil {
				t.Fatal(err)
			}
			hst := secStatus(string(host))
			if hst["CapEff"] != "0000000000000000" || hst["CapPrm"] != "0000000000000000" {
				t.Errorf("host view of the uid-1000 process: CapPrm %s CapEff %s, want none", hst["CapPrm"], hst["CapEff"])
			}
			check("container process (host view)", string(host))
			r := b.Husk(append([]string{"exec", b.ID}, script...)...)
			if r.Code != 0 {
				t.Fatalf("exec: exit %d: %s", r.Code, r.Stderr)
			}
			check("exec'd setuid binary", r.Stdout)
		})
	}
}

// secWaitExec waits until process pid runs args0 (start may return before the init's execve).
func secWaitExec(t *testing.T, pid int, args0 string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		cl, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		if err == nil && strings.HasPrefix(string(cl), args0+"\x00") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d does not run %s after 10s (cmdline %q, %v)", pid, args0, cl, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestExecKeyring: a process exec'd into the container must not share the caller's session
// keyring, where the host's keys live.
func TestExecKeyring(t *testing.T) {
	testutil.RequireRoot(t)
	hostSerial, err := unix.KeyctlInt(unix.KEYCTL_GET_KEYRING_ID, unix.KEY_SPEC_SESSION_KEYRING, 0, 0, 0)
	if err != nil {
		t.Skipf("keyctl: %v (no keyrings in this kernel?)", err)
	}
	b := testutil.NewBundle(t, func(s *specs.Spec) { s.Process.Args = []string{"/bin/sleep", "60"} })
	b.Create()
	b.MustHusk("start", b.ID)
	out := strings.TrimSpace(b.MustHusk("exec", b.ID, "/probe", "keyring"))
	serial, _, _ := strings.Cut(out, " ")
	if serial == strconv.Itoa(hostSerial) {
		t.Errorf("exec'd process shares the caller's session keyring %d: %s", hostSerial, out)
	}
}

// TestLSMLabels: process.selinuxLabel and process.apparmorProfile are applied to the
// container's process (checked from the host). The machine this usually runs on has SELinux
// disabled and AppArmor not loaded: the VM lane runs these.
func TestLSMLabels(t *testing.T) {
	testutil.RequireRoot(t)
	t.Run("selinux", func(t *testing.T) {
		if b, err := os.ReadFile("/sys/fs/selinux/enforce"); err != nil {
			t.Skip("SELinux is not enabled on this host (runs in the VM lane)")
		} else {
			t.Logf("SELinux enforce=%s", strings.TrimSpace(string(b)))
		}
		label := os.Getenv("HUSK_TEST_SELINUX_LABEL")
		if label == "" {
			label = "system_u:system_r:container_t:s0:c1,c2"
		}
		// Seen from inside: the container's own /proc/self/attr/current.
		b := testutil.NewBundle(t, func(s *specs.Spec) {
			s.Process.SelinuxLabel = label
			// With no_new_privs the kernel refuses any SELinux transition the policy does not
			// bound (nnp_transition): Debian's default policy grants none.
			s.Process.NoNewPrivileges = false
			s.Process.Args = []string{"/probe", "cat", "/proc/self/attr/current"}
		})
		r := b.Run()
		if got := strings.TrimRight(r.Stdout, "\x00\n"); r.Code != 0 || got != label {
			t.Fatalf("SELinux label inside the container: got %q (exit %d, stderr %q), want %q", got, r.Code, r.Stderr, label)
		}
	})
	t.Run("apparmor", func(t *testing.T) {
		enabled, _ := os.ReadFile("/sys/module/apparmor/parameters/enabled")
		profile := os.Getenv("HUSK_TEST_APPARMOR_PROFILE")
		if strings.TrimSpace(string(enabled)) != "Y" || profile == "" {
			t.Skip("AppArmor is not loaded here or HUSK_TEST_APPARMOR_PROFILE names no loaded profile (runs in the VM lane)")
		}
		got := secAttrCurrent(t, func(p *specs.Process) { p.ApparmorProfile = profile })
		if !strings.HasPrefix(got, profile+" ") {
			t.Errorf("AppArmor profile of the container process: got %q, want %s", got, profile)
		}
	})
}

// secAttrCurrent runs a container whose process set is changed by set and returns the LSM
// attribute /proc/<pid>/attr/current of its process, read from the host.
func secAttrCurrent(t *testing.T, set func(*specs.Process)) string {
	t.Helper()
	b := testutil.NewBundle(t, func(s *specs.Spec) {
		set(s.Process)
		s.Process.Args = []string{"/bin/sleep", "60"}
	})
	pid := b.Create()
	b.MustHusk("start", b.ID)
	secWaitExec(t, pid, "/bin/sleep")
	got, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/attr/current")
	if err != nil {
		t.Fatal(err)
	}
	return string(got)
}
