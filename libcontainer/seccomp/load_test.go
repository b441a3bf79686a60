package seccomp

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// childEnv makes the test binary act as a container init: see childMain.
const childEnv = "HUSK_SECCOMP_TEST_CHILD"

// childRequest is what a test sends to the re-executed test binary.
type childRequest struct {
	Program *Program `json:"program"`
	// Calls are made, in order, after the filter is loaded.
	Calls []childCall `json:"calls,omitempty"`
	// ListenerPath, when set, receives the notify fd before the calls.
	ListenerPath string `json:"listenerPath,omitempty"`
	Metadata     string `json:"metadata,omitempty"`
	// Exec, when set, is executed after the calls.
	Exec []string `json:"exec,omitempty"`
}

type childCall struct {
	Nr   uintptr    `json:"nr"`
	Args [6]uintptr `json:"args"`
	// Path, when set, is passed as a C string in args[1] (mkdirat).
	Path string `json:"path,omitempty"`
}

type childResult struct {
	Errnos []int  `json:"errnos"`
	Error  string `json:"error,omitempty"`
}

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		childMain()
	}
	os.Exit(m.Run())
}

// childMain plays the container init: it locks its thread, sets
// no_new_privs, loads the filter, passes the listener fd on, makes the
// requested syscalls and reports their errnos on stdout, then execs.
func childMain() {
	runtime.LockOSThread()
	var req childRequest
	res := childResult{}
	fail := func(err error) {
		res.Error = err.Error()
		_ = json.NewEncoder(os.Stdout).Encode(res)
		os.Exit(3)
	}
	if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
		fail(err)
	}
	paths := make([][]byte, len(req.Calls))
	for i, c := range req.Calls {
		paths[i] = append([]byte(c.Path), 0)
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		fail(err)
	}
	fd, err := Load(req.Program)
	if err != nil {
		fail(err)
	}
	if req.ListenerPath != "" {
		st := &specs.ContainerProcessState{Pid: os.Getpid(), Metadata: req.Metadata,
			State: specs.State{ID: "test", Status: specs.StateCreated, Pid: os.Getpid()}}
		if err := SendNotifyFD(req.ListenerPath, st, fd); err != nil {
			fail(err)
		}
		unix.Close(fd)
	}
	for i, c := range req.Calls {
		args := c.Args
		if c.Path != "" {
			args[1] = uintptr(unsafePointer(&paths[i][0]))
		}
		_, _, e := unix.Syscall6(c.Nr, args[0], args[1], args[2], args[3], args[4], args[5])
		res.Errnos = append(res.Errnos, int(e))
	}
	if len(req.Exec) > 0 {
		_ = json.NewEncoder(os.Stdout).Encode(res)
		err := syscall.Exec(req.Exec[0], req.Exec, os.Environ())
		fmt.Fprintln(os.Stderr, "exec:", err)
		os.Exit(4)
	}
	_ = json.NewEncoder(os.Stdout).Encode(res)
	os.Exit(0)
}

// requireSeccompFilter skips t unless the kernel supports seccomp filters.
func requireSeccompFilter(t testing.TB) {
	t.Helper()
	if err := unix.Prctl(unix.PR_GET_SECCOMP, 0, 0, 0, 0); errors.Is(err, unix.EINVAL) {
		t.Skip("kernel built without CONFIG_SECCOMP")
	}
	if len(SupportedActions()) == 0 {
		t.Skip("kernel without seccomp filter support (SECCOMP_GET_ACTION_AVAIL fails)")
	}
}

// runChild re-executes the test binary with req and returns its result
// and wait status.
func runChild(t *testing.T, req childRequest) (childResult, syscall.WaitStatus, string) {
	t.Helper()
	in, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("run child: %v", err)
	}
	ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
	var res childResult
	if line, _, _ := bytes.Cut(stdout.Bytes(), []byte("\n")); len(line) > 0 {
		if err := json.Unmarshal(line, &res); err != nil {
			t.Fatalf("child output %q: %v (stderr %q)", stdout.String(), err, stderr.String())
		}
	}
	if res.Error != "" {
		t.Fatalf("child: %s", res.Error)
	}
	return res, ws, stdout.String() + stderr.String()
}

