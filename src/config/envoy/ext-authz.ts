/**
 * Envoy's ext_authz filter configs as plain data: envoy.extensions.filters.http.ext_authz.v3.ExtAuthz
 * and envoy.extensions.filters.network.ext_authz.v3.ExtAuthz, with the core types they use
 * (GrpcService, HttpUri, ListStringMatcher, BufferSettings). Field names are the protos' JSON names
 * (camelCase); durations are milliseconds (`timeoutMs`) as everywhere in the Snapshot, and
 * statusOnError is the numeric HTTP status. Fields istiod never sets (include_peer_certificate,
 * clear_route_cache, metadata_context_namespaces, ...) are not modelled.
 */
import type { MetadataMatcher, StringMatcher } from './rbac.js';

/** envoy.config.core.v3.GrpcService with envoy_grpc: a cluster of this proxy, and the call's deadline. */
export interface GrpcService {
  envoyGrpc: {
    clusterName: string;
    /** :authority of the calls; Envoy's default is the cluster name. */
    authority?: string;
  };
  timeoutMs: number;
}

/** envoy.config.core.v3.HttpUri: the uri is informational, the request goes to `cluster`. */
export interface HttpUri {
  uri: string;
  cluster: string;
  timeoutMs: number;
}

/** envoy.type.matcher.v3.ListStringMatcher: a name is listed when any pattern matches it. */
export interface ListStringMatcher {
  patterns: StringMatcher[];
}

/** envoy.config.core.v3.HeaderValue. */
export interface HeaderValue {
  key: string;
  value: string;
}

/** envoy.extensions.filters.http.ext_authz.v3.HttpService. */
export interface HttpService {
  serverUri: HttpUri;
  /** Prepended to the request's path in the check request. */
  pathPrefix?: string;
  authorizationRequest?: {
    /** Added to every check request. */
    headersToAdd?: HeaderValue[];
  };
  authorizationResponse?: {
    /** On OK: copied from the check response onto the request (overwriting). */
    allowedUpstreamHeaders?: ListStringMatcher;
    /** On a denial: copied from the check response onto the reply to the client. */
    allowedClientHeaders?: ListStringMatcher;
    /** On OK: copied from the check response onto the response to the client. */
    allowedClientHeadersOnSuccess?: ListStringMatcher;
  };
}

/** envoy.extensions.filters.http.ext_authz.v3.BufferSettings (with_request_body). */
export interface BufferSettings {
  /** Bytes buffered for the check (> 0). */
  maxRequestBytes: number;
  /** Send the first maxRequestBytes of a larger body; otherwise such a request gets 413. */
  allowPartialMessage?: boolean;
  /** Send the body as bytes (raw_body) instead of a UTF-8 string (body). */
  packAsBytes?: boolean;
}

interface HttpExtAuthzCommon {
  transportApiVersion: 'V3';
  /** An unreachable or failing authorization service lets the request through. */
  failureModeAllow?: boolean;
  /** The status of the reply when the service fails (Envoy's default 403). */
  statusOnError?: { code: number };
  withRequestBody?: BufferSettings;
  /**
   * Request headers sent to the service, besides the ones Envoy always sends (Host, Method, Path,
   * Content-Length, Authorization). Absent: only those.
   */
  allowedHeaders?: ListStringMatcher;
  /** The filter runs only when this dynamic metadata matches (Istio: the CUSTOM shadow policy id). */
  filterEnabledMetadata?: MetadataMatcher;
}

/** envoy.extensions.filters.http.ext_authz.v3.ExtAuthz: exactly one of grpcService, httpService. */
export type HttpExtAuthz = HttpExtAuthzCommon & ({ grpcService: GrpcService; httpService?: never } | { httpService: HttpService; grpcService?: never });

/** envoy.extensions.filters.network.ext_authz.v3.ExtAuthz. */
export interface NetworkExtAuthz {
  /** Stats are `ext_authz.<statPrefix>*` (Istio: `tcp.`). */
  statPrefix: string;
  grpcService: GrpcService;
  transportApiVersion: 'V3';
  failureModeAllow?: boolean;
  filterEnabledMetadata?: MetadataMatcher;
}
