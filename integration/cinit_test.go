package integration

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/husk-runtime/husk/tests/testutil"
)

// The C init (libcontainer/nsenter/cinit.c) runs a container whose config has a plan form; the
// Go init runs the rest, and everything when HUSK_GO_INIT=1 (`make integration` runs the suite
// both ways).

func goInitForced() bool { return os.Getenv("HUSK_GO_INIT") == "1" }

// TestCreatedInitIsSmall: a created container waits in a single-threaded init of about 1 MiB
// (a Go init has several threads and about 10 MiB).
func TestCreatedInitIsSmall(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireHusk(t)
	if goInitForced() {
		t.Skip("HUSK_GO_INIT=1: the Go init is forced")
	}
	b := testutil.NewBundle(t, func(s *specs.Spec) { s.Process.Args = []string{"/probe", "sleep", "60"} })
	pid := b.Create()
	st := procStatus(t, pid)
	if st["Threads"] != "1" {
		t.Errorf("created init has %s threads, want 1 (the C init)", st["Threads"])
	}
	kb, _ := strconv.Atoi(strings.TrimSuffix(st["VmRSS"], " kB"))
	if kb == 0 || kb > 2048 {
		t.Errorf("created init RSS %q, want at most 2048 kB", st["VmRSS"])
	}
	// Its pages are not the container's: the memory cgroup holds almost nothing yet.
	if dirs := testutil.CgroupDirs(t, pid); dirs["memory"] != "" {
		usage, _ := strconv.Atoi(strings.TrimSpace(testutil.ReadCgroupFile(t, dirs["memory"], "memory.usage_in_bytes")))
		if usage > 1<<20 {
			t.Errorf("memory cgroup usage %d bytes before start, want under 1 MiB", usage)
		}
	}
	b.MustHusk("start", b.ID)
	b.WaitStatus("running", 5*time.Second)
}

// TestTinyLimits: with no Go runtime inside the container, a pids limit of 1 and a 1 MiB
// memory limit are enough to run a process (the Go init needs 4 pids and several MiB).
func TestTinyLimits(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireHusk(t)
	testutil.RequireCgroupV1(t, "memory")
	if goInitForced() {
		t.Skip("HUSK_GO_INIT=1: the Go init is forced")
	}
	b := testutil.NewBundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"/bin/sh", "-c", "exit 7"} // not the Go probe: it needs threads
		one, mem := int64(1), int64(1<<20)
		s.Linux.Resources = &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: &one}, Memory: &specs.LinuxMemory{Limit: &mem}}
	})
	if r := b.Run(); r.Code != 7 {
		t.Fatalf("run under pids.limit 1 and 1 MiB: exit %d, want 7 (stderr %q)", r.Code, r.Stderr)
	}
	// With a time namespace the init forks into it: 1 pid is refused up front, naming the field.
	tb := testutil.NewBundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"/bin/sh", "-c", "exit 7"}
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.TimeNamespace})
		one := int64(1)
		s.Linux.Resources = &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: &one}}
	})
	if r := tb.Run(); r.Code == 0 || !strings.Contains(r.Stderr, "linux.resources.pids.limit") {
		t.Errorf("pids.limit 1 with a time namespace: exit %d, stderr %q; want an error naming linux.resources.pids.limit", r.Code, r.Stderr)
	}
}

// TestGoInitFallback: a config the C init has no plan for (a createContainer hook) still
// runs, in the Go init.
func TestGoInitFallback(t *testing.T) {
	testutil.RequireRoot(t)
	b := testutil.NewBundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"/probe", "sleep", "60"}
		s.Hooks = &specs.Hooks{CreateContainer: []specs.Hook{{Path: "/bin/true"}}}
	})
	pid := b.Create()
	if testutil.IsHusk() {
		if th, _ := strconv.Atoi(procStatus(t, pid)["Threads"]); th < 2 {
			t.Errorf("created init with a createContainer hook has %d threads, want the Go init", th)
		}
	}
	b.MustHusk("start", b.ID)
	b.WaitStatus("running", 5*time.Second)
}

// TestLongEnvironment: an environment longer than the C init's exec op takes runs in the Go
// init, whole.
func TestLongEnvironment(t *testing.T) {
	testutil.RequireRoot(t)
	b := testutil.NewBundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"/bin/sh", "-c", "env | grep -c '^HUSK_V'"}
		for i := 0; i < 9000; i++ {
			s.Process.Env = append(s.Process.Env, "HUSK_V"+strconv.Itoa(i)+"=x")
		}
	})
	if got := strings.TrimSpace(b.MustRun()); got != "9000" {
		t.Errorf("variables seen in the container: %s, want 9000", got)
	}
}
