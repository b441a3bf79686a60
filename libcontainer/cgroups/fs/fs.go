package fs

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/libcontainer/cgroups/internal/cgcore"
)

// FreezeTimeout bounds how long Freeze waits for FROZEN.
const FreezeTimeout = 5 * time.Second

// Manager is the cgroup v1 driver.
type Manager struct {
	cfg   cgcore.Config
	state cgcore.State
}

// New places cfg on host: every v1 hierarchy, plus the unified one on a
// hybrid host. It creates nothing.
func New(cfg cgcore.Config, host *cgcore.Host) (*Manager, error) {
	if len(host.V1) == 0 {
		return nil, fmt.Errorf("cgroup v1 driver: no v1 hierarchy mounted: %w", cgcore.ErrNotSupported)
	}
	st := cgcore.State{
		Driver:   cgcore.DriverFs,
		Paths:    map[string]string{},
		Rel:      map[string]string{},
		Rootless: cfg.Rootless,
	}
	add := func(key, mount string) error {
		rel, err := cgcore.CgroupPath(cfg.Path, cfg.Name, host.Own[key])
		if err != nil {
			return err
		}
		st.Rel[key] = rel
		st.Paths[key] = filepath.Join(mount, rel)
		return nil
	}
	for key, mount := range host.V1 {
		if err := add(key, mount); err != nil {
			return nil, err
		}
	}
	if host.Unified != "" {
		if err := add(cgcore.UnifiedKey, host.Unified); err != nil {
			return nil, err
		}
	}
	return &Manager{cfg: cfg, state: st}, nil
}

// Load rebuilds a Manager from a saved State.
func Load(s cgcore.State) *Manager {
	return &Manager{cfg: cgcore.Config{Rootless: s.Rootless}, state: s}
}

// dirs returns the distinct directories (co-mounted hierarchies share one),
// sorted for determinism.
func (m *Manager) dirs() []string {
	var out []string
	for _, d := range m.state.Paths {
		out = append(out, d)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Path returns the directory for a v1 hierarchy, or for the hybrid unified
// one with cgcore.UnifiedKey.
func (m *Manager) Path(controller string) string { return m.state.Paths[controller] }

// State returns a copy of the manager's state.
func (m *Manager) State() cgcore.State {
	s := m.state
	s.Paths = cloneMap(m.state.Paths)
	s.Rel = cloneMap(m.state.Rel)
	s.Created = slices.Clone(m.state.Created)
	return s
}

func cloneMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Exists reports whether any of the cgroup directories exists.
func (m *Manager) Exists() bool {
	for _, d := range m.dirs() {
		if _, err := os.Stat(d); err == nil {
			return true
		}
	}
	return false
}

func isPermission(err error) bool {
	return errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EROFS)
}

// Create makes every directory, initialises cpuset in the ones it made,
// and applies the configured resources. On failure it removes what it made.
func (m *Manager) Create() (retErr error) {
	r := m.cfg.Resources
	if err := cgcore.Validate(r, cgcore.V1); err != nil {
		return err
	}
	defer func() {
		if retErr != nil {
			_ = cgcore.RemoveDirs(m.state.Created)
			m.state.Created = nil
		}
	}()
	for key, dir := range m.state.Paths {
		made, err := cgcore.MkdirAll(dir)
		m.state.Created = append(m.state.Created, made...)
		if err != nil {
			if m.cfg.Rootless && isPermission(err) {
				slog.Debug("rootless: skip cgroup hierarchy", "controller", key, "err", err)
				m.dropKey(key)
				continue
			}
			return fmt.Errorf("create cgroup: %w", err)
		}
		if key == "cpuset" {
			if err := initCpuset(made); err != nil {
				return err
			}
		}
	}
	m.state.Created = dedupe(m.state.Created)
	p, err := m.plan(r, false)
	if err != nil {
		return err
	}
	if err := p.Execute(); err != nil {
		return fmt.Errorf("apply cgroup resources: %w", err)
	}
	return nil
}

func dedupe(s []string) []string {
	seen := map[string]bool{}
	out := s[:0]
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

func (m *Manager) dropKey(key string) {
	delete(m.state.Paths, key)
	delete(m.state.Rel, key)
}

// initCpuset copies cpuset.cpus and cpuset.mems from each new directory's
// parent: a v1 cpuset cgroup starts empty and refuses tasks until both are
// set (cgroup.clone_children is off by default). made is parents first.
func initCpuset(made []string) error {
	// made lists parents before children: a child's values are those just written to its
	// parent, and only the first directory's parent is read. Writing them whether or not the
	// kernel copied them already (cgroup.clone_children) is harmless.
	known := map[string][2]string{}
	for _, d := range made {
		vals, ok := known[filepath.Dir(d)]
		if !ok {
			for i, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				v, err := cgcore.ReadFile(filepath.Dir(d), f)
				if err != nil {
					return fmt.Errorf("init cpuset: %w", err)
				}
				vals[i] = v
			}
		}
		for i, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			if err := cgcore.WriteFile(d, f, vals[i]); err != nil {
				return fmt.Errorf("init cpuset: %w", err)
			}
		}
		known[d] = vals
	}
	return nil
}

