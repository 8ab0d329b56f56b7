// Helpers for the lifecycle / reload / respawn integration tests: slow upstreams, bounded polling,
// atomic config writes, connect probes, one-shot requests on their own connection, and a load loop.
import { rename, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { connect } from 'node:net';
import { Pool } from 'undici';
import { startUpstream, type Upstream } from './upstream.js';

/**
 * An upstream that answers 200 with body = its name and header `x-upstream: <name>`; `?delay=<ms>`
 * holds the answer that long (bounded by 10 s). Pending timers are cleared when it closes.
 */
export async function namedSlowUpstream(name: string): Promise<Upstream> {
  const timers = new Set<NodeJS.Timeout>();
  const up = await startUpstream((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const delay = Math.min(Number(url.searchParams.get('delay') ?? 0) || 0, 10_000);
    req.resume();
    const answer = () => {
      if (res.destroyed) return;
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(name), 'x-upstream': name });
      res.end(name);
    };
    if (delay <= 0) return answer();
    const t = setTimeout(() => {
      timers.delete(t);
      answer();
    }, delay);
    timers.add(t);
  }, name);
  const close = up.close;
  return {
    ...up,
    close: async () => {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      await close();
    },
  };
}

/** Polls `cond` every `intervalMs` until it returns a truthy value or `timeoutMs` passes (bounded count). */
export async function waitFor<T>(cond: () => T | Promise<T>, timeoutMs: number, intervalMs = 20): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  const maxIterations = Math.ceil(timeoutMs / Math.max(1, intervalMs)) + 2;
  for (let i = 0; i < maxIterations; i++) {
    const v = await cond();
    if (v) return v;
    if (Date.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  return undefined;
}

/** Writes `text` to `file` the way kubelet and editors do: a temp file (dot-named) renamed over it. */
export async function atomicWrite(file: string, text: string): Promise<void> {
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.${Date.now()}.tmp`);
  await writeFile(tmp, text);
  await rename(tmp, file);
}

export type ConnectOutcome = 'connected' | 'refused' | 'timeout' | string;

/** Opens a TCP connection to 127.0.0.1:port and closes it at once; says whether it was accepted. */
export function connectOutcome(port: number, timeoutMs = 1_000): Promise<ConnectOutcome> {
  return new Promise((resolve) => {
    const sock = connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => done('timeout'), timeoutMs);
    function done(r: ConnectOutcome) {
      clearTimeout(timer);
      sock.destroy();
      resolve(r);
    }
    sock.once('connect', () => done('connected'));
    sock.once('error', (e: NodeJS.ErrnoException) => done(e.code === 'ECONNREFUSED' ? 'refused' : (e.code ?? e.message)));
  });
}

/** GET on http://127.0.0.1:port/path; status or 0 on any error (bounded). */
export async function statusOf(port: number, path: string, timeoutMs = 2_000): Promise<number> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

/** GET/POST returning status and body text (throws on network errors). */
export async function fetchText(port: number, path: string, method = 'GET', timeoutMs = 3_000): Promise<{ status: number; text: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { method, signal: AbortSignal.timeout(timeoutMs) });
  return { status: res.status, text: await res.text() };
}

/** Value of an unlabelled Prometheus sample `name` in an exposition text, or undefined. */
export function promValue(text: string, name: string): number | undefined {
  const m = new RegExp(`^${name}(?:\\{\\})? (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

export interface OneShot {
  status: number;
  /** Response headers, names lower-cased (last value wins). */
  headers: Record<string, string>;
  body: string;
  /** Date.now() when the response head arrived / the body was complete. */
  headersAt: number;
  endedAt: number;
  /** Resolves with Date.now() when the server closed the connection (FIN or reset). */
  closed: Promise<number>;
  /** Closes the client side. */
  destroy(): void;
}

/**
 * One HTTP/1.1 request on its own raw TCP connection, keep-alive (no `connection` header, as
 * HTTP/1.1 clients send it), resolving once the whole response (content-length framed) arrived;
 * rejects on a reset, a close before the response is complete, or the timeout. The connection
 * stays open: `closed` says when the server closes it.
 */
export function oneShot(port: number, path: string, host: string, timeoutMs = 10_000): Promise<OneShot> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: '127.0.0.1', port });
    let data = '';
    let headersAt = 0;
    let settled = false;
    let closedAt: number | undefined;
    let onClosed: (t: number) => void = () => {};
    const closed = new Promise<number>((r) => (onClosed = r));
    const markClosed = () => {
      if (closedAt !== undefined) return;
      closedAt = Date.now();
      onClosed(closedAt);
      fail(new Error(`connection closed before the response was complete: ${JSON.stringify(data.slice(0, 200))}`));
    };
    const fail = (e: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      reject(e);
    };
    const timer = setTimeout(() => fail(new Error('client timeout')), timeoutMs);
    sock.setEncoding('latin1');
    sock.on('connect', () => sock.write(`GET ${path} HTTP/1.1\r\nhost: ${host}\r\n\r\n`));
    sock.on('data', (d: string) => {
      if (settled) return;
      data += d;
      const end = data.indexOf('\r\n\r\n');
      if (end < 0) return;
      headersAt ||= Date.now();
      const lines = data.slice(0, end).split('\r\n');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0])?.[1] ?? 0);
      const headers: Record<string, string> = {};
      for (const l of lines.slice(1)) {
        const i = l.indexOf(':');
        if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      const len = Number(headers['content-length'] ?? NaN);
      if (!Number.isFinite(len)) return fail(new Error(`response without content-length: ${JSON.stringify(data.slice(0, end))}`));
      if (data.length < end + 4 + len) return;
      settled = true;
      clearTimeout(timer);
      resolve({ status, headers, body: data.slice(end + 4, end + 4 + len), headersAt, endedAt: Date.now(), closed, destroy: () => sock.destroy() });
    });
    sock.on('end', markClosed);
    sock.on('close', markClosed);
    sock.on('error', (e) => fail(e));
  });
}

