package seccomp

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// maxErrno is the largest errno a filter can return: the kernel clamps
// SECCOMP_RET_DATA to MAX_ERRNO (kernel/seccomp.c, include/linux/err.h).
const maxErrno = 4095

// Compile turns a linux.seccomp profile into a Program. When cacheDir is not
// "", compiled programs are kept there, keyed by a hash of everything the
// output depends on (see [cacheKey]), and a cached program is returned
// without calling libseccomp. cacheDir must only be writable by root.
//
// Syscalls unknown to the host's libseccomp are skipped with a warning on
// the default slog logger. Errors name the offending field, e.g.
// `linux.seccomp.syscalls[3].action: unknown action "SCMP_ACT_FOO"`.
func Compile(s *specs.LinuxSeccomp, cacheDir string) (*Program, error) {
	if s == nil {
		return nil, errors.New("compile seccomp profile: linux.seccomp is not set")
	}
	if cacheDir == "" {
		return compile(s)
	}
	key, err := cacheKey(s)
	if err != nil {
		return nil, err
	}
	if p, err := cacheLoad(cacheDir, key); err == nil {
		return p, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		slog.Warn("seccomp: ignoring unreadable cache entry", "dir", cacheDir, "key", key, "error", err)
	}
	p, err := compile(s)
	if err != nil {
		return nil, err
	}
	if err := cacheStore(cacheDir, key, p); err != nil {
		// A cache that cannot be written costs time, not correctness.
		slog.Warn("seccomp: cannot cache compiled profile", "dir", cacheDir, "error", err)
	}
	return p, nil
}

// rule is one validated entry of linux.seccomp.syscalls.
type rule struct {
	names  []string
	action libseccomp.ScmpAction
	// condSets are ANDed conditions; each set becomes one libseccomp
	// rule, so the sets are ORed.
	condSets [][]libseccomp.ScmpCondition
}

// profile is a validated linux.seccomp.
type profile struct {
	defaultAction libseccomp.ScmpAction
	archs         []libseccomp.ScmpArch
	flags         uint
	rules         []rule
	notify        bool
}

// parseAction validates an action and its errno. field names the action
// field in errors; the errno is reported as errnoField.
func parseAction(name specs.LinuxSeccompAction, errno *uint, field, errnoField string) (libseccomp.ScmpAction, error) {
	act, ok := actions[name]
	if !ok {
		return 0, fmt.Errorf("%s: unknown action %q", field, name)
	}
	ret := uint(unix.EPERM)
	if errno != nil {
		// "When the action doesn't support an errno, the runtime MUST
		// print and error and fail." -OCI spec.
		if act != libseccomp.ActErrno && act != libseccomp.ActTrace {
			return 0, fmt.Errorf("%s: %s does not take an errno (%d given)", errnoField, name, *errno)
		}
		if *errno > maxErrno {
			return 0, fmt.Errorf("%s: %d is not an errno (0-%d)", errnoField, *errno, maxErrno)
		}
		ret = *errno
	}
	if act == libseccomp.ActErrno || act == libseccomp.ActTrace {
		act = act.SetReturnCode(int16(ret))
	}
	return act, nil
}

