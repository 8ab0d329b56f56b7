#!/usr/bin/env node
// Outrigger HTTP/1.1 throughput benchmark (`npm run bench`; see bench/README.md).
//
// One run: a tiny node:http upstream in its own process, the real proxy (CLI, gateway mode) in its
// own process, and autocannon in this process. Warm-up, then interleaved measured runs
// (direct, proxy, proxy, direct, ...). Reports rps, ratio, latency, errors, the proxy's CPU time
// per request (from /proc/<pid>/stat utime+stime, all threads) and its peak RSS (VmHWM).
// Everything is on 127.0.0.1, every step is bounded in time, and every child process is killed on
// exit, error, SIGINT, SIGTERM and SIGHUP.
//
// The same file is also the upstream: `node bench/http1.mjs --role upstream` (started by the bench).
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { flagReader, tracingMeshYaml } from './harness.mjs';

const HOST = '127.0.0.1';
const BODY = 'hello world\n'; // 12 bytes, the same body as peerbench's /small
const SELF = fileURLToPath(import.meta.url);
const ROOT = path.dirname(path.dirname(SELF));

// replaced inside main() once the cleanup machinery exists
let onFatal = (e) => { console.error(e); process.exit(1); };

// ======================================================================== upstream role
if (process.argv[2] === '--role' && process.argv[3] === 'upstream') {
  const body = Buffer.from(BODY);
  const server = http.createServer({ keepAlive: true, keepAliveTimeout: 300_000, requestTimeout: 0, headersTimeout: 60_000 }, (req, res) => {
    // drain any request body, answer 12 bytes with an explicit length (no chunking)
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
    res.end(body);
  });
  server.keepAliveTimeout = 300_000;
  server.maxRequestsPerSocket = 0;
  server.listen(0, HOST, () => {
    process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
  });
  // the bench holds our stdin open; if it dies (even by SIGKILL) stdin closes and we go too
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
  for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(s, () => process.exit(0));
} else {
  main().catch((e) => onFatal(e));
}

