// Access logs (the access_log of an HttpConnectionManager or a tcp_proxy): the file, stdout and
// stderr loggers with their formats and filters as the Snapshot holds them, the format strings and
// CEL expressions checked as a worker compiles them; the loggers that send entries elsewhere (OpenTelemetry, gRPC
// ALS, ...) skipped with a warning; a filter Outrigger cannot apply refused, naming the field.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { decodeAccessLogs } from '../../../../src/config/envoy/decode/access-log.js';
import { decodeHttpConnectionManager } from '../../../../src/config/envoy/decode/http-connection-manager.js';
import { decodeListener } from '../../../../src/config/envoy/decode/listener.js';
import { tcpProxyOf } from '../../../../src/config/envoy/network-filters.js';
import { unpackAny, type AnyMessage } from '../../../../src/config/envoy/proto/any.js';
import { fromProtoJson } from '../../../../src/config/envoy/proto/json.js';
import { decodeMessage, messageType } from '../../../../src/config/envoy/proto/registry.js';
import type { AccessLogFilter, FileAccessLog } from '../../../../src/config/snapshot.js';
import { sidecarNode } from '../../helpers.js';
import { collectingContext, DUMP_FILES, dumpListeners, findTyped, JSON_DUMPS, plain, readDump } from './dumps.js';

type Json = Record<string, any>;

const HCM_TYPE = 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ref = { kind: 'Listener', name: 'virtualInbound' };
const ROUTER = { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } };
const BASE = { stat_prefix: 'inbound_0.0.0.0_8080', rds: { config_source: { ads: {} }, route_config_name: 'inbound|8080||' }, http_filters: [ROUTER] };

const FILE = 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog';
const STDOUT = 'type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog';
const STDERR = 'type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StderrAccessLog';

/** Istio's default text format (pilot's EnvoyTextLogFormat) as istiod sends it to these proxies. */
const ISTIO_TEXT =
  '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% ' +
  '"%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" ' +
  '"%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER% %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME%\n';

/** A connection manager with this access_log, decoded (loggers of types the API lacks arrive as bare Anys, as off the wire). */
function decodeHcm(accessLog: unknown[], extra: Json = {}) {
  const ctx = collectingContext();
  ctx.node = sidecarNode();
  const m = plain<Json>(HCM_TYPE, { ...BASE, access_log: accessLog, ...extra });
  const { hcm } = decodeHttpConnectionManager(m, ctx, ref, 'hcm', 'inline@x');
  return { accessLog: hcm.accessLog, warnings: ctx.warnings };
}

function file(typed: Json, extra: Json = {}): Json {
  return { name: 'envoy.access_loggers.file', typed_config: { '@type': FILE, ...typed }, ...extra };
}

/** The filter of a stdout file log carrying `filter`. */
function filterOf(filter: Json): AccessLogFilter | undefined {
  return decodeHcm([file({ path: '/dev/stdout' }, { filter })]).accessLog![0].filter;
}

