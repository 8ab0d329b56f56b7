/**
 * One inbound path: the same PeerAuthentication decision table, run through real sockets against
 * ports captured by iptables onto virtualInbound (15006) and ports bound by Sidecar ingress
 * listeners (captureMode NONE, as on a VM without iptables). Each mode (STRICT, PERMISSIVE,
 * DISABLE, by portLevelMtls) × client (plaintext, mesh mTLS, a foreign CA's certificate, TLS without
 * a client certificate) × protocol (HTTP, TCP, undeclared = detected) must give the same answer on
 * both kinds of listener; plaintext never reaches an app behind STRICT. Principal-based
 * authorization and XFCC hold on both.
 */
import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRootCa } from '../../src/security/ca.js';
import { CLI, ROOT } from '../helpers/proxy.js';
import { createPodPair, installCapture, must, netnsUnavailable, type Pod, podCertDir, type PodProcess, run, spawnInPod, tearDownPods, waitOutput, waitSidecarReady } from '../helpers/netns.js';

const skip = netnsUnavailable();
if (skip) console.warn(`inbound security e2e tests skipped: ${skip}`);

const NODE = process.execPath;
const CLIENT_IP = '198.18.2.1';
const SERVER_IP = '198.18.2.2';
const TD = 'cluster.local';
const CLIENT_ID = `spiffe://${TD}/ns/demo/sa/sleep`;

const MODES = ['STRICT', 'PERMISSIVE', 'DISABLE'] as const;
type Mode = (typeof MODES)[number];
const KINDS = ['http', 'tcp', 'auto'] as const;
type Kind = (typeof KINDS)[number];
const CLIENTS = ['plaintext', 'mesh', 'foreign', 'nocert'] as const;
type Client = (typeof CLIENTS)[number];

/** App port of a kind × mode: HTTP 8081-8083, TCP 9081-9083, undeclared (an HTTP app) 7081-7083. */
const appPort = (kind: Kind, mode: Mode) => ({ http: 8080, tcp: 9080, auto: 7080 })[kind] + MODES.indexOf(mode) + 1;
/** The same app behind a bound Sidecar ingress listener. */
const boundPort = (kind: Kind, mode: Mode) => appPort(kind, mode) + 10000;
const ALL_PORTS = KINDS.flatMap((k) => MODES.map((m) => appPort(k, m)));
const BOUND_PORTS = ALL_PORTS.map((p) => p + 10000);

/** What a client gets, by mode (the same for every protocol and both kinds of listener). */
const EXPECTED: Record<Mode, Record<Client, boolean>> = {
  STRICT: { plaintext: false, mesh: true, foreign: false, nocert: false },
  PERMISSIVE: { plaintext: true, mesh: true, foreign: false, nocert: false },
  DISABLE: { plaintext: true, mesh: false, foreign: false, nocert: false },
};

function config(): string {
  const protocolOf = (k: Kind) => ({ http: ', protocol: HTTP', tcp: ', protocol: TCP', auto: '' })[k];
  const ingress = KINDS.flatMap((k) =>
    MODES.flatMap((m) => [
      `  - port: { number: ${appPort(k, m)}, name: p${appPort(k, m)}${protocolOf(k)} }`,
      `  - port: { number: ${boundPort(k, m)}, name: p${boundPort(k, m)}${protocolOf(k)} }\n    captureMode: NONE\n    defaultEndpoint: 127.0.0.1:${appPort(k, m)}`,
    ]),
  );
  const portLevel = KINDS.flatMap((k) => MODES.flatMap((m) => [appPort(k, m), boundPort(k, m)].map((p) => `    ${p}: { mode: ${m} }`)));
  return `
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: web, namespace: demo }
spec:
  workloadSelector: { labels: { app: web } }
  ingress:
${ingress.join('\n')}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: web, namespace: demo }
spec:
  selector: { matchLabels: { app: web } }
  mtls: { mode: PERMISSIVE }
  portLevelMtls:
${portLevel.join('\n')}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: admin-only-sleep, namespace: demo }
spec:
  selector: { matchLabels: { app: web } }
  action: DENY
  rules:
  - to: [{ operation: { paths: ["/admin"], ports: ["8082", "18082", "7082", "17082"] } }]
    from: [{ source: { notPrincipals: ["${TD}/ns/demo/sa/sleep"] } }]
`;
}

