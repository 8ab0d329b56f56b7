import { request as nodeRequest, type IncomingHttpHeaders } from 'node:http';

/**
 * Helpers for the telemetry and admin tests: a small Prometheus text-format parser, plain GET/POST
 * against the admin/stats ports, and one-request-per-connection traffic.
 */

export interface Sample {
  /** Sample name as written, e.g. `istio_request_duration_milliseconds_bucket`. */
  name: string;
  labels: Record<string, string>;
  value: number;
}

export class Exposition {
  constructor(
    readonly samples: Sample[],
    /** `# TYPE` per metric family name. */
    readonly types: Map<string, string>,
    readonly text: string,
  ) {}

  /** Samples named `name` whose labels include every `match` pair. */
  select(name: string, match: Record<string, string> = {}): Sample[] {
    return this.samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v));
  }

  /** The value of the one sample matching; throws (with what was there) if there is not exactly one. */
  one(name: string, match: Record<string, string> = {}): number {
    const found = this.select(name, match);
    if (found.length !== 1) {
      const near = this.samples.filter((s) => s.name === name).map((s) => `${JSON.stringify(s.labels)} ${s.value}`);
      throw new Error(`expected exactly one ${name} matching ${JSON.stringify(match)}, found ${found.length}; ${name} series:\n${near.join('\n') || '(none)'}`);
    }
    return found[0].value;
  }

  /** Sum over matching samples (0 if none). */
  sum(name: string, match: Record<string, string> = {}): number {
    return this.select(name, match).reduce((n, s) => n + s.value, 0);
  }

  /** Distinct sample names. */
  names(): Set<string> {
    return new Set(this.samples.map((s) => s.name));
  }

  /**
   * The buckets of one histogram series (labels = the series' labels without `le`), in `le` order,
   * with `+Inf` last.
   */
  buckets(family: string, match: Record<string, string>): { le: string; value: number }[] {
    const out = this.select(`${family}_bucket`, match).map((s) => ({ le: s.labels.le, value: s.value }));
    const key = (le: string) => (le === '+Inf' ? Infinity : Number(le));
    return out.sort((a, b) => key(a.le) - key(b.le));
  }
}

function parseValue(text: string, line: string): number {
  if (text === '+Inf' || text === 'Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  const n = Number(text);
  if (text === '' || Number.isNaN(n)) throw new Error(`bad sample value "${text}" in line: ${line}`);
  return n;
}

/**
 * Parses the Prometheus text exposition format (0.0.4). Strict: a line that is neither a comment,
 * blank, nor a well-formed sample throws, so a broken exposition fails the test.
 */
export function parsePrometheus(text: string): Exposition {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      const m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
      if (m) types.set(m[1], m[2]);
      else if (line.startsWith('# TYPE')) throw new Error(`bad TYPE line: ${line}`);
      continue; // HELP and other comments
    }
    const nm = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
    if (!nm) throw new Error(`bad sample line: ${line}`);
    const name = nm[0];
    let i = name.length;
    const labels: Record<string, string> = {};
    if (line[i] === '{') {
      i++;
      for (let guard = 0; guard < 1_000; guard++) {
        while (line[i] === ' ') i++;
        if (line[i] === '}') {
          i++;
          break;
        }
        const ln = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(line.slice(i));
        if (!ln) throw new Error(`bad label name at ${i} in line: ${line}`);
        i += ln[0].length;
        if (line[i] !== '=' || line[i + 1] !== '"') throw new Error(`expected =" at ${i} in line: ${line}`);
        i += 2;
        let value = '';
        for (;;) {
          if (i >= line.length) throw new Error(`unterminated label value in line: ${line}`);
          const c = line[i++];
          if (c === '"') break;
          if (c === '\\') {
            const e = line[i++];
            value += e === 'n' ? '\n' : e === '\\' ? '\\' : e === '"' ? '"' : `\\${e}`;
          } else value += c;
        }
        if (ln[0] in labels) throw new Error(`duplicate label ${ln[0]} in line: ${line}`);
        labels[ln[0]] = value;
        if (line[i] === ',') i++;
        else if (line[i] !== '}') throw new Error(`expected , or } at ${i} in line: ${line}`);
      }
    }
    if (line[i] !== ' ') throw new Error(`expected a space before the value in line: ${line}`);
    const rest = line.slice(i + 1).trim().split(/\s+/);
    if (rest.length > 2) throw new Error(`trailing garbage in line: ${line}`);
    samples.push({ name, labels, value: parseValue(rest[0], line) });
  }
  return new Exposition(samples, types, text);
}

export interface TextResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

/** One request to 127.0.0.1:port (its own connection, closed after). */
export function plainRequest(
  port: number,
  path: string,
  opts: { method?: string; host?: string; headers?: Record<string, string>; body?: string; address?: string; timeoutMs?: number } = {},
): Promise<TextResponse> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { connection: 'close', ...(opts.host ? { host: opts.host } : {}), ...opts.headers };
    if (opts.body !== undefined) headers['content-length'] = String(Buffer.byteLength(opts.body));
    const req = nodeRequest({ host: opts.address ?? '127.0.0.1', port, path, method: opts.method ?? 'GET', headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      res.on('error', reject);
    });
    req.setTimeout(opts.timeoutMs ?? 10_000, () => req.destroy(new Error(`timeout: ${opts.method ?? 'GET'} ${path}`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** GETs a Prometheus endpoint and parses it. */
export async function scrape(port: number, path = '/stats/prometheus'): Promise<Exposition> {
  const res = await plainRequest(port, path);
  if (res.status !== 200) throw new Error(`scrape ${path}: ${res.status} ${res.text}`);
  return parsePrometheus(res.text);
}

/** Polls `fn` (bounded) until it returns a truthy value; returns the last value either way. */
export async function eventually<T>(fn: () => T | Promise<T>, timeoutMs = 3_000, stepMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let v = await fn();
  for (let i = 0; i < 1_000 && !v && Date.now() < deadline; i++) {
    await new Promise((r) => setTimeout(r, stepMs));
    v = await fn();
  }
  return v;
}

/** Every JSON access-log line (--access-log json) a proxy has written so far. */
export function accessLogEntries(proxy: { stdout(): string }): Record<string, unknown>[] {
  return proxy
    .stdout()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** The JSON access-log line a proxy wrote for a request id, once it appears. */
export async function accessLogEntry(proxy: { stdout(): string }, rid: string): Promise<Record<string, unknown> | undefined> {
  return eventually(() => accessLogEntries(proxy).find((j) => j.request_id === rid), 3_000, 25);
}
