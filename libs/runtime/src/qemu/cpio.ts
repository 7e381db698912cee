/**
 * A writer for the "newc" cpio format (the SVR4 portable format without checksums), the only
 * format the Linux kernel unpacks as an initramfs. Pure: entries in, bytes out.
 *
 * Layout of one member: a 110-byte ASCII header (`070701` + 13 eight-digit hex fields), the
 * path with a terminating NUL padded to a multiple of 4, then the data padded to a multiple of 4.
 * The archive ends with a member named `TRAILER!!!`.
 */

export type CpioEntry =
  | { readonly kind: 'dir'; readonly path: string; readonly mode?: number }
  | { readonly kind: 'file'; readonly path: string; readonly data: Uint8Array; readonly mode?: number }
  | { readonly kind: 'symlink'; readonly path: string; readonly target: string }
  | { readonly kind: 'chardev'; readonly path: string; readonly major: number; readonly minor: number; readonly mode?: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;
const TRAILER = 'TRAILER!!!';

interface Header {
  readonly ino: number;
  readonly mode: number;
  readonly nlink: number;
  readonly size: number;
  readonly rdevMajor: number;
  readonly rdevMinor: number;
  readonly name: string;
}

/**
 * The archive holding `entries` in the given order (parents must come before their children:
 * the kernel does not create missing directories). Every member is owned by root with mtime 0,
 * so the same entries always give the same bytes.
 */
export function writeNewc(entries: readonly CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  const seen = new Set<string>();
  entries.forEach((entry, i) => {
    const name = memberName(entry.path);
    if (seen.has(name)) throw new Error(`cpio: "${name}" appears twice`);
    seen.add(name);
    const data = entryData(entry);
    parts.push(header({ ino: i + 1, name, size: data.length, ...typeFields(entry) }), data, padding(data.length));
  });
  parts.push(header({ ino: 0, mode: 0, nlink: 1, size: 0, rdevMajor: 0, rdevMinor: 0, name: TRAILER }));
  return Buffer.concat(parts);
}

/** Paths are stored relative ("bin/busybox"), as `find . | cpio -o` would store them. */
function memberName(path: string): string {
  const name = path.replace(/^\/+/, '').replace(/\/+$/, '');
  if (name === '' || name.split('/').some((part) => part === '' || part === '.' || part === '..')) {
    throw new Error(`cpio: "${path}" is not a plain path`);
  }
  return name;
}

function entryData(entry: CpioEntry): Buffer {
  if (entry.kind === 'file') return Buffer.from(entry.data.buffer, entry.data.byteOffset, entry.data.byteLength);
  if (entry.kind === 'symlink') return Buffer.from(entry.target, 'utf8');
  return Buffer.alloc(0);
}

function typeFields(entry: CpioEntry): Pick<Header, 'mode' | 'nlink' | 'rdevMajor' | 'rdevMinor'> {
  switch (entry.kind) {
    case 'dir':
      return { mode: S_IFDIR | (entry.mode ?? 0o755), nlink: 2, rdevMajor: 0, rdevMinor: 0 };
    case 'file':
      return { mode: S_IFREG | (entry.mode ?? 0o644), nlink: 1, rdevMajor: 0, rdevMinor: 0 };
    case 'symlink':
      return { mode: S_IFLNK | 0o777, nlink: 1, rdevMajor: 0, rdevMinor: 0 };
    case 'chardev':
      return { mode: S_IFCHR | (entry.mode ?? 0o600), nlink: 1, rdevMajor: entry.major, rdevMinor: entry.minor };
  }
}

function header(h: Header): Buffer {
  const nameBytes = Buffer.from(`${h.name}\0`, 'utf8');
  // ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor namesize check
  const fields = [h.ino, h.mode, 0, 0, h.nlink, 0, h.size, 0, 0, h.rdevMajor, h.rdevMinor, nameBytes.length, 0];
  const text = '070701' + fields.map((f) => f.toString(16).padStart(8, '0')).join('');
  return Buffer.concat([Buffer.from(text, 'ascii'), nameBytes, padding(text.length + nameBytes.length)]);
}

function padding(length: number): Buffer {
  return Buffer.alloc((4 - (length % 4)) % 4);
}
