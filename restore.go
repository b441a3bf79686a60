package main

import (
	"errors"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/libcontainer"
)

var restoreCommand = &cli.Command{
	Name:      "restore",
	Usage:     "restore a container from a CRIU checkpoint",
	ArgsUsage: "<container-id>",
	Description: `The container is made from the bundle's config.json and the image in --image-path,
and its processes go on where they were dumped. Without --detach husk waits for the
container's init, as "husk run" does, and deletes the container when it exits.`,
	Flags: append([]cli.Flag{
		&cli.StringFlag{Name: "bundle", Aliases: []string{"b"}, Usage: "path to the bundle (default: current directory)"},
		&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "do not wait for the container"},
		&cli.StringFlag{Name: "pid-file", Usage: "write the restored init's pid to this file"},
		&cli.StringFlag{Name: "console-socket", Usage: "unix socket to send the restored pty master to (process.terminal)"},
		&cli.BoolFlag{Name: "no-subreaper", Usage: "do not make husk a child subreaper"},
		&cli.BoolFlag{Name: "no-pivot", Usage: "accepted for runc compatibility: criu sets up the root itself"},
		&cli.StringFlag{Name: "lsm-profile", Usage: "LSM profile of the restored processes (apparmor:<profile> or selinux:<label>)"},
		&cli.StringFlag{Name: "lsm-mount-context", Usage: "SELinux mount context of the restored mounts"},
	}, criuFlags...),
	Action: func(c *cli.Context) error {
		id, err := containerID(c)
		if err != nil {
			return err
		}
		o, err := criuOpts(c)
		if err != nil {
			return err
		}
		b, err := loadBundle(c)
		if err != nil {
			return err
		}
		rl, err := rootless(c)
		if err != nil {
			return err
		}
		if b.spec.Process.Terminal && c.String("console-socket") == "" {
			return errors.New("restore: process.terminal is true: --console-socket is required")
		}
		detach := c.Bool("detach")
		if !detach && !c.Bool("no-subreaper") {
			_ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
		}
		ctr, err := libcontainer.Restore(&libcontainer.RestoreOpts{
			CriuOpts: o, Root: root(c), ID: id, Bundle: b.dir, Spec: b.spec,
			ConsoleSocket: c.String("console-socket"), PidFile: c.String("pid-file"),
			SystemdCgroup: c.Bool("systemd-cgroup"), Rootless: rl,
			LSMProfile: c.String("lsm-profile"), LSMMountContext: c.String("lsm-mount-context"),
		})
		if err != nil {
			return err
		}
		pid := ctr.State().Pid
		// Let other husk commands at the container while it runs.
		ctr.Close()
		if detach {
			return nil
		}
		sigs, err := startSignalForwarder()
		if err != nil {
			return err
		}
		code := sigs.forwardAndWait(pid, nil)
		if ctr, err := loadContainerBrief(c); err == nil { // Destroy needs no more
			_ = ctr.Destroy(true)
			ctr.Close()
		}
		if code != 0 {
			return &exitError{code: code}
		}
		return nil
	},
}
