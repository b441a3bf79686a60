# podman.sh: podman 4.3 + conmon with the runtime under test passed as `podman --runtime <path>`.
# shellcheck shell=bash disable=SC2016 # conditions are single-quoted for eval in check()
# No daemon: every podman call gets the same private root/runroot/tmpdir and configuration.
# Sourced by run.sh (inner), needs lib.sh.

PMD=$WORK/podman
PODMAN=(podman --root "$PMD/root" --runroot "$PMD/runroot" --tmpdir "$PMD/tmp"
	--runtime "$RUNTIME" --cgroup-manager cgroupfs --events-backend file --storage-driver overlay)
# PODMAN_RUN_ARGS: extra `podman run` flags, to look past a failure while debugging
read -r -a PM_EXTRA <<<"${PODMAN_RUN_ARGS:-}"
PM_RUN=(run --network none --cgroup-parent "$PARENT" "${PM_EXTRA[@]}")
export CONTAINERS_CONF=$PMD/containers.conf CONTAINERS_STORAGE_CONF=$PMD/storage.conf

pm_inspect() { tmo "${PODMAN[@]}" inspect -f "$2" "$1" 2>&1; }

podman_start() {
	local nofile nproc pidmax base
	mkdir -p "$PMD/tmp" "$PMD/net"
	# the engine's default rlimits (1048576) exceed this machine's hard limits, and a runtime
	# without CAP_SYS_RESOURCE cannot raise them: ask for the hard limits instead
	nofile=$(ulimit -Hn)
	nproc=$(ulimit -Hu)
	pidmax=$(cat /proc/sys/kernel/pid_max)
	[ "$nproc" = unlimited ] || [ "$nproc" -gt "$pidmax" ] && nproc=$pidmax
	[ "$nofile" = unlimited ] && nofile=1048576
	base=$(basename "$RUNTIME")
	cat >"$PMD/containers.conf" <<TOML
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
netns = "none"
log_driver = "k8s-file"

[network]
network_config_dir = "$PMD/net"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$PMD/events.log"
tmp_dir = "$PMD/tmp"
runtime_supports_json = ["crun", "runc", "kata", "runsc", "youki", "krun", "husk", "$base"]
runtime_supports_nocgroups = ["crun", "krun", "husk", "$base"]
TOML
	cat >"$PMD/storage.conf" <<TOML
[storage]
driver = "overlay"
graphroot = "$PMD/root"
runroot = "$PMD/runroot"
TOML
	run "${PODMAN[@]}" load -i "$IMAGE_TAR"
	if [ "$RC" != 0 ]; then
		fail "podman load" "rc=$RC" "$OUT"
		return 1
	fi
	pass "podman load"
}

