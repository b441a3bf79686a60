#!/bin/bash
# Builds (or finds in the cache) what the VM lane boots: the Debian cloud
# kernel, a busybox initramfs that mounts the root disk, and one ext4 root
# filesystem image shared by every guest (systemd, SELinux policy labelled at
# build time, AppArmor, criu). Everything lands in $VM_DIR/<key>/, where the
# key hashes this script, the guest files that go into the image, the package
# list, the suite and the kernel version, so a rerun with nothing changed
# skips the build.
#
# Usage: tests/vm/build-image.sh            (prints the cache directory last)
# Environment: VM_DIR (default <repo>/build/vm), VM_MIRROR, VM_SUITE.
#
# Needs root. Mounts nothing itself: the image is made with mkfs.ext4 -d and
# labelled with setfiles on the host; only debootstrap mounts /proc and /sys
# inside its target while it runs, and the exit trap unmounts any leftover.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
VM_DIR=${VM_DIR:-$repo/build/vm}
VM_MIRROR=${VM_MIRROR:-http://deb.debian.org/debian}
VM_SUITE=${VM_SUITE:-bookworm}
IMAGE_SIZE=${IMAGE_SIZE:-3G}

# Packages of the shared root filesystem, beyond debootstrap's minbase.
packages=(
	systemd systemd-sysv dbus udev kmod procps iproute2 util-linux
	selinux-policy-default policycoreutils selinux-utils
	apparmor apparmor-utils busybox-static criu iptables
)
# Guest files baked into the image (the runner itself travels on the
# artefacts disk, see run.sh).
image_files=(initramfs-init husk-vm-init husk-vm-run husk-vm.service husk-vm.target)

log() { printf 'vm-build: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

# step NAME CMD...: runs a build step and records how long it took.
step() {
	local name=$1 t0 t1
	shift
	t0=$(date +%s%N)
	"$@"
	t1=$(date +%s%N)
	printf '%-12s %5d.%01ds\n' "$name" $(((t1 - t0) / 1000000000)) $((((t1 - t0) / 100000000) % 10)) |
		tee -a "$timings" >&2
}

[ "$(id -u)" = 0 ] || die "must run as root (debootstrap, file labels)"
# Builds of one VM_DIR take turns; the second then finds the first's image.
mkdir -p "$VM_DIR"
exec 8>"$VM_DIR/.build.lock"
if ! flock -n 8; then
	log "another image build holds $VM_DIR/.build.lock; waiting for it"
	flock 8
fi

# resolve_kernel prints the versioned image package the cloud flavour's
# metapackage depends on.
resolve_kernel() {
	apt-cache depends linux-image-cloud-amd64 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[0-9].*-cloud-amd64\)$/\1/p' | head -n1
}
kpkg=$(resolve_kernel)
if [ -z "$kpkg" ]; then
	log "apt lists lack linux-image-cloud-amd64; running apt-get update"
	apt-get update >/dev/null || die "apt-get update failed"
	kpkg=$(resolve_kernel)
fi
[ -n "$kpkg" ] || die "cannot resolve linux-image-cloud-amd64 to a kernel package"

# Host tools, from Debian packages only.
need_pkgs=()
for pair in debootstrap:debootstrap mkfs.ext4:e2fsprogs debugfs:e2fsprogs setfiles:policycoreutils \
	cpio:cpio gzip:gzip getfattr:attr setfattr:attr dpkg-deb:dpkg qemu-system-x86_64:qemu-system-x86; do
	command -v "${pair%%:*}" >/dev/null || need_pkgs+=("${pair#*:}")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
	log "installing host packages: ${need_pkgs[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need_pkgs[@]}" >/dev/null ||
		die "apt-get install ${need_pkgs[*]} failed"
fi
kver=${kpkg#linux-image-}
kpkgver=$(apt-cache policy "$kpkg" | sed -n 's/^ *Candidate: //p')

key=$(
	{
		cat "$0"
		for f in "${image_files[@]}"; do cat "$here/guest/$f"; done
		echo "${packages[*]} $VM_SUITE $VM_MIRROR $kpkg $kpkgver $IMAGE_SIZE"
	} | sha256sum | cut -c1-16
)
out=$VM_DIR/image-$key
if [ -f "$out/stamp" ]; then
	log "cached image $out (key $key, kernel $kver)"
	echo "$out"
	exit 0
fi

log "building image $out (kernel $kpkg $kpkgver, suite $VM_SUITE)"
mkdir -p "$VM_DIR"
# Older images are ours and stale: drop them before spending the disk.
for old in "$VM_DIR"/image-*; do
	[ -e "$old" ] && [ "$old" != "$out" ] && rm -rf --one-file-system "$old"
done
rm -rf --one-file-system "$out"
mkdir -p "$out"
work=$out/work
root=$work/rootfs
timings=$out/timings.txt
: >"$timings"

cleanup() {
	local rc=$? m
	# Anything debootstrap left mounted below the target, deepest first.
	if [ -d "$root" ]; then
		for m in $(awk -v r="$root" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r); do
			umount -l "$m" || log "warning: umount $m failed"
		done
	fi
	if [ $rc -ne 0 ]; then
		log "build failed (exit $rc); partial output left in $out for inspection"
	fi
}
trap cleanup EXIT

download_kernel() {
	mkdir -p "$work/kernel"
	(cd "$work" && apt-get download "$kpkg" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2 || true)
	local deb
	deb=$(ls "$work/${kpkg}"_*.deb 2>/dev/null | head -n1)
	[ -n "$deb" ] || die "apt-get download $kpkg produced no .deb"
	dpkg-deb -x "$deb" "$work/kernel"
	cp "$work/kernel/boot/vmlinuz-$kver" "$out/vmlinuz"
	rm -f "$deb"
}

run_debootstrap() {
	local inc
	inc=$(
		IFS=,
		echo "${packages[*]}"
	)
	debootstrap --variant=minbase --include="$inc" "$VM_SUITE" "$root" "$VM_MIRROR" \
		>"$work/debootstrap.log" 2>&1 || {
		tail -n 30 "$work/debootstrap.log" >&2
		die "debootstrap failed (log $work/debootstrap.log)"
	}
}

configure_rootfs() {
	# Kernel modules (criu, overlay, vsock... load from here in the guest).
	mkdir -p "$root/usr/lib/modules"
	cp -a "$work/kernel/lib/modules/$kver" "$root/usr/lib/modules/"
	chroot "$root" depmod "$kver"

	install -m 0755 "$here/guest/husk-vm-init" "$root/usr/local/sbin/husk-vm-init"
	install -m 0755 "$here/guest/husk-vm-run" "$root/usr/local/sbin/husk-vm-run"
	install -m 0644 "$here/guest/husk-vm.service" "$root/etc/systemd/system/husk-vm.service"
	install -m 0644 "$here/guest/husk-vm.target" "$root/etc/systemd/system/husk-vm.target"
	# Units that only slow a throw-away guest down.
	local u
	for u in apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer \
		fstrim.timer e2scrub_reap.service systemd-pstore.service getty@tty1.service; do
		ln -sf /dev/null "$root/etc/systemd/system/$u"
	done
	echo husk-vm >"$root/etc/hostname"
	printf '127.0.0.1 localhost\n127.0.1.1 husk-vm\n' >"$root/etc/hosts"
	: >"$root/etc/fstab"
	# Empty machine-id: systemd makes a transient one at each boot.
	: >"$root/etc/machine-id"
	# The kernel command line decides: enforcing=1 in the selinux guest,
	# selinux=0 elsewhere.
	sed -i 's/^SELINUX=.*/SELINUX=enforcing/' "$root/etc/selinux/config"
	# Save space: no package caches or docs in the image.
	rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
		"$root"/usr/share/doc/* "$root"/usr/share/man/*
}

label_rootfs() {
	# Label with the guest's own policy, as `fixfiles relabel` would at boot.
	local fc=$root/etc/selinux/default/contexts/files/file_contexts
	[ -f "$fc" ] || die "no SELinux file contexts at $fc"
	setfiles -r "$root" "$fc" "$root" >"$work/setfiles.log" 2>&1 || {
		tail -n 20 "$work/setfiles.log" >&2
		die "setfiles failed"
	}
	local lbl
	lbl=$(getfattr --only-values -n security.selinux "$root/usr/bin/ls" 2>/dev/null | tr -d '\0' || true)
	case "$lbl" in
	*:bin_t:*) ;;
	*) die "labelling did not take: /usr/bin/ls has '$lbl'" ;;
	esac
}

build_initramfs() {
	local ird=$work/initramfs m
	mkdir -p "$ird"/{bin,dev,proc,sys,newroot,lib/modules}
	cp "$root/bin/busybox" "$ird/bin/busybox"
	install -m 0755 "$here/guest/initramfs-init" "$ird/init"
	: >"$ird/modules.list"
	# Virtio PCI and block drivers with their dependencies, in load order.
	for m in $(chroot "$root" modprobe -a -S "$kver" --show-depends virtio_pci virtio_blk |
		awk '$1 == "insmod" { print $2 }' | awk '!seen[$0]++'); do
		cp "$root$m" "$ird/lib/modules/"
		basename "$m" >>"$ird/modules.list"
	done
	(cd "$ird" && find . | cpio -o -H newc --quiet | gzip -1) >"$out/initrd.img"
}

make_image() {
	mkfs.ext4 -q -F -L huskroot -E root_owner=0:0 -d "$root" "$out/rootfs.img" "$IMAGE_SIZE"
	# mkfs -d copies extended attributes; check the labels made it.
	debugfs -R "ea_get /usr/bin/ls security.selinux" "$out/rootfs.img" 2>/dev/null | grep -q bin_t ||
		die "rootfs.img lost the SELinux labels"
}

step download download_kernel
step debootstrap run_debootstrap
step configure configure_rootfs
step label label_rootfs
step initramfs build_initramfs
step image make_image
rm -rf --one-file-system "$work"
date -u +%FT%TZ >"$out/stamp"
log "built $out in: $(awk '{ printf "%s %s  ", $1, $2 }' "$timings")"
echo "$out"
