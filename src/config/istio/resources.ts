import type { PeerAuthenticationSpec } from './parse-peer-authentication.js';
import type { RequestAuthenticationSpec } from './parse-request-authentication.js';
import type { AuthorizationPolicySpec } from './parse-authorization-policy.js';
import type { HttpFilterConfig } from '../snapshot.js';
import type { RateLimitPolicy } from '../envoy/local-ratelimit.js';
/** Istio resources after validation: normalized, typed, with their origin. */

export interface ResourceMeta {
  kind: string;
  name: string;
  namespace: string;
  /** Position in load order, Istio's tie-breaker (it uses creation time). */
  order: number;
}

export type StringMatchSpec = { exact: string } | { prefix: string } | { regex: string };

export interface HttpMatchSpec {
  name?: string;
  uri?: StringMatchSpec;
  scheme?: StringMatchSpec;
  method?: StringMatchSpec;
  authority?: StringMatchSpec;
  /** header → match; `undefined` match means presence. */
  headers: [string, StringMatchSpec | undefined][];
  withoutHeaders: [string, StringMatchSpec | undefined][];
  queryParams: [string, StringMatchSpec | undefined][];
  port?: number;
  sourceLabels?: Record<string, string>;
  sourceNamespace?: string;
  gateways: string[];
  ignoreUriCase: boolean;
}

export interface DestinationSpec {
  host: string;
  subset?: string;
  port?: number;
  /** Where a short host name resolves when not in the VirtualService's own namespace (routes merged from a delegate). */
  namespace?: string;
}

export interface HeaderOpsSpec {
  set: [string, string][];
  add: [string, string][];
  remove: string[];
}

export interface HeadersSpec {
  request?: HeaderOpsSpec;
  response?: HeaderOpsSpec;
}

export interface HttpRouteDestinationSpec {
  destination: DestinationSpec;
  weight?: number;
  headers?: HeadersSpec;
}

export interface HttpRouteSpec {
  name?: string;
  /** A root VirtualService's route that hands its match over to a delegate VirtualService's routes. */
  delegate?: { name: string; namespace?: string };
  match: HttpMatchSpec[];
  route: HttpRouteDestinationSpec[];
  redirect?: {
    uri?: string;
    authority?: string;
    port?: number;
    derivePort?: 'FROM_PROTOCOL_DEFAULT' | 'FROM_REQUEST_PORT';
    scheme?: string;
    redirectCode?: number;
  };
  directResponse?: { status: number; body?: string };
  rewrite?: { uri?: string; authority?: string; uriRegexRewrite?: { match: string; rewrite: string } };
  timeoutMs?: number;
  headers?: HeadersSpec;
  retries?: { attempts: number; perTryTimeoutMs?: number; retryOn?: string; retryRemoteLocalities?: boolean; retryIgnorePreviousHosts?: boolean; backoffMs?: number };
  fault?: {
    delay?: { fixedDelayMs: number; percent: number };
    abort?: { httpStatus?: number; grpcStatus?: number; percent: number };
  };
  /** `mirror`: copies of the requests go there too, for `mirrorPercent` of them (unset: all). */
  mirror?: DestinationSpec;
  /** mirrorPercentage (or the deprecated mirrorPercent), when set. */
  mirrorPercent?: number;
  /** `mirrors`, each with its own percentage. */
  mirrors: { destination: DestinationSpec; percent: number }[];
  corsPolicy?: CorsPolicySpec;
}

/** VirtualService http[].corsPolicy. */
export interface CorsPolicySpec {
  /** allowOrigins, or the deprecated allowOrigin as exact matches. */
  allowOrigins: StringMatchSpec[];
  allowMethods: string[];
  allowHeaders: string[];
  exposeHeaders: string[];
  maxAgeSeconds?: number;
  allowCredentials?: boolean;
  /** What a preflight from an origin not allowed gets: FORWARD (and UNSPECIFIED) sends it upstream, IGNORE answers it without CORS headers. */
  unmatchedPreflights: 'UNSPECIFIED' | 'FORWARD' | 'IGNORE';
}

