// `outrigger proxy-config`: istioctl proxy-config's tables from a running proxy's admin API (its
// /config_dump in Envoy's JSON, /clusters, /logging) and from a saved dump (istioctl's own golden).
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONFORMANCE } from '../config/security-helpers.js';
import { bookinfoServices, KubernetesMesh } from '../helpers/kubernetes-mesh.js';
import { runCli, startProxy, stopAllProxies, type RunningProxy } from '../helpers/proxy.js';

const NETWORKING = `${CONFORMANCE}samples/bookinfo/networking/`;
const GOLDEN = `${CONFORMANCE}config-dumps/istioctl/pkg/proxyconfig/testdata/`;
const mesh = new KubernetesMesh(bookinfoServices(), 9080);
const reviewsV2 = mesh.pod('reviews-v2');

let proxy: RunningProxy;
let admin: string;

beforeAll(async () => {
  proxy = await startProxy({
    files: {
      'kubernetes.yaml': mesh.yaml(),
      'destination-rule-all.yaml': readFileSync(`${NETWORKING}destination-rule-all.yaml`, 'utf8'),
      'virtual-service-reviews-jason-v2-v3.yaml': readFileSync(`${NETWORKING}virtual-service-reviews-jason-v2-v3.yaml`, 'utf8'),
    },
    args: ['--ip', mesh.pod('productpage-v1').ip, '--label', 'app=productpage', '--label', 'version=v1'],
  });
  admin = `http://127.0.0.1:${proxy.ports.admin}`;
});

afterAll(async () => {
  await stopAllProxies();
});

const pc = (...args: string[]) => runCli(['proxy-config', ...args, '--admin', admin]);
const lines = (text: string) => text.split('\n').map((l) => l.replace(/\s+/g, ' ').trim());

describe('outrigger proxy-config against a running proxy', () => {
  it('clusters: SERVICE FQDN, PORT, SUBSET, DIRECTION, TYPE and the DestinationRule; --fqdn / --subset filter', async () => {
    const r = await pc('clusters');
    expect(r.code, r.stderr).toBe(0);
    expect(lines(r.stdout)[0]).toBe('SERVICE FQDN PORT SUBSET DIRECTION TYPE DESTINATION RULE');
    expect(lines(r.stdout)).toContain('reviews.default.svc.cluster.local 9080 v2 outbound STATIC reviews.default');
    expect(lines(r.stdout)).toContain('PassthroughCluster - - - ORIGINAL_DST');
    const v2 = await pc('cluster', '--fqdn', 'reviews', '--subset', 'v2');
    expect(lines(v2.stdout).filter(Boolean)).toEqual(['SERVICE FQDN PORT SUBSET DIRECTION TYPE DESTINATION RULE', 'reviews.default.svc.cluster.local 9080 v2 outbound STATIC reviews.default']);
  });

  it('listeners: the capture listeners and their chains, a port filter', async () => {
    const r = await pc('listeners', '--port', String(proxy.ports.outbound));
    expect(r.code, r.stderr).toBe(0);
    const l = lines(r.stdout);
    expect(l[0]).toBe('ADDRESSES PORT MATCH DESTINATION');
    expect(l).toContain(`0.0.0.0 ${proxy.ports.outbound} Addr: *:9080 Route: 9080`);
    expect(l).toContain(`0.0.0.0 ${proxy.ports.outbound} ALL PassthroughCluster`);
    expect(l.filter(Boolean).every((x, i) => i === 0 || x.startsWith(`0.0.0.0 ${proxy.ports.outbound} `))).toBe(true);
  });

  it('routes: route config, virtual host, domains, match and the VirtualService; --name', async () => {
    const r = await pc('routes', '--name', '9080');
    expect(r.code, r.stderr).toBe(0);
    const l = lines(r.stdout);
    expect(l[0]).toBe('NAME VHOST NAME DOMAINS MATCH VIRTUAL SERVICE');
    expect(l).toContain('9080 reviews.default.svc.cluster.local:9080 reviews.default, reviews + 1 more... /* reviews.default');
    expect(l.filter(Boolean).slice(1).every((x) => x.startsWith('9080 '))).toBe(true);
  });

  it('endpoints (from /clusters): address, health, outlier check, cluster; --cluster', async () => {
    const r = await pc('endpoints', '--cluster', 'outbound|9080|v2|reviews.default.svc.cluster.local');
    expect(r.code, r.stderr).toBe(0);
    expect(lines(r.stdout).filter(Boolean)).toEqual(['ENDPOINT STATUS OUTLIER CHECK CLUSTER', `${reviewsV2.ip}:9080 HEALTHY OK outbound|9080|v2|reviews.default.svc.cluster.local`]);
  });

  it('-o json: the resources as istioctl prints them (protojson: Envoy JSON with camelCase names)', async () => {
    const r = await pc('clusters', '--fqdn', 'reviews', '--subset', 'v3', '-o', 'json');
    expect(r.code, r.stderr).toBe(0);
    const clusters = JSON.parse(r.stdout);
    expect(clusters).toHaveLength(1);
    expect(clusters[0]).toMatchObject({ name: 'outbound|9080|v3|reviews.default.svc.cluster.local', type: 'STATIC', lbPolicy: 'LEAST_REQUEST', connectTimeout: '10s' });
  });

  it('all: the sections in order, names prefixed by type', async () => {
    const r = await pc('all');
    expect(r.code, r.stderr).toBe(0);
    const l = lines(r.stdout);
    expect(l).toContain('cluster/outbound|9080|v2|reviews.default.svc.cluster.local reviews.default.svc.cluster.local 9080 v2 outbound STATIC reviews.default');
    expect(l).toContain(`endpoint/${reviewsV2.ip}:9080 HEALTHY outbound|9080|v2|reviews.default.svc.cluster.local`);
    const headers = l.filter((x) => /^(NAME|RESOURCE NAME)\b/.test(x)).map((x) => x.split(' ').slice(0, 3).join(' '));
    expect(headers).toEqual(['NAME SERVICE FQDN', 'NAME ADDRESSES PORT', 'NAME VHOST NAME', 'NAME STATUS LOCALITY']);
  });

  it('log: shows the level; --level sets it', async () => {
    expect((await pc('log')).stdout).toBe('active loggers:\n  outrigger: info\n');
    const set = await pc('log', '--level', 'debug');
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toBe('active loggers:\n  outrigger: debug\n');
    expect((await pc('log', '--reset')).stdout).toBe('active loggers:\n  outrigger: warning\n');
  });

  it('a proxy that is not there: exit 1 with the reason', async () => {
    const r = await runCli(['proxy-config', 'clusters', '--admin', 'http://127.0.0.1:1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: cannot reach the admin API at http:\/\/127\.0\.0\.1:1/);
  });
});

describe('outrigger proxy-config -f', () => {
  it("all over istioctl's config dump is istioctl's summary, byte for byte", async () => {
    const r = await runCli(['proxy-config', 'all', '-f', `${GOLDEN}config_dump.json`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(readFileSync(`${GOLDEN}config_dump_summary.txt`, 'utf8'));
  });

  it('usage: an unknown type, a flag of another type', async () => {
    const unknown = await runCli(['proxy-config', 'tables', '-f', `${GOLDEN}config_dump.json`]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown proxy-config type "tables"');
    const wrong = await runCli(['proxy-config', 'routes', '--fqdn', 'x', '-f', `${GOLDEN}config_dump.json`]);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('--fqdn is not a flag of "outrigger proxy-config routes"');
  });
});
