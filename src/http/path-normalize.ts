/**
 * Request-path normalization as Envoy's HTTP connection manager applies it under Istio's
 * `meshConfig.pathNormalization.normalization`. Run it once, before authorization and routing, and
 * forward the result: authz, the route table and the upstream then all see the same path.
 *
 * What each Istio mode turns on in the HCM (Istio's listener builder):
 *
 *   NONE                      normalize_path=false
 *   BASE (and DEFAULT)        normalize_path=true
 *   MERGE_SLASHES             normalize_path=true, merge_slashes=true
 *   DECODE_AND_MERGE_SLASHES  normalize_path=true, merge_slashes=true,
 *                             path_with_escaped_slashes_action=UNESCAPE_AND_FORWARD
 *
 * and the order Envoy runs the steps in (ConnectionManagerUtility::maybeNormalizePath), every mode:
 *
 *   0. a `:path` that does not start with `/` never gets here: the HCM answers 404
 *      (`absolute_path_rejected`, or `missing_path_rejected` when empty);
 *   1. `#fragment` is cut off (Istio's bootstrap sets http_reject_path_with_fragment=false, so it is
 *      stripped, not rejected; `fragment: 'reject'` gives upstream Envoy's default instead);
 *   2. DECODE_AND_MERGE_SLASHES only: `%2F`/`%2f` become `/` and `%5C`/`%5c` become `\`, textually;
 *   3. normalize_path: Chromium's path canonicalizer (what Envoy links), on the part before `?`:
 *      - `\` is a separator and becomes `/`;
 *      - `.` and `..` segments are resolved, also when spelled `%2e`/`%2E`; `..` stops at the root;
 *      - escapes of unreserved characters (ALPHA, DIGIT, `-`, `.`, `_`, `~`) are decoded;
 *        every other escape is kept byte for byte, its hex case included (`%2f` stays `%2f`);
 *      - bytes a URL may not hold raw (controls, space, `"`, `<`, `>`, `^`, `` ` ``, `{`, `|`,
 *        `}`, DEL, everything >= 0x80) are percent-encoded, upper-case hex;
 *      - a NUL byte or `%00` fails canonicalization: 400 (`path_normalization_failed`);
 *      - `;params` on a `.`/`..` segment are dropped so the segment still counts as a dot segment
 *        (`/a/..;x/b` is `/b`): Envoy's fix for CVE-2026-73551 (1.36.10/1.37.6/1.38.4/1.39.1);
 *   4. merge_slashes: runs of `/` in the path part collapse to one; slashes only is `//` (Envoy
 *      rebuilds the path as prefix + joined segments + suffix).
 *
 * The query (from the first `?` up to any fragment) is never touched. Letter case is never changed.
 *
 * Deliberate difference from Envoy, on by default (`strictPercentEncoding`): a `%` not followed by
 * two hex digits is rejected (400) in every mode, and so is `%00` in NONE. Envoy's legacy path
 * forwards malformed escapes unchanged and checks `%00` only while normalizing; Istio documents
 * `%00` as always rejected, and Envoy's UHV path normalizer rejects both. With the option off the
 * canonicalizer behaves exactly like Envoy's, nested-escape fix-up included (`%%30%30` → `%2500`).
 *
 * The reference is the behaviour Istio documents and its integration tests pin on istio-proxy
 * (unreserved escapes decoded, `%00` rejected). Upstream Chromium/googleurl has since stopped
 * decoding unreserved escapes (crbug.com/1509295) and, from 94ff14, accepting `%00`; should an
 * Envoy release adopt that, this module is where to follow.
 *
 * Input is the request-target as the codec hands it over: one character per byte (latin1). A code
 * unit above 0xFF is taken as the character whose UTF-8 bytes arrived, and escaped as those bytes.
 *
 * Cost: a path with nothing to do (`/api/v1/items?x=1`) is one table-driven scan; `raw` then
 * returns the input string itself and allocates nothing, and rejections are shared frozen objects.
 * Paths that need work are rebuilt in a module-level byte buffer in one pass, linear in the input
 * whatever it holds.
 */
import { Buffer } from 'node:buffer';

/** Istio's `MeshConfig.ProxyPathNormalization.NormalizationType`; DEFAULT is BASE. */
export type PathNormalizationMode = 'NONE' | 'BASE' | 'MERGE_SLASHES' | 'DECODE_AND_MERGE_SLASHES' | 'DEFAULT';

