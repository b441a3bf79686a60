package quickjson

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// fill sets every field reachable from v to a value that is not zero, strings with
// characters that JSON must escape, slices and maps with two elements.
func fill(v reflect.Value, path string, depth int) {
	switch v.Kind() {
	case reflect.Pointer:
		if depth > 12 {
			return
		}
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), path, depth+1)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), path+"."+v.Type().Field(i).Name, depth+1)
			}
		}
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := 0; i < 2; i++ {
			fill(s.Index(i), fmt.Sprintf("%s[%d]", path, i), depth+1)
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for i := 0; i < 2; i++ {
			k := reflect.New(v.Type().Key()).Elem()
			fill(k, fmt.Sprintf("%s{k%d}", path, i), depth+1)
			e := reflect.New(v.Type().Elem()).Elem()
			fill(e, fmt.Sprintf("%s{%d}", path, i), depth+1)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.String:
		v.SetString(path + " \"q\" \\ <&> \t\n é ☃ 😀 \x7f")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(-int64(len(path)) % 100)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(len(path)) % 200)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1.5)
	}
}

// fullLinuxSpec is a spec with every Linux field set (the other platforms left out: their
// Windows part has an interface field, which Decode leaves to encoding/json).
func fullLinuxSpec(t testing.TB) []byte {
	var s specs.Spec
	fill(reflect.ValueOf(&s).Elem(), "spec", 0)
	s.Windows, s.Solaris, s.VM, s.ZOS, s.FreeBSD = nil, nil, nil, nil, nil
	b, err := json.MarshalIndent(&s, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// same checks that Decode either declines data or agrees with encoding/json on it.
func same(t *testing.T, data []byte, wantFast bool) {
	t.Helper()
	var fast, ref specs.Spec
	ferr := Decode(data, &fast)
	rerr := json.Unmarshal(data, &ref)
	if ferr != nil {
		if !errors.Is(ferr, ErrUnsupported) {
			t.Fatalf("Decode: %v, want nil or ErrUnsupported", ferr)
		}
		if wantFast {
			t.Fatalf("Decode declined a document it should take (encoding/json: %v)", rerr)
		}
		return
	}
	if rerr != nil {
		t.Fatalf("Decode took a document encoding/json refuses: %v\n%s", rerr, data)
	}
	if !reflect.DeepEqual(fast, ref) {
		t.Fatalf("Decode and encoding/json differ on\n%s\nfast: %+v\nref:  %+v", data, fast, ref)
	}
	// A struct with part of the spec's fields skips the others, as libcontainer's partial
	// reads of state.json do.
	var pfast, pref partial
	if Decode(data, &pfast) == nil {
		if err := json.Unmarshal(data, &pref); err != nil || !reflect.DeepEqual(pfast, pref) {
			t.Fatalf("partial: Decode and encoding/json differ on\n%s\nfast: %+v\nref:  %+v (%v)", data, pfast, pref, err)
		}
	}
}

type partial struct {
	Process *specs.Process `json:"process"`
	Linux   *struct {
		Namespaces []specs.LinuxNamespace `json:"namespaces"`
		Seccomp    *specs.LinuxSeccomp    `json:"seccomp"`
	} `json:"linux"`
}

func TestFullSpec(t *testing.T) {
	same(t, fullLinuxSpec(t), true)
	var p partial
	if err := Decode(fullLinuxSpec(t), &p); err != nil || p.Process == nil || p.Linux == nil {
		t.Errorf("a partial struct from a full spec: %v", err)
	}
	var s specs.Spec
	fill(reflect.ValueOf(&s).Elem(), "spec", 0)
	all, _ := json.Marshal(&s)
	same(t, all, false) // declines (Windows' credentialSpec) or agrees
	var u specs.Spec
	if err := Unmarshal(all, &u); err != nil || !reflect.DeepEqual(u, s) {
		t.Errorf("Unmarshal of a document with every platform: %v", err)
	}
}

func TestCases(t *testing.T) {
	for _, c := range []struct {
		doc      string
		wantFast bool
	}{
		{`{"ociVersion":"1.0.2","process":{"args":["sh","-c","echo \u0026 \ud83d\ude00 \/"]}}`, true},
		{` {"hostname" : "h" , "annotations": {}, "mounts": []} `, true},
		{`{"linux":{"resources":{"memory":{"limit":-1,"swap":9223372036854775807}}}}`, true},
		{`{"linux":{"resources":{"pids":{"limit":null}},"sysctl":null}}`, true},
		{`{"process":{"user":{"uid":4294967295}}}`, true},
		{`{"process":{"user":{"uid":4294967296}}}`, false}, // out of range: json's error
		{`{"process":{"user":{"uid":-1}}}`, false},
		{`{"process":{"user":{"uid":1.0}}}`, false},
		{`{"process":{"user":{"uid":"0"}}}`, false},
		{`{"Hostname":"h"}`, false},                                  // another case
		{`{"hostname":"a","hostname":"b"}`, false},                   // repeated
		{`{"annotations":{"a":"1","a":"2"}}`, false},                 // repeated map key
		{`{"unknown":{"a":[1,"x",null,true]},"hostname":"h"}`, true}, // skipped, as encoding/json does
		{`{"hostnamE":"h"}`, false},                                  // another case: encoding/json's
		{`{"ſomething":1}`, false},                                   // non-ASCII: case folding is encoding/json's
		{`{"unknown":[1,}`, false},
		{`{"unknown":"a\"b\\c\u00e9\n\ud800","hostname":"h"}`, true},
		{`{"unknown":"\x"}`, false},
		{`{"unknown":"\u12"}`, false},
		{"{\"unknown\":\"a\tb\"}", false},
		{`{"hostname":"\ud800"}`, false}, // lone surrogate
		{"{\"hostname\":\"\xff\"}", false},
		{`{"hostname":"a"} x`, false},
		{`{"hostname":"a",}`, false},
		{`{"process":{"args":[1]}}`, false},
		{`{"process":{"terminal":nul}}`, false},
		{`[]`, false},
		{``, false},
		{`{"linux":{"resources":{"memory":{"limit":01}}}}`, false},
		{`{"linux":{"resources":{"memory":{"limit":1e3}}}}`, false},
		{`{"windows":{"credentialSpec":{"a":1}}}`, false},
	} {
		t.Run(c.doc, func(t *testing.T) { same(t, []byte(c.doc), c.wantFast) })
	}
}

func TestUnmarshalKeepsMergeSemantics(t *testing.T) {
	// Into a value that is not zero, encoding/json merges: Unmarshal leaves it to it.
	s := specs.Spec{Hostname: "kept"}
	if err := Unmarshal([]byte(`{"domainname":"d"}`), &s); err != nil || s.Hostname != "kept" || s.Domainname != "d" {
		t.Errorf("got %+v, %v", s, err)
	}
	var bad specs.Spec
	err := Unmarshal([]byte(`{"process":{"user":{"uid":"0"}}}`), &bad)
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) || te.Field != "process.user.uid" {
		t.Errorf("type error: got %v, want encoding/json's naming process.user.uid", err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(fullLinuxSpec(f))
	f.Add([]byte(`{"ociVersion":"1.0.2","process":{"args":["sh"],"env":["A=\u00e9"]},"linux":{"namespaces":[{"type":"pid"}]}}`))
	f.Add([]byte(`{"linux":{"seccomp":{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"}]}]}}}`))
	f.Fuzz(func(t *testing.T, data []byte) { same(t, data, false) })
}

// sameBytes checks that Encode either declines v or writes exactly json.Marshal's bytes.
func sameBytes(t *testing.T, v any, wantFast bool) {
	t.Helper()
	ref, rerr := json.Marshal(v)
	got, err := Encode(v)
	if err != nil {
		if !errors.Is(err, ErrUnsupported) || wantFast {
			t.Fatalf("Encode: %v (encoding/json: %v)", err, rerr)
		}
		return
	}
	if rerr != nil || string(got) != string(ref) {
		t.Fatalf("Encode and json.Marshal differ:\n%s\n%s\n(%v)", got, ref, rerr)
	}
}

func TestEncode(t *testing.T) {
	var s specs.Spec
	fill(reflect.ValueOf(&s).Elem(), "spec \b\f\x01\u2028\u2029\xff", 0)
	sameBytes(t, &s, false) // Windows' credentialSpec is nil: encodable
	s.Windows.CredentialSpec = map[string]any{"a": 1}
	sameBytes(t, &s, false)
	s.Windows, s.Solaris, s.VM, s.ZOS, s.FreeBSD = nil, nil, nil, nil, nil
	sameBytes(t, &s, true)
	sameBytes(t, &specs.Spec{}, true)
	sameBytes(t, &specs.Spec{Process: &specs.Process{Args: []string{}}, Annotations: map[string]string{}}, true)
	sameBytes(t, specs.Spec{Linux: &specs.Linux{Sysctl: map[string]string{"b": "1", "a": "2", "": "3"}}}, true)
	if b, err := Marshal(s); err != nil || !json.Valid(b) {
		t.Errorf("Marshal: %v", err)
	}
}

// FuzzEncode: whatever encoding/json decodes, Encode writes back as json.Marshal does.
func FuzzEncode(f *testing.F) {
	f.Add(fullLinuxSpec(f))
	f.Add([]byte(`{"process":{"args":["\u2028","<&>","\ud83d\ude00"]},"annotations":{"z":"","a":"\u0000"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var s specs.Spec
		if json.Unmarshal(data, &s) != nil {
			return
		}
		sameBytes(t, &s, false)
	})
}

type inner struct {
	ID      string      `json:"id"`
	Config  *specs.Spec `json:"config"`
	Created time.Time   `json:"created"`
	private int
}

// outer hides inner's config, as libcontainer's state file does.
type outer struct {
	inner
	Config json.RawMessage `json:"config"`
	Extra  []int           `json:"extra,omitempty"`
}

func TestEmbeddedAndCustomTypes(t *testing.T) {
	o := outer{inner: inner{ID: "x", Config: &specs.Spec{Hostname: "h"}, Created: time.Date(2026, 11, 27, 6, 0, 0, 5, time.UTC)},
		Config: json.RawMessage(`{"hostname": "raw"}`)}
	sameBytes(t, o, true)
	sameBytes(t, &o, true)
	data, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	var fast, ref outer
	if err := Decode(data, &fast); err != nil {
		t.Fatalf("Decode: %v\n%s", err, data)
	}
	if err := json.Unmarshal(data, &ref); err != nil || !reflect.DeepEqual(fast, ref) {
		t.Fatalf("differ: %+v vs %+v (%v)", fast, ref, err)
	}
	if err := Decode([]byte(`{"created":"not a time"}`), &fast); !errors.Is(err, ErrUnsupported) {
		t.Errorf("bad time: got %v, want ErrUnsupported", err)
	}
	type clash struct {
		inner
		Other struct {
			ID string `json:"id"`
		}
		ID2 string `json:"id"`
	}
	if _, err := Encode(clash{}); err != nil {
		t.Errorf("a depth-0 field hiding a promoted one: %v", err)
	}
	type a1 struct{ A string }
	type a2 struct{ A string }
	type twins struct {
		a1
		a2
	}
	if _, err := Encode(twins{}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("two promoted fields of one name at one depth: got %v, want ErrUnsupported", err)
	}
}

// TestRawMessage: json.RawMessage values get the value's own bytes (copied, white space
// around them left out, null as "null"), as from encoding/json, on the fast path.
func TestRawMessage(t *testing.T) {
	type doc struct {
		A json.RawMessage            `json:"a"`
		B []json.RawMessage          `json:"b"`
		C map[string]json.RawMessage `json:"c"`
		D *json.RawMessage           `json:"d"`
	}
	data := []byte(`{"a" :  {"x": [1, 2.5e3, "s\u00e9", true, null]} , "b":[ null, "q" ,{} ],` +
		`"c":{"k": [ ] },"d":  -0.5 }`)
	var got, want doc
	if err := Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Unmarshal: %+v\nencoding/json: %+v", got, want)
	}
	d := &decoder{data: data}
	if err := d.value(reflect.ValueOf(&got).Elem(), 0); err != nil {
		t.Errorf("fast path declined: %v", err)
	}
	data[8] = '[' // A must be a copy, not a view of the input
	if string(got.A) != `{"x": [1, 2.5e3, "s\u00e9", true, null]}` {
		t.Errorf("A aliases the input: %s", got.A)
	}
}
