package main

import "github.com/urfave/cli/v2"

var createCommand = &cli.Command{
	Name:      "create",
	Usage:     "create a container, leaving it ready for start",
	ArgsUsage: "<container-id>",
	Flags:     createFlags,
	Action: func(c *cli.Context) error {
		id, err := containerID(c)
		if err != nil {
			return err
		}
		b, err := loadBundle(c)
		if err != nil {
			return err
		}
		ctr, err := createContainer(c, id, b)
		if err != nil {
			return err
		}
		ctr.Close()
		return nil
	},
}
