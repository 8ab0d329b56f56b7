import type { BodySource } from '../../../codec/body.js';
import { PrefetchedBody } from '../../../codec/prefetched-body.js';
import type { BufferSettings } from '../../../config/envoy/ext-authz.js';
import type { FactoryContext, RequestHeaders, ResponseHeaders, StreamCallbacks } from '../../../http/filter.js';
import { ResponseFlag } from '../../../http/response-flags.js';
import { connectionPeers, httpCheckRequest, type HttpCheckInput } from '../../../security/ext-authz/check-request.js';
import { checkGrpc, type PendingCheck } from '../../../security/ext-authz/grpc-client.js';
import type { ExtAuthzResult } from '../../../security/ext-authz/result.js';
import type { ExtAuthzService } from '../../../security/ext-authz/service.js';
import { plainAddress } from '../../../common/address.js';
import { checkHttp } from './http-provider.js';

type CheckBody = NonNullable<HttpCheckInput['body']>;

/** Envoy's stream ids are random 64-bit numbers; a counter from a random start is as unique per worker. */
let nextStreamId = Math.floor(Math.random() * 2 ** 48);

/**
 * Envoy's HTTP ext_authz filter for one request a CUSTOM policy selected: the body read ahead when
 * the config has with_request_body, the service asked (HTTP call or gRPC Check), its answer applied.
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

  run(req: RequestHeaders): Promise<'continue' | 'stop'> {
    const withBody = this.service.withRequestBody;
    const body = withBody && !req.get('upgrade') ? this.stream.requestBody : null;
    if (!withBody || !body) return this.check(req).then((result) => this.apply(result, req));
    return this.readBody(body, withBody).then((read) => {
      if (this.cancelled) return 'stop';
      if (!read) {
        // Envoy: without allowPartialMessage the body must fit maxRequestBytes
        this.stream.streamInfo.responseCodeDetails = 'request_payload_too_large';
        this.stream.sendLocalReply(413, 'Payload Too Large');
        return 'stop';
      }
      return this.check(req, read).then((result) => this.apply(result, req));
    });
  }

  /** Headers the service added for the client (gRPC response_headers_to_add, allowedClientHeadersOnSuccess). */
  onResponseHeaders(res: ResponseHeaders): void {
    if (this.responseHeaders) for (const [k, v] of this.responseHeaders) res.add(k, v);
  }

  cancel(): void {
    this.cancelled = true;
    this.pending?.cancel();
  }

  /**
   * with_request_body: reads the body ahead, up to maxRequestBytes (the router then sends it
   * whole). Undefined: the body is larger and a partial one is not allowed.
   */
  private async readBody(source: BodySource, spec: Required<BufferSettings>): Promise<CheckBody | undefined> {
    const ahead = new PrefetchedBody(source);
    this.stream.setRequestBody(ahead);
    const max = spec.maxRequestBytes;
    // one byte past the limit tells a body that does not fit from one that just fits
    const got = await ahead.prefetch(spec.allowPartialMessage ? max : max + 1);
    if (got.data.length > max && !spec.allowPartialMessage) return undefined;
    const data = got.data.length > max ? got.data.subarray(0, max) : got.data;
    return { data, partial: !got.complete || got.data.length > max, packAsBytes: spec.packAsBytes };
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
  private apply(result: ExtAuthzResult, req: RequestHeaders): 'continue' | 'stop' {
    const service = this.service;
    this.pending = undefined;
    if (this.cancelled) return 'stop';
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
        if (service.failureModeAllow) {
          if (stats) stats.extAuthzFailureModeAllowed++;
          return 'continue';
        }
        this.stream.streamInfo.responseCodeDetails = 'ext_authz_error';
        this.stream.sendLocalReply(service.statusOnError, '', ResponseFlag.UnauthorizedExternalService);
        return 'stop';
    }
  }
}

