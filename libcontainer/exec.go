package libcontainer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/libcontainer/capabilities"
	"github.com/husk-runtime/husk/libcontainer/internal/initsync"
	"github.com/husk-runtime/husk/libcontainer/seccomp"
)

// ExecOpts are the inputs of Exec; the flags of `husk exec`.
type ExecOpts struct {
	Process               *specs.Process
	ConsoleSocket         string
	PidFile               string
	PidfdSocket           string
	PreserveFds           int
	IgnorePaused          bool
	SubCgroup             string // --cgroup: a sub-cgroup of the container's to join
	Stdin, Stdout, Stderr *os.File
}

// Exec starts a process inside the running container and returns its pid; the caller may
// wait for it (it is our child).
func (c *Container) Exec(o *ExecOpts) (int, error) {
	switch s := c.Status(); s {
	case Running, Created:
	case Paused:
		if !o.IgnorePaused {
			return 0, fmt.Errorf("cannot exec in container %q: %w", c.ID(), ErrPaused)
		}
	default:
		return 0, fmt.Errorf("cannot exec in container %q: %w", c.ID(), ErrNotRunning)
	}
	p := o.Process
	if len(p.Args) == 0 {
		return 0, errors.New("process.args: must not be empty")
	}
	if _, err := capabilities.Parse(p.Capabilities); err != nil {
		return 0, err
	}
	if p.Terminal && o.ConsoleSocket == "" {
		return 0, errors.New("process.terminal is true but no --console-socket was given")
	}
	spec := c.state.Config
	if err := checkExtras(spec, p); err != nil {
		return 0, err
	}
	var initialCPUs *unix.CPUSet
	if p.ExecCPUAffinity != nil {
		initialCPUs, _ = parseCPUList(p.ExecCPUAffinity.Initial) // checked above
	}
	boot := &bootstrap{}
	m, err := c.cgroupManager()
	if err != nil {
		return 0, err
	}
	if o.SubCgroup != "" {
		if boot.cgroupFiles, err = subCgroupFiles(m.JoinFiles(), o.SubCgroup); err != nil {
			return 0, err
		}
	} else {
		boot.cgroupFiles = m.JoinFiles()
	}
	// Join every namespace of the init, user namespace included; the C side joins it first.
	if spec.Linux != nil {
		for _, ns := range spec.Linux.Namespaces {
			t := nsTypes[ns.Type]
			boot.join = append(boot.join, [2]string{t.name, "/proc/" + strconv.Itoa(c.state.Pid) + "/ns/" + t.name})
		}
	}
	var prog *seccomp.Program
	if spec.Linux != nil && spec.Linux.Seccomp != nil {
		prog, err = seccomp.Compile(spec.Linux.Seccomp, filepath.Join(c.root, ".seccomp-cache"))
		if err != nil {
			return 0, err
		}
	}
	var extra []*os.File
	var env []string
	if p.Terminal {
		sock, err := dialConsoleSocket(o.ConsoleSocket)
		if err != nil {
			return 0, err
		}
		defer sock.Close()
		extra = append(extra, sock)
		env = append(env, envConsoleFD+"="+strconv.Itoa(3+o.PreserveFds+1))
	}
	cfg := &initConfig{
		Setns: true, ContainerID: c.ID(), Spec: spec, Process: p, Bundle: c.state.Bundle,
		PreserveFds: o.PreserveFds, Seccomp: prog, NoNewKeyring: c.state.NoNewKeyring,
	}
	plan, err := planFor(cfg, planInput{consoleFD: 3 + o.PreserveFds + 1})
	if err != nil {
		return 0, err
	}
	boot.plan = plan != nil
	ip, err := spawnInit(&spawnOpts{
		boot: boot, extra: extra, preserve: o.PreserveFds, env: env, cpus: initialCPUs,
		stdin: stdioOr(o.Stdin, os.Stdin), stdout: stdioOr(o.Stdout, os.Stdout), stderr: stdioOr(o.Stderr, os.Stderr),
	})
	if err != nil {
		return 0, fmt.Errorf("exec in container %q: %w", c.ID(), err)
	}
	if plan != nil {
		err = sendPlan(ip.conn, plan)
	} else {
		err = ip.conn.Send(initsync.MsgConfig, cfg)
	}
	if err == nil {
		err = c.parentLoop(ip, spec)
	}
	if err != nil {
		ip.kill()
		return 0, fmt.Errorf("exec in container %q: %w", c.ID(), err)
	}
	ip.close()
	if o.PidFile != "" {
		if err := writePidFile(o.PidFile, ip.pid); err != nil {
			return ip.pid, err
		}
	}
	if o.PidfdSocket != "" {
		if err := sendPidfd(o.PidfdSocket, ip.pid); err != nil {
			return ip.pid, err
		}
	}
	return ip.pid, nil
}

// subCgroupFiles points each join file into sub, a path below the container's cgroup.
func subCgroupFiles(files []string, sub string) ([]string, error) {
	if filepath.IsAbs(sub) || !filepath.IsLocal(sub) {
		return nil, fmt.Errorf("--cgroup %q: must be a relative path below the container's cgroup", sub)
	}
	out := make([]string, 0, len(files))
	for _, f := range files {
		p := filepath.Join(filepath.Dir(f), sub, filepath.Base(f))
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("--cgroup %q: %w", sub, err)
		}
		out = append(out, p)
	}
	return out, nil
}
