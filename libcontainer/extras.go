package libcontainer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// This file holds the parent side of the process and linux fields that init_extras.go
// applies: the checks that turn a config value into its syscall argument (so that a bad
// value fails create or exec before any process exists), and NOTIFY_SOCKET.

// checkExtras checks the fields init_extras.go applies, for a container (spec) and the
// process about to run in it (p; the exec'd one for exec).
func checkExtras(spec *specs.Spec, p *specs.Process) error {
	if _, err := schedAttr(p.Scheduler); err != nil {
		return err
	}
	if _, err := ioprioValue(p.IOPriority); err != nil {
		return err
	}
	if a := p.ExecCPUAffinity; a != nil {
		if _, err := parseCPUList(a.Initial); err != nil {
			return fmt.Errorf("process.execCPUAffinity.initial: %w", err)
		}
		if _, err := parseCPUList(a.Final); err != nil {
			return fmt.Errorf("process.execCPUAffinity.final: %w", err)
		}
	}
	if spec.Linux == nil {
		return nil
	}
	if _, err := personalityValue(spec.Linux.Personality); err != nil {
		return err
	}
	if _, _, err := memPolicy(spec.Linux.MemoryPolicy); err != nil {
		return err
	}
	return checkIntelRdt(spec.Linux.IntelRdt, "/sys/fs/resctrl")
}

// checkIntelRdt refuses linux.intelRdt: husk does not manage resctrl groups, and running a
// container without the cache or bandwidth allocation it asked for would break its contract.
func checkIntelRdt(rdt *specs.LinuxIntelRdt, resctrl string) error {
	if rdt == nil {
		return nil
	}
	var st unix.Statfs_t
	if err := unix.Statfs(resctrl, &st); err != nil || st.Type != unix.RDTGROUP_SUPER_MAGIC {
		return fmt.Errorf("linux.intelRdt: %w: resctrl is not mounted at %s on this host", ErrNotSupported, resctrl)
	}
	return fmt.Errorf("linux.intelRdt: %w: husk does not implement Intel RDT", ErrNotSupported)
}

// personalityValue returns the personality(2) argument of linux.personality, or -1 when
// the field is absent.
func personalityValue(p *specs.LinuxPersonality) (int, error) {
	if p == nil {
		return -1, nil
	}
	if len(p.Flags) > 0 {
		// runtime-spec defines no flags; an unknown one must not be dropped silently.
		return 0, fmt.Errorf("linux.personality.flags %q: no flags are supported", p.Flags)
	}
	switch p.Domain {
	case specs.PerLinux:
		return perLinux, nil
	case specs.PerLinux32:
		return perLinux32, nil
	}
	return 0, fmt.Errorf("linux.personality.domain %q: must be LINUX or LINUX32", p.Domain)
}

var schedPolicies = map[specs.LinuxSchedulerPolicy]uint32{
	specs.SchedOther: unix.SCHED_NORMAL, specs.SchedFIFO: unix.SCHED_FIFO, specs.SchedRR: unix.SCHED_RR,
	specs.SchedBatch: unix.SCHED_BATCH, specs.SchedIdle: unix.SCHED_IDLE, specs.SchedDeadline: unix.SCHED_DEADLINE,
	// SCHED_ISO was never merged into Linux: asking for it is an error, not a fallback.
}

var schedFlags = map[specs.LinuxSchedulerFlag]uint64{
	specs.SchedFlagResetOnFork: unix.SCHED_FLAG_RESET_ON_FORK, specs.SchedFlagReclaim: unix.SCHED_FLAG_RECLAIM,
	specs.SchedFlagDLOverrun: unix.SCHED_FLAG_DL_OVERRUN, specs.SchedFlagKeepPolicy: unix.SCHED_FLAG_KEEP_POLICY,
	specs.SchedFlagKeepParams: unix.SCHED_FLAG_KEEP_PARAMS, specs.SchedFlagUtilClampMin: unix.SCHED_FLAG_UTIL_CLAMP_MIN,
	specs.SchedFlagUtilClampMax: unix.SCHED_FLAG_UTIL_CLAMP_MAX,
}

