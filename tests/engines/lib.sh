# lib.sh: helpers sourced by run.sh and the per-engine scripts (bash only).
# Results: one line per check, counted per engine in PASSED/FAILED (engine name -> count).

declare -A PASSED=() FAILED=() SKIPPED=()
ENGINE=${ENGINE:-setup}

log() { printf '%s %s\n' "$(date +%T)" "$*" >&2; }

pass() { # pass CHECK
	PASSED[$ENGINE]=$((${PASSED[$ENGINE]:-0} + 1))
	printf 'PASS %-10s %s\n' "$ENGINE" "$1"
}

fail() { # fail CHECK WHY [OUTPUT]: one line; of OUTPUT only its end, where engines quote the runtime's error
	local check=$1 why=$2 out=${3:-}
	FAILED[$ENGINE]=$((${FAILED[$ENGINE]:-0} + 1))
	out=$(printf '%s' "$out" | tr '\r\n' '  ' | sed 's/  */ /g')
	[ ${#out} -gt 320 ] && out="...${out: -320}"
	printf 'FAIL %-10s %s: %s%s\n' "$ENGINE" "$check" "$why" "${out:+ | $out}"
}

skip() { # skip CHECK WHY: a scenario this engine cannot express (not counted as passed or failed)
	SKIPPED[$ENGINE]=$((${SKIPPED[$ENGINE]:-0} + 1))
	printf 'SKIP %-10s %s: %s\n' "$ENGINE" "$1" "$2"
}

# check CHECK CONDITION-DESCRIPTION COMMAND...: pass if COMMAND succeeds, else fail with $OUT.
check() {
	local name=$1 what=$2
	shift 2
	if "$@"; then pass "$name"; else fail "$name" "$what" "${OUT:-}"; fi
}

# run CMD...: run with a timeout (CMD_TIMEOUT, 30s), output (stdout+stderr) in OUT, exit code in
# RC. Never fails. Past ENGINE_DEADLINE (a SECONDS value) it runs nothing and sets RC=124, so a
# hanging runtime cannot stretch the run beyond each engine's budget.
run() {
	if [ -n "${ENGINE_DEADLINE:-}" ] && ((SECONDS >= ENGINE_DEADLINE)); then
		OUT="not run: the engine's time budget (ENGINE_BUDGET=${ENGINE_BUDGET:-}s) is used up"
		RC=124
		return 0
	fi
	OUT=$(timeout --kill-after=5 "${CMD_TIMEOUT:-30}" "$@" 2>&1 </dev/null)
	RC=$?
	printf '+ %s\n%s\n[rc=%s]\n' "$*" "$OUT" "$RC" >>"$WORK/commands.log"
	return 0
}

# tmo CMD...: CMD with a 10s timeout, for engine queries outside run(); fails at once (124)
# past ENGINE_DEADLINE
tmo() {
	if [ -n "${ENGINE_DEADLINE:-}" ] && ((SECONDS >= ENGINE_DEADLINE)); then
		return 124
	fi
	timeout --kill-after=2 10 "$@"
}

# contains NEEDLE: OUT contains NEEDLE
contains() { [[ $OUT == *"$1"* ]]; }

# cgroup_of PID CONTROLLER: the PID's cgroup path in a v1 CONTROLLER hierarchy
cgroup_of() {
	awk -F: -v c="$2" '{ n = split($2, a, ","); for (i = 1; i <= n; i++) if (a[i] == c) print $3 }' "/proc/$1/cgroup"
}

# own_cgroup: the deepest cgroup path this process is in (on a hybrid host only some
# controllers place us below the root; nesting under the deepest one keeps us under all of them).
own_cgroup() {
	awk -F: '{ if (length($3) > length(best)) best = $3 } END { print (best == "" ? "/" : best) }' /proc/self/cgroup
}

# cgroup_mounts: mount points of every cgroup and cgroup2 hierarchy
cgroup_mounts() {
	awk '{ for (i = 7; i <= NF; i++) if ($i == "-") { if ($(i+1) == "cgroup" || $(i+1) == "cgroup2") print $5; break } }' /proc/self/mountinfo | sort -u
}

# wait_for SECONDS CMD...: retry CMD every 0.2s until it succeeds or SECONDS pass
wait_for() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		((SECONDS < deadline)) || return 1
		sleep 0.2
	done
}

# stop_pid PID [SECONDS]: SIGTERM, wait, then SIGKILL one process we started
stop_pid() {
	local pid=$1 secs=${2:-20} i
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < secs * 5; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.2
	done
	log "pid $pid ignored SIGTERM for ${secs}s: SIGKILL"
	kill -KILL "$pid" 2>/dev/null
	sleep 0.2
}

# pids_mentioning STRING: pids other than this shell whose command line contains STRING
# (bash builtins only, so the scan itself never matches)
pids_mentioning() {
	local f pid args
	for f in /proc/[0-9]*/cmdline; do
		pid=${f#/proc/}
		pid=${pid%/cmdline}
		[ "$pid" = $$ ] || [ "$pid" = "$BASHPID" ] && continue
		mapfile -d '' args 2>/dev/null <"$f" || continue
		[ ${#args[@]} -gt 0 ] && [[ "${args[*]}" == *"$1"* ]] && echo "$pid"
	done
	return 0
}

# descendants PID: every live descendant of PID, parents before children (bash builtins only)
descendants() {
	local -A kids=()
	local f line pid rest queue=("$1") p
	for f in /proc/[0-9]*/stat; do
		read -r line 2>/dev/null <"$f" || continue
		pid=${line%% *}
		rest=${line##*) }
		rest=${rest#* }
		kids[${rest%% *}]+=" $pid"
	done
	while [ ${#queue[@]} -gt 0 ]; do
		p=${queue[0]}
		queue=("${queue[@]:1}")
		for pid in ${kids[$p]:-}; do
			echo "$pid"
			queue+=("$pid")
		done
	done
}

# leftovers: what is still under PARENT (cgroups) or running with WORK in its command line;
# prints one item a line
leftovers() {
	local m pid
	for m in $(cgroup_mounts); do
		[ -d "$m$PARENT" ] && find "$m$PARENT" -mindepth 1 -type d -printf "cgroup $PARENT/%P\n"
	done | sort -u
	for pid in $(pids_mentioning "$WORK"); do
		echo "process $pid $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-80)"
	done
}

# check_stopped: after an engine removed its containers and stopped: nothing of it is left
check_stopped() {
	wait_for 5 eval '[ -z "$(leftovers)" ]'
	OUT=$(leftovers)
	check "engine stopped: no process or cgroup left" "left: $(printf '%s\n' "$OUT" | wc -l) items" eval '[ -z "$OUT" ]'
}

# check_state_empty WHAT DIR: the runtime state directory DIR holds no container any more
# (dot entries are the runtime's own, e.g. husk's .seccomp-cache, not container state)
check_state_empty() {
	OUT=$(ls "$2" 2>/dev/null | tr '\n' ' ')
	check "no runtime state left in $1 after removing all containers" "want $2 empty" eval '[ -z "$OUT" ]'
}
