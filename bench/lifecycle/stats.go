package main

import (
	"math"
	"sort"
	"sync"
)

// results collects samples per metric and runtime, and the first failure of
// a runtime per metric. It is safe for concurrent use.
type results struct {
	mu       sync.Mutex
	values   map[string]map[string][]float64 // metric -> label -> samples
	failures map[string]map[string]string    // label -> metric -> first error
}

func newResults() *results {
	return &results{
		values:   map[string]map[string][]float64{},
		failures: map[string]map[string]string{},
	}
}

// add records one sample.
func (r *results) add(metric, label string, v float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.values[metric]
	if m == nil {
		m = map[string][]float64{}
		r.values[metric] = m
	}
	m[label] = append(m[label], v)
}

// fail records err against label for each metric that has no failure yet.
func (r *results) fail(label string, metrics []string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.failures[label]
	if f == nil {
		f = map[string]string{}
		r.failures[label] = f
	}
	for _, m := range metrics {
		if _, ok := f[m]; !ok {
			f[m] = err.Error()
		}
	}
}

// get returns the samples of metric for label.
func (r *results) get(metric, label string) []float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]float64(nil), r.values[metric][label]...)
}

// failure returns the first error of label in metric, or "".
func (r *results) failure(metric, label string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failures[label][metric]
}

// quantile returns the q-quantile (0..1) of xs by linear interpolation
// between closest ranks, or NaN for no samples.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	h := q * float64(len(s)-1)
	lo := int(math.Floor(h))
	hi := int(math.Ceil(h))
	return s[lo] + (h-float64(lo))*(s[hi]-s[lo])
}

// median returns the median of xs, or NaN for no samples.
func median(xs []float64) float64 { return quantile(xs, 0.5) }
