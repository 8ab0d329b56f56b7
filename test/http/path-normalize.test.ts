// Path normalization per Istio pathNormalization mode, checked against what Envoy does: the
// CVE bypass attempts, Istio's own normalization integration table, Envoy's path_utility tests,
// the %01..%ff sweep, the strict/permissive escape handling, and a fuzzed set of invariants.
import { describe, expect, it } from 'vitest';
import {
  compilePathNormalizer,
  PATH_NORMALIZATION_MODES,
  type PathNormalizationMode,
  type PathNormalizerOptions,
} from '../../src/http/path-normalize.js';

type Mode = Exclude<PathNormalizationMode, 'DEFAULT'>;
const MODES: readonly Mode[] = ['NONE', 'BASE', 'MERGE_SLASHES', 'DECODE_AND_MERGE_SLASHES'];

/** The normalized path, or the status of the rejection. */
function run(mode: PathNormalizationMode, path: string, options?: PathNormalizerOptions): string | number {
  const r = compilePathNormalizer(mode, options)(path);
  return r.ok ? r.path : r.status;
}

/** [input, NONE, BASE, MERGE_SLASHES, DECODE_AND_MERGE_SLASHES]; a number is a rejection status. */
type Row = readonly [string, string | number, string | number, string | number, string | number];

function table(rows: readonly Row[], options?: PathNormalizerOptions): void {
  for (const [i, mode] of MODES.entries()) {
    describe(mode, () => {
      it.each(rows.map((row) => [row[0], row[i + 1]] as const))('%s → %s', (input, expected) => {
        expect(run(mode, input, options)).toBe(expected);
      });
    });
  }
}

/** The same bytes a raw UTF-8 request line carries, as the latin1 codec hands them over. */
const latin1 = (s: string): string => Buffer.from(s, 'utf8').toString('latin1');

