# docker.sh: docker.io 20.10 (dockerd + its own managed containerd + containerd-shim-runc-v2)
# shellcheck shell=bash disable=SC2016 # conditions are single-quoted for eval in check()
# with the runtime under test added as `--add-runtime husk=<path>` and chosen per container
# with `docker run --runtime husk`. Sourced by run.sh (inner), needs lib.sh.

DKD=$WORK/docker
# Debian's client; /usr/local/bin may hold another docker client
DOCKER=(/usr/bin/docker -H "unix://$DKD/docker.sock")
# DOCKER_RUN_ARGS: extra `docker run` flags, to look past a failure while debugging
read -r -a DK_EXTRA <<<"${DOCKER_RUN_ARGS:-}"
DK_RUN=(run --runtime husk --network none "${DK_EXTRA[@]}")
export DOCKER_CONFIG=$DKD/client

dk_inspect() { tmo "${DOCKER[@]}" inspect -f "$2" "$1" 2>&1; }

docker_start() {
	mkdir -p "$DKD/client"
	echo '{}' >"$DKD/daemon.json"
	dockerd --config-file "$DKD/daemon.json" \
		--data-root "$DKD/data" --exec-root "$DKD/exec" \
		-H "unix://$DKD/docker.sock" --pidfile "$DKD/docker.pid" \
		--bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
		--userland-proxy=false --storage-driver overlay2 \
		--exec-opt native.cgroupdriver=cgroupfs --cgroup-parent "$PARENT" \
		--add-runtime "husk=$RUNTIME" >"$DKD/dockerd.log" 2>&1 &
	echo $! >"$DKD/dockerd.started"
	if ! wait_for 60 eval 'tmo "${DOCKER[@]}" version >/dev/null 2>&1'; then
		fail start "dockerd did not answer in 60s" "$(tail -n 3 "$DKD/dockerd.log")"
		return 1
	fi
	run "${DOCKER[@]}" info --format '{{json .Runtimes}}'
	check "dockerd --add-runtime husk registered" "want husk in docker info" eval 'contains "\"husk\""'
	run "${DOCKER[@]}" load -i "$IMAGE_TAR"
	if [ "$RC" != 0 ] || ! contains huskbox; then
		fail "docker load" "rc=$RC" "$OUT"
		return 1
	fi
	pass "start + docker load"
}

