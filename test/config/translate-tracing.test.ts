// Tracing as istiod configures it: Telemetry (root, namespace, workload; client and server modes)
// over meshConfig's extension providers and defaults, ProxyConfig.tracing, the legacy path, route
// decorators. Istio's own task configs are read from ../shared/conformance.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import type { HcmTracing, Listener } from '../../src/config/snapshot.js';
import type { Translation } from '../../src/config/istio/translate.js';
import { ConfigErrors } from '../../src/config/errors.js';
import { httpConnectionManagerOf } from '../../src/config/envoy/network-filters.js';
import { gatewayNode, hcmOf, listener, parseError, routeConfig, sidecarNode, translate, vhostWithDomain } from './helpers.js';

const TASKS = new URL('../../../shared/conformance/istio/docs-tasks/observability/', import.meta.url);
const COLLECTOR = 'opentelemetry-collector.observability.svc.cluster.local';

/** The meshConfig of an IstioOperator snippet, as a MeshConfig document. */
function meshOf(snippet: string): string {
  const iop = parse(readFileSync(new URL(snippet, TASKS), 'utf8')) as { spec: { meshConfig: Record<string, unknown> } };
  return stringify({ apiVersion: 'meshconfig.istio.io/v1alpha1', kind: 'MeshConfig', metadata: { name: 'mesh' }, ...iop.spec.meshConfig });
}

function collectorEntry(port: number, host = COLLECTOR): string {
  return stringify({
    apiVersion: 'networking.istio.io/v1', kind: 'ServiceEntry', metadata: { name: 'collector', namespace: 'observability' },
    spec: { hosts: [host], location: 'MESH_INTERNAL', resolution: 'STATIC', ports: [{ number: port, name: 'http', protocol: 'HTTP' }], endpoints: [{ address: '10.9.9.9' }] },
  });
}

function telemetry(spec: Record<string, unknown>, namespace = 'istio-system', name = 'mesh-default'): string {
  return stringify({ apiVersion: 'telemetry.istio.io/v1', kind: 'Telemetry', metadata: { name, namespace }, spec });
}

/** productpage's own service (the node's IP is its endpoint): inbound HTTP chains on 9080. */
const SELF = stringify({
  apiVersion: 'networking.istio.io/v1', kind: 'ServiceEntry', metadata: { name: 'productpage' },
  spec: { hosts: ['productpage.default.svc.cluster.local'], location: 'MESH_INTERNAL', resolution: 'STATIC', ports: [{ number: 9080, name: 'http' }], endpoints: [{ address: '10.1.1.1', labels: { app: 'productpage' } }] },
});
const docs = (...d: string[]) => [SELF, ...d].join('---\n');
const outbound = (t: Translation): HcmTracing | undefined => hcmOf(listener(t, 'virtualOutbound')).tracing;
/** The inbound passthrough's HTTP connection manager (no service of this workload: no port chains). */
function inbound(t: Translation): HcmTracing | undefined {
  const l = listener(t, 'virtualInbound');
  const hcm = [...l.filterChains, ...(l.defaultFilterChain ? [l.defaultFilterChain] : [])].map(httpConnectionManagerOf).find((h) => h !== undefined);
  return hcm!.tracing;
}

