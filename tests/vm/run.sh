#!/bin/bash
# Runs the VM lane: boots each guest under qemu (TCG by default) from the
# cached image (build-image.sh), with a read-only disk made from an
# artefacts directory, and reports the go test output each guest sends back
# on its second serial port.
#
# Usage: tests/vm/run.sh [guest...]     guests: cgroup2 systemd selinux apparmor
#                                       (default: all four)
# Environment:
#   VM_ARTEFACTS  directory whose *.test binaries run in each guest, with husk
#                 and probe beside them (default <repo>/build/vm/artefacts)
#   VM_TEST_ARGS  extra test binary arguments, e.g. "-test.run=TestCgroup2"
#   VM_TEST_TIMEOUT  -test.timeout of each test binary (default 5m): a hung
#                 test panics with every goroutine's stack instead of using up
#                 the guest's time
#   VM_TIMEOUT    seconds one guest may take, boot included (default 720)
#   VM_JOBS       guests booted at once (default 1; each gets VM_SMP vCPUs)
#   VM_ACCEL      qemu accelerator (default tcg)
#   VM_SMP, VM_MEM  vCPUs (default 2) and MiB of memory (default 2048)
#   VM_DIR        cache and logs (default <repo>/build/vm)
#
# Prints each guest's go test output, one summary line per guest, and last
# "N passed, N failed": go test results (--- PASS / --- FAIL lines, subtests
# included) over all guests, plus one failure for each guest that did not
# boot, timed out, or had a test binary exit non-zero without a --- FAIL line.
# Exits 0 only when every guest finished and nothing failed.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
VM_DIR=${VM_DIR:-$repo/build/vm}
VM_ARTEFACTS=${VM_ARTEFACTS:-$VM_DIR/artefacts}
VM_TEST_ARGS=${VM_TEST_ARGS:-}
VM_TEST_TIMEOUT=${VM_TEST_TIMEOUT:-5m}
VM_TIMEOUT=${VM_TIMEOUT:-720}
VM_JOBS=${VM_JOBS:-1}
VM_ACCEL=${VM_ACCEL:-tcg}
VM_SMP=${VM_SMP:-2}
VM_MEM=${VM_MEM:-2048}
all_guests=(cgroup2 systemd selinux apparmor)

log() { printf 'vm-test: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 2
}
now() { date +%s; }

guests=("$@")
[ ${#guests[@]} -gt 0 ] || guests=("${all_guests[@]}")
for g in "${guests[@]}"; do
	case " ${all_guests[*]} " in
	*" $g "*) ;;
	*) die "unknown guest '$g' (want one of: ${all_guests[*]})" ;;
	esac
done
[ "$(id -u)" = 0 ] || die "must run as root"
[ -d "$VM_ARTEFACTS" ] || die "no artefacts directory $VM_ARTEFACTS (make vm-artefacts builds the default one)"

# Every qemu we start, by PID, so that any exit path ends them.
declare -A qemu_pid=()
kill_guests() {
	local g
	for g in "${!qemu_pid[@]}"; do
		kill -TERM "${qemu_pid[$g]}" 2>/dev/null && wait "${qemu_pid[$g]}" 2>/dev/null
		unset "qemu_pid[$g]"
	done
}
trap kill_guests EXIT
trap 'log "interrupted"; exit 130' INT TERM

# One lane at a time per VM_DIR: a second run would reuse the same run
# directory and disks. Wait for the other run rather than spoil both.
mkdir -p "$VM_DIR"
exec 9>"$VM_DIR/.lane.lock"
if ! flock -n 9; then
	log "another vm-test run holds $VM_DIR/.lane.lock; waiting for it"
	flock 9
fi

# 1. The image, from the cache or built now.
t0=$(now)
image=$("$here/build-image.sh" | tail -n1) || die "image build failed"
[ -f "$image/stamp" ] || die "image build gave no image ($image)"
t_image=$(($(now) - t0))

# 2. The artefacts disk: the directory as given, plus the in-guest runner.
t0=$(now)
rundir=$VM_DIR/run
rm -rf --one-file-system "$rundir"
mkdir -p "$rundir/stage"
cp -a "$VM_ARTEFACTS/." "$rundir/stage/"
mkdir -p "$rundir/stage/.vm"
install -m 0755 "$here/guest/run-tests" "$rundir/stage/.vm/run-tests"
install -m 0644 "$here/guest/husk-vm-test.apparmor" "$rundir/stage/.vm/husk-vm-test.apparmor"
mkdir -p "$rundir/stage/.vm/bin"
install -m 0755 "$here/guest/go-shim" "$rundir/stage/.vm/bin/go"
# A -test.timeout in VM_TEST_ARGS comes later and wins.
printf '%s\n' "$VM_TEST_TIMEOUT" >"$rundir/stage/.vm/test-timeout"
printf '%s\n' "$VM_TEST_ARGS" >"$rundir/stage/.vm/test-args"
printf '%s\n' "$repo" >"$rundir/stage/.vm/repo-root"
# One SELinux type for the whole disk, executable by the test domain; the
# xattrs travel into the image with mkfs.ext4 -d.
find "$rundir/stage" -exec setfattr -h -n security.selinux -v system_u:object_r:bin_t:s0 {} + ||
	die "label the artefacts disk"
