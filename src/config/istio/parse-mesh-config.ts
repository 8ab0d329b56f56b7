import { yamlLib } from '../yaml-libs.js';
import { Field, isPlainObject } from '../reader.js';
import type { ExtAuthzProviderSpec, MeshSettings } from './resources.js';
import { parseProxyConfig } from './proxy-config.js';
import { formatField, parseAccessLogProvider, parseTracingProvider, withNewline } from './parse-telemetry.js';

/** Istio's defaults for the MeshConfig fields Outrigger applies. */
export const DEFAULT_MESH: MeshSettings = {
  outboundTrafficPolicy: 'ALLOW_ANY',
  protocolDetectionTimeoutMs: 0,
};

/** MeshConfig fields that change what Outrigger does. */
const APPLIED = ['outboundTrafficPolicy', 'protocolDetectionTimeout', 'connectTimeout', 'pathNormalization', 'extensionProviders', 'defaultConfig', 'enableTracing', 'defaultProviders', 'accessLogFile', 'accessLogFormat', 'accessLogEncoding'];
/** Names the document itself carries (a MeshConfig document is the mesh config plus these). */
const ENVELOPE = ['apiVersion', 'kind', 'metadata'];

/**
 * A MeshConfig: either a document `kind: MeshConfig` (apiVersion meshconfig.istio.io/v1alpha1,
 * fields at the top level or under `spec`), or the YAML text under `data.mesh` of Istio's `istio`
 * ConfigMap. Fields other than the applied ones are valid mesh settings of the control plane:
 * reported once, not refused.
 */
export function parseMeshConfig(f: Field, warnings: string[], where: string): MeshSettings {
  const mesh: MeshSettings = { ...DEFAULT_MESH };
  f.object();
  const policy = f.at('outboundTrafficPolicy').optObject(['mode']);
  const policyMode = policy?.at('mode').optOneOf(['ALLOW_ANY', 'REGISTRY_ONLY'] as const);
  if (policyMode) mesh.outboundTrafficPolicy = policyMode;
  const detect = f.at('protocolDetectionTimeout').optDurationMs();
  if (detect !== undefined) {
    if (detect !== 0 && detect < 1) f.at('protocolDetectionTimeout').fail('must be at least 1ms, or 0s to disable');
    mesh.protocolDetectionTimeoutMs = detect;
  }
  const connect = f.at('connectTimeout').optDurationMs();
  if (connect !== undefined) {
    if (connect < 1) f.at('connectTimeout').fail('must be at least 1ms');
    mesh.connectTimeoutMs = connect;
  }
  const entries = f.at('extensionProviders').optList();
  const tracers = entries.flatMap((p) => parseTracingProvider(p.object()) ?? []);
  if (tracers.length) mesh.tracingProviders = tracers;
  const loggers = entries.flatMap((p) => parseAccessLogProvider(p) ?? []);
  if (loggers.length) mesh.accessLogProviders = loggers;
  const metrics = entries.flatMap((p) => parseMetricsProvider(p) ?? []);
  if (metrics.length) mesh.metricsProviders = metrics;
  const named = new Set([...tracers, ...loggers, ...metrics].map((t) => t.name));
  const providers = entries.filter((p) => !named.has(p.at('name').string())).flatMap((p) => parseExtAuthzProvider(p, warnings, where));
  if (providers.length) mesh.extensionProviders = providers;
  const enableTracing = f.at('enableTracing').optBool();
  if (enableTracing !== undefined) mesh.enableTracing = enableTracing;
  const defaults = f.at('defaultProviders').optObject(['tracing', 'metrics', 'accessLogging']);
  if (defaults) {
    const tracing = defaults.at('tracing').stringList();
    if (tracing.length) mesh.defaultTracingProviders = tracing;
    const logging = defaults.at('accessLogging').stringList();
    if (logging.length) mesh.defaultAccessLogProviders = logging;
    if (defaults.at('metrics').present) mesh.defaultMetricsProviders = defaults.at('metrics').stringList();
  }
  parseAccessLogSettings(f, mesh);
  const pn = f.at('pathNormalization').optObject(['normalization']);
  const mode = pn?.at('normalization').optOneOf(['DEFAULT', 'NONE', 'BASE', 'MERGE_SLASHES', 'DECODE_AND_MERGE_SLASHES'] as const);
  if (mode) mesh.pathNormalization = mode === 'DEFAULT' ? 'BASE' : mode;
  if (f.at('defaultConfig').present) mesh.defaultConfig = parseProxyConfig(f.at('defaultConfig'), warnings, `${where} defaultConfig`);
  const other = Object.keys(f.value as object).filter((k) => !APPLIED.includes(k) && !ENVELOPE.includes(k) && k !== 'spec');
  if (other.length) warnings.push(`${where}: mesh settings ${other.join(', ')} accepted but not applied by the data plane`);
  return mesh;
}

