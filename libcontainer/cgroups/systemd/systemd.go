package systemd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"

	"strconv"
	"strings"
	"time"

	sd "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/libcontainer/cgroups/fs"
	"github.com/husk-runtime/husk/libcontainer/cgroups/fs2"
	"github.com/husk-runtime/husk/libcontainer/cgroups/internal/cgcore"
)

// jobTimeout bounds each systemd job (start or stop of the scope).
const jobTimeout = 30 * time.Second

// Manager is the systemd driver. Everything but the unit's life cycle is
// delegated to inner, an fs or fs2 Manager over the scope's cgroup.
type Manager struct {
	cfg   cgcore.Config
	unit  Unit
	state cgcore.State
	inner cgcore.Manager
}

// New prepares the scope for cfg on host; it talks to systemd only in
// Apply, Set and Destroy.
func New(cfg cgcore.Config, host *cgcore.Host) (*Manager, error) {
	if !host.Systemd {
		return nil, fmt.Errorf("systemd cgroup driver: systemd is not PID 1 on this host: %w", cgcore.ErrNotSupported)
	}
	u, err := ParseCgroupsPath(cfg.Path, cfg.Name, cfg.Rootless)
	if err != nil {
		return nil, err
	}
	// The scope lives where systemd puts it, relative to the hierarchy
	// root, whatever husk's own cgroup is.
	flat := &cgcore.Host{V1: host.V1, Unified: host.Unified, Own: map[string]string{}}
	for k := range host.V1 {
		flat.Own[k] = "/"
	}
	flat.Own[cgcore.UnifiedKey] = "/"
	inCfg := cgcore.Config{Path: u.CgroupPath(), Name: cfg.Name, Rootless: cfg.Rootless}
	m := &Manager{cfg: cfg, unit: u}
	if host.IsUnified() {
		f, err := fs2.New(inCfg, flat)
		if err != nil {
			return nil, err
		}
		m.inner = f
	} else {
		f, err := fs.New(inCfg, flat)
		if err != nil {
			return nil, err
		}
		m.inner = f
	}
	m.syncState()
	return m, nil
}

// Load rebuilds a Manager from a saved State.
func Load(s cgcore.State) (*Manager, error) {
	m := &Manager{cfg: cgcore.Config{Rootless: s.Rootless}, unit: Unit{Slice: s.Slice, Name: s.Unit}}
	in := s
	if s.Unified {
		in.Driver = cgcore.DriverFs2
		m.inner = fs2.Load(in)
	} else {
		in.Driver = cgcore.DriverFs
		m.inner = fs.Load(in)
	}
	m.syncState()
	return m, nil
}

func (m *Manager) syncState() {
	s := m.inner.State()
	s.Unified = s.Driver == cgcore.DriverFs2
	s.Driver = cgcore.DriverSystemd
	s.Unit, s.Slice = m.unit.Name, m.unit.Slice
	m.state = s
}

func (m *Manager) options() PropOptions {
	return PropOptions{
		Unified:     m.state.Unified,
		Description: "husk container " + m.cfg.Name,
		Slice:       m.unit.Slice,
		DeviceName:  procDevices,
	}
}

// Create validates the resources; systemd makes the cgroup in Apply.
func (m *Manager) Create() error {
	v := cgcore.V1
	if m.state.Unified {
		v = cgcore.V2
	}
	if err := cgcore.Validate(m.cfg.Resources, v); err != nil {
		return err
	}
	_, err := Properties(m.cfg.Resources, m.cfg.Annotations, m.options())
	return err
}

// JoinFiles is empty: the scope does not exist before Apply.
func (m *Manager) JoinFiles() []string { return nil }

