#!/usr/bin/env node
// Outrigger soak (`npm run soak`; see bench/README.md).
//
// One gateway proxy (CLI, 2 workers, an HTTP server and a TCP server) in its own process; the
// upstreams and every client run in this process, all on 127.0.0.1:
//   HTTP/1.1 (node:http keep-alive), HTTP/2 (node:http2, h2c on the same port), gRPC (grpc-js unary
//   and server streaming, to a grpc-js server behind a GRPC service port) and TCP (echo through the
//   TCP server), paced to --rps; upstream faults (an upstream that resets connections, a slow one);
//   client aborts of every kind; a config rewrite (atomic rename) every --reload-every seconds, each
//   one checked to apply; one invalid config half-way (must be rejected, traffic unaffected).
// Before the load, Item 8 of issue 12: 40 HTTP/2 connections × 190 rapid resets, and RSS / V8 heap
// before, right after, after an idle pause and after a forced GC. The heap figures and the forced GC
// come from the proxy's inspector (started on a loopback port): `--heapsnapshot-signal` would only
// see the main thread, and the data plane lives in worker threads.
// At the end: requests per kind, failures split into expected (aborts, injected faults) and
// unexpected, RSS start / after warm-up / end and its slope after warm-up (linear regression, MiB/min),
// fds start / end, and the downstream/upstream connection gauges once the clients have closed.
// Exit 1 on any unexpected failure or a downstream connection left open. Every phase is bounded in
// time and the proxy is killed on exit, error, SIGINT, SIGTERM and SIGHUP.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import WebSocket from 'ws';
import { flagReader } from './harness.mjs';
import { PROXY_NODE_FLAGS } from '../dist/cli/node-flags.js';
import { stringify } from 'yaml';

const HOST = '127.0.0.1';
const SELF = fileURLToPath(import.meta.url);
const ROOT = path.dirname(path.dirname(SELF));
const MiB = 1024 * 1024;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...m) => console.error(`[soak ${new Date().toISOString().slice(11, 19)}] ${m.join(' ')}`);

const opt = parseArgs(process.argv.slice(2));
let proxy = null; // { child, pid, exited, logFile }
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'outrigger-soak-'));
const closers = []; // upstream servers and clients, closed at the end
let exiting = false;

function killProxyNow() { if (proxy && !proxy.exited) try { process.kill(proxy.pid, 'SIGKILL'); } catch { /* gone */ } }
async function bail(code, msg) {
  if (exiting) return;
  exiting = true;
  if (msg) log(msg);
  for (const c of closers.splice(0)) try { c(); } catch { /* */ }
  if (proxy && !proxy.exited) {
    process.kill(proxy.pid, 'SIGTERM');
    for (let i = 0; i < 50 && !proxy.exited; i++) await sleep(100);
    killProxyNow();
  }
  if (!opt.keep) fs.rmSync(tmp, { recursive: true, force: true });
  else log(`kept ${tmp} (config, proxy log, heap snapshots)`);
  process.exit(code);
}
process.on('exit', killProxyNow);
for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(s, () => void bail(130, `got ${s}, stopping`));
process.on('uncaughtException', (e) => { opt.keep = true; void bail(1, `soak failed: ${e?.stack ?? e}`); });
process.on('unhandledRejection', (e) => { opt.keep = true; void bail(1, `soak failed: ${e?.stack ?? e}`); });
const watchdogS = opt.minutes * 60 + 300;
setTimeout(() => { opt.keep = true; void bail(3, `watchdog: run exceeded ${watchdogS} s`); }, watchdogS * 1000).unref();


