/**
 * The Snapshot: plain, structured-clone-safe configuration, shaped like Envoy's (listeners → route
 * configurations → virtual hosts → routes → clusters; endpoints apart, as EDS sends them). Istio
 * YAML is translated into it; xDS will decode into it. Deep-frozen once built (deepFreeze): nothing
 * writes to it afterwards, worker-side state (shared-table rows and the like) travels beside it.
 * Workers compile it into a Runtime.
 */
import type { RateLimitPolicy } from './envoy/local-ratelimit.js';
import type { NetworkFilterConfig } from './envoy/network-filters.js';

export type ProxyMode = 'sidecar' | 'gateway';

/** Who this proxy is: used to select Sidecar/Gateway resources and to resolve short host names. */
export interface NodeIdentity {
  id: string;
  mode: ProxyMode;
  namespace: string;
  serviceAccount: string;
  labels: Record<string, string>;
  ip: string;
  trustDomain: string;
  /** DNS suffix for short names: `reviews` → `reviews.<ns>.svc.<domainSuffix>`. */
  domainSuffix: string;
  /** Accept HTTP/1.0 requests (Istio: ISTIO_META_HTTP10=1); otherwise they get 426. */
  acceptHttp10: boolean;
  /** Workload name for telemetry (ISTIO_META_WORKLOAD_NAME). */
  workloadName?: string;
  /** Istio cluster id for telemetry (ISTIO_META_CLUSTER_ID, default Kubernetes). */
  clusterId: string;
  /** `region/zone/subzone` of this proxy, for locality load balancing ('' when unknown). */
  locality: string;
  /** The pod's annotations (ISTIO_METAJSON_ANNOTATIONS), when given: pilot-agent reads sidecar.istio.io/statsInclusion* there. */
  annotations?: Record<string, string>;
}

export interface Snapshot {
  version: string;
  node: NodeIdentity;
  listeners: Listener[];
  routeConfigs: RouteConfiguration[];
  /** Envoy's CDS resources: how to reach a cluster, without its hosts. */
  clusters: Cluster[];
  /**
   * Envoy's EDS resources: the hosts of each cluster, by clusterName. A cluster with none (ORIGINAL_DST,
   * a service without endpoints) has no hosts. A change here alone updates the cluster's host set in
   * place: unchanged hosts keep their connections, load-balancer and outlier state.
   */
  endpoints: ClusterLoadAssignment[];
  /** Each cluster's and each assignment's version (config/resource-versions.ts). */
  resourceVersions: ResourceVersions;
  /**
   * Envoy's SDS secrets, which the TLS contexts of listeners and clusters name (config/secret-names.ts):
   * `default` and `ROOTCA` (the workload certificate and mesh roots, --cert-dir), `kubernetes://<name>`
   * and `kubernetes://<name>-cacert` (credentialName, --credential-dir), `file-cert:<cert>~<key>` and
   * `file-root:<ca>` (files a Gateway or DestinationRule names). A Snapshot whose only change is a
   * secret (a rotation) rebuilds the TLS contexts that name it and nothing else.
   */
  secrets: Secret[];
  /**
   * Envoy's bootstrap stats_config.stats_matcher: which stats exist, by full name. Absent: all of
   * them (Envoy's default). The Istio front end sets pilot-agent's inclusion list.
   */
  statsMatcher?: StatsMatcherConfig;
}

/**
 * Envoy's StatsMatcher (config.metrics.v3.StatsMatcher): reject every stat, keep only those a
 * pattern matches, or keep all but those. Patterns see a stat's whole dotted name before tag
 * extraction: `cluster.outbound|9080||reviews.default.svc.cluster.local.upstream_rq_total`.
 */
export type StatsMatcherConfig = { rejectAll: true } | { inclusionList: StringMatch[] } | { exclusionList: StringMatch[] };

/**
 * The version of each resource by name, as delta xDS gives each resource its own: here kept from
 * the previous Snapshot while the resource is unchanged, new otherwise (config/resource-versions.ts),
 * worked out once when the Snapshot is built. A worker compares versions, not contents, to tell
 * which clusters changed and which only changed their endpoints.
 */
export interface ResourceVersions {
  clusters: Record<string, string>;
  endpoints: Record<string, string>;
  secrets: Record<string, string>;
}

/**
 * Envoy's Secret (extensions.transport_sockets.tls.v3.Secret) as SDS sends it: a certificate and
 * its key, or the CAs that validate peers. PEM text inline (Envoy's DataSource inline_string).
 */
export type Secret = TlsCertificateSecret | ValidationContextSecret;

export interface TlsCertificateSecret {
  name: string;
  /** The leaf first, then intermediates. */
  tlsCertificate: { certificateChain: string; privateKey: string };
}

export interface ValidationContextSecret {
  name: string;
  validationContext: { trustedCa: string };
}

export type TrafficDirection = 'OUTBOUND' | 'INBOUND' | 'GATEWAY';

