import { execFile } from 'node:child_process';
import { chmod, copyFile, mkdir, open, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { moduleLoadOrder, moduleName, writeNewc, type CpioEntry, type GuestKernel } from '../../libs/runtime/src/qemu';

const exec = promisify(execFile);

/** The syslinux MBR boot code (Debian's syslinux-common): boots the active partition's boot sector. */
export const SYSLINUX_MBR = '/usr/lib/syslinux/mbr/mbr.bin';
/** What a test building a bootable disk needs on the host, besides busybox and a kernel. */
export const BOOTABLE_DISK_TOOLS = ['syslinux', 'mkfs.vfat', 'mcopy', 'mkfs.ext4'] as const;

const SECTOR = 512;
const MiB = 1024 * 1024;
const BOOT_MiB = 40;
const ROOT_MiB = 32;

/**
 * A disk OS's own /sbin/init for the tests: mounts what it needs (with `dhcp`, first asks for an
 * address, as a PC's OS would), serves `disk-vm <boot id>` with httpd on port 8080, and powers off
 * on the ACPI power button (its initramfs loaded button + evdev: the press is an input event).
 */
export const diskOsInit = (o: { dhcp: boolean }): string => `#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
${o.dhcp ? 'udhcpc -i eth0 -s /etc/udhcpc.script -q -n -t 30 -T 1 || echo "disk-init: no DHCP lease"' : ''}
id=$(cat /proc/sys/kernel/random/boot_id)
mkdir -p /www && echo "disk-vm $id" >/www/index.html && sync
echo "disk-init: serving boot $id"
httpd -p 8080 -h /www
ev=
while [ -z "$ev" ]; do
	for d in /sys/class/input/event*; do grep -q "Power Button" "$d/device/name" 2>/dev/null && ev=/dev/input/\${d##*/}; done
	[ -n "$ev" ] || sleep 1
done
echo "disk-init: waiting for the power button on $ev"
dd if="$ev" of=/dev/null bs=24 count=1 || echo "disk-init: cannot read $ev"
echo "disk-init: power button pressed, powering off"
sync
poweroff -f
`;

/** The modules the image's own initramfs loads: a PC's virtio disk and NIC, ext4, and the ACPI power button. */
const IMAGE_MODULES = ['virtio_pci', 'virtio_blk', 'virtio_net', 'crc32c_generic', 'ext4', 'button', 'evdev'];

// The image's initramfs, as a distribution's would be in miniature: drivers, then its root
// partition (named on the kernel command line by the image's own bootloader configuration).
const IMAGE_INITRAMFS_INIT = `#!/bin/busybox sh
export PATH=/bin
mount -t devtmpfs devtmpfs /dev
exec >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
for m in $(cat /modules.order); do insmod "$m" || echo "image-initramfs: insmod $m failed"; done
root=
for a in $(cat /proc/cmdline); do case $a in root=*) root=\${a#root=} ;; esac; done
i=0
while [ ! -b "$root" ] && [ "$i" -lt 500 ]; do usleep 10000; i=$((i + 1)); done
mount -o rw "$root" /newroot || { echo "image-initramfs: cannot mount $root"; sleep 1; poweroff -f; }
echo "image-initramfs: root $root, kernel arguments: $(cat /proc/cmdline)"
mount --move /dev /newroot/dev
umount /proc /sys
exec switch_root /newroot /sbin/init
`;

/** udhcpc's event script: configures the NIC with what the DHCP server offered. */
const UDHCPC_SCRIPT = `#!/bin/sh
case "$1" in
deconfig) ip link set "$interface" up; ip addr flush dev "$interface" ;;
bound|renew)
	ip addr flush dev "$interface"
	ip addr add "$ip/$mask" dev "$interface"
	[ -n "$router" ] && ip route replace default via "$router" dev "$interface"
	echo "dhcp: $interface has $ip/$mask via $router, lease $lease s"
	;;
esac
`;

/**
 * Builds a raw disk image a PC boots on its own, as a distribution's image would: an MBR with
 * syslinux's boot code, an active FAT partition holding syslinux, the kernel and an initramfs,
 * and an ext4 root partition (/dev/vda2) whose /sbin/init is `init` (a busybox sh script). The
 * root has busybox with all its applets and /etc/udhcpc.script for `udhcpc -s`. Returns the path.
 * Nothing is mounted: the file systems are made as files and laid out after the partition table.
 */
export async function makeBootableDisk(dir: string, kernel: GuestKernel, init: string): Promise<string> {
  const work = join(dir, 'bootable');
  await mkdir(work, { recursive: true });

  // The root partition: busybox, the init, the DHCP client's script.
  const tree = await busyboxRoot(join(work, 'root'), init);
  await writeFile(join(tree, 'etc/udhcpc.script'), UDHCPC_SCRIPT, { mode: 0o755 });
  const root = join(work, 'root.ext4');
  await exec('mkfs.ext4', ['-q', '-F', '-L', 'root', '-d', tree, root, `${ROOT_MiB}M`]);

  // The boot partition: syslinux, its configuration, the kernel and the image's own initramfs.
  const initrd = join(work, 'initrd.img');
  await writeFile(initrd, await imageInitramfs(kernel));
  const config = join(work, 'syslinux.cfg');
  await writeFile(config, ['DEFAULT linux', 'PROMPT 0', 'TIMEOUT 0', 'LABEL linux', '  KERNEL /vmlinuz', '  INITRD /initrd.img', '  APPEND console=ttyS0 root=/dev/vda2 panic=-1 quiet', ''].join('\n'));
  const boot = join(work, 'boot.fat');
  await rm(boot, { force: true });
  await exec('mkfs.vfat', ['-F', '16', '-n', 'BOOT', '-C', boot, String(BOOT_MiB * 1024)]);
  await exec('mcopy', ['-i', boot, kernel.path, '::/vmlinuz']);
  await exec('mcopy', ['-i', boot, initrd, config, '::/']);
  await exec('syslinux', ['--install', boot]);

  // The disk: partition table in the first MiB, then the two file systems.
  const bootSectors = (await stat(boot)).size / SECTOR;
  const rootSectors = (await stat(root)).size / SECTOR;
  const firstMiB = Buffer.alloc(MiB);
  (await readFile(SYSLINUX_MBR)).copy(firstMiB, 0, 0, 440);
  partitionEntry(true, 0x06, MiB / SECTOR, bootSectors).copy(firstMiB, 446);
  partitionEntry(false, 0x83, MiB / SECTOR + bootSectors, rootSectors).copy(firstMiB, 446 + 16);
  firstMiB.writeUInt16LE(0xaa55, 510);
  const disk = join(dir, 'bootable.raw');
  const out = await open(disk, 'w');
  try {
    await out.write(firstMiB);
    await out.write(await readFile(boot));
    await out.write(await readFile(root));
  } finally {
    await out.close();
  }
  await rm(work, { recursive: true, force: true });
  return disk;
}

/** A root file system tree at `tree`: static busybox with a link per applet, and `init` as /sbin/init. Returns `tree`. */
export async function busyboxRoot(tree: string, init: string): Promise<string> {
  for (const d of ['bin', 'sbin', 'dev', 'proc', 'sys', 'tmp', 'etc']) await mkdir(join(tree, d), { recursive: true });
  await copyFile('/bin/busybox', join(tree, 'bin/busybox'));
  const applets = (await exec('/bin/busybox', ['--list'])).stdout.split('\n').filter((a) => a && a !== 'busybox');
  for (const a of applets) await symlink('busybox', join(tree, 'bin', a));
  await writeFile(join(tree, 'sbin/init'), init);
  await chmod(join(tree, 'sbin/init'), 0o755);
  return tree;
}

/** One MBR partition entry addressed by LBA (the CHS fields say "use LBA"). */
function partitionEntry(active: boolean, type: number, firstSector: number, sectors: number): Buffer {
  const e = Buffer.alloc(16);
  e[0] = active ? 0x80 : 0x00;
  Buffer.from([0xfe, 0xff, 0xff]).copy(e, 1);
  e[4] = type;
  Buffer.from([0xfe, 0xff, 0xff]).copy(e, 5);
  e.writeUInt32LE(firstSector, 8);
  e.writeUInt32LE(sectors, 12);
  return e;
}

async function imageInitramfs(kernel: GuestKernel): Promise<Buffer> {
  const dep = await readFile(join(kernel.modulesDir, 'modules.dep'), 'utf8');
  const builtin = await readFile(join(kernel.modulesDir, 'modules.builtin'), 'utf8').catch(() => '');
  const order = moduleLoadOrder(dep, IMAGE_MODULES, builtin);
  if ('missing' in order) throw new Error(`kernel ${kernel.version} lacks modules ${order.missing.join(', ')}`);
  const modules = await Promise.all(order.paths.map(async (rel) => ({ name: moduleName(rel), data: await readFile(join(kernel.modulesDir, rel)) })));
  const applets = ['sh', 'cat', 'insmod', 'mount', 'umount', 'usleep', 'sleep', 'poweroff', 'switch_root', 'echo'];
  const entries: CpioEntry[] = [
    ...['bin', 'dev', 'proc', 'sys', 'newroot', 'lib', 'lib/modules'].map((path): CpioEntry => ({ kind: 'dir', path })),
    { kind: 'chardev', path: 'dev/console', major: 5, minor: 1 },
    { kind: 'file', path: 'bin/busybox', data: await readFile('/bin/busybox'), mode: 0o755 },
    ...applets.map((a): CpioEntry => ({ kind: 'symlink', path: `bin/${a}`, target: 'busybox' })),
    ...modules.map((m): CpioEntry => ({ kind: 'file', path: `lib/modules/${m.name}.ko`, data: m.data })),
    { kind: 'file', path: 'modules.order', data: Buffer.from(modules.map((m) => `/lib/modules/${m.name}.ko\n`).join('')) },
    { kind: 'file', path: 'init', data: Buffer.from(IMAGE_INITRAMFS_INIT), mode: 0o755 },
  ];
  return writeNewc(entries);
}
