/**
 * Tracing as istiod configures it (pilot/pkg/networking/core/tracing.go, model/telemetry.go): the
 * Telemetry resources that apply to this proxy — the root namespace's, its namespace's, then those
 * selecting its labels, later ones overriding — over meshConfig.defaultProviders.tracing, give a
 * client spec (outbound listeners, gateways) and a server spec (inbound); each becomes the
 * connection managers' tracing with the provider's collector reached through its service's
 * outbound cluster. Without any Telemetry tracing, meshConfig.enableTracing keeps the legacy
 * behaviour: sampling decided and marked, spans only to ProxyConfig's Zipkin address.
 */
import type { Cluster, ClusterLoadAssignment, HcmTracing, NodeIdentity, TracingCustomTag, TracingProvider } from '../snapshot.js';
import { loadAssignment, staticHost } from '../endpoints.js';
import { serviceClusterOf } from '../node-identity.js';
import type { Service } from './registry.js';
import type { CustomTagSpec, IstioConfig, ProviderHeaderSpec, ProxyTracingSpec, TracingProviderSpec } from './resources.js';
import { applicableTelemetries } from './telemetry-scope.js';
import { collectorCluster } from './collector.js';

/** The tracing of each kind of connection manager; `clusters` and `endpoints`: what the legacy Zipkin address needs. */
export interface IstioTracing {
  client?: HcmTracing;
  server?: HcmTracing;
  clusters: Cluster[];
  endpoints: ClusterLoadAssignment[];
}

/** Istio's PILOT_TRACE_SAMPLING default: 1 %. */
const DEFAULT_SAMPLING = 1;
/** pilot-agent's bootstrap cluster for ProxyConfig.tracing.zipkin.address. */
export const LEGACY_ZIPKIN_CLUSTER = 'zipkin';
/** istiod's timeout for an OTLP/HTTP or Zipkin export when the provider sets none. */
const DEFAULT_EXPORT_TIMEOUT_MS = 5000;

interface Spec {
  provider?: TracingProviderSpec;
  disabled: boolean;
  randomSamplingPercentage?: number;
  customTags?: Record<string, CustomTagSpec>;
  useRequestIdForTraceSampling: boolean;
  enableIstioTags: boolean;
  disableContextPropagation?: boolean;
}

export function istioTracing(cfg: IstioConfig, node: NodeIdentity, services: ReadonlyMap<string, Service>, warnings: string[]): IstioTracing {
  const proxyTracing = cfg.mesh.defaultConfig?.tracing;
  const specs = telemetrySpecs(cfg, node, warnings);
  if (!specs) {
    if (cfg.mesh.enableTracing === false) return { clusters: [], endpoints: [] };
    // legacy: the HCM samples with ProxyConfig's settings; spans go to pilot-agent's bootstrap tracer, if any
    const legacy = legacyZipkin(proxyTracing, node);
    const t: HcmTracing = {
      ...(legacy ? { provider: legacy.provider } : {}),
      ...sampling(proxySampling(proxyTracing)),
      customTags: sortTags([...istioTags(node), ...tagsOf(proxyTracing?.customTags ?? {})]),
      maxPathTagLength: proxyTracing?.maxPathTagLength || 256,
      spawnUpstreamSpan: false,
      useRequestIdForTraceSampling: true,
    };
    return { client: t, server: t, clusters: legacy ? [legacy.cluster] : [], endpoints: legacy ? [legacy.endpoints] : [] };
  }
  const build = (s: Spec): HcmTracing | undefined => {
    if (s.disabled || !s.provider) return undefined;
    const provider = providerOf(s.provider, node, services, warnings);
    if (!provider) return undefined;
    const tags = [...(s.enableIstioTags ? istioTags(node) : []), ...tagsOf(s.customTags && Object.keys(s.customTags).length ? s.customTags : (proxyTracing?.customTags ?? {}))];
    return {
      provider: provider.provider,
      ...sampling(s.randomSamplingPercentage ?? proxySampling(proxyTracing)),
      customTags: sortTags(tags),
      maxPathTagLength: provider.maxTagLength || proxyTracing?.maxPathTagLength || 256,
      spawnUpstreamSpan: node.mode === 'gateway',
      useRequestIdForTraceSampling: s.useRequestIdForTraceSampling,
      ...(s.disableContextPropagation ? { disableContextPropagation: true } : {}),
    };
  };
  const client = build(specs.client);
  const server = build(specs.server);
  return { ...(client ? { client } : {}), ...(server ? { server } : {}), clusters: [], endpoints: [] };
}

