/**
 * The little of ASN.1 DER that X.509 certificates and PKCS #10 requests need: an encoder for the
 * types they use and a reader for tag-length-value elements. Pure; Buffers in, Buffers out.
 */

/** Universal tags, and the constructed context-specific base (`[n]` is CONTEXT | n). */
export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
  /** `[n] EXPLICIT` / constructed: 0xa0 | n. */
  CONTEXT: 0xa0,
  /** `[n] IMPLICIT` of a primitive type: 0x80 | n. */
  CONTEXT_PRIMITIVE: 0x80,
} as const;

/** One element: tag, then its length in DER's definite form, then `value`. */
export function tlv(tag: number, value: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([tag]), encodeLength(value.length), value]);
}

function encodeLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export const sequence = (...items: Uint8Array[]): Buffer => tlv(TAG.SEQUENCE, Buffer.concat(items));
export const set = (...items: Uint8Array[]): Buffer => tlv(TAG.SET, Buffer.concat(items));
/** `[n] EXPLICIT inner`. */
export const explicit = (n: number, inner: Uint8Array): Buffer => tlv(TAG.CONTEXT | n, inner);
export const boolean = (b: boolean): Buffer => tlv(TAG.BOOLEAN, Buffer.from([b ? 0xff : 0x00]));
export const octetString = (b: Uint8Array): Buffer => tlv(TAG.OCTET_STRING, b);
export const utf8String = (s: string): Buffer => tlv(TAG.UTF8_STRING, Buffer.from(s, 'utf8'));
/** A BIT STRING of whole bytes (signatures, keys): no unused bits. */
export const bitString = (b: Uint8Array): Buffer => tlv(TAG.BIT_STRING, Buffer.concat([Buffer.from([0]), b]));

/** A non-negative INTEGER from a number or its big-endian unsigned bytes (a serial number). */
export function integer(v: number | Uint8Array): Buffer {
  let bytes = typeof v === 'number' ? numberBytes(v) : Buffer.from(v);
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  bytes = bytes.subarray(start);
  if (bytes.length === 0) bytes = Buffer.from([0]);
  // The high bit is the sign: a positive value starting with it set gets a leading zero.
  if (bytes[0]! & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return tlv(TAG.INTEGER, bytes);
}

function numberBytes(n: number): Buffer {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`DER INTEGER: ${n} is not a non-negative safe integer`);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from(bytes.length ? bytes : [0]);
}

/** An OBJECT IDENTIFIER from its dotted form ("1.2.840.10045.4.3.2"). */
export function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map((a) => {
    if (!/^\d+$/.test(a)) throw new RangeError(`DER OID: "${dotted}" is not dotted decimal`);
    return BigInt(a);
  });
  if (arcs.length < 2) throw new RangeError(`DER OID: "${dotted}" needs two arcs at least`);
  const out: number[] = [];
  for (const arc of [arcs[0]! * 40n + arcs[1]!, ...arcs.slice(2)]) {
    const chunk: number[] = [Number(arc & 0x7fn)];
    for (let v = arc >> 7n; v > 0n; v >>= 7n) chunk.unshift(Number(v & 0x7fn) | 0x80);
    out.push(...chunk);
  }
  return tlv(TAG.OID, Buffer.from(out));
}

/** The dotted form of an OID element's value bytes. */
export function readOid(value: Uint8Array): string {
  const arcs: bigint[] = [];
  let acc = 0n;
  for (const byte of value) {
    acc = (acc << 7n) | BigInt(byte & 0x7f);
    if ((byte & 0x80) === 0) {
      arcs.push(acc);
      acc = 0n;
    }
  }
  if (arcs.length === 0) throw new RangeError('DER OID: empty');
  const first = arcs[0]!;
  const head = first < 80n ? [first / 40n, first % 40n] : [2n, first - 80n];
  return [...head, ...arcs.slice(1)].join('.');
}

/** X.509 time: UTCTime through 2049, GeneralizedTime from 2050 on (RFC 5280 4.1.2.5); whole seconds, UTC. */
export function time(d: Date): Buffer {
  const iso = d.toISOString(); // 2026-12-05T10:55:00.000Z
  const digits = iso.slice(0, 19).replace(/[-:T]/g, ''); // 20261205105500
  const year = d.getUTCFullYear();
  if (year < 1950 || year > 9999) throw new RangeError(`X.509 time: year ${year} is out of range`);
  return year < 2050 ? tlv(TAG.UTC_TIME, Buffer.from(`${digits.slice(2)}Z`)) : tlv(TAG.GENERALIZED_TIME, Buffer.from(`${digits}Z`));
}

/** One element read from DER. `raw` is the whole element (tag and length included). */
export interface Element {
  readonly tag: number;
  readonly value: Buffer;
  readonly raw: Buffer;
}

/** The element at `offset` of `der`; throws on a truncated or indefinite-length one. */
export function readElement(der: Buffer, offset = 0): Element & { readonly end: number } {
  if (offset + 2 > der.length) throw new RangeError('DER: truncated element');
  const tag = der[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new RangeError('DER: multi-byte tags are not supported');
  let length = der[offset + 1]!;
  let header = 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0) throw new RangeError('DER: indefinite length is not DER');
    if (count > 4) throw new RangeError('DER: element too long');
    if (offset + 2 + count > der.length) throw new RangeError('DER: truncated length');
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + der[offset + 2 + i]!;
    header += count;
  }
  const end = offset + header + length;
  if (end > der.length) throw new RangeError('DER: element runs past the end');
  return { tag, value: der.subarray(offset + header, end), raw: der.subarray(offset, end), end };
}

/** The elements inside a constructed element's value (a SEQUENCE's items). */
export function children(value: Buffer): Element[] {
  const out: Element[] = [];
  for (let offset = 0; offset < value.length; ) {
    const e = readElement(value, offset);
    out.push(e);
    offset = e.end;
  }
  return out;
}

/** Reads `der` as exactly one element of `tag`; throws, naming `what`, otherwise. */
export function expectElement(der: Buffer, tag: number, what: string): Element {
  const e = readElement(der);
  if (e.tag !== tag) throw new RangeError(`${what}: expected tag 0x${tag.toString(16)}, got 0x${e.tag.toString(16)}`);
  if (e.end !== der.length) throw new RangeError(`${what}: trailing bytes after the element`);
  return e;
}