describe('bypass attempts (Istio/Envoy path CVEs)', () => {
  table([
    // dot segments (CVE-2019-9901)
    ['/admin/../public', '/admin/../public', '/public', '/public', '/public'],
    ['/public/../admin', '/public/../admin', '/admin', '/admin', '/admin'],
    ['/a/./b', '/a/./b', '/a/b', '/a/b', '/a/b'],
    ['/%2e%2e/admin', '/%2e%2e/admin', '/admin', '/admin', '/admin'],
    ['/%2E%2e/admin', '/%2E%2e/admin', '/admin', '/admin', '/admin'],
    ['/public/%2e%2e/admin', '/public/%2e%2e/admin', '/admin', '/admin', '/admin'],
    ['/public/.%2E/admin', '/public/.%2E/admin', '/admin', '/admin', '/admin'],
    // escaped slashes (CVE-2021-29492): only DECODE_AND_MERGE_SLASHES decodes them; case is kept otherwise
    ['/admin%2Fsecret', '/admin%2Fsecret', '/admin%2Fsecret', '/admin%2Fsecret', '/admin/secret'],
    ['/admin%2fsecret', '/admin%2fsecret', '/admin%2fsecret', '/admin%2fsecret', '/admin/secret'],
    ['/admin%5Csecret', '/admin%5Csecret', '/admin%5Csecret', '/admin%5Csecret', '/admin/secret'],
    ['/admin%5csecret', '/admin%5csecret', '/admin%5csecret', '/admin%5csecret', '/admin/secret'],
    ['/public%2F..%2Fadmin', '/public%2F..%2Fadmin', '/public%2F..%2Fadmin', '/public%2F..%2Fadmin', '/admin'],
    // repeated slashes (CVE-2021-31920)
    ['//admin', '//admin', '//admin', '/admin', '/admin'],
    ['/admin//x', '/admin//x', '/admin//x', '/admin/x', '/admin/x'],
    ['/admin///', '/admin///', '/admin///', '/admin/', '/admin/'],
    // case is never normalized
    ['/ADMIN', '/ADMIN', '/ADMIN', '/ADMIN', '/ADMIN'],
    ['/Admin/../ADMIN', '/Admin/../ADMIN', '/ADMIN', '/ADMIN', '/ADMIN'],
    // fragment stripped in every mode (CVE-2021-32779; Istio strips rather than rejects)
    ['/admin#frag', '/admin', '/admin', '/admin', '/admin'],
    ['/public#/../admin', '/public', '/public', '/public', '/public'],
    ['/a?b=1#frag', '/a?b=1', '/a?b=1', '/a?b=1', '/a?b=1'],
    ['/a#b?c', '/a', '/a', '/a', '/a'],
    ['/#', '/', '/', '/', '/'],
    // the query is never touched
    ['/admin?x=../y', '/admin?x=../y', '/admin?x=../y', '/admin?x=../y', '/admin?x=../y'],
    ['/a/../b?x=/../y//z%2f%41', '/a/../b?x=/../y//z%2f%41', '/b?x=/../y//z%2f%41', '/b?x=/../y//z%2f%41', '/b?x=/../y//z%2f%41'],
    ['/a//b?c//d', '/a//b?c//d', '/a//b?c//d', '/a/b?c//d', '/a/b?c//d'],
    ['/a%2fb?x=%2f&y=%5c', '/a%2fb?x=%2f&y=%5c', '/a%2fb?x=%2f&y=%5c', '/a%2fb?x=%2f&y=%5c', '/a/b?x=%2f&y=%5c'],
    ['/p?%zz&%00', '/p?%zz&%00', '/p?%zz&%00', '/p?%zz&%00', '/p?%zz&%00'],
    // NUL and malformed escapes: 400 in every mode (strictPercentEncoding, the default)
    ['/a%00b', 400, 400, 400, 400],
    ['/a\u0000b', 400, 400, 400, 400],
    ['/a%zz', 400, 400, 400, 400],
    ['/a%', 400, 400, 400, 400],
    ['/a%2', 400, 400, 400, 400],
    ['/%G1', 400, 400, 400, 400],
    ['/%%41', 400, 400, 400, 400],
    // non-ASCII: escapes kept; raw bytes percent-encoded by the canonicalizer, upper-case hex
    ['/caf%C3%A9', '/caf%C3%A9', '/caf%C3%A9', '/caf%C3%A9', '/caf%C3%A9'],
    ['/caf%c3%a9', '/caf%c3%a9', '/caf%c3%a9', '/caf%c3%a9', '/caf%c3%a9'],
    [latin1('/café'), latin1('/café'), '/caf%C3%A9', '/caf%C3%A9', '/caf%C3%A9'],
    // overlong UTF-8 dots and slashes are not dots or slashes (Istio's table)
    ['/%c0%ae%c0%ae/admin', '/%c0%ae%c0%ae/admin', '/%c0%ae%c0%ae/admin', '/%c0%ae%c0%ae/admin', '/%c0%ae%c0%ae/admin'],
    // above the root: clamped
    ['/..', '/..', '/', '/', '/'],
    ['/../..', '/../..', '/', '/', '/'],
    ['/../../../etc/passwd', '/../../../etc/passwd', '/etc/passwd', '/etc/passwd', '/etc/passwd'],
    // trailing dot segments keep the trailing slash
    ['/a/b/..', '/a/b/..', '/a/', '/a/', '/a/'],
    ['/a/b/.', '/a/b/.', '/a/b/', '/a/b/', '/a/b/'],
    ['/a/b/./', '/a/b/./', '/a/b/', '/a/b/', '/a/b/'],
    ['/a/..', '/a/..', '/', '/', '/'],
    ['/a/%2e', '/a/%2e', '/a/', '/a/', '/a/'],
    ['/a/b/..?q', '/a/b/..?q', '/a/?q', '/a/?q', '/a/?q'],
    // dots that are not segments stay
    ['/a../b', '/a../b', '/a../b', '/a../b', '/a../b'],
    ['/.../admin', '/.../admin', '/.../admin', '/.../admin', '/.../admin'],
    ['/..../admin', '/..../admin', '/..../admin', '/..../admin', '/..../admin'],
    ['/.well-known/x', '/.well-known/x', '/.well-known/x', '/.well-known/x', '/.well-known/x'],
    ['/a%2e%2e', '/a%2e%2e', '/a..', '/a..', '/a..'],
    // backslashes: a separator, turned into '/' by normalize_path
    ['/a\\b', '/a\\b', '/a/b', '/a/b', '/a/b'],
    ['/public\\..\\admin', '/public\\..\\admin', '/admin', '/admin', '/admin'],
    ['/..\\admin', '/..\\admin', '/admin', '/admin', '/admin'],
    ['/a\\\\b', '/a\\\\b', '/a//b', '/a/b', '/a/b'],
    // escaped unreserved characters are decoded (ALPHA DIGIT - . _ ~); nothing else is
    ['/%61dmin', '/%61dmin', '/admin', '/admin', '/admin'],
    ['/%41DMIN', '/%41DMIN', '/ADMIN', '/ADMIN', '/ADMIN'],
    ['/%7e%7E%2d%5f%30%39', '/%7e%7E%2d%5f%30%39', '/~~-_09', '/~~-_09', '/~~-_09'],
    ['/a%20b%3a%3F%25%2B', '/a%20b%3a%3F%25%2B', '/a%20b%3a%3F%25%2B', '/a%20b%3a%3F%25%2B', '/a%20b%3a%3F%25%2B'],
    ['/%252e%252e/admin', '/%252e%252e/admin', '/%252e%252e/admin', '/%252e%252e/admin', '/%252e%252e/admin'],
    // path parameters on dot segments (CVE-2026-73551); elsewhere they are left alone
    ['/..;/admin', '/..;/admin', '/admin', '/admin', '/admin'],
    ['/public/..;jsessionid=x/admin', '/public/..;jsessionid=x/admin', '/admin', '/admin', '/admin'],
    ['/a/.;x/b', '/a/.;x/b', '/a/b', '/a/b', '/a/b'],
    ['/a/b/..;x', '/a/b/..;x', '/a/', '/a/', '/a/'],
    ['/a/%2e%2e;x/b', '/a/%2e%2e;x/b', '/b', '/b', '/b'],
    ['/;/admin', '/;/admin', '/;/admin', '/;/admin', '/;/admin'],
    ['/admin;a=b/xyz', '/admin;a=b/xyz', '/admin;a=b/xyz', '/admin;a=b/xyz', '/admin;a=b/xyz'],
    ['/a..;/b', '/a..;/b', '/a..;/b', '/a..;/b', '/a..;/b'],
    // raw bytes a URL may not hold are percent-encoded when normalizing
    ['/a b"<>^`{|}', '/a b"<>^`{|}', '/a%20b%22%3C%3E%5E%60%7B%7C%7D', '/a%20b%22%3C%3E%5E%60%7B%7C%7D', '/a%20b%22%3C%3E%5E%60%7B%7C%7D'],
    ['/a\u0001\u001f\u007f', '/a\u0001\u001f\u007f', '/a%01%1F%7F', '/a%01%1F%7F', '/a%01%1F%7F'],
    // only slashes: Envoy's merge rebuilds "//" (prefix + no segments + suffix)
    ['/', '/', '/', '/', '/'],
    ['//', '//', '//', '//', '//'],
    ['///', '///', '///', '//', '//'],
    ['//..', '//..', '/', '/', '/'],
    ['/%2F', '/%2F', '/%2F', '/%2F', '//'],
    // not origin-form: the HCM answers 404 before normalizing
    ['', 404, 404, 404, 404],
    ['admin', 404, 404, 404, 404],
    ['\\admin', 404, 404, 404, 404],
    ['*', 404, 404, 404, 404],
    ['http://example.com/admin', 404, 404, 404, 404],
    ['#/admin', 404, 404, 404, 404],
  ]);
});

