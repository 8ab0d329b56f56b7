/**
 * The sidecar's status port (pilot-agent's, 15020): `/healthz/ready`, `POST /quitquitquit` (a
 * Job's last step: the proxy drains and exits), and the app's own probes and lifecycle hooks that
 * injection sent here (`/app-health/<container>/livez|readyz|startupz`,
 * `/app-lifecycle/<container>/poststartz|prestopz`), run against the app as the kubelet would
 * have: HTTP(S) GET, a TCP connect, or gRPC health checking. Their handlers come from
 * ISTIO_KUBE_APP_PROBERS.
 */
import type { Server, ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { nodeHttp } from '../common/node-builtins.js';
import { readVarint, varint } from '../common/protobuf-varint.js';

/** An app probe as the injector recorded it (a Kubernetes probe handler). */
export interface AppProber {
  httpGet?: { path?: string; port: number; host?: string; scheme?: string; httpHeaders?: { name: string; value: string }[] };
  tcpSocket?: { port: number; host?: string };
  grpc?: { port: number; service?: string };
  timeoutSeconds?: number;
}

export interface StatusBackend {
  isReady(): boolean;
  quit(): void;
  /** The app probers by path (ISTIO_KUBE_APP_PROBERS). */
  readonly probers: Readonly<Record<string, AppProber>>;
  /** Where the app listens: the pod's IP (INSTANCE_IP), else loopback. */
  readonly appHost: string;
}

/** ISTIO_KUBE_APP_PROBERS parsed; a value that is not a JSON object is an error naming it. */
export function parseAppProbers(text: string | undefined): Record<string, AppProber> {
  if (!text?.trim()) return {};
  const v = JSON.parse(text) as unknown;
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('ISTIO_KUBE_APP_PROBERS must be a JSON object of probe handlers by path');
  return v as Record<string, AppProber>;
}

export function createStatusServer(b: StatusBackend): Server {
  return nodeHttp.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    req.resume();
    if (path === '/healthz/ready') return reply(res, b.isReady() ? 200 : 503, b.isReady() ? '' : 'not ready\n');
    if (path === '/quitquitquit') {
      if (req.method !== 'POST') return reply(res, 405, 'POST /quitquitquit\n');
      reply(res, 200, 'OK\n');
      b.quit();
      return;
    }
    const prober = b.probers[path];
    if (!prober) return reply(res, 404, 'not found\n');
    void runProber(prober, b.appHost).then(
      (status) => reply(res, status, ''),
      (err: Error) => reply(res, 503, `${err.message}\n`),
    );
  });
}

function reply(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/plain' });
  res.end(body);
}

/** Runs one probe against the app: the status it answers with (HTTP), 200 for a TCP connect. */
function runProber(p: AppProber, appHost: string): Promise<number> {
  const timeoutMs = (p.timeoutSeconds ?? 1) * 1000;
  if (p.httpGet) return httpProbe(p.httpGet, appHost, timeoutMs);
  if (p.tcpSocket) return tcpProbe(p.tcpSocket.host ?? appHost, p.tcpSocket.port, timeoutMs);
  if (p.grpc) return grpcProbe(appHost, p.grpc.port, p.grpc.service ?? '', timeoutMs);
  return Promise.reject(new Error('a probe needs httpGet, tcpSocket or grpc'));
}

/**
 * The kubelet's gRPC probe: grpc.health.v1.Health/Check for the service ('' for the server),
 * SERVING → 200, anything else → 503. The two one-field messages are written by hand; grpc-js
 * loads on the first such probe.
 */
async function grpcProbe(host: string, port: number, service: string, timeoutMs: number): Promise<number> {
  const grpc = await import('@grpc/grpc-js');
  const client = new grpc.Client(`${host.includes(':') ? `[${host}]` : host}:${port}`, grpc.credentials.createInsecure());
  try {
    const status = await new Promise<number>((resolve, reject) => {
      client.makeUnaryRequest(
        '/grpc.health.v1.Health/Check',
        (s: string) => encodeHealthCheckRequest(s),
        (b: Buffer) => decodeHealthStatus(b),
        service,
        { deadline: Date.now() + timeoutMs },
        (err, value) => (err ? reject(new Error(`gRPC health check: ${err.message}`)) : resolve(value ?? 0)),
      );
    });
    return status === SERVING ? 200 : 503;
  } finally {
    client.close();
  }
}

/** grpc.health.v1.HealthCheckResponse.ServingStatus SERVING. */
const SERVING = 1;

/** HealthCheckRequest { string service = 1 }, the field written even when empty (the server's own health). */
export function encodeHealthCheckRequest(service: string): Buffer {
  const bytes = Buffer.from(service, 'utf8');
  return Buffer.concat([Buffer.from([0x0a]), varint(bytes.length), bytes]);
}

/** HealthCheckResponse { ServingStatus status = 1 }: its status (0, UNKNOWN, when absent). */
export function decodeHealthStatus(b: Buffer): number {
  let i = 0;
  while (i < b.length) {
    const [key, afterKey] = readVarint(b, i);
    const wire = key & 7;
    if (key >> 3 === 1 && wire === 0) return readVarint(b, afterKey)[0];
    if (wire === 0) i = readVarint(b, afterKey)[1];
    else if (wire === 2) {
      const [len, afterLen] = readVarint(b, afterKey);
      i = afterLen + len;
    } else if (wire === 1) i = afterKey + 8;
    else if (wire === 5) i = afterKey + 4;
    else break;
  }
  return 0;
}

function httpProbe(h: NonNullable<AppProber['httpGet']>, appHost: string, timeoutMs: number): Promise<number> {
  const https = (h.scheme ?? 'HTTP').toUpperCase() === 'HTTPS';
  const headers: Record<string, string> = { 'user-agent': 'kube-probe/outrigger' };
  for (const x of h.httpHeaders ?? []) headers[x.name] = x.value;
  const host = h.host ?? appHost;
  return new Promise((resolve, reject) => {
    const send = (https ? (process.getBuiltinModule('node:https') as typeof import('node:https')) : nodeHttp).request;
    const req = send({ host, port: h.port, path: h.path ?? '/', method: 'GET', headers, timeout: timeoutMs, ...(https ? { rejectUnauthorized: false } : {}) }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 503));
    });
    req.on('timeout', () => req.destroy(new Error(`the app did not answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

function tcpProbe(host: string, port: number, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port, timeout: timeoutMs }, () => {
      s.destroy();
      resolve(200);
    });
    s.on('timeout', () => s.destroy(new Error(`no connection to ${host}:${port} within ${timeoutMs} ms`)));
    s.on('error', reject);
  });
}
