package libcontainer

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/libcontainer/apparmor"
	"github.com/husk-runtime/husk/libcontainer/capabilities"
	"github.com/husk-runtime/husk/libcontainer/initplan"
	"github.com/husk-runtime/husk/libcontainer/internal/initsync"
	"github.com/husk-runtime/husk/libcontainer/rootfs"
)

// The C init (libcontainer/nsenter/cinit.c) runs the container's init, or an exec'd process,
// from a plan compiled here, so that no Go runtime starts inside the container: it costs
// neither the Go runtime's start-up nor its memory, which would be charged to the container's
// memory cgroup. The ops mirror standardInit, setnsInit, prepareProcess and finalize step by
// step; a config using a feature without a plan form (see planBlocker) runs the Go init.
//
// EnvGoInit, set to 1 in husk's environment, forces the Go init (tests run both).
const EnvGoInit = "HUSK_GO_INIT"

// The C init's limits on the exec op (cinit.c op_exec); longer lists run the Go init.
const (
	maxPlanArgs = 4095
	maxPlanEnv  = 8189 // one more slot is taken by HOME
)

// planBlocker returns why cfg needs the Go init, or nil.
func planBlocker(cfg *initConfig) error {
	if os.Getenv(EnvGoInit) == "1" {
		return fmt.Errorf("%s=1: %w", EnvGoInit, rootfs.ErrNotPlannable)
	}
	spec := cfg.Spec
	switch {
	case spec.Hooks != nil && (len(spec.Hooks.CreateContainer) > 0 || len(spec.Hooks.StartContainer) > 0):
		return fmt.Errorf("hooks in the container: %w", rootfs.ErrNotPlannable)
	case len(cfg.Process.Args) > maxPlanArgs || len(cfg.Process.Env) > maxPlanEnv:
		return fmt.Errorf("process.args or process.env longer than the C init takes: %w", rootfs.ErrNotPlannable)
	case len(cfg.IDMapMounts) > 0:
		return fmt.Errorf("idmapped mounts: %w", rootfs.ErrNotPlannable)
	case spec.Linux != nil && len(spec.Linux.UIDMappings)+len(spec.Linux.GIDMappings) > 0:
		return fmt.Errorf("user namespace: %w", rootfs.ErrNotPlannable)
	}
	if spec.Linux != nil {
		for _, ns := range spec.Linux.Namespaces {
			if ns.Type == specs.UserNamespace || (ns.Type == specs.MountNamespace && ns.Path != "" && !cfg.Setns) {
				return fmt.Errorf("namespace %s: %w", ns.Type, rootfs.ErrNotPlannable)
			}
		}
	}
	return nil
}

// planInput is what a plan needs beyond initConfig.
type planInput struct {
	fifoFD     int               // the exec FIFO's fd number in the init (create only)
	listenFds  int               // LISTEN_FDS passed on to the process (create only)
	consoleFD  int               // the console socket's fd number in the init (process.terminal)
	hostMounts []*mountinfo.Info // our mount table, if read already (create)
}

