/**
 * Envoy's access logs in the plain form → the Snapshot's AccessLog: the `access_log` of an
 * HttpConnectionManager or a tcp_proxy (envoy.config.accesslog.v3.AccessLog) with the file, stdout
 * and stderr loggers, their format (SubstitutionFormatString, or FileAccessLog's deprecated forms)
 * and their filter. The format strings and CEL expressions are checked as a worker compiles them.
 *
 * A logger that sends entries elsewhere (OpenTelemetry, gRPC ALS, Wasm, ...; istiod configures them
 * for some Telemetry providers) is skipped with a warning: an access log decides nothing about
 * security, and refusing it would refuse the whole listener. A filter Outrigger cannot apply is
 * refused instead: writing entries the filter would have kept out is not what was configured.
 */
import type { AccessLog, AccessLogComparison, AccessLogFilter, AccessLogFormat } from '../../snapshot.js';
import { checkCel } from '../../../common/cel.js';
import { ENVOY_RESPONSE_FLAGS } from '../../../common/envoy-response-flags.js';
import { compileFormat } from '../../../common/substitution-format.js';
import { messageType } from '../proto/registry.js';
import { structToJs, type StructMessage } from '../proto/values.js';
import { fieldPath, resourceError, type DecodeContext, type ResourceRef } from './context.js';
import { checkFields, type FieldPolicy } from './fields.js';
import { decodeHeaderMatcher } from './matchers.js';
import { typedConfigOf } from './typed-config.js';

type Msg = Record<string, any>;

const FILE_TYPE = 'envoy.extensions.access_loggers.file.v3.FileAccessLog';
const STDOUT_TYPE = 'envoy.extensions.access_loggers.stream.v3.StdoutAccessLog';
const STDERR_TYPE = 'envoy.extensions.access_loggers.stream.v3.StderrAccessLog';
const CEL_FILTER_TYPE = 'envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter';
const REQ_WITHOUT_QUERY_TYPE = 'envoy.extensions.formatter.req_without_query.v3.ReqWithoutQuery';

const ACCESS_LOG: FieldPolicy = { type: 'envoy.config.accesslog.v3.AccessLog', reads: ['name', 'filter', 'typed_config'] };
const FILE_LOG: FieldPolicy = { type: FILE_TYPE, reads: ['path', 'format', 'json_format', 'typed_json_format', 'log_format'] };
const STDOUT_LOG: FieldPolicy = { type: STDOUT_TYPE, reads: ['log_format'] };
const STDERR_LOG: FieldPolicy = { type: STDERR_TYPE, reads: ['log_format'] };
const FORMAT: FieldPolicy = {
  type: 'envoy.config.core.v3.SubstitutionFormatString',
  // content_type is the local reply's (the same message configures local_reply_config); an access log has none.
  // json_format_options.sort_properties: Envoy always sorts the keys now (the option is deprecated, a no-op).
  reads: ['text_format', 'json_format', 'text_format_source', 'omit_empty_values', 'content_type', 'json_format_options', 'formatters'],
};
const DATA_SOURCE: FieldPolicy = { type: 'envoy.config.core.v3.DataSource', reads: ['inline_string', 'inline_bytes', 'filename', 'environment_variable'] };
const COMPARISON: FieldPolicy = { type: 'envoy.config.accesslog.v3.ComparisonFilter', reads: ['op', 'value'] };
// no runtime layer: the value is default_value, as Envoy's when its runtime has no value under runtime_key
const RUNTIME_UINT32: FieldPolicy = { type: 'envoy.config.core.v3.RuntimeUInt32', reads: ['default_value', 'runtime_key'] };
const GRPC_STATUS: FieldPolicy = { type: 'envoy.config.accesslog.v3.GrpcStatusFilter', reads: ['statuses', 'exclude'] };
const EXTENSION_FILTER: FieldPolicy = { type: 'envoy.config.accesslog.v3.ExtensionFilter', reads: ['name', 'typed_config'] };
const CEL_FILTER: FieldPolicy = { type: CEL_FILTER_TYPE, reads: ['expression'] };
/** The loggers Outrigger writes, by type. */
const LOGGERS: Readonly<Record<string, FieldPolicy>> = { [FILE_TYPE]: FILE_LOG, [STDOUT_TYPE]: STDOUT_LOG, [STDERR_TYPE]: STDERR_LOG };

