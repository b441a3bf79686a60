package integration

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/tests/testutil"
)

// runSleeper creates and starts a container whose process sleeps (startSleeper of
// process_test.go), and returns its pid.
func runSleeper(t *testing.T, mutate func(*specs.Spec)) (*testutil.Bundle, int) {
	t.Helper()
	b := testutil.NewBundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"/probe", "sleep", "60"}
		if mutate != nil {
			mutate(s)
		}
	})
	return b, startSleeper(t, b)
}

// hostFile reads /proc/<pid>/<name> from the host.
func hostFile(t *testing.T, pid int, name string) string {
	t.Helper()
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// requireCreateFails checks that create refuses the bundle with an error naming field.
func requireCreateFails(t *testing.T, b *testutil.Bundle, field string) {
	t.Helper()
	r := b.Husk("create", "--bundle", b.Dir, b.ID)
	if r.Code == 0 {
		t.Fatalf("create accepted a bad %s", field)
	}
	if testutil.IsHusk() && !strings.Contains(r.Stderr, field) {
		t.Errorf("create error does not name %s: %s", field, r.Stderr)
	}
	requireNothingLeft(t, b, 0)
}

func TestPersonality(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireHusk(t) // runc 1.1.5 ignores linux.personality (runc 1.2 applies it)
	if runtime.GOARCH != "amd64" {
		t.Skip("LINUX32 as i686 is checked on amd64 only")
	}
	b, pid := runSleeper(t, func(s *specs.Spec) {
		s.Linux.Personality = &specs.LinuxPersonality{Domain: specs.PerLinux32}
	})
	if got := strings.TrimSpace(hostFile(t, pid, "personality")); got != "00000008" {
		t.Errorf("host /proc/%d/personality: got %s, want 00000008 (PER_LINUX32)", pid, got)
	}
	if got := b.MustHusk("exec", b.ID, "/bin/busybox", "uname", "-m"); got != "i686\n" {
		t.Errorf("uname -m in the container: got %q, want i686", got)
	}
	if got := b.MustHusk("exec", b.ID, "/probe", "uname"); got != "i686\n" {
		t.Errorf("probe uname: got %q, want i686", got)
	}

	for name, p := range map[string]*specs.LinuxPersonality{
		"domain": {Domain: "LINUX64"},
		"flags":  {Domain: specs.PerLinux, Flags: []specs.LinuxPersonalityFlag{"ADDR_NO_RANDOMIZE"}},
	} {
		t.Run("bad "+name, func(t *testing.T) {
			b := testutil.NewBundle(t, func(s *specs.Spec) { s.Linux.Personality = p })
			requireCreateFails(t, b, "linux.personality."+name)
		})
	}
}

func TestScheduler(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireHusk(t) // runc 1.1.5 predates process.scheduler (runc 1.2)
	b, pid := runSleeper(t, func(s *specs.Spec) {
		s.Process.Scheduler = &specs.Scheduler{Policy: specs.SchedBatch, Nice: 7, Flags: []specs.LinuxSchedulerFlag{specs.SchedFlagResetOnFork}}
	})
	// From the host: /proc/<pid>/sched and the nice value in /proc/<pid>/stat.
	sched := hostFile(t, pid, "sched")
	if !strings.Contains(strings.Join(strings.Fields(sched), " "), "policy : 3") {
		t.Errorf("host /proc/%d/sched has no SCHED_BATCH (3) policy:\n%s", pid, sched)
	}
	stat := hostFile(t, pid, "stat")
	f := strings.Fields(stat[strings.LastIndexByte(stat, ')')+2:])
	if nice := f[16]; nice != "7" { // field 19 of stat
		t.Errorf("host nice of %d: got %s, want 7", pid, nice)
	}
	// From inside: an exec'd process gets the same settings.
	if got := b.MustHusk("exec", b.ID, "/probe", "sched"); got != "policy=3 nice=7 priority=0 flags=0x1\n" {
		t.Errorf("probe sched: got %q", got)
	}

	for _, tc := range []struct {
		name string
		s    specs.Scheduler
		want string
	}{
		{"policy", specs.Scheduler{Policy: "SCHED_ISO"}, "process.scheduler.policy"},
		{"priority", specs.Scheduler{Policy: specs.SchedFIFO}, "process.scheduler.priority"},
		{"nice", specs.Scheduler{Policy: specs.SchedOther, Nice: 40}, "process.scheduler.nice"},
		{"flag", specs.Scheduler{Policy: specs.SchedOther, Flags: []specs.LinuxSchedulerFlag{"SCHED_FLAG_NOPE"}}, "process.scheduler.flags"},
	} {
		t.Run("bad "+tc.name, func(t *testing.T) {
			b := testutil.NewBundle(t, func(s *specs.Spec) { s.Process.Scheduler = &tc.s })
			requireCreateFails(t, b, tc.want)
		})
	}
}

func TestIOPriority(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireHusk(t) // runc 1.1.5 predates process.ioPriority (runc 1.2)
	b, pid := runSleeper(t, func(s *specs.Spec) {
		s.Process.IOPriority = &specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_BE, Priority: 6}
	})
	v, _, errno := unix.Syscall(unix.SYS_IOPRIO_GET, 1, uintptr(pid), 0) // IOPRIO_WHO_PROCESS
	if errno != 0 {
		t.Fatalf("ioprio_get %d: %v", pid, errno)
	}
	if class, level := v>>13, v&0x1fff; class != 2 || level != 6 {
		t.Errorf("host ioprio_get(%d): class %d level %d, want 2 (BE) 6", pid, class, level)
	}
	if got := b.MustHusk("exec", b.ID, "/probe", "ioprio"); got != "class=2 level=6\n" {
		t.Errorf("probe ioprio: got %q", got)
	}
	bad := testutil.NewBundle(t, func(s *specs.Spec) {
		s.Process.IOPriority = &specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_BE, Priority: 8}
	})
	requireCreateFails(t, bad, "process.ioPriority.priority")
}

