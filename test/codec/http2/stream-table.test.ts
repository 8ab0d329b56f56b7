import { describe, expect, it } from 'vitest';
import { StreamTable } from '../../../src/codec/http2/stream-table.js';

const stream = (id: number) => ({ id });

describe('StreamTable', () => {
  it('finds, counts and removes streams by id', () => {
    const t = new StreamTable<{ id: number }>();
    const [a, b, c] = [stream(1), stream(3), stream(5)];
    t.add(a);
    t.add(b);
    t.add(c);
    expect(t.size).toBe(3);
    expect(t.get(3)).toBe(b);
    expect(t.has(5)).toBe(true);
    expect(t.get(7)).toBeUndefined();
    expect(t.delete(3)).toBe(true);
    expect(t.delete(3)).toBe(false);
    expect(t.size).toBe(2);
    expect(t.get(1)).toBe(a);
    expect(t.get(5)).toBe(c);
    expect(t.has(3)).toBe(false);
  });

  it('removes the first, last and only entries', () => {
    const t = new StreamTable<{ id: number }>();
    for (const id of [1, 3, 5, 7]) t.add(stream(id));
    expect(t.delete(7)).toBe(true);
    expect(t.delete(1)).toBe(true);
    expect(t.list().map((s) => s.id).sort()).toEqual([3, 5]);
    expect(t.delete(5)).toBe(true);
    expect(t.delete(3)).toBe(true);
    expect(t.size).toBe(0);
    expect(t.list()).toEqual([]);
  });

  it('lists a copy that stays whole while streams are removed during the iteration', () => {
    const t = new StreamTable<{ id: number }>();
    for (let id = 1; id < 20; id += 2) t.add(stream(id));
    const seen: number[] = [];
    for (const s of t.list()) {
      seen.push(s.id);
      t.delete(s.id);
    }
    expect(seen.sort((x, y) => x - y)).toEqual([1, 3, 5, 7, 9, 11, 13, 15, 17, 19]);
    expect(t.size).toBe(0);
  });

  it('keeps every stream through a long churn of adds and removes (as a connection at its limit)', () => {
    const t = new StreamTable<{ id: number }>();
    const open = new Set<number>();
    let next = 1;
    // deterministic pseudo-random order of finishing
    let seed = 7;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let step = 0; step < 5000; step++) {
      if (open.size < 100 && (open.size === 0 || rand() < 0.5)) {
        t.add(stream(next));
        open.add(next);
        next += 2;
      } else {
        const ids = [...open];
        const id = ids[Math.floor(rand() * ids.length)];
        expect(t.delete(id)).toBe(true);
        open.delete(id);
      }
      expect(t.size).toBe(open.size);
    }
    for (const id of open) expect(t.get(id)?.id).toBe(id);
  });
});
