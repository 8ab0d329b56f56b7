#!/usr/bin/env node
// HTTP/2 clients that close without GOAWAY (`node bench/h2-close.mjs` after `npx tsc`; see
// bench/README.md): N clients (h2c, then h2 over TLS by ALPN) each send one request, read the
// response and close their socket — a FIN, a plain close or a TCP reset in turn — then C
// connections × S streams the upstream never answers are closed the same way. After each phase it
// prints how long the proxy took to get back to its baseline descriptor count
// (/proc/<pid>/fd) and downstream_cx_active, its RSS, and the upstream connections left open.
// Loopback only; every phase bounded in time; the proxy is killed on exit.
import fs from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { HOST, PROXY_PORTS, ROOT, freePorts, gatewayMesh, numberFlag, scratch, sleep, startGateway } from './harness.mjs';

const NAME = 'shop.example.com';
const CLIENTS = numberFlag('--clients', 2_000);
const PARALLEL = numberFlag('--parallel', 100);
const HELD_CONNS = numberFlag('--held-connections', 10);
const HELD_STREAMS = numberFlag('--held-streams', 50);
const SETTLE_LIMIT_MS = 10_000;
const log = (...m) => console.error(`[bench:h2-close ${new Date().toISOString().slice(11, 19)}] ${m.join(' ')}`);
const { tmp, children } = scratch('outrigger-bench-h2close-');

const fds = (pid) => fs.readdirSync(`/proc/${pid}/fd`).length;
const rssMiB = (pid) => Number(/^VmRSS:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;

/** downstream_cx_active summed over listeners; its own connection, closed after (a kept-alive one would count as a descriptor). */
async function cxActive(statsPort) {
  const text = await new Promise((resolve, reject) => {
    http.get({ host: HOST, port: statsPort, path: '/stats/prometheus', agent: false, headers: { connection: 'close' } }, (res) => {
      let t = '';
      res.setEncoding('utf8').on('data', (d) => (t += d)).on('end', () => resolve(t));
    }).on('error', reject);
  });
  let n = 0;
  for (const m of text.matchAll(/^envoy_listener_downstream_cx_active\{[^}]*\} (\d+)/gm)) n += Number(m[1]);
  return n;
}

