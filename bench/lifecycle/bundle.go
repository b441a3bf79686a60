package main

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// The subset of the runtime-spec config that the benchmark writes. Only the
// standard library may be used here, so these are local types.
type (
	ociSpec struct {
		OCIVersion string     `json:"ociVersion"`
		Process    ociProcess `json:"process"`
		Root       ociRoot    `json:"root"`
		Hostname   string     `json:"hostname"`
		Mounts     []ociMount `json:"mounts"`
		Linux      ociLinux   `json:"linux"`
	}
	ociProcess struct {
		Terminal        bool             `json:"terminal"`
		User            ociUser          `json:"user"`
		Args            []string         `json:"args"`
		Env             []string         `json:"env"`
		Cwd             string           `json:"cwd"`
		Capabilities    map[string]any   `json:"capabilities"`
		Rlimits         []map[string]any `json:"rlimits"`
		NoNewPrivileges bool             `json:"noNewPrivileges"`
	}
	ociUser struct {
		UID int `json:"uid"`
		GID int `json:"gid"`
	}
	ociRoot struct {
		Path     string `json:"path"`
		Readonly bool   `json:"readonly"`
	}
	ociMount struct {
		Destination string   `json:"destination"`
		Type        string   `json:"type"`
		Source      string   `json:"source"`
		Options     []string `json:"options,omitempty"`
	}
	ociLinux struct {
		Resources     map[string]any      `json:"resources"`
		CgroupsPath   string              `json:"cgroupsPath,omitempty"`
		Namespaces    []map[string]string `json:"namespaces"`
		MaskedPaths   []string            `json:"maskedPaths"`
		ReadonlyPaths []string            `json:"readonlyPaths"`
		Seccomp       *seccompProfile     `json:"seccomp,omitempty"`
	}
)

// cgroupsPathMark stands for the per-container cgroupsPath in a rendered
// template; it is replaced without re-encoding the JSON.
const cgroupsPathMark = "@HUSKBENCH_CGROUPS_PATH@"

// defaultSpec returns what `runc spec` writes (runc 1.1), minus the terminal,
// running args.
func defaultSpec(rootfs string, args []string) ociSpec {
	caps := []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}
	return ociSpec{
		OCIVersion: "1.0.2-dev",
		Process: ociProcess{
			User: ociUser{},
			Args: args,
			Env:  []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"},
			Cwd:  "/",
			Capabilities: map[string]any{
				"bounding": caps, "effective": caps, "permitted": caps, "ambient": caps,
			},
			Rlimits:         []map[string]any{{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}},
			NoNewPrivileges: true,
		},
		Root:     ociRoot{Path: rootfs, Readonly: true},
		Hostname: "runc",
		Mounts: []ociMount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
		},
		Linux: ociLinux{
			Resources: map[string]any{"devices": []map[string]any{{"allow": false, "access": "rwm"}}},
			Namespaces: []map[string]string{
				{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"},
			},
			MaskedPaths: []string{
				"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
				"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
			},
			ReadonlyPaths: []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"},
		},
	}
}

// templates holds the rendered config.json variants, each with
// cgroupsPathMark where the container's cgroupsPath goes.
type templates struct {
	trueCmd, sleep, seccomp []byte
}

func renderTemplate(s ociSpec) ([]byte, error) {
	s.Linux.CgroupsPath = cgroupsPathMark
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	return b, nil
}

// newTemplates renders the three configs the rows use; rootfs is absolute so
// that per-container bundles need only a config.json. A non-empty base is a
// config.json to start from instead of defaultSpec: its process.args,
// process.terminal, root, linux.cgroupsPath and linux.seccomp are replaced.
func newTemplates(rootfs string, base []byte) (*templates, error) {
	if len(base) > 0 {
		return templatesFrom(rootfs, base)
	}
	var t templates
	var err error
	if t.trueCmd, err = renderTemplate(defaultSpec(rootfs, []string{"/bin/true"})); err != nil {
		return nil, err
	}
	if t.sleep, err = renderTemplate(defaultSpec(rootfs, []string{"/bin/sleep", "1000000"})); err != nil {
		return nil, err
	}
	s := defaultSpec(rootfs, []string{"/bin/true"})
	s.Linux.Seccomp = dockerLikeProfile()
	if t.seccomp, err = renderTemplate(s); err != nil {
		return nil, err
	}
	return &t, nil
}

