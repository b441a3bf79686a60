package libcontainer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/libcontainer/internal/exeseal"
	"github.com/husk-runtime/husk/libcontainer/internal/initsync"
	"github.com/husk-runtime/husk/libcontainer/internal/procfs"
	"github.com/husk-runtime/husk/libcontainer/internal/userns"
	"github.com/husk-runtime/husk/libcontainer/nsenter"
	"github.com/husk-runtime/husk/libcontainer/seccomp"
	"github.com/husk-runtime/husk/libcontainer/timerslack"
)

// Environment variables husk init reads its fd numbers from.
const (
	envFifoFD    = "_HUSK_FIFOFD"
	envConsoleFD = "_HUSK_CONSOLEFD"
	envLogLevel  = "_HUSK_LOGLEVEL"
)

// initConfig is the Go-phase configuration the parent sends to `husk init`.
type initConfig struct {
	Setns        bool             `json:"setns,omitempty"` // exec into a running container
	ContainerID  string           `json:"id"`
	Spec         *specs.Spec      `json:"spec"`
	Process      *specs.Process   `json:"process"`
	Rootfs       string           `json:"rootfs,omitempty"`
	Bundle       string           `json:"bundle,omitempty"`
	NoPivot      bool             `json:"no_pivot,omitempty"`
	NoNewKeyring bool             `json:"no_new_keyring,omitempty"`
	PreserveFds  int              `json:"preserve_fds,omitempty"`
	NewNS        map[string]bool  `json:"new_ns,omitempty"` // namespace types created for this container
	Seccomp      *seccomp.Program `json:"seccomp,omitempty"`
	Hooks        bool             `json:"hooks,omitempty"` // stop for prestart/createRuntime hooks
	Pid          int              `json:"pid,omitempty"`   // the init's pid as the host sees it (for hooks' state)
	ProcessLabel string           `json:"process_label,omitempty"`
	AppArmor     string           `json:"apparmor,omitempty"`
	// CgroupPaths are the container's cgroup directories by controller (cgroup mounts).
	CgroupPaths map[string]string `json:"cgroup_paths,omitempty"`
	// IDMapMounts are the spec.Mounts indexes of the idmapped mounts whose detached trees
	// ride along with the config message, in the order of its fds.
	IDMapMounts []int `json:"idmap_mounts,omitempty"`
	fds         []int // received with the config message
}

// bootstrap is the message for the C constructor.
type bootstrap struct {
	cgroupFiles []string
	join        [][2]string // type, path; user first is handled in C
	cloneFlags  int
	timens      []string
	uidMap      []specs.LinuxIDMapping
	gidMap      []specs.LinuxIDMapping
	plan        bool // the C init runs a plan (sendPlan) instead of the Go init
}

func (b *bootstrap) encode() []byte {
	var sb strings.Builder
	for _, f := range b.cgroupFiles {
		sb.WriteString("cgroup " + f + "\n")
	}
	for _, j := range b.join {
		sb.WriteString("join " + j[0] + " " + j[1] + "\n")
	}
	if b.cloneFlags != 0 {
		sb.WriteString("clone " + strconv.Itoa(b.cloneFlags) + "\n")
	}
	for _, t := range b.timens {
		sb.WriteString("timens " + t + "\n")
	}
	if b.plan {
		sb.WriteString("plan\n")
	}
	return []byte(sb.String())
}

// initProcess is a started `husk init` seen from the parent.
type initProcess struct {
	started int  // the process spawnInit started: the init, or the one that forks it
	reaped  bool // started has been waited for
	conn    *initsync.Conn
	sock    *os.File // parent end of the sync socket
	pid     int      // the process that runs the container program
}

// spawnOpts are the inputs of spawnInit.
type spawnOpts struct {
	boot     *bootstrap
	extra    []*os.File // passed after the preserved fds, in order: fifo, console (optional)
	preserve int        // fds 3..3+preserve-1 of ours pass through unchanged
	env      []string   // extra _HUSK_* variables
	stdin    *os.File
	stdout   *os.File
	stderr   *os.File
	cpus     *unix.CPUSet // affinity of the init until it joins the cgroup (execCPUAffinity.initial)
}

// splitJoinFiles separates the cgroup files the C constructor writes "0" to (v1 "tasks": the
// kernel's fast path for the calling thread) from a cgroup2 "cgroup.procs", where that write
// moves a whole thread group and stalls 10-15 ms for an RCU grace period. The cgroup2
// directory is instead opened for clone3(CLONE_INTO_CGROUP), which places the child at birth.
func splitJoinFiles(files []string) (tasks []string, cgroup2Dir string) {
	for _, f := range files {
		if filepath.Base(f) == "cgroup.procs" && cgroup2Dir == "" {
			cgroup2Dir = filepath.Dir(f)
			continue
		}
		tasks = append(tasks, f)
	}
	return tasks, cgroup2Dir
}

