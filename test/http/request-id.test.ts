import { describe, expect, it } from 'vitest';
import { newRequestId } from '../../src/http/request-id.js';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('newRequestId', () => {
  it('makes version 4 UUIDs in lower-case hex', () => {
    for (let i = 0; i < 1000; i++) expect(newRequestId()).toMatch(UUID_V4);
  });

  it('does not repeat across pool refills (256 ids a refill)', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) seen.add(newRequestId());
    expect(seen.size).toBe(2000);
  });

  it('spreads the random digits over every position', () => {
    // each of the 30 random hex digits takes many values over 2,000 ids (fixed ones: version, variant high bits)
    const values = Array.from({ length: 36 }, () => new Set<string>());
    for (let i = 0; i < 2000; i++) [...newRequestId()].forEach((c, j) => values[j].add(c));
    const counts = values.map((s) => s.size);
    for (const dash of [8, 13, 18, 23]) expect(counts[dash]).toBe(1);
    expect(counts[14]).toBe(1); // the version digit
    expect(counts[19]).toBe(4); // 8, 9, a, b
    for (let j = 0; j < 36; j++) if (![8, 13, 14, 18, 19, 23].includes(j)) expect(counts[j]).toBe(16);
  });
});
