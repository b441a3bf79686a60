package main

import "github.com/urfave/cli/v2"

// urfave/cli asks every flag of a command for its names through a regexp, and does so
// O(n²) times per invocation (runFlagActions → IsSet → lookupFlag for each flag): about
// 0.15 ms of `husk run` and `husk create`, whose commands have 20 flags. The wrappers below
// answer Names from a copy made once; everything else is the wrapped flag's own.
type (
	boolFlag struct {
		*cli.BoolFlag
		names []string
	}
	stringFlag struct {
		*cli.StringFlag
		names []string
	}
	intFlag struct {
		*cli.IntFlag
		names []string
	}
)

func (f boolFlag) Names() []string   { return f.names }
func (f stringFlag) Names() []string { return f.names }
func (f intFlag) Names() []string    { return f.names }

// cacheFlagNames wraps the flags of app and of its commands whose type has a wrapper.
func cacheFlagNames(app *cli.App) {
	wrap := func(flags []cli.Flag) {
		for i, f := range flags {
			switch f := f.(type) {
			case *cli.BoolFlag:
				flags[i] = boolFlag{f, f.Names()}
			case *cli.StringFlag:
				flags[i] = stringFlag{f, f.Names()}
			case *cli.IntFlag:
				flags[i] = intFlag{f, f.Names()}
			}
		}
	}
	wrap(app.Flags)
	for _, c := range app.Commands {
		wrap(c.Flags)
	}
}