/** Istio L4MatchAttributes / TLSMatchAttributes. */
export interface L4MatchSpec {
  /** CIDRs or IPs the original destination must be in. */
  destinationSubnets: string[];
  port?: number;
  sourceLabels?: Record<string, string>;
  sourceNamespace?: string;
  gateways: string[];
  /** TLS routes only: SNI values (exact or `*.suffix`). */
  sniHosts?: string[];
}

/** Istio TCPRoute / TLSRoute. */
export interface L4RouteSpec {
  match: L4MatchSpec[];
  route: { destination: DestinationSpec; weight?: number }[];
}

export interface VirtualServiceSpec {
  meta: ResourceMeta;
  hosts: string[];
  gateways: string[];
  http: HttpRouteSpec[];
  tcp: L4RouteSpec[];
  tls: L4RouteSpec[];
  exportTo: string[];
}

export type LbSimple = 'UNSPECIFIED' | 'LEAST_CONN' | 'RANDOM' | 'PASSTHROUGH' | 'ROUND_ROBIN' | 'LEAST_REQUEST';

/** DestinationRule ClientTLSSettings, with the referenced files already read. */
export interface ClientTlsSpec {
  mode: 'DISABLE' | 'SIMPLE' | 'MUTUAL' | 'ISTIO_MUTUAL';
  caPem?: string;
  certPem?: string;
  keyPem?: string;
  /** The files the PEMs were read from (caCertificates, clientCertificate, privateKey): istiod's SDS names for them. */
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  sni?: string;
  subjectAltNames: string[];
  insecureSkipVerify?: boolean;
  /** A credential under --credential-dir (client certificate, key, CA): the loader fills the PEMs from it. */
  credentialName?: string;
}

/** The settings of one policy layer (DestinationRule, subset, or port level) that Outrigger enforces. */
export interface PolicyLayer {
  tls?: ClientTlsSpec;
  /** connectionPool.http.h2UpgradePolicy: UPGRADE (true) / DO_NOT_UPGRADE (false) an HTTP/1.1 port to HTTP/2 upstream. */
  h2Upgrade?: boolean;
  /** connectionPool.http.useClientProtocol: the client's protocol upstream. */
  useClientProtocol?: boolean;
  /** connectionPool.http.maxConcurrentStreams per upstream HTTP/2 connection. */
  maxConcurrentStreams?: number;
  lbSimple?: LbSimple;
  connectTimeoutMs?: number;
  idleTimeoutMs?: number;
  maxConnections?: number;
  http1MaxPendingRequests?: number;
  http2MaxRequests?: number;
  maxRequestsPerConnection?: number;
  maxRetries?: number;
  warmup?: { durationMs: number; minimumPercent: number; aggression: number };
  locality?: {
    enabled: boolean;
    failover: { from: string; to: string }[];
    failoverPriority: string[];
    distribute: { from: string; to: Record<string, number> }[];
  };
  consistentHash?: {
    policy: import('../snapshot.js').HashPolicy;
    maglev: boolean;
    tableSize?: number;
  };
  outlier?: {
    consecutive5xxErrors?: number;
    consecutiveGatewayErrors?: number;
    consecutiveLocalOriginFailures?: number;
    splitExternalLocalOriginErrors?: boolean;
    intervalMs?: number;
    baseEjectionTimeMs?: number;
    maxEjectionPercent?: number;
    minHealthPercent?: number;
  };
}

export interface TrafficPolicySpec extends PolicyLayer {
  portLevel: ({ port: number } & PolicyLayer)[];
}

export interface SubsetSpec {
  name: string;
  labels: Record<string, string>;
  trafficPolicy?: TrafficPolicySpec;
}

export interface DestinationRuleSpec {
  meta: ResourceMeta;
  host: string;
  trafficPolicy?: TrafficPolicySpec;
  subsets: SubsetSpec[];
  exportTo: string[];
  workloadSelector?: Record<string, string>;
}

export interface ServicePortSpec {
  number: number;
  name: string;
  protocol: string;
  targetPort?: number;
}

export interface WorkloadSpec {
  address: string;
  ports: Record<string, number>;
  labels: Record<string, string>;
  network?: string;
  locality?: string;
  weight: number;
  serviceAccount?: string;
  /**
   * Kubernetes endpoints: the workload serves only the service ports named in `ports` (an
   * EndpointSlice lists each one), so no other port of the service falls back to targetPort.
   */
  listedPortsOnly?: boolean;
}

