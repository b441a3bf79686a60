#!/usr/bin/env bash
# Where the wall time of one `husk run /bin/true` goes, per phase, from kernel tracepoints
# (perf record: no ptrace, so the program runs at full speed). Medians over N runs.
#   sudo bench/phases/phases.sh [N]        (needs perf; uses ./husk and a busybox bundle)
set -euo pipefail
command -v perf >/dev/null || { echo "phases.sh: needs perf (apt-get install linux-perf)" >&2; exit 1; }
top=$(cd "$(dirname "$0")/../.." && pwd)
n=${1:-20}
husk=$top/husk
work=$(mktemp -d /tmp/husk-phases.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/b/rootfs/bin" "$work/b/rootfs/proc" "$work/b/rootfs/sys" "$work/b/rootfs/dev"
cp "$(command -v busybox)" "$work/b/rootfs/bin/busybox"
ln -s busybox "$work/b/rootfs/bin/true"
(cd "$work/b" && "$husk" spec && jq '.process.terminal=false | .process.args=["/bin/true"] | .linux.cgroupsPath="husk-phases"' config.json > c && mv c config.json)
ev='sched:sched_process_exec,sched:sched_process_fork,sched:sched_process_exit,syscalls:sys_enter_mkdirat,syscalls:sys_enter_unshare,syscalls:sys_enter_mount,syscalls:sys_enter_pivot_root,syscalls:sys_enter_sendmsg,syscalls:sys_enter_clone3'
for i in $(seq 1 "$n"); do
	perf record -q -o "$work/p$i.data" -e "$ev" "$husk" --root "$work/root" run -b "$work/b" p$i >/dev/null 2>&1
	perf script -i "$work/p$i.data" -F comm,pid,time,event,trace > "$work/p$i.txt" 2>/dev/null
done
python3 - "$work" "$n" <<'PY'
import re, statistics, sys
work, n = sys.argv[1], int(sys.argv[2])
phases = {}
def add(k, v):
    phases.setdefault(k, []).append(v * 1000)
for i in range(1, n + 1):
    ev = []
    for l in open(f"{work}/p{i}.txt"):
        m = re.match(r"\s*(\S+)\s+(\d+)\s+([\d.]+):\s+(\S+):\s*(.*)", l)
        if m:
            ev.append((m.group(1), int(m.group(2)), float(m.group(3)), m.group(4), m.group(5)))
    if not ev:
        continue
    t0, cli = ev[0][2], ev[0][1]
    def first(p):
        return next((e[2] for e in ev if p(e)), None)
    go_up = first(lambda e: e[1] == cli and "fork" in e[3])                      # first runtime thread
    state = first(lambda e: e[1] == cli and "mkdirat" in e[3])                   # state dir
    init_exec = first(lambda e: e[1] != cli and "process_exec" in e[3] and "/proc/self/fd" in e[4])
    first_mount = first(lambda e: e[1] != cli and "sys_enter_mount" in e[3])
    pivot = first(lambda e: "pivot_root" in e[3])
    true_exec = first(lambda e: "process_exec" in e[3] and "/bin/true" in e[4])
    true_exit = first(lambda e: "process_exit" in e[3] and "comm=true" in e[4])
    end = ev[-1][2]
    if None in (go_up, state, init_exec, first_mount, pivot, true_exec, true_exit):
        continue
    add("1 CLI start: exec to the Go runtime's first thread", go_up - t0)
    add("2 CLI: parse flags, read and check config.json", state - go_up)
    add("3 CLI: state dir, exec FIFO, cgroups, plan, spawn", init_exec - state)
    add("4 init: exec, cgroup join, namespaces, plan received", first_mount - init_exec)
    add("5 init: mounts, devices, masked paths up to pivot_root", pivot - first_mount)
    add("6 init: process settings; CLI: state.json, start", true_exec - pivot)
    add("7 /bin/true runs", true_exit - true_exec)
    add("8 CLI: wait, delete (cgroups, state dir), exit", end - true_exit)
    add("total", end - t0)
print(f"| phase (median of {n} runs, ms) | husk |")
print("|---|---:|")
for k in sorted(phases):
    print(f"| {k} | {statistics.median(phases[k]):.2f} |")
PY
for d in /sys/fs/cgroup/*/husk-phases /sys/fs/cgroup/memory/*/*/husk-phases; do [ -d "$d" ] && rmdir "$d" 2>/dev/null || true; done
