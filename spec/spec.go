package spec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/husk-runtime/husk/spec/quickjson"
)

// Load reads bundle/config.json. Syntax errors carry line and column; type errors name the
// field.
func Load(bundle string) (*specs.Spec, error) {
	path := filepath.Join(bundle, "config.json")
	b, err := readRegular(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("bundle %s: config.json not found", bundle)
		}
		return nil, fmt.Errorf("bundle %s: %w", bundle, err)
	}
	var s specs.Spec
	if err := quickjson.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, describe(b, err))
	}
	return &s, nil
}

// readRegular reads path, which must be a regular file: a FIFO there would block forever and a
// device such as /dev/zero would never end. O_NONBLOCK keeps the open itself from blocking.
func readRegular(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file (mode %s)", path, st.Mode().Type())
	}
	return io.ReadAll(f)
}

// describe turns a json error into one that says where.
func describe(b []byte, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		line, col := position(b, se.Offset)
		return fmt.Errorf("invalid JSON at line %d, column %d: %w", line, col, err)
	case errors.As(err, &te):
		line, col := position(b, te.Offset)
		return fmt.Errorf("field %s: cannot use JSON %s as %s (line %d, column %d)", te.Field, te.Value, te.Type, line, col)
	}
	return fmt.Errorf("invalid JSON: %w", err)
}

func position(b []byte, off int64) (line, col int) {
	if off > int64(len(b)) {
		off = int64(len(b))
	}
	pre := b[:off]
	line = bytes.Count(pre, []byte("\n")) + 1
	col = int(off) - (bytes.LastIndexByte(pre, '\n') + 1)
	return line, col
}

// Write writes s as bundle/config.json; it refuses to overwrite an existing file.
func Write(bundle string, s *specs.Spec) error {
	path := filepath.Join(bundle, "config.json")
	b, err := json.MarshalIndent(s, "", "\t")
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s already exists; remove it first", path)
		}
		return err
	}
	_, err = f.Write(append(b, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
