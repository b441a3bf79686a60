#!/bin/bash
# run.sh: drive real container engines (containerd/ctr, podman, docker) against an OCI runtime.
#
#   RUNTIME=/path/to/runtime  ENGINES="containerd podman docker"  tests/engines/run.sh
#
# RUNTIME defaults to the repository's ./husk. Needs root. Installs Debian's engines if missing,
# builds a busybox image locally, starts each daemon with private state under a fresh work dir
# and cgroup parents under this script's own cgroup, runs the scenarios, then stops every
# daemon by PID and removes what it created, even on failure. The engines run in a private
# mount namespace with tmpfs over the places they write outside their roots (/run, /dev/shm,
# /tmp, /var/lib/containers, /etc/docker, /opt/containerd), so nothing of theirs lands on the host.
# The last line is "N passed, N failed"; any failure (or a leak found at cleanup) exits 1.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$HERE/lib.sh"

# Places the engines write outside their configured roots (besides /run and /dev/shm): podman's
# blob cache, dockerd's key.json, the opt plugin of dockerd's managed containerd. Each gets a
# private tmpfs in the engines' mount namespace; a missing one is created as a mount point first
# and removed at the end.
PRIVATE_DIRS="/var/lib/containers /etc/docker /opt/containerd"

# outer_main: set up, run the engines in a private mount namespace, clean up, report.
outer_main() {
	if [ "$(id -u)" != 0 ]; then
		echo "run.sh: needs root" >&2
		exit 2
	fi
	RUNTIME=${RUNTIME:-$HERE/../../husk}
	if [ ! -x "$RUNTIME" ]; then
		echo "run.sh: RUNTIME $RUNTIME: not an executable (build it: go build -o husk .)" >&2
		exit 2
	fi
	RUNTIME=$(readlink -f "$RUNTIME")
	ENGINES=${ENGINES:-containerd podman docker}
	install_engines || exit 2

	WORK=$(mktemp -d /var/tmp/husk-engines.XXXXXX)
	chmod 755 "$WORK"
	local own
	own=$(own_cgroup)
	PARENT=${own%/}/husk-engines-$$
	export RUNTIME ENGINES WORK PARENT HUSK_ENGINES_INNER=1
	: >"$WORK/results"
	: >"$WORK/commands.log"

	# which ancestors of PARENT exist already (we remove only the ones we create)
	CG_PREEXISTING=()
	local m p
	for m in $(cgroup_mounts); do
		p=$PARENT
		while p=${p%/*}; [ -n "$p" ]; do
			[ -d "$m$p" ] && CG_PREEXISTING+=("$m$p")
		done
	done
	# mount points for the private tmpfs mounts: create the missing ones, remember them
	CREATED_DIRS=()
	for p in $PRIVATE_DIRS; do
		if [ ! -e "$p" ]; then
			mkdir -p "$p" && CREATED_DIRS+=("$p")
		fi
	done

	trap outer_cleanup EXIT
	trap 'exit 130' INT TERM
	log "runtime $RUNTIME ($("$RUNTIME" --version 2>&1 | head -n 1)); engines: $ENGINES"
	log "work dir $WORK; cgroup parent $PARENT; command log $WORK/commands.log"
	START=$SECONDS
	unshare --mount --propagation private -- "$HERE/run.sh" &
	INNER_PID=$!
	wait "$INNER_PID"
	INNER_PID=
}

install_engines() {
	local want=() b
	declare -A pkg=([containerd]=containerd [ctr]=containerd [containerd-shim-runc-v2]=containerd
		[podman]=podman [conmon]=conmon [dockerd]=docker.io [/usr/bin/docker]=docker.io
		[busybox]=busybox-static [script]=bsdutils [unshare]=util-linux)
	for b in "${!pkg[@]}"; do
		command -v "$b" >/dev/null 2>&1 || want+=("${pkg[$b]}")
	done
	# the image needs the static busybox, not the dynamic one
	dpkg -s busybox-static >/dev/null 2>&1 || want+=(busybox-static)
	[ ${#want[@]} = 0 ] && return 0
	log "installing: ${want[*]}"
	local pkgs
	mapfile -t pkgs < <(printf '%s\n' "${want[@]}" | sort -u)
	# note: on a host with a running init, postinst may start the packages' system services
	# (here /usr/sbin/policy-rc.d forbids it); the harness never uses them
	if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${pkgs[@]}" >/dev/null; then
		apt-get update >/dev/null &&
			DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${pkgs[@]}" >/dev/null ||
			{ echo "run.sh: apt-get install ${pkgs[*]} failed" >&2; return 1; }
	fi
}

# outer_cleanup: stop what survived, remove cgroups, mount points and the work dir; report.
outer_cleanup() {
	local rc=$? m d pid leaks=() i
	trap - EXIT INT TERM
	if [ -n "${INNER_PID:-}" ]; then
		# interrupted: stop the inner run and everything it started (engine clients, daemons)
		log "interrupted: stopping the run (pid $INNER_PID) and its children"
		echo "interrupted 0 1 0" >>"$WORK/results"
		local tree
		tree=("$INNER_PID" $(descendants "$INNER_PID"))
		kill -TERM "${tree[@]}" 2>/dev/null
		wait "$INNER_PID" 2>/dev/null
		for i in $(seq 50); do
			kill -0 "${tree[@]}" 2>/dev/null || break
			sleep 0.2
		done
		kill -KILL "${tree[@]}" 2>/dev/null
	fi
	ENGINE=cleanup
	# anything still running that names the work dir is ours (daemons, shims, conmon)
	for pid in $(pids_mentioning "$WORK"); do
		line=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-100)
		leaks+=("process $pid: ${line:-(exited meanwhile)}")
		stop_pid "$pid" 5
	done
	# cgroups under PARENT: thaw, kill what is left (only processes inside our own cgroups), remove
	for m in $(cgroup_mounts); do
		[ -d "$m$PARENT" ] || continue
		for d in $(find "$m$PARENT" -mindepth 1 -depth -type d 2>/dev/null); do
			leaks+=("cgroup $d")
		done
		for d in $(find "$m$PARENT" -depth -type d 2>/dev/null); do
			[ -f "$d/freezer.state" ] && echo THAWED >"$d/freezer.state" 2>/dev/null
			for pid in $(cat "$d/cgroup.procs" 2>/dev/null); do
				kill -KILL "$pid" 2>/dev/null
			done
			for i in 1 2 3 4 5 6 7 8 9 10; do
				rmdir "$d" 2>/dev/null && break
				sleep 0.3
			done
			[ -d "$d" ] && leaks+=("cgroup $d could not be removed")
		done
	done
	# ancestors of PARENT we created (hierarchies where our own cgroup is the root)
	for m in $(cgroup_mounts); do
		d=${PARENT%/*}
		while [ -n "$d" ]; do
			if [[ " ${CG_PREEXISTING[*]} " != *" $m$d "* ]] && [ -d "$m$d" ]; then
				rmdir "$m$d" 2>/dev/null || leaks+=("cgroup $m$d could not be removed")
			fi
			d=${d%/*}
		done
	done
	for d in "${CREATED_DIRS[@]}"; do
		rm -rf "$d"
	done
	# mounts made in the private namespace die with it; make sure none leaked to the host
	while read -r d; do
		leaks+=("mount $d")
		umount -l "$d" 2>/dev/null
	done < <(awk -v w="$WORK" 'index($5, w) == 1 { print $5 }' /proc/self/mountinfo | sort -r)

	local line e p f s tp=0 tf=0
	while read -r e p f s; do
		printf '%-10s %s passed, %s failed%s\n' "$e" "$p" "$f" "$([ "${s:-0}" = 0 ] || echo " ($s skipped)")"
		tp=$((tp + p))
		tf=$((tf + f))
	done <"$WORK/results"
	if [ ${#leaks[@]} -gt 0 ]; then
		for line in "${leaks[@]}"; do echo "LEAK $line"; done
		printf '%-10s %s passed, %s failed\n' cleanup 0 1
		tf=$((tf + 1))
	else
		printf '%-10s %s passed, %s failed\n' cleanup 1 0
		tp=$((tp + 1))
	fi
	[ "$tp$tf" = 00 ] && tf=1
	# the command log outlives the run only when something failed
	local cmdlog=/var/tmp/husk-engines-last-commands.log
	rm -f "$cmdlog"
	if [ "$tf" != 0 ] || [ "$rc" != 0 ]; then
		cp "$WORK/commands.log" "$cmdlog" 2>/dev/null && log "every engine command and its output: $cmdlog"
	fi
	if [ "${KEEP_WORK:-}" = 1 ]; then
		log "kept $WORK"
	else
		rm -rf "$WORK"
	fi
	log "took $((SECONDS - ${START:-0}))s"
	echo "$tp passed, $tf failed"
	[ "$tf" = 0 ] && [ "$rc" = 0 ] && exit 0
	exit 1
}

# inner_main: runs in the private mount namespace; one subshell per engine.
inner_main() {
	local p
	local tmpdirs=/tmp rtdir
	rtdir=$(dirname "$RUNTIME")
	# a runtime under /tmp stays visible: its directory is bound back over the private /tmp
	# (a runtime directly in /tmp keeps the host's /tmp instead)
	case $rtdir in
	/tmp) tmpdirs= ;;
	/tmp/*) mkdir -p "$WORK/hosttmp" && mount --bind /tmp "$WORK/hosttmp" ;;
	esac
	for p in /run /dev/shm $tmpdirs $PRIVATE_DIRS; do
		mount -t tmpfs -o mode=755,size=256m "husk-engines" "$p" || { echo "mount tmpfs on $p failed" >&2; exit 1; }
	done
	chmod 1777 /dev/shm
	[ -n "$tmpdirs" ] && chmod 1777 /tmp
	if [[ $rtdir == /tmp/* ]]; then
		mkdir -p "$rtdir" && mount --bind "$WORK/hosttmp/${rtdir#/tmp/}" "$rtdir" && umount "$WORK/hosttmp" ||
			{ echo "binding $rtdir into the private /tmp failed" >&2; exit 1; }
	fi
	mkdir -p "$WORK/tmp"
	export TMPDIR=$WORK/tmp
	cd "$WORK" || exit 1
	IMAGE_TAR=$WORK/huskbox.tar
	if ! "$HERE/image.sh" "$IMAGE_TAR"; then
		echo "setup 0 1" >>"$WORK/results"
		exit 1
	fi
	local e
	for e in $ENGINES; do
		(
			ENGINE=$e
			source "$HERE/$e.sh"
			finish() {
				trap - EXIT INT TERM
				"${e}_stop"
				check_stopped
				echo "$e ${PASSED[$e]:-0} ${FAILED[$e]:-0} ${SKIPPED[$e]:-0}" >>"$WORK/results"
			}
			trap finish EXIT
			trap 'exit 130' INT TERM
			local t0=$SECONDS
			ENGINE_DEADLINE=$((SECONDS + ${ENGINE_BUDGET:=120}))
			log "== $e"
			"${e}_start" && "${e}_scenarios"
			log "== $e took $((SECONDS - t0))s"
		)
	done
}

if [ -n "${HUSK_ENGINES_INNER:-}" ]; then
	inner_main
else
	outer_main
fi
