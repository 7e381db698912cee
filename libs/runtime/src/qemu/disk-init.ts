import { NIC_UP_FUNCTION } from './guest-init';

/**
 * The /init of the disk-root initramfs (`vm.disk` with `vm.kernel`): a busybox sh script that
 * loads the drivers the guest's own kernel build has as modules (virtio-blk, virtio-net, ext4…),
 * gives the NIC the task's address, mounts the disk as root and `switch_root`s to the image's own
 * init. Nothing of berth stays in the guest: no status, log or control ports, no exec slots.
 *
 * Its parameters come on the kernel command line (set by the driver): `berth.ip=ADDR/LEN`,
 * `berth.gw=ADDR`, `berth.mac=MAC` for the network; the root device is `root=` when the user's
 * `vm.cmdline` gives one (`root=/dev/vda1` for a partitioned image), else /dev/vda; the init is
 * `init=` when given, else /sbin/init. Any failure is written to the console, then the VM powers
 * off (QEMU runs with -no-reboot and exits).
 *
 * Any change to this text gives a new initramfs (its cache name hashes the archive).
 */

/**
 * The disk root's drivers, by module name: virtio-mmio (microvm's bus), the virtio disk and NIC,
 * ext4 and the crc32c it checksums with (loaded by name at mount time, and there is no modprobe
 * here), and the ACPI power button with evdev, so the image's own userspace (acpid, logind) sees
 * the power-down request that stops the task.
 */
export const DISK_GUEST_MODULES = ['virtio_mmio', 'virtio_blk', 'virtio_net', 'crc32c_generic', 'ext4', 'button', 'evdev'] as const;

/** Applets the disk init runs; the initramfs links each to /bin/busybox. */
export const DISK_GUEST_APPLETS = ['sh', 'cat', 'insmod', 'ip', 'mkdir', 'mount', 'poweroff', 'sleep', 'switch_root', 'umount', 'usleep'] as const;

// In this template literal `\${` stands for the shell's `${`.
export const DISK_INIT_SCRIPT = `#!/bin/busybox sh
# berth disk-root init: network, root disk, then the image's own init (busybox sh only).
export PATH=/bin
say() { echo "berth-init: $*"; }
fail() { say "error: $*"; sleep 1; poweroff -f; exit 1; }
${NIC_UP_FUNCTION}
mount -t devtmpfs devtmpfs /dev
if true >/dev/console 2>/dev/null; then exec >/dev/console 2>&1; else exec >/dev/null 2>&1; fi
exec </dev/null
mount -t proc proc /proc || fail "cannot mount /proc"
mount -t sysfs sysfs /sys || fail "cannot mount /sys"

# arg NAME: the value of NAME=VALUE on the kernel command line (the last one wins).
arg() {
	v=
	for a in $(cat /proc/cmdline); do case $a in "$1"=*) v=\${a#*=} ;; esac; done
	[ -n "$v" ] && echo "$v"
}

while read -r m; do
	[ -n "$m" ] || continue
	out=$(insmod "$m" 2>&1) || say "insmod $m: $out"
done </modules.order

mac=$(arg berth.mac)
if [ -n "$mac" ]; then
	nic_up "$mac" "$(arg berth.ip)" "$(arg berth.gw)"
	say "$nic has $(arg berth.ip), gateway $(arg berth.gw)"
fi

root=$(arg root) || root=/dev/vda
init=$(arg init) || init=/sbin/init
i=0
while [ ! -b "$root" ] && [ "$i" -lt 500 ]; do usleep 10000; i=$((i + 1)); done
[ -b "$root" ] || fail "no root disk $root"
out=$(mount -o rw "$root" /newroot 2>&1) || fail "mount $root: $out"
[ -x "/newroot$init" ] || [ -L "/newroot$init" ] || fail "the disk has no $init"
if [ -d /newroot/dev ]; then mount --move /dev /newroot/dev; else umount -l /dev; fi
umount /sys /proc
say "switching to $init on $root"
exec switch_root /newroot "$init"
`;