function sampling(random: number): Pick<HcmTracing, 'randomSamplingPercent' | 'clientSamplingPercent' | 'overallSamplingPercent'> {
  return { randomSamplingPercent: random, clientSamplingPercent: 100, overallSamplingPercent: 100 };
}

/** istiod's proxyConfigSamplingValue: ProxyConfig's sampling when set (over 100: 1), else 1 %. */
function proxySampling(t: ProxyTracingSpec | undefined): number {
  const s = t?.sampling;
  if (!s) return DEFAULT_SAMPLING;
  return s > 100 ? 1 : s;
}

/** The Telemetry tracing of this proxy, client and server; undefined when no Telemetry traces and no default provider is set. */
function telemetrySpecs(cfg: IstioConfig, node: NodeIdentity, warnings: string[]): { client: Spec; server: Spec } | undefined {
  const entries = applicableTelemetries(cfg, node).flatMap((t) => t.tracing);
  const defaults = cfg.mesh.defaultTracingProviders ?? [];
  if (!entries.length && !defaults.length) return undefined;
  const fetch = (name: string): TracingProviderSpec | undefined => {
    const p = cfg.mesh.tracingProviders?.find((x) => x.name.toLowerCase() === name.toLowerCase());
    if (!p) warnings.push(`tracing provider ${name} is not among meshConfig.extensionProviders; tracing is off`);
    // istiod: a provider kind it cannot configure leaves tracing off, with a warning
    else if (p.kind === 'unsupported') warnings.push(`tracing provider ${p.name} is a ${p.what} provider, which Outrigger does not export to (OpenTelemetry and Zipkin are); tracing is off`);
    return p;
  };
  const fresh = (): Spec => ({ disabled: false, useRequestIdForTraceSampling: true, enableIstioTags: true, ...(defaults.length ? { provider: fetch(defaults[0]) } : {}) });
  const client = fresh();
  const server = fresh();
  for (const m of entries) {
    const targets = m.mode === 'CLIENT' ? [client] : m.mode === 'SERVER' ? [server] : [client, server];
    for (const s of targets) {
      if (m.providers.length) s.provider = fetch(m.providers[0]);
      if (m.disableSpanReporting !== undefined) s.disabled = m.disableSpanReporting;
      if (m.customTags) s.customTags = m.customTags;
      if (m.randomSamplingPercentage !== undefined) s.randomSamplingPercentage = m.randomSamplingPercentage;
      if (m.useRequestIdForTraceSampling !== undefined) s.useRequestIdForTraceSampling = m.useRequestIdForTraceSampling;
      if (m.enableIstioTags !== undefined) s.enableIstioTags = m.enableIstioTags;
      if (m.disableContextPropagation !== undefined) s.disableContextPropagation = m.disableContextPropagation;
    }
  }
  return { client, server };
}

/**
 * A provider's collector through its service's outbound cluster (istiod's LookupCluster: `host`
 * or `namespace/host`, a service of the registry); a service it cannot find leaves tracing off,
 * with a warning, as istiod does.
 */
