// Close timing through the TCP proxy and the upgrade (WebSocket) tunnel: whatever the order in which
// the client, the proxy's upstream connect and the upstream end or reset, every upstream connection
// the proxy opened is closed — counted on the upstream server's side —, a FIN crosses as a
// half-close, and the proxy's gauges come back to 0 with each connection counted once.
import { spawn, type ChildProcess } from 'node:child_process';
import { connect as h2connect, constants as h2constants, type ClientHttp2Session } from 'node:http2';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { svcHost } from '../helpers/fixtures.js';
import { destinationRule, serviceEntry, sidecar, toYaml } from '../helpers/mesh.js';
import { freePorts } from '../helpers/ports.js';
import { sleep, startProxy, stopAllProxies, type RunningProxy } from '../helpers/proxy.js';
import { eventually, scrape, type Exposition } from '../helpers/telemetry.js';

/** Connections per timing case: enough for the client's close to race the upstream connect. */
const N = 20;
/** How long an upstream connection may stay open after the client's close has to reach it. */
const CLOSE_WITHIN_MS = 3_000;

/** What an upstream server saw of one connection. */
interface Seen {
  socket: Socket;
  data: Buffer[];
  ended: boolean;
  closed: boolean;
}

/** A loopback TCP server recording each connection's fate; `behave` plays the upstream's part. */
class RecordingServer {
  readonly conns: Seen[] = [];
  port = 0;
  private readonly server: Server;

  constructor(behave: (c: Seen) => void = () => {}) {
    this.server = createServer({ allowHalfOpen: true }, (socket) => {
      const c: Seen = { socket, data: [], ended: false, closed: false };
      this.conns.push(c);
      socket.on('data', (b: Buffer) => c.data.push(b));
      socket.on('end', () => (c.ended = true));
      socket.on('close', () => (c.closed = true));
      socket.on('error', () => {});
      behave(c);
    });
  }

  listen(): Promise<void> {
    return new Promise((r) => this.server.listen(0, '127.0.0.1', () => ((this.port = (this.server.address() as { port: number }).port), r())));
  }

  /** Connections that have neither seen the proxy's FIN nor closed. */
  stillOpen(): Seen[] {
    return this.conns.filter((c) => !c.ended && !c.closed);
  }

  /** The upstream answers every FIN with its own (as a normal server would). */
  endAll(): void {
    for (const c of this.conns) c.socket.end();
  }

  forget(): void {
    for (const c of this.conns) c.socket.destroy();
    this.conns.length = 0;
  }

  close(): Promise<void> {
    this.forget();
    return new Promise((r) => this.server.close(() => r()));
  }
}

/**
 * An upstream whose accept queue is full: a child process listening with a backlog of 1, stopped
 * (SIGSTOP) once test connections fill its queue, so the proxy's connect hangs (the kernel drops its
 * SYN) until `resume()`. The child reports `accept|end|close <client port>` on stdout; a normal
 * server, it closes a connection when it reads its FIN.
 */
class StalledServer {
  port = 0;
  private child: ChildProcess | undefined;
  private out = '';
  private readonly fill: Socket[] = [];
  private readonly fillPorts = new Set<number>();

