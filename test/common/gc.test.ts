import { describe, expect, it } from 'vitest';
import { ReadPacer } from '../../src/common/gc.js';

describe('ReadPacer', () => {
  it('collects once per `every` bytes read, however the reads are sized', () => {
    let collections = 0;
    const pacer = new ReadPacer(1000, () => collections++);
    for (let i = 0; i < 9; i++) pacer.note(100);
    expect(collections).toBe(0);
    pacer.note(100);
    expect(collections).toBe(1);
    pacer.note(5000); // one big read: one collection, the count starts again
    expect(collections).toBe(2);
    for (let i = 0; i < 15; i++) pacer.note(64); // 960
    expect(collections).toBe(2);
    pacer.note(64);
    expect(collections).toBe(3);
  });
});
