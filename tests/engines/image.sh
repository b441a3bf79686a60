#!/bin/bash
# image.sh OUT.tar [NAME]: build a one-layer image from Debian's busybox-static, with no
# registry. The tar is an OCI image layout (oci-layout, index.json, blobs/sha256/...) that
# also carries docker's manifest.json pointing at the same blobs, so `ctr images import`,
# `podman load` and docker 20.10's `docker load` all accept the one file.
set -euo pipefail

out=${1:?usage: image.sh OUT.tar [NAME]}
name=${2:-docker.io/library/huskbox:latest}
busybox=${BUSYBOX:-/bin/busybox}

if ! "$busybox" --list >/dev/null 2>&1 || ldd "$busybox" >/dev/null 2>&1; then
	echo "image.sh: $busybox: not a static busybox (apt-get install busybox-static)" >&2
	exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# rootfs: busybox, one symlink per applet, the directories engines mount over, root's passwd entry.
root=$tmp/rootfs
mkdir -p "$root"/{bin,dev,proc,sys,tmp,etc,root,run,var/tmp}
chmod 1777 "$root/tmp" "$root/var/tmp"
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
	[ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
echo 'root:x:0:' >"$root/etc/group"

# deterministic layer: fixed order, owner and times
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$root" -cf "$tmp/layer.tar" .

lay=$tmp/layout
mkdir -p "$lay/blobs/sha256"
blob() { # blob FILE -> prints "HEX SIZE" after storing FILE as a blob
	local hex size
	hex=$(sha256sum "$1" | cut -d' ' -f1)
	size=$(stat -c %s "$1")
	mv "$1" "$lay/blobs/sha256/$hex"
	echo "$hex $size"
}

read -r lhex lsize < <(blob "$tmp/layer.tar")

printf '%s' '{"architecture":"amd64","os":"linux","created":"1970-01-01T00:00:00Z",'\
'"config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"],"WorkingDir":"/"},'\
'"rootfs":{"type":"layers","diff_ids":["sha256:'"$lhex"'"]},'\
'"history":[{"created":"1970-01-01T00:00:00Z","created_by":"husk tests/engines/image.sh (busybox-static)"}]}' >"$tmp/config.json"
read -r chex csize < <(blob "$tmp/config.json")

printf '%s' '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'\
'"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:'"$chex"'","size":'"$csize"'},'\
'"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:'"$lhex"'","size":'"$lsize"'}]}' >"$tmp/manifest.json"
read -r mhex msize < <(blob "$tmp/manifest.json")

printf '%s' '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",'\
'"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:'"$mhex"'","size":'"$msize"','\
'"annotations":{"io.containerd.image.name":"'"$name"'","org.opencontainers.image.ref.name":"'"${name##*:}"'"}}]}' >"$lay/index.json"
printf '%s' '{"imageLayoutVersion":"1.0.0"}' >"$lay/oci-layout"

# docker-archive view of the same blobs (docker 20.10 loads only this format)
short=${name#docker.io/}
short=${short#library/}
printf '%s' '[{"Config":"blobs/sha256/'"$chex"'","RepoTags":["'"$short"'"],"Layers":["blobs/sha256/'"$lhex"'"]}]' >"$lay/manifest.json"

tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$lay" -cf "$out" oci-layout index.json manifest.json blobs