  async start(): Promise<void> {
    const script = `
      const net = require('node:net');
      const say = (w, s) => process.stdout.write(w + ' ' + s.remotePort + '\\n');
      const srv = net.createServer((s) => { say('accept', s); s.on('end', () => say('end', s)); s.on('close', () => say('close', s)); s.on('error', () => {}); });
      srv.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => process.stdout.write('port ' + srv.address().port + '\\n'));`;
    this.child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => (this.out += d));
    const port = await eventually(() => /^port (\d+)$/m.exec(this.out)?.[1], 5_000, 20);
    this.port = Number(port);
  }

  /** Stops the child and fills its accept queue: from here a new connection stays in SYN_SENT. */
  async stall(): Promise<void> {
    this.child!.kill('SIGSTOP');
    for (let i = 0; i < 8; i++) {
      const s = connect(this.port, '127.0.0.1');
      s.on('error', () => {});
      this.fill.push(s);
      const ok = await new Promise<boolean>((r) => {
        s.once('connect', () => r(true));
        setTimeout(() => r(false), 300);
      });
      if (!ok) return;
      this.fillPorts.add(s.localPort!);
    }
    throw new Error('the stalled upstream kept accepting');
  }

  /** Lets the child accept again, and drops the connections that filled its queue. */
  resume(): void {
    this.child!.kill('SIGCONT');
    for (const s of this.fill.splice(0)) {
      if (s.localPort) this.fillPorts.add(s.localPort);
      s.destroy();
    }
  }

  /** The connections the proxy made (but those in `before`), by client port: has each one closed? */
  proxyConnections(before: ReadonlyMap<number, boolean> = new Map()): Map<number, boolean> {
    const seen = new Map<number, boolean>();
    for (const [, what, p] of this.out.matchAll(/^(accept|close) (\d+)$/gm)) {
      const port = Number(p);
      if (this.fillPorts.has(port) || before.has(port)) continue;
      seen.set(port, what === 'close' || seen.get(port) === true);
    }
    return seen;
  }

  stop(): void {
    this.child?.kill('SIGKILL');
  }
}

/** The client side of one connection through the proxy. */
interface Client {
  socket: Socket;
  data: Buffer[];
  ended: boolean;
  closed: boolean;
}

function client(port: number, opts: { allowHalfOpen?: boolean } = {}): Promise<Client> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: opts.allowHalfOpen ?? false });
    const c: Client = { socket, data: [], ended: false, closed: false };
    socket.on('data', (b: Buffer) => c.data.push(b));
    socket.on('end', () => (c.ended = true));
    socket.on('close', () => (c.closed = true));
    socket.on('error', () => {});
    socket.once('connect', () => resolve(c));
    setTimeout(() => reject(new Error('client connect timed out')), 5_000).unref();
  });
}

/** Waits (bounded) until `done` holds; fails with `what` and the last `detail` otherwise. */
async function until(what: string, done: () => boolean, detail: () => unknown = () => '', timeoutMs = CLOSE_WITHIN_MS): Promise<void> {
  const ok = await eventually(done, timeoutMs, 20);
  expect(ok, `${what}: ${JSON.stringify(detail())}`).toBe(true);
}

let proxy: RunningProxy;
const ports = { hold: 0, echoAfterFin: 0, finsFirst: 0, closes: 0, resets: 0, stalled: 0, stalledShort: 0, refused: 0, tunnel: 0 };
const hold = new RecordingServer();
/** Replies after the client's FIN: the reply must still reach a client that half-closed. */
const echoAfterFin = new RecordingServer((c) => c.socket.on('end', () => c.socket.end(`got ${Buffer.concat(c.data).length}`)));
const closes = new RecordingServer((c) => c.socket.end('bye'));
const resets = new RecordingServer((c) => setImmediate(() => c.socket.resetAndDestroy()));
/** Sends its FIN at once, then reads, slowly at first: the client's bytes must all arrive still. */
function finFirst(c: Seen): void {
  c.socket.end();
  c.socket.pause();
  setTimeout(() => c.socket.resume(), 200);
}
const finsFirst = new RecordingServer(finFirst);
const stalled = new StalledServer();
/** HTTP/1.1 upgrades: answers 101, then plays the part its path names. */
const tunnelUpstream = new RecordingServer((c) => {
  let head = '';
  const onHead = (b: Buffer) => {
    head += b.toString('latin1');
    if (!head.includes('\r\n\r\n')) return;
    c.socket.off('data', onHead);
    c.data.length = 0;
    c.socket.write('HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n');
    const path = /^GET (\S+)/.exec(head)?.[1];
    if (path === '/close') c.socket.end('bye');
    else if (path === '/reset') setImmediate(() => c.socket.resetAndDestroy());
    else if (path === '/echo-after-fin') c.socket.on('end', () => c.socket.end(`got ${Buffer.concat(c.data).length}`));
    else if (path === '/fin-first') finFirst(c);
  };
  c.socket.on('data', onHead);
});

