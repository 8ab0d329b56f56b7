import { request } from 'node:http';
import type { HttpExtAuthzProviderSpec } from '../../../config/istio/resources.js';
import type { RequestHeaders } from '../../../http/filter.js';
import type { ExtAuthzResult } from '../../../security/ext-authz/result.js';

/** An envoyExtAuthzHttp provider, with the outbound cluster that reaches its service. */
export type HttpExtAuthzProvider = HttpExtAuthzProviderSpec & { cluster: string };

/** Istio's header lists match exact names, `prefix*` and `*suffix` (case-insensitive). */
function headerSelector(patterns: readonly string[]): (name: string) => boolean {
  if (patterns.length === 0) return () => false;
  return (name) =>
    patterns.some((p) => (p.endsWith('*') ? name.startsWith(p.slice(0, -1)) : p.startsWith('*') ? name.endsWith(p.slice(1)) : name === p));
}

/** Headers Envoy's HTTP ext_authz always sends: the request line's parts and its length (of the body sent, if any). */
const ALWAYS_SENT = ['authorization', 'method', 'path', 'content-length'];

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
  const include = headerSelector(provider.includeRequestHeadersInCheck);
  const headers: Record<string, string> = { host: req.authority };
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const n = rawHeaders[i];
    if (ALWAYS_SENT.includes(n) || include(n)) headers[n] = rawHeaders[i + 1];
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
              setHeaders: pick(headerSelector(provider.headersToUpstreamOnAllow)),
              appendHeaders: [],
              removeHeaders: [],
              responseHeaders: pick(headerSelector(provider.headersToDownstreamOnAllow)),
            });
          } else {
            resolve({ kind: 'denied', status: status || 403, body: Buffer.concat(chunks).toString(), headers: pick(headerSelector(provider.headersToDownstreamOnDeny)).flat() });
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
