# containerd.sh: containerd 1.6 + ctr + containerd-shim-runc-v2 with the runtime under test
# shellcheck shell=bash disable=SC2016 # conditions are single-quoted for eval in check()
# passed per container as `ctr run --runc-binary`. Sourced by run.sh (inner), needs lib.sh.

CTRD=$WORK/containerd
CTR_NS=husk
CTR_IMG=docker.io/library/huskbox:latest

CTR=(ctr --address "$CTRD/containerd.sock" --namespace "$CTR_NS")
ctr_() { tmo "${CTR[@]}" "$@"; }

# ctr_run ID [ctr run flags...] -- CMD...: ctr run with the runtime, root and cgroup parent set
ctr_run() {
	local id=$1 flags=()
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		flags+=("$1")
		shift
	done
	shift
	run "${CTR[@]}" run --runc-binary "$RUNTIME" --runc-root "$CTRD/runc" --cgroup "$PARENT/$id" \
		"${flags[@]}" "$CTR_IMG" "$id" "$@"
}

ctr_task_pid() { ctr_ tasks ls 2>/dev/null | awk -v id="$1" '$1 == id { print $2 }'; }
ctr_task_status() { ctr_ tasks ls 2>/dev/null | awk -v id="$1" '$1 == id { print $3 }'; }

containerd_start() {
	mkdir -p "$CTRD"
	cat >"$CTRD/config.toml" <<TOML
version = 2
root = "$CTRD/root"
state = "$CTRD/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "$CTRD/containerd.sock"
[ttrpc]
  address = "$CTRD/containerd.sock.ttrpc"
[debug]
  address = "$CTRD/debug.sock"
  level = "info"
[plugins."io.containerd.internal.v1.opt"]
  path = "$CTRD/opt"
TOML
	containerd --config "$CTRD/config.toml" >"$CTRD/containerd.log" 2>&1 &
	echo $! >"$CTRD/containerd.pid"
	if ! wait_for 30 ctr_ version >/dev/null 2>&1; then
		fail start "containerd did not answer in 30s" "$(tail -n 3 "$CTRD/containerd.log")"
		return 1
	fi
	run "${CTR[@]}" images import "$IMAGE_TAR"
	if [ "$RC" != 0 ]; then
		fail "image import" "rc=$RC" "$OUT"
		return 1
	fi
	"${CTR[@]}" events >"$CTRD/events.log" 2>&1 &
	echo $! >"$CTRD/events.pid"
	pass "start + ctr images import"
}