// writeProcess writes process.json for exec -p: the container's process with args and a
// change.
func writeProcess(t *testing.T, b *testutil.Bundle, args []string, change func(*specs.Process)) string {
	t.Helper()
	p := *b.Spec.Process
	p.Args = args
	if change != nil {
		change(&p)
	}
	data, err := json.Marshal(&p)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "process.json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestExecCPUAffinity(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireHusk(t) // runc 1.1.5 predates execCPUAffinity (runc 1.3)
	if runtime.NumCPU() < 2 {
		t.Skip("needs two CPUs")
	}
	b, _ := runSleeper(t, nil)

	// final applies to the exec'd process; initial only until it joins the cgroup.
	proc := writeProcess(t, b, []string{"/probe", "sleep", "60"}, func(p *specs.Process) {
		p.ExecCPUAffinity = &specs.CPUAffinity{Initial: "0", Final: "1"}
	})
	pidFile := filepath.Join(t.TempDir(), "exec.pid")
	b.MustHusk("exec", "-d", "--pid-file", pidFile, "-p", proc, b.ID)
	pid, err := strconv.Atoi(readTrim(t, pidFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Ours to reap (subreaper): the pid namespace's init cannot finish exiting,
		// and delete waits for it, while this zombie remains.
		_ = unix.Kill(pid, unix.SIGKILL)
		var ws unix.WaitStatus
		_, _ = unix.Wait4(pid, &ws, 0, nil)
	})
	if got := procStatus(t, pid)["Cpus_allowed_list"]; got != "1" {
		t.Errorf("host Cpus_allowed_list of the exec'd process: got %s, want 1", got)
	}
	proc = writeProcess(t, b, []string{"/probe", "affinity"}, func(p *specs.Process) {
		p.ExecCPUAffinity = &specs.CPUAffinity{Final: "1"}
	})
	if got := b.MustHusk("exec", "-p", proc, b.ID); got != "1\n" {
		t.Errorf("probe affinity with final 1: got %q", got)
	}

	// Without execCPUAffinity, the affinity husk was started with does not leak in: it is
	// reset to the container's cpuset (all CPUs here).
	var want []string
	for i := 0; i < runtime.NumCPU(); i++ {
		want = append(want, strconv.Itoa(i))
	}
	got := withAffinity(t, 0, func() string { return b.MustHusk("exec", b.ID, "/probe", "affinity") })
	if got != strings.Join(want, ",")+"\n" {
		t.Errorf("probe affinity of exec run pinned to CPU 0: got %q, want the cpuset %v", got, want)
	}

	bad := writeProcess(t, b, []string{"/probe", "affinity"}, func(p *specs.Process) {
		p.ExecCPUAffinity = &specs.CPUAffinity{Initial: "0-x"}
	})
	r := b.Husk("exec", "-p", bad, b.ID)
	if r.Code != 255 || !strings.Contains(r.Stderr, "process.execCPUAffinity.initial") {
		t.Errorf("exec with a bad initial affinity: exit %d, %s", r.Code, r.Stderr)
	}
}

// withAffinity runs f on a thread pinned to cpu, so that the processes it starts inherit it.
func withAffinity(t *testing.T, cpu int, f func() string) string {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var old, set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		t.Fatal(err)
	}
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = unix.SchedSetaffinity(0, &old) }()
	return f()
}

