import { describe, expect, it } from 'vitest';
import { DownstreamConnectionLimits, type ConnectionLimitSettings } from '../../src/listener/connection-limits.js';
import { Resource, ResourceTable } from '../../src/upstream/resource-limits.js';

/** A listener's name and the row the agent gave it (none: no row). */
function listener(name: string, connectionSlot?: number): [string, number | undefined] {
  return [name, connectionSlot];
}

/** Two workers' views of one shared table. */
function workers(settings: ConnectionLimitSettings) {
  const table = DownstreamConnectionLimits.createTable(4, 2);
  return { table, w0: new DownstreamConnectionLimits(table, 0, settings), w1: new DownstreamConnectionLimits(table, 1, settings) };
}

describe('DownstreamConnectionLimits', () => {
  it('the global limit holds for the process: connections on either worker count against it', () => {
    const { w0, w1 } = workers({ maxDownstreamConnections: 3, listenerLimits: {} });
    const a = listener('a', 0);
    const admitted = [w0.forListener(...a).admit(), w1.forListener(...a).admit(), w0.forListener(...listener('b', 1)).admit()];
    expect(admitted.every((r) => typeof r === 'function')).toBe(true);
    expect(w1.forListener(...a).admit()).toBe('global');
    (admitted[1] as () => void)();
    expect(typeof w1.forListener(...a).admit()).toBe('function');
  });

  it('a listener limit counts that listener across workers; its refusal gives the global place back', () => {
    const { table, w0, w1 } = workers({ maxDownstreamConnections: 3, listenerLimits: { a: 1 } });
    const a = listener('a', 0);
    const release = w0.forListener(...a).admit();
    expect(typeof release).toBe('function');
    expect(w1.forListener(...a).admit()).toBe('listener');
    // the refused one took no global place: two more on another listener fit
    expect(typeof w1.forListener(...listener('b', 1)).admit()).toBe('function');
    expect(typeof w1.forListener(...listener('b', 1)).admit()).toBe('function');
    expect(w1.forListener(...listener('b', 1)).admit()).toBe('global');
    (release as () => void)();
    expect(new ResourceTable(table, -1).total(DownstreamConnectionLimits.row(0), Resource.Connections)).toBe(0);
  });

  it('`*` limits every listener without its own limit; no limit configured admits everything', () => {
    const { w0 } = workers({ listenerLimits: { '*': 1, b: 2 } });
    expect(typeof w0.forListener(...listener('a', 0)).admit()).toBe('function');
    expect(w0.forListener(...listener('a', 0)).admit()).toBe('listener');
    expect(typeof w0.forListener(...listener('b', 1)).admit()).toBe('function');
    expect(typeof w0.forListener(...listener('b', 1)).admit()).toBe('function');
    expect(w0.forListener(...listener('b', 1)).admit()).toBe('listener');
    const open = workers({ listenerLimits: {} }).w0;
    for (let i = 0; i < 100; i++) expect(typeof open.forListener(...listener('a', 0)).admit()).toBe('function');
  });

  it("a crashed worker's connections are forgotten when its row is zeroed", () => {
    const { table, w0, w1 } = workers({ maxDownstreamConnections: 2, listenerLimits: {} });
    w1.forListener(...listener('a', 0)).admit();
    w1.forListener(...listener('a', 0)).admit();
    expect(w0.forListener(...listener('a', 0)).admit()).toBe('global');
    new ResourceTable(table, -1).zeroWorker(1);
    expect(typeof w0.forListener(...listener('a', 0)).admit()).toBe('function');
  });
});
