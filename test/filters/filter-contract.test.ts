// The HTTP filter contract end to end through the real data plane (a Snapshot as xDS delivers it,
// a real upstream, real clients): test-only filters registered here rewrite request and response
// bodies (decodeData / encodeData, content-length dropped as Envoy's body-changing filters do),
// buffer the request (StopAndBuffer, 413 past the limit), stamp every response (local replies
// included, as Envoy's sendLocalReply runs the encoder filters) and replace a response with a
// local reply from an encoder hook (sent once, no re-entry); per-route config compiled at load
// (route over virtual host), and a bad one rejecting the config naming route and filter.
import { httpConnectionManagerFilter } from '../../src/config/envoy/network-filters.js';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/errors.js';
import type { HttpConnectionManager, Listener, RouteConfiguration, Snapshot } from '../../src/config/snapshot.js';
import { loadAssignment, staticHost } from '../../src/config/endpoints.js';
import { Field } from '../../src/config/reader.js';
import { registerHttpFilter } from '../../src/filters/http/registry.js';
import { FilterStatus, type HttpFilterFactory } from '../../src/http/filter.js';
import { DataPlane } from '../../src/worker/data-plane.js';
import { WorkerStats } from '../../src/telemetry/stats.js';
import { freePorts } from '../helpers/ports.js';
import { sidecarNode } from '../config/helpers.js';

const UPPER = 'test.upper_body';
const STAMP = 'test.stamp';
const BUFFER = 'test.buffer';

/** Upper-cases bodies both ways and appends a suffix at the end (the route's, else "!"): the length changes, so content-length goes. */
const upperBody: HttpFilterFactory<Record<string, never>, { suffix: string }> = {
  name: UPPER,
  parse: () => ({}),
  parsePerRoute(raw) {
    const f = new Field(raw, [], { kind: UPPER }).object(['suffix']);
    return { suffix: f.at('suffix').string() };
  },
  create() {
    return (cb) => {
      const suffix = () => Buffer.from(cb.perRouteConfig<{ suffix: string }>()?.suffix ?? '!');
      const upper = (d: { data: Buffer }, end: boolean) => {
        d.data = Buffer.from(d.data.toString('latin1').toUpperCase(), 'latin1');
        if (end) d.data = Buffer.concat([d.data, suffix()]);
        return FilterStatus.Continue;
      };
      return {
        decodeHeaders: (h) => (h.remove('content-length'), FilterStatus.Continue),
        decodeData: upper,
        encodeHeaders: (h) => (h.remove('content-length'), FilterStatus.Continue),
        encodeData: upper,
      };
    };
  },
};

let encodeHeadersCalls = 0;
/** Stamps every response with its status; a 502 (upstream) or 503 (a local reply) is replaced by a local 418 from the encoder hook. */
const stamp: HttpFilterFactory = {
  name: STAMP,
  parse: () => ({}),
  create() {
    return (cb) => ({
      encodeHeaders(h) {
        encodeHeadersCalls++;
        if (h.status === 502 || h.status === 503) {
          cb.sendLocalReply(418, 'replaced by an encoder filter');
          return FilterStatus.StopIteration;
        }
        h.set('x-stamp', String(h.status));
        return FilterStatus.Continue;
      },
    });
  },
};

/** Envoy's buffer filter: the whole request body before it goes on. */
const buffer: HttpFilterFactory = {
  name: BUFFER,
  parse: () => ({}),
  create() {
    return () => ({ decodeData: (_d, end) => (end ? FilterStatus.Continue : FilterStatus.StopAndBuffer) });
  },
};

let upstream: Server;
let dp: DataPlane;
let upstreamPort: number;
const ports = { upper: 0, buffered: 0 };
/** What the upstream saw of each request: framing headers and the arrival of the body's chunks. */
let seen: { headers: IncomingHttpHeaders; body: string; chunks: number }[] = [];

function hcm(name: string, filters: string[]): HttpConnectionManager {
  return {
    statPrefix: name, routeConfigName: 'r', useRemoteAddress: false, stripEnvoyHeaders: false, maxRequestHeadersKb: 60,
    idleTimeoutMs: 60_000, acceptHttp10: false, httpFilters: filters.map((f) => ({ name: f, config: {} })),
  };
}

function listener(name: string, port: number, filters: string[]): Listener {
  return { name, address: '127.0.0.1', port, direction: 'GATEWAY', filterChains: [{ name, match: {}, filters: [httpConnectionManagerFilter(hcm(name, filters))] }] };
}

