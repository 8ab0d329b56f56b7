/**
 * Istio's telemetry settings as the data plane applies them: the Telemetry resource's tracing,
 * meshConfig's tracing extension providers, and ProxyConfig.tracing. Field names are read in
 * both spellings protojson takes (`customTags` and `custom_tags`), as istiod reads them.
 */
import type { Field } from '../reader.js';
import { checkCel } from '../../common/cel.js';
import { compileFormat } from '../../common/substitution-format.js';
import type { AccessLogFormat } from '../snapshot.js';
import type {
  AccessLogProviderSpec,
  CustomTagSpec,
  ProviderHeaderSpec,
  ProxyTracingSpec,
  ResourceMeta,
  TelemetryAccessLoggingSpec,
  TelemetryMetricsSpec,
  TelemetrySpec,
  TelemetryTracingSpec,
  TracingProviderSpec,
} from './resources.js';

/** A field by its camelCase name or its proto (snake_case) name; `known` accepts both. */
function either(f: Field, name: string): Field {
  const camel = f.at(name);
  return camel.present ? camel : f.at(snake(name));
}

function snake(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

function known(...names: string[]): string[] {
  return names.flatMap((n) => [n, snake(n)]);
}

function percent(f: Field): number | undefined {
  if (!f.present) return undefined;
  const v = typeof f.value === 'object' && f.value !== null && 'value' in f.value ? f.at('value').number() : f.number();
  if (v < 0 || v > 100) f.fail(`must be between 0 and 100, got ${v}`);
  return v;
}

/** A wrapped bool (`true`, or `{ value: true }` as BoolValue may be written). */
function wrappedBool(f: Field): boolean | undefined {
  if (!f.present) return undefined;
  return typeof f.value === 'object' && f.value !== null ? f.at('value').bool() : f.bool();
}

/** Telemetry.tracing[].customTags / ProxyConfig.tracing.customTags: literal, environment or header. */
export function parseCustomTags(f: Field): Record<string, CustomTagSpec> {
  const out: Record<string, CustomTagSpec> = {};
  for (const [tag, t] of f.entries()) {
    t.object(known('literal', 'environment', 'header', 'formatter'));
    const literal = t.at('literal');
    const env = t.at('environment');
    const header = t.at('header');
    const formatter = t.at('formatter');
    const kinds = [literal, env, header, formatter].filter((k) => k.present).length;
    if (kinds !== 1) t.fail('a custom tag is exactly one of literal, environment, header, formatter');
    if (literal.present) out[tag] = { literal: literal.object(['value']).at('value').optString() ?? '' };
    else if (formatter.present) {
      const text = formatter.object(['value']).at('value').nonEmptyString();
      formatField(formatter.at('value'), { text });
      out[tag] = { formatter: text };
    }
    else {
      const src = (env.present ? env : header).object(known('name', 'defaultValue'));
      const spec = { name: src.at('name').nonEmptyString(), ...optional('defaultValue', either(src, 'defaultValue').optString()) };
      out[tag] = env.present ? { environment: spec } : { header: spec };
    }
  }
  return out;
}

function optional<K extends string, V>(key: K, v: V | undefined): { [P in K]?: V } {
  return (v === undefined ? {} : { [key]: v }) as { [P in K]?: V };
}

const TRACING_FIELDS = known('match', 'providers', 'randomSamplingPercentage', 'disableSpanReporting', 'customTags', 'useRequestIdForTraceSampling', 'enableIstioTags', 'disableContextPropagation');

export function parseTelemetry(spec: Field, meta: ResourceMeta): TelemetrySpec {
  spec.object(known('selector', 'targetRef', 'targetRefs', 'tracing', 'accessLogging', 'metrics'));
  for (const f of ['targetRef', 'targetRefs']) {
    if (either(spec, f).present) either(spec, f).fail('targetRef (Gateway API and waypoint attachment) is not supported; use selector');
  }
  const sel = spec.at('selector').optObject(known('matchLabels'));
  const selector = sel ? either(sel, 'matchLabels').stringMap() : undefined;
  const tracing = spec.at('tracing').optList().map((t): TelemetryTracingSpec => {
    t.object(TRACING_FIELDS);
    const providers = t.at('providers').optList().map((p) => p.object(['name']).at('name').nonEmptyString());
    const tags = either(t, 'customTags');
    return {
      ...optional('mode', workloadMode(t)),
      providers,
      ...optional('randomSamplingPercentage', percent(either(t, 'randomSamplingPercentage'))),
      ...optional('disableSpanReporting', wrappedBool(either(t, 'disableSpanReporting'))),
      ...(tags.present ? { customTags: parseCustomTags(tags) } : {}),
      ...optional('useRequestIdForTraceSampling', wrappedBool(either(t, 'useRequestIdForTraceSampling'))),
      ...optional('enableIstioTags', wrappedBool(either(t, 'enableIstioTags'))),
      ...optional('disableContextPropagation', wrappedBool(either(t, 'disableContextPropagation'))),
    };
  });
  const accessLogging = either(spec, 'accessLogging').optList().map((a): TelemetryAccessLoggingSpec => {
    a.object(['match', 'providers', 'disabled', 'filter']);
    const providers = a.at('providers').optList().map((p) => p.object(['name']).at('name').nonEmptyString());
    const filter = a.at('filter').optObject(['expression']);
    const expression = filter?.at('expression').optString();
    if (expression !== undefined) celField(filter!.at('expression'), expression);
    return {
      ...optional('mode', workloadMode(a)),
      providers,
      ...optional('disabled', wrappedBool(a.at('disabled'))),
      ...optional('filter', expression || undefined),
    };
  });
  const metrics = spec.at('metrics').optList().map(parseMetrics);
  return { meta, ...(selector && Object.keys(selector).length ? { selector } : {}), tracing, accessLogging, metrics };
}

const METRICS = [
  'ALL_METRICS',
  'REQUEST_COUNT',
  'REQUEST_DURATION',
  'REQUEST_SIZE',
  'RESPONSE_SIZE',
  'TCP_OPENED_CONNECTIONS',
  'TCP_CLOSED_CONNECTIONS',
  'TCP_SENT_BYTES',
  'TCP_RECEIVED_BYTES',
  'GRPC_REQUEST_MESSAGES',
  'GRPC_RESPONSE_MESSAGES',
] as const;

/** One metrics entry: providers and overrides (tag values are CEL, checked here). */
function parseMetrics(m: Field): TelemetryMetricsSpec {
  m.object(known('providers', 'overrides', 'reportingInterval'));
  const providers = m.at('providers').optList().map((p) => p.object(['name']).at('name').nonEmptyString());
  const overrides = m.at('overrides').optList().map((o) => {
    o.object(known('match', 'disabled', 'tagOverrides'));
    const match = o.at('match').optObject(known('metric', 'customMetric', 'mode'));
    const metric = match?.at('metric').optOneOf(METRICS);
    const customMetric = match ? either(match, 'customMetric').optString() : undefined;
    if (metric && customMetric) match!.fail('a metric selector is one of metric or customMetric');
    const tags: TelemetryMetricsSpec['overrides'][number]['tagOverrides'] = {};
    for (const [tag, t] of either(o, 'tagOverrides').entries()) {
      t.object(['operation', 'value']);
      const operation = t.at('operation').optOneOf(['UPSERT', 'REMOVE'] as const) ?? 'UPSERT';
      const value = t.at('value').optString();
      if (operation === 'REMOVE') {
        if (value !== undefined) t.at('value').fail('a REMOVE tag override takes no value');
        tags[tag] = { operation };
      } else {
        if (!value) t.at('value').fail('an UPSERT tag override needs a value (a CEL expression)');
        celField(t.at('value'), value!);
        tags[tag] = { operation, value: value! };
      }
    }
    return {
      ...optional('mode', match?.at('mode').optOneOf(['CLIENT', 'SERVER', 'CLIENT_AND_SERVER'] as const)),
      ...optional('metric', metric),
      ...optional('customMetric', customMetric || undefined),
      ...optional('disabled', wrappedBool(o.at('disabled'))),
      tagOverrides: tags,
    };
  });
  return { providers, overrides };
}

/** match.mode of a tracing or accessLogging entry. */
function workloadMode(entry: Field): 'CLIENT' | 'SERVER' | 'CLIENT_AND_SERVER' | undefined {
  const match = entry.at('match').optObject(['mode']);
  return match?.at('mode').optOneOf(['CLIENT', 'SERVER', 'CLIENT_AND_SERVER'] as const);
}

/** A CEL expression the data plane can evaluate, else the field's error. */
function celField(f: Field, expression: string): void {
  try {
    checkCel(expression);
  } catch (e) {
    f.fail((e as Error).message);
  }
}

/** An access log format the data plane can compile, else the field's error (an unknown %OPERATOR%, ...). */
export function formatField(f: Field, format: AccessLogFormat): AccessLogFormat {
  try {
    compileFormat(format);
  } catch (e) {
    f.fail((e as Error).message);
  }
  return format;
}

/** Istio appends a newline to a text format that has none (telemetry_logging.go fileAccessLogFormat). */
export function withNewline(text: string): string {
  return text.endsWith('\n') ? text : `${text}\n`;
}

const UNSUPPORTED_LOGGERS = ['envoyHttpAls', 'envoyTcpAls'];

/** An extensionProviders entry that logs requests; undefined for the other kinds. */
export function parseAccessLogProvider(p: Field): AccessLogProviderSpec | undefined {
  const name = p.at('name').nonEmptyString();
  const unsupported = UNSUPPORTED_LOGGERS.find((k) => p.at(k).present);
  if (unsupported) return { name, kind: 'unsupported', what: unsupported };
  if (p.at('envoyOtelAls').present) return parseOtelLogProvider(name, p.at('envoyOtelAls'));
  if (!p.at('envoyFileAccessLog').present) return undefined;
  const f = p.at('envoyFileAccessLog').object(known('path', 'logFormat', 'omitEmptyValues'));
  const lf = either(f, 'logFormat').optObject(['text', 'labels']);
  if (lf && lf.at('text').present && lf.at('labels').present) lf.fail('logFormat is one of text or labels');
  let format: { text: string } | { labels: Record<string, unknown> } | undefined;
  if (lf?.at('text').present) {
    const text = lf.at('text').string();
    if (text) format = { text: withNewline(text) };
  } else if (lf?.at('labels').present) {
    const labels = lf.at('labels').object().value as Record<string, unknown>;
    if (Object.keys(labels).length) format = { labels };
  }
  if (format) formatField(lf!, 'text' in format ? { text: format.text } : { json: format.labels });
  return {
    name,
    kind: 'file',
    path: f.at('path').optString() ?? '',
    ...(format ? { format } : {}),
    omitEmptyValues: either(f, 'omitEmptyValues').optBool() === true,
  };
}

/** ProxyConfig.tracing: sampling, custom tags, path tag length, the legacy Zipkin address; other tracers are not exported. */
export function parseProxyTracing(f: Field, warnings: string[], where: string): ProxyTracingSpec {
  f.object(known('sampling', 'customTags', 'maxPathTagLength', 'zipkin', 'lightstep', 'datadog', 'stackdriver', 'openCensusAgent', 'tlSettings', 'tlsSettings', 'enableIstioTags'));
  const sampling = f.at('sampling').present ? f.at('sampling').number() : undefined;
  const zipkin = f.at('zipkin').optObject(['address']);
  const others = ['lightstep', 'datadog', 'stackdriver', 'openCensusAgent'].filter((k) => either(f, k).present);
  if (others.length) warnings.push(`${where}: tracing ${others.join(', ')} accepted but not exported (Outrigger exports OpenTelemetry and Zipkin)`);
  const tags = either(f, 'customTags');
  const maxLen = either(f, 'maxPathTagLength').optInt(0, 2 ** 32 - 1);
  return {
    ...optional('sampling', sampling),
    customTags: tags.present ? parseCustomTags(tags) : {},
    ...(maxLen ? { maxPathTagLength: maxLen } : {}),
    ...optional('zipkinAddress', zipkin?.at('address').optString() || undefined),
  };
}

const UNSUPPORTED_TRACERS = ['datadog', 'skywalking', 'lightstep', 'stackdriver'];

/** An extensionProviders entry that traces; undefined for the other kinds (ext_authz, access logs, metrics). */
export function parseTracingProvider(p: Field): TracingProviderSpec | undefined {
  const name = p.at('name').nonEmptyString();
  const unsupported = UNSUPPORTED_TRACERS.find((k) => p.at(k).present);
  if (unsupported) return { name, kind: 'unsupported', what: unsupported };
  if (p.at('opentelemetry').present) {
    const o = p.at('opentelemetry').object(known('service', 'port', 'maxTagLength', 'http', 'grpc', 'resourceDetectors', 'dynatraceSampler', 'serviceAttributeEnrichment'));
    if (either(o, 'dynatraceSampler').present) either(o, 'dynatraceSampler').fail('the Dynatrace sampler is not supported');
    const http = o.at('http').optObject(['path', 'timeout', 'headers']);
    const grpc = o.at('grpc').optObject(known('timeout', 'initialMetadata'));
    const detectors = either(o, 'resourceDetectors').optObject(['environment', 'dynatrace']);
    if (detectors?.at('dynatrace').present) detectors.at('dynatrace').fail('the Dynatrace resource detector is not supported');
    return {
      name,
      kind: 'opentelemetry',
      service: o.at('service').nonEmptyString(),
      port: o.at('port').port(),
      ...optional('maxTagLength', either(o, 'maxTagLength').optInt(0, 2 ** 32 - 1)),
      ...(http ? { http: { path: http.at('path').optString() ?? '', ...optional('timeoutMs', http.at('timeout').optDurationMs()), headers: providerHeaders(http.at('headers')) } } : {}),
      ...(grpc ? { grpc: { ...optional('timeoutMs', grpc.at('timeout').optDurationMs()), initialMetadata: providerHeaders(either(grpc, 'initialMetadata')) } } : {}),
      environmentResource: !!detectors?.at('environment').present,
    };
  }
  if (p.at('zipkin').present) {
    const z = p.at('zipkin').object([...known('service', 'port', 'maxTagLength', 'path', 'traceContextOption', 'timeout', 'headers'), 'enable64bitTraceId', 'enable_64bit_trace_id']);
    const option = either(z, 'traceContextOption').optOneOf(['USE_B3', 'USE_B3_WITH_W3C_PROPAGATION'] as const);
    return {
      name,
      kind: 'zipkin',
      service: z.at('service').nonEmptyString(),
      port: z.at('port').port(),
      ...optional('maxTagLength', either(z, 'maxTagLength').optInt(0, 2 ** 32 - 1)),
      ...optional('path', z.at('path').optString() || undefined),
      enable64bitTraceId: (z.at('enable64bitTraceId').optBool() ?? z.at('enable_64bit_trace_id').optBool()) === true,
      traceContextOption: option ?? 'USE_B3',
      ...optional('timeoutMs', z.at('timeout').optDurationMs()),
      headers: providerHeaders(z.at('headers')),
    };
  }
  return undefined; // ext_authz, access log, metrics and SDS providers: not tracers
}

/** envoyOtelAls: the collector's service and port, the log name, the body's text format and the attributes' (labels). */
function parseOtelLogProvider(name: string, f: Field): AccessLogProviderSpec {
  f.object(known('service', 'port', 'logName', 'logFormat'));
  const lf = either(f, 'logFormat').optObject(['text', 'labels']);
  const text = lf?.at('text').optString();
  if (text) formatField(lf!.at('text'), { text });
  const labels = lf?.at('labels').present ? lf.at('labels').stringMap() : undefined;
  for (const [k, v] of Object.entries(labels ?? {})) formatField(lf!.at('labels').at(k), { text: v });
  const logName = either(f, 'logName').optString();
  return {
    name,
    kind: 'otel',
    service: f.at('service').nonEmptyString(),
    port: f.at('port').port(),
    ...optional('logName', logName || undefined),
    ...optional('text', text || undefined),
    ...(labels && Object.keys(labels).length ? { labels } : {}),
  };
}

function providerHeaders(f: Field): ProviderHeaderSpec[] {
  return f.optList().map((h) => {
    h.object(known('name', 'value', 'envName'));
    const value = h.at('value').optString();
    const envName = either(h, 'envName').optString();
    return { name: h.at('name').nonEmptyString(), ...optional('value', value), ...optional('envName', envName) };
  });
}
