// istiod's virtualInbound (decoded from a sidecar's config dump) enforcing its AuthorizationPolicy
// on real sockets: the HTTP RBAC filter on port 80 answers a plaintext request (no mTLS peer, so no
// principal) 403, and on a TCP port the network RBAC filter (an ALLOW with no policy for TCP)
// closes the connection. The original destination iptables would give is stood in for.
import { connect } from 'node:net';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deepFreeze } from '../../src/common/deep-freeze.js';
import { decodeListener } from '../../src/config/envoy/decode/listener.js';
import type { Snapshot } from '../../src/config/snapshot.js';
import type { OriginalDestination } from '../../src/listener/original-dst.js';
import { statKey, WorkerStats } from '../../src/telemetry/stats.js';
import { DataPlane } from '../../src/worker/data-plane.js';
import { sidecarNode } from '../config/helpers.js';
import { dumpListeners } from '../config/envoy/decode/dumps.js';
import { freePorts } from '../helpers/ports.js';

let dp: DataPlane;
let port: number;
let next: OriginalDestination | undefined;

beforeAll(async () => {
  [port] = await freePorts(1);
  const message = structuredClone(dumpListeners('authz/testdata/configdump.yaml').find((l) => l.name === 'virtualInbound')!.message);
  message.address.socket_address.address = '127.0.0.1';
  message.address.socket_address.port_value = port;
  const { listener, routeConfigs } = decodeListener(message, { node: sidecarNode(), warn: () => {} });
  const snapshot: Snapshot = deepFreeze({ version: '1', node: sidecarNode(), listeners: [listener], routeConfigs, clusters: [], endpoints: [], secrets: [], resourceVersions: { clusters: {}, endpoints: {}, secrets: {} } });
  dp = new DataPlane({ stats: new WorkerStats(), originalDestination: () => next });
  await dp.apply(snapshot);
});

afterAll(async () => {
  await dp.close();
});

describe("virtualInbound's authorization, decoded from xDS", () => {
  it('HTTP on port 80 without an mTLS peer: the ALLOW policy needs a principal, so 403 RBAC: access denied', async () => {
    next = { address: '10.244.0.7', port: 80, family: 4 };
    const r = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/info', headers: { host: 'httpbin' }, agent: false }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });
    expect(r).toEqual({ status: 403, body: 'RBAC: access denied' });
  });

  it('TCP on another port: the network RBAC filter (no policy for TCP) closes the connection', async () => {
    next = { address: '10.244.0.7', port: 9999, family: 4 };
    const got = await new Promise<string>((resolve) => {
      const s = connect(port, '127.0.0.1');
      let data = '';
      s.on('data', (c: Buffer) => (data += c));
      s.on('close', () => resolve(data));
      s.on('error', () => {});
      s.setTimeout(5000, () => s.destroy());
      s.write('hello\n');
    });
    expect(got).toBe('');
    expect(dp.statsSnapshot().counters[statKey('listener', `127.0.0.1_${port}`, 'rbac.denied')]).toBe(1);
  });
});
