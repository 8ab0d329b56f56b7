import type { RequestTrace } from '../tracing/http-tracer.js';
import type { ResponseFlagValue } from './response-flags.js';
import type { CompiledRoute } from '../router/route-table.js';
import type { PeerIdentity } from '../security/peer.js';
import type { ClusterStats, LocalRateLimitStats } from '../telemetry/stats.js';
import type { TokenBucketStores } from '../filters/http/local_ratelimit/bucket-stores.js';
import type { BodySource } from '../codec/body.js';
import type { Downstream } from '../codec/downstream.js';
import type { WeightedCluster } from '../config/snapshot.js';
import type { RequestView } from '../router/request-view.js';
import type { RequestHeaderMap } from './header-map.js';

/**
 * The HTTP filter contract (Envoy's StreamDecoderFilter / StreamEncoderFilter): a parse-time factory
 * and a cheap per-request object whose hooks answer synchronously with one of these statuses.
 */
export const FilterStatus = {
  /** On to the next filter (a filter stopped before resumes: what it held goes on first). */
  Continue: 'continue',
  /** Nothing more passes this filter until it calls continueDecoding() / continueEncoding(); held data pauses the sender. */
  StopIteration: 'stop_iteration',
  /** Data only: held here, the sender not paused, up to the stream's buffer limit (then 413 / 500). */
  StopAndBuffer: 'stop_and_buffer',
} as const;
export type FilterHeadersStatus = typeof FilterStatus.Continue | typeof FilterStatus.StopIteration;
export type FilterDataStatus = FilterHeadersStatus | typeof FilterStatus.StopAndBuffer;
export type FilterTrailersStatus = FilterHeadersStatus;

/** A body chunk on its way through the filters: a filter rewrites it by assigning `data`. */
export interface BodyData {
  data: Buffer;
}

/** Request or response trailers (lower-case names). */
export interface HeaderMap {
  get(name: string): string | undefined;
  set(name: string, value: string): void;
  add(name: string, value: string): void;
  remove(name: string): void;
}

/** Request headers as the upstream will see them (lower-case names). */
export interface RequestHeaders extends HeaderMap {
  readonly method: string;
  /** :path, query included, as the filters so far left it. */
  readonly path: string;
  /** Replaces :path (Envoy filters set it the same way): later filters, the router and the upstream see it. */
  setPath(path: string): void;
  readonly authority: string;
}

