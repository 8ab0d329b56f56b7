// Access logging as istiod configures it: Telemetry accessLogging (root, namespace, workload;
// client and server modes; disabled; CEL filters) over meshConfig's default providers and file
// providers, and meshConfig.accessLogFile without the Telemetry API. Istio's own task and
// integration-test configs are read from ../shared/conformance.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import type { AccessLog } from '../../src/config/snapshot.js';
import type { Translation } from '../../src/config/istio/translate.js';
import { filterChainsOf, httpConnectionManagerOf, tcpProxyOf } from '../../src/config/envoy/network-filters.js';
import { translateIstio } from '../../src/config/istio/translate.js';
import { ISTIO_DEFAULT_JSON_FORMAT, ISTIO_DEFAULT_TEXT_FORMAT } from '../../src/config/istio/access-log-formats.js';
import { gatewayNode, listener, parseError, parseYaml, sidecarNode, translate } from './helpers.js';

const CONFORMANCE = new URL('../../../shared/conformance/istio/', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, CONFORMANCE), 'utf8');

/** A meshConfig fragment (an IstioOperator's spec.meshConfig, or bare) as a MeshConfig document. */
function meshDoc(mesh: Record<string, unknown>): string {
  return stringify({ apiVersion: 'meshconfig.istio.io/v1alpha1', kind: 'MeshConfig', metadata: { name: 'mesh' }, ...mesh });
}

function telemetry(spec: Record<string, unknown>, namespace = 'istio-system', name = 'mesh-default'): string {
  return stringify({ apiVersion: 'telemetry.istio.io/v1', kind: 'Telemetry', metadata: { name, namespace }, spec });
}

/** A Telemetry document from Istio's conformance data, placed in `namespace`. */
function telemetryFile(path: string, namespace: string): string {
  const doc = parse(read(path)) as { metadata: Record<string, unknown> };
  return stringify({ ...doc, metadata: { ...doc.metadata, namespace } });
}

const SELF = stringify({
  apiVersion: 'networking.istio.io/v1', kind: 'ServiceEntry', metadata: { name: 'httpbin' },
  spec: { hosts: ['httpbin.default.svc.cluster.local'], location: 'MESH_INTERNAL', resolution: 'STATIC', ports: [{ number: 8000, name: 'http' }], endpoints: [{ address: '10.1.1.1', labels: { app: 'httpbin' } }] },
});
const docs = (...d: string[]) => [SELF, ...d].join('---\n');
const node = (labels: Record<string, string> = { app: 'httpbin' }) => sidecarNode({ labels });

/** The access logs of every connection manager and TCP proxy of a listener (all equal in these cases). */
function logsOf(t: Translation, name: string): AccessLog[] | undefined {
  const filters = filterChainsOf(listener(t, name)).flatMap((c) => [httpConnectionManagerOf(c), tcpProxyOf(c)].filter((f) => f !== undefined));
  const all = filters.map((f) => f.accessLog);
  const first = all.find((x) => x !== undefined);
  for (const x of all) expect(x).toEqual(first);
  return first;
}
const client = (t: Translation) => logsOf(t, 'virtualOutbound');
const server = (t: Translation) => logsOf(t, 'virtualInbound');

const STDOUT_TEXT: AccessLog = { path: '/dev/stdout', format: { text: ISTIO_DEFAULT_TEXT_FORMAT } };

