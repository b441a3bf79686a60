package seccomp

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

func uintp(v uint) *uint { return &v }

// nr returns the syscall number of name on the native architecture.
func nr(t testing.TB, name string) uint32 {
	t.Helper()
	n, err := libseccomp.GetSyscallFromName(name)
	if err != nil || n < 0 {
		t.Fatalf("resolve %q: %v", name, err)
	}
	return uint32(n)
}

// nrArch returns the syscall number of name on a libseccomp architecture.
func nrArch(t testing.TB, name, arch string) uint32 {
	t.Helper()
	a, err := libseccomp.GetArchFromString(arch)
	if err != nil {
		t.Fatal(err)
	}
	n, err := libseccomp.GetSyscallFromNameByArch(name, a)
	if err != nil || n < 0 {
		t.Fatalf("resolve %q on %s: %v", name, arch, err)
	}
	return uint32(n)
}

func nativeAudit(t testing.TB) uint32 {
	t.Helper()
	a, err := libseccomp.GetNativeArch()
	if err != nil {
		t.Fatal(err)
	}
	for _, info := range archs {
		if info.name == a.String() && !info.x32 {
			return info.audit
		}
	}
	t.Fatalf("no audit value for native arch %s", a)
	return 0
}

func loadDockerLike(t testing.TB) *specs.LinuxSeccomp {
	t.Helper()
	b, err := os.ReadFile("testdata/docker-like.json")
	if err != nil {
		t.Fatal(err)
	}
	var s specs.LinuxSeccomp
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return &s
}

const (
	retAllow = unix.SECCOMP_RET_ALLOW
	retKillP = unix.SECCOMP_RET_KILL_PROCESS
	retKillT = unix.SECCOMP_RET_KILL_THREAD
	retLog   = unix.SECCOMP_RET_LOG
	retNotif = unix.SECCOMP_RET_USER_NOTIF
)

func retErrno(e unix.Errno) uint32 { return unix.SECCOMP_RET_ERRNO | uint32(e) }

// call is one syscall to evaluate and the SECCOMP_RET_* value expected.
type call struct {
	arch uint32 // 0: native
	name string // resolved on the native arch, unless nr is set
	nr   uint32
	args [6]uint64
	want uint32
}