function providerOf(p: TracingProviderSpec, node: NodeIdentity, services: ReadonlyMap<string, Service>, warnings: string[]): { provider: TracingProvider; maxTagLength?: number } | undefined {
  if (p.kind === 'unsupported') return undefined;
  const found = collectorCluster(p.service, p.port, services);
  if (!found) {
    warnings.push(`tracing provider ${p.name}: no service ${p.service} with port ${p.port} in the registry; tracing is off`);
    return undefined;
  }
  const { cluster, authority: host } = found;
  const serviceName = serviceClusterOf(node);
  if (p.kind === 'zipkin') {
    return {
      provider: {
        kind: 'zipkin',
        serviceName,
        collector: { cluster, authority: host, path: p.path ?? '/api/v2/spans', timeoutMs: p.timeoutMs ?? DEFAULT_EXPORT_TIMEOUT_MS, headers: headerValues(p.headers) },
        traceId128Bit: !p.enable64bitTraceId,
        sharedSpanContext: false,
        traceContextOption: p.traceContextOption,
      },
      ...(p.maxTagLength ? { maxTagLength: p.maxTagLength } : {}),
    };
  }
  const http = p.http;
  const collector = http
    ? { cluster, authority: host, path: `/${http.path.replace(/^\/+/, '')}`, timeoutMs: http.timeoutMs ?? DEFAULT_EXPORT_TIMEOUT_MS, headers: headerValues(http.headers) }
    : { cluster, authority: host, timeoutMs: p.grpc?.timeoutMs ?? DEFAULT_EXPORT_TIMEOUT_MS, headers: headerValues(p.grpc?.initialMetadata ?? []) };
  return {
    provider: { kind: 'opentelemetry', serviceName, transport: http ? 'http' : 'grpc', collector, ...(p.environmentResource ? { environmentResource: true } : {}) },
    ...(p.maxTagLength ? { maxTagLength: p.maxTagLength } : {}),
  };
}

/** A header's value, or the proxy's environment variable it names (istiod's getHeaderValue: read where the proxy runs). */
function headerValues(headers: readonly ProviderHeaderSpec[]): [string, string][] {
  return headers.map((h) => [h.name.toLowerCase(), h.envName !== undefined ? (process.env[h.envName] ?? '') : (h.value ?? '')]);
}

/** pilot-agent's bootstrap Zipkin tracer for ProxyConfig.tracing.zipkin.address (`host:port`), through a DNS cluster of its own. */
function legacyZipkin(t: ProxyTracingSpec | undefined, node: NodeIdentity): { provider: TracingProvider; cluster: Cluster; endpoints: ClusterLoadAssignment } | undefined {
  const address = t?.zipkinAddress;
  if (!address) return undefined;
  const m = /^(.*):(\d+)$/.exec(address);
  const host = m ? m[1].replace(/^\[|\]$/g, '') : address;
  const port = m ? Number(m[2]) : 9411;
  return {
    provider: {
      kind: 'zipkin',
      serviceName: serviceClusterOf(node),
      collector: { cluster: LEGACY_ZIPKIN_CLUSTER, authority: address, path: '/api/v2/spans', timeoutMs: DEFAULT_EXPORT_TIMEOUT_MS, headers: [] },
      traceId128Bit: true,
      sharedSpanContext: false,
      traceContextOption: 'USE_B3',
    },
    cluster: { name: LEGACY_ZIPKIN_CLUSTER, type: 'STRICT_DNS', lbPolicy: 'ROUND_ROBIN', connectTimeoutMs: 1000, idleTimeoutMs: 3_600_000 },
    endpoints: loadAssignment(LEGACY_ZIPKIN_CLUSTER, [staticHost(host, port)]),
  };
}

/** istiod's buildServiceTags: literal tags naming this proxy's workload. */
function istioTags(node: NodeIdentity): TracingCustomTag[] {
  return [
    { tag: 'istio.canonical_revision', literal: node.labels['service.istio.io/canonical-revision'] || 'latest' },
    { tag: 'istio.canonical_service', literal: node.labels['service.istio.io/canonical-name'] || 'unknown' },
    { tag: 'istio.mesh_id', literal: 'unknown' },
    { tag: 'istio.namespace', literal: node.namespace || 'default' },
    { tag: 'istio.cluster_id', literal: node.clusterId || 'unknown' },
  ];
}

function tagsOf(tags: Record<string, CustomTagSpec>): TracingCustomTag[] {
  return Object.entries(tags).map(([tag, t]): TracingCustomTag => {
    if ('literal' in t) return { tag, literal: t.literal };
    if ('environment' in t) return { tag, environment: t.environment };
    if ('formatter' in t) return { tag, formatter: t.formatter };
    return { tag, requestHeader: t.header };
  });
}

function sortTags(tags: TracingCustomTag[]): TracingCustomTag[] {
  return tags.sort((a, b) => (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0));
}
