package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const fakeRuntime = `#!/bin/sh
[ "$1" = --root ] || exit 2
root=$2; shift 2
cmd=$1
for last; do :; done
case $cmd in
create) mkdir -p "$root/$last" ;;
delete) rm -rf "$root/$last"; echo "$last" >> "$FAKE_LOG" ;;
esac
`

// fakeProgram behaves like a badly behaved validation program: it leaves a
// container, a mount, an orphan and a cgroup with a process in it.
const fakeProgram = `#!/bin/sh
set -e
echo "TAP version 13"
"$RUNTIME" create --bundle "$TMPDIR/b" ctr-1
mkdir -p "$TMPDIR/m" && mount -t tmpfs tmpfs "$TMPDIR/m"
setsid sleep 300 </dev/null >/dev/null 2>&1 &
mkdir -p "$FAKE_CG/cgrouptest"
sh -c 'echo $$ > "$FAKE_CG/cgrouptest/cgroup.procs"; exec sleep 300' </dev/null >/dev/null 2>&1 &
sleep 0.2
echo "ok 1 - left a mess"
echo "1..1"
`

func writeExec(t *testing.T, path, body string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func testConfig(t *testing.T) execConfig {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	dir := t.TempDir()
	return execConfig{
		runtime:     writeExec(t, filepath.Join(dir, "fake-runtime"), fakeRuntime),
		work:        filepath.Join(dir, "work"),
		results:     filepath.Join(dir, "results"),
		runtimetest: writeExec(t, filepath.Join(dir, "runtimetest"), "#!/bin/sh\n"),
		rootfs:      writeExec(t, filepath.Join(dir, "rootfs.tar.gz"), ""),
		timeout:     20 * time.Second,
		isolate:     true,
	}
}

func TestExecOneCleansUp(t *testing.T) {
	cfg := testConfig(t)
	hs, err := hostHierarchies()
	if err != nil {
		t.Fatal(err)
	}
	var cg string
	for _, h := range hs {
		if filepath.Base(h.mountpoint) == "pids" {
			cg = filepath.Join(h.mountpoint, h.own, suiteRelCgroup)
		}
	}
	if cg == "" {
		t.Skip("no v1 pids hierarchy")
	}
	if _, err := os.Stat(cg); err == nil {
		t.Skipf("%s exists already", cg)
	}
	t.Cleanup(func() { _, _ = removeCgroupTree(cg, reapAll); killOrphans(time.Second) })
	log := filepath.Join(t.TempDir(), "deleted")
	t.Setenv("FAKE_LOG", log)
	t.Setenv("FAKE_CG", cg)
	prog := writeExec(t, filepath.Join(t.TempDir(), "messy"), fakeProgram)

	var out bytes.Buffer
	res, err := execOne(cfg, prog, &out)
	if err != nil {
		t.Fatalf("execOne: %v", err)
	}
	if !res.TAP.OK() || res.TAP.Passed != 1 {
		t.Errorf("tap = %+v, want one passing point\n%s", res.TAP, out.String())
	}
	if b, _ := os.ReadFile(log); strings.TrimSpace(string(b)) != "ctr-1" {
		t.Errorf("runtime deleted %q, want ctr-1", b)
	}
	if _, err := os.Stat(cg); !os.IsNotExist(err) {
		t.Errorf("cgroup %s still there (err %v)", cg, err)
	}
	if kids := childrenOf(os.Getpid()); len(kids) != 0 {
		t.Errorf("processes left: %v", kids)
	}
	if _, err := os.Stat(filepath.Join(cfg.work, "messy")); !os.IsNotExist(err) {
		t.Errorf("work dir left (err %v)", err)
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mi), cfg.work) {
		t.Errorf("mount under %s leaked into the harness namespace", cfg.work)
	}
	joined := strings.Join(res.Cleanup, "\n")
	for _, want := range []string{"container ctr-1", "orphaned", "cgroup " + cg} {
		if !strings.Contains(joined, want) {
			t.Errorf("cleanup report lacks %q: %q", want, res.Cleanup)
		}
	}
	if len(res.Problems) > 0 {
		t.Errorf("cleanup problems: %q", res.Problems)
	}
}

func TestExecOneTimeout(t *testing.T) {
	cfg := testConfig(t)
	cfg.timeout = 500 * time.Millisecond
	prog := writeExec(t, filepath.Join(t.TempDir(), "hang"), "#!/bin/sh\necho 'TAP version 13'\nsleep 300\n")
	start := time.Now()
	var out bytes.Buffer
	res, err := execOne(cfg, prog, &out)
	if err != nil {
		t.Fatalf("execOne: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %s despite the timeout", d)
	}
	if !res.TimedOut || res.TAP.OK() || !strings.Contains(out.String(), "timed out after 500ms") {
		t.Errorf("result %+v, tap:\n%s", res, out.String())
	}
}
