package initplan

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
)

// decode is the C init's parser (cinit.c args_of) in Go, for checking the encoding.
func decode(t *testing.T, b []byte) (ops []Op, args [][][]byte) {
	t.Helper()
	for len(b) > 0 {
		if len(b) < 8 {
			t.Fatalf("truncated op header: %d bytes", len(b))
		}
		op, n := Op(binary.LittleEndian.Uint32(b)), binary.LittleEndian.Uint32(b[4:])
		b = b[8:]
		var as [][]byte
		for i := uint32(0); i < n; i++ {
			l := binary.LittleEndian.Uint32(b)
			as = append(as, b[4:4+l])
			b = b[4+l:]
		}
		ops, args = append(ops, op), append(args, as)
	}
	return ops, args
}

func TestEncoding(t *testing.T) {
	var p Plan
	s := p.Slot()
	p.Add(OpOpen, "open root.path", "/bundle/rootfs", unix.O_PATH, s)
	p.Syscall("hostname", unix.SYS_SETHOSTNAME, []any{Ptr("box"), 3}, unix.EPERM)
	p.Free(s)
	b, err := p.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	ops, args := decode(t, b)
	want := []Op{OpOpen, OpSyscall, OpClose}
	if len(ops) != len(want) {
		t.Fatalf("ops %v, want %v", ops, want)
	}
	for i := range want {
		if ops[i] != want[i] {
			t.Fatalf("ops %v, want %v", ops, want)
		}
	}
	// Strings carry their NUL, integers are 8 bytes.
	if got := string(args[0][0]); got != "open root.path\x00" {
		t.Errorf("context %q", got)
	}
	if got := string(args[0][1]); got != "/bundle/rootfs\x00" {
		t.Errorf("path %q", got)
	}
	if got := binary.LittleEndian.Uint64(args[0][2]); got != unix.O_PATH {
		t.Errorf("flags %#x", got)
	}
	// syscall: context, nr, pointer mask, two tolerated errnos, args.
	sc := args[1]
	if binary.LittleEndian.Uint64(sc[1]) != unix.SYS_SETHOSTNAME {
		t.Errorf("nr %v", sc[1])
	}
	if m := binary.LittleEndian.Uint64(sc[2]); m != 1 {
		t.Errorf("pointer mask %#b, want arg 0 only", m)
	}
	if e := binary.LittleEndian.Uint64(sc[3]); e != uint64(unix.EPERM) {
		t.Errorf("tolerated errno %d", e)
	}
	if string(sc[5]) != "box" {
		t.Errorf("pointer argument %q (no NUL added to Ptr)", sc[5])
	}
}

func TestSlotsAreReused(t *testing.T) {
	var p Plan
	for i := 0; i < 3*maxSlots; i++ {
		s := p.Slot()
		p.Free(s)
	}
	if _, err := p.Bytes(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i <= maxSlots; i++ {
		p.Slot()
	}
	if _, err := p.Bytes(); err == nil {
		t.Fatal("holding more slots than the init has must fail")
	}
}

func TestMemfdIsSealed(t *testing.T) {
	var p Plan
	p.Add(OpReady, "ready")
	f, err := p.Memfd()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write([]byte("x")); err == nil {
		t.Fatal("plan memfd is writable after sealing")
	}
	b, _ := p.Bytes()
	got := make([]byte, len(b)+1)
	n, _ := f.ReadAt(got, 0)
	if n != len(b) || string(got[:n]) != string(b) {
		t.Fatalf("memfd holds %d bytes, plan is %d", n, len(b))
	}
}
