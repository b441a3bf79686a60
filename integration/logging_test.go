package integration

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/tests/testutil"
)

func TestPidFileAndStateFields(t *testing.T) {
	testutil.RequireRoot(t)
	b := testutil.NewBundle(t, func(s *specs.Spec) { s.Process.Args = []string{"/bin/sleep", "60"} })
	before := time.Now().Add(-time.Second)
	pid := b.Create()
	if err := unix.Kill(pid, 0); err != nil {
		t.Fatalf("pid file names %d, which is not alive: %v", pid, err)
	}
	st := b.State()
	if int(st["pid"].(float64)) != pid {
		t.Errorf("state pid %v, pid file %d", st["pid"], pid)
	}
	if st["rootfs"] != b.Rootfs {
		t.Errorf("state rootfs: got %v, want %s", st["rootfs"], b.Rootfs)
	}
	if st["owner"] != "" {
		t.Errorf("state owner: got %q, want \"\" (root)", st["owner"])
	}
	created, err := time.Parse(time.RFC3339Nano, fmt.Sprint(st["created"]))
	if err != nil || created.Before(before) || created.After(time.Now()) {
		t.Errorf("state created: %v (%v), want a time during create", st["created"], err)
	}
	if v, _ := st["ociVersion"].(string); !strings.HasPrefix(v, "1.") {
		t.Errorf("state ociVersion: %q", v)
	}
	// Status follows the process: created -> running -> stopped.
	if got := b.Status(); got != "created" {
		t.Errorf("status after create: %q", got)
	}
	b.MustHusk("start", b.ID)
	if got := b.Status(); got != "running" {
		t.Errorf("status after start: %q", got)
	}
	// Killed from outside the runtime: the status is derived from the process, not a file.
	if err := unix.Kill(pid, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	b.WaitStatus("stopped", 5*time.Second)
}

// TestPidfdSocket: --pidfd-socket receives a pidfd of the init (runc 1.2; 1.1 lacks the flag).
func TestPidfdSocket(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireHusk(t)
	b := testutil.NewBundle(t, func(s *specs.Spec) { s.Process.Args = []string{"/bin/sleep", "60"} })
	path := filepath.Join(t.TempDir(), "pidfd.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := make(chan *os.File, 1)
	go func() {
		f, err := receiveFd(l)
		if err != nil {
			t.Errorf("pidfd socket: %v", err)
		}
		got <- f
	}()
	pid := b.Create("--pidfd-socket", path)
	var f *os.File
	select {
	case f = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("no pidfd within 10s")
	}
	if f == nil {
		return
	}
	defer f.Close()
	if link, _ := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", f.Fd())); link != "anon_inode:[pidfd]" {
		t.Errorf("received fd is %q, want a pidfd", link)
	}
	info, _ := os.ReadFile(fmt.Sprintf("/proc/self/fdinfo/%d", f.Fd()))
	if !strings.Contains(string(info), fmt.Sprintf("Pid:\t%d\n", pid)) {
		t.Errorf("pidfd fdinfo %q, want Pid: %d", info, pid)
	}
	// It works: a signal through it kills the container.
	b.MustHusk("start", b.ID)
	if err := unix.PidfdSendSignal(int(f.Fd()), unix.SIGKILL, nil, 0); err != nil {
		t.Fatalf("pidfd_send_signal: %v", err)
	}
	b.WaitStatus("stopped", 5*time.Second)
}

// TestConcurrentCommands: commands on one ID are serialised; racing delete -f and kill end
// with the container gone and only ordinary errors.
func TestConcurrentCommands(t *testing.T) {
	testutil.RequireRoot(t)
	b := testutil.NewBundle(t, func(s *specs.Spec) { s.Process.Args = []string{"/bin/sleep", "60"} })
	pid := startSleeper(t, b)
	var wg sync.WaitGroup
	results := make([]testutil.Result, 10)
	for i := range results {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if i%2 == 0 {
				results[i] = b.Husk("delete", "--force", b.ID)
			} else {
				results[i] = b.Husk("kill", b.ID, "KILL")
			}
		}(i)
	}
	wg.Wait()
	for i, r := range results {
		if strings.Contains(r.Stderr, "panic") || strings.Contains(r.Stderr, "JSON") || strings.Contains(r.Stderr, "json") {
			t.Errorf("command %d: exit %d, stderr %q", i, r.Code, r.Stderr)
		}
		if i%2 == 0 && r.Code != 0 {
			t.Errorf("delete --force %d: exit %d, stderr %q", i, r.Code, r.Stderr)
		}
	}
	if st := b.Status(); st != "" {
		t.Errorf("status after the race: %q, want the container gone", st)
	}
	if _, err := os.Stat(filepath.Join(b.Root, b.ID)); err == nil {
		t.Error("state dir left behind")
	}
	var ws unix.WaitStatus
	_, _ = unix.Wait4(pid, &ws, 0, nil)
	if err := unix.Kill(pid, 0); err == nil {
		t.Errorf("container process %d still alive", pid)
	}
}

