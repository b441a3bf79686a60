package libcontainer

import (
	"fmt"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/libcontainer/hooks"
)

// applyExtras applies, in husk init, the process and linux fields that are plain syscalls
// on the process about to exec: linux.personality, linux.memoryPolicy, process.scheduler,
// process.ioPriority and the CPU affinity. It runs on the thread that will call execve
// (Init locks it), as all of these are per thread and survive execve; and before finalize
// drops capabilities, as real-time policies need CAP_SYS_NICE.
//
// The values were checked by the parent (checkExtras); errors here come from the kernel.
func applyExtras(cfg *initConfig) error {
	p := cfg.Process
	if err := applyAffinity(p.ExecCPUAffinity, cfg.Setns); err != nil {
		return err
	}
	if l := cfg.Spec.Linux; l != nil {
		pers, err := personalityValue(l.Personality)
		if err != nil {
			return err
		}
		if pers >= 0 {
			if _, _, errno := unix.RawSyscall(unix.SYS_PERSONALITY, uintptr(pers), 0, 0); errno != 0 {
				return fmt.Errorf("linux.personality %s: %w", l.Personality.Domain, os.NewSyscallError("personality", errno))
			}
		}
		mode, nodes, err := memPolicy(l.MemoryPolicy)
		if err != nil {
			return err
		}
		if mode >= 0 {
			if err := setMemPolicy(mode, nodes); err != nil {
				return fmt.Errorf("linux.memoryPolicy %s %q: %w", l.MemoryPolicy.Mode, l.MemoryPolicy.Nodes, err)
			}
		}
	}
	attr, err := schedAttr(p.Scheduler)
	if err != nil {
		return err
	}
	if attr != nil {
		if err := unix.SchedSetAttr(0, attr, 0); err != nil {
			return fmt.Errorf("process.scheduler %s: %w", p.Scheduler.Policy, os.NewSyscallError("sched_setattr", err))
		}
	}
	prio, err := ioprioValue(p.IOPriority)
	if err != nil {
		return err
	}
	if prio >= 0 {
		if _, _, errno := unix.RawSyscall(unix.SYS_IOPRIO_SET, ioprioWhoProcess, 0, uintptr(prio)); errno != 0 {
			return fmt.Errorf("process.ioPriority %s %d: %w", p.IOPriority.Class, p.IOPriority.Priority, os.NewSyscallError("ioprio_set", errno))
		}
	}
	return nil
}

// setMemPolicy calls set_mempolicy(2); nodes nil is the empty mask.
func setMemPolicy(mode int, nodes *unix.CPUSet) error {
	if nodes == nil {
		nodes = new(unix.CPUSet)
	}
	if err := unix.SetMemPolicy(mode, nodes); err != nil {
		return os.NewSyscallError("set_mempolicy", err)
	}
	return nil
}

// applyAffinity sets the affinity the process execs with. execCPUAffinity.final applies
// to husk exec only ("not applicable to the container's init process" -OCI spec); its
// initial affinity was set by the parent before this process joined the cgroup. Without
// execCPUAffinity the affinity inherited from whoever ran husk is reset to every CPU of
// the container's cpuset: asking for all CPUs gets their intersection with the cpuset.
func applyAffinity(a *specs.CPUAffinity, exec bool) error {
	if a != nil && !exec {
		return nil
	}
	if a != nil {
		set, err := parseCPUList(a.Final)
		if err != nil {
			return fmt.Errorf("process.execCPUAffinity.final: %w", err)
		}
		if set == nil {
			// "If omitted or empty, runtime SHOULD NOT change process' CPU affinity
			// after the process is moved to container's cgroup" -OCI spec.
			return nil
		}
		if err := unix.SchedSetaffinity(0, set); err != nil {
			return fmt.Errorf("process.execCPUAffinity.final %q: %w", a.Final, os.NewSyscallError("sched_setaffinity", err))
		}
		return nil
	}
	var all unix.CPUSet
	for i := 0; i < len(all)*64; i++ {
		all.Set(i)
	}
	if err := unix.SchedSetaffinity(0, &all); err != nil {
		return fmt.Errorf("reset cpu affinity to the cpuset: %w", os.NewSyscallError("sched_setaffinity", err))
	}
	return nil
}

// runContainerHooks runs createContainer or startContainer hooks from inside the container
// (its namespaces; for createContainer before pivot_root, so paths resolve as on the host
// but in the container's mount namespace). The state carries the init's pid as the host
// sees it and the status the container has then: creating for createContainer, created for
// startContainer (the user program has not been executed yet).
func runContainerHooks(name string, hs []specs.Hook, cfg *initConfig, status Status) error {
	// Hooks get stdio only: the sync socket and the exec FIFO must not leak into them.
	// Preserved fds stay, they are meant for the container anyway.
	if err := unix.CloseRange(uint(3+cfg.PreserveFds), ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return os.NewSyscallError("close_range", err)
	}
	pid := cfg.Pid
	if pid == 0 {
		pid = os.Getpid()
	}
	st := &specs.State{
		Version: specs.Version, ID: cfg.ContainerID, Status: specs.ContainerState(status),
		Pid: pid, Bundle: cfg.Bundle, Annotations: cfg.Spec.Annotations,
	}
	return hooks.Run(name, hs, st)
}
