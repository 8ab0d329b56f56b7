/**
 * End to end, as in a Kubernetes pod: two network namespaces (client pod, server pod), each with
 * Istio-style iptables rules from init-iptables and an Outrigger sidecar running as uid 1337. The
 * apps know nothing of the proxies: curl and a Node TCP client in the client pod talk to service
 * VIPs and pod IPs; a Node HTTP server and a TCP echo server answer in the server pod.
 */
import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALL_STATS_ENV, CLI, ROOT } from '../helpers/proxy.js';
import { waitFor } from '../helpers/lifecycle.js';
import { parsePrometheus } from '../helpers/telemetry.js';
import { createPodPair, installCapture, must, netnsUnavailable, type Pod, type PodProcess, podStats, run, spawnInPod, tearDownPods, waitOutput, waitSidecarReady } from '../helpers/netns.js';

const skip = netnsUnavailable();
if (skip) console.warn(`capture e2e tests skipped: ${skip}`);

const NODE = process.execPath;

/** One address family's pods and VIPs: the suite runs once per family. */
interface Family {
  name: string;
  client: string;
  server: string;
  webVip: string;
  echoVip: string;
  ipv6: boolean;
}

const FAMILIES: Family[] = [
  { name: 'IPv4', client: '198.18.0.1', server: '198.18.0.2', webVip: '240.240.0.10', echoVip: '240.240.0.11', ipv6: false },
  { name: 'IPv6', client: '2001:db8:1::1', server: '2001:db8:1::2', webVip: '2001:db8:f0::10', echoVip: '2001:db8:f0::11', ipv6: true },
];

/** An address as it goes in a URL. */
const inUrl = (ip: string) => (ip.includes(':') ? `[${ip}]` : ip);

const meshYaml = ({ server: SERVER_IP, webVip: WEB_VIP, echoVip: ECHO_VIP }: Family) => `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: web, namespace: demo }
spec:
  hosts: [web.demo.svc.cluster.local]
  addresses: [${WEB_VIP}]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 80, name: http, protocol: HTTP, targetPort: 8080 }]
  endpoints: [{ address: ${SERVER_IP}, labels: { app: web, version: v1 } }]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: echo, namespace: demo }
spec:
  hosts: [echo.demo.svc.cluster.local]
  addresses: [${ECHO_VIP}]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 9000, name: tcp-echo, protocol: TCP }]
  endpoints: [{ address: ${SERVER_IP}, labels: { app: echo } }]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: secure, namespace: demo }
spec:
  hosts: [secure.demo.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 443, name: tls, protocol: TLS, targetPort: 8443 }]
  endpoints: [{ address: ${SERVER_IP}, labels: { app: secure } }]
`;

const REGISTRY_ONLY_YAML = `
apiVersion: meshconfig.istio.io/v1alpha1
kind: MeshConfig
outboundTrafficPolicy: { mode: REGISTRY_ONLY }
`;

/** The server pod's apps: HTTP on 8080 (a service port) and 8081 (unknown to the mesh), TCP echo on 9000. */
const SERVER_APPS = `
import { createServer } from 'node:http';
import { createServer as tcp } from 'node:net';
import { createServer as tls } from 'node:https';
import { readFileSync } from 'node:fs';
let requests = 0;
const handler = (name) => (req, res) => {
  if (req.url === '/count') return res.end(String(requests));
  requests++;
  res.setHeader('x-app', name);
  const peer = req.socket.remoteAddress.replace(/^::ffff:/, '');
  res.end(JSON.stringify({ app: name, url: req.url, peer, headers: req.headers }));
};
createServer(handler('web')).listen(8080, '::');
createServer(handler('unknown')).listen(8081, '::');
tcp({ allowHalfOpen: true }, (s) => { s.pipe(s); }).listen(9000, '::');
const dir = new URL('.', import.meta.url).pathname;
tls({ key: readFileSync(dir + 'key.pem'), cert: readFileSync(dir + 'cert.pem') }, (req, res) => res.end('tls ' + req.headers.host)).listen(8443, '::');
console.log('apps ready');
`;

/** Sends N bytes, half-closes, and prints how many bytes came back before the server's FIN. */
const TCP_CLIENT = `
import { connect } from 'node:net';
import { createHash } from 'node:crypto';
const [host, port, size] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
const payload = Buffer.alloc(size, 'abcdefghijklmnopqrstuvwxyz');
const s = connect({ host, port, allowHalfOpen: true });
const got = [];
s.on('data', (b) => got.push(b));
s.on('error', (e) => { console.log(JSON.stringify({ error: e.code ?? e.message })); process.exit(0); });
s.on('end', () => {
  const all = Buffer.concat(got);
  console.log(JSON.stringify({ bytes: all.length, same: createHash('sha1').update(all).digest('hex') === createHash('sha1').update(payload).digest('hex') }));
  s.end();
});
s.on('connect', () => s.end(payload));
setTimeout(() => { console.log(JSON.stringify({ error: 'timeout', bytes: Buffer.concat(got).length })); process.exit(0); }, 8000).unref();
`;

