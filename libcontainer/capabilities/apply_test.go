package capabilities

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// childEnv carries the JSON capabilities a re-executed test binary applies.
const childEnv = "HUSK_CAPS_TEST_CHILD"

// childUID is the unprivileged user the child switches to.
const childUID = 1000

func TestMain(m *testing.M) {
	if arg := os.Getenv(childEnv); arg != "" {
		// Capabilities are per thread: stay on the main thread, which is
		// also the one /proc/self/status describes.
		runtime.LockOSThread()
		if err := applyChild(arg); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		os.Exit(0) // not reached: applyChild execs
	}
	os.Exit(m.Run())
}

// applyChild does what husk init does, in its order, then prints the
// thread's capability sets before and after an execve of cat.
func applyChild(arg string) error {
	var spec specs.LinuxCapabilities
	if err := json.Unmarshal([]byte(arg), &spec); err != nil {
		return err
	}
	caps, err := Parse(&spec)
	if err != nil {
		return err
	}
	if err := caps.DropBounding(); err != nil {
		return err
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl PR_SET_KEEPCAPS: %w", err)
	}
	// Raw syscalls: only this thread changes user, as in init.
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, childUID, childUID, childUID); e != 0 {
		return fmt.Errorf("setresgid: %w", e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, childUID, childUID, childUID); e != 0 {
		return fmt.Errorf("setresuid: %w", e)
	}
	if err := caps.Apply(); err != nil {
		return err
	}
	status, err := os.ReadFile("/proc/thread-self/status")
	if err != nil {
		return err
	}
	fmt.Printf("BEFORE\n%sAFTER\n", status)
	return unix.Exec("/bin/cat", []string{"cat", "/proc/self/status"}, []string{})
}

// runChild applies spec in a re-executed test binary as uid 1000 and
// returns the capability sets seen before and after its execve.
func runChild(t *testing.T, spec *specs.LinuxCapabilities) (before, after map[string]uint64, err error) {
	t.Helper()
	arg, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(arg))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	b, a, ok := bytes.Cut(out, []byte("AFTER\n"))
	if !ok {
		t.Fatalf("child output has no AFTER marker:\n%s", out)
	}
	return capLines(t, b), capLines(t, a), nil
}

// capLines returns the Cap* lines of a status file as masks.
func capLines(t *testing.T, status []byte) map[string]uint64 {
	t.Helper()
	m := map[string]uint64{}
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":\t")
		if !ok || !strings.HasPrefix(k, "Cap") {
			continue
		}
		n, err := strconv.ParseUint(v, 16, 64)
		if err != nil {
			t.Fatalf("status line %q: %v", sc.Text(), err)
		}
		m[k] = n
	}
	if len(m) != 5 {
		t.Fatalf("status has %d Cap lines, want 5:\n%s", len(m), status)
	}
	return m
}

// hostBounding is the test process's own bounding set: a child cannot gain
// what the host took away (here CAP_SYS_RESOURCE may be missing).
func hostBounding(t *testing.T) uint64 {
	t.Helper()
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	return capLines(t, data)["CapBnd"]
}