// JoinFiles lists each v1 directory's "tasks" file and, on a hybrid host,
// the unified directory's "cgroup.procs". A single-threaded process that
// writes "0" to them joins without the cgroup.procs write stall.
func (m *Manager) JoinFiles() []string {
	var out []string
	unified := m.state.Paths[cgcore.UnifiedKey]
	for _, d := range m.dirs() {
		if d == unified {
			out = append(out, filepath.Join(d, "cgroup.procs"))
			continue
		}
		out = append(out, filepath.Join(d, "tasks"))
	}
	return out
}

// Apply moves pid into every hierarchy where /proc/<pid>/cgroup shows it
// elsewhere.
func (m *Manager) Apply(pid int) error {
	cur, err := cgcore.ProcCgroup(pid)
	if err != nil {
		return fmt.Errorf("apply cgroup to pid %d: %w", pid, err)
	}
	done := map[string]bool{}
	for key, dir := range m.state.Paths {
		if done[dir] || cur[key] == m.state.Rel[key] {
			continue
		}
		done[dir] = true
		if err := cgcore.WriteFile(dir, "cgroup.procs", strconv.Itoa(pid)); err != nil {
			if m.state.Rootless && isPermission(err) {
				slog.Debug("rootless: cannot join cgroup", "dir", dir, "err", err)
				continue
			}
			return fmt.Errorf("apply cgroup to pid %d: %w", pid, err)
		}
	}
	return nil
}

// Set validates r, then writes it.
func (m *Manager) Set(r *specs.LinuxResources) error {
	if err := cgcore.Validate(r, cgcore.V1); err != nil {
		return err
	}
	p, err := m.plan(r, true)
	if err != nil {
		return err
	}
	if err := p.Execute(); err != nil {
		return fmt.Errorf("update cgroup resources: %w", err)
	}
	return nil
}

// procsDir picks the directory Pids reads: any hierarchy holds every
// process of the container; pids and freezer are the usual ones.
func (m *Manager) procsDir() string {
	for _, k := range []string{"pids", "freezer", "memory", "cpu", "devices", "name=systemd", cgcore.UnifiedKey} {
		if d, ok := m.state.Paths[k]; ok {
			return d
		}
	}
	if ds := m.dirs(); len(ds) > 0 {
		return ds[0]
	}
	return ""
}

// Pids lists every process in the cgroup, sub-cgroups included.
func (m *Manager) Pids() ([]int, error) {
	d := m.procsDir()
	if d == "" {
		return nil, fmt.Errorf("list cgroup processes: no cgroup directory: %w", cgcore.ErrNotSupported)
	}
	return cgcore.ReadProcs(d)
}

// Kill sends sig to every process. For SIGKILL the cgroup is frozen first
// (when the freezer is mounted) so that no process forks past the kill.
func (m *Manager) Kill(sig unix.Signal) error {
	frozen := false
	if sig == unix.SIGKILL && m.state.Paths["freezer"] != "" {
		if paused, err := m.Paused(); err == nil && !paused {
			frozen = m.Freeze() == nil
		}
	}
	pids, err := m.Pids()
	if err == nil {
		err = cgcore.SignalAll(pids, sig)
	}
	if frozen {
		if terr := m.Thaw(); terr != nil {
			err = errors.Join(err, terr)
		}
	}
	if err != nil {
		return fmt.Errorf("kill cgroup processes with %s: %w", unix.SignalName(sig), err)
	}
	return nil
}

// Destroy kills whatever is left, waits for it to go and removes the
// directories this manager created, parents included.
func (m *Manager) Destroy() error {
	var errs []error
	if d := m.procsDir(); d != "" && m.Exists() {
		if pids, err := cgcore.ReadProcs(d); err == nil && len(pids) > 0 {
			// A frozen cgroup's processes cannot die: thaw first. Without processes
			// there is nothing to thaw (an empty frozen cgroup can be removed).
			if m.state.Paths["freezer"] != "" {
				_ = m.Thaw()
			}
			if err := m.Kill(unix.SIGKILL); err != nil {
				errs = append(errs, err)
			}
			if err := cgcore.WaitEmpty(d, 5*time.Second); err != nil {
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

var _ cgcore.Manager = (*Manager)(nil)
