package fs

import (
	"log/slog"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/husk-runtime/husk/libcontainer/cgroups/internal/cgcore"
)

const (
	fileLimit = "memory.limit_in_bytes"
	fileMemsw = "memory.memsw.limit_in_bytes"
)

func (m *Manager) planMemory(r *specs.LinuxResources, p *cgcore.Plan, _ bool) error {
	mem := r.Memory
	if mem == nil {
		return nil
	}
	if mem.Kernel != nil || mem.KernelTCP != nil {
		// Kernel memory limits are deprecated in the spec and gone from
		// the kernel since 5.16 (writes fail with EOPNOTSUPP); runc too
		// ignores them.
		slog.Warn("linux.resources.memory.kernel and kernelTCP are not supported and are ignored")
	}
	need := func(file, field string) (string, error) { return m.needFile("memory", file, "memory."+field) }

	limit, swap := mem.Limit, mem.Swap
	switch {
	case limit != nil && swap != nil:
		d, err := need(fileLimit, "limit")
		if err != nil {
			return err
		}
		if _, err := need(fileMemsw, "swap"); err != nil {
			return err
		}
		// memory.memsw.limit_in_bytes must stay >= memory.limit_in_bytes
		// after every single write, so raise memsw first when it grows
		// and lower the limit first when it shrinks.
		cur, err := cgcore.ReadUint(d, fileMemsw)
		if err != nil {
			return err
		}
		if *swap == -1 || uint64(*swap) >= cur {
			p.Add(d, fileMemsw, strconv.FormatInt(*swap, 10))
			p.Add(d, fileLimit, strconv.FormatInt(*limit, 10))
		} else {
			p.Add(d, fileLimit, strconv.FormatInt(*limit, 10))
			p.Add(d, fileMemsw, strconv.FormatInt(*swap, 10))
		}
	case limit != nil:
		d, err := need(fileLimit, "limit")
		if err != nil {
			return err
		}
		p.Add(d, fileLimit, strconv.FormatInt(*limit, 10))
	case swap != nil:
		d, err := need(fileMemsw, "swap")
		if err != nil {
			return err
		}
		p.Add(d, fileMemsw, strconv.FormatInt(*swap, 10))
	}
	if mem.Reservation != nil {
		d, err := need("memory.soft_limit_in_bytes", "reservation")
		if err != nil {
			return err
		}
		p.Add(d, "memory.soft_limit_in_bytes", strconv.FormatInt(*mem.Reservation, 10))
	}
	if mem.Swappiness != nil {
		d, err := need("memory.swappiness", "swappiness")
		if err != nil {
			return err
		}
		p.Add(d, "memory.swappiness", strconv.FormatUint(*mem.Swappiness, 10))
	}
	if mem.DisableOOMKiller != nil && *mem.DisableOOMKiller {
		d, err := need("memory.oom_control", "disableOOMKiller")
		if err != nil {
			return err
		}
		p.Add(d, "memory.oom_control", "1")
	}
	if mem.UseHierarchy != nil {
		d, err := need("memory.use_hierarchy", "useHierarchy")
		if err != nil {
			return err
		}
		want := "0"
		if *mem.UseHierarchy {
			want = "1"
		}
		// Since Linux 5.16 hierarchy is always on and writing "0" fails;
		// only write when it would change something.
		if cur, err := cgcore.ReadFile(d, "memory.use_hierarchy"); err != nil || cur != want {
			p.Add(d, "memory.use_hierarchy", want)
		}
	}
	// checkBeforeUpdate: on v1 the kernel itself refuses a limit below the
	// current usage (EBUSY), which is what the spec asks for.
	return nil
}