const host = {
  hold: svcHost('hold'),
  echoAfterFin: svcHost('echo-after-fin'),
  finsFirst: svcHost('fins-first'),
  closes: svcHost('closes'),
  resets: svcHost('resets'),
  stalled: svcHost('stalled'),
  stalledShort: svcHost('stalled-short'),
  refused: svcHost('refused'),
  tunnel: svcHost('tunnel'),
};
const cluster = (name: keyof typeof ports) => `outbound|${ports[name]}||${host[name]}`;

beforeAll(async () => {
  for (const s of [hold, echoAfterFin, finsFirst, closes, resets, tunnelUpstream]) await s.listen();
  await stalled.start();
  const listenerPorts = await freePorts(Object.keys(ports).length + 1);
  for (const [i, k] of (Object.keys(ports) as (keyof typeof ports)[]).entries()) ports[k] = listenerPorts[i];
  const deadPort = listenerPorts.at(-1)!;
  const upstreamOf = { hold: hold.port, echoAfterFin: echoAfterFin.port, finsFirst: finsFirst.port, closes: closes.port, resets: resets.port, stalled: stalled.port, stalledShort: stalled.port, refused: deadPort };
  const tcp = Object.entries(upstreamOf).map(([k, up]) => {
    const p = ports[k as keyof typeof ports];
    return serviceEntry({ name: k.toLowerCase(), host: host[k as keyof typeof host], ports: [{ number: p, name: 'tcp', protocol: 'TCP' }], endpoints: [{ port: up, portName: 'tcp' }] });
  });
  const yaml = toYaml(
    ...tcp,
    serviceEntry({ name: 'tunnel', host: host.tunnel, port: ports.tunnel, endpoints: [{ port: tunnelUpstream.port }] }),
    destinationRule('stalled-short', { host: host.stalledShort, trafficPolicy: { connectionPool: { tcp: { connectTimeout: '300ms' } } } }),
    sidecar('default', {
      egress: [
        ...Object.keys(upstreamOf).map((k) => ({ port: { number: ports[k as keyof typeof ports], protocol: 'TCP', name: 'tcp' }, captureMode: 'NONE', hosts: ['./*'] })),
        { port: { number: ports.tunnel, protocol: 'HTTP', name: 'http' }, captureMode: 'NONE', hosts: ['./*'] },
        { hosts: ['*/*'] },
      ],
    }),
  );
  proxy = await startProxy({ yaml });
});

afterAll(async () => {
  await stopAllProxies();
  stalled.stop();
  await Promise.all([hold, echoAfterFin, finsFirst, closes, resets, tunnelUpstream].map((s) => s.close()));
});

/** Istio's TCP counters of one service: opened and closed, over every response flag. */
function istioTcp(s: Exposition, service: string): { opened: number; closed: number } {
  return {
    opened: s.sum('istio_tcp_connections_opened_total', { destination_service: service }),
    closed: s.sum('istio_tcp_connections_closed_total', { destination_service: service }),
  };
}

/**
 * The proxy's view once the case is over: no connection left on the listener, none to the cluster,
 * and `n` more connections opened and closed in Istio's metrics (each counted once).
 */
