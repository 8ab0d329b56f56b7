// original_dst: the conntrack-line parser, the two backends on real sockets in this process and in a
// worker thread, and a real iptables REDIRECT inside a network namespace made for the test.
import { execFileSync, execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, createServer, Socket, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  findOriginalInConntrack,
  originalDestination,
  originalDstBackend,
  setOriginalDstBackend,
  type OriginalDestination,
} from '../../src/listener/original-dst.js';
import { ROOT } from '../helpers/proxy.js';

/** The compiled module: the namespace script and the worker run outside vitest, so they need dist/. */
const DIST_MODULE = join(ROOT, 'dist', 'listener', 'original-dst.js');
const NODE = existsSync(join(ROOT, 'node_modules', '.bin', 'node')) ? join(ROOT, 'node_modules', '.bin', 'node') : process.execPath;

function assertDistBuilt(): void {
  if (!existsSync(DIST_MODULE)) throw new Error('dist/ is missing: build first with `npm run build` (npm test does it)');
}

const V4_LINE =
  'ipv4     2 tcp      6 431999 ESTABLISHED src=10.0.0.1 dst=10.96.0.10 sport=40000 dport=80 src=127.0.0.1 dst=10.0.0.1 sport=15001 dport=40000 [ASSURED] mark=0 zone=0 use=2';
const V6_LINE =
  'ipv6     10 tcp      6 119 ESTABLISHED src=fd00:0000:0000:0000:0000:0000:0000:0001 dst=fd00:0000:0000:0000:0000:0000:0000:0a07 sport=54318 dport=8080 ' +
  'src=0000:0000:0000:0000:0000:0000:0000:0001 dst=fd00:0000:0000:0000:0000:0000:0000:0001 sport=15006 dport=54318 [ASSURED] mark=0 zone=0 use=2';
const PROXY = { address: '127.0.0.1', port: 15001 };
const CLIENT = { address: '10.0.0.1', port: 40000 };

describe('findOriginalInConntrack', () => {
  it('IPv4: the entry whose REPLY tuple is local → remote answers its ORIGINAL destination', () => {
    expect(findOriginalInConntrack(V4_LINE, PROXY, CLIENT)).toEqual({ address: '10.96.0.10', port: 80, family: 4 });
    // among other entries, and with the proxy's address v4-mapped (a dual-stack listener)
    const other = V4_LINE.replaceAll('40000', '40001').replace('10.96.0.10', '10.96.0.11');
    const text = `${other}\n${V4_LINE}\n`;
    expect(findOriginalInConntrack(text, PROXY, CLIENT)).toEqual({ address: '10.96.0.10', port: 80, family: 4 });
    expect(findOriginalInConntrack(text, { address: '::ffff:127.0.0.1', port: 15001 }, CLIENT)?.address).toBe('10.96.0.10');
  });

  it('IPv6: full-form addresses compare with compressed ones, and the answer is compressed', () => {
    expect(findOriginalInConntrack(V6_LINE, { address: '::1', port: 15006 }, { address: 'fd00::1', port: 54318 })).toEqual({
      address: 'fd00::a07',
      port: 8080,
      family: 6,
    });
  });

  it('no match: other ports, other addresses, the ORIGINAL side, not TCP', () => {
    expect(findOriginalInConntrack(V4_LINE, { ...PROXY, port: 15006 }, CLIENT)).toBeUndefined();
    expect(findOriginalInConntrack(V4_LINE, PROXY, { ...CLIENT, port: 4000 })).toBeUndefined();
    expect(findOriginalInConntrack(V4_LINE, { ...PROXY, address: '127.0.0.2' }, CLIENT)).toBeUndefined();
    expect(findOriginalInConntrack(V4_LINE, PROXY, { ...CLIENT, address: '10.0.0.2' })).toBeUndefined();
    // the client's view (ORIGINAL src → dst) is not the accepting socket's
    expect(findOriginalInConntrack(V4_LINE, CLIENT, { address: '10.96.0.10', port: 80 })).toBeUndefined();
    expect(findOriginalInConntrack(V4_LINE.replace(' tcp      6', ' udp      17'), PROXY, CLIENT)).toBeUndefined();
    expect(findOriginalInConntrack('', PROXY, CLIENT)).toBeUndefined();
  });

  it('malformed lines are skipped, a good line after them still matches', () => {
    const bad = [
      'garbage sport=15001 dport=40000',
      V4_LINE.slice(0, V4_LINE.indexOf(' [ASSURED]')).replace('src=10.0.0.1 dst=10.96.0.10 sport=40000 dport=80 ', ''), // reply tuple only
      V4_LINE.replace('dst=10.96.0.10', 'dst=10.96.0'),
      V4_LINE.replace('dport=80', 'dport=99999'),
      V4_LINE.replace('ipv4', 'ipv9'),
      'ipv4 2 tcp 6 sport=15001 dport=40000',
    ];
    for (const line of bad) expect(findOriginalInConntrack(line, PROXY, CLIENT), line).toBeUndefined();
    expect(findOriginalInConntrack([...bad, V4_LINE].join('\n'), PROXY, CLIENT)?.address).toBe('10.96.0.10');
    expect(findOriginalInConntrack(V4_LINE, { address: 'not-an-ip', port: 15001 }, CLIENT)).toBeUndefined();
  });
});

