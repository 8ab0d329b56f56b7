/**
 * Envoy's ext_authz filter configs (config/envoy/ext-authz.ts) compiled once per config into what a
 * check needs: where the authorization service is, how long to wait, what to do when it fails, and
 * for an HTTP service the header selections as predicates.
 */
import type { BufferSettings, HttpExtAuthz, ListStringMatcher, NetworkExtAuthz } from '../../config/envoy/ext-authz.js';
import { compileStringMatcher } from '../authz/rbac.js';

export interface HttpServiceSelectors {
  pathPrefix: string;
  /** Request headers sent to the service (besides the ones Envoy always sends). */
  include(name: string): boolean;
  headersToAdd: readonly [string, string][];
  toUpstreamOnAllow(name: string): boolean;
  toDownstreamOnAllow(name: string): boolean;
  toDownstreamOnDeny(name: string): boolean;
}

export interface ExtAuthzService {
  /** The cluster whose endpoints serve the checks. */
  cluster: string;
  /** gRPC :authority (Envoy's default: the cluster name). */
  authority: string;
  timeoutMs: number;
  failureModeAllow: boolean;
  /** Status of the reply when the service fails (HTTP filter; Envoy's default 403). */
  statusOnError: number;
  withRequestBody?: Required<BufferSettings>;
  /** Present for an http_service; absent: the gRPC Authorization/Check API. */
  http?: HttpServiceSelectors;
  /** Network filter: its stats are ext_authz.<statPrefix>.* (Istio's `tcp.` gives ext_authz.tcp.*). */
  statPrefix?: string;
}

/** Headers Envoy's HTTP ext_authz always sends besides Host (set from :authority): the request line's parts, its length, Authorization. */
const ALWAYS_SENT = new Set(['authorization', 'method', 'path', 'content-length']);
const NONE = (): boolean => false;

function listMatcher(list: ListStringMatcher | undefined, always?: ReadonlySet<string>): (name: string) => boolean {
  const tests = (list?.patterns ?? []).map((p) => compileStringMatcher(p));
  if (tests.length === 0) return always ? (name) => always.has(name) : NONE;
  return (name) => !!always?.has(name) || tests.some((t) => t(name));
}

export function compileHttpExtAuthz(c: HttpExtAuthz): ExtAuthzService {
  const common = {
    failureModeAllow: c.failureModeAllow === true,
    statusOnError: c.statusOnError?.code ?? 403,
    ...(c.withRequestBody
      ? { withRequestBody: { maxRequestBytes: c.withRequestBody.maxRequestBytes, allowPartialMessage: !!c.withRequestBody.allowPartialMessage, packAsBytes: !!c.withRequestBody.packAsBytes } }
      : {}),
  };
  if (c.grpcService) {
    const g = c.grpcService;
    return { ...common, cluster: g.envoyGrpc.clusterName, authority: g.envoyGrpc.authority ?? g.envoyGrpc.clusterName, timeoutMs: g.timeoutMs };
  }
  const h = c.httpService!;
  const res = h.authorizationResponse;
  return {
    ...common,
    cluster: h.serverUri.cluster,
    authority: h.serverUri.cluster,
    timeoutMs: h.serverUri.timeoutMs,
    http: {
      pathPrefix: h.pathPrefix ?? '',
      include: listMatcher(c.allowedHeaders, ALWAYS_SENT),
      headersToAdd: (h.authorizationRequest?.headersToAdd ?? []).map(({ key, value }) => [key.toLowerCase(), value]),
      toUpstreamOnAllow: listMatcher(res?.allowedUpstreamHeaders),
      toDownstreamOnAllow: listMatcher(res?.allowedClientHeadersOnSuccess),
      // Deviation kept from before: without allowedClientHeaders Envoy would pass every header of a
      // denial to the client; Outrigger passes none (istiod sets the list whenever it has one)
      toDownstreamOnDeny: listMatcher(res?.allowedClientHeaders),
    },
  };
}

export function compileNetworkExtAuthz(c: NetworkExtAuthz): ExtAuthzService {
  const g = c.grpcService;
  return {
    cluster: g.envoyGrpc.clusterName,
    authority: g.envoyGrpc.authority ?? g.envoyGrpc.clusterName,
    timeoutMs: g.timeoutMs,
    failureModeAllow: c.failureModeAllow === true,
    statusOnError: 403,
    statPrefix: c.statPrefix.replace(/\.$/, ''),
  };
}
