// The TCP proxy through a Sidecar egress listener bound on loopback (protocol TCP, captureMode
// NONE): bytes both ways with backpressure and half-close, server-first protocols, connect
// failures (UF), and its stats. Capture through iptables is covered by test/e2e.
import { createHash } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { svcHost } from '../helpers/fixtures.js';
import { serviceEntry, sidecar, toYaml } from '../helpers/mesh.js';
import { freePorts } from '../helpers/ports.js';
import { startProxy, stopAllProxies, type RunningProxy } from '../helpers/proxy.js';
import { accessLogEntries, eventually, scrape } from '../helpers/telemetry.js';

let proxy: RunningProxy;
let echoPort: number;
let bannerPort: number;
let deadPort: number;
let echoListener: number;
let bannerListener: number;
let deadListener: number;
const servers: Server[] = [];
const sockets = new Set<Socket>();

function serve(handler: (s: Socket) => void): Promise<number> {
  const srv = createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    handler(s);
  });
  servers.push(srv);
  return new Promise((r) => srv.listen(0, '127.0.0.1', () => r((srv.address() as { port: number }).port)));
}

/** Connects, sends `payload` and half-closes; resolves with everything received until the peer's FIN. */
function exchange(port: number, payload: Buffer | undefined, opts: { readDelayMs?: number } = {}): Promise<{ data: Buffer; error?: string }> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    const parts: Buffer[] = [];
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ data: Buffer.concat(parts), error: 'timeout' });
    }, 15_000);
    s.on('data', (b) => {
      parts.push(b);
      if (opts.readDelayMs) {
        // a slow reader: the proxy must stop reading upstream instead of buffering it all
        s.pause();
        setTimeout(() => s.resume(), opts.readDelayMs);
      }
    });
    s.on('error', (e) => {
      clearTimeout(timer);
      resolve({ data: Buffer.concat(parts), error: (e as NodeJS.ErrnoException).code ?? e.message });
    });
    s.on('end', () => {
      clearTimeout(timer);
      s.end();
      resolve({ data: Buffer.concat(parts) });
    });
    s.on('connect', () => (payload ? s.end(payload) : undefined));
  });
}

const sha = (b: Buffer) => createHash('sha1').update(b).digest('hex');

beforeAll(async () => {
  echoPort = await serve((s) => s.pipe(s));
  bannerPort = await serve((s) => {
    s.write('220 banner-first\r\n');
    s.on('data', (b) => s.end(`got ${b.length}\r\n`));
  });
  [deadPort, echoListener, bannerListener, deadListener] = await freePorts(4);
  const tcpPort = (n: number) => [{ number: n, name: 'tcp', protocol: 'TCP' }];
  const yaml = toYaml(
    serviceEntry({ name: 'echo', host: svcHost('echo'), ports: tcpPort(echoListener), endpoints: [{ port: echoPort, portName: 'tcp' }] }),
    serviceEntry({ name: 'banner', host: svcHost('banner'), ports: tcpPort(bannerListener), endpoints: [{ port: bannerPort, portName: 'tcp' }] }),
    serviceEntry({ name: 'dead', host: svcHost('dead'), ports: tcpPort(deadListener), endpoints: [{ port: deadPort, portName: 'tcp' }] }),
    sidecar('default', {
      egress: [
        ...[echoListener, bannerListener, deadListener].map((n) => ({ port: { number: n, protocol: 'TCP', name: 'tcp' }, captureMode: 'NONE', hosts: ['./*'] })),
        { hosts: ['*/*'] },
      ],
    }),
  );
  proxy = await startProxy({ allStats: true, yaml, args: ['--access-log', 'json'] });
});

