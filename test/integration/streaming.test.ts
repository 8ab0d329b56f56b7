// Bodies stream through the proxy with backpressure: nothing is buffered whole.
import { request as httpRequestNode } from 'node:http';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { svcHost } from '../helpers/fixtures.js';
import { newAgent } from '../helpers/http.js';
import { gateway, GATEWAY_ARGS, serviceEntry, toYaml, virtualService } from '../helpers/mesh.js';
import { freePort } from '../helpers/ports.js';
import { rssBytes, sleep, startProxy, stopAllProxies, type RunningProxy } from '../helpers/proxy.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const MB = 1024 * 1024;
const BODY = 50 * MB;
const CHUNK = Buffer.alloc(64 * 1024, 120);
/**
 * What may pile up while one side stalls: socket buffers on two loopback hops (autotuned, a few MB
 * each) plus the proxy's small stream buffers. Measured ≈ 8–10 MB; a proxy that ignores backpressure
 * takes in the whole 50 MB within the stall.
 */
const STALL_LIMIT = 25 * MB;

let gw: number;
let proxy: RunningProxy;
let sink: Upstream;
let source: Upstream;
let slow: Upstream;
let sinkBytes = 0;
let sourceSent = 0;
let secondWrittenAt = 0;
const STALL_MS = 1_200;
/** Called by the sink when it stops stalling (the upload test samples client and proxy state then). */
let onSinkResume: () => void = () => {};
const agent = newAgent();

beforeAll(async () => {
  // counts the upload; does not read for its first STALL_MS, so the proxy must hold back the client
  sink = await startUpstream((req, res) => {
    sinkBytes = 0;
    req.pause();
    setTimeout(() => {
      onSinkResume();
      req.resume();
    }, STALL_MS);
    req.on('data', (c: Buffer) => (sinkBytes += c.length));
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(String(sinkBytes));
    });
  }, 'sink');
  // writes 50 MB as fast as the proxy lets it
  source = await startUpstream((req, res) => {
    req.resume();
    sourceSent = 0;
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(BODY) });
    const pump = () => {
      while (sourceSent < BODY) {
        sourceSent += CHUNK.length;
        if (!res.write(CHUNK)) {
          res.once('drain', pump);
          return;
        }
      }
      res.end();
    };
    pump();
  }, 'source');
  // first chunk, 500 ms pause, second chunk
  slow = await startUpstream((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('first;');
    setTimeout(() => {
      secondWrittenAt = Date.now();
      res.end('second');
    }, 500);
  }, 'slow');
  gw = await freePort();
  proxy = await startProxy({
    yaml: toYaml(
      gateway({ port: gw }),
      serviceEntry({ name: 'sink', host: svcHost('sink'), endpoints: [{ port: sink.port }] }),
      serviceEntry({ name: 'source', host: svcHost('source'), endpoints: [{ port: source.port }] }),
      serviceEntry({ name: 'slow', host: svcHost('slow'), endpoints: [{ port: slow.port }] }),
      virtualService('stream', {
        hosts: ['stream.test'],
        gateways: ['gw'],
        http: [
          { match: [{ uri: { prefix: '/upload' } }], route: [{ destination: { host: 'sink' } }] },
          { match: [{ uri: { prefix: '/download' } }], route: [{ destination: { host: 'source' } }] },
          { match: [{ uri: { prefix: '/slow' } }], route: [{ destination: { host: 'slow' } }] },
        ],
      }),
    ),
    args: GATEWAY_ARGS,
  });
});

afterAll(async () => {
  await stopAllProxies();
  await Promise.all([sink, source, slow].map((u) => u?.close()));
  await agent.close();
});

/** Samples the proxy's RSS every 25 ms until stopped; `peak()` is the highest so far. */
function rssSampler(pid: number) {
  let max = 0;
  let running = true;
  const loop = (async () => {
    for (let i = 0; running && i < 4_000; i++) {
      const r = await rssBytes(pid);
      if (r !== undefined && r > max) max = r;
      await sleep(25);
    }
  })();
  return {
    peak: () => max,
    stop: async () => {
      running = false;
      await loop;
      return max;
    },
  };
}

async function baseline(pid: number): Promise<number> {
  await sleep(200);
  return (await rssBytes(pid)) ?? 0;
}

const mb = (n: number) => `${(n / MB).toFixed(1)} MB`;

