import type { CorsPolicy, StringMatch } from '../../../config/snapshot.js';
import { CORS_FILTER } from '../../../config/envoy/http-filters.js';
import { Field } from '../../../config/reader.js';
import { FilterStatus, type FilterCallbacks, type FilterHeadersStatus, type HttpFilter, type HttpFilterFactory, type RequestHeaders, type ResponseHeaders } from '../../../http/filter.js';
import { compileStringMatch } from '../../../router/match.js';

export const CORS_FILTER_NAME = CORS_FILTER;

/** A CorsPolicy compiled once, when the route table loads. */
interface CompiledCors {
  readonly policy: CorsPolicy;
  readonly originAllowed: (origin: string) => boolean;
}

/**
 * envoy.filters.http.cors with the route's (or virtual host's) CorsPolicy (Istio's corsPolicy).
 * A request with an Origin the policy allows is a CORS request: a preflight (OPTIONS with
 * Access-Control-Request-Method) is answered here, 200 with the allowed methods, headers, max age
 * and credentials; any other gets Access-Control-Allow-Origin (the request's origin),
 * -Allow-Credentials and -Expose-Headers on its response. An origin not allowed is left alone (its
 * preflight goes upstream unless forwardNotMatchingPreflights is off: then 200 without CORS headers).
 * No policy for the route: the filter does nothing.
 */
export const corsFilter: HttpFilterFactory<Record<string, never>, CompiledCors> = {
  name: CORS_FILTER_NAME,
  parse(raw) {
    new Field(raw ?? {}, [], { kind: CORS_FILTER_NAME }).object([]);
    return {};
  },
  parsePerRoute(raw) {
    const f = new Field(raw, [], { kind: CORS_FILTER_NAME }).object(['allowOrigins', 'allowMethods', 'allowHeaders', 'exposeHeaders', 'maxAge', 'allowCredentials', 'forwardNotMatchingPreflights']);
    const policy = f.value as CorsPolicy;
    const tests = f.at('allowOrigins').list().map((m) => compileStringMatch(m.value as StringMatch));
    // Envoy: a matcher that matches "*" allows every origin
    const any = tests.some((t) => t('*'));
    return { policy, originAllowed: any ? () => true : (origin) => tests.some((t) => t(origin)) };
  },
  create() {
    return (stream) => new Cors(stream);
  },
  explain(_cfg, stream) {
    const cors = stream.perRouteConfig<CompiledCors>();
    if (!cors) return { notes: ['no CORS policy on this route'] };
    const d = corsDecision(cors, stream.request);
    switch (d.kind) {
      case 'none':
        return { notes: ['no Origin header: not a CORS request'] };
      case 'preflight':
        return { notes: [`preflight from allowed origin ${d.origin}: answered here (${pairs(d.headers)})`], reply: { status: 200, percent: 100 } };
      case 'refused-preflight':
        return { notes: [`preflight from origin ${d.origin}, which the policy does not allow: answered here without CORS headers`], reply: { status: 200, percent: 100 } };
      case 'not-allowed':
        return { notes: [`origin ${d.origin} is not allowed: the request goes on without CORS headers`] };
      case 'actual':
        return { notes: [`allowed origin ${d.origin}: the response gets access-control-allow-origin`] };
    }
  },
};

/** What the policy makes of a request (the running filter and explain both ask this). */
type CorsDecision =
  | { kind: 'none' }
  /** A preflight from an allowed origin: answered with these headers. */
  | { kind: 'preflight'; origin: string; headers: string[] }
  /** A preflight from another origin, with forwardNotMatchingPreflights off: answered without CORS headers. */
  | { kind: 'refused-preflight'; origin: string }
  /** Another origin: the request goes on untouched. */
  | { kind: 'not-allowed'; origin: string }
  /** A request from an allowed origin: its response gets the headers. */
  | { kind: 'actual'; origin: string; policy: CorsPolicy };

/** Most requests carry no Origin: one answer for all of them, nothing made per request. */
const NOT_CORS: CorsDecision = Object.freeze({ kind: 'none' });

function corsDecision(cors: CompiledCors, headers: Pick<RequestHeaders, 'get' | 'method'>): CorsDecision {
  const origin = headers.get('origin');
  if (!origin) return NOT_CORS;
  const preflight = headers.method === 'OPTIONS' && !!headers.get('access-control-request-method');
  if (!cors.originAllowed(origin)) return preflight && !cors.policy.forwardNotMatchingPreflights ? { kind: 'refused-preflight', origin } : { kind: 'not-allowed', origin };
  if (!preflight) return { kind: 'actual', origin, policy: cors.policy };
  const p = cors.policy;
  const out = ['access-control-allow-origin', origin];
  if (p.allowCredentials) out.push('access-control-allow-credentials', 'true');
  if (p.allowMethods) out.push('access-control-allow-methods', p.allowMethods);
  if (p.allowHeaders) out.push('access-control-allow-headers', p.allowHeaders);
  if (p.maxAge) out.push('access-control-max-age', p.maxAge);
  return { kind: 'preflight', origin, headers: out };
}

function pairs(list: readonly string[]): string {
  const out: string[] = [];
  for (let i = 0; i < list.length; i += 2) out.push(`${list[i]}: ${list[i + 1]}`);
  return out.join('; ');
}

class Cors implements HttpFilter {
  /** The allowed origin of a CORS request whose response gets the headers. */
  private origin: string | undefined;
  private policy: CorsPolicy | undefined;

  constructor(private readonly stream: FilterCallbacks) {}

  decodeHeaders(headers: RequestHeaders): FilterHeadersStatus {
    const cors = this.stream.perRouteConfig<CompiledCors>();
    if (!cors) return FilterStatus.Continue;
    const d = corsDecision(cors, headers);
    switch (d.kind) {
      case 'none':
      case 'not-allowed':
        return FilterStatus.Continue;
      case 'actual':
        this.origin = d.origin;
        this.policy = d.policy;
        return FilterStatus.Continue;
      case 'refused-preflight':
        this.stream.sendLocalReply(200, '');
        return FilterStatus.StopIteration;
      case 'preflight':
        this.stream.sendLocalReply(200, '', undefined, d.headers);
        return FilterStatus.StopIteration;
    }
  }

  encodeHeaders(headers: ResponseHeaders): FilterHeadersStatus {
    const p = this.policy;
    if (!p || this.origin === undefined) return FilterStatus.Continue;
    headers.set('access-control-allow-origin', this.origin);
    if (p.allowCredentials) headers.set('access-control-allow-credentials', 'true');
    if (p.exposeHeaders) headers.set('access-control-expose-headers', p.exposeHeaders);
    return FilterStatus.Continue;
  }
}
