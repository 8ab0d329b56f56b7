// What the encoder indexes, never indexes and sends as literals (nghttp2's choices), and its table
// size updates (RFC 7541 §4.2, §6.3).
import { describe, expect, it } from 'vitest';
import { HpackDecoder } from '../../../../src/codec/http2/hpack/decoder.js';
import { HpackEncoder } from '../../../../src/codec/http2/hpack/encoder.js';
import { entries } from './hpack-test-helpers.js';

/** The representation of the block's only field: its first octet's pattern. */
function representation(block: Buffer): 'indexed' | 'incremental' | 'without' | 'never' | 'size-update' {
  const b = block[0];
  if (b & 0x80) return 'indexed';
  if (b & 0x40) return 'incremental';
  if ((b & 0xe0) === 0x20) return 'size-update';
  return b & 0x10 ? 'never' : 'without';
}

describe('HpackEncoder: what goes into the dynamic table', () => {
  it.each([
    ['authorization', 'Bearer abcdefghijklmnopqrstuvwxyz0123456789'],
    ['cookie', 'session=12345678'], // under 20 octets
  ])('%s is never indexed, even when sent twice', (name, value) => {
    const encoder = new HpackEncoder();
    expect(representation(encoder.encode([name, value]))).toBe('never');
    expect(representation(encoder.encode([name, value]))).toBe('never');
    expect(encoder.table.length).toBe(0);
  });

  it('a cookie of 20 octets or more is indexed, and sent as an index the second time', () => {
    const encoder = new HpackEncoder();
    const cookie = ['cookie', 'session=1234567890ab'];
    expect(representation(encoder.encode(cookie))).toBe('incremental');
    const again = encoder.encode(cookie);
    expect(representation(again)).toBe('indexed');
    expect(again.length).toBe(1);
  });

  it('names the caller marks never indexed (what the decoder saw so) stay never indexed', () => {
    const encoder = new HpackEncoder();
    const block = encoder.encode(['x-api-key', 'k1', 'x-other', 'o1'], ['x-api-key']);
    const decoded = new HpackDecoder().decode(block);
    expect(decoded.neverIndexed).toEqual(['x-api-key']);
    expect(entries(encoder.table)).toEqual([['x-other', 'o1']]);
  });

  it.each([':path', 'age', 'content-length', 'etag', 'if-modified-since', 'if-none-match', 'location', 'set-cookie'])(
    '%s is sent without indexing',
    (name) => {
      const encoder = new HpackEncoder();
      expect(representation(encoder.encode([name, 'some-value-123']))).toBe('without');
      expect(encoder.table.length).toBe(0);
    },
  );

  it('a field bigger than 3/4 of the table is not indexed', () => {
    const encoder = new HpackEncoder({ maxTableSize: 256 });
    const block = encoder.encode(['x-big', 'v'.repeat(160)]); // 5 + 160 + 32 = 197 > 192
    expect(encoder.table.length).toBe(0);
    expect(new HpackDecoder({ maxTableSize: 256 }).decode(block).headers).toEqual(['x-big', 'v'.repeat(160)]);
  });

  it('a static match is one octet; a static name reuses its index', () => {
    const encoder = new HpackEncoder();
    expect([...encoder.encode([':method', 'GET', ':status', '200'])]).toEqual([0x82, 0x88]);
    const block = encoder.encode(['content-type', 'application/grpc']);
    expect(block[0]).toBe(0x40 | 31);
  });
});

describe('HpackEncoder: table size', () => {
  it('keeps its table within its own maximum whatever the peer allows', () => {
    const encoder = new HpackEncoder({ maxTableSize: 256 });
    encoder.setPeerMaxTableSize(65_536);
    for (let i = 0; i < 50; i++) encoder.encode([`x-h${i}`, 'value']);
    expect(encoder.table.maxSize).toBe(256);
    expect(encoder.table.size).toBeLessThanOrEqual(256);
  });

  it('a smaller own maximum than 4,096 is announced at the start of the first block', () => {
    const block = new HpackEncoder({ maxTableSize: 256 }).encode([':method', 'GET']);
    expect(block.subarray(0, 3).toString('hex')).toBe('3fe101'); // size update to 256
    expect(block[3]).toBe(0x82);
  });

  it('a peer limit going down then up sends the smallest size first, then the final one (§4.2)', () => {
    const encoder = new HpackEncoder();
    encoder.encode(['x-a', 'filled']);
    encoder.setPeerMaxTableSize(0);
    encoder.setPeerMaxTableSize(1024);
    const decoder = new HpackDecoder();
    decoder.decode(new HpackEncoder().encode(['x-a', 'filled'])); // the peer's table as ours was
    const block = encoder.encode([':method', 'GET']);
    expect(block.toString('hex')).toBe('203fe10782'); // 0, then 1024, then :method GET
    expect(decoder.decode(block).headers).toEqual([':method', 'GET']);
    expect(decoder.table.length).toBe(0);
    expect(decoder.table.maxSize).toBe(1024);
  });
});