// ======================================================================== main
async function main() {
  const up = await startUpstreams();
  const [httpPort, tcpPort, admin, stats, health, outbound, inbound] = await freePorts(7);
  const configFile = path.join(tmp, 'config.yaml');
  let generation = 0;
  const writeConfig = (text) => { fs.writeFileSync(`${configFile}.tmp`, text); fs.renameSync(`${configFile}.tmp`, configFile); };
  writeConfig(config(up, httpPort, tcpPort, generation));

  const logFile = path.join(tmp, 'proxy.log');
  const fd = fs.openSync(logFile, 'a');
  const child = spawn(process.execPath, [
    // the proxy's node flags given here: a re-exec to add them would start a second inspector
    ...PROXY_NODE_FLAGS,
    ...(process.env.NOINSPECT ? [] : ['--inspect=127.0.0.1:0']), // heap figures and a forced GC per thread, see inspectHeaps
    path.join(ROOT, 'bin', 'outrigger.js'), 'run', '-c', configFile, '--workers', String(opt.workers),
    '--mode', 'gateway', '--label', 'istio=ingressgateway', '--namespace', 'default', '--log-level', 'warning',
    '--admin-port', String(admin), '--stats-port', String(stats), '--health-port', String(health),
    '--outbound-port', String(outbound), '--inbound-port', String(inbound),
  ], { stdio: ['ignore', 'ignore', fd], cwd: ROOT });
  fs.closeSync(fd);
  proxy = { child, pid: child.pid, exited: null, logFile };
  child.on('exit', (code, sig) => { proxy.exited = { code, sig }; if (!exiting) { opt.keep = true; void bail(1, `proxy exited (${code ?? sig}); log: ${logFile}`); } });
  await waitReady(health);
  const inspectorUrl = await waitFor(() => /ws:\/\/127\.0\.0\.1:\d+\/[\w-]+/.exec(fs.readFileSync(logFile, 'utf8'))?.[0], 10_000, 'inspector URL');
  const adminStats = () => httpGet(admin, '/stats');
  log(`proxy pid ${proxy.pid}, ${opt.workers} workers, HTTP :${httpPort}, TCP :${tcpPort}, ${opt.minutes} min at ~${opt.rps} req/s`);

  const report = { rapidReset: null };
  const start = { rss: rss(proxy.pid), fds: fds(proxy.pid), heaps: await inspectHeaps(inspectorUrl) };

  // ---------------------------------------------------------------- item 8: rapid resets
  if (opt.rapidReset) report.rapidReset = await rapidResetPhase(httpPort, inspectorUrl, start);

  // ---------------------------------------------------------------- the load
  const tally = new Tally();
  const clients = makeClients(httpPort, tcpPort, tally);
  const samples = []; // [seconds since load start, rss]
  const t0 = Date.now();
  const endAt = t0 + opt.minutes * 60_000;
  const warmupS = Math.min(60, opt.minutes * 60 * 0.2);
  let afterWarmup;
  const sampler = setInterval(() => {
    const s = (Date.now() - t0) / 1000;
    samples.push([s, rss(proxy.pid)]);
    if (afterWarmup === undefined && s >= warmupS) afterWarmup = { rss: rss(proxy.pid), fds: fds(proxy.pid) };
  }, 5_000);
  const progress = setInterval(() => log(`${Math.round((Date.now() - t0) / 1000)} s: ${tally.brief()}, RSS ${mib(rss(proxy.pid))} MiB, fds ${fds(proxy.pid)}`), 30_000);

  const load = clients.run(endAt);
  // reloads: every --reload-every s a new generation (the route's response header says which), the
  // invalid config once, half-way
  const reloads = { applied: 0, late: 0, invalidRejected: null };
  const invalidAt = t0 + opt.minutes * 30_000;
  let invalidDone = false;
  while (Date.now() + opt.reloadEvery * 1000 < endAt) {
    await sleep(opt.reloadEvery * 1000);
    if (!invalidDone && Date.now() >= invalidAt) {
      invalidDone = true;
      const before = counter(await adminStats(), 'outrigger.config_rejected');
      writeConfig(config(up, httpPort, tcpPort, generation).replace('gateways:', 'bogusField: 1\n  gateways:'));
      const after = await waitFor(async () => { const n = counter(await adminStats(), 'outrigger.config_rejected'); return n > before ? n : undefined; }, 10_000, 'invalid config rejected').catch(() => undefined);
      reloads.invalidRejected = after !== undefined;
      if (!reloads.invalidRejected) tally.fail('reload', 'invalid config was not rejected');
      log(`invalid config written: ${reloads.invalidRejected ? 'rejected' : 'NOT rejected'}`);
      writeConfig(config(up, httpPort, tcpPort, generation)); // back to the good one (no change for the workers)
      continue;
    }
    generation++;
    writeConfig(config(up, httpPort, tcpPort, generation));
    const seen = await waitFor(async () => ((await h1Probe(httpPort)) === String(generation) ? true : undefined), 5_000, 'reload').catch(() => false);
    if (seen) reloads.applied++;
    else { reloads.late++; tally.fail('reload', `generation ${generation} not served within 5 s`); }
  }
  await load;
  clearInterval(progress);
  clearInterval(sampler);
  const loadEnd = { rss: rss(proxy.pid), fds: fds(proxy.pid) };
  clients.close();
  await sleep(opt.settle * 1000);
  const statsText = await adminStats();
  const gauges = {
    downstream_cx_active: sumStat(statsText, /^listener\.[^:]*\.downstream_cx_active: (\d+)/gm),
    upstream_cx_active: sumStat(statsText, /^cluster\.[^:]*\.upstream_cx_active: (\d+)/gm),
    downstream_rq_active: sumStat(statsText, /^http\.[^:]*\.downstream_rq_active: (\d+)/gm),
  };
  const idle = { rss: rss(proxy.pid), fds: fds(proxy.pid), heaps: await inspectHeaps(inspectorUrl) };
  const gc = { heaps: await inspectHeaps(inspectorUrl, { gc: true }) };
  gc.rss = rss(proxy.pid);
  if (opt.heapSnapshot) report.snapshot = await heapSnapshotSummary(inspectorUrl);

  // ---------------------------------------------------------------- report
  const slope = regressionSlope(samples.filter(([s]) => s >= warmupS)) * 60; // bytes/min
  const lines = [];
  lines.push(`Outrigger soak: ${opt.minutes} min, ${opt.workers} workers, target ~${opt.rps} req/s, reload every ${opt.reloadEvery} s`);
  lines.push('');
  lines.push(tally.table());
  lines.push('');
  lines.push(`reloads applied: ${reloads.applied} (late: ${reloads.late}); invalid config: ${reloads.invalidRejected === null ? 'not reached' : reloads.invalidRejected ? 'rejected' : 'NOT rejected'}`);
  if (report.rapidReset) {
    const r = report.rapidReset;
    lines.push(`rapid reset (${r.connections} connections × ${r.resetsPerConnection} resets, ${r.sent} streams reset, ${r.cutOff} connections sent GOAWAY): RSS ${mib(r.before)} → ${mib(r.after)} MiB right after → ${mib(r.idle)} after ${opt.settle} s idle → ${mib(r.gc)} after a forced GC; heap used ${heapText(r.heapBefore)} → ${heapText(r.heapAfter)} → ${heapText(r.heapGc)} (GC)`);
  }
  lines.push(`RSS: start ${mib(start.rss)} MiB, after warm-up (${warmupS} s) ${mib(afterWarmup?.rss)} MiB, end of load ${mib(loadEnd.rss)} MiB, after ${opt.settle} s idle ${mib(idle.rss)} MiB, after a forced GC ${mib(gc.rss)} MiB`);
  lines.push(`RSS slope after warm-up: ${(slope / MiB).toFixed(2)} MiB/min (${samples.length} samples every 5 s)`);
  lines.push(`V8 heap used: start ${heapText(start.heaps)}, idle ${heapText(idle.heaps)}, after GC ${heapText(gc.heaps)}`);
  lines.push(`fds: start ${start.fds}, after warm-up ${afterWarmup?.fds}, end of load ${loadEnd.fds}, idle ${idle.fds}`);
  lines.push(`gauges ${opt.settle} s after the clients closed: downstream_cx_active ${gauges.downstream_cx_active}, upstream_cx_active ${gauges.upstream_cx_active} (idle keep-alive pool connections), downstream_rq_active ${gauges.downstream_rq_active}`);
  if (report.snapshot) lines.push(report.snapshot);
  const unexpected = tally.unexpectedTotal();
  const leaked = gauges.downstream_cx_active > 0 || gauges.downstream_rq_active > 0;
  lines.push('');
  lines.push(unexpected === 0 && !leaked ? 'PASS: 0 unexpected failures, no downstream connection left open' : `FAIL: ${unexpected} unexpected failures${leaked ? ', downstream connections or requests left open' : ''}`);
  console.log(lines.join('\n'));
  if (opt.out) fs.writeFileSync(opt.out, JSON.stringify({ opt, tally: tally.json(), reloads, start, afterWarmup, loadEnd, idle, gc, slopeMiBPerMin: slope / MiB, gauges, samples, rapidReset: report.rapidReset }, null, 2));
  for (const u of up.close) closers.push(u);
  await bail(unexpected === 0 && !leaked ? 0 : 1);
}

