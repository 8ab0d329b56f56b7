// The tests' port picker: never a port fetch() refuses (a proxy given it as its health port never
// looked ready: a CI run failed that way on :10080).
import { describe, expect, it } from 'vitest';
import { freePorts, isFetchBadPort } from './ports.js';

describe('freePorts', () => {
  it('knows the Fetch standard\'s bad port in its range, which fetch() itself refuses', async () => {
    expect(isFetchBadPort(10080)).toBe(true);
    expect(isFetchBadPort(10081)).toBe(false);
    await expect(fetch('http://127.0.0.1:10080/')).rejects.toThrow(/bad port|fetch failed/);
  });

  it('hands out distinct ports, none of them bad', async () => {
    const ports = await freePorts(200);
    expect(new Set(ports).size).toBe(200);
    expect(ports.filter(isFetchBadPort)).toEqual([]);
  });

  it('passes over the bad port when the draw lands on it', async () => {
    const draws = [10080];
    const ports = await freePorts(2, () => draws.shift() ?? 20_000 + Math.floor(Math.random() * 10_000));
    expect(draws).toEqual([]); // 10080 was tried
    expect(ports).toHaveLength(2);
    expect(ports.filter(isFetchBadPort)).toEqual([]);
  });
});
