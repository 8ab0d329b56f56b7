import { hostname } from 'node:os';
import type { AccessLogFormat } from '../config/snapshot.js';
import { RESPONSE_FLAG_LONG_NAMES } from './envoy-response-flags.js';
import type { LogContext } from './log-context.js';

/**
 * Envoy's substitution formatter: access-log format strings and their command operators
 * (`%REQ(:METHOD)%`, `%START_TIME(%s.%3f)%`, `%UPSTREAM_HOST%` ...), as text or as a JSON object.
 *
 * A format is compiled once, at config load, into literals and small getter closures; a log entry
 * only calls the getters and concatenates. Anything Envoy would refuse (and any operator this proxy
 * cannot serve) is a FormatError at compile time, so a bad config is refused when it is loaded.
 */

/** A format string Envoy (or this proxy) refuses: names the operator and what is wrong with it. */
export class FormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FormatError';
  }
}

/** One access-log line (text formats end it as the format says; JSON ends each object with `\n`). */
export type LogFormatter = (ctx: LogContext) => string;

/** Envoy's default format: used when an access log names no format. */
export const ENVOY_DEFAULT_FORMAT =
  '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" ' +
  '%RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% ' +
  '%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" ' +
  '"%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"\n';

/**
 * Compiles an access log's format (absent: Envoy's default text format). Text: the line exactly as
 * the format produces it (like Envoy, no newline is added), a missing value printing `-` (nothing
 * with omitEmptyValues). JSON: one object per entry plus `\n`.
 */
export function compileFormat(format: AccessLogFormat | undefined): LogFormatter {
  if (format === undefined) return compileText(ENVOY_DEFAULT_FORMAT, false);
  const omitEmpty = format.omitEmptyValues === true;
  if ('text' in format && typeof format.text === 'string') return compileText(format.text, omitEmpty);
  if ('json' in format && isPlainObject(format.json)) return compileJson(format.json, omitEmpty);
  throw new FormatError('an access log format needs a text format string or a json object');
}

// ---------------------------------------------------------------------------------------------
// Compiled pieces

/** A value at log time; undefined when it is missing (printed `-`, or null in JSON). */
type Getter = (ctx: LogContext) => string | undefined;

/** A compiled command operator. */
interface Operator {
  /** The value as text: in a line, or inside a longer JSON string. */
  readonly text: Getter;
  /**
   * The value as a JSON fragment when a JSON value is exactly this operator: a number for the
   * numeric operators, an object for metadata and filter state, else a JSON string.
   */
  readonly json: Getter;
}

/** A command operator as written: `%NAME(arg):length%`, at `pos` in its format string. */
interface Command {
  readonly name: string;
  /** Between the parentheses; '' when there are none. */
  readonly arg: string;
  readonly maxLength: number | undefined;
  readonly token: string;
  readonly pos: number;
}

type Segment = string | Command;

function compileText(format: string, omitEmpty: boolean): LogFormatter {
  const parts = scan(format).map((s) => (typeof s === 'string' ? s : compileCommand(s).text));
  return joinParts(parts, omitEmpty ? '' : '-');
}

/** Literals and getters concatenated; a missing value becomes `empty`. */
function joinParts(parts: readonly (string | Getter)[], empty: string): (ctx: LogContext) => string {
  if (parts.length === 0) return () => '';
  if (parts.length === 1 && typeof parts[0] === 'string') {
    const only = parts[0];
    return () => only;
  }
  return (ctx) => {
    let out = '';
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i];
      out += typeof p === 'string' ? p : (p(ctx) ?? empty);
    }
    return out;
  };
}

// ---------------------------------------------------------------------------------------------
// JSON formats

/** A JSON value at log time as JSON text; undefined stands for null (left out with omitEmptyValues). */
type JsonGetter = (ctx: LogContext) => string | undefined;

function compileJson(format: Record<string, unknown>, omitEmpty: boolean): LogFormatter {
  const object = compileJsonObject(format, omitEmpty, 'json');
  return (ctx) => object(ctx) + '\n';
}

function compileJsonValue(value: unknown, omitEmpty: boolean, where: string): JsonGetter {
  if (typeof value === 'string') return compileJsonString(value, omitEmpty, where);
  if (Array.isArray(value)) return compileJsonList(value, omitEmpty, where);
  if (isPlainObject(value)) return compileJsonObject(value, omitEmpty, where);
  if (value === null) return () => undefined;
  if (typeof value === 'number' || typeof value === 'boolean') {
    const constant = JSON.stringify(value);
    return () => constant;
  }
  throw new FormatError(`${where}: a JSON format value must be a string, number, boolean, object or list, not ${typeof value}`);
}

/**
 * A string value is a format string. Exactly one operator keeps the operator's type (a number, an
 * object, null when missing); anything else is a string in which a missing value prints `-`.
 */
