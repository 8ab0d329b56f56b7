// A Snapshot is deep-frozen once built: the translation's and the loader's, down to the endpoints'
// labels; a write to any part of it throws (ESM code is strict).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { deepFreeze } from '../../src/common/deep-freeze.js';
import { loadSnapshot } from '../../src/config/load.js';
import type { Snapshot } from '../../src/config/snapshot.js';
import { sidecarNode, translate } from './helpers.js';
import { createRootCa, issueWorkloadCert, writeWorkloadDir } from '../../src/security/ca.js';
import { loadWorkloadSecret } from '../../src/security/workload-certs.js';

const MESH = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: reviews, namespace: default }
spec:
  hosts: [reviews.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 9080, name: http, protocol: HTTP }]
  endpoints: [{ address: 10.0.0.1, labels: { version: v1 }, locality: r/z }]
`;

/** Every object and array of a tree, with the path to it. */
function* nodes(value: unknown, path = '$'): Generator<[string, object]> {
  if (typeof value !== 'object' || value === null) return;
  yield [path, value];
  for (const [k, v] of Object.entries(value)) yield* nodes(v, `${path}.${k}`);
}

function expectDeepFrozen(s: Snapshot): void {
  let count = 0;
  for (const [path, o] of nodes(s)) {
    expect(Object.isFrozen(o), `${path} is not frozen`).toBe(true);
    count++;
  }
  expect(count).toBeGreaterThan(50);
  const labels = s.endpoints.find((a) => a.clusterName.includes('reviews'))!.endpoints[0].lbEndpoints[0].metadata.labels;
  expect(() => {
    labels.version = 'v2';
  }).toThrow(TypeError);
  expect(() => (s.clusters as unknown[]).push({})).toThrow(TypeError);
}

describe('a built Snapshot is frozen', () => {
  it('translateIstio returns it deep-frozen', () => {
    expectDeepFrozen(translate(MESH).snapshot);
  });

  it('loadSnapshot returns it deep-frozen, the workload certificate included', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'outrigger-frozen-'));
    try {
      await writeFile(join(dir, 'mesh.yaml'), MESH);
      const root = await createRootCa({ trustDomain: 'cluster.local' });
      const issued = await issueWorkloadCert({ caCertPem: root.certPem, caKeyPem: root.keyPem, trustDomain: 'cluster.local', namespace: 'default', serviceAccount: 'web' });
      await writeWorkloadDir(join(dir, 'certs'), issued);
      const { snapshot } = await loadSnapshot({ paths: [join(dir, 'mesh.yaml')], node: sidecarNode(), outboundPort: 15001, certDir: join(dir, 'certs'), workloadSecret: () => loadWorkloadSecret(join(dir, 'certs')) });
      expect(snapshot.secrets.map((s) => s.name)).toEqual(['default', 'ROOTCA']);
      expect(snapshot.secrets[0]).toMatchObject({ tlsCertificate: { certificateChain: issued.certChainPem } });
      expectDeepFrozen(snapshot);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('deepFreeze freezes arrays and nested objects, leaves primitives alone, and returns its argument', () => {
    const tree = { a: [{ b: { c: 1 } }], d: 'x', e: null };
    expect(deepFreeze(tree)).toBe(tree);
    expect([tree, tree.a, tree.a[0], tree.a[0].b].every((o) => Object.isFrozen(o))).toBe(true);
    expect(deepFreeze(3)).toBe(3);
  });
});
