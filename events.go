package main

import (
	"context"
	"encoding/json"
	"os"
	"os/signal"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/libcontainer"
)

// event is runc's events envelope.
type event struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Data any    `json:"data,omitempty"`
}

var eventsCommand = &cli.Command{
	Name:      "events",
	Usage:     "stream a container's OOM events and resource statistics as JSON",
	ArgsUsage: "<container-id>",
	Flags: []cli.Flag{
		&cli.DurationFlag{Name: "interval", Value: 5 * time.Second, Usage: "statistics interval"},
		&cli.BoolFlag{Name: "stats", Usage: "print statistics once and exit"},
	},
	Action: func(c *cli.Context) error {
		id, err := containerID(c)
		if err != nil {
			return err
		}
		ctr, err := libcontainer.LoadUnlocked(root(c), id)
		if err != nil {
			return err
		}
		enc := json.NewEncoder(os.Stdout)
		if c.Bool("stats") {
			st, err := ctr.Stats()
			if err != nil {
				return err
			}
			return enc.Encode(event{Type: "stats", ID: id, Data: st})
		}
		ctx, stop := signal.NotifyContext(context.Background(), unix.SIGINT, unix.SIGTERM)
		defer stop()
		ooms, err := ctr.OOMEvents(ctx)
		if err != nil {
			return err
		}
		tick := time.NewTicker(c.Duration("interval"))
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case _, ok := <-ooms:
				if !ok {
					return nil
				}
				_ = enc.Encode(event{Type: "oom", ID: id})
			case <-tick.C:
				if ctr.Status() == libcontainer.Stopped {
					return nil
				}
				st, err := ctr.Stats()
				if err != nil {
					continue
				}
				_ = enc.Encode(event{Type: "stats", ID: id, Data: st})
			}
		}
	},
}
