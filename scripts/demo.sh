#!/usr/bin/env bash
# Builds a small busybox bundle under build/demo and runs it with husk: the container prints
# its view of the world and exits. Needs root; `make demo` installs busybox-static first.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
husk="$top/husk"
bundle="$top/build/demo"
rm -rf "$bundle"
mkdir -p "$bundle/rootfs/bin"
cp "$(command -v busybox || echo /bin/busybox)" "$bundle/rootfs/bin/busybox"
for app in sh echo cat hostname id ls ps uname; do ln -s busybox "$bundle/rootfs/bin/$app"; done
mkdir -p "$bundle/rootfs/proc" "$bundle/rootfs/sys" "$bundle/rootfs/dev" "$bundle/rootfs/tmp"
cd "$bundle"
"$husk" spec
# No terminal (works without a tty), a friendly command, cgroups nested under our own.
jq '.process.terminal = false
  | .process.args = ["sh", "-c", "echo hello from husk; echo hostname: $(hostname); echo id: $(id); echo pid: $$; ps"]
  | .linux.cgroupsPath = "husk-demo"' config.json > config.json.new
mv config.json.new config.json
exec "$husk" --root "$top/build/demo-state" run demo-$$
