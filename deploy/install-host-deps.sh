#!/usr/bin/env bash
# Installs the Debian packages berth needs on a node and for its tests. Idempotent and quick when
# everything is present: apt is only touched when a command is missing.
#   deploy/install-host-deps.sh          # what `berth up` needs (etcd, runc, conmon, CNI, images;
#                                        # QEMU, a guest kernel and static busybox for `runtime: vm`)
#   deploy/install-host-deps.sh --test   # plus what the test suites need (docker, registry, …)
set -euo pipefail

# command → Debian package that provides it
declare -A RUN=(
  [etcd]=etcd-server [etcdctl]=etcd-client
  [runc]=runc [conmon]=conmon [skopeo]=skopeo [umoci]=umoci
  [/usr/lib/cni/bridge]=containernetworking-plugins
  [iptables]=iptables [nft]=nftables [ip]=iproute2 [nsenter]=util-linux [pgrep]=procps
  [qemu-system-x86_64]=qemu-system-x86 [busybox]=busybox-static [qemu-img]=qemu-utils
)
declare -A TEST=(
  [dockerd]=docker.io [docker-registry]=docker-registry [curl]=curl [promtool]=prometheus [prometheus]=prometheus
  [mkfs.ext4]=e2fsprogs [openssl]=openssl
  # a bootable disk image for the bootloader VM test: syslinux on a FAT partition
  [syslinux]=syslinux [/usr/lib/syslinux/mbr/mbr.bin]=syslinux-common [mkfs.vfat]=dosfstools [mcopy]=mtools
)

want=()
check() { # name-of-assoc-array
  local -n table=$1
  for cmd in "${!table[@]}"; do
    if [[ $cmd == /* ]]; then [[ -e $cmd ]] && continue; else command -v "$cmd" >/dev/null 2>&1 && continue; fi
    want+=("${table[$cmd]}")
  done
}
check RUN
[[ ${1:-} == --test ]] && check TEST
# The VM guest's initramfs (and the test images) hold busybox with no libc beside it: the static build.
if command -v busybox >/dev/null && ldd "$(command -v busybox)" >/dev/null 2>&1; then
  want+=(busybox-static)
fi
# A kernel for VM guests, with its modules: the host may run another (or none of its own, in a container).
if ! compgen -G '/boot/vmlinuz-*' >/dev/null; then
  want+=(linux-image-amd64)
fi

[[ ${#want[@]} -eq 0 ]] && exit 0
mapfile -t want < <(printf '%s\n' "${want[@]}" | sort -u)
if [[ $(id -u) -ne 0 ]]; then
  echo "berth: missing Debian packages: ${want[*]} — run as root or: apt-get install ${want[*]}" >&2
  exit 1
fi
echo "berth: installing Debian packages: ${want[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
# On a systemd host the package also starts Prometheus as a service on :9090; the tests start
# their own, with their own configuration, and a test machine should not scrape anything else.
if [[ " ${want[*]} " == *" prometheus "* && -d /run/systemd/system ]]; then
  systemctl disable --now prometheus >/dev/null 2>&1 || true
fi