export interface Listener {
  /** Istio-style name: `0.0.0.0_8080`, `virtualOutbound`, `virtualInbound`. */
  name: string;
  address: string;
  port: number;
  direction: TrafficDirection;
  /**
   * Envoy use_original_dst: connections arrive through iptables REDIRECT, and their original
   * destination (SO_ORIGINAL_DST) is what the filter chains match on. Without it, the listener's
   * own address is the destination.
   */
  useOriginalDst?: boolean;
  /**
   * Envoy's use_original_dst hand-off (istiod's virtualOutbound): a connection whose restored
   * original destination is another listener's address (exact IP:port first, then 0.0.0.0:port or
   * [::]:port) is handed to that listener, which matches its own filter chains; with no such
   * listener it stays here. Without it, useOriginalDst only restores the destination (virtualInbound).
   */
  handOffRestoredDestination?: boolean;
  /**
   * Envoy's bind_to_port: false for a listener that never listens itself and only receives
   * connections handed off from a use_original_dst listener (istiod's `0.0.0.0_9080`,
   * `10.0.0.5_443`). Absent: the listener binds its address.
   */
  bindToPort?: false;
  /**
   * Envoy's tls_inspector and http_inspector listener filters: which of them read a connection's
   * first bytes (each off on its disabled destination ports). A listener without tls_inspector sees
   * every connection as raw_buffer with no SNI or ALPN; without http_inspector, no HTTP protocol.
   * Absent: both on every port (the Istio front end's listeners).
   */
  inspectors?: ListenerInspectors;
  /**
   * Envoy listener_filters_timeout for protocol detection (tls_inspector, http_inspector; Istio's
   * meshConfig.protocolDetectionTimeout): how long to wait for the client's first bytes when a
   * filter chain needs them. 0 waits as long as the client takes (Istio's default).
   */
  protocolDetectionTimeoutMs?: number;
  /**
   * Envoy's continue_on_listener_filters_timeout: false closes a connection whose first bytes did
   * not come within protocolDetectionTimeoutMs (downstream_pre_cx_timeout). Absent: it goes on as
   * raw TCP (what istiod asks for on every listener that inspects).
   */
  continueOnListenerFiltersTimeout?: false;
  /** Envoy picks the most specific chain: destination port, then IP, SNI, transport, application protocol. */
  filterChains: FilterChain[];
  /** Where a connection no chain matches goes; absent, it is closed (stat no_filter_chain_match). */
  defaultFilterChain?: FilterChain;
}

/** The listener filters that read a connection's first bytes; one absent is not run. */
export interface ListenerInspectors {
  tls?: ListenerFilterScope;
  http?: ListenerFilterScope;
}

/** Where a listener filter runs: every destination port but its filter_disabled ones. */
export interface ListenerFilterScope {
  disabledPorts?: PortRange[];
}

/** Envoy's Int32Range of ports: start inclusive, end exclusive. */
export interface PortRange {
  start: number;
  end: number;
}

/** Envoy filter_chain_match. An unset field matches anything, but a chain that sets it and matches wins. */
export interface FilterChainMatch {
  destinationPort?: number;
  /** The destination IP is in one of these CIDRs (Envoy prefix_ranges); the longest prefix wins. */
  prefixRanges?: string[];
  /** TLS SNI: exact names or `*.suffix` wildcards (Envoy server_names). */
  serverNames?: string[];
  /** `tls` (a ClientHello was seen) or `raw_buffer`. */
  transportProtocol?: 'tls' | 'raw_buffer';
  /** ALPN from the ClientHello, or what the HTTP inspector saw: `http/1.0`, `http/1.1`, `h2c`. */
  applicationProtocols?: string[];
}

/**
 * Envoy's filter chain: a transport socket (TLS terminated, or raw) and its network filters in
 * order (network RBAC, ext_authz, ...), ending in exactly one terminal filter: the HTTP connection
 * manager or the TCP proxy (config/envoy/network-filters.ts).
 */
export interface FilterChain {
  /** Unique in its listener, e.g. `0.0.0.0_9080`, `PassthroughFilterChain`. */
  name: string;
  match: FilterChainMatch;
  /** Envoy's transport_socket with its DownstreamTlsContext: TLS is terminated before the filters. */
  transportSocket?: DownstreamTransportSocket;
  /** Envoy's filters: name and typed config, the terminal one last. */
  filters: NetworkFilterConfig[];
}

/**
 * Envoy's DownstreamTlsContext: TLS terminated with the certificate of its SDS secret; with a
 * validation context, client certificates are asked for and checked (required or not).
 */
export interface DownstreamTlsContext {
  commonTlsContext: CommonTlsContext;
  /** Envoy's require_client_certificate: a client without a valid certificate fails the handshake. */
  requireClientCertificate?: boolean;
}

/** Envoy's TlsParameters protocol versions. */
export type TlsProtocolVersion = 'TLS_AUTO' | 'TLSv1_0' | 'TLSv1_1' | 'TLSv1_2' | 'TLSv1_3';

/** Envoy's SdsSecretConfig: a secret by name, from Snapshot.secrets (config/secret-names.ts spells istiod's names). */
export interface SdsSecretConfig {
  name: string;
  /**
   * Envoy's sds_config: who serves the secret. Istio's front end leaves it out (its secrets come
   * from files); xDS says ADS (gateway credentials, `kubernetes://<name>`) or a gRPC SDS cluster
   * (pilot-agent's `sds-grpc`: `default`, `ROOTCA`, `file-cert:`, `file-root:`). Absent over xDS:
   * a static secret of the bootstrap.
   */
  sdsConfig?: SdsConfigSource;
}

