package devices

import (
	"errors"
	"fmt"
	"math"

	"golang.org/x/sys/unix"
)

// Values in struct bpf_cgroup_dev_ctx (include/uapi/linux/bpf.h): the low
// 16 bits of access_type are the device type, the high 16 the access.
const (
	devcgBlock = 1 // BPF_DEVCG_DEV_BLOCK
	devcgChar  = 2 // BPF_DEVCG_DEV_CHAR
	accMknod   = 1 // BPF_DEVCG_ACC_MKNOD
	accRead    = 2 // BPF_DEVCG_ACC_READ
	accWrite   = 4 // BPF_DEVCG_ACC_WRITE
)

func accessBits(s string) int32 {
	var b int32
	for _, c := range s {
		switch c {
		case 'm':
			b |= accMknod
		case 'r':
			b |= accRead
		case 'w':
			b |= accWrite
		}
	}
	return b
}

// Program compiles rules into the instructions of a cgroup device program.
// The rules are read like the v1 lists: a later rule overrides an earlier
// one, so the program tests them last to first and the first match decides.
// An allow rule matches when every requested access is among its own; a
// deny rule when any requested access is. A request no rule matches is
// denied.
func Program(rules []Rule) ([]Insn, error) {
	insns := []Insn{
		ldxW(r2, r1, 0), // access_type
		movReg(r3, r2),
		aluImm(unix.BPF_RSH, r3, 16),     // R3 = access
		aluImm(unix.BPF_AND, r2, 0xffff), // R2 = type
		ldxW(r4, r1, 4),                  // major
		ldxW(r5, r1, 8),                  // minor
	}
	for i := len(rules) - 1; i >= 0; i-- {
		r := rules[i]
		// The tests of a rule jump to its end, where the next rule starts,
		// when the request does not match; Program patches their offsets
		// once the block is whole.
		var block []Insn
		switch r.Type {
		case 'a':
		case 'b':
			block = append(block, jmpImm(unix.BPF_JNE, r2, devcgBlock))
		case 'c':
			block = append(block, jmpImm(unix.BPF_JNE, r2, devcgChar))
		default:
			return nil, fmt.Errorf("device rule %q: unknown type %q", r, r.Type)
		}
		for _, m := range []struct {
			reg uint8
			val int64
		}{{r4, r.Major}, {r5, r.Minor}} {
			if m.val < 0 {
				continue
			}
			if m.val > math.MaxInt32 {
				return nil, fmt.Errorf("device rule %q: number %d out of range", r, m.val)
			}
			block = append(block, jmpImm(unix.BPF_JNE, m.reg, int32(m.val)))
		}
		bits := accessBits(r.Access)
		if bits != accMknod|accRead|accWrite {
			if r.Allow {
				block = append(block, movReg(r6, r3), aluImm(unix.BPF_AND, r6, ^bits&0x7), jmpImm(unix.BPF_JNE, r6, 0))
			} else {
				block = append(block, movReg(r6, r3), aluImm(unix.BPF_AND, r6, bits), jmpImm(unix.BPF_JEQ, r6, 0))
			}
		}
		verdict := int32(0)
		if r.Allow {
			verdict = 1
		}
		unconditional := len(block) == 0
		block = append(block, movImm(r0, verdict), exit())
		for j := range block {
			if block[j].isJump() {
				block[j].Off = int16(len(block) - j - 1)
			}
		}
		if len(insns)+len(block) > math.MaxInt16 {
			return nil, fmt.Errorf("device rules: %d rules make too long a program", len(rules))
		}
		insns = append(insns, block...)
		if unconditional {
			// Every request stops here; the verifier rejects the
			// unreachable rest.
			return insns, nil
		}
	}
	return append(insns, movImm(r0, 0), exit()), nil
}

// AttachV2 loads the program for rules and attaches it to the cgroup v2
// directory dir with BPF_F_ALLOW_MULTI, then detaches the device programs
// that were attached before, so that there is no moment without a filter.
// The attachment outlives this process (it is not a bpf_link).
func AttachV2(dir string, rules []Rule) error {
	insns, err := Program(rules)
	if err != nil {
		return err
	}
	prog, err := loadProgram(insns)
	if err != nil {
		return fmt.Errorf("load device filter for %s: %w", dir, err)
	}
	defer unix.Close(prog)

	fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer unix.Close(fd)

	old, _ := queryPrograms(fd) // none can be listed: nothing to replace
	if err := attachProgram(fd, prog); err != nil {
		return fmt.Errorf("attach device filter to %s: %w", dir, err)
	}
	var errs []error
	for _, id := range old {
		p, err := programByID(id)
		if err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			errs = append(errs, fmt.Errorf("open old device filter %d on %s: %w", id, dir, err))
			continue
		}
		err = detachProgram(fd, p)
		unix.Close(p)
		if err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("detach old device filter %d from %s: %w", id, dir, err))
		}
	}
	return errors.Join(errs...)
}
