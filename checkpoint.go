package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/husk-runtime/husk/libcontainer"
)

// criuFlags are the CRIU flags checkpoint and restore share, as runc's.
var criuFlags = []cli.Flag{
	&cli.StringFlag{Name: "image-path", Usage: "directory of the criu image files (default: ./checkpoint)"},
	&cli.StringFlag{Name: "work-path", Usage: "directory for criu's work files and log (default: the image path)"},
	&cli.BoolFlag{Name: "tcp-established", Usage: "allow open TCP connections"},
	&cli.BoolFlag{Name: "ext-unix-sk", Usage: "allow external unix sockets"},
	&cli.BoolFlag{Name: "shell-job", Usage: "allow a shell job (a session and terminal from outside)"},
	&cli.BoolFlag{Name: "file-locks", Usage: "handle file locks"},
	&cli.BoolFlag{Name: "auto-dedup", Usage: "deduplicate memory pages against the parent image"},
	&cli.BoolFlag{Name: "lazy-pages", Usage: "use userfaultfd to transfer memory pages lazily"},
	&cli.StringFlag{Name: "manage-cgroups-mode", Usage: "cgroups mode: soft (default), full, strict or ignore"},
	&cli.StringSliceFlag{Name: "empty-ns", Usage: "create a namespace but do not restore its contents (network)"},
}

// criuOpts reads criuFlags.
func criuOpts(c *cli.Context) (libcontainer.CriuOpts, error) {
	img := c.String("image-path")
	if img == "" {
		img = "checkpoint"
	}
	img, err := filepath.Abs(img)
	if err != nil {
		return libcontainer.CriuOpts{}, fmt.Errorf("--image-path: %w", err)
	}
	work := c.String("work-path")
	if work != "" {
		if work, err = filepath.Abs(work); err != nil {
			return libcontainer.CriuOpts{}, fmt.Errorf("--work-path: %w", err)
		}
	}
	return libcontainer.CriuOpts{
		CriuPath: c.String("criu"), ImagePath: img, WorkPath: work,
		TCPEstablished: c.Bool("tcp-established"), ExtUnixSk: c.Bool("ext-unix-sk"),
		ShellJob: c.Bool("shell-job"), FileLocks: c.Bool("file-locks"), AutoDedup: c.Bool("auto-dedup"),
		LazyPages: c.Bool("lazy-pages"), ManageCgroupsMode: c.String("manage-cgroups-mode"),
		EmptyNS: c.StringSlice("empty-ns"),
	}, nil
}

var checkpointCommand = &cli.Command{
	Name:      "checkpoint",
	Usage:     "checkpoint a running container with CRIU",
	ArgsUsage: "<container-id>",
	Description: `The container's processes are dumped into --image-path. Unless --leave-running
or --pre-dump is given, they end and the container is deleted; "husk restore" brings
it back. The org.criu.config annotation names a CRIU configuration file ("" for
none; default /etc/criu/husk.conf when it exists).`,
	Flags: append([]cli.Flag{
		&cli.StringFlag{Name: "parent-path", Usage: "image of a previous --pre-dump, relative to the image path"},
		&cli.BoolFlag{Name: "leave-running", Usage: "leave the container running after the dump"},
		&cli.BoolFlag{Name: "pre-dump", Usage: "dump memory only, leaving the container running"},
		&cli.IntFlag{Name: "status-fd", Value: -1, Usage: "criu writes \\0 to this fd once lazy pages are ready"},
		&cli.StringFlag{Name: "page-server", Usage: "address:port of a criu page server to send memory pages to"},
	}, criuFlags...),
	Action: func(c *cli.Context) error {
		o, err := criuOpts(c)
		if err != nil {
			return err
		}
		ctr, err := loadContainer(c)
		if err != nil {
			return err
		}
		defer ctr.Close()
		if fd := c.Int("status-fd"); fd >= 0 {
			if _, err := os.Stat(fmt.Sprintf("/proc/self/fd/%d", fd)); err != nil {
				return fmt.Errorf("--status-fd %d: %w", fd, err)
			}
		}
		return ctr.Checkpoint(&libcontainer.CheckpointOpts{
			CriuOpts: o, ParentPath: c.String("parent-path"), LeaveRunning: c.Bool("leave-running"),
			PreDump: c.Bool("pre-dump"), StatusFd: c.Int("status-fd"), PageServer: c.String("page-server"),
		})
	},
}
