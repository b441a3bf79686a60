// Package initplan encodes programs for husk's C container init (libcontainer/nsenter/cinit.c).
//
// The parent compiles everything it can decide from config.json into a Plan: a list of ops,
// each a handful of arguments. The C init runs the list in order and execs the container
// process, so no Go runtime starts inside the container. An op needing a fact only the init
// can learn (what a path resolves to inside the rootfs, whether it exists) is a single op
// whose C side learns it and acts on it; the ops are listed with their arguments below.
//
// Wire format (little endian): per op a u32 code and a u32 argument count, then per argument a
// u32 length and its bytes. Integers are 8 bytes; strings carry a terminating NUL. The first
// argument of every op is the context that prefixes its error message ("mounts[2] ...").
//
// Fd slots are small integers naming fds the init keeps between ops (a rootfs handle, a
// mount point); Slot hands them out.
package initplan

import (
	"encoding/binary"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Op is an op code; cinit.h must match.
type Op uint32

// The ops and their arguments after the context string.
const (
	OpOpen         Op = iota + 1 // path, open flags, slot
	OpOpenInRoot                 // root slot, path, slot (O_PATH, resolved inside the root)
	OpMkdirInRoot                // root slot, path, slot (creates it and its parents)
	OpMkfileInRoot               // root slot, path, slot (creates an empty file and its parents)
	OpClose                      // slot
	OpCheckDir                   // slot: fails unless it is a directory
	OpMount                      // source, source slot, target, target slot, fstype, flags, data (a slot >= 0 replaces its path)
	OpRemountBind                // slot, path (when slot < 0), flags (keeps flags a user namespace locked)
	OpSetattr                    // slot, attr_set, attr_clr (mount_setattr AT_RECURSIVE)
	OpSymlink                    // dir slot, target, name, replace (1: unlink first)
	OpMknod                      // root slot, path, mode, dev, uid, gid (replaces what is there)
	OpMask                       // root slot, path (linux.maskedPaths semantics)
	OpReadonly                   // root slot, path (linux.readonlyPaths semantics)
	OpPivot                      // rootfs path
	OpNoPivot                    // rootfs path (move onto / and chroot)
	OpChroot                     // rootfs path (no mount namespace)
	OpSyscall                    // nr, pointer mask, tolerated errno, tolerated errno, up to 6 args
	OpWriteProc                  // path under /proc, alternative path, data (verified procfs)
	OpChdir                      // cwd (created when missing; must resolve inside the container)
	OpLookPath                   // args[0], PATH
	OpHome                       // uid: adds HOME from /etc/passwd to the exec environment
	OpChownStdio                 // uid, gid
	OpCloseRange                 // first fd made close-on-exec
	OpSend                       // packet for the parent
	OpExpect                     // substring the parent's next packet must contain
	OpReady                      // sends the ready message; later errors go to stderr
	OpWaitStart                  // slot of /proc/self/fd, exec FIFO fd number
	OpDropBounding               // capabilities kept (mask), last capability
	OpCapset                     // effective, permitted, inheritable, ambient (masks)
	OpSeccomp                    // flags, BPF program (struct sock_filter array), notify (0/1)
	OpExec                       // argc, args..., envc, env... (path from OpLookPath)
	OpConsole                    // console socket fd, rows, cols (process.terminal)
)

// maxSlots is NSLOTS in cinit.c.
const maxSlots = 32

// Plan is a program for the C init under construction.
type Plan struct {
	buf   []byte
	used  [maxSlots]bool
	ops   int
	full  bool
	names []Op // op codes in order, for tests and debugging
}

// Ptr marks a syscall argument passed as a pointer to its bytes.
type Ptr []byte

// Add appends op with its context and arguments (int, int64, uint64, uintptr, uint32,
// string, []byte or Ptr).
func (p *Plan) Add(op Op, what string, args ...any) {
	p.ops++
	p.names = append(p.names, op)
	p.buf = binary.LittleEndian.AppendUint32(p.buf, uint32(op))
	p.buf = binary.LittleEndian.AppendUint32(p.buf, uint32(len(args)+1))
	p.str(what)
	for _, a := range args {
		switch v := a.(type) {
		case int:
			p.num(uint64(v))
		case int64:
			p.num(uint64(v))
		case uint64:
			p.num(v)
		case uint32:
			p.num(uint64(v))
		case uintptr:
			p.num(uint64(v))
		case uint:
			p.num(uint64(v))
		case string:
			p.str(v)
		case []byte:
			p.bytes(v)
		case Ptr:
			p.bytes(v)
		default:
			panic(fmt.Sprintf("initplan: argument of type %T", a))
		}
	}
}

func (p *Plan) num(v uint64) {
	p.buf = binary.LittleEndian.AppendUint32(p.buf, 8)
	p.buf = binary.LittleEndian.AppendUint64(p.buf, v)
}

func (p *Plan) str(s string) {
	p.buf = binary.LittleEndian.AppendUint32(p.buf, uint32(len(s)+1))
	p.buf = append(append(p.buf, s...), 0)
}

func (p *Plan) bytes(b []byte) {
	p.buf = binary.LittleEndian.AppendUint32(p.buf, uint32(len(b)))
	p.buf = append(p.buf, b...)
}

// Slot reserves an fd slot; Free returns it.
func (p *Plan) Slot() int {
	for i := range p.used {
		if !p.used[i] {
			p.used[i] = true
			return i
		}
	}
	p.full = true
	return maxSlots - 1
}

// Free closes the fd in slot s and makes the slot available again.
func (p *Plan) Free(s int) {
	p.Add(OpClose, "close", s)
	p.used[s] = false
}

// Syscall appends a raw system call; each arg is an integer or a Ptr. Errors equal to one of
// okErrs are ignored.
func (p *Plan) Syscall(what string, nr uintptr, args []any, okErrs ...unix.Errno) {
	if len(args) > 6 || len(okErrs) > 2 {
		panic("initplan: too many syscall arguments")
	}
	mask := 0
	for i, a := range args {
		if _, ok := a.(Ptr); ok {
			mask |= 1 << i
		}
	}
	ok := [2]int{}
	for i, e := range okErrs {
		ok[i] = int(e)
	}
	p.Add(OpSyscall, what, append([]any{nr, mask, ok[0], ok[1]}, args...)...)
}

// Ops returns the op codes appended so far, in order.
func (p *Plan) Ops() []Op { return p.names }

// Bytes returns the encoded plan.
func (p *Plan) Bytes() ([]byte, error) {
	if p.full {
		return nil, fmt.Errorf("initplan: more than %d fds held at once", maxSlots)
	}
	return p.buf, nil
}

// Memfd returns the plan in a sealed memfd, which the init maps instead of copying: its pages
// are charged to the caller, not to the container's memory cgroup.
func (p *Plan) Memfd() (*os.File, error) {
	b, err := p.Bytes()
	if err != nil {
		return nil, err
	}
	fd, err := unix.MemfdCreate("husk-plan", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, os.NewSyscallError("memfd_create", err)
	}
	f := os.NewFile(uintptr(fd), "husk-plan")
	if _, err := f.Write(b); err != nil {
		f.Close()
		return nil, fmt.Errorf("write plan: %w", err)
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, seals); err != nil {
		f.Close()
		return nil, os.NewSyscallError("fcntl F_ADD_SEALS", err)
	}
	return f, nil
}