/** ComparisonFilter.Op by number: the shipped API predates NE (3), which then arrives as a bare number. */
const COMPARISON_OPS: readonly AccessLogComparison['op'][] = ['EQ', 'GE', 'LE', 'NE'];


/** The AccessLogFilter members Outrigger does not apply, and why (refused: the filter decides which entries are written). */
const REFUSED_FILTERS: Readonly<Record<string, string>> = {
  runtime_filter: 'runtime (sampling) access log filters are not supported: rarely used, and istiod never sends one',
  metadata_filter: 'metadata access log filters are not supported: rarely used, and istiod never sends one',
  log_type_filter: 'log type access log filters are not supported: rarely used, and istiod never sends one',
};

/**
 * An `access_log` list: the loggers Outrigger writes, in order; undefined when none is left (none
 * configured, or all skipped).
 */
export function decodeAccessLogs(list: Msg[] | undefined, ctx: DecodeContext, ref: ResourceRef, field: string): AccessLog[] | undefined {
  const out: AccessLog[] = [];
  (list ?? []).forEach((a, i) => {
    const log = decodeAccessLog(a, ctx, ref, fieldPath(field, i));
    if (log) out.push(log);
  });
  return out.length ? out : undefined;
}

/** One AccessLog; undefined, with a warning, for a logger that does not write to a file. */
function decodeAccessLog(a: Msg, ctx: DecodeContext, ref: ResourceRef, field: string): AccessLog | undefined {
  checkFields(a, ACCESS_LOG, ref, field, ctx);
  const at = (k: string) => fieldPath(field, k);
  const tc = typedConfigOf(a.typed_config, ref, at('typed_config'));
  if (!tc) throw resourceError(ref, at('typed_config'), `access log ${a.name || '(unnamed)'} needs a typed_config`);
  const policy = LOGGERS[tc.typeName];
  if (!policy) {
    ctx.warn(`${ref.kind} ${ref.name}: ${field}: access logger ${a.name || tc.typeName} (${tc.typeName}) is not written (file, stdout and stderr are): skipped`);
    return undefined;
  }
  if (!tc.message) throw resourceError(ref, at('typed_config'), `${tc.typeName} in a TypedStruct is not supported (send it as itself)`);
  const m = tc.message as Msg;
  const mAt = at('typed_config');
  checkFields(m, policy, ref, mAt, ctx);
  let path: string;
  let format: AccessLogFormat | undefined;
  if (tc.typeName === FILE_TYPE) {
    path = String(m.path ?? '');
    if (!path) throw resourceError(ref, fieldPath(mAt, 'path'), 'a file access log needs a path');
    format = fileFormat(m, ctx, ref, mAt);
  } else {
    path = tc.typeName === STDOUT_TYPE ? '/dev/stdout' : '/dev/stderr';
    format = m.log_format ? decodeFormat(m.log_format as Msg, ctx, ref, fieldPath(mAt, 'log_format')) : undefined;
  }
  const filter = a.filter ? decodeFilter(a.filter as Msg, ctx, ref, at('filter')) : undefined;
  try {
    // the format's operators as the worker will compile them (CEL and regexes are checked where decoded)
    compileFormat(format);
  } catch (e) {
    throw resourceError(ref, field, (e as Error).message);
  }
  return { path, ...(format ? { format } : {}), ...(filter ? { filter } : {}) };
}

/** FileAccessLog's access_log_format: log_format, or the deprecated format / json_format / typed_json_format. Absent: Envoy's default. */
function fileFormat(m: Msg, ctx: DecodeContext, ref: ResourceRef, field: string): AccessLogFormat | undefined {
  switch (m.access_log_format) {
    case 'log_format':
      return decodeFormat(m.log_format as Msg, ctx, ref, fieldPath(field, 'log_format'));
    case 'format':
      // an empty format string is Envoy's default format
      return m.format ? { text: String(m.format) } : undefined;
    case 'json_format':
      ctx.warn(`${ref.kind} ${ref.name}: ${fieldPath(field, 'json_format')}: values are written with their types (as typed_json_format and log_format write them), not all as strings`);
      return { json: structToJs(m.json_format as StructMessage) };
    case 'typed_json_format':
      return { json: structToJs(m.typed_json_format as StructMessage) };
    default:
      return undefined;
  }
}

