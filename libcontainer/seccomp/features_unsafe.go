package seccomp

import (
	"errors"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// kernelActions maps the runtime-spec actions to SECCOMP_RET_* values, for
// SECCOMP_GET_ACTION_AVAIL.
var kernelActions = map[string]uint32{
	"SCMP_ACT_KILL":         unix.SECCOMP_RET_KILL_THREAD,
	"SCMP_ACT_KILL_PROCESS": unix.SECCOMP_RET_KILL_PROCESS,
	"SCMP_ACT_KILL_THREAD":  unix.SECCOMP_RET_KILL_THREAD,
	"SCMP_ACT_TRAP":         unix.SECCOMP_RET_TRAP,
	"SCMP_ACT_ERRNO":        unix.SECCOMP_RET_ERRNO,
	"SCMP_ACT_TRACE":        unix.SECCOMP_RET_TRACE,
	"SCMP_ACT_ALLOW":        unix.SECCOMP_RET_ALLOW,
	"SCMP_ACT_LOG":          unix.SECCOMP_RET_LOG,
	"SCMP_ACT_NOTIFY":       unix.SECCOMP_RET_USER_NOTIF,
}

// SupportedActions returns the known actions the running kernel
// implements (seccomp(2) SECCOMP_GET_ACTION_AVAIL).
func SupportedActions() []string {
	var out []string
	for _, name := range KnownActions() {
		ret := kernelActions[name]
		_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_GET_ACTION_AVAIL, 0, uintptr(unsafe.Pointer(&ret)))
		if errno == 0 {
			out = append(out, name)
		}
	}
	return out
}

// SupportedFlags returns the known filter flags the running kernel
// accepts. It asks seccomp(2) to install a filter from a NULL pointer: the
// kernel checks the flags first (EINVAL for unknown ones) and only then
// fails to read the program (EFAULT), so nothing is installed.
func SupportedFlags() []string {
	var out []string
	for _, name := range KnownFlags() {
		bit := flags[specs.LinuxSeccompFlag(name)]
		if bit == unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV {
			// Only valid together with NEW_LISTENER.
			bit |= unix.SECCOMP_FILTER_FLAG_NEW_LISTENER
		}
		_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, uintptr(bit), 0)
		if errors.Is(errno, unix.EFAULT) {
			out = append(out, name)
		}
	}
	return out
}

// SupportedArchs returns the known architectures the linked libseccomp
// can compile filters for.
func SupportedArchs() []string {
	var out []string
	for _, name := range KnownArchs() {
		info := archs[specs.Arch(name)]
		a, err := libseccomp.GetArchFromString(info.name)
		if err != nil {
			continue
		}
		f, err := libseccomp.NewFilter(libseccomp.ActAllow)
		if err != nil {
			continue
		}
		if f.AddArch(a) == nil {
			out = append(out, name)
		}
		f.Release()
	}
	return out
}

// Features describes seccomp support for `husk features`: the actions and
// operators husk understands, the architectures libseccomp can compile for,
// the flags husk knows and those the kernel supports.
func Features() *features.Seccomp {
	enabled := true
	return &features.Seccomp{
		Enabled:        &enabled,
		Actions:        KnownActions(),
		Operators:      KnownOperators(),
		Archs:          SupportedArchs(),
		KnownFlags:     KnownFlags(),
		SupportedFlags: SupportedFlags(),
	}
}
