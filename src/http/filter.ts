import type { ResponseFlagValue } from './response-flags.js';
import type { CompiledRoute } from '../router/route-table.js';
import type { PeerIdentity } from '../security/peer.js';
import type { ClusterStats } from '../telemetry/stats.js';
import type { BodySource } from '../codec/body.js';
import type { Downstream } from '../codec/downstream.js';
import type { WeightedCluster } from '../config/snapshot.js';
import type { RequestView } from '../router/request-view.js';
import type { RequestHeaderMap } from './header-map.js';

/** The HTTP filter interface (DESIGN.md): a parse-time factory and a cheap per-request object. */
export type FilterStatus = 'continue' | 'stop';

/** Request headers as the upstream will see them (lower-case names). */
export interface RequestHeaders {
  readonly method: string;
  /** :path, query included, as the filters so far left it. */
  readonly path: string;
  /** Replaces :path (Envoy filters set it the same way): later filters, the router and the upstream see it. */
  setPath(path: string): void;
  readonly authority: string;
  get(name: string): string | undefined;
  set(name: string, value: string): void;
  add(name: string, value: string): void;
  remove(name: string): void;
}

/** Response headers as the downstream will see them. */
export interface ResponseHeaders {
  readonly status: number;
  get(name: string): string | undefined;
  set(name: string, value: string): void;
  add(name: string, value: string): void;
  remove(name: string): void;
}

/** The downstream connection a request arrived on. */
export interface ConnectionInfo {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly scheme: 'http' | 'https';
  /** `HTTP/1.0`, `HTTP/1.1`, `HTTP/2`. */
  readonly protocol: string;
  readonly localAddress: string;
  readonly localPort: number;
  /** Where the client was going, when the connection was captured (iptables). */
  readonly originalDestination?: { address: string; port: number };
  /** The mTLS peer, when TLS was terminated with a client certificate. */
  readonly peer?: PeerIdentity;
}

export interface StreamInfo {
  readonly startTimeMs: number;
  responseFlags: ResponseFlagValue[];
  routeName?: string;
  upstreamCluster?: string;
  upstreamHost?: string;
  responseCode?: number;
  /** Envoy's %RESPONSE_CODE_DETAILS% when a filter decided (e.g. rbac_access_denied_matched_policy[...]). */
  responseCodeDetails?: string;
  /**
   * Envoy's downstream remote address: the trusted client address the connection manager found in
   * x-forwarded-for (use_remote_address, xff_num_trusted_hops), else the connection peer. Set before
   * the filters run. RBAC remote_ip (Istio remote.ip) reads it.
   */
  downstreamRemoteAddress: string;
  /** Milliseconds from the request's first byte upstream to the response headers (x-envoy-upstream-service-time). */
  upstreamServiceTimeMs?: number;
}

export interface StreamCallbacks {
  /**
   * Ends the request here with a locally generated response carrying an Envoy response flag. A gRPC
   * client gets HTTP 200 with `grpcStatus` (default: Envoy's mapping of `status`) unless `headers` has one.
   */
  sendLocalReply(status: number, body: string, flag?: ResponseFlagValue, headers?: string[], grpcStatus?: number): void;
  readonly route: CompiledRoute | undefined;
  readonly streamInfo: StreamInfo;
  readonly connection: ConnectionInfo;
  /** The request headers as the upstream will get them, flat [name, value, ...] (read-only). */
  readonly requestHeaderList: readonly string[];
  /** The request body, null when the request has none. */
  readonly requestBody: BodySource | null;
  /** Replaces the body the router sends (a filter that read the body ahead hands it on this way). */
  setRequestBody(body: BodySource): void;
  /** Envoy's dynamic metadata: what one filter tells the next (the JWT filter's result for RBAC). */
  readonly metadata: Record<string, unknown>;
}

/**
 * What the router, the terminal filter, drives on its stream (Envoy's StreamDecoderFilterCallbacks):
 * the request as the connection manager prepared it, the response toward the client, the stream's end.
 */
export interface RouterCallbacks extends StreamCallbacks {
  /** The client's request and connection as the codec gave them (raw headers, protocol, upgrade). */
  readonly downstream: Downstream;
  /** The request as it goes upstream (method, :path, :authority, header list); the router completes it. */
  readonly request: RequestHeaderMap;
  /** The weighted cluster chosen when the route was resolved (before the filters ran). */
  readonly weightedCluster: WeightedCluster | undefined;
  /** What route matching read (query parameters, for hash policies). */
  readonly requestView: RequestView;
  /** The upgrade the client asked for (websocket, ...), lower case. */
  readonly requestedUpgrade: string | undefined;
  /** Starts the response toward the client; the filters' onResponseHeaders run first. */
  encodeHeaders(status: number, headers: string[]): void;
  /** A response body chunk; false: the client is slow (the router hears onDownstreamDrain). */
  encodeData(chunk: Buffer): boolean;
  /** The response is complete (trailers: HTTP/2 sends them, HTTP/1.1 drops them). */
  encodeEnd(trailers: string[] | undefined): void;
  /** The response started and cannot be finished: the client's stream is reset, the request is over. */
  resetStream(): void;
  /** The response reached the client without the stream (a tunnel relayed it, the codec answered a broken body): the request is over. */
  endStream(): void;
  /** The request became a tunnel, whose byte relay has its own idle timeout: the stream idle timer stops. */
  disarmIdleTimeout(): void;
}

export interface HttpFilter {
  onRequestHeaders?(req: RequestHeaders, stream: StreamCallbacks): FilterStatus | Promise<FilterStatus>;
  onResponseHeaders?(res: ResponseHeaders, stream: StreamCallbacks): FilterStatus | Promise<FilterStatus>;
  onDestroy?(): void;
}

export interface FactoryContext {
  readonly listenerName: string;
  /** An endpoint of a cluster of the current config (for filters that call a service: ext_authz). */
  pickHost(cluster: string): { address: string; port: number } | undefined;
  /** A cluster's stats (filters that count under the route's cluster: ext_authz). */
  clusterStats?(cluster: string): ClusterStats;
  /** This workload's certificate identity (SPIFFE id), when it has a mesh certificate. */
  readonly localPrincipal?: string;
}

export interface HttpFilterFactory<C = unknown> {
  /** The Envoy name, e.g. `envoy.filters.http.header_mutation`, so xDS maps 1:1. */
  readonly name: string;
  /** Validates raw config; throws ConfigError with a path to the bad field. */
  parse(raw: unknown): Readonly<C>;
  create(cfg: Readonly<C>, ctx: FactoryContext): (stream: StreamCallbacks) => HttpFilter;
}
