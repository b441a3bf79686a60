#!/bin/bash
# Checks the VM lane's own reporting (run.sh) end to end in the cgroup2 guest
# with fake test binaries: a failing test, a binary that crashes without a
# --- FAIL line, a passing one, and a hang that must hit VM_TIMEOUT. Each case
# must end non-zero (or zero) with the expected counts and reasons.
# Usage: tests/vm/selftest.sh (root; uses the cached image). About a minute.
# Prints "vm-selftest: N passed, N failed" over the three cases.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
VM_DIR=${VM_DIR:-$repo/build/vm}
tmp=$VM_DIR/selftest
rm -rf --one-file-system "$tmp"
mkdir -p "$tmp"
trap 'rm -rf --one-file-system "$tmp"' EXIT

fake() { # fake NAME EXIT-CODE LINES...: a *.test that prints LINES
	local f=$tmp/$1/$2 rc=$3
	shift 3
	mkdir -p "$(dirname "$f")"
	{
		echo '#!/bin/sh'
		printf 'echo "%s"\n' "$@"
		echo "exit $rc"
	} >"$f"
	chmod +x "$f"
}
fake mixed a_fail.test 1 "=== RUN   TestBroken" "--- FAIL: TestBroken (0.00s)" "=== RUN   TestFine" "--- PASS: TestFine (0.00s)" "FAIL"
fake mixed b_crash.test 2 "panic: boom"
fake mixed c_pass.test 0 "--- PASS: TestOne (0.00s)" "    --- PASS: TestOne/sub (0.00s)" "--- SKIP: TestTwo (0.00s)" "PASS"
fake hang a_pass.test 0 "--- PASS: TestOne (0.00s)" "PASS"
fake hang b_hang.test 0 "=== RUN   TestHang"
sed -i 's/^exit 0$/sleep 600/' "$tmp/hang/b_hang.test"

failed=0 passed=0
# check CASE WANT-RC WANT-LINE PATTERN...: runs the lane on the case's artefacts.
check() {
	local name=$1 want_rc=$2 want_last=$3 out rc p bad=0
	shift 3
	out=$(VM_ARTEFACTS=$tmp/$name "$here/run.sh" cgroup2 2>&1)
	rc=$?
	printf '%s\n' "$out" >"$tmp/$name.log"
	if [ "$rc" != "$want_rc" ]; then
		echo "selftest $name: run.sh exited $rc, want $want_rc (output in $tmp/$name.log)"
		bad=1
	fi
	if [ "$(printf '%s\n' "$out" | tail -n1)" != "$want_last" ]; then
		echo "selftest $name: last line '$(printf '%s\n' "$out" | tail -n1)', want '$want_last'"
		bad=1
	fi
	for p in "$@"; do
		printf '%s\n' "$out" | grep -qF -- "$p" || {
			echo "selftest $name: output lacks '$p'"
			bad=1
		}
	done
	if [ $bad = 0 ]; then
		echo "selftest $name: ok"
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
	fi
}
check mixed 1 "3 passed, 2 failed, 1 skipped" \
	"guest cgroup2: FAIL: a_fail.test exited 1; b_crash.test exited 2" "--- FAIL: TestBroken" "panic: boom"
VM_TIMEOUT=30 check hang 1 "1 passed, 1 failed, 0 skipped" \
	"FAIL: timed out after 30s; b_hang.test did not finish" "--- console of guest cgroup2"
cp -a "$tmp/hang/a_pass.test" "$tmp/mixed/c_pass.test" "$tmp/" && mkdir -p "$tmp/pass" &&
	mv "$tmp/a_pass.test" "$tmp/c_pass.test" "$tmp/pass/"
check pass 0 "3 passed, 0 failed, 1 skipped" "guest cgroup2: ok"
cp "$tmp"/*.log "$VM_DIR/" 2>/dev/null
[ $failed = 0 ] || echo "vm selftest: logs in $VM_DIR/{mixed,hang,pass}.log"
echo "vm-selftest: $passed passed, $failed failed"
[ $failed = 0 ]
