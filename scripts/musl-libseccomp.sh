#!/usr/bin/env bash
# Builds a static libseccomp for musl under DIR (default build/musl), so husk can link against
# musl instead of glibc. Why: every husk process, the container init included, starts with the
# libc's own start-up code, and static glibc's runs a few dozen cpuid instructions (its CPU
# feature and cache probes), which trap to the hypervisor on virtual machines: about 0.3 ms of
# CPU per process here. musl's start-up does none of that. See docs/performance.md.
#
# The source is Debian's own: the same libseccomp version and patches as the libseccomp-dev
# package the rest of the build uses, fetched from the Debian archive and checked by SHA-256.
# Output: DIR/lib/libseccomp.a, DIR/include/seccomp.h, DIR/lib/pkgconfig/libseccomp.pc and
# DIR/include-linux (the kernel headers, which musl-gcc leaves out). A second run with the same
# version does nothing.
set -euo pipefail

dir=${1:-build/musl}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

version=2.5.4
debrev=1+deb12u1
pool=${DEBIAN_POOL:-http://deb.debian.org/debian/pool/main/libs/libseccomp}
orig=libseccomp_${version}.orig.tar.gz
orig_sha=d82902400405cf0068574ef3dc1fe5f5926207543ba1ae6f8e7a1576351dcbdb
deb=libseccomp_${version}-${debrev}.debian.tar.xz
deb_sha=665fc6ad1b9887207b0af1a293a2d7975e2df503a2618d1808b970081f9672f6
stamp="$dir/.built-$version-$debrev"

if [ -f "$stamp" ] && [ -f "$dir/lib/libseccomp.a" ]; then
	touch "$dir/lib/libseccomp.a" # up to date, for make, when only this script changed
	exit 0
fi

for tool in musl-gcc gperf curl patch xz make; do
	command -v "$tool" >/dev/null || { echo "musl-libseccomp: $tool is missing (make deps installs it)" >&2; exit 1; }
done

src="$dir/src"
rm -rf "$src" "$dir/lib" "$dir/include" "$dir/include-linux"
mkdir -p "$src"

fetch() { # name sha256
	local f="$dir/$1"
	if [ ! -f "$f" ] || ! echo "$2  $f" | sha256sum -c --status; then
		curl -fsSL --retry 3 -o "$f.part" "$pool/$1"
		mv "$f.part" "$f"
	fi
	echo "$2  $f" | sha256sum -c --status || { echo "musl-libseccomp: $1: checksum mismatch" >&2; rm -f "$f"; exit 1; }
}
fetch "$orig" "$orig_sha"
fetch "$deb" "$deb_sha"

tar -xzf "$dir/$orig" -C "$src" --strip-components=1
tar -xJf "$dir/$deb" -C "$src"
while read -r p; do
	case "$p" in ''|'#'*) continue ;; esac
	patch -d "$src" -p1 -s < "$src/debian/patches/$p"
done < "$src/debian/patches/series"

# musl-gcc searches only musl's own headers; the kernel's come from Debian's linux-libc-dev.
mkdir -p "$dir/include-linux"
ln -s /usr/include/linux "$dir/include-linux/linux"
ln -s /usr/include/asm-generic "$dir/include-linux/asm-generic"
ln -s "/usr/include/$(gcc -print-multiarch)/asm" "$dir/include-linux/asm"

(
	cd "$src"
	CC=musl-gcc CFLAGS="-O2 -fstack-protector-strong -isystem $dir/include-linux" \
		./configure --quiet --prefix="$dir" --disable-shared --enable-static --disable-python
	make -s -j"$(nproc)" -C src install
	make -s -C include install
	install -D -m 0644 libseccomp.pc "$dir/lib/pkgconfig/libseccomp.pc"
) >"$dir/build.log" 2>&1 || { echo "musl-libseccomp: build failed, see $dir/build.log" >&2; tail -20 "$dir/build.log" >&2; exit 1; }

rm -rf "$src"
touch "$stamp"
echo "musl-libseccomp: libseccomp $version-$debrev built for musl in $dir"