func mustCompile(t *testing.T, s *specs.LinuxSeccomp) *Program {
	t.Helper()
	p, err := Compile(s, "")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// mkdirCall is mkdirat(AT_FDCWD, path, 0755); path must be absolute.
func mkdirCall(path string) childCall {
	return childCall{Nr: unix.SYS_MKDIRAT, Args: [6]uintptr{0, 0, 0o755}, Path: path}
}

func TestLoadErrno(t *testing.T) {
	requireSeccompFilter(t)
	dir := t.TempDir()
	p := mustCompile(t, &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno, ErrnoRet: uintp(uint(unix.EROFS))},
			{Names: []string{"personality"}, Action: specs.ActErrno, ErrnoRet: uintp(uint(unix.ENOMSG)),
				Args: []specs.LinuxSeccompArg{{Index: 0, Value: perLinux32, Op: specs.OpEqualTo}}},
		},
	})
	res, ws, out := runChild(t, childRequest{Program: p, Calls: []childCall{
		mkdirCall(filepath.Join(dir, "denied")),
		{Nr: unix.SYS_GETPID},
		{Nr: unix.SYS_PERSONALITY, Args: [6]uintptr{0xffffffff}},
		{Nr: unix.SYS_PERSONALITY, Args: [6]uintptr{perLinux32}},
	}})
	if ws.ExitStatus() != 0 {
		t.Fatalf("child: %v: %s", ws, out)
	}
	want := []int{int(unix.EROFS), 0, 0, int(unix.ENOMSG)}
	if fmt.Sprint(res.Errnos) != fmt.Sprint(want) {
		t.Errorf("errnos: got %v, want %v (mkdir, getpid, personality query, personality(PER_LINUX32))", res.Errnos, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "denied")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("denied mkdir created the directory: %v", err)
	}
}

func TestLoadENOSYS(t *testing.T) {
	requireSeccompFilter(t)
	if nativeAudit(t) != unix.AUDIT_ARCH_X86_64 {
		t.Skip("syscall numbers below are x86_64's")
	}
	newer := topNative(t) + 1 // a syscall libseccomp, hence the profile, does not know
	// Control: without a denying filter the kernel implements it, so the
	// ENOSYS below comes from the filter.
	allow := mustCompile(t, &specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{{Names: []string{"acct"}, Action: specs.ActErrno}}})
	res, _, out := runChild(t, childRequest{Program: allow, Calls: []childCall{{Nr: uintptr(newer)}}})
	if len(res.Errnos) != 1 || res.Errnos[0] == int(unix.ENOSYS) {
		t.Skipf("kernel does not implement syscall %d (errnos %v): %s", newer, res.Errnos, out)
	}
	p := mustCompile(t, loadDockerLike(t))
	dir := t.TempDir()
	res, ws, out := runChild(t, childRequest{Program: p, Calls: []childCall{
		{Nr: unix.SYS_GETPID},
		{Nr: unix.SYS_MOUNT},                // denied by the profile: default errno
		{Nr: unix.SYS_CLONE3},               // ENOSYS by rule, so glibc falls back to clone
		{Nr: uintptr(newer)},                // newer than the profile: ENOSYS, not EPERM
		mkdirCall(filepath.Join(dir, "ok")), // allowed
	}})
	if ws.ExitStatus() != 0 {
		t.Fatalf("child: %v: %s", ws, out)
	}
	want := []int{0, int(unix.EPERM), int(unix.ENOSYS), int(unix.ENOSYS), 0}
	if fmt.Sprint(res.Errnos) != fmt.Sprint(want) {
		t.Errorf("errnos: got %v, want %v (getpid, mount, clone3, syscall %d, mkdirat)", res.Errnos, want, newer)
	}
}

func TestLoadKill(t *testing.T) {
	requireSeccompFilter(t)
	t.Run("kill process", func(t *testing.T) {
		p := mustCompile(t, &specs.LinuxSeccomp{
			DefaultAction: specs.ActAllow,
			Syscalls:      []specs.LinuxSyscall{{Names: []string{"getppid"}, Action: specs.ActKillProcess}},
		})
		_, ws, out := runChild(t, childRequest{Program: p, Calls: []childCall{{Nr: unix.SYS_GETPPID}}})
		if !ws.Signaled() || ws.Signal() != unix.SIGSYS {
			t.Errorf("child: got %v, want killed by SIGSYS (%s)", ws, out)
		}
	})
	t.Run("kill after exec", func(t *testing.T) {
		mkdir, err := exec.LookPath("mkdir")
		if err != nil {
			t.Skip("no mkdir binary")
		}
		dir := t.TempDir()
		p := mustCompile(t, &specs.LinuxSeccomp{
			DefaultAction: specs.ActAllow,
			Syscalls:      []specs.LinuxSyscall{{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActKill}},
		})
		_, ws, out := runChild(t, childRequest{Program: p, Exec: []string{mkdir, filepath.Join(dir, "x")}})
		if !ws.Signaled() || ws.Signal() != unix.SIGSYS {
			t.Errorf("mkdir: got %v, want killed by SIGSYS (%s)", ws, out)
		}
		if _, err := os.Stat(filepath.Join(dir, "x")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("killed mkdir created the directory: %v", err)
		}
	})
}

