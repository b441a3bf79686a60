// Package standin holds the stand-in test binary of the VM test lane
// (tests/vm): until the integration suite runs in the guests, it proves that
// each guest offers the facility it exists for — a pure cgroup v2 hierarchy,
// systemd as PID 1 with transient scopes, SELinux enforcing, or an AppArmor
// profile loaded with apparmor_parser.
//
// The tests run only inside a guest: the lane sets HUSK_VM_GUEST to the
// guest's name (cgroup2, systemd, selinux or apparmor), and every test skips
// with a reason when it is unset, so `go test ./...` on a host stays quiet.
// Build it with:
//
//	CGO_ENABLED=0 go test -c -o build/vm/artefacts/standin.test ./tests/vm/standin
//
// It changes nothing outside the cgroups and scopes it creates, and removes
// those.
package standin
