import type { Field } from '../reader.js';
import { regexError } from '../../common/regex.js';
import type {
  CorsPolicySpec, DestinationSpec, HeadersSpec, HeaderOpsSpec, HttpMatchSpec, HttpRouteDestinationSpec, HttpRouteSpec, L4MatchSpec, L4RouteSpec,
  ResourceMeta, StringMatchSpec, VirtualServiceSpec,
} from './resources.js';
import { describeResource, parseExportTo } from './parse.js';
import { parseCidr } from '../../common/cidr.js';

const VS_FIELDS = ['hosts', 'gateways', 'http', 'tls', 'tcp', 'exportTo'];
const HTTP_ROUTE_FIELDS = [
  'name', 'match', 'route', 'redirect', 'directResponse', 'delegate', 'rewrite', 'timeout', 'retries', 'fault',
  'mirror', 'mirrors', 'mirrorPercentage', 'mirrorPercent', 'mirror_percent', 'corsPolicy', 'headers',
  'websocketUpgrade', // removed from Istio's API (WebSocket needs no flag) but still in old manifests
];
const MATCH_FIELDS = [
  'name', 'uri', 'scheme', 'method', 'authority', 'headers', 'port', 'sourceLabels', 'gateways', 'queryParams',
  'ignoreUriCase', 'withoutHeaders', 'sourceNamespace', 'statPrefix',
];
/** Accepted and validated as objects; enforced by the resilience/CORS features. */
/** Envoy's retry_on conditions Istio accepts in retryOn (HTTP status codes are accepted too). */
export const RETRY_ON = [
  '5xx', 'gateway-error', 'reset', 'connect-failure', 'envoy-ratelimited', 'retriable-4xx', 'refused-stream',
  'retriable-status-codes', 'retriable-headers', 'cancelled', 'deadline-exceeded', 'internal', 'resource-exhausted',
  'unavailable', 'reset-before-request', 'http3-post-connect-failure',
];

export function parseVirtualService(spec: Field, meta: ResourceMeta, warnings: string[]): VirtualServiceSpec {
  spec.object(VS_FIELDS);
  const hosts = spec.at('hosts').stringList();
  const gateways = spec.at('gateways').stringList();
  // a VirtualService without hosts is a delegate: only root VirtualServices' routes reach it
  const isDelegate = hosts.length === 0;
  const httpField = spec.at('http');
  const http = httpField.optList().map((r) => parseHttpRoute(r, isDelegate));
  const tcp = spec.at('tcp').optList().map((r) => parseL4Route(r, false));
  const tls = spec.at('tls').optList().map((r) => parseL4Route(r, true));
  if (isDelegate) {
    if (gateways.length) spec.at('gateways').fail('a delegate VirtualService (no hosts) must have no gateways');
    if (tls.length) spec.at('tls').fail('a delegate VirtualService (no hosts) must have no tls routes');
    if (tcp.length) spec.at('tcp').fail('a delegate VirtualService (no hosts) must have no tcp routes');
  }
  hosts.forEach((h, i) => {
    if (h === '') spec.at('hosts').list()[i].fail('host must not be empty');
    if (h === '*' && (gateways.length === 0 || gateways.includes('mesh'))) {
      spec.at('hosts').list()[i].fail('wildcard host * is not allowed for virtual services bound to the mesh gateway');
    }
  });
  if (http.length === 0 && tcp.length === 0 && tls.length === 0) spec.fail('http, tcp or tls must have at least one route');
  return { meta, hosts, gateways, http, tcp, tls, exportTo: parseExportTo(spec.at('exportTo')) };
}

/** A `tcp` route, or a `tls` route (which must match on sniHosts). */
function parseL4Route(f: Field, tls: boolean): L4RouteSpec {
  f.object(['match', 'route']);
  const route = f.at('route').list().map((r) => {
    r.object(['destination', 'weight']);
    if (!r.at('destination').present) r.at('destination').fail('destination is required');
    return { destination: parseDestination(r.at('destination')), weight: r.at('weight').optInt(0, 2 ** 31 - 1) };
  });
  if (route.length === 0) f.at('route').fail('at least one route destination is required');
  if (route.length > 1 && route.some((r) => r.weight === undefined)) f.at('route').fail('weights are required when there is more than one destination');
  const match = f.at('match').optList().map((m) => parseL4Match(m, tls));
  if (tls && match.length === 0) f.at('match').fail('tls routes need at least one match with sniHosts');
  return { match, route };
}

