// HPACK integers at their prefix boundaries (RFC 7541 §5.1), both ways.
import { describe, expect, it } from 'vitest';
import { decodeInteger, MAX_INTEGER } from '../../../../src/codec/http2/hpack/integer.js';
import { BlockWriter } from '../../../../src/codec/http2/hpack/writer.js';

const encoded = (value: number, prefix: number, flags = 0): string => {
  const w = new BlockWriter(1); // grows as needed
  w.integer(value, prefix, flags);
  return w.take().toString('hex');
};

describe('HPACK integers', () => {
  it.each<[number, number, string]>([
    [30, 5, '1e'],
    [31, 5, '1f00'], // the prefix full: a continuation byte of 0
    [31 + 127, 5, '1f7f'],
    [31 + 128, 5, '1f8001'],
    [126, 7, '7e'],
    [127, 7, '7f00'],
    [MAX_INTEGER, 5, '1fe0ffffff07'],
  ])('%d with a %d-bit prefix ⇄ %s', (value, prefix, bytes) => {
    expect(encoded(value, prefix)).toBe(bytes);
    const c = { buf: Buffer.from(bytes, 'hex'), pos: 0 };
    expect(decodeInteger(c, prefix)).toBe(value);
    expect(c.pos).toBe(bytes.length / 2);
  });

  it('keeps the flag bits above the prefix and ignores them when reading', () => {
    expect(encoded(10, 6, 0x40)).toBe('4a');
    expect(decodeInteger({ buf: Buffer.from('ca', 'hex'), pos: 0 }, 6)).toBe(10);
  });

  it('refuses to write past 2^31 - 1', () => {
    expect(() => encoded(MAX_INTEGER + 1, 5)).toThrow(RangeError);
  });
});