export type Resolution = 'NONE' | 'STATIC' | 'DNS' | 'DNS_ROUND_ROBIN';

export interface ServiceEntrySpec {
  meta: ResourceMeta;
  hosts: string[];
  addresses: string[];
  ports: ServicePortSpec[];
  location: 'MESH_EXTERNAL' | 'MESH_INTERNAL';
  resolution: Resolution;
  endpoints: WorkloadSpec[];
  workloadSelector?: Record<string, string>;
  exportTo: string[];
}

export interface WorkloadEntrySpec {
  meta: ResourceMeta;
  workload: WorkloadSpec;
}

/** Gateway ServerTLSSettings, with the referenced files read. */
export interface ServerTlsSpec {
  mode: 'PASSTHROUGH' | 'SIMPLE' | 'MUTUAL' | 'AUTO_PASSTHROUGH' | 'ISTIO_MUTUAL' | 'OPTIONAL_MUTUAL';
  httpsRedirect: boolean;
  certPem?: string;
  keyPem?: string;
  caPem?: string;
  /** The files the PEMs were read from (serverCertificate, privateKey, caCertificates): istiod's SDS names for them. */
  certFile?: string;
  keyFile?: string;
  caFile?: string;
  minProtocolVersion?: 'TLSv1_2' | 'TLSv1_3';
  /** A credential under --credential-dir: the loader fills certPem/keyPem/caPem from it, or sets `unsupported`. */
  credentialName?: string;
  /** Why this server cannot be served here (e.g. its credential is missing); it is skipped with this warning. */
  unsupported?: string;
}

export interface GatewayServerSpec {
  port: { number: number; protocol: string; name: string };
  bind?: string;
  hosts: string[];
  hasTls: boolean;
  tls?: ServerTlsSpec;
  name?: string;
}

export interface GatewaySpec {
  meta: ResourceMeta;
  selector: Record<string, string>;
  servers: GatewayServerSpec[];
}

export interface SidecarPortSpec {
  number: number;
  protocol: string;
  name: string;
}

export interface SidecarSpec {
  meta: ResourceMeta;
  workloadSelector?: Record<string, string>;
  ingress: { port: SidecarPortSpec; bind?: string; captureMode?: string; defaultEndpoint?: string; tls?: ServerTlsSpec }[];
  egress: { port?: SidecarPortSpec; bind?: string; captureMode?: string; hosts: string[] }[];
  outboundTrafficPolicy?: 'REGISTRY_ONLY' | 'ALLOW_ANY';
}

/** meshConfig ext_authz includeRequestBodyInCheck: Envoy's with_request_body. */
export interface ExtAuthzRequestBody {
  /** Bytes buffered for the check (Envoy requires > 0). */
  maxRequestBytes: number;
  /** Send the first maxRequestBytes of a larger body; otherwise such a request gets 413. */
  allowPartialMessage: boolean;
  /** Send the body as bytes (raw_body) instead of a UTF-8 string (body). */
  packAsBytes: boolean;
}

interface ExtAuthzProviderBase {
  name: string;
  /** The authorization service host and port (envoyExtAuthzHttp / envoyExtAuthzGrpc service, port). */
  service: string;
  port: number;
  timeoutMs: number;
  failOpen: boolean;
  statusOnError: number;
  includeRequestBodyInCheck?: ExtAuthzRequestBody;
}

/** meshConfig envoyExtAuthzHttp: the request is checked with an HTTP call to the service. */
export interface HttpExtAuthzProviderSpec extends ExtAuthzProviderBase {
  kind: 'envoyExtAuthzHttp';
  pathPrefix: string;
  includeRequestHeadersInCheck: string[];
  includeAdditionalHeadersInCheck: [string, string][];
  headersToUpstreamOnAllow: string[];
  headersToDownstreamOnDeny: string[];
  headersToDownstreamOnAllow: string[];
}

/** meshConfig envoyExtAuthzGrpc: Envoy's envoy.service.auth.v3.Authorization/Check (HTTP and TCP). */
export interface GrpcExtAuthzProviderSpec extends ExtAuthzProviderBase {
  kind: 'envoyExtAuthzGrpc';
}