// ======================================================================== config
function config(up, httpPort, tcpPort, generation) {
  const se = (name, ports, port) => ({
    apiVersion: 'networking.istio.io/v1', kind: 'ServiceEntry', metadata: { name, namespace: 'default' },
    spec: { hosts: [`${name}.default.svc.cluster.local`], location: 'MESH_INTERNAL', resolution: 'STATIC', ports, endpoints: [{ address: HOST, ports: { [ports[0].name]: port } }] },
  });
  const dest = (name, number) => ({ destination: { host: `${name}.default.svc.cluster.local`, port: { number } } });
  const docs = [
    se('app', [{ number: 80, name: 'http', protocol: 'HTTP' }], up.app),
    se('faulty', [{ number: 80, name: 'http', protocol: 'HTTP' }], up.faulty),
    se('grpc', [{ number: 9090, name: 'grpc', protocol: 'GRPC' }], up.grpc),
    se('echo', [{ number: 9000, name: 'tcp', protocol: 'TCP' }], up.tcp),
    {
      apiVersion: 'networking.istio.io/v1', kind: 'Gateway', metadata: { name: 'gw', namespace: 'default' },
      spec: { selector: { istio: 'ingressgateway' }, servers: [
        { port: { number: httpPort, name: 'http', protocol: 'HTTP' }, hosts: ['*'] },
        { port: { number: tcpPort, name: 'tcp', protocol: 'TCP' }, hosts: ['*'] },
      ] },
    },
    {
      apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'soak', namespace: 'default' },
      spec: {
        hosts: ['*'],
        gateways: ['gw'],
        http: [
          { match: [{ uri: { prefix: '/soak.Soak/' } }], route: [dest('grpc', 9090)] },
          { match: [{ uri: { prefix: '/fault/' } }], route: [dest('faulty', 80)] },
          { route: [dest('app', 80)], headers: { response: { set: { 'x-soak-gen': String(generation) } } } },
        ],
        tcp: [{ match: [{ port: tcpPort }], route: [dest('echo', 9000)] }],
      },
    },
  ];
  return docs.map((d) => stringify(d)).join('---\n');
}