// parse validates s and converts its names to libseccomp values.
func parse(s *specs.LinuxSeccomp) (*profile, error) {
	var (
		p   profile
		err error
	)
	p.defaultAction, err = parseAction(s.DefaultAction, s.DefaultErrnoRet, "linux.seccomp.defaultAction", "linux.seccomp.defaultErrnoRet")
	if err != nil {
		return nil, err
	}
	if s.DefaultAction == specs.ActNotify {
		// The kernel would ask the agent about every syscall, including
		// those the init makes to pass the listener fd on.
		return nil, fmt.Errorf("linux.seccomp.defaultAction: %s cannot be the default action", specs.ActNotify)
	}
	for i, a := range s.Architectures {
		info, ok := archs[a]
		if !ok {
			return nil, fmt.Errorf("linux.seccomp.architectures[%d]: unknown architecture %q", i, a)
		}
		arch, err := libseccomp.GetArchFromString(info.name)
		if err != nil {
			return nil, fmt.Errorf("linux.seccomp.architectures[%d]: %q: %w", i, a, err)
		}
		p.archs = append(p.archs, arch)
	}
	for i, f := range s.Flags {
		bit, ok := flags[f]
		if !ok {
			return nil, fmt.Errorf("linux.seccomp.flags[%d]: unknown flag %q", i, f)
		}
		p.flags |= bit
	}
	if s.ListenerMetadata != "" && s.ListenerPath == "" {
		// "This field MUST NOT be set if listenerPath is not set." -OCI spec.
		return nil, errors.New("linux.seccomp.listenerMetadata: set without linux.seccomp.listenerPath")
	}
	for i, sc := range s.Syscalls {
		field := fmt.Sprintf("linux.seccomp.syscalls[%d]", i)
		if len(sc.Names) == 0 {
			return nil, fmt.Errorf("%s.names: at least one name is required", field)
		}
		for j, n := range sc.Names {
			if n == "" {
				return nil, fmt.Errorf("%s.names[%d]: empty name", field, j)
			}
		}
		act, err := parseAction(sc.Action, sc.ErrnoRet, field+".action", field+".errnoRet")
		if err != nil {
			return nil, err
		}
		r := rule{names: sc.Names, action: act}
		if r.condSets, err = parseArgs(sc.Args, field); err != nil {
			return nil, err
		}
		if sc.Action == specs.ActNotify {
			p.notify = true
		}
		p.rules = append(p.rules, r)
	}
	if p.notify {
		p.flags |= unix.SECCOMP_FILTER_FLAG_NEW_LISTENER
		if p.flags&unix.SECCOMP_FILTER_FLAG_TSYNC != 0 {
			// seccomp(2): TSYNC and NEW_LISTENER both use the return
			// value, so the kernel requires TSYNC_ESRCH with both.
			p.flags |= unix.SECCOMP_FILTER_FLAG_TSYNC_ESRCH
		}
	} else if p.flags&unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV != 0 {
		// The kernel rejects WAIT_KILLABLE_RECV without NEW_LISTENER;
		// without SCMP_ACT_NOTIFY rules it has no meaning.
		slog.Debug("seccomp: ignoring SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: no SCMP_ACT_NOTIFY rule")
		p.flags &^= unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
	}
	return &p, nil
}

// maxCondSets bounds the rules one syscalls entry can expand to.
const maxCondSets = 256