size=$(($(du -sm "$rundir/stage" | cut -f1) + 64))
mkfs.ext4 -q -F -L huskvm -E root_owner=0:0 -d "$rundir/stage" "$rundir/artefacts.img" "${size}M" >/dev/null ||
	die "mkfs.ext4 of the artefacts disk failed"
rm -rf --one-file-system "$rundir/stage"
t_disk=$(($(now) - t0))
log "image $image (${t_image}s), artefacts disk ${size}M from $VM_ARTEFACTS (${t_disk}s)"

cmdline() {
	local base="root=/dev/vda rw console=ttyS0 panic=-1 mitigations=off loglevel=4 husk.guest=$1"
	local sd="init=/lib/systemd/systemd systemd.unit=husk-vm.target systemd.unified_cgroup_hierarchy=1"
	case "$1" in
	cgroup2) echo "$base init=/usr/local/sbin/husk-vm-init cgroup_no_v1=all selinux=0 apparmor=0" ;;
	systemd) echo "$base $sd selinux=0 apparmor=0" ;;
	selinux) echo "$base $sd security=selinux selinux=1 enforcing=1" ;;
	apparmor) echo "$base $sd security=apparmor apparmor=1" ;;
	esac
}

declare -A started=() booted=() done_at=() status=()
start_guest() {
	local g=$1 d=$rundir/$1
	mkdir -p "$d"
	local cpu=max
	[ "$VM_ACCEL" = kvm ] && cpu=host
	qemu-system-x86_64 -name "husk-vm-$g" -machine pc -accel "$VM_ACCEL" -cpu "$cpu" \
		-smp "$VM_SMP" -m "$VM_MEM" -display none -monitor none -nic none -no-reboot \
		-kernel "$image/vmlinuz" -initrd "$image/initrd.img" -append "$(cmdline "$g")" \
		-drive "file=$image/rootfs.img,format=raw,if=virtio,snapshot=on" \
		-drive "file=$rundir/artefacts.img,format=raw,if=virtio,readonly=on" \
		-serial "file:$d/console.log" -serial "file:$d/results.log" \
		</dev/null >"$d/qemu.log" 2>&1 &
	qemu_pid[$g]=$!
	started[$g]=$(now)
	log "guest $g: qemu pid ${qemu_pid[$g]} ($VM_ACCEL, ${VM_SMP} vCPU, ${VM_MEM}M)"
}

# alive PID: the child has not exited (zombies count as exited).
alive() {
	local st
	st=$(cut -d')' -f2 "/proc/$1/stat" 2>/dev/null | awk '{ print $1 }') || return 1
	[ -n "$st" ] && [ "$st" != Z ]
}