function parseL4Match(f: Field, tls: boolean): L4MatchSpec {
  f.object(tls ? ['sniHosts', 'destinationSubnets', 'port', 'sourceLabels', 'gateways', 'sourceNamespace'] : ['destinationSubnets', 'port', 'sourceLabels', 'gateways', 'sourceNamespace', 'sourceSubnet']);
  const subnets = f.at('destinationSubnets');
  const destinationSubnets = subnets.stringList();
  destinationSubnets.forEach((s, i) => {
    if (!parseCidr(s)) subnets.list()[i].fail(`"${s}" is not an IP address or CIDR`);
  });
  if (f.at('sourceSubnet').present) f.at('sourceSubnet').fail('sourceSubnet is deprecated and not supported');
  const out: L4MatchSpec = {
    destinationSubnets,
    port: f.at('port').present ? f.at('port').port() : undefined,
    sourceLabels: f.at('sourceLabels').present ? f.at('sourceLabels').stringMap() : undefined,
    sourceNamespace: f.at('sourceNamespace').optString(),
    gateways: f.at('gateways').stringList(),
  };
  if (tls) {
    const sni = f.at('sniHosts');
    out.sniHosts = sni.stringList().map((h) => h.toLowerCase());
    if (out.sniHosts.length === 0) sni.fail('sniHosts is required in a tls match');
    out.sniHosts.forEach((h, i) => {
      if (h === '' || (h.includes('*') && !(h === '*' || (h.startsWith('*.') && !h.slice(2).includes('*'))))) sni.list()[i].fail(`invalid SNI host "${h}"`);
    });
  }
  return out;
}

function parseHttpRoute(f: Field, inDelegate: boolean): HttpRouteSpec {
  f.object(HTTP_ROUTE_FIELDS);
  const delegate = parseDelegate(f.at('delegate'));
  if (delegate && inDelegate) f.at('delegate').fail('a delegate VirtualService cannot delegate again (one level only)');
  const route = f.at('route').optList().map(parseRouteDestination);
  const redirect = parseRedirect(f.at('redirect'));
  const directResponse = parseDirectResponse(f.at('directResponse'));
  const actions = [route.length > 0, !!redirect, !!directResponse].filter(Boolean).length;
  if (delegate) {
    // Istio: a root route only delegates; the delegate's routes bring the destinations
    if (route.length) f.at('route').fail('a route with delegate must not set route');
    if (redirect) f.at('redirect').fail('a route with delegate must not set redirect');
  } else if (actions === 0) f.fail('one of route, redirect, directResponse or delegate is required');
  if (actions > 1) f.fail('route, redirect and directResponse are mutually exclusive');
  const rewrite = parseRewrite(f.at('rewrite'));
  if (rewrite && !route.length && !delegate) f.at('rewrite').fail('rewrite requires a route (it cannot be combined with redirect or directResponse)');
  const timeoutMs = f.at('timeout').optDurationMs();
  f.at('websocketUpgrade').optBool();
  const corsPolicy = parseCorsPolicy(f.at('corsPolicy'));
  return {
    name: f.at('name').optString(),
    ...(delegate ? { delegate } : {}),
    match: f.at('match').optList().map(parseMatch),
    route,
    redirect,
    directResponse,
    rewrite,
    timeoutMs,
    headers: parseHeaders(f.at('headers')),
    retries: parseRetries(f.at('retries')),
    fault: parseFault(f.at('fault')),
    ...parseMirrors(f),
    ...(corsPolicy ? { corsPolicy } : {}),
  };
}

const CORS_FIELDS = ['allowOrigins', 'allowOrigin', 'allowMethods', 'allowHeaders', 'exposeHeaders', 'maxAge', 'allowCredentials', 'unmatchedPreflights'];

