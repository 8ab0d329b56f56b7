import { describe, expect, it } from 'vitest';
import { sortSlice } from '../../../src/cli/proxy-config/go-sort.js';

interface Item {
  key: number;
  label: string;
}

function items(keys: number[]): Item[] {
  return keys.map((key, i) => ({ key, label: String.fromCharCode(97 + (i % 26)) + (i >= 26 ? String(i) : '') }));
}

function random(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 31;
  };
}

describe('sortSlice (Go sort.Slice: pdqsort)', () => {
  it('leaves equal elements where Go leaves them, not in a stable order', () => {
    // 13 elements (past the insertion-sort cutoff of 12): the partition swaps the pivot (index 6) to the front
    const data = items([5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    sortSlice(data, (a, b) => a.key < b.key);
    expect(data.map((d) => d.label).join('')).toBe('gbcdefhijklma');
  });

  it('up to 12 elements: insertion sort, so stable', () => {
    const data = items([2, 1, 2, 1, 0, 2, 1, 0, 0, 2, 1, 0]);
    sortSlice(data, (a, b) => a.key < b.key);
    expect(data.map((d) => d.label).join('')).toBe('ehilbdgkacfj');
  });

  it('sorts any input: sizes past the ninther threshold, many duplicates, runs and reversed runs', () => {
    const next = random(7);
    for (const n of [0, 1, 2, 13, 49, 50, 51, 200, 1000]) {
      const inputs = [
        Array.from({ length: n }, () => Math.floor(next() * 10)),
        Array.from({ length: n }, () => Math.floor(next() * 1e6)),
        Array.from({ length: n }, (_, i) => n - i),
        Array.from({ length: n }, (_, i) => (i % 7 === 0 ? -i : i)),
      ];
      for (const keys of inputs) {
        const data = items(keys);
        sortSlice(data, (a, b) => a.key < b.key);
        expect(data.map((d) => d.key)).toEqual([...keys].sort((a, b) => a - b));
      }
    }
  });

  it('terminates with a comparator that is not a strict weak order (istioctl sorts route names so)', () => {
    const names = Array.from({ length: 40 }, (_, i) => (i % 3 === 0 ? `name-${i}` : String(40 - i)));
    sortSlice(names, (a, b) => /^\d+$/.test(a) && /^\d+$/.test(b) && Number(a) < Number(b));
    expect(names).toHaveLength(40);
    expect(new Set(names).size).toBe(40);
  });
});