podman_scenarios() {
	local token id pid cg t0

	token=tok-$RANDOM$RANDOM
	run "${PODMAN[@]}" "${PM_RUN[@]}" --rm huskbox echo "$token"
	check "echo: output + exit 0" "want $token and rc 0, rc=$RC" eval '[ "$RC" = 0 ] && contains "$token"'

	run "${PODMAN[@]}" "${PM_RUN[@]}" --rm huskbox sh -c 'exit 42'
	check "exit code 42 propagates" "want rc 42, rc=$RC" eval '[ "$RC" = 42 ]'

	run "${PODMAN[@]}" "${PM_RUN[@]}" -d --name det1 --memory 64m --memory-swap 64m huskbox \
		sh -c 'trap "exit 0" TERM; while :; do sleep 1; done'
	if [ "$RC" != 0 ]; then
		fail "detached run" "rc=$RC" "$OUT"
	else
		id=$(pm_inspect det1 '{{.Id}}')
		token=tok-$RANDOM$RANDOM
		run "${PODMAN[@]}" exec det1 echo "$token"
		check "exec prints a token" "want $token rc 0, rc=$RC" eval '[ "$RC" = 0 ] && contains "$token"'

		run "${PODMAN[@]}" exec det1 cat /sys/fs/cgroup/memory/memory.limit_in_bytes
		check "64MiB limit seen inside" "want 67108864, rc=$RC" eval '[ "$RC" = 0 ] && contains 67108864'

		pid=$(pm_inspect det1 '{{.State.Pid}}')
		cg=$(cgroup_of "$pid" memory)
		OUT="pid=$pid cgroup=$cg limit=$(cat "/sys/fs/cgroup/memory$cg/memory.limit_in_bytes" 2>&1)"
		check "64MiB limit on the host cgroup $PARENT/libpod-<id>" "want cgroup $PARENT/libpod-$id" \
			eval '[ "$cg" = "$PARENT/libpod-$id" ] && contains limit=67108864'

		run "${PODMAN[@]}" exec -t det1 tty
		check "exec -t gives a tty (/dev/pts/N)" "want /dev/pts/, rc=$RC" eval '[ "$RC" = 0 ] && [[ $OUT =~ /dev/pts/[0-9] ]]'

		run "${PODMAN[@]}" top det1
		check "podman top lists the processes" "want the sh/sleep processes, rc=$RC" \
			eval '[ "$RC" = 0 ] && contains sleep'

		run "${PODMAN[@]}" update --memory 128m --memory-swap 128m det1
		OUT="$OUT; host limit $(cat "/sys/fs/cgroup/memory$cg/memory.limit_in_bytes" 2>&1)"
		check "podman update --memory 128m" "want rc 0 and 134217728, rc=$RC" \
			eval '[ "$RC" = 0 ] && contains "host limit 134217728"'

		run "${PODMAN[@]}" pause det1
		OUT="$OUT; status $(pm_inspect det1 '{{.State.Status}}'); freezer $(cat "/sys/fs/cgroup/freezer$(cgroup_of "$pid" freezer)/freezer.state" 2>&1)"
		check "pause: paused and FROZEN" "want paused and FROZEN, rc=$RC" \
			eval '[ "$RC" = 0 ] && contains "status paused" && contains "freezer FROZEN"'
		run "${PODMAN[@]}" unpause det1
		local rrc=$RC rout=$OUT
		token=tok-$RANDOM$RANDOM
		run "${PODMAN[@]}" exec det1 echo "$token"
		OUT="unpause rc=$rrc $rout; exec: $OUT; status $(pm_inspect det1 '{{.State.Status}}')"
		check "unpause: running, exec works" "want rc 0 and $token" \
			eval '[ "$rrc" = 0 ] && contains "$token" && contains "status running"'

		t0=$SECONDS
		run "${PODMAN[@]}" stop -t 20 det1
		OUT="rc=$RC $OUT; took $((SECONDS - t0))s; exit $(pm_inspect det1 '{{.State.ExitCode}}')"
		check "podman stop: SIGTERM stops it (exit 0, no SIGKILL)" "want rc 0 and exit 0" \
			eval '[ "$RC" = 0 ] && contains "exit 0" && [ $((SECONDS - t0)) -lt 15 ]'
		run "${PODMAN[@]}" rm -f det1
	fi

	# podman 4.3 never sets OOMKilled here (with runc either): conmon 2.1.6 writes its "oom"
	# marker into its working directory, podman looks for it in the bundle. Check the marker,
	# from a fresh working directory so it is this container's.
	mkdir -p "$PMD/oom-cwd"
	cd "$PMD/oom-cwd" || return 1
	run "${PODMAN[@]}" "${PM_RUN[@]}" --name oom1 --memory 64m --memory-swap 64m huskbox \
		dd if=/dev/zero of=/dev/null bs=100M count=1
	cd "$WORK" || return 1
	OUT="rc=$RC $OUT; conmon oom marker: $([ -e "$PMD/oom-cwd/oom" ] && echo yes || echo no); OOMKilled=$(pm_inspect oom1 '{{.State.OOMKilled}}')"
	check "100MiB allocation under 64MiB is OOM-killed (rc 137, conmon's oom marker)" "want rc 137 and the marker" \
		eval 'contains "rc=137" && contains "marker: yes"'
	run "${PODMAN[@]}" rm -f oom1

	run "${PODMAN[@]}" "${PM_RUN[@]}" --rm -t huskbox tty
	check "-t gives a tty (/dev/pts/N)" "want /dev/pts/, rc=$RC" eval '[ "$RC" = 0 ] && [[ $OUT =~ /dev/pts/[0-9] ]]'

	run "${PODMAN[@]}" "${PM_RUN[@]}" --rm huskbox grep Seccomp: /proc/self/status
	check "default seccomp profile (Seccomp: 2)" "want Seccomp 2, rc=$RC" \
		eval '[ "$RC" = 0 ] && [[ $OUT =~ Seccomp:[[:space:]]+2 ]]'

	rm -f "$PMD/rm1.cid"
	run "${PODMAN[@]}" "${PM_RUN[@]}" --rm --cidfile "$PMD/rm1.cid" huskbox true
	local left="" rrc=$RC rout=$OUT
	id=$(cat "$PMD/rm1.cid" 2>/dev/null)
	if [ -z "$id" ]; then
		left=" (no container id)"
	else
		tmo "${PODMAN[@]}" ps -aq --no-trunc | grep -qx "$id" && left+=" container"
		[ -e "$PMD/root/overlay-containers/$id" ] && left+=" storage"
		[ -e "/run/$(basename "$RUNTIME")/$id" ] && left+=" runtime-state"
		for cg in $(cgroup_mounts); do [ -d "$cg$PARENT/libpod-$id" ] && left+=" cgroup:$cg"; done
	fi
	OUT="rc=$rrc $rout; left:$left"
	check "podman run --rm leaves no state" "want rc 0 and nothing left" eval '[ "$rrc" = 0 ] && [ -z "$left" ]'
}

podman_stop() {
	local m
	[ -f "$PMD/containers.conf" ] || return 0
	timeout 30 "${PODMAN[@]}" rm -af -t 0 >/dev/null 2>&1
	# podman passes no --root: the runtime's default state dir (in this run's private /run)
	check_state_empty "the default root /run/$(basename "$RUNTIME")" "/run/$(basename "$RUNTIME")"
	# podman moves conmon into <parent>/conmon and never removes that cgroup
	wait_for 5 eval '[ -z "$(cat "/sys/fs/cgroup/pids$PARENT/conmon/cgroup.procs" 2>/dev/null)" ]'
	for m in $(cgroup_mounts); do
		[ -d "$m$PARENT/conmon" ] && rmdir "$m$PARENT/conmon" 2>/dev/null
	done
	return 0
}