/** An extensionProviders entry that takes metrics: prometheus (applied), stackdriver (not). */
function parseMetricsProvider(p: Field): { name: string; kind: 'prometheus' | 'unsupported' } | undefined {
  const name = p.at('name').nonEmptyString();
  if (p.at('prometheus').present) return { name, kind: 'prometheus' };
  if (p.at('stackdriver').present) return { name, kind: 'unsupported' };
  return undefined;
}

/** accessLogFile, accessLogEncoding, accessLogFormat (checked as the data plane will compile it). */
function parseAccessLogSettings(f: Field, mesh: MeshSettings): void {
  const file = f.at('accessLogFile').optString();
  if (file) mesh.accessLogFile = file;
  const encoding = f.at('accessLogEncoding').optOneOf(['TEXT', 'JSON'] as const);
  if (encoding) mesh.accessLogEncoding = encoding;
  const format = f.at('accessLogFormat').optString();
  if (!format) return;
  mesh.accessLogFormat = format;
  if (encoding !== 'JSON') formatField(f.at('accessLogFormat'), { text: withNewline(format) });
  else {
    // istiod falls back to its default JSON format when this is not a JSON object; we refuse it instead
    let json: unknown;
    try {
      json = JSON.parse(format);
    } catch (e) {
      f.at('accessLogFormat').fail(`with accessLogEncoding JSON, must be a JSON object of format strings: ${(e as Error).message}`);
    }
    if (!isPlainObject(json)) f.at('accessLogFormat').fail('with accessLogEncoding JSON, must be a JSON object of format strings');
    formatField(f.at('accessLogFormat'), { json: json as Record<string, unknown> });
  }
}

/** `kind: MeshConfig`: the settings at the top level, or under `spec` when there is one. */
export function parseMeshConfigDocument(top: Field, warnings: string[], where: string): MeshSettings {
  const spec = top.at('spec');
  return parseMeshConfig(spec.present ? spec : top, warnings, where);
}

/** Istio's mesh ConfigMap (`istio`, or `istio-<revision>`): its `data.mesh` is MeshConfig YAML. */
export function isMeshConfigMap(kind: string, name: string | undefined, value: unknown): boolean {
  return kind === 'ConfigMap' && !!name && /^istio(-[a-z0-9-]+)?$/.test(name) && isPlainObject(value) && isPlainObject(value.data) && 'mesh' in value.data;
}