func TestApply(t *testing.T) {
	requireRoot(t)
	hostBnd := hostBounding(t)
	tests := []struct {
		name string
		spec *specs.LinuxCapabilities
	}{
		{name: "no capabilities", spec: &specs.LinuxCapabilities{}},
		{
			name: "docker default",
			spec: &specs.LinuxCapabilities{
				Bounding: dockerDefault, Effective: dockerDefault, Permitted: dockerDefault,
			},
		},
		{
			name: "ambient",
			spec: &specs.LinuxCapabilities{
				Bounding:    []string{"CAP_NET_BIND_SERVICE", "CAP_CHECKPOINT_RESTORE", "CAP_KILL"},
				Effective:   []string{"CAP_NET_BIND_SERVICE", "CAP_CHECKPOINT_RESTORE"},
				Permitted:   []string{"CAP_NET_BIND_SERVICE", "CAP_CHECKPOINT_RESTORE", "CAP_KILL"},
				Inheritable: []string{"CAP_NET_BIND_SERVICE", "CAP_CHECKPOINT_RESTORE"},
				Ambient:     []string{"CAP_NET_BIND_SERVICE", "CAP_CHECKPOINT_RESTORE"},
			},
		},
		{
			name: "inheritable without ambient",
			spec: &specs.LinuxCapabilities{
				Bounding:    []string{"CAP_BPF", "CAP_PERFMON", "CAP_CHOWN"},
				Permitted:   []string{"CAP_BPF", "CAP_PERFMON"},
				Inheritable: []string{"CAP_BPF"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := Parse(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			if want.Bounding&^hostBnd != 0 {
				t.Fatalf("test case asks for %s, not in the host bounding set", String(want.Bounding&^hostBnd))
			}
			before, after, err := runChild(t, tt.spec)
			if err != nil {
				t.Fatalf("child: %v", err)
			}
			check := func(when string, got map[string]uint64, want map[string]uint64) {
				t.Helper()
				for _, k := range []string{"CapBnd", "CapEff", "CapPrm", "CapInh", "CapAmb"} {
					if got[k] != want[k] {
						t.Errorf("%s exec %s: got %s (%#x), want %s (%#x)", when, k,
							String(got[k]), got[k], String(want[k]), want[k])
					}
				}
			}
			check("before", before, map[string]uint64{
				"CapBnd": want.Bounding, "CapEff": want.Effective, "CapPrm": want.Permitted,
				"CapInh": want.Inheritable, "CapAmb": want.Ambient,
			})
			// execve(2) of a file without file capabilities as uid 1000:
			// permitted and effective become the ambient set.
			check("after", after, map[string]uint64{
				"CapBnd": want.Bounding, "CapEff": want.Ambient, "CapPrm": want.Ambient,
				"CapInh": want.Inheritable, "CapAmb": want.Ambient,
			})
		})
	}
}

func TestApplyErrors(t *testing.T) {
	requireRoot(t)
	tests := []struct {
		name    string
		spec    *specs.LinuxCapabilities
		wantErr string
	}{
		{
			name: "effective outside permitted",
			spec: &specs.LinuxCapabilities{
				Bounding: []string{"CAP_KILL"}, Permitted: []string{"CAP_KILL"},
				Effective: []string{"CAP_CHOWN"},
			},
			wantErr: "set capabilities effective=CAP_CHOWN permitted=CAP_KILL inheritable=: capset: operation not permitted",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runChild(t, tt.spec)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("got %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestApplyAmbientNotInheritable: an ambient capability that is not inheritable cannot be
// raised; like runc and crun (`runc spec` writes such a config) husk warns and goes on.
func TestApplyAmbientNotInheritable(t *testing.T) {
	requireRoot(t)
	applied, _, err := runChild(t, &specs.LinuxCapabilities{
		Bounding: []string{"CAP_NET_RAW"}, Permitted: []string{"CAP_NET_RAW"}, Effective: []string{"CAP_NET_RAW"},
		Ambient: []string{"CAP_NET_RAW"},
	})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if got := applied["CapAmb"]; got != 0 {
		t.Errorf("CapAmb: got %x, want 0 (not raised)", got)
	}
	if got := applied["CapPrm"]; got != 1<<unix.CAP_NET_RAW {
		t.Errorf("CapPrm: got %x, want CAP_NET_RAW", got)
	}
}

// BenchmarkApply measures DropBounding and Apply with the sets root already
// has, so nothing changes; the thread is locked and never unlocked.
func BenchmarkApply(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("requires root")
	}
	runtime.LockOSThread()
	data, err := os.ReadFile("/proc/thread-self/status")
	if err != nil {
		b.Fatal(err)
	}
	var m = map[string]uint64{}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":\t"); ok && strings.HasPrefix(k, "Cap") {
			m[k], _ = strconv.ParseUint(v, 16, 64)
		}
	}
	c := &Caps{Bounding: m["CapBnd"], Effective: m["CapEff"], Permitted: m["CapPrm"], Inheritable: m["CapInh"]}
	for b.Loop() {
		if err := c.DropBounding(); err != nil {
			b.Fatal(err)
		}
		if err := c.Apply(); err != nil {
			b.Fatal(err)
		}
	}
}

// requireRoot skips t unless it runs as root in the initial user namespace,
// where uid 1000 exists for the child to switch to.
func requireRoot(t *testing.T) {
	t.Helper()
	if uid := os.Geteuid(); uid != 0 {
		t.Skipf("requires root (uid is %d); run with: go test -exec sudo", uid)
	}
	data, err := os.ReadFile("/proc/self/uid_map")
	if err != nil || strings.Join(strings.Fields(string(data)), " ") != "0 0 4294967295" {
		t.Skip("requires root in the initial user namespace")
	}
}