// templatesFrom renders the templates from a user's config.json.
func templatesFrom(rootfs string, base []byte) (*templates, error) {
	render := func(args []string, secc *seccompProfile) ([]byte, error) {
		var m map[string]any
		if err := json.Unmarshal(base, &m); err != nil {
			return nil, fmt.Errorf("parse template config: %w", err)
		}
		proc, _ := m["process"].(map[string]any)
		if proc == nil {
			proc = map[string]any{"cwd": "/", "user": map[string]any{"uid": 0, "gid": 0}}
			m["process"] = proc
		}
		proc["args"], proc["terminal"] = args, false
		m["root"] = map[string]any{"path": rootfs, "readonly": true}
		linux, _ := m["linux"].(map[string]any)
		if linux == nil {
			linux = map[string]any{}
			m["linux"] = linux
		}
		linux["cgroupsPath"] = cgroupsPathMark
		delete(linux, "seccomp")
		if secc != nil {
			linux["seccomp"] = secc
		}
		b, err := json.Marshal(m)
		if err != nil {
			return nil, fmt.Errorf("encode config: %w", err)
		}
		return b, nil
	}
	var t templates
	var err error
	if t.trueCmd, err = render([]string{"/bin/true"}, nil); err != nil {
		return nil, err
	}
	if t.sleep, err = render([]string{"/bin/sleep", "1000000"}, nil); err != nil {
		return nil, err
	}
	if t.seccomp, err = render([]string{"/bin/true"}, dockerLikeProfile()); err != nil {
		return nil, err
	}
	return &t, nil
}

// config returns tmpl with the container's cgroupsPath filled in.
func config(tmpl []byte, cgroupsPath string) []byte {
	return bytes.Replace(tmpl, []byte(cgroupsPathMark), []byte(cgroupsPath), 1)
}

// busyboxPath is where Debian's busybox-static puts its binary.
const busyboxPath = "/bin/busybox"

// isStatic reports whether the ELF file at path has no program interpreter.
func isStatic(path string) (bool, error) {
	f, err := elf.Open(path)
	if err != nil {
		return false, fmt.Errorf("read elf %s: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false, nil
		}
	}
	return true, nil
}

// ensureBusybox installs busybox-static when /bin/busybox is missing or
// dynamically linked (the container rootfs has no libraries).
func ensureBusybox() error {
	if ok, err := isStatic(busyboxPath); err == nil && ok {
		return nil
	}
	logf("installing busybox-static (%s missing or not static)", busyboxPath)
	cmd := exec.Command("apt-get", "install", "-y", "-q", "busybox-static")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("install busybox-static: %w", err)
	}
	ok, err := isStatic(busyboxPath)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("check %s: still not statically linked", busyboxPath)
	}
	return nil
}

// prepareBundle makes dir/rootfs (static busybox and its applet links) unless
// it exists, and writes dir/config.json as `runc spec` would with args
// ["/bin/true"]. It returns the absolute rootfs path.
func prepareBundle(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("bundle path %s: %w", dir, err)
	}
	rootfs := filepath.Join(dir, "rootfs")
	if _, err := os.Stat(filepath.Join(rootfs, "bin", "busybox")); errors.Is(err, fs.ErrNotExist) {
		if err := ensureBusybox(); err != nil {
			return "", err
		}
		if err := buildRootfs(rootfs); err != nil {
			return "", err
		}
	} else if err != nil {
		return "", fmt.Errorf("stat rootfs %s: %w", rootfs, err)
	}
	s := defaultSpec("rootfs", []string{"/bin/true"})
	b, err := json.MarshalIndent(s, "", "\t")
	if err != nil {
		return "", fmt.Errorf("encode config: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(dir, "config.json"), append(b, '\n')); err != nil {
		return "", err
	}
	return rootfs, nil
}

// buildRootfs builds the rootfs in a sibling temporary directory and renames
// it into place, so an interrupted build leaves no half-made rootfs.
func buildRootfs(rootfs string) (retErr error) {
	parent := filepath.Dir(rootfs)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("mkdir %s: %w", parent, err)
	}
	tmp, err := os.MkdirTemp(parent, ".rootfs-")
	if err != nil {
		return fmt.Errorf("mkdir temp rootfs: %w", err)
	}
	defer func() {
		if retErr != nil {
			_ = os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("chmod %s: %w", tmp, err)
	}
	for _, d := range []string{"bin", "dev", "etc", "proc", "root", "run", "sys", "tmp"} {
		if err := os.Mkdir(filepath.Join(tmp, d), 0o755); err != nil {
			return fmt.Errorf("mkdir rootfs dir: %w", err)
		}
	}
	bb, err := os.ReadFile(busyboxPath)
	if err != nil {
		return fmt.Errorf("read busybox: %w", err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "bin", "busybox"), bb, 0o755); err != nil {
		return fmt.Errorf("write busybox: %w", err)
	}
	out, err := exec.Command(busyboxPath, "--list").Output()
	if err != nil {
		return fmt.Errorf("list busybox applets: %w", err)
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet == "busybox" || strings.Contains(applet, "/") {
			continue
		}
		if err := os.Symlink("busybox", filepath.Join(tmp, "bin", applet)); err != nil {
			return fmt.Errorf("link applet %s: %w", applet, err)
		}
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\n",
		"etc/group":  "root:x:0:\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(tmp, name), []byte(content), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	if err := os.Rename(tmp, rootfs); err != nil {
		return fmt.Errorf("rename rootfs into place: %w", err)
	}
	return nil
}

// writeFileAtomic writes data to path through a temporary file and rename.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, werr := f.Write(data)
	cerr := f.Close()
	if err := errors.Join(werr, cerr, os.Chmod(f.Name(), 0o644)); err != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