/** A meshConfig extension provider for CUSTOM authorization. */
export type ExtAuthzProviderSpec = HttpExtAuthzProviderSpec | GrpcExtAuthzProviderSpec;

/** The MeshConfig settings the data plane applies (Istio's mesh-wide defaults otherwise). */
export interface MeshSettings {
  outboundTrafficPolicy: 'ALLOW_ANY' | 'REGISTRY_ONLY';
  /** 0: wait for the client's first bytes as long as it takes (Istio's default). */
  protocolDetectionTimeoutMs: number;
  /** Cluster connect timeout (Istio's default 10 s). */
  connectTimeoutMs?: number;
  /** meshConfig.extensionProviders that CUSTOM AuthorizationPolicies can name. */
  extensionProviders?: ExtAuthzProviderSpec[];
  /** meshConfig.pathNormalization.normalization (Istio's default BASE). */
  pathNormalization?: 'NONE' | 'BASE' | 'MERGE_SLASHES' | 'DECODE_AND_MERGE_SLASHES';
  /**
   * meshConfig.defaultConfig, with this proxy's own ProxyConfig (PROXY_CONFIG, the
   * proxy.istio.io/config annotation) merged over it as istio-agent does.
   */
  defaultConfig?: ProxyConfigSettings;
  /** meshConfig.enableTracing (Istio's default true): without a Telemetry provider, requests are still sampled and marked. */
  enableTracing?: boolean;
  /** meshConfig.defaultProviders.tracing: the provider when no Telemetry names one (Istio takes the first). */
  defaultTracingProviders?: string[];
  /** meshConfig.extensionProviders that trace (by name). */
  tracingProviders?: TracingProviderSpec[];
  /** meshConfig.accessLogFile: without Telemetry access logging, every request is logged there ('' or absent: no log). */
  accessLogFile?: string;
  /** meshConfig.accessLogFormat: a text format, or (JSON encoding) a JSON object of format strings. */
  accessLogFormat?: string;
  /** meshConfig.accessLogEncoding (Istio's default TEXT). */
  accessLogEncoding?: 'TEXT' | 'JSON';
  /** meshConfig.defaultProviders.accessLogging: the providers when no Telemetry names one. */
  defaultAccessLogProviders?: string[];
  /** meshConfig.extensionProviders that log requests (by name); the built-in `envoy` provider is not among them. */
  accessLogProviders?: AccessLogProviderSpec[];
  /** meshConfig.defaultProviders.metrics; absent: Istio's install default, the built-in `prometheus`. */
  defaultMetricsProviders?: string[];
  /** meshConfig.extensionProviders that take metrics (by name): prometheus ones are applied, stackdriver is not. */
  metricsProviders?: { name: string; kind: 'prometheus' | 'unsupported' }[];
}

/** EnvoyFilter's PatchContext: which proxies' and listeners' config a patch applies to. */
export type PatchContext = 'ANY' | 'SIDECAR_INBOUND' | 'SIDECAR_OUTBOUND' | 'GATEWAY';

/**
 * The EnvoyFilter patches Outrigger applies: the local rate limit filter added to connection
 * managers (HTTP_FILTER), and its per-route config and rate_limits merged into routes (HTTP_ROUTE)
 * or virtual hosts (VIRTUAL_HOST). Any other patch is refused at parse.
 */
export type EnvoyFilterPatch =
  | {
      applyTo: 'HTTP_FILTER';
      context: PatchContext;
      portNumber?: number;
      operation: 'INSERT_BEFORE' | 'INSERT_AFTER' | 'INSERT_FIRST' | 'ADD';
      /** match.listener.filterChain.filter.subFilter.name: the filter to insert before or after. */
      subFilter?: string;
      filter: HttpFilterConfig;
    }
  | {
      applyTo: 'HTTP_ROUTE' | 'VIRTUAL_HOST';
      context: PatchContext;
      portNumber?: number;
      /** match.routeConfiguration.vhost.name */
      vhostName?: string;
      /** match.routeConfiguration.vhost.route.name / .action (HTTP_ROUTE only). */
      routeName?: string;
      routeAction?: 'ANY' | 'ROUTE' | 'REDIRECT' | 'DIRECT_RESPONSE';
      typedPerFilterConfig?: Record<string, unknown>;
      rateLimits?: RateLimitPolicy[];
    };

