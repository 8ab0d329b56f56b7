import { Field } from '../../../config/reader.js';
import type { ConnectionInfo, FactoryContext, HttpFilter, HttpFilterFactory, RequestHeaders, ResponseHeaders, StreamCallbacks } from '../../../http/filter.js';
import { ResponseFlag } from '../../../http/response-flags.js';
import { checkHttp } from './ext-authz.js';
import type { ExtAuthzProvider, HttpAuthzFilter } from '../../../security/authz/types.js';
import { certificatePrincipal, httpCheckRequest, type HttpCheckInput } from '../../../security/ext-authz/check-request.js';
import { PrefetchedBody } from '../../../codec/prefetched-body.js';
import type { BodySource } from '../../../codec/body.js';
import type { ExtAuthzRequestBody } from '../../../config/istio/resources.js';

type CheckBody = NonNullable<HttpCheckInput['body']>;
import { checkGrpc, loadAuthorizationApi, type PendingCheck } from '../../../security/ext-authz/grpc-client.js';
import type { ExtAuthzResult } from '../../../security/ext-authz/result.js';
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
 * a CUSTOM policy selects is checked with its provider (Envoy's ext_authz: envoyExtAuthzHttp in
 * ext-authz.ts, envoyExtAuthzGrpc through the Authorization/Check API); an undeclared provider
 * denies it (flag UAEX), failing closed.
 */
export const rbacFilter: HttpFilterFactory<{ engine: AuthzEngine; extAuthz: Record<string, ExtAuthzProvider> }> = {
  name: RBAC_FILTER_NAME,
  parse(raw) {
    const f = new Field(raw, [], { kind: RBAC_FILTER_NAME }).object(['filters', 'extAuthz']);
    return {
      engine: compileAuthzFilters(f.at('filters').list().map((x) => x.value as HttpAuthzFilter)),
      extAuthz: (f.at('extAuthz').value ?? {}) as Record<string, ExtAuthzProvider>,
    };
  },
  create(cfg, ctx) {
    // the gRPC API loads in the background as soon as a config can call it, not on the first request
    if (Object.values(cfg.extAuthz).some((p) => p.kind === 'envoyExtAuthzGrpc')) void loadAuthorizationApi().catch(() => {});
    return (stream) => new Rbac(cfg.engine, cfg.extAuthz, stream, ctx);
  },
};

/** Envoy's stream ids are random 64-bit numbers; a counter from a random start is as unique per worker. */
let nextStreamId = Math.floor(Math.random() * 2 ** 48);

class Rbac implements HttpFilter {
  private pending: PendingCheck | undefined;
  private responseHeaders: [string, string][] | undefined;
  /** The client went away: a check still running no longer decides anything. */
  private destroyed = false;

  constructor(
    private readonly engine: AuthzEngine,
    private readonly providers: Record<string, ExtAuthzProvider>,
    private readonly stream: StreamCallbacks,
    private readonly ctx: FactoryContext,
  ) {}

  onRequestHeaders(req: RequestHeaders): 'continue' | 'stop' | Promise<'continue' | 'stop'> {
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
    if (d.auditPolicy) log.info(`rbac audit on ${this.ctx.listenerName}: ${req.method} ${req.path} matched ${d.auditPolicy}`);
    if (!d.allowed) {
      this.stream.streamInfo.responseCodeDetails = `rbac_access_denied_matched_policy[${d.matchedPolicy ?? 'none'}]`;
      this.stream.sendLocalReply(403, 'RBAC: access denied');
      return 'stop';
    }
    if (!d.extAuthz) return 'continue';
    // CUSTOM: the provider decides; an undeclared one denies
    const provider = this.providers[d.extAuthz.marker.provider];
    if (!provider) {
      this.stream.streamInfo.responseCodeDetails = 'ext_authz_error';
      this.stream.sendLocalReply(403, '', ResponseFlag.UnauthorizedExternalService);
      return 'stop';
    }
    const withBody = provider.includeRequestBodyInCheck;
    const body = withBody && !req.get('upgrade') ? this.stream.requestBody : null;
    if (!withBody || !body) return this.check(provider, req).then((result) => this.apply(provider, result, req));
    return this.readBody(body, withBody).then((read) => {
      if (this.destroyed) return 'stop';
      if (!read) {
        // Envoy: without allowPartialMessage the body must fit maxRequestBytes
        this.stream.streamInfo.responseCodeDetails = 'request_payload_too_large';
        this.stream.sendLocalReply(413, 'Payload Too Large');
        return 'stop';
      }
      return this.check(provider, req, read).then((result) => this.apply(provider, result, req));
    });
  }

