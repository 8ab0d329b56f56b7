import type { BufferSettings } from '../../../config/envoy/ext-authz.js';
import { FilterStatus, type FactoryContext, type FilterHeadersStatus, type RequestHeaders, type ResponseHeaders, type StreamCallbacks } from '../../../http/filter.js';
import { ResponseFlag } from '../../../http/response-flags.js';
import { connectionPeers, httpCheckRequest, type HttpCheckInput } from '../../../security/ext-authz/check-request.js';
import { checkGrpc, type PendingCheck } from '../../../security/ext-authz/grpc-client.js';
import type { ExtAuthzResult } from '../../../security/ext-authz/result.js';
import type { ExtAuthzService } from '../../../security/ext-authz/service.js';
import { plainAddress } from '../../../common/address.js';
import { checkHttp } from './http-provider.js';

export type CheckBody = NonNullable<HttpCheckInput['body']>;

/** Envoy's stream ids are random 64-bit numbers; a counter from a random start is as unique per worker. */
let nextStreamId = Math.floor(Math.random() * 2 ** 48);

/**
 * Envoy's HTTP ext_authz filter for one request a CUSTOM policy selected: the service asked (HTTP
 * call or gRPC Check; with the body the rbac filter buffered when the config has with_request_body),
 * its answer applied.
 */
export class ExtAuthzCall {
  private pending: PendingCheck | undefined;
  private responseHeaders: [string, string][] | undefined;
  /** The client went away: a check still running no longer decides anything. */
  private cancelled = false;

  constructor(
    private readonly service: ExtAuthzService,
    private readonly stream: StreamCallbacks,
    private readonly ctx: FactoryContext,
  ) {}

  /** What with_request_body asks for (max bytes, partial allowed), or undefined when the check has no body. */
  get bodySettings(): Required<BufferSettings> | undefined {
    return this.service.withRequestBody;
  }

  /** Asks the service (with the body read so far, if any); `decided` hears Continue or, after a local reply, StopIteration. */
  start(req: RequestHeaders, decided: (status: FilterHeadersStatus) => void, body?: CheckBody): void {
    this.check(req, body).then(
      (result) => {
        if (!this.cancelled) decided(this.apply(result, req));
      },
      () => {
        if (!this.cancelled) decided(this.apply({ kind: 'error', message: 'check failed' }, req));
      },
    );
  }

  /**
   * The body for the check once the request's body is in (or maxRequestBytes of it): undefined when
   * it is larger and a partial body is not allowed (Envoy answers 413).
   */
  static checkBody(data: Buffer, complete: boolean, spec: Required<BufferSettings>): CheckBody | undefined {
    const max = spec.maxRequestBytes;
    if (data.length > max && !spec.allowPartialMessage) return undefined;
    return { data: data.length > max ? data.subarray(0, max) : data, partial: !complete || data.length > max, packAsBytes: spec.packAsBytes };
  }

  /** Headers the service added for the client (gRPC response_headers_to_add, allowedClientHeadersOnSuccess). */
  onResponseHeaders(res: ResponseHeaders): void {
    if (this.responseHeaders) for (const [k, v] of this.responseHeaders) res.add(k, v);
  }

  cancel(): void {
    this.cancelled = true;
    this.pending?.cancel();
  }

  private check(req: RequestHeaders, body?: CheckBody): Promise<ExtAuthzResult> {
    const service = this.service;
    const host = this.ctx.pickHost(service.cluster);
    if (service.http) return checkHttp({ ...service, http: service.http }, host, req, this.stream.requestHeaderList, body?.data);
    if (!host) return Promise.resolve({ kind: 'error', message: `no healthy upstream for ${service.cluster}` });
    const c = this.stream.connection;
    const dst = c.originalDestination ?? { address: plainAddress(c.localAddress), port: c.localPort };
    const ends = { remoteAddress: c.remoteAddress, remotePort: c.remotePort, peer: c.peer, destination: dst, localPrincipal: this.ctx.localPrincipal };
    const request = httpCheckRequest({
      ...connectionPeers(ends, req.get('x-envoy-downstream-service-cluster')),
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
    this.pending = checkGrpc(host, service.authority, service.timeoutMs, request);
    return this.pending.result;
  }

  /** Envoy's ext_authz decision: OK → on with the header edits; denied → its reply; error → failureModeAllow or statusOnError. */
  private apply(result: ExtAuthzResult, req: RequestHeaders): FilterHeadersStatus {
    const service = this.service;
    this.pending = undefined;
    if (this.cancelled) return FilterStatus.StopIteration;
    const cluster = this.stream.streamInfo.upstreamCluster;
    const stats = cluster ? this.ctx.clusterStats?.(cluster) : undefined;
    switch (result.kind) {
      case 'ok':
        if (stats) stats.extAuthzOk++;
        for (const [k, v] of result.setHeaders) req.set(k, v);
        for (const [k, v] of result.appendHeaders) req.add(k, v);
        for (const k of result.removeHeaders) req.remove(k);
        if (result.responseHeaders.length) this.responseHeaders = result.responseHeaders;
        return FilterStatus.Continue;
      case 'denied':
        if (stats) stats.extAuthzDenied++;
        this.stream.streamInfo.responseCodeDetails = 'ext_authz_denied';
        this.stream.sendLocalReply(result.status, result.body, ResponseFlag.UnauthorizedExternalService, result.headers);
        return FilterStatus.StopIteration;
      case 'error':
        if (stats) stats.extAuthzError++;
        if (service.failureModeAllow) {
          if (stats) stats.extAuthzFailureModeAllowed++;
          return FilterStatus.Continue;
        }
        this.stream.streamInfo.responseCodeDetails = 'ext_authz_error';
        this.stream.sendLocalReply(service.statusOnError, '', ResponseFlag.UnauthorizedExternalService);
        return FilterStatus.StopIteration;
    }
  }
}

