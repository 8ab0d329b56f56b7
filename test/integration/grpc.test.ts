// gRPC through the proxy with @grpc/grpc-js on both ends: the client speaks h2c to a gateway, the
// proxy speaks HTTP/2 to the gRPC server (service port protocol GRPC). Unary and server-streaming
// calls, errors in trailers and trailers-only responses, grpc_response_status, fault abort with
// grpcStatus, route timeout → DEADLINE_EXCEEDED.
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { svcHost } from '../helpers/fixtures.js';
import { gateway, GATEWAY_ARGS, serviceEntry, toYaml, virtualService } from '../helpers/mesh.js';
import { freePort } from '../helpers/ports.js';
import { startProxy, stopAllProxies, type RunningProxy } from '../helpers/proxy.js';
import { scrape } from '../helpers/telemetry.js';

/** A service defined without .proto files: messages are raw bytes (the proxy never looks inside). */
const raw = { serialize: (b: Buffer) => b, deserialize: (b: Buffer) => b };
const SERVICE: grpc.ServiceDefinition = {
  Echo: { path: '/demo.Demo/Echo', requestStream: false, responseStream: false, requestSerialize: raw.serialize, requestDeserialize: raw.deserialize, responseSerialize: raw.serialize, responseDeserialize: raw.deserialize },
  Count: { path: '/demo.Demo/Count', requestStream: false, responseStream: true, requestSerialize: raw.serialize, requestDeserialize: raw.deserialize, responseSerialize: raw.serialize, responseDeserialize: raw.deserialize },
  Flaky: { path: '/demo.Demo/Flaky', requestStream: false, responseStream: false, requestSerialize: raw.serialize, requestDeserialize: raw.deserialize, responseSerialize: raw.serialize, responseDeserialize: raw.deserialize },
  Slow: { path: '/demo.Demo/Slow', requestStream: false, responseStream: false, requestSerialize: raw.serialize, requestDeserialize: raw.deserialize, responseSerialize: raw.serialize, responseDeserialize: raw.deserialize },
};
const Client = grpc.makeGenericClientConstructor(SERVICE, 'Demo');
type DemoClient = InstanceType<typeof Client> & Record<string, (...args: unknown[]) => unknown>;

let server: grpc.Server;
const flakyCalls = new Map<string, number>();
let proxy: RunningProxy;
let client: DemoClient;

beforeAll(async () => {
  server = new grpc.Server();
  server.addService(SERVICE, {
    Echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      const text = call.request.toString();
      if (text === 'missing') return cb({ code: grpc.status.NOT_FOUND, details: 'no such thing' });
      const md = new grpc.Metadata();
      md.set('x-echo-trailer', 'yes');
      cb(null, Buffer.from(`echo:${text}:${call.metadata.get('x-user')[0] ?? ''}`), md);
    },
    Count: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      const n = Number(call.request.toString());
      for (let i = 0; i < n; i++) call.write(Buffer.from(String(i)));
      call.end();
    },
    // UNAVAILABLE on the first call of each key, OK after: retryOn unavailable hides it
    Flaky: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      const key = call.request.toString();
      flakyCalls.set(key, (flakyCalls.get(key) ?? 0) + 1);
      if (flakyCalls.get(key) === 1) return cb({ code: grpc.status.UNAVAILABLE, details: 'try again' });
      cb(null, Buffer.from(`ok after ${flakyCalls.get(key)}`));
    },
    Slow: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => setTimeout(() => cb(null, Buffer.from('late')), 1_500),
  });
  const grpcPort = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
  );
  const port = await freePort();
  const yaml = toYaml(
    serviceEntry({ name: 'demo', host: svcHost('demo'), ports: [{ number: 9090, name: 'grpc', protocol: 'GRPC' }], endpoints: [{ port: grpcPort, portName: 'grpc' }] }),
    gateway({ port }),
    virtualService('demo', {
      hosts: ['*'],
      gateways: ['gw'],
      http: [
        { match: [{ uri: { exact: '/demo.Demo/Flaky' } }], retries: { attempts: 2, retryOn: 'unavailable' }, route: [{ destination: { host: svcHost('demo'), port: { number: 9090 } } }] },
        { match: [{ uri: { exact: '/demo.Demo/Slow' } }], timeout: '300ms', route: [{ destination: { host: svcHost('demo'), port: { number: 9090 } } }] },
        { match: [{ headers: { 'x-fault': { exact: 'abort' } } }], fault: { abort: { grpcStatus: 'UNAVAILABLE', percentage: { value: 100 } } }, route: [{ destination: { host: svcHost('demo'), port: { number: 9090 } } }] },
        { route: [{ destination: { host: svcHost('demo'), port: { number: 9090 } } }] },
      ],
    }),
  );
  proxy = await startProxy({ yaml, args: GATEWAY_ARGS });
  client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as DemoClient;
});