/** A SubstitutionFormatString: text (text_format, text_format_source) or JSON. */
function decodeFormat(f: Msg, ctx: DecodeContext, ref: ResourceRef, field: string): AccessLogFormat {
  checkFields(f, FORMAT, ref, field, ctx);
  ((f.formatters ?? []) as Msg[]).forEach((x, i) => {
    const at = fieldPath(fieldPath(field, 'formatters'), i);
    const type = typedConfigOf(x.typed_config, ref, fieldPath(at, 'typed_config'))?.typeName;
    // istiod adds it whenever a format uses %REQ_WITHOUT_QUERY%, which the formatter has built in
    if (type === REQ_WITHOUT_QUERY_TYPE) return;
    throw resourceError(ref, at, `formatter extension ${x.name || type || '(unnamed)'}${type && x.name ? ` (${type})` : ''} is not supported (the built-in command operators and REQ_WITHOUT_QUERY are)`);
  });
  const omit = f.omit_empty_values === true ? { omitEmptyValues: true } : {};
  switch (f.format) {
    case 'text_format':
      return { text: String(f.text_format ?? ''), ...omit };
    case 'text_format_source':
      return { text: dataSourceText(f.text_format_source as Msg, ctx, ref, fieldPath(field, 'text_format_source')), ...omit };
    case 'json_format':
      return { json: structToJs(f.json_format as StructMessage), ...omit };
    default:
      throw resourceError(ref, field, 'a log format needs text_format, text_format_source or json_format');
  }
}

/** A text format's DataSource: inline only (a file or an environment variable is not read). */
function dataSourceText(d: Msg, ctx: DecodeContext, ref: ResourceRef, field: string): string {
  checkFields(d, DATA_SOURCE, ref, field, ctx);
  switch (d.specifier) {
    case 'inline_string':
      return String(d.inline_string ?? '');
    case 'inline_bytes':
      return Buffer.from(d.inline_bytes as Uint8Array).toString('utf8');
    case 'filename':
    case 'environment_variable':
      throw resourceError(ref, fieldPath(field, d.specifier), `a log format read from ${d.specifier === 'filename' ? 'a file' : 'an environment variable'} is not supported (inline_string or inline_bytes is)`);
    default:
      throw resourceError(ref, field, 'text_format_source needs inline_string or inline_bytes');
  }
}

/** An AccessLogFilter (its filter_specifier oneof). */
function decodeFilter(f: Msg, ctx: DecodeContext, ref: ResourceRef, field: string): AccessLogFilter {
  const kind = f.filter_specifier as string | undefined;
  if (!kind) throw resourceError(ref, field, 'an access log filter needs one of its filters');
  const at = fieldPath(field, kind);
  const m = (f[kind] ?? {}) as Msg;
  switch (kind) {
    case 'status_code_filter':
      return { statusCode: decodeComparison(m, ctx, ref, at) };
    case 'duration_filter':
      return { duration: decodeComparison(m, ctx, ref, at) };
    case 'not_health_check_filter':
      return { notHealthCheck: true };
    case 'traceable_filter':
      return { traceable: true };
    case 'and_filter':
    case 'or_filter': {
      const list = (m.filters ?? []) as Msg[];
      // proto validation: min_items 2
      if (list.length < 2) throw resourceError(ref, fieldPath(at, 'filters'), `${kind} needs at least two filters`);
      const filters = list.map((x, i) => decodeFilter(x, ctx, ref, fieldPath(fieldPath(at, 'filters'), i)));
      return kind === 'and_filter' ? { and: filters } : { or: filters };
    }
    case 'header_filter':
      if (!m.header) throw resourceError(ref, fieldPath(at, 'header'), 'a header filter needs a header');
      return { header: decodeHeaderMatcher(m.header as Msg, ref, fieldPath(at, 'header')) };
    case 'response_flag_filter':
      return { responseFlags: decodeResponseFlags(m, ref, at) };
    case 'grpc_status_filter':
      checkFields(m, GRPC_STATUS, ref, at, ctx);
      return { grpcStatus: { statuses: decodeGrpcStatuses(m.statuses as unknown[] | undefined, ref, fieldPath(at, 'statuses')), exclude: m.exclude === true } };
    case 'extension_filter':
      return decodeExtensionFilter(m, ctx, ref, at);
    default:
      throw resourceError(ref, at, REFUSED_FILTERS[kind] ?? `access log filter ${kind} is not supported`);
  }
}