// spawnInit starts `husk init` from a sealed copy of this binary and runs the bootstrap phase.
// On error nothing is left running.
func spawnInit(o *spawnOpts) (_ *initProcess, retErr error) {
	// Fds we inherited without close-on-exec (an engine's leak) must not reach the init,
	// where a container process could find them in /proc/1/fd (CVE-2024-21626). Preserved
	// fds are passed on explicitly below; everything of ours is close-on-exec already.
	if err := unix.CloseRange(uint(3+o.preserve), ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return nil, os.NewSyscallError("close_range", err)
	}
	exe, err := exeseal.OpenReadonly()
	if err != nil {
		return nil, err
	}
	defer exe.Close()
	parent, child, err := initsync.Pair()
	if err != nil {
		return nil, err
	}
	defer child.Close()
	files := make([]*os.File, 0, o.preserve+2+len(o.extra))
	for i := 0; i < o.preserve; i++ {
		files = append(files, os.NewFile(uintptr(3+i), "preserved"))
	}
	syncFD := 3 + len(files)
	files = append(files, child)
	files = append(files, o.extra...)
	var cgroup2Dir string
	o.boot.cgroupFiles, cgroup2Dir = splitJoinFiles(o.boot.cgroupFiles)
	var sys *unix.SysProcAttr
	if cgroup2Dir != "" {
		dir, err := os.OpenFile(cgroup2Dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			parent.Close()
			return nil, fmt.Errorf("open cgroup %s: %w", cgroup2Dir, err)
		}
		defer dir.Close()
		sys = &unix.SysProcAttr{UseCgroupFD: true, CgroupFD: int(dir.Fd())}
	}
	if sys == nil {
		sys = &unix.SysProcAttr{}
	}
	sys.Cloneflags, o.boot.cloneFlags = hoistCloneFlags(o.boot)
	// syscall.ForkExec rather than os/exec: os.StartProcess first checks, in every process,
	// that pidfds work, with a throw-away child of its own (about 0.1 ms).
	fds := make([]uintptr, 0, 3+len(files))
	for _, f := range append([]*os.File{o.stdin, o.stdout, o.stderr}, files...) {
		fds = append(fds, f.Fd())
	}
	attr := &syscall.ProcAttr{
		// One P: the init is one locked thread's work, and every extra runtime thread
		// would count against the container's pids limit.
		Env:   append([]string{nsenter.EnvSyncFD + "=" + strconv.Itoa(syncFD), "GOMAXPROCS=1"}, o.env...),
		Files: fds,
		Sys:   sys,
	}
	var started int
	err = startWithAffinity(o.cpus, func() (err error) {
		started, err = syscall.ForkExec("/proc/self/fd/"+strconv.Itoa(int(exe.Fd())), []string{"husk", "init"}, attr)
		return err
	})
	runtime.KeepAlive(files) // their finalizers would close the fds
	if err != nil {
		parent.Close()
		return nil, fmt.Errorf("start container init: %w", err)
	}
	p := &initProcess{started: started, conn: initsync.NewConn(int(parent.Fd())), sock: parent}
	defer func() {
		if retErr != nil {
			p.kill()
		}
	}()
	if err := p.conn.SendRaw(o.boot.encode()); err != nil {
		return p, err
	}
	for {
		b, _, err := p.conn.RecvRaw()
		if err != nil {
			if errors.Is(err, initsync.ErrClosed) {
				return p, fmt.Errorf("container init exited during bootstrap: %s", p.waitStatus())
			}
			return p, err
		}
		msg := string(b)
		switch {
		case msg == "usermap":
			if err := writeIDMaps(started, o.boot.uidMap, o.boot.gidMap); err != nil {
				return p, err
			}
			if err := p.conn.SendRaw([]byte("ok")); err != nil {
				return p, err
			}
		case strings.HasPrefix(msg, "pid "):
			p.pid, err = strconv.Atoi(msg[4:])
			if err != nil {
				return p, fmt.Errorf("bad pid message %q", msg)
			}
			if p.pid == 0 {
				p.pid = started
			}
			if p.pid != started {
				// The intermediate process forked the init into the pid namespace and exits.
				_, _ = p.wait()
			}
			return p, nil
		case strings.HasPrefix(msg, "error "):
			return p, errors.New(msg[6:])
		default:
			return p, fmt.Errorf("unexpected bootstrap message %q", msg)
		}
	}
}

