import { Field } from '../../../config/reader.js';
import { JWT_AUTHN_FILTER, type JwtAuthentication } from '../../../config/envoy/jwt-authn.js';
import { FilterStatus, type FilterCallbacks, type FilterHeadersStatus, type HttpFilter, type HttpFilterFactory, type RequestHeaders } from '../../../http/filter.js';
import { JwksCache, JwtAuthenticator, removeQueryParam, wwwAuthenticate } from '../../../security/jwt/index.js';
import { JWT_METADATA_KEY, type VerifiedJwt } from '../rbac/index.js';

export const JWT_AUTHN_FILTER_NAME = JWT_AUTHN_FILTER;

/** Remote key sets, shared by every Runtime of this worker: a reload does not refetch them. */
const jwksCache = new JwksCache();

/**
 * envoy.filters.http.jwt_authn (config: JwtAuthentication, compiled once per config): tokens from
 * the providers' locations are verified (jose; keys inline or fetched, fail closed); an invalid one
 * → 401 (403 for a wrong audience) with Envoy's body and WWW-Authenticate; no token where that is
 * allowed → the request goes on without a principal; a valid one → its principal (iss/sub) and
 * claims in the metadata (providers with payloadInMetadata) for the RBAC filter, and the
 * providers' header operations (payload and claim headers, the token removed unless `forward`:
 * its header, or its query parameter from the path the router and the upstream see).
 */
export const jwtAuthnFilter: HttpFilterFactory<{ authenticator: JwtAuthenticator }> = {
  name: JWT_AUTHN_FILTER_NAME,
  parse(raw) {
    const f = new Field(raw, [], { kind: JWT_AUTHN_FILTER_NAME }).object(['providers', 'rules', 'requirementMap', 'bypassCorsPreflight']);
    f.at('providers').object();
    try {
      return { authenticator: new JwtAuthenticator(f.value as JwtAuthentication, { jwksCache }) };
    } catch (e) {
      return f.fail((e as Error).message);
    }
  },
  create(cfg) {
    return (stream) => new JwtAuthn(cfg.authenticator, stream);
  },
};

class JwtAuthn implements HttpFilter {
  private destroyed = false;

  constructor(
    private readonly authenticator: JwtAuthenticator,
    private readonly stream: FilterCallbacks,
  ) {}

  /** Verification may wait for a key set (a JWKS fetch): the request stops until it decides. */
  decodeHeaders(req: RequestHeaders): FilterHeadersStatus {
    // headers are read by name only: a view over the request's, nothing copied
    const headers = new Proxy({} as Record<string, string | undefined>, { get: (_t, name) => (typeof name === 'string' ? req.get(name) : undefined) });
    this.authenticator.authenticate({ headers, path: req.path, method: req.method }).then(
      (r) => {
        if (this.destroyed) return;
        if (this.decide(r, req) === FilterStatus.Continue) this.stream.continueDecoding();
      },
      () => {
        if (!this.destroyed) this.stream.sendLocalReply(500, 'filter error');
      },
    );
    return FilterStatus.StopIteration;
  }

  onDestroy(): void {
    this.destroyed = true;
  }

  private decide(r: Awaited<ReturnType<JwtAuthenticator['authenticate']>>, req: RequestHeaders): FilterHeadersStatus {
    if (r.status === 'invalid') {
      this.stream.streamInfo.responseCodeDetails = `jwt_authn_access_denied{${r.reason.replace(/ /g, '_')}}`;
      this.stream.sendLocalReply(r.httpStatus, r.reason, undefined, [
        'www-authenticate', wwwAuthenticate(r.reason, { scheme: 'http', authority: req.authority, path: req.path }),
      ]);
      return FilterStatus.StopIteration;
    }
    for (const m of r.headerMutations) {
      if (m.op === 'remove') req.remove(m.name);
      else if (m.op === 'add') req.add(m.name, m.value);
      else req.setPath(removeQueryParam(req.path, m.name));
    }
    if (r.status === 'valid' && r.payloadInMetadata) {
      const verified: VerifiedJwt = { principal: r.principal, claims: r.claims as Record<string, unknown> };
      this.stream.metadata[JWT_METADATA_KEY] = verified;
    }
    return FilterStatus.Continue;
  }
}