/** Where an SDS secret is fetched: on the ADS stream, or from the SDS server behind a (static) cluster. */
export type SdsConfigSource = { ads: true } | { grpcCluster: string };

/** Envoy's TlsParameters: protocol versions, and the TLS 1.2 cipher suites and key-exchange groups allowed (OpenSSL names). */
export interface TlsParameters {
  tlsMinimumProtocolVersion?: TlsProtocolVersion;
  tlsMaximumProtocolVersion?: TlsProtocolVersion;
  /** TLS 1.0-1.2 cipher suites in preference order (TLS 1.3 suites are not configurable, as in Envoy). Absent: the defaults. */
  cipherSuites?: string[];
  /** ECDH groups in preference order (`X25519`, `P-256`, ...). Absent: the defaults. */
  ecdhCurves?: string[];
}

/** Envoy's SubjectAltNameMatcher: a SAN of this type matching the StringMatcher. */
export interface SubjectAltNameMatcher {
  sanType: 'DNS' | 'URI' | 'EMAIL' | 'IP_ADDRESS';
  matcher: StringMatch;
}

/**
 * Envoy's CertificateValidationContext, the parts istiod sets: which peer identities are accepted
 * (any one SAN matching one matcher; none listed: any certificate the CA signed), and for a client
 * that names no CA, the system roots.
 */
export interface CertificateValidationContext {
  /** Envoy's match_subject_alt_names: URI, DNS, email or IP SANs matched alike (istiod's mesh contexts). */
  matchSubjectAltNames?: StringMatch[];
  /** Envoy's match_typed_subject_alt_names: each matcher for SANs of its type. */
  matchTypedSubjectAltNames?: SubjectAltNameMatcher[];
  /** Envoy's system_root_certs: trust the system's CAs (a DestinationRule SIMPLE without caCertificates). */
  systemRootCerts?: Record<string, never>;
}

/** Envoy's CommonTlsContext: the certificate presented and how the peer is validated, by SDS secret name. */
export interface CommonTlsContext {
  tlsParams?: TlsParameters;
  /**
   * ALPN offered (client) or accepted in preference order (server). `istio-peer-exchange` is never
   * offered nor selected by the data plane: Outrigger does not speak Istio's metadata-exchange preamble.
   */
  alpnProtocols?: string[];
  /** The certificate and key this side presents (istiod sets one). */
  tlsCertificateSdsSecretConfigs?: SdsSecretConfig[];
  /** Peer validation with the CAs of a secret: `ROOTCA`, `kubernetes://<name>-cacert`, `file-root:<path>`. */
  combinedValidationContext?: { defaultValidationContext: CertificateValidationContext; validationContextSdsSecretConfig: SdsSecretConfig };
  /** Peer validation without a CA secret (system roots). Neither this nor the combined one: the peer is not verified. */
  validationContext?: CertificateValidationContext;
}

/** Envoy's UpstreamTlsContext: TLS originated to an upstream. */
export interface UpstreamTlsContext {
  commonTlsContext: CommonTlsContext;
  /** SNI sent; absent: none, unless the cluster sets auto_sni (not modelled: the endpoint address is sent, as before). */
  sni?: string;
}

/** Envoy's downstream transport_socket: TLS terminated with its DownstreamTlsContext. */
export interface DownstreamTransportSocket {
  name: 'envoy.transport_sockets.tls';
  typedConfig: DownstreamTlsContext;
}

/** Envoy's upstream transport_socket: TLS with its UpstreamTlsContext, or plaintext. */
export type UpstreamTransportSocket =
  | { name: 'envoy.transport_sockets.tls'; typedConfig: UpstreamTlsContext }
  | { name: 'envoy.transport_sockets.raw_buffer' };

/**
 * Envoy's TransportSocketMatch: endpoints whose `envoy.transport_socket_match` metadata holds every
 * key/value of `match` use this transport socket; the first match wins; `{}` matches all.
 */
export interface TransportSocketMatch {
  name: string;
  match: Record<string, string>;
  transportSocket: UpstreamTransportSocket;
}

/** Envoy's tcp_proxy network filter. */
export interface TcpProxy {
  statPrefix: string;
  /** Weighted clusters (one entry for a single cluster), as a VirtualService tcp/tls route sets them. */
  clusters: { name: string; weight: number }[];
  /** Close a connection with no bytes either way for this long (Envoy default 1h); 0 disables. */
  idleTimeoutMs: number;
  /** Envoy's tcp_proxy access_log: one entry per connection, when it closes. Absent: none. */
  accessLog?: AccessLog[];
  /** Istio's istio_tcp_* metrics of this listener class. Absent: all, with Istio's standard labels. */
  istioStats?: IstioStats;
}

/**
 * Istio's stats filter config (istio.stats PluginConfig, as istiod builds it from the Telemetry
 * API's metrics): which istio_* metrics a connection manager or TCP proxy reports, with which labels.
 */
export interface IstioStats {
  /** ALL_METRICS disabled for this listener class: no istio_* metric at all. */
  disabled?: boolean;
  /** Overrides by metric, in Istio's Prometheus names without the `istio_` prefix (requests_total, request_duration_milliseconds, request_bytes, response_bytes, tcp_*). */
  metrics: IstioMetricOverride[];
}

