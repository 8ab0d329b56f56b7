import { Field } from '../../../config/reader.js';
import {
  FilterStatus, type BodyData, type ExplainStream, type FactoryContext, type FilterCallbacks, type FilterDataStatus, type FilterExplanation,
  type FilterHeadersStatus, type HttpFilter, type HttpFilterFactory, type RequestHeaders, type ResponseHeaders,
} from '../../../http/filter.js';
import { STREAM_BUFFER_LIMIT_BYTES } from '../../../http/filter-manager.js';
import { ExtAuthzCall } from './ext-authz-call.js';
import { HTTP_EXT_AUTHZ_FILTER, HTTP_RBAC_FILTER, type HttpAuthzFilter } from '../../../config/envoy/rbac.js';
import { JWT_AUTHN_FILTER } from '../../../config/envoy/jwt-authn.js';
import type { HttpFilterConfig } from '../../../config/snapshot.js';
import { loadAuthorizationApi } from '../../../security/ext-authz/grpc-client.js';
import { compileHttpExtAuthz, type ExtAuthzService } from '../../../security/ext-authz/service.js';
import { compileAuthzFilters, describePolicyEvaluations, type AuthzEngine, type AuthzRequest } from '../../../security/authz/rbac.js';
import { plainAddress } from '../../../common/address.js';
import { log } from '../../../telemetry/log.js';

export const RBAC_FILTER_NAME = HTTP_RBAC_FILTER;
/** Where the JWT filter leaves a verified token for authorization (Envoy: jwt_authn dynamic metadata). */
export const JWT_METADATA_KEY = JWT_AUTHN_FILTER;

/** What one rbac filter instance runs: consecutive RBAC and ext_authz filters of the chain (see groupAuthorizationFilters). */
export interface AuthzFilterGroup {
  /** In chain order; istiod's are CUSTOM (RBAC shadow + ext_authz), AUDIT, DENY, ALLOW. */
  filters: HttpAuthzFilter[];
}

/**
 * Folds each run of envoy.filters.http.rbac / envoy.filters.http.ext_authz entries of an HTTP filter
 * chain into one rbac entry over their configs, at the index of the run's first filter.
 */
export function groupAuthorizationFilters(filters: readonly HttpFilterConfig[]): { filter: HttpFilterConfig; index: number }[] {
  const out: { filter: HttpFilterConfig; index: number }[] = [];
  let group: AuthzFilterGroup | undefined;
  filters.forEach((f, index) => {
    if (f.name !== HTTP_RBAC_FILTER && f.name !== HTTP_EXT_AUTHZ_FILTER) {
      group = undefined;
      out.push({ filter: f, index });
      return;
    }
    if (!group) out.push({ filter: { name: RBAC_FILTER_NAME, config: (group = { filters: [] }) }, index });
    group.filters.push({ name: f.name, typedConfig: f.config } as HttpAuthzFilter);
  });
  return out;
}

/** What the JWT filter puts in the metadata for authorization. */
export interface VerifiedJwt {
  principal: string;
  claims: Record<string, unknown>;
}

/**
 * envoy.filters.http.rbac (and the ext_authz filters chained with it; config: AuthzFilterGroup) with
 * Istio's AuthorizationPolicy: CUSTOM → DENY → ALLOW over the request
 * (method, normalized path, host, headers), the connection (addresses, destination, mTLS peer) and
 * the verified JWT. Denied: 403 "RBAC: access denied" with Envoy's response code details. A request
 * a CUSTOM policy selects is checked by the ext_authz filter that follows its RBAC filter (Envoy's
 * ext_authz: an http_service in http-provider.ts, a grpc_service through the Authorization/Check
 * API), compiled once per config.
 */
export const rbacFilter: HttpFilterFactory<{ engine: AuthzEngine; extAuthz: ReadonlyMap<object, ExtAuthzService> }> = {
  name: RBAC_FILTER_NAME,
  parse(raw) {
    const f = new Field(raw, [], { kind: RBAC_FILTER_NAME }).object(['filters']);
    const filters = f.at('filters').list().map((x) => x.value as HttpAuthzFilter);
    const extAuthz = new Map<object, ExtAuthzService>();
    for (const x of filters) if (x.name === HTTP_EXT_AUTHZ_FILTER) extAuthz.set(x.typedConfig, compileHttpExtAuthz(x.typedConfig));
    try {
      return { engine: compileAuthzFilters(filters), extAuthz };
    } catch (e) {
      return f.at('filters').fail((e as Error).message);
    }
  },
  create(cfg, ctx) {
    // the gRPC API loads in the background as soon as a config can call it, not on the first request
    if ([...cfg.extAuthz.values()].some((s) => !s.http)) void loadAuthorizationApi().catch(() => {});
    // only a chain whose check takes the body reads it: the others leave the body streaming untouched
    const withBody = [...cfg.extAuthz.values()].some((s) => s.withRequestBody);
    return withBody ? (stream) => new RbacWithBody(cfg.engine, cfg.extAuthz, stream, ctx) : (stream) => new Rbac(cfg.engine, cfg.extAuthz, stream, ctx);
  },
  explain: (cfg, stream) => explainAuthz(cfg.engine, stream),
};

