package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/libcontainer/internal/userns"
)

// IDMapped is a detached idmapped mount made by the parent for mounts[Index].
type IDMapped struct {
	Index int
	File  *os.File // open_tree(2) handle, moved into place by the init with move_mount(2)
}

// wantsIDMap reports whether a mount asks for an idmapping: the "idmap" or "ridmap" option,
// or uidMappings/gidMappings ("SHOULD contain either idmap or ridmap" -OCI runtime-spec
// config.md; husk does not drop the mapping when neither option is there).
func wantsIDMap(m *specs.Mount, o *Options) bool {
	return o.IDMap != "" || len(m.UIDMappings) > 0 || len(m.GIDMappings) > 0
}

// OpenIDMapped makes a detached, idmapped copy of the source of each mount that asks for
// one. It runs in the parent, as root of the initial user namespace: the kernel lets only
// a caller privileged over the filesystem's own user namespace idmap it, which an init in
// a new user namespace is not. containerUserNS is the container's user namespace
// (/proc/<pid>/ns/user) when it has a new one, else "": a mount without its own mappings
// takes the container's ("If they are not specified, the runtime MAY use the container's
// user namespace mapping, otherwise an error MUST be returned").
//
// On success the caller owns the files; on error none are left open.
func OpenIDMapped(mounts []specs.Mount, bundle, containerUserNS string) (_ []IDMapped, retErr error) {
	var out []IDMapped
	defer func() {
		if retErr != nil {
			for _, m := range out {
				m.File.Close()
			}
		}
	}()
	for i := range mounts {
		m := &mounts[i]
		o, err := ParseOptions(m.Type, m.Options)
		if err != nil {
			return nil, fmt.Errorf("mounts[%d] (destination %q): %w", i, m.Destination, err)
		}
		if !wantsIDMap(m, o) {
			continue
		}
		f, err := openIDMapped(m, o, bundle, containerUserNS)
		if err != nil {
			return nil, fmt.Errorf("mounts[%d] (destination %q): %w", i, m.Destination, err)
		}
		out = append(out, IDMapped{Index: i, File: f})
	}
	return out, nil
}

func openIDMapped(m *specs.Mount, o *Options, bundle, containerUserNS string) (*os.File, error) {
	if !o.Bind {
		return nil, errors.New("idmap: only bind mounts can be idmapped")
	}
	if (len(m.UIDMappings) > 0) != (len(m.GIDMappings) > 0) {
		return nil, errors.New("uidMappings and gidMappings: each must be specified along with the other")
	}
	var ns *os.File
	var err error
	if len(m.UIDMappings) > 0 {
		if ns, err = userns.NewFD(m.UIDMappings, m.GIDMappings); err != nil {
			return nil, fmt.Errorf("uidMappings: %w", err)
		}
	} else {
		if containerUserNS == "" {
			return nil, fmt.Errorf("%s: no uidMappings and gidMappings, and the container has no user namespace of its own to take them from", o.IDMap)
		}
		if ns, err = os.OpenFile(containerUserNS, unix.O_RDONLY|unix.O_CLOEXEC, 0); err != nil {
			return nil, fmt.Errorf("%s: %w", o.IDMap, err)
		}
	}
	defer ns.Close()
	src := m.Source
	if src == "" {
		return nil, errors.New("source is required for a bind mount")
	}
	if !filepath.IsAbs(src) {
		src = filepath.Join(bundle, src)
	}
	flags := uint(unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC)
	if o.Recursive {
		flags |= unix.AT_RECURSIVE
	}
	fd, err := unix.OpenTree(unix.AT_FDCWD, src, flags)
	if err != nil {
		return nil, fmt.Errorf("bind source: %w", &os.PathError{Op: "open_tree", Path: src, Err: err})
	}
	tree := os.NewFile(uintptr(fd), src)
	// "idmap" maps the top mount only; "ridmap" every mount of an rbind's tree.
	setFlags := unix.AT_EMPTY_PATH
	if o.IDMap == "ridmap" {
		setFlags |= unix.AT_RECURSIVE
	}
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(ns.Fd())}
	if err := unix.MountSetattr(fd, "", uint(setFlags), attr); err != nil {
		tree.Close()
		if errors.Is(err, unix.EINVAL) {
			return nil, fmt.Errorf("idmap %s: %w (the filesystem may not support idmapped mounts)", src, &os.PathError{Op: "mount_setattr", Path: src, Err: err})
		}
		return nil, fmt.Errorf("idmap %s: %w", src, &os.PathError{Op: "mount_setattr", Path: src, Err: err})
	}
	return tree, nil
}

// attachIDMapped moves the detached mount tree onto target (an O_PATH handle inside the
// rootfs), in the init.
func attachIDMapped(tree, target *os.File) error {
	err := unix.MoveMount(int(tree.Fd()), "", int(target.Fd()), "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH)
	if err != nil {
		return &os.PathError{Op: "move_mount idmapped mount", Path: target.Name(), Err: err}
	}
	return nil
}