describe('Telemetry + meshConfig extension providers', () => {
  it('Istio\'s OpenTelemetry task: OTLP/HTTP to the collector through its outbound cluster, 100 %, the custom tag and Istio\'s tags', () => {
    const enable = readFileSync(new URL('tracing-opentelemetry/snip_enable_telemetry.yaml', TASKS), 'utf8');
    const t = translate(docs(meshOf('tracing-opentelemetry/snip_install_otlp_http.yaml'), collectorEntry(4318), enable), sidecarNode({ labels: { app: 'productpage', 'service.istio.io/canonical-name': 'productpage' } }));
    const out = outbound(t)!;
    expect(out.provider).toEqual({
      kind: 'opentelemetry',
      serviceName: 'productpage.default',
      transport: 'http',
      collector: { cluster: `outbound|4318||${COLLECTOR}`, authority: COLLECTOR, path: '/v1/traces', timeoutMs: 5000, headers: [['custom-header', 'custom value']] },
      environmentResource: true,
    });
    expect(out).toMatchObject({ randomSamplingPercent: 100, clientSamplingPercent: 100, overallSamplingPercent: 100, maxPathTagLength: 256, spawnUpstreamSpan: false, useRequestIdForTraceSampling: true });
    expect(out.customTags).toEqual([
      { tag: 'istio.canonical_revision', literal: 'latest' },
      { tag: 'istio.canonical_service', literal: 'productpage' },
      { tag: 'istio.cluster_id', literal: 'Kubernetes' },
      { tag: 'istio.mesh_id', literal: 'unknown' },
      { tag: 'istio.namespace', literal: 'default' },
      { tag: 'my-attribute', literal: 'default-value' },
    ]);
    // no match mode: the server side the same
    expect(inbound(t)).toEqual(out);
  });

  it('OTLP/gRPC by default; Zipkin with its path; the Telemetry API\'s sampling and header tag (snake_case too)', () => {
    const mesh = stringify({
      apiVersion: 'meshconfig.istio.io/v1alpha1', kind: 'MeshConfig', metadata: { name: 'mesh' },
      extensionProviders: [
        { name: 'otel', opentelemetry: { service: COLLECTOR, port: 4317, grpc: { timeout: '3s', initialMetadata: [{ name: 'Authorization', value: 'Bearer x' }] } } },
        { name: 'zipkin', zipkin: { service: COLLECTOR, port: 9411, maxTagLength: 99, enable64bitTraceId: true, traceContextOption: 'USE_B3_WITH_W3C_PROPAGATION' } },
      ],
    });
    const grpc = outbound(translate(docs(mesh, collectorEntry(4317), telemetry({ tracing: [{ providers: [{ name: 'otel' }], random_sampling_percentage: 10 }] }))))!;
    expect(grpc.provider).toMatchObject({ transport: 'grpc', collector: { cluster: `outbound|4317||${COLLECTOR}`, authority: COLLECTOR, timeoutMs: 3000, headers: [['authorization', 'Bearer x']] } });
    expect(grpc.randomSamplingPercent).toBe(10);
    const z = outbound(translate(docs(mesh, collectorEntry(9411), telemetry({ tracing: [{ providers: [{ name: 'zipkin' }], custom_tags: { h: { header: { name: 'x-user', defaultValue: 'none' } } } }] }))))!;
    expect(z.provider).toMatchObject({ kind: 'zipkin', traceId128Bit: false, traceContextOption: 'USE_B3_WITH_W3C_PROPAGATION', collector: { path: '/api/v2/spans' } });
    expect(z.maxPathTagLength).toBe(99);
    expect(z.customTags).toContainEqual({ tag: 'h', requestHeader: { name: 'x-user', defaultValue: 'none' } });
    // Telemetry names no sampling: ProxyConfig's, else Istio's 1 %
    expect(z.randomSamplingPercent).toBe(1);
  });

  it('root, namespace, then workload Telemetry, later ones overriding; match.mode splits client and server', () => {
    const mesh = stringify({
      apiVersion: 'meshconfig.istio.io/v1alpha1', kind: 'MeshConfig', metadata: { name: 'mesh' },
      defaultProviders: { tracing: ['otel'] },
      extensionProviders: [{ name: 'otel', opentelemetry: { service: COLLECTOR, port: 4317 } }],
    });
    const t = translate(docs(
      mesh, collectorEntry(4317),
      telemetry({ tracing: [{ randomSamplingPercentage: 5 }] }),
      telemetry({ tracing: [{ randomSamplingPercentage: 20 }] }, 'default', 'ns'),
      telemetry({ selector: { matchLabels: { app: 'productpage' } }, tracing: [{ match: { mode: 'SERVER' }, disableSpanReporting: true }] }, 'default', 'workload'),
      telemetry({ selector: { matchLabels: { app: 'other' } }, tracing: [{ randomSamplingPercentage: 99 }] }, 'default', 'not-this-one'),
    ));
    expect(outbound(t)?.randomSamplingPercent).toBe(20);
    expect(inbound(t)).toBeUndefined(); // span reporting disabled for the server side
  });

  it('without Telemetry: enableTracing samples with ProxyConfig\'s settings and no provider; false turns tracing off', () => {
    const legacy = translate(meshOf('tracing-mesh-and-proxy-config/snip_customizing_trace_sampling_1.yaml'));
    expect(outbound(legacy)).toMatchObject({ randomSamplingPercent: 50, maxPathTagLength: 256 });
    expect(outbound(legacy)?.provider).toBeUndefined();
    expect(outbound(translate(''))?.randomSamplingPercent).toBe(1); // Istio's defaults: enableTracing, 1 %
    const off = stringify({ apiVersion: 'meshconfig.istio.io/v1alpha1', kind: 'MeshConfig', metadata: { name: 'mesh' }, enableTracing: false });
    expect(outbound(translate(off))).toBeUndefined();
    // defaultConfig.tracing.zipkin.address: pilot-agent's bootstrap tracer, through a DNS cluster of its own
    const zipkin = stringify({ apiVersion: 'meshconfig.istio.io/v1alpha1', kind: 'MeshConfig', metadata: { name: 'mesh' }, defaultConfig: { tracing: { zipkin: { address: 'zipkin.istio-system:9411' } } } });
    const z = translate(zipkin);
    expect(outbound(z)?.provider).toMatchObject({ kind: 'zipkin', collector: { cluster: 'zipkin', authority: 'zipkin.istio-system:9411' } });
    expect(z.snapshot.clusters.find((c) => c.name === 'zipkin')).toMatchObject({ type: 'STRICT_DNS' });
  });

  it('a provider whose service is not in the registry, or of a kind Outrigger does not export to: tracing off, with a warning', () => {
    const mesh = stringify({
      apiVersion: 'meshconfig.istio.io/v1alpha1', kind: 'MeshConfig', metadata: { name: 'mesh' },
      extensionProviders: [{ name: 'otel', opentelemetry: { service: 'nowhere.svc', port: 4317 } }, { name: 'dd', datadog: { service: COLLECTOR, port: 8126 } }],
    });
    const missing = translate(docs(mesh, telemetry({ tracing: [{ providers: [{ name: 'otel' }] }] })));
    expect(outbound(missing)).toBeUndefined();
    expect(missing.warnings.join('\n')).toMatch(/tracing provider otel: no service nowhere\.svc with port 4317/);
    const dd = translate(docs(mesh, collectorEntry(8126), telemetry({ tracing: [{ providers: [{ name: 'dd' }] }] })));
    expect(outbound(dd)).toBeUndefined();
    expect(dd.warnings.join('\n')).toMatch(/tracing provider dd is a datadog provider/);
  });

  it('a gateway spawns a client span per upstream attempt', () => {
    const mesh = stringify({ apiVersion: 'meshconfig.istio.io/v1alpha1', kind: 'MeshConfig', metadata: { name: 'mesh' }, extensionProviders: [{ name: 'otel', opentelemetry: { service: COLLECTOR, port: 4317 } }] });
    const gw = stringify({ apiVersion: 'networking.istio.io/v1', kind: 'Gateway', metadata: { name: 'gw', namespace: 'istio-system' }, spec: { selector: { istio: 'ingressgateway' }, servers: [{ port: { number: 8080, name: 'http', protocol: 'HTTP' }, hosts: ['*'] }] } });
    const t = translate(docs(mesh, collectorEntry(4317), gw, telemetry({ tracing: [{ providers: [{ name: 'otel' }] }] })), gatewayNode());
    const l = t.snapshot.listeners.find((x: Listener) => x.port === 8080)!;
    expect(hcmOf(l).tracing?.spawnUpstreamSpan).toBe(true);
  });

  it('formatter tags and disableContextPropagation reach the connection managers', () => {
    const t = translate(docs(meshOf('tracing-opentelemetry/snip_install_otlp_http.yaml'), collectorEntry(4318), telemetry({ tracing: [{ providers: [{ name: 'otel-tracing' }], disableContextPropagation: true, customTags: { route: { formatter: { value: '%REQ(:PATH)%' } } } }] })), sidecarNode());
    const out = outbound(t)!;
    expect(out.disableContextPropagation).toBe(true);
    expect(out.customTags).toContainEqual({ tag: 'route', formatter: '%REQ(:PATH)%' });
  });

  it('refuses what it cannot apply yet, naming the field', () => {
    expect(parseError(telemetry({ targetRefs: [{ kind: 'Gateway', name: 'gw' }], tracing: [{}] })).message).toMatch(/spec\.targetRefs: targetRef .* is not supported/);
    expect(parseError(telemetry({ tracing: [{ customTags: { x: { literal: { value: 'a' }, header: { name: 'b' } } } }] })).message).toMatch(/exactly one of literal, environment, header, formatter/);
    expect(parseError(telemetry({ tracing: [{ customTags: { x: { formatter: { value: '%NOPE%' } } } }] })).message).toMatch(/customTags\.x\.formatter\.value: unknown command operator %NOPE%/);
    expect(parseError(telemetry({ tracing: [{ randomSamplingPercentage: 101 }] })).message).toMatch(/randomSamplingPercentage.*between 0 and 100/);
    expect(() => translate(telemetry({ tracing: [{ bogus: 1 }] }))).toThrow(ConfigErrors);
  });
});