  /**
   * includeRequestBodyInCheck: reads the body ahead, up to maxRequestBytes (the router then sends it
   * whole). Undefined: the body is larger and a partial one is not allowed.
   */
  private async readBody(source: BodySource, spec: ExtAuthzRequestBody): Promise<CheckBody | undefined> {
    const ahead = new PrefetchedBody(source);
    this.stream.setRequestBody(ahead);
    const max = spec.maxRequestBytes;
    // one byte past the limit tells a body that does not fit from one that just fits
    const got = await ahead.prefetch(spec.allowPartialMessage ? max : max + 1);
    if (got.data.length > max && !spec.allowPartialMessage) return undefined;
    const data = got.data.length > max ? got.data.subarray(0, max) : got.data;
    return { data, partial: !got.complete || got.data.length > max, packAsBytes: spec.packAsBytes };
  }

  onResponseHeaders(res: ResponseHeaders): 'continue' {
    if (this.responseHeaders) for (const [k, v] of this.responseHeaders) res.add(k, v);
    return 'continue';
  }

  onDestroy(): void {
    this.destroyed = true;
    this.pending?.cancel();
  }

  private check(provider: ExtAuthzProvider, req: RequestHeaders, body?: CheckBody): Promise<ExtAuthzResult> {
    const host = this.ctx.pickHost(provider.cluster);
    if (provider.kind === 'envoyExtAuthzHttp') return checkHttp(provider, host, req, this.stream.requestHeaderList, body?.data);
    if (!host) return Promise.resolve({ kind: 'error', message: `no healthy upstream for ${provider.cluster}` });
    const c = this.stream.connection;
    const dst = c.originalDestination;
    const service = req.get('x-envoy-downstream-service-cluster');
    const request = httpCheckRequest({
      source: { address: plainAddress(c.remoteAddress), port: endpointPort(c.remoteEndpoint), ...principal(c.peer), ...(service ? { service } : {}) },
      destination: {
        address: dst?.address ?? plainAddress(c.localAddress),
        port: dst?.port ?? c.localPort,
        // the local certificate's identity: only a TLS connection has one
        ...(c.peer && this.ctx.localPrincipal ? { principal: this.ctx.localPrincipal } : {}),
      },
      startTimeMs: this.stream.streamInfo.startTimeMs,
      id: String(++nextStreamId),
      method: req.method,
      path: req.path,
      host: req.authority,
      scheme: c.scheme,
      protocol: c.protocol,
      headers: this.stream.requestHeaderList,
      ...(body ? { body } : {}),
    });
    this.pending = checkGrpc(host, provider.authority, provider.timeoutMs, request);
    return this.pending.result;
  }

  /** Envoy's ext_authz decision: OK → on with the header edits; denied → its reply; error → failOpen or statusOnError. */
  private apply(provider: ExtAuthzProvider, result: ExtAuthzResult, req: RequestHeaders): 'continue' | 'stop' {
    this.pending = undefined;
    if (this.destroyed) return 'stop';
    const cluster = this.stream.streamInfo.upstreamCluster;
    const stats = cluster ? this.ctx.clusterStats?.(cluster) : undefined;
    switch (result.kind) {
      case 'ok':
        if (stats) stats.extAuthzOk++;
        for (const [k, v] of result.setHeaders) req.set(k, v);
        for (const [k, v] of result.appendHeaders) req.add(k, v);
        for (const k of result.removeHeaders) req.remove(k);
        if (result.responseHeaders.length) this.responseHeaders = result.responseHeaders;
        return 'continue';
      case 'denied':
        if (stats) stats.extAuthzDenied++;
        this.stream.streamInfo.responseCodeDetails = 'ext_authz_denied';
        this.stream.sendLocalReply(result.status, result.body, ResponseFlag.UnauthorizedExternalService, result.headers);
        return 'stop';
      case 'error':
        if (stats) stats.extAuthzError++;
        if (provider.failOpen) {
          if (stats) stats.extAuthzFailureModeAllowed++;
          return 'continue';
        }
        this.stream.streamInfo.responseCodeDetails = 'ext_authz_error';
        this.stream.sendLocalReply(provider.statusOnError, '', ResponseFlag.UnauthorizedExternalService);
        return 'stop';
    }
  }
}

function principal(peer: ConnectionInfo['peer']): { principal?: string } {
  const p = certificatePrincipal(peer);
  return p ? { principal: p } : {};
}

/** The port of an `ip:port` / `[v6]:port` endpoint. */
function endpointPort(endpoint: string): number {
  return Number(endpoint.slice(endpoint.lastIndexOf(':') + 1)) || 0;
}
