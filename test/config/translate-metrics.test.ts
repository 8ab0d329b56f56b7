// Istio's metrics as istiod configures its stats filter from the Telemetry API: the task snippets
// (disable all, one metric, one mode; remove a tag; add tags with CEL values) and the telemetry
// integration test's additional labels, read from ../shared/conformance; istiod's merge rules.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import type { IstioStats } from '../../src/config/snapshot.js';
import type { Translation } from '../../src/config/istio/translate.js';
import { filterChainsOf, httpConnectionManagerOf, tcpProxyOf } from '../../src/config/envoy/network-filters.js';
import { listener, parseError, sidecarNode, translate } from './helpers.js';

const CONFORMANCE = new URL('../../../shared/conformance/istio/', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, CONFORMANCE), 'utf8');
const TASK = 'docs-tasks/observability/metrics-telemetry-api/';

function telemetry(spec: Record<string, unknown>, namespace = 'istio-system', name = 'mesh-default'): string {
  return stringify({ apiVersion: 'telemetry.istio.io/v1', kind: 'Telemetry', metadata: { name, namespace }, spec });
}
function meshDoc(mesh: Record<string, unknown>): string {
  return stringify({ apiVersion: 'meshconfig.istio.io/v1alpha1', kind: 'MeshConfig', metadata: { name: 'mesh' }, ...mesh });
}
/** The Telemetry documents of a conformance file (WasmPlugin halves left out), in `namespace`. */
function telemetries(path: string, namespace?: string): string {
  return read(path)
    .split(/^---$/m)
    .map((d) => parse(d) as { kind?: string; metadata: Record<string, unknown> } | null)
    .filter((d) => d?.kind === 'Telemetry')
    .map((d) => stringify(namespace ? { ...d, metadata: { ...d!.metadata, namespace } } : d))
    .join('---\n');
}

const SELF = stringify({
  apiVersion: 'networking.istio.io/v1', kind: 'ServiceEntry', metadata: { name: 'reviews' },
  spec: { hosts: ['reviews.default.svc.cluster.local'], location: 'MESH_INTERNAL', resolution: 'STATIC', ports: [{ number: 9080, name: 'http' }], endpoints: [{ address: '10.1.1.1', labels: { app: 'reviews' } }] },
});
const docs = (...d: string[]) => [SELF, ...d].filter(Boolean).join('---\n');
const run = (...d: string[]) => translate(docs(...d), sidecarNode({ labels: { app: 'reviews' } }));

/** The istioStats of a listener's connection managers and TCP proxies (all equal). */
function statsOf(t: Translation, name: string): IstioStats | undefined {
  const all = filterChainsOf(listener(t, name)).flatMap((c) => [httpConnectionManagerOf(c), tcpProxyOf(c)].filter((f) => f !== undefined)).map((f) => f.istioStats);
  for (const x of all) expect(x).toEqual(all[0]);
  return all[0];
}
const client = (t: Translation) => statsOf(t, 'virtualOutbound');
const server = (t: Translation) => statsOf(t, 'virtualInbound');
const OFF: IstioStats = { disabled: true, metrics: [] };

describe("the metrics task's Telemetry resources", () => {
  it('no Telemetry metrics: every metric, standard labels (nothing set)', () => {
    const t = run();
    expect([client(t), server(t)]).toEqual([undefined, undefined]);
  });

  it('remove-all-metrics: ALL_METRICS disabled for CLIENT_AND_SERVER', () => {
    const t = run(read(`${TASK}snip_disable_metrics_1.yaml`));
    expect([client(t), server(t)]).toEqual([OFF, OFF]);
  });

  it('remove-request-count: requests_total dropped on both sides, the other metrics kept', () => {
    const t = run(read(`${TASK}snip_disable_metrics_2.yaml`));
    const dropped: IstioStats = { metrics: [{ name: 'requests_total', drop: true, dimensions: {}, tagsToRemove: [] }] };
    expect([client(t), server(t)]).toEqual([dropped, dropped]);
  });

  it('remove-client / remove-server: one side only', () => {
    const c = run(read(`${TASK}snip_disable_metrics_3.yaml`));
    expect(client(c)?.metrics).toEqual([{ name: 'requests_total', drop: true, dimensions: {}, tagsToRemove: [] }]);
    expect(server(c)).toBeUndefined();
    const s = run(read(`${TASK}snip_disable_metrics_4.yaml`));
    expect([client(s), server(s)?.metrics[0].drop]).toEqual([undefined, true]);
  });

  it('remove-tags: grpc_response_status removed from requests_total', () => {
    const t = run(read(`${TASK}snip_override_metrics_1.yaml`));
    expect(client(t)).toEqual({ metrics: [{ name: 'requests_total', drop: false, dimensions: {}, tagsToRemove: ['grpc_response_status'] }] });
  });

  it('custom-tags: destination_x on the client side, source_x on the server side, CEL values', () => {
    const t = run(read(`${TASK}snip_override_metrics_2.yaml`));
    expect(client(t)).toEqual({ metrics: [{ name: 'requests_total', drop: false, dimensions: { destination_x: "upstream_peer.labels['app'].value" }, tagsToRemove: [] }] });
    expect(server(t)).toEqual({ metrics: [{ name: 'requests_total', drop: false, dimensions: { source_x: "downstream_peer.labels['app'].value" }, tagsToRemove: [] }] });
  });

  it("customize-metrics (namespace Telemetry): destination_port and request_host on requests_total", () => {
    const t = run(telemetries('docs-tasks/observability/customize-metrics/snip_enable_custom_metrics_1.yaml', 'default'));
    expect(client(t)?.metrics).toEqual([{ name: 'requests_total', drop: false, dimensions: { destination_port: 'string(destination.port)', request_host: 'request.host' }, tagsToRemove: [] }]);
  });

  it("classify-metrics: the Telemetry half (an attribute the Wasm plugin would set) replaces response_code", () => {
    const t = run(telemetries('docs-tasks/observability/classify-metrics/snip_classify_metrics_by_response_1.yaml', 'default'));
    expect(server(t)?.metrics).toEqual([{ name: 'requests_total', drop: false, dimensions: { response_code: 'istio_responseClass' }, tagsToRemove: [] }]);
  });

  it("the integration test's additional labels: ALL_METRICS with a filter_state label per side", () => {
    const t = run(telemetries('tests/integration/telemetry/api/testdata/additional-labels.yaml', 'default'));
    const c = client(t)!;
    expect(c.metrics.map((m) => m.name)).toContain('tcp_sent_bytes_total');
    expect(c.metrics.find((m) => m.name === 'requests_total')?.dimensions).toEqual({ upstream_custom_label: "filter_state.upstream_peer.labels['custom-label']" });
    expect(server(t)!.metrics.find((m) => m.name === 'response_bytes')?.dimensions).toEqual({ downstream_custom_label: "filter_state.downstream_peer.labels['custom-label']" });
  });
});