/** http[].corsPolicy: origins as string matches (allowOrigin, deprecated: exact), the lists, maxAge, credentials, unmatchedPreflights. */
function parseCorsPolicy(f: Field): CorsPolicySpec | undefined {
  if (!f.present) return undefined;
  f.object(CORS_FIELDS);
  const origins = f.at('allowOrigins').optList().map((o) => optStringMatch(o) ?? o.fail('an origin matcher needs exact, prefix or regex'));
  const legacy = f.at('allowOrigin').stringList().map((exact) => ({ exact }));
  const maxAge = f.at('maxAge').optDurationMs();
  const credentials = f.at('allowCredentials');
  return {
    allowOrigins: origins.length ? origins : legacy,
    allowMethods: f.at('allowMethods').stringList(),
    allowHeaders: f.at('allowHeaders').stringList(),
    exposeHeaders: f.at('exposeHeaders').stringList(),
    ...(maxAge !== undefined ? { maxAgeSeconds: Math.floor(maxAge / 1000) } : {}),
    // a BoolValue: `true`, or `{ value: true }`
    ...(credentials.present ? { allowCredentials: typeof credentials.value === 'object' ? credentials.at('value').bool() : credentials.bool() } : {}),
    unmatchedPreflights: f.at('unmatchedPreflights').optOneOf(['UNSPECIFIED', 'FORWARD', 'IGNORE'] as const) ?? 'UNSPECIFIED',
  };
}

function parseDelegate(f: Field): HttpRouteSpec['delegate'] {
  if (!f.present) return undefined;
  f.object(['name', 'namespace']);
  const namespace = f.at('namespace').optString();
  return { name: f.at('name').nonEmptyString(), ...(namespace ? { namespace } : {}) };
}

/**
 * `mirror` with `mirrorPercentage` (or the deprecated `mirrorPercent`), kept apart from `mirrors`
 * [{destination, percentage}]: a delegate route inherits each of them separately from its root.
 */
function parseMirrors(f: Field): Pick<HttpRouteSpec, 'mirror' | 'mirrorPercent' | 'mirrors'> {
  if (f.at('mirror').present && f.at('mirrors').present) f.at('mirrors').fail('mirror and mirrors are mutually exclusive');
  let mirrorPercent: number | undefined;
  const mp = f.at('mirrorPercentage');
  if (mp.present) mirrorPercent = mp.object(['value']).at('value').present ? mp.at('value').number() : 0;
  else if (f.at('mirrorPercent').present) mirrorPercent = f.at('mirrorPercent').int(0, 100);
  else if (f.at('mirror_percent').present) mirrorPercent = f.at('mirror_percent').int(0, 100);
  if (mirrorPercent !== undefined && (mirrorPercent < 0 || mirrorPercent > 100)) mp.at('value').fail('must be between 0 and 100');
  const mirrors = f.at('mirrors').optList().map((m) => {
    m.object(['destination', 'percentage']);
    const p = m.at('percentage');
    const percent = p.present ? (p.object(['value']).at('value').present ? p.at('value').number() : 0) : 100;
    if (percent < 0 || percent > 100) p.at('value').fail('must be between 0 and 100');
    return { destination: parseDestination(m.at('destination')), percent };
  });
  return {
    ...(f.at('mirror').present ? { mirror: parseDestination(f.at('mirror')) } : {}),
    ...(mirrorPercent !== undefined ? { mirrorPercent } : {}),
    mirrors,
  };
}

function parseRetries(f: Field): HttpRouteSpec['retries'] {
  if (!f.present) return undefined;
  f.object(['attempts', 'perTryTimeout', 'retryOn', 'retryRemoteLocalities', 'retryIgnorePreviousHosts', 'backoff']);
  const attempts = f.at('attempts').optInt(0, 2 ** 31 - 1) ?? 0;
  const perTryTimeoutMs = f.at('perTryTimeout').optDurationMs();
  if (perTryTimeoutMs !== undefined && perTryTimeoutMs < 1) f.at('perTryTimeout').fail('perTryTimeout must be at least 1ms');
  const retryOn = f.at('retryOn').optString();
  for (const part of (retryOn ?? '').split(',').map((p) => p.trim()).filter(Boolean)) {
    if (!RETRY_ON.includes(part) && !/^[1-5]\d\d$/.test(part)) f.at('retryOn').fail(`unknown retry condition "${part}"`);
  }
  const backoffMs = f.at('backoff').optDurationMs();
  if (backoffMs !== undefined && backoffMs < 1) f.at('backoff').fail('backoff must be at least 1ms');
  return {
    attempts,
    perTryTimeoutMs,
    retryOn,
    retryRemoteLocalities: f.at('retryRemoteLocalities').optBool(),
    ...(f.at('retryIgnorePreviousHosts').present ? { retryIgnorePreviousHosts: f.at('retryIgnorePreviousHosts').bool() } : {}),
    ...(backoffMs !== undefined ? { backoffMs } : {}),
  };
}

