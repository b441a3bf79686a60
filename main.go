// Command husk is a low-level OCI container runtime, command-line compatible with runc.
//
// husk is short-lived and runs twice per container (the CLI and `husk init`), so the Go
// runtime must not spend its start-up reading cgroup limits to size GOMAXPROCS.
//
//go:debug containermaxprocs=0
//go:debug updatemaxprocs=0
package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"

	"github.com/husk-runtime/husk/libcontainer/seccomp"
)

// version and commit are set by the Makefile with -ldflags -X.
var (
	version = "0.1.0-dev"
	commit  = "unknown"
)

const usage = `a low-level OCI container runtime, compatible with runc

husk runs containers from OCI bundles (a directory with config.json and a root
filesystem). Engines call it like runc; people can too:

    husk spec && husk run mycontainer`

func main() {
	app := newApp()
	if err := app.Run(os.Args); err != nil {
		fatal(err)
	}
}

func newApp() *cli.App {
	app := &cli.App{
		Name:                 "husk",
		Usage:                usage,
		Version:              version,
		EnableBashCompletion: false,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "root", Value: "/run/husk", Usage: "directory for container state (tmpfs recommended)"},
			&cli.StringFlag{Name: "log", Usage: "log file (default: stderr)"},
			&cli.StringFlag{Name: "log-format", Value: "text", Usage: "log format: text or json"},
			&cli.BoolFlag{Name: "debug", Usage: "log debug messages"},
			&cli.BoolFlag{Name: "systemd-cgroup", Usage: "manage cgroups with systemd (cgroupsPath is slice:prefix:name)"},
			&cli.StringFlag{Name: "rootless", Value: "auto", Usage: "rootless mode: true, false or auto"},
			&cli.StringFlag{Name: "criu", Value: "criu", Usage: "path to the criu binary"},
		},
		Before: setupLogging,
		Commands: []*cli.Command{
			createCommand, startCommand, runCommand, execCommand, killCommand, deleteCommand,
			stateCommand, listCommand, psCommand, pauseCommand, resumeCommand, updateCommand,
			eventsCommand, specCommand, featuresCommand, checkpointCommand, restoreCommand,
		},
		// Errors are reported once, by fatal.
		ExitErrHandler: func(*cli.Context, error) {},
	}
	cacheFlagNames(app)
	for _, c := range app.Commands {
		// urfave/cli gives every command a "help" subcommand, also called "h": `husk state h`
		// would print help instead of the state of container "h". runc's commands have none;
		// --help still works.
		c.HideHelpCommand = true
		c.Before = checkArgs
	}
	cli.VersionPrinter = func(c *cli.Context) {
		fmt.Printf("husk version %s\ncommit: %s\nspec: %s\ngo: %s\nlibseccomp: %s\n",
			version, commit, specs.Version, runtime.Version(), seccomp.Version())
	}
	return app
}

// logOutput is where --log points; fatal writes the final error there too.
var logOutput io.Writer = os.Stderr

func setupLogging(c *cli.Context) error {
	var out io.Writer = os.Stderr
	if p := c.String("log"); p != "" {
		f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_SYNC, 0o644)
		if err != nil {
			return fmt.Errorf("--log %s: %w", p, err)
		}
		out = f
	}
	logOutput = out
	level := slog.LevelInfo
	if c.Bool("debug") {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: logAttr}
	var h slog.Handler
	switch c.String("log-format") {
	case "json":
		h = slog.NewJSONHandler(out, opts)
	case "text", "":
		h = slog.NewTextHandler(out, opts)
	default:
		return fmt.Errorf("--log-format %q: must be text or json", c.String("log-format"))
	}
	slog.SetDefault(slog.New(h))
	return nil
}

// logAttr spells levels and keys the way containerd's shim and podman parse runc's logs:
// {"level":"error","msg":"...","time":"..."}.
func logAttr(_ []string, a slog.Attr) slog.Attr {
	switch a.Key {
	case slog.LevelKey:
		return slog.String("level", strings.ToLower(a.Value.String()))
	case slog.TimeKey:
		return slog.String("time", a.Value.Time().Format(time.RFC3339Nano))
	}
	return a
}

// exitError carries a specific exit code (run/exec return the container's).
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// fatal is the one error path: the message on stderr and as an error line in the log.
func fatal(err error) {
	var ee *exitError
	if errors.As(err, &ee) {
		os.Exit(ee.code)
	}
	logError(err)
	fmt.Fprintln(os.Stderr, "husk:", err)
	os.Exit(1)
}

// logError writes err as an error line to --log when it is a file (stderr gets it anyway).
func logError(err error) {
	if logOutput != os.Stderr {
		slog.Error(err.Error())
	}
}