export interface IstioMetricOverride {
  name: string;
  /** The metric is not reported. */
  drop: boolean;
  /** Labels added or replaced: name → CEL expression over Envoy's attributes ("unknown" when it fails). */
  dimensions: Record<string, string>;
  /** Standard labels left out. */
  tagsToRemove: string[];
}

/**
 * Envoy's AccessLog (HCM and tcp_proxy access_log) with the file logger (envoy.access_loggers.file,
 * stdout, stderr) or the OpenTelemetry one: each finished request (or TCP connection) the filter
 * lets through is formatted and appended to a file, or sent to a collector.
 */
export type AccessLog = FileAccessLog | OpenTelemetryAccessLog;

export interface FileAccessLog {
  /** The file lines are appended to; /dev/stdout and /dev/stderr are the proxy's own outputs. */
  path: string;
  /** Envoy's log_format (SubstitutionFormatString). Absent: Envoy's default text format. */
  format?: AccessLogFormat;
  /** Absent: every entry is logged. */
  filter?: AccessLogFilter;
}

/**
 * Envoy's OpenTelemetry access logger (envoy.access_loggers.open_telemetry; Istio's envoyOtelAls):
 * each entry an OTLP LogRecord, sent in batches over gRPC (LogsService/Export) to a collector's
 * cluster, as the tracers' reports are.
 */
export interface OpenTelemetryAccessLog {
  openTelemetry: {
    collector: TracingCollector;
    /** common_config.log_name. */
    logName: string;
    /** The record's body: a text format (command operators). */
    body: string;
    /** The record's attributes: name → text format. */
    attributes: Record<string, string>;
  };
  filter?: AccessLogFilter;
}

/**
 * Envoy's SubstitutionFormatString: `text` is a format string with command operators
 * (`%RESPONSE_CODE%`, `%REQ(:PATH)%`, ...); `json` is an object whose string values are format
 * strings (nested objects allowed), one JSON object per line. omitEmptyValues: operators with no
 * value print nothing (text) or are left out (json) rather than `-` / null.
 */
export type AccessLogFormat = ({ text: string } | { json: Record<string, unknown> }) & { omitEmptyValues?: boolean };

/** A comparison of Envoy's ComparisonFilter. */
export interface AccessLogComparison {
  op: 'EQ' | 'GE' | 'LE' | 'NE';
  value: number;
}

/** Envoy's AccessLogFilter. */
export type AccessLogFilter =
  | { statusCode: AccessLogComparison }
  /** The request's duration in milliseconds. */
  | { duration: AccessLogComparison }
  | { notHealthCheck: true }
  /** Requests whose tracing was forced (x-envoy-force-trace), as Envoy's traceable filter. */
  | { traceable: true }
  /** Entries carrying one of these response flags (short names, e.g. UH); empty: any flag. */
  | { responseFlags: string[] }
  | { header: HeaderMatcher }
  /** gRPC statuses by number; exclude: all but these. */
  | { grpcStatus: { statuses: number[]; exclude: boolean } }
  | { and: AccessLogFilter[] }
  | { or: AccessLogFilter[] }
  /** A CEL expression over Envoy's attributes (envoy.access_loggers.extension_filters.cel; Istio's Telemetry filter.expression). */
  | { cel: string };

