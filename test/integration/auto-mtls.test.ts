// Auto mTLS through the real proxy: one service, two endpoints; the one labelled
// security.istio.io/tlsMode: istio (it has a sidecar) is reached with mesh mTLS, the other in
// plaintext: the cluster's transport socket matches pick per endpoint. A rotated workload
// certificate is what the next connection presents.
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRootCa, issueWorkloadCert, writeWorkloadDir, type RootCa } from '../../src/security/ca.js';
import { httpRequest } from '../helpers/http.js';
import { waitFor } from '../helpers/lifecycle.js';
import { resource, serviceEntry, toYaml } from '../helpers/mesh.js';
import { startProxy, stopAllProxies, type RunningProxy } from '../helpers/proxy.js';

let dir: string;
let ca: RootCa;
let proxy: RunningProxy;
const servers: HttpServer[] = [];

const issue = (sa: string) => issueWorkloadCert({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, trustDomain: 'cluster.local', namespace: 'default', serviceAccount: sa });

async function listen(s: HttpServer): Promise<number> {
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return (s.address() as { port: number }).port;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'outrigger-automtls-'));
  ca = await createRootCa({ trustDomain: 'cluster.local' });
  const server = await issue('reviews');
  // a stand-in for a sidecar's inbound: mesh certificates both ways, Istio's HTTP ALPN
  const meshPort = await listen(
    createHttpsServer({ key: server.keyPem, cert: server.certChainPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: true, ALPNProtocols: ['istio-http/1.1'] }, (req, res) => {
      const s = req.socket as TLSSocket;
      // one request per connection: each one is a new handshake (rotation shows at once)
      res.setHeader('connection', 'close');
      res.end(JSON.stringify({ tls: true, clientSan: s.getPeerCertificate().subjectaltname, alpn: s.alpnProtocol, sni: (s as { servername?: string }).servername }));
    }),
  );
  const plainPort = await listen(createHttpServer((_req, res) => res.end(JSON.stringify({ tls: false }))));
  await writeWorkloadDir(join(dir, 'certs'), await issue('productpage'));
  const yaml = toYaml(
    serviceEntry({
      name: 'reviews',
      host: 'reviews.example.com',
      port: 80,
      endpoints: [{ port: meshPort, labels: { app: 'reviews', 'security.istio.io/tlsMode': 'istio' } }, { port: plainPort, labels: { app: 'reviews' } }],
    }),
    resource('DestinationRule', 'reviews', 'default', { host: 'reviews.example.com', trafficPolicy: { loadBalancer: { simple: 'ROUND_ROBIN' } } }),
  );
  proxy = await startProxy({ yaml, args: ['--mode', 'sidecar', '--namespace', 'default', '--cert-dir', join(dir, 'certs')] });
});

afterAll(async () => {
  await stopAllProxies();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  await rm(dir, { recursive: true, force: true });
});

const get = () => httpRequest(proxy.ports.outbound, { host: 'reviews.example.com', path: '/' });

describe('auto mTLS (transport socket matches)', () => {
  it('the sidecar endpoint gets mesh mTLS with the workload certificate, Istio ALPN and SNI; the other plaintext', async () => {
    const replies = [];
    for (let i = 0; i < 4; i++) {
      const r = await get();
      expect(r.status, r.text).toBe(200);
      replies.push(r.json());
    }
    const mesh = replies.filter((r) => r.tls);
    expect(mesh).toHaveLength(2);
    expect(replies.filter((r) => !r.tls)).toHaveLength(2);
    expect(mesh[0]).toMatchObject({ clientSan: 'URI:spiffe://cluster.local/ns/default/sa/productpage', alpn: 'istio-http/1.1', sni: 'outbound_.80_._.reviews.example.com' });
  });

  it('a rotated workload certificate is what new upstream connections present', async () => {
    await writeWorkloadDir(join(dir, 'certs'), await issue('productpage-rotated'));
    const rotated = async () => {
      for (let i = 0; i < 2; i++) {
        const r = await get();
        if (r.json().tls) return r.json().clientSan === 'URI:spiffe://cluster.local/ns/default/sa/productpage-rotated';
      }
      return false;
    };
    expect(await waitFor(rotated, 5_000, 100)).toBe(true);
  });
});
