// Gateway mode (Envoy use_remote_address): request id, X-Forwarded-*, hop-by-hop and x-envoy-* headers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { namedUpstreams } from '../helpers/fixtures.js';
import { httpRequest, newAgent, rawExchange, rawStatus } from '../helpers/http.js';
import { gateway, GATEWAY_ARGS, toYaml, virtualService } from '../helpers/mesh.js';
import { freePort } from '../helpers/ports.js';
import { startProxy, stopAllProxies } from '../helpers/proxy.js';

let gw: number;
let fx: Awaited<ReturnType<typeof namedUpstreams>>;
const agent = newAgent();
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

beforeAll(async () => {
  fx = await namedUpstreams(['echo']);
  gw = await freePort();
  await startProxy({
    yaml: toYaml(gateway({ port: gw }), ...fx.entries, virtualService('all', { hosts: ['*'], gateways: ['gw'], http: [{ route: [{ destination: { host: 'echo' } }] }] })),
    args: GATEWAY_ARGS,
  });
});

afterAll(async () => {
  await stopAllProxies();
  await fx?.closeAll();
  await agent.close();
});

async function echoOf(headers: Record<string, string> = {}, host = 'headers.test') {
  const r = await httpRequest(gw, { host, path: '/h', headers, dispatcher: agent });
  expect(r.status).toBe(200);
  return r.json() as { headers: Record<string, string>; rawHeaders: string[] };
}

/** Sends a hand-written request (Connection: close) and returns the echo the upstream produced. */
async function rawEcho(headerLines: string[]): Promise<{ headers: Record<string, string>; rawHeaders: string[] }> {
  const req = ['GET /raw HTTP/1.1', 'Host: raw.test', ...headerLines, '', ''].join('\r\n');
  const res = await rawExchange(gw, req, 3_000);
  expect(rawStatus(res.data)).toBe(200);
  const body = res.data.slice(res.data.indexOf('\r\n\r\n') + 4);
  return JSON.parse(body);
}

describe('x-request-id', () => {
  it('is generated (a UUID) when absent, distinct per request', async () => {
    const a = (await echoOf()).headers['x-request-id'];
    const b = (await echoOf()).headers['x-request-id'];
    expect(a).toMatch(UUID);
    expect(b).toMatch(UUID);
    expect(a).not.toBe(b);
  });

  it('is preserved when the client sends one', async () => {
    const e = await echoOf({ 'x-request-id': 'client-chosen-id-123' });
    expect(e.headers['x-request-id']).toBe('client-chosen-id-123');
    expect(e.rawHeaders.filter((h) => h.toLowerCase() === 'x-request-id')).toHaveLength(1);
  });
});

describe('x-forwarded-*', () => {
  it('x-forwarded-for is set to the client address when absent', async () => {
    const e = await echoOf();
    expect(e.headers['x-forwarded-for']).toBe('127.0.0.1');
  });

  it('x-forwarded-for gets the client address appended', async () => {
    const e = await echoOf({ 'x-forwarded-for': '203.0.113.7' });
    expect(e.headers['x-forwarded-for'].split(',').map((s) => s.trim())).toEqual(['203.0.113.7', '127.0.0.1']);
  });

  it('x-forwarded-proto is the downstream scheme (an untrusted client value is overwritten at the edge)', async () => {
    expect((await echoOf()).headers['x-forwarded-proto']).toBe('http');
    expect((await echoOf({ 'x-forwarded-proto': 'https' })).headers['x-forwarded-proto']).toBe('http');
  });
});

describe('hop-by-hop headers', () => {
  it('Connection-listed headers, keep-alive, proxy-connection and te (non-trailers) are not forwarded', async () => {
    const e = await rawEcho([
      'Connection: close, X-Hop-A, x-hop-b',
      'X-Hop-A: 1',
      'X-Hop-B: 2',
      'Keep-Alive: timeout=5',
      'Proxy-Connection: keep-alive',
      'TE: gzip',
      'X-End-To-End: yes',
    ]);
    expect(e.headers['x-hop-a']).toBeUndefined();
    expect(e.headers['x-hop-b']).toBeUndefined();
    expect(e.headers['keep-alive']).toBeUndefined();
    expect(e.headers['proxy-connection']).toBeUndefined();
    expect(e.headers.te).toBeUndefined();
    expect(e.headers['x-end-to-end']).toBe('yes');
    // the client's Connection header itself is the proxy's business, not the upstream's
    expect(e.headers.connection ?? '').not.toMatch(/x-hop/i);
  });

  it('te: trailers is forwarded', async () => {
    const e = await rawEcho(['Connection: close', 'TE: trailers']);
    expect(e.headers.te).toBe('trailers');
  });
});

describe('edge header hygiene', () => {
  it('x-envoy-* headers from the client are stripped at the gateway', async () => {
    const e = await echoOf({ 'x-envoy-retry-on': '5xx', 'x-envoy-upstream-rq-timeout-ms': '1', 'x-envoy-anything': 'x', 'x-other': 'kept' });
    // only the proxy's own x-envoy-* headers reach the upstream: the trusted client address (Envoy
    // sets it on edge requests) and Istio's include_request_attempt_count
    const envoyHeaders = Object.keys(e.headers).filter((k) => k.startsWith('x-envoy-')).sort();
    expect(envoyHeaders).toEqual(['x-envoy-attempt-count', 'x-envoy-external-address']);
    expect(e.headers['x-envoy-attempt-count']).toBe('1');
    expect(e.headers['x-envoy-external-address']).toBe('127.0.0.1');
    expect(e.headers['x-other']).toBe('kept');
  });

  it('Host is forwarded unchanged', async () => {
    const e = await echoOf({}, 'Keep.Example:8080');
    expect(e.headers.host).toBe('Keep.Example:8080');
  });
});