export const PATH_NORMALIZATION_MODES: readonly PathNormalizationMode[] = [
  'NONE',
  'BASE',
  'MERGE_SLASHES',
  'DECODE_AND_MERGE_SLASHES',
  'DEFAULT',
];

export interface PathNormalizerOptions {
  /** What to do with `#fragment`: Istio strips it (default), upstream Envoy rejects it with 400. */
  readonly fragment?: 'strip' | 'reject';
  /** Reject malformed escapes in every mode and `%00` in NONE too (default true); see the module note. */
  readonly strictPercentEncoding?: boolean;
  /** Drop `;params` from `.`/`..` segments when normalizing (default true, Envoy >= 1.36.10). */
  readonly dotSegmentParameters?: boolean;
}

export interface PathNormalized {
  readonly ok: true;
  /** The path to authorize, route on and forward; the input string itself when nothing changed. */
  readonly path: string;
  readonly changed: boolean;
}

export type PathRejectCause =
  | 'empty_path'
  | 'not_origin_form'
  | 'fragment'
  | 'nul_byte'
  | 'encoded_nul'
  | 'malformed_percent_encoding';

export interface PathRejected {
  readonly ok: false;
  /** The local reply Envoy sends: 404 for a missing or non-`/` path, 400 otherwise. */
  readonly status: 400 | 404;
  /** Envoy's response code details, for `%RESPONSE_CODE_DETAILS%`. */
  readonly reason: 'path_normalization_failed' | 'absolute_path_rejected' | 'missing_path_rejected';
  /** What exactly was wrong. */
  readonly cause: PathRejectCause;
}

export type PathNormalizeResult = PathNormalized | PathRejected;

function rejection(status: 400 | 404, reason: PathRejected['reason'], cause: PathRejectCause): PathRejected {
  return Object.freeze({ ok: false as const, status, reason, cause });
}

const REJECT_EMPTY = rejection(404, 'missing_path_rejected', 'empty_path');
const REJECT_NOT_ORIGIN = rejection(404, 'absolute_path_rejected', 'not_origin_form');
const REJECT_FRAGMENT = rejection(400, 'path_normalization_failed', 'fragment');
const REJECT_NUL = rejection(400, 'path_normalization_failed', 'nul_byte');
const REJECT_ENCODED_NUL = rejection(400, 'path_normalization_failed', 'encoded_nul');
const REJECT_MALFORMED = rejection(400, 'path_normalization_failed', 'malformed_percent_encoding');

// ---- character classes -------------------------------------------------------------------------

const SLASH = 0x2f;
const BACKSLASH = 0x5c;
const DOT = 0x2e;
const PERCENT = 0x25;
const QUESTION = 0x3f;
const HASH = 0x23;
const SEMICOLON = 0x3b;

/** Needs more than a copy in the canonicalizer. */
const SPECIAL = 1;
/** Written percent-encoded when raw (always with SPECIAL). */
const ESCAPE = 2;
/** Written raw when percent-encoded: the unreserved set minus `.` (dots go through dot handling). */
const UNESCAPE = 4;
/** Fails canonicalization, raw or encoded (NUL). */
const INVALID = 8;

/** Per byte: how Chromium's path canonicalizer (as used by Envoy's normalize_path) treats it. */
const CLASS = new Uint8Array(256);
for (let c = 0x00; c < 0x20; c++) CLASS[c] = SPECIAL | ESCAPE;
for (let c = 0x7f; c < 0x100; c++) CLASS[c] = SPECIAL | ESCAPE;
for (const ch of ' "#%<>?\\^`{|}') CLASS[ch.charCodeAt(0)] = SPECIAL | ESCAPE;
CLASS[0] = SPECIAL | INVALID;
CLASS[DOT] = SPECIAL;
for (const ch of '-_~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz') {
  CLASS[ch.charCodeAt(0)] = UNESCAPE;
}

/** Hex digit value, or -1. */
const HEX_VALUE = new Int8Array(256).fill(-1);
for (let d = 0; d < 16; d++) {
  HEX_VALUE['0123456789abcdef'.charCodeAt(d)] = d;
  HEX_VALUE['0123456789ABCDEF'.charCodeAt(d)] = d;
}
const HEX_UPPER = new Uint8Array(16);
for (let d = 0; d < 16; d++) HEX_UPPER[d] = '0123456789ABCDEF'.charCodeAt(d);