afterAll(async () => {
  client?.close();
  await stopAllProxies();
  await new Promise<void>((r) => server.tryShutdown(() => r()));
});

function unary(method: string, body: string, md = new grpc.Metadata()): Promise<{ err: grpc.ServiceError | null; value?: Buffer; trailers?: grpc.Metadata }> {
  return new Promise((resolve) => {
    let trailers: grpc.Metadata | undefined;
    const call = client[method](Buffer.from(body), md, { deadline: Date.now() + 5_000 }, (err: grpc.ServiceError | null, value?: Buffer) => setImmediate(() => resolve({ err, value, trailers })));
    (call as grpc.ClientUnaryCall).on('status', (s: grpc.StatusObject) => (trailers = s.metadata));
  });
}

describe('gRPC through the proxy', () => {
  it('unary: request metadata goes up, the response and its trailers come back', async () => {
    const md = new grpc.Metadata();
    md.set('x-user', 'ada');
    const r = await unary('Echo', 'hi', md);
    expect(r.err).toBeNull();
    expect(r.value?.toString()).toBe('echo:hi:ada');
    expect(r.trailers?.get('x-echo-trailer')).toEqual(['yes']);
  });

  it('server streaming: every message arrives in order', async () => {
    const got: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const call = client.Count(Buffer.from('500'), new grpc.Metadata(), { deadline: Date.now() + 10_000 }) as grpc.ClientReadableStream<Buffer>;
      call.on('data', (b: Buffer) => got.push(b.toString()));
      call.on('end', () => resolve());
      call.on('error', reject);
    });
    expect(got).toHaveLength(500);
    expect(got.every((v, i) => v === String(i))).toBe(true);
  });

  it('an error status reaches the client (trailers-only response) and the grpc_response_status label', async () => {
    const r = await unary('Echo', 'missing');
    expect(r.err?.code).toBe(grpc.status.NOT_FOUND);
    expect(r.err?.details).toBe('no such thing');
    const s = await scrape(proxy.ports.stats);
    expect(s.sum('istio_requests_total', { grpc_response_status: '5', response_code: '200' })).toBeGreaterThanOrEqual(1);
    expect(s.sum('istio_requests_total', { grpc_response_status: '0', response_code: '200' })).toBeGreaterThanOrEqual(1);
  });

  it('a fault abort with grpcStatus: HTTP 200 carrying grpc-status UNAVAILABLE', async () => {
    const md = new grpc.Metadata();
    md.set('x-fault', 'abort');
    const r = await unary('Echo', 'x', md);
    expect(r.err?.code).toBe(grpc.status.UNAVAILABLE);
  });

  it('retryOn unavailable: a gRPC UNAVAILABLE (trailers-only) is retried and the client sees the success', async () => {
    const r = await unary('Flaky', 'k1');
    expect(r.err).toBeNull();
    expect(r.value?.toString()).toBe('ok after 2');
    expect(flakyCalls.get('k1')).toBe(2);
  });

  it('the route timeout answers a gRPC client with DEADLINE_EXCEEDED', async () => {
    const r = await unary('Slow', 'x');
    expect(r.err?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
  });
});