// logLines reads a --log-format json log: one JSON object a line.
func logLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("log file: %v", err)
	}
	defer f.Close()
	var out []map[string]any
	s := bufio.NewScanner(f)
	for s.Scan() {
		var m map[string]any
		if err := json.Unmarshal(s.Bytes(), &m); err != nil {
			t.Errorf("log line %q is not JSON: %v", s.Text(), err)
			continue
		}
		out = append(out, m)
	}
	return out
}

// TestLogJSONError: a failing create writes {"level":"error","msg":...,"time":...} to --log,
// where containerd's shim and podman read it.
func TestLogJSONError(t *testing.T) {
	testutil.RequireRoot(t)
	for _, tc := range []struct {
		name string
		prep func(*testutil.Bundle) string // returns the --bundle argument
		want string                        // in msg
	}{
		{"missing executable", func(b *testutil.Bundle) string {
			b.Spec.Process.Args = []string{"/no/such/exe"}
			b.WriteSpec()
			return b.Dir
		}, "/no/such/exe"},
		{"missing bundle", func(b *testutil.Bundle) string { return filepath.Join(b.Dir, "nonexistent") }, "nonexistent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := testutil.NewBundle(t, nil)
			bundle := tc.prep(b)
			logPath := filepath.Join(t.TempDir(), "log.json")
			r := b.Husk("--log", logPath, "--log-format", "json", "create", "--bundle", bundle, b.ID)
			if r.Code == 0 {
				t.Fatal("create succeeded")
			}
			var errLine map[string]any
			for _, l := range logLines(t, logPath) {
				if l["level"] == "error" {
					errLine = l
				}
			}
			if errLine == nil {
				t.Fatalf("no error line in the log; stderr %q", r.Stderr)
			}
			msg, _ := errLine["msg"].(string)
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error msg %q, want it to mention %q", msg, tc.want)
			}
			if _, err := time.Parse(time.RFC3339, fmt.Sprint(errLine["time"])); err != nil {
				t.Errorf("time %v: %v", errLine["time"], err)
			}
		})
	}
}

// TestUnreadableBundle: a bundle that is no directory, or a config.json that cannot be read,
// fails create cleanly, naming what is wrong.
func TestUnreadableBundle(t *testing.T) {
	testutil.RequireRoot(t)
	t.Run("bundle is a file", func(t *testing.T) {
		b := testutil.NewBundle(t, nil)
		file := filepath.Join(b.Dir, "config.json")
		r := b.Husk("create", "--bundle", file, b.ID)
		if r.Code == 0 {
			t.Fatal("create with a file as the bundle succeeded")
		}
		if testutil.IsHusk() && !strings.Contains(r.Stderr, file) {
			t.Errorf("error %q, want it to name %s", r.Stderr, file)
		}
		if _, err := os.Stat(filepath.Join(b.Root, b.ID)); err == nil {
			t.Error("state dir left behind")
		}
	})
	t.Run("config.json is a directory", func(t *testing.T) {
		b := testutil.NewBundle(t, nil)
		cfg := filepath.Join(b.Dir, "config.json")
		if err := os.Remove(cfg); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(cfg, 0o755); err != nil {
			t.Fatal(err)
		}
		expectCreateFails(t, b, "config.json")
	})
}