/**
 * Fast-scan stop sets, one bit per use, indexed by UTF-16 code unit (64 KiB: a lookup per
 * character beats range checks on the hot path).
 */
const STOP_NORMALIZE = 1; // anything the canonicalizer might change, plus '?' and '#'
const STOP_MERGE = 2; // the same plus '/'
const STOP_NONE = 4; // '?', '#', NUL
const STOP_NONE_STRICT = 8; // the same plus '%'
const STOP = new Uint8Array(0x10000);
for (let c = 0; c < 0x10000; c++) {
  const special = c >= 0x100 || (CLASS[c] & SPECIAL) !== 0;
  if (special) STOP[c] |= STOP_NORMALIZE | STOP_MERGE;
}
STOP[SLASH] |= STOP_MERGE;
for (const c of [QUESTION, HASH, 0]) STOP[c] |= STOP_NONE | STOP_NONE_STRICT;
STOP[PERCENT] |= STOP_NONE_STRICT;

// ---- output buffer ------------------------------------------------------------------------------

/** Where a path is rebuilt. Shared: normalizers are synchronous and never re-enter. */
let out = Buffer.allocUnsafeSlow(4096);

/** Largest output for `n` input code units: a unit can become `%XX` three times over (UTF-8). */
function ensureCapacity(n: number): void {
  const need = n * 9 + 8;
  if (out.length < need) out = Buffer.allocUnsafeSlow(Math.max(need, out.length * 2));
}

/** Canonicalization failures, as negative lengths. */
const FAIL_NUL = -1;
const FAIL_ENCODED_NUL = -2;
const FAIL_MALFORMED = -3;

function failure(code: number): PathRejected {
  return code === FAIL_NUL ? REJECT_NUL : code === FAIL_ENCODED_NUL ? REJECT_ENCODED_NUL : REJECT_MALFORMED;
}

// ---- the canonicalizer --------------------------------------------------------------------------

/** Length of a dot at `i` (`.` is 1, `%2e`/`%2E` is 3), or 0. */
function dotLength(s: string, i: number, end: number): number {
  const c = s.charCodeAt(i);
  if (c === DOT) return 1;
  if (c === PERCENT && i + 3 <= end && s.charCodeAt(i + 1) === 0x32 && (s.charCodeAt(i + 2) | 0x20) === 0x65) {
    return 3;
  }
  return 0;
}

function isSeparator(c: number): boolean {
  return c === SLASH || c === BACKSLASH;
}

/** Characters from `i` (a `;`) through the end of its segment, the separator included. */
function parameterLength(s: string, i: number, end: number): number {
  let j = i;
  while (j < end && !isSeparator(s.charCodeAt(j))) j++;
  return (j < end ? j + 1 : end) - i;
}

const NOT_A_DIRECTORY = 0;
const CURRENT = 1;
const PARENT = 2;
/** Input consumed after the first dot, set by classifyAfterDot (saves an allocation per dot). */
let consumedAfterDot = 0;

/** What a dot that follows a `/` in the output means, given the input after it. */
function classifyAfterDot(s: string, after: number, end: number, params: boolean): number {
  if (after === end) {
    consumedAfterDot = 0;
    return CURRENT;
  }
  const c = s.charCodeAt(after);
  if (isSeparator(c)) {
    consumedAfterDot = 1;
    return CURRENT;
  }
  if (params && c === SEMICOLON) {
    consumedAfterDot = parameterLength(s, after, end);
    return CURRENT;
  }
  const second = dotLength(s, after, end);
  if (second > 0) {
    const next = after + second;
    if (next === end) {
      consumedAfterDot = second;
      return PARENT;
    }
    const n = s.charCodeAt(next);
    if (isSeparator(n)) {
      consumedAfterDot = second + 1;
      return PARENT;
    }
    if (params && n === SEMICOLON) {
      consumedAfterDot = second + parameterLength(s, next, end);
      return PARENT;
    }
  }
  consumedAfterDot = 0;
  return NOT_A_DIRECTORY;
}

