package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"
)

var updateCommand = &cli.Command{
	Name:      "update",
	Usage:     "change the resource limits of a running container",
	ArgsUsage: "<container-id>",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "resources", Aliases: []string{"r"}, Usage: "a linux.resources JSON file, or - for stdin"},
		&cli.StringFlag{Name: "blkio-weight", Usage: "block IO weight (10-1000)"},
		&cli.StringFlag{Name: "cpu-period", Usage: "CPU CFS period (µs)"},
		&cli.StringFlag{Name: "cpu-quota", Usage: "CPU CFS quota (µs)"},
		&cli.StringFlag{Name: "cpu-share", Usage: "CPU shares"},
		&cli.StringFlag{Name: "cpu-rt-period", Usage: "CPU realtime period (µs)"},
		&cli.StringFlag{Name: "cpu-rt-runtime", Usage: "CPU realtime runtime (µs)"},
		&cli.StringFlag{Name: "cpuset-cpus", Usage: "CPUs to use (0-3, 0,1)"},
		&cli.StringFlag{Name: "cpuset-mems", Usage: "memory nodes to use"},
		&cli.StringFlag{Name: "memory", Usage: "memory limit (bytes, or with k/m/g suffix)"},
		&cli.StringFlag{Name: "memory-reservation", Usage: "memory soft limit"},
		&cli.StringFlag{Name: "memory-swap", Usage: "memory+swap limit (-1: unlimited)"},
		&cli.StringFlag{Name: "pids-limit", Usage: "maximum number of pids (-1: unlimited)"},
		&cli.StringFlag{Name: "l3-cache-schema", Usage: "Intel RDT L3 cache schema"},
		&cli.StringFlag{Name: "mem-bw-schema", Usage: "Intel RDT memory bandwidth schema"},
	},
	Action: func(c *cli.Context) error {
		r, err := updateResources(c)
		if err != nil {
			return err
		}
		ctr, err := loadContainer(c)
		if err != nil {
			return err
		}
		defer ctr.Close()
		return ctr.Update(r)
	},
}

func updateResources(c *cli.Context) (*specs.LinuxResources, error) {
	r := &specs.LinuxResources{}
	if path := c.String("resources"); path != "" {
		var in io.Reader = os.Stdin
		if path != "-" {
			f, err := os.Open(path)
			if err != nil {
				return nil, fmt.Errorf("--resources: %w", err)
			}
			defer f.Close()
			in = f
		}
		if err := json.NewDecoder(in).Decode(r); err != nil {
			return nil, fmt.Errorf("--resources %s: %w", path, err)
		}
		return r, nil
	}
	if c.String("l3-cache-schema") != "" || c.String("mem-bw-schema") != "" {
		return nil, fmt.Errorf("--l3-cache-schema/--mem-bw-schema: Intel RDT is not available on this host")
	}
	var err error
	i64 := func(flag string, parse func(string) (int64, error)) *int64 {
		v := c.String(flag)
		if v == "" || err != nil {
			return nil
		}
		n, e := parse(v)
		if e != nil {
			err = fmt.Errorf("--%s %q: %w", flag, v, e)
			return nil
		}
		return &n
	}
	u64 := func(flag string) *uint64 {
		p := i64(flag, parseInt)
		if p == nil {
			return nil
		}
		if *p < 0 {
			err = fmt.Errorf("--%s: must not be negative", flag)
			return nil
		}
		v := uint64(*p)
		return &v
	}
	mem := &specs.LinuxMemory{
		Limit: i64("memory", parseSize), Reservation: i64("memory-reservation", parseSize),
		Swap: i64("memory-swap", parseSize),
	}
	if mem.Limit != nil || mem.Reservation != nil || mem.Swap != nil {
		r.Memory = mem
	}
	cpu := &specs.LinuxCPU{
		Shares: u64("cpu-share"), Quota: i64("cpu-quota", parseInt), Period: u64("cpu-period"),
		RealtimeRuntime: i64("cpu-rt-runtime", parseInt), RealtimePeriod: u64("cpu-rt-period"),
		Cpus: c.String("cpuset-cpus"), Mems: c.String("cpuset-mems"),
	}
	if *cpu != (specs.LinuxCPU{}) {
		r.CPU = cpu
	}
	if p := i64("pids-limit", parseInt); p != nil {
		r.Pids = &specs.LinuxPids{Limit: p}
	}
	if w := u64("blkio-weight"); w != nil {
		if *w > math.MaxUint16 {
			return nil, fmt.Errorf("--blkio-weight %d: out of range", *w)
		}
		v := uint16(*w)
		r.BlockIO = &specs.LinuxBlockIO{Weight: &v}
	}
	return r, err
}

func parseInt(s string) (int64, error) { return strconv.ParseInt(s, 10, 64) }

// parseSize parses a byte count with an optional k/m/g/t suffix (binary units, like runc);
// -1 means unlimited.
func parseSize(s string) (int64, error) {
	if s == "-1" {
		return -1, nil
	}
	mult := int64(1)
	t := strings.ToLower(strings.TrimSuffix(strings.ToLower(s), "b"))
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'k':
			mult, t = 1<<10, t[:n-1]
		case 'm':
			mult, t = 1<<20, t[:n-1]
		case 'g':
			mult, t = 1<<30, t[:n-1]
		case 't':
			mult, t = 1<<40, t[:n-1]
		}
	}
	v, err := strconv.ParseInt(t, 10, 64)
	if err != nil || v < 0 || v > math.MaxInt64/mult {
		return 0, fmt.Errorf("not a size")
	}
	return v * mult, nil
}