// Istio's tests/integration/security/normalization_test.go: what a real istio-proxy forwarded.
describe("Istio's normalization integration table", () => {
  table([
    ['/', '/', '/', '/', '/'],
    ['/app#foo', '/app', '/app', '/app', '/app'],
    ['/app/', '/app/', '/app/', '/app/', '/app/'],
    ['/app/../admin', '/app/../admin', '/admin', '/admin', '/admin'],
    ['/app', '/app', '/app', '/app', '/app'],
    ['/app//', '/app//', '/app//', '/app/', '/app/'],
    ['/app/%2f', '/app/%2f', '/app/%2f', '/app/%2f', '/app/'],
    ['/app%2f/', '/app%2f/', '/app%2f/', '/app%2f/', '/app/'],
    ['/xyz%30..//abc', '/xyz%30..//abc', '/xyz0..//abc', '/xyz0../abc', '/xyz0../abc'],
    ['/app/%2E./admin', '/app/%2E./admin', '/admin', '/admin', '/admin'],
    ['/app\\admin', '/app\\admin', '/app/admin', '/app/admin', '/app/admin'],
    ['/app/\\/\\/\\admin', '/app/\\/\\/\\admin', '/app//////admin', '/app/admin', '/app/admin'],
    ['/%2Fapp%5cadmin%5Cabc', '/%2Fapp%5cadmin%5Cabc', '/%2Fapp%5cadmin%5Cabc', '/%2Fapp%5cadmin%5Cabc', '/app/admin/abc'],
    [
      '/%5Capp%2f%5c%2F%2e%2e%2fadmin%5c\\abc',
      '/%5Capp%2f%5c%2F%2e%2e%2fadmin%5c\\abc',
      '/%5Capp%2f%5c%2F..%2fadmin%5c/abc',
      '/%5Capp%2f%5c%2F..%2fadmin%5c/abc',
      '/app/admin/abc',
    ],
    ['/app//../admin', '/app//../admin', '/app/admin', '/app/admin', '/app/admin'],
    ['/app//../../admin', '/app//../../admin', '/admin', '/admin', '/admin'],
    ['/%c0%2e%c0%2e/admin', '/%c0%2e%c0%2e/admin', '/%c0.%c0./admin', '/%c0.%c0./admin', '/%c0.%c0./admin'],
    ['/%c0%2fadmin', '/%c0%2fadmin', '/%c0%2fadmin', '/%c0%2fadmin', '/%c0/admin'],
  ]);

  // The "NotNormalized" group, DECODE_AND_MERGE_SLASHES (the `/..;/admin` row changed with Envoy's fix).
  it.each([
    ['/0x2e0x2e/admin', '/0x2e0x2e/admin'],
    ['/0x2e0x2e0x2fadmin', '/0x2e0x2e0x2fadmin'],
    ['/%25c0%25ae%25c1%259cadmin', '/%25c0%25ae%25c1%259cadmin'],
    ['/%252e%252e%252fadmin', '/%252e%252e%252fadmin'],
    ['/%c1%9cadmin', '/%c1%9cadmin'],
    ['/%c0%afadmin', '/%c0%afadmin'],
    ['/..;/admin', '/admin'],
    ['/;/admin', '/;/admin'],
    ['/admin;a=b', '/admin;a=b'],
    ['/admin,a=b/xyz', '/admin,a=b/xyz'],
    ['/Admin', '/Admin'],
  ])('DECODE_AND_MERGE_SLASHES %s → %s', (input, expected) => {
    expect(run('DECODE_AND_MERGE_SLASHES', input)).toBe(expected);
  });

  // The "PercentEncoded" group: /admin%01 .. /admin%ff, lower-case hex as Istio sends it.
  const unreserved = (b: number): boolean => /^[A-Za-z0-9\-._~]$/.test(String.fromCharCode(b));
  it('decodes exactly the unreserved escapes (and / \\ in DECODE_AND_MERGE_SLASHES), keeping the rest verbatim', () => {
    for (let b = 1; b <= 0xff; b++) {
      const hex = b.toString(16).padStart(2, '0');
      const input = `/admin%${hex}`;
      const slash = b === 0x2f || b === 0x5c;
      const base = unreserved(b) ? `/admin${String.fromCharCode(b)}` : input;
      expect([hex, run('BASE', input)]).toEqual([hex, base]);
      expect([hex, run('MERGE_SLASHES', input)]).toEqual([hex, base]);
      expect([hex, run('DECODE_AND_MERGE_SLASHES', input)]).toEqual([hex, slash ? '/admin/' : base]);
      expect([hex, run('NONE', input)]).toEqual([hex, input]);
      // upper-case hex: decoded the same, kept as sent
      const upper = `/admin%${hex.toUpperCase()}`;
      expect(run('BASE', upper)).toBe(unreserved(b) ? base : upper);
    }
  });

  it('rejects /admin%00 with 400 in every mode', () => {
    for (const mode of MODES) expect(run(mode, '/admin%00')).toBe(400);
  });
});

