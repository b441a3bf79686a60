package main

import (
	"errors"
	"math"
	"testing"
)

func TestQuantile(t *testing.T) {
	tests := []struct {
		name string
		xs   []float64
		q    float64
		want float64
	}{
		{"odd median", []float64{3, 1, 2}, 0.5, 2},
		{"even median", []float64{4, 1, 3, 2}, 0.5, 2.5},
		{"single", []float64{7}, 0.25, 7},
		{"p25 interpolated", []float64{1, 2, 3, 4, 5}, 0.25, 2},
		{"p75 interpolated", []float64{10, 20}, 0.75, 17.5},
		{"min", []float64{5, 9, 1}, 0, 1},
		{"max", []float64{5, 9, 1}, 1, 9},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := quantile(tc.xs, tc.q); got != tc.want {
				t.Errorf("got: %v, want: %v", got, tc.want)
			}
		})
	}
	if !math.IsNaN(median(nil)) {
		t.Errorf("median of nothing: got %v, want NaN", median(nil))
	}
	xs := []float64{3, 1, 2}
	median(xs)
	if xs[0] != 3 {
		t.Errorf("median sorted its input: %v", xs)
	}
}

func TestResultsFailKeepsFirst(t *testing.T) {
	r := newResults()
	r.fail("husk", []string{"a", "b"}, errors.New("first"))
	r.fail("husk", []string{"b", "c"}, errors.New("second"))
	for _, tc := range []struct{ metric, want string }{{"a", "first"}, {"b", "first"}, {"c", "second"}, {"d", ""}} {
		if got := r.failure(tc.metric, "husk"); got != tc.want {
			t.Errorf("failure %s: got %q, want %q", tc.metric, got, tc.want)
		}
	}
}