describe('route decorators (istiod\'s span operation names)', () => {
  it('the default route: host:port/*; a VirtualService route: its one destination and match, else the VirtualService\'s name', () => {
    const se = stringify({ apiVersion: 'networking.istio.io/v1', kind: 'ServiceEntry', metadata: { name: 'r' }, spec: { hosts: ['reviews.default.svc.cluster.local'], location: 'MESH_INTERNAL', resolution: 'STATIC', ports: [{ number: 9080, name: 'http' }], endpoints: [{ address: '10.0.0.1' }] } });
    const plain = translate(se);
    const vh = vhostWithDomain(routeConfig(plain, '9080'), 'reviews.default.svc.cluster.local')!;
    expect(vh.routes[0].decorator).toEqual({ operation: 'reviews.default.svc.cluster.local:9080/*' });
    const vs = stringify({
      apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'reviews' },
      spec: { hosts: ['reviews.default.svc.cluster.local'], http: [
        { match: [{ uri: { prefix: '/api' } }], route: [{ destination: { host: 'reviews.default.svc.cluster.local' } }] },
        { route: [{ destination: { host: 'reviews.default.svc.cluster.local' }, weight: 50 }, { destination: { host: 'reviews.default.svc.cluster.local', subset: 'v2' }, weight: 50 }] },
      ] },
    });
    const routes = vhostWithDomain(routeConfig(translate(docs(se, vs)), '9080'), 'reviews.default.svc.cluster.local')!.routes;
    expect(routes.map((r) => r.decorator?.operation)).toEqual(['reviews.default.svc.cluster.local:9080/api*', 'reviews:9080/*']);
  });
});