export interface EnvoyFilterSpec {
  meta: ResourceMeta;
  /** workloadSelector.labels; absent: every workload of its namespace (the root namespace: of the mesh). */
  workloadSelector?: Record<string, string>;
  priority: number;
  patches: EnvoyFilterPatch[];
}

/** What a LocalRateLimit rule counts separately: each value of a request header, or each client address. */
export type RateLimitKey = { header: string } | { remoteAddress: true };

/**
 * Outrigger's LocalRateLimit (policy.outrigger.io/v1alpha1): local rate limiting without
 * EnvoyFilter. Translated into the same local_ratelimit filter and per-route configs an EnvoyFilter
 * would produce.
 */
export interface LocalRateLimitSpec {
  meta: ResourceMeta;
  /** selector.matchLabels; absent: every workload of its namespace (the root namespace: of the mesh). */
  selector?: Record<string, string>;
  /** SERVER: the workload's inbound traffic (default); CLIENT: its outbound traffic, and gateways. */
  mode: 'CLIENT' | 'SERVER' | 'CLIENT_AND_SERVER';
  rules: {
    /** Routes the rule limits: by VirtualService (and http route name), by host, by port; absent: every route. */
    match?: { virtualService?: string; route?: string; host?: string; port?: number };
    /** tokens per interval, and the bucket's size (burst, default tokens). */
    limit: { requests: number; intervalMs: number; burst: number };
    /** Absent: one bucket for the rule; else one per value. */
    by?: RateLimitKey;
  }[];
  /** Where the buckets live: shared by the workers (default), per worker, per downstream connection. */
  scope: 'shared' | 'worker' | 'connection';
  /** Answer of a limited request (default 429). */
  status: number;
  /** x-ratelimit-limit / -remaining / -reset on responses (default true). */
  rateLimitHeaders: boolean;
}

/** Istio's MetricSelector.IstioMetric names. */
export type IstioMetricName =
  | 'ALL_METRICS'
  | 'REQUEST_COUNT'
  | 'REQUEST_DURATION'
  | 'REQUEST_SIZE'
  | 'RESPONSE_SIZE'
  | 'TCP_OPENED_CONNECTIONS'
  | 'TCP_CLOSED_CONNECTIONS'
  | 'TCP_SENT_BYTES'
  | 'TCP_RECEIVED_BYTES'
  | 'GRPC_REQUEST_MESSAGES'
  | 'GRPC_RESPONSE_MESSAGES';

/** A Telemetry resource's metrics entry. */
export interface TelemetryMetricsSpec {
  providers: string[];
  overrides: {
    mode?: 'CLIENT' | 'SERVER' | 'CLIENT_AND_SERVER';
    /** match.metric (absent with no customMetric: ALL_METRICS), or match.customMetric. */
    metric?: IstioMetricName;
    customMetric?: string;
    disabled?: boolean;
    /** label → REMOVE, or UPSERT with a CEL value. */
    tagOverrides: Record<string, { operation: 'UPSERT'; value: string } | { operation: 'REMOVE' }>;
  }[];
}

/** A meshConfig.extensionProviders entry that logs requests. */
export type AccessLogProviderSpec =
  | {
      name: string;
      kind: 'file';
      /** envoyFileAccessLog.path ('' : /dev/stdout). */
      path: string;
      /** logFormat: a text format (a newline added when missing) or JSON labels; absent: Istio's text format. */
      format?: { text: string } | { labels: Record<string, unknown> };
      omitEmptyValues: boolean;
    }
  /** envoyOtelAls: OTLP log records over gRPC to the service's collector. */
  | { name: string; kind: 'otel'; service: string; port: number; logName?: string; text?: string; labels?: Record<string, string> }
  /** envoyHttpAls, envoyTcpAls: valid Istio, not exported by Outrigger (logged nowhere, with a warning). */
  | { name: string; kind: 'unsupported'; what: string };

/** A Telemetry resource's accessLogging entry. */
export interface TelemetryAccessLoggingSpec {
  /** match.mode: client (outbound, gateway) or server (inbound) traffic, or both (absent). */
  mode?: 'CLIENT' | 'SERVER' | 'CLIENT_AND_SERVER';
  providers: string[];
  disabled?: boolean;
  /** filter.expression: CEL over Envoy's attributes; only requests it holds for are logged. */
  filter?: string;
}