// parseArgs converts the args of one syscalls entry. libseccomp allows one
// condition per argument in a rule, and the runtime-spec does not say how
// conditions combine. Conditions on different arguments are ANDed;
// conditions that repeat an argument index are alternatives (ORed), so
// each combination of one condition per argument becomes one rule. With a
// single repeated index this is what runc does; unlike runc, a condition on
// another argument still applies to every alternative (runc#2735).
func parseArgs(args []specs.LinuxSeccompArg, field string) ([][]libseccomp.ScmpCondition, error) {
	if len(args) == 0 {
		return nil, nil
	}
	var byIndex [6][]libseccomp.ScmpCondition
	for i, a := range args {
		f := fmt.Sprintf("%s.args[%d]", field, i)
		op, ok := operators[a.Op]
		if !ok {
			return nil, fmt.Errorf("%s.op: unknown operator %q", f, a.Op)
		}
		if a.Index > 5 {
			return nil, fmt.Errorf("%s.index: %d is not a syscall argument (0-5)", f, a.Index)
		}
		var (
			c   libseccomp.ScmpCondition
			err error
		)
		if op == libseccomp.CompareMaskedEqual {
			// value is the mask, valueTwo the value to compare the
			// masked argument with.
			c, err = libseccomp.MakeCondition(a.Index, op, a.Value, a.ValueTwo)
		} else {
			c, err = libseccomp.MakeCondition(a.Index, op, a.Value)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		byIndex[a.Index] = append(byIndex[a.Index], c)
	}
	sets := [][]libseccomp.ScmpCondition{nil}
	for _, alts := range byIndex {
		if len(alts) == 0 {
			continue
		}
		if len(sets)*len(alts) > maxCondSets {
			return nil, fmt.Errorf("%s.args: %d or more combinations of repeated argument indices (at most %d)", field, len(sets)*len(alts), maxCondSets)
		}
		next := make([][]libseccomp.ScmpCondition, 0, len(sets)*len(alts))
		for _, set := range sets {
			for _, c := range alts {
				next = append(next, append(slices.Clip(set), c))
			}
		}
		sets = next
	}
	return sets, nil
}

// deniesByDefault reports whether a default action refuses the syscall
// outright, so that syscalls newer than the profile should get ENOSYS.
func deniesByDefault(act libseccomp.ScmpAction) bool {
	switch act & 0xffff {
	case libseccomp.ActKillThread, libseccomp.ActKillProcess, libseccomp.ActTrap:
		return true
	case libseccomp.ActErrno:
		return act.GetReturnCode() != int16(unix.ENOSYS)
	}
	return false
}

// compile builds the program with libseccomp.
func compile(s *specs.LinuxSeccomp) (*Program, error) {
	p, err := parse(s)
	if err != nil {
		return nil, err
	}
	f, err := libseccomp.NewFilter(p.defaultAction)
	if err != nil {
		return nil, fmt.Errorf("create seccomp filter: %w", err)
	}
	defer f.Release()
	// A syscall of an ABI the profile does not list kills the process:
	// killing only the thread would leave a multi-threaded process hung.
	if err := f.SetBadArchAction(libseccomp.ActKillProcess); err != nil {
		return nil, fmt.Errorf("set seccomp bad-arch action: %w", err)
	}
	// A binary tree of syscall numbers instead of a linear list: fewer
	// instructions run per syscall with hundreds of rules.
	if err := f.SetOptimize(2); err != nil {
		slog.Debug("seccomp: binary tree optimisation unavailable", "error", err)
	}
	for i, a := range p.archs {
		if err := f.AddArch(a); err != nil {
			return nil, fmt.Errorf("linux.seccomp.architectures[%d]: add %q: %w", i, s.Architectures[i], err)
		}
	}
	native, err := libseccomp.GetNativeArch()
	if err != nil {
		return nil, fmt.Errorf("get native architecture: %w", err)
	}
	filterArchs := append([]libseccomp.ScmpArch{native}, p.archs...)
	var known []string // names libseccomp resolved, for the ENOSYS prefix
	for i, r := range p.rules {
		for _, name := range r.names {
			nr, err := libseccomp.GetSyscallFromName(name)
			if err != nil {
				slog.Warn("seccomp: skipping syscall unknown to libseccomp", "syscall", name,
					"field", fmt.Sprintf("linux.seccomp.syscalls[%d]", i), "libseccomp", Version())
				continue
			}
			known = append(known, name)
			if r.action == p.defaultAction {
				continue // libseccomp refuses rules that repeat the default
			}
			if err := addRule(f, nr, r); err != nil {
				return nil, fmt.Errorf("linux.seccomp.syscalls[%d]: add rule for %q: %w", i, name, err)
			}
		}
	}
	filter, err := exportBPF(f)
	if err != nil {
		return nil, err
	}
	if deniesByDefault(p.defaultAction) {
		prefix, err := enosysPrefix(limits(filterArchs, known))
		if err != nil {
			return nil, err
		}
		filter = append(prefix, filter...)
	}
	prog := &Program{Filter: filter, Flags: p.flags, Notify: p.notify}
	if err := prog.check(); err != nil {
		return nil, fmt.Errorf("compile seccomp profile: %w", err)
	}
	return prog, nil
}

// addRule adds r for syscall nr, one libseccomp rule per condition set.
// Non-exact rules let libseccomp translate for every architecture (e.g.
// socket(2) through socketcall(2) on x86).
func addRule(f *libseccomp.ScmpFilter, nr libseccomp.ScmpSyscall, r rule) error {
	if len(r.condSets) == 0 {
		return f.AddRule(nr, r.action)
	}
	for _, conds := range r.condSets {
		if err := f.AddRuleConditional(nr, r.action, conds); err != nil {
			return err
		}
	}
	return nil
}

// limits computes, for each ABI in the filter, the highest syscall number
// among names.
func limits(filterArchs []libseccomp.ScmpArch, names []string) []abiLimit {
	var out []abiLimit
	done := map[libseccomp.ScmpArch]bool{}
	for _, a := range filterArchs {
		if done[a] {
			continue
		}
		done[a] = true
		var info archInfo
		found := false
		for _, i := range archs {
			if i.name == a.String() {
				info, found = i, true
				break
			}
		}
		if !found {
			continue
		}
		l := abiLimit{audit: info.audit, x32: info.x32, private: info.private}
		have := false
		var direct map[string]uint32
		for _, n := range names {
			nr, err := libseccomp.GetSyscallFromNameByArch(n, a)
			if err != nil {
				continue
			}
			if nr < 0 {
				// A pseudo-number: not a syscall on this ABI, or one
				// that is also reached through socketcall(2) or
				// ipc(2), for which libseccomp adds a rule on the
				// direct number too.
				if direct == nil {
					direct = multiplexed(a)
				}
				d, ok := direct[n]
				if !ok {
					continue
				}
				nr = libseccomp.ScmpSyscall(d)
			}
			u := uint32(nr)
			if info.private != 0 && u >= info.private {
				continue
			}
			if !have || u > l.max {
				l.max, have = u, true
			}
		}
		if have {
			out = append(out, l)
		}
	}
	return out
}

// multiplexed returns the direct numbers of the syscalls that arch a also
// multiplexes through socketcall(2) or ipc(2). libseccomp resolves their
// names to pseudo-numbers, but knows the direct numbers in the other
// direction; they follow the multiplexers in the table, so a window after
// them is scanned (about 0.3 ms).
func multiplexed(a libseccomp.ScmpArch) map[string]uint32 {
	m := map[string]uint32{}
	for _, mux := range []string{"socketcall", "ipc"} {
		first, err := libseccomp.GetSyscallFromNameByArch(mux, a)
		if err != nil || first < 0 {
			continue
		}
		for nr := first + 1; nr < first+600; nr++ {
			if name, err := nr.GetNameByArch(a); err == nil {
				m[name] = uint32(nr)
			}
		}
	}
	return m
}

// exportBPF returns f's program. libseccomp 2.6 can write to memory; 2.5
// only to a file descriptor, so a memfd stands in.
func exportBPF(f *libseccomp.ScmpFilter) ([]unix.SockFilter, error) {
	raw, err := f.ExportBPFMem()
	if err != nil {
		fd, err := unix.MemfdCreate("husk-seccomp", unix.MFD_CLOEXEC)
		if err != nil {
			return nil, fmt.Errorf("export seccomp filter: %w", &os.SyscallError{Syscall: "memfd_create", Err: err})
		}
		file := os.NewFile(uintptr(fd), "memfd:husk-seccomp")
		defer file.Close()
		if err := f.ExportBPF(file); err != nil {
			return nil, fmt.Errorf("export seccomp filter: %w", err)
		}
		if _, err := file.Seek(0, io.SeekStart); err != nil {
			return nil, fmt.Errorf("export seccomp filter: %w", err)
		}
		if raw, err = io.ReadAll(file); err != nil {
			return nil, fmt.Errorf("export seccomp filter: %w", err)
		}
	}
	filter, err := decodeFilter(raw)
	if err != nil {
		return nil, fmt.Errorf("export seccomp filter: %w", err)
	}
	return filter, nil
}

// Version reports the version of the libseccomp husk is linked with, e.g.
// "2.5.4", for `husk --version` and `husk features`.
func Version() string {
	major, minor, micro := libseccomp.GetLibraryVersion()
	return fmt.Sprintf("%d.%d.%d", major, minor, micro)
}