/**
 * Istio Percent {value} (0-100, double), or the deprecated integer `percent`. Istio documents an
 * unset percentage as "no request will be delayed/aborted", and that is what its Envoy config does.
 */
function percentOf(f: Field): number {
  const p = f.at('percentage');
  if (p.present) {
    const v = p.object(['value']).at('value');
    const n = v.present ? v.number() : 0;
    if (n < 0 || n > 100) v.fail('percentage must be between 0 and 100');
    return n;
  }
  return f.at('percent').present ? f.at('percent').int(0, 100) : 0;
}

function parseFault(f: Field): HttpRouteSpec['fault'] {
  if (!f.present) return undefined;
  f.object(['delay', 'abort']);
  const out: NonNullable<HttpRouteSpec['fault']> = {};
  const d = f.at('delay');
  if (d.present) {
    d.object(['fixedDelay', 'exponentialDelay', 'percentage', 'percent']);
    if (d.at('exponentialDelay').present) d.at('exponentialDelay').fail('exponentialDelay is not supported (Istio does not support it either)');
    if (!d.at('fixedDelay').present) d.at('fixedDelay').fail('fixedDelay is required');
    out.delay = { fixedDelayMs: d.at('fixedDelay').durationMs(), percent: percentOf(d) };
  }
  const a = f.at('abort');
  if (a.present) {
    a.object(['httpStatus', 'grpcStatus', 'http2Error', 'percentage']);
    if (a.at('http2Error').present) a.at('http2Error').fail('http2Error aborts are not supported');
    const httpStatus = a.at('httpStatus').optInt(200, 599);
    const grpc = a.at('grpcStatus');
    const grpcStatus = grpc.present ? grpcCode(grpc) : undefined;
    if ((httpStatus === undefined) === (grpcStatus === undefined)) a.fail('exactly one of httpStatus or grpcStatus is required');
    out.abort = { ...(httpStatus !== undefined ? { httpStatus } : {}), ...(grpcStatus !== undefined ? { grpcStatus } : {}), percent: percentOf(a) };
  }
  return out;
}

const GRPC_STATUS_NAMES = [
  'OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED',
];

/** Istio's grpcStatus is a name ("UNAVAILABLE"); numbers are accepted too. */
function grpcCode(f: Field): number {
  if (typeof f.value === 'number') return f.int(0, 16);
  const name = f.string();
  const i = GRPC_STATUS_NAMES.indexOf(name.toUpperCase());
  if (i < 0) f.fail(`unknown gRPC status "${name}"`);
  return i;
}

function parseMatch(f: Field): HttpMatchSpec {
  f.object(MATCH_FIELDS);
  return {
    name: f.at('name').optString(),
    uri: optStringMatch(f.at('uri')),
    scheme: optStringMatch(f.at('scheme')),
    method: optStringMatch(f.at('method')),
    authority: optStringMatch(f.at('authority')),
    headers: headerMatches(f.at('headers'), true),
    withoutHeaders: headerMatches(f.at('withoutHeaders'), true),
    queryParams: headerMatches(f.at('queryParams'), false),
    port: f.at('port').present ? f.at('port').port() : undefined,
    sourceLabels: f.at('sourceLabels').present ? f.at('sourceLabels').stringMap() : undefined,
    sourceNamespace: f.at('sourceNamespace').optString(),
    gateways: f.at('gateways').stringList(),
    ignoreUriCase: f.at('ignoreUriCase').optBool() ?? false,
  };
}

function headerMatches(f: Field, lowerCase: boolean): [string, StringMatchSpec | undefined][] {
  return f.entries().map(([name, m]) => {
    if (name === '') m.fail('header name must not be empty');
    if (lowerCase && name !== name.toLowerCase()) m.fail(`header names must be lower case, got "${name}"`);
    return [name, optStringMatch(m)];
  });
}

