package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/libcontainer"
	"github.com/husk-runtime/husk/libcontainer/validate"
)

var execCommand = &cli.Command{
	Name:      "exec",
	Usage:     "run a new process inside a running container",
	ArgsUsage: "<container-id> [command [args...]]",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "process", Aliases: []string{"p"}, Usage: "path to a process.json (runtime-spec process)"},
		&cli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "allocate a pseudo-TTY"},
		&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "do not wait for the process"},
		&cli.StringFlag{Name: "console-socket", Usage: "unix socket that receives the pty master"},
		&cli.StringFlag{Name: "pid-file", Usage: "file to write the process's pid to"},
		&cli.StringFlag{Name: "pidfd-socket", Usage: "unix socket that receives a pidfd of the process"},
		&cli.StringFlag{Name: "cwd", Usage: "working directory in the container"},
		&cli.StringSliceFlag{Name: "env", Aliases: []string{"e"}, Usage: "set an environment variable (K=V)"},
		&cli.StringFlag{Name: "user", Aliases: []string{"u"}, Usage: "uid[:gid]"},
		&cli.Int64SliceFlag{Name: "additional-gids", Aliases: []string{"g"}, Usage: "additional gids"},
		&cli.StringSliceFlag{Name: "cap", Aliases: []string{"c"}, Usage: "add a capability"},
		&cli.BoolFlag{Name: "no-new-privs", Usage: "set no_new_privs"},
		&cli.StringFlag{Name: "apparmor", Usage: "AppArmor profile"},
		&cli.StringFlag{Name: "process-label", Usage: "SELinux label"},
		&cli.IntFlag{Name: "preserve-fds", Usage: "pass N extra fds (from 3)"},
		&cli.BoolFlag{Name: "ignore-paused", Usage: "exec even if the container is paused"},
		&cli.StringFlag{Name: "cgroup", Usage: "sub-cgroup of the container to run in"},
	},
	Action: func(c *cli.Context) error {
		code, err := execAction(c)
		if err != nil {
			fmt.Fprintln(os.Stderr, "husk:", err)
			logError(err)
			return &exitError{code: 255}
		}
		if code != 0 {
			return &exitError{code: code}
		}
		return nil
	},
}

func execAction(c *cli.Context) (int, error) {
	id, err := containerID(c)
	if err != nil {
		return 0, err
	}
	ctr, err := libcontainer.LoadForExec(root(c), id)
	if err != nil {
		return 0, err
	}
	p, err := execProcess(c, ctr.State().Config.Process)
	if err != nil {
		ctr.Close()
		return 0, err
	}
	detach := c.Bool("detach")
	var tty *ttyProxy
	sock := c.String("console-socket")
	if p.Terminal && sock == "" && !detach {
		if tty, err = newTTYProxy(); err != nil {
			ctr.Close()
			return 0, err
		}
		defer tty.Close()
		sock = tty.Path()
	}
	var sigs *signalForwarder
	if !detach {
		_ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
		if sigs, err = startSignalForwarder(); err != nil {
			ctr.Close()
			return 0, err
		}
	}
	pid, err := ctr.Exec(&libcontainer.ExecOpts{
		Process: p, ConsoleSocket: sock, PidFile: c.String("pid-file"),
		PidfdSocket: c.String("pidfd-socket"), PreserveFds: c.Int("preserve-fds"),
		IgnorePaused: c.Bool("ignore-paused"), SubCgroup: c.String("cgroup"),
	})
	ctr.Close()
	if err != nil {
		return 0, err
	}
	if detach {
		return 0, nil
	}
	if tty != nil {
		if err := tty.Attach(); err != nil {
			return 0, err
		}
	}
	return sigs.forwardAndWait(pid, tty), nil
}

// execProcess builds the exec'd process: process.json as given, or the container's process
// with the command line and flags applied.
func execProcess(c *cli.Context, base *specs.Process) (*specs.Process, error) {
	var p specs.Process
	if path := c.String("process"); path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("--process: %w", err)
		}
		if err := json.Unmarshal(b, &p); err != nil {
			return nil, fmt.Errorf("--process %s: %w", path, err)
		}
	} else {
		if c.NArg() < 2 {
			return nil, fmt.Errorf("exec: a command is required (or --process)")
		}
		if base != nil {
			p = *base
			p.Env = append([]string(nil), base.Env...)
			if base.Capabilities != nil {
				caps := *base.Capabilities
				p.Capabilities = &caps
			}
		}
		p.Args = c.Args().Slice()[1:]
		p.Terminal = c.Bool("tty")
		p.ConsoleSize = nil
	}
	if cwd := c.String("cwd"); cwd != "" {
		p.Cwd = cwd
	}
	p.Env = append(p.Env, c.StringSlice("env")...)
	if u := c.String("user"); u != "" {
		uid, gid, hasGID, err := parseUser(u)
		if err != nil {
			return nil, err
		}
		p.User.UID = uid
		if hasGID {
			p.User.GID = gid
		}
	}
	for _, g := range c.Int64Slice("additional-gids") {
		if g < 0 || g > 1<<32-1 {
			return nil, fmt.Errorf("--additional-gids %d: out of range", g)
		}
		p.User.AdditionalGids = append(p.User.AdditionalGids, uint32(g))
	}
	if caps := c.StringSlice("cap"); len(caps) > 0 {
		if p.Capabilities == nil {
			p.Capabilities = &specs.LinuxCapabilities{}
		}
		for _, name := range caps {
			name = strings.ToUpper(name)
			if !strings.HasPrefix(name, "CAP_") {
				name = "CAP_" + name
			}
			p.Capabilities.Bounding = append(p.Capabilities.Bounding, name)
			p.Capabilities.Effective = append(p.Capabilities.Effective, name)
			p.Capabilities.Permitted = append(p.Capabilities.Permitted, name)
		}
	}
	if c.Bool("no-new-privs") {
		p.NoNewPrivileges = true
	}
	if v := c.String("apparmor"); v != "" {
		p.ApparmorProfile = v
	}
	if v := c.String("process-label"); v != "" {
		p.SelinuxLabel = v
	}
	if err := validate.Process(&p, "process"); err != nil {
		return nil, err
	}
	return &p, nil
}

// parseUser parses exec's --user "uid[:gid]": decimal ids only, each within 0..2^32-2.
func parseUser(s string) (uid, gid uint32, hasGID bool, err error) {
	us, gs, hasGID := strings.Cut(s, ":")
	parse := func(v, what string) (uint32, error) {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n == 1<<32-1 || v == "" || v[0] == '+' {
			return 0, fmt.Errorf("--user %q: %s must be a decimal number below 4294967295", s, what)
		}
		return uint32(n), nil
	}
	if uid, err = parse(us, "uid"); err != nil {
		return 0, 0, false, err
	}
	if hasGID {
		if gid, err = parse(gs, "gid"); err != nil {
			return 0, 0, false, err
		}
	}
	return uid, gid, hasGID, nil
}