const SERVER_APPS = `
import { createServer } from 'node:http';
import { createServer as tcp } from 'node:net';
const http = createServer((req, res) => res.end(JSON.stringify({ app: 'web', url: req.url, xfcc: req.headers['x-forwarded-client-cert'] ?? null })));
const ports = JSON.parse(process.argv[2]);
for (const p of ports.http) createServer(http.listeners('request')[0]).listen(p, '0.0.0.0');
for (const p of ports.tcp) tcp((s) => s.pipe(s)).listen(p, '0.0.0.0');
console.log('apps ready');
`;

/**
 * Runs probes in parallel and prints their outcomes as JSON: for each, the bytes received (HTTP:
 * the response; TCP: the echo) or the error. TLS clients offer Istio's ALPN, as a sidecar does.
 */
const PROBE = `
import { connect as tcp } from 'node:net';
import { connect as tls } from 'node:tls';
import { readFileSync } from 'node:fs';
const [host, dir, list] = process.argv.slice(2);
const probes = JSON.parse(list);
const certs = (name) => ({ cert: readFileSync(dir + '/' + name + '/cert-chain.pem'), key: readFileSync(dir + '/' + name + '/key.pem') });
function probe({ port, kind, client, path }) {
  return new Promise((resolve) => {
    const payload = kind === 'tcp' ? 'echo-' + port + '\\n' : 'GET ' + path + ' HTTP/1.1\\r\\nhost: web\\r\\nconnection: close\\r\\n\\r\\n';
    const alpn = kind === 'tcp' ? ['istio'] : ['istio-http/1.1'];
    const s = client === 'plaintext'
      ? tcp({ host, port }, () => s.write(payload))
      : tls({ host, port, rejectUnauthorized: false, ALPNProtocols: alpn, ...(client === 'nocert' ? {} : certs(client === 'mesh' ? 'client-certs' : 'foreign-certs')) }, () => s.write(payload));
    let got = '';
    let done = false;
    const finish = (error) => { if (done) return; done = true; s.destroy(); resolve({ got, error }); };
    s.on('data', (b) => { got += b; if (kind === 'tcp' && got === payload) finish(); });
    s.on('close', () => finish());
    s.on('error', (e) => finish(e.code ?? e.message));
    setTimeout(() => finish('timeout'), 4000).unref();
  });
}
console.log(JSON.stringify(await Promise.all(probes.map(probe))));
`;

interface Probe {
  port: number;
  kind: Kind;
  client: Client;
  path: string;
}
interface Outcome {
  got: string;
  error?: string;
}