// hoistCloneFlags splits the namespaces to create between clone(2), which makes them while it
// starts the init (no second process is needed to enter a new pid namespace), and the C
// constructor's unshare. The constructor keeps those that must come after something it does
// first: any namespace when a user namespace is created or joined (the others must belong to
// it) or when the constructor forks into a time or joined pid namespace, the cgroup namespace (after the cgroup join, so that the container's cgroup is its
// root) and the time namespace (its offsets are written before any process enters it).
func hoistCloneFlags(b *bootstrap) (atClone uintptr, inInit int) {
	// With a time namespace the constructor forks anyway, and a pid namespace's init may not
	// fork with CLONE_PARENT.
	if b.cloneFlags&(unix.CLONE_NEWUSER|unix.CLONE_NEWTIME) != 0 {
		return 0, b.cloneFlags
	}
	for _, j := range b.join {
		if j[0] == "user" || j[0] == "pid" || j[0] == "time" {
			return 0, b.cloneFlags
		}
	}
	hoisted := b.cloneFlags & (unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS)
	return uintptr(hoisted), b.cloneFlags &^ hoisted
}

// constructorForks reports whether the C constructor will fork to enter a pid or time
// namespace (one it unshares or joins).
func (b *bootstrap) constructorForks() bool {
	_, inInit := hoistCloneFlags(b)
	if inInit&(unix.CLONE_NEWPID|unix.CLONE_NEWTIME) != 0 {
		return true
	}
	for _, j := range b.join {
		if j[0] == "pid" || j[0] == "time" {
			return true
		}
	}
	return false
}

// wait reaps the process spawnInit started.
func (p *initProcess) wait() (unix.WaitStatus, error) {
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(p.started, &ws, 0, nil)
		if err != unix.EINTR {
			p.reaped = err == nil
			return ws, err
		}
	}
}

// waitStatus reaps the process spawnInit started and says how it ended, in os/exec's words.
func (p *initProcess) waitStatus() string {
	ws, err := p.wait()
	switch {
	case err != nil:
		return err.Error()
	case ws.Signaled():
		return "signal: " + ws.Signal().String()
	}
	return "exit status " + strconv.Itoa(ws.ExitStatus())
}

// kill ends the init and the intermediate process, and reaps them.
func (p *initProcess) kill() {
	if p.pid > 0 && p.pid != p.started {
		_ = unix.Kill(p.pid, unix.SIGKILL)
		var ws unix.WaitStatus
		_, _ = unix.Wait4(p.pid, &ws, 0, nil)
	}
	if !p.reaped {
		_ = unix.Kill(p.started, unix.SIGKILL)
		_, _ = p.wait()
	}
	p.close()
}

func (p *initProcess) close() {
	if p.sock != nil {
		p.sock.Close()
		p.sock = nil
	}
}

func writeIDMaps(pid int, uids, gids []specs.LinuxIDMapping) error {
	// Through a verified procfs, as every write to /proc: a bind mount over /proc/<pid>
	// cannot take the maps.
	base := strconv.Itoa(pid) + "/"
	if err := procfs.WriteFile(base+"uid_map", []byte(userns.FormatMap(uids))); err != nil {
		return fmt.Errorf("linux.uidMappings: %w", err)
	}
	if err := procfs.WriteFile(base+"gid_map", []byte(userns.FormatMap(gids))); err != nil {
		return fmt.Errorf("linux.gidMappings: %w", err)
	}
	return nil
}

// nsTypes maps runtime-spec namespace types to nsenter's names and clone flags.
var nsTypes = map[specs.LinuxNamespaceType]struct {
	name string
	flag int
}{
	specs.PIDNamespace:     {"pid", unix.CLONE_NEWPID},
	specs.NetworkNamespace: {"net", unix.CLONE_NEWNET},
	specs.MountNamespace:   {"mnt", unix.CLONE_NEWNS},
	specs.IPCNamespace:     {"ipc", unix.CLONE_NEWIPC},
	specs.UTSNamespace:     {"uts", unix.CLONE_NEWUTS},
	specs.UserNamespace:    {"user", unix.CLONE_NEWUSER},
	specs.CgroupNamespace:  {"cgroup", unix.CLONE_NEWCGROUP},
	specs.TimeNamespace:    {"time", unix.CLONE_NEWTIME},
}

// startWithAffinity runs start, which forks, with CPU affinity cpus (nil: ours) and the timer
// slack husk was started with (timerslack.Fork). The child inherits the affinity of the thread
// that forks it, so the change is made on a locked thread and undone.
func startWithAffinity(cpus *unix.CPUSet, start func() error) error {
	if cpus == nil {
		return timerslack.Fork(start)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var old unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		return os.NewSyscallError("sched_getaffinity", err)
	}
	if err := unix.SchedSetaffinity(0, cpus); err != nil {
		return fmt.Errorf("process.execCPUAffinity.initial: %w", os.NewSyscallError("sched_setaffinity", err))
	}
	err := timerslack.Fork(start)
	if rerr := unix.SchedSetaffinity(0, &old); rerr != nil && err == nil {
		err = os.NewSyscallError("sched_setaffinity", rerr)
	}
	return err
}