// ======================================================================== upstreams
const raw = { serialize: (b) => b, deserialize: (b) => b };
const method = (p, responseStream) => ({ path: `/soak.Soak/${p}`, requestStream: false, responseStream, requestSerialize: raw.serialize, requestDeserialize: raw.deserialize, responseSerialize: raw.serialize, responseDeserialize: raw.deserialize });
const SERVICE = { Echo: method('Echo', false), Count: method('Count', true), Slow: method('Slow', false) };

async function startUpstreams() {
  const listen = (srv) => new Promise((r) => srv.listen(0, HOST, () => r(srv.address().port)));
  const track = (srv) => { const socks = new Set(); srv.on('connection', (s) => { socks.add(s); s.on('close', () => socks.delete(s)); }); return () => { for (const s of socks) s.destroy(); srv.close(); }; };
  const body = Buffer.alloc(512, 'x');
  const appSrv = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    req.resume();
    req.on('end', () => { res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length }); res.end(body); });
  });
  // the faulty upstream: /fault/reset resets the connection before answering, /fault/slow answers after 1.5 s
  const faultySrv = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    req.resume();
    if (req.url.startsWith('/fault/reset')) return void req.socket.resetAndDestroy();
    const t = setTimeout(() => res.end('slow'), 1_500);
    res.on('close', () => clearTimeout(t));
  });
  const tcpSrv = net.createServer((s) => { s.on('error', () => {}); s.pipe(s); });
  const grpcSrv = new grpc.Server();
  grpcSrv.addService(SERVICE, {
    Echo: (call, cb) => cb(null, call.request),
    Count: (call) => { const n = Number(call.request.toString()); for (let i = 0; i < n; i++) call.write(Buffer.from(`item ${i}`)); call.end(); },
    Slow: (call, cb) => { const t = setTimeout(() => cb(null, Buffer.from('late')), 1_500); call.on('cancelled', () => clearTimeout(t)); },
  });
  const grpcPort = await new Promise((res, rej) => grpcSrv.bindAsync(`${HOST}:0`, grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  const close = [track(appSrv), track(faultySrv), track(tcpSrv), () => grpcSrv.forceShutdown()];
  return { app: await listen(appSrv), faulty: await listen(faultySrv), tcp: await listen(tcpSrv), grpc: grpcPort, close };
}

// ======================================================================== clients
class Tally {
  constructor() { this.kinds = new Map(); }
  row(kind) { let r = this.kinds.get(kind); if (!r) this.kinds.set(kind, (r = { ok: 0, expected: 0, unexpected: 0, reasons: new Map() })); return r; }
  ok(kind) { this.row(kind).ok++; }
  expected(kind) { this.row(kind).expected++; }
  fail(kind, reason) {
    const r = this.row(kind);
    r.unexpected++;
    r.reasons.set(reason, (r.reasons.get(reason) ?? 0) + 1);
    if (r.reasons.get(reason) <= 3) log(`unexpected failure (${kind}): ${reason}`);
  }
  unexpectedTotal() { let n = 0; for (const r of this.kinds.values()) n += r.unexpected; return n; }
  brief() { let ok = 0, ex = 0; for (const r of this.kinds.values()) { ok += r.ok; ex += r.expected; } return `${ok} ok, ${ex} expected failures, ${this.unexpectedTotal()} unexpected`; }
  table() {
    const rows = [['kind', 'total', 'ok', 'expected failures', 'unexpected']];
    let t = [0, 0, 0, 0];
    for (const [k, r] of [...this.kinds].sort()) {
      const total = r.ok + r.expected + r.unexpected;
      rows.push([k, total, r.ok, r.expected, r.unexpected]);
      t = [t[0] + total, t[1] + r.ok, t[2] + r.expected, t[3] + r.unexpected];
    }
    rows.push(['all', ...t]);
    const w = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
    const out = rows.map((r) => r.map((c, i) => (i ? String(c).padStart(w[i]) : String(c).padEnd(w[i]))).join('  '));
    for (const [k, r] of this.kinds) for (const [why, n] of r.reasons) out.push(`  unexpected ${k}: ${n} × ${why}`);
    return out.join('\n');
  }
  json() { return Object.fromEntries([...this.kinds].map(([k, r]) => [k, { ...r, reasons: Object.fromEntries(r.reasons) }])); }
}

function makeClients(httpPort, tcpPort, tally) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  let h2 = null;
  const session = () => {
    if (!h2 || h2.closed || h2.destroyed) { h2 = http2.connect(`http://${HOST}:${httpPort}`); h2.on('error', () => {}); }
    return h2;
  };
  const grpcClient = new (grpc.makeGenericClientConstructor(SERVICE, 'Soak'))(`${HOST}:${httpPort}`, grpc.credentials.createInsecure());
  const H = 'soak.example.com';

  const h1 = (p, { abortAfterMs } = {}) => new Promise((resolve) => {
    const req = http.request({ host: HOST, port: httpPort, path: p, agent, headers: { host: H } }, (res) => {
      let n = 0;
      res.on('data', (c) => (n += c.length));
      res.on('end', () => resolve({ status: res.statusCode, bytes: n, aborted: false }));
      res.on('error', (e) => resolve({ error: e.code ?? e.message }));
    });
    req.on('error', (e) => resolve({ error: e.code ?? e.message, aborted: req.destroyed && abortAfterMs !== undefined }));
    req.setTimeout(10_000, () => req.destroy(new Error('client timeout 10 s')));
    if (abortAfterMs !== undefined) setTimeout(() => { req.destroy(); resolve({ aborted: true }); }, abortAfterMs);
    req.end();
  });
  const h2req = (p, { abortAfterMs } = {}) => new Promise((resolve) => {
    let s;
    try { s = session().request({ ':path': p, ':authority': H }); } catch (e) { return resolve({ error: e.code ?? e.message }); }
    let status = 0, n = 0;
    s.on('response', (h) => (status = Number(h[':status'])));
    s.on('data', (c) => (n += c.length));
    s.on('end', () => resolve({ status, bytes: n }));
    s.on('error', (e) => resolve({ error: e.code ?? e.message }));
    s.setTimeout(10_000, () => { s.close(http2.constants.NGHTTP2_CANCEL); resolve({ error: 'client timeout 10 s' }); });
    if (abortAfterMs !== undefined) setTimeout(() => { s.close(http2.constants.NGHTTP2_CANCEL); resolve({ aborted: true }); }, abortAfterMs);
    s.end();
  });
  const deadline = () => new Date(Date.now() + 10_000);
  const unary = (name, msg, { cancelAfterMs } = {}) => new Promise((resolve) => {
    const call = grpcClient[name](Buffer.from(msg), { deadline: deadline() }, (err, reply) => resolve(err ? { code: err.code, error: err.details } : { code: 0, reply: reply.toString() }));
    if (cancelAfterMs !== undefined) setTimeout(() => call.cancel(), cancelAfterMs);
  });
  const stream = (n) => new Promise((resolve) => {
    const call = grpcClient.Count(Buffer.from(String(n)), { deadline: deadline() });
    let got = 0;
    call.on('data', () => got++);
    call.on('error', (e) => resolve({ code: e.code, error: e.details, got }));
    call.on('end', () => resolve({ code: 0, got }));
  });
  const tcp = ({ abort } = {}) => new Promise((resolve) => {
    const payload = Buffer.alloc(8 * 1024, 'z');
    const s = net.connect(tcpPort, HOST);
    let got = 0;
    const timer = setTimeout(() => { s.destroy(); resolve({ error: 'client timeout 10 s' }); }, 10_000);
    s.on('connect', () => { s.write(payload); if (abort) setTimeout(() => { s.resetAndDestroy(); clearTimeout(timer); resolve({ aborted: true }); }, 5); else s.end(); });
    s.on('data', (c) => (got += c.length));
    s.on('error', (e) => { clearTimeout(timer); resolve({ error: e.code ?? e.message }); });
    s.on('close', () => { clearTimeout(timer); resolve(got === payload.length ? { ok: true } : { error: `echo ${got} of ${payload.length} bytes` }); });
  });

  // each scenario: share of --rps, the call, and how its outcome is judged
  const okHttp = (kind) => (r) => (r.status === 200 && r.bytes === 512 ? tally.ok(kind) : tally.fail(kind, r.error ?? `status ${r.status}, ${r.bytes} bytes`));
  const scenarios = [
    { kind: 'http1', share: 0.36, run: () => h1('/items').then(okHttp('http1')) },
    { kind: 'http2', share: 0.36, run: () => h2req('/items').then(okHttp('http2')) },
    { kind: 'grpc-unary', share: 0.12, run: () => unary('Echo', 'ping').then((r) => (r.code === 0 && r.reply === 'ping' ? tally.ok('grpc-unary') : tally.fail('grpc-unary', `code ${r.code} ${r.error}`))) },
    { kind: 'grpc-stream', share: 0.04, run: () => stream(50).then((r) => (r.code === 0 && r.got === 50 ? tally.ok('grpc-stream') : tally.fail('grpc-stream', `code ${r.code} ${r.error}, ${r.got} of 50`))) },
    { kind: 'tcp', share: 0.05, run: () => tcp().then((r) => (r.ok ? tally.ok('tcp') : tally.fail('tcp', r.error))) },
    // a slow upstream: must still answer
    { kind: 'slow-upstream', share: 0.01, run: () => h1('/fault/slow').then((r) => (r.status === 200 ? tally.ok('slow-upstream') : tally.fail('slow-upstream', r.error ?? `status ${r.status}`))) },
    // an upstream that resets: a 503 is the expected answer (Envoy: UC/URX), nothing else
    { kind: 'upstream-reset', share: 0.015, run: () => h1('/fault/reset').then((r) => (r.status === 503 ? tally.expected('upstream-reset') : tally.fail('upstream-reset', r.error ?? `status ${r.status}`))) },
    { kind: 'upstream-reset-h2', share: 0.015, run: () => h2req('/fault/reset').then((r) => (r.status === 503 ? tally.expected('upstream-reset-h2') : tally.fail('upstream-reset-h2', r.error ?? `status ${r.status}`))) },
    // client aborts while the upstream is slow
    { kind: 'abort-http1', share: 0.01, run: () => h1('/fault/slow', { abortAfterMs: 200 }).then((r) => (r.aborted ? tally.expected('abort-http1') : tally.fail('abort-http1', r.error ?? `status ${r.status} before the abort`))) },
    { kind: 'abort-http2', share: 0.01, run: () => h2req('/fault/slow', { abortAfterMs: 200 }).then((r) => (r.aborted ? tally.expected('abort-http2') : tally.fail('abort-http2', r.error ?? `status ${r.status} before the abort`))) },
    { kind: 'abort-grpc', share: 0.01, run: () => unary('Slow', 'x', { cancelAfterMs: 200 }).then((r) => (r.code === grpc.status.CANCELLED ? tally.expected('abort-grpc') : tally.fail('abort-grpc', `code ${r.code} ${r.error}`))) },
    { kind: 'abort-tcp', share: 0.01, run: () => tcp({ abort: true }).then((r) => (r.aborted ? tally.expected('abort-tcp') : tally.fail('abort-tcp', r.error ?? 'finished before the abort'))) },
  ];
  let inflight = 0;
  return {
    // paced: every 10 ms each scenario gets its share of --rps (fractional credit carried over);
    // at most --max-inflight calls at once (a call over the cap waits for the next tick)
    async run(endAt) {
      const credit = scenarios.map(() => 0);
      const pending = new Set();
      while (Date.now() < endAt) {
        for (let i = 0; i < scenarios.length; i++) {
          credit[i] += (opt.rps * scenarios[i].share) / 100;
          while (credit[i] >= 1 && inflight < opt.maxInflight) {
            credit[i]--;
            inflight++;
            const p = scenarios[i].run().catch((e) => tally.fail(scenarios[i].kind, String(e))).finally(() => { inflight--; pending.delete(p); });
            pending.add(p);
          }
          credit[i] = Math.min(credit[i], 5);
        }
        await sleep(10);
      }
      await Promise.race([Promise.all(pending), sleep(15_000)]);
    },
    close() { agent.destroy(); h2?.close(); grpcClient.close(); },
  };
}

