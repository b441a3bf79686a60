package fs

import (
	"context"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/husk-runtime/husk/libcontainer/cgroups/internal/cgtest"
)

// TestRealUnavailable checks that settings for what this host lacks fail
// with an error naming the field, before anything is written, and that
// the same config without them works.
func TestRealUnavailable(t *testing.T) {
	host := cgtest.RequireV1(t, "memory")
	tests := []struct {
		name string
		r    *specs.LinuxResources
		want string
		skip func() bool
	}{
		{"net_cls", &specs.LinuxResources{Network: &specs.LinuxNetwork{ClassID: u32(0x100001)}}, "linux.resources.network.classID", func() bool { _, ok := host.V1["net_cls"]; return ok }},
		{"unified on v1", &specs.LinuxResources{Unified: map[string]string{"memory.high": "1G"}}, "linux.resources.unified: needs cgroup v2", nil},
		{"hugetlb without controller", &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 1 << 21}}}, "linux.resources.hugepageLimits[0]", func() bool { _, ok := host.V1["hugetlb"]; return ok }},
		{"blkio leaf weight without CFQ", &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{LeafWeight: u16(500)}}, "linux.resources.blockIO.leafWeight", nil},
		{"swap below limit", &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(2 << 20), Swap: i64(1 << 20)}}, "linux.resources.memory.swap: must be >= memory.limit", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.skip != nil && tc.skip() {
				t.Skip("this host has the controller")
			}
			m := newReal(t, host, &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(10)}})
			if err := m.Create(); err != nil {
				t.Fatalf("Create: %v", err)
			}
			err := m.Set(tc.r)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Set: got %v, want error containing %q", err, tc.want)
			}
			m2 := newReal(t, host, tc.r)
			if err := m2.Create(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Create: got %v, want error containing %q", err, tc.want)
			}
			if m2.Exists() {
				t.Errorf("failed Create left its cgroup behind")
			}
		})
	}
}

// TestRealOOMEvents runs dd with a 64 MiB buffer under a 16 MiB limit.
func TestRealOOMEvents(t *testing.T) {
	host := cgtest.RequireV1(t, "memory")
	m := newReal(t, host, &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(16 << 20), Swap: i64(16 << 20)}})
	if err := m.Create(); err != nil {
		t.Fatalf("Create: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ch, err := m.OOMEvents(ctx)
	if err != nil {
		t.Fatalf("OOMEvents: %v", err)
	}
	cmd := exec.Command("/bin/sh", "-c", "read x; exec dd if=/dev/zero of=/dev/null bs=64M count=1")
	in, _ := cmd.StdinPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	if err := m.Apply(cmd.Process.Pid); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	io.WriteString(in, "go\n")
	select {
	case _, ok := <-ch:
		if !ok {
			t.Fatal("OOM channel closed without an event")
		}
	case <-ctx.Done():
		t.Fatal("no OOM event within 10s")
	}
	_ = cmd.Wait()
	st, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Memory.Usage.Max != 16<<20 {
		t.Errorf("memory max usage = %d after an OOM, want the limit %d", st.Memory.Usage.Max, 16<<20)
	}
	if oc := readBack(t, m.Path("memory"), "memory.oom_control"); !strings.Contains(oc, "oom_kill 1") {
		t.Errorf("memory.oom_control = %q, want oom_kill 1", oc)
	}
	// Removing the cgroup closes the channel.
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
		for range ch {
		}
	case <-time.After(5 * time.Second):
		t.Error("OOM channel still open 5s after Destroy")
	}
}

// TestRealJoinCost measures the parent writing a pid to cgroup.procs in
// every hierarchy (Apply) against a single-threaded child writing "0" to
// JoinFiles itself; the v1 attach stall of docs/performance-anchors is
// the difference. The child's side is its shell run minus a baseline run.
func TestRealJoinCost(t *testing.T) {
	host := cgtest.RequireV1(t, "memory", "pids")
	const rounds = 5
	var self, base, apply time.Duration
	nJoin := 0
	for i := 0; i < rounds; i++ {
		m := newReal(t, host, nil)
		if err := m.Create(); err != nil {
			t.Fatal(err)
		}
		nJoin = len(m.JoinFiles())
		script := `for f in "$@"; do echo 0 > "$f"; done`
		start := time.Now()
		if out, err := exec.Command("/bin/sh", "-c", script, "sh").CombinedOutput(); err != nil {
			t.Fatalf("baseline: %v: %s", err, out)
		}
		base += time.Since(start)
		start = time.Now()
		if out, err := exec.Command("/bin/sh", append([]string{"-c", script, "sh"}, m.JoinFiles()...)...).CombinedOutput(); err != nil {
			t.Fatalf("join: %v: %s", err, out)
		}
		self += time.Since(start)

		m2 := newReal(t, host, nil)
		if err := m2.Create(); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("/bin/sh", "-c", "read x")
		in, _ := cmd.StdinPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		start = time.Now()
		if err := m2.Apply(cmd.Process.Pid); err != nil {
			t.Fatal(err)
		}
		apply += time.Since(start)
		in.Close()
		_ = cmd.Wait()
	}
	t.Logf("join %d dirs, mean of %d: child writes \"0\" to JoinFiles: %s (shell %s minus baseline %s); parent Apply (pid to cgroup.procs): %s",
		nJoin, rounds, (self-base)/rounds, self/rounds, base/rounds, apply/rounds)
}
