import { Field } from '../../../config/reader.js';
import { JWT_AUTHN_FILTER, type JwtAuthentication } from '../../../config/envoy/jwt-authn.js';
import { FilterStatus, type FilterCallbacks, type FilterHeadersStatus, type HttpFilter, type HttpFilterFactory, type RequestHeaders } from '../../../http/filter.js';
import { JwksCache, JwtAuthenticator, removeQueryParam, wwwAuthenticate, type JwtAuthResult } from '../../../security/jwt/index.js';
import { providerPresence } from '../../../security/jwt/requirement.js';
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
export const jwtAuthnFilter: HttpFilterFactory<{ authenticator: JwtAuthenticator; config: JwtAuthentication }> = {
  name: JWT_AUTHN_FILTER_NAME,
  parse(raw) {
    const f = new Field(raw, [], { kind: JWT_AUTHN_FILTER_NAME }).object(['providers', 'rules', 'requirementMap', 'bypassCorsPreflight']);
    f.at('providers').object();
    try {
      const config = f.value as JwtAuthentication;
      return { authenticator: new JwtAuthenticator(config, { jwksCache }), config };
    } catch (e) {
      return f.fail((e as Error).message);
    }
  },
  create(cfg) {
    return (stream) => new JwtAuthn(cfg.authenticator, stream);
  },
  async explain(cfg, stream) {
    const presence = providerPresence(cfg.config);
    const notes = Object.entries(cfg.config.providers).filter(([name]) => presence.has(name)).map(([name, p]) => {
      const keys = p.localJwks ? 'inline keys' : p.remoteJwks ? `keys from ${p.remoteJwks.httpUri.uri}` : 'keys by OpenID discovery';
      return `provider ${name}: issuer ${p.issuer ?? '(any)'}, ${keys}, token ${presence.get(name) === 'required' ? 'required' : 'optional'}`;
    });
    const req = stream.request;
    const r = await cfg.authenticator.authenticate({ headers: headerView(req), path: req.path, method: req.method });
    const reply = applyResult(r, req, stream);
    if (reply) return { notes: [...notes, `token invalid: ${reply.body}`], reply: { status: reply.status, details: reply.details, percent: 100 } };
    notes.push(r.status === 'valid' ? `token valid: request principal ${r.principal}` : r.status === 'none' && r.corsPreflight ? 'CORS preflight: not verified' : 'no token: the request goes on without a request principal');
    return { notes };
  },
};

/** The request's headers read by name only: a view over the request's, nothing copied. */
function headerView(req: RequestHeaders): Record<string, string | undefined> {
  return new Proxy({} as Record<string, string | undefined>, { get: (_t, name) => (typeof name === 'string' ? req.get(name) : undefined) });
}

/** A local reply the filter sends for an invalid token. */
interface JwtReply {
  status: 401 | 403;
  body: string;
  details: string;
  headers: string[];
}

/**
 * The filter's decision on an authentication result: for an invalid token the reply to send; else
 * the providers' header edits applied to the request and, with payloadInMetadata, the verified
 * token left in the metadata for authorization.
 */
function applyResult(r: JwtAuthResult, req: RequestHeaders, stream: { readonly metadata: Record<string, unknown> }): JwtReply | undefined {
  if (r.status === 'invalid') {
    return {
      status: r.httpStatus,
      body: r.reason,
      details: `jwt_authn_access_denied{${r.reason.replace(/ /g, '_')}}`,
      headers: ['www-authenticate', wwwAuthenticate(r.reason, { scheme: 'http', authority: req.authority, path: req.path })],
    };
  }
  for (const m of r.headerMutations) {
    if (m.op === 'remove') req.remove(m.name);
    else if (m.op === 'add') req.add(m.name, m.value);
    else req.setPath(removeQueryParam(req.path, m.name));
  }
  if (r.status === 'valid' && r.payloadInMetadata) {
    const verified: VerifiedJwt = { principal: r.principal, claims: r.claims as Record<string, unknown> };
    stream.metadata[JWT_METADATA_KEY] = verified;
  }
  return undefined;
}

class JwtAuthn implements HttpFilter {
  private destroyed = false;

  constructor(
    private readonly authenticator: JwtAuthenticator,
    private readonly stream: FilterCallbacks,
  ) {}

  /** Verification may wait for a key set (a JWKS fetch): the request stops until it decides. */
  decodeHeaders(req: RequestHeaders): FilterHeadersStatus {
    this.authenticator.authenticate({ headers: headerView(req), path: req.path, method: req.method }).then(
      (r) => {
        if (this.destroyed) return;
        const reply = applyResult(r, req, this.stream);
        if (!reply) return this.stream.continueDecoding();
        this.stream.streamInfo.responseCodeDetails = reply.details;
        this.stream.sendLocalReply(reply.status, reply.body, undefined, reply.headers);
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
}
