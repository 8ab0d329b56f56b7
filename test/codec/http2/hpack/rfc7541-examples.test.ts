// RFC 7541 Appendix C: every example, decoded (headers and the dynamic table after each block) and,
// where nghttp2's indexing choices match the RFC's (C.3, C.4), encoded byte for byte.
import { describe, expect, it } from 'vitest';
import { HpackDecoder } from '../../../../src/codec/http2/hpack/decoder.js';
import { HpackEncoder } from '../../../../src/codec/http2/hpack/encoder.js';
import { decodeInteger } from '../../../../src/codec/http2/hpack/integer.js';
import { BlockWriter } from '../../../../src/codec/http2/hpack/writer.js';
import { entries, hex } from './hpack-test-helpers.js';

interface Step {
  block: string;
  headers: string[];
  /** Newest first. */
  table: [string, string][];
  size: number;
}

describe('C.1 integers', () => {
  it.each([
    [10, 5, '0a'],
    [1337, 5, '1f9a0a'],
    [42, 8, '2a'],
  ])('%d with a %d-bit prefix is %s, and back', (value, prefix, bytes) => {
    const w = new BlockWriter();
    w.integer(value, prefix, 0);
    expect(w.take().toString('hex')).toBe(bytes);
    expect(decodeInteger({ buf: hex(bytes), pos: 0 }, prefix)).toBe(value);
  });
});

describe('C.2 header field representations (one block each, fresh table)', () => {
  it.each<[string, string, string[], [string, string][]]>([
    ['C.2.1 literal with indexing', '400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572', ['custom-key', 'custom-header'], [['custom-key', 'custom-header']]],
    ['C.2.2 literal without indexing', '040c 2f73 616d 706c 652f 7061 7468', [':path', '/sample/path'], []],
    ['C.2.3 literal never indexed', '1008 7061 7373 776f 7264 0673 6563 7265 74', ['password', 'secret'], []],
    ['C.2.4 indexed', '82', [':method', 'GET'], []],
  ])('%s', (_, block, headers, table) => {
    const decoder = new HpackDecoder();
    const decoded = decoder.decode(hex(block));
    expect(decoded.headers).toEqual(headers);
    expect(entries(decoder.table)).toEqual(table);
  });

  it('C.2.3: the never-indexed name is reported, so a proxy sends it on the same way', () => {
    expect(new HpackDecoder().decode(hex('1008 7061 7373 776f 7264 0673 6563 7265 74')).neverIndexed).toEqual(['password']);
    expect(new HpackDecoder().decode(hex('82')).neverIndexed).toBeUndefined();
  });
});

const REQUESTS: [string[], [string, string][], number][] = [
  [[':method', 'GET', ':scheme', 'http', ':path', '/', ':authority', 'www.example.com'], [[':authority', 'www.example.com']], 57],
  [[':method', 'GET', ':scheme', 'http', ':path', '/', ':authority', 'www.example.com', 'cache-control', 'no-cache'], [['cache-control', 'no-cache'], [':authority', 'www.example.com']], 110],
  [
    [':method', 'GET', ':scheme', 'https', ':path', '/index.html', ':authority', 'www.example.com', 'custom-key', 'custom-value'],
    [['custom-key', 'custom-value'], ['cache-control', 'no-cache'], [':authority', 'www.example.com']],
    164,
  ],
];

const requestSteps = (blocks: string[]): Step[] => blocks.map((block, i) => ({ block, headers: REQUESTS[i][0], table: REQUESTS[i][1], size: REQUESTS[i][2] }));

const C3 = requestSteps([
  '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
  '8286 84be 5808 6e6f 2d63 6163 6865',
  '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65',
]);
const C4 = requestSteps([
  '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff',
  '8286 84be 5886 a8eb 1064 9cbf',
  '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf',
]);