func TestLoadInvalid(t *testing.T) {
	for _, p := range []*Program{nil, {}, {Filter: make([]unix.SockFilter, maxInsns+1)}} {
		if fd, err := Load(p); !errors.Is(err, ErrInvalidProgram) || fd != -1 {
			t.Errorf("Load(%v): got %d, %v; want -1, ErrInvalidProgram", p, fd, err)
		}
	}
}

// buildAgent builds tests/seccompagent into a temporary directory.
func buildAgent(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the notify test builds tests/seccompagent and needs the go command")
	}
	bin := filepath.Join(t.TempDir(), "seccompagent")
	cmd := exec.Command(goBin, "build", "-o", bin, "github.com/husk-runtime/husk/tests/seccompagent")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build seccompagent: %v\n%s", err, out)
	}
	return bin
}

type agentEvent struct {
	Event string                       `json:"event"`
	State *specs.ContainerProcessState `json:"state"`
	Pid   uint32                       `json:"pid"`
	Nr    int32                        `json:"nr"`
	Error string                       `json:"error"`
}

// startAgent runs the agent on a socket in a temporary directory and
// returns the socket and the agent's events.
func startAgent(t *testing.T, bin string, errno int) (string, <-chan agentEvent) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "agent.sock")
	cmd := exec.Command(bin, "-socket", sock, "-errno", fmt.Sprint(errno))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if stderr.Len() > 0 {
			t.Logf("agent stderr: %s", stderr.String())
		}
	})
	events := make(chan agentEvent, 16)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var e agentEvent
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				e = agentEvent{Event: "error", Error: sc.Text()}
			}
			events <- e
		}
	}()
	if e := nextEvent(t, events); e.Event != "ready" {
		t.Fatalf("agent: got %+v, want ready", e)
	}
	return sock, events
}

func nextEvent(t *testing.T, events <-chan agentEvent) agentEvent {
	t.Helper()
	select {
	case e, ok := <-events:
		if !ok {
			t.Fatal("agent exited")
		}
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("agent: no event in 10s")
	}
	return agentEvent{}
}

func TestLoadNotify(t *testing.T) {
	requireSeccompFilter(t)
	if !strings.Contains(strings.Join(SupportedActions(), " "), "SCMP_ACT_NOTIFY") {
		t.Skip("kernel without SECCOMP_RET_USER_NOTIF (5.0)")
	}
	bin := buildAgent(t)
	p := mustCompile(t, &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		ListenerPath:  "/unused", // the child gets the path in its request
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActNotify}},
	})
	if !p.Notify {
		t.Fatal("program with a SCMP_ACT_NOTIFY rule has Notify unset")
	}
	for _, tt := range []struct {
		name  string
		errno int
	}{
		{"agent fakes success", 0},
		{"agent returns errno", int(unix.EDQUOT)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sock, events := startAgent(t, bin, tt.errno)
			path := filepath.Join(t.TempDir(), "notified")
			res, ws, out := runChild(t, childRequest{Program: p, ListenerPath: sock, Metadata: "husk-test-meta",
				Calls: []childCall{mkdirCall(path), {Nr: unix.SYS_GETPID}}})
			if ws.ExitStatus() != 0 {
				t.Fatalf("child: %v: %s", ws, out)
			}
			if want := []int{tt.errno, 0}; fmt.Sprint(res.Errnos) != fmt.Sprint(want) {
				t.Errorf("errnos: got %v, want %v (mkdirat answered by the agent, getpid)", res.Errnos, want)
			}
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the agent answered, yet the directory exists: %v", err)
			}
			st := nextEvent(t, events)
			if st.Event != "state" || st.State == nil {
				t.Fatalf("agent: got %+v, want the state", st)
			}
			if st.State.Metadata != "husk-test-meta" || st.State.Version != specs.Version || st.State.State.ID != "test" || st.State.Pid == 0 {
				t.Errorf("agent got state %+v", st.State)
			}
			if n := nextEvent(t, events); n.Event != "notify" || n.Nr != unix.SYS_MKDIRAT || int(n.Pid) != st.State.Pid {
				t.Errorf("agent: got %+v, want a mkdirat notification from pid %d", n, st.State.Pid)
			}
		})
	}
}

// perLinux32 is PER_LINUX32 (include/uapi/linux/personality.h).
const perLinux32 = 0x0008