// Envoy's test/common/http/path_utility_test.cc (the cases with an origin-form path).
describe("Envoy's path_utility tests", () => {
  it.each([
    ['/xyz', '/xyz'],
    ['/x/y/z', '/x/y/z'],
    ['/a/b/../c', '/a/c'],
    ['/a/b/./c', '/a/b/c'],
    ['/a/b/../../../../c', '/c'],
    ['/a/..\\c', '/c'],
    ['/%c0%af', '/%c0%af'],
    ['/%5c%25', '/%5c%25'],
    ['/a/b/%2E%2E/c', '/a/c'],
    ['/a/b/%2E./c', '/a/c'],
    ['/a/b/%2E/c', '/a/b/c'],
    ['/../a/b', '/a/b'],
    ['/./a/b', '/a/b'],
    ['/A/B/C', '/A/B/C'],
    ['/a/b/%2e%2e/c', '/a/c'],
    ['/a/%2F%2f/c', '/a/%2F%2f/c'],
  ])('normalize_path %s → %s', (input, expected) => {
    expect(run('BASE', input)).toBe(expected);
  });

  it.each(['/xyz/.%00../abc', '/xyz/%00.%00./abc', '/xyz/AAAAA%%0000/abc'])('normalize_path rejects %s', (input) => {
    for (const strictPercentEncoding of [true, false]) {
      expect(run('BASE', input, { strictPercentEncoding })).toBe(400);
    }
  });

  it.each([
    ['/a//b/c/', '/a/b/c/'],
    ['/a', '/a'],
    ['//a/b/c', '/a/b/c'],
    ['/a//b/c', '/a/b/c'],
    ['/a/b/c//', '/a/b/c/'],
    ['/a///b/c', '/a/b/c'],
    ['/a////b/c', '/a/b/c'],
    ['/a//b?a=///c', '/a/b?a=///c'],
    ['/a//b?', '/a/b?'],
    ['//a/?b', '/a/?b'],
  ])('merge_slashes %s → %s', (input, expected) => {
    expect(run('MERGE_SLASHES', input)).toBe(expected);
  });
});