// schedAttr converts process.scheduler to a sched_setattr(2) argument (nil when absent).
func schedAttr(s *specs.Scheduler) (*unix.SchedAttr, error) {
	if s == nil {
		return nil, nil
	}
	pol, ok := schedPolicies[s.Policy]
	if !ok {
		return nil, fmt.Errorf("process.scheduler.policy %q: unknown or unsupported policy", s.Policy)
	}
	attr := &unix.SchedAttr{Policy: pol, Nice: s.Nice, Runtime: s.Runtime, Deadline: s.Deadline, Period: s.Period}
	if s.Nice < -20 || s.Nice > 19 {
		return nil, fmt.Errorf("process.scheduler.nice %d: must be in [-20, 19]", s.Nice)
	}
	if s.Priority < 0 {
		return nil, fmt.Errorf("process.scheduler.priority %d: must not be negative", s.Priority)
	}
	attr.Priority = uint32(s.Priority)
	realtime := pol == unix.SCHED_FIFO || pol == unix.SCHED_RR
	if realtime && (s.Priority < 1 || s.Priority > 99) {
		return nil, fmt.Errorf("process.scheduler.priority %d: %s needs a priority in [1, 99]", s.Priority, s.Policy)
	}
	if !realtime && s.Priority != 0 {
		return nil, fmt.Errorf("process.scheduler.priority %d: only SCHED_FIFO and SCHED_RR take a priority", s.Priority)
	}
	if pol != unix.SCHED_DEADLINE && (s.Runtime != 0 || s.Deadline != 0 || s.Period != 0) {
		return nil, errors.New("process.scheduler: runtime, deadline and period are for SCHED_DEADLINE only")
	}
	for _, f := range s.Flags {
		v, ok := schedFlags[f]
		if !ok {
			return nil, fmt.Errorf("process.scheduler.flags: unknown flag %q", f)
		}
		attr.Flags |= v
	}
	return attr, nil
}

// ioprio_set(2) constants (linux/ioprio.h); x/sys/unix does not define them.
const (
	ioprioWhoProcess = 1
	ioprioClassShift = 13
)

var ioprioClasses = map[specs.IOPriorityClass]int{
	specs.IOPRIO_CLASS_RT: 1, specs.IOPRIO_CLASS_BE: 2, specs.IOPRIO_CLASS_IDLE: 3,
}

// ioprioValue converts process.ioPriority to an ioprio_set(2) value (-1 when absent).
func ioprioValue(p *specs.LinuxIOPriority) (int, error) {
	if p == nil {
		return -1, nil
	}
	class, ok := ioprioClasses[p.Class]
	if !ok {
		return 0, fmt.Errorf("process.ioPriority.class %q: must be IOPRIO_CLASS_RT, IOPRIO_CLASS_BE or IOPRIO_CLASS_IDLE", p.Class)
	}
	if p.Priority < 0 || p.Priority > 7 {
		return 0, fmt.Errorf("process.ioPriority.priority %d: must be in [0, 7]", p.Priority)
	}
	return class<<ioprioClassShift | p.Priority, nil
}

var memPolicyModes = map[specs.MemoryPolicyModeType]int{
	specs.MpolDefault: unix.MPOL_DEFAULT, specs.MpolBind: unix.MPOL_BIND, specs.MpolInterleave: unix.MPOL_INTERLEAVE,
	specs.MpolWeightedInterleave: unix.MPOL_WEIGHTED_INTERLEAVE, specs.MpolPreferred: unix.MPOL_PREFERRED,
	specs.MpolPreferredMany: unix.MPOL_PREFERRED_MANY, specs.MpolLocal: unix.MPOL_LOCAL,
}

var memPolicyFlags = map[specs.MemoryPolicyFlagType]int{
	specs.MpolFNumaBalancing: unix.MPOL_F_NUMA_BALANCING, specs.MpolFRelativeNodes: unix.MPOL_F_RELATIVE_NODES,
	specs.MpolFStaticNodes: unix.MPOL_F_STATIC_NODES,
}

