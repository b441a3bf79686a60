package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/husk-runtime/husk/libcontainer"
	"github.com/husk-runtime/husk/libcontainer/timerslack"
)

var pauseCommand = &cli.Command{
	Name:      "pause",
	Usage:     "freeze every process of a container",
	ArgsUsage: "<container-id>",
	Action: func(c *cli.Context) error {
		ctr, err := loadContainer(c)
		if err != nil {
			return err
		}
		defer ctr.Close()
		return ctr.Pause()
	},
}

var resumeCommand = &cli.Command{
	Name:      "resume",
	Usage:     "thaw a paused container",
	ArgsUsage: "<container-id>",
	Action: func(c *cli.Context) error {
		// Unlocked: an `exec --ignore-paused` holds the container's lock until its process,
		// frozen on joining the cgroup, is thawed by this very command.
		ctr, err := loadUnlocked(c)
		if err != nil {
			return err
		}
		return ctr.Resume()
	},
}

var psCommand = &cli.Command{
	Name:      "ps",
	Usage:     "list the processes of a container",
	ArgsUsage: "<container-id> [ps options]",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "table", Usage: "table or json"},
	},
	Action: func(c *cli.Context) error {
		// Read-only: never wait behind a long command holding the lock.
		ctr, err := loadUnlocked(c)
		if err != nil {
			return err
		}
		pids, err := ctr.Processes()
		if err != nil {
			return err
		}
		switch c.String("format") {
		case "json":
			if pids == nil {
				pids = []int{}
			}
			return json.NewEncoder(os.Stdout).Encode(pids)
		case "table":
		default:
			return fmt.Errorf("--format %q: must be table or json", c.String("format"))
		}
		args := c.Args().Slice()[1:]
		if len(args) == 0 {
			args = []string{"-ef"}
		}
		var out []byte
		err = timerslack.Fork(func() (err error) {
			out, err = exec.Command("ps", args...).Output()
			return err
		})
		if err != nil {
			return fmt.Errorf("ps %s: %w", strings.Join(args, " "), err)
		}
		lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
		pidCol := -1
		for i, f := range strings.Fields(lines[0]) {
			if f == "PID" {
				pidCol = i
			}
		}
		if pidCol < 0 {
			return errors.New("ps: no PID column in the output")
		}
		in := map[int]bool{}
		for _, p := range pids {
			in[p] = true
		}
		fmt.Println(lines[0])
		for _, l := range lines[1:] {
			f := strings.Fields(l)
			if len(f) > pidCol {
				if p, err := strconv.Atoi(f[pidCol]); err == nil && in[p] {
					fmt.Println(l)
				}
			}
		}
		return nil
	},
}

// loadUnlocked loads the container named by the first argument without taking its lock, for
// commands that only read the cgroup or flip its freezer, which is its own source of truth.
func loadUnlocked(c *cli.Context) (*libcontainer.Container, error) {
	id, err := containerID(c)
	if err != nil {
		return nil, err
	}
	return libcontainer.LoadUnlocked(root(c), id)
}