func TestMemoryPolicy(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireHusk(t) // runc 1.1.5 predates linux.memoryPolicy (runc 1.4)
	b, pid := runSleeper(t, func(s *specs.Spec) {
		s.Linux.MemoryPolicy = &specs.LinuxMemoryPolicy{Mode: specs.MpolInterleave, Nodes: "0", Flags: []specs.MemoryPolicyFlagType{specs.MpolFStaticNodes}}
	})
	// numa_maps shows the task policy on mappings without one of their own.
	if nm := hostFile(t, pid, "numa_maps"); !strings.Contains(nm, "interleave=static:0") {
		t.Errorf("host /proc/%d/numa_maps has no interleave=static:0 policy:\n%.400s", pid, nm)
	}
	if got := b.MustHusk("exec", b.ID, "/probe", "mempolicy"); got != fmt.Sprintf("mode=%d flags=%#x nodes=0\n", unix.MPOL_INTERLEAVE, unix.MPOL_F_STATIC_NODES) {
		t.Errorf("probe mempolicy: got %q", got)
	}

	for _, tc := range []struct {
		name string
		m    specs.LinuxMemoryPolicy
		want string
	}{
		{"mode", specs.LinuxMemoryPolicy{Mode: "MPOL_NOPE"}, "linux.memoryPolicy.mode"},
		{"nodes for local", specs.LinuxMemoryPolicy{Mode: specs.MpolLocal, Nodes: "0"}, "linux.memoryPolicy.nodes"},
		{"no nodes for bind", specs.LinuxMemoryPolicy{Mode: specs.MpolBind}, "linux.memoryPolicy.nodes"},
		{"absent node", specs.LinuxMemoryPolicy{Mode: specs.MpolBind, Nodes: "63"}, "linux.memoryPolicy"},
	} {
		t.Run("bad "+tc.name, func(t *testing.T) {
			b := testutil.NewBundle(t, func(s *specs.Spec) { s.Linux.MemoryPolicy = &tc.m })
			requireCreateFails(t, b, tc.want)
		})
	}
}

func TestTimeOffsets(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireHusk(t) // runc 1.1.5 predates time namespaces (runc 1.2)
	if _, err := os.Stat("/proc/self/ns/time"); err != nil {
		t.Skip("kernel without time namespaces")
	}
	const monoOff, bootOff = 10 * 86400, 20 * 86400
	b, pid := runSleeper(t, func(s *specs.Spec) {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.TimeNamespace})
		s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{
			"monotonic": {Secs: monoOff}, "boottime": {Secs: bootOff, Nanosecs: 5},
		}
	})
	offs := strings.Join(strings.Fields(hostFile(t, pid, "timens_offsets")), " ")
	if !strings.Contains(offs, fmt.Sprintf("monotonic %d 0", monoOff)) || !strings.Contains(offs, fmt.Sprintf("boottime %d 5", bootOff)) {
		t.Errorf("host /proc/%d/timens_offsets:\n%s", pid, offs)
	}
	if self, ctr := mustReadlink(t, "/proc/self/ns/time"), mustReadlink(t, fmt.Sprintf("/proc/%d/ns/time", pid)); self == ctr {
		t.Errorf("container shares the host's time namespace %s", self)
	}
	var mono, boot unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &mono)
	_ = unix.ClockGettime(unix.CLOCK_BOOTTIME, &boot)
	var cm, cb int64
	out := b.MustHusk("exec", b.ID, "/probe", "clocks")
	if _, err := fmt.Sscanf(out, "monotonic=%d boottime=%d", &cm, &cb); err != nil {
		t.Fatalf("probe clocks %q: %v", out, err)
	}
	if d := cm - mono.Sec - monoOff; d < -1 || d > 5 {
		t.Errorf("CLOCK_MONOTONIC inside %d, host %d: offset off by %ds from %d", cm, mono.Sec, d, monoOff)
	}
	if d := cb - boot.Sec - bootOff; d < -1 || d > 5 {
		t.Errorf("CLOCK_BOOTTIME inside %d, host %d: offset off by %ds from %d", cb, boot.Sec, d, bootOff)
	}
}

