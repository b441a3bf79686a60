package main

import (
	"github.com/urfave/cli/v2"

	"github.com/husk-runtime/husk/spec"
)

var specCommand = &cli.Command{
	Name:  "spec",
	Usage: "write a default config.json into the bundle",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "bundle", Aliases: []string{"b"}, Value: ".", Usage: "bundle directory"},
		&cli.BoolFlag{Name: "rootless", Usage: "a config for a container run by an unprivileged user"},
	},
	Action: func(c *cli.Context) error {
		s := spec.Example()
		if c.Bool("rootless") {
			spec.ToRootless(s)
		}
		return spec.Write(c.String("bundle"), s)
	},
}