describe('Telemetry accessLogging', () => {
  it("Istio's access-log task: the built-in envoy provider logs client and server traffic to stdout in Istio's text format, HTTP and TCP", () => {
    const t = translate(docs(telemetryFile('docs-tasks/observability/access-log/snip_using_telemetry_api_1.yaml', 'istio-system')), node());
    expect(client(t)).toEqual([STDOUT_TEXT]);
    expect(server(t)).toEqual([STDOUT_TEXT]);
    // the TCP passthrough and the HTTP chains alike (logsOf checks they are equal)
    const outboundTcp = filterChainsOf(listener(t, 'virtualOutbound')).map(tcpProxyOf).filter((x) => x);
    expect(outboundTcp.length).toBeGreaterThan(0);
  });

  it("the built-in provider takes meshConfig's format and encoding, as istiod's FileAccessLogFromMeshConfig", () => {
    const json = translate(docs(meshDoc({ accessLogEncoding: 'JSON' }), telemetry({ accessLogging: [{ providers: [{ name: 'envoy' }] }] })), node());
    expect(client(json)).toEqual([{ path: '/dev/stdout', format: { json: ISTIO_DEFAULT_JSON_FORMAT } }]);
    const text = translate(docs(meshDoc({ accessLogFormat: '%RESPONSE_CODE% %REQ(:PATH)%' }), telemetry({ accessLogging: [{ providers: [{ name: 'envoy' }] }] })), node());
    expect(client(text)).toEqual([{ path: '/dev/stdout', format: { text: '%RESPONSE_CODE% %REQ(:PATH)%\n' } }]);
  });

  it("Istio's telemetry integration tests: mode CLIENT, SERVER, CLIENT_AND_SERVER and the request.path filter", () => {
    const at = (file: string) => translate(docs(telemetryFile(`tests/integration/telemetry/api/testdata/accesslog/${file}`, 'default')), node());
    expect([client(at('mode-client.yaml')), server(at('mode-client.yaml'))]).toEqual([[STDOUT_TEXT], undefined]);
    expect([client(at('mode-server.yaml')), server(at('mode-server.yaml'))]).toEqual([undefined, [STDOUT_TEXT]]);
    expect([client(at('mode-clientserver.yaml')), server(at('mode-clientserver.yaml'))]).toEqual([[STDOUT_TEXT], [STDOUT_TEXT]]);
    const filtered = { ...STDOUT_TEXT, filter: { cel: "request.path == '/filter-test'" } };
    expect([client(at('filter.yaml')), server(at('filter.yaml'))]).toEqual([[filtered], [filtered]]);
  });

  it('a workload Telemetry disables what the mesh enables; disabled in SERVER mode keeps the client log (the logs task, with the envoy provider)', () => {
    const mesh = telemetry({ accessLogging: [{ providers: [{ name: 'envoy' }] }] });
    const off = telemetry({ selector: { matchLabels: { app: 'sleep' } }, accessLogging: [{ providers: [{ name: 'envoy' }], disabled: true }] }, 'default', 'disable-sleep-logging');
    expect(client(translate(docs(mesh, off), node({ app: 'sleep' })))).toBeUndefined();
    expect(client(translate(docs(mesh, off), node({ app: 'httpbin' })))).toEqual([STDOUT_TEXT]);
    const serverOff = telemetry({ selector: { matchLabels: { app: 'httpbin' } }, accessLogging: [{ providers: [{ name: 'envoy' }], match: { mode: 'SERVER' }, disabled: true }] }, 'default', 'x');
    const t = translate(docs(mesh, serverOff), node());
    expect([client(t), server(t)]).toEqual([[STDOUT_TEXT], undefined]);
    // an entry naming no provider applies to the one named before it
    const unnamed = telemetry({ selector: { matchLabels: { app: 'httpbin' } }, accessLogging: [{ disabled: true }] }, 'default', 'y');
    expect(client(translate(docs(mesh, unnamed), node()))).toBeUndefined();
  });

  it('the filter of the level that names the provider last; a lower level with no Telemetry logging inherits', () => {
    const root = telemetry({ accessLogging: [{ providers: [{ name: 'envoy' }], filter: { expression: 'response.code >= 400' } }] });
    expect(client(translate(docs(root), node()))).toEqual([{ ...STDOUT_TEXT, filter: { cel: 'response.code >= 400' } }]);
    const ns = telemetry({ accessLogging: [{ providers: [{ name: 'envoy' }], filter: { expression: 'response.code >= 500' } }] }, 'default', 'ns');
    expect(client(translate(docs(root, ns), node()))).toEqual([{ ...STDOUT_TEXT, filter: { cel: 'response.code >= 500' } }]);
  });

  it("envoyFileAccessLog providers: the integration tests' filter-state-log provider, its path and text format (a newline added)", () => {
    const values = parse(read('tests/integration/telemetry/api/controlplane-values.derived.yaml')) as { meshConfig: Record<string, unknown> };
    const t = translate(docs(meshDoc(values.meshConfig), telemetryFile('tests/integration/telemetry/api/testdata/accesslog/enable-filter-state-log.yaml', 'default')), node());
    expect(client(t)).toEqual([{ path: '/dev/stdout', format: { text: '%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %FILTER_STATE(upstream_peer)% %FILTER_STATE(downstream_peer)%\n' } }]);
    const labels = translate(
      docs(meshDoc({ extensionProviders: [{ name: 'json-file', envoyFileAccessLog: { path: '/var/log/access.log', logFormat: { labels: { code: '%RESPONSE_CODE%', path: '%REQ(:PATH)%' } } } }] }), telemetry({ accessLogging: [{ providers: [{ name: 'json-file' }] }] })),
      node(),
    );
    expect(client(labels)).toEqual([{ path: '/var/log/access.log', format: { json: { code: '%RESPONSE_CODE%', path: '%REQ(:PATH)%' } } }]);
  });

  it('meshConfig.defaultProviders.accessLogging logs without any Telemetry; providers are sorted by name, as istiod sorts them', () => {
    const mesh = meshDoc({ extensionProviders: [{ name: 'aaa', envoyFileAccessLog: { path: '/dev/stderr' } }], defaultProviders: { accessLogging: ['envoy', 'aaa'] } });
    expect(client(translate(docs(mesh), node()))).toEqual([{ path: '/dev/stderr', format: { text: ISTIO_DEFAULT_TEXT_FORMAT } }, STDOUT_TEXT]);
  });

  it("the OpenTelemetry provider task: envoyOtelAls to the collector's outbound cluster, Istio's text body, its labels; a gRPC ALS provider or an unknown one: a warning, no log", () => {
    const otel = read('docs-tasks/observability/otel-provider/snip_using_mesh_config_1.yaml');
    const mesh = (parse(otel) as { spec: { meshConfig: Record<string, unknown> } }).spec.meshConfig;
    const collector = stringify({
      apiVersion: 'networking.istio.io/v1', kind: 'ServiceEntry', metadata: { name: 'otel', namespace: 'istio-system' },
      spec: { hosts: ['opentelemetry-collector.istio-system.svc.cluster.local'], location: 'MESH_INTERNAL', resolution: 'STATIC', ports: [{ number: 4317, name: 'grpc', protocol: 'GRPC' }], endpoints: [{ address: '10.9.9.9' }] },
    });
    const t = translate(docs(meshDoc(mesh), collector, telemetryFile('docs-tasks/observability/otel-provider/snip_enable_envoys_access_logging_3.yaml', 'default')), node({ app: 'sleep' }));
    expect(client(t)).toEqual([
      {
        openTelemetry: {
          collector: { cluster: 'outbound|4317||opentelemetry-collector.istio-system.svc.cluster.local', authority: 'opentelemetry-collector.istio-system.svc.cluster.local', timeoutMs: 5000, headers: [] },
          logName: 'otel_envoy_accesslog',
          body: ISTIO_DEFAULT_TEXT_FORMAT,
          attributes: {},
        },
      },
    ]);
    const noService = translate(docs(meshDoc(mesh), telemetryFile('docs-tasks/observability/otel-provider/snip_enable_envoys_access_logging_3.yaml', 'default')), node({ app: 'sleep' }));
    expect(client(noService)).toBeUndefined();
    expect(noService.warnings.join('\n')).toMatch(/access log provider otel: no service opentelemetry-collector\.istio-system\.svc\.cluster\.local with port 4317/);
    const als = translate(docs(meshDoc({ extensionProviders: [{ name: 'als', envoyHttpAls: { service: 'x', port: 1 } }] }), telemetry({ accessLogging: [{ providers: [{ name: 'als' }] }] })), node());
    expect(als.warnings.join('\n')).toMatch(/access log provider als is an envoyHttpAls provider, which Outrigger does not export to/);
    const unknown = translate(docs(telemetry({ accessLogging: [{ providers: [{ name: 'nope' }] }] })), node());
    expect(unknown.warnings.join('\n')).toMatch(/access log provider nope is not among meshConfig.extensionProviders/);
  });

  it('gateways log as clients (istiod: the gateway listener class is CLIENT mode)', () => {
    const gw = stringify({ apiVersion: 'networking.istio.io/v1', kind: 'Gateway', metadata: { name: 'gw' }, spec: { selector: { istio: 'ingressgateway' }, servers: [{ port: { number: 8080, name: 'http', protocol: 'HTTP' }, hosts: ['*'] }] } });
    const mode = (m: string) => telemetry({ accessLogging: [{ providers: [{ name: 'envoy' }], match: { mode: m } }] });
    const t = translate(docs(gw, mode('CLIENT')), gatewayNode());
    const hcm = t.snapshot.listeners.flatMap((l) => filterChainsOf(l)).map(httpConnectionManagerOf).find((h) => h);
    expect(hcm?.accessLog).toEqual([STDOUT_TEXT]);
    const s = translate(docs(gw, mode('SERVER')), gatewayNode());
    expect(s.snapshot.listeners.flatMap((l) => filterChainsOf(l)).map(httpConnectionManagerOf).find((h) => h)?.accessLog).toBeUndefined();
  });
});

