// Package seccomp compiles runtime-spec seccomp profiles (linux.seccomp) to
// classic BPF programs, loads them, and hands the user-notification fd to a
// seccomp agent.
//
// The work is split across the two husk processes:
//
//   - The parent calls [Compile]. It uses libseccomp (through cgo) to turn the
//     profile into a BPF program and caches the result on disk, keyed by a
//     hash of the profile, the architecture, the libseccomp version, the
//     kernel release and the husk build, so that containers started with the
//     same profile skip compilation.
//   - The container init receives the [Program] (it is JSON-serialisable) and
//     calls [Load] on its locked OS thread right before execve. Load is pure
//     Go: one seccomp(2) call, no libseccomp.
//   - When the profile uses SCMP_ACT_NOTIFY, Load returns the listener fd and
//     [SendNotifyFD] passes it to the agent at linux.seccomp.listenerPath.
//
// # ENOSYS for syscalls newer than the profile
//
// A profile that denies by default (SCMP_ACT_ERRNO, SCMP_ACT_KILL*,
// SCMP_ACT_TRAP) also denies syscalls its author never heard of. When such a
// syscall is newer than the profile, the caller (typically glibc) can only
// fall back to an older syscall if it sees ENOSYS: clone3 must fail with
// ENOSYS, not EPERM, for glibc to retry with clone.
//
// Compile therefore puts a short prefix in front of libseccomp's program. For
// each architecture in the filter it computes the highest syscall number that
// the profile mentions and that libseccomp knows on that architecture
// ("max"). The prefix returns SECCOMP_RET_ERRNO|ENOSYS for a syscall number
// above max; everything else falls through, unchanged, to libseccomp's
// program. Syscalls at or below max that the profile does not list keep the
// default action: the author knew them and chose to deny them.
//
// Some architectures have numbers outside the linear table, and those would
// make max useless if the profile mentions them. The prefix only applies
// between max and the start of such a range:
//
//   - x32 shares AUDIT_ARCH_X86_64 with x86_64 and sets bit 30
//     (__X32_SYSCALL_BIT) in the number. The prefix tests that bit first and
//     uses the x32 max for x32 calls. The legacy x32-only numbers 512-547 are
//     never new and are left to libseccomp.
//   - ARM's private syscalls live at 0x0f0000 and above (__ARM_NR_BASE).
//
// An architecture for which the profile mentions no syscall gets no prefix.
// The prefix is not emitted when the default action allows the call
// (SCMP_ACT_ALLOW, SCMP_ACT_LOG), hands it to someone else (SCMP_ACT_TRACE,
// SCMP_ACT_NOTIFY) or already is ENOSYS.
//
// Syscalls that x86, s390(x), ppc and mips o32 also reach through
// socketcall(2) or ipc(2) resolve to pseudo-numbers in libseccomp; their
// direct numbers (e.g. socket = 359 on x86), for which libseccomp emits a
// rule too, count towards max.
//
// # Other choices
//
//   - Conditions of one syscalls entry on different arguments are ANDed;
//     conditions repeating an argument index are alternatives (ORed): one
//     libseccomp rule per combination, at most 256. runc ORs every condition
//     of such an entry, even those on other arguments (runc#2735). For
//     SCMP_CMP_MASKED_EQ, value is the mask and valueTwo the value the
//     masked argument must equal.
//   - A syscall of an ABI not in the filter kills the process (libseccomp's
//     bad-arch action): killing only the thread would hang a multi-threaded
//     process.
//   - Rules whose action equals the default are dropped (libseccomp refuses
//     them) but still count towards max.
//   - SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV is dropped when no rule uses
//     SCMP_ACT_NOTIFY (the kernel rejects it without NEW_LISTENER); TSYNC
//     with NOTIFY adds TSYNC_ESRCH, which the kernel requires.
//   - SCMP_ACT_NOTIFY cannot be the default action. A notified syscall
//     blocks until the agent answers, so the init must not need a notified
//     syscall between [Load] and handing the fd over.
//
// # What this package must not do
//
// Code that runs in the container init ([Load], [Program]) must not call
// libseccomp, allocate files, or log: it runs after the init has dropped
// privileges, with the container's stdio.
package seccomp
