import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { LogContext } from '../../src/common/log-context.js';
import { fakeContext, LOG_START, type FakeInput } from '../helpers/log-context.js';
import { compileFormat, ENVOY_DEFAULT_FORMAT, FormatError } from '../../src/common/substitution-format.js';
import { ISTIO_DEFAULT_JSON_FORMAT, ISTIO_DEFAULT_TEXT_FORMAT } from '../../src/config/istio/access-log-formats.js';

const here = dirname(fileURLToPath(import.meta.url));
const ACCESS_LOG_TASK = resolve(here, '../../../shared/conformance/istio/docs-tasks/observability/access-log');

const START = LOG_START;

/** A connection of the TCP proxy: no protocol, no response code, no headers. */
function tcpContext(input: FakeInput = {}): LogContext {
  return fakeContext({
    kind: 'tcp',
    protocol: undefined,
    responseCode: 0,
    responseCodeDetails: undefined,
    requestDurationMs: undefined,
    responseDurationMs: undefined,
    routeName: undefined,
    bytesReceived: 846,
    bytesSent: 5060,
    durationMs: 1234,
    // Whatever a TCP context answers, header operators print `-` for it.
    request: { ':method': 'GET', 'user-agent': 'curl' },
    ...input,
  });
}

const text = (format: string, ctx: LogContext = fakeContext(), omitEmptyValues = false) => compileFormat({ text: format, omitEmptyValues })(ctx);
const json = (format: Record<string, unknown>, ctx: LogContext = fakeContext(), omitEmptyValues = false) =>
  compileFormat({ json: format, omitEmptyValues })(ctx);
const jsonObject = (format: Record<string, unknown>, ctx?: LogContext, omitEmptyValues = false): unknown =>
  JSON.parse(json(format, ctx, omitEmptyValues));