// ======================================================================== bench role
async function main() {
  const opt = parseArgs(process.argv.slice(2));
  const { default: autocannon } = await import('autocannon');

  const log = (...m) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${m.join(' ')}`);
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const CLK_TCK = (() => { try { return +execFileSync('getconf', ['CLK_TCK']).toString().trim() || 100; } catch { return 100; } })();

  // ------------------------------------------------------------------ process management
  const procs = []; // { name, pid, child, exited }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'outrigger-bench-'));
  let cleaned = false;
  function killGroup(pid, sig) { try { process.kill(-pid, sig); } catch { /* gone */ } }
  function killAllNow() { for (const p of procs) if (!p.exited) killGroup(p.pid, 'SIGKILL'); }
  async function stopAll() {
    if (cleaned) return;
    cleaned = true;
    for (const p of [...procs].reverse()) if (!p.exited) killGroup(p.pid, 'SIGTERM');
    for (let i = 0; i < 50 && procs.some((p) => !p.exited); i++) await sleep(100);
    killAllNow();
    if (!opt.keep) { try { fs.rmSync(tmp, { recursive: true, force: true }); } catch { /* */ } } else log(`kept ${tmp} (config, logs)`);
  }
  process.on('exit', killAllNow);
  let exiting = false;
  let currentLoad = null; // the running autocannon instance, stopped first on bail
  async function bail(code, msg) {
    if (exiting) return;
    exiting = true;
    if (msg) log(msg);
    try { currentLoad?.stop(); } catch { /* */ }
    await stopAll();
    process.exit(code);
  }
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(s, () => { void bail(130, `got ${s}, stopping`); });
  // errors after a SIGINT/watchdog (e.g. "upstream exited") are consequences of stopping: not printed
  onFatal = (e) => {
    if (!exiting) { console.error(`\n*** bench failed: ${e?.stack ?? e}`); opt.keep = true; }
    void bail(1);
  };
  process.on('uncaughtException', onFatal);
  process.on('unhandledRejection', onFatal);

  // hard bound on the whole run
  const planned = opt.warmup * 2 + opt.reps * 2 * opt.duration;
  const watchdogS = planned + 120;
  const watchdog = setTimeout(() => { void bail(3, `watchdog: run exceeded ${watchdogS} s, killing everything`); }, watchdogS * 1000);
  watchdog.unref();

  function startProc(name, args, { cpus = null, stdinPipe = false } = {}) {
    const logFile = path.join(tmp, `${name}.log`);
    const fd = fs.openSync(logFile, 'a');
    const [cmd, argv] = cpus ? ['taskset', ['-c', cpus, process.execPath, ...args]] : [process.execPath, args];
    const child = spawn(cmd, argv, {
      detached: true, // own process group, killed by group id
      stdio: [stdinPipe ? 'pipe' : 'ignore', name === 'upstream' ? 'pipe' : fd, fd],
      cwd: ROOT,
      env: process.env,
    });
    fs.closeSync(fd);
    const p = { name, pid: child.pid, child, exited: null, logFile };
    child.on('exit', (code, sig) => { p.exited = { code, sig }; });
    child.on('error', (e) => { p.exited = { error: String(e) }; });
    procs.push(p);
    return p;
  }
  const tail = (f, n = 30) => { try { return fs.readFileSync(f, 'utf8').split('\n').slice(-n).join('\n'); } catch { return ''; } };

  // ------------------------------------------------------------------ /proc accounting
  function procStat(pid) {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const r = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // fields after ")" start at field 3 (state); utime = field 14, stime = field 15
    return { ppid: +r[1], ticks: +r[11] + +r[12] };
  }
  function treePids(root) {
    const tbl = new Map();
    for (const d of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      try { tbl.set(+d, procStat(d).ppid); } catch { /* raced */ }
    }
    const out = new Set(tbl.has(root) ? [root] : []);
    for (let grew = true; grew;) {
      grew = false;
      for (const [pid, ppid] of tbl) if (!out.has(pid) && out.has(ppid)) { out.add(pid); grew = true; }
    }
    return [...out];
  }
  // CPU of a process tree: utime+stime (ticks, all threads, including exited threads), and the
  // scheduler's exact per-thread run time (schedstat, ns, live threads only) as a cross-check
  function cpuSample(root) {
    let ticks = 0, ns = 0;
    for (const pid of treePids(root)) {
      try { ticks += procStat(pid).ticks; } catch { continue; }
      let tids = [];
      try { tids = fs.readdirSync(`/proc/${pid}/task`); } catch { /* */ }
      for (const t of tids) {
        try { ns += +fs.readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]; } catch { /* thread gone */ }
      }
    }
    return { t: process.hrtime.bigint(), ticks, ns };
  }
  function cpuDelta(a, b) {
    return { cpuS: (b.ticks - a.ticks) / CLK_TCK, schedS: (b.ns - a.ns) / 1e9, wallS: Number(b.t - a.t) / 1e9 };
  }
  function memKiB(root) {
    let hwm = 0, rss = 0;
    for (const pid of treePids(root)) {
      try {
        const st = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
        hwm += +(st.match(/VmHWM:\s+(\d+)/) || [0, 0])[1];
        rss += +(st.match(/VmRSS:\s+(\d+)/) || [0, 0])[1];
      } catch { /* gone */ }
    }
    return { hwm, rss };
  }

  // ------------------------------------------------------------------ helpers
  async function freePorts(n) {
    const servers = [];
    try {
      for (let i = 0; i < n; i++) {
        const s = net.createServer();
        await new Promise((res, rej) => { s.once('error', rej); s.listen(0, HOST, res); });
        servers.push(s);
      }
      return servers.map((s) => s.address().port);
    } finally {
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    }
  }
  function httpGet(port, p, hostHeader) {
    return new Promise((res) => {
      const req = http.get({ host: HOST, port, path: p, agent: false, timeout: 2000, headers: hostHeader ? { host: hostHeader } : {} }, (r) => {
        let b = ''; r.setEncoding('latin1'); r.on('data', (d) => { b += d; }); r.on('end', () => res({ status: r.statusCode, body: b, headers: r.headers }));
      });
      req.on('error', (e) => res({ status: 0, body: String(e) }));
      req.on('timeout', () => req.destroy(new Error('timeout')));
    });
  }
  async function waitFor(label, proc, timeoutS, check) {
    const t0 = Date.now();
    let last = 'nothing yet';
    while (Date.now() - t0 < timeoutS * 1000) {
      if (proc.exited) throw new Error(`${label}: process exited ${JSON.stringify(proc.exited)} during start-up; log ${proc.logFile}:\n${tail(proc.logFile)}`);
      const r = await check();
      if (r === true) return;
      last = r;
      await sleep(150);
    }
    throw new Error(`${label}: not ready after ${timeoutS} s (last: ${last}); log ${proc.logFile}:\n${tail(proc.logFile)}`);
  }
  function pct(sorted, q) { return sorted.length ? sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] : null; }
  function median(xs) {
    const v = xs.filter((x) => x != null && Number.isFinite(x)).sort((a, b) => a - b);
    if (!v.length) return null;
    return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
  }
  const r1 = (x, d = 1) => (x == null ? null : Math.round(x * 10 ** d) / 10 ** d);

  const NCPU = os.availableParallelism(); // before --pin narrows this process's affinity
  // ------------------------------------------------------------------ pinning (optional)
  let lgCpus = null, proxyCpus = null;
  if (opt.pin) {
    const n = NCPU;
    if (n < 2) throw new Error('--pin needs at least 2 cores');
    lgCpus = '0';
    proxyCpus = n === 2 ? '1' : `1-${n - 1}`;
    execFileSync('taskset', ['-a', '-p', '-c', lgCpus, String(process.pid)], { stdio: 'ignore' });
    log(`pinned: load generator + upstream on CPU ${lgCpus}, proxy on CPU ${proxyCpus}`);
  }

  // ------------------------------------------------------------------ upstream
  log(`node ${process.version} (${process.execPath}), ${NCPU} CPUs, CLK_TCK ${CLK_TCK}, tmp ${tmp}`);
  const upstream = startProc('upstream', [SELF, '--role', 'upstream'], { cpus: lgCpus, stdinPipe: true });
  const upPort = await new Promise((resolve, reject) => {
    let buf = '';
    const t = setTimeout(() => reject(new Error(`upstream did not report its port within 10 s:\n${tail(upstream.logFile)}`)), 10_000);
    upstream.child.stdout.on('data', (d) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl >= 0) { clearTimeout(t); try { resolve(JSON.parse(buf.slice(0, nl)).port); } catch (e) { reject(e); } }
    });
    upstream.child.once('exit', () => { clearTimeout(t); reject(new Error(`upstream exited:\n${tail(upstream.logFile)}`)); });
  });
  upstream.child.stdout.resume();
  await waitFor('upstream', upstream, 10, async () => {
    const r = await httpGet(upPort, '/small');
    return r.status === 200 && r.body === BODY ? true : `${r.status} ${r.body.slice(0, 100)}`;
  });
  log(`upstream (pid ${upstream.pid}) on ${HOST}:${upPort}`);

  // ------------------------------------------------------------------ proxy
  const [gwPort, healthPort, outboundPort, adminPort, statsPort, inboundPort] = await freePorts(6);
  const cfgDir = path.join(tmp, 'config');
  fs.mkdirSync(cfgDir);
  fs.writeFileSync(path.join(cfgDir, 'gateway.yaml'), gatewayYaml(gwPort, upPort) + tracingMeshYaml(opt.tracing, upPort, 'bench'));
  const proxyArgs = [
    path.join(ROOT, 'bin', 'outrigger.js'), 'run', '-c', cfgDir, '--mode', 'gateway', '--label', 'istio=ingressgateway',
    '--workers', String(opt.workers), '--health-port', String(healthPort), '--outbound-port', String(outboundPort),
    '--admin-port', String(adminPort), '--stats-port', String(statsPort), '--inbound-port', String(inboundPort),
    ...opt.proxyArgs,
  ];
  const proxy = startProc('proxy', proxyArgs, { cpus: proxyCpus });
  log(`proxy (pid ${proxy.pid}): node ${proxyArgs.map((a) => path.relative(ROOT, a) === 'bin/outrigger.js' ? 'bin/outrigger.js' : a).join(' ')}`);
  await waitFor('proxy /healthz/ready', proxy, opt.readyTimeout, async () => {
    const r = await httpGet(healthPort, '/healthz/ready');
    return r.status === 200 ? true : `healthz ${r.status} ${r.body.slice(0, 100)}`;
  });
  await waitFor('proxy route', proxy, 10, async () => {
    const r = await httpGet(gwPort, '/small');
    return r.status === 200 && r.body === BODY ? true : `GET /small via proxy: ${r.status} ${r.body.slice(0, 200)}`;
  });
  log(`proxy ready: gateway listener ${HOST}:${gwPort} -> upstream ${HOST}:${upPort}, ${opt.workers} worker(s)`);
  const proxyRoot = proxy.pid; // with --pin the child is taskset, which execs node: same pid

  // ------------------------------------------------------------------ load
  // One autocannon run; records every response's latency (µs precision) besides autocannon's own
  // histogram (whole-ms buckets), samples CPU of proxy/upstream/this process around the run.
  async function load(target, durationS, { record = true } = {}) {
    const port = target === 'proxy' ? gwPort : upPort;
    let lat = new Float64Array(1 << 20);
    let n = 0;
    const cpu0 = { proxy: cpuSample(proxyRoot), upstream: cpuSample(upstream.pid), client: process.cpuUsage() };
    const result = await new Promise((resolve, reject) => {
      const inst = autocannon({
        url: `http://${HOST}:${port}/small`,
        connections: opt.connections,
        pipelining: 1,
        duration: durationS,
        timeout: 10,
        expectBody: BODY,
      }, (err, res) => { clearTimeout(guard); currentLoad = null; if (err) reject(err); else resolve(res); });
      currentLoad = inst;
      const guard = setTimeout(() => { log(`autocannon ${target} did not finish in ${durationS + 20} s, stopping it`); inst.stop(); }, (durationS + 20) * 1000);
      if (record) {
        inst.on('response', (_c, _status, _bytes, ms) => {
          if (n === lat.length) { const g = new Float64Array(lat.length * 2); g.set(lat); lat = g; }
          lat[n++] = ms;
        });
      }
    });
    const cpu1 = { proxy: cpuSample(proxyRoot), upstream: cpuSample(upstream.pid), client: process.cpuUsage(cpu0.client) };
    for (const p of [proxy, upstream]) if (p.exited) throw new Error(`${p.name} exited during the ${target} run: ${JSON.stringify(p.exited)}\n${tail(p.logFile)}`);
    const sorted = lat.subarray(0, n).sort();
    const reqs = result.requests.total ?? result['2xx'] ?? n; // completed requests in the run
    const pc = cpuDelta(cpu0.proxy, cpu1.proxy);
    const uc = cpuDelta(cpu0.upstream, cpu1.upstream);
    // autocannon's `errors` already includes timeouts and connection errors; `resets` counts request-
    // sequence restarts (every request here), not failures, so it is left out
    const errors = result.errors + result.mismatches + result.non2xx;
    return {
      target,
      durationS: result.duration,
      requests: reqs,
      rps: result.requests.average,
      rpsFromTotal: reqs / result.duration,
      latencyMs: { p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max, mean: result.latency.mean },
      latencyUs: n ? { p50: r1(pct(sorted, 0.5) * 1000, 0), p90: r1(pct(sorted, 0.9) * 1000, 0), p99: r1(pct(sorted, 0.99) * 1000, 0), samples: n } : null,
      errors: { total: errors, errors: result.errors, timeouts: result.timeouts, mismatches: result.mismatches, non2xx: result.non2xx },
      statusCodes: result.statusCodeStats,
      // the proxy is idle during direct runs; its CPU there is only background noise
      proxyCpu: {
        seconds: r1(pc.cpuS, 3), schedSeconds: r1(pc.schedS, 3), wallS: r1(pc.wallS, 3),
        usPerReq: reqs ? r1(pc.cpuS * 1e6 / reqs, 1) : null,
        schedUsPerReq: reqs ? r1(pc.schedS * 1e6 / reqs, 1) : null,
        cores: r1(pc.cpuS / pc.wallS, 2),
      },
      upstreamCpu: { seconds: r1(uc.cpuS, 3), usPerReq: reqs ? r1(uc.cpuS * 1e6 / reqs, 1) : null, cores: r1(uc.cpuS / uc.wallS, 2) },
      clientCpu: {
        seconds: r1((cpu1.client.user + cpu1.client.system) / 1e6, 3),
        usPerReq: reqs ? r1((cpu1.client.user + cpu1.client.system) / reqs, 1) : null,
        cores: r1((cpu1.client.user + cpu1.client.system) / 1e6 / pc.wallS, 2),
      },
    };
  }

  // ------------------------------------------------------------------ warm-up
  if (opt.warmup > 0) {
    log(`warm-up: ${opt.warmup} s through the proxy, ${Math.max(1, Math.round(opt.warmup / 3))} s direct (not counted)`);
    const w1 = await load('proxy', opt.warmup, { record: false });
    const w2 = await load('direct', Math.max(1, Math.round(opt.warmup / 3)), { record: false });
    for (const w of [w1, w2]) {
      if (w.errors.total) log(`WARNING: warm-up ${w.target}: ${JSON.stringify(w.errors)} ${JSON.stringify(w.statusCodes)}`);
    }
    log(`warm-up done: proxy ${Math.round(w1.rps)} rps, direct ${Math.round(w2.rps)} rps`);
  }

  // ------------------------------------------------------------------ measured, interleaved
  const runs = [];
  const order = [];
  for (let i = 0; i < opt.reps; i++) order.push(...(i % 2 === 0 ? [['direct', i], ['proxy', i]] : [['proxy', i], ['direct', i]]));
  for (const [target, rep] of order) {
    log(`rep ${rep + 1}/${opt.reps}: ${target}, ${opt.duration} s, ${opt.connections} connections`);
    const r = await load(target, opt.duration);
    r.rep = rep + 1;
    runs.push(r);
    log(`  ${Math.round(r.rps)} rps, p50 ${r.latencyUs?.p50} µs, errors ${r.errors.total}` +
      (target === 'proxy' ? `, proxy ${r.proxyCpu.usPerReq} µs CPU/req (${r.proxyCpu.cores} cores)` : ''));
  }
  const mem = memKiB(proxyRoot);

  // ------------------------------------------------------------------ summary
  const direct = runs.filter((r) => r.target === 'direct');
  const proxied = runs.filter((r) => r.target === 'proxy');
  const ratios = proxied.map((p) => { const d = direct.find((x) => x.rep === p.rep); return d && d.rps ? p.rps / d.rps : null; });
  const summary = {
    directRps: r1(median(direct.map((r) => r.rps)), 0),
    proxiedRps: r1(median(proxied.map((r) => r.rps)), 0),
    ratio: r1(median(ratios), 3),
    proxyCpuUsPerReq: r1(median(proxied.map((r) => r.proxyCpu.usPerReq)), 1),
    proxyCpuUsPerReqSched: r1(median(proxied.map((r) => r.proxyCpu.schedUsPerReq)), 1),
    proxyCores: r1(median(proxied.map((r) => r.proxyCpu.cores)), 2),
    proxyPeakRssMiB: r1(mem.hwm / 1024, 1),
    proxyRssAtEndMiB: r1(mem.rss / 1024, 1),
    direct: { latencyMs: medLat(direct, 'latencyMs'), latencyUs: medLat(direct, 'latencyUs') },
    proxied: { latencyMs: medLat(proxied, 'latencyMs'), latencyUs: medLat(proxied, 'latencyUs') },
    addedLatencyUs: null,
    errors: runs.reduce((a, r) => a + r.errors.total, 0),
  };
  summary.addedLatencyUs = Object.fromEntries(['p50', 'p90', 'p99'].map((k) => [k, r1(median(proxied.map((p) => {
    const d = direct.find((x) => x.rep === p.rep);
    return d && p.latencyUs && d.latencyUs ? p.latencyUs[k] - d.latencyUs[k] : null;
  })), 0)]));
  function medLat(rs, key) {
    return Object.fromEntries(['p50', 'p90', 'p99'].map((k) => [k, r1(median(rs.map((r) => r[key]?.[k])), key === 'latencyUs' ? 0 : 1)]));
  }

  // ------------------------------------------------------------------ report
  const table = [];
  const row = (cells) => table.push(`| ${cells.join(' | ')} |`);
  row(['run', 'target', 'rps', 'latency p50/p90/p99 ms (autocannon)', 'latency p50/p90/p99 µs (exact)', 'errors', 'proxy CPU µs/req (sched)', 'proxy cores', 'client cores', 'upstream cores']);
  row(['---', '---', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:']);
  for (const r of runs) {
    row([
      r.rep, r.target, Math.round(r.rps),
      `${r.latencyMs.p50} / ${r.latencyMs.p90} / ${r.latencyMs.p99}`,
      r.latencyUs ? `${r.latencyUs.p50} / ${r.latencyUs.p90} / ${r.latencyUs.p99}` : 'n/a',
      r.errors.total ? `**${r.errors.total}**` : 0,
      r.target === 'proxy' ? `${r.proxyCpu.usPerReq} (${r.proxyCpu.schedUsPerReq})` : '—',
      r.target === 'proxy' ? r.proxyCpu.cores : '—',
      r.clientCpu.cores, r.upstreamCpu.cores,
    ]);
  }
  const s = summary;
  const lines = [
    '',
    `Outrigger HTTP/1.1 bench — ${opt.connections} keep-alive connections, ${opt.reps} × ${opt.duration} s per target (interleaved), warm-up ${opt.warmup} s, proxy --workers ${opt.workers}${opt.pin ? `, pinned (proxy CPU ${proxyCpus}, rest CPU ${lgCpus})` : ', unpinned'}`,
    `node ${process.version}, ${NCPU} CPUs (${os.cpus()[0]?.model ?? '?'}), 12-byte body, GET /small`,
    '',
    ...table,
    '',
    '| summary (median of reps) | direct | proxied |',
    '|---|---:|---:|',
    `| rps | ${s.directRps} | ${s.proxiedRps} |`,
    `| ratio proxied/direct (per rep, median) | 1.000 | ${s.ratio} |`,
    `| latency p50/p90/p99 ms (autocannon) | ${fmtLat(s.direct.latencyMs)} | ${fmtLat(s.proxied.latencyMs)} |`,
    `| latency p50/p90/p99 µs (exact) | ${fmtLat(s.direct.latencyUs)} | ${fmtLat(s.proxied.latencyUs)} |`,
    `| added latency p50/p90/p99 µs | — | ${fmtLat(s.addedLatencyUs)} |`,
    `| failed requests (errors, timeouts, non-2xx, body mismatches) | ${direct.reduce((a, r) => a + r.errors.total, 0)} | ${proxied.reduce((a, r) => a + r.errors.total, 0)} |`,
    `| **proxy CPU µs per request** (utime+stime; sched cross-check) | — | **${s.proxyCpuUsPerReq}** (${s.proxyCpuUsPerReqSched}) |`,
    `| proxy CPU cores busy during the proxied run | — | ${s.proxyCores} |`,
    `| proxy peak RSS MiB (VmHWM, whole run) | — | ${s.proxyPeakRssMiB} |`,
    '',
    `On a 2-core box the load generator competes with the proxy: compare **proxy CPU µs/req**, not rps.`,
  ];
  function fmtLat(l) { return l ? `${l.p50 ?? 'n/a'} / ${l.p90 ?? 'n/a'} / ${l.p99 ?? 'n/a'}` : 'n/a'; }
  console.log(lines.join('\n'));

  let gitRev = null;
  try { gitRev = execFileSync('git', ['-C', ROOT, 'describe', '--always', '--dirty'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim(); } catch { /* */ }
  const json = {
    bench: 'outrigger-http1', when: new Date().toISOString(), git: gitRev,
    machine: { node: process.version, cpus: NCPU, cpuModel: os.cpus()[0]?.model, kernel: os.release(), clkTck: CLK_TCK },
    settings: { ...opt, proxyArgs: opt.proxyArgs, proxyCpus, lgCpus, bodyBytes: BODY.length, path: '/small' },
    summary, runs,
    proxy: { pid: proxy.pid, cmd: [process.execPath, ...proxyArgs], peakRssKiB: mem.hwm, rssAtEndKiB: mem.rss },
  };
  const outFile = opt.out || path.join(os.tmpdir(), 'outrigger-bench', 'latest.json');
  fs.mkdirSync(path.dirname(outFile), { recursive: true });
  fs.writeFileSync(outFile, `${JSON.stringify(json, null, 2)}\n`);
  console.log(`\nJSON: ${outFile}`);

  clearTimeout(watchdog);
  if (summary.errors > 0) {
    console.error(`\n*** FAIL: ${summary.errors} failed requests (errors/timeouts/non-2xx/body mismatches) — see "errors" and "statusCodes" in ${outFile} and the proxy log ${proxy.logFile} ***`);
    opt.keep = true;
    await bail(1);
    return;
  }
  await bail(0);
}

function gatewayYaml(gwPort, upPort) {
  return `# generated by bench/http1.mjs: gateway on ${HOST}:${gwPort} -> one STATIC endpoint ${HOST}:${upPort}
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: bench-gateway, namespace: bench}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: ${gwPort}, name: http, protocol: HTTP}
    bind: ${HOST}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: bench, namespace: bench}
spec:
  hosts: ["*"]
  gateways: [bench-gateway]
  http:
  - route:
    - destination: {host: upstream.bench.svc.cluster.local, port: {number: 80}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: upstream, namespace: bench}
spec:
  hosts: [upstream.bench.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports:
  - {number: 80, name: http, protocol: HTTP, targetPort: ${upPort}}
  endpoints:
  - address: ${HOST}
`;
}

function parseArgs(a) {
  const opt = { duration: 10, reps: 2, connections: 64, workers: 1, warmup: 3, pin: false, out: null, keep: false, readyTimeout: 30, proxyArgs: [], tracing: undefined };
  const usage = (code) => {
    (code ? console.error : console.log)(`usage: node bench/http1.mjs [--duration S=10] [--reps N=2] [--connections C=64] [--workers N=1]
       [--warmup S=3] [--pin] [--out FILE] [--keep] [--ready-timeout S=30] [--tracing off|PERCENT] [-- extra proxy CLI args]
  --tracing  off: meshConfig enableTracing false; PERCENT: spans sampled at PERCENT to an OTLP/HTTP
             collector (the upstream); absent: Istio's defaults (decisions only, no provider)
  --pin   pin the proxy to CPUs 1.. and this process + the upstream to CPU 0 (peerbench's topology)
  --keep  keep the temp dir (generated YAML, proxy/upstream logs)
JSON goes to --out or ${path.join(os.tmpdir(), 'outrigger-bench', 'latest.json')}`);
    process.exit(code);
  };
  const flags = flagReader(a, usage);
  for (let k = flags.next(); k !== undefined; k = flags.next()) {
    switch (k) {
      case '--duration': opt.duration = flags.number(1, 600); break;
      case '--reps': opt.reps = Math.round(flags.number(1, 100)); break;
      case '--connections': case '-c': opt.connections = Math.round(flags.number(1, 10000)); break;
      case '--workers': opt.workers = Math.round(flags.number(1, 256)); break;
      case '--warmup': opt.warmup = flags.number(0, 600); break;
      case '--pin': opt.pin = true; break;
      case '--out': opt.out = path.resolve(flags.value()); break;
      case '--keep': opt.keep = true; break;
      case '--ready-timeout': opt.readyTimeout = flags.number(1, 600); break;
      case '--tracing': {
        const v = flags.value();
        if (v !== 'off' && !(Number(v) >= 0 && Number(v) <= 100)) usage(2);
        opt.tracing = v;
        break;
      }
      case '--': opt.proxyArgs = flags.rest(); break;
      case '-h': case '--help': usage(0); break;
      default: console.error(`unknown option ${k}`); usage(2);
    }
  }
  return opt;
}