containerd_scenarios() {
	local token pid cg

	token=tok-$RANDOM$RANDOM
	ctr_run echo1 --rm -- echo "$token"
	check "echo: output + exit 0" "want $token and rc 0, rc=$RC" eval '[ "$RC" = 0 ] && contains "$token"'

	ctr_run exit1 --rm -- sh -c 'exit 42'
	check "exit code 42 propagates" "want rc 42, rc=$RC" eval '[ "$RC" = 42 ]'

	# ctr adds no /sys/fs/cgroup mount by default: ask for one to see the limit inside
	ctr_run mem1 --rm --memory-limit 67108864 --mount type=cgroup,src=cgroup,dst=/sys/fs/cgroup,options=ro -- \
		cat /sys/fs/cgroup/memory/memory.limit_in_bytes
	check "64MiB limit seen inside (cgroup mount)" "want 67108864, rc=$RC" eval '[ "$RC" = 0 ] && contains 67108864'

	# detached + exec + ps + pause/resume + SIGTERM stop, on one long-running container
	ctr_run det1 -d --memory-limit 67108864 -- \
		sh -c 'trap "exit 0" TERM; while :; do sleep 1; done'
	if [ "$RC" != 0 ]; then
		fail "detached run" "rc=$RC" "$OUT"
	else
		token=tok-$RANDOM$RANDOM
		run "${CTR[@]}" tasks exec --exec-id ex1 det1 echo "$token"
		check "exec prints a token" "want $token rc 0, rc=$RC" eval '[ "$RC" = 0 ] && contains "$token"'

		pid=$(ctr_task_pid det1)
		cg=$(cgroup_of "$pid" memory)
		OUT="pid=$pid cgroup=$cg limit=$(cat "/sys/fs/cgroup/memory$cg/memory.limit_in_bytes" 2>&1)"
		check "64MiB limit on the host cgroup $PARENT/det1" "want cgroup $PARENT/det1" \
			eval '[ "$cg" = "$PARENT/det1" ] && contains limit=67108864'

		run script -qec "${CTR[*]} tasks exec -t --exec-id ex4 det1 tty" /dev/null
		check "exec -t gives a tty (/dev/pts/N)" "want /dev/pts/, rc=$RC" eval '[ "$RC" = 0 ] && [[ $OUT =~ /dev/pts/[0-9] ]]'

		run "${CTR[@]}" tasks ps det1
		check "ctr tasks ps lists the init pid" "want pid $pid, rc=$RC" eval '[ "$RC" = 0 ] && contains "$pid"'

		# ctr 1.6 has no `tasks update` (only the containerd API and the CRI plugin's UpdateContainerResources do)
		skip "ctr tasks update" "ctr 1.6 has no tasks update command"

		run "${CTR[@]}" tasks pause det1
		OUT="$OUT; status $(ctr_task_status det1); freezer $(cat "/sys/fs/cgroup/freezer$(cgroup_of "$pid" freezer)/freezer.state" 2>&1)"
		check "pause: PAUSED and FROZEN" "want PAUSED and FROZEN" eval 'contains "status PAUSED" && contains "freezer FROZEN"'
		run "${CTR[@]}" tasks resume det1
		token=tok-$RANDOM$RANDOM
		local rrc=$RC rout=$OUT
		run "${CTR[@]}" tasks exec --exec-id ex3 det1 echo "$token"
		OUT="resume rc=$rrc $rout; exec: $OUT; status $(ctr_task_status det1)"
		check "resume: RUNNING, exec works" "want rc 0 and $token" \
			eval '[ "$rrc" = 0 ] && contains "$token" && contains "status RUNNING"'

		run "${CTR[@]}" tasks kill -s SIGTERM det1
		wait_for 15 eval '[ "$(ctr_task_status det1)" = STOPPED ]'
		local st
		st=$(ctr_task_status det1)
		run "${CTR[@]}" tasks delete det1
		OUT="status $st; delete: $OUT"
		check "SIGTERM stops it (status STOPPED, exit 0)" "want STOPPED then delete rc 0, rc=$RC" \
			eval '[ "$st" = STOPPED ] && [ "$RC" = 0 ]'
		run "${CTR[@]}" containers delete det1
	fi

	ctr_run oom1 --rm --memory-limit 67108864 -- dd if=/dev/zero of=/dev/null bs=100M count=1
	local orc=$RC oout=$OUT
	wait_for 5 grep -q '/tasks/oom.*"oom1"' "$CTRD/events.log"
	OUT="rc=$orc $oout; events: $(grep -c '/tasks/oom.*"oom1"' "$CTRD/events.log")"
	check "100MiB allocation under 64MiB is OOM-killed (rc 137 + /tasks/oom event)" "want rc 137 and an oom event" \
		eval '[ "$orc" = 137 ] && ! contains "events: 0"'

	# ctr wants a terminal on its own stdin for -t: script(1) provides one
	run script -qec "ctr --address $CTRD/containerd.sock --namespace $CTR_NS run -t --rm \
--runc-binary $RUNTIME --runc-root $CTRD/runc --cgroup $PARENT/tty1 $CTR_IMG tty1 tty" /dev/null
	check "-t gives a tty (/dev/pts/N)" "want /dev/pts/, rc=$RC" eval '[ "$RC" = 0 ] && [[ $OUT =~ /dev/pts/[0-9] ]]'

	ctr_run sec1 --rm --seccomp -- grep Seccomp: /proc/self/status
	check "--seccomp: filter on (Seccomp: 2)" "want Seccomp 2, rc=$RC" eval '[ "$RC" = 0 ] && [[ $OUT =~ Seccomp:[[:space:]]+2 ]]'

	ctr_run rm1 --rm -- true
	local left=""
	ctr_ containers ls -q | grep -qx rm1 && left+=" container"
	ctr_ snapshots ls 2>/dev/null | grep -q '\brm1\b' && left+=" snapshot"
	[ -e "$CTRD/runc/$CTR_NS/rm1" ] && left+=" runtime-state"
	[ -e "$CTRD/state/io.containerd.runtime.v2.task/$CTR_NS/rm1" ] && left+=" bundle"
	for cg in $(cgroup_mounts); do [ -d "$cg$PARENT/rm1" ] && left+=" cgroup:$cg"; done
	OUT="rc=$RC $OUT; left:$left"
	check "run --rm leaves no state" "want rc 0 and nothing left" eval '[ "$RC" = 0 ] && [ -z "$left" ]'
}

containerd_stop() {
	local id deadline=$((SECONDS + 30))
	if [ -S "$CTRD/containerd.sock" ]; then
		for id in $(timeout 10 "${CTR[@]}" tasks ls -q 2>/dev/null); do
			((SECONDS < deadline)) || break
			timeout 5 "${CTR[@]}" tasks kill -s SIGKILL "$id" >/dev/null 2>&1
			timeout 10 "${CTR[@]}" tasks delete -f "$id" >/dev/null 2>&1
		done
		for id in $(timeout 10 "${CTR[@]}" containers ls -q 2>/dev/null); do
			((SECONDS < deadline)) || break
			timeout 10 "${CTR[@]}" containers delete "$id" >/dev/null 2>&1
		done
		check_state_empty "--runc-root" "$CTRD/runc/$CTR_NS"
	fi
	stop_pid "$(cat "$CTRD/events.pid" 2>/dev/null)" 5
	stop_pid "$(cat "$CTRD/containerd.pid" 2>/dev/null)" 20
}
