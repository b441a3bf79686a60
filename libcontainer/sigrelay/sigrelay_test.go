package sigrelay

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestCaught(t *testing.T) {
	for _, s := range []unix.Signal{unix.SIGHUP, unix.SIGINT, unix.SIGQUIT, unix.SIGTERM, unix.SIGUSR1,
		unix.SIGUSR2, unix.SIGWINCH, unix.SIGPIPE, unix.SIGCONT, unix.SIGTSTP, unix.SIGABRT, 35, 64} {
		if !Caught(s) {
			t.Errorf("Caught(%v) = false, want true", s)
		}
	}
	for _, s := range []unix.Signal{0, unix.SIGKILL, unix.SIGSTOP, unix.SIGSEGV, unix.SIGBUS, unix.SIGFPE,
		unix.SIGILL, unix.SIGTRAP, unix.SIGURG, unix.SIGPROF, unix.SIGCHLD, 32, 33, 34, 65} {
		if Caught(s) {
			t.Errorf("Caught(%v) = true, want false", s)
		}
	}
}

// TestRelay runs in a child process (the handlers stay installed for the life of the
// process): it starts a Relay, sends itself signals whose default effect would end it, and
// checks that each arrives on the channel, in order.
func TestRelay(t *testing.T) {
	if os.Getenv("SIGRELAY_CHILD") == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestRelay$", "-test.v")
		cmd.Env = append(os.Environ(), "SIGRELAY_CHILD=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), "--- PASS: TestRelay") {
			t.Fatalf("child did not run the test:\n%s", out)
		}
		return
	}
	r, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	want := []unix.Signal{unix.SIGTERM, unix.SIGUSR1, unix.SIGHUP, unix.SIGINT, 40, unix.SIGPIPE}
	for _, s := range want {
		if err := unix.Kill(os.Getpid(), s); err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-r.Signals():
			if got != s {
				t.Fatalf("got %v, want %v", got, s)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%v did not arrive", s)
		}
	}
}