async function expectSettled(name: keyof typeof ports, before: Exposition, n: number, flags?: string): Promise<void> {
  const want = (s: Exposition) => {
    const was = istioTcp(before, host[name]);
    const now = istioTcp(s, host[name]);
    return {
      listenerActive: s.sum('envoy_listener_downstream_cx_active', { envoy_listener_address: `127.0.0.1_${ports[name]}` }),
      upstreamActive: s.sum('envoy_cluster_upstream_cx_active', { envoy_cluster_name: cluster(name) }),
      opened: now.opened - was.opened,
      closed: now.closed - was.closed,
      ...(flags ? { flagged: s.sum('istio_tcp_connections_closed_total', { destination_service: host[name], response_flags: flags }) - before.sum('istio_tcp_connections_closed_total', { destination_service: host[name], response_flags: flags }) } : {}),
    };
  };
  let last: ReturnType<typeof want> | undefined;
  const expected = { listenerActive: 0, upstreamActive: 0, opened: n, closed: n, ...(flags ? { flagged: n } : {}) };
  await eventually(async () => {
    last = want(await scrape(proxy.ports.stats));
    return JSON.stringify(last) === JSON.stringify(expected);
  }, 5_000);
  expect(last).toEqual(expected);
}

/** `n` clients, each connected and then handled by `act` as soon as it is connected (no await between them). */
async function burst(port: number, act: (c: Client, i: number) => void | Promise<void>, n = N): Promise<Client[]> {
  const clients: Client[] = [];
  for (let i = 0; i < n; i++) {
    const c = await client(port);
    clients.push(c);
    await act(c, i);
  }
  return clients;
}

describe('TCP proxy: the client closes first', () => {
  it('connect, then end() with no byte (a load balancer health check): every upstream connection sees the FIN, then all close', async () => {
    const before = await scrape(proxy.ports.stats);
    hold.forget();
    const clients = await burst(ports.hold, (c) => void c.socket.end());
    await until('the proxy opened one upstream connection per client', () => hold.conns.length === N, () => hold.conns.length);
    await until('every upstream connection saw the FIN', () => hold.stillOpen().length === 0, () => hold.stillOpen().length);
    // half-close: the clients still wait for the upstream's side; it answers the FIN with its own
    expect(clients.filter((c) => c.closed).length).toBe(0);
    hold.endAll();
    await until('every client closed', () => clients.every((c) => c.ended && c.closed), () => clients.filter((c) => !c.closed).length);
    await until('every upstream connection closed', () => hold.conns.every((c) => c.closed));
    await expectSettled('hold', before, N, '-');
  });

  it('connect, then destroy() (close without shutdown): the same', async () => {
    const before = await scrape(proxy.ports.stats);
    hold.forget();
    await burst(ports.hold, (c) => void c.socket.destroy());
    await until('the proxy opened one upstream connection per client', () => hold.conns.length === N, () => hold.conns.length);
    await until('every upstream connection saw the FIN', () => hold.stillOpen().length === 0, () => hold.stillOpen().length);
    hold.endAll();
    await until('every upstream connection closed', () => hold.conns.every((c) => c.closed));
    await expectSettled('hold', before, N);
  });

  for (const when of ['at once', 'a turn later', 'after the upstream accepted'] as const) {
    it(`a reset (RST) from the client ${when}: the upstream connection closes without the upstream doing anything`, async () => {
      const before = await scrape(proxy.ports.stats);
      hold.forget();
      await burst(ports.hold, async (c, i) => {
        if (when === 'a turn later') await new Promise((r) => setImmediate(r));
        if (when === 'after the upstream accepted') await until('the upstream accepted', () => hold.conns.length === i + 1);
        c.socket.resetAndDestroy();
      });
      await sleep(200); // connects still under way finish (or not) first
      await until('every upstream connection the proxy opened was closed by it', () => hold.stillOpen().length === 0, () => hold.stillOpen().length);
      await expectSettled('hold', before, N);
    });
  }

  it('bytes then FIN at once: the bytes reach the upstream, then its FIN', async () => {
    const before = await scrape(proxy.ports.stats);
    hold.forget();
    await burst(ports.hold, (c, i) => void c.socket.end(`hello ${i}`));
    await until('every upstream connection saw the FIN', () => hold.conns.length === N && hold.stillOpen().length === 0, () => hold.stillOpen().length);
    const got = hold.conns.map((c) => Buffer.concat(c.data).toString()).sort();
    expect(got).toEqual(Array.from({ length: N }, (_, i) => `hello ${i}`).sort());
    hold.endAll();
    await until('every upstream connection closed', () => hold.conns.every((c) => c.closed));
    await expectSettled('hold', before, N);
  });

  it('half-close: a client that sent FIN still receives the reply the upstream sends after it', async () => {
    const before = await scrape(proxy.ports.stats);
    echoAfterFin.forget();
    // the first client sends nothing: its FIN alone must make the upstream answer
    const clients = await burst(ports.echoAfterFin, (c, i) => void c.socket.end('x'.repeat(i)));
    await until('every client got its reply and the FIN', () => clients.every((c) => c.ended), () => clients.filter((c) => !c.ended).length);
    expect(clients.map((c) => Buffer.concat(c.data).toString())).toEqual(Array.from({ length: N }, (_, i) => `got ${i}`));
    await until('every upstream connection closed', () => echoAfterFin.conns.length === N && echoAfterFin.conns.every((c) => c.closed));
    await expectSettled('echoAfterFin', before, N);
  });
});

