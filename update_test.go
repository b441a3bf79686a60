package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"512", 512, true},
		{"0", 0, true},
		{"-1", -1, true},
		{"4k", 4 << 10, true},
		{"64m", 64 << 20, true},
		{"64M", 64 << 20, true},
		{"64mb", 64 << 20, true},
		{"64MB", 64 << 20, true},
		{"1g", 1 << 30, true},
		{"2t", 2 << 40, true},
		{"100b", 100, true},
		{"9223372036854775807", 1<<63 - 1, true},
		{"8388607t", 8388607 << 40, true},
		{"x", 0, false},
		{"", 0, false},
		{"m", 0, false},
		{"-2", 0, false},
		{"-1m", 0, false},
		{"1.5g", 0, false},
		{"10 m", 0, false},
		{"64q", 0, false},
		{"8388608t", 0, false},             // 2^63: overflows int64
		{"9223372036854775807k", 0, false}, // overflows int64
		{"9223372036854775808", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseSize(tt.in)
			switch {
			case tt.ok && (err != nil || got != tt.want):
				t.Errorf("parseSize(%q): got %d, %v, want %d", tt.in, got, err, tt.want)
			case !tt.ok && err == nil:
				t.Errorf("parseSize(%q): got %d, want an error", tt.in, got)
			}
		})
	}
}

// runUpdateFlags parses args with update's flags and returns updateResources' result.
func runUpdateFlags(t *testing.T, args ...string) (*specs.LinuxResources, error) {
	t.Helper()
	var r *specs.LinuxResources
	var uerr error
	app := &cli.App{
		Name:   "update",
		Flags:  updateCommand.Flags,
		Action: func(c *cli.Context) error { r, uerr = updateResources(c); return nil },
	}
	if err := app.Run(append([]string{"update"}, args...)); err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	return r, uerr
}

func TestUpdateResources(t *testing.T) {
	dir := t.TempDir()
	resFile := filepath.Join(dir, "r.json")
	if err := os.WriteFile(resFile, []byte(`{"memory": {"limit": 1048576}, "pids": {"limit": 10}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	badFile := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(badFile, []byte(`{"memory": `), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string // the result as JSON; "" when an error naming errWant is expected
		err  string
	}{
		{"nothing", nil, `{}`, ""},
		{"memory", []string{"--memory", "64m", "--memory-swap", "-1", "--memory-reservation", "32m"},
			`{"memory":{"limit":67108864,"reservation":33554432,"swap":-1}}`, ""},
		{"cpu", []string{"--cpu-quota", "-1", "--cpu-period", "100000", "--cpu-share", "512", "--cpuset-cpus", "0-1", "--cpuset-mems", "0"},
			`{"cpu":{"shares":512,"quota":-1,"period":100000,"cpus":"0-1","mems":"0"}}`, ""},
		{"realtime", []string{"--cpu-rt-runtime", "950000", "--cpu-rt-period", "1000000"},
			`{"cpu":{"realtimeRuntime":950000,"realtimePeriod":1000000}}`, ""},
		{"pids unlimited", []string{"--pids-limit", "-1"}, `{"pids":{"limit":-1}}`, ""},
		{"blkio weight", []string{"--blkio-weight", "500"}, `{"blockIO":{"weight":500}}`, ""},
		{"resources file", []string{"--resources", resFile}, `{"memory":{"limit":1048576},"pids":{"limit":10}}`, ""},

		{"bad memory", []string{"--memory", "lots"}, "", "--memory"},
		{"negative shares", []string{"--cpu-share", "-5"}, "", "--cpu-share"},
		{"bad quota", []string{"--cpu-quota", "1.5"}, "", "--cpu-quota"},
		{"blkio weight above uint16", []string{"--blkio-weight", "70000"}, "", "--blkio-weight"},
		{"missing resources file", []string{"--resources", filepath.Join(dir, "none.json")}, "", "--resources"},
		{"bad resources file", []string{"--resources", badFile}, "", "--resources"},
		{"intel rdt", []string{"--l3-cache-schema", "L3:0=f"}, "", "Intel RDT"},
		{"first error wins", []string{"--memory", "x", "--cpu-share", "-1"}, "", "--memory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := runUpdateFlags(t, tt.args...)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("got %v, want an error naming %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want %s", err, tt.want)
			}
			b, _ := json.Marshal(r)
			if string(b) != tt.want {
				t.Errorf("got:  %s\nwant: %s", b, tt.want)
			}
		})
	}
}
