package rootfs

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// Options is one mount's parsed "options" list.
type Options struct {
	Flags       uintptr // mount(2) flags to set
	Clear       uintptr // flags the options turn off explicitly (rw, suid, ...)
	Propagation []uintptr
	// Recursive attributes for mount_setattr(2) with AT_RECURSIVE ("rro", "rnosuid", ...).
	AttrSet, AttrClr uint64
	Data             []string // fs-specific options passed as mount data
	Bind, Recursive  bool
	TmpCopyUp        bool
	IDMap            string // "idmap" or "ridmap" when asked
}

type flagOpt struct {
	clear bool
	flag  uintptr
}

var flagOpts = map[string]flagOpt{
	"async": {true, unix.MS_SYNCHRONOUS}, "atime": {true, unix.MS_NOATIME},
	"defaults": {false, 0}, "dev": {true, unix.MS_NODEV}, "diratime": {true, unix.MS_NODIRATIME},
	"dirsync": {false, unix.MS_DIRSYNC}, "exec": {true, unix.MS_NOEXEC},
	"iversion": {false, unix.MS_I_VERSION}, "lazytime": {false, unix.MS_LAZYTIME},
	"loud": {true, unix.MS_SILENT}, "mand": {false, unix.MS_MANDLOCK},
	"noatime": {false, unix.MS_NOATIME}, "nodev": {false, unix.MS_NODEV},
	"nodiratime": {false, unix.MS_NODIRATIME}, "noexec": {false, unix.MS_NOEXEC},
	"noiversion": {true, unix.MS_I_VERSION}, "nolazytime": {true, unix.MS_LAZYTIME},
	"nomand": {true, unix.MS_MANDLOCK}, "norelatime": {true, unix.MS_RELATIME},
	"nostrictatime": {true, unix.MS_STRICTATIME}, "nosuid": {false, unix.MS_NOSUID},
	"nosymfollow": {false, unix.MS_NOSYMFOLLOW}, "relatime": {false, unix.MS_RELATIME},
	"remount": {false, unix.MS_REMOUNT}, "ro": {false, unix.MS_RDONLY}, "rw": {true, unix.MS_RDONLY},
	"silent": {false, unix.MS_SILENT}, "strictatime": {false, unix.MS_STRICTATIME},
	"suid": {true, unix.MS_NOSUID}, "sync": {false, unix.MS_SYNCHRONOUS},
	"symfollow": {true, unix.MS_NOSYMFOLLOW},
}

var propagationOpts = map[string]uintptr{
	"private": unix.MS_PRIVATE, "rprivate": unix.MS_PRIVATE | unix.MS_REC,
	"shared": unix.MS_SHARED, "rshared": unix.MS_SHARED | unix.MS_REC,
	"slave": unix.MS_SLAVE, "rslave": unix.MS_SLAVE | unix.MS_REC,
	"unbindable": unix.MS_UNBINDABLE, "runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

type attrOpt struct {
	clear bool
	attr  uint64
}

var recAttrOpts = map[string]attrOpt{
	"rro": {false, unix.MOUNT_ATTR_RDONLY}, "rrw": {true, unix.MOUNT_ATTR_RDONLY},
	"rnosuid": {false, unix.MOUNT_ATTR_NOSUID}, "rsuid": {true, unix.MOUNT_ATTR_NOSUID},
	"rnodev": {false, unix.MOUNT_ATTR_NODEV}, "rdev": {true, unix.MOUNT_ATTR_NODEV},
	"rnoexec": {false, unix.MOUNT_ATTR_NOEXEC}, "rexec": {true, unix.MOUNT_ATTR_NOEXEC},
	"rnodiratime": {false, unix.MOUNT_ATTR_NODIRATIME}, "rdiratime": {true, unix.MOUNT_ATTR_NODIRATIME},
	"rnoatime": {false, unix.MOUNT_ATTR_NOATIME}, "rrelatime": {false, unix.MOUNT_ATTR_RELATIME},
	"rstrictatime": {false, unix.MOUNT_ATTR_STRICTATIME},
	"rnosymfollow": {false, unix.MOUNT_ATTR_NOSYMFOLLOW}, "rsymfollow": {true, unix.MOUNT_ATTR_NOSYMFOLLOW},
}

// KnownOptions lists every option name ParseOptions understands (for `husk features`).
func KnownOptions() []string {
	var out []string
	for k := range flagOpts {
		out = append(out, k)
	}
	for k := range propagationOpts {
		out = append(out, k)
	}
	for k := range recAttrOpts {
		out = append(out, k)
	}
	return append(out, "bind", "rbind", "tmpcopyup", "idmap", "ridmap")
}

// ParseOptions parses a mount's options. Options it does not know are fs-specific data
// ("size=64m", "mode=755"); for bind mounts, which take no data, a word without "=" that is not
// a known option is an error.
func ParseOptions(typ string, opts []string) (*Options, error) {
	o := &Options{}
	for _, opt := range opts {
		if f, ok := flagOpts[opt]; ok {
			if f.clear {
				o.Flags &^= f.flag
				o.Clear |= f.flag
			} else {
				o.Flags |= f.flag
				o.Clear &^= f.flag
			}
			continue
		}
		if p, ok := propagationOpts[opt]; ok {
			o.Propagation = append(o.Propagation, p)
			continue
		}
		if a, ok := recAttrOpts[opt]; ok {
			if a.clear {
				o.AttrClr |= a.attr
			} else {
				o.AttrSet |= a.attr
			}
			continue
		}
		switch opt {
		case "bind":
			o.Bind = true
		case "rbind":
			o.Bind, o.Recursive = true, true
		case "tmpcopyup":
			o.TmpCopyUp = true
		case "idmap", "ridmap":
			o.IDMap = opt
		default:
			o.Data = append(o.Data, opt)
		}
	}
	if typ == "bind" {
		o.Bind = true
	}
	if o.Bind {
		for _, d := range o.Data {
			if !strings.Contains(d, "=") {
				return nil, fmt.Errorf("unknown mount option %q", d)
			}
		}
	}
	return o, nil
}