async function main() {
  const { createRootCa, issueWorkloadCert } = await import(path.join(ROOT, 'dist', 'security', 'ca.js'));
  let upstreamOpen = 0;
  const upstream = http.createServer((req, res) => {
    if (req.url === '/hold') return; // never answered
    res.writeHead(200, { connection: 'close', 'content-length': '2' });
    res.end('ok');
  });
  upstream.on('connection', (s) => { upstreamOpen++; s.once('close', () => upstreamOpen--); });
  await new Promise((r) => upstream.listen(0, HOST, r));
  const root = await createRootCa({ trustDomain: 'cluster.local' });
  const cert = await issueWorkloadCert({ caCertPem: root.certPem, caKeyPem: root.keyPem, trustDomain: 'cluster.local', namespace: 'edge', serviceAccount: 'gw', dnsNames: [NAME] });
  fs.writeFileSync(path.join(tmp, 'server.pem'), cert.certChainPem);
  fs.writeFileSync(path.join(tmp, 'server.key'), cert.keyPem);
  const [plain, secure, ...proxyPorts] = await freePorts(2 + PROXY_PORTS);
  fs.mkdirSync(path.join(tmp, 'config'));
  const tlsFiles = `serverCertificate: ${path.join(tmp, 'server.pem')}, privateKey: ${path.join(tmp, 'server.key')}`;
  fs.writeFileSync(path.join(tmp, 'config', 'mesh.yaml'), gatewayMesh(upstream.address().port, 'HTTP', [
    `{ port: { number: ${plain}, name: http, protocol: HTTP }, hosts: ["*"] }`,
    `{ port: { number: ${secure}, name: https, protocol: HTTPS }, hosts: [${NAME}], tls: { mode: SIMPLE, ${tlsFiles} } }`,
  ]));
  const { proxy, statsPort: stats } = await startGateway(path.join(tmp, 'config'), children, proxyPorts);

  const kinds = ['fin', 'destroy', 'rst'];
  const open = async (secureConn, settings = {}) => {
    const tcp = net.connect(secureConn ? secure : plain, HOST);
    tcp.on('error', () => {});
    const socket = secureConn ? tls.connect({ socket: tcp, servername: NAME, ca: root.certPem, ALPNProtocols: ['h2'] }) : tcp;
    socket.on('error', () => {});
    await new Promise((resolve, reject) => { socket.once(secureConn ? 'secureConnect' : 'connect', resolve); socket.once('close', reject); });
    const session = http2.connect(`${secureConn ? 'https' : 'http'}://${NAME}`, { createConnection: () => socket, settings });
    session.on('error', () => {});
    return { session, socket, tcp };
  };
  const close = (c, how) => (how === 'fin' ? c.socket.end() : how === 'rst' ? c.tcp.resetAndDestroy() : c.socket.destroy());
  const request = (session, p, headersOnly) => new Promise((resolve) => {
    const r = session.request({ ':path': p, ':authority': NAME });
    r.on('error', () => resolve(0));
    r.on('response', (h) => { if (headersOnly) resolve(h[':status']); r.resume(); r.on('end', () => resolve(h[':status'])); });
    r.end();
  });
  const settle = async (base) => {
    const t0 = Date.now();
    while (Date.now() - t0 < SETTLE_LIMIT_MS) {
      if (fds(proxy.pid) <= base.fds && (await cxActive(stats)) <= base.cx && upstreamOpen === 0) return Date.now() - t0;
      await sleep(20);
    }
    return undefined;
  };
  const report = async (what, base, t0, closedAt) => {
    const peakFds = fds(proxy.pid);
    const ms = await settle(base);
    console.log(`${what}: ${((closedAt - t0) / 1000).toFixed(1)} s of traffic; fds ${peakFds} right after (baseline ${base.fds}); back at baseline ${ms === undefined ? `NOT within ${SETTLE_LIMIT_MS} ms (fds ${fds(proxy.pid)}, downstream_cx_active ${await cxActive(stats)}, upstream connections open ${upstreamOpen})` : `${ms} ms after the last close`}; RSS ${rssMiB(proxy.pid).toFixed(0)} MiB`);
    return ms !== undefined;
  };

  let ok = true;
  for (const secureConn of [false, true]) {
    const what = secureConn ? 'h2 over TLS' : 'h2c';
    const base = { fds: fds(proxy.pid), cx: await cxActive(stats) };
    log(`${CLIENTS} ${what} clients, ${PARALLEL} at a time, each one request then close (FIN / close / reset in turn)`);
    const t0 = Date.now();
    let failed = 0;
    for (let i = 0; i < CLIENTS; i += PARALLEL) {
      await Promise.all(Array.from({ length: Math.min(PARALLEL, CLIENTS - i) }, async (_, j) => {
        const c = await open(secureConn).catch(() => undefined);
        if (!c || (await request(c.session, '/ok')) !== 200) failed++;
        if (c) close(c, kinds[(i + j) % 3]);
      }));
    }
    if (failed) log(`${failed} requests failed`);
    ok = (await report(`${CLIENTS} ${what} one-request clients`, base, t0, Date.now())) && ok && failed === 0;

    const heldBase = { fds: fds(proxy.pid), cx: await cxActive(stats) };
    log(`${HELD_CONNS} ${what} connections x ${HELD_STREAMS} streams the upstream never answers, then closed`);
    const t1 = Date.now();
    const clients = await Promise.all(Array.from({ length: HELD_CONNS }, () => open(secureConn)));
    for (const c of clients) for (let s = 0; s < HELD_STREAMS; s++) void request(c.session, '/hold', true);
    for (let i = 0; i < 500 && upstreamOpen < HELD_CONNS * HELD_STREAMS; i++) await sleep(20);
    log(`upstream connections open: ${upstreamOpen}`);
    clients.forEach((c, i) => close(c, kinds[i % 3]));
    ok = (await report(`${HELD_CONNS} x ${HELD_STREAMS} held ${what} streams`, heldBase, t1, Date.now())) && ok;
  }
  process.exit(ok ? 0 : 1);
}

main().catch((e) => { log(e.stack ?? e); process.exit(1); });
