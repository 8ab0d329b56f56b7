/**
 * The request view the JWT authenticator reads, token locations (Envoy jwt_authn's Extractor), and the
 * header mutations it returns instead of touching the request.
 */

/** Lower-case header name → values (a repeated header has several). */
export type HeaderSource =
  | ReadonlyMap<string, readonly string[]>
  | Readonly<Record<string, readonly string[] | string | undefined>>;

/** Decoded query parameters; the first value of a name is the one used, as Envoy does. */
export type QuerySource = URLSearchParams | Readonly<Record<string, readonly string[] | string | undefined>>;

export interface JwtRequest {
  headers: HeaderSource;
  /** Query parameters; when absent they are parsed from `path` (or from the `:path` header). */
  query?: QuerySource;
  /** Cookies; when absent they are parsed from the `cookie` header(s). */
  cookies?: Readonly<Record<string, string>>;
  /** The request target (`:path`), with its query string. */
  path?: string;
  /** The method (else the `:method` header); an OPTIONS CORS preflight skips verification. */
  method?: string;
}

export type HeaderMutation =
  /** Remove every value of the header. */
  | { op: 'remove'; name: string }
  /** Append a value (after the removals, so it is the only value unless two verified tokens add the same header). */
  | { op: 'add'; name: string; value: string }
  /** Remove the query parameter from the request path (removeQueryParam). */
  | { op: 'removeQueryParam'; name: string };

export function headerValues(h: HeaderSource, name: string): readonly string[] {
  const v = h instanceof Map ? h.get(name) : (h as Readonly<Record<string, readonly string[] | string | undefined>>)[name];
  if (v === undefined) return [];
  return typeof v === 'string' ? [v] : v;
}

/** `a=b&c=d` → first value per decoded name (Envoy's parseAndDecodeQueryString + getFirstValue). */
export function parseQuery(path: string): Map<string, string> {
  const out = new Map<string, string>();
  const q = path.indexOf('?');
  if (q < 0) return out;
  for (const part of path.slice(q + 1).split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    const k = decode(eq < 0 ? part : part.slice(0, eq));
    if (!out.has(k)) out.set(k, decode(eq < 0 ? '' : part.slice(eq + 1)));
  }
  return out;
}

export function queryValue(q: QuerySource | Map<string, string>, name: string): string | undefined {
  if (q instanceof URLSearchParams) return q.get(name) ?? undefined;
  const v = q instanceof Map ? q.get(name) : (q as Readonly<Record<string, readonly string[] | string | undefined>>)[name];
  if (v === undefined) return undefined;
  return typeof v === 'string' ? v : v[0];
}

/** Cookie headers → name → value: `;`-separated, trimmed, surrounding quotes dropped, first one wins. */
export function parseCookies(values: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const header of values) {
    for (const part of header.split(';')) {
      const eq = part.indexOf('=');
      if (eq < 0) continue;
      const k = part.slice(0, eq).trim();
      let v = part.slice(eq + 1).trim();
      if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
      if (k && !out.has(k)) out.set(k, v);
    }
  }
  return out;
}

/**
 * The request path without the query parameter `name` (every occurrence, matched by its decoded
 * name, as Envoy's QueryParamsMulti::remove does), for jwt_authn's removal of a verified token.
 * Envoy then rebuilds the query from its decoded map (keys sorted, values left decoded); here the
 * other parameters stay byte for byte as the client sent them, in their order: re-emitting decoded
 * values would turn `%26` into a separator or `%20` into a space in the request line. A query left
 * empty takes its `?` with it.
 */
export function removeQueryParam(path: string, name: string): string {
  const q = path.indexOf('?');
  if (q < 0) return path;
  const parts = path.slice(q + 1).split('&');
  const kept = parts.filter((part) => {
    const eq = part.indexOf('=');
    return part === '' || decode(eq < 0 ? part : part.slice(0, eq)) !== name;
  });
  if (kept.length === parts.length) return path;
  const query = kept.join('&');
  return query === '' ? path.slice(0, q) : `${path.slice(0, q)}?${query}`;
}

/** Percent-decoding that leaves invalid escapes as they are (as Envoy's PercentEncoding::decode). */
function decode(s: string): string {
  if (!s.includes('%')) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return s.replace(/%([0-9A-Fa-f]{2})/g, (m, h: string) => {
      const c = parseInt(h, 16);
      return c < 0x80 ? String.fromCharCode(c) : m;
    });
  }
}

const B64URL_OR_DOT = /[A-Za-z0-9_.-]/;

/**
 * Envoy's header extraction: with a prefix, the prefix is searched anywhere in the value (case-sensitive;
 * a value without it holds no token) and the token starts at the first base64url-or-dot character after
 * it and runs to the end of the value (when there is none, the whole value is used). Without a prefix
 * the whole value is the token.
 */
export function tokenFromHeaderValue(value: string, prefix: string): string | undefined {
  if (!prefix) return value;
  const pos = value.indexOf(prefix);
  if (pos < 0) return undefined;
  for (let i = pos + prefix.length; i < value.length; i++) if (B64URL_OR_DOT.test(value[i])) return value.slice(i);
  return value;
}
