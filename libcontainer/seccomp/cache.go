package seccomp

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/spec/quickjson"
)

// compilerRevision changes whenever this package would compile the same
// profile differently (e.g. a new ENOSYS prefix layout). The executable's
// identity in the key already covers rebuilds; this also covers an entry
// copied between machines.
const compilerRevision = "2"

// cacheKey returns the hex SHA-256 of everything a compiled program depends
// on: the profile (without listenerPath and listenerMetadata, which only
// matter at run time), the architecture, the libseccomp version, the kernel
// release (libseccomp checks the kernel's API level) and the husk build.
func cacheKey(s *specs.LinuxSeccomp) (string, error) {
	c := *s
	c.ListenerPath, c.ListenerMetadata = "", ""
	profile, err := quickjson.Marshal(&c) // json.Marshal's bytes: the keys stay as they were
	if err != nil {
		return "", fmt.Errorf("hash seccomp profile: %w", err)
	}
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		return "", fmt.Errorf("hash seccomp profile: %w", &os.SyscallError{Syscall: "uname", Err: err})
	}
	h := sha256.New()
	fmt.Fprintf(h, "husk-seccomp %s\x00%s\x00%s\x00%s\x00%s\x00",
		compilerRevision, buildVersion(), Version(), runtime.GOARCH, unix.ByteSliceToString(uts.Release[:]))
	h.Write(profile)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// buildVersion identifies the husk binary: its module version and VCS
// revision when the build recorded them, and the identity of the executable
// file (inode, size, modification time), which changes with every build
// even when release builds record neither (-buildvcs=false).
func buildVersion() string {
	v := runtime.Version()
	if bi, ok := debug.ReadBuildInfo(); ok {
		v += " " + bi.Main.Version
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" || s.Key == "vcs.modified" {
				v += " " + s.Value
			}
		}
	}
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/exe", &st); err == nil {
		v += fmt.Sprintf(" exe %d:%d:%d:%d.%d", st.Dev, st.Ino, st.Size, st.Mtim.Sec, st.Mtim.Nsec)
	}
	return v
}

// cachePath is the file holding the entry for key.
func cachePath(dir, key string) string {
	return filepath.Join(dir, key+".bpf")
}

// cacheMagic starts every cache entry. An entry is the magic, the flags
// (uint32, host byte order), a notify byte, then the filter as the kernel's
// struct sock_filter array. It is binary rather than JSON because decoding
// the JSON took most of a cache hit.
const cacheMagic = "husk-bpf\x01"

func encodeEntry(p *Program) []byte {
	b := append([]byte(cacheMagic), 0, 0, 0, 0, 0)
	binary.NativeEndian.PutUint32(b[len(cacheMagic):], uint32(p.Flags))
	if p.Notify {
		b[len(b)-1] = 1
	}
	return append(b, encodeFilter(p.Filter)...)
}

func decodeEntry(b []byte) (*Program, error) {
	head := len(cacheMagic) + 5
	if len(b) < head || string(b[:len(cacheMagic)]) != cacheMagic {
		return nil, fmt.Errorf("%w: not a husk cache entry", ErrInvalidProgram)
	}
	filter, err := decodeFilter(b[head:])
	if err != nil {
		return nil, err
	}
	p := &Program{
		Filter: filter,
		Flags:  uint(binary.NativeEndian.Uint32(b[len(cacheMagic):])),
		Notify: b[head-1] == 1,
	}
	return p, p.check()
}

// cacheLoad reads the entry for key. A missing entry is an error that
// matches os.ErrNotExist.
func cacheLoad(dir, key string) (*Program, error) {
	b, err := os.ReadFile(cachePath(dir, key))
	if err != nil {
		return nil, err
	}
	p, err := decodeEntry(b)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", cachePath(dir, key), err)
	}
	return p, nil
}

// cacheStore writes the entry for key atomically: a temporary file renamed
// into place, so concurrent husk processes never read half an entry.
func cacheStore(dir, key string, p *Program) (retErr error) {
	b := encodeEntry(p)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".tmp-"+key+"-*")
	if err != nil {
		return err
	}
	defer func() {
		if retErr != nil {
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(b); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), cachePath(dir, key))
}
