package quickjson

import (
	"encoding/json"
	"reflect"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Marshal encodes v as json.Marshal does, byte for byte, without encoding/json's per-type
// preparation; values outside what Encode handles go to json.Marshal.
func Marshal(v any) ([]byte, error) {
	if b, err := Encode(v); err == nil {
		return b, nil
	}
	return json.Marshal(v)
}

// Encode encodes v as json.Marshal does, or returns ErrUnsupported for values it leaves to
// encoding/json: interfaces holding a value, floating-point numbers, arrays, byte slices
// (base64) and maps without string keys. Types with their own JSON or text methods are
// encoded by encoding/json, one value at a time.
// Marshal is the function to call; Encode is for tests.
func Encode(v any) ([]byte, error) {
	var e encoder
	if err := e.value(reflect.ValueOf(v), 0); err != nil {
		return nil, err
	}
	return e.b, nil
}

type encoder struct {
	b []byte
}

func (e *encoder) value(v reflect.Value, depth int) error {
	if depth > maxDepth || !v.IsValid() {
		return ErrUnsupported
	}
	if info(v.Type()).custom {
		// A type that encodes itself (time.Time, json.RawMessage): through encoding/json,
		// which calls its method, the pointer one where encoding/json would.
		x := v
		if v.CanAddr() {
			x = v.Addr()
		}
		b, err := json.Marshal(x.Interface())
		if err != nil || (!v.CanAddr() && !v.Type().Implements(jsonMarshaler) && !v.Type().Implements(textMarshaler)) {
			return ErrUnsupported
		}
		e.b = append(e.b, b...)
		return nil
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			e.b = append(e.b, "null"...)
			return nil
		}
		if v.Kind() == reflect.Interface {
			return ErrUnsupported
		}
		return e.value(v.Elem(), depth+1)
	case reflect.Struct:
		e.b = append(e.b, '{')
		first := true
		for _, f := range info(v.Type()).fields {
			fv := v.FieldByIndex(f.index)
			if f.omitEmpty && empty(fv) {
				continue
			}
			if !first {
				e.b = append(e.b, ',')
			}
			first = false
			e.b = appendString(e.b, f.name)
			e.b = append(e.b, ':')
			if err := e.value(fv, depth+1); err != nil {
				return err
			}
		}
		e.b = append(e.b, '}')
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return ErrUnsupported
		}
		if v.IsNil() {
			e.b = append(e.b, "null"...)
			return nil
		}
		e.b = append(e.b, '[')
		for i := 0; i < v.Len(); i++ {
			if i > 0 {
				e.b = append(e.b, ',')
			}
			if err := e.value(v.Index(i), depth+1); err != nil {
				return err
			}
		}
		e.b = append(e.b, ']')
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String || info(v.Type().Key()).custom {
			return ErrUnsupported
		}
		if v.IsNil() {
			e.b = append(e.b, "null"...)
			return nil
		}
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int {
			switch x, y := a.String(), b.String(); {
			case x < y:
				return -1
			case x > y:
				return 1
			}
			return 0
		})
		e.b = append(e.b, '{')
		for i, k := range keys {
			if i > 0 {
				e.b = append(e.b, ',')
			}
			e.b = appendString(e.b, k.String())
			e.b = append(e.b, ':')
			if err := e.value(v.MapIndex(k), depth+1); err != nil {
				return err
			}
		}
		e.b = append(e.b, '}')
	case reflect.String:
		e.b = appendString(e.b, v.String())
	case reflect.Bool:
		e.b = strconv.AppendBool(e.b, v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		e.b = strconv.AppendInt(e.b, v.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		e.b = strconv.AppendUint(e.b, v.Uint(), 10)
	default:
		return ErrUnsupported
	}
	return nil
}

// empty is encoding/json's test for omitempty.
func empty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}

const hex = "0123456789abcdef"

// appendString appends s quoted as encoding/json does by default: <, > and & escaped for
// HTML, invalid UTF-8 as U+FFFD, U+2028 and U+2029 escaped.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		} else if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		} else {
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
