package main

import "github.com/urfave/cli/v2"

var startCommand = &cli.Command{
	Name:      "start",
	Usage:     "start the user process of a created container",
	ArgsUsage: "<container-id>",
	Action: func(c *cli.Context) error {
		ctr, err := loadContainerBrief(c)
		if err != nil {
			return err
		}
		defer ctr.Close()
		return ctr.Start()
	},
}