export interface HttpConnectionManager {
  statPrefix: string;
  routeConfigName: string;
  /**
   * Envoy's use_remote_address (Istio: gateways): the connection peer is appended to
   * x-forwarded-for, x-forwarded-proto is overwritten, x-envoy-external-address is set.
   */
  useRemoteAddress: boolean;
  /**
   * Envoy's xff_num_trusted_hops (Istio: a gateway's ProxyConfig gatewayTopology.numTrustedProxies):
   * the proxies in front of this one trusted to have appended to x-forwarded-for, which places the
   * trusted client address (RBAC remote_ip, x-envoy-external-address) in it. Absent: 0.
   */
  xffNumTrustedHops?: number;
  /** Strip x-envoy-* headers sent by the downstream (Envoy does for requests from outside the trust boundary). */
  stripEnvoyHeaders: boolean;
  /** Envoy's max_request_headers_kb (default 60). Larger requests get 431. */
  maxRequestHeadersKb: number;
  /** Idle timeout of downstream connections (Envoy's common_http_protocol_options.idle_timeout, default 1h). */
  idleTimeoutMs: number;
  /**
   * Envoy's stream_idle_timeout: a stream with no bytes or headers moving either way for this long
   * ends (408, or 504 once the whole request arrived; reset after the response started; flag SI).
   * Absent: Envoy's default, 5 min; 0: off (istiod sets 0 on every connection manager).
   */
  streamIdleTimeoutMs?: number;
  /** Envoy's request_timeout: the whole request must arrive within this (408). Absent or 0: off. */
  requestTimeoutMs?: number;
  /**
   * Envoy's request_headers_timeout: the request head must arrive within this from its first byte
   * (HTTP/1.1: 408 and the connection closed). Absent or 0: off, and the HTTP/1.1 codec keeps its
   * own 60 s limit on a head.
   */
  requestHeadersTimeoutMs?: number;
  /** Envoy's common_http_protocol_options.max_stream_duration: a stream ends after this (408/504 or reset). Absent or 0: off. */
  maxStreamDurationMs?: number;
  /** Envoy's http_protocol_options.accept_http_10: false answers HTTP/1.0 with 426. */
  acceptHttp10: boolean;
  /** HTTP filters in order; the router is implicit and always last. */
  httpFilters: HttpFilterConfig[];
  /**
   * Envoy's forward_client_cert_details (x-forwarded-client-cert), with Istio's
   * set_current_client_cert_details (subject, URI, DNS): SANITIZE drops a client-sent header,
   * FORWARD_ONLY keeps it, APPEND_FORWARD (sidecar inbound) keeps it and appends this mTLS peer,
   * SANITIZE_SET (gateways) replaces it with this peer. Without mTLS these all drop it;
   * ALWAYS_FORWARD_ONLY keeps it whatever the connection. Absent: SANITIZE.
   */
  forwardClientCertDetails?: 'SANITIZE' | 'FORWARD_ONLY' | 'APPEND_FORWARD' | 'SANITIZE_SET' | 'ALWAYS_FORWARD_ONLY';
  /**
   * Istio's meshConfig.pathNormalization: the request path is normalized before authorization and
   * routing, and the upstream gets the normalized path. Absent: untouched.
   */
  pathNormalization?: 'NONE' | 'BASE' | 'MERGE_SLASHES' | 'DECODE_AND_MERGE_SLASHES';
  /**
   * Envoy's upgrade_configs: the Upgrade types (lower case) tunnelled after a 101; Istio enables
   * `websocket`. Absent: `websocket`. Another type is refused (403), except h2c, which is declined.
   */
  upgradeTypes?: string[];
  /**
   * Envoy's HttpConnectionManager.tracing: each request gets a tracing decision (x-request-id
   * marked as Envoy's UUID extension marks it) and, with a provider, a span per request exported to
   * its collector. Absent: no tracing at all (Istio with enableTracing false).
   */
  tracing?: HcmTracing;
  /** Envoy's access_log: one entry per finished request. Absent: none. */
  accessLog?: AccessLog[];
  /** Istio's istio_request* metrics of this listener class. Absent: all, with Istio's standard labels. */
  istioStats?: IstioStats;
}

/**
 * Envoy's HttpConnectionManager.Tracing. The operation is the listener's direction: OUTBOUND
 * listeners (sidecar outbound, gateways) trace as egress, the others as ingress.
 */
export interface HcmTracing {
  /** Where spans go. Absent: decisions are made and propagated but no span is made (istiod without a provider). */
  provider?: TracingProvider;
  /** Of requests no one forced: the share traced (Envoy random_sampling, default 100). */
  randomSamplingPercent: number;
  /** Of requests with x-client-trace-id: the share traced (client_sampling, default 100). */
  clientSamplingPercent: number;
  /** Of all requests traced by the above: the share kept (overall_sampling, default 100). */
  overallSamplingPercent: number;
  customTags: TracingCustomTag[];
  /** http.url tag: the path cut at this length (max_path_tag_length, default 256). */
  maxPathTagLength: number;
  /** One client span per upstream attempt under the request's span (spawn_upstream_span; istiod: gateways). */
  spawnUpstreamSpan: boolean;
  /** Random sampling decided by x-request-id's hash (the UUID extension's use_request_id_for_trace_sampling, default true). */
  useRequestIdForTraceSampling: boolean;
  /** No trace context is written into upstream requests (Istio's Telemetry disableContextPropagation); spans are still reported. */
  disableContextPropagation?: boolean;
}

/** A span tag from the config: a literal, an environment variable of the proxy, or a request header. */
export type TracingCustomTag = { tag: string } & (
  | { literal: string }
  | { environment: { name: string; defaultValue?: string } }
  | { requestHeader: { name: string; defaultValue?: string } }
  /** Envoy metadata of the request (dynamic metadata: filter name, then keys); Istio's RBAC dry-run tags. */
  | { requestMetadata: { filter: string; path: string[]; defaultValue?: string } }
  /** A substitution format (command operators) over the finished request (Istio's formatter tags). */
  | { formatter: string }
);

/** A collector reached through a cluster of this Snapshot (Envoy's HttpService / GrpcService envoy_grpc). */
export interface TracingCollector {
  cluster: string;
  /** :authority / Host of the export requests. */
  authority: string;
  /** HTTP: the path spans are POSTed to (OTLP /v1/traces, Zipkin /api/v2/spans). */
  path?: string;
  timeoutMs: number;
  /** Request headers (HTTP) or initial metadata (gRPC) of every export. */
  headers: [string, string][];
}

export type TracingProvider =
  | {
      kind: 'opentelemetry';
      /** service.name of the spans' resource (istiod: the proxy's service cluster, app.namespace). */
      serviceName: string;
      /** OTLP over gRPC (TraceService/Export) or over HTTP (protobuf POST to path). */
      transport: 'grpc' | 'http';
      collector: TracingCollector;
      /** Resource attributes from OTEL_RESOURCE_ATTRIBUTES (Envoy's environment resource detector). */
      environmentResource?: boolean;
    }
  | {
      kind: 'zipkin';
      serviceName: string;
      /** Zipkin v2 JSON POSTed to collector.path (default /api/v2/spans). */
      collector: TracingCollector;
      /** 128-bit trace ids for new traces (Istio's default; enable64bitTraceId turns it off). */
      traceId128Bit: boolean;
      /** Zipkin's shared span context (a server span reuses its client's span id); istiod sets false. */
      sharedSpanContext: boolean;
      /** USE_B3 (B3 only), or B3 plus W3C traceparent both read and written. */
      traceContextOption: 'USE_B3' | 'USE_B3_WITH_W3C_PROPAGATION';
    };

