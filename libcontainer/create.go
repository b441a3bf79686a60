package libcontainer

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/libcontainer/capabilities"
	"github.com/husk-runtime/husk/libcontainer/cgroups"
	"github.com/husk-runtime/husk/libcontainer/cgroups/devices"
	"github.com/husk-runtime/husk/libcontainer/hooks"
	"github.com/husk-runtime/husk/libcontainer/internal/initsync"
	"github.com/husk-runtime/husk/libcontainer/netdev"
	"github.com/husk-runtime/husk/libcontainer/rootfs"
	"github.com/husk-runtime/husk/libcontainer/seccomp"
)

// minPidsLimit is the smallest pids limit the init runs under (GOMAXPROCS=1: the locked
// main thread plus the runtime's sysmon and GC workers).
const minPidsLimit = 4

// CreateOpts are the inputs of Create; the flags of `husk create`.
type CreateOpts struct {
	Root          string      // --root
	ID            string      // container ID
	Bundle        string      // absolute bundle directory
	Spec          *specs.Spec // its config.json, validated
	ConsoleSocket string      // --console-socket
	PidFile       string      // --pid-file
	PidfdSocket   string      // --pidfd-socket
	NoPivot       bool        // --no-pivot
	NoNewKeyring  bool        // --no-new-keyring
	PreserveFds   int         // --preserve-fds plus LISTEN_FDS
	ListenFds     int         // of PreserveFds, the socket-activation fds (LISTEN_FDS)
	SystemdCgroup bool        // --systemd-cgroup
	NotifySocket  string      // $NOTIFY_SOCKET of husk, passed through to the container
	Rootless      bool
	// Stdio of the container; nil means the caller's own.
	Stdin, Stdout, Stderr *os.File
}