/** Response headers as the downstream will see them. */
export interface ResponseHeaders extends HeaderMap {
  readonly status: number;
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
  /** The connection itself: one object for all its requests (per-connection state is keyed on it); absent in test fakes. */
  readonly downstreamConnection?: object;
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

/** What the stream offers every filter, and the router. */
export interface StreamCallbacks {
  /**
   * Ends the request here with a locally generated response carrying an Envoy response flag; it goes
   * through the encoder filters (once: not again when an encoder filter itself answers). A gRPC client
   * gets HTTP 200 with `grpcStatus` (default: Envoy's mapping of `status`) unless `headers` has one.
   */
  sendLocalReply(status: number, body: string, flag?: ResponseFlagValue, headers?: string[], grpcStatus?: number): void;
  readonly route: CompiledRoute | undefined;
  readonly streamInfo: StreamInfo;
  readonly connection: ConnectionInfo;
  /** The request headers as the upstream will get them, flat [name, value, ...] (read-only). */
  readonly requestHeaderList: readonly string[];
  /** Envoy's dynamic metadata: what one filter tells the next (the JWT filter's result for RBAC). */
  readonly metadata: Record<string, unknown>;
}

/** One filter's handle on its stream (Envoy's StreamDecoderFilterCallbacks + StreamEncoderFilterCallbacks). */
export interface FilterCallbacks extends StreamCallbacks {
  /** Resumes the request after this filter's StopIteration / StopAndBuffer (no effect once the stream is over). */
  continueDecoding(): void;
  /** Resumes the response after this filter's StopIteration / StopAndBuffer (no effect once the stream is over). */
  continueEncoding(): void;
  /** The request body this filter holds (it stopped data), or undefined. */
  decodingBuffer(): Buffer | undefined;
  /** The response body this filter holds, or undefined. */
  encodingBuffer(): Buffer | undefined;
  /** Raises (or lowers) what the request's filters may buffer (Envoy's setDecoderBufferLimit: ext_authz's maxRequestBytes). */
  setDecoderBufferLimit(bytes: number): void;
  /** This filter's config for the route (its factory's parsePerRoute; route over virtual host), if any. */
  perRouteConfig<T>(): Readonly<T> | undefined;
}

/**
 * What the router, the terminal filter, drives on its stream (Envoy's StreamDecoderFilterCallbacks):
 * the request as the connection manager prepared it, the response toward the client, the stream's end.
 */
export interface RouterCallbacks extends StreamCallbacks {
  /** The request body as the filters pass it on, null when the request has none. */
  readonly requestBody: BodySource | null;
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
  /** The request's trace, when the connection manager traces with a provider (attempt spans start from it). */
  readonly trace: RequestTrace | undefined;
  /** Starts the response toward the client, through the encoder filters. */
  encodeHeaders(status: number, headers: string[]): void;
  /** A response body chunk; false: the client (or a filter holding data) is slow (the router hears onDownstreamDrain). */
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

/** The request side (Envoy's StreamDecoderFilter), in chain order. `endStream`: nothing follows. */
export interface StreamDecoderFilter {
  decodeHeaders?(headers: RequestHeaders, endStream: boolean): FilterHeadersStatus;
  decodeData?(data: BodyData, endStream: boolean): FilterDataStatus;
  decodeTrailers?(trailers: HeaderMap): FilterTrailersStatus;
}

/** The response side (Envoy's StreamEncoderFilter), in reverse chain order. */
export interface StreamEncoderFilter {
  encodeHeaders?(headers: ResponseHeaders, endStream: boolean): FilterHeadersStatus;
  encodeData?(data: BodyData, endStream: boolean): FilterDataStatus;
  encodeTrailers?(trailers: HeaderMap): FilterTrailersStatus;
}

/** A filter of the chain; a hook it lacks passes frames on (held while the filter is stopped). */
export interface HttpFilter extends StreamDecoderFilter, StreamEncoderFilter {
  /** The stream is over (completed, reset, or the client went away): stop timers and calls. */
  onDestroy?(): void;
}

export interface FactoryContext {
  readonly listenerName: string;
  /**
   * Where the filter sits in its listener, `<filter chain>/httpFilters[<i>]`: with the listener name,
   * a name for the filter's state that stays the same across workers and reloads (rate limit buckets).
   */
  readonly filterLocation?: string;
  /** An endpoint of a cluster of the current config (for filters that call a service: ext_authz). */
  pickHost(cluster: string): { address: string; port: number } | undefined;
  /** A cluster's stats (filters that count under the route's cluster: ext_authz). */
  clusterStats?(cluster: string): ClusterStats;
  /** This workload's certificate identity (SPIFFE id), when it has a mesh certificate. */
  readonly localPrincipal?: string;
  /** This proxy's service cluster (Envoy's local_info cluster name: rate limit source_cluster). */
  readonly localServiceCluster?: string;
  /** The worker's local rate limit counters, by stat prefix (`<prefix>.http_local_rate_limit.*`). */
  localRateLimitStats?(statPrefix: string): LocalRateLimitStats;
  /** The worker's token buckets (kept across Runtimes; the shared scope's live in memory all workers share). */
  readonly tokenBuckets?: TokenBucketStores;
}

export interface HttpFilterFactory<C = unknown, R = unknown> {
  /** The Envoy name, e.g. `envoy.filters.http.header_mutation`, so xDS maps 1:1. */
  readonly name: string;
  /** Validates raw config; throws ConfigError with a path to the bad field. */
  parse(raw: unknown): Readonly<C>;
  /**
   * Validates and compiles a route's or virtual host's typed_per_filter_config entry for this filter
   * (at load, once); throws ConfigError. `where` names the route or virtual host
   * (`<route config>/virtualHosts[i].routes[j]`), for a config with state of its own. Absent: the
   * filter takes no per-route config.
   */
  parsePerRoute?(raw: unknown, where?: string): Readonly<R>;
  create(cfg: Readonly<C>, ctx: FactoryContext): (stream: FilterCallbacks) => HttpFilter;
  /**
   * What the filter would do with a request, told without running it (`outrigger explain`): the
   * same compiled config and decisions as its per-request object, no state changed, nothing sent.
   * Absent: explain says the filter runs and cannot tell more.
   */
  explain?(cfg: Readonly<C>, stream: ExplainStream): FilterExplanation | Promise<FilterExplanation>;
}

/**
 * A request as `outrigger explain` shows it to a filter: the headers so far (a filter's edits apply
 * to what the next one sees), its connection, route and metadata, as a running stream has them.
 */
export interface ExplainStream {
  readonly request: RequestHeaders;
  readonly connection: ConnectionInfo;
  readonly streamInfo: StreamInfo;
  readonly route: CompiledRoute | undefined;
  /** Envoy's dynamic metadata, as one filter leaves it for the next (jwt_authn's result for rbac). */
  readonly metadata: Record<string, unknown>;
  /** The filter's config for the route, as perRouteConfig gives it to the running filter. */
  perRouteConfig<T>(): Readonly<T> | undefined;
}

/** A local reply a filter would send. */
export interface ExplainedReply {
  readonly status: number;
  /** Envoy's short response flag (FI, RL, ...), when the reply carries one. */
  readonly flag?: string;
  /** Envoy's %RESPONSE_CODE_DETAILS%. */
  readonly details?: string;
  /** Of matching requests, how many get it (fault and rate-limit percentages): 100 = every one. */
  readonly percent: number;
}

/** What one filter would do with the request. */
export interface FilterExplanation {
  /** What the filter read and decided, one line each. */
  readonly notes: readonly string[];
  /** It would answer the request itself (for `percent` % of such requests). */
  readonly reply?: ExplainedReply;
  /** The decision is another service's (ext_authz): explain cannot tell it. */
  readonly decidedElsewhere?: string;
}