describe('results', () => {
  it('returns the input string itself, unchanged, when there is nothing to do', () => {
    for (const mode of MODES) {
      const normalize = compilePathNormalizer(mode);
      for (const path of ['/api/v1/items?x=1', '/file.v2.json', '/.well-known/openid', '/a;b=c/d', '/a-b_c~d!$&\'()*+,:=@[]']) {
        const r = normalize(path);
        expect(r).toEqual({ ok: true, path, changed: false });
        if (r.ok) expect(r.path).toBe(path);
      }
    }
  });

  it('raw: the same normalization as the input string itself, a new string, or the shared rejection', () => {
    for (const mode of MODES) {
      const normalize = compilePathNormalizer(mode);
      const path = '/api/v1/items?x=1';
      expect(normalize.raw(path)).toBe(path);
      expect(normalize.raw('/a/b?q#f')).toBe('/a/b?q');
      expect(normalize.raw('/a%00')).toBe(normalize('/a%00'));
      expect(normalize.raw('x')).toEqual({ ok: false, status: 404, reason: 'absolute_path_rejected', cause: 'not_origin_form' });
      for (const input of ['/a/../b', '/a//b', '/%2e', '/a%2fb', '/\\x', '/a b']) {
        const r = normalize(input);
        expect(normalize.raw(input)).toBe(r.ok ? r.path : r);
      }
    }
  });

  it('says changed when it changed something, and only then', () => {
    const normalize = compilePathNormalizer('BASE');
    expect(normalize('/a/../b')).toEqual({ ok: true, path: '/b', changed: true });
    expect(normalize('/a#x')).toEqual({ ok: true, path: '/a', changed: true });
    // went through the slow path, came out the same
    expect(normalize('/a%2Fb/..x')).toEqual({ ok: true, path: '/a%2Fb/..x', changed: false });
  });

  it('rejects with shared objects that carry the status, Envoy response code details and the cause', () => {
    const normalize = compilePathNormalizer('MERGE_SLASHES');
    expect(normalize('/a%00')).toEqual({ ok: false, status: 400, reason: 'path_normalization_failed', cause: 'encoded_nul' });
    expect(normalize('/a%00')).toBe(normalize('/b/%00'));
    expect(Object.isFrozen(normalize('/a%00'))).toBe(true);
    expect(normalize('/a\u0000')).toMatchObject({ status: 400, cause: 'nul_byte' });
    expect(normalize('/a%x')).toMatchObject({ status: 400, cause: 'malformed_percent_encoding' });
    expect(normalize('')).toEqual({ ok: false, status: 404, reason: 'missing_path_rejected', cause: 'empty_path' });
    expect(normalize('x')).toEqual({ ok: false, status: 404, reason: 'absolute_path_rejected', cause: 'not_origin_form' });
  });

  it('treats DEFAULT as BASE and refuses an unknown mode when compiling', () => {
    expect(PATH_NORMALIZATION_MODES).toContain('DEFAULT');
    expect(run('DEFAULT', '/a//b/../c')).toBe(run('BASE', '/a//b/../c'));
    expect(() => compilePathNormalizer('SOMETIMES' as PathNormalizationMode)).toThrow(/unknown path normalization mode/);
  });
});

