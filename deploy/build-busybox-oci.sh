#!/usr/bin/env bash
# Builds a single-layer OCI image layout from the distribution's busybox-static, with no network:
#   deploy/build-busybox-oci.sh DEST [TAG]      # TAG defaults to "1"
# The result is usable as `oci:DEST:TAG` by skopeo and by berth manifests (`image: oci:/abs/DEST:TAG`).
# Needs root (umoci unpack/repack keep file ownership), umoci and a static busybox.
set -euo pipefail

dest=${1:?usage: build-busybox-oci.sh DEST [TAG]}
tag=${2:-1}
busybox=$(command -v busybox || true)
[[ -n $busybox ]] || { echo "build-busybox-oci: busybox not found (apt-get install busybox-static)" >&2; exit 1; }
# A dynamically linked busybox would need its libc inside the image (ldd fails on static binaries).
if ldd "$busybox" >/dev/null 2>&1; then
  echo "build-busybox-oci: $busybox is not statically linked (apt-get install busybox-static)" >&2
  exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

[[ -f $dest/oci-layout ]] || umoci init --layout "$dest"
umoci new --image "$dest:$tag"
umoci unpack --image "$dest:$tag" "$work/bundle" >/dev/null

rootfs=$work/bundle/rootfs
mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,root,proc,sys,dev,var}
chmod 1777 "$rootfs/tmp"
install -m 0755 "$busybox" "$rootfs/bin/busybox"
# One symlink per applet at the path busybox itself lists (bin/sh, usr/bin/wget, …).
while read -r applet; do
  [[ -e $rootfs/$applet || -L $rootfs/$applet ]] || ln -s /bin/busybox "$rootfs/$applet"
done < <("$busybox" --list-full)
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"

umoci repack --image "$dest:$tag" "$work/bundle"
umoci config --image "$dest:$tag" \
  --config.cmd sh \
  --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --architecture amd64 --os linux
umoci gc --layout "$dest"
echo "$dest:$tag"