/** Istio's ProxyConfig.gatewayTopology.forwardClientCertDetails (UNDEFINED: not set). */
export type ForwardClientCertDetails = 'SANITIZE' | 'FORWARD_ONLY' | 'APPEND_FORWARD' | 'SANITIZE_SET' | 'ALWAYS_FORWARD_ONLY';

/** A span tag as Telemetry and ProxyConfig write it. */
export type CustomTagSpec = { literal: string } | { environment: { name: string; defaultValue?: string } } | { header: { name: string; defaultValue?: string } } | { formatter: string };

/** ProxyConfig.tracing: the mesh's tracing defaults (sampling, tags) and the legacy Zipkin address. */
export interface ProxyTracingSpec {
  /** Percent of requests traced, 0-100 (Istio: 0 or over 100 is its default, 1). */
  sampling?: number;
  customTags: Record<string, CustomTagSpec>;
  maxPathTagLength?: number;
  /** tracing.zipkin.address (`host:port`): pilot-agent's bootstrap tracer when no Telemetry names a provider. */
  zipkinAddress?: string;
}

/** An HTTP header of a provider's export requests: its value, or the value of an environment variable of the proxy. */
export interface ProviderHeaderSpec {
  name: string;
  value?: string;
  envName?: string;
}

/** A meshConfig.extensionProviders entry that traces. */
export type TracingProviderSpec =
  | {
      name: string;
      kind: 'opentelemetry';
      service: string;
      port: number;
      maxTagLength?: number;
      /** OTLP/HTTP (path, timeout, headers); absent: OTLP/gRPC. */
      http?: { path: string; timeoutMs?: number; headers: ProviderHeaderSpec[] };
      grpc?: { timeoutMs?: number; initialMetadata: ProviderHeaderSpec[] };
      /** resourceDetectors.environment: OTEL_RESOURCE_ATTRIBUTES become resource attributes. */
      environmentResource: boolean;
    }
  | {
      name: string;
      kind: 'zipkin';
      service: string;
      port: number;
      maxTagLength?: number;
      path?: string;
      enable64bitTraceId: boolean;
      traceContextOption: 'USE_B3' | 'USE_B3_WITH_W3C_PROPAGATION';
      timeoutMs?: number;
      headers: ProviderHeaderSpec[];
    }
  /** datadog, skywalking, lightstep, stackdriver: valid Istio, not exported by Outrigger (a Telemetry naming one is refused). */
  | { name: string; kind: 'unsupported'; what: string };

/** A Telemetry resource's tracing entry. */
export interface TelemetryTracingSpec {
  /** match.mode: the spans of client (outbound, gateway) or server (inbound) traffic, or both (absent). */
  mode?: 'CLIENT' | 'SERVER' | 'CLIENT_AND_SERVER';
  providers: string[];
  randomSamplingPercentage?: number;
  disableSpanReporting?: boolean;
  customTags?: Record<string, CustomTagSpec>;
  useRequestIdForTraceSampling?: boolean;
  enableIstioTags?: boolean;
  disableContextPropagation?: boolean;
}

/** telemetry.istio.io Telemetry: tracing, access logging, metrics. */
export interface TelemetrySpec {
  meta: ResourceMeta;
  /** selector.matchLabels: the workloads of its namespace it applies to; absent: the whole namespace (the root namespace: the mesh). */
  selector?: Record<string, string>;
  tracing: TelemetryTracingSpec[];
  accessLogging: TelemetryAccessLoggingSpec[];
  metrics: TelemetryMetricsSpec[];
}

/** The ProxyConfig fields the data plane applies. */
export interface ProxyConfigSettings {
  /** Where a gateway sits: trusted proxies in front of it, and what it does with XFCC. */
  gatewayTopology?: { numTrustedProxies: number; forwardClientCertDetails?: ForwardClientCertDetails };
  /** Envoy stats to keep beyond pilot-agent's own inclusion list (the sidecar.istio.io/statsInclusion* annotations win). */
  proxyStatsMatcher?: ProxyStatsMatcher;
  tracing?: ProxyTracingSpec;
}