describe('default formats', () => {
  it('an absent format is Envoy default format, ending with a newline', () => {
    const ctx = fakeContext({
      request: { ':method': 'POST', ':path': '/api/v1/locations', ':authority': 'locations', 'x-request-id': 'cc21', 'x-forwarded-for': '10.0.35.28', 'user-agent': 'nsq2http' },
      response: { 'x-envoy-upstream-service-time': '100' },
      responseCode: 204,
      bytesReceived: 154,
      bytesSent: 0,
      durationMs: 226,
      upstreamHost: '10.0.2.1:80',
    });
    expect(compileFormat(undefined)(ctx)).toBe(
      '[2020-11-25T21:26:18.409Z] "POST /api/v1/locations HTTP/1.1" 204 - 154 0 226 100 "10.0.35.28" "nsq2http" "cc21" "locations" "10.0.2.1:80"\n',
    );
    expect(compileFormat(undefined)(ctx)).toBe(text(ENVOY_DEFAULT_FORMAT, ctx));
  });

  it("Istio's default text format is the docs' format, with the newer %UPSTREAM_CLUSTER_RAW%", () => {
    // The page prints it wrapped, with \" for a quote and a literal \n.
    const snip = readFileSync(resolve(ACCESS_LOG_TASK, 'snip_default_access_log_format_1.txt'), 'utf8');
    const docs = snip.trimEnd().replace(/\n/g, ' ').replace(/\\"/g, '"').replace(/\\n$/, '\n');
    expect(ISTIO_DEFAULT_TEXT_FORMAT.replace('%UPSTREAM_CLUSTER_RAW%', '%UPSTREAM_CLUSTER%')).toBe(docs);
  });

  describe("Istio's default text format renders the lines of Istio's access-log task", () => {
    const expectations = JSON.parse(readFileSync(resolve(ACCESS_LOG_TASK, 'expectations.json'), 'utf8')) as {
      expectations: { request: string; expect_line?: string }[];
    };
    const lineFor = (app: string) => expectations.expectations.find((e) => e.request.includes(`app=${app}`))!.expect_line!;
    const request = {
      ':method': 'GET',
      ':path': '/status/418',
      ':authority': 'httpbin:8000',
      'user-agent': 'curl/7.73.0-DEV',
      'x-request-id': '84961386-6d84-929d-98bd-c5aee93b5c88',
    };
    const istio = compileFormat({ text: ISTIO_DEFAULT_TEXT_FORMAT });

    it('client side (outbound)', () => {
      const ctx = fakeContext({ request, response: { 'x-envoy-upstream-service-time': '4' }, responseCode: 418, durationMs: 4 });
      expect(istio(ctx)).toBe(lineFor('sleep') + '\n');
    });

    it('server side (inbound)', () => {
      const ctx = fakeContext({
        request,
        response: { 'x-envoy-upstream-service-time': '1' },
        responseCode: 418,
        durationMs: 3,
        upstreamHost: '127.0.0.1:80',
        upstreamCluster: 'inbound|8000||',
        upstreamLocalAddress: '127.0.0.1:41854',
        downstreamLocalAddress: '10.44.1.27:80',
        downstreamRemoteAddress: '10.44.1.23:37652',
        requestedServerName: 'outbound_.8000_._.httpbin.foo.svc.cluster.local',
      });
      expect(istio(ctx)).toBe(lineFor('httpbin') + '\n');
    });
  });

  it("Istio's default text format for a TCP connection", () => {
    const ctx = tcpContext({ upstreamCluster: 'outbound|3306||mysql.default.svc.cluster.local', upstreamHost: '10.44.1.30:3306', routeName: undefined });
    expect(compileFormat({ text: ISTIO_DEFAULT_TEXT_FORMAT })(ctx)).toBe(
      '[2020-11-25T21:26:18.409Z] "- - -" 0 - - - "-" 846 5060 1234 - "-" "-" "-" "-" "10.44.1.30:3306" ' +
        'outbound|3306||mysql.default.svc.cluster.local 10.44.1.23:37652 10.0.45.184:8000 10.44.1.23:46520 - -\n',
    );
  });

  it("Istio's default JSON format: its keys in order, numbers typed, missing values null", () => {
    const ctx = fakeContext({
      request: { ':method': 'GET', ':path': '/status/418', ':authority': 'httpbin:8000', 'user-agent': 'curl/7.73.0-DEV' },
      response: { 'x-envoy-upstream-service-time': '4' },
      responseCode: 418,
    });
    expect(compileFormat({ json: ISTIO_DEFAULT_JSON_FORMAT })(ctx)).toBe(
      '{"start_time":"2020-11-25T21:26:18.409Z","route_name":"default","method":"GET","path":"/status/418",' +
        '"protocol":"HTTP/1.1","response_code":418,"response_flags":"-","response_code_details":"via_upstream",' +
        '"connection_termination_details":null,"upstream_transport_failure_reason":null,"bytes_received":0,' +
        '"bytes_sent":135,"duration":4,"upstream_service_time":"4","x_forwarded_for":null,"user_agent":"curl/7.73.0-DEV",' +
        '"request_id":null,"authority":"httpbin:8000","upstream_host":"10.44.1.27:80",' +
        '"upstream_cluster":"outbound|8000||httpbin.foo.svc.cluster.local","upstream_local_address":"10.44.1.23:37652",' +
        '"downstream_local_address":"10.0.45.184:8000","downstream_remote_address":"10.44.1.23:46520",' +
        '"requested_server_name":null}\n',
    );
  });
});

describe('text formats', () => {
  it('adds no newline of its own', () => {
    expect(text('%RESPONSE_CODE%')).toBe('200');
    expect(text('code=%RESPONSE_CODE%\n')).toBe('code=200\n');
  });

  it('plain text, empty and literal-only formats', () => {
    expect(text('')).toBe('');
    expect(text('just text')).toBe('just text');
  });

  it('%% is a literal percent', () => {
    expect(text('100%% %RESPONSE_CODE%%%')).toBe('100% 200%');
    expect(text('%%REQ(:METHOD)%%')).toBe('%REQ(:METHOD)%');
  });

  it('a missing value prints -, and nothing with omitEmptyValues', () => {
    const ctx = fakeContext({ routeName: undefined });
    expect(text('[%ROUTE_NAME%] [%REQ(X-MISSING)%]', ctx)).toBe('[-] [-]');
    expect(text('[%ROUTE_NAME%] [%REQ(X-MISSING)%]', ctx, true)).toBe('[] []');
  });

  it('an empty stream-info string counts as missing', () => {
    expect(text('%ROUTE_NAME%', fakeContext({ routeName: '' }))).toBe('-');
  });
});

describe('START_TIME', () => {
  it('defaults to UTC ISO 8601 with milliseconds', () => {
    expect(text('%START_TIME%')).toBe('2020-11-25T21:26:18.409Z');
    expect(text('%START_TIME()%')).toBe('2020-11-25T21:26:18.409Z');
    expect(text('%START_TIME%', fakeContext({ startTimeMs: Date.UTC(2021, 0, 2, 3, 4, 5, 6) }))).toBe('2021-01-02T03:04:05.006Z');
  });

  it('strftime specifiers, in UTC', () => {
    expect(text('%START_TIME(%Y/%m/%dT%H:%M:%S%z %s)%')).toBe('2020/11/25T21:26:18+0000 1606339578');
    expect(text('%START_TIME(%F %T %Z)%')).toBe('2020-11-25 21:26:18 UTC');
    expect(text('%START_TIME(%a %A %b %B %h %e %j %u %w)%')).toBe('Wed Wednesday Nov November Nov 25 330 3 3');
    expect(text('%START_TIME(%y %C %I %p %R %D)%')).toBe('20 20 09 PM 21:26 11/25/20');
    expect(text('%START_TIME(%e|%j)%', fakeContext({ startTimeMs: Date.UTC(2021, 0, 2) }))).toBe(' 2|002');
  });

  it('fractions of the second: %f, %1f..%9f, %E#S, %E*S', () => {
    expect(text('%START_TIME(%s.%3f)%')).toBe('1606339578.409');
    expect(text('%START_TIME(%f|%1f|%2f|%6f|%9f)%')).toBe('409000000|4|40|409000|409000000');
    expect(text('%START_TIME(%E3S|%E1S|%E0S|%E*S)%')).toBe('18.409|18.4|18|18.409');
    expect(text('%START_TIME(%E*S)%', fakeContext({ startTimeMs: Date.UTC(2020, 0, 1, 0, 0, 7, 400) }))).toBe('07.4');
    expect(text('%START_TIME(%E*S)%', fakeContext({ startTimeMs: Date.UTC(2020, 0, 1, 0, 0, 7) }))).toBe('07');
  });

  it('%% and %t in a time format', () => {
    expect(text('%START_TIME(%H%%%M%t%Ez)%')).toBe('21%26\t+00:00');
  });

  it('keeps one formatted second but renders every entry right, forwards and backwards', () => {
    const format = compileFormat({ text: '%START_TIME%' });
    const at = (ms: number) => format(fakeContext({ startTimeMs: ms }));
    expect(at(START)).toBe('2020-11-25T21:26:18.409Z');
    expect(at(START + 1)).toBe('2020-11-25T21:26:18.410Z');
    expect(at(START + 1000)).toBe('2020-11-25T21:26:19.409Z');
    expect(at(START - 86_400_000)).toBe('2020-11-24T21:26:18.409Z');
    expect(at(START + 0.7)).toBe('2020-11-25T21:26:18.409Z');
  });

  it('a string in JSON', () => {
    expect(jsonObject({ t: '%START_TIME(%s)%' })).toEqual({ t: '1606339578' });
  });
});

describe('headers', () => {
  const ctx = fakeContext({
    request: { ':method': 'GET', ':path': '/a/b?c=d', 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64)', 'x-empty': '' },
    response: { ':status': '200', 'content-type': 'text/plain' },
    trailers: { 'grpc-message': 'all good' },
  });

  it('REQ, RESP and TRAILER look header names up in lower case', () => {
    expect(text('%REQ(:METHOD)% %REQ(User-Agent)% %RESP(CONTENT-TYPE)% %RESP(:status)% %TRAILER(Grpc-Message)%', ctx)).toBe(
      'GET Mozilla/5.0 (X11; Linux x86_64) text/plain 200 all good',
    );
  });

  it('an absent header prints -', () => {
    expect(text('%REQ(X-NOPE)% %RESP(X-NOPE)% %TRAILER(X-NOPE)%', ctx)).toBe('- - -');
  });

  it('the alternative header is read only when the first is absent', () => {
    expect(text('%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%', ctx)).toBe('/a/b?c=d');
    const rewritten = fakeContext({ request: { ':path': '/new', 'x-envoy-original-path': '/old' } });
    expect(text('%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%', rewritten)).toBe('/old');
    expect(text('%REQ(X-EMPTY?:PATH)%', ctx)).toBe('');
    expect(text('%REQ(X-NOPE?X-NADA)%', ctx)).toBe('-');
  });

  it(':N truncates the value', () => {
    expect(text('%REQ(USER-AGENT):10%', ctx)).toBe('Mozilla/5.');
    expect(text('%REQ(:METHOD):10%', ctx)).toBe('GET');
    expect(text('%REQ(USER-AGENT):0%', ctx)).toBe('');
    expect(text('%RESP(CONTENT-TYPE):4% %TRAILER(GRPC-MESSAGE):3%', ctx)).toBe('text all');
  });

  it('REQ_WITHOUT_QUERY drops the query string, then truncates', () => {
    expect(text('%REQ_WITHOUT_QUERY(:PATH)%', ctx)).toBe('/a/b');
    expect(text('%REQ_WITHOUT_QUERY(X-ENVOY-ORIGINAL-PATH?:PATH):3%', ctx)).toBe('/a/');
    expect(text('%REQ_WITHOUT_QUERY(:METHOD)%', ctx)).toBe('GET');
  });

  it('JSON strings, or null', () => {
    expect(jsonObject({ ua: '%REQ(USER-AGENT):7%', empty: '%REQ(X-EMPTY)%', none: '%REQ(X-NOPE)%' }, ctx)).toEqual({
      ua: 'Mozilla',
      empty: '',
      none: null,
    });
  });

  it('print - for a TCP connection', () => {
    expect(text('%REQ(:METHOD)% %REQ(USER-AGENT)% %RESP(:STATUS)% %TRAILER(X)% %REQ_WITHOUT_QUERY(:PATH)%', tcpContext())).toBe('- - - - -');
  });
});

describe('stream info operators', () => {
  it('protocol, response code and details, bytes, durations', () => {
    const ctx = fakeContext({ protocol: 'HTTP/2', responseCode: 503, bytesReceived: 12, bytesSent: 34, durationMs: 56.9, requestDurationMs: 7.2, responseDurationMs: 8.99 });
    expect(text('%PROTOCOL% %RESPONSE_CODE% %RESPONSE_CODE_DETAILS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %REQUEST_DURATION% %RESPONSE_DURATION%', ctx)).toBe(
      'HTTP/2 503 via_upstream 12 34 56 7 8',
    );
  });

  it('a response never sent is code 0; durations not reached are missing', () => {
    const ctx = fakeContext({ responseCode: 0, requestDurationMs: undefined, responseDurationMs: undefined });
    expect(text('%RESPONSE_CODE% %REQUEST_DURATION% %RESPONSE_DURATION%', ctx)).toBe('0 - -');
  });

  it('RESPONSE_CODE_DETAILS turns whitespace into _, unless ALLOW_WHITESPACES', () => {
    const ctx = fakeContext({ responseCodeDetails: 'upstream_reset_before_response_started{connection failure}\tx' });
    expect(text('%RESPONSE_CODE_DETAILS%', ctx)).toBe('upstream_reset_before_response_started{connection_failure}_x');
    expect(text('%RESPONSE_CODE_DETAILS(ALLOW_WHITESPACES)%', ctx)).toBe('upstream_reset_before_response_started{connection failure}\tx');
  });

  it('CONNECTION_TERMINATION_DETAILS and UPSTREAM_TRANSPORT_FAILURE_REASON (spaces as _)', () => {
    const ctx = fakeContext({ connectionTerminationDetails: 'rbac_access_denied_matched_policy[none]', upstreamTransportFailureReason: 'TLS error: 268435581 CERTIFICATE_VERIFY_FAILED' });
    expect(text('%CONNECTION_TERMINATION_DETAILS% "%UPSTREAM_TRANSPORT_FAILURE_REASON%"', ctx)).toBe(
      'rbac_access_denied_matched_policy[none] "TLS_error:_268435581_CERTIFICATE_VERIFY_FAILED"',
    );
    expect(text('%CONNECTION_TERMINATION_DETAILS% %UPSTREAM_TRANSPORT_FAILURE_REASON%')).toBe('- -');
  });

  it('RESPONSE_FLAGS, and RESPONSE_FLAGS_LONG with Envoy long names', () => {
    const flags = (responseFlags: string) => text('%RESPONSE_FLAGS% %RESPONSE_FLAGS_LONG%', fakeContext({ responseFlags }));
    expect(flags('-')).toBe('- -');
    expect(flags('UH')).toBe('UH NoHealthyUpstream');
    expect(flags('DC,URX')).toBe('DC,URX DownstreamConnectionTermination,UpstreamRetryLimitExceeded');
    expect(flags('UF,NR,UO,UT,DPE,OM,DF')).toBe(
      'UF,NR,UO,UT,DPE,OM,DF UpstreamConnectionFailure,NoRouteFound,UpstreamOverflow,UpstreamRequestTimeout,DownstreamProtocolError,OverloadManagerTerminated,DnsResolutionFailed',
    );
    // A flag with no known long name (a custom one) stays as it is.
    expect(flags('UH,XYZ')).toBe('UH,XYZ NoHealthyUpstream,XYZ');
  });

  it('RESPONSE_FLAGS is - (not missing) without flags, also with omitEmptyValues', () => {
    expect(text('%RESPONSE_FLAGS%', fakeContext(), true)).toBe('-');
  });

  it('upstream: host, cluster (no alt_stat_name: equal to the raw name), attempts', () => {
    expect(text('%UPSTREAM_HOST% %UPSTREAM_CLUSTER% %UPSTREAM_CLUSTER_RAW% %UPSTREAM_REQUEST_ATTEMPT_COUNT%', fakeContext({ upstreamRequestAttemptCount: 3 }))).toBe(
      '10.44.1.27:80 outbound|8000||httpbin.foo.svc.cluster.local outbound|8000||httpbin.foo.svc.cluster.local 3',
    );
    const localReply = fakeContext({ upstreamHost: undefined, upstreamCluster: undefined, upstreamLocalAddress: undefined, upstreamRequestAttemptCount: undefined });
    expect(text('%UPSTREAM_HOST% %UPSTREAM_CLUSTER% %UPSTREAM_CLUSTER_RAW% %UPSTREAM_LOCAL_ADDRESS% %UPSTREAM_REQUEST_ATTEMPT_COUNT%', localReply)).toBe('- - - - 0');
  });

  it('route, SNI, SANs, trace id, connection id', () => {
    const ctx = fakeContext({
      requestedServerName: 'outbound_.8000_._.httpbin.foo.svc.cluster.local',
      downstreamPeerUriSan: 'spiffe://cluster.local/ns/foo/sa/sleep',
      downstreamLocalUriSan: 'spiffe://cluster.local/ns/foo/sa/httpbin',
      traceId: '0af7651916cd43dd8448eb211c80319c',
      connectionId: 42,
    });
    expect(text('%ROUTE_NAME% %REQUESTED_SERVER_NAME% %DOWNSTREAM_PEER_URI_SAN% %DOWNSTREAM_LOCAL_URI_SAN% %TRACE_ID% %CONNECTION_ID%', ctx)).toBe(
      'default outbound_.8000_._.httpbin.foo.svc.cluster.local spiffe://cluster.local/ns/foo/sa/sleep spiffe://cluster.local/ns/foo/sa/httpbin 0af7651916cd43dd8448eb211c80319c 42',
    );
    expect(text('%REQUESTED_SERVER_NAME% %DOWNSTREAM_PEER_URI_SAN% %DOWNSTREAM_LOCAL_URI_SAN% %TRACE_ID%')).toBe('- - - -');
  });

  it('HOSTNAME is this host', () => {
    expect(text('%HOSTNAME%')).toBe(hostname());
  });

  describe('ENVIRONMENT', () => {
    const NAME = 'OUTRIGGER_FORMAT_TEST_VAR';
    afterEach(() => {
      delete process.env[NAME];
    });

    it('is read once, when the format is compiled', () => {
      process.env[NAME] = 'first-value';
      const format = compileFormat({ text: `%ENVIRONMENT(${NAME})% %ENVIRONMENT(${NAME}):5%` });
      process.env[NAME] = 'changed';
      expect(format(fakeContext())).toBe('first-value first');
    });

    it('an unset variable is the string - (as Envoy), even in JSON and with omitEmptyValues', () => {
      expect(text(`%ENVIRONMENT(${NAME})%`, fakeContext(), true)).toBe('-');
      expect(jsonObject({ v: `%ENVIRONMENT(${NAME})%` }, fakeContext(), true)).toEqual({ v: '-' });
    });
  });

  it('a TCP connection: no protocol or durations, code 0, but bytes, duration, addresses and flags', () => {
    const ctx = tcpContext({ responseFlags: 'UF,URX', upstreamHost: undefined });
    expect(text('%PROTOCOL% %RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %REQUEST_DURATION% %RESPONSE_DURATION% %UPSTREAM_HOST% %DOWNSTREAM_REMOTE_ADDRESS%', ctx)).toBe(
      '- 0 UF,URX 846 5060 1234 - - - 10.44.1.23:46520',
    );
  });
});

describe('addresses', () => {
  const ctx = fakeContext({
    downstreamLocalAddress: '[fd00::1]:8080',
    downstreamRemoteAddress: '10.1.2.3:0',
    downstreamDirectRemoteAddress: '[::1]:51234',
    upstreamHost: '[2001:db8::7]:9080',
    upstreamLocalAddress: '10.0.0.5:40000',
  });

  it('with port, without port, and the port alone (IPv6 bracketed only with a port)', () => {
    expect(text('%DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT% %DOWNSTREAM_LOCAL_PORT%', ctx)).toBe('[fd00::1]:8080 fd00::1 8080');
    expect(text('%DOWNSTREAM_REMOTE_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT% %DOWNSTREAM_REMOTE_PORT%', ctx)).toBe('10.1.2.3:0 10.1.2.3 0');
    expect(text('%DOWNSTREAM_DIRECT_REMOTE_ADDRESS% %DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT% %DOWNSTREAM_DIRECT_REMOTE_PORT%', ctx)).toBe('[::1]:51234 ::1 51234');
    expect(text('%UPSTREAM_REMOTE_ADDRESS% %UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT% %UPSTREAM_REMOTE_PORT%', ctx)).toBe('[2001:db8::7]:9080 2001:db8::7 9080');
    expect(text('%UPSTREAM_LOCAL_ADDRESS% %UPSTREAM_LOCAL_ADDRESS_WITHOUT_PORT% %UPSTREAM_LOCAL_PORT%', ctx)).toBe('10.0.0.5:40000 10.0.0.5 40000');
  });

  it('a pipe has no port; a missing address is missing in every form', () => {
    const pipe = fakeContext({ downstreamLocalAddress: '/var/run/app.sock', upstreamHost: undefined });
    expect(text('%DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT% %DOWNSTREAM_LOCAL_PORT%', pipe)).toBe('/var/run/app.sock /var/run/app.sock -');
    expect(text('%UPSTREAM_REMOTE_ADDRESS% %UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT% %UPSTREAM_REMOTE_PORT%', pipe)).toBe('- - -');
  });

  it('ports are JSON numbers, addresses strings', () => {
    expect(jsonObject({ port: '%DOWNSTREAM_LOCAL_PORT%', ip: '%DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT%', up: '%UPSTREAM_REMOTE_PORT%' }, ctx)).toEqual({
      port: 8080,
      ip: 'fd00::1',
      up: 9080,
    });
  });
});

describe('GRPC_STATUS', () => {
  const grpc = (grpcStatus: number | undefined, format: string) => text(format, fakeContext({ grpcStatus }));

  it('CAMEL_STRING by default, SNAKE_STRING, NUMBER, GRPC_STATUS_NUMBER', () => {
    expect(grpc(0, '%GRPC_STATUS% %GRPC_STATUS(SNAKE_STRING)% %GRPC_STATUS(NUMBER)% %GRPC_STATUS_NUMBER%')).toBe('OK OK 0 0');
    expect(grpc(5, '%GRPC_STATUS% %GRPC_STATUS(CAMEL_STRING)% %GRPC_STATUS(SNAKE_STRING)% %GRPC_STATUS_NUMBER%')).toBe('NotFound NotFound NOT_FOUND 5');
    expect(grpc(1, '%GRPC_STATUS% %GRPC_STATUS(SNAKE_STRING)%')).toBe('Canceled CANCELLED');
    expect(grpc(16, '%GRPC_STATUS% %GRPC_STATUS(SNAKE_STRING)%')).toBe('Unauthenticated UNAUTHENTICATED');
  });

  it('a code without a name prints as its number; no status prints -', () => {
    expect(grpc(42, '%GRPC_STATUS% %GRPC_STATUS(SNAKE_STRING)%')).toBe('42 42');
    expect(grpc(undefined, '%GRPC_STATUS% %GRPC_STATUS_NUMBER%')).toBe('- -');
  });

  it('numbers in JSON for NUMBER, strings otherwise', () => {
    expect(jsonObject({ a: '%GRPC_STATUS%', b: '%GRPC_STATUS(NUMBER)%', c: '%GRPC_STATUS_NUMBER%' }, fakeContext({ grpcStatus: 14 }))).toEqual({ a: 'Unavailable', b: 14, c: 14 });
  });

  it('prints - for a TCP connection', () => {
    expect(text('%GRPC_STATUS% %GRPC_STATUS_NUMBER%', tcpContext({ grpcStatus: 0 }))).toBe('- -');
  });
});

describe('DYNAMIC_METADATA', () => {
  const ctx = fakeContext({
    metadata: {
      'envoy.filters.http.rbac': { shadow_engine_result: 'denied', shadow_effective_policy_id: 'ns[foo]-policy[x]-rule[0]' },
      istio: { nested: { count: 3, ok: true, list: [1, 'a'], nothing: null } },
    },
  });

  it('a string value plain, other values as JSON', () => {
    expect(text('%DYNAMIC_METADATA(envoy.filters.http.rbac:shadow_engine_result)%', ctx)).toBe('denied');
    expect(text('%DYNAMIC_METADATA(istio:nested:count)% %DYNAMIC_METADATA(istio:nested:ok)% %DYNAMIC_METADATA(istio:nested:list)%', ctx)).toBe('3 true [1,"a"]');
    expect(text('%DYNAMIC_METADATA(istio:nested)%', ctx)).toBe('{"count":3,"ok":true,"list":[1,"a"],"nothing":null}');
  });

  it('a namespace alone is its whole struct', () => {
    expect(text('%DYNAMIC_METADATA(envoy.filters.http.rbac)%', ctx)).toBe(
      '{"shadow_engine_result":"denied","shadow_effective_policy_id":"ns[foo]-policy[x]-rule[0]"}',
    );
  });

  it('a missing namespace, key or null value prints -', () => {
    expect(text('%DYNAMIC_METADATA(nope)% %DYNAMIC_METADATA(istio:nope)% %DYNAMIC_METADATA(istio:nested:count:deeper)% %DYNAMIC_METADATA(istio:nested:nothing)%', ctx)).toBe('- - - -');
  });

  it(':N truncates the text', () => {
    expect(text('%DYNAMIC_METADATA(envoy.filters.http.rbac:shadow_effective_policy_id):7%', ctx)).toBe('ns[foo]');
  });

  it('JSON keeps the value typed', () => {
    expect(jsonObject({ r: '%DYNAMIC_METADATA(envoy.filters.http.rbac:shadow_engine_result)%', n: '%DYNAMIC_METADATA(istio:nested)%', m: '%DYNAMIC_METADATA(istio:missing)%' }, ctx)).toEqual({
      r: 'denied',
      n: { count: 3, ok: true, list: [1, 'a'], nothing: null },
      m: null,
    });
  });

  it('bigints serialize as numbers', () => {
    expect(text('%DYNAMIC_METADATA(ns:big)%', fakeContext({ metadata: { ns: { big: 12n } } }))).toBe('12');
  });
});

describe('FILTER_STATE', () => {
  const peer = { name: 'sleep-5d8f', namespace: 'foo', port: 80 };
  const ctx = fakeContext({ state: { upstream_peer: peer, 'envoy.filters.listener.original_dst.local_ip': '10.244.0.10:80', count: 5 } });

  it('TYPED (the default): the value as JSON, a string quoted', () => {
    expect(text('%FILTER_STATE(upstream_peer)%', ctx)).toBe('{"name":"sleep-5d8f","namespace":"foo","port":80}');
    expect(text('%FILTER_STATE(upstream_peer:TYPED)%', ctx)).toBe('{"name":"sleep-5d8f","namespace":"foo","port":80}');
    expect(text('%FILTER_STATE(envoy.filters.listener.original_dst.local_ip)%', ctx)).toBe('"10.244.0.10:80"');
  });

  it('PLAIN: a string as it is', () => {
    expect(text('%FILTER_STATE(envoy.filters.listener.original_dst.local_ip:PLAIN)% %FILTER_STATE(count:PLAIN)%', ctx)).toBe('10.244.0.10:80 5');
  });

  it('FIELD: one field of an object', () => {
    expect(text('%FILTER_STATE(upstream_peer:FIELD:namespace)% %FILTER_STATE(upstream_peer:FIELD:port)% %FILTER_STATE(upstream_peer:FIELD:nope)%', ctx)).toBe('foo 80 -');
  });

  it('missing prints -; :N truncates', () => {
    expect(text('%FILTER_STATE(downstream_peer)% %FILTER_STATE(downstream_peer:PLAIN)%', ctx)).toBe('- -');
    expect(text('%FILTER_STATE(envoy.filters.listener.original_dst.local_ip:PLAIN):5%', ctx)).toBe('10.24');
  });

  it('JSON: TYPED keeps the value, PLAIN is a string', () => {
    expect(jsonObject({ peer: '%FILTER_STATE(upstream_peer)%', dst: '%FILTER_STATE(envoy.filters.listener.original_dst.local_ip:PLAIN)%', none: '%FILTER_STATE(x)%' }, ctx)).toEqual({
      peer,
      dst: '10.244.0.10:80',
      none: null,
    });
  });
});

describe('JSON formats', () => {
  it('one object per entry, ending with a newline, keys in their configured order', () => {
    const out = json({ z: '%RESPONSE_CODE%', a: '%PROTOCOL%', m: '%ROUTE_NAME%' });
    expect(out).toBe('{"z":200,"a":"HTTP/1.1","m":"default"}\n');
  });

  it('numeric operators alone are JSON numbers; within text they are strings', () => {
    const ctx = fakeContext({ upstreamRequestAttemptCount: 2, grpcStatus: 3 });
    expect(
      jsonObject(
        {
          code: '%RESPONSE_CODE%',
          rx: '%BYTES_RECEIVED%',
          tx: '%BYTES_SENT%',
          duration: '%DURATION%',
          req: '%REQUEST_DURATION%',
          resp: '%RESPONSE_DURATION%',
          attempts: '%UPSTREAM_REQUEST_ATTEMPT_COUNT%',
          grpc: '%GRPC_STATUS_NUMBER%',
          cx: '%CONNECTION_ID%',
          mixed: 'code=%RESPONSE_CODE%',
          twice: '%RESPONSE_CODE%%BYTES_SENT%',
        },
        ctx,
      ),
    ).toEqual({ code: 200, rx: 0, tx: 135, duration: 4, req: 1, resp: 3, attempts: 2, grpc: 3, cx: 7, mixed: 'code=200', twice: '200135' });
  });

  it('a missing value alone is null; inside text it prints -', () => {
    const ctx = fakeContext({ routeName: undefined });
    expect(json({ route: '%ROUTE_NAME%', text: 'route=%ROUTE_NAME%', ok: '%RESPONSE_CODE%' }, ctx)).toBe('{"route":null,"text":"route=-","ok":200}\n');
  });

  it('omitEmptyValues leaves null keys out and prints nothing inside text', () => {
    const ctx = fakeContext({ routeName: undefined, responseDurationMs: undefined });
    expect(json({ route: '%ROUTE_NAME%', text: 'route=%ROUTE_NAME%', resp: '%RESPONSE_DURATION%', ok: '%RESPONSE_CODE%' }, ctx, true)).toBe(
      '{"text":"route=","ok":200}\n',
    );
    expect(json({ a: '%ROUTE_NAME%' }, ctx, true)).toBe('{}\n');
  });

  it('nested objects and lists recurse; numbers, booleans and null are copied', () => {
    const format = {
      type: 'request',
      version: 2,
      sampled: false,
      none: null,
      http: { method: '%REQ(:METHOD)%', status: '%RESPONSE_CODE%', route: { name: '%ROUTE_NAME%', missing: '%REQ(X-NOPE)%' } },
      list: ['%RESPONSE_CODE%', 'fixed', 1.5, '%REQ(X-NOPE)%', { p: '%PROTOCOL%' }],
    };
    const ctx = fakeContext({ request: { ':method': 'PUT' } });
    expect(json(format, ctx)).toBe(
      '{"type":"request","version":2,"sampled":false,"none":null,' +
        '"http":{"method":"PUT","status":200,"route":{"name":"default","missing":null}},' +
        '"list":[200,"fixed",1.5,null,{"p":"HTTP/1.1"}]}\n',
    );
    expect(json(format, ctx, true)).toBe(
      '{"type":"request","version":2,"sampled":false,' +
        '"http":{"method":"PUT","status":200,"route":{"name":"default"}},' +
        '"list":[200,"fixed",1.5,{"p":"HTTP/1.1"}]}\n',
    );
  });

  it('escapes strings', () => {
    const ctx = fakeContext({ request: { 'user-agent': 'a "quoted"\\ agent\n' } });
    expect(jsonObject({ ua: '%REQ(USER-AGENT)%', text: 'ua: %REQ(USER-AGENT)%', 'k"ey': 'x' }, ctx)).toEqual({
      ua: 'a "quoted"\\ agent\n',
      text: 'ua: a "quoted"\\ agent\n',
      'k"ey': 'x',
    });
  });

  it('a literal string, an empty string and %% stay strings', () => {
    expect(json({ a: 'plain', b: '', c: '100%%' })).toBe('{"a":"plain","b":"","c":"100%"}\n');
  });

  it('a TCP connection', () => {
    expect(jsonObject({ method: '%REQ(:METHOD)%', protocol: '%PROTOCOL%', code: '%RESPONSE_CODE%', rx: '%BYTES_RECEIVED%', grpc: '%GRPC_STATUS%' }, tcpContext())).toEqual({
      method: null,
      protocol: null,
      code: 0,
      rx: 846,
      grpc: null,
    });
  });
});

describe('FormatError', () => {
  const fails = (format: string) => () => compileFormat({ text: format });

  it('is an Error named FormatError', () => {
    const e = (() => {
      try {
        compileFormat({ text: '%NOPE%' });
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    expect(e).toBeInstanceOf(FormatError);
    expect(e).toBeInstanceOf(Error);
    expect((e as Error).name).toBe('FormatError');
  });

  it('an unknown operator names it and its position', () => {
    expect(fails('[%START_TIME%] %FOO%')).toThrow(new FormatError('unknown command operator %FOO% at position 15'));
    expect(fails('%UPSTREAM_PROTOCOL%')).toThrow('unknown command operator %UPSTREAM_PROTOCOL% at position 0');
    expect(fails('%FOO(bar):3%')).toThrow('unknown command operator %FOO(bar):3% at position 0');
  });

  it('a % that opens no operator', () => {
    expect(fails('100% sure')).toThrow(/position 3: a '%' must open %NAME% \(write %% for a literal percent\)/);
    expect(fails('trailing %')).toThrow(/position 9/);
    expect(fails('%req(:method)%')).toThrow(/position 0/);
  });

  it('a broken operator: missing ), missing closing %, a length that is not a number', () => {
    expect(fails('%REQ(:METHOD%')).toThrow(/%REQ\(\.\.\. at position 0: missing '\)'/);
    expect(fails('%PROTOCOL')).toThrow(/%PROTOCOL at position 0: missing the closing '%'/);
    expect(fails('%REQ(:METHOD)x%')).toThrow(/missing the closing '%'/);
    expect(fails('%REQ(:METHOD):x%')).toThrow(/':' must be followed by a length/);
    expect(fails('%REQ(:METHOD):%')).toThrow(/':' must be followed by a length/);
  });

  it('a required argument missing', () => {
    expect(fails('%REQ%')).toThrow('%REQ% needs a header: %REQ(name)%');
    expect(fails('%REQ()%')).toThrow('%REQ% needs a header: %REQ(name)%');
    expect(fails('%RESP%')).toThrow('%RESP% needs a header: %RESP(name)%');
    expect(fails('%TRAILER%')).toThrow('%TRAILER% needs a header');
    expect(fails('%REQ_WITHOUT_QUERY%')).toThrow('%REQ_WITHOUT_QUERY% needs a header');
    expect(fails('%DYNAMIC_METADATA%')).toThrow('%DYNAMIC_METADATA% needs a namespace');
    expect(fails('%FILTER_STATE%')).toThrow('%FILTER_STATE% needs a key');
    expect(fails('%ENVIRONMENT%')).toThrow('%ENVIRONMENT% needs a variable name');
  });

  it('an argument or a length where the operator takes none', () => {
    expect(fails('%PROTOCOL(x)%')).toThrow('%PROTOCOL% takes no argument (%PROTOCOL(x)% at position 0)');
    expect(fails('%RESPONSE_CODE:3%')).toThrow('%RESPONSE_CODE% takes no length');
    expect(fails('%START_TIME:10%')).toThrow('%START_TIME% takes no length');
    expect(fails('%GRPC_STATUS:2%')).toThrow('%GRPC_STATUS% takes no length');
  });

  it('bad header names', () => {
    expect(fails('%REQ(A?B?C)%')).toThrow(/only one alternative header/);
    expect(fails('%REQ(?B)%')).toThrow(/"" is not a header name/);
    expect(fails('%REQ(A?)%')).toThrow(/"" is not a header name/);
    expect(fails('%REQ(BAD NAME)%')).toThrow(/"BAD NAME" is not a header name/);
  });

  it('bad START_TIME formats', () => {
    expect(fails('%START_TIME(%Q)%')).toThrow('%START_TIME(%Q)% at position 0: START_TIME format: unsupported specifier %Q');
    expect(fails('%START_TIME(%Y%)%')).toThrow(/ends with a lone %/);
    expect(fails('%START_TIME(%n)%')).toThrow(/%n \(a newline\) is not allowed/);
    expect(fails('%START_TIME(%Y\n)%')).toThrow(/a newline is not allowed/);
    expect(fails('%START_TIME(%E4Y)%')).toThrow(/unsupported specifier %E4/);
  });

  it('bad operator arguments', () => {
    expect(fails('%GRPC_STATUS(LOUD)%')).toThrow(/CAMEL_STRING, SNAKE_STRING or NUMBER/);
    expect(fails('%RESPONSE_CODE_DETAILS(SPACES)%')).toThrow(/ALLOW_WHITESPACES/);
    expect(fails('%FILTER_STATE(key:JSON)%')).toThrow(/PLAIN, TYPED or FIELD, not JSON/);
    expect(fails('%FILTER_STATE(key:FIELD)%')).toThrow(/FIELD goes with a field name/);
    expect(fails('%FILTER_STATE(key:PLAIN:name)%')).toThrow(/FIELD goes with a field name/);
    expect(fails('%FILTER_STATE(key:FIELD:a:b)%')).toThrow(/expected key, key:PLAIN, key:TYPED or key:FIELD:name/);
    expect(fails('%FILTER_STATE(:PLAIN)%')).toThrow(/needs a key/);
    expect(fails('%DYNAMIC_METADATA(:key)%')).toThrow(/needs a namespace/);
    expect(fails('%DYNAMIC_METADATA(ns::key)%')).toThrow(/a metadata key is empty/);
  });

  it('in a JSON format the error names the key', () => {
    expect(() => compileFormat({ json: { a: '%PROTOCOL%', b: { c: 'x %NOPE%' } } })).toThrow('json.b.c: unknown command operator %NOPE% at position 2');
    expect(() => compileFormat({ json: { list: ['%REQ%'] } })).toThrow(/^json\.list\[0\]: %REQ% needs a header/);
    expect(() => compileFormat({ json: { f: (() => 1) as unknown } })).toThrow(/json\.f: a JSON format value must be/);
  });

  it('a format with neither text nor json', () => {
    expect(() => compileFormat({ omitEmptyValues: true } as never)).toThrow(FormatError);
    expect(() => compileFormat({ json: [] } as never)).toThrow(FormatError);
  });

  it('the default formats compile', () => {
    expect(() => compileFormat({ text: ENVOY_DEFAULT_FORMAT })).not.toThrow();
    expect(() => compileFormat({ text: ISTIO_DEFAULT_TEXT_FORMAT })).not.toThrow();
    expect(() => compileFormat({ json: ISTIO_DEFAULT_JSON_FORMAT })).not.toThrow();
  });
});