describe.skipIf(!!skip)('one inbound path: PeerAuthentication on captured and bound ports alike', () => {
  let client: Pod | undefined;
  let server: Pod | undefined;
  let dir: string;
  const procs: PodProcess[] = [];
  let serverProxy: PodProcess;

  async function runProbes(probes: Probe[]): Promise<Outcome[]> {
    const r = await run(NODE, [join(dir, 'probe.mjs'), SERVER_IP, dir, JSON.stringify(probes)], { ns: client!.ns, timeoutMs: 20_000 });
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout.trim()) as Outcome[];
  }

  /** Did the app answer the probe (HTTP 200 from the web app, or the TCP echo)? */
  function served(p: Probe, o: Outcome): boolean {
    if (p.kind === 'tcp') return o.got === `echo-${p.port}\n`;
    return /^HTTP\/1\.1 200 /.test(o.got) && o.got.includes('"app":"web"');
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'outrigger-inbound-'));
    await chmod(dir, 0o755);
    await must('mkdir', ['-m', '755', join(dir, 'config')]);
    await writeFile(join(dir, 'config', 'mesh.yaml'), config());
    await writeFile(join(dir, 'server-apps.mjs'), SERVER_APPS);
    await writeFile(join(dir, 'probe.mjs'), PROBE);
    const ca = await createRootCa({ trustDomain: TD });
    await podCertDir(dir, 'client-certs', ca, { trustDomain: TD, namespace: 'demo', serviceAccount: 'sleep' });
    const serverCerts = await podCertDir(dir, 'server-certs', ca, { trustDomain: TD, namespace: 'demo', serviceAccount: 'web' });
    await podCertDir(dir, 'foreign-certs', await createRootCa({ trustDomain: TD }), { trustDomain: TD, namespace: 'demo', serviceAccount: 'sleep' });
    [client, server] = await createPodPair('orinb', CLIENT_IP, SERVER_IP);
    // the bound ports are not captured: Istio users exclude them (excludeInboundPorts) with captureMode NONE
    await installCapture(server, ROOT, false, BOUND_PORTS);
    const ports = { http: [...MODES.map((m) => appPort('http', m)), ...MODES.map((m) => appPort('auto', m))], tcp: MODES.map((m) => appPort('tcp', m)) };
    const apps = spawnInPod(server, NODE, [join(dir, 'server-apps.mjs'), JSON.stringify(ports)]);
    procs.push(apps);
    serverProxy = spawnInPod(
      server,
      NODE,
      [CLI, 'run', '-c', join(dir, 'config'), '--namespace', 'demo', '--service-account', 'web', '--label', 'app=web', '--ip', SERVER_IP, '--workers', '1', '--cert-dir', serverCerts],
      { uid: 1337 },
    );
    procs.push(serverProxy);
    await waitSidecarReady(server, serverProxy);
    await waitOutput(apps, 'apps ready');
  }, 60_000);

  afterAll(() => tearDownPods(procs, [client, server], dir));

  it('the decision table holds on every port, captured and bound', async () => {
    const probes: Probe[] = [];
    for (const kind of KINDS) {
      for (const mode of MODES) {
        for (const port of [appPort(kind, mode), boundPort(kind, mode)]) {
          for (const c of CLIENTS) probes.push({ port, kind, client: c, path: '/table' });
        }
      }
    }
    const outcomes = await runProbes(probes);
    const table = probes.map((p, i) => {
      const mode = MODES.find((m) => appPort(p.kind, m) === p.port || boundPort(p.kind, m) === p.port)!;
      const where = p.port > 10000 ? 'bound' : 'captured';
      return `${where} ${p.kind} ${mode} ${p.client}: ${served(p, outcomes[i]) ? 'served' : 'refused'}`;
    });
    const expected = probes.map((p) => {
      const mode = MODES.find((m) => appPort(p.kind, m) === p.port || boundPort(p.kind, m) === p.port)!;
      const where = p.port > 10000 ? 'bound' : 'captured';
      return `${where} ${p.kind} ${mode} ${p.client}: ${EXPECTED[mode][p.client] ? 'served' : 'refused'}`;
    });
    expect(table, serverProxy.output().slice(-3000)).toEqual(expected);
  });

  it('over mesh mTLS the app learns the caller (XFCC) on both kinds of listener; a plaintext caller has none', async () => {
    const probes: Probe[] = [8082, 18082].flatMap((port) => [
      { port, kind: 'http' as const, client: 'mesh' as const, path: '/who' },
      { port, kind: 'http' as const, client: 'plaintext' as const, path: '/who' },
    ]);
    const [meshCaptured, plainCaptured, meshBound, plainBound] = await runProbes(probes);
    for (const o of [meshCaptured, meshBound]) expect(JSON.parse(o.got.slice(o.got.indexOf('\r\n\r\n') + 4)).xfcc).toContain(`URI=${CLIENT_ID}`);
    for (const o of [plainCaptured, plainBound]) expect(JSON.parse(o.got.slice(o.got.indexOf('\r\n\r\n') + 4)).xfcc).toBeNull();
  });

  it('a principal-based DENY (notPrincipals) lets the mesh caller in and keeps the plaintext one out, captured and bound', async () => {
    const probes: Probe[] = [8082, 18082, 7082, 17082].flatMap((port) => [
      { port, kind: (port % 10000 < 8000 ? 'auto' : 'http') as Kind, client: 'mesh' as const, path: '/admin' },
      { port, kind: (port % 10000 < 8000 ? 'auto' : 'http') as Kind, client: 'plaintext' as const, path: '/admin' },
    ]);
    const outcomes = await runProbes(probes);
    const status = outcomes.map((o) => o.got.slice(0, 12));
    expect(status).toEqual(Array.from({ length: 4 }, () => ['HTTP/1.1 200', 'HTTP/1.1 403']).flat());
  });
});
