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

// cacheFlagNames wraps the flags of app and of its commands whose type has a wrapper. The
// names are the declared name and aliases: cli.FlagNames would give the same, as none holds
// a comma or a space (TestCacheFlagNames), but through a regexp for each.
func cacheFlagNames(app *cli.App) {
	names := func(name string, aliases []string) []string {
		return append([]string{name}, aliases...)
	}
	wrap := func(flags []cli.Flag) {
		for i, f := range flags {
			if f == cli.HelpFlag {
				// Added by an earlier app.Run (tests run several apps), which looks for it
				// by identity before adding it again.
				continue
			}
			switch f := f.(type) {
			case *cli.BoolFlag:
				flags[i] = boolFlag{f, names(f.Name, f.Aliases)}
			case *cli.StringFlag:
				flags[i] = stringFlag{f, names(f.Name, f.Aliases)}
			case *cli.IntFlag:
				flags[i] = intFlag{f, names(f.Name, f.Aliases)}
			}
		}
	}
	wrap(app.Flags)
	for _, c := range app.Commands {
		wrap(c.Flags)
	}
}
