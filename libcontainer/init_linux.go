package libcontainer

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/libcontainer/capabilities"
	"github.com/husk-runtime/husk/libcontainer/internal/initsync"
	"github.com/husk-runtime/husk/libcontainer/internal/procfs"
	"github.com/husk-runtime/husk/libcontainer/nsenter"
	"github.com/husk-runtime/husk/libcontainer/seccomp"
)

// Init is the Go entry point of `husk init`, after the nsenter constructor has put the process
// in the container's namespaces and cgroup. It never returns: it execs the container process
// or exits non-zero after reporting the error to the parent.
func Init() {
	// Capabilities, no_new_privs and seccomp are per thread: everything below, execve
	// included, happens on this one.
	runtime.LockOSThread()
	// stdout and stderr belong to the container now: the init's own warnings must not land
	// there. (Forwarding them to the parent's --log is future work; errors do reach it.)
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	fd, err := strconv.Atoi(os.Getenv(nsenter.EnvSyncFD))
	if err != nil {
		fmt.Fprintln(os.Stderr, "husk init: must be started by husk")
		os.Exit(255)
	}
	conn := initsync.NewConn(fd)
	var cfg initConfig
	cfg.fds, err = conn.Expect(initsync.MsgConfig, &cfg)
	if err != nil {
		os.Exit(255)
	}
	if cfg.Setns {
		err = setnsInit(conn, &cfg)
	} else {
		err = standardInit(conn, &cfg)
	}
	// Only failures return.
	if err != nil {
		if serr := conn.SendError(err); serr != nil {
			// The parent is gone (after start): stderr is the container's, tell it there.
			fmt.Fprintln(os.Stderr, "husk init:", err)
		}
	}
	os.Exit(255)
}

// finalize applies the process settings and execs it: the common tail of both inits.
// path is the resolved executable.
func finalize(cfg *initConfig, path string) error {
	p := cfg.Process
	// Nothing of ours but stdio and the preserved fds may reach the container (CVE-2024-21626).
	if err := unix.CloseRange(uint(3+cfg.PreserveFds), ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return os.NewSyscallError("close_range", err)
	}
	if p.ApparmorProfile != "" {
		if err := applyAppArmor(p.ApparmorProfile); err != nil {
			return fmt.Errorf("process.apparmorProfile: %w", err)
		}
	}
	if p.SelinuxLabel != "" {
		if err := applyExecLabel(p.SelinuxLabel); err != nil {
			return fmt.Errorf("process.selinuxLabel: %w", err)
		}
	}
	// A session of its own, as under runc: the caller's terminal signals and process-group
	// kills must not reach the container. A terminal's setup made us a session leader already
	// (EPERM).
	if _, err := unix.Setsid(); err != nil && !errors.Is(err, unix.EPERM) {
		return os.NewSyscallError("setsid", err)
	}
	caps, err := capabilities.Parse(p.Capabilities)
	if err != nil {
		return err
	}
	if err := caps.DropBounding(); err != nil {
		return err
	}
	notify := cfg.Seccomp != nil && cfg.Seccomp.Notify
	if cfg.Seccomp != nil && !p.NoNewPrivileges && !notify {
		// Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: do it while we have it.
		if _, err := seccomp.Load(cfg.Seccomp); err != nil {
			return fmt.Errorf("linux.seccomp: %w", err)
		}
	}
	if err := chownStdio(&p.User); err != nil {
		return err
	}
	if err := setUser(&p.User); err != nil {
		return err
	}
	if err := caps.Apply(); err != nil {
		return err
	}
	if p.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("process.noNewPrivileges: %w", os.NewSyscallError("prctl", err))
		}
		if cfg.Seccomp != nil && !notify {
			// As late as possible: only execve follows.
			if _, err := seccomp.Load(cfg.Seccomp); err != nil {
				return fmt.Errorf("linux.seccomp: %w", err)
			}
		}
	}
	env := withHome(p.Env, p.User.UID)
	if cfg.PreserveFds > 0 && os.Getenv("LISTEN_FDS") != "" {
		env = append(append([]string(nil), env...), "LISTEN_PID=1", "LISTEN_FDS="+os.Getenv("LISTEN_FDS"))
	}
	resetIgnoredSignals()
	err = unix.Exec(path, p.Args, env)
	return fmt.Errorf("exec %s: %w", p.Args[0], err)
}

