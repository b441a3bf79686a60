// Package quickjson encodes and decodes the runtime-spec types as encoding/json does, for the
// common case, and leaves every other case to encoding/json itself.
//
// encoding/json prepares, on first use of a type, its field tables and encoders for every
// type reachable from it. A runtime-spec config reaches about a hundred types (Windows, VM,
// Solaris and z/OS ones included), so the first json.Unmarshal of a config.json costs a
// fresh husk process about 0.6 ms, ten times the decoding proper. quickjson looks at the
// types a document actually uses, when it meets them (and remembers what it found, as
// encoding/json does).
//
// Decoding handles objects whose keys are exactly the fields' JSON names (promoted fields of
// embedded structs included), or match none even ignoring case (skipped, as encoding/json
// does), and values of the fields' own JSON types; a value of a type
// with its own JSON or text methods (time.Time, json.RawMessage) goes to encoding/json on its
// own. Anything else (a key in another case, a repeated key, a number
// out of range, an embedded pointer, a syntax error) makes Unmarshal hand the whole document
// to encoding/json, whose result and error messages callers therefore get. Marshal writes
// json.Marshal's bytes. The tests hold both directions to encoding/json's results on a spec
// with every field set and under fuzzing.
package quickjson

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
)

// Unmarshal decodes data into v, a non-nil pointer, as json.Unmarshal does.
func Unmarshal(data []byte, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer && !rv.IsNil() && rv.Elem().IsZero() {
		fresh := reflect.New(rv.Elem().Type())
		if Decode(data, fresh.Interface()) == nil {
			rv.Elem().Set(fresh.Elem())
			return nil
		}
	}
	return json.Unmarshal(data, v)
}

// ErrUnsupported is Decode's answer for a document outside what quickjson handles; the
// document may still be valid JSON for the type.
var ErrUnsupported = errors.New("quickjson: document outside the supported subset")

// Decode decodes data into v, a pointer to a zero value, or returns ErrUnsupported, leaving
// *v partly written. Unmarshal is the function to call; Decode is for tests.
func Decode(data []byte, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return ErrUnsupported
	}
	d := decoder{data: data}
	if err := d.value(rv.Elem(), 0); err != nil {
		return err
	}
	d.space()
	if d.pos != len(d.data) {
		return ErrUnsupported
	}
	return nil
}

// maxDepth matches encoding/json's nesting limit; deeper documents are its to refuse.
const maxDepth = 10000

type decoder struct {
	data []byte
	pos  int
}

// typeInfo is what the decoder needs of a type: whether it decodes itself, and for a
// struct the JSON names of its fields.
type typeInfo struct {
	custom bool // has its own JSON or text methods: encoding/json's business
	fields []field
}

type field struct {
	name      string
	index     []int // for a field promoted from an embedded struct, the path to it
	omitEmpty bool
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
	jsonMarshaler   = reflect.TypeFor[json.Marshaler]()
	textMarshaler   = reflect.TypeFor[encoding.TextMarshaler]()
	rawMessageType  = reflect.TypeFor[json.RawMessage]()
)

// typeInfos holds the typeInfo of each type met so far, for the life of the process.
var typeInfos sync.Map // reflect.Type → *typeInfo

func info(t reflect.Type) *typeInfo {
	if ti, ok := typeInfos.Load(t); ok {
		return ti.(*typeInfo)
	}
	ti, _ := typeInfos.LoadOrStore(t, newTypeInfo(t))
	return ti.(*typeInfo)
}

func newTypeInfo(t reflect.Type) *typeInfo {
	ti := &typeInfo{}
	// Most types have no methods at all: a cheap test before the four costly ones.
	if pt := reflect.PointerTo(t); pt.NumMethod() > 0 && (pt.Implements(jsonUnmarshaler) ||
		pt.Implements(textUnmarshaler) || pt.Implements(jsonMarshaler) || pt.Implements(textMarshaler)) {
		ti.custom = true
		return ti
	}
	if t.Kind() == reflect.Struct {
		ti.custom = !addFields(ti, t, nil)
		// encoding/json's order: by index path, promoted fields where their struct is.
		slices.SortFunc(ti.fields, func(a, b field) int { return slices.Compare(a.index, b.index) })
	}
	return ti
}

