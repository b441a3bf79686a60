package integration

// Shared helpers of the adversarial tests (security_*_test.go). Each attack points only at
// files and directories the test owns and checks afterwards, never at a real host procfs file:
// a vulnerable runtime must harm nothing but the test's own fixtures.

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/husk-runtime/husk/tests/testutil"
)

// secRun runs the runtime binary bin with --root b.Root and args; files become its fds
// 3, 4, ... (exec.Cmd.ExtraFiles). It fails the test after 30s.
func secRun(t *testing.T, bin string, b *testutil.Bundle, files []*os.File, args ...string) testutil.Result {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"--root", b.Root}, args...)...)
	cmd.Dir = b.Dir
	// Files, not pipes: a created container keeps the runtime's stdio open.
	dir := t.TempDir()
	outF, err := os.Create(filepath.Join(dir, "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	defer outF.Close()
	errF, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer errF.Close()
	cmd.Stdout, cmd.Stderr, cmd.ExtraFiles = outF, errF, files
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("%s %v: timed out after 30s", bin, args)
	}
	out, _ := os.ReadFile(outF.Name())
	errb, _ := os.ReadFile(errF.Name())
	return testutil.Result{Stdout: string(out), Stderr: string(errb), Code: cmd.ProcessState.ExitCode()}
}

// secHostDir makes a directory the test owns, standing for a host path an attack aims at, with
// one marker file in it; check(t) fails t if anything in it changed or anything got mounted
// on or under it.
func secHostDir(t *testing.T) (dir string, check func()) {
	t.Helper()
	dir = t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "host-marker"), []byte("host data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := secSnapshot(t, dir)
	return dir, func() {
		t.Helper()
		if after := secSnapshot(t, dir); after != before {
			t.Errorf("host directory %s changed:\nbefore:\n%s\nafter:\n%s", dir, before, after)
		}
		if m := secHostMounts(t, dir); len(m) > 0 {
			t.Errorf("mounts appeared on the host under %s: %v", dir, m)
		}
	}
}

// secSnapshot lists every entry under dir with its type, mode and content hash.
func secSnapshot(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		line := strings.TrimPrefix(p, dir) + " " + fi.Mode().String()
		switch {
		case fi.Mode().IsRegular():
			line += " " + secHash(t, p)
		case fi.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			line += " -> " + l
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatalf("snapshot %s: %v", dir, err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// secHash is the hex SHA-256 of a file's content.
func secHash(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("hash %s: %v", path, err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// secHostMounts returns the mount points of the test's own mount namespace at or under dir.
func secHostMounts(t *testing.T, dir string) []string {
	t.Helper()
	return secMountsUnder(t, "/proc/self/mountinfo", dir)
}

// secMountsUnder returns the mount points in a mountinfo file at or under dir.
func secMountsUnder(t *testing.T, mountinfo, dir string) []string {
	t.Helper()
	b, err := os.ReadFile(mountinfo)
	if err != nil {
		t.Fatalf("read %s: %v", mountinfo, err)
	}
	var out []string
	s := bufio.NewScanner(bytes.NewReader(b))
	for s.Scan() {
		f := strings.Fields(s.Text())
		if len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			out = append(out, f[4])
		}
	}
	return out
}