for (const f of FAMILIES) describe.skipIf(!!skip)(`transparent capture end to end, ${f.name} (network namespaces, iptables, uid 1337 sidecars)`, () => {
  const { client: CLIENT_IP, server: SERVER_IP } = f;
  const WEB = inUrl(f.webVip);
  const SERVER = inUrl(SERVER_IP);
  const proxySource = f.ipv6 ? '::6' : '127.0.0.6';
  const anyAddress = f.ipv6 ? '::' : '0.0.0.0';
  let client: Pod | undefined;
  let server: Pod | undefined;
  let dir: string;
  const procs: PodProcess[] = [];
  let clientProxy: PodProcess;
  let serverProxy: PodProcess;

  const sidecar = (pod: Pod, app: string) =>
    spawnInPod(pod, NODE, [CLI, 'run', '-c', join(dir, 'config'), '--mode', 'sidecar', '--namespace', 'demo', '--label', `app=${app}`, '--ip', pod.ip, '--workers', '1'], { uid: 1337, env: ALL_STATS_ENV });

  const curl = (args: string[]) => run('curl', ['-s', '-S', '--max-time', '5', ...args], { ns: client!.ns, timeoutMs: 8_000 });
  const stats = async (pod: Pod) => parsePrometheus(await podStats(pod));
  const tcpClient = async (host: string, port: number, size: number) => {
    const r = await run(NODE, [join(dir, 'tcp-client.mjs'), host, String(port), String(size)], { ns: client!.ns, timeoutMs: 12_000 });
    return JSON.parse(r.stdout.trim() || '{}') as { bytes?: number; same?: boolean; error?: string };
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'outrigger-e2e-'));
    await chmod(dir, 0o755); // the sidecars run as uid 1337
    await must('mkdir', ['-m', '755', join(dir, 'config')]);
    await writeFile(join(dir, 'config', 'mesh.yaml'), meshYaml(f));
    await writeFile(join(dir, 'server-apps.mjs'), SERVER_APPS);
    await writeFile(join(dir, 'tcp-client.mjs'), TCP_CLIENT);
    await must('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=secure.demo.svc.cluster.local', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')]);
    [client, server] = await createPodPair('ore2e', CLIENT_IP, SERVER_IP);
    for (const pod of [client, server]) await installCapture(pod, ROOT, f.ipv6);
    const apps = spawnInPod(server, NODE, [join(dir, 'server-apps.mjs')]);
    procs.push(apps);
    clientProxy = sidecar(client, 'client');
    serverProxy = sidecar(server, 'web');
    procs.push(clientProxy, serverProxy);
    await waitSidecarReady(client, clientProxy);
    await waitSidecarReady(server, serverProxy);
    await waitOutput(apps, 'apps ready');
  }, 60_000);

  afterAll(() => tearDownPods(procs, [client, server], dir));

  it('HTTP to a service VIP goes through both sidecars: routed by the client sidecar, delivered by the server sidecar', async () => {
    const r = await curl(['-i', `http://${WEB}/hello`]);
    expect(r.code, r.stderr + clientProxy.output()).toBe(0);
    expect(r.stdout).toMatch(/^HTTP\/1\.1 200/);
    expect(r.stdout).toMatch(/\r\nx-app: web\r\n/);
    // each sidecar sets (never appends) the Envoy headers: one attempt count, one service time
    expect(r.stdout.match(/x-envoy-upstream-service-time:/g)).toHaveLength(1);
    const body = JSON.parse(r.stdout.slice(r.stdout.indexOf('\r\n\r\n') + 4));
    expect(body.url).toBe('/hello');
    // the client sidecar's headers arrive; the server sidecar reached the app from 127.0.0.6 (::6)
    expect(body.headers['x-request-id']).toBeTruthy();
    expect(body.headers['x-envoy-attempt-count']).toBe('1');
    expect(body.peer).toBe(proxySource);
  });

  it('stats count the requests on both sides: reporter=source in the client pod, reporter=destination in the server pod', async () => {
    for (let i = 0; i < 3; i++) expect((await curl(['-o', '/dev/null', '-w', '%{http_code}', `http://${WEB}/n${i}`])).stdout).toBe('200');
    const src = await stats(client!);
    const dst = await stats(server!);
    const web = { destination_service: 'web.demo.svc.cluster.local', response_code: '200' };
    expect(src.sum('istio_requests_total', { ...web, reporter: 'source' })).toBeGreaterThanOrEqual(3);
    expect(dst.sum('istio_requests_total', { ...web, reporter: 'destination' })).toBeGreaterThanOrEqual(3);
    expect(src.one('envoy_cluster_upstream_rq_total', { envoy_cluster_name: 'outbound|80||web.demo.svc.cluster.local' })).toBeGreaterThanOrEqual(1);
    expect(dst.one('envoy_cluster_upstream_rq_total', { envoy_cluster_name: 'inbound|8080||' })).toBeGreaterThanOrEqual(1);
  });

  it('TCP bytes pass both ways through both sidecars, half-close included, and istio_tcp_* counts them', async () => {
    const size = 1_000_000;
    const r = await tcpClient(f.echoVip, 9000, size);
    expect(r, clientProxy.output() + serverProxy.output()).toEqual({ bytes: size, same: true });
    const echo = (reporter: string) => ({ reporter, destination_service: 'echo.demo.svc.cluster.local' });
    const src = await stats(client!);
    const dst = await stats(server!);
    expect(src.sum('istio_tcp_connections_opened_total', echo('source'))).toBeGreaterThanOrEqual(1);
    expect(src.sum('istio_tcp_received_bytes_total', echo('source'))).toBeGreaterThanOrEqual(size);
    expect(src.sum('istio_tcp_sent_bytes_total', echo('source'))).toBeGreaterThanOrEqual(size);
    expect(dst.sum('istio_tcp_connections_opened_total', echo('destination'))).toBeGreaterThanOrEqual(1);
    expect(dst.sum('istio_tcp_sent_bytes_total', echo('destination'))).toBeGreaterThanOrEqual(size);
    const closed = await waitFor(async () => (await stats(client!)).sum('istio_tcp_connections_closed_total', echo('source')) >= 1, 5_000, 100);
    expect(closed).toBe(true);
  });

  it('TLS is routed on SNI, untouched: the client sidecar picks the service by server name, the app terminates TLS', async () => {
    const host = 'secure.demo.svc.cluster.local';
    const r = await curl(['-k', '--resolve', `${host}:443:${SERVER}`, `https://${host}/`]);
    expect(r.code, r.stderr + clientProxy.output()).toBe(0);
    expect(r.stdout).toBe(`tls ${host}`);
    expect((await stats(client!)).sum('istio_tcp_connections_opened_total', { reporter: 'source', destination_service: host })).toBeGreaterThanOrEqual(1);
  });

  it('an unknown destination passes through both sidecars (ALLOW_ANY, inbound passthrough)', async () => {
    const r = await curl([`http://${SERVER}:8081/direct`]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ app: 'unknown', url: '/direct', peer: proxySource });
    expect((await stats(client!)).sum('istio_tcp_connections_opened_total', { destination_service_name: 'PassthroughCluster' })).toBeGreaterThanOrEqual(1);
    expect((await stats(server!)).sum('istio_tcp_connections_opened_total', { destination_service_name: 'InboundPassthroughClusterIpv4' })).toBeGreaterThanOrEqual(1);
  });

  it('no capture loop: each client connection is captured once outbound, and the app sees each request once', async () => {
    const listenerCx = (e: Awaited<ReturnType<typeof stats>>, address: string) => e.one('envoy_listener_downstream_cx_total', { envoy_listener_address: address });
    const before = listenerCx(await stats(client!), `${anyAddress}_15001`);
    const appBefore = Number((await curl([`http://${WEB}/count`])).stdout);
    const inboundBefore = listenerCx(await stats(server!), `${anyAddress}_15006`);
    for (let i = 0; i < 5; i++) expect((await curl(['-o', '/dev/null', '-w', '%{http_code}', `http://${WEB}/loop${i}`])).stdout).toBe('200');
    // the /count request above and the 5 requests: one curl connection each, captured once each
    expect(listenerCx(await stats(client!), `${anyAddress}_15001`) - before).toBe(6);
    expect(Number((await curl([`http://${WEB}/count`])).stdout) - appBefore).toBe(5);
    // the client sidecar keeps its upstream connection alive: at most one inbound connection per request
    const inbound = listenerCx(await stats(server!), `${anyAddress}_15006`) - inboundBefore;
    expect(inbound).toBeLessThanOrEqual(7);
  });

  it('REGISTRY_ONLY (a MeshConfig document): unknown destinations are refused, known services still work', async () => {
    await writeFile(join(dir, 'config', 'meshconfig.yaml'), REGISTRY_ONLY_YAML);
    const refused = await waitFor(async () => (await curl([`http://${SERVER}:8081/direct`])).code !== 0, 15_000, 200);
    expect(refused, clientProxy.output()).toBe(true);
    const tcp = await tcpClient(SERVER_IP, 8081, 10);
    expect(tcp.bytes ?? 0).toBe(0);
    // plain HTTP to a service port with an unknown Host: Istio's block_all virtual host answers 502
    expect((await curl(['-o', '/dev/null', '-w', '%{http_code}', '-H', 'Host: not-in-the-mesh.example', `http://${WEB}/`])).stdout).toBe('502');
    expect((await curl(['-o', '/dev/null', '-w', '%{http_code}', `http://${WEB}/still`])).stdout).toBe('200');
    expect((await stats(client!)).sum('istio_tcp_connections_opened_total', { destination_service_name: 'BlackHoleCluster', response_flags: 'UH' })).toBeGreaterThanOrEqual(1);
  });
});
