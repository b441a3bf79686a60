package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

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
		states := loadStates(root(c), ids)
		if c.Bool("quiet") {
			out := bufio.NewWriter(os.Stdout)
			for _, s := range states {
				fmt.Fprintln(out, s.ID)
			}
			return out.Flush()
		}
		switch c.String("format") {
		case "json":
			if states == nil {
				states = []*libcontainer.OCIState{}
			}
			return json.NewEncoder(os.Stdout).Encode(states)
		case "table":
			// tabwriter writes cell by cell: without a buffer, a write(2) per cell.
			out := bufio.NewWriter(os.Stdout)
			w := tabwriter.NewWriter(out, 12, 1, 3, ' ', 0)
			fmt.Fprint(w, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER\n")
			for _, s := range states {
				fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\n", s.ID, s.Pid, s.Status, s.Bundle, s.Created.Format(time.RFC3339Nano), s.Owner)
			}
			if err := w.Flush(); err != nil {
				return err
			}
			return out.Flush()
		default:
			return fmt.Errorf("--format %q: must be table or json", c.String("format"))
		}
	},
}

// loadStates returns the states of the containers ids under root, skipping those being
// created or deleted right now. Reading a state is mostly system calls (state.json,
// /proc/<pid>/stat), so a few goroutines share the work when there are many containers.
func loadStates(root string, ids []string) []*libcontainer.OCIState {
	states := make([]*libcontainer.OCIState, len(ids))
	owners := &ownerNames{names: map[uint32]string{}}
	var next atomic.Int64
	work := func() {
		for {
			i := int(next.Add(1) - 1)
			if i >= len(ids) {
				return
			}
			if ctr, err := libcontainer.LoadBrief(root, ids[i], false); err == nil {
				states[i] = ctr.OCIState()
				states[i].Owner = owners.of(filepath.Join(root, ids[i]))
			}
		}
	}
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(ids)/16, 8) - 1 {
		wg.Go(work)
	}
	work()
	wg.Wait()
	var out []*libcontainer.OCIState
	for _, s := range states {
		if s != nil {
			out = append(out, s)
		}
	}
	return out
}

// ownerNames names the owners of state directories, as runc's list does: the user name of
// the directory's uid, or "#uid" when it has none. Each uid is looked up once.
type ownerNames struct {
	mu    sync.Mutex
	names map[uint32]string
}

func (o *ownerNames) of(dir string) string {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return ""
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	name, ok := o.names[st.Uid]
	if !ok {
		id := strconv.FormatUint(uint64(st.Uid), 10)
		name = "#" + id
		if u, err := user.LookupId(id); err == nil {
			name = u.Username
		}
		o.names[st.Uid] = name
	}
	return name
}
