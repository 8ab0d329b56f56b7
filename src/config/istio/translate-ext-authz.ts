/**
 * A MeshConfig ext_authz extension provider → Envoy's ext_authz filter configs, as istiod builds them
 * (pilot/pkg/security/authz/builder/extauthz.go): envoyExtAuthzHttp → an HTTP filter with
 * http_service; envoyExtAuthzGrpc → an HTTP filter and a network filter with grpc_service. Both
 * reach the service through its outbound cluster. filterEnabledMetadata is the authz builder's to
 * add (it ties the filter to the CUSTOM policies of one provider).
 */
import type { HttpExtAuthz, ListStringMatcher, NetworkExtAuthz } from '../envoy/ext-authz.js';
import type { ExtAuthzProviderSpec } from './resources.js';
import { clusterName } from './translate-clusters.js';

/** Istio's stat_prefix of the network ext_authz filter: stats `ext_authz.tcp.*`. */
export const NETWORK_EXT_AUTHZ_STAT_PREFIX = 'tcp.';

export interface ExtAuthzFilterConfigs {
  http: HttpExtAuthz;
  /** Only a gRPC service can check TCP connections. */
  tcp?: NetworkExtAuthz;
}

export function extAuthzFilterConfigs(p: ExtAuthzProviderSpec): ExtAuthzFilterConfigs {
  // `ns/host` names the service's namespace; the host alone is the authority and the cluster's host
  const host = p.service.includes('/') ? p.service.slice(p.service.indexOf('/') + 1) : p.service;
  const cluster = clusterName('outbound', p.port, undefined, host);
  const common = {
    transportApiVersion: 'V3' as const,
    ...(p.failOpen ? { failureModeAllow: true } : {}),
    statusOnError: { code: p.statusOnError },
    ...(p.includeRequestBodyInCheck
      ? {
          withRequestBody: {
            maxRequestBytes: p.includeRequestBodyInCheck.maxRequestBytes,
            ...(p.includeRequestBodyInCheck.allowPartialMessage ? { allowPartialMessage: true } : {}),
            ...(p.includeRequestBodyInCheck.packAsBytes ? { packAsBytes: true } : {}),
          },
        }
      : {}),
  };
  if (p.kind === 'envoyExtAuthzGrpc') {
    const grpcService = { envoyGrpc: { authority: host, clusterName: cluster }, timeoutMs: p.timeoutMs };
    return {
      http: { ...common, grpcService },
      tcp: { statPrefix: NETWORK_EXT_AUTHZ_STAT_PREFIX, grpcService, transportApiVersion: 'V3', ...(p.failOpen ? { failureModeAllow: true } : {}) },
    };
  }
  const allowedHeaders = listMatcher(p.includeRequestHeadersInCheck);
  const headersToAdd = [...p.includeAdditionalHeadersInCheck].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([key, value]) => ({ key, value }));
  const onAllowUpstream = listMatcher(p.headersToUpstreamOnAllow);
  const onDeny = listMatcher(p.headersToDownstreamOnDeny);
  const onAllowClient = listMatcher(p.headersToDownstreamOnAllow);
  return {
    http: {
      ...common,
      ...(allowedHeaders ? { allowedHeaders } : {}),
      httpService: {
        serverUri: { uri: `http://${host}`, cluster, timeoutMs: p.timeoutMs },
        ...(p.pathPrefix ? { pathPrefix: p.pathPrefix } : {}),
        ...(headersToAdd.length ? { authorizationRequest: { headersToAdd } } : {}),
        ...(onAllowUpstream || onDeny || onAllowClient
          ? {
              authorizationResponse: {
                ...(onAllowUpstream ? { allowedUpstreamHeaders: onAllowUpstream } : {}),
                ...(onDeny ? { allowedClientHeaders: onDeny } : {}),
                ...(onAllowClient ? { allowedClientHeadersOnSuccess: onAllowClient } : {}),
              },
            }
          : {}),
      },
    },
  };
}

/** Istio's header lists: `prefix*`, `*suffix` or an exact name, all case-insensitive. */
function listMatcher(names: readonly string[]): ListStringMatcher | undefined {
  if (names.length === 0) return undefined;
  return {
    patterns: names.map((n) =>
      n.startsWith('*') ? { suffix: n.slice(1), ignoreCase: true } : n.endsWith('*') ? { prefix: n.slice(0, -1), ignoreCase: true } : { exact: n, ignoreCase: true },
    ),
  };
}
