import { Field } from '../../../config/reader.js';
import type { HttpFilter, HttpFilterFactory, RequestHeaders, StreamCallbacks } from '../../../http/filter.js';
import type { HttpAuthzFilter } from '../../../security/authz/types.js';
import { compileAuthzFilters, type AuthzEngine, type AuthzRequest } from '../../../security/authz/rbac.js';
import { plainAddress } from '../../../common/address.js';
import { log } from '../../../telemetry/log.js';

export const RBAC_FILTER_NAME = 'envoy.filters.http.rbac';
/** Where the JWT filter leaves a verified token for authorization (Envoy: jwt_authn dynamic metadata). */
export const JWT_METADATA_KEY = 'envoy.filters.http.jwt_authn';

export interface RbacFilterConfig {
  /** The RBAC filters istiod would generate, in chain order (CUSTOM, AUDIT, DENY, ALLOW). */
  filters: HttpAuthzFilter[];
}

/** What the JWT filter puts in the metadata for authorization. */
export interface VerifiedJwt {
  principal: string;
  claims: Record<string, unknown>;
}

/**
 * envoy.filters.http.rbac with Istio's AuthorizationPolicy: CUSTOM → DENY → ALLOW over the request
 * (method, normalized path, host, headers), the connection (addresses, destination, mTLS peer) and
 * the verified JWT. Denied: 403 "RBAC: access denied" with Envoy's response code details. CUSTOM
 * providers (ext_authz) are not reachable yet, so a request a CUSTOM policy selects is denied
 * (fail closed, as Envoy does when the authorization service cannot be asked).
 */
export const rbacFilter: HttpFilterFactory<{ engine: AuthzEngine }> = {
  name: RBAC_FILTER_NAME,
  parse(raw) {
    const f = new Field(raw, [], { kind: RBAC_FILTER_NAME }).object(['filters']);
    return { engine: compileAuthzFilters(f.at('filters').list().map((x) => x.value as HttpAuthzFilter)) };
  },
  create(cfg, ctx) {
    return (stream) => new Rbac(cfg.engine, stream, ctx.listenerName);
  },
};

class Rbac implements HttpFilter {
  constructor(
    private readonly engine: AuthzEngine,
    private readonly stream: StreamCallbacks,
    private readonly listener: string,
  ) {}

  onRequestHeaders(req: RequestHeaders): 'continue' | 'stop' {
    const c = this.stream.connection;
    const jwt = this.stream.metadata[JWT_METADATA_KEY] as VerifiedJwt | undefined;
    const dst = c.originalDestination;
    const source = plainAddress(c.remoteAddress);
    const r: AuthzRequest = {
      method: req.method,
      path: req.path,
      host: req.authority,
      header: (name) => req.get(name),
      sourceIp: source,
      remoteIp: source,
      destinationIp: dst?.address ?? plainAddress(c.localAddress),
      destinationPort: dst?.port ?? c.localPort,
      ...(c.peer?.sni ? { sni: c.peer.sni } : {}),
      ...(c.peer?.spiffeId ? { peerPrincipal: c.peer.spiffeId } : {}),
      ...(jwt ? { requestPrincipal: jwt.principal, jwtClaims: jwt.claims } : {}),
    };
    const d = this.engine.check(r);
    if (d.auditPolicy) log.info(`rbac audit on ${this.listener}: ${req.method} ${req.path} matched ${d.auditPolicy}`);
    if (d.allowed && !d.extAuthz) return 'continue';
    this.stream.streamInfo.responseCodeDetails = d.extAuthz
      ? `ext_authz_error` // the provider cannot be asked: fail closed
      : `rbac_access_denied_matched_policy[${d.matchedPolicy ?? 'none'}]`;
    this.stream.sendLocalReply(403, 'RBAC: access denied');
    return 'stop';
  }
}
