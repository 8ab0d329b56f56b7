// Telemetry access logging end to end on a gateway with two workers: an envoyFileAccessLog
// provider writing JSON labels to a file, a root Telemetry whose CEL filter keeps errors and
// flagged requests only, TCP connections logged through the same provider, and a config change
// that moves the log to another file (the first one is closed, the new one gets the lines).
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GATEWAY_ARGS, gateway, resource, serviceEntry, toYaml, virtualService } from '../helpers/mesh.js';
import { freePorts } from '../helpers/ports.js';
import { startProxy, stopAllProxies, type RunningProxy } from '../helpers/proxy.js';
import { eventually, plainRequest } from '../helpers/telemetry.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const ECHO = 'echo.default.svc.cluster.local';
const LABELS = { code: '%RESPONSE_CODE%', flags: '%RESPONSE_FLAGS%', path: '%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%', ua: '%REQ(USER-AGENT):5%', cluster: '%UPSTREAM_CLUSTER%', rid: '%REQ(X-REQUEST-ID)%', bytes: '%BYTES_SENT%' };
const FILTER = "response.code >= 400 || request.headers['x-log'] == 'yes' || request.url_path.matches('^/api/[[:alnum:]]+$') || xds.cluster_name.startsWith('outbound|9')";

let echo: Upstream;
let tcpEcho: Upstream;
let proxy: RunningProxy;
let dir: string;
let gwPort: number;
let tcpPort: number;

function config(logPath: string): string {
  const mesh = stringify({
    apiVersion: 'meshconfig.istio.io/v1alpha1',
    kind: 'MeshConfig',
    metadata: { name: 'mesh' },
    extensionProviders: [{ name: 'json-file', envoyFileAccessLog: { path: logPath, logFormat: { labels: LABELS } } }],
  });
  const telemetry = stringify({ apiVersion: 'telemetry.istio.io/v1', kind: 'Telemetry', metadata: { name: 'mesh-default', namespace: 'istio-system' }, spec: { accessLogging: [{ providers: [{ name: 'json-file' }], filter: { expression: FILTER } }] } });
  const routes = toYaml(
    gateway({ port: gwPort }),
    serviceEntry({ name: 'echo', host: ECHO, endpoints: [{ port: echo.port }] }),
    virtualService('echo', { hosts: ['echo.test'], gateways: ['gw'], http: [{ match: [{ uri: { prefix: '/old/' } }], rewrite: { uri: '/new/' }, route: [{ destination: { host: ECHO } }] }, { route: [{ destination: { host: ECHO } }] }] }),
    // a TCP server of the gateway to a TCP service on port 9000 (its cluster outbound|9000||…)
    resource('Gateway', 'tcp-gw', 'default', { selector: { istio: 'ingressgateway' }, servers: [{ port: { number: tcpPort, name: 'tcp', protocol: 'TCP' }, hosts: ['*'] }] }),
    serviceEntry({ name: 'tcp-echo', host: 'tcp-echo.default.svc.cluster.local', ports: [{ number: 9000, name: 'tcp', protocol: 'TCP' }], endpoints: [{ port: tcpEcho.port, portName: 'tcp' }] }),
    virtualService('tcp-echo', { hosts: ['*'], gateways: ['tcp-gw'], tcp: [{ route: [{ destination: { host: 'tcp-echo.default.svc.cluster.local', port: { number: 9000 } } }] }] }),
  );
  return [mesh, telemetry, routes].join('---\n');
}

async function lines(path: string): Promise<Record<string, unknown>[]> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
}

beforeAll(async () => {
  echo = await startUpstream(undefined, 'echo');
  tcpEcho = await startUpstream(undefined, 'tcp-echo');
  dir = await mkdtemp(join(tmpdir(), 'outrigger-al-'));
  [gwPort, tcpPort] = await freePorts(2);
  proxy = await startProxy({ yaml: config(join(dir, 'first.log')), args: GATEWAY_ARGS, workers: 2 });
}, 30_000);

afterAll(async () => {
  await stopAllProxies();
  await echo.close();
  await tcpEcho.close();
  await rm(dir, { recursive: true, force: true });
});

const get = (path: string, headers: Record<string, string> = {}) => plainRequest(gwPort, path, { host: 'echo.test', headers: { 'user-agent': 'curl/8.1.2', ...headers } });

describe('Telemetry access logging to a file provider', () => {
  it('the CEL filter keeps a 404, a flagged request, an RE2 path match, and leaves the plain 200s out; the JSON labels are typed', async () => {
    const first = join(dir, 'first.log');
    expect((await get('/plain', { 'x-request-id': 'r-plain' })).status).toBe(200);
    expect((await plainRequest(gwPort, '/nope', { host: 'nowhere.test', headers: { 'x-request-id': 'r-404' } })).status).toBe(404);
    expect((await get('/old/x', { 'x-log': 'yes', 'x-request-id': 'r-flag' })).status).toBe(200);
    expect((await get('/api/abc1', { 'x-request-id': 'r-api' })).status).toBe(200);
    expect((await get('/api/a-b', { 'x-request-id': 'r-api-dash' })).status).toBe(200);
    const logged = await eventually(async () => {
      const l = await lines(first);
      return l.length >= 3 ? l : undefined;
    }, 5_000);
    expect(logged?.map((l) => l.rid).sort()).toEqual(['r-404', 'r-api', 'r-flag']);
    const byRid = Object.fromEntries(logged!.map((l) => [l.rid, l]));
    expect(byRid['r-404']).toEqual({ code: 404, flags: 'NR', path: '/nope', ua: null, cluster: null, rid: 'r-404', bytes: 0 });
    expect(byRid['r-flag']).toMatchObject({ code: 200, flags: '-', path: '/old/x', ua: 'curl/', cluster: `outbound|80||${ECHO}` });
    expect(typeof byRid['r-api'].bytes).toBe('number');
  });

  it('a TCP connection is logged by the same provider, when the filter holds (its cluster)', async () => {
    const s = connect(tcpPort, '127.0.0.1');
    await new Promise<void>((r) => s.once('connect', () => r()));
    s.end('GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
    await new Promise<void>((r) => s.on('close', () => r()).resume());
    const entry = await eventually(async () => (await lines(join(dir, 'first.log'))).find((l) => String(l.cluster).startsWith('outbound|9000')), 5_000);
    expect(entry).toMatchObject({ code: 0, flags: '-', path: null, rid: null });
    expect(entry!.bytes as number).toBeGreaterThan(0);
  });

  it('a new config moves the log to another file: new lines go there, none to the first', async () => {
    const first = join(dir, 'first.log');
    const second = join(dir, 'second.log');
    await writeFile(join(proxy.configDir, 'config.yaml'), config(second));
    // the reload applied once a logged request lands in the second file
    const moved = await eventually(async () => {
      await get('/moved', { 'x-log': 'yes', 'x-request-id': 'r-moved' });
      return (await lines(second)).some((l) => l.rid === 'r-moved');
    }, 10_000);
    expect(moved).toBe(true);
    const before = (await lines(first)).length;
    await get('/after', { 'x-log': 'yes', 'x-request-id': 'r-after' });
    await eventually(async () => (await lines(second)).some((l) => l.rid === 'r-after'), 5_000);
    expect((await lines(first)).length).toBe(before);
    expect((await lines(first)).some((l) => l.rid === 'r-after')).toBe(false);
  });
});
