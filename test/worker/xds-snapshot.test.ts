// The data plane takes what xDS decoding gives: every listener of a sidecar's config dump that
// decodes, with the route configurations its connection managers carry inline, compiles into a
// worker Runtime (filter factories, RBAC engines, route tables, per-route configs).
import { describe, expect, it } from 'vitest';
import { deepFreeze } from '../../src/common/deep-freeze.js';
import { decodeListener } from '../../src/config/envoy/decode/listener.js';
import type { Listener, RouteConfiguration, Snapshot } from '../../src/config/snapshot.js';
import { WorkerStats } from '../../src/telemetry/stats.js';
import { Runtime } from '../../src/worker/runtime.js';
import { sidecarNode } from '../config/helpers.js';
import { dumpListeners } from '../config/envoy/decode/dumps.js';

describe('a Snapshot of decoded listeners', () => {
  it("compiles as a worker compiles it: istiod's sidecar listeners, inline routes, RBAC and ext_authz", () => {
    const listeners: Listener[] = [];
    const routeConfigs: RouteConfiguration[] = [];
    const ctx = { node: sidecarNode(), warn: () => {} };
    for (const l of dumpListeners('authz/testdata/configdump.yaml')) {
      let d;
      try {
        d = decodeListener(l.message, ctx);
      } catch {
        continue; // the HBONE listeners, refused (listener.test.ts)
      }
      listeners.push(d.listener);
      routeConfigs.push(...d.routeConfigs);
    }
    expect(listeners.length).toBe(26);
    const snapshot: Snapshot = deepFreeze({ version: '1', node: sidecarNode(), listeners, routeConfigs, clusters: [], endpoints: [], secrets: [], resourceVersions: { clusters: {}, endpoints: {}, secrets: {} } });
    const rt = new Runtime(snapshot, { stats: new WorkerStats() });
    const inbound = rt.listeners.get('virtualInbound')!;
    expect(inbound.chains.get('0.0.0.0_80')?.http?.filters.map((f) => f.name)).toEqual(['envoy.filters.http.rbac', 'envoy.filters.http.fault', 'envoy.filters.http.cors']);
    expect(inbound.inspectors(15006)).toEqual({ tls: false, http: false });
    // hand-off targets: exact address, then the wildcard of the port
    expect(rt.listenerForAddress('10.96.0.10', 53)?.config.name).toBe('10.96.0.10_53');
    expect(rt.listenerForAddress('10.1.2.3', 9080)?.config.name).toBe('0.0.0.0_9080');
    expect(rt.listenerForAddress('10.1.2.3', 9081)).toBeUndefined();
  });
});