// Create sets up a container and leaves its init waiting for Start. On error it leaves
// nothing behind: no state directory, cgroup, mount or process.
func Create(o *CreateOpts) (_ *Container, retErr error) {
	if err := ValidateID(o.ID); err != nil {
		return nil, err
	}
	spec := o.Spec
	if spec.Process == nil {
		return nil, errors.New("process: required by create")
	}
	if err := checkExtras(spec, spec.Process); err != nil {
		return nil, err
	}
	spec, err := withNotifySocket(spec, o.NotifySocket)
	if err != nil {
		return nil, err
	}
	// Parse what the init will need now, so that a bad name fails create, not start.
	if _, err := capabilities.Parse(spec.Process.Capabilities); err != nil {
		return nil, err
	}
	if spec.Process.Terminal && o.ConsoleSocket == "" {
		return nil, errors.New("process.terminal is true but no --console-socket was given")
	}
	if spec.Linux != nil {
		if err := netdev.Check(spec.Linux.NetDevices, hasNamespace(spec, specs.NetworkNamespace)); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(o.Root, 0o711); err != nil {
		return nil, fmt.Errorf("create --root %s: %w", o.Root, err)
	}
	dir := filepath.Join(o.Root, o.ID)
	if err := os.Mkdir(dir, 0o711); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("container %q: %w", o.ID, ErrExist)
		}
		return nil, fmt.Errorf("create state directory: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		os.Remove(dir)
		return nil, err
	}
	c := &Container{root: o.Root, dir: dir, lock: lock}
	defer func() {
		if retErr != nil {
			os.RemoveAll(dir)
			c.Close()
		}
	}()

	rootfs := spec.Root.Path
	if !filepath.IsAbs(rootfs) {
		rootfs = filepath.Join(o.Bundle, rootfs)
	}
	st := &State{
		ID:           o.ID,
		Bundle:       o.Bundle,
		Rootfs:       rootfs,
		Created:      time.Now().UTC(),
		Annotations:  spec.Annotations,
		Config:       spec,
		Rootless:     o.Rootless,
		NoNewKeyring: o.NoNewKeyring,
		Namespaces:   map[string]string{},
	}
	c.state = st

	fifoPath := filepath.Join(dir, fifoName)
	if err := unix.Mkfifo(fifoPath, 0o622); err != nil {
		return nil, &os.PathError{Op: "mkfifo", Path: fifoPath, Err: err}
	}
	// Writable by the container's user whatever the umask: an init in a user namespace, or
	// one that already changed user, must be able to open it.
	if err := os.Chmod(fifoPath, 0o622); err != nil {
		return nil, err
	}
	fifo, err := os.OpenFile(fifoPath, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer fifo.Close()

	// One read of the mount table serves the cgroup manager and the rootfs plan.
	mounts, err := mountinfo.GetMounts(nil)
	if err != nil {
		return nil, fmt.Errorf("read /proc/self/mountinfo: %w", err)
	}
	mgr, err := newCgroup(spec, o.ID, o.SystemdCgroup, o.Rootless, mounts)
	if err != nil {
		return nil, err
	}
	defer func() {
		if retErr != nil {
			_ = mgr.Destroy()
		}
	}()
	st.Cgroup = mgr.State()

	var prog *seccomp.Program
	if spec.Linux != nil && spec.Linux.Seccomp != nil {
		prog, err = seccomp.Compile(spec.Linux.Seccomp, filepath.Join(o.Root, ".seccomp-cache"))
		if err != nil {
			return nil, err
		}
	}

	boot := &bootstrap{cgroupFiles: mgr.JoinFiles()}
	newNS := map[string]bool{}
	if spec.Linux != nil {
		for i, ns := range spec.Linux.Namespaces {
			t, ok := nsTypes[ns.Type]
			if !ok {
				return nil, fmt.Errorf("linux.namespaces[%d].type: unknown namespace type %q", i, ns.Type)
			}
			if ns.Path != "" {
				boot.join = append(boot.join, [2]string{t.name, ns.Path})
				st.Namespaces[t.name] = ns.Path
			} else {
				boot.cloneFlags |= t.flag
				newNS[t.name] = true
			}
		}
		boot.uidMap, boot.gidMap = spec.Linux.UIDMappings, spec.Linux.GIDMappings
		for clock, off := range spec.Linux.TimeOffsets {
			boot.timens = append(boot.timens, fmt.Sprintf("%s %d %d", clock, off.Secs, off.Nanosecs))
		}
	}

	fifoFD := 3 + o.PreserveFds + 1
	extra := []*os.File{fifo}
	env := []string{envFifoFD + "=" + strconv.Itoa(fifoFD)}
	if o.ListenFds > 0 {
		// The init's environment is only what we give it; finalize passes LISTEN_FDS on.
		env = append(env, "LISTEN_FDS="+strconv.Itoa(o.ListenFds))
	}
	if spec.Process.Terminal {
		sock, err := dialConsoleSocket(o.ConsoleSocket)
		if err != nil {
			return nil, err
		}
		defer sock.Close()
		extra = append(extra, sock)
		env = append(env, envConsoleFD+"="+strconv.Itoa(3+o.PreserveFds+2))
	}
	hasHooks := spec.Hooks != nil && (len(spec.Hooks.Prestart) > 0 || len(spec.Hooks.CreateRuntime) > 0)
	cfg := &initConfig{
		ContainerID: o.ID, Spec: spec, Process: spec.Process, Rootfs: rootfs, Bundle: o.Bundle,
		NoPivot: o.NoPivot, NoNewKeyring: o.NoNewKeyring, PreserveFds: o.PreserveFds,
		NewNS: newNS, Seccomp: prog, Hooks: hasHooks, CgroupPaths: mgr.State().Paths,
	}
	plan, err := planFor(cfg, planInput{fifoFD: fifoFD, listenFds: o.ListenFds, consoleFD: fifoFD + 1, hostMounts: mounts})
	if err != nil {
		return nil, err
	}
	boot.plan = plan != nil
	if l := spec.Linux; l != nil && l.Resources != nil && l.Resources.Pids != nil && l.Resources.Pids.Limit != nil {
		n := *l.Resources.Pids.Limit
		switch {
		case plan == nil && n > 0 && n < minPidsLimit:
			// The Go init joins the pids cgroup before its runtime starts, and that
			// runtime's threads count until execve replaces them.
			return nil, fmt.Errorf("linux.resources.pids.limit %d: husk's Go init needs at least %d pids until it execs the container process", n, minPidsLimit)
		case n == 1 && boot.constructorForks():
			// The init forks into its pid or time namespace while its parent is still in
			// the cgroup.
			return nil, errors.New("linux.resources.pids.limit 1: husk's init needs 2 pids while it forks into the container's pid or time namespace")
		}
	}
	p, err := spawnInit(&spawnOpts{
		boot: boot, extra: extra, preserve: o.PreserveFds, env: env,
		stdin: stdioOr(o.Stdin, os.Stdin), stdout: stdioOr(o.Stdout, os.Stdout), stderr: stdioOr(o.Stderr, os.Stderr),
	})
	if err != nil {
		return nil, fmt.Errorf("create container: %w", err)
	}
	defer func() {
		if retErr != nil {
			p.kill()
		}
		p.close()
	}()
	st.Pid = p.pid
	if st.StartTime, err = processStartTime(p.pid); err != nil {
		return nil, fmt.Errorf("container init %d: %w", p.pid, err)
	}
	for name := range newNS {
		st.Namespaces[name] = "/proc/" + strconv.Itoa(p.pid) + "/ns/" + name
	}
	// With join files (fs, fs2) the init joined by itself, before its Go runtime started;
	// other drivers (systemd) place it now.
	if len(mgr.JoinFiles()) == 0 {
		if err := mgr.Apply(p.pid); err != nil {
			return nil, err
		}
	}
	st.Cgroup = mgr.State()
	if spec.Linux != nil {
		// The init waits for its config: the devices are in place before it goes on.
		if err := netdev.Move("/proc/"+strconv.Itoa(p.pid)+"/ns/net", spec.Linux.NetDevices); err != nil {
			return nil, err
		}
	}
	if plan != nil {
		if err := sendPlan(p.conn, plan); err != nil {
			return nil, err
		}
	} else {
		// Idmapped mounts are made here, where the host's root may idmap any filesystem,
		// and sent with the config for the init to move into place.
		idmapIdx, idmapFDs, closeIDMapped, err := openIDMapped(spec.Mounts, o.Bundle, st.Namespaces["user"])
		if err != nil {
			return nil, err
		}
		defer closeIDMapped()
		cfg.Pid, cfg.IDMapMounts = p.pid, idmapIdx
		if err := p.conn.Send(initsync.MsgConfig, cfg, idmapFDs...); err != nil {
			return nil, err
		}
	}
	if err := c.parentLoop(p, spec); err != nil {
		return nil, fmt.Errorf("create container: %w", err)
	}
	if err := saveState(dir, st); err != nil {
		return nil, err
	}
	if o.PidFile != "" {
		if err := writePidFile(o.PidFile, p.pid); err != nil {
			return nil, err
		}
	}
	if o.PidfdSocket != "" {
		if err := sendPidfd(o.PidfdSocket, p.pid); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// openIDMapped makes the detached idmapped mounts of mounts (rootfs.OpenIDMapped) and
// returns their mount indexes and fds, for the config message, and a func closing them.
func openIDMapped(mounts []specs.Mount, bundle, userNS string) (idx, fds []int, closeAll func(), err error) {
	trees, err := rootfs.OpenIDMapped(mounts, bundle, userNS)
	if err != nil {
		return nil, nil, nil, err
	}
	for _, t := range trees {
		idx, fds = append(idx, t.Index), append(fds, int(t.File.Fd()))
	}
	return idx, fds, func() {
		for _, t := range trees {
			t.File.Close()
		}
	}, nil
}

// newCgroup creates the container's cgroup, with its resources applied, before any process
// is in it (create, restore). The caller destroys it if what follows fails. mounts is our
// mount table when read already (nil: it is read here).
func newCgroup(spec *specs.Spec, id string, systemd, rootless bool, mounts []*mountinfo.Info) (cgroups.Manager, error) {
	var res *specs.LinuxResources
	cgPath := ""
	if spec.Linux != nil {
		res = deviceRules(spec.Linux)
		cgPath = spec.Linux.CgroupsPath
	}
	var host *cgroups.Host
	var err error
	if mounts != nil {
		host, err = cgroups.DetectHostFrom(mounts)
	} else {
		host, err = cgroups.DetectHost()
	}
	if err != nil {
		return nil, err
	}
	mgr, err := cgroups.NewForHost(cgroups.Config{
		Path: cgPath, Name: id, Systemd: systemd, Rootless: rootless,
		Annotations: spec.Annotations, Resources: res,
	}, host)
	if err != nil {
		return nil, err
	}
	if err := mgr.Create(); err != nil {
		_ = mgr.Destroy()
		return nil, err
	}
	return mgr, nil
}

// deviceRules returns linux.resources with runc's device allow-list added after the
// config's own rules, and each of linux.devices allowed, as runc does: a config's "deny all"
// must not take /dev/null from the container.
func deviceRules(l *specs.Linux) *specs.LinuxResources {
	var res specs.LinuxResources
	if l.Resources != nil {
		res = *l.Resources
	}
	unsetZeroWeights(&res)
	rules := append([]specs.LinuxDeviceCgroup(nil), res.Devices...)
	rules = append(rules, devices.DefaultAllowList()...)
	for _, d := range l.Devices {
		typ := d.Type
		switch typ {
		case "p":
			continue // a FIFO is no device to the device controller
		case "u":
			typ = "c"
		}
		if namedByRule(res.Devices, typ, d.Major, d.Minor) {
			continue // the config's own rule for this device decides, a deny included (runc 1.1.5 denies it)
		}
		major, minor := d.Major, d.Minor
		rules = append(rules, specs.LinuxDeviceCgroup{Allow: true, Type: typ, Major: &major, Minor: &minor, Access: "rwm"})
	}
	res.Devices = rules
	return &res
}

// namedByRule reports whether a linux.resources.devices rule names the device exactly (type,
// major and minor, no wildcard).
func namedByRule(rules []specs.LinuxDeviceCgroup, typ string, major, minor int64) bool {
	for _, r := range rules {
		if r.Type == typ && r.Major != nil && *r.Major == major && r.Minor != nil && *r.Minor == minor {
			return true
		}
	}
	return false
}

// unsetZeroWeights treats a blkio weight of 0 as unset, as runc does: Docker sends
// "weight": 0 in every config when the user set none.
func unsetZeroWeights(r *specs.LinuxResources) {
	if r.BlockIO == nil {
		return
	}
	b := *r.BlockIO
	if b.Weight != nil && *b.Weight == 0 {
		b.Weight = nil
	}
	if b.LeafWeight != nil && *b.LeafWeight == 0 {
		b.LeafWeight = nil
	}
	r.BlockIO = &b
}

// parentLoop serves the init's Go-phase requests until it reports ready.
func (c *Container) parentLoop(p *initProcess, spec *specs.Spec) error {
	for {
		m, fds, err := p.conn.Recv()
		if err != nil {
			closeFDs(fds)
			if errors.Is(err, initsync.ErrClosed) {
				return fmt.Errorf("container init exited: %s", p.waitStatus())
			}
			return err
		}
		switch m.Type {
		case initsync.MsgHooks:
			s := c.specState(Creating)
			if err := hooks.Run("prestart", spec.Hooks.Prestart, s); err != nil {
				return err
			}
			if err := hooks.Run("createRuntime", spec.Hooks.CreateRuntime, s); err != nil {
				return err
			}
			if err := p.conn.Send(initsync.MsgHooksDone, nil); err != nil {
				return err
			}
		case initsync.MsgSeccompFd:
			err := c.sendSeccompFd(spec, p.pid, fds)
			closeFDs(fds)
			if err != nil {
				return err
			}
			if err := p.conn.Send(initsync.MsgSeccompDone, nil); err != nil {
				return err
			}
		case initsync.MsgReady:
			closeFDs(fds)
			return nil
		default:
			closeFDs(fds)
			return fmt.Errorf("unexpected %q message from init", m.Type)
		}
	}
}

func (c *Container) sendSeccompFd(spec *specs.Spec, pid int, fds []int) error {
	if len(fds) != 1 || spec.Linux == nil || spec.Linux.Seccomp == nil {
		return errors.New("seccomp notify: bad fd message from init")
	}
	s := c.specState(Creating)
	s.Pid = pid
	return seccomp.SendNotifyFD(spec.Linux.Seccomp.ListenerPath, &specs.ContainerProcessState{
		Version: specs.Version, Fds: []string{specs.SeccompFdName}, Pid: pid,
		Metadata: spec.Linux.Seccomp.ListenerMetadata, State: *s,
	}, fds[0])
}

func closeFDs(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

func stdioOr(f, def *os.File) *os.File {
	if f != nil {
		return f
	}
	return def
}

func dialConsoleSocket(path string) (*os.File, error) {
	conn, err := net.Dial("unix", path)
	if err != nil {
		return nil, fmt.Errorf("--console-socket: %w", err)
	}
	defer conn.Close()
	f, err := conn.(*net.UnixConn).File()
	if err != nil {
		return nil, fmt.Errorf("--console-socket: %w", err)
	}
	return f, nil
}

// writePidFile writes pid atomically (a temp file and rename), as engines poll for it.
func writePidFile(path string, pid int) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(abs), "."+filepath.Base(abs)+".tmp")
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(pid)), 0o644); err != nil {
		return fmt.Errorf("--pid-file: %w", err)
	}
	if err := os.Rename(tmp, abs); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("--pid-file: %w", err)
	}
	return nil
}

// sendPidfd sends a pidfd of pid over the unix socket at path (--pidfd-socket).
func sendPidfd(path string, pid int) error {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return fmt.Errorf("--pidfd-socket: %w", os.NewSyscallError("pidfd_open", err))
	}
	defer unix.Close(fd)
	conn, err := net.Dial("unix", path)
	if err != nil {
		return fmt.Errorf("--pidfd-socket: %w", err)
	}
	defer conn.Close()
	_, _, err = conn.(*net.UnixConn).WriteMsgUnix([]byte("pidfd"), unix.UnixRights(fd), nil)
	if err != nil {
		return fmt.Errorf("--pidfd-socket: %w", err)
	}
	return nil
}
