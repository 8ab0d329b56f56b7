import { describe, expect, it } from 'vitest';
import { translateIstio } from '../../src/config/istio/translate.js';
import type { FilterChain, HttpConnectionManager, HttpTimeoutOverrides, Snapshot } from '../../src/config/snapshot.js';
import { chainHcm, gatewayNode, hcmOf, listener, parseYaml, sidecarNode, translate } from './helpers.js';

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

function translateWith(text: string, node: ReturnType<typeof sidecarNode>, httpTimeouts: HttpTimeoutOverrides) {
  return translateIstio(parseYaml(text, node.namespace), node, { outboundPort: 15001, httpTimeouts });
}

function connectionManagers(s: Snapshot): HttpConnectionManager[] {
  const chains: FilterChain[] = s.listeners.flatMap((l) => [...l.filterChains, ...(l.defaultFilterChain ? [l.defaultFilterChain] : [])]);
  return chains.flatMap((c) => chainHcm(c) ?? []);
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
    const node = gatewayNode();
    const before = hcmOf(listener(translate(SE + GATEWAY, node), '0.0.0.0_8080'));
    const t = translateWith(SE + GATEWAY, node, { streamIdleTimeoutMs: 3_000, maxStreamDurationMs: 60_000 });
    const after = hcmOf(listener(t, '0.0.0.0_8080'));
    expect(after).toEqual({ ...before, streamIdleTimeoutMs: 3_000, maxStreamDurationMs: 60_000 });
    expect(after.requestTimeoutMs).toBeUndefined();
    for (const h of connectionManagers(t.snapshot)) expect(h.streamIdleTimeoutMs).toBe(3_000);
    // no override: istiod's values stay
    expect(hcmOf(listener(translateWith(SE + GATEWAY, node, {}), '0.0.0.0_8080'))).toEqual(before);
  });

  it('sidecar connection managers get them too, each once (a manager shared by chains is one object)', () => {
    const t = translateWith(SE, sidecarNode(), { requestTimeoutMs: 1_000 });
    const hcms = connectionManagers(t.snapshot);
    expect(hcms.length).toBeGreaterThan(1);
    for (const h of hcms) expect(h.requestTimeoutMs).toBe(1_000);
  });
});