describe("istiod's merge", () => {
  it('a namespace Telemetry that enables metrics again after the root disabled them all', () => {
    const root = read(`${TASK}snip_disable_metrics_1.yaml`);
    const ns = telemetry({ metrics: [{ providers: [{ name: 'prometheus' }], overrides: [{ match: { metric: 'REQUEST_COUNT' }, tagOverrides: { request_host: { value: 'request.host' } } }] }] }, 'default', 'ns');
    expect(client(run(root, ns))?.disabled).toBeUndefined();
  });

  it('a provider list without prometheus reports nothing; defaultProviders.metrics decides without Telemetry', () => {
    const sd = meshDoc({ extensionProviders: [{ name: 'sd', stackdriver: {} }] });
    const t = run(sd, telemetry({ metrics: [{ providers: [{ name: 'sd' }] }] }));
    expect(client(t)).toEqual(OFF);
    expect(t.warnings.join('\n')).toMatch(/metrics provider sd is a stackdriver provider/);
    expect(client(run(meshDoc({ defaultProviders: { metrics: [] } })))).toEqual(OFF);
    expect(client(run(meshDoc({ extensionProviders: [{ name: 'prom', prometheus: {} }], defaultProviders: { metrics: ['prom'] } })))).toBeUndefined();
  });

  it('later overrides of a metric win; tags merge; a TCP metric override applies to the TCP proxies', () => {
    const t = run(
      telemetry({
        metrics: [
          { overrides: [{ match: { metric: 'TCP_SENT_BYTES' }, disabled: true }, { match: { metric: 'REQUEST_DURATION', mode: 'CLIENT' }, tagOverrides: { a: { value: "'x'" }, b: { operation: 'REMOVE' } } }] },
          { overrides: [{ match: { metric: 'REQUEST_DURATION', mode: 'CLIENT' }, tagOverrides: { a: { operation: 'REMOVE' } } }] },
        ],
      }),
    );
    expect(client(t)?.metrics).toEqual([
      { name: 'request_duration_milliseconds', drop: false, dimensions: {}, tagsToRemove: ['a', 'b'] },
      { name: 'tcp_sent_bytes_total', drop: true, dimensions: {}, tagsToRemove: [] },
    ]);
    expect(server(t)?.metrics).toEqual([{ name: 'tcp_sent_bytes_total', drop: true, dimensions: {}, tagsToRemove: [] }]);
  });

  it('refuses a tag value that is not CEL, an UPSERT without a value, a REMOVE with one, an unknown metric', () => {
    const bad = (o: Record<string, unknown>) => parseError(telemetry({ metrics: [{ overrides: [o] }] })).message;
    expect(bad({ tagOverrides: { x: { value: 'request.host ==' } } })).toMatch(/spec\.metrics\[0\]\.overrides\[0\]\.tagOverrides\.x\.value: invalid CEL expression/);
    expect(bad({ tagOverrides: { x: { operation: 'UPSERT' } } })).toMatch(/needs a value/);
    expect(bad({ tagOverrides: { x: { operation: 'REMOVE', value: 'a' } } })).toMatch(/REMOVE tag override takes no value/);
    expect(bad({ match: { metric: 'NOPE' } })).toMatch(/overrides\[0\]\.match\.metric/);
  });
});
