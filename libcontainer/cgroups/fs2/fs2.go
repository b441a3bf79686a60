package fs2

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/libcontainer/cgroups/internal/cgcore"
)

// FreezeTimeout bounds how long Freeze waits for "frozen 1".
const FreezeTimeout = 5 * time.Second

// Manager is the cgroup v2 driver.
type Manager struct {
	cfg   cgcore.Config
	state cgcore.State
}

// New places cfg in the unified hierarchy of host. It creates nothing.
func New(cfg cgcore.Config, host *cgcore.Host) (*Manager, error) {
	if host.Unified == "" {
		return nil, fmt.Errorf("cgroup v2 driver: no cgroup2 mount: %w", cgcore.ErrNotSupported)
	}
	// cgroup v2 allows no processes in a cgroup that passes controllers down, and the
	// caller's own cgroup holds at least the caller: a relative path nests under its parent,
	// as with runc.
	own := host.Own[cgcore.UnifiedKey]
	if own != "" && own != "/" {
		own = path.Dir(own)
	}
	rel, err := cgcore.CgroupPath(cfg.Path, cfg.Name, own)
	if err != nil {
		return nil, err
	}
	return &Manager{cfg: cfg, state: cgcore.State{
		Driver:   cgcore.DriverFs2,
		Paths:    map[string]string{cgcore.UnifiedKey: filepath.Join(host.Unified, rel)},
		Rel:      map[string]string{cgcore.UnifiedKey: rel},
		Rootless: cfg.Rootless,
	}}, nil
}

// Load rebuilds a Manager from a saved State.
func Load(s cgcore.State) *Manager {
	return &Manager{cfg: cgcore.Config{Rootless: s.Rootless}, state: s}
}

// NewDir is a Manager for an existing or to-be-made directory dir, used by
// the systemd driver for the scope's cgroup.
func NewDir(dir, rel string, rootless bool) *Manager {
	return &Manager{cfg: cgcore.Config{Rootless: rootless}, state: cgcore.State{
		Driver: cgcore.DriverFs2, Paths: map[string]string{cgcore.UnifiedKey: dir},
		Rel: map[string]string{cgcore.UnifiedKey: rel}, Rootless: rootless,
	}}
}

func (m *Manager) dir() string { return m.state.Paths[cgcore.UnifiedKey] }

// Path returns the cgroup directory for controller "" (and for any v2
// controller name, since there is one directory).
func (m *Manager) Path(string) string { return m.dir() }

// State returns a copy of the manager's state.
func (m *Manager) State() cgcore.State {
	s := m.state
	s.Paths = map[string]string{cgcore.UnifiedKey: m.dir()}
	s.Rel = map[string]string{cgcore.UnifiedKey: m.state.Rel[cgcore.UnifiedKey]}
	s.Created = slices.Clone(m.state.Created)
	return s
}

// Exists reports whether the directory exists.
func (m *Manager) Exists() bool {
	_, err := os.Stat(m.dir())
	return err == nil
}

// Create makes the directory and its missing parents, enables controllers
// on the way down and applies the configured resources; on failure it
// removes what it made.
func (m *Manager) Create() (retErr error) {
	r := m.cfg.Resources
	if err := cgcore.Validate(r, cgcore.V2); err != nil {
		return err
	}
	made, err := cgcore.MkdirAll(m.dir())
	m.state.Created = made
	defer func() {
		if retErr != nil {
			_ = cgcore.RemoveDirs(m.state.Created)
			m.state.Created = nil
		}
	}()
	if err != nil {
		return fmt.Errorf("create cgroup: %w", err)
	}
	if err := m.enableControllers(r); err != nil {
		if !(m.cfg.Rootless && (errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM))) {
			return err
		}
		slog.Debug("rootless: cannot enable cgroup controllers", "err", err)
	}
	return m.apply(r, false)
}