const DATE1 = 'Mon, 21 Oct 2013 20:13:21 GMT';
const DATE2 = 'Mon, 21 Oct 2013 20:13:22 GMT';
const LOCATION = 'https://www.example.com';
const COOKIE = 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1';
const RESPONSES: [string[], [string, string][], number][] = [
  [
    [':status', '302', 'cache-control', 'private', 'date', DATE1, 'location', LOCATION],
    [['location', LOCATION], ['date', DATE1], ['cache-control', 'private'], [':status', '302']],
    222,
  ],
  [
    [':status', '307', 'cache-control', 'private', 'date', DATE1, 'location', LOCATION],
    [[':status', '307'], ['location', LOCATION], ['date', DATE1], ['cache-control', 'private']],
    222,
  ],
  [
    [':status', '200', 'cache-control', 'private', 'date', DATE2, 'location', LOCATION, 'content-encoding', 'gzip', 'set-cookie', COOKIE],
    [['set-cookie', COOKIE], ['content-encoding', 'gzip'], ['date', DATE2]],
    215,
  ],
];
const responseSteps = (blocks: string[]): Step[] => blocks.map((block, i) => ({ block, headers: RESPONSES[i][0], table: RESPONSES[i][1], size: RESPONSES[i][2] }));

const C5 = responseSteps([
  `4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
   2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d`,
  '4803 3330 37c1 c0bf',
  `88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
   54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
   5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31`,
]);
const C6 = responseSteps([
  `4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
   2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3`,
  '4883 640e ffc1 c0bf',
  `88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
   77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
   9587 3160 65c0 03ed 4ee5 b106 3d50 07`,
]);

describe.each<[string, Step[], number]>([
  ['C.3 requests without Huffman', C3, 4096],
  ['C.4 requests with Huffman', C4, 4096],
  ['C.5 responses without Huffman (table 256, evictions)', C5, 256],
  ['C.6 responses with Huffman (table 256, evictions)', C6, 256],
])('%s: decoded on one connection', (_, steps, tableSize) => {
  const decoder = new HpackDecoder({ maxTableSize: tableSize });
  it.each(steps.map((s, i) => [i + 1, s] as const))('block %d: headers, then the dynamic table and its size', (_n, step) => {
    expect(decoder.decode(hex(step.block)).headers).toEqual(step.headers);
    expect(entries(decoder.table)).toEqual(step.table);
    expect(decoder.table.size).toBe(step.size);
  });
});

describe.each<[string, Step[], boolean]>([
  ['C.3', C3, false],
  ['C.4', C4, true],
])('%s: encoded on one connection, byte for byte', (_, steps, huffman) => {
  const encoder = new HpackEncoder({ huffman });
  it.each(steps.map((s, i) => [i + 1, s] as const))('block %d', (_n, step) => {
    expect(encoder.encode(step.headers).toString('hex')).toBe(hex(step.block).toString('hex'));
    expect(entries(encoder.table)).toEqual(step.table);
    expect(encoder.table.size).toBe(step.size);
  });
});

describe.each<[string, boolean]>([
  ['C.5', false],
  ['C.6', true],
])('%s responses: encoded, then decoded by a peer with a 256-octet table', (_, huffman) => {
  // nghttp2 (and so this encoder) never indexes `location` or `set-cookie`: the RFC's blocks differ,
  // what they carry does not
  it('the same header lists arrive, the tables stay in step, and location / set-cookie stay out of them', () => {
    const encoder = new HpackEncoder({ maxTableSize: 256, huffman });
    const decoder = new HpackDecoder({ maxTableSize: 256 });
    for (const [headers] of RESPONSES) {
      expect(decoder.decode(encoder.encode(headers)).headers).toEqual(headers);
      expect(entries(decoder.table)).toEqual(entries(encoder.table));
      expect(decoder.table.size).toBe(encoder.table.size);
      expect(entries(encoder.table).map(([name]) => name)).not.toContain('location');
      expect(entries(encoder.table).map(([name]) => name)).not.toContain('set-cookie');
    }
  });
});
