package main

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
)

func TestEachRotatesAndDropsFailures(t *testing.T) {
	b := &bench{ctx: context.Background(), res: newResults()}
	for _, l := range []string{"a", "b", "c"} {
		b.rts = append(b.rts, &runtimeUT{label: l})
	}
	b.rts[2].dead = "cannot run"
	var got []string
	b.each("exec", 3, func(r, i int, rt *runtimeUT) error {
		got = append(got, fmt.Sprintf("%d%s", r, rt.label))
		if rt.label == "b" && r == 1 {
			return errors.New("b broke")
		}
		return nil
	})
	want := []string{"0a", "0b", "1b", "1a", "2a"} // round r starts at runtime r mod 3
	if !reflect.DeepEqual(got, want) {
		t.Errorf("calls: got %v, want %v", got, want)
	}
	if f := b.res.failure("exec_ms", "b"); f != "b broke" {
		t.Errorf("failure of b: got %q, want %q", f, "b broke")
	}
	if f := b.res.failure("exec_ms", "c"); f != "cannot run" {
		t.Errorf("failure of dead c: got %q, want %q", f, "cannot run")
	}
	if f := b.res.failure("exec_ms", "a"); f != "" {
		t.Errorf("failure of a: got %q, want none", f)
	}
}