/** A loopback connection; resolves with the accepted socket (bounded). */
async function loopbackPair(): Promise<{ server: Server; accepted: Socket; client: Socket }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  let client!: Socket;
  const accepted = await new Promise<Socket>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no connection within 3 s')), 3000);
    server.once('connection', (s) => {
      clearTimeout(timer);
      resolve(s);
    });
    client = connect({ host: '127.0.0.1', port }).on('error', reject);
  });
  return { server, accepted, client };
}

describe('originalDestination on real sockets in this process', () => {
  afterEach(() => setOriginalDstBackend(undefined));

  it('uses FFI on Linux; the conntrack backend can be forced', () => {
    if (process.platform === 'linux') expect(originalDstBackend()).toBe('ffi');
    setOriginalDstBackend('conntrack');
    expect(originalDstBackend()).toBe('conntrack');
  });

  it('a connection nobody redirected: both backends agree, on undefined (untracked) or the listener itself', async () => {
    // conntrack only tracks in a network namespace whose ruleset needs it (nat rules, -m conntrack):
    // untracked, both answer undefined (getsockopt: ENOENT); tracked, both answer the listener's own
    // address. The namespace test below checks the tracked case exactly.
    const { server, accepted, client } = await loopbackPair();
    try {
      const own: OriginalDestination = { address: '127.0.0.1', port: accepted.localPort!, family: 4 };
      const viaFfi = originalDestination(accepted);
      expect([undefined, own]).toContainEqual(viaFfi);
      setOriginalDstBackend('conntrack');
      const viaConntrack = originalDestination(accepted);
      expect([undefined, own]).toContainEqual(viaConntrack);
      // /proc/net/nf_conntrack is root-only: only then can the file agree with the kernel's answer
      if (process.getuid?.() === 0 && existsSync('/proc/net/nf_conntrack')) expect(viaConntrack).toEqual(viaFfi);
    } finally {
      client.destroy();
      accepted.destroy();
      server.close();
    }
  });

  it('a socket without a connection answers undefined and does not throw', async () => {
    expect(originalDestination(new Socket())).toBeUndefined();
    const { server, accepted, client } = await loopbackPair();
    accepted.destroy();
    client.destroy();
    server.close();
    expect(originalDestination(accepted)).toBeUndefined();
  });
});

