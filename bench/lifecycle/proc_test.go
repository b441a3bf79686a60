package main

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"
)

func TestProcs(t *testing.T) {
	p, err := newProcs(os.Environ())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		argv     []string
		timeout  time.Duration
		wantCode int
		wantErr  error
	}{
		{"exit 0", []string{"/bin/sh", "-c", "exit 0"}, 10 * time.Second, 0, nil},
		{"exit 3", []string{"/bin/sh", "-c", "exit 3"}, 10 * time.Second, 3, nil},
		{"killed after timeout", []string{"/bin/sleep", "10"}, 50 * time.Millisecond, -1, errTimeout},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := p.start(tc.argv, nil, os.Stderr)
			if err != nil {
				t.Fatal(err)
			}
			e, err := c.wait(context.Background(), tc.timeout)
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("error: got %v, want %v", err, tc.wantErr)
			}
			if got := e.status.ExitStatus(); got != tc.wantCode {
				t.Errorf("exit status: got %d, want %d", got, tc.wantCode)
			}
			if e.at.Before(c.start) {
				t.Errorf("exit at %v before start %v", e.at, c.start)
			}
		})
	}
}

func TestWatchPid(t *testing.T) {
	p, err := newProcs(os.Environ())
	if err != nil {
		t.Fatal(err)
	}
	c, err := p.start([]string{"/bin/sleep", "0.05"}, nil, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	w, err := watchPid(c.pid)
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	at, err := w.wait(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	e, err := c.wait(context.Background(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if d := at.Sub(e.at); d > 100*time.Millisecond || d < -100*time.Millisecond {
		t.Errorf("pidfd saw the exit %v away from wait4", d)
	}
}
