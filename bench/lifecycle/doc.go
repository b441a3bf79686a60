// Command lifecycle is husk's own lifecycle benchmark (`make bench`).
//
// It runs husk, runc and crun (any runc-CLI-compatible binaries, see RUNTIMES)
// side by side on the same bundle and reports, per metric, the median of
// interleaved rounds (every round runs each runtime once, in rotating order)
// and the ratio of the first runtime's median to each other runtime's median,
// as a markdown table followed by one machine-readable line:
//
//	BENCH_JSON {"runtimes":{"husk":{"run_ms":...},...},"ratios":{"husk/crun":{...}},...}
//
// # Environment
//
// The benchmark re-executes itself in a private mount and cgroup namespace.
// There every cgroup v1 hierarchy is mounted again on a private tmpfs at
// /sys/fs/cgroup; a fresh cgroup mount made inside a cgroup namespace is rooted
// at the namespace's root, which is the benchmark's own cgroup. That makes the
// two readings of a relative linux.cgroupsPath agree: runc joins it to its own
// cgroup ("/" inside the namespace), crun to the hierarchy root (also our own
// cgroup), so every container nests under the benchmark's cgroup. The cgroup2
// hierarchy of a hybrid layout is left out, because crun refuses to run when
// cgroup2 owns controllers; every runtime therefore sees the same pure-v1
// layout. Each runtime gets its own --root on a private tmpfs. The benchmark is
// a child subreaper, so container inits whose runtime exited become its
// children and their exits are seen at once (through a pidfd).
//
// # Knobs
//
//	QUICK=1      fewer rounds (about a minute for three runtimes)
//	ROUNDS=N     rounds of the latency rows (default 50, QUICK 10); the
//	             100-sequential, 20-parallel and RSS rows scale with it
//	RUNTIMES=... "label=path ..." (default "husk=./husk runc=/usr/sbin/runc
//	             crun=/usr/bin/crun"; a missing ./husk is left out with a note)
//	SKIP=...     rows to skip: run seccomp split exec seq par rss many
//	BENCH_BUNDLE bundle directory (default build/bench), rootfs built from a
//	             static busybox when missing
//	BENCH_CONFIG a config.json to use as the template instead of the one
//	             `runc spec` writes (args, terminal, root, cgroupsPath and
//	             seccomp are set by the benchmark)
//
// A runtime that fails a row is reported as FAIL for that row (the first error
// is printed under the table) and the benchmark goes on with the next row.
//
// The benchmark must not leave anything behind: containers are deleted (and
// their processes killed by pid) and the cgroups it made are removed on exit
// and on SIGINT/SIGTERM.
package main