describe('meshConfig.accessLogFile (no Telemetry API)', () => {
  it("Istio's access-log task through meshConfig: stdout in Istio's text format; JSON encoding; a JSON accessLogFormat", () => {
    const iop = parse(read('docs-tasks/observability/access-log/snip_using_mesh_config_1.yaml')) as { spec: { meshConfig: Record<string, unknown> } };
    const t = translate(docs(meshDoc(iop.spec.meshConfig)), node());
    expect([client(t), server(t)]).toEqual([[STDOUT_TEXT], [STDOUT_TEXT]]);
    const json = translate(docs(meshDoc({ accessLogFile: '/dev/stdout', accessLogEncoding: 'JSON', accessLogFormat: '{"code":"%RESPONSE_CODE%"}' })), node());
    expect(client(json)).toEqual([{ path: '/dev/stdout', format: { json: { code: '%RESPONSE_CODE%' } } }]);
  });

  it('a Telemetry with access logging replaces it, even one that disables everything', () => {
    const off = telemetry({ accessLogging: [{ providers: [{ name: 'envoy' }], disabled: true }] });
    expect(client(translate(docs(meshDoc({ accessLogFile: '/dev/stdout' }), off), node()))).toBeUndefined();
  });

  it('--access-log text|json sets it to stdout, off clears it; a Telemetry still decides', () => {
    const run = (yaml: string, accessLog: 'off' | 'text' | 'json') => translateIstio(parseYaml(yaml), node(), { outboundPort: 15001, accessLog });
    expect(client(run(docs(), 'text'))).toEqual([STDOUT_TEXT]);
    expect(client(run(docs(), 'json'))).toEqual([{ path: '/dev/stdout', format: { json: ISTIO_DEFAULT_JSON_FORMAT } }]);
    expect(client(run(docs(meshDoc({ accessLogFile: '/tmp/x.log' })), 'off'))).toBeUndefined();
    // a text accessLogFormat does not become a JSON one
    expect(client(run(docs(meshDoc({ accessLogFormat: '%RESPONSE_CODE%' })), 'json'))).toEqual([{ path: '/dev/stdout', format: { json: ISTIO_DEFAULT_JSON_FORMAT } }]);
    const serverOnly = telemetry({ accessLogging: [{ providers: [{ name: 'envoy' }], match: { mode: 'SERVER' } }] });
    expect(client(run(docs(serverOnly), 'text'))).toBeUndefined();
  });
});

