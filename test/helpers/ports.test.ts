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
});
