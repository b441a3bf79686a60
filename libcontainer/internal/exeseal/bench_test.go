package exeseal

import (
	"os"
	"path/filepath"
	"testing"
)

// benchmarkExe is the binary whose sealing cost matters: the built husk when present (the
// repository's ./husk), else this test binary. It sets the bytes per operation.
func benchmarkExe(b *testing.B) string {
	p, _ := filepath.Abs("../../../husk")
	if _, err := os.Stat(p); err != nil {
		p = "/proc/self/exe"
	}
	st, err := os.Stat(p)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(st.Size())
	return p
}

// BenchmarkSealedCopy measures what Open costs per create and exec: a sealed memfd copy of the
// husk binary.
func BenchmarkSealedCopy(b *testing.B) {
	exe := benchmarkExe(b)
	for b.Loop() {
		f, err := openPath(exe)
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}

// BenchmarkReadonlyView measures OpenReadonly, the read-only detached bind mount of the
// running binary used instead of the copy where the kernel has the new mount API.
func BenchmarkReadonlyView(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("open_tree(OPEN_TREE_CLONE) needs CAP_SYS_ADMIN: run as root")
	}
	for b.Loop() {
		f, err := OpenReadonly()
		if err != nil {
			b.Fatal(err)
		}
		if IsSealed(f) {
			b.Skip("OpenReadonly fell back to the sealed copy on this kernel")
		}
		f.Close()
	}
}
