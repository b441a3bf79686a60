package main

import (
	"encoding/json"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/husk-runtime/husk/libcontainer"
)

var listCommand = &cli.Command{
	Name:    "list",
	Aliases: []string{"ls"},
	Usage:   "list the containers under --root",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "table", Usage: "table or json"},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print IDs only"},
	},
	Action: func(c *cli.Context) error {
		ids, err := libcontainer.List(root(c))
		if err != nil {
			return err
		}
		var states []*libcontainer.OCIState
		for _, id := range ids {
			ctr, err := libcontainer.LoadUnlocked(root(c), id)
			if err != nil {
				continue // being created or deleted right now
			}
			states = append(states, ctr.OCIState())
		}
		if c.Bool("quiet") {
			for _, s := range states {
				fmt.Println(s.ID)
			}
			return nil
		}
		switch c.String("format") {
		case "json":
			if states == nil {
				states = []*libcontainer.OCIState{}
			}
			return json.NewEncoder(os.Stdout).Encode(states)
		case "table":
			w := tabwriter.NewWriter(os.Stdout, 12, 1, 3, ' ', 0)
			fmt.Fprint(w, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER\n")
			for _, s := range states {
				fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\n", s.ID, s.Pid, s.Status, s.Bundle, s.Created.Format(time.RFC3339Nano), s.Owner)
			}
			return w.Flush()
		default:
			return fmt.Errorf("--format %q: must be table or json", c.String("format"))
		}
	},
}
