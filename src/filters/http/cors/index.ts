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
};

class Cors implements HttpFilter {
  /** The allowed origin of a CORS request whose response gets the headers. */
  private origin: string | undefined;
  private policy: CorsPolicy | undefined;

  constructor(private readonly stream: FilterCallbacks) {}

  decodeHeaders(headers: RequestHeaders): FilterHeadersStatus {
    const cors = this.stream.perRouteConfig<CompiledCors>();
    const origin = headers.get('origin');
    if (!cors || !origin) return FilterStatus.Continue;
    const preflight = headers.method === 'OPTIONS' && !!headers.get('access-control-request-method');
    if (!cors.originAllowed(origin)) {
      if (preflight && !cors.policy.forwardNotMatchingPreflights) {
        this.stream.sendLocalReply(200, '');
        return FilterStatus.StopIteration;
      }
      return FilterStatus.Continue;
    }
    if (!preflight) {
      this.origin = origin;
      this.policy = cors.policy;
      return FilterStatus.Continue;
    }
    const p = cors.policy;
    const out = ['access-control-allow-origin', origin];
    if (p.allowCredentials) out.push('access-control-allow-credentials', 'true');
    if (p.allowMethods) out.push('access-control-allow-methods', p.allowMethods);
    if (p.allowHeaders) out.push('access-control-allow-headers', p.allowHeaders);
    if (p.maxAge) out.push('access-control-max-age', p.maxAge);
    this.stream.sendLocalReply(200, '', undefined, out);
    return FilterStatus.StopIteration;
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
