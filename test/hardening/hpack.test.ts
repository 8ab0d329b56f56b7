// Hostile header blocks against the HPACK decoder: each is refused with the failure named and the
// HTTP/2 error the connection answers with (COMPRESSION_ERROR for the connection; a header list
// over its limits fails the stream only, with the dynamic table kept in step).
import { describe, expect, it } from 'vitest';
import { HpackDecoder } from '../../src/codec/http2/hpack/decoder.js';
import { HpackEncoder } from '../../src/codec/http2/hpack/encoder.js';
import { H2_COMPRESSION_ERROR, HeaderListTooLargeError, HpackDecodingError, type HpackFailure } from '../../src/codec/http2/hpack/errors.js';
import { BlockWriter } from '../../src/codec/http2/hpack/writer.js';
import { entries, hex } from '../codec/http2/hpack/hpack-test-helpers.js';

/** A literal with incremental indexing, new name, raw strings (whatever the encoder would choose). */
function indexedLiteral(name: string, value: string): Buffer {
  const w = new BlockWriter();
  w.integer(0, 6, 0x40);
  for (const s of [name, value]) {
    w.integer(s.length, 7, 0);
    w.ensure(s.length);
    w.pos += w.buf.write(s, w.pos, 'latin1');
  }
  return w.take();
}

/** What decoding `block` throws (it must throw). */
function refusal(decoder: HpackDecoder, block: Buffer): unknown {
  try {
    decoder.decode(block);
  } catch (err) {
    return err;
  }
  throw new Error(`decoded without an error: ${block.toString('hex')}`);
}

function expectFailure(block: Buffer, failure: HpackFailure, decoder = new HpackDecoder()): void {
  const err = refusal(decoder, block);
  expect(err).toBeInstanceOf(HpackDecodingError);
  expect((err as HpackDecodingError).failure).toBe(failure);
  expect((err as HpackDecodingError).code).toBe(H2_COMPRESSION_ERROR);
}

describe('integers', () => {
  it('an index of 2^31 + 126 (past 2^31 - 1)', () => expectFailure(hex('ff ff ff ff ff 07'), 'integer-overflow'));
  it('more than 5 continuation bytes, even adding nothing', () => expectFailure(hex('ff 80 80 80 80 80 80 01'), 'integer-overflow'));
  it('a string length past 2^31', () => expectFailure(hex('00 7f ff ff ff ff 0f'), 'integer-overflow'));
  it('an integer cut off by the end of the block', () => expectFailure(hex('ff 80'), 'truncated'));
});

describe('string literals', () => {
  it('a length past the end of the block', () => expectFailure(hex('40 0a 616263'), 'truncated'));
  it('a value missing after its name', () => expectFailure(hex('40 01 61'), 'truncated'));
  it('EOS inside a Huffman string', () => expectFailure(hex('00 84 ffffffff 00'), 'huffman-eos'));
  it('Huffman padding of 8 bits or more', () => expectFailure(hex('00 01 61 83 6402ff'), 'huffman-padding'));
  it('Huffman padding that is not all ones', () => expectFailure(hex('00 01 61 81 18'), 'huffman-padding'));
  it('the same string with its padding right decodes', () => {
    expect(new HpackDecoder().decode(hex('00 01 61 81 1f')).headers).toEqual(['a', 'a']);
  });
});

describe('indexes', () => {
  it('index 0', () => expectFailure(hex('80'), 'index-zero'));
  it('an indexed field past the static table with the dynamic one empty', () => expectFailure(hex('be'), 'index-out-of-range'));
  it('a literal whose name index is past both tables', () => expectFailure(hex('7f 07 01 61'), 'index-out-of-range'));
  it('a huge index', () => expectFailure(hex('ff ff ff ff ff 03'), 'index-out-of-range'));
});

describe('dynamic table size updates', () => {
  it('over the SETTINGS_HEADER_TABLE_SIZE limit (4,097 > 4,096)', () => expectFailure(hex('3f e2 1f'), 'table-size-update-over-limit'));

  it('after a field, in the middle of a block', () => expectFailure(hex('82 20'), 'table-size-update-not-at-start'));

  it('missing after our limit went down below the table size', () => {
    const decoder = new HpackDecoder();
    decoder.decode(new HpackEncoder().encode(['x-a', 'a'.repeat(200)]));
    decoder.setMaxTableSize(100);
    expectFailure(hex('82'), 'table-size-update-missing', decoder);
  });

  it('an empty block after the limit went down', () => {
    const decoder = new HpackDecoder();
    decoder.setMaxTableSize(0);
    expectFailure(Buffer.alloc(0), 'table-size-update-missing', decoder);
  });

  it('one update under the new limit at the start makes the block valid and evicts', () => {
    const decoder = new HpackDecoder();
    decoder.decode(new HpackEncoder().encode(['x-a', 'a'.repeat(200)]));
    decoder.setMaxTableSize(100);
    expect(refusal(new HpackDecoder({ maxTableSize: 100 }), hex('3f 46'))).toBeInstanceOf(HpackDecodingError); // 101 > 100
    expect(decoder.decode(hex('3f 45 82')).headers).toEqual([':method', 'GET']); // 100
    expect(decoder.table.length).toBe(0);
  });
});

