package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"

	"github.com/containerd/console"
	"golang.org/x/sys/unix"
)

// ttyProxy receives a container's pty master on a private console socket and connects it to
// husk's own terminal (run/exec with process.terminal and no --console-socket).
type ttyProxy struct {
	dir    string
	ln     *net.UnixListener
	master chan *os.File
	errc   chan error
	cur    console.Console
	pty    *os.File
}

func newTTYProxy() (*ttyProxy, error) {
	dir, err := os.MkdirTemp("", "husk-tty")
	if err != nil {
		return nil, err
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(dir, "console.sock"), Net: "unix"})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	t := &ttyProxy{dir: dir, ln: ln, master: make(chan *os.File, 1), errc: make(chan error, 1)}
	go t.accept()
	return t, nil
}

// Path is the socket to pass as the console socket.
func (t *ttyProxy) Path() string { return filepath.Join(t.dir, "console.sock") }

func (t *ttyProxy) accept() {
	conn, err := t.ln.AcceptUnix()
	if err != nil {
		t.errc <- err
		return
	}
	defer conn.Close()
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		t.errc <- err
		return
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		t.errc <- errors.New("console socket: no pty master received")
		return
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		t.errc <- errors.New("console socket: no pty master received")
		return
	}
	t.master <- os.NewFile(uintptr(fds[0]), "pty-master")
}

// Attach waits for the master and starts copying between it and our stdio.
func (t *ttyProxy) Attach() error {
	select {
	case m := <-t.master:
		t.pty = m
	case err := <-t.errc:
		return fmt.Errorf("console: %w", err)
	}
	if cur, err := console.ConsoleFromFile(os.Stdin); err == nil {
		t.cur = cur
		if ws, err := cur.Size(); err == nil {
			_ = unix.IoctlSetWinsize(int(t.pty.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: ws.Height, Col: ws.Width})
		}
		_ = cur.SetRaw()
	}
	go func() { _, _ = io.Copy(t.pty, os.Stdin) }()
	go func() { _, _ = io.Copy(os.Stdout, t.pty) }()
	return nil
}

// Resize copies our terminal's size to the container's (on SIGWINCH).
func (t *ttyProxy) Resize() {
	if t.cur == nil || t.pty == nil {
		return
	}
	if ws, err := t.cur.Size(); err == nil {
		_ = unix.IoctlSetWinsize(int(t.pty.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: ws.Height, Col: ws.Width})
	}
}

// Close restores our terminal and removes the socket.
func (t *ttyProxy) Close() {
	if t.cur != nil {
		_ = t.cur.Reset()
	}
	t.ln.Close()
	os.RemoveAll(t.dir)
}
