package main

import (
	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"
)

var runCommand = &cli.Command{
	Name:      "run",
	Usage:     "create and start a container, wait for it and delete it",
	ArgsUsage: "<container-id>",
	Flags: append([]cli.Flag{
		&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "do not wait for the container"},
		&cli.BoolFlag{Name: "keep", Usage: "do not delete the container after it exits"},
		&cli.BoolFlag{Name: "no-subreaper", Usage: "do not make husk a child subreaper"},
	}, createFlags...),
	Action: func(c *cli.Context) error {
		id, err := containerID(c)
		if err != nil {
			return err
		}
		detach := c.Bool("detach")
		if !detach && !c.Bool("no-subreaper") {
			_ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
		}
		var sigs *signalForwarder
		if !detach {
			if sigs, err = startSignalForwarder(); err != nil {
				return err
			}
		}
		var tty *ttyProxy
		b, err := loadBundle(c)
		if err != nil {
			return err
		}
		if b.spec.Process.Terminal && c.String("console-socket") == "" && !detach {
			if tty, err = newTTYProxy(); err != nil {
				return err
			}
			defer tty.Close()
			if err := c.Set("console-socket", tty.Path()); err != nil {
				return err
			}
		}
		ctr, err := createContainer(c, id, b)
		if err != nil {
			return err
		}
		pid := ctr.State().Pid
		if err := ctr.Start(); err != nil {
			_ = ctr.Destroy(true)
			ctr.Close()
			return err
		}
		if detach {
			ctr.Close()
			return nil
		}
		// Let other husk commands (kill, state, exec) at the container while it runs.
		ctr.Close()
		if tty != nil {
			if err := tty.Attach(); err != nil {
				return err
			}
		}
		code := sigs.forwardAndWait(pid, tty)
		if !c.Bool("keep") {
			if ctr, err := loadContainerBrief(c); err == nil { // Destroy needs no more
				_ = ctr.Destroy(true)
				ctr.Close()
			}
		}
		if code != 0 {
			return &exitError{code: code}
		}
		return nil
	},
}