/** Connection manager timeouts set on the command line (milliseconds, 0: off); absent ones keep the config's. */
export type HttpTimeoutOverrides = Partial<Pick<HttpConnectionManager, 'streamIdleTimeoutMs' | 'requestTimeoutMs' | 'requestHeadersTimeoutMs' | 'maxStreamDurationMs'>>;

export interface HttpFilterConfig {
  /**
   * Envoy filter name, e.g. `envoy.filters.http.header_mutation`, and that filter's typed config
   * (config/envoy/: JwtAuthentication for jwt_authn, RbacFilterConfig for rbac, HttpExtAuthz for ext_authz).
   */
  name: string;
  config: unknown;
}

export interface RouteConfiguration {
  /** `80`, `http.8080`, `inbound|9080||` — as Istio names them. */
  name: string;
  virtualHosts: VirtualHost[];
  /** Envoy's ignore_port_in_host_matching (istiod sets it on gateways): `host:port` finds the virtual host of `host`. */
  ignorePortInHostMatching?: boolean;
}

export interface VirtualHost {
  name: string;
  /** Envoy domains: exact host (optionally with `:port`), `*.suffix`, `prefix*`, or `*`. */
  domains: string[];
  routes: Route[];
  /** Envoy's typed_per_filter_config for every route of the host (a route's own entry wins). */
  typedPerFilterConfig?: Record<string, unknown>;
  /** Envoy's virtual host rate_limits: descriptors for the rate limit filters (after the route's own). */
  rateLimits?: RateLimitPolicy[];
}

/** Envoy's StringMatcher: regexes (RE2) must match the whole value. */
export type StringMatch =
  | { exact: string; ignoreCase?: boolean }
  | { prefix: string; ignoreCase?: boolean }
  | { suffix: string; ignoreCase?: boolean }
  | { contains: string; ignoreCase?: boolean }
  | { regex: string };

export interface HeaderMatcher {
  /** Lower-case header name; pseudo-headers `:authority`, `:method`, `:scheme`, `:path` allowed. */
  name: string;
  /** Absent: a presence match. */
  match?: StringMatch;
  /** Match when the header does NOT match (Istio withoutHeaders). */
  invert: boolean;
}

export interface QueryParamMatcher {
  name: string;
  /** Absent: a presence match. */
  match?: StringMatch;
}

export interface RouteMatch {
  /** exact/regex compare the path without query; prefix compares the whole :path, as Envoy does. */
  path: StringMatch;
  headers: HeaderMatcher[];
  queryParams: QueryParamMatcher[];
}

/** Envoy header_value_option: set overwrites, add appends. */
export interface HeaderMutation {
  set: [string, string][];
  add: [string, string][];
  remove: string[];
}

export interface WeightedCluster {
  name: string;
  weight: number;
  requestHeaders?: HeaderMutation;
  responseHeaders?: HeaderMutation;
}

export interface RouteAction {
  kind: 'route';
  clusters: WeightedCluster[];
  /** Replace the matched prefix (or exact path) with this. */
  prefixRewrite?: string;
  regexRewrite?: { pattern: string; substitution: string };
  hostRewrite?: string;
  /** 0 or absent: no route timeout (Istio's default). */
  timeoutMs?: number;
  retryPolicy?: RetryPolicy;
  /** Envoy request_mirror_policies: a copy to each cluster, for `percent` (0-100) of requests. */
  mirrors?: { cluster: string; percent: number }[];
  /** Envoy hash_policy for RING_HASH / MAGLEV clusters (Istio: from the DestinationRule's consistentHash). */
  hashPolicy?: HashPolicy;
  /** Envoy RouteAction.upgrade_configs: an Upgrade type enabled (or disabled) on this route, over the connection manager's. */
  upgrades?: Record<string, boolean>;
  /** Envoy's route rate_limits: the descriptors rate limit filters read (the virtual host's follow). */
  rateLimits?: RateLimitPolicy[];
}

/** What a consistent-hash load balancer hashes. */
export type HashPolicy =
  | { header: string }
  | { cookie: { name: string; path?: string; ttlMs?: number } }
  | { sourceIp: true }
  | { queryParameter: string };

/** Envoy's route retry policy, as Istio fills it in. */
export interface RetryPolicy {
  numRetries: number;
  /** 0 or absent: no per-try timeout. */
  perTryTimeoutMs?: number;
  /** Envoy retry_on conditions: 5xx, gateway-error, reset, connect-failure, retriable-4xx, refused-stream,
   * retriable-status-codes, retriable-headers, envoy-ratelimited; gRPC: cancelled, deadline-exceeded,
   * internal, resource-exhausted, unavailable. */
  retryOn: string[];
  retriableStatusCodes: number[];
  /** retry_host_predicate previous_hosts: a retry avoids hosts already tried. */
  retryPreviousHosts: boolean;
  hostSelectionRetryMaxAttempts: number;
  /** retry_priority previous_priorities (Istio retryRemoteLocalities): a retry prefers another locality. */
  retryOtherPriorities?: boolean;
  backoffBaseMs: number;
  backoffMaxMs: number;
}

