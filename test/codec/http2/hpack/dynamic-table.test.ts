// The dynamic table's size accounting (RFC 7541 §4.1) and eviction (§4.3, §4.4).
import { describe, expect, it } from 'vitest';
import { DynamicTable, entrySize } from '../../../../src/codec/http2/hpack/dynamic-table.js';
import { entries } from './hpack-test-helpers.js';

describe('DynamicTable', () => {
  it('counts name + value octets + 32 per entry, newest at index 1', () => {
    const t = new DynamicTable(4096);
    t.add('a', 'bc');
    t.add('custom-key', 'custom-value');
    expect(t.size).toBe(35 + 54);
    expect(entrySize('custom-key', 'custom-value')).toBe(54);
    expect(entries(t)).toEqual([['custom-key', 'custom-value'], ['a', 'bc']]);
  });

  it('evicts the oldest entries until a new one fits', () => {
    const t = new DynamicTable(100);
    t.add('a', '1'.repeat(20)); // 53
    t.add('b', '2'.repeat(10)); // 43: 96
    t.add('c', '3'); // 34: evicts a → 77
    expect(entries(t).map(([n]) => n)).toEqual(['c', 'b']);
    expect(t.size).toBe(77);
  });

  it('an entry bigger than the table empties it and is not added (§4.4)', () => {
    const t = new DynamicTable(100);
    t.add('a', 'x');
    t.add('big', 'y'.repeat(100));
    expect(t.length).toBe(0);
    expect(t.size).toBe(0);
  });

  it('a smaller maximum evicts down to it; 0 empties the table', () => {
    const t = new DynamicTable(4096);
    for (let i = 0; i < 10; i++) t.add(`n${i}`, 'v'); // 36 each
    t.setMaxSize(100);
    expect(entries(t).map(([n]) => n)).toEqual(['n9', 'n8']);
    t.setMaxSize(0);
    expect(t.length).toBe(0);
  });

  it('keeps order across its ring growing and wrapping (200 entries through a 40-entry table)', () => {
    const t = new DynamicTable(40 * 36);
    const evicted: number[] = [];
    const watched = new DynamicTable(40 * 36, (_n, _v, seq) => evicted.push(seq));
    for (let i = 0; i < 200; i++) {
      const name = `k${String(i).padStart(3, '0')}`; // 4 + 0 + 32 = 36
      t.add(name, '');
      watched.add(name, '');
    }
    expect(t.length).toBe(40);
    expect(t.name(1)).toBe('k199');
    expect(t.name(40)).toBe('k160');
    expect(evicted).toEqual(Array.from({ length: 160 }, (_, i) => i));
  });
});