// addFields adds the JSON fields of struct t, found at index path prefix, to ti, with
// encoding/json's rule for names that repeat: the shallowest field wins. It reports false
// for what it leaves to encoding/json: two fields of one name at one depth (its tag rules
// decide), embedded pointers or non-structs, and the ",string" option.
func addFields(ti *typeInfo, t reflect.Type, prefix []int) bool {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(","+opts+",", ",string,") {
			return false
		}
		index := append(append([]int(nil), prefix...), i)
		if f.Anonymous && name == "" {
			// Fields of an embedded struct are promoted, exported or not the struct type.
			if f.Type.Kind() != reflect.Struct || !addFields(ti, f.Type, index) {
				return false
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		nf := field{name, index, strings.Contains(","+opts+",", ",omitempty,")}
		clash := slices.IndexFunc(ti.fields, func(g field) bool { return g.name == name })
		switch {
		case clash < 0:
			ti.fields = append(ti.fields, nf)
		case len(ti.fields[clash].index) > len(index):
			ti.fields[clash] = nf
		case len(ti.fields[clash].index) == len(index):
			return false
		}
	}
	return true
}

func (d *decoder) space() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// value decodes the next JSON value into v.
func (d *decoder) value(v reflect.Value, depth int) error {
	if depth > maxDepth {
		return ErrUnsupported
	}
	d.space()
	if d.pos >= len(d.data) {
		return ErrUnsupported
	}
	c := d.data[d.pos]
	ti := info(v.Type())
	if v.Kind() == reflect.Pointer && !ti.custom {
		if c == 'n' {
			return d.literal("null") // the pointer stays nil
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		return d.value(v.Elem(), depth+1)
	}
	if ti.custom {
		// A type that decodes itself (time.Time, json.RawMessage) gets its own text, through
		// encoding/json, which calls its method with no per-type preparation to speak of.
		start := d.pos
		if err := d.skip(depth); err != nil {
			return err
		}
		if v.Type() == rawMessageType {
			// What json.RawMessage's method does, without encoding/json's second scan.
			v.SetBytes(bytes.Clone(d.data[start:d.pos]))
			return nil
		}
		if !v.CanAddr() || json.Unmarshal(d.data[start:d.pos], v.Addr().Interface()) != nil {
			return ErrUnsupported
		}
		return nil
	}
	switch c {
	case 'n':
		// null leaves any other value as it is, as encoding/json does.
		return d.literal("null")
	case '{':
		return d.object(v, depth)
	case '[':
		return d.array(v, depth)
	case '"':
		if v.Kind() != reflect.String {
			return ErrUnsupported
		}
		s, err := d.str()
		if err != nil {
			return err
		}
		v.SetString(s)
		return nil
	case 't', 'f':
		if v.Kind() != reflect.Bool {
			return ErrUnsupported
		}
		if c == 't' {
			v.SetBool(true)
			return d.literal("true")
		}
		return d.literal("false")
	default:
		return d.number(v)
	}
}

// skip passes over the next JSON value, checking its syntax.
func (d *decoder) skip(depth int) error {
	if depth > maxDepth {
		return ErrUnsupported
	}
	d.space()
	if d.pos >= len(d.data) {
		return ErrUnsupported
	}
	switch d.data[d.pos] {
	case '{':
		return d.members(func(string) error { return d.skip(depth + 1) })
	case '[':
		d.pos++
		if d.next(']') {
			return nil
		}
		for {
			if err := d.skip(depth + 1); err != nil {
				return err
			}
			if d.next(',') {
				continue
			}
			if d.next(']') {
				return nil
			}
			return ErrUnsupported
		}
	case '"':
		return d.skipStr()
	case 'n':
		return d.literal("null")
	case 't':
		return d.literal("true")
	case 'f':
		return d.literal("false")
	}
	var f float64
	return d.number(reflect.ValueOf(&f).Elem())
}

func (d *decoder) literal(s string) error {
	if !strings.HasPrefix(string(d.data[d.pos:min(len(d.data), d.pos+len(s))]), s) {
		return ErrUnsupported
	}
	d.pos += len(s)
	return nil
}

// next skips white space and consumes c, reporting whether it was there.
func (d *decoder) next(c byte) bool {
	d.space()
	if d.pos < len(d.data) && d.data[d.pos] == c {
		d.pos++
		return true
	}
	return false
}

// members calls member for each key of the object at d.pos, which member must decode the
// value of.
func (d *decoder) members(member func(key string) error) error {
	d.pos++ // '{'
	if d.next('}') {
		return nil
	}
	for {
		d.space()
		if d.pos >= len(d.data) || d.data[d.pos] != '"' {
			return ErrUnsupported
		}
		key, err := d.str()
		if err != nil {
			return err
		}
		if !d.next(':') {
			return ErrUnsupported
		}
		if err := member(key); err != nil {
			return err
		}
		if d.next(',') {
			continue
		}
		if d.next('}') {
			return nil
		}
		return ErrUnsupported
	}
}

func (d *decoder) object(v reflect.Value, depth int) error {
	switch v.Kind() {
	case reflect.Struct:
		ti := info(v.Type())
		var seen uint64 // a repeated key is encoding/json's to merge
		var seenMore map[int]bool
		return d.members(func(key string) error {
			for i, f := range ti.fields {
				if f.name != key {
					continue
				}
				if i < 64 {
					if seen&(1<<i) != 0 {
						return ErrUnsupported
					}
					seen |= 1 << i
				} else {
					if seenMore[i] {
						return ErrUnsupported
					}
					if seenMore == nil {
						seenMore = map[int]bool{}
					}
					seenMore[i] = true
				}
				return d.value(v.FieldByIndex(f.index), depth+1)
			}
			// encoding/json ignores a key no field matches, even ignoring case (the
			// partial structs that read only part of a state file rely on it); a key in
			// another case, or one whose case folding is not plain ASCII, is its own.
			if !isASCII(key) {
				return ErrUnsupported
			}
			for _, f := range ti.fields {
				if strings.EqualFold(f.name, key) {
					return ErrUnsupported
				}
			}
			return d.skip(depth + 1)
		})
	case reflect.Map:
		t := v.Type()
		if t.Key().Kind() != reflect.String || info(t.Key()).custom {
			return ErrUnsupported
		}
		m := reflect.MakeMap(t)
		v.Set(m)
		return d.members(func(key string) error {
			k := reflect.ValueOf(key).Convert(t.Key())
			if m.MapIndex(k).IsValid() {
				return ErrUnsupported
			}
			e := reflect.New(t.Elem()).Elem()
			if err := d.value(e, depth+1); err != nil {
				return err
			}
			m.SetMapIndex(k, e)
			return nil
		})
	}
	return ErrUnsupported
}

func (d *decoder) array(v reflect.Value, depth int) error {
	if v.Kind() != reflect.Slice || v.Type().Elem().Kind() == reflect.Uint8 {
		return ErrUnsupported // arrays and []byte (base64) are encoding/json's
	}
	d.pos++ // '['
	s := reflect.MakeSlice(v.Type(), 0, 0)
	if d.next(']') {
		v.Set(s)
		return nil
	}
	for {
		s = reflect.Append(s, reflect.Zero(v.Type().Elem()))
		if err := d.value(s.Index(s.Len()-1), depth+1); err != nil {
			return err
		}
		if d.next(',') {
			continue
		}
		if d.next(']') {
			v.Set(s)
			return nil
		}
		return ErrUnsupported
	}
}

// number decodes a JSON number into an integer or floating-point v.
func (d *decoder) number(v reflect.Value) error {
	start := d.pos
	if d.pos < len(d.data) && d.data[d.pos] == '-' {
		d.pos++
	}
	digits := func() int {
		n := 0
		for d.pos < len(d.data) && d.data[d.pos] >= '0' && d.data[d.pos] <= '9' {
			d.pos++
			n++
		}
		return n
	}
	intStart := d.pos
	if n := digits(); n == 0 || (n > 1 && d.data[intStart] == '0') {
		return ErrUnsupported
	}
	integer := true
	if d.pos < len(d.data) && d.data[d.pos] == '.' {
		d.pos++
		if digits() == 0 {
			return ErrUnsupported
		}
		integer = false
	}
	if d.pos < len(d.data) && (d.data[d.pos] == 'e' || d.data[d.pos] == 'E') {
		d.pos++
		if d.pos < len(d.data) && (d.data[d.pos] == '+' || d.data[d.pos] == '-') {
			d.pos++
		}
		if digits() == 0 {
			return ErrUnsupported
		}
		integer = false
	}
	tok := string(d.data[start:d.pos])
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(tok, 10, v.Type().Bits())
		if err != nil || !integer {
			return ErrUnsupported
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		n, err := strconv.ParseUint(tok, 10, v.Type().Bits())
		if err != nil || !integer {
			return ErrUnsupported
		}
		v.SetUint(n)
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(tok, v.Type().Bits())
		if err != nil {
			return ErrUnsupported
		}
		v.SetFloat(f)
	default:
		return ErrUnsupported
	}
	return nil
}

// str decodes the JSON string at d.pos.
func (d *decoder) str() (string, error) {
	d.pos++ // '"'
	start := d.pos
	// The common case: no escapes, so the string is the bytes between the quotes.
	for d.pos < len(d.data) {
		c := d.data[d.pos]
		if c == '"' {
			s := d.data[start:d.pos]
			d.pos++
			if !utf8.Valid(s) {
				return "", ErrUnsupported // encoding/json replaces bad bytes with U+FFFD
			}
			return string(s), nil
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			return "", ErrUnsupported
		}
		d.pos++
	}
	b := []byte(string(d.data[start:d.pos]))
	for d.pos < len(d.data) {
		c := d.data[d.pos]
		switch {
		case c == '"':
			d.pos++
			if !utf8.Valid(b) {
				return "", ErrUnsupported
			}
			return string(b), nil
		case c < 0x20:
			return "", ErrUnsupported
		case c != '\\':
			b = append(b, c)
			d.pos++
			continue
		}
		if d.pos+1 >= len(d.data) {
			return "", ErrUnsupported
		}
		e := d.data[d.pos+1]
		d.pos += 2
		switch e {
		case '"', '\\', '/':
			b = append(b, e)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r, ok := d.hex4()
			if !ok {
				return "", ErrUnsupported
			}
			if utf16.IsSurrogate(r) {
				// Only a proper pair; encoding/json turns the rest into U+FFFD.
				if d.pos+1 >= len(d.data) || d.data[d.pos] != '\\' || d.data[d.pos+1] != 'u' {
					return "", ErrUnsupported
				}
				d.pos += 2
				r2, ok := d.hex4()
				if !ok {
					return "", ErrUnsupported
				}
				if r = utf16.DecodeRune(r, r2); r == utf8.RuneError {
					return "", ErrUnsupported
				}
			}
			b = utf8.AppendRune(b, r)
		default:
			return "", ErrUnsupported
		}
	}
	return "", ErrUnsupported
}

// skipStr passes over the JSON string at d.pos, checking its escapes, without building it.
func (d *decoder) skipStr() error {
	for d.pos++; d.pos < len(d.data); d.pos++ {
		switch c := d.data[d.pos]; {
		case c == '"':
			d.pos++
			return nil
		case c < 0x20:
			return ErrUnsupported
		case c == '\\':
			if d.pos+1 >= len(d.data) {
				return ErrUnsupported
			}
			switch d.data[d.pos+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				d.pos++
			case 'u':
				d.pos += 2
				if _, ok := d.hex4(); !ok {
					return ErrUnsupported
				}
				d.pos-- // the loop steps past the last hex digit
			default:
				return ErrUnsupported
			}
		}
	}
	return ErrUnsupported
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func (d *decoder) hex4() (rune, bool) {
	if d.pos+4 > len(d.data) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(d.data[d.pos:d.pos+4]), 16, 32)
	if err != nil {
		return 0, false
	}
	d.pos += 4
	return rune(n), true
}
