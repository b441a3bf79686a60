package libcontainer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/libcontainer/criu"
	"github.com/husk-runtime/husk/libcontainer/rootfs"
)

// descriptorsFile, in the image directory, lists what the init's fds 0-2 were at
// checkpoint (readlink of /proc/<pid>/fd/N): a restore hands its own stdio to criu for
// the pipes among them.
const descriptorsFile = "descriptors.json"

// CriuOpts are the CRIU flags common to `husk checkpoint` and `husk restore`.
type CriuOpts struct {
	CriuPath          string // --criu
	ImagePath         string // --image-path
	WorkPath          string // --work-path; "" is ImagePath
	TCPEstablished    bool   // --tcp-established
	ExtUnixSk         bool   // --ext-unix-sk
	ShellJob          bool   // --shell-job
	FileLocks         bool   // --file-locks
	AutoDedup         bool   // --auto-dedup
	LazyPages         bool   // --lazy-pages
	ManageCgroupsMode string // --manage-cgroups-mode
	EmptyNS           []string
}

// CheckpointOpts are the flags of `husk checkpoint`.
type CheckpointOpts struct {
	CriuOpts
	ParentPath   string // --parent-path, relative to ImagePath
	LeaveRunning bool   // --leave-running
	PreDump      bool   // --pre-dump
	StatusFd     int    // --status-fd, -1 for none
	PageServer   string // --page-server address:port
}

// criuSession holds the directories and options of one criu call.
//
// CRIU's RPC service opens the directories and the status fd through /proc/<caller>/fd/N:
// their numbers are ours. inherit_fd numbers are criu's own: those files are passed down.
type criuSession struct {
	path  string     // criu binary
	files []*os.File // passed down to criu, in order (inherit_fd)
	owned []*os.File // files of ours that close closes
	opts  *criu.Opts
	work  string // work directory, where criu's log is
	log   string // log file name in work
}

func (s *criuSession) close() {
	for _, f := range s.owned {
		f.Close()
	}
}

// newCriuSession opens the image (created when create is set) and work (created) directories and
// fills the options both commands share.
func newCriuSession(o *CriuOpts, annotations map[string]string, create bool, log string) (_ *criuSession, retErr error) {
	path, err := criu.Find(o.CriuPath)
	if err != nil {
		return nil, err
	}
	mode, err := criu.CgroupMode(o.ManageCgroupsMode)
	if err != nil {
		return nil, err
	}
	empty, err := criu.EmptyNSFlags(o.EmptyNS)
	if err != nil {
		return nil, err
	}
	if o.ImagePath == "" {
		return nil, errors.New("--image-path is required")
	}
	s := &criuSession{path: path, log: log}
	defer func() {
		if retErr != nil {
			s.close()
		}
	}()
	work := o.WorkPath
	if work == "" {
		work = o.ImagePath
	}
	for _, d := range []struct {
		flag, path string
		create     bool
	}{{"--image-path", o.ImagePath, create}, {"--work-path", work, true}} {
		if d.create {
			if err := os.MkdirAll(d.path, 0o700); err != nil {
				return nil, fmt.Errorf("%s: %w", d.flag, err)
			}
		}
		f, err := os.OpenFile(d.path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", d.flag, err)
		}
		s.owned = append(s.owned, f)
	}
	s.work = work
	s.opts = &criu.Opts{
		ImagesDirFd:   criu.Int32(int32(s.owned[0].Fd())),
		WorkDirFd:     criu.Int32(int32(s.owned[1].Fd())),
		LogLevel:      criu.Int32(4),
		LogFile:       criu.String(log),
		ManageCgroups: criu.Bool(true),
		// Mounts from the host that criu cannot place itself (bind sources outside the
		// rootfs; config binds are named below) are found by their host path.
		AutoExtMnt: criu.Bool(true),
		ExtSharing: criu.Bool(true),
		ExtMasters: criu.Bool(true),
	}
	// A flag that is off is left unset: an option set in the request overrides the CRIU
	// configuration file (org.criu.config), where it may be on.
	for _, b := range []struct {
		on  bool
		opt **bool
	}{
		{o.TCPEstablished, &s.opts.TcpEstablished}, {o.ExtUnixSk, &s.opts.ExtUnixSk},
		{o.ShellJob, &s.opts.ShellJob}, {o.FileLocks, &s.opts.FileLocks},
		{o.AutoDedup, &s.opts.AutoDedup}, {o.LazyPages, &s.opts.LazyPages},
	} {
		if b.on {
			*b.opt = criu.Bool(true)
		}
	}
	if o.ManageCgroupsMode != "" {
		s.opts.ManageCgroupsMode = mode.Enum()
	}
	// The network lock is left to criu (iptables, unless its configuration file says
	// nftables): criu 3.17's nftables lock dumps its own lock table with the namespace and
	// a restore cannot remove it, so the restored container's network stays locked.
	if empty != 0 {
		s.opts.EmptyNs = criu.Uint32(empty)
	}
	if cf := criu.ConfigFile(annotations); cf != "" {
		s.opts.ConfigFile = criu.String(cf)
	}
	return s, nil
}

