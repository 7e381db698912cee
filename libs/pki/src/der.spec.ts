import { describe, expect, it } from 'vitest';
import { children, expectElement, integer, oid, readElement, readOid, sequence, TAG, time, tlv } from './der';

const hex = (b: Buffer) => b.toString('hex');

describe('DER encoding', () => {
  it.each([
    [0, '020100'],
    [127, '02017f'],
    [128, '02020080'],
    [256, '02020100'],
    [65537, '0203010001'],
  ])('INTEGER %i is %s', (n, der) => expect(hex(integer(n))).toBe(der));

  it('INTEGER from bytes drops leading zeros and keeps it positive', () => {
    expect(hex(integer(Buffer.from([0, 0, 0x81, 0x02])))).toBe('0203008102');
    expect(hex(integer(Buffer.from([0, 0])))).toBe('020100');
  });

  it('refuses a negative or unsafe number', () => {
    expect(() => integer(-1)).toThrow(RangeError);
    expect(() => integer(2 ** 60)).toThrow(RangeError);
  });

  it.each([
    ['1.2.840.10045.4.3.2', '06082a8648ce3d040302'],
    ['2.5.29.19', '0603551d13'],
    ['1.3.6.1.5.5.7.3.1', '06082b06010505070301'],
  ])('OID %s is %s and reads back', (dotted, der) => {
    expect(hex(oid(dotted))).toBe(der);
    expect(readOid(readElement(oid(dotted)).value)).toBe(dotted);
  });

  it('uses the long length form from 128 bytes on', () => {
    expect(hex(tlv(TAG.OCTET_STRING, Buffer.alloc(127)).subarray(0, 2))).toBe('047f');
    expect(hex(tlv(TAG.OCTET_STRING, Buffer.alloc(200)).subarray(0, 3))).toBe('0481c8');
    expect(hex(tlv(TAG.OCTET_STRING, Buffer.alloc(300)).subarray(0, 4))).toBe('0482012c');
  });

  it('writes UTCTime through 2049 and GeneralizedTime from 2050, in whole seconds', () => {
    expect(time(new Date('2026-12-05T10:55:07.900Z')).toString('latin1').slice(2)).toBe('261205105507Z');
    expect(time(new Date('2026-12-05T10:55:07Z'))[0]).toBe(TAG.UTC_TIME);
    expect(time(new Date('2050-01-01T00:00:00Z')).toString('latin1').slice(2)).toBe('20500101000000Z');
    expect(time(new Date('2050-01-01T00:00:00Z'))[0]).toBe(TAG.GENERALIZED_TIME);
  });
});

describe('DER reading', () => {
  it('reads nested elements with their raw bytes', () => {
    const der = sequence(integer(5), sequence(oid('2.5.4.3')));
    const outer = expectElement(der, TAG.SEQUENCE, 'x');
    const [n, inner] = children(outer.value);
    expect(n).toMatchObject({ tag: TAG.INTEGER });
    expect(hex(n!.value)).toBe('05');
    expect(inner!.raw.equals(sequence(oid('2.5.4.3')))).toBe(true);
  });

  it('refuses truncated, indefinite-length and trailing input', () => {
    expect(() => readElement(Buffer.from('3005020101', 'hex'))).toThrow(/runs past the end/);
    expect(() => readElement(Buffer.from('3080', 'hex'))).toThrow(/indefinite length/);
    expect(() => readElement(Buffer.from('30', 'hex'))).toThrow(/truncated/);
    expect(() => expectElement(Buffer.from('30000000', 'hex'), TAG.SEQUENCE, 'x')).toThrow(/trailing bytes/);
    expect(() => expectElement(Buffer.from('0400', 'hex'), TAG.SEQUENCE, 'x')).toThrow(/expected tag 0x30, got 0x4/);
  });
});
