// The Huffman code, its 4-bit decoding state machine and the encoder, against the RFC's code table
// and each other.
import { describe, expect, it } from 'vitest';
import { CODE_LENGTHS, CODES, EOS } from '../../../../src/codec/http2/hpack/huffman-code.js';
import { huffmanDecode } from '../../../../src/codec/http2/hpack/huffman-decode.js';
import { huffmanEncode, huffmanLength } from '../../../../src/codec/http2/hpack/huffman-encode.js';
import { hex } from './hpack-test-helpers.js';
import { seeded } from './seeded-random.js';

function encode(s: string): Buffer {
  const out = Buffer.alloc(huffmanLength(s));
  expect(huffmanEncode(s, out, 0)).toBe(out.length);
  return out;
}

describe('the code worked out from the bit lengths', () => {
  // spot checks against RFC 7541 Appendix B
  it.each<[number, number, number]>([
    [0, 0x1ff8, 13],
    [0x20, 0x14, 6], // ' '
    [0x30, 0x0, 5], // '0'
    [0x61, 0x3, 5], // 'a'
    [0x7f, 0xffffffc, 28],
    [0xff, 0x3ffffee, 26],
    [EOS, 0x3fffffff, 30],
  ])('symbol %d is %s in %d bits', (symbol, code, length) => {
    expect(CODES[symbol]).toBe(code);
    expect(CODE_LENGTHS[symbol]).toBe(length);
  });
});

describe('decoding', () => {
  it.each([
    ['f1e3 c2e5 f23a 6ba0 ab90 f4ff', 'www.example.com'],
    ['a8eb 1064 9cbf', 'no-cache'],
    ['6402', '302'],
    ['9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3', 'https://www.example.com'],
  ])('%s is %j', (bytes, text) => {
    const b = hex(bytes);
    expect(huffmanDecode(b, 0, b.length)).toBe(text);
  });

  it('an empty string', () => {
    expect(huffmanDecode(Buffer.alloc(0), 0, 0)).toBe('');
  });

  it('only the given range', () => {
    const b = Buffer.concat([Buffer.from([0x00]), hex('6402'), Buffer.from([0x00])]);
    expect(huffmanDecode(b, 1, 3)).toBe('302');
  });
});

describe('encoding', () => {
  it('the RFC strings', () => {
    expect(encode('www.example.com').toString('hex')).toBe('f1e3c2e5f23a6ba0ab90f4ff');
    expect(encode('Mon, 21 Oct 2013 20:13:21 GMT').toString('hex')).toBe('d07abe941054d444a8200595040b8166e082a62d1bff');
  });

  it('every octet, the long codes included, survives a round trip', () => {
    const all = String.fromCharCode(...Array.from({ length: 256 }, (_, i) => i));
    const coded = encode(all);
    expect(huffmanDecode(coded, 0, coded.length)).toBe(all);
  });

  it('seeded random strings (500 of up to 64 octets) survive a round trip', () => {
    const random = seeded(7541);
    for (let n = 0; n < 500; n++) {
      const s = String.fromCharCode(...Array.from({ length: random(65) }, () => random(256)));
      const coded = encode(s);
      expect(huffmanDecode(coded, 0, coded.length)).toBe(s);
    }
  });
});