// enableControllers makes the controllers available in the leaf: each
// parent the manager created enables everything it has; the pre-existing
// parent is asked only for controllers r needs and it lacks.
func (m *Manager) enableControllers(r *specs.LinuxResources) error {
	leaf := m.dir()
	var chain []string // parents of leaf that we created, top first
	for _, d := range m.state.Created {
		if d != leaf {
			chain = append(chain, d)
		}
	}
	top := filepath.Dir(leaf)
	if len(chain) > 0 {
		top = filepath.Dir(chain[0])
	}
	if needed := neededControllers(r); len(needed) > 0 {
		avail, err := cgcore.ReadFile(top, "cgroup.controllers")
		if err != nil {
			return fmt.Errorf("enable cgroup controllers: %w", err)
		}
		enabled, err := cgcore.ReadFile(top, "cgroup.subtree_control")
		if err != nil {
			return fmt.Errorf("enable cgroup controllers: %w", err)
		}
		var add []string
		for _, c := range needed {
			if slices.Contains(strings.Fields(enabled), c) {
				continue
			}
			if !slices.Contains(strings.Fields(avail), c) {
				field := "linux.resources"
				if f, ok := controllerFields[c]; ok {
					field += "." + f
				}
				for k := range r.Unified {
					if strings.HasPrefix(k, c+".") {
						field = fmt.Sprintf("linux.resources.unified[%q]", k)
					}
				}
				return fmt.Errorf("%s: needs the %s controller, which %s does not offer (cgroup.controllers is %q): %w", field, c, top, avail, cgcore.ErrNotSupported)
			}
			add = append(add, "+"+c)
		}
		if len(add) > 0 {
			if err := cgcore.WriteFile(top, "cgroup.subtree_control", strings.Join(add, " ")); err != nil {
				return fmt.Errorf("enable cgroup controllers: %w", err)
			}
		}
	}
	for _, d := range chain {
		avail, err := cgcore.ReadFile(d, "cgroup.controllers")
		if err != nil {
			return fmt.Errorf("enable cgroup controllers: %w", err)
		}
		if avail == "" {
			continue
		}
		var add []string
		for _, c := range strings.Fields(avail) {
			add = append(add, "+"+c)
		}
		if err := cgcore.WriteFile(d, "cgroup.subtree_control", strings.Join(add, " ")); err != nil {
			return fmt.Errorf("enable cgroup controllers: %w", err)
		}
	}
	return nil
}

// neededControllers lists the v2 controllers r writes to.
// controllerFields names the linux.resources field that needs each v2 controller.
var controllerFields = map[string]string{
	"cpu": "cpu", "cpuset": "cpu", "memory": "memory", "pids": "pids", "io": "blockIO",
	"hugetlb": "hugepageLimits", "rdma": "rdma",
}

