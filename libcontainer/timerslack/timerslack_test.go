package timerslack

import (
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func slack(t *testing.T) uint64 {
	t.Helper()
	n, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	return uint64(n)
}

// TestWidened: the constructor of this test binary widened the slack of the thread the Go
// runtime started on, and so of every thread.
func TestWidened(t *testing.T) {
	if Original() == 0 {
		t.Skip("the test started with a timer slack of at least Wide: nothing to widen")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if got := slack(t); got != Wide {
		t.Errorf("slack of a thread of this process: %d, want %d", got, Wide)
	}
}

// TestFork: start runs with the original slack, a child started there inherits it, and
// the thread is widened again afterwards.
func TestFork(t *testing.T) {
	if Original() == 0 {
		t.Skip("the test started with a timer slack of at least Wide: Fork changes nothing")
	}
	runtime.LockOSThread() // Fork's own lock nests in this one: the same thread after it
	defer runtime.UnlockOSThread()
	var inside uint64
	var child string
	err := Fork(func() error {
		inside = slack(t)
		out, err := exec.Command("cat", "/proc/self/timerslack_ns").Output()
		child = strings.TrimSpace(string(out))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if inside != Original() {
		t.Errorf("slack inside Fork: %d, want the original %d", inside, Original())
	}
	if child != strconv.FormatUint(Original(), 10) {
		t.Errorf("slack of a child started inside Fork: %s, want %d", child, Original())
	}
	if got := slack(t); got != Wide {
		t.Errorf("slack after Fork: %d, want %d", got, Wide)
	}
	want := errors.New("start failed")
	if err := Fork(func() error { return want }); !errors.Is(err, want) {
		t.Errorf("Fork returned %v, want start's error", err)
	}
}

// TestInitKeepsSlack: with the sync socket named (`husk init`), the constructor leaves the
// slack alone, as the process becomes the container's.
func TestInitKeepsSlack(t *testing.T) {
	if os.Getenv("_HUSK_SYNCFD") != "" {
		if Original() != 0 {
			os.Exit(3)
		}
		os.Exit(0)
	}
	if Original() == 0 {
		t.Skip("the test started with a timer slack of at least Wide: nothing would be widened")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestInitKeepsSlack$")
	cmd.Env = append(os.Environ(), "_HUSK_SYNCFD=99")
	if err := Fork(cmd.Run); err != nil { // with the original slack, which would be widened
		t.Fatalf("child with _HUSK_SYNCFD set: %v (exit 3: the constructor widened the slack)", err)
	}
}