/** The generation the proxy's current route sets (x-soak-gen), on its own connection. */
function h1Probe(port) {
  return new Promise((resolve) => {
    const req = http.request({ host: HOST, port, path: '/probe', agent: false, headers: { host: 'soak.example.com', connection: 'close' } }, (res) => { res.resume(); resolve(res.headers['x-soak-gen']); });
    req.on('error', () => resolve(undefined));
    req.setTimeout(2_000, () => req.destroy());
    req.end();
  });
}

// ======================================================================== item 8: rapid resets
async function rapidResetPhase(port, inspectorUrl, start) {
  const connections = 40, resetsPerConnection = 190;
  const r = { connections, resetsPerConnection, before: rss(proxy.pid), heapBefore: start.heaps, sent: 0, cutOff: 0 };
  for (let c = 0; c < connections; c++) {
    const s = http2.connect(`http://${HOST}:${port}`);
    s.on('error', () => {});
    let goaway = false;
    s.on('goaway', () => (goaway = true));
    await new Promise((res) => { s.once('connect', res); s.once('close', res); setTimeout(res, 2_000); });
    for (let i = 0; i < resetsPerConnection && !s.closed && !s.destroyed; i++) {
      try {
        const st = s.request({ ':path': '/fault/slow', ':authority': 'soak.example.com' });
        st.on('error', () => {});
        st.close(http2.constants.NGHTTP2_CANCEL);
        r.sent++;
      } catch { break; }
      if (i % 20 === 19) await sleep(1); // let the frames go out in batches
    }
    // give the proxy's GOAWAY (premature-reset budget) time to arrive before leaving
    await new Promise((res) => { if (goaway || s.destroyed) return res(); s.once('goaway', res); s.once('close', res); setTimeout(res, 300); });
    if (goaway) r.cutOff++;
    s.destroy();
  }
  await sleep(500);
  r.after = rss(proxy.pid);
  r.heapAfter = await inspectHeaps(inspectorUrl);
  await sleep(opt.settle * 1000);
  r.idle = rss(proxy.pid);
  r.heapGc = await inspectHeaps(inspectorUrl, { gc: true });
  r.gc = rss(proxy.pid);
  log(`rapid reset: ${r.sent} resets, RSS ${mib(r.before)} → ${mib(r.after)} → idle ${mib(r.idle)} → GC ${mib(r.gc)} MiB`);
  return r;
}

