package devices

import (
	"errors"
	"fmt"
	"math"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
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
func Program(rules []Rule) (asm.Instructions, error) {
	insns := asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, 0, asm.Word), // access_type
		asm.Mov.Reg(asm.R3, asm.R2),
		asm.RSh.Imm(asm.R3, 16),                  // R3 = access
		asm.And.Imm(asm.R2, 0xffff),              // R2 = type
		asm.LoadMem(asm.R4, asm.R1, 4, asm.Word), // major
		asm.LoadMem(asm.R5, asm.R1, 8, asm.Word), // minor
	}
	label := func(i int) string { return fmt.Sprintf("rule_%d", i) }
	n := 0
	for i := len(rules) - 1; i >= 0; i-- {
		r := rules[i]
		next := label(n + 1)
		var block asm.Instructions
		switch r.Type {
		case 'a':
		case 'b':
			block = append(block, asm.JNE.Imm(asm.R2, devcgBlock, next))
		case 'c':
			block = append(block, asm.JNE.Imm(asm.R2, devcgChar, next))
		default:
			return nil, fmt.Errorf("device rule %q: unknown type %q", r, r.Type)
		}
		for _, m := range []struct {
			reg asm.Register
			val int64
		}{{asm.R4, r.Major}, {asm.R5, r.Minor}} {
			if m.val < 0 {
				continue
			}
			if m.val > math.MaxInt32 {
				return nil, fmt.Errorf("device rule %q: number %d out of range", r, m.val)
			}
			block = append(block, asm.JNE.Imm(m.reg, int32(m.val), next))
		}
		bits := accessBits(r.Access)
		if bits != accMknod|accRead|accWrite {
			if r.Allow {
				block = append(block,
					asm.Mov.Reg(asm.R6, asm.R3),
					asm.And.Imm(asm.R6, ^bits&0x7),
					asm.JNE.Imm(asm.R6, 0, next))
			} else {
				block = append(block,
					asm.Mov.Reg(asm.R6, asm.R3),
					asm.And.Imm(asm.R6, bits),
					asm.JEq.Imm(asm.R6, 0, next))
			}
		}
		verdict := int32(0)
		if r.Allow {
			verdict = 1
		}
		unconditional := len(block) == 0
		block = append(block, asm.Mov.Imm(asm.R0, verdict), asm.Return())
		block[0] = block[0].WithSymbol(label(n))
		insns = append(insns, block...)
		n++
		if unconditional {
			// Every request stops here; the verifier rejects the
			// unreachable rest.
			return insns, nil
		}
	}
	insns = append(insns, asm.Mov.Imm(asm.R0, 0).WithSymbol(label(n)), asm.Return())
	return insns, nil
}

// AttachV2 loads the program for rules and attaches it to the cgroup v2
// directory dir with BPF_F_ALLOW_MULTI, then detaches the device programs
// that were attached before, so that there is no moment without a filter.
// The attachment outlives this process (it is not a bpf_link).
func AttachV2(dir string, rules []Rule) (retErr error) {
	insns, err := Program(rules)
	if err != nil {
		return err
	}
	prog, err := ebpf.NewProgramWithOptions(&ebpf.ProgramSpec{
		Type:         ebpf.CGroupDevice,
		License:      "Apache",
		Instructions: insns,
	}, ebpf.ProgramOptions{})
	if err != nil {
		return fmt.Errorf("load device filter for %s: %w", dir, err)
	}
	defer prog.Close()

	fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer unix.Close(fd)

	var old []ebpf.ProgramID
	if res, err := link.QueryPrograms(link.QueryOptions{Target: fd, Attach: ebpf.AttachCGroupDevice}); err == nil {
		for _, p := range res.Programs {
			old = append(old, p.ID)
		}
	}
	if err := link.RawAttachProgram(link.RawAttachProgramOptions{
		Target: fd, Program: prog, Attach: ebpf.AttachCGroupDevice, Flags: unix.BPF_F_ALLOW_MULTI,
	}); err != nil {
		return fmt.Errorf("attach device filter to %s: %w", dir, err)
	}
	var errs []error
	for _, id := range old {
		p, err := ebpf.NewProgramFromID(id)
		if err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			errs = append(errs, fmt.Errorf("open old device filter %d on %s: %w", id, dir, err))
			continue
		}
		err = link.RawDetachProgram(link.RawDetachProgramOptions{Target: fd, Program: p, Attach: ebpf.AttachCGroupDevice})
		p.Close()
		if err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("detach old device filter %d from %s: %w", id, dir, err))
		}
	}
	return errors.Join(errs...)
}
