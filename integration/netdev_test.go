package integration

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/husk-runtime/husk/tests/testutil"
)

// vethPair makes a veth pair named after the test process (host end moved into the
// container, peer left on the host) and removes whatever of it is left at cleanup. This
// kernel has no "dummy" link type, hence veth.
func vethPair(t *testing.T, tag string) (end, peer string) {
	t.Helper()
	end = fmt.Sprintf("hk%s%d", tag, os.Getpid()%100000)
	peer = end + "p"
	t.Cleanup(func() {
		for _, n := range []string{end, peer} {
			if _, err := os.Stat("/sys/class/net/" + n); err == nil {
				_ = exec.Command("ip", "link", "del", n).Run()
			}
		}
	})
	if out, err := exec.Command("ip", "link", "add", end, "type", "veth", "peer", "name", peer).CombinedOutput(); err != nil {
		t.Skipf("cannot make a veth pair: %v: %s", err, out)
	}
	return end, peer
}

func mustIP(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// TestNetDevices: linux.netDevices moves a host interface into the container's network
// namespace under the name asked, with its permanent global addresses, and up; a veth end
// dies with the namespace (runtime-spec v1.3; runc 1.1.5 ignores the field).
func TestNetDevices(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireHusk(t)
	end, peer := vethPair(t, "n")
	mustIP(t, "addr", "add", "10.213.7.2/24", "dev", end)
	mustIP(t, "-6", "addr", "add", "fd00:213:7::2/64", "dev", end, "nodad")
	b := testutil.NewBundle(t, func(s *specs.Spec) {
		s.Linux.NetDevices = map[string]specs.LinuxNetDevice{end: {Name: "eth9"}}
		s.Process.Args = []string{"/probe", "sleep", "60"}
	})
	pid := startSleeper(t, b)
	if _, err := os.Stat("/sys/class/net/" + end); err == nil {
		t.Errorf("host: %s is still in the host's namespace", end)
	}
	// Outside: the init's namespace has it, by the host's view of that namespace.
	out, err := exec.Command("nsenter", "-t", fmt.Sprint(pid), "-n", "ip", "-o", "addr", "show", "dev", "eth9").CombinedOutput()
	if err != nil {
		t.Fatalf("nsenter ip addr: %v: %s", err, out)
	}
	for _, want := range []string{"inet 10.213.7.2/24", "inet6 fd00:213:7::2/64"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("eth9 seen from the host's nsenter: got %q, want %q", out, want)
		}
	}
	// Inside: busybox ip sees eth9 up with the address.
	in := b.MustHusk("exec", b.ID, "/bin/busybox", "ip", "addr", "show", "eth9")
	if !strings.Contains(in, "10.213.7.2/24") || !strings.Contains(in, "UP") {
		t.Errorf("ip addr show eth9 inside: got %q, want it up with 10.213.7.2/24", in)
	}
	if links := b.MustHusk("exec", b.ID, "/bin/busybox", "ip", "-o", "link"); strings.Contains(links, end) {
		t.Errorf("inside: the host name %s is still used: %q", end, links)
	}
	b.MustHusk("delete", "--force", b.ID)
	// "virtual devices (veth, macvlan, ...) are destroyed" with the namespace, the peer too.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat("/sys/class/net/" + peer); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("host: veth peer %s still exists 5s after delete", peer)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestNetDevicesKeepName: without "name" the interface keeps its host name.
func TestNetDevicesKeepName(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireHusk(t)
	end, _ := vethPair(t, "k")
	b := testutil.NewBundle(t, func(s *specs.Spec) {
		s.Linux.NetDevices = map[string]specs.LinuxNetDevice{end: {}}
		s.Process.Args = []string{"/bin/busybox", "ip", "-o", "link", "show", end}
	})
	// busybox prints "<name>@if<peer index>:" for a veth end.
	if out := b.MustRun(); !strings.Contains(out, ": "+end+"@") || !strings.Contains(out, ",UP") {
		t.Errorf("ip link show %s inside: got %q, want it present and up", end, out)
	}
}

// TestNetDevicesErrors: each refusal names the field, and create leaves nothing behind.
func TestNetDevicesErrors(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireHusk(t)
	end, _ := vethPair(t, "e")
	for _, tc := range []struct {
		name   string
		mutate func(*specs.Spec)
		want   string
	}{
		{"no such interface", func(s *specs.Spec) {
			s.Linux.NetDevices = map[string]specs.LinuxNetDevice{"hknosuch0": {Name: "eth9"}}
		}, `linux.netDevices["hknosuch0"]: no such host interface`},
		{"host network namespace", func(s *specs.Spec) {
			s.Linux.NetDevices = map[string]specs.LinuxNetDevice{end: {}}
			var ns []specs.LinuxNamespace
			for _, n := range s.Linux.Namespaces {
				if n.Type != specs.NetworkNamespace {
					ns = append(ns, n)
				}
			}
			s.Linux.Namespaces = ns
		}, "linux.netDevices: the container needs a network namespace"},
		{"bad name", func(s *specs.Spec) {
			s.Linux.NetDevices = map[string]specs.LinuxNetDevice{end: {Name: "a/b"}}
		}, `linux.netDevices["` + end + `"].name "a/b"`},
		{"name taken", func(s *specs.Spec) {
			s.Linux.NetDevices = map[string]specs.LinuxNetDevice{end: {Name: "lo"}}
		}, `an interface named "lo" exists in the container's network namespace`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := testutil.NewBundle(t, tc.mutate)
			r := b.Husk("create", "--bundle", b.Dir, b.ID)
			if r.Code == 0 || !strings.Contains(r.Stderr, tc.want) {
				t.Errorf("create: exit %d, stderr %q; want an error containing %q", r.Code, r.Stderr, tc.want)
			}
			if st := b.Status(); st != "" {
				t.Errorf("after the failed create: container status %q, want none", st)
			}
		})
	}
	// A failed move left the interface on the host.
	if _, err := os.Stat("/sys/class/net/" + end); err != nil {
		t.Errorf("host: %s is gone after refused creates: %v", end, err)
	}
}

// TestNetDevicesTemplate: a "%d" name lets the kernel pick the first free number.
func TestNetDevicesTemplate(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireHusk(t)
	end, _ := vethPair(t, "t")
	b := testutil.NewBundle(t, func(s *specs.Spec) {
		s.Linux.NetDevices = map[string]specs.LinuxNetDevice{end: {Name: "net%d"}}
		s.Process.Args = []string{"/bin/busybox", "ip", "-o", "link", "show", "net0"}
	})
	if out := b.MustRun(); !strings.Contains(out, ": net0@") {
		t.Errorf("ip link show net0 inside: got %q, want the moved veth end", out)
	}
}
