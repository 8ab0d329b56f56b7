import type { FilterChain, HttpConnectionManager, Snapshot } from './snapshot.js';

/** The connection manager timeouts set on the command line (milliseconds, 0: off); absent ones keep the config's. */
export interface HttpTimeoutOverrides {
  streamIdleTimeoutMs?: number;
  requestTimeoutMs?: number;
  requestHeadersTimeoutMs?: number;
  maxStreamDurationMs?: number;
}

/** The Snapshot with the overrides set on every HTTP connection manager of every listener. */
export function withHttpTimeouts(snapshot: Snapshot, overrides: HttpTimeoutOverrides): Snapshot {
  if (Object.keys(overrides).length === 0) return snapshot;
  // a connection manager shared by several chains stays one object (the worker compiles it once)
  const updated = new Map<HttpConnectionManager, HttpConnectionManager>();
  const hcm = (h: HttpConnectionManager) => updated.get(h) ?? updated.set(h, { ...h, ...overrides }).get(h)!;
  const chain = (c: FilterChain): FilterChain => (c.http ? { ...c, http: hcm(c.http) } : c);
  const listeners = snapshot.listeners.map((l) => ({
    ...l,
    filterChains: l.filterChains.map(chain),
    ...(l.defaultFilterChain ? { defaultFilterChain: chain(l.defaultFilterChain) } : {}),
  }));
  return { ...snapshot, listeners };
}