/** 4 MiB, then FIN. */
const BULK = Buffer.alloc(4 * 1024 * 1024, 'b');

describe('TCP proxy: the upstream closes first', () => {
  it('the upstream half-closes first and reads slowly: every byte the client sent after that still arrives, then its FIN', async () => {
    const before = await scrape(proxy.ports.stats);
    finsFirst.forget();
    const clients = await burst(ports.finsFirst, (c) => void c.socket.end(BULK), 3);
    await until('every upstream connection got all the bytes and the FIN', () => finsFirst.conns.length === 3 && finsFirst.conns.every((c) => c.ended), () => finsFirst.conns.map((c) => Buffer.concat(c.data).length), 10_000);
    expect(finsFirst.conns.map((c) => Buffer.concat(c.data).length)).toEqual([BULK.length, BULK.length, BULK.length]);
    await until('every client closed', () => clients.every((c) => c.closed));
    await expectSettled('finsFirst', before, 3);
  });

  it('the upstream sends and ends: the client gets the bytes and the FIN; both sides close', async () => {
    const before = await scrape(proxy.ports.stats);
    closes.forget();
    const clients = await burst(ports.closes, () => {});
    await until('every client got the upstream bytes and FIN, and closed', () => clients.every((c) => c.ended && c.closed));
    expect(clients.every((c) => Buffer.concat(c.data).toString() === 'bye')).toBe(true);
    await until('every upstream connection closed', () => closes.conns.length === N && closes.conns.every((c) => c.closed));
    await expectSettled('closes', before, N);
  });

  it('the upstream resets: the client connection closes', async () => {
    const before = await scrape(proxy.ports.stats);
    resets.forget();
    const clients = await burst(ports.resets, () => {});
    await until('every client connection closed', () => clients.every((c) => c.closed), () => clients.filter((c) => !c.closed).length);
    await expectSettled('resets', before, N);
  });
});