/**
 * After an escape was decoded within two bytes of an earlier stray `%`, turns that `%` into `%25`
 * if the two now form a new escape (`%%30%30` must not become `%00`). Chromium's rule, kept for
 * the permissive mode; returns the new output length.
 */
function guardNestedEscape(s: string, next: number, end: number, stray: number, length: number): number {
  const unescaped = out[length - 1];
  const appendNext = stray === length - 2;
  let w = length;
  if (appendNext) {
    if (next === end) return length;
    const n = s.charCodeAt(next);
    if (n > 0xff) return length;
    out[w++] = n;
  }
  if (stray + 3 <= w && HEX_VALUE[out[stray + 1]] >= 0 && HEX_VALUE[out[stray + 2]] >= 0) {
    if (!appendNext) out[w++] = out[stray + 1];
    out[stray + 1] = 0x32; // '2'
    out[stray + 2] = 0x35; // '5'
    out[w++] = unescaped;
    return w;
  }
  return length;
}

/** Writes `%XX` for byte `b` at `w`; returns the new length. */
function writeEscaped(b: number, w: number): number {
  out[w] = PERCENT;
  out[w + 1] = HEX_UPPER[b >> 4];
  out[w + 2] = HEX_UPPER[b & 15];
  return w + 3;
}

/** A code unit above 0xFF (and its pair): its UTF-8 bytes, escaped. Returns the units consumed. */
function writeWide(s: string, i: number, end: number, w: number): number {
  let cp = s.charCodeAt(i);
  let units = 1;
  if (cp >= 0xd800 && cp <= 0xdbff && i + 1 < end) {
    const lo = s.charCodeAt(i + 1);
    if (lo >= 0xdc00 && lo <= 0xdfff) {
      cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
      units = 2;
    }
  }
  if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd; // a lone surrogate: no bytes could have said that
  if (cp < 0x800) {
    w = writeEscaped(0xc0 | (cp >> 6), w);
  } else if (cp < 0x10000) {
    w = writeEscaped(0xe0 | (cp >> 12), w);
    w = writeEscaped(0x80 | ((cp >> 6) & 0x3f), w);
  } else {
    w = writeEscaped(0xf0 | (cp >> 18), w);
    w = writeEscaped(0x80 | ((cp >> 12) & 0x3f), w);
    w = writeEscaped(0x80 | ((cp >> 6) & 0x3f), w);
  }
  w = writeEscaped(0x80 | (cp & 0x3f), w);
  wideWritten = w;
  return units;
}
let wideWritten = 0;

/**
 * Canonicalizes `s[0, end)` (which starts with `/`) into `out`; returns the length written, or a
 * FAIL_* code.
 */
function canonicalize(s: string, end: number, strict: boolean, params: boolean): number {
  ensureCapacity(end);
  let w = 0;
  let stray = -8; // output index of the last `%` that began no valid escape
  for (let i = 0; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff) {
      i += writeWide(s, i, end, w) - 1;
      w = wideWritten;
      continue;
    }
    const cls = CLASS[c];
    if ((cls & SPECIAL) === 0) {
      out[w++] = c;
      continue;
    }
    const dot = dotLength(s, i, end);
    if (dot > 0) {
      if (w > 0 && out[w - 1] === SLASH) {
        switch (classifyAfterDot(s, i + dot, end, params)) {
          case NOT_A_DIRECTORY:
            out[w++] = DOT;
            i += dot - 1;
            break;
          case CURRENT:
            i += dot + consumedAfterDot - 1;
            break;
          default: {
            // PARENT: back up to the slash before the last segment, never above the first one.
            if (w - 1 > 0) {
              let j = w - 2;
              while (out[j] !== SLASH && j > 0) j--;
              w = j + 1;
            }
            i += dot + consumedAfterDot - 1;
          }
        }
      } else {
        out[w++] = DOT;
        i += dot - 1;
      }
    } else if (c === BACKSLASH) {
      out[w++] = SLASH;
    } else if (c === PERCENT) {
      const hi = i + 2 < end ? s.charCodeAt(i + 1) : 0x100;
      const lo = i + 2 < end ? s.charCodeAt(i + 2) : 0x100;
      if (hi < 0x100 && lo < 0x100 && HEX_VALUE[hi] >= 0 && HEX_VALUE[lo] >= 0) {
        const value = (HEX_VALUE[hi] << 4) | HEX_VALUE[lo];
        const vcls = CLASS[value];
        if (vcls & UNESCAPE) {
          out[w++] = value;
          if (stray >= w - 3) w = guardNestedEscape(s, i + 3, end, stray, w);
        } else {
          if (vcls & INVALID) return FAIL_ENCODED_NUL;
          out[w] = PERCENT; // kept exactly as sent: hex case included
          out[w + 1] = hi;
          out[w + 2] = lo;
          w += 3;
        }
        i += 2;
      } else {
        if (strict) return FAIL_MALFORMED;
        stray = w;
        out[w++] = PERCENT;
      }
    } else if (cls & INVALID) {
      return FAIL_NUL;
    } else {
      w = writeEscaped(c, w);
    }
  }
  return w;
}