export function parseMeshConfigMap(top: Field, warnings: string[], where: string): MeshSettings {
  const text = top.at('data').at('mesh');
  let value: unknown;
  try {
    value = yamlLib().parse(text.string()) ?? {};
  } catch (e) {
    text.fail(`invalid mesh config YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  // errors inside the embedded YAML point at data.mesh, then at the path within it
  return parseMeshConfig(new Field(value, [...text.segs], text.ctx), warnings, where);
}

/** The fields of Istio's EnvoyExternalAuthorization{Http,Grpc}Provider (strict, as istiod decodes them). */
const COMMON_PROVIDER_FIELDS = ['service', 'port', 'timeout', 'failOpen', 'clearRouteCache', 'statusOnError', 'includeRequestBodyInCheck'];
const HTTP_PROVIDER_FIELDS = [
  ...COMMON_PROVIDER_FIELDS,
  'pathPrefix',
  'includeRequestHeadersInCheck',
  'includeHeadersInCheck',
  'includeAdditionalHeadersInCheck',
  'headersToUpstreamOnAllow',
  'headersToDownstreamOnDeny',
  'headersToDownstreamOnAllow',
];

/**
 * One meshConfig.extensionProviders entry that is not a tracer. The ext_authz ones are kept (both
 * kinds are called); logging and the rest are reported as not applied.
 */
function parseExtAuthzProvider(p: Field, warnings: string[], where: string): ExtAuthzProviderSpec[] {
  p.object();
  const name = p.at('name').nonEmptyString();
  const kind = (['envoyExtAuthzHttp', 'envoyExtAuthzGrpc'] as const).find((k) => p.at(k).present);
  if (!kind) {
    warnings.push(`${where}: extension provider ${name} is not an ext_authz provider: not applied`);
    return [];
  }
  const c = p.at(kind).object(kind === 'envoyExtAuthzHttp' ? HTTP_PROVIDER_FIELDS : COMMON_PROVIDER_FIELDS);
  const notApplied = ['clearRouteCache'].filter((k) => c.at(k).present);
  if (notApplied.length) warnings.push(`${where}: extension provider ${name}: ${notApplied.join(', ')} accepted but not applied`);
  const body = c.at('includeRequestBodyInCheck').optObject(['maxRequestBytes', 'allowPartialMessage', 'packAsBytes']);
  const common = {
    name,
    service: c.at('service').nonEmptyString(),
    port: c.at('port').port(),
    // Istio's default when the provider sets none (istiod writes it into the filter config)
    timeoutMs: c.at('timeout').optDurationMs() ?? 600_000,
    failOpen: c.at('failOpen').optBool() ?? false,
    statusOnError: parseStatusOnError(c.at('statusOnError')),
    ...(body
      ? {
          includeRequestBodyInCheck: {
            maxRequestBytes: body.at('maxRequestBytes').int(1, 2 ** 32 - 1),
            allowPartialMessage: body.at('allowPartialMessage').optBool() ?? false,
            packAsBytes: body.at('packAsBytes').optBool() ?? false,
          },
        }
      : {}),
  };
  if (kind === 'envoyExtAuthzGrpc') return [{ ...common, kind }];
  // kept as written: the ext_authz filter matches them case-insensitively (Istio sets ignoreCase)
  const headers = (k: string) => c.at(k).stringList();
  return [{
    ...common,
    kind,
    pathPrefix: c.at('pathPrefix').optString() ?? '',
    includeRequestHeadersInCheck: [...headers('includeRequestHeadersInCheck'), ...headers('includeHeadersInCheck')],
    includeAdditionalHeadersInCheck: Object.entries(c.at('includeAdditionalHeadersInCheck').stringMap()).map(([k, v]) => [k.toLowerCase(), v]),
    headersToUpstreamOnAllow: headers('headersToUpstreamOnAllow'),
    headersToDownstreamOnDeny: headers('headersToDownstreamOnDeny'),
    headersToDownstreamOnAllow: headers('headersToDownstreamOnAllow'),
  }];
}

/** statusOnError is a string holding an HTTP status (Istio: unset → 403; not a status → error). */
function parseStatusOnError(f: Field): number {
  if (!f.present) return 403;
  const code = Number(f.string());
  if (!Number.isInteger(code) || code < 100 || code > 599) f.fail(`invalid statusOnError "${f.value as string}": not an HTTP status code`);
  return code;
}
