// Seeded random header lists through one encoder and one decoder, as over one connection: what
// arrives is what was sent, and both dynamic tables stay the same.
import { describe, expect, it } from 'vitest';
import { HpackDecoder } from '../../../../src/codec/http2/hpack/decoder.js';
import { HpackEncoder } from '../../../../src/codec/http2/hpack/encoder.js';
import { STATIC_TABLE } from '../../../../src/codec/http2/hpack/static-table.js';
import { entries } from './hpack-test-helpers.js';
import { seeded } from './seeded-random.js';

const NAMES = [...new Set(STATIC_TABLE.map(([n]) => n)), 'x-request-id', 'x-b3-traceid', 'grpc-timeout', 'te', 'x-custom'];

function randomList(random: (n: number) => number): string[] {
  const list: string[] = [];
  const count = random(20);
  for (let i = 0; i < count; i++) {
    const r = random(10);
    if (r < 3) {
      // a static entry as it is
      const [name, value] = STATIC_TABLE[random(STATIC_TABLE.length)];
      list.push(name, value);
    } else {
      const name = r < 8 ? NAMES[random(NAMES.length)] : `x-${random(1000)}`;
      // values from a small set repeat (indexed), others are new; any octet may appear
      const value = random(2) ? `v${random(8)}` : String.fromCharCode(...Array.from({ length: random(80) }, () => random(256)));
      list.push(name, value);
    }
  }
  return list;
}

describe('round trips', () => {
  it.each<[string, number, number, number]>([
    ['default tables', 1, 4096, 4096],
    ['a small table (many evictions)', 2, 256, 256],
    ['no table', 3, 0, 0],
    ['the encoder below the decoder limit', 4, 1024, 4096],
  ])('%s: 300 lists', (_, seed, encoderMax, decoderMax) => {
    const random = seeded(seed);
    const encoder = new HpackEncoder({ maxTableSize: encoderMax });
    const decoder = new HpackDecoder({ maxTableSize: decoderMax });
    encoder.setPeerMaxTableSize(decoderMax);
    for (let n = 0; n < 300; n++) {
      const list = randomList(random);
      const sensitive = random(4) === 0 ? [list[0]].filter(Boolean) : undefined;
      const decoded = decoder.decode(encoder.encode(list, sensitive));
      expect(decoded.headers).toEqual(list);
      if (sensitive?.length) expect(decoded.neverIndexed).toContain(sensitive[0]);
      expect(entries(decoder.table)).toEqual(entries(encoder.table));
      expect(decoder.table.size).toBe(encoder.table.size);
    }
  });

  it('a table size change mid-connection: the decoder limit lowered, the encoder told', () => {
    const random = seeded(5);
    const encoder = new HpackEncoder();
    const decoder = new HpackDecoder();
    for (let n = 0; n < 50; n++) decoder.decode(encoder.encode(randomList(random)));
    decoder.setMaxTableSize(128);
    encoder.setPeerMaxTableSize(128);
    for (let n = 0; n < 50; n++) {
      const list = randomList(random);
      expect(decoder.decode(encoder.encode(list)).headers).toEqual(list);
      expect(decoder.table.size).toBeLessThanOrEqual(128);
    }
  });
});
