import { request } from 'node:http';
import type { HttpExtAuthzProviderSpec } from '../../../config/istio/resources.js';
import type { RequestHeaders } from '../../../http/filter.js';
import type { ExtAuthzResult } from '../../../security/ext-authz/result.js';

/** An envoyExtAuthzHttp provider, with the outbound cluster that reaches its service. */
export type HttpExtAuthzProvider = HttpExtAuthzProviderSpec & { cluster: string };

/** Istio's header lists match exact names, `prefix*` and `*suffix` (case-insensitive). */
function headerSelector(patterns: readonly string[], always: readonly string[] = []): (name: string) => boolean {
  const exact = new Set(always);
  const prefixes: string[] = [];
  const suffixes: string[] = [];
  for (const p of patterns) {
    if (p.endsWith('*')) prefixes.push(p.slice(0, -1));
    else if (p.startsWith('*')) suffixes.push(p.slice(1));
    else exact.add(p);
  }
  if (!prefixes.length && !suffixes.length) return (name) => exact.has(name);
  return (name) => exact.has(name) || prefixes.some((x) => name.startsWith(x)) || suffixes.some((x) => name.endsWith(x));
}

/** Headers Envoy's HTTP ext_authz always sends: the request line's parts and its length (of the body sent, if any). */
const ALWAYS_SENT = ['authorization', 'method', 'path', 'content-length'];

interface HeaderSelectors {
  include(name: string): boolean;
  toUpstreamOnAllow(name: string): boolean;
  toDownstreamOnAllow(name: string): boolean;
  toDownstreamOnDeny(name: string): boolean;
}

/** A provider's header lists, compiled once per provider object (a config's), not per request. */
const compiled = new WeakMap<HttpExtAuthzProvider, HeaderSelectors>();

function selectorsOf(provider: HttpExtAuthzProvider): HeaderSelectors {
  let s = compiled.get(provider);
  if (!s) {
    s = {
      include: headerSelector(provider.includeRequestHeadersInCheck, ALWAYS_SENT),
      toUpstreamOnAllow: headerSelector(provider.headersToUpstreamOnAllow),
      toDownstreamOnAllow: headerSelector(provider.headersToDownstreamOnAllow),
      toDownstreamOnDeny: headerSelector(provider.headersToDownstreamOnDeny),
    };
    compiled.set(provider, s);
  }
  return s;
}

/**
 * Envoy's HTTP ext_authz check: the same method and path (after pathPrefix) with the selected
 * request headers, to an endpoint of the provider's cluster. 2xx allows (headersToUpstreamOnAllow
 * are copied onto the request, headersToDownstreamOnAllow onto the response); another status
 * denies with that status and body (headersToDownstreamOnDeny); a failed call or a timeout is an
 * error.
 */
export function checkHttp(
  provider: HttpExtAuthzProvider,
  host: { address: string; port: number } | undefined,
  req: RequestHeaders,
  rawHeaders: readonly string[],
  /** includeRequestBodyInCheck: the body read ahead (at most maxRequestBytes). */
  body?: Buffer,
): Promise<ExtAuthzResult> {
  const onError = (message: string): ExtAuthzResult => ({ kind: 'error', message });
  if (!host) return Promise.resolve(onError(`no endpoint for ${provider.cluster}`));
  const select = selectorsOf(provider);
  const headers: Record<string, string> = { host: req.authority };
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const n = rawHeaders[i];
    if (select.include(n)) headers[n] = rawHeaders[i + 1];
  }
  for (const [k, v] of provider.includeAdditionalHeadersInCheck) headers[k] = v;
  headers['content-length'] = String(body?.length ?? 0);
  return new Promise((resolve) => {
    const r = request(
      { host: host.address, port: host.port, method: req.method, path: provider.pathPrefix + req.path, headers, timeout: provider.timeoutMs },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          const pick = (names: (n: string) => boolean): [string, string][] =>
            Object.entries(res.headers).flatMap(([k, v]) => (names(k) && v !== undefined ? (Array.isArray(v) ? v : [v]).map((x) => [k, x] as [string, string]) : []));
          if (status >= 200 && status < 300) {
            resolve({
              kind: 'ok',
              setHeaders: pick(select.toUpstreamOnAllow),
              appendHeaders: [],
              removeHeaders: [],
              responseHeaders: pick(select.toDownstreamOnAllow),
            });
          } else {
            resolve({ kind: 'denied', status: status || 403, body: Buffer.concat(chunks).toString(), headers: pick(select.toDownstreamOnDeny).flat() });
          }
        });
        res.on('error', (e) => resolve(onError(e.message)));
      },
    );
    r.on('timeout', () => r.destroy(new Error('timeout')));
    r.on('error', (e) => resolve(onError(e.message)));
    r.end(body);
  });
}
