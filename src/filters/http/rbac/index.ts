import { Field } from '../../../config/reader.js';
import type { FactoryContext, HttpFilter, HttpFilterFactory, RequestHeaders, StreamCallbacks } from '../../../http/filter.js';
import { ResponseFlag } from '../../../http/response-flags.js';
import { checkHttp, type HttpExtAuthzProvider } from './ext-authz.js';
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
 * the verified JWT. Denied: 403 "RBAC: access denied" with Envoy's response code details. A request
 * a CUSTOM policy selects is checked with its envoyExtAuthzHttp provider (ext-authz.ts); a provider
 * that cannot be called (gRPC, undeclared) denies it (flag UAEX), failing closed.
 */
export const rbacFilter: HttpFilterFactory<{ engine: AuthzEngine; extAuthz: Record<string, HttpExtAuthzProvider> }> = {
  name: RBAC_FILTER_NAME,
  parse(raw) {
    const f = new Field(raw, [], { kind: RBAC_FILTER_NAME }).object(['filters', 'extAuthz']);
    return {
      engine: compileAuthzFilters(f.at('filters').list().map((x) => x.value as HttpAuthzFilter)),
      extAuthz: (f.at('extAuthz').value ?? {}) as Record<string, HttpExtAuthzProvider>,
    };
  },
  create(cfg, ctx) {
    return (stream) => new Rbac(cfg.engine, cfg.extAuthz, stream, ctx);
  },
};

class Rbac implements HttpFilter {
  constructor(
    private readonly engine: AuthzEngine,
    private readonly providers: Record<string, HttpExtAuthzProvider>,
    private readonly stream: StreamCallbacks,
    private readonly ctx: FactoryContext,
  ) {}

  onRequestHeaders(req: RequestHeaders): 'continue' | 'stop' | Promise<'continue' | 'stop'> {
    const c = this.stream.connection;
    const jwt = this.stream.metadata[JWT_METADATA_KEY] as VerifiedJwt | undefined;
    const dst = c.originalDestination;
    const r: AuthzRequest = {
      method: req.method,
      path: req.path,
      host: req.authority,
      header: (name) => req.get(name),
      sourceIp: plainAddress(c.remoteAddress),
      // the x-forwarded-for client where the connection manager trusts it, else the peer
      remoteIp: plainAddress(this.stream.streamInfo.downstreamRemoteAddress),
      destinationIp: dst?.address ?? plainAddress(c.localAddress),
      destinationPort: dst?.port ?? c.localPort,
      ...(c.peer?.sni ? { sni: c.peer.sni } : {}),
      ...(c.peer?.spiffeId ? { peerPrincipal: c.peer.spiffeId } : {}),
      ...(jwt ? { requestPrincipal: jwt.principal, jwtClaims: jwt.claims } : {}),
    };
    const d = this.engine.check(r);
    if (d.auditPolicy) log.info(`rbac audit on ${this.ctx.listenerName}: ${req.method} ${req.path} matched ${d.auditPolicy}`);
    if (!d.allowed) {
      this.stream.streamInfo.responseCodeDetails = `rbac_access_denied_matched_policy[${d.matchedPolicy ?? 'none'}]`;
      this.stream.sendLocalReply(403, 'RBAC: access denied');
      return 'stop';
    }
    if (!d.extAuthz) return 'continue';
    // CUSTOM: the provider decides; one that cannot be called (gRPC, unknown) denies
    const provider = this.providers[d.extAuthz.marker.provider];
    if (!provider) {
      this.stream.streamInfo.responseCodeDetails = 'ext_authz_error';
      this.stream.sendLocalReply(403, '', ResponseFlag.UnauthorizedExternalService);
      return 'stop';
    }
    return checkHttp(provider, this.ctx.pickHost(provider.cluster), req, this.stream.requestHeaderList).then((o) => {
      if (o.allowed) {
        for (const [k, v] of o.upstreamHeaders) req.set(k, v);
        return 'continue';
      }
      this.stream.streamInfo.responseCodeDetails = o.error ? 'ext_authz_error' : 'ext_authz_denied';
      this.stream.sendLocalReply(o.status, o.body, ResponseFlag.UnauthorizedExternalService, o.downstreamHeaders);
      return 'stop';
    });
  }
}