// ======================================================================== inspector
/**
 * V8 heap used/total of the main thread and every worker (through NodeWorker), optionally after a
 * forced full GC in each. One short inspector session; the proxy runs on while it is attached.
 */
async function inspectHeaps(url, { gc = false } = {}) {
  return withInspector(url, async (send, workers) => {
    const out = [];
    const one = async (name, call) => {
      if (gc) await call('HeapProfiler.collectGarbage');
      const u = await call('Runtime.getHeapUsage');
      out.push({ thread: name, used: u.usedSize, total: u.totalSize });
    };
    await one('main', send);
    for (const w of workers) await one(w.title, w.send);
    return out;
  });
}

/** A heap snapshot of the first worker, summarized: the constructors holding the most self size. */
async function heapSnapshotSummary(url) {
  return withInspector(url, async (_send, workers, onEvent) => {
    const w = workers[0];
    if (!w) return 'heap snapshot: no worker attached';
    const chunks = [];
    onEvent((m) => { if (m.method === 'HeapProfiler.addHeapSnapshotChunk') chunks.push(m.params.chunk); });
    await w.send('HeapProfiler.takeHeapSnapshot', { reportProgress: false });
    const text = chunks.join('');
    const file = path.join(tmp, 'worker.heapsnapshot');
    fs.writeFileSync(file, text);
    opt.keep = true;
    const snap = JSON.parse(text);
    const f = snap.snapshot.meta.node_fields;
    const types = snap.snapshot.meta.node_types[0];
    const [iType, iName, iSize] = ['type', 'name', 'self_size'].map((k) => f.indexOf(k));
    const by = new Map();
    // per-connection and per-request objects still alive once every client has gone: any is a leak
    const CONNECTION_OBJECTS = ['ServerHttp2Session', 'ServerHttp2Stream', 'Socket', 'TLSSocket', 'H1ServerConnection', 'H1Exchange', 'H2ServerConnection', 'H2Exchange', 'ActiveStream', 'UpgradeTunnel'];
    const alive = new Map(CONNECTION_OBJECTS.map((n) => [n, 0]));
    for (let i = 0; i < snap.nodes.length; i += f.length) {
      const name = snap.strings[snap.nodes[i + iName]];
      if (types[snap.nodes[i + iType]] === 'object' && alive.has(name)) alive.set(name, alive.get(name) + 1);
      const key = `${types[snap.nodes[i + iType]]}:${name.replace(/\s+/g, ' ').slice(0, 60)}`;
      const e = by.get(key) ?? { size: 0, count: 0 };
      e.size += snap.nodes[i + iSize];
      e.count++;
      by.set(key, e);
    }
    const top = [...by].sort((a, b) => b[1].size - a[1].size).slice(0, 15);
    // taking a snapshot collects garbage first: this is what is still reachable, the live set
    const live = [...alive].filter(([, n]) => n > 0).map(([k, n]) => `${n} ${k}`).join(', ') || 'none';
    return `heap snapshot of ${w.title} (${file}; live objects only)\n  connection objects still alive: ${live}\n  largest self sizes:\n${top.map(([k, e]) => `  ${(e.size / MiB).toFixed(2).padStart(7)} MiB  ${String(e.count).padStart(7)} × ${k}`).join('\n')}`;
  });
}