afterAll(async () => {
  await stopAllProxies();
  for (const s of sockets) s.destroy();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

describe('TCP proxy', () => {
  it('copies bytes both ways unchanged, and forwards the half-close each way', async () => {
    const payload = Buffer.alloc(4 * 1024 * 1024);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) & 0xff;
    const r = await exchange(echoListener, payload);
    expect(r.error).toBeUndefined();
    expect(r.data.length).toBe(payload.length);
    expect(sha(r.data)).toBe(sha(payload));
  });

  it('respects backpressure: a slow reader still gets every byte', async () => {
    const payload = Buffer.alloc(2 * 1024 * 1024, 'x');
    const r = await exchange(echoListener, payload, { readDelayMs: 2 });
    expect(r.data.length).toBe(payload.length);
  });

  it('a server-first protocol works: the banner arrives before the client says anything', async () => {
    const got = await new Promise<string>((resolve, reject) => {
      const s = connect(bannerListener, '127.0.0.1');
      s.once('data', (b) => {
        s.destroy();
        resolve(b.toString());
      });
      s.on('error', reject);
      setTimeout(() => reject(new Error('no banner')), 5_000);
    });
    expect(got).toBe('220 banner-first\r\n');
  });

  it('an upstream that refuses: the client connection closes with nothing sent, flag UF', async () => {
    const r = await exchange(deadListener, Buffer.from('hello'));
    expect(r.data.length).toBe(0);
    const cluster = `outbound|${deadListener}||${svcHost('dead')}`;
    const stats = await eventually(async () => {
      const s = await scrape(proxy.ports.stats);
      return s.sum('istio_tcp_connections_closed_total', { destination_service: svcHost('dead'), response_flags: 'UF' }) >= 1 ? s : undefined;
    });
    expect(stats, 'a UF series').toBeDefined();
    expect(stats!.sum('envoy_cluster_upstream_cx_connect_fail', { envoy_cluster_name: cluster })).toBeGreaterThanOrEqual(1);
    const log = await eventually(() => accessLogEntries(proxy).find((x) => x.upstream_cluster === cluster));
    // Envoy's JSON format: an operator without a value (no request headers on TCP) is null
    expect(log).toMatchObject({ response_flags: 'UF', method: null, protocol: null, response_code: 0 });
  });

  it('stats: Envoy tcp.* and cluster bytes, Istio TCP metrics with reporter=source and request_protocol=tcp', async () => {
    await exchange(echoListener, Buffer.alloc(1000, 'a'));
    const cluster = `outbound|${echoListener}||${svcHost('echo')}`;
    const s = (await eventually(async () => {
      const x = await scrape(proxy.ports.stats);
      return x.sum('istio_tcp_connections_closed_total', { destination_service: svcHost('echo') }) >= 3 ? x : undefined;
    }))!;
    expect(s, 'three closed echo connections').toBeDefined();
    const labels = { reporter: 'source', destination_service: svcHost('echo'), request_protocol: 'tcp', response_flags: '-' };
    expect(s.sum('istio_tcp_connections_opened_total', labels)).toBeGreaterThanOrEqual(3);
    expect(s.sum('istio_tcp_received_bytes_total', labels)).toBeGreaterThanOrEqual(4 * 1024 * 1024 + 2 * 1024 * 1024 + 1000);
    expect(s.sum('istio_tcp_sent_bytes_total', labels)).toBeGreaterThanOrEqual(4 * 1024 * 1024 + 2 * 1024 * 1024 + 1000);
    expect(s.one('envoy_tcp_downstream_cx_total', { envoy_tcp_prefix: cluster })).toBeGreaterThanOrEqual(3);
    expect(s.one('envoy_cluster_upstream_cx_tx_bytes_total', { envoy_cluster_name: cluster })).toBeGreaterThanOrEqual(1000);
    expect(s.one('envoy_cluster_upstream_cx_rx_bytes_total', { envoy_cluster_name: cluster })).toBeGreaterThanOrEqual(1000);
    expect(s.one('envoy_cluster_upstream_cx_active', { envoy_cluster_name: cluster })).toBe(0);
  });
});
