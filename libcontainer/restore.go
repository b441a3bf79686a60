package libcontainer

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/libcontainer/criu"
	"github.com/husk-runtime/husk/libcontainer/hooks"
)

// RestoreOpts are the inputs of Restore: the flags of `husk restore`.
type RestoreOpts struct {
	CriuOpts
	Root          string      // --root
	ID            string      // container ID
	Bundle        string      // absolute bundle directory
	Spec          *specs.Spec // its config.json, validated
	ConsoleSocket string      // --console-socket
	PidFile       string      // --pid-file
	SystemdCgroup bool        // --systemd-cgroup
	Rootless      bool
	// LSMProfile and LSMMountContext replace the checkpointed process's LSM label and the
	// mounts' context (--lsm-profile "apparmor:<p>" or "selinux:<label>",
	// --lsm-mount-context).
	LSMProfile, LSMMountContext string
	// Stdin, Stdout and Stderr stand in for the checkpointed init's stdio where that was a
	// pipe; nil means the caller's own.
	Stdin, Stdout, Stderr *os.File
}

// criuRootDir, in the state directory, is where the rootfs is bind mounted for criu, which
// restores the container's mount tree on top of a mount point of its own.
const criuRootDir = "criu-root"

// Restore makes container o.ID from the checkpoint image in o.ImagePath and the bundle's
// config, with CRIU. The restored init is a child of the caller (criu's rst_sibling). On
// error it leaves nothing behind.
func Restore(o *RestoreOpts) (_ *Container, retErr error) {
	if err := ValidateID(o.ID); err != nil {
		return nil, err
	}
	spec := o.Spec
	if spec.Process == nil {
		return nil, errors.New("process: required by restore")
	}
	if spec.Process.Terminal && o.ConsoleSocket == "" {
		return nil, errors.New("process.terminal is true but no --console-socket was given")
	}
	s, err := newCriuSession(&o.CriuOpts, spec.Annotations, false, "restore.log")
	if err != nil {
		return nil, fmt.Errorf("restore container %q: %w", o.ID, err)
	}
	defer s.close()
	descriptors, err := loadDescriptors(o.ImagePath)
	if err != nil {
		return nil, fmt.Errorf("restore container %q: %w", o.ID, err)
	}
	c, err := newContainerDir(o.Root, o.ID)
	if err != nil {
		return nil, err
	}
	defer func() {
		if retErr != nil {
			os.RemoveAll(c.dir)
			c.Close()
		}
	}()
	rootfsPath := spec.Root.Path
	if !filepath.IsAbs(rootfsPath) {
		rootfsPath = filepath.Join(o.Bundle, rootfsPath)
	}
	st := &State{
		ID: o.ID, Bundle: o.Bundle, Rootfs: rootfsPath, Created: time.Now().UTC(),
		Annotations: spec.Annotations, Config: spec, Rootless: o.Rootless, Namespaces: map[string]string{},
	}
	c.state = st
	mgr, err := newCgroup(spec, o.ID, o.SystemdCgroup, o.Rootless, nil)
	if err != nil {
		return nil, err
	}
	defer func() {
		if retErr != nil {
			_ = mgr.Destroy()
		}
	}()
	st.Cgroup = mgr.State()

	// criu wants the root to be a mount point of its own.
	criuRoot := filepath.Join(c.dir, criuRootDir)
	if err := os.Mkdir(criuRoot, 0o700); err != nil {
		return nil, fmt.Errorf("restore container %q: %w", o.ID, err)
	}
	if err := unix.Mount(rootfsPath, criuRoot, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return nil, fmt.Errorf("restore container %q: %w", o.ID, &os.PathError{Op: "bind mount root.path", Path: criuRoot, Err: err})
	}
	defer func() {
		_ = unix.Unmount(criuRoot, unix.MNT_DETACH)
		_ = os.Remove(criuRoot)
	}()

	opts := s.opts
	opts.Root = criu.String(criuRoot)
	opts.RstSibling = criu.Bool(true)
	if o.LSMProfile != "" {
		opts.LsmProfile = criu.String(o.LSMProfile)
	}
	if o.LSMMountContext != "" {
		opts.LsmMountContext = criu.String(o.LSMMountContext)
	}
	if spec.Process.Terminal {
		opts.OrphanPtsMaster = criu.Bool(true)
	}
	opts.External = bindMountExternals(spec, func(m *specs.Mount) string {
		if filepath.IsAbs(m.Source) {
			return m.Source
		}
		return filepath.Join(o.Bundle, m.Source)
	})
	if err := addJoinedNamespaces(opts, spec, st); err != nil {
		return nil, fmt.Errorf("restore container %q: %w", o.ID, err)
	}
	stdio := []*os.File{stdioOr(o.Stdin, os.Stdin), stdioOr(o.Stdout, os.Stdout), stdioOr(o.Stderr, os.Stderr)}
	for i, d := range descriptors {
		if i < len(stdio) && strings.HasPrefix(d, "pipe:") {
			opts.InheritFd = append(opts.InheritFd, &criu.InheritFd{Key: criu.String(d), Fd: criu.Int32(s.inherit(stdio[i]))})
		}
	}
	// criu joins the container's cgroups first, so what it restores is born in them, and
	// is told they are the root of the cgroups it restores.
	started := func(pid int) error {
		if err := mgr.Apply(pid); err != nil {
			return err
		}
		roots, err := cgroupRoots(pid)
		if err != nil {
			return err
		}
		opts.CgRoot = roots
		return nil
	}
	pid := 0
	notify := func(n *criu.Notify, fds []int) error {
		defer closeFDs(fds)
		switch n.Script {
		case "setup-namespaces":
			// As at create: the namespaces exist, the container process has not run.
			if spec.Hooks == nil {
				return nil
			}
			hs := c.specState(Creating)
			hs.Pid = int(n.Pid)
			if err := hooks.Run("prestart", spec.Hooks.Prestart, hs); err != nil {
				return err
			}
			return hooks.Run("createRuntime", spec.Hooks.CreateRuntime, hs)
		case "post-restore":
			pid = int(n.Pid)
		case "orphan-pts-master":
			if len(fds) != 1 {
				return errors.New("no pty master from criu")
			}
			return sendConsole(o.ConsoleSocket, fds[0])
		}
		return nil
	}
	if err := s.do(criu.ReqRestore, started, notify); err != nil {
		if pid > 0 {
			_ = unix.Kill(pid, unix.SIGKILL)
		}
		return nil, fmt.Errorf("restore container %q: %w", o.ID, err)
	}
	if pid <= 0 {
		return nil, fmt.Errorf("restore container %q: criu reported no restored pid", o.ID)
	}
	defer func() {
		if retErr != nil {
			_ = unix.Kill(pid, unix.SIGKILL)
			var ws unix.WaitStatus
			_, _ = unix.Wait4(pid, &ws, 0, nil)
		}
	}()
	st.Pid = pid
	if st.StartTime, err = processStartTime(pid); err != nil {
		return nil, fmt.Errorf("restored init %d: %w", pid, err)
	}
	if spec.Linux != nil {
		for _, ns := range spec.Linux.Namespaces {
			if t, ok := nsTypes[ns.Type]; ok && ns.Path == "" {
				st.Namespaces[t.name] = "/proc/" + strconv.Itoa(pid) + "/ns/" + t.name
			}
		}
	}
	st.Cgroup = mgr.State()
	if err := saveState(c.dir, st); err != nil {
		return nil, err
	}
	if o.PidFile != "" {
		if err := writePidFile(o.PidFile, pid); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// newContainerDir makes and locks the state directory of a new container.
func newContainerDir(root, id string) (*Container, error) {
	if err := os.MkdirAll(root, 0o711); err != nil {
		return nil, fmt.Errorf("create --root %s: %w", root, err)
	}
	dir := filepath.Join(root, id)
	if err := os.Mkdir(dir, 0o711); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("container %q: %w", id, ErrExist)
		}
		return nil, fmt.Errorf("create state directory: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		os.Remove(dir)
		return nil, err
	}
	return &Container{root: root, dir: dir, lock: lock}, nil
}

// addJoinedNamespaces tells criu to restore into the namespaces the config names by path
// (it can join network, IPC and UTS namespaces), and records them for exec.
func addJoinedNamespaces(opts *criu.Opts, spec *specs.Spec, st *State) error {
	if spec.Linux == nil {
		return nil
	}
	for i, ns := range spec.Linux.Namespaces {
		if ns.Path == "" {
			continue
		}
		t := nsTypes[ns.Type]
		switch ns.Type {
		case specs.NetworkNamespace, specs.IPCNamespace, specs.UTSNamespace:
			opts.JoinNs = append(opts.JoinNs, &criu.JoinNamespace{Ns: criu.String(t.name), NsFile: criu.String(ns.Path)})
			st.Namespaces[t.name] = ns.Path
		default:
			return fmt.Errorf("linux.namespaces[%d].path: criu cannot restore into an existing %s namespace", i, ns.Type)
		}
	}
	return nil
}

// cgroupRoots reads /proc/<pid>/cgroup into criu's cgroup roots, one per hierarchy.
func cgroupRoots(pid int) ([]*criu.CgroupRoot, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []*criu.CgroupRoot
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		out = append(out, &criu.CgroupRoot{Ctrl: criu.String(parts[1]), Path: criu.String(parts[2])})
	}
	return out, sc.Err()
}

// sendConsole hands the restored pty master to the --console-socket, as create does.
func sendConsole(path string, master int) error {
	conn, err := net.Dial("unix", path)
	if err != nil {
		return fmt.Errorf("--console-socket: %w", err)
	}
	defer conn.Close()
	if _, _, err := conn.(*net.UnixConn).WriteMsgUnix([]byte("/dev/pts/restored"), unix.UnixRights(master), nil); err != nil {
		return fmt.Errorf("--console-socket: %w", err)
	}
	return nil
}