/** Envoy's fault filter per-route config (Istio HTTPFaultInjection). Percentages are 0-100. */
export interface FaultConfig {
  delay?: { fixedDelayMs: number; percent: number };
  abort?: { httpStatus?: number; grpcStatus?: number; percent: number };
}

/**
 * Envoy's CorsPolicy (the cors filter's per-route config; Istio's VirtualService corsPolicy). The
 * Access-Control-* values are sent as given.
 */
export interface CorsPolicy {
  /** Origins allowed: a matcher that matches the Origin (or `*`) allows it; the answer names the request's origin. */
  allowOrigins: StringMatch[];
  allowMethods?: string;
  allowHeaders?: string;
  exposeHeaders?: string;
  maxAge?: string;
  allowCredentials?: boolean;
  /** A preflight from an origin not allowed goes upstream (Envoy's default), else it is answered 200 without CORS headers. */
  forwardNotMatchingPreflights: boolean;
}

export interface RedirectAction {
  kind: 'redirect';
  scheme?: string;
  host?: string;
  port?: number;
  /** Keep the request's port in the Location (Istio derivePort FROM_REQUEST_PORT). */
  portFromRequest?: boolean;
  path?: string;
  responseCode: number;
}

export interface DirectResponseAction {
  kind: 'direct_response';
  status: number;
  body?: string;
}

export interface Route {
  /** Istio route name (VirtualService http[].name), or `default`. */
  name: string;
  match: RouteMatch;
  action: RouteAction | RedirectAction | DirectResponseAction;
  requestHeaders?: HeaderMutation;
  responseHeaders?: HeaderMutation;
  /** Envoy's typed_per_filter_config: filter name → that filter's route-level config (raw; the route table compiles it). */
  typedPerFilterConfig?: Record<string, unknown>;
  /**
   * Which VirtualService produced the route: istiod's metadata path
   * (`/apis/networking.istio.io/v1/namespaces/<ns>/virtual-service/<name>`, config/envoy/istio-config-path.ts),
   * for config_dump, proxy-config and explain.
   */
  source?: string;
  /**
   * Envoy's route decorator: the span's operation name (istiod: `host:port/path*`); an egress span
   * also sends it upstream in x-envoy-decorator-operation when `propagate` is not false, and the
   * ingress span there takes that name.
   */
  decorator?: { operation: string; propagate?: boolean };
}

export type LbPolicy = 'ROUND_ROBIN' | 'LEAST_REQUEST' | 'RANDOM' | 'CLUSTER_PROVIDED' | 'RING_HASH' | 'MAGLEV';
/**
 * Envoy's cluster types. STATIC and EDS clusters take their hosts from Snapshot.endpoints alike (EDS:
 * as the control plane sends them); STRICT_DNS and LOGICAL_DNS hosts may be DNS names, resolved when
 * a connection is made (LOGICAL_DNS: to the first address, as Envoy); ORIGINAL_DST connects where
 * the client was going.
 */
export type DiscoveryType = 'STATIC' | 'STRICT_DNS' | 'LOGICAL_DNS' | 'EDS' | 'ORIGINAL_DST';