describe('TCP proxy: the client leaves while the upstream connect is pending', () => {
  it('FIN before the connect completes: once the upstream accepts, it sees the FIN and the connection closes', async () => {
    const before = await scrape(proxy.ports.stats);
    const known = stalled.proxyConnections();
    await stalled.stall();
    const clients = await burst(ports.stalled, (c) => void c.socket.end(), 5);
    await sleep(300); // the proxy's connects are in SYN_SENT
    stalled.resume();
    // the kernel retries the SYN after 1 s (then 3 s): the connects complete then
    await until('the upstream accepted and closed each proxy connection', () => {
      const m = stalled.proxyConnections(known);
      return m.size === 5 && [...m.values()].every(Boolean);
    }, () => [...stalled.proxyConnections(known)], 10_000);
    await until('every client closed', () => clients.every((c) => c.closed));
    await expectSettled('stalled', before, 5, '-');
  });

  it('RST before the connect completes: the connect is abandoned (flag DC), nothing reaches the upstream', async () => {
    const before = await scrape(proxy.ports.stats);
    const known = stalled.proxyConnections();
    await stalled.stall();
    await burst(ports.stalled, (c) => void c.socket.resetAndDestroy(), 5);
    await expectSettled('stalled', before, 5, 'DC');
    stalled.resume();
    await sleep(1_500); // a connect left in SYN_SENT would complete now
    const leaked = [...stalled.proxyConnections(known)].filter(([, closed]) => !closed);
    expect(leaked).toEqual([]);
    const s = await scrape(proxy.ports.stats);
    expect(s.sum('envoy_cluster_upstream_cx_connect_fail', { envoy_cluster_name: cluster('stalled') })).toBe(before.sum('envoy_cluster_upstream_cx_connect_fail', { envoy_cluster_name: cluster('stalled') }));
  });

  it('connect timeout after the client sent its FIN: flag UF, the client is closed, no socket left', async () => {
    const before = await scrape(proxy.ports.stats);
    const known = stalled.proxyConnections();
    await stalled.stall();
    const clients = await burst(ports.stalledShort, (c) => void c.socket.end(), 5);
    await until('every client closed after the 300 ms connect timeout', () => clients.every((c) => c.closed));
    await expectSettled('stalledShort', before, 5, 'UF');
    stalled.resume();
    await sleep(1_500); // a connect left in SYN_SENT would complete now
    expect([...stalled.proxyConnections(known)].filter(([, closed]) => !closed)).toEqual([]);
    // no timer of these sessions fires later: nothing more is counted
    await sleep(300);
    await expectSettled('stalledShort', before, 5, 'UF');
  });

  it('RST, then the connect would have timed out: counted once (DC), the timer never fires', async () => {
    const before = await scrape(proxy.ports.stats);
    await stalled.stall();
    await burst(ports.stalledShort, (c) => void c.socket.resetAndDestroy(), 5);
    await sleep(600); // past the connect timeout
    await expectSettled('stalledShort', before, 5, 'DC');
    const s = await scrape(proxy.ports.stats);
    expect(s.sum('istio_tcp_connections_closed_total', { destination_service: host.stalledShort, response_flags: 'UF' })).toBe(
      before.sum('istio_tcp_connections_closed_total', { destination_service: host.stalledShort, response_flags: 'UF' }),
    );
    stalled.resume();
  });

  it('connect refused after the client sent its FIN: flag UF, the client is closed', async () => {
    const before = await scrape(proxy.ports.stats);
    const clients = await burst(ports.refused, (c) => void c.socket.end());
    await until('every client closed', () => clients.every((c) => c.closed));
    await expectSettled('refused', before, N, 'UF');
  });
});

// ------------------------------------------------------------------ the upgrade tunnel

/** An HTTP/1.1 WebSocket upgrade through the proxy: resolves once the 101 head arrived. */
async function openTunnel(path: string): Promise<Client> {
  const c = await client(ports.tunnel, { allowHalfOpen: true });
  c.socket.write(`GET ${path} HTTP/1.1\r\nhost: ${host.tunnel}\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n`);
  await until('the 101', () => Buffer.concat(c.data).includes('\r\n\r\n'), () => Buffer.concat(c.data).toString());
  const all = Buffer.concat(c.data);
  expect(all.toString('latin1')).toMatch(/^HTTP\/1\.1 101 /);
  c.data.length = 0;
  const rest = all.subarray(all.indexOf('\r\n\r\n') + 4);
  if (rest.length) c.data.push(rest);
  return c;
}

