/**
 * Istio mTLS end to end: two pods in network namespaces with init-iptables, sidecars (uid 1337)
 * holding workload certificates from the development CA. The client app speaks plaintext; its
 * sidecar upgrades to mTLS (auto mTLS: the endpoint is labelled security.istio.io/tlsMode=istio),
 * the server's sidecar terminates it and tells the app who called (XFCC).
 */
import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRootCa } from '../../src/security/ca.js';
import { ALL_STATS_ENV, CLI, ROOT } from '../helpers/proxy.js';
import { waitFor } from '../helpers/lifecycle.js';
import { parsePrometheus } from '../helpers/telemetry.js';
import { createPodPair, installCapture, must, netnsUnavailable, type Pod, podCertDir, type PodProcess, podStats, run, spawnInPod, tearDownPods, waitOutput, waitSidecarReady } from '../helpers/netns.js';

const skip = netnsUnavailable();
if (skip) console.warn(`mTLS e2e tests skipped: ${skip}`);

const NODE = process.execPath;
const CLIENT_IP = '198.18.1.1';
const SERVER_IP = '198.18.1.2';
const WEB_VIP = '240.240.1.10';
const ECHO_VIP = '240.240.1.11';
const TD = 'cluster.local';
const CLIENT_ID = `spiffe://${TD}/ns/demo/sa/sleep`;
const SERVER_ID = `spiffe://${TD}/ns/demo/sa/web`;

const MESH = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: web, namespace: demo }
spec:
  hosts: [web.demo.svc.cluster.local]
  addresses: [${WEB_VIP}]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 80, name: http, protocol: HTTP, targetPort: 8080 }]
  endpoints: [{ address: ${SERVER_IP}, serviceAccount: web, labels: { app: web, security.istio.io/tlsMode: istio } }]
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
  endpoints: [{ address: ${SERVER_IP}, serviceAccount: web, labels: { app: web, security.istio.io/tlsMode: istio } }]
`;

const SERVER_APPS = `
import { createServer } from 'node:http';
import { createServer as tcp } from 'node:net';
createServer((req, res) => res.end(JSON.stringify({ url: req.url, peer: req.socket.remoteAddress.replace(/^::ffff:/, ''), headers: req.headers })))
  .listen(8080, '0.0.0.0');