describe('options', () => {
  it("fragment: 'reject' answers 400, as upstream Envoy does by default", () => {
    for (const mode of MODES) {
      expect(run(mode, '/a#b', { fragment: 'reject' })).toBe(400);
      expect(run(mode, '/a/../b?x#b', { fragment: 'reject' })).toBe(400);
      expect(run(mode, '/a?x', { fragment: 'reject' })).toBe('/a?x');
    }
  });

  it('strictPercentEncoding: false behaves like Envoy: malformed escapes pass, %00 only fails when normalizing', () => {
    const options = { strictPercentEncoding: false };
    const rows: Row[] = [
      ['/a%zz', '/a%zz', '/a%zz', '/a%zz', '/a%zz'],
      ['/a%', '/a%', '/a%', '/a%', '/a%'],
      ['/a%2', '/a%2', '/a%2', '/a%2', '/a%2'],
      ['/%G1/../x', '/%G1/../x', '/x', '/x', '/x'],
      ['/a%00', '/a%00', 400, 400, 400],
      ['/a\u0000', 400, 400, 400, 400],
      // Chromium's nested-escape guard: never let decoding assemble a new escape
      ['/%%30%30', '/%%30%30', '/%2500', '/%2500', '/%2500'],
      ['/%%41%42', '/%%41%42', '/%25AB', '/%25AB', '/%25AB'],
      ['/%4%31', '/%4%31', '/%2541', '/%2541', '/%2541'],
      ['/%%2F2F', '/%%2F2F', '/%%2F2F', '/%%2F2F', '/%/2F'],
      ['/x%/../%41B%43D', '/x%/../%41B%43D', '/AB25CD', '/AB25CD', '/AB25CD'],
    ];
    for (const [input, ...expected] of rows) {
      expect(MODES.map((mode) => run(mode, input, options))).toEqual(expected);
    }
  });

  it('dotSegmentParameters: false keeps ;params on dot segments (Envoy before the CVE-2026-73551 fix)', () => {
    const options = { dotSegmentParameters: false };
    expect(run('BASE', '/..;/admin', options)).toBe('/..;/admin');
    expect(run('BASE', '/a/.;x/b', options)).toBe('/a/.;x/b');
    expect(run('DECODE_AND_MERGE_SLASHES', '/public/..;x/admin', options)).toBe('/public/..;x/admin');
    expect(run('BASE', '/a/../b', options)).toBe('/b');
  });
});