func TestCompileEvaluate(t *testing.T) {
	if !strings.HasPrefix(Version(), "2.") {
		t.Skipf("tests are written for libseccomp 2.x, have %s", Version())
	}
	allowAll := func(names ...string) specs.LinuxSyscall {
		return specs.LinuxSyscall{Names: names, Action: specs.ActAllow}
	}
	x86 := uint32(unix.AUDIT_ARCH_I386)
	x8664 := uint32(unix.AUDIT_ARCH_X86_64)
	tests := []struct {
		name    string
		profile specs.LinuxSeccomp
		x86only bool
		calls   func(t *testing.T) []call
	}{
		{
			name: "allow by default, mkdir errno",
			profile: specs.LinuxSeccomp{
				DefaultAction: specs.ActAllow,
				Syscalls: []specs.LinuxSyscall{
					{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno, ErrnoRet: uintp(uint(unix.EACCES))},
				},
			},
			calls: func(t *testing.T) []call {
				return []call{
					{name: "mkdirat", want: retErrno(unix.EACCES)},
					{name: "read", want: retAllow},
					// No ENOSYS prefix with an allowing default.
					{nr: 1000, want: retAllow},
				}
			},
		},
		{
			name: "errno by default, EPERM when defaultErrnoRet is unset",
			profile: specs.LinuxSeccomp{
				DefaultAction: specs.ActErrno,
				Syscalls:      []specs.LinuxSyscall{allowAll("read", "write", "exit_group", "pidfd_open")},
			},
			calls: func(t *testing.T) []call {
				return []call{
					{name: "read", want: retAllow},
					{name: "pidfd_open", want: retAllow},
					{name: "mkdirat", want: retErrno(unix.EPERM)},
					// Above pidfd_open (the highest mentioned): newer than the profile.
					{nr: nr(t, "pidfd_open") + 1, want: retErrno(unix.ENOSYS)},
					{nr: 1000, want: retErrno(unix.ENOSYS)},
				}
			},
		},
		{
			name: "defaultErrnoRet and per-rule errnoRet",
			profile: specs.LinuxSeccomp{
				DefaultAction:   specs.ActErrno,
				DefaultErrnoRet: uintp(uint(unix.EACCES)),
				Syscalls: []specs.LinuxSyscall{
					allowAll("read", "pidfd_open"),
					{Names: []string{"write"}, Action: specs.ActErrno, ErrnoRet: uintp(0)},
					{Names: []string{"close"}, Action: specs.ActErrno, ErrnoRet: uintp(uint(unix.EBADF))},
				},
			},
			calls: func(t *testing.T) []call {
				return []call{
					{name: "read", want: retAllow},
					{name: "write", want: retErrno(0)},
					{name: "close", want: retErrno(unix.EBADF)},
					{name: "mkdirat", want: retErrno(unix.EACCES)},
				}
			},
		},
		{
			name: "kill by default gets ENOSYS prefix too",
			profile: specs.LinuxSeccomp{
				DefaultAction: specs.ActKillProcess,
				Syscalls:      []specs.LinuxSyscall{allowAll("read", "openat")},
			},
			calls: func(t *testing.T) []call {
				return []call{
					{name: "read", want: retAllow},
					{name: "write", want: retKillP},
					{nr: 1000, want: retErrno(unix.ENOSYS)},
				}
			},
		},
		{
			name: "ENOSYS default needs no prefix",
			profile: specs.LinuxSeccomp{
				DefaultAction:   specs.ActErrno,
				DefaultErrnoRet: uintp(uint(unix.ENOSYS)),
				Syscalls:        []specs.LinuxSyscall{allowAll("read")},
			},
			calls: func(t *testing.T) []call {
				return []call{{name: "write", want: retErrno(unix.ENOSYS)}, {name: "read", want: retAllow}}
			},
		},
		{
			name: "actions",
			profile: specs.LinuxSeccomp{
				DefaultAction: specs.ActAllow,
				Syscalls: []specs.LinuxSyscall{
					{Names: []string{"mkdirat"}, Action: specs.ActKill},
					{Names: []string{"unlinkat"}, Action: specs.ActKillThread},
					{Names: []string{"renameat"}, Action: specs.ActKillProcess},
					{Names: []string{"linkat"}, Action: specs.ActTrap},
					{Names: []string{"symlinkat"}, Action: specs.ActTrace, ErrnoRet: uintp(7)},
					{Names: []string{"fchmodat"}, Action: specs.ActLog},
					{Names: []string{"fchownat"}, Action: specs.ActNotify},
				},
			},
			calls: func(t *testing.T) []call {
				return []call{
					{name: "mkdirat", want: retKillT},
					{name: "unlinkat", want: retKillT},
					{name: "renameat", want: retKillP},
					{name: "linkat", want: unix.SECCOMP_RET_TRAP},
					{name: "symlinkat", want: unix.SECCOMP_RET_TRACE | 7},
					{name: "fchmodat", want: retLog},
					{name: "fchownat", want: retNotif},
				}
			},
		},
		{
			name: "argument operators",
			profile: specs.LinuxSeccomp{
				DefaultAction: specs.ActAllow,
				Syscalls: []specs.LinuxSyscall{
					{Names: []string{"read"}, Action: specs.ActErrno, ErrnoRet: uintp(1), Args: []specs.LinuxSeccompArg{{Index: 0, Value: 5, Op: specs.OpNotEqual}}},
					{Names: []string{"write"}, Action: specs.ActErrno, ErrnoRet: uintp(2), Args: []specs.LinuxSeccompArg{{Index: 1, Value: 5, Op: specs.OpLessThan}}},
					{Names: []string{"close"}, Action: specs.ActErrno, ErrnoRet: uintp(3), Args: []specs.LinuxSeccompArg{{Index: 0, Value: 5, Op: specs.OpLessEqual}}},
					{Names: []string{"dup"}, Action: specs.ActErrno, ErrnoRet: uintp(4), Args: []specs.LinuxSeccompArg{{Index: 0, Value: 1 << 40, Op: specs.OpEqualTo}}},
					{Names: []string{"dup3"}, Action: specs.ActErrno, ErrnoRet: uintp(5), Args: []specs.LinuxSeccompArg{{Index: 2, Value: 5, Op: specs.OpGreaterEqual}}},
					{Names: []string{"lseek"}, Action: specs.ActErrno, ErrnoRet: uintp(6), Args: []specs.LinuxSeccompArg{{Index: 1, Value: 5, Op: specs.OpGreaterThan}}},
					{Names: []string{"personality"}, Action: specs.ActErrno, ErrnoRet: uintp(7), Args: []specs.LinuxSeccompArg{{Index: 0, Value: 0xff00, ValueTwo: 0x0800, Op: specs.OpMaskedEqual}}},
				},
			},
			calls: func(t *testing.T) []call {
				return []call{
					{name: "read", args: [6]uint64{5}, want: retAllow},
					{name: "read", args: [6]uint64{6}, want: retErrno(1)},
					{name: "write", args: [6]uint64{0, 4}, want: retErrno(2)},
					{name: "write", args: [6]uint64{0, 5}, want: retAllow},
					{name: "close", args: [6]uint64{5}, want: retErrno(3)},
					{name: "close", args: [6]uint64{6}, want: retAllow},
					{name: "dup", args: [6]uint64{1 << 40}, want: retErrno(4)},
					{name: "dup", args: [6]uint64{0}, want: retAllow},
					{name: "dup3", args: [6]uint64{0, 0, 5}, want: retErrno(5)},
					{name: "dup3", args: [6]uint64{0, 0, 4}, want: retAllow},
					{name: "lseek", args: [6]uint64{0, 6}, want: retErrno(6)},
					{name: "lseek", args: [6]uint64{0, 5}, want: retAllow},
					{name: "personality", args: [6]uint64{0x08ff}, want: retErrno(7)},
					{name: "personality", args: [6]uint64{0x0900}, want: retAllow},
				}
			},
		},
		{
			name: "conditions on different args are ANDed, on the same arg ORed",
			profile: specs.LinuxSeccomp{
				DefaultAction: specs.ActAllow,
				Syscalls: []specs.LinuxSyscall{
					{Names: []string{"read"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{
						{Index: 0, Value: 1, Op: specs.OpEqualTo}, {Index: 2, Value: 3, Op: specs.OpEqualTo}}},
					{Names: []string{"write"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{
						{Index: 0, Value: 1, Op: specs.OpEqualTo}, {Index: 0, Value: 2, Op: specs.OpEqualTo}}},
					{Names: []string{"socket"}, Action: specs.ActErrno, ErrnoRet: uintp(uint(unix.EACCES)), Args: []specs.LinuxSeccompArg{
						{Index: 0, Value: 2, Op: specs.OpEqualTo}, {Index: 0, Value: 16, Op: specs.OpEqualTo}, {Index: 1, Value: 2, Op: specs.OpEqualTo}}},
				},
			},
			calls: func(t *testing.T) []call {
				return []call{
					{name: "read", args: [6]uint64{1, 0, 3}, want: retErrno(unix.EPERM)},
					{name: "read", args: [6]uint64{1, 0, 4}, want: retAllow},
					{name: "read", args: [6]uint64{2, 0, 3}, want: retAllow},
					{name: "write", args: [6]uint64{1}, want: retErrno(unix.EPERM)},
					{name: "write", args: [6]uint64{2}, want: retErrno(unix.EPERM)},
					{name: "write", args: [6]uint64{3}, want: retAllow},
					// (a0 == 2 || a0 == 16) && a1 == 2
					{name: "socket", args: [6]uint64{2, 2}, want: retErrno(unix.EACCES)},
					{name: "socket", args: [6]uint64{16, 2}, want: retErrno(unix.EACCES)},
					{name: "socket", args: [6]uint64{1, 2}, want: retAllow},
					{name: "socket", args: [6]uint64{2, 1}, want: retAllow},
				}
			},
		},
		{
			name: "unknown syscalls are skipped, rules equal to the default dropped",
			profile: specs.LinuxSeccomp{
				DefaultAction: specs.ActErrno,
				Syscalls: []specs.LinuxSyscall{
					allowAll("read", "no_such_syscall_husk"),
					{Names: []string{"write"}, Action: specs.ActErrno},
				},
			},
			calls: func(t *testing.T) []call {
				return []call{
					{name: "read", want: retAllow},
					{name: "write", want: retErrno(unix.EPERM)},
				}
			},
		},
		{
			name:    "x86_64, x86 and x32",
			x86only: true,
			profile: specs.LinuxSeccomp{
				DefaultAction: specs.ActErrno,
				Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
				Syscalls: []specs.LinuxSyscall{
					// readv is x32-private (515); socket exists on all three.
					allowAll("read", "readv", "socket", "openat"),
				},
			},
			calls: func(t *testing.T) []call {
				x32 := func(name string) uint32 { return nrArch(t, name, "x32") }
				return []call{
					{arch: x8664, nr: nrArch(t, "read", "amd64"), want: retAllow},
					{arch: x8664, nr: nrArch(t, "mkdir", "amd64"), want: retErrno(unix.EPERM)},
					{arch: x8664, nr: nrArch(t, "openat", "amd64") + 1, want: retErrno(unix.ENOSYS)},
					{arch: x86, nr: nrArch(t, "read", "x86"), want: retAllow},
					{arch: x86, nr: nrArch(t, "mkdir", "x86"), want: retErrno(unix.EPERM)},
					// socket(2) directly (359) and through socketcall(2).
					{arch: x86, nr: 359, want: retAllow},
					{arch: x86, nr: 102, args: [6]uint64{1}, want: retAllow},
					{arch: x86, nr: 102, args: [6]uint64{3}, want: retErrno(unix.EPERM)},
					{arch: x86, nr: 358, want: retErrno(unix.EPERM)},
					{arch: x86, nr: 360, want: retErrno(unix.ENOSYS)},
					{arch: x8664, nr: x32("read"), want: retAllow},
					{arch: x8664, nr: x32("readv"), want: retAllow},
					{arch: x8664, nr: x32("mkdir"), want: retErrno(unix.EPERM)},
					// Newer than the profile on x32, although below readv.
					{arch: x8664, nr: x32("openat") + 1, want: retErrno(unix.ENOSYS)},
					// x32-private range: left to libseccomp.
					{arch: x8664, nr: x32SyscallBit + 520, want: retErrno(unix.EPERM)},
					// An ABI outside the filter.
					{arch: unix.AUDIT_ARCH_AARCH64, nr: 63, want: retKillP},
				}
			},
		},
		{
			name:    "x86_64 without x32",
			x86only: true,
			profile: specs.LinuxSeccomp{
				DefaultAction: specs.ActErrno,
				Architectures: []specs.Arch{specs.ArchX86_64},
				Syscalls:      []specs.LinuxSyscall{allowAll("read", "openat")},
			},
			calls: func(t *testing.T) []call {
				return []call{
					{arch: x8664, nr: nrArch(t, "openat", "amd64") + 1, want: retErrno(unix.ENOSYS)},
					// x32 numbers are not this filter's ABI: libseccomp's bad-arch action.
					{arch: x8664, nr: nrArch(t, "read", "x32"), want: retKillP},
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.x86only && nativeAudit(t) != unix.AUDIT_ARCH_X86_64 {
				t.Skip("x86 multi-arch case needs an x86_64 host")
			}
			p, err := Compile(&tt.profile, "")
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			for _, c := range tt.calls(t) {
				d := seccompData{arch: c.arch, nr: c.nr, args: c.args}
				if d.arch == 0 {
					d.arch = nativeAudit(t)
				}
				if c.name != "" {
					d.nr = nr(t, c.name)
				}
				got, err := runBPF(p.Filter, d)
				if err != nil {
					t.Fatalf("run filter: %v", err)
				}
				if got != c.want {
					t.Errorf("%s (nr %#x arch %#x args %v): got %#x, want %#x", c.name, d.nr, d.arch, c.args[:3], got, c.want)
				}
			}
		})
	}
}

func TestCompileFlags(t *testing.T) {
	notify := []specs.LinuxSyscall{{Names: []string{"mkdirat"}, Action: specs.ActNotify}}
	tests := []struct {
		name       string
		flags      []specs.LinuxSeccompFlag
		syscalls   []specs.LinuxSyscall
		wantFlags  uint
		wantNotify bool
	}{
		{name: "none"},
		{name: "log and spec allow", flags: []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagLog, specs.LinuxSeccompFlagSpecAllow},
			wantFlags: unix.SECCOMP_FILTER_FLAG_LOG | unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW},
		{name: "tsync", flags: []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_TSYNC"}, wantFlags: unix.SECCOMP_FILTER_FLAG_TSYNC},
		{name: "notify", syscalls: notify, wantFlags: unix.SECCOMP_FILTER_FLAG_NEW_LISTENER, wantNotify: true},
		{name: "notify and tsync", syscalls: notify, flags: []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_TSYNC"},
			wantFlags:  unix.SECCOMP_FILTER_FLAG_NEW_LISTENER | unix.SECCOMP_FILTER_FLAG_TSYNC | unix.SECCOMP_FILTER_FLAG_TSYNC_ESRCH,
			wantNotify: true},
		{name: "wait killable with notify", syscalls: notify, flags: []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagWaitKillableRecv},
			wantFlags: unix.SECCOMP_FILTER_FLAG_NEW_LISTENER | unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, wantNotify: true},
		{name: "wait killable without notify is dropped", flags: []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagWaitKillableRecv}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Compile(&specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Flags: tt.flags, Syscalls: tt.syscalls}, "")
			if err != nil {
				t.Fatal(err)
			}
			if p.Flags != tt.wantFlags || p.Notify != tt.wantNotify {
				t.Errorf("got flags %#x notify %v, want %#x %v", p.Flags, p.Notify, tt.wantFlags, tt.wantNotify)
			}
		})
	}
}

