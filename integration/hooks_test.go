package integration

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/husk-runtime/husk/tests/testutil"
)

// hookEnv is the environment of every test hook: hooks inherit nothing.
var hookEnv = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}

// writeHook writes an executable shell script at path.
func writeHook(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
}

// recordHook is a hook body that saves the state JSON from stdin in $1 and the mount
// namespace the hook runs in in $1.ns.
const recordHook = `cat > "$1"
readlink /proc/self/ns/mnt > "$1.ns"
`

// setHooks sets hook list name of s to hs.
func setHooks(s *specs.Spec, name string, hs ...specs.Hook) {
	if s.Hooks == nil {
		s.Hooks = &specs.Hooks{}
	}
	switch name {
	case "prestart":
		s.Hooks.Prestart = hs //nolint:staticcheck // deprecated, still run
	case "createRuntime":
		s.Hooks.CreateRuntime = hs
	case "createContainer":
		s.Hooks.CreateContainer = hs
	case "startContainer":
		s.Hooks.StartContainer = hs
	case "poststart":
		s.Hooks.Poststart = hs
	case "poststop":
		s.Hooks.Poststop = hs
	default:
		panic("unknown hook list " + name)
	}
}

func readState(t *testing.T, path string) *specs.State {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("hook marker: %v", err)
	}
	var st specs.State
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatalf("hook marker %s: state %q: %v", path, data, err)
	}
	return &st
}