async function withInspector(url, fn) {
  const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 2 ** 31 });
  await new Promise((res, rej) => { ws.once('open', res); ws.once('error', rej); });
  let id = 0;
  const waiting = new Map();
  const listeners = [];
  const workerWaiting = new Map(); // sessionId → Map(id → resolve)
  const workers = [];
  const deliver = (m, pending) => {
    if (m.id !== undefined && pending.has(m.id)) { const [res, rej] = pending.get(m.id); pending.delete(m.id); m.error ? rej(new Error(m.error.message)) : res(m.result); }
    else for (const l of listeners) l(m);
  };
  ws.on('message', (data) => {
    const m = JSON.parse(data.toString());
    if (m.method === 'NodeWorker.attachedToWorker') {
      const { sessionId, workerInfo } = m.params;
      const pending = new Map();
      workerWaiting.set(sessionId, pending);
      let wid = 0;
      workers.push({
        title: `worker ${workerInfo.workerId}`,
        send: (method, params = {}) => new Promise((res, rej) => {
          const i = ++wid;
          pending.set(i, [res, rej]);
          send('NodeWorker.sendMessageToWorker', { sessionId, message: JSON.stringify({ id: i, method, params }) }).catch(rej);
        }),
      });
    } else if (m.method === 'NodeWorker.receivedMessageFromWorker') {
      deliver(JSON.parse(m.params.message), workerWaiting.get(m.params.sessionId) ?? new Map());
    } else deliver(m, waiting);
  });
  const send = (method, params = {}) => new Promise((res, rej) => { const i = ++id; waiting.set(i, [res, rej]); ws.send(JSON.stringify({ id: i, method, params })); });
  try {
    await send('NodeWorker.enable', { waitForDebuggerOnStart: false });
    // one worker runs on the main thread (no worker thread to attach to); more run on worker threads
    const workerThreads = opt.workers === 1 ? 0 : opt.workers;
    await waitFor(() => (workers.length >= workerThreads ? true : undefined), 5_000, 'worker inspector sessions');
    return await Promise.race([fn(send, workers, (l) => listeners.push(l)), sleep(120_000).then(() => { throw new Error('inspector call took over 120 s'); })]);
  } finally {
    await send('NodeWorker.disable').catch(() => {});
    ws.close();
  }
}