/** An Istio StringMatch; `{}` is a presence match (returns undefined). */
export function optStringMatch(f: Field): StringMatchSpec | undefined {
  if (!f.present) return undefined;
  f.object(['exact', 'prefix', 'regex']);
  const set = ['exact', 'prefix', 'regex'].filter((k) => f.at(k).present);
  if (set.length === 0) return undefined;
  if (set.length > 1) f.fail('only one of exact, prefix or regex may be set');
  const k = set[0];
  const v = f.at(k).string();
  if (k === 'regex') {
    const error = regexError(v);
    if (error) f.at('regex').fail(`invalid regular expression: ${error}`);
    return { regex: v };
  }
  return k === 'exact' ? { exact: v } : { prefix: v };
}

function parseRouteDestination(f: Field): HttpRouteDestinationSpec {
  f.object(['destination', 'weight', 'headers']);
  if (!f.at('destination').present) f.at('destination').fail('destination is required');
  return {
    destination: parseDestination(f.at('destination')),
    weight: f.at('weight').optInt(0, 2 ** 31 - 1),
    headers: parseHeaders(f.at('headers')),
  };
}

export function parseDestination(f: Field): DestinationSpec {
  f.object(['host', 'subset', 'port']);
  const port = f.at('port');
  return {
    host: f.at('host').nonEmptyString(),
    subset: f.at('subset').optString() || undefined,
    port: port.present ? port.object(['number']).at('number').port() : undefined,
  };
}

function parseHeaders(f: Field): HeadersSpec | undefined {
  if (!f.present) return undefined;
  f.object(['request', 'response']);
  return { request: parseHeaderOps(f.at('request')), response: parseHeaderOps(f.at('response')) };
}

function parseHeaderOps(f: Field): HeaderOpsSpec | undefined {
  if (!f.present) return undefined;
  f.object(['set', 'add', 'remove']);
  const pairs = (g: Field): [string, string][] =>
    g.entries().map(([k, v]) => {
      if (k === '' || /[\s:]/.test(k.slice(1))) v.fail(`invalid header name "${k}"`);
      return [k.toLowerCase(), v.string()];
    });
  return { set: pairs(f.at('set')), add: pairs(f.at('add')), remove: f.at('remove').stringList().map((h) => h.toLowerCase()) };
}

function parseRedirect(f: Field): HttpRouteSpec['redirect'] {
  if (!f.present) return undefined;
  f.object(['uri', 'authority', 'port', 'derivePort', 'scheme', 'redirectCode']);
  const redirectCode = f.at('redirectCode').optInt(300, 399);
  const port = f.at('port').present ? f.at('port').port() : undefined;
  const derivePort = f.at('derivePort').optOneOf(['FROM_PROTOCOL_DEFAULT', 'FROM_REQUEST_PORT'] as const);
  if (port !== undefined && derivePort) f.at('derivePort').fail('port and derivePort are mutually exclusive');
  return {
    uri: f.at('uri').optString(),
    authority: f.at('authority').optString(),
    port,
    derivePort,
    scheme: f.at('scheme').optString(),
    redirectCode,
  };
}

function parseDirectResponse(f: Field): HttpRouteSpec['directResponse'] {
  if (!f.present) return undefined;
  f.object(['status', 'body']);
  const status = f.at('status').int(200, 599);
  const b = f.at('body');
  let body: string | undefined;
  if (b.present) {
    b.object(['string', 'bytes']);
    if (b.at('string').present) body = b.at('string').string();
    else if (b.at('bytes').present) body = Buffer.from(b.at('bytes').string(), 'base64').toString('latin1');
  }
  return { status, body };
}

function parseRewrite(f: Field): HttpRouteSpec['rewrite'] {
  if (!f.present) return undefined;
  f.object(['uri', 'authority', 'uriRegexRewrite']);
  const rr = f.at('uriRegexRewrite');
  let uriRegexRewrite: { match: string; rewrite: string } | undefined;
  if (rr.present) {
    rr.object(['match', 'rewrite']);
    const match = rr.at('match').nonEmptyString();
    const error = regexError(match);
    if (error) rr.at('match').fail(`invalid regular expression: ${error}`);
    uriRegexRewrite = { match, rewrite: rr.at('rewrite').string() };
  }
  const uri = f.at('uri').optString();
  if (uri !== undefined && uriRegexRewrite) f.fail('uri and uriRegexRewrite are mutually exclusive');
  return { uri, authority: f.at('authority').optString(), uriRegexRewrite };
}