// buildPlan compiles cfg into a plan for the C init; errors are the config's (the Go init
// would have reported them from inside the container).
func buildPlan(cfg *initConfig, in planInput) (*initplan.Plan, error) {
	p := &initplan.Plan{}
	if cfg.Setns {
		if err := planProcessPrep(p, cfg, in); err != nil {
			return nil, err
		}
		p.Add(initplan.OpReady, "ready")
		return p, planFinalize(p, cfg, in)
	}
	spec := cfg.Spec
	linux := spec.Linux
	self := p.Slot()
	// Our fd table as seen before the rootfs changes: the exec FIFO is reopened through it.
	p.Add(initplan.OpOpen, "open /proc/self/fd", "/proc/self/fd", unix.O_PATH|unix.O_DIRECTORY, self)
	var r *rootfs.Plan
	if !hasNamespace(spec, specs.MountNamespace) {
		p.Add(initplan.OpChroot, "root.path: chroot "+cfg.Rootfs, cfg.Rootfs)
	} else {
		rc := rootfsConfig(cfg)
		rc.HostMounts = in.hostMounts
		if err := rootfs.CheckPlannable(rc); err != nil {
			return nil, err
		}
		var err error
		if r, err = rootfs.PlanPrepare(p, rc); err != nil {
			return nil, err
		}
	}
	if cfg.Hooks {
		p.Add(initplan.OpSend, "hooks", []byte(`{"type":"`+"hooks"+`"}`))
		p.Add(initplan.OpExpect, "prestart and createRuntime hooks", `"hooksDone"`)
	}
	if r != nil {
		r.PlanFinish()
	}
	if cfg.NewNS["uts"] {
		if spec.Hostname != "" {
			p.Syscall(fmt.Sprintf("hostname %q: sethostname", spec.Hostname), unix.SYS_SETHOSTNAME,
				[]any{initplan.Ptr(spec.Hostname), len(spec.Hostname)})
		}
		if spec.Domainname != "" {
			p.Syscall(fmt.Sprintf("domainname %q: setdomainname", spec.Domainname), unix.SYS_SETDOMAINNAME,
				[]any{initplan.Ptr(spec.Domainname), len(spec.Domainname)})
		}
	}
	if linux != nil {
		keys := make([]string, 0, len(linux.Sysctl))
		for k := range linux.Sysctl {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p.Add(initplan.OpWriteProc, fmt.Sprintf("linux.sysctl %q", k), "sys/"+strings.ReplaceAll(k, ".", "/"), "", linux.Sysctl[k])
		}
	}
	if err := planProcessPrep(p, cfg, in); err != nil {
		return nil, err
	}
	p.Add(initplan.OpReady, "ready")
	p.Add(initplan.OpWaitStart, "wait for start", self, in.fifoFD)
	p.Free(self)
	return p, planFinalize(p, cfg, in)
}

// planProcessPrep is prepareProcess's plan.
func planProcessPrep(p *initplan.Plan, cfg *initConfig, in planInput) error {
	proc := cfg.Process
	if proc.Terminal {
		var rows, cols uint
		if cs := proc.ConsoleSize; cs != nil {
			rows, cols = cs.Height, cs.Width
		}
		p.Add(initplan.OpConsole, "process.terminal", in.consoleFD, rows, cols)
	}
	if !cfg.NoNewKeyring {
		p.Syscall("join session keyring", unix.SYS_KEYCTL,
			[]any{unix.KEYCTL_JOIN_SESSION_KEYRING, initplan.Ptr("_ses." + cfg.ContainerID + "\x00")}, unix.ENOSYS)
	}
	for i, rl := range proc.Rlimits {
		res, ok := rlimitNames[rl.Type]
		if !ok {
			return fmt.Errorf("process.rlimits[%d].type: unknown rlimit %q", i, rl.Type)
		}
		lim := binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(nil, rl.Soft), rl.Hard)
		p.Syscall(fmt.Sprintf("process.rlimits[%d] %s (soft %d, hard %d): prlimit", i, rl.Type, rl.Soft, rl.Hard),
			unix.SYS_PRLIMIT64, []any{0, res, initplan.Ptr(lim), 0})
	}
	if proc.OOMScoreAdj != nil {
		p.Add(initplan.OpWriteProc, "process.oomScoreAdj", "self/oom_score_adj", "", strconv.Itoa(*proc.OOMScoreAdj))
	}
	cwd := proc.Cwd
	if cwd == "" {
		cwd = "/"
	}
	if !filepath.IsAbs(cwd) {
		return fmt.Errorf("process.cwd %q: must be an absolute path", cwd)
	}
	p.Add(initplan.OpChdir, fmt.Sprintf("process.cwd %q", cwd), cwd)
	p.Add(initplan.OpLookPath, fmt.Sprintf("process.args[0] %q", proc.Args[0]), proc.Args[0], searchPath(proc.Env))
	if err := planExtras(p, cfg); err != nil {
		return err
	}
	if cfg.Seccomp != nil && cfg.Seccomp.Notify {
		flags, filter, err := cfg.Seccomp.Raw()
		if err != nil {
			return fmt.Errorf("linux.seccomp: %w", err)
		}
		p.Add(initplan.OpSeccomp, "linux.seccomp: load filter", uint64(flags), filter, 1)
	}
	return nil
}

