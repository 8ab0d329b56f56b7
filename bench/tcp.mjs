#!/usr/bin/env node
// Outrigger TCP proxy throughput (`npm run bench:tcp`; see bench/README.md): an iperf3-style bulk
// stream, client → sink, direct and through the proxy's TCP proxy, interleaved in one run.
//
// The sink (discards and counts) and the client (writes 64 KiB chunks, respecting backpressure)
// run in this process; the proxy runs as its own process (1 worker, sidecar mode) with a Sidecar
// egress listener of protocol TCP bound on 127.0.0.1 — the same TCP proxy a captured connection
// reaches through 15001. Reports MB/s, the ratio, and the proxy's CPU seconds per GB (from
// /proc/<pid>/stat). Loopback only; every step is bounded in time; the proxy is killed on exit.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuSeconds } from './harness.mjs';

const HOST = '127.0.0.1';
const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const args = process.argv.slice(2);
const flag = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const SECONDS = flag('--seconds', 5);
const STREAMS = flag('--streams', 1);
const ROUNDS = flag('--rounds', 2);
const CHUNK = Buffer.alloc(64 * 1024, 'x');
const log = (...m) => console.error(`[bench:tcp ${new Date().toISOString().slice(11, 19)}] ${m.join(' ')}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let proxy;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'outrigger-bench-tcp-'));
function cleanup() {
  try { proxy?.kill('SIGKILL'); } catch { /* gone */ }
  try { fs.rmSync(tmp, { recursive: true, force: true }); } catch { /* */ }
}
process.on('exit', cleanup);
for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(s, () => process.exit(130));

/** A sink that reads and discards; counts bytes. */
async function startSink() {
  const state = { bytes: 0 };
  const server = net.createServer((s) => {
    s.on('data', (b) => { state.bytes += b.length; });
    s.on('error', () => {});
  });
  await new Promise((r) => server.listen(0, HOST, r));
  return { port: server.address().port, state, close: () => server.close() };
}

/** `streams` connections writing for `seconds`; resolves with bytes the sink counted in that window. */
async function stream(port, sink, seconds, streams) {
  const sockets = [];
  let stop = false;
  for (let i = 0; i < streams; i++) {
    const s = net.connect({ port, host: HOST, noDelay: true });
    s.on('error', () => {});
    await new Promise((r, j) => { s.once('connect', r); s.once('error', j); });
    const pump = () => { while (!stop && s.write(CHUNK)); };
    s.on('drain', pump);
    sockets.push({ s, pump });
  }
  await sleep(300); // let the connections settle before counting
  const start = sink.state.bytes;
  const t0 = process.hrtime.bigint();
  for (const x of sockets) x.pump();
  await sleep(seconds * 1000);
  const bytes = sink.state.bytes - start;
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  stop = true;
  for (const x of sockets) x.s.destroy();
  await sleep(300);
  return bytes / secs;
}

async function main() {
  const sink = await startSink();
  const listenPort = await new Promise((r) => { const s = net.createServer().listen(0, HOST, () => { const p = s.address().port; s.close(() => r(p)); }); });
  const yaml = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: sink, namespace: default }
spec:
  hosts: [sink.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: ${listenPort}, name: tcp, protocol: TCP }]
  endpoints: [{ address: ${HOST}, ports: { tcp: ${sink.port} } }]
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: default, namespace: default }
spec:
  egress:
  - { port: { number: ${listenPort}, protocol: TCP, name: tcp }, captureMode: NONE, hosts: ["./*"] }
`;
  fs.writeFileSync(path.join(tmp, 'mesh.yaml'), yaml);
  const base = 20000 + Math.floor(Math.random() * 10000);
  proxy = spawn(process.execPath, [path.join(ROOT, 'bin', 'outrigger.js'), 'run', '-c', tmp, '--workers', '1', '--no-watch',
    '--admin-port', String(base), '--stats-port', String(base + 1), '--health-port', String(base + 2), '--outbound-port', String(base + 3), '--inbound-port', String(base + 4)],
  { stdio: ['ignore', 'ignore', 'inherit'] });
  proxy.on('exit', (c) => { if (c !== null && c !== 0) { log(`proxy exited ${c}`); process.exit(1); } });
  for (let i = 0; ; i++) {
    if (i > 100) throw new Error('proxy not ready in 10 s');
    const ok = await fetch(`http://${HOST}:${base + 2}/healthz/ready`).then((r) => r.ok, () => false);
    if (ok) break;
    await sleep(100);
  }
  log(`warm-up (${STREAMS} stream(s))`);
  await stream(listenPort, sink, 1, STREAMS);
  const direct = [];
  const proxied = [];
  let cpu = 0;
  let proxiedBytes = 0;
  for (let r = 0; r < ROUNDS; r++) {
    direct.push(await stream(sink.port, sink, SECONDS, STREAMS));
    const c0 = cpuSeconds(proxy.pid);
    const rate = await stream(listenPort, sink, SECONDS, STREAMS);
    cpu += cpuSeconds(proxy.pid) - c0;
    proxiedBytes += rate * SECONDS;
    proxied.push(rate);
    log(`round ${r + 1}: direct ${(direct.at(-1) / 1e6).toFixed(0)} MB/s, proxy ${(rate / 1e6).toFixed(0)} MB/s`);
  }
  const avg = (a) => a.reduce((s, x) => s + x, 0) / a.length;
  const d = avg(direct);
  const p = avg(proxied);
  console.log(`TCP bulk stream, ${STREAMS} stream(s), ${SECONDS}s × ${ROUNDS} rounds, 64 KiB writes, loopback`);
  console.log(`  direct   ${(d / 1e6).toFixed(0).padStart(6)} MB/s`);
  console.log(`  proxy    ${(p / 1e6).toFixed(0).padStart(6)} MB/s   (${(p / d * 100).toFixed(0)}% of direct)`);
  console.log(`  proxy CPU ${(cpu / (proxiedBytes / 1e9)).toFixed(2)} s per GB`);
  sink.close();
  process.exit(0);
}

setTimeout(() => { log('timed out'); process.exit(1); }, (ROUNDS * 2 * (SECONDS + 1) + 30) * 1000).unref();
main().catch((e) => { log(e.stack ?? e); process.exit(1); });