/** `n` tunnels to `path`, each handed to `act` as soon as its 101 arrived. */
async function tunnels(path: string, n: number, act: (c: Client, i: number) => void = () => {}): Promise<Client[]> {
  const clients: Client[] = [];
  for (let i = 0; i < n; i++) {
    const c = await openTunnel(path);
    act(c, i);
    clients.push(c);
  }
  return clients;
}

/** The tunnel's HTTP side is over: no client connection, no upstream request left open. */
async function expectTunnelsSettled(before: Exposition, n: number): Promise<void> {
  const upgrades = (s: Exposition) => s.sum('istio_requests_total', { destination_service: host.tunnel, response_code: '101' });
  const view = (s: Exposition) => ({
    listenerActive: s.sum('envoy_listener_downstream_cx_active', { envoy_listener_address: `127.0.0.1_${ports.tunnel}` }),
    upstreamRqActive: s.sum('envoy_cluster_upstream_rq_active', { envoy_cluster_name: cluster('tunnel') }),
    upgrades: upgrades(s) - upgrades(before),
  });
  const expected = { listenerActive: 0, upstreamRqActive: 0, upgrades: n };
  let last: ReturnType<typeof view> | undefined;
  await eventually(async () => {
    last = view(await scrape(proxy.ports.stats));
    return JSON.stringify(last) === JSON.stringify(expected);
  }, 5_000);
  expect(last).toEqual(expected);
}

describe('WebSocket tunnel (HTTP/1.1 Upgrade)', () => {
  const T = 10;

  it('the client half-closes: the upstream sees the FIN; its FIN closes the client', async () => {
    const before = await scrape(proxy.ports.stats);
    tunnelUpstream.forget();
    const clients = await tunnels('/hold', T, (c) => void c.socket.end('frame'));
    await until('every upstream tunnel saw the FIN', () => tunnelUpstream.conns.length === T && tunnelUpstream.stillOpen().length === 0, () => tunnelUpstream.stillOpen().length);
    expect(tunnelUpstream.conns.every((c) => Buffer.concat(c.data).toString() === 'frame')).toBe(true);
    tunnelUpstream.endAll();
    await until('every client closed', () => clients.every((c) => c.ended && c.closed));
    await until('every upstream tunnel closed', () => tunnelUpstream.conns.every((c) => c.closed));
    await expectTunnelsSettled(before, T);
  });

  it('half-close: the reply the upstream sends after the client FIN still reaches the client', async () => {
    const before = await scrape(proxy.ports.stats);
    tunnelUpstream.forget();
    const clients = await tunnels('/echo-after-fin', T, (c, i) => void c.socket.end('y'.repeat(i + 1)));
    await until('every client got its reply and the FIN', () => clients.every((c) => c.ended));
    expect(clients.map((c) => Buffer.concat(c.data).toString())).toEqual(Array.from({ length: T }, (_, i) => `got ${i + 1}`));
    for (const c of clients) c.socket.end();
    await until('every upstream tunnel closed', () => tunnelUpstream.conns.every((c) => c.closed));
    await expectTunnelsSettled(before, T);
  });

  it('the upstream half-closes first and reads slowly: every byte the client sent after that still arrives, then its FIN', async () => {
    const before = await scrape(proxy.ports.stats);
    tunnelUpstream.forget();
    const clients = await tunnels('/fin-first', 3, (c) => void c.socket.end(BULK));
    await until('every upstream tunnel got all the bytes and the FIN', () => tunnelUpstream.conns.every((c) => c.ended), () => tunnelUpstream.conns.map((c) => Buffer.concat(c.data).length), 10_000);
    expect(tunnelUpstream.conns.map((c) => Buffer.concat(c.data).length)).toEqual([BULK.length, BULK.length, BULK.length]);
    await until('every client closed', () => clients.every((c) => c.closed));
    await expectTunnelsSettled(before, 3);
  });

  it('the client resets: the upstream connection closes', async () => {
    const before = await scrape(proxy.ports.stats);
    tunnelUpstream.forget();
    await tunnels('/hold', T, (c) => c.socket.resetAndDestroy());
    await until('every upstream tunnel was closed by the proxy', () => tunnelUpstream.conns.length === T && tunnelUpstream.stillOpen().length === 0, () => tunnelUpstream.stillOpen().length);
    await expectTunnelsSettled(before, T);
  });

  it('the upstream ends: the client gets the bytes and the FIN; both sides close', async () => {
    const before = await scrape(proxy.ports.stats);
    tunnelUpstream.forget();
    const clients = await tunnels('/close', T);
    await until('every client got the FIN', () => clients.every((c) => c.ended), () => clients.filter((c) => !c.ended).length);
    expect(clients.every((c) => Buffer.concat(c.data).toString() === 'bye')).toBe(true);
    for (const c of clients) c.socket.end();
    await until('every upstream tunnel closed', () => tunnelUpstream.conns.every((c) => c.closed));
    await until('every client closed', () => clients.every((c) => c.closed));
    await expectTunnelsSettled(before, T);
  });

  it('the upstream resets: the client connection closes', async () => {
    const before = await scrape(proxy.ports.stats);
    tunnelUpstream.forget();
    const clients = await tunnels('/reset', T);
    await until('every client connection was closed by the proxy', () => clients.every((c) => c.ended || c.closed), () => clients.filter((c) => !c.ended && !c.closed).length);
    await expectTunnelsSettled(before, T); // the proxy's side of each client connection is gone
    for (const c of clients) c.socket.destroy();
  });
});

