package seccomp

import (
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// actions maps the runtime-spec action names to libseccomp actions.
// "SCMP_ACT_KILL" is libseccomp's historical name for SCMP_ACT_KILL_THREAD.
var actions = map[specs.LinuxSeccompAction]libseccomp.ScmpAction{
	specs.ActKill:        libseccomp.ActKillThread,
	specs.ActKillProcess: libseccomp.ActKillProcess,
	specs.ActKillThread:  libseccomp.ActKillThread,
	specs.ActTrap:        libseccomp.ActTrap,
	specs.ActErrno:       libseccomp.ActErrno,
	specs.ActTrace:       libseccomp.ActTrace,
	specs.ActAllow:       libseccomp.ActAllow,
	specs.ActLog:         libseccomp.ActLog,
	specs.ActNotify:      libseccomp.ActNotify,
}

// operators maps the runtime-spec operator names to libseccomp operators.
var operators = map[specs.LinuxSeccompOperator]libseccomp.ScmpCompareOp{
	specs.OpNotEqual:     libseccomp.CompareNotEqual,
	specs.OpLessThan:     libseccomp.CompareLess,
	specs.OpLessEqual:    libseccomp.CompareLessOrEqual,
	specs.OpEqualTo:      libseccomp.CompareEqual,
	specs.OpGreaterEqual: libseccomp.CompareGreaterEqual,
	specs.OpGreaterThan:  libseccomp.CompareGreater,
	specs.OpMaskedEqual:  libseccomp.CompareMaskedEqual,
}

// flags maps the runtime-spec filter flags to SECCOMP_FILTER_FLAG_* bits.
var flags = map[specs.LinuxSeccompFlag]uint{
	"SECCOMP_FILTER_FLAG_TSYNC":            unix.SECCOMP_FILTER_FLAG_TSYNC,
	specs.LinuxSeccompFlagLog:              unix.SECCOMP_FILTER_FLAG_LOG,
	specs.LinuxSeccompFlagSpecAllow:        unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW,
	specs.LinuxSeccompFlagWaitKillableRecv: unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
}

// archInfo describes one runtime-spec architecture.
type archInfo struct {
	// name is libseccomp's name, for libseccomp.GetArchFromString.
	name string
	// audit is the AUDIT_ARCH_* value the kernel puts in seccomp_data.arch.
	audit uint32
	// x32 marks the x32 ABI: AUDIT_ARCH_X86_64 with __X32_SYSCALL_BIT set
	// in the syscall number.
	x32 bool
	// private, when not 0, is the first number of a range of
	// architecture-private syscalls that are not in the linear table; the
	// ENOSYS prefix stays below it.
	private uint32
}

// x32SyscallBit is __X32_SYSCALL_BIT (arch/x86/include/uapi/asm/unistd.h).
const x32SyscallBit = 0x40000000

// archs lists the architectures of runtime-spec v1.3 (config-linux.md,
// "as of libseccomp v2.6.0"). Some need a newer libseccomp than the host's:
// see [SupportedArchs].
var archs = map[specs.Arch]archInfo{
	specs.ArchX86:    {name: "x86", audit: unix.AUDIT_ARCH_I386},
	specs.ArchX86_64: {name: "amd64", audit: unix.AUDIT_ARCH_X86_64},
	// x32-only syscalls are numbered 512-547 (arch/x86/entry/syscalls/syscall_64.tbl).
	specs.ArchX32: {name: "x32", audit: unix.AUDIT_ARCH_X86_64, x32: true, private: x32SyscallBit + 512},
	// __ARM_NR_BASE (arch/arm/include/uapi/asm/unistd.h).
	specs.ArchARM:         {name: "arm", audit: unix.AUDIT_ARCH_ARM, private: 0x0f0000},
	specs.ArchAARCH64:     {name: "arm64", audit: unix.AUDIT_ARCH_AARCH64},
	specs.ArchMIPS:        {name: "mips", audit: unix.AUDIT_ARCH_MIPS},
	specs.ArchMIPS64:      {name: "mips64", audit: unix.AUDIT_ARCH_MIPS64},
	specs.ArchMIPS64N32:   {name: "mips64n32", audit: unix.AUDIT_ARCH_MIPS64N32},
	specs.ArchMIPSEL:      {name: "mipsel", audit: unix.AUDIT_ARCH_MIPSEL},
	specs.ArchMIPSEL64:    {name: "mipsel64", audit: unix.AUDIT_ARCH_MIPSEL64},
	specs.ArchMIPSEL64N32: {name: "mipsel64n32", audit: unix.AUDIT_ARCH_MIPSEL64N32},
	specs.ArchPPC:         {name: "ppc", audit: unix.AUDIT_ARCH_PPC},
	specs.ArchPPC64:       {name: "ppc64", audit: unix.AUDIT_ARCH_PPC64},
	specs.ArchPPC64LE:     {name: "ppc64le", audit: unix.AUDIT_ARCH_PPC64LE},
	specs.ArchS390:        {name: "s390", audit: unix.AUDIT_ARCH_S390},
	specs.ArchS390X:       {name: "s390x", audit: unix.AUDIT_ARCH_S390X},
	specs.ArchPARISC:      {name: "parisc", audit: unix.AUDIT_ARCH_PARISC},
	specs.ArchPARISC64:    {name: "parisc64", audit: unix.AUDIT_ARCH_PARISC64},
	specs.ArchRISCV64:     {name: "riscv64", audit: unix.AUDIT_ARCH_RISCV64},
	specs.ArchLOONGARCH64: {name: "loong64", audit: unix.AUDIT_ARCH_LOONGARCH64},
	specs.ArchM68K:        {name: "m68k", audit: unix.AUDIT_ARCH_M68K},
	// libseccomp: SCMP_ARCH_SH is little-endian, SCMP_ARCH_SHEB big-endian.
	specs.ArchSH:   {name: "sh", audit: unix.AUDIT_ARCH_SHEL},
	specs.ArchSHEB: {name: "sheb", audit: unix.AUDIT_ARCH_SH},
}

// sortedKeys returns m's keys as sorted strings.
func sortedKeys[K ~string, V any](m map[K]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, string(k))
	}
	slices.Sort(out)
	return out
}

// KnownActions returns the runtime-spec action names husk understands.
func KnownActions() []string { return sortedKeys(actions) }

// KnownOperators returns the runtime-spec operator names husk understands.
func KnownOperators() []string { return sortedKeys(operators) }

// KnownArchs returns the runtime-spec architecture names husk understands;
// [SupportedArchs] is the subset the host's libseccomp can compile for.
func KnownArchs() []string { return sortedKeys(archs) }

// KnownFlags returns the runtime-spec filter flags husk understands;
// [SupportedFlags] is the subset the running kernel accepts.
func KnownFlags() []string { return sortedKeys(flags) }