function compileJsonString(format: string, omitEmpty: boolean, where: string): JsonGetter {
  let segments: Segment[];
  let parts: (string | Getter)[];
  try {
    segments = scan(format);
    if (segments.length === 1 && typeof segments[0] !== 'string') return compileCommand(segments[0]).json;
    parts = segments.map((s) => (typeof s === 'string' ? s : compileCommand(s).text));
  } catch (e) {
    throw e instanceof FormatError ? new FormatError(`${where}: ${e.message}`) : e;
  }
  if (parts.every((p) => typeof p === 'string')) {
    const constant = JSON.stringify(parts.join(''));
    return () => constant;
  }
  const text = joinParts(parts, omitEmpty ? '' : '-');
  return (ctx) => JSON.stringify(text(ctx));
}

function compileJsonObject(format: Record<string, unknown>, omitEmpty: boolean, where: string): JsonGetter {
  const keys = Object.keys(format);
  const prefixes = keys.map((k) => JSON.stringify(k) + ':');
  const values = keys.map((k) => compileJsonValue(format[k], omitEmpty, `${where}.${k}`));
  return (ctx) => {
    let out = '{';
    let sep = '';
    for (let i = 0; i < values.length; i++) {
      const v = values[i](ctx);
      if (v === undefined && omitEmpty) continue;
      out += sep + prefixes[i] + (v ?? 'null');
      sep = ',';
    }
    return out + '}';
  };
}

