import { describe, expect, it } from 'vitest';
import { withHttpTimeouts } from '../../src/config/http-timeouts.js';
import type { FilterChain, HttpConnectionManager, Snapshot } from '../../src/config/snapshot.js';
import { gatewayNode, hcmOf, listener, translate } from './helpers.js';

const SE = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: web }
spec:
  hosts: [web.example]
  ports: [{ number: 80, name: http, protocol: HTTP }]
  resolution: DNS
`;
const GATEWAY = `---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: gw, namespace: istio-system }
spec:
  selector: { istio: ingressgateway }
  servers: [{ port: { number: 8080, name: http, protocol: HTTP }, hosts: ["*"] }]
`;

function connectionManagers(s: Snapshot): HttpConnectionManager[] {
  const chains: FilterChain[] = s.listeners.flatMap((l) => [...l.filterChains, ...(l.defaultFilterChain ? [l.defaultFilterChain] : [])]);
  return chains.flatMap((c) => (c.http ? [c.http] : []));
}

describe('connection manager timeouts', () => {
  it('istiod turns stream_idle_timeout off on every connection manager, sidecar and gateway, and sets no other', () => {
    for (const t of [translate(SE), translate(SE + GATEWAY, gatewayNode())]) {
      const hcms = connectionManagers(t.snapshot);
      expect(hcms.length).toBeGreaterThan(0);
      for (const h of hcms) {
        expect(h.streamIdleTimeoutMs).toBe(0);
        expect(h.requestTimeoutMs ?? 0).toBe(0);
        expect(h.requestHeadersTimeoutMs ?? 0).toBe(0);
        expect(h.maxStreamDurationMs ?? 0).toBe(0);
      }
    }
  });

  it('the command-line values go on every connection manager; the rest of the config is kept', () => {
    const t = translate(SE + GATEWAY, gatewayNode());
    const before = hcmOf(listener(t, '0.0.0.0_8080'));
    const s = withHttpTimeouts(t.snapshot, { streamIdleTimeoutMs: 3_000, maxStreamDurationMs: 60_000 });
    const after = hcmOf(listener({ ...t, snapshot: s }, '0.0.0.0_8080'));
    expect(after).toEqual({ ...before, streamIdleTimeoutMs: 3_000, maxStreamDurationMs: 60_000 });
    expect(after.requestTimeoutMs).toBeUndefined();
    for (const h of connectionManagers(s)) expect(h.streamIdleTimeoutMs).toBe(3_000);
    expect(s.clusters).toBe(t.snapshot.clusters);
    expect(withHttpTimeouts(t.snapshot, {})).toBe(t.snapshot);
  });

  it('a connection manager shared by several chains stays one object', () => {
    const t = translate(SE);
    const shared = connectionManagers(t.snapshot)[0];
    const l = t.snapshot.listeners[0];
    const snapshot: Snapshot = { ...t.snapshot, listeners: [{ ...l, filterChains: [{ name: 'a', match: {}, http: shared }, { name: 'b', match: {}, http: shared }] }] };
    const [a, b] = withHttpTimeouts(snapshot, { requestTimeoutMs: 1_000 }).listeners[0].filterChains;
    expect(a.http).toBe(b.http);
    expect(a.http?.requestTimeoutMs).toBe(1_000);
  });
});
