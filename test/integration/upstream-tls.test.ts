// DestinationRule tls: TLS origination to upstreams (SIMPLE with the rule's CA and SANs, MUTUAL
// with a client certificate), through the sidecar's outbound HTTP proxy.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRootCa, issueWorkloadCert } from '../../src/security/ca.js';
import { httpRequest } from '../helpers/http.js';
import { resource, serviceEntry, toYaml } from '../helpers/mesh.js';
import { startProxy, stopAllProxies, type RunningProxy } from '../helpers/proxy.js';

let dir: string;
let proxy: RunningProxy;
const servers: Server[] = [];

async function httpsServer(opts: { key: string; cert: string; ca?: string; requestCert?: boolean }): Promise<number> {
  const s = createServer({ ...opts, rejectUnauthorized: !!opts.requestCert }, (req, res) => {
    const peer = (req.socket as import('node:tls').TLSSocket).getPeerCertificate();
    res.end(JSON.stringify({ tls: true, sni: (req.socket as { servername?: string }).servername, clientSan: peer?.subjectaltname ?? null }));
  });
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return (s.address() as { port: number }).port;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'outrigger-uptls-'));
  const ca = await createRootCa({ trustDomain: 'cluster.local' });
  const server = await issueWorkloadCert({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, trustDomain: 'cluster.local', namespace: 'ext', serviceAccount: 'api', dnsNames: ['api.example.com'] });
  const client = await issueWorkloadCert({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, trustDomain: 'cluster.local', namespace: 'default', serviceAccount: 'app' });
  for (const [f, t] of Object.entries({ 'ca.pem': ca.certPem, 'client.pem': client.certChainPem, 'client.key': client.keyPem })) await writeFile(join(dir, f), t);
  const simple = await httpsServer({ key: server.keyPem, cert: server.certChainPem });
  const mutual = await httpsServer({ key: server.keyPem, cert: server.certChainPem, ca: ca.certPem, requestCert: true });
  const se = (name: string, port: number) => serviceEntry({ name, host: `${name}.example.com`, port: 80, endpoints: [{ port }] });
  const dr = (name: string, tls: Record<string, unknown>) => resource('DestinationRule', name, 'default', { host: `${name}.example.com`, trafficPolicy: { tls } });
  const yaml = toYaml(
    se('simple', simple), dr('simple', { mode: 'SIMPLE', caCertificates: join(dir, 'ca.pem'), sni: 'api.example.com', subjectAltNames: ['api.example.com'] }),
    se('wrongsan', simple), dr('wrongsan', { mode: 'SIMPLE', caCertificates: join(dir, 'ca.pem'), subjectAltNames: ['someone-else.example.com'] }),
    se('mutual', mutual), dr('mutual', { mode: 'MUTUAL', caCertificates: join(dir, 'ca.pem'), clientCertificate: join(dir, 'client.pem'), privateKey: join(dir, 'client.key') }),
    se('nocert', mutual), dr('nocert', { mode: 'SIMPLE', caCertificates: join(dir, 'ca.pem') }),
  );
  proxy = await startProxy({ yaml, args: ['--mode', 'sidecar'] });
});

afterAll(async () => {
  await stopAllProxies();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  await rm(dir, { recursive: true, force: true });
});

const get = (host: string) => httpRequest(proxy.ports.outbound, { host, path: '/' });

describe('DestinationRule tls (TLS origination)', () => {
  it('SIMPLE: the proxy speaks TLS to the upstream with the rule’s SNI, verifying its CA and SAN', async () => {
    const r = await get('simple.example.com');
    expect(r.status).toBe(200);
    expect(r.json()).toMatchObject({ tls: true, sni: 'api.example.com' });
  });

  it('a server certificate without the expected SAN: the connection fails (503 UF)', async () => {
    const r = await get('wrongsan.example.com');
    expect(r.status).toBe(503);
    expect(r.text).toMatch(/upstream connect error/);
  });

  it('MUTUAL: the client certificate is presented; without one the upstream refuses', async () => {
    const r = await get('mutual.example.com');
    expect(r.status).toBe(200);
    expect(r.json().clientSan).toBe('URI:spiffe://cluster.local/ns/default/sa/app');
    expect((await get('nocert.example.com')).status).toBe(503);
  });
});