tcp((s) => s.pipe(s)).listen(9000, '0.0.0.0');
tcp((s) => s.once('data', () => s.end('open\\n'))).listen(7777, '0.0.0.0'); // a port no service declares (client speaks first)
console.log('apps ready');
`;

/** Connects to host:port with TLS (optionally a client certificate and ALPN); prints the outcome. */
const TLS_CLIENT = `
import { connect } from 'node:tls';
import { readFileSync } from 'node:fs';
const [host, port, dir, alpn] = process.argv.slice(2);
const opts = { host, port: Number(port), rejectUnauthorized: false, ALPNProtocols: alpn ? alpn.split(',') : undefined };
if (dir !== '-') Object.assign(opts, { cert: readFileSync(dir + '/cert-chain.pem'), key: readFileSync(dir + '/key.pem') });
const s = connect(opts, () => s.write('GET /x HTTP/1.1\\r\\nhost: web\\r\\nconnection: close\\r\\n\\r\\n'));
let got = '';
s.on('data', (b) => (got += b));
s.on('close', () => { console.log(JSON.stringify({ got })); process.exit(0); });
s.on('error', (e) => { console.log(JSON.stringify({ error: e.code ?? e.message, got })); process.exit(0); });
setTimeout(() => { console.log(JSON.stringify({ error: 'timeout', got })); process.exit(0); }, 5000).unref();
`;

describe.skipIf(!!skip)('Istio mTLS end to end (auto mTLS, XFCC, identities in metrics)', () => {
  let client: Pod | undefined;
  let server: Pod | undefined;
  let dir: string;
  const procs: PodProcess[] = [];
  let clientProxy: PodProcess;
  let serverProxy: PodProcess;

  const curl = (args: string[]) => run('curl', ['-s', '-S', '--max-time', '5', ...args], { ns: client!.ns, timeoutMs: 8_000 });
  const stats = async (pod: Pod) => parsePrometheus(await podStats(pod));
  /** A process in the client pod running as the proxy's uid: iptables lets it out uncaptured, like a workload without a sidecar. */
  const direct = async (args: string[]) => {
    const r = await run('setpriv', ['--reuid', '1337', '--regid', '1337', '--clear-groups', '--', NODE, join(dir, 'tls-client.mjs'), ...args], { ns: client!.ns, timeoutMs: 10_000 });
    return JSON.parse(r.stdout.trim() || '{}') as { got?: string; error?: string };
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'outrigger-mtls-'));
    await chmod(dir, 0o755);
    await must('mkdir', ['-m', '755', join(dir, 'config')]);
    await writeFile(join(dir, 'config', 'mesh.yaml'), MESH);
    await writeFile(join(dir, 'server-apps.mjs'), SERVER_APPS);
    await writeFile(join(dir, 'tls-client.mjs'), TLS_CLIENT);
    const ca = await createRootCa({ trustDomain: TD });
    const clientCerts = await podCertDir(dir, 'client-certs', ca, { trustDomain: TD, namespace: 'demo', serviceAccount: 'sleep' });
    const serverCerts = await podCertDir(dir, 'server-certs', ca, { trustDomain: TD, namespace: 'demo', serviceAccount: 'web' });
    await podCertDir(dir, 'foreign-certs', await createRootCa({ trustDomain: TD }), { trustDomain: TD, namespace: 'demo', serviceAccount: 'sleep' });
    [client, server] = await createPodPair('ormtls', CLIENT_IP, SERVER_IP);
    for (const pod of [client, server]) await installCapture(pod, ROOT);
    const apps = spawnInPod(server, NODE, [join(dir, 'server-apps.mjs')]);
    procs.push(apps);
    const sidecar = (pod: Pod, sa: string, certs: string) =>
      spawnInPod(pod, NODE, [CLI, 'run', '-c', join(dir, 'config'), '--namespace', 'demo', '--service-account', sa, '--label', `app=${sa}`, '--ip', pod.ip, '--workers', '1', '--cert-dir', certs], { uid: 1337, env: ALL_STATS_ENV });
    clientProxy = sidecar(client, 'sleep', clientCerts);
    serverProxy = sidecar(server, 'web', serverCerts);
    procs.push(clientProxy, serverProxy);
    await waitSidecarReady(client, clientProxy);
    await waitSidecarReady(server, serverProxy);
    await waitOutput(apps, 'apps ready');
  }, 60_000);

  afterAll(() => tearDownPods(procs, [client, server], dir));

  it('HTTP goes over mTLS: the app learns the caller from XFCC (By = the server, URI = the client)', async () => {
    const r = await curl([`http://${WEB_VIP}/who`]);
    expect(r.code, r.stderr + clientProxy.output() + serverProxy.output()).toBe(0);
    const body = JSON.parse(r.stdout);
    const xfcc: string = body.headers['x-forwarded-client-cert'];
    expect(xfcc).toMatch(new RegExp(`^By=${SERVER_ID};Hash=[0-9a-f]{64};Subject="";URI=${CLIENT_ID}$`));
  });

  it('an XFCC header sent by the app is never trusted: the client sidecar drops it', async () => {
    const r = await curl(['-H', 'x-forwarded-client-cert: By=spiffe://evil;URI=spiffe://cluster.local/ns/admin/sa/root', `http://${WEB_VIP}/forged`]);
    const xfcc: string = JSON.parse(r.stdout).headers['x-forwarded-client-cert'];
    expect(xfcc).not.toContain('evil');
    expect(xfcc.split(',')).toHaveLength(1);
  });

  it('TCP goes over mTLS too', async () => {
    const r = await run(NODE, ['-e', `const s=require('net').connect(9000,'${ECHO_VIP}',()=>s.end('ping-over-mtls'));let d='';s.on('data',b=>d+=b);s.on('close',()=>{console.log(d);process.exit(0)});setTimeout(()=>process.exit(1),5000)`], { ns: client!.ns });
    expect(r.stdout.trim()).toBe('ping-over-mtls');
  });

  it('metrics: the server reports mutual_tls with the client principal; the client reports its own principal', async () => {
    await curl([`http://${WEB_VIP}/metrics-probe`]);
    const dst = await stats(server!);
    expect(dst.sum('istio_requests_total', { reporter: 'destination', connection_security_policy: 'mutual_tls', source_principal: CLIENT_ID, destination_principal: SERVER_ID })).toBeGreaterThanOrEqual(1);
    expect(dst.sum('istio_tcp_connections_opened_total', { reporter: 'destination', connection_security_policy: 'mutual_tls', source_principal: CLIENT_ID })).toBeGreaterThanOrEqual(1);
    const src = await stats(client!);
    expect(src.sum('istio_requests_total', { reporter: 'source', source_principal: CLIENT_ID })).toBeGreaterThanOrEqual(1);
    expect(dst.sum('envoy_listener_ssl_handshake', {})).toBeGreaterThanOrEqual(2);
  });

  it('PERMISSIVE (the default): a client without a sidecar still gets in over plaintext, and XFCC is absent', async () => {
    const open = await run('setpriv', ['--reuid', '1337', '--regid', '1337', '--clear-groups', '--', NODE, '-e', `const s=require('net').connect(7777,'${SERVER_IP}',()=>s.write('hi'));let d='';s.on('data',b=>d+=b);s.on('close',()=>{console.log(JSON.stringify(d));process.exit(0)});s.on('error',()=>{});setTimeout(()=>process.exit(1),3000)`], { ns: client!.ns });
    expect(open.stdout.trim()).toBe('"open\\n"');
    const r = await run('setpriv', ['--reuid', '1337', '--regid', '1337', '--clear-groups', '--', 'curl', '-s', '--max-time', '5', `http://${SERVER_IP}:8080/plain`], { ns: client!.ns });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).headers['x-forwarded-client-cert']).toBeUndefined();
  });

  it('a certificate from another CA is refused in the handshake; so is TLS without a client certificate', async () => {
    const foreign = await direct([SERVER_IP, '8080', join(dir, 'foreign-certs'), 'istio-http/1.1']);
    expect(foreign.got ?? '').toBe('');
    expect(foreign.error ?? 'closed').toBeTruthy();
    const noCert = await direct([SERVER_IP, '8080', '-', 'istio-http/1.1']);
    expect(noCert.got ?? '').toBe('');
    const good = await direct([SERVER_IP, '8080', join(dir, 'client-certs'), 'istio-http/1.1']);
    expect(good.got).toMatch(/^HTTP\/1\.1 200/);
  });

  it('PeerAuthentication STRICT (mesh-wide): plaintext is refused, even on ports no service declares; sidecars still talk', async () => {
    await writeFile(join(dir, 'config', 'strict.yaml'), 'apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: { name: default, namespace: istio-system }\nspec: { mtls: { mode: STRICT } }\n');
    const plaintext = () => run('setpriv', ['--reuid', '1337', '--regid', '1337', '--clear-groups', '--', 'curl', '-s', '--max-time', '3', `http://${SERVER_IP}:8080/plain`], { ns: client!.ns });
    expect(await waitFor(async () => (await plaintext()).code !== 0, 15_000, 200), serverProxy.output()).toBe(true);
    const undeclared = () => run('setpriv', ['--reuid', '1337', '--regid', '1337', '--clear-groups', '--', NODE, '-e', `const s=require('net').connect(7777,'${SERVER_IP}',()=>s.write('hi'));let d='';s.on('data',b=>d+=b);s.on('close',()=>{console.log(JSON.stringify(d));process.exit(0)});s.on('error',()=>{});setTimeout(()=>process.exit(1),3000)`], { ns: client!.ns });
    expect((await undeclared()).stdout.trim()).toBe('""');
    const r = await curl([`http://${WEB_VIP}/still-mtls`]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).headers['x-forwarded-client-cert']).toContain(`URI=${CLIENT_ID}`);
  });
});
