// Package systemd drives a container's cgroup through systemd over D-Bus,
// on cgroup v1 and v2: the container runs in a transient scope unit
// ("<prefix>-<name>.scope") inside a slice, named by a runc-style
// linux.cgroupsPath "slice:prefix:name". Resources become unit properties
// (Properties, a pure function, so that the translation is testable
// without D-Bus), annotations "org.systemd.property.<Name>" become extra
// properties, and everything systemd cannot express is then written to
// the scope's cgroup through the fs or fs2 driver, which also serves
// Pids, Freeze, Stats and OOM events.
//
// It never stops a unit it did not start.
package systemd