describe('wide input', () => {
  it('escapes code units above 0xFF as their UTF-8 bytes', () => {
    expect(run('BASE', '/\u20ac')).toBe('/%E2%82%AC');
    expect(run('BASE', '/\u{1f600}/x')).toBe('/%F0%9F%98%80/x');
    expect(run('BASE', '/\ud800x')).toBe('/%EF%BF%BDx');
    expect(run('BASE', '/é')).toBe('/%E9'); // one latin1 unit is one byte
    expect(run('NONE', '/\u20ac')).toBe('/\u20ac');
  });
});

describe('robustness', () => {
  /** Deterministic PRNG (mulberry32). */
  function prng(seed: number): () => number {
    return () => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }
  const PIECES = [
    ...['/', '/', '//', '/./', '/../', '.', '..', '%2e', '%2E', '%2f', '%2F', '%5c', '\\'],
    ...['a', 'B', '%41', '%7e', ';', ';x=1', '%25', '%00', '%', '%z', '?', '#', ' ', '\u00e9', '%c0'],
  ];

  it('never throws; output is origin-form, idempotent, and free of what each mode removes', () => {
    const random = prng(42);
    const normalizers = MODES.map((mode) => [mode, compilePathNormalizer(mode)] as const);
    for (let n = 0; n < 4000; n++) {
      let path = '/';
      const pieces = 1 + Math.floor(random() * 12);
      for (let k = 0; k < pieces; k++) path += PIECES[Math.floor(random() * PIECES.length)];
      for (const [mode, normalize] of normalizers) {
        const r = normalize(path);
        if (!r.ok) {
          expect(r.status).toBe(400);
          continue;
        }
        const out = r.path;
        expect(out.startsWith('/')).toBe(true);
        expect(out.includes('#')).toBe(false);
        expect(normalize(out)).toEqual({ ok: true, path: out, changed: false });
        if (mode === 'NONE') continue;
        const pathPart = out.split('?')[0];
        expect(pathPart).not.toMatch(/\/\.{1,2}(\/|;|$)|\\|%2e/i);
        expect(pathPart).not.toMatch(/[^\x21-\x7e]/);
        if (mode !== 'BASE' && pathPart !== '//') expect(pathPart).not.toContain('//');
        if (mode === 'DECODE_AND_MERGE_SLASHES') expect(pathPart).not.toMatch(/%2f|%5c/i);
      }
    }
  });

  it('stays linear on pathological input', () => {
    const long = '/' + 'a'.repeat(20_000) + '/x/..'.repeat(8_000) + '/./'.repeat(8_000) + '%41'.repeat(5_000);
    for (const mode of MODES) {
      const started = performance.now();
      const r = compilePathNormalizer(mode)(long);
      expect(performance.now() - started).toBeLessThan(500);
      expect(r.ok).toBe(true);
    }
    expect(run('MERGE_SLASHES', long)).toBe('/' + 'a'.repeat(20_000) + '/' + 'A'.repeat(5_000));
  });
});