/** A StatusCodeFilter's or DurationFilter's comparison: the op and the value (RuntimeUInt32's default_value). */
function decodeComparison(m: Msg, ctx: DecodeContext, ref: ResourceRef, field: string): AccessLogComparison {
  const c = m.comparison as Msg | undefined;
  const at = fieldPath(field, 'comparison');
  if (!c) throw resourceError(ref, at, 'the filter needs a comparison');
  checkFields(c, COMPARISON, ref, at, ctx);
  const op = typeof c.op === 'number' ? COMPARISON_OPS[c.op] : ((c.op ?? 'EQ') as AccessLogComparison['op']);
  if (!op || !COMPARISON_OPS.includes(op)) throw resourceError(ref, fieldPath(at, 'op'), `unknown comparison ${String(c.op)} (EQ, GE, LE, NE)`);
  if (!c.value) throw resourceError(ref, fieldPath(at, 'value'), 'the comparison needs a value');
  checkFields(c.value as Msg, RUNTIME_UINT32, ref, fieldPath(at, 'value'), ctx);
  return { op, value: Number(c.value.default_value ?? 0) };
}

function decodeResponseFlags(m: Msg, ref: ResourceRef, field: string): string[] {
  const flags = ((m.flags ?? []) as unknown[]).map(String);
  flags.forEach((flag, i) => {
    if (!ENVOY_RESPONSE_FLAGS.includes(flag)) throw resourceError(ref, fieldPath(fieldPath(field, 'flags'), i), `${JSON.stringify(flag)} is not an Envoy response flag`);
  });
  return flags;
}

/** GrpcStatusFilter.statuses by number (names as the plain form gives them; a number the API does not know is refused, as Envoy's defined_only). */
function decodeGrpcStatuses(list: unknown[] | undefined, ref: ResourceRef, field: string): number[] {
  const values = messageType('envoy.config.accesslog.v3.GrpcStatusFilter').lookupEnum('Status').values;
  const known = new Set(Object.values(values));
  return (list ?? []).map((s, i) => {
    const n = typeof s === 'number' ? s : values[String(s)];
    if (n === undefined || !known.has(n)) throw resourceError(ref, fieldPath(field, i), `unknown gRPC status ${String(s)}`);
    return n;
  });
}

/** An ExtensionFilter: the CEL expression filter (Istio's Telemetry filter.expression); any other is refused. */
function decodeExtensionFilter(m: Msg, ctx: DecodeContext, ref: ResourceRef, field: string): AccessLogFilter {
  checkFields(m, EXTENSION_FILTER, ref, field, ctx);
  const at = fieldPath(field, 'typed_config');
  const tc = typedConfigOf(m.typed_config, ref, at);
  if (tc?.typeName !== CEL_FILTER_TYPE) {
    throw resourceError(ref, at, `access log extension filter ${m.name || tc?.typeName || '(unnamed)'}${tc && m.name ? ` (${tc.typeName})` : ''} is not supported: rarely used (the CEL expression filter is)`);
  }
  if (!tc.message) throw resourceError(ref, at, `${CEL_FILTER_TYPE} in a TypedStruct is not supported (send it as itself)`);
  const e = tc.message as Msg;
  checkFields(e, CEL_FILTER, ref, at, ctx);
  const expression = String(e.expression ?? '');
  if (!expression) throw resourceError(ref, fieldPath(at, 'expression'), 'the CEL filter needs an expression');
  try {
    checkCel(expression);
  } catch (e) {
    throw resourceError(ref, fieldPath(at, 'expression'), (e as Error).message);
  }
  return { cel: expression };
}