describe('streaming bodies', () => {
  // What tells streaming from buffering is what happens while the other side stalls: with
  // backpressure the proxy stops reading, so the sender is held back and the proxy's memory stays
  // flat. (Peak RSS over the whole transfer is not a usable signal on its own: V8 frees the
  // transferred Buffers lazily, so a first 50 MB pass can grow RSS by about that much even when
  // nothing is buffered; it is still bounded below twice the body size here.)
  it('uploads 50 MB through the proxy without buffering it', async () => {
    const base = await baseline(proxy.pid);
    const sampler = rssSampler(proxy.pid);
    let produced = 0;
    let atResume: { produced: number; rssGrowth: number } | undefined;
    onSinkResume = () => (atResume = { produced, rssGrowth: sampler.peak() - base });
    const body = new Readable({
      read() {
        if (produced >= BODY) return void this.push(null);
        produced += CHUNK.length;
        this.push(CHUNK);
      },
    });
    const res = await request(`http://127.0.0.1:${gw}/upload`, {
      method: 'POST',
      headers: { host: 'stream.test', 'content-type': 'application/octet-stream' },
      body,
      dispatcher: agent,
      headersTimeout: 20_000,
      bodyTimeout: 20_000,
    });
    const text = await res.body.text();
    const peak = await sampler.stop();
    expect(res.statusCode).toBe(200);
    expect(Number(text)).toBe(BODY);
    expect(sinkBytes).toBe(BODY);
    expect(atResume).toBeDefined();
    // while the upstream did not read, the client could only fill socket buffers, not push 50 MB
    expect(atResume!.produced, `client had sent ${mb(atResume!.produced)} while the upstream stalled`).toBeLessThan(STALL_LIMIT);
    expect(atResume!.rssGrowth, `proxy RSS grew ${mb(atResume!.rssGrowth)} while the upstream stalled`).toBeLessThan(STALL_LIMIT);
    expect(peak - base, `proxy RSS grew ${mb(peak - base)} over the whole upload`).toBeLessThan(2 * BODY);
  });

  it('downloads 50 MB to a slow reader without buffering it', async () => {
    const base = await baseline(proxy.pid);
    const sampler = rssSampler(proxy.pid);
    let atStallEnd: { sent: number; rssGrowth: number } | undefined;
    const received = await new Promise<number>((resolve, reject) => {
      const req = httpRequestNode({ host: '127.0.0.1', port: gw, path: '/download', headers: { host: 'stream.test' }, agent: false }, (res) => {
        let n = 0;
        res.on('data', (c: Buffer) => (n += c.length));
        res.on('end', () => resolve(n));
        res.on('error', reject);
        // a slow reader: nothing read for STALL_MS (the proxy must stop reading the upstream), then drain
        res.pause();
        setTimeout(() => {
          atStallEnd = { sent: sourceSent, rssGrowth: sampler.peak() - base };
          res.resume();
        }, STALL_MS);
      });
      req.on('error', reject);
      req.setTimeout(20_000, () => req.destroy(new Error('download timed out')));
      req.end();
    });
    const peak = await sampler.stop();
    expect(received).toBe(BODY);
    expect(atStallEnd).toBeDefined();
    expect(atStallEnd!.sent, `upstream had written ${mb(atStallEnd!.sent)} while the client stalled`).toBeLessThan(STALL_LIMIT);
    expect(atStallEnd!.rssGrowth, `proxy RSS grew ${mb(atStallEnd!.rssGrowth)} while the client stalled`).toBeLessThan(STALL_LIMIT);
    expect(peak - base, `proxy RSS grew ${mb(peak - base)} over the whole download`).toBeLessThan(2 * BODY);
  });

  it('the first bytes of a slow response reach the client before the rest is written', async () => {
    secondWrittenAt = 0;
    const res = await request(`http://127.0.0.1:${gw}/slow`, { headers: { host: 'stream.test' }, dispatcher: agent, headersTimeout: 5_000, bodyTimeout: 5_000 });
    expect(res.statusCode).toBe(200);
    const chunks: { text: string; at: number }[] = [];
    for await (const c of res.body) chunks.push({ text: (c as Buffer).toString(), at: Date.now() });
    expect(chunks.map((c) => c.text).join('')).toBe('first;second');
    expect(chunks[0].text).toBe('first;');
    expect(secondWrittenAt).toBeGreaterThan(0);
    expect(chunks[0].at).toBeLessThan(secondWrittenAt);
  });
});