docker_scenarios() {
	local token id pid cg t0

	token=tok-$RANDOM$RANDOM
	run "${DOCKER[@]}" "${DK_RUN[@]}" --rm huskbox echo "$token"
	check "echo: output + exit 0" "want $token and rc 0, rc=$RC" eval '[ "$RC" = 0 ] && contains "$token"'

	run "${DOCKER[@]}" "${DK_RUN[@]}" --rm huskbox sh -c 'exit 42'
	check "exit code 42 propagates" "want rc 42, rc=$RC" eval '[ "$RC" = 42 ]'

	run "${DOCKER[@]}" "${DK_RUN[@]}" -d --name det1 --memory 64m --memory-swap 64m huskbox \
		sh -c 'trap "exit 0" TERM; while :; do sleep 1; done'
	if [ "$RC" != 0 ]; then
		fail "detached run" "rc=$RC" "$OUT"
	else
		id=$(dk_inspect det1 '{{.Id}}')
		token=tok-$RANDOM$RANDOM
		run "${DOCKER[@]}" exec det1 echo "$token"
		check "exec prints a token" "want $token rc 0, rc=$RC" eval '[ "$RC" = 0 ] && contains "$token"'

		run "${DOCKER[@]}" exec det1 cat /sys/fs/cgroup/memory/memory.limit_in_bytes
		check "64MiB limit seen inside" "want 67108864, rc=$RC" eval '[ "$RC" = 0 ] && contains 67108864'

		pid=$(dk_inspect det1 '{{.State.Pid}}')
		cg=$(cgroup_of "$pid" memory)
		OUT="pid=$pid cgroup=$cg limit=$(cat "/sys/fs/cgroup/memory$cg/memory.limit_in_bytes" 2>&1)"
		check "64MiB limit on the host cgroup $PARENT/<id>" "want cgroup $PARENT/$id" \
			eval '[ "$cg" = "$PARENT/$id" ] && contains limit=67108864'

		# docker's prestart hook (libnetwork-setkey) makes dockerd bind the container's network
		# namespace at its SandboxKey: without the hook that file does not exist
		local sk
		sk=$(dk_inspect det1 '{{.NetworkSettings.SandboxKey}}')
		OUT="SandboxKey $sk: inode $(stat -L -c %i "$sk" 2>&1); container netns inode $(stat -L -c %i "/proc/$pid/ns/net" 2>&1)"
		check "prestart hook ran (container netns bound at SandboxKey)" "want the same inode" \
			eval '[ -n "$sk" ] && [ "$(stat -L -c %i "$sk" 2>/dev/null)" = "$(stat -L -c %i "/proc/$pid/ns/net")" ]'

		run "${DOCKER[@]}" exec -t det1 tty
		check "exec -t gives a tty (/dev/pts/N)" "want /dev/pts/, rc=$RC" eval '[ "$RC" = 0 ] && [[ $OUT =~ /dev/pts/[0-9] ]]'

		run "${DOCKER[@]}" top det1
		check "docker top lists the processes" "want pid $pid, rc=$RC" eval '[ "$RC" = 0 ] && contains " $pid "'

		run "${DOCKER[@]}" update --memory 128m --memory-swap 128m det1
		OUT="$OUT; host limit $(cat "/sys/fs/cgroup/memory$cg/memory.limit_in_bytes" 2>&1)"
		check "docker update --memory 128m" "want rc 0 and 134217728, rc=$RC" \
			eval '[ "$RC" = 0 ] && contains "host limit 134217728"'

		run "${DOCKER[@]}" pause det1
		OUT="$OUT; status $(dk_inspect det1 '{{.State.Status}}'); freezer $(cat "/sys/fs/cgroup/freezer$(cgroup_of "$pid" freezer)/freezer.state" 2>&1)"
		check "pause: paused and FROZEN" "want paused and FROZEN, rc=$RC" \
			eval '[ "$RC" = 0 ] && contains "status paused" && contains "freezer FROZEN"'
		run "${DOCKER[@]}" unpause det1
		local rrc=$RC rout=$OUT
		token=tok-$RANDOM$RANDOM
		run "${DOCKER[@]}" exec det1 echo "$token"
		OUT="unpause rc=$rrc $rout; exec: $OUT; status $(dk_inspect det1 '{{.State.Status}}')"
		check "unpause: running, exec works" "want rc 0 and $token" \
			eval '[ "$rrc" = 0 ] && contains "$token" && contains "status running"'

		t0=$SECONDS
		run "${DOCKER[@]}" stop -t 20 det1
		OUT="rc=$RC $OUT; took $((SECONDS - t0))s; exit $(dk_inspect det1 '{{.State.ExitCode}}')"
		check "docker stop: SIGTERM stops it (exit 0, no SIGKILL)" "want rc 0 and exit 0" \
			eval '[ "$RC" = 0 ] && contains "exit 0" && [ $((SECONDS - t0)) -lt 15 ]'
		run "${DOCKER[@]}" rm -f det1
	fi

	run "${DOCKER[@]}" "${DK_RUN[@]}" --name oom1 --memory 64m --memory-swap 64m huskbox \
		dd if=/dev/zero of=/dev/null bs=100M count=1
	OUT="rc=$RC $OUT; OOMKilled=$(dk_inspect oom1 '{{.State.OOMKilled}}')"
	check "100MiB allocation under 64MiB is OOM-killed (rc 137, OOMKilled)" "want rc 137 and OOMKilled=true" \
		eval 'contains "rc=137" && contains OOMKilled=true'
	run "${DOCKER[@]}" rm -f oom1

	run "${DOCKER[@]}" "${DK_RUN[@]}" --rm -t huskbox tty
	check "-t gives a tty (/dev/pts/N)" "want /dev/pts/, rc=$RC" eval '[ "$RC" = 0 ] && [[ $OUT =~ /dev/pts/[0-9] ]]'

	# docker's default config has a seccomp profile and a prestart hook (libnetwork-setkey)
	run "${DOCKER[@]}" "${DK_RUN[@]}" --rm huskbox grep Seccomp: /proc/self/status
	check "default seccomp profile + prestart hook (Seccomp: 2)" "want Seccomp 2, rc=$RC" \
		eval '[ "$RC" = 0 ] && [[ $OUT =~ Seccomp:[[:space:]]+2 ]]'

	rm -f "$DKD/rm1.cid"
	run "${DOCKER[@]}" "${DK_RUN[@]}" --rm --cidfile "$DKD/rm1.cid" huskbox true
	local left="" rrc=$RC rout=$OUT
	id=$(cat "$DKD/rm1.cid" 2>/dev/null)
	if [ -z "$id" ]; then
		left=" (no container id)"
	else
		tmo "${DOCKER[@]}" ps -aq --no-trunc | grep -qx "$id" && left+=" container"
		[ -e "$DKD/data/containers/$id" ] && left+=" data-root"
		[ -e "$DKD/exec/runtime-runc/moby/$id" ] && left+=" runtime-state"
		[ -e "$DKD/exec/containerd/daemon/io.containerd.runtime.v2.task/moby/$id" ] && left+=" bundle"
		for cg in $(cgroup_mounts); do [ -d "$cg$PARENT/$id" ] && left+=" cgroup:$cg"; done
	fi
	OUT="rc=$rrc $rout; left:$left"
	check "docker run --rm leaves no state" "want rc 0 and nothing left" eval '[ "$rrc" = 0 ] && [ -z "$left" ]'
}

docker_stop() {
	local ids pid
	if [ -S "$DKD/docker.sock" ]; then
		mapfile -t ids < <(timeout 10 "${DOCKER[@]}" ps -aq 2>/dev/null)
		[ ${#ids[@]} -gt 0 ] && timeout 30 "${DOCKER[@]}" rm -f "${ids[@]}" >/dev/null 2>&1
		check_state_empty "exec-root/runtime-runc/moby" "$DKD/exec/runtime-runc/moby"
	fi
	pid=$(cat "$DKD/docker.pid" 2>/dev/null)
	[ -n "$pid" ] || pid=$(cat "$DKD/dockerd.started" 2>/dev/null)
	stop_pid "$pid" 30
}
