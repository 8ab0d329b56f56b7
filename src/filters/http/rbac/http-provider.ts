import { nodeHttp } from '../../../common/node-builtins.js';
import type { RequestHeaders } from '../../../http/filter.js';
import type { ExtAuthzResult } from '../../../security/ext-authz/result.js';
import type { ExtAuthzService, HttpServiceSelectors } from '../../../security/ext-authz/service.js';

/**
 * Envoy's HTTP ext_authz check: the same method and path (after pathPrefix) with the selected
 * request headers, to an endpoint of the provider's cluster. 2xx allows (headersToUpstreamOnAllow
 * are copied onto the request, headersToDownstreamOnAllow onto the response); another status
 * denies with that status and body (headersToDownstreamOnDeny); a failed call or a timeout is an
 * error.
 */
export function checkHttp(
  service: ExtAuthzService & { http: HttpServiceSelectors },
  host: { address: string; port: number } | undefined,
  req: RequestHeaders,
  rawHeaders: readonly string[],
  /** includeRequestBodyInCheck: the body read ahead (at most maxRequestBytes). */
  body?: Buffer,
): Promise<ExtAuthzResult> {
  const onError = (message: string): ExtAuthzResult => ({ kind: 'error', message });
  if (!host) return Promise.resolve(onError(`no endpoint for ${service.cluster}`));
  const select = service.http;
  const headers: Record<string, string> = { host: req.authority };
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const n = rawHeaders[i];
    if (select.include(n)) headers[n] = rawHeaders[i + 1];
  }
  for (const [k, v] of select.headersToAdd) headers[k] = v;
  headers['content-length'] = String(body?.length ?? 0);
  return new Promise((resolve) => {
    const r = nodeHttp.request(
      { host: host.address, port: host.port, method: req.method, path: select.pathPrefix + req.path, headers, timeout: service.timeoutMs },
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