// memPolicy converts linux.memoryPolicy to set_mempolicy(2) arguments: the mode with its
// flags, and the node mask (nil for none). mode is -1 when the field is absent.
func memPolicy(m *specs.LinuxMemoryPolicy) (int, *unix.CPUSet, error) {
	if m == nil {
		return -1, nil, nil
	}
	mode, ok := memPolicyModes[m.Mode]
	if !ok {
		return 0, nil, fmt.Errorf("linux.memoryPolicy.mode %q: unknown mode", m.Mode)
	}
	for _, f := range m.Flags {
		v, ok := memPolicyFlags[f]
		if !ok {
			return 0, nil, fmt.Errorf("linux.memoryPolicy.flags: unknown flag %q", f)
		}
		mode |= v
	}
	nodes, err := parseCPUList(m.Nodes)
	if err != nil {
		return 0, nil, fmt.Errorf("linux.memoryPolicy.nodes: %w", err)
	}
	switch m.Mode {
	case specs.MpolDefault, specs.MpolLocal:
		if nodes != nil {
			return 0, nil, fmt.Errorf("linux.memoryPolicy.nodes %q: %s takes no nodes", m.Nodes, m.Mode)
		}
	case specs.MpolPreferred:
		// An empty mask means "local allocation" for MPOL_PREFERRED.
	default:
		if nodes == nil {
			return 0, nil, fmt.Errorf("linux.memoryPolicy.nodes: %s needs at least one node", m.Mode)
		}
	}
	return mode, nodes, nil
}

// parseCPUList parses a list like "0-3,7" (CPUs or NUMA nodes) into a mask; "" gives nil.
func parseCPUList(s string) (*unix.CPUSet, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	var set unix.CPUSet
	max := len(set) * 64
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, fmt.Errorf("%q: bad number %q", s, lo)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, fmt.Errorf("%q: bad range %q", s, part)
			}
		}
		if b >= max {
			return nil, fmt.Errorf("%q: %d is beyond the supported %d", s, b, max)
		}
		for i := a; i <= b; i++ {
			set.Set(i)
		}
	}
	return &set, nil
}

// withNotifySocket passes the host's NOTIFY_SOCKET (sd_notify(3)) through to the container:
// the socket is bind mounted at the same path inside and NOTIFY_SOCKET is set in
// process.env, so that a service inside can report READY=1 to the service manager that
// started husk. It returns spec unchanged when socket is empty, or a copy.
func withNotifySocket(spec *specs.Spec, socket string) (*specs.Spec, error) {
	if socket == "" || spec.Process == nil {
		return spec, nil
	}
	s := *spec
	p := *spec.Process
	s.Process = &p
	p.Env = append(dropEnv(spec.Process.Env, "NOTIFY_SOCKET"), "NOTIFY_SOCKET="+socket)
	if strings.HasPrefix(socket, "@") {
		// An abstract socket lives in a network namespace: reachable only when the
		// container shares husk's.
		for _, ns := range nsOf(spec) {
			if ns.Type == specs.NetworkNamespace && ns.Path == "" {
				return nil, fmt.Errorf("NOTIFY_SOCKET %q: an abstract socket cannot reach a new network namespace", socket)
			}
		}
		return &s, nil
	}
	if !filepath.IsAbs(socket) {
		return nil, fmt.Errorf("NOTIFY_SOCKET %q: must be an absolute path or an abstract name", socket)
	}
	st, err := os.Stat(socket)
	if err != nil {
		return nil, fmt.Errorf("NOTIFY_SOCKET: %w", err)
	}
	if st.Mode()&os.ModeSocket == 0 {
		return nil, fmt.Errorf("NOTIFY_SOCKET %s: not a socket", socket)
	}
	s.Mounts = append(append([]specs.Mount(nil), spec.Mounts...), specs.Mount{
		Destination: socket, Source: socket, Type: "bind", Options: []string{"bind", "nosuid", "nodev", "noexec"},
	})
	return &s, nil
}

func nsOf(spec *specs.Spec) []specs.LinuxNamespace {
	if spec.Linux == nil {
		return nil
	}
	return spec.Linux.Namespaces
}

// dropEnv returns env without the variable name.
func dropEnv(env []string, name string) []string {
	out := make([]string, 0, len(env)+1)
	for _, e := range env {
		if !strings.HasPrefix(e, name+"=") {
			out = append(out, e)
		}
	}
	return out
}

// personality(2) domains (linux/personality.h); x/sys/unix does not define them.
const (
	perLinux   = 0x0000
	perLinux32 = 0x0008
)