// inherit passes f down to criu and returns the number criu knows it by.
func (s *criuSession) inherit(f *os.File) int32 {
	s.files = append(s.files, f)
	return criu.FD(len(s.files) - 1)
}

// do runs one request; a failure carries the end of criu's log.
func (s *criuSession) do(typ criu.ReqType, started func(int) error, notify func(*criu.Notify, []int) error) error {
	_, err := criu.Do(s.path, &criu.Request{Type: typ, Opts: s.opts, Files: s.files, Started: started, Notify: notify, Stderr: os.Stderr})
	if err != nil {
		return fmt.Errorf("%w%s", err, logTail(filepath.Join(s.work, s.log)))
	}
	return nil
}

// logTail returns the last lines of criu's log, to end an error with.
func logTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 8 {
		lines = lines[len(lines)-8:]
	}
	return "\n" + path + " ends:\n  " + strings.Join(lines, "\n  ")
}

// bindMountExternals names each bind mount of the config as external to criu: its
// source lies outside the container, so a dump records only the key (the destination)
// and a restore maps the key to a host path (value returns the path for a mount).
func bindMountExternals(spec *specs.Spec, value func(m *specs.Mount) string) []string {
	var out []string
	for i := range spec.Mounts {
		m := &spec.Mounts[i]
		if o, err := rootfs.ParseOptions(m.Type, m.Options); err != nil || !o.Bind {
			continue
		}
		out = append(out, "mnt["+m.Destination+"]:"+value(m))
	}
	return out
}

// Checkpoint dumps the running container with CRIU into o.ImagePath. Unless the dump
// leaves it running (or is a pre-dump), criu ends the container's processes and the
// container is deleted, as runc does: it lives on in its image.
func (c *Container) Checkpoint(o *CheckpointOpts) error {
	status := c.Status()
	if status != Running && status != Paused {
		return fmt.Errorf("checkpoint container %q in status %s: %w", c.ID(), status, ErrNotRunning)
	}
	log := "dump.log"
	typ := criu.ReqDump
	if o.PreDump {
		log, typ = "pre-dump.log", criu.ReqPreDump
	}
	s, err := newCriuSession(&o.CriuOpts, c.state.Annotations, true, log)
	if err != nil {
		return fmt.Errorf("checkpoint container %q: %w", c.ID(), err)
	}
	defer s.close()
	pid := c.state.Pid
	if err := saveDescriptors(o.ImagePath, pid); err != nil {
		return fmt.Errorf("checkpoint container %q: %w", c.ID(), err)
	}
	opts := s.opts
	opts.Pid = criu.Int32(int32(pid))
	opts.Root = criu.String(c.state.Rootfs)
	opts.LeaveRunning = criu.Bool(o.LeaveRunning || o.PreDump)
	// Memory changes are tracked for a later dump against this one (--parent-path).
	opts.TrackMem = criu.Bool(o.PreDump || o.ParentPath != "")
	if o.ParentPath != "" {
		opts.ParentImg = criu.String(o.ParentPath)
	}
	spec := c.state.Config
	if spec.Process != nil && spec.Process.Terminal {
		opts.OrphanPtsMaster = criu.Bool(true)
	}
	opts.External = bindMountExternals(spec, func(m *specs.Mount) string { return m.Destination })
	if cg := c.state.Cgroup.Paths; cg["freezer"] != "" {
		opts.FreezeCgroup = criu.String(cg["freezer"])
	} else if cg[""] != "" {
		opts.FreezeCgroup = criu.String(cg[""])
	}
	if o.PageServer != "" {
		ps, err := criu.PageServer(o.PageServer)
		if err != nil {
			return err
		}
		opts.Ps = ps
	}
	if o.StatusFd >= 0 {
		opts.StatusFd = criu.Int32(int32(o.StatusFd))
	}
	// Action scripts need no answer from husk beyond consent: the network of the
	// container is its own namespace, which criu locks itself.
	accept := func(*criu.Notify, []int) error { return nil }
	if err := s.do(typ, nil, accept); err != nil {
		return fmt.Errorf("checkpoint container %q: %w", c.ID(), err)
	}
	if o.PreDump || o.LeaveRunning {
		return nil
	}
	if err := c.Destroy(true); err != nil {
		return fmt.Errorf("checkpoint container %q: dumped, but %w", c.ID(), err)
	}
	return nil
}

// saveDescriptors records where the init's stdio points.
func saveDescriptors(dir string, pid int) error {
	var fds []string
	for i := 0; i < 3; i++ {
		t, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/fd/" + strconv.Itoa(i))
		if err != nil {
			t = "" // closed
		}
		fds = append(fds, t)
	}
	b, err := json.Marshal(fds)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, descriptorsFile), b, 0o600); err != nil {
		return fmt.Errorf("--image-path: %w", err)
	}
	return nil
}

// loadDescriptors reads what saveDescriptors wrote.
func loadDescriptors(dir string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(dir, descriptorsFile))
	if err != nil {
		return nil, fmt.Errorf("--image-path: %w (not a husk checkpoint?)", err)
	}
	var fds []string
	if err := json.Unmarshal(b, &fds); err != nil {
		return nil, fmt.Errorf("--image-path: %s: %w", descriptorsFile, err)
	}
	return fds, nil
}
