package libcontainer

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/libcontainer/internal/initsync"
	"github.com/husk-runtime/husk/libcontainer/internal/procfs"
	"github.com/husk-runtime/husk/libcontainer/rootfs"
)

// standardInit sets up a new container (create, run) and execs its process once started.
func standardInit(conn *initsync.Conn, cfg *initConfig) error {
	spec := cfg.Spec
	linux := spec.Linux
	if cfg.NewNS["user"] {
		// /proc/self of a non-dumpable process belongs to the host's root, which the new
		// user namespace cannot use.
		_ = unix.Prctl(unix.PR_SET_DUMPABLE, 1, 0, 0, 0)
	}
	// Our fd table as seen before the rootfs changes: the exec FIFO is reopened through it
	// after pivot_root, whether or not the container mounts a /proc of its own.
	selfFDs, err := unix.Open("/proc/self/fd", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: "/proc/self/fd", Err: err}
	}
	defer unix.Close(selfFDs)
	mapsFD := openSelfMaps()
	defer unix.Close(mapsFD)
	var r *rootfs.Rootfs
	if !hasNamespace(spec, specs.MountNamespace) {
		// No mount namespace at all: the container shares the host's mounts and only its
		// root directory changes, as with runc.
		if err := unix.Chroot(cfg.Rootfs); err != nil {
			return fmt.Errorf("root.path: %w", &os.PathError{Op: "chroot", Path: cfg.Rootfs, Err: err})
		}
		if err := unix.Chdir("/"); err != nil {
			return err
		}
	} else {
		rc := rootfsConfig(cfg)
		rc.IDMapped = map[int]*os.File{}
		if len(cfg.fds) != len(cfg.IDMapMounts) {
			return fmt.Errorf("config: %d idmapped mounts but %d fds", len(cfg.IDMapMounts), len(cfg.fds))
		}
		for k, i := range cfg.IDMapMounts {
			rc.IDMapped[i] = os.NewFile(uintptr(cfg.fds[k]), "idmapped mount")
		}
		if r, err = rootfs.Prepare(rc); err != nil {
			return err
		}
		defer r.Close()
	}
	if cfg.Hooks {
		if err := conn.Send(initsync.MsgHooks, nil); err != nil {
			return err
		}
		if _, err := conn.Expect(initsync.MsgHooksDone, nil); err != nil {
			return err
		}
	}
	if spec.Hooks != nil && len(spec.Hooks.CreateContainer) > 0 {
		// "The createContainer hooks MUST be called ... in the container namespace ...
		// before the pivot_root operation" -OCI runtime-spec config.md.
		if err := runContainerHooks("createContainer", spec.Hooks.CreateContainer, cfg, Creating); err != nil {
			return err
		}
	}
	if r != nil {
		if err := r.Finish(); err != nil {
			return err
		}
	}
	if cfg.NewNS["uts"] {
		if spec.Hostname != "" {
			if err := unix.Sethostname([]byte(spec.Hostname)); err != nil {
				return fmt.Errorf("hostname %q: %w", spec.Hostname, os.NewSyscallError("sethostname", err))
			}
		}
		if spec.Domainname != "" {
			if err := unix.Setdomainname([]byte(spec.Domainname)); err != nil {
				return fmt.Errorf("domainname %q: %w", spec.Domainname, os.NewSyscallError("setdomainname", err))
			}
		}
	}
	if linux != nil {
		for k, v := range linux.Sysctl {
			p := "sys/" + strings.ReplaceAll(k, ".", "/")
			if err := procfs.WriteFile(p, []byte(v)); err != nil {
				return fmt.Errorf("linux.sysctl %q: %w", k, err)
			}
		}
	}
	path, err := prepareProcess(conn, cfg)
	if err != nil {
		return err
	}
	if err := conn.Send(initsync.MsgReady, nil); err != nil {
		return err
	}
	dropIdleText(mapsFD)
	// Wait for `husk start`: opening a FIFO for writing blocks until a reader opens it.
	fifoFD, err := strconv.Atoi(os.Getenv(envFifoFD))
	if err != nil {
		return errors.New("no exec fifo")
	}
	fifo, err := unix.Openat(selfFDs, strconv.Itoa(fifoFD), unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open exec fifo: %w", err)
	}
	// startContainer hooks run before the byte is written: when one fails the init exits
	// without writing, and `husk start` fails instead of reporting a started container.
	if spec.Hooks != nil && len(spec.Hooks.StartContainer) > 0 {
		if err := runContainerHooks("startContainer", spec.Hooks.StartContainer, cfg, Created); err != nil {
			return err
		}
	}
	if _, err := unix.Write(fifo, []byte{0}); err != nil {
		return fmt.Errorf("write exec fifo: %w", err)
	}
	// fifo stays open (close-on-exec): `husk start` reads end of file when execve succeeds.
	unix.Close(fifoFD)
	return finalize(cfg, path)
}