func TestIntelRdtUnavailable(t *testing.T) {
	testutil.RequireRoot(t)
	var st unix.Statfs_t
	if unix.Statfs("/sys/fs/resctrl", &st) == nil && st.Type == unix.RDTGROUP_SUPER_MAGIC {
		t.Skip("resctrl is mounted on this host")
	}
	b := testutil.NewBundle(t, func(s *specs.Spec) {
		s.Linux.IntelRdt = &specs.LinuxIntelRdt{ClosID: "husk-test", L3CacheSchema: "L3:0=f"}
	})
	requireCreateFails(t, b, "linux.intelRdt")
	if testutil.IsHusk() {
		r := b.Husk("create", "--bundle", b.Dir, b.ID)
		if !strings.Contains(r.Stderr, "resctrl") {
			t.Errorf("the intelRdt error does not say resctrl is missing: %s", r.Stderr)
		}
	}
}

// TestNotifySocket runs the container with NOTIFY_SOCKET set to a socket of the test: the
// container's process sends READY=1, and the test receives it with the sender's
// credentials.
func TestNotifySocket(t *testing.T) {
	testutil.RequireRoot(t)
	b := testutil.NewBundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"/probe", "notify", "READY=1"}
	})
	sockPath := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sockPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	raw, err := conn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	_ = raw.Control(func(fd uintptr) { _ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, 1) })

	pidFile := filepath.Join(b.Dir, "pid")
	cmd := exec.Command(testutil.Runtime(), "--root", b.Root, "run", "--bundle", b.Dir, "--pid-file", pidFile, b.ID)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sockPath)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("run with NOTIFY_SOCKET: %v: %s", err, out)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf, oob := make([]byte, 4096), make([]byte, 1024)
	n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		t.Fatalf("no notification received: %v", err)
	}
	// runc 1.1.5 relays it with a newline added.
	if got := strings.TrimSpace(string(buf[:n])); got != "READY=1" {
		t.Errorf("notification: got %q, want READY=1", got)
	}
	// runc 1.1.5 relays the message through a socket of its own, so the sender is runc.
	if testutil.IsHusk() {
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil || len(msgs) == 0 {
			t.Fatalf("no credentials with the notification: %v", err)
		}
		cred, err := unix.ParseUnixCredentials(&msgs[0])
		if err != nil {
			t.Fatal(err)
		}
		if pid, _ := strconv.Atoi(readTrim(t, pidFile)); int(cred.Pid) != pid {
			t.Errorf("notification sent by pid %d, want the container's process %d", cred.Pid, pid)
		}
	}
}

// TestExitCodes checks the contract of docs/exit-codes.md.
func TestExitCodes(t *testing.T) {
	testutil.RequireRoot(t)
	b, _ := runSleeper(t, nil)
	for _, tc := range []struct {
		name string
		args []string
		want int
	}{
		{"exec success", []string{"exec", b.ID, "/probe", "exit", "0"}, 0},
		{"exec passes the status", []string{"exec", b.ID, "/probe", "exit", "3"}, 3},
		{"exec killed by a signal", []string{"exec", b.ID, "/bin/sh", "-c", "kill -TERM $$"}, 128 + 15},
		{"exec of a missing binary", []string{"exec", b.ID, "/no/such/binary"}, 255},
		{"exec in a missing container", []string{"exec", "no-such-container", "/probe", "hostname"}, 255},
		{"create of an existing id", []string{"create", "--bundle", b.Dir, b.ID}, 1},
		{"start of a running container", []string{"start", b.ID}, 1},
		{"kill of a missing container", []string{"kill", "no-such-container"}, 1},
		{"delete of a running container", []string{"delete", b.ID}, 1},
		{"unknown command", []string{"no-such-command"}, 1}, // runc 1.1.5: 3
		{"state", []string{"state", b.ID}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "unknown command" && !testutil.IsHusk() {
				t.Skip("runc 1.1.5 exits 3 on an unknown command")
			}
			if r := b.Husk(tc.args...); r.Code != tc.want {
				t.Errorf("%v: exit %d, want %d (stderr %q)", tc.args, r.Code, tc.want, r.Stderr)
			}
		})
	}

	for _, tc := range []struct {
		name   string
		mutate func(*specs.Spec)
		want   int
	}{
		{"run success", func(s *specs.Spec) { s.Process.Args = []string{"/probe", "exit", "0"} }, 0},
		{"run passes the status", func(s *specs.Spec) { s.Process.Args = []string{"/probe", "exit", "42"} }, 42},
		{"run of a missing binary", func(s *specs.Spec) { s.Process.Args = []string{"/no/such/binary"} }, 1},
		{"run of a bad config", func(s *specs.Spec) { s.Process.Cwd = "relative" }, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := testutil.NewBundle(t, tc.mutate)
			if r := b.Run(); r.Code != tc.want {
				t.Errorf("run: exit %d, want %d (stderr %q)", r.Code, tc.want, r.Stderr)
			}
		})
	}
}