func neededControllers(r *specs.LinuxResources) []string {
	if r == nil {
		return nil
	}
	var out []string
	add := func(c string) {
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	if c := r.CPU; c != nil {
		if (c.Shares != nil && *c.Shares != 0) || c.Quota != nil || c.Period != nil || c.Burst != nil || c.Idle != nil {
			add("cpu")
		}
		if c.Cpus != "" || c.Mems != "" {
			add("cpuset")
		}
	}
	if r.Memory != nil && (r.Memory.Limit != nil || r.Memory.Swap != nil || r.Memory.Reservation != nil) {
		add("memory")
	}
	if r.Pids != nil && r.Pids.Limit != nil {
		add("pids")
	}
	if r.BlockIO != nil {
		add("io")
	}
	if len(r.HugepageLimits) > 0 {
		add("hugetlb")
	}
	if len(r.Rdma) > 0 {
		add("rdma")
	}
	for k := range r.Unified {
		c, _, _ := strings.Cut(k, ".")
		if c != "cgroup" {
			add(c)
		}
	}
	slices.Sort(out)
	return out
}

// JoinFiles is the directory's cgroup.procs.
func (m *Manager) JoinFiles() []string { return []string{filepath.Join(m.dir(), "cgroup.procs")} }

// Apply moves pid into the cgroup unless /proc/<pid>/cgroup already shows
// it there.
func (m *Manager) Apply(pid int) error {
	cur, err := cgcore.ProcCgroup(pid)
	if err != nil {
		return fmt.Errorf("apply cgroup to pid %d: %w", pid, err)
	}
	if p, ok := cur[cgcore.UnifiedKey]; ok && p == m.state.Rel[cgcore.UnifiedKey] {
		return nil
	}
	if err := cgcore.WriteFile(m.dir(), "cgroup.procs", strconv.Itoa(pid)); err != nil {
		return fmt.Errorf("apply cgroup to pid %d: %w", pid, err)
	}
	return nil
}

// Set validates r, then writes it.
func (m *Manager) Set(r *specs.LinuxResources) error {
	if err := cgcore.Validate(r, cgcore.V2); err != nil {
		return err
	}
	return m.apply(r, true)
}

// Pids lists every process in the cgroup and its sub-cgroups.
func (m *Manager) Pids() ([]int, error) { return cgcore.ReadProcs(m.dir()) }

// Kill signals every process; SIGKILL goes through cgroup.kill (Linux
// 5.14), which also catches processes forking concurrently.
func (m *Manager) Kill(sig unix.Signal) error {
	if sig == unix.SIGKILL && cgcore.Exists(m.dir(), "cgroup.kill") {
		if err := cgcore.WriteFile(m.dir(), "cgroup.kill", "1"); err != nil {
			return fmt.Errorf("kill cgroup processes: %w", err)
		}
		return nil
	}
	pids, err := m.Pids()
	if err == nil {
		err = cgcore.SignalAll(pids, sig)
	}
	if err != nil {
		return fmt.Errorf("kill cgroup processes with %s: %w", unix.SignalName(sig), err)
	}
	return nil
}

// Destroy kills leftovers, waits for them and removes the directories the
// manager created.
func (m *Manager) Destroy() error {
	var errs []error
	if m.Exists() {
		if pids, err := m.Pids(); err == nil && len(pids) > 0 {
			if err := m.Kill(unix.SIGKILL); err != nil {
				errs = append(errs, err)
			}
			// SIGKILL is delivered to frozen tasks on v2, but thaw
			// anyway so that they can exit promptly.
			_ = m.Thaw()
			if err := cgcore.WaitEmpty(m.dir(), 5*time.Second); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := cgcore.RemoveDirs(m.state.Created); err != nil {
		errs = append(errs, err)
	} else {
		m.state.Created = nil
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("destroy cgroup: %w", err)
	}
	return nil
}

// Freeze writes 1 to cgroup.freeze and waits for "frozen 1" in
// cgroup.events; on timeout it thaws again.
func (m *Manager) Freeze() error {
	if err := cgcore.WriteFile(m.dir(), "cgroup.freeze", "1"); err != nil {
		return fmt.Errorf("freeze: %w", err)
	}
	ok, err := cgcore.PollUntil(FreezeTimeout, func() (bool, error) {
		ev, err := cgcore.ReadKV(m.dir(), "cgroup.events")
		if err != nil {
			return false, err
		}
		return ev["frozen"] == 1, nil
	})
	if err == nil && !ok {
		err = fmt.Errorf("%s: %w after %s", m.dir(), cgcore.ErrFreezeTimeout, FreezeTimeout)
	}
	if err != nil {
		return errors.Join(fmt.Errorf("freeze: %w", err), m.Thaw())
	}
	return nil
}

// Thaw writes 0 to cgroup.freeze.
func (m *Manager) Thaw() error {
	if err := cgcore.WriteFile(m.dir(), "cgroup.freeze", "0"); err != nil {
		return fmt.Errorf("thaw: %w", err)
	}
	return nil
}

// Paused reports whether cgroup.freeze is 1.
func (m *Manager) Paused() (bool, error) {
	s, err := cgcore.ReadFile(m.dir(), "cgroup.freeze")
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, fmt.Errorf("read freezer state: %w", err)
	}
	return s == "1", nil
}

var _ cgcore.Manager = (*Manager)(nil)
