package main

import (
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseSignal(t *testing.T) {
	tests := []struct {
		in   string
		want unix.Signal // 0: rejected
	}{
		{"KILL", unix.SIGKILL},
		{"SIGKILL", unix.SIGKILL},
		{"kill", unix.SIGKILL},
		{"sigterm", unix.SIGTERM},
		{"Hup", unix.SIGHUP},
		{"USR1", unix.SIGUSR1},
		{"WINCH", unix.SIGWINCH},
		{"9", unix.SIGKILL},
		{"15", unix.SIGTERM},
		{"1", unix.SIGHUP},
		{"34", unix.Signal(34)}, // SIGRTMIN
		{"64", unix.Signal(64)}, // SIGRTMAX
		{"0", 0},
		{"65", 0},
		{"-9", 0},
		{"FOO", 0},
		{"SIGFOO", 0},
		{"", 0},
		{"SIG", 0},
		{"9x", 0},
		{"SIGSIGKILL", 0},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseSignal(tt.in)
			switch {
			case tt.want == 0 && err == nil:
				t.Errorf("parseSignal(%q): got %v, want an error", tt.in, got)
			case tt.want == 0 && !strings.Contains(err.Error(), "signal"):
				t.Errorf("parseSignal(%q): got error %q, want one naming the signal", tt.in, err)
			case tt.want != 0 && (err != nil || got != tt.want):
				t.Errorf("parseSignal(%q): got %v, %v, want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestExitCode(t *testing.T) {
	tests := []struct {
		name string
		ws   unix.WaitStatus // as wait4(2) fills it in
		want int
	}{
		{"exit 0", 0, 0},
		{"exit 1", 1 << 8, 1},
		{"exit 42", 42 << 8, 42},
		{"exit 255", 255 << 8, 255},
		{"SIGKILL", unix.WaitStatus(unix.SIGKILL), 137},
		{"SIGTERM", unix.WaitStatus(unix.SIGTERM), 143},
		{"SIGSEGV with core", unix.WaitStatus(unix.SIGSEGV) | 0x80, 139},
		{"SIGHUP", unix.WaitStatus(unix.SIGHUP), 129},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := exitCode(tt.ws); got != tt.want {
				t.Errorf("exitCode(%#x): got %d, want %d", uint32(tt.ws), got, tt.want)
			}
		})
	}
}

// TestHelpIsAContainerID: "h" and "help" after a command are container IDs, as in runc, not
// requests for help; --help still shows it.
func TestHelpIsAContainerID(t *testing.T) {
	root := t.TempDir()
	for _, id := range []string{"h", "help"} {
		for _, cmd := range []string{"state", "delete", "start", "kill"} {
			app := newApp()
			err := app.Run([]string{"husk", "--root", root, cmd, id})
			if err == nil || !strings.Contains(err.Error(), `"`+id+`"`) || !strings.Contains(err.Error(), "does not exist") {
				t.Errorf("husk %s %s: %v, want container %q does not exist", cmd, id, err, id)
			}
		}
	}
	var out strings.Builder
	app := newApp()
	app.Writer = &out
	if err := app.Run([]string{"husk", "--root", root, "state", "--help"}); err != nil || !strings.Contains(out.String(), "husk state") {
		t.Errorf("husk state --help: %v, output %q", err, out.String())
	}
}

// TestArgCounts: every command has an argument count, and a wrong count fails naming the
// command, as runc's do, before the command does anything.
func TestArgCounts(t *testing.T) {
	app := newApp()
	for _, c := range app.Commands {
		if _, ok := argCounts[c.Name]; !ok {
			t.Errorf("command %q has no entry in argCounts", c.Name)
		}
	}
	root := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"delete", "a", "b"}, `"delete" requires exactly 1 argument(s), got 2`},
		{[]string{"state"}, `"state" requires exactly 1 argument(s), got 0`},
		{[]string{"list", "x"}, `"list" requires exactly 0 argument(s), got 1`},
		{[]string{"exec"}, `"exec" requires a minimum of 1 argument(s), got 0`},
		{[]string{"kill", "a", "KILL", "x"}, `"kill" requires a maximum of 2 argument(s), got 3`},
		{[]string{"spec", "x"}, `"spec" requires exactly 0 argument(s), got 1`},
	} {
		err := newApp().Run(append([]string{"husk", "--root", root}, c.args...))
		if err == nil || err.Error() != c.want {
			t.Errorf("husk %v: %v, want %s", c.args, err, c.want)
		}
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("wrong argument counts left %v in the state root", entries)
	}
}