describe('refused with the field named', () => {
  it('a filter expression that is not CEL, or a matches() pattern RE2 refuses', () => {
    const e = parseError(telemetry({ accessLogging: [{ providers: [{ name: 'envoy' }], filter: { expression: 'response.code >=' } }] }));
    expect(e.message).toMatch(/field spec\.accessLogging\[0\]\.filter\.expression: invalid CEL expression/);
    const re = parseError(telemetry({ accessLogging: [{ filter: { expression: "request.path.matches('(a)\\\\1')" } }] }));
    expect(re.message).toMatch(/filter\.expression: matches: the pattern .* is not RE2/);
  });

  it('an unknown command operator in accessLogFormat or a provider format; a JSON encoding with a non-JSON format', () => {
    expect(parseError(meshDoc({ accessLogFormat: '%NOPE%' })).message).toMatch(/field accessLogFormat: .*NOPE/);
    expect(parseError(meshDoc({ extensionProviders: [{ name: 'f', envoyFileAccessLog: { logFormat: { text: '%REQ%' } } }] })).message).toMatch(/extensionProviders\[0\]\.envoyFileAccessLog\.logFormat: .*REQ/);
    expect(parseError(meshDoc({ accessLogEncoding: 'JSON', accessLogFormat: '%RESPONSE_CODE%' })).message).toMatch(/field accessLogFormat: with accessLogEncoding JSON, must be a JSON object/);
  });
});