// withHome returns env with HOME set from the container's /etc/passwd entry for uid when
// process.env has none ("/" when there is no entry), as runc does: programs run by engines
// that pass no HOME (ctr) expect one.
func withHome(env []string, uid uint32) []string {
	for _, e := range env {
		if strings.HasPrefix(e, "HOME=") {
			return env
		}
	}
	home := "/"
	if data, err := os.ReadFile("/etc/passwd"); err == nil {
		want := strconv.FormatUint(uint64(uid), 10)
		for _, l := range strings.Split(string(data), "\n") {
			// name:password:uid:gid:gecos:home:shell (passwd(5))
			f := strings.Split(l, ":")
			if len(f) >= 6 && f[2] == want && f[5] != "" {
				home = f[5]
				break
			}
		}
	}
	return append(append([]string(nil), env...), "HOME="+home)
}

// chownStdio gives the stdio fds (pipes, files or the pty the runtime was handed) to
// process.user, so that a non-root process can reopen them by path (/dev/stdout,
// /proc/self/fd/1), as it can under runc. /dev/null and fds already owned by the user are left
// alone; EINVAL and EPERM (an id unmapped in a user namespace, a host file we may not chown)
// are not errors: the process then keeps the fds it was given.
func chownStdio(u *specs.User) error {
	if u.UID == 0 && u.GID == 0 {
		return nil
	}
	for fd := 0; fd < 3; fd++ {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			continue // closed: nothing to give
		}
		if st.Uid == u.UID && st.Gid == u.GID {
			continue
		}
		if st.Mode&unix.S_IFMT == unix.S_IFCHR && unix.Major(st.Rdev) == 1 && unix.Minor(st.Rdev) == 3 {
			continue // /dev/null
		}
		if err := unix.Fchown(fd, int(u.UID), int(u.GID)); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.EPERM) {
			return fmt.Errorf("process.user: give stdio fd %d to %d:%d: %w", fd, u.UID, u.GID, os.NewSyscallError("fchown", err))
		}
	}
	return nil
}

// setUser switches to process.user keeping the permitted capabilities for caps.Apply.
func setUser(u *specs.User) error {
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
		return os.NewSyscallError("prctl PR_SET_KEEPCAPS", err)
	}
	gids := make([]int, 0, len(u.AdditionalGids))
	for _, g := range u.AdditionalGids {
		gids = append(gids, int(g))
	}
	// setgroups(2) is refused in a user namespace with setgroups "deny"; then it is only
	// an error if groups were asked for.
	if err := unix.Setgroups(gids); err != nil && (len(gids) > 0 || !errors.Is(err, unix.EPERM)) {
		return fmt.Errorf("process.user.additionalGids: %w", os.NewSyscallError("setgroups", err))
	}
	if err := unix.Setresgid(int(u.GID), int(u.GID), int(u.GID)); err != nil {
		return fmt.Errorf("process.user.gid %d: %w", u.GID, os.NewSyscallError("setresgid", err))
	}
	if err := unix.Setresuid(int(u.UID), int(u.UID), int(u.UID)); err != nil {
		return fmt.Errorf("process.user.uid %d: %w", u.UID, os.NewSyscallError("setresuid", err))
	}
	// Without process.user.umask, 0022 as runc: never the umask of whoever ran husk.
	umask := 0o022
	if u.Umask != nil {
		umask = int(*u.Umask)
	}
	unix.Umask(umask)
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0); err != nil {
		return os.NewSyscallError("prctl PR_SET_KEEPCAPS", err)
	}
	return nil
}

// lookPath finds args[0] the way runc does: a name with a slash is used as is, anything else
// is looked up in the PATH of process.env.
func lookPath(p *specs.Process) (string, error) {
	name := p.Args[0]
	if strings.Contains(name, "/") {
		if err := checkExecutable(name); err != nil {
			return "", fmt.Errorf("process.args[0] %q: %w", name, err)
		}
		return name, nil
	}
	for _, dir := range filepath.SplitList(searchPath(p.Env)) {
		if dir == "" {
			dir = "."
		}
		cand := filepath.Join(dir, name)
		if checkExecutable(cand) == nil {
			return cand, nil
		}
	}
	return "", fmt.Errorf("process.args[0] %q: executable file not found in $PATH", name)
}