/** ProxyConfig.proxyStatsMatcher: `{pod_ip}` in an entry stands for each of the proxy's IPs. */
export interface ProxyStatsMatcher {
  inclusionPrefixes?: string[];
  inclusionSuffixes?: string[];
  /** RE2, matching a whole stat name. */
  inclusionRegexps?: string[];
}

/** A Kubernetes Service port: protocol already chosen as Istio chooses it. */
export interface KubernetesServicePort {
  name: string;
  port: number;
  protocol: string;
  /** A container port number, or the name of one; unset means the service port itself. */
  targetPort?: number | string;
}

/** A Kubernetes core/v1 Service, the fields istiod's registry reads. */
export interface KubernetesServiceSpec {
  meta: ResourceMeta;
  /** spec.clusterIPs (else spec.clusterIP); empty when unset or headless. */
  clusterIPs: string[];
  /** clusterIP: None: no VIP, passthrough to the endpoint the client chose. */
  headless: boolean;
  /** type ExternalName: an alias of this DNS name. */
  externalName?: string;
  ports: KubernetesServicePort[];
  /** spec.selector; undefined when the Service selects no pods (endpoints managed by hand). */
  selector?: Record<string, string>;
  /** The networking.istio.io/exportTo annotation. */
  exportTo: string[];
  /** internalTrafficPolicy: Local: only endpoints on the proxy's own node. */
  nodeLocal: boolean;
}

/** A ready or not-ready address of an EndpointSlice (legacy Endpoints are converted to the same shape). */
export interface KubernetesEndpoint {
  addresses: string[];
  /** conditions.ready, true when unset (as Kubernetes and istiod read it). */
  ready: boolean;
  targetRef?: { kind: string; name: string; namespace?: string };
  nodeName?: string;
}

/** A discovery.k8s.io/v1 EndpointSlice, or one subset of a core/v1 Endpoints. */
export interface KubernetesEndpointSliceSpec {
  meta: ResourceMeta;
  /** The Service it belongs to (label kubernetes.io/service-name; an Endpoints' own name). */
  serviceName: string;
  /** From a legacy core/v1 Endpoints: only used when the Service has no EndpointSlice. */
  legacy: boolean;
  /** addressType FQDN slices are skipped as istiod skips them. */
  addressType: 'IPv4' | 'IPv6' | 'FQDN';
  endpoints: KubernetesEndpoint[];
  ports: { name: string; port: number }[];
}

export interface KubernetesPodSpec {
  meta: ResourceMeta;
  labels: Record<string, string>;
  /** status.podIPs (else status.podIP). */
  ips: string[];
  serviceAccount?: string;
  nodeName?: string;
  containerPorts: { name?: string; containerPort: number; protocol: string }[];
  /**
   * Ready for traffic as istiod's pod cache reads it (condition Ready True, not being deleted); a
   * Pod written by hand without status.conditions counts as ready.
   */
  ready: boolean;
}

export interface KubernetesNodeSpec {
  name: string;
  labels: Record<string, string>;
}

/** The Kubernetes objects istiod's Kubernetes registry reads, from a `kubectl get -o yaml` dump. */
export interface KubernetesRegistrySpec {
  services: KubernetesServiceSpec[];
  endpointSlices: KubernetesEndpointSliceSpec[];
  pods: KubernetesPodSpec[];
  nodes: KubernetesNodeSpec[];
}

export interface IstioConfig {
  mesh: MeshSettings;
  kubernetes: KubernetesRegistrySpec;
  authorizationPolicies: AuthorizationPolicySpec[];
  peerAuthentications: PeerAuthenticationSpec[];
  requestAuthentications: RequestAuthenticationSpec[];
  virtualServices: VirtualServiceSpec[];
  destinationRules: DestinationRuleSpec[];
  serviceEntries: ServiceEntrySpec[];
  workloadEntries: WorkloadEntrySpec[];
  gateways: GatewaySpec[];
  sidecars: SidecarSpec[];
  telemetries: TelemetrySpec[];
  envoyFilters: EnvoyFilterSpec[];
  localRateLimits: LocalRateLimitSpec[];
  /** Things an operator should know: ignored kinds, accepted-but-not-applied fields. */
  warnings: string[];
}
