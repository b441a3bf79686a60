package libcontainer

import (
	"fmt"
	"os"

	"github.com/husk-runtime/husk/libcontainer/internal/initsync"
	"github.com/husk-runtime/husk/libcontainer/seccomp"
)

// setnsInit runs a process in an existing container (husk exec): the constructor has joined its
// namespaces and cgroup; only the process settings remain.
func setnsInit(conn *initsync.Conn, cfg *initConfig) error {
	path, err := prepareProcess(conn, cfg)
	if err != nil {
		return err
	}
	if err := conn.Send(initsync.MsgReady, nil); err != nil {
		return err
	}
	return finalize(cfg, path)
}

// prepareProcess applies the settings of cfg.Process that may still fail visibly, before the
// init reports ready (both inits): console, keyring, rlimits, oom_score_adj, cwd, the lookup
// of args[0], the extras and a notify filter. It returns the executable's path.
func prepareProcess(conn *initsync.Conn, cfg *initConfig) (string, error) {
	p := cfg.Process
	if p.Terminal {
		if err := setupConsole(p); err != nil {
			return "", err
		}
	}
	if !cfg.NoNewKeyring {
		// Never the caller's session keyring, where the host's keys are: the container's own,
		// joined by name (the exec'd process joins the init's).
		if err := joinKeyring(cfg.ContainerID); err != nil {
			return "", err
		}
	}
	if err := setRlimits(p.Rlimits); err != nil {
		return "", err
	}
	if err := setOOMScoreAdj(p.OOMScoreAdj); err != nil {
		return "", err
	}
	if err := setupCwd(p.Cwd); err != nil {
		return "", err
	}
	path, err := lookPath(p)
	if err != nil {
		return "", err
	}
	if err := applyExtras(cfg); err != nil {
		return "", err
	}
	if cfg.Seccomp != nil && cfg.Seccomp.Notify {
		if err := loadNotifyFilter(conn, cfg); err != nil {
			return "", err
		}
	}
	return path, nil
}

// loadNotifyFilter loads a filter with a user-notification listener before the process is
// released, and hands the listener to the parent, which passes it to linux.seccomp.listenerPath.
func loadNotifyFilter(conn *initsync.Conn, cfg *initConfig) error {
	fd, err := seccomp.Load(cfg.Seccomp)
	if err != nil {
		return fmt.Errorf("linux.seccomp: %w", err)
	}
	if fd < 0 {
		return nil
	}
	defer os.NewFile(uintptr(fd), "seccomp-notify").Close()
	if err := conn.Send(initsync.MsgSeccompFd, nil, fd); err != nil {
		return err
	}
	_, err = conn.Expect(initsync.MsgSeccompDone, nil)
	return err
}