// searchPath returns the PATH of env, or runc's default without one.
func searchPath(env []string) string {
	path := ""
	for _, e := range env {
		if strings.HasPrefix(e, "PATH=") {
			path = e[5:]
		}
	}
	if path == "" {
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	return path
}

func checkExecutable(path string) error {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return errors.New("is a directory")
	}
	if st.Mode&0o111 == 0 {
		return errors.New("permission denied")
	}
	return nil
}

// setupCwd enters process.cwd, creating it if missing, and checks it is inside the container
// (a cwd like /proc/self/fd/N pointing at a leaked host fd is CVE-2024-21626).
func setupCwd(cwd string) error {
	if cwd == "" {
		cwd = "/"
	}
	if !filepath.IsAbs(cwd) {
		return fmt.Errorf("process.cwd %q: must be an absolute path", cwd)
	}
	if err := unix.Chdir(cwd); err != nil {
		if !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("process.cwd %q: %w", cwd, err)
		}
		if err := os.MkdirAll(cwd, 0o755); err != nil {
			return fmt.Errorf("process.cwd %q: %w", cwd, err)
		}
		if err := unix.Chdir(cwd); err != nil {
			return fmt.Errorf("process.cwd %q: %w", cwd, err)
		}
	}
	wd, err := unix.Getwd()
	if err != nil || !strings.HasPrefix(wd, "/") {
		return fmt.Errorf("process.cwd %q: resolves outside the container", cwd)
	}
	return nil
}

// setRlimits applies process.rlimits.
func setRlimits(rl []specs.POSIXRlimit) error {
	for i, r := range rl {
		res, ok := rlimitNames[r.Type]
		if !ok {
			return fmt.Errorf("process.rlimits[%d].type: unknown rlimit %q", i, r.Type)
		}
		lim := unix.Rlimit{Cur: r.Soft, Max: r.Hard}
		if err := unix.Prlimit(0, res, &lim, nil); err != nil {
			return fmt.Errorf("process.rlimits[%d] %s (soft %d, hard %d): %w", i, r.Type, r.Soft, r.Hard, os.NewSyscallError("prlimit", err))
		}
	}
	return nil
}

var rlimitNames = map[string]int{
	"RLIMIT_AS": unix.RLIMIT_AS, "RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_CPU": unix.RLIMIT_CPU,
	"RLIMIT_DATA": unix.RLIMIT_DATA, "RLIMIT_FSIZE": unix.RLIMIT_FSIZE, "RLIMIT_LOCKS": unix.RLIMIT_LOCKS,
	"RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK, "RLIMIT_MSGQUEUE": unix.RLIMIT_MSGQUEUE, "RLIMIT_NICE": unix.RLIMIT_NICE,
	"RLIMIT_NOFILE": unix.RLIMIT_NOFILE, "RLIMIT_NPROC": unix.RLIMIT_NPROC, "RLIMIT_RSS": unix.RLIMIT_RSS,
	"RLIMIT_RTPRIO": unix.RLIMIT_RTPRIO, "RLIMIT_RTTIME": unix.RLIMIT_RTTIME, "RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING,
	"RLIMIT_STACK": unix.RLIMIT_STACK,
}

// setOOMScoreAdj writes process.oomScoreAdj through a verified procfs.
func setOOMScoreAdj(v *int) error {
	if v == nil {
		return nil
	}
	if err := procfs.WriteFile("self/oom_score_adj", []byte(strconv.Itoa(*v))); err != nil {
		return fmt.Errorf("process.oomScoreAdj: %w", err)
	}
	return nil
}

// joinKeyring gives the container its own session keyring, so it cannot read the host's keys.
func joinKeyring(id string) error {
	_, err := unix.KeyctlJoinSessionKeyring("_ses." + id)
	if err != nil && !errors.Is(err, unix.ENOSYS) {
		return fmt.Errorf("join session keyring: %w", err)
	}
	return nil
}
