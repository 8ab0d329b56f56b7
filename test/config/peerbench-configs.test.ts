// The configs bench/peerbench/run.sh gives the shared peerbench harness: each translates, with the
// identity run.sh starts it with, to the listeners and upstreams on the ports the harness is told.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { translateIstio, type Translation } from '../../src/config/istio/translate.js';
import type { Listener, NodeIdentity } from '../../src/config/snapshot.js';
import { tcpProxyOf } from '../../src/config/envoy/network-filters.js';
import { autoMtlsTls, chainHcm, downstreamTls, exactSans, gatewayNode, hostsOf, listener, parseYaml, routeConfig, secretNames, sidecarNode, targets } from './helpers.js';

const dir = resolve(dirname(fileURLToPath(import.meta.url)), '../../bench/peerbench');
const runSh = readFileSync(resolve(dir, 'run.sh'), 'utf8');

/** A port run.sh exports to the harness. */
function harnessPort(name: string): number {
  const m = runSh.match(new RegExp(`\\b${name}=(\\d+)\\b`));
  if (!m) expect.fail(`run.sh sets no ${name}`);
  return Number(m[1]);
}

function translateFile(file: string, node: NodeIdentity, mtls: boolean): Translation {
  return translateIstio(parseYaml(readFileSync(resolve(dir, file), 'utf8'), node.namespace, file), node, { outboundPort: 16001, inboundPort: 16006, mtls });
}

/** Where a bound listener's only plaintext chain goes: HTTP (its route's cluster) or TCP. */
function plainTarget(t: Translation, l: Listener): { kind: 'http' | 'tcp'; cluster: string } {
  const plain = l.filterChains.filter((c) => !c.match.transportProtocol && !c.transportSocket);
  expect(plain).toHaveLength(1);
  const hcm = chainHcm(plain[0]);
  if (hcm) {
    const rc = routeConfig(t, hcm.routeConfigName!);
    return { kind: 'http', cluster: targets(rc.virtualHosts[0].routes[0])[0][0] };
  }
  return { kind: 'tcp', cluster: tcpProxyOf(plain[0])!.clusters[0].name };
}

const upstream = (t: Translation, cluster: string) => hostsOf(t, cluster).map((h) => `${h.address}:${h.port}`);

describe('the single proxy (PROXY_PORT, PROXY_H2_PORT, PROXY_TCP_PORT)', () => {
  const http = harnessPort('PROXY_PORT');
  const tcp = harnessPort('PROXY_TCP_PORT');

  it('h1 and h2c share one port', () => expect(harnessPort('PROXY_H2_PORT')).toBe(http));

  it('sidecar.yaml: Sidecar ingress listeners bound on 127.0.0.1, plaintext, HTTP/1.1 to nginx and TCP to iperf3', () => {
    const t = translateFile('sidecar.yaml', sidecarNode({ namespace: 'bench' }), false);
    const h = listener(t, `127.0.0.1_${http}`);
    expect(h.address).toBe('127.0.0.1');
    expect(h.filterChains.every((c) => !c.transportSocket)).toBe(true);
    const hp = plainTarget(t, h);
    expect(hp.kind).toBe('http');
    expect(upstream(t, hp.cluster)).toEqual(['127.0.0.1:18080']);
    expect(t.snapshot.clusters.find((c) => c.name === hp.cluster)!.http2).toBeUndefined();
    const tp = plainTarget(t, listener(t, `127.0.0.1_${tcp}`));
    expect(tp.kind).toBe('tcp');
    expect(upstream(t, tp.cluster)).toEqual(['127.0.0.1:18090']);
  });

  it('gateway.yaml (OUTRIGGER_AS=gateway): the same ports as Gateway servers', () => {
    const t = translateFile('gateway.yaml', gatewayNode({ namespace: 'bench' }), false);
    const hp = plainTarget(t, listener(t, `127.0.0.1_${http}`));
    expect(hp.kind).toBe('http');
    expect(upstream(t, hp.cluster)).toEqual(['127.0.0.1:18080']);
    const tp = plainTarget(t, listener(t, `127.0.0.1_${tcp}`));
    expect(tp.kind).toBe('tcp');
    expect(upstream(t, tp.cluster)).toEqual(['127.0.0.1:18090']);
  });
});

describe('the 2-hop pair (PROXY_PAIR_PORT)', () => {
  const a = translateFile('pair-a.yaml', gatewayNode({ namespace: 'default', serviceAccount: 'a' }), true);
  const b = translateFile('pair-b.yaml', sidecarNode({ namespace: 'default', serviceAccount: 'b' }), true);
  const bListener = b.snapshot.listeners.find((l) => l.address === '127.0.0.1')!;

  it("A takes plain HTTP on the pair port and sends it by auto mTLS to B's port, requiring B's identity", () => {
    const route = plainTarget(a, listener(a, `127.0.0.1_${harnessPort('PROXY_PAIR_PORT')}`));
    expect(route.kind).toBe('http');
    expect(upstream(a, route.cluster)).toEqual([`127.0.0.1:${bListener.port}`]);
    expect(hostsOf(a, route.cluster)[0].tlsMode).toBe('istio');
    const tls = autoMtlsTls(a.snapshot.clusters.find((c) => c.name === route.cluster)!);
    expect(tls?.commonTlsContext.tlsCertificateSdsSecretConfigs?.[0]?.name).toBe('default');
    expect(exactSans(tls)).toEqual(['spiffe://cluster.local/ns/default/sa/b']);
  });

  it('B accepts mesh mTLS only (STRICT) and forwards to nginx', () => {
    expect(bListener.filterChains.map((c) => c.name)).toEqual([`127.0.0.1_${bListener.port}_mtls`, `127.0.0.1_${bListener.port}_plaintext_refused`]);
    const mtls = bListener.filterChains[0];
    expect(secretNames(downstreamTls(mtls))).toEqual(['default', 'ROOTCA']);
    const hcm = chainHcm(mtls)!;
    const cluster = targets(routeConfig(b, hcm.routeConfigName!).virtualHosts[0].routes[0])[0][0];
    expect(upstream(b, cluster)).toEqual(['127.0.0.1:18080']);
  });
});