/** What authorization reads of a request: its headers, its connection, the trusted client address, the verified JWT. */
function authzRequestOf(req: RequestHeaders, stream: Pick<FilterCallbacks, 'connection' | 'streamInfo' | 'metadata'>): AuthzRequest {
  const c = stream.connection;
  const jwt = stream.metadata[JWT_METADATA_KEY] as VerifiedJwt | undefined;
  const dst = c.originalDestination;
  return {
    method: req.method,
    path: req.path,
    host: req.authority,
    header: (name) => req.get(name),
    sourceIp: plainAddress(c.remoteAddress),
    // the x-forwarded-for client where the connection manager trusts it, else the peer
    remoteIp: plainAddress(stream.streamInfo.downstreamRemoteAddress),
    destinationIp: dst?.address ?? plainAddress(c.localAddress),
    destinationPort: dst?.port ?? c.localPort,
    ...(c.peer?.sni ? { sni: c.peer.sni } : {}),
    ...(c.peer?.spiffeId ? { peerPrincipal: c.peer.spiffeId } : {}),
    ...(jwt ? { requestPrincipal: jwt.principal, jwtClaims: jwt.claims } : {}),
  };
}

/** Envoy's response code details of a denied request. */
function deniedDetails(policy: string | undefined): string {
  return `rbac_access_denied_matched_policy[${policy ?? 'none'}]`;
}

/** explain: every policy evaluated, then the decision the filter would take. */
function explainAuthz(engine: AuthzEngine, stream: ExplainStream): FilterExplanation {
  const r = authzRequestOf(stream.request, stream);
  const notes = describePolicyEvaluations(engine.explain(r));
  const d = engine.check(r);
  if (!d.allowed) return { notes: [...notes, `denied${d.matchedPolicy ? ` by ${d.matchedPolicy}` : ': no ALLOW policy matched'}`], reply: { status: 403, details: deniedDetails(d.matchedPolicy), percent: 100 } };
  if (d.extAuthz) return { notes: [...notes, `CUSTOM policy ${d.extAuthz.policy}: the external authorizer decides`], decidedElsewhere: `ext_authz (${d.extAuthz.policy})` };
  return { notes: [...notes, d.matchedPolicy ? `allowed by ${d.matchedPolicy}` : 'allowed'] };
}

class Rbac implements HttpFilter {
  protected extAuthz: ExtAuthzCall | undefined;
  /** The request, kept while its body is buffered for the check (with_request_body). */
  protected awaitingBody: RequestHeaders | undefined;
  protected buffered = 0;
  /** The check is running or decided: data waits (watermark) or passes. */
  protected checking = false;
  protected allowed = false;

  constructor(
    private readonly engine: AuthzEngine,
    private readonly services: ReadonlyMap<object, ExtAuthzService>,
    protected readonly stream: FilterCallbacks,
    private readonly ctx: FactoryContext,
  ) {}

  decodeHeaders(req: RequestHeaders, endStream: boolean): FilterHeadersStatus {
    const r = authzRequestOf(req, this.stream);
    const d = this.engine.check(r);
    if (d.auditPolicy) log.info(`rbac audit on ${this.ctx.listenerName}: ${req.method} ${req.path} matched ${d.auditPolicy}`);
    if (!d.allowed) {
      this.stream.streamInfo.responseCodeDetails = deniedDetails(d.matchedPolicy);
      this.stream.sendLocalReply(403, 'RBAC: access denied');
      return FilterStatus.StopIteration;
    }
    if (!d.extAuthz) return FilterStatus.Continue;
    // CUSTOM: the authorization service decides
    const call = (this.extAuthz = new ExtAuthzCall(this.services.get(d.extAuthz.config)!, this.stream, this.ctx));
    if (call.bodySettings && !endStream && !req.get('upgrade')) {
      // with_request_body: the check waits for the body (decodeData buffers it, up to maxRequestBytes
      // and one byte more, which tells a body that does not fit; Envoy raises the buffer limit so)
      this.awaitingBody = req;
      const max = call.bodySettings.maxRequestBytes + 1;
      if (max > STREAM_BUFFER_LIMIT_BYTES) this.stream.setDecoderBufferLimit(max);
      return FilterStatus.StopIteration;
    }
    this.check(req);
    return FilterStatus.StopIteration;
  }

  protected check(req: RequestHeaders, body?: Parameters<ExtAuthzCall['start']>[2]): void {
    this.checking = true;
    this.extAuthz!.start(
      req,
      (status) => {
        if (status !== FilterStatus.Continue) return;
        this.allowed = true;
        this.stream.continueDecoding();
      },
      body,
    );
  }

  encodeHeaders(res: ResponseHeaders): FilterHeadersStatus {
    this.extAuthz?.onResponseHeaders(res);
    return FilterStatus.Continue;
  }

  onDestroy(): void {
    this.extAuthz?.cancel();
  }
}

/** The rbac filter when an ext_authz of the chain has with_request_body. */
class RbacWithBody extends Rbac {
  /** with_request_body: the body is buffered up to maxRequestBytes, then the check runs with it. */
  decodeData(data: BodyData, endStream: boolean): FilterDataStatus {
    const req = this.awaitingBody;
    if (!req) return this.checking && !this.allowed ? FilterStatus.StopIteration : FilterStatus.Continue;
    const spec = this.extAuthz!.bodySettings!;
    this.buffered += data.data.length;
    // one byte past the limit tells a body that does not fit from one that just fits
    const enough = spec.allowPartialMessage ? spec.maxRequestBytes : spec.maxRequestBytes + 1;
    if (!endStream && this.buffered < enough) return FilterStatus.StopAndBuffer;
    this.awaitingBody = undefined;
    const held = this.stream.decodingBuffer();
    const body = ExtAuthzCall.checkBody(held ? Buffer.concat([held, data.data]) : data.data, endStream, spec);
    if (!body) {
      // Envoy: without allowPartialMessage the body must fit maxRequestBytes
      this.stream.streamInfo.responseCodeDetails = 'request_payload_too_large';
      this.stream.sendLocalReply(413, 'Payload Too Large');
      return FilterStatus.StopIteration;
    }
    this.check(req, body);
    return FilterStatus.StopIteration;
  }
}
