package main

import (
	"errors"

	"github.com/urfave/cli/v2"

	"github.com/husk-runtime/husk/libcontainer"
)

var deleteCommand = &cli.Command{
	Name:      "delete",
	Usage:     "delete a container and everything it holds",
	ArgsUsage: "<container-id>",
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "kill the container if it still runs"},
	},
	Action: func(c *cli.Context) error {
		ctr, err := loadContainerBrief(c)
		if err != nil {
			// Engines always follow a delete with `delete --force` on an ID that may be gone.
			if c.Bool("force") && errors.Is(err, libcontainer.ErrNotExist) {
				return nil
			}
			return err
		}
		defer ctr.Close()
		return ctr.Destroy(c.Bool("force"))
	},
}