describe('originalDestination in a worker thread', () => {
  it('loads the FFI backend and answers for a socket the worker accepted', async () => {
    assertDistBuilt();
    // eval'd workers are CommonJS: the ES module comes in through import()
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      const net = require('node:net');
      import(workerData.url).then((m) => {
        const server = net.createServer((s) => {
          const backend = m.originalDstBackend();
          parentPort.postMessage({ backend, result: m.originalDestination(s) ?? null, localPort: s.localPort });
          s.destroy(); client.destroy(); server.close();
        });
        let client;
        server.listen(0, '127.0.0.1', () => { client = net.connect(server.address().port, '127.0.0.1'); });
      }, (e) => parentPort.postMessage({ error: String(e) }));`;
    const worker = new Worker(code, { eval: true, workerData: { url: pathToFileURL(DIST_MODULE).href } });
    try {
      const msg = await new Promise<any>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('worker: no answer within 10 s')), 10_000);
        worker.once('message', (m) => (clearTimeout(timer), resolve(m)));
        worker.once('error', (e) => (clearTimeout(timer), reject(e)));
      });
      expect(msg.error).toBeUndefined();
      if (process.platform === 'linux') expect(msg.backend).toBe('ffi');
      expect([null, { address: '127.0.0.1', port: msg.localPort, family: 4 }]).toContainEqual(msg.result);
    } finally {
      await worker.terminate();
    }
  });
});

// ---- a real REDIRECT, in a network namespace of our own (root, ip, iptables) ----

/** Runs inside the namespace: prints, per case, what each backend answers, here and in a worker. */
const PROBE = `
import { existsSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { isMainThread, parentPort, Worker } from 'node:worker_threads';

const [modUrl, casesJson] = process.argv.slice(2);
const m = await import(modUrl);
const cases = JSON.parse(casesJson);

function accept(server, host, port) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no connection to ' + host + ':' + port + ' within 3 s')), 3000);
    server.once('connection', (s) => { clearTimeout(timer); resolve(s); });
    connect({ host, port }).on('error', (e) => { clearTimeout(timer); reject(e); });
  });
}

async function probe(backends) {
  const servers = new Map();
  const out = {};
  try {
    for (const c of cases) {
      const key = c.listen + '|' + c.listenPort;
      if (!servers.has(key)) {
        const srv = createServer();
        await new Promise((res, rej) => srv.once('error', rej).listen(c.listenPort, c.listen, res));
        servers.set(key, srv);
      }
      const sock = await accept(servers.get(key), c.host, c.port);
      const r = { local: sock.localAddress };
      for (const b of backends) {
        m.setOriginalDstBackend(b);
        r[b] = m.originalDestination(sock) ?? null;
      }
      out[c.name] = r;
      sock.destroy();
    }
  } finally {
    for (const s of servers.values()) s.close();
  }
  return out;
}

if (isMainThread) {
  const main = await probe(['ffi', 'conntrack']);
  const worker = await new Promise((resolve, reject) => {
    const w = new Worker(new URL(import.meta.url), { argv: process.argv.slice(2) });
    const timer = setTimeout(() => { w.terminate(); reject(new Error('worker: no answer within 10 s')); }, 10000);
    w.once('message', (msg) => { clearTimeout(timer); resolve(msg); });
    w.once('error', (e) => { clearTimeout(timer); reject(e); });
  });
  console.log(JSON.stringify({ conntrackFile: existsSync('/proc/net/nf_conntrack'), main, worker }));
  process.exit(0);
} else {
  parentPort.postMessage({ backend: m.originalDstBackend(), results: await probe(['ffi']) });
}
`;

interface ProbeCase {
  name: string;
  host: string;
  port: number;
  listen: string;
  listenPort: number;
  /** What originalDestination must answer, and the accepted socket's local address. */
  expected: OriginalDestination;
  local: string;
}
type Answers = Record<string, { local: string; ffi?: OriginalDestination | null; conntrack?: OriginalDestination | null }>;
interface ProbeOutput {
  conntrackFile: boolean;
  main: Answers;
  worker: { backend: string; results: Answers };
}

function hasTool(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore', timeout: 5_000 });
    return true;
  } catch {
    return false;
  }
}

describe('originalDestination behind a real iptables REDIRECT (network namespace)', () => {
  const ns = `or-odst-${Math.random().toString(36).slice(2, 10)}`;
  let nsCreated = false;
  let skipReason: string | undefined;
  let cases: ProbeCase[] = [];
  let out: ProbeOutput | undefined;
  let dir: string | undefined;

  const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 });
  const inNs = (cmd: string, ...args: string[]) => ip('netns', 'exec', ns, cmd, ...args);

  beforeAll(async () => {
    if (process.platform !== 'linux' || process.getuid?.() !== 0) skipReason = 'needs root on Linux (network namespace + iptables)';
    else if (!hasTool('ip', ['-V'])) skipReason = '`ip` (iproute2) is not installed';
    else if (!hasTool('iptables', ['--version'])) skipReason = '`iptables` is not installed';
    if (skipReason) return;
    assertDistBuilt();
    try {
      ip('netns', 'add', ns);
      nsCreated = true;
    } catch (e) {
      skipReason = `cannot create a network namespace here: ${String((e as any).stderr ?? e).trim()}`;
      return;
    }
    // 198.18.7.0/24 and 2001:db8::/64 live on the namespace's own lo (no dummy/veth module needed):
    // connect() finds a route, and the nat OUTPUT rules send the SYN to the local listener instead.
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    ip('-n', ns, 'addr', 'add', '198.18.7.1/24', 'dev', 'lo');
    inNs('iptables', '-t', 'nat', '-A', 'OUTPUT', '-p', 'tcp', '-d', '198.18.7.7', '--dport', '80', '-j', 'REDIRECT', '--to-ports', '15001');
    inNs('iptables', '-t', 'nat', '-A', 'OUTPUT', '-p', 'tcp', '-d', '198.18.7.8', '--dport', '80', '-j', 'REDIRECT', '--to-ports', '15006');
    cases = [
      { name: 'ipv4', host: '198.18.7.7', port: 80, listen: '127.0.0.1', listenPort: 15001, local: '127.0.0.1', expected: { address: '198.18.7.7', port: 80, family: 4 } },
      // IPv4 accepted on a dual-stack listener: local ::ffff:127.0.0.1, still asked at SOL_IP
      { name: 'ipv4 on ::', host: '198.18.7.8', port: 80, listen: '::', listenPort: 15006, local: '::ffff:127.0.0.1', expected: { address: '198.18.7.8', port: 80, family: 4 } },
      // tracked (the namespace has nat rules) but not redirected: the listener's own address
      { name: 'not redirected', host: '127.0.0.1', port: 15001, listen: '127.0.0.1', listenPort: 15001, local: '127.0.0.1', expected: { address: '127.0.0.1', port: 15001, family: 4 } },
    ];
    try {
      ip('-n', ns, 'addr', 'add', '2001:db8::1/64', 'dev', 'lo', 'nodad');
      inNs('ip6tables', '-t', 'nat', '-A', 'OUTPUT', '-p', 'tcp', '-d', '2001:db8::7', '--dport', '80', '-j', 'REDIRECT', '--to-ports', '15006');
      cases.push({ name: 'ipv6', host: '2001:db8::7', port: 80, listen: '::', listenPort: 15006, local: '::1', expected: { address: '2001:db8::7', port: 80, family: 6 } });
    } catch (e) {
      console.warn(`original-dst: no IPv6 REDIRECT case (${String((e as any).stderr ?? e).trim()})`);
    }
    dir = await mkdtemp(join(tmpdir(), 'or-odst-'));
    const script = join(dir, 'probe.mjs');
    await writeFile(script, PROBE);
    const args = ['netns', 'exec', ns, NODE, script, pathToFileURL(DIST_MODULE).href, JSON.stringify(cases)];
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile('ip', args, { timeout: 20_000 }, (err, so, se) => (err ? reject(new Error(`probe failed: ${err.message}\n${se}`)) : resolve(so))),
    );
    out = JSON.parse(stdout.trim().split('\n').pop()!) as ProbeOutput;
  });

  afterAll(async () => {
    if (nsCreated) ip('netns', 'del', ns);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('FFI (getsockopt SO_ORIGINAL_DST) answers the original destination', (ctx) => {
    if (skipReason) ctx.skip(skipReason);
    for (const c of cases) {
      expect(out!.main[c.name].local, c.name).toBe(c.local);
      expect(out!.main[c.name].ffi, c.name).toEqual(c.expected);
    }
  });

  it('the /proc/net/nf_conntrack fallback answers the same', (ctx) => {
    if (skipReason) ctx.skip(skipReason);
    if (!out!.conntrackFile) ctx.skip('no /proc/net/nf_conntrack in the namespace (nf_conntrack procfs not available): fallback not checked');
    for (const c of cases) expect(out!.main[c.name].conntrack, c.name).toEqual(c.expected);
  });

  it('FFI works the same in a worker thread', (ctx) => {
    if (skipReason) ctx.skip(skipReason);
    expect(out!.worker.backend).toBe('ffi');
    for (const c of cases) expect(out!.worker.results[c.name].ffi, c.name).toEqual(c.expected);
  });
});