// planExtras is applyExtras's plan.
func planExtras(p *initplan.Plan, cfg *initConfig) error {
	proc := cfg.Process
	if a := proc.ExecCPUAffinity; a == nil {
		var all unix.CPUSet
		for i := 0; i < len(all)*64; i++ {
			all.Set(i)
		}
		p.Syscall("reset cpu affinity to the cpuset: sched_setaffinity", unix.SYS_SCHED_SETAFFINITY,
			[]any{0, binary.Size(all), initplan.Ptr(cpuSetBytes(&all))})
	} else if cfg.Setns {
		set, err := parseCPUList(a.Final)
		if err != nil {
			return fmt.Errorf("process.execCPUAffinity.final: %w", err)
		}
		if set != nil {
			p.Syscall(fmt.Sprintf("process.execCPUAffinity.final %q: sched_setaffinity", a.Final), unix.SYS_SCHED_SETAFFINITY,
				[]any{0, binary.Size(*set), initplan.Ptr(cpuSetBytes(set))})
		}
	}
	if l := cfg.Spec.Linux; l != nil {
		pers, err := personalityValue(l.Personality)
		if err != nil {
			return err
		}
		if pers >= 0 {
			p.Syscall(fmt.Sprintf("linux.personality %s: personality", l.Personality.Domain), unix.SYS_PERSONALITY, []any{pers})
		}
		mode, nodes, err := memPolicy(l.MemoryPolicy)
		if err != nil {
			return err
		}
		if mode >= 0 {
			if nodes == nil {
				nodes = new(unix.CPUSet)
			}
			p.Syscall(fmt.Sprintf("linux.memoryPolicy %s %q: set_mempolicy", l.MemoryPolicy.Mode, l.MemoryPolicy.Nodes),
				unix.SYS_SET_MEMPOLICY, []any{mode, initplan.Ptr(cpuSetBytes(nodes)), binary.Size(*nodes) * 8})
		}
	}
	attr, err := schedAttr(proc.Scheduler)
	if err != nil {
		return err
	}
	if attr != nil {
		var b bytes.Buffer
		attr.Size = uint32(binary.Size(*attr))
		if err := binary.Write(&b, binary.LittleEndian, attr); err != nil {
			return err
		}
		p.Syscall(fmt.Sprintf("process.scheduler %s: sched_setattr", proc.Scheduler.Policy), unix.SYS_SCHED_SETATTR,
			[]any{0, initplan.Ptr(b.Bytes()), 0})
	}
	prio, err := ioprioValue(proc.IOPriority)
	if err != nil {
		return err
	}
	if prio >= 0 {
		p.Syscall(fmt.Sprintf("process.ioPriority %s %d: ioprio_set", proc.IOPriority.Class, proc.IOPriority.Priority),
			unix.SYS_IOPRIO_SET, []any{ioprioWhoProcess, 0, prio})
	}
	return nil
}

func cpuSetBytes(s *unix.CPUSet) []byte {
	var b []byte
	for _, w := range s {
		b = binary.LittleEndian.AppendUint64(b, uint64(w))
	}
	return b
}