function routes(perRoute: Record<string, unknown> = { [UPPER]: { suffix: '#' } }): RouteConfiguration {
  const match = (prefix: string) => ({ path: { prefix }, headers: [], queryParams: [] });
  const action = { kind: 'route' as const, clusters: [{ name: 'c', weight: 1 }] };
  return {
    name: 'r',
    virtualHosts: [{
      name: 'all', domains: ['*'], typedPerFilterConfig: { [UPPER]: { suffix: '?' } },
      routes: [
        { name: 'own', match: match('/own'), action, typedPerFilterConfig: perRoute },
        { name: 'direct', match: match('/direct'), action: { kind: 'direct_response', status: 200, body: 'direct body' } },
        { name: 'up', match: match('/up'), action },
        { name: 'nohost', match: match('/nohost'), action: { kind: 'route' as const, clusters: [{ name: 'empty', weight: 1 }] } },
      ],
    }],
  };
}

function snapshot(rc: RouteConfiguration): Snapshot {
  return {
    version: 'test',
    node: sidecarNode(),
    listeners: [listener('upper', ports.upper, [STAMP, UPPER]), listener('buffered', ports.buffered, [STAMP, BUFFER])],
    routeConfigs: [rc],
    clusters: [
      { name: 'c', type: 'STATIC', lbPolicy: 'ROUND_ROBIN', connectTimeoutMs: 1000, idleTimeoutMs: 1000 },
      { name: 'empty', type: 'STATIC', lbPolicy: 'ROUND_ROBIN', connectTimeoutMs: 1000, idleTimeoutMs: 1000 },
    ],
    endpoints: [loadAssignment('c', [staticHost('127.0.0.1', upstreamPort)]), loadAssignment('empty', [])],
    secrets: [], resourceVersions: { clusters: {}, endpoints: {}, secrets: {} },
  };
}

beforeAll(async () => {
  registerHttpFilter(upperBody);
  registerHttpFilter(stamp);
  registerHttpFilter(buffer);
  upstream = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      seen.push({ headers: req.headers, body, chunks: chunks.length });
      if (req.url === '/up/fail') {
        res.writeHead(502, { 'content-length': 3 });
        res.end('bad');
        return;
      }
      // echoes the body, in two writes, with a length the filters must drop when they change it
      const out = Buffer.from(`echo:${body}`);
      res.writeHead(200, { 'content-length': out.length, 'x-up': 'yes' });
      res.write(out.subarray(0, 3));
      res.end(out.subarray(3));
    });
  });
  const [up, a, b] = await freePorts(3);
  upstreamPort = up;
  ports.upper = a;
  ports.buffered = b;
  await new Promise<void>((r) => upstream.listen(up, '127.0.0.1', () => r()));
  dp = new DataPlane({ stats: new WorkerStats() });
  await dp.apply(snapshot(routes()));
});

afterAll(async () => {
  await dp?.close();
  await new Promise((r) => upstream.close(r));
});

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One request; `body` is sent in the given pieces, chunked (no content-length) unless `length` is set. */
function send(port: number, path: string, body: string[] = [], length = false): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const total = body.reduce((n, s) => n + Buffer.byteLength(s), 0);
    const headers: Record<string, string | number> = { host: 'a' };
    if (length) headers['content-length'] = total;
    const req = request({ host: '127.0.0.1', port, path, method: body.length ? 'POST' : 'GET', headers, agent: false, timeout: 10_000 }, (res) => {
      const got: Buffer[] = [];
      res.on('data', (c: Buffer) => got.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(got).toString() }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    for (const piece of body) req.write(piece);
    req.end();
  });
}

describe('decodeData / encodeData rewrite bodies through the real proxy', () => {
  it('the request body is upper-cased with the route suffix, the response too; content-length is dropped (chunked both ways)', async () => {
    seen = [];
    const r = await send(ports.upper, '/own', ['hello ', 'world'], true);
    expect(r.status).toBe(200);
    expect(seen[0].body).toBe('HELLO WORLD#');
    expect(seen[0].headers['content-length']).toBeUndefined();
    expect(seen[0].headers['transfer-encoding']).toBe('chunked');
    expect(r.body).toBe('ECHO:HELLO WORLD##');
    expect(r.headers['content-length']).toBeUndefined();
    expect(r.headers['x-up']).toBe('yes');
    expect(r.headers['x-stamp']).toBe('200');
  });

  it('per-route config: a route without its own entry takes the virtual host\'s (route > virtual host)', async () => {
    seen = [];
    const r = await send(ports.upper, '/up/x', ['abc']);
    expect(seen[0].body).toBe('ABC?');
    expect(r.body).toBe('ECHO:ABC??');
  });

  it('a large body keeps streaming through a rewriting filter (no buffering)', async () => {
    seen = [];
    const pieces = Array.from({ length: 40 }, () => 'x'.repeat(64 * 1024));
    const r = await send(ports.upper, '/up/big', pieces);
    expect(r.status).toBe(200);
    expect(seen[0].body.length).toBe(40 * 64 * 1024 + 1);
    expect(seen[0].body.startsWith('XXXX')).toBe(true);
    // more than one chunk reached the upstream: the body was not gathered first
    expect(seen[0].chunks).toBeGreaterThan(1);
  });
});

