package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// TestCacheFlagNames: every flag of every command answers the names it was declared with,
// and flags still parse and reach the command (here --bundle and --pid-file of create).
func TestCacheFlagNames(t *testing.T) {
	app := newApp()
	wrapped := 0
	for _, c := range append([]*cli.Command{{Name: "(global)", Flags: app.Flags}}, app.Commands...) {
		for _, f := range c.Flags {
			if f == cli.HelpFlag {
				continue // left as it is (cacheFlagNames)
			}
			var want []string
			switch f := f.(type) {
			case boolFlag:
				want, wrapped = f.BoolFlag.Names(), wrapped+1
			case stringFlag:
				want, wrapped = f.StringFlag.Names(), wrapped+1
			case intFlag:
				want, wrapped = f.IntFlag.Names(), wrapped+1
			case *cli.BoolFlag, *cli.StringFlag, *cli.IntFlag:
				t.Errorf("%s: flag %v not wrapped", c.Name, f.Names())
				continue
			default:
				continue
			}
			if !slices.Equal(f.Names(), want) {
				t.Errorf("%s: Names() = %v, want %v", c.Name, f.Names(), want)
			}
		}
	}
	if wrapped < 50 {
		t.Errorf("only %d flags wrapped", wrapped)
	}
	// Parsing: --bundle reaches create, which then fails on the missing directory.
	app.ExitErrHandler = func(*cli.Context, error) {}
	err := app.Run([]string{"husk", "--root", t.TempDir(), "create", "--bundle", "/nonexistent-bundle", "--pid-file", "/p", "c1"})
	if err == nil || !strings.Contains(err.Error(), "--bundle") {
		t.Errorf("create --bundle /nonexistent-bundle: got %v, want an error about --bundle", err)
	}
	// A second newApp (its flags wrapped already) changes nothing.
	cacheFlagNames(app)
	if _, ok := app.Flags[0].(stringFlag); !ok {
		t.Errorf("global --root: %T after a second cacheFlagNames", app.Flags[0])
	}
}
