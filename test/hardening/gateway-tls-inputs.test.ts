// Hostile and broken input on gateway TLS/TCP servers: plaintext on a passthrough port, a ClientHello
// cut short, garbage where a TLS handshake should be, a TCP server whose upstream is down. Each
// connection is closed and counted; the proxy goes on serving.
import { connect as netConnect, createServer as createNetServer, type AddressInfo, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRootCa, issueWorkloadCert, writeWorkloadDir } from '../../src/security/ca.js';
import { svcHost } from '../helpers/fixtures.js';
import { GATEWAY_ARGS, resource, serviceEntry, toYaml, virtualService } from '../helpers/mesh.js';
import { freePort, freePorts } from '../helpers/ports.js';
import { startProxy, stopAllProxies, type RunningProxy } from '../helpers/proxy.js';
import { accessLogEntries, eventually, scrape } from '../helpers/telemetry.js';

let dir: string;
let proxy: RunningProxy;
let echo: Server;
let passPort: number;
let mtlsPort: number;
let tcpPort: number;
let deadTcpPort: number;

/** Sends `bytes` (then half-closes when `end`), and resolves with what came back once the proxy closed. */
function sendAndWaitClose(port: number, bytes: Buffer, end: boolean, timeoutMs = 3_000): Promise<{ closed: boolean; received: number }> {
  return new Promise((resolve) => {
    let received = 0;
    const s = netConnect(port, '127.0.0.1', () => (end ? s.end(bytes) : s.write(bytes)));
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ closed: false, received });
    }, timeoutMs);
    s.on('data', (d) => (received += d.length));
    s.on('error', () => {});
    s.once('close', () => {
      clearTimeout(timer);
      resolve({ closed: true, received });
    });
  });
}

/** The first bytes of a TLS ClientHello record header claiming 512 bytes that never come. */
const TRUNCATED_HELLO = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'outrigger-hard-gw-'));
  const ca = await createRootCa({ trustDomain: 'cluster.local' });
  await writeWorkloadDir(join(dir, 'certs'), await issueWorkloadCert({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, trustDomain: 'cluster.local', namespace: 'default', serviceAccount: 'gw' }));
  echo = createNetServer((s) => s.on('data', (d) => s.write(d)).on('error', () => {}));
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
  const echoPort = (echo.address() as AddressInfo).port;
  const deadPort = await freePort(); // nothing listens there
  [passPort, mtlsPort, tcpPort, deadTcpPort] = await freePorts(4);
  const yaml = toYaml(
    serviceEntry({ name: 'echo', host: svcHost('echo'), ports: [{ number: 7, name: 'tcp', protocol: 'TCP' }], endpoints: [{ port: echoPort, portName: 'tcp' }] }),
    serviceEntry({ name: 'dead', host: svcHost('dead'), ports: [{ number: 7, name: 'tcp', protocol: 'TCP' }], endpoints: [{ port: deadPort, portName: 'tcp' }] }),
    resource('Gateway', 'gw', 'default', {
      selector: { istio: 'ingressgateway' },
      servers: [
        { port: { number: passPort, name: 'tls', protocol: 'TLS' }, hosts: ['echo.example.com'], tls: { mode: 'PASSTHROUGH' } },
        { port: { number: mtlsPort, name: 'tls-mesh', protocol: 'TLS' }, hosts: ['*'], tls: { mode: 'ISTIO_MUTUAL' } },
        { port: { number: tcpPort, name: 'tcp', protocol: 'TCP' }, hosts: ['*'] },
        { port: { number: deadTcpPort, name: 'tcp-dead', protocol: 'TCP' }, hosts: ['*'] },
      ],
    }),
    virtualService('echo', {
      hosts: ['*'],
      gateways: ['gw'],
      tls: [{ match: [{ sniHosts: ['echo.example.com'] }], route: [{ destination: { host: 'echo', port: { number: 7 } } }] }],
      tcp: [
        { match: [{ port: deadTcpPort }], route: [{ destination: { host: 'dead', port: { number: 7 } } }] },
        { route: [{ destination: { host: 'echo', port: { number: 7 } } }] },
      ],
    }),
  );
  proxy = await startProxy({ allStats: true, yaml, args: [...GATEWAY_ARGS, '--cert-dir', join(dir, 'certs'), '--access-log', 'json'] });
});

afterAll(async () => {
  await stopAllProxies();
  echo.close();
  await rm(dir, { recursive: true, force: true });
});

describe('gateway TLS and TCP servers under bad input', () => {
  it('plaintext on a passthrough port matches no chain: closed, counted as no_filter_chain_match', async () => {
    expect(await sendAndWaitClose(passPort, Buffer.from('GET / HTTP/1.1\r\nhost: x\r\n\r\n'), false)).toEqual({ closed: true, received: 0 });
    const e = await eventually(async () => {
      const s = await scrape(proxy.ports.stats);
      return s.sum('envoy_listener_no_filter_chain_match', { envoy_listener_address: `0.0.0.0_${passPort}` }) >= 1 ? s : undefined;
    });
    expect(e).toBeDefined();
  });

  it('a ClientHello cut short and half-closed: the connection is closed, nothing reaches the upstream', async () => {
    expect(await sendAndWaitClose(passPort, TRUNCATED_HELLO, true)).toEqual({ closed: true, received: 0 });
  });

  it('garbage where the mesh mTLS handshake should be: closed and counted as an SSL connection error', async () => {
    // a handshake record whose ClientHello body is nonsense: TLS to the inspector, unreadable to the TLS stack
    const garbage = Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x00, 0x20, 0x01]), Buffer.alloc(31, 0xff)]);
    const r = await sendAndWaitClose(mtlsPort, garbage, false);
    expect(r.closed).toBe(true);
    const e = await eventually(async () => {
      const s = await scrape(proxy.ports.stats);
      return s.sum('envoy_listener_ssl_connection_error', { envoy_listener_address: `0.0.0.0_${mtlsPort}` }) >= 1 ? s : undefined;
    });
    expect(e).toBeDefined();
  });

  it("a TCP server whose upstream is down: the client's connection is closed, the access log says UF", async () => {
    expect((await sendAndWaitClose(deadTcpPort, Buffer.from('hello'), false)).closed).toBe(true);
    const line = await eventually(() => accessLogEntries(proxy).find((j) => j.upstream_cluster === `outbound|7||${svcHost('dead')}`));
    expect(line?.response_flags).toBe('UF');
  });

  it('after all that, the servers still serve', async () => {
    const r = await new Promise<string>((resolve) => {
      const s = netConnect(tcpPort, '127.0.0.1', () => s.write('still here'));
      s.once('data', (d) => {
        resolve(String(d));
        s.destroy();
      });
      s.once('error', (err) => resolve(`error: ${err.message}`));
    });
    expect(r).toBe('still here');
  });
});