export interface IdleConnection {
  /** The first response. */
  response: OneShot;
  /** Resolves with Date.now() when the server closed the connection (FIN or reset). */
  closed: Promise<number>;
  destroy(): void;
}

/**
 * A keep-alive connection that made one request (`GET path`) and then sits idle. `closed`
 * resolves when the server closes it.
 */
export async function idleKeepAlive(port: number, path: string, host: string, timeoutMs = 3_000): Promise<IdleConnection> {
  const response = await oneShot(port, path, host, timeoutMs);
  return { response, closed: response.closed, destroy: response.destroy };
}

export interface LoadRecord {
  start: number;
  end: number;
  status: number;
  upstream: string;
  error?: string;
}

export interface LoadLoop {
  readonly records: LoadRecord[];
  /** Stops issuing requests and waits for the in-flight ones; closes the pool. */
  stop(): Promise<LoadRecord[]>;
}

/**
 * `concurrency` loops sending GET `path` over one keep-alive undici Pool until stopped, or until
 * `maxMs` passes, or `maxRequests` were sent (all bounded). No retries: every failure is recorded.
 */
export function startLoad(opts: { port: number; path: string; host: string; concurrency: number; maxMs: number; maxRequests?: number; timeoutMs?: number }): LoadLoop {
  const pool = new Pool(`http://127.0.0.1:${opts.port}`, { connections: opts.concurrency, pipelining: 1, keepAliveTimeout: 30_000 });
  const records: LoadRecord[] = [];
  const deadline = Date.now() + opts.maxMs;
  const maxRequests = opts.maxRequests ?? 50_000;
  let sent = 0;
  let stopped = false;
  const timeout = opts.timeoutMs ?? 5_000;
  const loop = async () => {
    while (!stopped && Date.now() < deadline && sent < maxRequests) {
      sent++;
      const start = Date.now();
      try {
        const res = await pool.request({ method: 'GET', path: opts.path, headers: { host: opts.host }, headersTimeout: timeout, bodyTimeout: timeout });
        await res.body.text();
        const up = res.headers['x-upstream'];
        records.push({ start, end: Date.now(), status: res.statusCode, upstream: typeof up === 'string' ? up : '' });
      } catch (e) {
        const err = e as Error & { code?: string };
        records.push({ start, end: Date.now(), status: 0, upstream: '', error: `${err.code ?? err.name}: ${err.message}` });
        await new Promise((r) => setTimeout(r, 5)); // no hot loop on a refused port
      }
    }
  };
  const loops = Array.from({ length: opts.concurrency }, () => loop());
  return {
    records,
    stop: async () => {
      stopped = true;
      await Promise.all(loops);
      await pool.close().catch(() => {});
      return records;
    },
  };
}

/** One request over a given undici Pool (for probes alongside a load loop): upstream name or ''. */
export async function whoAnswers(pool: Pool, path: string, host: string): Promise<{ status: number; upstream: string }> {
  try {
    const res = await pool.request({ method: 'GET', path, headers: { host }, headersTimeout: 2_000, bodyTimeout: 2_000 });
    await res.body.text();
    const up = res.headers['x-upstream'];
    return { status: res.statusCode, upstream: typeof up === 'string' ? up : '' };
  } catch {
    return { status: 0, upstream: '' };
  }
}