describe('StopAndBuffer (a buffer filter)', () => {
  it('the whole request body reaches the upstream at once, within the limit', async () => {
    seen = [];
    const r = await send(ports.buffered, '/up/b', ['one-', 'two-', 'three']);
    expect(r.status).toBe(200);
    expect(seen[0].body).toBe('one-two-three');
    expect(r.body).toBe('echo:one-two-three');
  });

  it('past the 1 MiB stream buffer limit: 413 Payload Too Large, stamped by the encoder filter, upstream never asked', async () => {
    seen = [];
    const pieces = Array.from({ length: 17 }, () => 'y'.repeat(64 * 1024));
    const r = await send(ports.buffered, '/up/huge', pieces).catch((e: Error): Reply => ({ status: -1, headers: {}, body: e.message }));
    expect(r.status).toBe(413);
    expect(r.body).toBe('Payload Too Large');
    expect(r.headers['x-stamp']).toBe('413');
    expect(seen).toEqual([]);
  });
});

describe('close timing', () => {
  it('the client goes away while the buffer filter holds part of its body: the upstream is never asked, the proxy goes on serving', async () => {
    seen = [];
    await new Promise<void>((resolve) => {
      const req = request({ host: '127.0.0.1', port: ports.buffered, path: '/up/gone', method: 'POST', headers: { host: 'a' }, agent: false });
      req.on('error', () => resolve());
      req.write('partial body');
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 100);
    });
    await new Promise((r) => setTimeout(r, 100));
    expect(seen).toEqual([]);
    expect((await send(ports.buffered, '/up/after', ['next'])).body).toBe('echo:next');
  });
});

describe('local replies through the encoder filters', () => {
  it('a route-not-found 404 and a direct response carry the encoder filter\'s stamp', async () => {
    const nr = await send(ports.buffered, '/nowhere');
    expect(nr.status).toBe(404);
    expect(nr.headers['x-stamp']).toBe('404');
    const direct = await send(ports.upper, '/direct');
    expect(direct.status).toBe(200);
    expect(direct.headers['x-stamp']).toBe('200');
    // the local reply's body went through encodeData too (upper-cased, suffixed, its length dropped)
    expect(direct.body).toBe('DIRECT BODY?');
    expect(direct.headers['content-length']).toBeUndefined();
  });

  it('an encoder filter answering locally replaces the response once, without running the encoders again', async () => {
    encodeHeadersCalls = 0;
    const r = await send(ports.buffered, '/up/fail');
    expect(r.status).toBe(418);
    expect(r.body).toBe('replaced by an encoder filter');
    expect(r.headers['x-stamp']).toBeUndefined();
    expect(encodeHeadersCalls).toBe(1);
  });

  it('an encoder filter answering while a local reply (503 no healthy upstream) is encoded: its reply goes out directly, once', async () => {
    encodeHeadersCalls = 0;
    const r = await send(ports.buffered, '/nohost');
    expect(r.status).toBe(418);
    expect(r.body).toBe('replaced by an encoder filter');
    expect(encodeHeadersCalls).toBe(1);
  });
});

describe('typed_per_filter_config is compiled at load', () => {
  it('a bad entry rejects the config with a ConfigError naming the route configuration, the route and the filter', async () => {
    const bad = dp.apply(snapshot(routes({ [UPPER]: { suffix: 5 } })));
    await expect(bad).rejects.toThrow(ConfigError);
    await expect(dp.apply(snapshot(routes({ [UPPER]: { suffix: 5 } })))).rejects.toThrow(/RouteConfiguration r.*virtualHosts\[0\]\.routes\[0\]\.typedPerFilterConfig\["test\.upper_body"\].*expected a string/);
    await expect(dp.apply(snapshot(routes({ 'envoy.filters.http.header_mutation': {} })))).rejects.toThrow(/takes no per-route config/);
    // the config in force stays: requests still go through
    expect((await send(ports.upper, '/up/still', ['ok'])).body).toBe('ECHO:OK??');
  });
});