// ======================================================================== helpers
function rss(pid) { try { return Number(/^VmRSS:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024; } catch { return NaN; } }
function fds(pid) { try { return fs.readdirSync(`/proc/${pid}/fd`).length; } catch { return NaN; } }
function mib(b) { return b === undefined || Number.isNaN(b) ? '?' : (b / MiB).toFixed(1); }
function heapText(h) { return h ? h.map((t) => `${t.thread} ${mib(t.used)}`).join(', ') + ' MiB' : '?'; }
function counter(text, name) { const m = new RegExp(`^${name.replace(/\./g, '\\.')}: (\\d+)`, 'm').exec(text); return m ? Number(m[1]) : 0; }
function sumStat(text, re) { let n = 0; for (const m of text.matchAll(re)) n += Number(m[1]); return n; }
/** Least-squares slope of [x, y] points (y per x unit). */
function regressionSlope(pts) {
  if (pts.length < 2) return NaN;
  const n = pts.length, mx = pts.reduce((s, [x]) => s + x, 0) / n, my = pts.reduce((s, [, y]) => s + y, 0) / n;
  let num = 0, den = 0;
  for (const [x, y] of pts) { num += (x - mx) * (y - my); den += (x - mx) ** 2; }
  return num / den;
}
async function waitFor(fn, ms, what) {
  const end = Date.now() + ms;
  for (let i = 0; i < 10_000 && Date.now() < end; i++) {
    const v = await fn();
    if (v !== undefined) return v;
    await sleep(100);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}
async function waitReady(port) {
  await waitFor(async () => ((await httpGet(port, '/healthz/ready').then(() => true, () => undefined)) ? true : undefined), opt.readyTimeout * 1000, 'proxy ready');
}
function httpGet(port, p) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: HOST, port, path: p, agent: false }, (res) => {
      let t = '';
      res.setEncoding('utf8').on('data', (d) => (t += d)).on('end', () => (res.statusCode === 200 ? resolve(t) : reject(new Error(`${p}: ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.setTimeout(5_000, () => req.destroy(new Error(`${p}: timeout`)));
  });
}
/**
 * `n` distinct ports free on 0.0.0.0, drawn below the kernel's ephemeral range (32768+): a port from
 * that range can become the source port of one of our own connections before the proxy binds it.
 */
async function freePorts(n) {
  const held = [];
  for (let tries = 0; held.length < n && tries < n + 200; tries++) {
    const port = 10_000 + Math.floor(Math.random() * 22_000);
    const s = await new Promise((r) => { const srv = net.createServer(); srv.once('error', () => r(null)); srv.listen({ host: '0.0.0.0', port, exclusive: true }, () => r(srv)); });
    if (s) held.push(s);
  }
  if (held.length < n) throw new Error(`could not find ${n} free ports`);
  const ports = held.map((s) => s.address().port);
  await Promise.all(held.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

function parseArgs(a) {
  const o = { minutes: 10, rps: 300, workers: 2, reloadEvery: 30, settle: 20, maxInflight: 200, rapidReset: true, heapSnapshot: false, keep: false, out: null, readyTimeout: 30 };
  const usage = (code) => {
    (code ? console.error : console.log)(`usage: node bench/soak.mjs [--minutes N=10] [--rps R=300] [--workers N=2] [--reload-every S=30]
       [--settle S=20] [--max-inflight N=200] [--no-rapid-reset] [--heap-snapshot] [--out FILE] [--keep]
  --settle         idle seconds before the after-load gauges, RSS and heap figures
  --heap-snapshot  at the end, a heap snapshot of one worker (kept in the temp dir) and its largest constructors
  --keep           keep the temp dir (config, proxy log)`);
    process.exit(code);
  };
  const flags = flagReader(a, usage);
  for (let k = flags.next(); k !== undefined; k = flags.next()) {
    switch (k) {
      case '--minutes': o.minutes = flags.number(0.5, 240); break;
      case '--rps': o.rps = flags.number(10, 20_000); break;
      case '--workers': o.workers = Math.round(flags.number(1, 64)); break;
      case '--reload-every': o.reloadEvery = flags.number(5, 3600); break;
      case '--settle': o.settle = flags.number(1, 600); break;
      case '--max-inflight': o.maxInflight = Math.round(flags.number(1, 10_000)); break;
      case '--no-rapid-reset': o.rapidReset = false; break;
      case '--heap-snapshot': o.heapSnapshot = true; break;
      case '--out': o.out = path.resolve(flags.value()); break;
      case '--keep': o.keep = true; break;
      case '-h': case '--help': usage(0); break;
      default: console.error(`unknown option ${k}`); usage(2);
    }
  }
  return o;
}

await main();