func readTrim(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

// TestHookStages runs one container per hook stage: the hook records the state it got on
// stdin and its mount namespace; the container prints its own mount namespace and whether
// it sees the file the hook wrote into its /tmp (a tmpfs only the container's mount
// namespace has).
func TestHookStages(t *testing.T) {
	testutil.RequireRoot(t)
	hostNS := mustReadlink(t, "/proc/self/ns/mnt")
	for _, tc := range []struct {
		stage     string
		container bool   // runs in the container's namespaces
		status    string // state.status the hook must see
	}{
		{"prestart", false, "creating"},
		{"createRuntime", false, "creating"},
		{"createContainer", true, "creating"},
		{"startContainer", true, "created"},
		{"poststart", false, "running"},
		{"poststop", false, "stopped"},
	} {
		t.Run(tc.stage, func(t *testing.T) {
			var marker string
			b := testutil.NewBundle(t, func(s *specs.Spec) {
				s.Mounts = append(s.Mounts, specs.Mount{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev"}})
				s.Process.Args = []string{"/bin/sh", "-c", "readlink /proc/self/ns/mnt; cat /tmp/seen 2>/dev/null || echo unseen"}
			})
			h := specs.Hook{Env: hookEnv}
			switch tc.stage {
			case "createContainer":
				// Before pivot_root: paths resolve from the host's root, in the
				// container's mount namespace, where <rootfs>/tmp is its tmpfs.
				h.Path = filepath.Join(b.Rootfs, "hook.sh")
				marker = filepath.Join(b.Dir, "marker")
				writeHook(t, h.Path, recordHook+"echo seen > "+filepath.Join(b.Rootfs, "tmp", "seen")+"\n")
				h.Args = []string{h.Path, marker}
			case "startContainer":
				// After pivot_root: a script of the container's, run with its busybox.
				writeHook(t, filepath.Join(b.Rootfs, "hook.sh"), recordHook+"echo seen > /tmp/seen\n")
				h.Path, h.Args = "/hook.sh", []string{"/hook.sh", "/marker"}
				marker = filepath.Join(b.Rootfs, "marker")
			default:
				h.Path = filepath.Join(b.Dir, "hook.sh")
				marker = filepath.Join(b.Dir, "marker")
				writeHook(t, h.Path, recordHook)
				h.Args = []string{h.Path, marker}
			}
			setHooks(b.Spec, tc.stage, h)
			b.WriteSpec()
			pidFile := filepath.Join(b.Dir, "pid")
			r := b.Husk("run", "--bundle", b.Dir, "--pid-file", pidFile, b.ID)
			if r.Code != 0 {
				t.Fatalf("run: exit %d: %s", r.Code, r.Stderr)
			}
			out := strings.Fields(r.Stdout)
			if len(out) != 2 {
				t.Fatalf("container output %q: want its mount namespace and the seen marker", r.Stdout)
			}
			ctrNS, seen := out[0], out[1]
			pid, err := strconv.Atoi(readTrim(t, pidFile))
			if err != nil {
				t.Fatal(err)
			}

			st := readState(t, marker)
			if st.ID != b.ID || st.Bundle != b.Dir || st.Version == "" {
				t.Errorf("state: id %q bundle %q version %q, want %q %q and a version", st.ID, st.Bundle, st.Version, b.ID, b.Dir)
			}
			wantPid := pid
			if tc.stage == "poststop" {
				wantPid = 0 // the container has no process any more
			}
			// runc 1.1.5 gives container-side hooks the pid inside the container's pid
			// namespace (1) and poststop hooks the dead init's pid; the state's pid is the
			// host's (runtime-spec state.md: "as seen by the host").
			if testutil.IsHusk() && st.Pid != wantPid {
				t.Errorf("state.pid: got %d, want %d", st.Pid, wantPid)
			}
			// runc 1.1.5 runs poststart hooks before the process starts, with "created".
			if string(st.Status) != tc.status && (testutil.IsHusk() || tc.stage != "poststart") {
				t.Errorf("state.status: got %q, want %q", st.Status, tc.status)
			}
			hookNS := readTrim(t, marker+".ns")
			if tc.container {
				if hookNS != ctrNS || hookNS == hostNS {
					t.Errorf("%s hook ran in mount namespace %s; container's is %s, host's %s", tc.stage, hookNS, ctrNS, hostNS)
				}
				if seen != "seen" {
					t.Errorf("the container does not see what its %s hook wrote in its /tmp (%q)", tc.stage, seen)
				}
				if _, err := os.Stat(filepath.Join(b.Rootfs, "tmp", "seen")); err == nil {
					t.Errorf("the %s hook's write to the container's /tmp reached the host", tc.stage)
				}
			} else if hookNS != hostNS {
				t.Errorf("%s hook ran in mount namespace %s, want the runtime's %s", tc.stage, hookNS, hostNS)
			}
		})
	}
}

// TestHookArgsEnv checks that a hook gets exactly its args (argv[0] included) and env.
func TestHookArgsEnv(t *testing.T) {
	testutil.RequireRoot(t)
	b := testutil.NewBundle(t, nil)
	hook := filepath.Join(b.Dir, "hook.sh")
	out := filepath.Join(b.Dir, "out")
	writeHook(t, hook, `printf '%s\n' "$0" "$@" > `+out+`
tr '\0' '\n' < /proc/$$/environ >> `+out+"\n")
	setHooks(b.Spec, "createRuntime", specs.Hook{Path: hook, Args: []string{hook, "a b", "c"}, Env: []string{"HOOK_VAR=1", "PATH=/bin"}})
	b.WriteSpec()
	b.MustRun()
	want := hook + "\na b\nc\nHOOK_VAR=1\nPATH=/bin"
	if got := readTrim(t, out); got != want {
		t.Errorf("hook argv and environ:\ngot  %q\nwant %q", got, want)
	}
}

// requireNothingLeft checks that a container that failed to be created or started left nothing:
// no state, no state directory, no cgroup, no init process.
func requireNothingLeft(t *testing.T, b *testutil.Bundle, initPid int) {
	t.Helper()
	if st := b.Status(); st != "" {
		t.Errorf("container still exists with status %q", st)
	}
	if _, err := os.Stat(filepath.Join(b.Root, b.ID)); !os.IsNotExist(err) {
		t.Errorf("state directory left: %v", err)
	}
	for _, d := range containerCgroupDirs(t, b) {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("cgroup left: %s", d)
		}
	}
	if initPid > 0 && processRuns(initPid) {
		t.Errorf("init %d still runs", initPid)
	}
}

// containerCgroupDirs lists the directories the container's cgroup has (had) in each
// hierarchy the test process belongs to.
func containerCgroupDirs(t *testing.T, b *testutil.Bundle) []string {
	t.Helper()
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var dirs []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		parts := strings.SplitN(s.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		mnt := "/sys/fs/cgroup/unified"
		if parts[1] != "" {
			mnt = filepath.Join("/sys/fs/cgroup", strings.TrimPrefix(parts[1], "name="))
		}
		dirs = append(dirs, filepath.Join(mnt, parts[2], testutil.CgroupParent(), b.ID))
	}
	return dirs
}

// processRuns reports whether pid exists and is not a zombie.
func processRuns(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// waitGone waits until pid no longer runs.
func waitGone(pid int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for processRuns(pid) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// TestHookTimeout: a hook that outlives its timeout is killed, with its children, and
// create fails leaving nothing.
func TestHookTimeout(t *testing.T) {
	testutil.RequireRoot(t)
	for _, stage := range []string{"createRuntime", "createContainer"} {
		t.Run(stage, func(t *testing.T) {
			b := testutil.NewBundle(t, nil)
			hook := filepath.Join(b.Rootfs, "hook.sh") // host path: createContainer runs before pivot_root
			pids := filepath.Join(b.Dir, "pids")
			// The state's pid is the init's; $$ and the background sleep's are the hook's.
			body := `sleep 60 &
echo $$ $! >> ` + pids + `
wait
`
			if !testutil.IsHusk() {
				// runc 1.1.5 kills the hook but then waits for the end of its output,
				// which a child of the hook holds open: it hangs until the child exits.
				body = "echo $$ $$ >> " + pids + "\nexec sleep 60\n"
			}
			writeHook(t, hook, `sed -n 's/.*"pid":\([0-9]*\).*/\1/p' > `+pids+`
echo >> `+pids+"\n"+body)
			one := 1
			setHooks(b.Spec, stage, specs.Hook{Path: hook, Env: hookEnv, Timeout: &one})
			b.WriteSpec()
			start := time.Now()
			r := b.Husk("create", "--bundle", b.Dir, b.ID)
			if r.Code == 0 {
				t.Fatal("create succeeded though its hook timed out")
			}
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("create took %v with a 1s hook timeout", d)
			}
			if testutil.IsHusk() && !strings.Contains(r.Stderr, "timed out") {
				t.Errorf("create error does not say the hook timed out: %s", r.Stderr)
			}
			f := strings.Fields(readTrim(t, pids))
			if len(f) != 3 {
				t.Fatalf("hook pids %q: want init, hook, sleep", f)
			}
			if stage == "createContainer" {
				// The hook's own pids are in the container's pid namespace: the
				// cgroup check below covers them (a cgroup with processes stays).
				// runc 1.1.5 passes the init's pid in that namespace too.
				f = f[:1]
				if !testutil.IsHusk() {
					f = nil
				}
			}
			for _, p := range f {
				pid, _ := strconv.Atoi(p)
				if !waitGone(pid, 5*time.Second) {
					t.Errorf("process %d (init, hook or its child) still runs", pid)
				}
			}
			initPid := 0
			if len(f) > 0 {
				initPid, _ = strconv.Atoi(f[0])
			}
			requireNothingLeft(t, b, initPid)
		})
	}
}

// TestHookFailure checks the failure semantics of each stage (runtime-spec v1.3).
func TestHookFailure(t *testing.T) {
	testutil.RequireRoot(t)
	fail := func(b *testutil.Bundle, stage string) {
		// Host path for the runtime stages and createContainer, container path for
		// startContainer: the script is in the rootfs for both.
		writeHook(t, filepath.Join(b.Rootfs, "fail.sh"), "echo hook says no >&2\nexit 3\n")
		p := filepath.Join(b.Rootfs, "fail.sh")
		if stage == "startContainer" {
			p = "/fail.sh"
		}
		setHooks(b.Spec, stage, specs.Hook{Path: p, Env: hookEnv})
		b.WriteSpec()
	}
	sleeper := func(s *specs.Spec) { s.Process.Args = []string{"/probe", "sleep", "60"} }

	for _, stage := range []string{"prestart", "createRuntime", "createContainer"} {
		t.Run(stage, func(t *testing.T) {
			b := testutil.NewBundle(t, sleeper)
			fail(b, stage)
			pidFile := filepath.Join(b.Dir, "pid")
			r := b.Husk("create", "--bundle", b.Dir, "--pid-file", pidFile, b.ID)
			if r.Code == 0 {
				t.Fatalf("create succeeded though a %s hook failed", stage)
			}
			if testutil.IsHusk() && !strings.Contains(r.Stderr, "hook says no") {
				t.Errorf("create error lacks the hook's stderr: %s", r.Stderr)
			}
			if _, err := os.Stat(pidFile); err == nil {
				t.Error("create wrote the pid file though it failed")
			}
			requireNothingLeft(t, b, 0)
		})
	}

	t.Run("startContainer", func(t *testing.T) {
		// runc 1.1.5 runs startContainer hooks after start has returned: its start succeeds.
		testutil.RequireHusk(t)
		b := testutil.NewBundle(t, sleeper)
		fail(b, "startContainer")
		pid := b.Create()
		if r := b.Husk("start", b.ID); r.Code == 0 {
			t.Fatal("start succeeded though a startContainer hook failed")
		}
		if !waitGone(pid, 5*time.Second) {
			t.Errorf("init %d still runs", pid)
		}
		requireNothingLeft(t, b, pid)
	})

	t.Run("poststart", func(t *testing.T) {
		// runc 1.1.5 runs poststart hooks in create already, and leaves the container.
		testutil.RequireHusk(t)
		b := testutil.NewBundle(t, sleeper)
		fail(b, "poststart")
		pid := b.Create()
		if r := b.Husk("start", b.ID); r.Code == 0 {
			t.Fatal("start succeeded though a poststart hook failed")
		}
		if !waitGone(pid, 5*time.Second) {
			t.Errorf("container process %d still runs after its poststart hook failed", pid)
		}
		// runtime-spec v1.3: "stop the container, and continue the lifecycle at step
		// 12" (delete).
		requireNothingLeft(t, b, pid)
	})

	t.Run("poststop", func(t *testing.T) {
		b := testutil.NewBundle(t, sleeper)
		second := filepath.Join(b.Dir, "second.sh")
		ran := filepath.Join(b.Dir, "second-ran")
		writeHook(t, second, "touch "+ran+"\n")
		writeHook(t, filepath.Join(b.Dir, "fail.sh"), "exit 3\n")
		setHooks(b.Spec, "poststop",
			specs.Hook{Path: filepath.Join(b.Dir, "fail.sh"), Env: hookEnv},
			specs.Hook{Path: second, Env: hookEnv})
		b.WriteSpec()
		pid := b.Create()
		b.MustHusk("start", b.ID)
		if r := b.Husk("delete", "--force", b.ID); r.Code != 0 {
			t.Fatalf("delete failed because of a poststop hook: exit %d: %s", r.Code, r.Stderr)
		}
		// runc 1.1.5 stops at the first failing poststop hook.
		if _, err := os.Stat(ran); err != nil && testutil.IsHusk() {
			t.Error("the poststop hook after the failing one did not run")
		}
		requireNothingLeft(t, b, pid)
	})
}