describe('WebSocket tunnel over HTTP/2 (extended CONNECT)', () => {
  async function openStream(session: ClientHttp2Session, path: string) {
    const stream = session.request({ ':method': 'CONNECT', ':protocol': 'websocket', ':path': path, ':authority': host.tunnel, 'sec-websocket-version': '13' });
    stream.on('error', () => {});
    const status = await new Promise<number>((r) => stream.once('response', (h) => r(Number(h[':status']))));
    expect(status).toBe(200);
    return stream;
  }

  async function withSession(fn: (s: ClientHttp2Session) => Promise<void>): Promise<void> {
    const session = h2connect(`http://127.0.0.1:${ports.tunnel}`);
    session.on('error', () => {});
    await new Promise<void>((r) => session.once('remoteSettings', () => r()));
    try {
      await fn(session);
    } finally {
      session.destroy();
    }
  }

  it('END_STREAM from the client reaches the upstream as a FIN; RST_STREAM closes the upstream connection', async () => {
    tunnelUpstream.forget();
    await withSession(async (session) => {
      const ended = await openStream(session, '/hold');
      ended.end('frame');
      const reset = await openStream(session, '/hold');
      await until('both upstream tunnels are open', () => tunnelUpstream.conns.length === 2);
      reset.close(h2constants.NGHTTP2_CANCEL);
      await until(
        'the ended stream: FIN upstream; the reset one: closed by the proxy',
        () => tunnelUpstream.conns[0].ended && tunnelUpstream.stillOpen().length === 0,
        () => tunnelUpstream.conns.map((c) => ({ ended: c.ended, closed: c.closed })),
      );
      tunnelUpstream.endAll();
      await until('the ended stream closes once the upstream ends too', () => ended.closed && tunnelUpstream.conns[0].closed);
    });
  });

  it('the upstream ends: the client stream ends', async () => {
    tunnelUpstream.forget();
    await withSession(async (session) => {
      const stream = await openStream(session, '/close');
      let got = '';
      stream.on('data', (b: Buffer) => (got += b.toString()));
      await new Promise<void>((r) => stream.once('end', () => r()));
      expect(got).toBe('bye');
      stream.end();
      await until('the upstream tunnel closed', () => tunnelUpstream.conns.length === 1 && tunnelUpstream.conns[0].closed);
    });
  });
});
