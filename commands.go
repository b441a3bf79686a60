package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/libcontainer"
	"github.com/husk-runtime/husk/libcontainer/validate"
	"github.com/husk-runtime/husk/spec"
)

// argCounts is how many arguments each command takes: at least [0], at most [1] (-1: no
// limit). runc checks the same counts.
var argCounts = map[string][2]int{
	"create": {1, 1}, "start": {1, 1}, "run": {1, 1}, "exec": {1, -1}, "kill": {1, 2},
	"delete": {1, 1}, "state": {1, 1}, "list": {0, 0}, "ps": {1, -1}, "pause": {1, 1},
	"resume": {1, 1}, "update": {1, 1}, "events": {1, 1}, "spec": {0, 0}, "features": {0, 0},
	"checkpoint": {1, 1}, "restore": {1, 1},
}

// checkArgs is every command's Before: a wrong number of arguments fails before anything
// is done, naming the command, in runc's words (`"delete" requires exactly 1 argument(s)`).
// Extra arguments are not ignored: `husk delete a b` must not delete a alone.
func checkArgs(c *cli.Context) error {
	name := c.Command.Name
	n, ok := argCounts[name]
	if !ok {
		return fmt.Errorf("%q: no argument count (argCounts)", name)
	}
	switch got := c.NArg(); {
	case n[0] == n[1] && got != n[0]:
		return fmt.Errorf("%q requires exactly %d argument(s), got %d", name, n[0], got)
	case got < n[0]:
		return fmt.Errorf("%q requires a minimum of %d argument(s), got %d", name, n[0], got)
	case n[1] >= 0 && got > n[1]:
		return fmt.Errorf("%q requires a maximum of %d argument(s), got %d", name, n[1], got)
	}
	return nil
}

// containerID returns the single container-ID argument of a command.
func containerID(c *cli.Context) (string, error) {
	if c.NArg() < 1 {
		return "", fmt.Errorf("%s: container ID is required", c.Command.Name)
	}
	id := c.Args().First()
	if err := libcontainer.ValidateID(id); err != nil {
		return "", fmt.Errorf("%s: %w", c.Command.Name, err)
	}
	return id, nil
}

func root(c *cli.Context) string {
	r, err := filepath.Abs(c.String("root"))
	if err != nil {
		return c.String("root")
	}
	return r
}

// loadContainer loads and locks the container named by the first argument.
func loadContainer(c *cli.Context) (*libcontainer.Container, error) {
	id, err := containerID(c)
	if err != nil {
		return nil, err
	}
	return libcontainer.Load(root(c), id)
}

// loadContainerBrief is loadContainer for commands that need no more of the config than its
// hooks (start, kill, delete, the end of run): decoding the whole config would be most of
// their CPU.
func loadContainerBrief(c *cli.Context) (*libcontainer.Container, error) {
	id, err := containerID(c)
	if err != nil {
		return nil, err
	}
	return libcontainer.LoadBrief(root(c), id, true)
}

// bundle is a loaded and validated bundle.
type bundle struct {
	dir  string      // absolute path
	spec *specs.Spec // its config.json
}

// loadBundle reads and validates <bundle>/config.json.
func loadBundle(c *cli.Context) (*bundle, error) {
	dir := c.String("bundle")
	if dir == "" {
		dir = "."
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("--bundle %q: %w", dir, err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("--bundle: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("--bundle %s: not a directory", abs)
	}
	s, err := spec.Load(abs)
	if err != nil {
		return nil, err
	}
	if err := validate.Spec(s, abs); err != nil {
		return nil, err
	}
	if err := validate.Process(s.Process, "process"); err != nil {
		return nil, err
	}
	return &bundle{dir: abs, spec: s}, nil
}

// rootless resolves --rootless auto|true|false.
func rootless(c *cli.Context) (bool, error) {
	switch v := c.String("rootless"); v {
	case "true":
		return true, nil
	case "false":
		return false, nil
	case "auto", "":
		return os.Geteuid() != 0, nil
	default:
		return false, fmt.Errorf("--rootless %q: must be true, false or auto", v)
	}
}

var createFlags = []cli.Flag{
	&cli.StringFlag{Name: "bundle", Aliases: []string{"b"}, Usage: "path to the bundle (default: current directory)"},
	&cli.StringFlag{Name: "console-socket", Usage: "unix socket that receives the pty master of a terminal container"},
	&cli.StringFlag{Name: "pidfd-socket", Usage: "unix socket that receives a pidfd of the init"},
	&cli.StringFlag{Name: "pid-file", Usage: "file to write the init's pid to"},
	&cli.BoolFlag{Name: "no-pivot", Usage: "do not use pivot_root (for ramdisk roots)"},
	&cli.BoolFlag{Name: "no-new-keyring", Usage: "do not create a new session keyring"},
	&cli.IntFlag{Name: "preserve-fds", Usage: "pass N extra fds (from 3) to the container"},
}

// createContainer is the common part of create and run.
func createContainer(c *cli.Context, id string, b *bundle) (*libcontainer.Container, error) {
	rl, err := rootless(c)
	if err != nil {
		return nil, err
	}
	preserve := c.Int("preserve-fds")
	if preserve < 0 {
		return nil, fmt.Errorf("--preserve-fds %d: must not be negative", preserve)
	}
	// systemd socket activation: LISTEN_FDS fds follow stdio and reach the container.
	listen := 0
	if n, err := strconv.Atoi(os.Getenv("LISTEN_FDS")); err == nil && n > 0 && os.Getenv("LISTEN_PID") == strconv.Itoa(os.Getpid()) {
		listen = n
		preserve += n
	}
	return libcontainer.Create(&libcontainer.CreateOpts{
		Root: root(c), ID: id, Bundle: b.dir, Spec: b.spec,
		ConsoleSocket: c.String("console-socket"), PidFile: c.String("pid-file"),
		PidfdSocket: c.String("pidfd-socket"), NoPivot: c.Bool("no-pivot"),
		NoNewKeyring: c.Bool("no-new-keyring"), PreserveFds: preserve, ListenFds: listen, NotifySocket: os.Getenv("NOTIFY_SOCKET"),
		SystemdCgroup: c.Bool("systemd-cgroup"), Rootless: rl,
	})
}

// parseSignal accepts "KILL", "SIGKILL", "9" and "sigkill".
func parseSignal(s string) (unix.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("signal %q: out of range", s)
		}
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("signal %q: unknown signal", s)
}

// exitCode turns a wait status into a shell-style exit code: 128+N when killed by signal N.
func exitCode(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

var errUsage = errors.New("usage")