func TestCompileInvalid(t *testing.T) {
	ok := []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActAllow}}
	arg := func(a specs.LinuxSeccompArg) []specs.LinuxSyscall {
		return []specs.LinuxSyscall{ok[0], {Names: []string{"write"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{a}}}
	}
	tests := []struct {
		name    string
		profile specs.LinuxSeccomp
		want    string
	}{
		{"no default action", specs.LinuxSeccomp{}, `linux.seccomp.defaultAction: unknown action ""`},
		{"unknown default action", specs.LinuxSeccomp{DefaultAction: "SCMP_ACT_FOO"}, `linux.seccomp.defaultAction: unknown action "SCMP_ACT_FOO"`},
		{"notify default", specs.LinuxSeccomp{DefaultAction: specs.ActNotify}, `linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action`},
		{"errno on allow default", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, DefaultErrnoRet: uintp(1)},
			`linux.seccomp.defaultErrnoRet: SCMP_ACT_ALLOW does not take an errno (1 given)`},
		{"errno out of range", specs.LinuxSeccomp{DefaultAction: specs.ActErrno, DefaultErrnoRet: uintp(70000)},
			`linux.seccomp.defaultErrnoRet: 70000 is not an errno (0-4095)`},
		{"unknown arch", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{specs.ArchX86_64, "SCMP_ARCH_Z80"}},
			`linux.seccomp.architectures[1]: unknown architecture "SCMP_ARCH_Z80"`},
		{"unknown flag", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Flags: []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_FOO"}},
			`linux.seccomp.flags[0]: unknown flag "SECCOMP_FILTER_FLAG_FOO"`},
		{"metadata without path", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, ListenerMetadata: "x"},
			`linux.seccomp.listenerMetadata: set without linux.seccomp.listenerPath`},
		{"unknown rule action", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{ok[0], ok[0], ok[0],
			{Names: []string{"write"}, Action: "SCMP_ACT_FOO"}}}, `linux.seccomp.syscalls[3].action: unknown action "SCMP_ACT_FOO"`},
		{"errno on kill rule", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
			{Names: []string{"write"}, Action: specs.ActKill, ErrnoRet: uintp(1)}}}, `linux.seccomp.syscalls[0].errnoRet: SCMP_ACT_KILL does not take an errno (1 given)`},
		{"no names", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Action: specs.ActErrno}}},
			`linux.seccomp.syscalls[0].names: at least one name is required`},
		{"empty name", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"read", ""}, Action: specs.ActErrno}}},
			`linux.seccomp.syscalls[0].names[1]: empty name`},
		{"unknown operator", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: arg(specs.LinuxSeccompArg{Op: "SCMP_CMP_FOO"})},
			`linux.seccomp.syscalls[1].args[0].op: unknown operator "SCMP_CMP_FOO"`},
		{"too many combinations", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActErrno,
			Args: manyArgs()}}}, `linux.seccomp.syscalls[0].args: 512 or more combinations of repeated argument indices (at most 256)`},
		{"arg index", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: arg(specs.LinuxSeccompArg{Index: 6, Op: specs.OpEqualTo})},
			`linux.seccomp.syscalls[1].args[0].index: 6 is not a syscall argument (0-5)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Compile(&tt.profile, "")
			if err == nil {
				t.Fatalf("got program of %d instructions, want error %q", len(p.Filter), tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("got error %q, want %q", err, tt.want)
			}
		})
	}
	if _, err := Compile(nil, ""); err == nil {
		t.Error("Compile(nil): got no error")
	}
}

// manyArgs returns conditions with 2^9 combinations.
func manyArgs() []specs.LinuxSeccompArg {
	var a []specs.LinuxSeccompArg
	for i := range 3 {
		for v := range 8 {
			a = append(a, specs.LinuxSeccompArg{Index: uint(i), Value: uint64(v), Op: specs.OpEqualTo})
		}
	}
	return a
}

func TestCompileCache(t *testing.T) {
	s := loadDockerLike(t)
	dir := filepath.Join(t.TempDir(), "cache")

	start := time.Now()
	cold, err := Compile(s, dir)
	if err != nil {
		t.Fatal(err)
	}
	coldTime := time.Since(start)
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 {
		t.Fatalf("cache dir: %v entries, err %v; want 1 entry", len(entries), err)
	}

	start = time.Now()
	warm, err := Compile(s, dir)
	if err != nil {
		t.Fatal(err)
	}
	warmTime := time.Since(start)
	if !reflect.DeepEqual(cold, warm) {
		t.Errorf("cached program differs from the compiled one")
	}
	t.Logf("docker-like profile: %d instructions; compile %v, cached %v", len(cold.Filter), coldTime, warmTime)
	if warmTime > coldTime {
		t.Errorf("cache hit took %v, compiling %v", warmTime, coldTime)
	}

	// The listener settings do not change the program: same entry.
	s2 := *s
	s2.ListenerPath, s2.ListenerMetadata = "/run/agent.sock", "meta"
	if _, err := Compile(&s2, dir); err != nil {
		t.Fatal(err)
	}
	// A different profile gets its own entry.
	s3 := *s
	s3.DefaultErrnoRet = uintp(uint(unix.EACCES))
	other, err := Compile(&s3, dir)
	if err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(other, cold) {
		t.Error("different profiles compiled to the same program")
	}
	if entries, _ = os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("cache dir has %d entries, want 2", len(entries))
	}

	// A corrupt entry is recompiled and replaced.
	key, err := cacheKey(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cachePath(dir, key), []byte("husk-bpf\x01\x00\x00\x00\x00\x00\x01\x02\x03"), 0o600); err != nil {
		t.Fatal(err)
	}
	again, err := Compile(s, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again, cold) {
		t.Error("program compiled after a corrupt cache entry differs")
	}
	if p, err := cacheLoad(dir, key); err != nil || !reflect.DeepEqual(p, cold) {
		t.Errorf("corrupt entry not replaced: %v", err)
	}
}

func TestProgramJSON(t *testing.T) {
	p, err := Compile(loadDockerLike(t), "")
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var got Program
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&got, p) {
		t.Error("program changed in a JSON round trip")
	}
	for _, bad := range []string{`{"filter":""}`, `{"filter":"AAAA"}`, `{"filter":"!"}`} {
		if err := json.Unmarshal([]byte(bad), &got); err == nil {
			t.Errorf("Unmarshal(%s): got no error", bad)
		}
	}
}

func TestDockerLikeNewSyscalls(t *testing.T) {
	if nativeAudit(t) != unix.AUDIT_ARCH_X86_64 {
		t.Skip("profile numbers are checked for x86_64")
	}
	p, err := Compile(loadDockerLike(t), "")
	if err != nil {
		t.Fatal(err)
	}
	x8664 := uint32(unix.AUDIT_ARCH_X86_64)
	for _, c := range []call{
		{nr: 0, want: retAllow},                                           // read
		{nr: 165, want: retErrno(unix.EPERM)},                             // mount
		{nr: 56, args: [6]uint64{0x11}, want: retAllow},                   // clone, no namespace flags
		{nr: 56, args: [6]uint64{0x20000000}, want: retErrno(unix.EPERM)}, // clone(CLONE_NEWCGROUP)
		{nr: 435, want: retErrno(unix.ENOSYS)},                            // clone3 by rule
		{nr: topNative(t) + 1, want: retErrno(unix.ENOSYS)},               // newer than libseccomp
		{nr: 135, args: [6]uint64{0xffffffff}, want: retAllow},            // personality query
		{nr: 135, args: [6]uint64{0x0040000}, want: retErrno(unix.EPERM)}, // personality(ADDR_NO_RANDOMIZE)
	} {
		got, err := runBPF(p.Filter, seccompData{arch: x8664, nr: c.nr, args: c.args})
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("nr %d args %#x: got %#x, want %#x", c.nr, c.args[0], got, c.want)
		}
	}
}

// topNative returns the highest native syscall number libseccomp knows.
func topNative(t testing.TB) uint32 {
	top := uint32(0)
	for i := 0; i < 2000; i++ {
		if _, err := libseccomp.ScmpSyscall(i).GetName(); err == nil {
			top = uint32(i)
		}
	}
	return top
}

func BenchmarkCompileDockerLike(b *testing.B) {
	s := loadDockerLike(b)
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			if _, err := Compile(s, ""); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		dir := b.TempDir()
		if _, err := Compile(s, dir); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := Compile(s, dir); err != nil {
				b.Fatal(err)
			}
		}
	})
}