func connect(ctx context.Context, rootless bool) (*sd.Conn, error) {
	var c *sd.Conn
	var err error
	if rootless {
		c, err = sd.NewUserConnectionContext(ctx)
	} else {
		c, err = sd.NewWithContext(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("connect to systemd: %w", err)
	}
	return c, nil
}

func isDBusError(err error, name string) bool {
	var de dbus.Error
	if errors.As(err, &de) {
		return de.Name == name
	}
	var dp *dbus.Error
	return errors.As(err, &dp) && dp.Name == name
}

// Apply starts the scope with pid in it, then joins the hierarchies
// systemd does not manage and writes the resources it cannot express.
func (m *Manager) Apply(pid int) error {
	ctx, cancel := context.WithTimeout(context.Background(), jobTimeout)
	defer cancel()
	props, err := Properties(m.cfg.Resources, m.cfg.Annotations, m.options())
	if err != nil {
		return err
	}
	props = append(props, sd.PropPids(uint32(pid)))
	c, err := connect(ctx, m.cfg.Rootless)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := startUnit(ctx, c, m.unit.Name, props); err != nil {
		return err
	}
	// Make the directories systemd left out (v1 hierarchies it does not
	// manage, like freezer) and remember which we made.
	if err := m.inner.Create(); err != nil {
		return fmt.Errorf("apply systemd unit %s: %w", m.unit.Name, err)
	}
	if err := m.inner.Apply(pid); err != nil {
		return fmt.Errorf("apply systemd unit %s: %w", m.unit.Name, err)
	}
	if err := m.inner.Set(m.cfg.Resources); err != nil {
		return fmt.Errorf("apply systemd unit %s: %w", m.unit.Name, err)
	}
	m.syncState()
	return nil
}

func startUnit(ctx context.Context, c *sd.Conn, name string, props []sd.Property) error {
	for attempt := 0; ; attempt++ {
		ch := make(chan string, 1)
		_, err := c.StartTransientUnitContext(ctx, name, "replace", props, ch)
		if err != nil {
			// A failed scope of the same name lingers until reset.
			if isDBusError(err, "org.freedesktop.systemd1.UnitExists") && attempt == 0 {
				_ = c.ResetFailedUnitContext(ctx, name)
				continue
			}
			return fmt.Errorf("start systemd unit %s: %w", name, err)
		}
		select {
		case res := <-ch:
			if res != "done" {
				return fmt.Errorf("start systemd unit %s: job result %q", name, res)
			}
			return nil
		case <-ctx.Done():
			return fmt.Errorf("start systemd unit %s: %w", name, ctx.Err())
		}
	}
}

// Set changes the unit's properties, then writes r to the cgroup.
func (m *Manager) Set(r *specs.LinuxResources) error {
	v := cgcore.V1
	if m.state.Unified {
		v = cgcore.V2
	}
	if err := cgcore.Validate(r, v); err != nil {
		return err
	}
	props, err := resourceProps(r, m.options())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), jobTimeout)
	defer cancel()
	if len(props) > 0 {
		c, err := connect(ctx, m.state.Rootless)
		if err != nil {
			return err
		}
		defer c.Close()
		if err := c.SetUnitPropertiesContext(ctx, m.unit.Name, true, props...); err != nil {
			return fmt.Errorf("set properties of systemd unit %s: %w", m.unit.Name, err)
		}
	}
	return m.inner.Set(r)
}

// Destroy stops the scope (systemd kills what is left and removes its
// cgroups), then lets the inner driver remove what husk made itself.
func (m *Manager) Destroy() error {
	ctx, cancel := context.WithTimeout(context.Background(), jobTimeout)
	defer cancel()
	var errs []error
	if c, err := connect(ctx, m.state.Rootless); err != nil {
		errs = append(errs, err)
	} else {
		ch := make(chan string, 1)
		if _, err := c.StopUnitContext(ctx, m.unit.Name, "replace", ch); err != nil {
			if !isDBusError(err, "org.freedesktop.systemd1.NoSuchUnit") {
				errs = append(errs, fmt.Errorf("stop systemd unit %s: %w", m.unit.Name, err))
			}
		} else {
			select {
			case <-ch:
			case <-ctx.Done():
				errs = append(errs, fmt.Errorf("stop systemd unit %s: %w", m.unit.Name, ctx.Err()))
			}
		}
		c.Close()
	}
	if err := m.inner.Destroy(); err != nil {
		errs = append(errs, err)
	}
	m.syncState()
	return errors.Join(errs...)
}

// Pids, Freeze, Thaw, Paused, Kill, Stats, OOMEvents, Path and Exists act
// on the scope's cgroup directly.

// Pids lists the scope's processes.
func (m *Manager) Pids() ([]int, error) { return m.inner.Pids() }

// Freeze freezes the scope's cgroup.
func (m *Manager) Freeze() error { return m.inner.Freeze() }

// Thaw thaws the scope's cgroup.
func (m *Manager) Thaw() error { return m.inner.Thaw() }

// Paused reports whether the scope's cgroup is frozen.
func (m *Manager) Paused() (bool, error) { return m.inner.Paused() }

// Kill signals every process in the scope.
func (m *Manager) Kill(sig unix.Signal) error { return m.inner.Kill(sig) }

// Stats reads the scope's counters.
func (m *Manager) Stats() (*cgcore.Stats, error) { return m.inner.Stats() }

// OOMEvents reports the scope's OOM kills.
func (m *Manager) OOMEvents(ctx context.Context) (<-chan struct{}, error) {
	return m.inner.OOMEvents(ctx)
}

// Path returns the scope's directory for a controller.
func (m *Manager) Path(controller string) string { return m.inner.Path(controller) }

// Exists reports whether the scope's cgroup exists.
func (m *Manager) Exists() bool { return m.inner.Exists() }

// State returns what Load needs.
func (m *Manager) State() cgcore.State {
	m.syncState()
	return m.state
}

// procDevices looks a major number up in /proc/devices.
func procDevices(typ byte, major int64) (string, bool) {
	f, err := os.Open("/proc/devices")
	if err != nil {
		return "", false
	}
	defer f.Close()
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch line {
		case "Character devices:":
			section = "c"
			continue
		case "Block devices:":
			section = "b"
			continue
		}
		num, name, ok := strings.Cut(line, " ")
		if !ok || section != string(typ) {
			continue
		}
		if n, err := strconv.ParseInt(num, 10, 64); err == nil && n == major {
			return name, true
		}
	}
	return "", false
}

var _ cgcore.Manager = (*Manager)(nil)