// rootfsConfig is the rootfs setup of cfg, for either init.
func rootfsConfig(cfg *initConfig) *rootfs.Config {
	spec := cfg.Spec
	rc := &rootfs.Config{
		Rootfs: cfg.Rootfs, Bundle: cfg.Bundle, Readonly: spec.Root.Readonly,
		Mounts: spec.Mounts, NoPivot: cfg.NoPivot, UserNS: cfg.NewNS["user"], CgroupNS: cfg.NewNS["cgroup"],
		FormatMountLabel: formatMountLabel, CgroupPaths: cfg.CgroupPaths,
	}
	if l := spec.Linux; l != nil {
		rc.Propagation = l.RootfsPropagation
		rc.Devices = l.Devices
		rc.MaskedPaths = l.MaskedPaths
		rc.ReadonlyPaths = l.ReadonlyPaths
		rc.MountLabel = l.MountLabel
	}
	return rc
}

func hasNamespace(s *specs.Spec, t specs.LinuxNamespaceType) bool {
	if s.Linux == nil {
		return false
	}
	for _, n := range s.Linux.Namespaces {
		if n.Type == t {
			return true
		}
	}
	return false
}

// setupConsole creates the container's pty from its own devpts, checks it really is a devpts
// pty (CVE-2025-52565), hands the master to the console socket and makes the peer our stdio
// and /dev/console.
func setupConsole(p *specs.Process) error {
	sockFD, err := strconv.Atoi(os.Getenv(envConsoleFD))
	if err != nil {
		return errors.New("process.terminal: no console socket")
	}
	defer unix.Close(sockFD)
	master, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("process.terminal: open /dev/ptmx: %w", err)
	}
	defer unix.Close(master)
	if err := checkDevpts(master); err != nil {
		return fmt.Errorf("process.terminal: /dev/ptmx: %w", err)
	}
	if err := unix.IoctlSetPointerInt(master, unix.TIOCSPTLCK, 0); err != nil {
		return fmt.Errorf("process.terminal: unlock pty: %w", err)
	}
	// TIOCGPTPEER opens the peer without a path lookup, so no symlink can stand in for it.
	peer, err := ptyPeer(master)
	if err != nil {
		return err
	}
	defer unix.Close(peer)
	if err := checkDevpts(peer); err != nil {
		return fmt.Errorf("process.terminal: pty peer: %w", err)
	}
	if p.ConsoleSize != nil {
		ws := &unix.Winsize{Row: uint16(p.ConsoleSize.Height), Col: uint16(p.ConsoleSize.Width)}
		if err := unix.IoctlSetWinsize(master, unix.TIOCSWINSZ, ws); err != nil {
			return fmt.Errorf("process.consoleSize: %w", err)
		}
	}
	n, err := unix.IoctlGetInt(master, unix.TIOCGPTN)
	if err != nil {
		return fmt.Errorf("process.terminal: %w", err)
	}
	name := "/dev/pts/" + strconv.Itoa(n)
	if err := unix.Sendmsg(sockFD, []byte(name), unix.UnixRights(master), nil, 0); err != nil {
		return fmt.Errorf("--console-socket: send pty master: %w", err)
	}
	if err := bindConsole(peer); err != nil {
		return err
	}
	if _, err := unix.Setsid(); err != nil {
		return os.NewSyscallError("setsid", err)
	}
	if err := unix.IoctlSetInt(peer, unix.TIOCSCTTY, 0); err != nil {
		return fmt.Errorf("process.terminal: set controlling terminal: %w", err)
	}
	for fd := 0; fd < 3; fd++ {
		if err := unix.Dup3(peer, fd, 0); err != nil {
			return os.NewSyscallError("dup3", err)
		}
	}
	return nil
}

func ptyPeer(master int) (int, error) {
	fd, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(master), unix.TIOCGPTPEER, uintptr(unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC))
	if errno != 0 {
		return -1, fmt.Errorf("process.terminal: open pty peer: %w", errno)
	}
	return int(fd), nil
}

const devptsMagic = 0x1cd1

func checkDevpts(fd int) error {
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(fd, &sfs); err != nil {
		return err
	}
	if sfs.Type != devptsMagic {
		return errors.New("not on a devpts filesystem")
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR {
		return errors.New("not a character device")
	}
	return nil
}

// bindConsole bind mounts the pty peer onto /dev/console (a plain file created if missing; an
// existing symlink is replaced).
func bindConsole(peer int) error {
	var st unix.Stat_t
	if err := unix.Lstat("/dev/console", &st); err == nil && st.Mode&unix.S_IFMT != unix.S_IFREG {
		if err := unix.Unlink("/dev/console"); err != nil {
			return &os.PathError{Op: "unlink", Path: "/dev/console", Err: err}
		}
	}
	fd, err := unix.Open("/dev/console", unix.O_CREAT|unix.O_NOFOLLOW|unix.O_RDONLY|unix.O_CLOEXEC, 0o600)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil // no /dev in this container
		}
		return &os.PathError{Op: "create", Path: "/dev/console", Err: err}
	}
	defer unix.Close(fd)
	if err := unix.Mount("/proc/self/fd/"+strconv.Itoa(peer), "/proc/self/fd/"+strconv.Itoa(fd), "", unix.MS_BIND, ""); err != nil {
		return &os.PathError{Op: "bind mount console", Path: "/dev/console", Err: err}
	}
	return nil
}