export interface Cluster {
  /** `outbound|9080|v1|reviews.default.svc.cluster.local`, `inbound|9080||`. */
  name: string;
  type: DiscoveryType;
  lbPolicy: LbPolicy;
  connectTimeoutMs: number;
  /** Upstream connection idle timeout (DestinationRule connectionPool.http.idleTimeout). */
  idleTimeoutMs: number;
  /** Envoy circuit breakers (default priority), per cluster across all workers; absent: unlimited. */
  circuitBreakers?: CircuitBreakers;
  /** Close an upstream connection after this many requests (DestinationRule maxRequestsPerConnection). */
  maxRequestsPerConnection?: number;
  outlierDetection?: OutlierDetection;
  /** Envoy healthy_panic_threshold (Istio minHealthPercent, default 0: no panic routing). */
  panicThresholdPercent?: number;
  /** Envoy slow_start_config (Istio warmup): new hosts ramp up their weight over the window. */
  slowStart?: { windowMs: number; aggression: number; minWeightPercent: number };
  /** RING_HASH minimum_ring_size / MAGLEV table_size. */
  hashTableSize?: number;
  /**
   * The hash policy the DestinationRule gave this cluster. Translation copies it onto the routes
   * that send here (Envoy keeps hash_policy on the route); kept here for config_dump.
   */
  hashPolicy?: HashPolicy;
  /**
   * Envoy upstream_bind_config (source_address + extra_source_addresses): connect from the address
   * of the destination's family. Istio's inbound clusters use 127.0.0.6 and ::6, which iptables
   * lets through, so the proxy's connection to its own workload is not captured again.
   */
  upstreamBindAddresses?: string[];
  /** Envoy's transport_socket: TLS to the upstream (DestinationRule trafficPolicy.tls); absent: plaintext. */
  transportSocket?: UpstreamTransportSocket;
  /**
   * Envoy http2_protocol_options: requests go upstream over HTTP/2 (ports of protocol GRPC,
   * GRPC-WEB, HTTP2, or DestinationRule h2UpgradePolicy UPGRADE); absent: HTTP/1.1.
   */
  http2?: { maxConcurrentStreams?: number };
  /** DestinationRule useClientProtocol: the upstream protocol follows the client's (HTTP/1.1 or HTTP/2). */
  useClientProtocol?: boolean;
  /**
   * Envoy's transport_socket_matches, over transportSocket: picked per endpoint by its metadata.
   * istiod's auto mTLS (no DestinationRule tls): `tlsMode-istio` (endpoints with a sidecar) gets mesh
   * mTLS, `tlsMode-disabled` plaintext.
   */
  transportSocketMatches?: TransportSocketMatch[];
  /** Istio service metadata, for stats and config_dump. */
  service?: { host: string; namespace: string; port: number; subset?: string };
  /** The DestinationRule that shaped the cluster, as istiod's metadata path (Route.source's form), for config_dump and proxy-config. */
  source?: string;
  /**
   * Envoy's upstream_http_protocol_options.auto_san_validation (istiod: a DestinationRule SIMPLE or
   * MUTUAL with neither sni nor subjectAltNames): the upstream certificate must be valid for the SNI
   * sent, instead of the context's SAN matchers. The SNI is the context's, else the endpoint's
   * address (Envoy's auto_sni takes the request's Host; for a DNS cluster's name they agree, and
   * where they do not the check is against the name connected to: it fails closed).
   */
  autoSanValidation?: boolean;
  /**
   * Envoy's original_dst_lb_config.upstream_port_override (istiod: a headless service whose target
   * port differs from its port): an ORIGINAL_DST cluster connects to the original address on this port.
   */
  originalDstPortOverride?: number;
  /** Envoy's dns_lookup_family for DNS names (STRICT_DNS, LOGICAL_DNS): V4_ONLY, V6_ONLY; absent: either (AUTO, V4_PREFERRED, ALL). */
  dnsLookupFamily?: 'V4_ONLY' | 'V6_ONLY';
}

/** Envoy outlier detection as Istio sets it; counts of 0 disable that detector. */
export interface OutlierDetection {
  consecutive5xx: number;
  consecutiveGatewayFailure: number;
  consecutiveLocalOriginFailure: number;
  /** Local-origin failures (connect failure, reset, timeout) counted apart from 5xx responses. */
  splitExternalLocalOriginErrors: boolean;
  intervalMs: number;
  baseEjectionTimeMs: number;
  maxEjectionPercent: number;
}

export interface CircuitBreakers {
  maxConnections: number;
  maxPendingRequests: number;
  maxRequests: number;
  maxRetries: number;
}

/** Envoy's ClusterLoadAssignment (the EDS resource): a cluster's hosts, grouped by locality and priority. */
export interface ClusterLoadAssignment {
  clusterName: string;
  endpoints: LocalityLbEndpoints[];
  /**
   * Envoy's policy.overprovisioning_factor as a percentage: a priority takes min(100, this × its
   * healthy share) of the traffic before the next priority gets the rest. Absent: Envoy's 140.
   */
  overprovisioningFactor?: number;
}

/** Envoy's Locality; '' where unknown. */
export interface Locality {
  region: string;
  zone: string;
  subZone: string;
}

/** Envoy's LocalityLbEndpoints: the hosts of one locality at one priority. */
export interface LocalityLbEndpoints {
  locality: Locality;
  lbEndpoints: LbEndpoint[];
  /**
   * Envoy's locality weight: this locality's share of its priority's traffic, against the other
   * localities' weights. Absent on every locality of a priority: hosts are weighed by their own weights
   * alone; absent on some: those localities get no traffic (Envoy's locality-weighted load balancing).
   */
  loadBalancingWeight?: number;
  /** 0 = preferred: Istio's locality failover, computed for this proxy's locality. */
  priority: number;
}

/** Envoy's Address as endpoints use it: an IP or DNS name and port, or a unix socket (`/path`, `@abstract`). */
export type EndpointAddress = { socketAddress: { address: string; portValue: number } } | { pipe: { path: string } };

/** Envoy's HealthStatus as EDS reports it; UNHEALTHY, DRAINING and TIMEOUT hosts take traffic only in panic. */
export type HealthStatus = 'UNKNOWN' | 'HEALTHY' | 'UNHEALTHY' | 'DRAINING' | 'TIMEOUT' | 'DEGRADED';

/**
 * Envoy's LbEndpoint metadata as istiod fills it: the workload's labels (filter_metadata `istio`:
 * subsets, telemetry) and `envoy.transport_socket_match` tlsMode.
 */
export interface EndpointMetadata {
  labels: Record<string, string>;
  /** `istio`: the workload has a sidecar (label security.istio.io/tlsMode): the key transport socket matches select on (auto mTLS). */
  tlsMode?: 'istio';
}

/** Envoy's LbEndpoint. */
export interface LbEndpoint {
  endpoint: { address: EndpointAddress };
  healthStatus: HealthStatus;
  /** Envoy's load_balancing_weight (1 when unset). */
  loadBalancingWeight: number;
  metadata: EndpointMetadata;
}
