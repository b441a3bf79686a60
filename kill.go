package main

import (
	"github.com/urfave/cli/v2"
)

var killCommand = &cli.Command{
	Name:      "kill",
	Usage:     "send a signal (default SIGTERM) to a container's init",
	ArgsUsage: "<container-id> [signal]",
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "signal every process of the container"},
	},
	Action: func(c *cli.Context) error {
		sigName := "SIGTERM"
		if c.NArg() == 2 {
			sigName = c.Args().Get(1)
		}
		sig, err := parseSignal(sigName)
		if err != nil {
			return err
		}
		ctr, err := loadContainerBrief(c)
		if err != nil {
			return err
		}
		defer ctr.Close()
		return ctr.Signal(sig, c.Bool("all"))
	},
}