function compileJsonList(format: readonly unknown[], omitEmpty: boolean, where: string): JsonGetter {
  const values = format.map((v, i) => compileJsonValue(v, omitEmpty, `${where}[${i}]`));
  return (ctx) => {
    let out = '[';
    let sep = '';
    for (let i = 0; i < values.length; i++) {
      const v = values[i](ctx);
      if (v === undefined && omitEmpty) continue;
      out += sep + (v ?? 'null');
      sep = ',';
    }
    return out + ']';
  };
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// ---------------------------------------------------------------------------------------------
// The scanner

const PERCENT = 37;
const OPEN_PAREN = 40;
const COLON = 58;

/**
 * Splits a format string into literals and commands, as Envoy's parser does: `%%` is a literal
 * percent; any other `%` must open `%NAME%`, `%NAME(arg)%` or `%NAME(arg):LENGTH%` (NAME of A-Z,
 * 0-9 and _, arg without `)`).
 */
function scan(format: string): Segment[] {
  const out: Segment[] = [];
  let literal = '';
  let i = 0;
  while (i < format.length) {
    const pct = format.indexOf('%', i);
    if (pct < 0) {
      literal += format.slice(i);
      break;
    }
    literal += format.slice(i, pct);
    if (format.charCodeAt(pct + 1) === PERCENT) {
      literal += '%';
      i = pct + 2;
      continue;
    }
    const command = scanCommand(format, pct);
    if (literal) out.push(literal);
    literal = '';
    out.push(command);
    i = pct + command.token.length;
  }
  if (literal) out.push(literal);
  return out;
}

function scanCommand(format: string, pct: number): Command {
  let j = pct + 1;
  while (j < format.length && isNameChar(format.charCodeAt(j))) j++;
  const name = format.slice(pct + 1, j);
  if (!name) {
    throw new FormatError(`invalid command operator at position ${pct}: a '%' must open %NAME% (write %% for a literal percent)`);
  }
  let arg = '';
  if (format.charCodeAt(j) === OPEN_PAREN) {
    const close = format.indexOf(')', j + 1);
    if (close < 0) throw new FormatError(`invalid command operator %${name}(... at position ${pct}: missing ')'`);
    arg = format.slice(j + 1, close);
    j = close + 1;
  }
  let maxLength: number | undefined;
  if (format.charCodeAt(j) === COLON) {
    const digits = j + 1;
    j = digits;
    while (j < format.length && isDigit(format.charCodeAt(j))) j++;
    if (j === digits) throw new FormatError(`invalid command operator %${name}% at position ${pct}: ':' must be followed by a length`);
    maxLength = Number(format.slice(digits, j));
  }
  if (format.charCodeAt(j) !== PERCENT) {
    throw new FormatError(`invalid command operator ${format.slice(pct, j)} at position ${pct}: missing the closing '%'`);
  }
  return { name, arg, maxLength, token: format.slice(pct, j + 1), pos: pct };
}

function isNameChar(c: number): boolean {
  return (c >= 65 && c <= 90) || isDigit(c) || c === 95;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

// ---------------------------------------------------------------------------------------------
// The operators

/** What an operator accepts: Envoy's CommandSyntaxChecker flags. */
interface OperatorSpec {
  readonly arg: 'none' | 'optional' | 'required';
  /** `:N` allowed. */
  readonly length?: boolean;
  /** For the error when a required argument is missing: "a header: %REQ(name)%". */
  readonly needs?: string;
  build(c: Command): Operator;
}

function compileCommand(c: Command): Operator {
  const spec = OPERATORS.get(c.name);
  if (!spec) throw new FormatError(`unknown command operator ${c.token} at position ${c.pos}`);
  checkSyntax(spec, c);
  return spec.build(c);
}

function checkSyntax(spec: OperatorSpec, c: Command): void {
  if (spec.arg === 'none' && c.arg) throw new FormatError(`%${c.name}% takes no argument (${c.token} at position ${c.pos})`);
  if (spec.arg === 'required' && !c.arg) throw new FormatError(`%${c.name}% needs ${spec.needs} (${c.token} at position ${c.pos})`);
  if (!spec.length && c.maxLength !== undefined) {
    throw new FormatError(`%${c.name}% takes no length (${c.token} at position ${c.pos})`);
  }
}

/** An error about an operator's argument. */
function argError(c: Command, what: string): FormatError {
  return new FormatError(`${c.token} at position ${c.pos}: ${what}`);
}

const bare = (build: (c: Command) => Operator): OperatorSpec => ({ arg: 'none', build });

/** A string-valued operator; '' counts as missing, as Envoy's stream-info fields do. */
function stringOp(get: (ctx: LogContext) => string | undefined): Operator {
  const text: Getter = (ctx) => {
    const v = get(ctx);
    return v === '' ? undefined : v;
  };
  return { text, json: quoted(text) };
}

/** A number-valued operator: a JSON number in a JSON format. */
function numberOp(get: (ctx: LogContext) => number | undefined): Operator {
  const text: Getter = (ctx) => {
    const v = get(ctx);
    return v === undefined ? undefined : String(v);
  };
  return { text, json: text };
}

function constantOp(value: string | undefined): Operator {
  const json = value === undefined ? undefined : JSON.stringify(value);
  return { text: () => value, json: () => json };
}

function quoted(text: Getter): Getter {
  return (ctx) => {
    const v = text(ctx);
    return v === undefined ? undefined : JSON.stringify(v);
  };
}

/** HTTP-only values print `-` for a connection of the TCP proxy. */
function httpOnly(get: Getter): Getter {
  return (ctx) => (ctx.kind === 'tcp' ? undefined : get(ctx));
}

function truncate(s: string, maxLength: number | undefined): string {
  return maxLength === undefined || s.length <= maxLength ? s : s.slice(0, maxLength);
}

// --- headers

type HeaderLookup = (ctx: LogContext, name: string) => string | undefined;
const requestHeader: HeaderLookup = (ctx, name) => ctx.requestHeader(name);
const responseHeader: HeaderLookup = (ctx, name) => ctx.responseHeader(name);
const responseTrailer: HeaderLookup = (ctx, name) => ctx.responseTrailer(name);

/**
 * REQ/RESP/TRAILER(name?alternative):N. The alternative is read only when the main header is
 * absent; a header present but empty prints empty, as in Envoy.
 */
function headerSpec(lookup: HeaderLookup, operator: string, withoutQuery = false): OperatorSpec {
  return {
    arg: 'required',
    length: true,
    needs: `a header: %${operator}(name)%`,
    build(c) {
      const [main, alternative] = headerNames(c);
      const max = c.maxLength;
      const text: Getter = (ctx) => {
        if (ctx.kind === 'tcp') return undefined;
        let v = lookup(ctx, main);
        if (v === undefined && alternative !== undefined) v = lookup(ctx, alternative);
        if (v === undefined) return undefined;
        return truncate(withoutQuery ? stripQuery(v) : v, max);
      };
      return { text, json: quoted(text) };
    },
  };
}

function headerNames(c: Command): [string, string | undefined] {
  const names = c.arg.split('?');
  if (names.length > 2) throw argError(c, 'only one alternative header may follow the header (name?alternative)');
  for (const n of names) {
    if (!isHeaderName(n)) throw argError(c, `${JSON.stringify(n)} is not a header name`);
  }
  return [names[0].toLowerCase(), names[1]?.toLowerCase()];
}

/** Non-empty, no whitespace or control characters (the names may be pseudo-headers: `:path`). */
function isHeaderName(n: string): boolean {
  if (!n) return false;
  for (let i = 0; i < n.length; i++) {
    const c = n.charCodeAt(i);
    if (c <= 32 || c === 127) return false;
  }
  return true;
}

function stripQuery(path: string): string {
  const q = path.indexOf('?');
  return q < 0 ? path : path.slice(0, q);
}

// --- addresses (`ip:port`, `[ipv6]:port`, or a pipe's path)

/** `[::1]:80` → `::1`, `10.0.0.1:80` → `10.0.0.1`; an address without a port as is. */
function addressWithoutPort(a: string): string {
  if (a.charCodeAt(0) === 91 /* [ */) {
    const end = a.indexOf(']');
    return end < 0 ? a : a.slice(1, end);
  }
  const colon = a.lastIndexOf(':');
  // No colon, or more than one: a pipe's path or a bare IPv6 address, neither with a port.
  if (colon < 0 || a.indexOf(':') !== colon || isPipe(a)) return a;
  return a.slice(0, colon);
}

/** The port of `ip:port` / `[ipv6]:port`; undefined for a pipe or an address without one. */
function addressPort(a: string): string | undefined {
  let start: number;
  if (a.charCodeAt(0) === 91 /* [ */) {
    const end = a.indexOf(']');
    if (end < 0 || a.charCodeAt(end + 1) !== COLON) return undefined;
    start = end + 2;
  } else {
    const colon = a.lastIndexOf(':');
    if (colon < 0 || a.indexOf(':') !== colon || isPipe(a)) return undefined;
    start = colon + 1;
  }
  if (start >= a.length) return undefined;
  for (let i = start; i < a.length; i++) if (!isDigit(a.charCodeAt(i))) return undefined;
  return a.slice(start);
}

function isPipe(a: string): boolean {
  return a.startsWith('/') || a.startsWith('@');
}

/** X_ADDRESS, X_ADDRESS_WITHOUT_PORT and X_PORT (Envoy's names) of one address. */
function addressOperators(prefix: string, get: (ctx: LogContext) => string | undefined): [string, OperatorSpec][] {
  const present: Getter = (ctx) => get(ctx) || undefined;
  const port: Getter = (ctx) => {
    const a = present(ctx);
    return a === undefined ? undefined : addressPort(a);
  };
  return [
    [`${prefix}_ADDRESS`, bare(() => stringOp(present))],
    [
      `${prefix}_ADDRESS_WITHOUT_PORT`,
      bare(() =>
        stringOp((ctx) => {
          const a = present(ctx);
          return a === undefined ? undefined : addressWithoutPort(a);
        }),
      ),
    ],
    // The port is a number in a JSON format, as Envoy's.
    [`${prefix}_PORT`, bare(() => ({ text: port, json: port }))],
  ];
}

// --- response flags

/** Few flag combinations occur, so their long forms are remembered (bounded, in case of many). */
const longFlagsCache = new Map<string, string>();

function longResponseFlags(short: string): string {
  if (short === '-' || short === '') return short;
  let long = longFlagsCache.get(short);
  if (long === undefined) {
    long = short
      .split(',')
      .map((f) => RESPONSE_FLAG_LONG_NAMES.get(f) ?? f)
      .join(',');
    if (longFlagsCache.size >= 256) longFlagsCache.clear();
    longFlagsCache.set(short, long);
  }
  return long;
}

/** Envoy replaces whitespace in RESPONSE_CODE_DETAILS (all of it) and the failure reason (spaces) with `_`. */
function underscoreWhitespace(s: string, spacesOnly: boolean): string {
  let i = 0;
  while (i < s.length && !isReplacedWhitespace(s.charCodeAt(i), spacesOnly)) i++;
  if (i === s.length) return s;
  let out = s.slice(0, i);
  for (; i < s.length; i++) out += isReplacedWhitespace(s.charCodeAt(i), spacesOnly) ? '_' : s[i];
  return out;
}

function isReplacedWhitespace(c: number, spacesOnly: boolean): boolean {
  return c === 32 || (!spacesOnly && c >= 9 && c <= 13);
}

// --- gRPC status

/** Envoy's CAMEL_STRING names (Grpc::Utility::grpcStatusToString), by code. */
const GRPC_CAMEL = [
  'OK', 'Canceled', 'Unknown', 'InvalidArgument', 'DeadlineExceeded', 'NotFound', 'AlreadyExists',
  'PermissionDenied', 'ResourceExhausted', 'FailedPrecondition', 'Aborted', 'OutOfRange',
  'Unimplemented', 'Internal', 'Unavailable', 'DataLoss', 'Unauthenticated',
];

/** SNAKE_STRING names (absl::StatusCodeToString), by code. */
const GRPC_SNAKE = [
  'OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS',
  'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE',
  'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED',
];

const grpcStatusNumber = (): Operator => numberOp((ctx) => (ctx.kind === 'tcp' ? undefined : ctx.grpcStatus));

/** GRPC_STATUS(CAMEL_STRING | SNAKE_STRING | NUMBER), CAMEL_STRING by default; a code without a name prints as a number. */
function grpcStatusOp(c: Command): Operator {
  if (c.arg === 'NUMBER') return grpcStatusNumber();
  let names: readonly string[];
  if (c.arg === '' || c.arg === 'CAMEL_STRING') names = GRPC_CAMEL;
  else if (c.arg === 'SNAKE_STRING') names = GRPC_SNAKE;
  else throw argError(c, 'the format must be CAMEL_STRING, SNAKE_STRING or NUMBER');
  return stringOp((ctx) => {
    const code = ctx.kind === 'tcp' ? undefined : ctx.grpcStatus;
    return code === undefined ? undefined : (names[code] ?? String(code));
  });
}

// --- metadata and filter state

/** JSON text of a value (bigints as numbers); undefined for what JSON cannot hold. */
function toJson(v: unknown): string | undefined {
  return JSON.stringify(v, bigintAsNumber) as string | undefined;
}

/** A metadata or filter-state value as JSON; null (protobuf's null value) counts as missing. */
function typedJson(v: unknown): string | undefined {
  return v === undefined || v === null ? undefined : toJson(v);
}

function bigintAsNumber(_key: string, v: unknown): unknown {
  return typeof v === 'bigint' ? Number(v) : v;
}

/** DYNAMIC_METADATA(namespace:key:...):N — a string as is, any other value as JSON (null is missing). */
function dynamicMetadataOp(c: Command): Operator {
  const [namespace, ...path] = c.arg.split(':');
  if (!namespace) throw argError(c, 'needs a namespace: %DYNAMIC_METADATA(namespace:key)%');
  if (path.some((k) => !k)) throw argError(c, 'a metadata key is empty');
  const value = (ctx: LogContext): unknown => {
    const root = ctx.metadata;
    return Object.hasOwn(root, namespace) ? walk(root[namespace], path) : undefined;
  };
  const max = c.maxLength;
  return {
    text: (ctx) => {
      const v = value(ctx);
      const s = typeof v === 'string' ? v : typedJson(v);
      return s === undefined ? undefined : truncate(s, max);
    },
    // As Envoy's typed value: the value itself, not truncated.
    json: (ctx) => typedJson(value(ctx)),
  };
}

function walk(v: unknown, path: readonly string[]): unknown {
  for (const key of path) {
    if (!isPlainObject(v) || !Object.hasOwn(v, key)) return undefined;
    v = v[key];
  }
  return v;
}

/**
 * FILTER_STATE(key), FILTER_STATE(key:TYPED): the value as JSON; FILTER_STATE(key:PLAIN): a string
 * as is; FILTER_STATE(key:FIELD:name): one field of an object value.
 */
function filterStateOp(c: Command): Operator {
  const [key, serialization, field, ...rest] = c.arg.split(':');
  if (!key) throw argError(c, 'needs a key: %FILTER_STATE(key)%');
  if (rest.length > 0) throw argError(c, 'expected key, key:PLAIN, key:TYPED or key:FIELD:name');
  const kind = serialization || 'TYPED';
  if (kind !== 'TYPED' && kind !== 'PLAIN' && kind !== 'FIELD') {
    throw argError(c, `the serialization must be PLAIN, TYPED or FIELD, not ${kind}`);
  }
  if ((kind === 'FIELD') !== Boolean(field)) throw argError(c, 'FIELD goes with a field name: %FILTER_STATE(key:FIELD:name)%');
  const max = c.maxLength;
  if (kind === 'PLAIN') {
    return stringOp((ctx) => {
      const s = plainString(ctx.filterState(key));
      return s === undefined ? undefined : truncate(s, max);
    });
  }
  if (kind === 'FIELD') {
    return stringOp((ctx) => {
      const s = fieldString(ctx.filterState(key), field);
      return s === undefined ? undefined : truncate(s, max);
    });
  }
  return {
    text: (ctx) => {
      const s = typedJson(ctx.filterState(key));
      return s === undefined ? undefined : truncate(s, max);
    },
    // As Envoy's typed value: the value itself, not truncated.
    json: (ctx) => typedJson(ctx.filterState(key)),
  };
}

/** One field of an object value: a string, or an integer in decimal. */
function fieldString(v: unknown, field: string): string | undefined {
  const f = isPlainObject(v) && Object.hasOwn(v, field) ? v[field] : undefined;
  return typeof f === 'string' ? f : typeof f === 'number' || typeof f === 'bigint' ? String(f) : undefined;
}

/** A filter state object's plain serialization: strings as they are, numbers in decimal, else JSON. */
function plainString(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  return toJson(v);
}

// --- compile-time values

function environmentOp(c: Command): Operator {
  // Envoy reads the variable once; an unset one is the string `-`, not a missing value.
  const value = process.env[c.arg];
  return constantOp(value === undefined ? '-' : truncate(value, c.maxLength));
}

function hostnameOp(): Operator {
  let name: string | undefined;
  try {
    name = hostname() || undefined;
  } catch {
    name = undefined;
  }
  return constantOp(name);
}

function responseCodeDetailsOp(c: Command): Operator {
  if (c.arg !== '' && c.arg !== 'ALLOW_WHITESPACES') throw argError(c, 'the only argument is ALLOW_WHITESPACES');
  if (c.arg === 'ALLOW_WHITESPACES') return stringOp((ctx) => ctx.responseCodeDetails);
  return stringOp((ctx) => {
    const d = ctx.responseCodeDetails;
    return d === undefined ? undefined : underscoreWhitespace(d, false);
  });
}

function startTimeOp(c: Command): Operator {
  const format = compileTimeFormat(c.arg || DEFAULT_TIME_FORMAT, c);
  return stringOp((ctx) => format(ctx.startTimeMs));
}

/** Whole milliseconds, as Envoy's duration_cast truncates. */
const wholeMs = (ms: number | undefined): number | undefined => (ms === undefined ? undefined : Math.trunc(ms));

const OPERATORS: ReadonlyMap<string, OperatorSpec> = new Map<string, OperatorSpec>([
  ['START_TIME', { arg: 'optional', build: startTimeOp }],
  ['REQ', headerSpec(requestHeader, 'REQ')],
  ['RESP', headerSpec(responseHeader, 'RESP')],
  ['TRAILER', headerSpec(responseTrailer, 'TRAILER')],
  ['REQ_WITHOUT_QUERY', headerSpec(requestHeader, 'REQ_WITHOUT_QUERY', true)],
  ['PROTOCOL', bare(() => stringOp(httpOnly((ctx) => ctx.protocol)))],
  ['RESPONSE_CODE', bare(() => numberOp((ctx) => ctx.responseCode))],
  ['RESPONSE_FLAGS', bare(() => stringOp((ctx) => ctx.responseFlags))],
  ['RESPONSE_FLAGS_LONG', bare(() => stringOp((ctx) => longResponseFlags(ctx.responseFlags)))],
  ['RESPONSE_CODE_DETAILS', { arg: 'optional', build: responseCodeDetailsOp }],
  ['CONNECTION_TERMINATION_DETAILS', bare(() => stringOp((ctx) => ctx.connectionTerminationDetails))],
  [
    'UPSTREAM_TRANSPORT_FAILURE_REASON',
    bare(() =>
      stringOp((ctx) => {
        const r = ctx.upstreamTransportFailureReason;
        return r === undefined ? undefined : underscoreWhitespace(r, true);
      }),
    ),
  ],
  ['BYTES_RECEIVED', bare(() => numberOp((ctx) => ctx.bytesReceived))],
  ['BYTES_SENT', bare(() => numberOp((ctx) => ctx.bytesSent))],
  ['DURATION', bare(() => numberOp((ctx) => wholeMs(ctx.durationMs)))],
  ['REQUEST_DURATION', bare(() => numberOp((ctx) => (ctx.kind === 'tcp' ? undefined : wholeMs(ctx.requestDurationMs))))],
  ['RESPONSE_DURATION', bare(() => numberOp((ctx) => (ctx.kind === 'tcp' ? undefined : wholeMs(ctx.responseDurationMs))))],
  ['UPSTREAM_HOST', bare(() => stringOp((ctx) => ctx.upstreamHost))],
  // No alt_stat_name here: the observability name is the cluster's name.
  ['UPSTREAM_CLUSTER', bare(() => stringOp((ctx) => ctx.upstreamCluster))],
  ['UPSTREAM_CLUSTER_RAW', bare(() => stringOp((ctx) => ctx.upstreamCluster))],
  ['UPSTREAM_REQUEST_ATTEMPT_COUNT', bare(() => numberOp((ctx) => ctx.upstreamRequestAttemptCount ?? 0))],
  // The upstream connection's peer is the host picked.
  ...addressOperators('UPSTREAM_REMOTE', (ctx) => ctx.upstreamHost),
  ...addressOperators('UPSTREAM_LOCAL', (ctx) => ctx.upstreamLocalAddress),
  ...addressOperators('DOWNSTREAM_LOCAL', (ctx) => ctx.downstreamLocalAddress),
  ...addressOperators('DOWNSTREAM_REMOTE', (ctx) => ctx.downstreamRemoteAddress),
  ...addressOperators('DOWNSTREAM_DIRECT_REMOTE', (ctx) => ctx.downstreamDirectRemoteAddress),
  ['REQUESTED_SERVER_NAME', bare(() => stringOp((ctx) => ctx.requestedServerName))],
  ['ROUTE_NAME', bare(() => stringOp((ctx) => ctx.routeName))],
  ['HOSTNAME', bare(hostnameOp)],
  ['ENVIRONMENT', { arg: 'required', length: true, needs: 'a variable name: %ENVIRONMENT(NAME)%', build: environmentOp }],
  ['DOWNSTREAM_PEER_URI_SAN', bare(() => stringOp((ctx) => ctx.downstreamPeerUriSan))],
  ['DOWNSTREAM_LOCAL_URI_SAN', bare(() => stringOp((ctx) => ctx.downstreamLocalUriSan))],
  ['GRPC_STATUS', { arg: 'optional', build: grpcStatusOp }],
  ['GRPC_STATUS_NUMBER', bare(grpcStatusNumber)],
  ['TRACE_ID', bare(() => stringOp((ctx) => ctx.traceId))],
  ['CONNECTION_ID', bare(() => numberOp((ctx) => ctx.connectionId))],
  [
    'DYNAMIC_METADATA',
    { arg: 'required', length: true, needs: 'a namespace: %DYNAMIC_METADATA(namespace:key)%', build: dynamicMetadataOp },
  ],
  ['FILTER_STATE', { arg: 'required', length: true, needs: 'a key: %FILTER_STATE(key)%', build: filterStateOp }],
]);

// ---------------------------------------------------------------------------------------------
// START_TIME: a strftime subset, in UTC

/** Envoy's default: ISO 8601 with milliseconds (`2020-11-25T21:26:18.409Z`). */
const DEFAULT_TIME_FORMAT = '%Y-%m-%dT%H:%M:%E3SZ';

/** A second of UTC wall-clock time, broken down. */
interface CivilTime {
  readonly epochSeconds: number;
  readonly year: number;
  /** 1-12. */
  readonly month: number;
  readonly day: number;
  readonly hour: number;
  readonly minute: number;
  readonly second: number;
  /** 0 = Sunday. */
  readonly weekday: number;
  /** 1-366. */
  readonly yearDay: number;
}

/** A specifier that changes at most once a second. */
type SecondField = (t: CivilTime) => string;
/** A specifier of the fraction of the second (given its milliseconds). */
type FractionField = (ms: number) => string;

const DAY_NAMES = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTH_NAMES = [
  'January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December',
];

const pad2 = (n: number): string => (n < 10 ? '0' + n : String(n));
const pad3 = (n: number): string => (n < 10 ? '00' + n : n < 100 ? '0' + n : String(n));
const padYear = (y: number): string => (y >= 0 && y < 1000 ? String(y).padStart(4, '0') : String(y));
const hour12 = (h: number): number => (h % 12 === 0 ? 12 : h % 12);

const SECOND_FIELDS: Readonly<Record<string, SecondField>> = {
  Y: (t) => padYear(t.year),
  C: (t) => pad2(Math.floor(t.year / 100)),
  y: (t) => pad2(t.year % 100),
  m: (t) => pad2(t.month),
  d: (t) => pad2(t.day),
  e: (t) => (t.day < 10 ? ' ' + t.day : String(t.day)),
  H: (t) => pad2(t.hour),
  I: (t) => pad2(hour12(t.hour)),
  M: (t) => pad2(t.minute),
  S: (t) => pad2(t.second),
  p: (t) => (t.hour < 12 ? 'AM' : 'PM'),
  j: (t) => pad3(t.yearDay),
  a: (t) => DAY_NAMES[t.weekday].slice(0, 3),
  A: (t) => DAY_NAMES[t.weekday],
  b: (t) => MONTH_NAMES[t.month - 1].slice(0, 3),
  h: (t) => MONTH_NAMES[t.month - 1].slice(0, 3),
  B: (t) => MONTH_NAMES[t.month - 1],
  u: (t) => String(t.weekday === 0 ? 7 : t.weekday),
  w: (t) => String(t.weekday),
  F: (t) => `${padYear(t.year)}-${pad2(t.month)}-${pad2(t.day)}`,
  T: (t) => `${pad2(t.hour)}:${pad2(t.minute)}:${pad2(t.second)}`,
  R: (t) => `${pad2(t.hour)}:${pad2(t.minute)}`,
  D: (t) => `${pad2(t.month)}/${pad2(t.day)}/${pad2(t.year % 100)}`,
  s: (t) => String(t.epochSeconds),
  // Always UTC, as Envoy's START_TIME.
  z: () => '+0000',
  Z: () => 'UTC',
};

/** The first `digits` digits of the second's fraction (nanoseconds, of which only ms are known). */
function fractionDigits(digits: number): FractionField {
  if (digits <= 3) return (ms) => pad3(ms).slice(0, digits);
  const zeros = '0'.repeat(digits - 3);
  return (ms) => pad3(ms) + zeros;
}

/** absl's %E*S fraction: as many digits as needed, none for a whole second. */
function shortestFraction(ms: number): string {
  if (ms === 0) return '';
  const s = pad3(ms);
  return '.' + (s.endsWith('00') ? s.slice(0, 1) : s.endsWith('0') ? s.slice(0, 2) : s);
}

/**
 * Compiles a START_TIME format: runs of second-level specifiers (rendered once a second and kept)
 * alternating with fraction specifiers (rendered per entry).
 */
function compileTimeFormat(format: string, c: Command): (ms: number) => string {
  const runs: (string | SecondField)[][] = [[]];
  const fractions: FractionField[] = [];
  const bad = (what: string) => argError(c, `START_TIME format: ${what}`);
  const addField = (f: SecondField | string) => runs[runs.length - 1].push(f);
  const addFraction = (f: FractionField) => {
    fractions.push(f);
    runs.push([]);
  };
  for (let i = 0; i < format.length; i++) {
    const ch = format[i];
    if (ch === '\n') throw bad('a newline is not allowed');
    if (ch !== '%') {
      addField(ch);
      continue;
    }
    const spec = format[++i];
    if (spec === undefined) throw bad('ends with a lone %');
    if (spec === '%') addField('%');
    else if (spec === 't') addField('\t');
    else if (spec === 'n') throw bad('%n (a newline) is not allowed');
    else if (spec === 'f') addFraction(fractionDigits(9));
    else if (spec >= '1' && spec <= '9' && format[i + 1] === 'f') {
      addFraction(fractionDigits(Number(spec)));
      i++;
    } else if (spec === 'E') i = compileExtendedSpecifier(format, i, addField, addFraction, bad);
    else if (Object.hasOwn(SECOND_FIELDS, spec)) addField(SECOND_FIELDS[spec]);
    else throw bad(`unsupported specifier %${spec}`);
  }
  return timeFormatter(runs.map(mergeLiterals), fractions);
}

/** absl's %E#S (seconds with # fraction digits), %E*S (with the digits needed) and %Ez (+00:00); returns the last index used. */
function compileExtendedSpecifier(
  format: string,
  i: number,
  addField: (f: SecondField | string) => void,
  addFraction: (f: FractionField) => void,
  bad: (what: string) => FormatError,
): number {
  const a = format[i + 1];
  if (a === 'z') {
    addField('+00:00');
    return i + 1;
  }
  if (format[i + 2] === 'S' && (a === '*' || (a >= '0' && a <= '9'))) {
    addField(SECOND_FIELDS.S);
    if (a === '*') addFraction(shortestFraction);
    else if (a !== '0') {
      const digits = fractionDigits(Number(a));
      addFraction((ms) => '.' + digits(ms));
    }
    return i + 2;
  }
  throw bad(`unsupported specifier %E${a ?? ''}`);
}

/** Adjacent literal characters as one string. */
function mergeLiterals(run: (string | SecondField)[]): (string | SecondField)[] {
  const out: (string | SecondField)[] = [];
  for (const p of run) {
    const last = out.length - 1;
    if (typeof p === 'string' && last >= 0 && typeof out[last] === 'string') out[last] += p;
    else out.push(p);
  }
  return out;
}

function timeFormatter(runs: readonly (readonly (string | SecondField)[])[], fractions: readonly FractionField[]): (ms: number) => string {
  // Entries come in bursts within one second: its runs are rendered once and reused.
  let cachedSecond = NaN;
  const rendered: string[] = runs.map(() => '');
  return (ms) => {
    const whole = Math.floor(ms);
    const second = Math.floor(whole / 1000);
    if (second !== cachedSecond) {
      const t = civilTime(second);
      for (let i = 0; i < runs.length; i++) rendered[i] = renderRun(runs[i], t);
      cachedSecond = second;
    }
    let out = rendered[0];
    for (let i = 0; i < fractions.length; i++) out += fractions[i](whole - second * 1000) + rendered[i + 1];
    return out;
  };
}

function renderRun(run: readonly (string | SecondField)[], t: CivilTime): string {
  let out = '';
  for (const p of run) out += typeof p === 'string' ? p : p(t);
  return out;
}

function civilTime(epochSeconds: number): CivilTime {
  const d = new Date(epochSeconds * 1000);
  const year = d.getUTCFullYear();
  const month = d.getUTCMonth() + 1;
  const day = d.getUTCDate();
  const startOfYear = new Date(0);
  startOfYear.setUTCFullYear(year, 0, 1);
  const startOfDay = new Date(0);
  startOfDay.setUTCFullYear(year, month - 1, day);
  return {
    epochSeconds,
    year,
    month,
    day,
    hour: d.getUTCHours(),
    minute: d.getUTCMinutes(),
    second: d.getUTCSeconds(),
    weekday: d.getUTCDay(),
    yearDay: Math.round((startOfDay.getTime() - startOfYear.getTime()) / 86_400_000) + 1,
  };
}
