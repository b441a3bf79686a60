package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/husk-runtime/husk/tests/testutil"
)

// TestProcfsWriteRedirect: config.json bind mounts files of the test over the procfs files the
// runtime writes while it sets the container up (a sysctl and oom_score_adj), or a tmpfs over
// /proc/sys, as a racing bind mount would (CVE-2025-52881). The real target must get the write
// or the runtime must fail; the decoys must stay untouched.
func TestProcfsWriteRedirect(t *testing.T) {
	testutil.RequireRoot(t)
	// runc 1.1.5 writes sysctls and oom_score_adj by path, through the decoys.
	testutil.RequireHusk(t)
	cases := []struct {
		name   string
		mounts func(host string) []specs.Mount
	}{
		{"bind mounts over the files", func(host string) []specs.Mount {
			return []specs.Mount{
				{Destination: "/proc/sys/net/ipv4/ip_forward", Type: "bind", Source: filepath.Join(host, "ip_forward"), Options: []string{"bind"}},
				{Destination: "/proc/1/oom_score_adj", Type: "bind", Source: filepath.Join(host, "oom_score_adj"), Options: []string{"bind"}},
			}
		}},
		{"tmpfs over /proc/sys", func(string) []specs.Mount {
			return []specs.Mount{{Destination: "/proc/sys", Type: "tmpfs", Source: "tmpfs"}}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			host := t.TempDir()
			for _, f := range []string{"ip_forward", "oom_score_adj"} {
				if err := os.WriteFile(filepath.Join(host, f), []byte("0\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			before := secSnapshot(t, host)
			adj := 321
			b := testutil.NewBundle(t, func(s *specs.Spec) {
				s.Process.Args = []string{"/bin/sleep", "60"}
				s.Process.OOMScoreAdj = &adj
				s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
				s.Mounts = append(s.Mounts, tc.mounts(host)...)
			})
			r := b.Husk("create", "--bundle", b.Dir, "--pid-file", filepath.Join(b.Dir, "pid"), b.ID)
			if after := secSnapshot(t, host); after != before {
				t.Errorf("the runtime wrote to the decoys:\nbefore:\n%s\nafter:\n%s", before, after)
			}
			if m := secHostMounts(t, host); len(m) > 0 {
				t.Errorf("mounts appeared on the host under %s: %v", host, m)
			}
			if r.Code != 0 {
				t.Logf("refused: %s", r.Stderr)
				return
			}
			pidB, err := os.ReadFile(filepath.Join(b.Dir, "pid"))
			if err != nil {
				t.Fatal(err)
			}
			pid := strings.TrimSpace(string(pidB))
			// The real targets, seen from the host.
			if got, _ := os.ReadFile("/proc/" + pid + "/oom_score_adj"); strings.TrimSpace(string(got)) != strconv.Itoa(adj) {
				t.Errorf("oom_score_adj of the init: got %q, want %d", got, adj)
			}
			out, err := exec.Command("nsenter", "--net=/proc/"+pid+"/ns/net", "cat", "/proc/sys/net/ipv4/ip_forward").CombinedOutput()
			if err != nil {
				t.Fatalf("read the container's ip_forward: %v: %s", err, out)
			}
			if strings.TrimSpace(string(out)) != "1" {
				t.Errorf("net.ipv4.ip_forward in the container's network namespace: got %q, want 1", out)
			}
		})
	}
}

// TestSysctlNameEscape: a sysctl key whose name climbs out of the namespaced part of
// /proc/sys ("net.ipv4/../../kernel/domainname") must be refused before anything is written.
// The key leads to a UTS-namespaced file, so even a runtime that follows it harms only the
// container.
func TestSysctlNameEscape(t *testing.T) {
	testutil.RequireRoot(t)
	for _, key := range []string{"net.ipv4/../../kernel/domainname", "net/../kernel/domainname", "net.ipv4..kernel.domainname"} {
		t.Run(key, func(t *testing.T) {
			b := testutil.NewBundle(t, func(s *specs.Spec) {
				s.Process.Args = []string{"/probe", "domainname"}
				s.Linux.Sysctl = map[string]string{key: "escaped"}
			})
			r := b.Run()
			if strings.Contains(r.Stdout, "escaped") {
				t.Errorf("sysctl %q reached kernel.domainname", key)
			}
			if r.Code == 0 {
				t.Errorf("run succeeded with sysctl %q, want a refusal", key)
			}
		})
	}
}
