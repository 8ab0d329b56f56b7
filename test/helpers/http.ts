import { execFile } from 'node:child_process';
import { connect } from 'node:net';
import { Agent, request, type Dispatcher } from 'undici';

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** Parses `text` as JSON (the echo upstream's body). */
  json<T = any>(): T;
}

export interface HttpOptions {
  method?: string;
  path?: string;
  /** Sent as the Host header (the authority the proxy routes on). */
  host?: string;
  headers?: Record<string, string | string[]>;
  body?: string | Buffer | NodeJS.ReadableStream;
  dispatcher?: Dispatcher;
  timeoutMs?: number;
}

/** A dispatcher with no connection reuse surprises across tests: one per test file. */
export function newAgent(opts: Agent.Options = {}): Agent {
  return new Agent({ keepAliveTimeout: 1_000, keepAliveMaxTimeout: 1_000, ...opts });
}

/** One request with undici against http://127.0.0.1:port, with an explicit Host header. */
export async function httpRequest(port: number, opts: HttpOptions = {}): Promise<HttpResult> {
  const headers: Record<string, string | string[]> = { ...(opts.headers ?? {}) };
  if (opts.host !== undefined) headers.host = opts.host;
  const timeout = opts.timeoutMs ?? 10_000;
  const res = await request(`http://127.0.0.1:${port}${opts.path ?? '/'}`, {
    method: (opts.method ?? 'GET') as Dispatcher.HttpMethod,
    headers,
    body: opts.body as any,
    dispatcher: opts.dispatcher,
    headersTimeout: timeout,
    bodyTimeout: timeout,
  });
  const text = await res.body.text();
  return {
    status: res.statusCode,
    headers: res.headers as HttpResult['headers'],
    text,
    json: () => JSON.parse(text),
  };
}

export interface CurlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs curl (bounded by --max-time and a kill timer). */
export function curl(args: string[], timeoutMs = 10_000): Promise<CurlResult> {
  return new Promise((resolve) => {
    execFile(
      'curl',
      ['-sS', '--max-time', String(Math.ceil(timeoutMs / 1000)), '--noproxy', '', ...args],
      { timeout: timeoutMs + 2_000, maxBuffer: 16 * 1024 * 1024, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as any).code === 'number' ? (err as any).code : -1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

export interface RawResult {
  /** Everything received, latin1. */
  data: string;
  /** The server closed (FIN or reset) before the timeout. */
  closed: boolean;
  /** The socket errored (e.g. ECONNRESET). */
  error?: string;
}

/**
 * Writes raw bytes to 127.0.0.1:port and collects the reply until the server closes the
 * connection or `timeoutMs` passes (then the client closes, `closed` false).
 */
export function rawExchange(port: number, bytes: string | Buffer, timeoutMs = 3_000): Promise<RawResult> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let settled = false;
    const sock = connect({ host: '127.0.0.1', port });
    const finish = (closed: boolean, error?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ data: Buffer.concat(chunks).toString('latin1'), closed, ...(error ? { error } : {}) });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    sock.on('connect', () => sock.write(bytes));
    sock.on('data', (d: Buffer) => chunks.push(d));
    sock.on('end', () => finish(true));
    sock.on('close', () => finish(true));
    sock.on('error', (e: NodeJS.ErrnoException) => finish(true, e.code ?? e.message));
  });
}

/** Status code of the first response in a raw HTTP/1.1 reply, or 0. */
export function rawStatus(data: string): number {
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(data);
  return m ? Number(m[1]) : 0;
}

/** One HTTP/2 (h2c) GET on its own connection: the response status, 0 on a stream error, -1 on no answer in time. */
export async function h2Status(port: number, path = '/ok', authority = 'shop.example.com', timeoutMs = 5_000): Promise<number> {
  const { connect: h2connect } = await import('node:http2');
  const s = h2connect(`http://127.0.0.1:${port}`);
  s.on('error', () => {});
  try {
    return await new Promise<number>((resolve) => {
      const r = s.request({ ':path': path, ':authority': authority });
      r.on('response', (h) => resolve(Number(h[':status'])));
      r.on('error', () => resolve(0));
      r.end();
      setTimeout(() => resolve(-1), timeoutMs).unref();
    });
  } finally {
    s.destroy();
  }
}
