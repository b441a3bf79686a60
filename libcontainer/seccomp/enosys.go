package seccomp

import (
	"fmt"
	"slices"

	"golang.org/x/sys/unix"
)

// Offsets in struct seccomp_data (include/uapi/linux/seccomp.h).
const (
	offNr   = 0
	offArch = 4
)

// abiLimit is the ENOSYS window of one ABI: syscall numbers above max (and
// below private, when private is not 0) are newer than the profile.
type abiLimit struct {
	audit   uint32
	x32     bool
	max     uint32
	private uint32
}

// label names a position in the prefix, resolved once the layout is known.
type label int

const (
	next   label = iota // the following instruction
	start               // the first instruction of libseccomp's program
	enosys              // the "return ENOSYS" instruction
	firstFreeLabel
)

// asmInsn is an instruction whose jump targets are labels.
type asmInsn struct {
	code   uint16
	k      uint32
	jt, jf label
	// at, when not 0, is a label placed on this instruction.
	at label
}

// enosysPrefix returns the instructions to put before libseccomp's program
// so that syscalls newer than the profile fail with ENOSYS (see the package
// documentation). It returns nil when limits is empty.
func enosysPrefix(limits []abiLimit) ([]unix.SockFilter, error) {
	if len(limits) == 0 {
		return nil, nil
	}
	// Group the ABIs by the value of seccomp_data.arch, in a stable order.
	type group struct {
		audit       uint32
		native, x32 *abiLimit
	}
	var groups []*group
	for i := range limits {
		l := &limits[i]
		idx := slices.IndexFunc(groups, func(g *group) bool { return g.audit == l.audit })
		if idx < 0 {
			groups = append(groups, &group{audit: l.audit})
			idx = len(groups) - 1
		}
		if l.x32 {
			groups[idx].x32 = l
		} else {
			groups[idx].native = l
		}
	}
	slices.SortFunc(groups, func(a, b *group) int { return int(int64(a.audit) - int64(b.audit)) })

	jmp := func(op uint16, k uint32, jt, jf label) asmInsn {
		return asmInsn{code: unix.BPF_JMP | op | unix.BPF_K, k: k, jt: jt, jf: jf}
	}
	// check emits the test of the number in A against l, jumping to
	// enosys or start.
	check := func(l *abiLimit) []asmInsn {
		switch {
		case l == nil:
			return []asmInsn{{code: unix.BPF_JMP | unix.BPF_JA, jt: start}}
		case l.private == 0:
			return []asmInsn{jmp(unix.BPF_JGT, l.max, enosys, start)}
		default:
			return []asmInsn{
				jmp(unix.BPF_JGT, l.max, next, start),
				jmp(unix.BPF_JGE, l.private, start, enosys),
			}
		}
	}

	prog := []asmInsn{{code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, k: offArch}}
	free := firstFreeLabel
	for _, g := range groups {
		skip := free
		free++
		prog = append(prog,
			jmp(unix.BPF_JEQ, g.audit, next, skip),
			asmInsn{code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, k: offNr})
		if g.audit == unix.AUDIT_ARCH_X86_64 {
			// x32 and x86_64 share the arch value; bit 30 of the
			// number tells them apart. Without x32 in the filter,
			// an x32 number goes to libseccomp unchanged.
			x32 := free
			free++
			prog = append(prog, jmp(unix.BPF_JSET, x32SyscallBit, x32, next))
			prog = append(prog, check(g.native)...)
			c := check(g.x32)
			c[0].at = x32
			prog = append(prog, c...)
		} else {
			prog = append(prog, check(g.native)...)
		}
		// The next group starts at the next instruction appended.
		prog = append(prog, asmInsn{at: skip, code: noInsn})
	}
	prog = append(prog,
		asmInsn{code: unix.BPF_JMP | unix.BPF_JA, jt: start},
		asmInsn{at: enosys, code: unix.BPF_RET | unix.BPF_K, k: unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)},
		asmInsn{at: start, code: noInsn})
	return assemble(prog)
}

// noInsn marks a placeholder that only carries a label for the instruction
// after it.
const noInsn = 0xffff

// assemble resolves labels to relative offsets.
func assemble(prog []asmInsn) ([]unix.SockFilter, error) {
	pos := map[label]int{}
	pc := 0
	for _, in := range prog {
		if in.at != 0 {
			pos[in.at] = pc
		}
		if in.code != noInsn {
			pc++
		}
	}
	out := make([]unix.SockFilter, 0, pc)
	offset := func(pc int, l label) (int, error) {
		if l == next {
			return 0, nil
		}
		to, ok := pos[l]
		if !ok {
			return 0, fmt.Errorf("assemble enosys prefix: undefined label %d", l)
		}
		return to - pc - 1, nil
	}
	for _, in := range prog {
		if in.code == noInsn {
			continue
		}
		pc := len(out)
		f := unix.SockFilter{Code: in.code, K: in.k}
		if in.code&0x07 == unix.BPF_JMP {
			jt, err := offset(pc, in.jt)
			if err != nil {
				return nil, err
			}
			if in.code&0xf0 == unix.BPF_JA {
				f.K = uint32(jt)
			} else {
				jf, err := offset(pc, in.jf)
				if err != nil {
					return nil, err
				}
				if jt > 255 || jf > 255 {
					return nil, fmt.Errorf("assemble enosys prefix: jump of %d/%d instructions does not fit in 8 bits", jt, jf)
				}
				f.Jt, f.Jf = uint8(jt), uint8(jf)
			}
		}
		out = append(out, f)
	}
	return out, nil
}