// planFinalize is finalize's plan: the process's credentials, LSM labels, capabilities and
// seccomp filter, then execve.
func planFinalize(p *initplan.Plan, cfg *initConfig, in planInput) error {
	proc := cfg.Process
	// Nothing of ours but stdio and the preserved fds may reach the container (CVE-2024-21626).
	p.Add(initplan.OpCloseRange, "close_range", 3+cfg.PreserveFds)
	if name := proc.ApparmorProfile; name != "" {
		if !apparmor.IsEnabled() {
			return fmt.Errorf("process.apparmorProfile: apply apparmor profile %q: %w", name, apparmor.ErrNotEnabled)
		}
		if strings.ContainsAny(name, "\x00\n") {
			return fmt.Errorf("process.apparmorProfile: apply apparmor profile %q: name contains a NUL or newline", name)
		}
		p.Add(initplan.OpWriteProc, fmt.Sprintf("process.apparmorProfile: apply apparmor profile %q", name),
			"thread-self/attr/apparmor/exec", "thread-self/attr/exec", "exec "+name)
	}
	if l := proc.SelinuxLabel; l != "" {
		if strings.ContainsRune(l, 0) {
			return fmt.Errorf("process.selinuxLabel %q: contains a NUL", l)
		}
		p.Add(initplan.OpWriteProc, fmt.Sprintf("process.selinuxLabel: set selinux exec label %q", l), "thread-self/attr/exec", "", l)
	}
	// A session of its own, as under runc; a terminal's setup made us a leader already.
	p.Syscall("setsid", unix.SYS_SETSID, nil, unix.EPERM)
	caps, err := capabilities.Parse(proc.Capabilities)
	if err != nil {
		return err
	}
	p.Add(initplan.OpDropBounding, "drop bounding capabilities", caps.Bounding, capabilities.Last())
	notify := cfg.Seccomp != nil && cfg.Seccomp.Notify
	var flags uint
	var filter []byte
	if cfg.Seccomp != nil && !notify {
		if flags, filter, err = cfg.Seccomp.Raw(); err != nil {
			return fmt.Errorf("linux.seccomp: %w", err)
		}
		if !proc.NoNewPrivileges {
			// Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: do it while we have it.
			p.Add(initplan.OpSeccomp, "linux.seccomp: load filter", uint64(flags), filter, 0)
		}
	}
	u := &proc.User
	if u.UID != 0 || u.GID != 0 {
		p.Add(initplan.OpChownStdio, "process.user", u.UID, u.GID)
	}
	p.Syscall("prctl PR_SET_KEEPCAPS", unix.SYS_PRCTL, []any{unix.PR_SET_KEEPCAPS, 1})
	gids := make([]byte, 0, 4*len(u.AdditionalGids))
	for _, g := range u.AdditionalGids {
		gids = binary.LittleEndian.AppendUint32(gids, g)
	}
	// setgroups(2) is refused in a user namespace with setgroups "deny"; then it is only an
	// error if groups were asked for.
	var okErrs []unix.Errno
	if len(u.AdditionalGids) == 0 {
		okErrs = append(okErrs, unix.EPERM)
	}
	p.Syscall("process.user.additionalGids: setgroups", unix.SYS_SETGROUPS, []any{len(u.AdditionalGids), initplan.Ptr(gids)}, okErrs...)
	p.Syscall(fmt.Sprintf("process.user.gid %d: setresgid", u.GID), unix.SYS_SETRESGID, []any{u.GID, u.GID, u.GID})
	p.Syscall(fmt.Sprintf("process.user.uid %d: setresuid", u.UID), unix.SYS_SETRESUID, []any{u.UID, u.UID, u.UID})
	umask := uint32(0o022)
	if u.Umask != nil {
		umask = *u.Umask
	}
	p.Syscall("umask", unix.SYS_UMASK, []any{umask})
	p.Syscall("prctl PR_SET_KEEPCAPS", unix.SYS_PRCTL, []any{unix.PR_SET_KEEPCAPS, 0})
	p.Add(initplan.OpCapset, "set capabilities", caps.Effective, caps.Permitted, caps.Inheritable, caps.Ambient)
	if proc.NoNewPrivileges {
		p.Syscall("process.noNewPrivileges: prctl", unix.SYS_PRCTL, []any{unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0})
		if filter != nil {
			// As late as possible: only execve follows.
			p.Add(initplan.OpSeccomp, "linux.seccomp: load filter", uint64(flags), filter, 0)
		}
	}
	env := proc.Env
	if in.listenFds > 0 && cfg.PreserveFds > 0 {
		env = append(append([]string(nil), env...), "LISTEN_PID=1", "LISTEN_FDS="+strconv.Itoa(in.listenFds))
	}
	if !hasEnv(env, "HOME") {
		p.Add(initplan.OpHome, "HOME", u.UID)
	}
	args := []any{len(proc.Args)}
	for _, a := range proc.Args {
		args = append(args, a)
	}
	args = append(args, len(env))
	for _, e := range env {
		if strings.ContainsRune(e, 0) {
			return errors.New("process.env: an entry contains a NUL byte")
		}
		args = append(args, e)
	}
	p.Add(initplan.OpExec, "exec "+proc.Args[0], args...)
	return nil
}

func hasEnv(env []string, name string) bool {
	for _, e := range env {
		if strings.HasPrefix(e, name+"=") {
			return true
		}
	}
	return false
}

// planFor returns the C init's plan for cfg, or nil when cfg needs the Go init.
func planFor(cfg *initConfig, in planInput) (*initplan.Plan, error) {
	err := planBlocker(cfg)
	var p *initplan.Plan
	if err == nil {
		p, err = buildPlan(cfg, in)
	}
	if errors.Is(err, rootfs.ErrNotPlannable) {
		slog.Debug("container init in Go", "reason", err)
		return nil, nil
	}
	return p, err
}

// sendPlan hands the plan to the C init, in a sealed memfd.
func sendPlan(c *initsync.Conn, p *initplan.Plan) error {
	f, err := p.Memfd()
	if err != nil {
		return err
	}
	defer f.Close()
	return c.SendRaw([]byte("plan"), int(f.Fd()))
}