/** merge_slashes over `out[0, length)`; returns the new length. */
function mergeSlashes(length: number): number {
  let w = 1; // out[0] is '/'
  for (let r = 1; r < length; r++) {
    const c = out[r];
    if (c === SLASH && out[w - 1] === SLASH) continue;
    out[w++] = c;
  }
  // Envoy joins the non-empty segments between a leading and a trailing '/': nothing but slashes is "//".
  if (w === 1 && length > 1) {
    out[1] = SLASH;
    return 2;
  }
  return w;
}

/** DECODE_AND_MERGE_SLASHES step 2: the path part with %2F/%2f → '/' and %5C/%5c → '\'. */
function unescapeSlashes(s: string, end: number): string {
  let result = '';
  let from = 0;
  for (let i = s.indexOf('%'); i >= 0 && i + 2 < end; i = s.indexOf('%', i + 1)) {
    const a = s.charCodeAt(i + 1);
    const b = s.charCodeAt(i + 2) | 0x20;
    const replacement = a === 0x32 && b === 0x66 ? '/' : a === 0x35 && b === 0x63 ? '\\' : '';
    if (replacement === '') continue;
    result += s.slice(from, i) + replacement;
    from = i + 3;
    i += 2;
  }
  return from === 0 ? s.slice(0, end) : result + s.slice(from, end);
}

function hasEscapedSlash(s: string, end: number): boolean {
  for (let i = s.indexOf('%'); i >= 0 && i + 2 < end; i = s.indexOf('%', i + 1)) {
    const a = s.charCodeAt(i + 1);
    const b = s.charCodeAt(i + 2) | 0x20;
    if ((a === 0x32 && b === 0x66) || (a === 0x35 && b === 0x63)) return true;
  }
  return false;
}

// ---- the normalizers ----------------------------------------------------------------------------

/** Normalizes without building a result object: see PathNormalizer.raw. */
type RawNormalizer = (path: string) => string | PathRejected;

/** The fragment step alone, once the path part is known to need nothing else. */
function stripFragment(input: string, query: number, rejectFragment: boolean): string | PathRejected {
  const fragment = input.indexOf('#', query + 1);
  if (fragment < 0) return input;
  return rejectFragment ? REJECT_FRAGMENT : input.slice(0, fragment);
}

function noneNormalizer(strict: boolean, rejectFragment: boolean): RawNormalizer {
  const stop = strict ? STOP_NONE_STRICT : STOP_NONE;
  return (input) => {
    const length = input.length;
    if (length === 0) return REJECT_EMPTY;
    if (input.charCodeAt(0) !== SLASH) return REJECT_NOT_ORIGIN;
    for (let i = 1; i < length; i++) {
      const c = input.charCodeAt(i);
      if ((STOP[c] & stop) === 0) continue;
      if (c === QUESTION) return stripFragment(input, i, rejectFragment);
      if (c === HASH) return rejectFragment ? REJECT_FRAGMENT : input.slice(0, i);
      if (c === 0) return REJECT_NUL;
      // '%', strict only
      const hi = i + 2 < length ? input.charCodeAt(i + 1) : 0x100;
      const lo = i + 2 < length ? input.charCodeAt(i + 2) : 0x100;
      if (hi >= 0x100 || lo >= 0x100 || HEX_VALUE[hi] < 0 || HEX_VALUE[lo] < 0) return REJECT_MALFORMED;
      if (hi === 0x30 && lo === 0x30) return REJECT_ENCODED_NUL;
      i += 2;
    }
    return input;
  };
}