describe('the loggers', () => {
  it("istiod's file log (meshConfig.accessLogFile, Telemetry's envoy provider): the path and the text format, kept as it came", () => {
    const { accessLog, warnings } = decodeHcm([file({ path: '/dev/stdout', log_format: { text_format_source: { inline_string: ISTIO_TEXT } } })]);
    expect(accessLog).toEqual([{ path: '/dev/stdout', format: { text: ISTIO_TEXT } }]);
    expect(warnings).toEqual([]);
  });

  it("istiod's req_without_query formatter (added for %REQ_WITHOUT_QUERY%) is accepted: the operator is built in", () => {
    const fmt = { text_format_source: { inline_string: '%REQ_WITHOUT_QUERY(:PATH)%\n' }, formatters: [{ name: 'envoy.formatter.req_without_query', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.formatter.req_without_query.v3.ReqWithoutQuery' } }] };
    expect(decodeHcm([file({ path: '/dev/stdout', log_format: fmt })]).accessLog).toEqual([{ path: '/dev/stdout', format: { text: '%REQ_WITHOUT_QUERY(:PATH)%\n' } }]);
  });

  it("istiod's JSON encoding (accessLogEncoding JSON): the format dictionary as a plain object, nested objects kept; json_format_options and content_type accepted", () => {
    const json = { start_time: '%START_TIME%', response_code: '%RESPONSE_CODE%', upstream: { host: '%UPSTREAM_HOST%', cluster: '%UPSTREAM_CLUSTER%' }, tag: 'literal', n: 1, on: true, none: null };
    const { accessLog, warnings } = decodeHcm([file({ path: '/var/log/access.json', log_format: { json_format: json, json_format_options: { sort_properties: false }, omit_empty_values: true, content_type: 'application/json' } })]);
    expect(accessLog).toEqual([{ path: '/var/log/access.json', format: { json, omitEmptyValues: true } }]);
    expect(warnings).toEqual([]);
  });

  it.each<[string, Json, FileAccessLog['format']]>([
    ['no format: Envoy\'s default', {}, undefined],
    ['log_format.text_format (deprecated)', { log_format: { text_format: '%RESPONSE_CODE%\n' } }, { text: '%RESPONSE_CODE%\n' }],
    ['log_format.text_format_source.inline_bytes (UTF-8)', { log_format: { text_format_source: { inline_bytes: Buffer.from('%REQ(:PATH)% – ok\n').toString('base64') } } }, { text: '%REQ(:PATH)% – ok\n' }],
    ['omit_empty_values on a text format', { log_format: { text_format_source: { inline_string: '%UPSTREAM_HOST%\n' }, omit_empty_values: true } }, { text: '%UPSTREAM_HOST%\n', omitEmptyValues: true }],
    ['format (deprecated)', { format: '%DURATION%\n' }, { text: '%DURATION%\n' }],
    ['format (deprecated) empty: Envoy\'s default', { format: '' }, undefined],
    ['typed_json_format (deprecated)', { typed_json_format: { code: '%RESPONSE_CODE%' } }, { json: { code: '%RESPONSE_CODE%' } }],
  ])('a file log with %s', (_, typed, format) => {
    const { accessLog, warnings } = decodeHcm([file({ path: '/tmp/a.log', ...typed })]);
    expect(accessLog).toEqual([{ path: '/tmp/a.log', ...(format ? { format } : {}) }]);
    expect(warnings).toEqual([]);
  });

  it('a file log with the deprecated json_format: JSON, with a warning that its values keep their types (Envoy writes them all as strings)', () => {
    const { accessLog, warnings } = decodeHcm([file({ path: '/tmp/a.log', json_format: { code: '%RESPONSE_CODE%' } })]);
    expect(accessLog).toEqual([{ path: '/tmp/a.log', format: { json: { code: '%RESPONSE_CODE%' } } }]);
    expect(warnings).toEqual(['Listener virtualInbound: hcm.access_log[0].typed_config.json_format: values are written with their types (as typed_json_format and log_format write them), not all as strings']);
  });

  it('stdout and stderr: their paths, with or without a format; several loggers in order', () => {
    const { accessLog, warnings } = decodeHcm([
      { name: 'envoy.access_loggers.stdout', typed_config: { '@type': STDOUT } },
      { name: 'envoy.access_loggers.stderr', typed_config: { '@type': STDERR, log_format: { json_format: { code: '%RESPONSE_CODE%' } } } },
      file({ path: '/tmp/x.log', log_format: { text_format_source: { inline_string: 'x\n' } } }),
    ]);
    expect(accessLog).toEqual([
      { path: '/dev/stdout' },
      { path: '/dev/stderr', format: { json: { code: '%RESPONSE_CODE%' } } },
      { path: '/tmp/x.log', format: { text: 'x\n' } },
    ]);
    expect(warnings).toEqual([]);
  });

  it('no access_log: none (the field stays absent)', () => {
    expect(decodeHcm([]).accessLog).toBeUndefined();
    expect('accessLog' in decodeHttpConnectionManager(plain<Json>(HCM_TYPE, BASE), collectingContext(), ref, 'hcm', 'x').hcm).toBe(false);
  });
});

describe('loggers that send entries elsewhere: skipped with a warning, the listener accepted', () => {
  const grpcService = { envoy_grpc: { cluster_name: 'outbound|4317||otel.observability.svc.cluster.local', authority: 'otel.observability.svc.cluster.local' } };
  // as istiod's Telemetry providers build them (envoyOtelAls, envoyHttpAls, envoyTcpAls)
  const OTEL = { name: 'envoy.access_loggers.open_telemetry', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.access_loggers.open_telemetry.v3.OpenTelemetryAccessLogConfig', common_config: { log_name: 'otel_envoy_accesslog', grpc_service: grpcService, transport_api_version: 'V3' }, disable_builtin_labels: true } };
  const HTTP_ALS = { name: 'envoy.access_loggers.http_grpc', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.access_loggers.grpc.v3.HttpGrpcAccessLogConfig', common_config: { log_name: 'http_envoy_accesslog', grpc_service: grpcService, transport_api_version: 'V3', filter_state_objects_to_log: ['upstream_peer', 'downstream_peer'] } } };
  const TCP_ALS = { name: 'envoy.tcp_grpc_access_log', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.access_loggers.grpc.v3.TcpGrpcAccessLogConfig', common_config: { log_name: 'tcp_envoy_accesslog', grpc_service: grpcService, transport_api_version: 'V3' } } };
  const UNKNOWN = { name: 'my.logger', typed_config: { '@type': 'type.googleapis.com/io.example.logging.v1.Logger' } };

  it('OpenTelemetry, HTTP gRPC ALS, an unknown type: a warning each; the file log beside them is kept', () => {
    const { accessLog, warnings } = decodeHcm([OTEL, HTTP_ALS, file({ path: '/dev/stdout' }), UNKNOWN]);
    expect(accessLog).toEqual([{ path: '/dev/stdout' }]);
    expect(warnings).toEqual([
      'Listener virtualInbound: hcm.access_log[0]: access logger envoy.access_loggers.open_telemetry (envoy.extensions.access_loggers.open_telemetry.v3.OpenTelemetryAccessLogConfig) is not written (file, stdout and stderr are): skipped',
      'Listener virtualInbound: hcm.access_log[1]: access logger envoy.access_loggers.http_grpc (envoy.extensions.access_loggers.grpc.v3.HttpGrpcAccessLogConfig) is not written (file, stdout and stderr are): skipped',
      'Listener virtualInbound: hcm.access_log[3]: access logger my.logger (io.example.logging.v1.Logger) is not written (file, stdout and stderr are): skipped',
    ]);
  });

  it('all skipped: no access log; a filter on a skipped logger is not looked at', () => {
    const { accessLog, warnings } = decodeHcm([{ ...OTEL, filter: { runtime_filter: { runtime_key: 'k' } } }]);
    expect(accessLog).toBeUndefined();
    expect(warnings).toHaveLength(1);
  });

  it('on a tcp_proxy too (istiod\'s TCP ALS)', () => {
    const { listener, warnings } = decodeTcpListener([TCP_ALS]);
    expect(tcpProxyOf(listener.filterChains[0])!.accessLog).toBeUndefined();
    expect(warnings).toEqual(['Listener l: filter_chains[0].filters[0].typed_config.access_log[0]: access logger envoy.tcp_grpc_access_log (envoy.extensions.access_loggers.grpc.v3.TcpGrpcAccessLogConfig) is not written (file, stdout and stderr are): skipped']);
  });
});

describe('the filters', () => {
  const cmp = (op: string, value: number, runtime_key = 'access_log.min') => ({ comparison: { op, value: { default_value: value, runtime_key } } });

  it.each<[string, Json, AccessLogFilter]>([
    ['status_code_filter (GE)', { status_code_filter: cmp('GE', 400) }, { statusCode: { op: 'GE', value: 400 } }],
    ['status_code_filter (op left out: EQ)', { status_code_filter: { comparison: { value: { default_value: 503, runtime_key: 'k' } } } }, { statusCode: { op: 'EQ', value: 503 } }],
    ['duration_filter (LE; the runtime key is not consulted)', { duration_filter: cmp('LE', 1000) }, { duration: { op: 'LE', value: 1000 } }],
    ['not_health_check_filter', { not_health_check_filter: {} }, { notHealthCheck: true }],
    ['traceable_filter', { traceable_filter: {} }, { traceable: true }],
    ['response_flag_filter', { response_flag_filter: { flags: ['UH', 'UF', 'URX', 'NR'] } }, { responseFlags: ['UH', 'UF', 'URX', 'NR'] }],
    ['response_flag_filter without flags (any flag)', { response_flag_filter: {} }, { responseFlags: [] }],
    ['grpc_status_filter', { grpc_status_filter: { statuses: ['OK', 'NOT_FOUND', 'UNAVAILABLE', 'UNAUTHENTICATED'] } }, { grpcStatus: { statuses: [0, 5, 14, 16], exclude: false } }],
    ['grpc_status_filter (exclude)', { grpc_status_filter: { statuses: ['CANCELED'], exclude: true } }, { grpcStatus: { statuses: [1], exclude: true } }],
    ['header_filter (string_match)', { header_filter: { header: { name: 'X-Debug', string_match: { prefix: 'on' } } } }, { header: { name: 'x-debug', match: { prefix: 'on' }, invert: false } }],
    ['header_filter (present_match false: absent)', { header_filter: { header: { name: 'x-canary', present_match: false } } }, { header: { name: 'x-canary', invert: true } }],
    ['header_filter (no specifier: present)', { header_filter: { header: { name: 'x-canary' } } }, { header: { name: 'x-canary', invert: false } }],
    ['header_filter (safe_regex_match, inverted)', { header_filter: { header: { name: ':path', safe_regex_match: { regex: '/health.*' }, invert_match: true } } }, { header: { name: ':path', match: { regex: '/health.*' }, invert: true } }],
    ['header_filter (exact_match, deprecated)', { header_filter: { header: { name: ':method', exact_match: 'POST' } } }, { header: { name: ':method', match: { exact: 'POST' }, invert: false } }],
    [
      "extension_filter: istiod's CEL filter (Telemetry accessLogging filter.expression), the expression kept as it came",
      { extension_filter: { name: 'envoy.access_loggers.extension_filters.cel', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter', expression: "response.code >= 400 || request.headers['x-log'] == 'on'" } } },
      { cel: "response.code >= 400 || request.headers['x-log'] == 'on'" },
    ],
    [
      'and_filter / or_filter, nested',
      { and_filter: { filters: [{ not_health_check_filter: {} }, { or_filter: { filters: [{ status_code_filter: cmp('GE', 500) }, { duration_filter: cmp('GE', 2000) }, { response_flag_filter: {} }] } }] } },
      { and: [{ notHealthCheck: true }, { or: [{ statusCode: { op: 'GE', value: 500 } }, { duration: { op: 'GE', value: 2000 } }, { responseFlags: [] }] }] },
    ],
  ])('%s', (_, filter, expected) => {
    expect(filterOf(filter)).toEqual(expected);
  });

  it('the comparison NE (newer than the shipped API: it arrives over the wire as the bare number 3)', () => {
    const wire = decodeMessage<Json>(messageType('envoy.config.accesslog.v3.ComparisonFilter'), Buffer.from([0x08, 0x03, 0x12, 0x03, 0x10, 0xf4, 0x03]));
    expect(wire).toEqual({ op: 3, value: { default_value: 500 } });
    const ctx = collectingContext();
    const logs = decodeAccessLogs([{ ...plain<Json>('envoy.config.accesslog.v3.AccessLog', file({ path: '/dev/stdout' })), filter: { filter_specifier: 'status_code_filter', status_code_filter: { comparison: wire } } }], ctx, ref, 'access_log');
    expect(logs).toEqual([{ path: '/dev/stdout', filter: { statusCode: { op: 'NE', value: 500 } } }]);
  });

  it('a filter and a format together', () => {
    const { accessLog } = decodeHcm([file({ path: '/dev/stdout', log_format: { text_format_source: { inline_string: ISTIO_TEXT } } }, { filter: { status_code_filter: cmp('GE', 400) } })]);
    expect(accessLog).toEqual([{ path: '/dev/stdout', format: { text: ISTIO_TEXT }, filter: { statusCode: { op: 'GE', value: 400 } } }]);
  });
});

describe('refused, naming the field (a NACK of the listener)', () => {
  const at = 'Listener virtualInbound, field hcm.access_log[0]';
  const CEL = 'type.googleapis.com/envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter';
  it.each<[string, Json[], string]>([
    ['a file log without a path', [file({ log_format: { text_format: 'x' } })], `${at}.typed_config.path: a file access log needs a path`],
    ['a logger without typed_config', [{ name: 'envoy.access_loggers.file' }], `${at}.typed_config: access log envoy.access_loggers.file needs a typed_config`],
    ['a format read from a file', [file({ path: '/dev/stdout', log_format: { text_format_source: { filename: '/etc/format.txt' } } })], `${at}.typed_config.log_format.text_format_source.filename: a log format read from a file is not supported (inline_string or inline_bytes is)`],
    ['a format read from an environment variable', [file({ path: '/dev/stdout', log_format: { text_format_source: { environment_variable: 'FMT' } } })], `${at}.typed_config.log_format.text_format_source.environment_variable: a log format read from an environment variable is not supported`],
    [
      'a formatter extension other than req_without_query (which istiod adds for %REQ_WITHOUT_QUERY%, built in here)',
      [file({ path: '/dev/stdout', log_format: { text_format: '%CEL(request.path)%', formatters: [{ name: 'envoy.formatter.cel', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.formatter.cel.v3.Cel' } }] } })],
      `${at}.typed_config.log_format.formatters[0]: formatter extension envoy.formatter.cel (envoy.extensions.formatter.cel.v3.Cel) is not supported (the built-in command operators and REQ_WITHOUT_QUERY are)`,
    ],
    ['an unknown command operator (checked as the worker compiles it)', [file({ path: '/dev/stdout', log_format: { text_format: '%NOPE%' } })], `${at}: unknown command operator %NOPE%`],
    ['a CEL filter that is not CEL', [file({ path: '/dev/stdout' }, { filter: { extension_filter: { name: 'envoy.access_loggers.extension_filters.cel', typed_config: { '@type': CEL, expression: 'response.code >=' } } } })], `${at}.filter.extension_filter.typed_config.expression: invalid CEL expression`],
    ['a log format with no format', [file({ path: '/dev/stdout', log_format: { omit_empty_values: true } })], `${at}.typed_config.log_format: a log format needs text_format, text_format_source or json_format`],
    ['runtime_filter', [file({ path: '/dev/stdout' }, { filter: { runtime_filter: { runtime_key: 'access_log.sample', percent_sampled: { numerator: 10 } } } })], `${at}.filter.runtime_filter: runtime (sampling) access log filters are not supported: rarely used, and istiod never sends one`],
    ['metadata_filter', [file({ path: '/dev/stdout' }, { filter: { metadata_filter: { matcher: { filter: 'envoy.common', path: [{ key: 'access_log_hint' }], value: { bool_match: true } } } } })], `${at}.filter.metadata_filter: metadata access log filters are not supported: rarely used`],
    ['log_type_filter', [file({ path: '/dev/stdout' }, { filter: { log_type_filter: { types: ['DownstreamEnd'] } } })], `${at}.filter.log_type_filter: log type access log filters are not supported: rarely used`],
    ['nested in an and_filter', [file({ path: '/dev/stdout' }, { filter: { and_filter: { filters: [{ traceable_filter: {} }, { runtime_filter: { runtime_key: 'k' } }] } } })], `${at}.filter.and_filter.filters[1].runtime_filter: runtime (sampling)`],
    ['an and_filter of one filter (Envoy: at least two)', [file({ path: '/dev/stdout' }, { filter: { and_filter: { filters: [{ traceable_filter: {} }] } } })], `${at}.filter.and_filter.filters: and_filter needs at least two filters`],
    ['an extension filter other than CEL', [file({ path: '/dev/stdout' }, { filter: { extension_filter: { name: 'my.filter', typed_config: { '@type': 'type.googleapis.com/io.example.Filter' } } } })], `${at}.filter.extension_filter.typed_config: access log extension filter my.filter (io.example.Filter) is not supported: rarely used (the CEL expression filter is)`],
    ['a CEL filter without an expression', [file({ path: '/dev/stdout' }, { filter: { extension_filter: { name: 'envoy.access_loggers.extension_filters.cel', typed_config: { '@type': CEL } } } })], `${at}.filter.extension_filter.typed_config.expression: the CEL filter needs an expression`],
    ['an unknown response flag', [file({ path: '/dev/stdout' }, { filter: { response_flag_filter: { flags: ['UH', 'XX'] } } })], `${at}.filter.response_flag_filter.flags[1]: "XX" is not an Envoy response flag`],
    ['a comparison without a value', [file({ path: '/dev/stdout' }, { filter: { status_code_filter: { comparison: { op: 'GE' } } } })], `${at}.filter.status_code_filter.comparison.value: the comparison needs a value`],
    ['a status filter without a comparison', [file({ path: '/dev/stdout' }, { filter: { status_code_filter: {} } })], `${at}.filter.status_code_filter.comparison: the filter needs a comparison`],
    ['a header filter with a bad regex', [file({ path: '/dev/stdout' }, { filter: { header_filter: { header: { name: 'x', safe_regex_match: { regex: '(' } } } } })], `${at}.filter.header_filter.header.safe_regex_match.regex: invalid regex`],
    ['a header filter without a name', [file({ path: '/dev/stdout' }, { filter: { header_filter: { header: { exact_match: 'x' } } } })], `${at}.filter.header_filter.header.name: a header matcher needs a name`],
    ['an empty filter', [file({ path: '/dev/stdout' }, { filter: {} })], `${at}.filter: an access log filter needs one of its filters`],
  ])('%s', (_, list, message) => {
    expect(() => decodeHcm(list)).toThrow(message);
  });

  it('an unknown gRPC status number (off the wire) and an unknown comparison number', () => {
    const ctx = collectingContext();
    const log = plain<Json>('envoy.config.accesslog.v3.AccessLog', file({ path: '/dev/stdout' }));
    expect(() => decodeAccessLogs([{ ...log, filter: { filter_specifier: 'grpc_status_filter', grpc_status_filter: { statuses: [2, 17] } } }], ctx, ref, 'a')).toThrow('field a[0].filter.grpc_status_filter.statuses[1]: unknown gRPC status 17');
    expect(() => decodeAccessLogs([{ ...log, filter: { filter_specifier: 'duration_filter', duration_filter: { comparison: { op: 7, value: { default_value: 1 } } } } }], ctx, ref, 'a')).toThrow('field a[0].filter.duration_filter.comparison.op: unknown comparison 7 (EQ, GE, LE, NE)');
  });

  it('a field of a logger Outrigger does not consider is refused, as everywhere (fail closed)', () => {
    const log = plain<Json>('envoy.config.accesslog.v3.AccessLog', file({ path: '/dev/stdout', log_format: { text_format_source: { inline_string: 'x', watched_directory: { path: '/etc' } } } }));
    expect(() => decodeAccessLogs([log], collectingContext(), ref, 'a')).toThrow('field a[0].typed_config.log_format.text_format_source.watched_directory: not supported by Outrigger');
  });
});

describe('the flush options: accepted with a warning (an entry is written at the end)', () => {
  it('HCM access_log_options and the deprecated flush fields', () => {
    const { accessLog, warnings } = decodeHcm([file({ path: '/dev/stdout' })], { access_log_options: { access_log_flush_interval: '10s', flush_access_log_on_new_request: true } });
    expect(accessLog).toEqual([{ path: '/dev/stdout' }]);
    expect(warnings).toEqual(['Listener virtualInbound: hcm.access_log_options is not applied (an access log entry is written when the request ends (no periodic or early entries))']);
  });
});

/** A listener of one chain: a tcp_proxy with this access_log (and `extra` fields), decoded. */
function decodeTcpListener(accessLog: unknown[], extra: Json = {}, top: Json = {}) {
  const ctx = collectingContext();
  ctx.node = sidecarNode();
  const tcp = { '@type': 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', stat_prefix: 'outbound|9000||db', cluster: 'outbound|9000||db', access_log: accessLog, ...extra };
  const l = plain<Json>('envoy.config.listener.v3.Listener', { name: 'l', address: { socket_address: { address: '0.0.0.0', port_value: 9000 } }, filter_chains: [{ filters: [{ name: 'envoy.filters.network.tcp_proxy', typed_config: tcp }] }], ...top });
  return { ...decodeListener(l, ctx), warnings: ctx.warnings };
}

describe("tcp_proxy's access_log", () => {
  it("istiod's file log with a CEL filter (Telemetry filter.expression): one entry per connection", () => {
    const { listener, warnings } = decodeTcpListener([
      file(
        { path: '/dev/stdout', log_format: { text_format_source: { inline_string: ISTIO_TEXT } } },
        { filter: { extension_filter: { name: 'envoy.access_loggers.extension_filters.cel', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter', expression: 'connection.mtls' } } } },
      ),
    ]);
    expect(tcpProxyOf(listener.filterChains[0])).toEqual({
      statPrefix: 'outbound|9000||db',
      clusters: [{ name: 'outbound|9000||db', weight: 1 }],
      idleTimeoutMs: 3_600_000,
      accessLog: [{ path: '/dev/stdout', format: { text: ISTIO_TEXT }, filter: { cel: 'connection.mtls' } }],
    });
    expect(warnings).toEqual([]);
  });

  it('none: the field stays absent; access_log_options accepted with a warning', () => {
    const { listener, warnings } = decodeTcpListener([], { access_log_options: { flush_access_log_on_connected: true } });
    expect('accessLog' in tcpProxyOf(listener.filterChains[0])!).toBe(false);
    expect(warnings).toEqual(['Listener l: filter_chains[0].filters[0].typed_config.access_log_options is not applied (an access log entry is written when the connection closes (no periodic or on-connect entries))']);
  });

  it('errors name the field under the tcp_proxy', () => {
    expect(() => decodeTcpListener([file({ path: '' })])).toThrow('Listener l, field filter_chains[0].filters[0].typed_config.access_log[0].typed_config.path: a file access log needs a path');
  });

  it("the listener's own access_log stays ignored, with a warning", () => {
    const { listener, warnings } = decodeTcpListener([], {}, { access_log: [file({ path: '/dev/stdout' })] });
    expect(tcpProxyOf(listener.filterChains[0])!.accessLog).toBeUndefined();
    expect(warnings).toEqual(['Listener l: access_log is not applied (Outrigger writes its own access log)']);
  });
});

describe("istiod's output in the config dumps", () => {
  /** Istio's default format as the access-log task prints it (escaped quotes, wrapped lines, a literal \n). */
  const DOCS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../../shared/conformance/istio/docs-tasks/observability/access-log/snip_default_access_log_format_1.txt');
  const documented = readFileSync(DOCS, 'utf8').trim().split('\n').join(' ').replaceAll('\\"', '"').replace(/\\n$/, '\n');

  it('the waypoint\'s connection manager (compare/configdump.json main_internal, an internal listener Outrigger refuses): the default Istio access log', () => {
    const l = dumpListeners('writer/compare/testdata/configdump.json').find((x) => x.name === 'main_internal')!;
    const hcm = unpackAny<Json>(l.message.filter_chains[0].filters[0].typed_config as AnyMessage);
    expect(hcm.known).toBe(true);
    const ctx = collectingContext();
    const { hcm: decoded } = decodeHttpConnectionManager((hcm as { message: Json }).message, ctx, { kind: 'Listener', name: 'main_internal' }, 'filter_chains[0].filters[0].typed_config', 'inline');
    expect(decoded.accessLog).toEqual([{ path: '/dev/stdout', format: { text: ISTIO_TEXT } }]);
    expect((decoded.accessLog![0] as FileAccessLog).format).toEqual({ text: documented });
    expect(ctx.warnings.filter((w) => /access.log/.test(w))).toEqual([]);
  });

  it('every access_log of a connection manager or tcp_proxy in the dumps decodes to its file logs', () => {
    const files = [...new Set([...JSON_DUMPS, ...DUMP_FILES.filter((f) => f.endsWith('.json'))])];
    let found = 0;
    for (const f of files) {
      const dump = readDump(f);
      for (const [suffix, type] of [['.HttpConnectionManager', HCM_TYPE], ['.TcpProxy', 'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy']] as const) {
        for (const json of findTyped(dump, suffix)) {
          if (!json.access_log) continue;
          const m = plain<Json>(type, json, f);
          const logs = decodeAccessLogs(m.access_log as Json[], collectingContext(), ref, 'access_log') ?? [];
          expect(logs.map((x) => (x as FileAccessLog).path)).toEqual((json.access_log as Json[]).map((a) => a.typed_config.path));
          found += logs.length;
        }
      }
    }
    expect(found).toBeGreaterThanOrEqual(1);
  });
});