describe('header list limits (a stream error: the block is read to its end)', () => {
  it('a list bigger than SETTINGS_MAX_HEADER_LIST_SIZE, counted as RFC 9113 §6.5.2 counts it', () => {
    const encoder = new HpackEncoder();
    // :method GET is 7 + 3 + 32 = 42; x-a: 3 + 20 + 32 = 55 → 97
    const fits = encoder.encode([':method', 'GET', 'x-a', 'a'.repeat(20)]);
    expect(new HpackDecoder({ maxHeaderListSize: 97 }).decode(fits).headers).toHaveLength(4);
    const err = refusal(new HpackDecoder({ maxHeaderListSize: 96 }), new HpackEncoder().encode([':method', 'GET', 'x-a', 'a'.repeat(20)]));
    expect(err).toBeInstanceOf(HeaderListTooLargeError);
    expect((err as HeaderListTooLargeError).limit).toBe('header-list-size');
  });

  it('more fields than the count limit', () => {
    const err = refusal(new HpackDecoder({ maxHeaderCount: 3 }), hex('82 86 84 87'));
    expect((err as HeaderListTooLargeError).limit).toBe('header-count');
  });

  it('fields past the limit still enter the dynamic table, so the next block decodes', () => {
    const encoder = new HpackEncoder();
    const decoder = new HpackDecoder({ maxHeaderListSize: 100 });
    const big = ['x-one', 'a'.repeat(80), 'x-two', 'b'.repeat(10)];
    expect(refusal(decoder, encoder.encode(big))).toBeInstanceOf(HeaderListTooLargeError);
    expect(entries(decoder.table)).toEqual(entries(encoder.table));
    expect(decoder.decode(encoder.encode(['x-two', 'b'.repeat(10)])).headers).toEqual(['x-two', 'b'.repeat(10)]);
  });

  it('one large entry referenced 10,000 times (a header list bomb) stops at the limit, nothing built past it', () => {
    const decoder = new HpackDecoder({ maxHeaderListSize: 16_384 });
    const block = Buffer.concat([indexedLiteral('x-bomb', 'z'.repeat(4000)), Buffer.alloc(10_000, 0xbe)]);
    const err = refusal(decoder, block);
    expect((err as HeaderListTooLargeError).limit).toBe('header-list-size');
    expect((err as HeaderListTooLargeError).max).toBe(16_384);
  });
});

describe('a block that grows the dynamic table and then evicts from it', () => {
  // table of 256: five 70-octet entries (4 + 34 + 32) leave the newest three
  const fields = Array.from({ length: 5 }, (_, i) => [`x-${i}`, `${i}`.repeat(35)]).flat();

  it('in one block: the evicted entries are gone, the rest at the right indexes', () => {
    const decoder = new HpackDecoder({ maxTableSize: 256 });
    const encoder = new HpackEncoder({ maxTableSize: 256 });
    const block = encoder.encode(fields);
    expect(decoder.decode(block.subarray(3)).headers).toEqual(fields); // without the encoder's size update: 256 already
    expect(entries(decoder.table).map(([n]) => n)).toEqual(['x-4', 'x-3', 'x-2']);
    expect(decoder.table.size).toBe(3 * 70);
    expect(decoder.decode(hex('c0')).headers).toEqual(['x-2', '2'.repeat(35)]); // 64: the oldest held
    expectFailure(hex('c1'), 'index-out-of-range', decoder); // 65: evicted
  });

  it('an entry read by index and then evicted by a later literal of the same block keeps the value read', () => {
    const decoder = new HpackDecoder({ maxTableSize: 100 });
    decoder.decode(indexedLiteral('x-a', 'v'.repeat(40))); // 75 octets
    const block = Buffer.concat([hex('be'), indexedLiteral('x-b', 'w'.repeat(40))]); // x-a, then 75 more: x-a goes
    expect(decoder.decode(block).headers).toEqual(['x-a', 'v'.repeat(40), 'x-b', 'w'.repeat(40)]);
    expect(entries(decoder.table)).toEqual([['x-b', 'w'.repeat(40)]]);
  });
});