# 3. Boot the guests, VM_JOBS at a time, until each powers off, finishes or
# times out.
t_lane=$(now)
pending=("${guests[@]}")
while [ ${#pending[@]} -gt 0 ] || [ ${#qemu_pid[@]} -gt 0 ]; do
	while [ ${#pending[@]} -gt 0 ] && [ ${#qemu_pid[@]} -lt "$VM_JOBS" ]; do
		start_guest "${pending[0]}"
		pending=("${pending[@]:1}")
	done
	sleep 1
	for g in "${!qemu_pid[@]}"; do
		res=$rundir/$g/results.log
		t=$(now)
		if [ -z "${booted[$g]:-}" ] && grep -qa '^HUSK-VM-BEGIN' "$res" 2>/dev/null; then
			booted[$g]=$t
			log "guest $g: booted in $((t - started[$g]))s"
		fi
		if [ -z "${done_at[$g]:-}" ] && grep -qa '^HUSK-VM-DONE' "$res" 2>/dev/null; then
			done_at[$g]=$t
		fi
		if ! alive "${qemu_pid[$g]}"; then
			wait "${qemu_pid[$g]}" 2>/dev/null
			unset "qemu_pid[$g]"
			[ -n "${done_at[$g]:-}" ] || done_at[$g]=$t
			status[$g]=exited
		elif [ -n "${done_at[$g]:-}" ] && [ $((t - done_at[$g])) -gt 30 ]; then
			log "guest $g: finished but did not power off in 30s; killing qemu"
			kill_one=${qemu_pid[$g]}
			kill -KILL "$kill_one" 2>/dev/null
			wait "$kill_one" 2>/dev/null
			unset "qemu_pid[$g]"
			status[$g]=killed
		elif [ $((t - started[$g])) -gt "$VM_TIMEOUT" ]; then
			kill_one=${qemu_pid[$g]}
			kill -KILL "$kill_one" 2>/dev/null
			wait "$kill_one" 2>/dev/null
			unset "qemu_pid[$g]"
			done_at[$g]=$t
			status[$g]=timeout
		fi
	done
done
t_lane=$(($(now) - t_lane))

# 4. Report.
total_pass=0 total_fail=0 total_skip=0 bad_guests=()
summary=()
for g in "${guests[@]}"; do
	d=$rundir/$g
	tr -d '\r\0' <"$d/results.log" >"$d/results.txt" 2>/dev/null || : >"$d/results.txt"
	echo "=== VM guest $g ($(cmdline "$g"))"
	grep -av '^HUSK-VM-' "$d/results.txt" | sed -n '/./,$p'
	# Counts per test binary, so that a binary that crashed without a
	# --- FAIL line counts as one failure even when another binary failed.
	{
		read -r pass fail skip began finished
		read -r why
	} < <(awk '
		function note(m) { why = why sep m; sep = "; " }
		/^HUSK-VM-BEGIN/ { began = 1; next }
		/^HUSK-VM-DONE/ { finished = 1; next }
		/^HUSK-VM-RUN / { bin = $2; binfail = 0; next }
		/^HUSK-VM-EXIT / {
			if ($3 != 0) { note($2 " exited " $3); if (binfail == 0) fail++ }
			bin = ""; next
		}
		/^HUSK-VM-(PANIC|SETUP) / { sub(/^HUSK-VM-[A-Z]+ /, ""); note($0); next }
		/^ *--- PASS/ { pass++; next }
		/^ *--- FAIL/ { fail++; binfail++; next }
		/^ *--- SKIP/ { skip++; next }
		END {
			if (bin != "") { note(bin " did not finish"); if (binfail == 0) fail++ }
			printf "%d %d %d %d %d\n%s\n", pass, fail, skip, began, finished, why
		}' "$d/results.txt")
	booting=""
	if [ "${status[$g]:-}" = timeout ]; then
		why="timed out after ${VM_TIMEOUT}s${why:+; $why}"
	fi
	if [ "$began" = 0 ]; then
		why="${why:+$why; }did not boot to the test runner"
		booting=1
	elif [ "$finished" = 0 ]; then
		why="${why:+$why; }runner did not finish (guest crashed, hung or powered off early)"
		booting=1
	fi
	# A guest that failed without any failed test still counts one failure.
	if [ -n "$why" ] && [ "$fail" -eq 0 ]; then
		fail=1
	fi
	boot=-
	[ -n "${booted[$g]:-}" ] && boot=$((booted[$g] - started[$g]))s
	tests=-
	[ -n "${booted[$g]:-}" ] && [ -n "${done_at[$g]:-}" ] && tests=$((done_at[$g] - booted[$g]))s
	if [ -n "$why" ]; then
		bad_guests+=("$g")
		if [ -n "$booting" ]; then
			echo "--- console of guest $g (last 40 lines of $d/console.log):"
			tr -d '\r' 2>/dev/null <"$d/console.log" | tail -n 40
			[ -s "$d/qemu.log" ] && echo "--- qemu said: $(tail -n 5 "$d/qemu.log")"
		fi
		summary+=("vm-test: guest $g: FAIL: $why (boot $boot, tests $tests; $pass passed, $fail failed, $skip skipped)")
	else
		summary+=("vm-test: guest $g: ok (boot $boot, tests $tests; $pass passed, $fail failed, $skip skipped)")
	fi
	total_pass=$((total_pass + pass))
	total_fail=$((total_fail + fail))
	total_skip=$((total_skip + skip))
done
echo
printf '%s\n' "${summary[@]}"
echo "vm-test: ${#guests[@]} guest(s) in ${t_lane}s (image ${t_image}s, artefacts disk ${t_disk}s); logs in $rundir"
echo "$total_pass passed, $total_fail failed, $total_skip skipped"
[ ${#bad_guests[@]} -eq 0 ] && [ "$total_fail" -eq 0 ]