function canonicalNormalizer(
  merge: boolean,
  decodeSlashes: boolean,
  strict: boolean,
  params: boolean,
  rejectFragment: boolean,
): RawNormalizer {
  const stop = merge ? STOP_MERGE : STOP_NORMALIZE;

  const slow = (input: string, from: number): string | PathRejected => {
    const fragment = input.indexOf('#', from);
    if (fragment >= 0 && rejectFragment) return REJECT_FRAGMENT;
    const end = fragment < 0 ? input.length : fragment;
    let query = input.indexOf('?', from);
    if (query >= end) query = -1;
    const pathEnd = query < 0 ? end : query;

    let source = input;
    let sourceEnd = pathEnd;
    if (decodeSlashes && hasEscapedSlash(input, pathEnd)) {
      source = unescapeSlashes(input, pathEnd);
      sourceEnd = source.length;
    }
    let length = canonicalize(source, sourceEnd, strict, params);
    if (length < 0) return failure(length);
    if (merge) length = mergeSlashes(length);

    const path = out.toString('latin1', 0, length);
    const result = query < 0 ? path : path + input.slice(query, end);
    return result === input ? input : result;
  };

  return (input) => {
    const length = input.length;
    if (length === 0) return REJECT_EMPTY;
    if (input.charCodeAt(0) !== SLASH) return REJECT_NOT_ORIGIN;
    // Until the first stop the output would equal the input, so input[i - 1] is the output's last byte.
    for (let i = 1; i < length; i++) {
      const c = input.charCodeAt(i);
      if ((STOP[c] & stop) === 0) continue;
      if (c === QUESTION) return stripFragment(input, i, rejectFragment);
      if (c === HASH) return rejectFragment ? REJECT_FRAGMENT : input.slice(0, i);
      if (c === SLASH) {
        // a stop only when merging
        if (input.charCodeAt(i - 1) === SLASH) return slow(input, i);
        continue;
      }
      if (c === DOT) {
        if (input.charCodeAt(i - 1) !== SLASH) continue;
        // A segment starting with '.': fine unless it could be "." or ".." (or carry ";params").
        const n = i + 1 < length ? input.charCodeAt(i + 1) : -1;
        if (n >= 0 && (STOP[n] & STOP_NORMALIZE) === 0 && n !== SLASH && n !== SEMICOLON) continue;
      }
      return slow(input, i);
    }
    return input;
  };
}

/**
 * Normalizes one request path (`:path`, the origin-form request-target). Never throws.
 *
 * Each call returns a fresh result object (48 bytes on 64-bit V8; not scalar-replaced in practice).
 * Where that matters, `raw` does the same work and returns the path itself, allocating nothing
 * when the path needs no change.
 */
export interface PathNormalizer {
  (path: string): PathNormalizeResult;
  /**
   * The same normalization as a string or a rejection: the input string itself (`===`) when
   * nothing changed, a new string when something did, a shared frozen PathRejected otherwise.
   */
  readonly raw: (path: string) => string | PathRejected;
}

function withResult(raw: RawNormalizer): PathNormalizer {
  const normalize = (path: string): PathNormalizeResult => {
    const r = raw(path);
    return typeof r === 'string' ? { ok: true, path: r, changed: r !== path } : r;
  };
  return Object.assign(normalize, { raw });
}

/**
 * A normalizer for one Istio `pathNormalization` mode. Compile once per config; call per request.
 * Throws here on an unknown mode, never on a path.
 */
export function compilePathNormalizer(
  mode: PathNormalizationMode,
  options: PathNormalizerOptions = {},
): PathNormalizer {
  const strict = options.strictPercentEncoding ?? true;
  const params = options.dotSegmentParameters ?? true;
  const rejectFragment = options.fragment === 'reject';
  switch (mode) {
    case 'NONE':
      return withResult(noneNormalizer(strict, rejectFragment));
    case 'BASE':
    case 'DEFAULT':
      return withResult(canonicalNormalizer(false, false, strict, params, rejectFragment));
    case 'MERGE_SLASHES':
      return withResult(canonicalNormalizer(true, false, strict, params, rejectFragment));
    case 'DECODE_AND_MERGE_SLASHES':
      return withResult(canonicalNormalizer(true, true, strict, params, rejectFragment));
    default:
      throw new Error(`unknown path normalization mode: ${String(mode)}`);
  }
}
