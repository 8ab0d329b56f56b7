/** The HPACK static table (RFC 7541 Appendix A), index 1-61, and the encoder's lookups into it. */

export const STATIC_TABLE: readonly (readonly [string, string])[] = [
  [':authority', ''],
  [':method', 'GET'],
  [':method', 'POST'],
  [':path', '/'],
  [':path', '/index.html'],
  [':scheme', 'http'],
  [':scheme', 'https'],
  [':status', '200'],
  [':status', '204'],
  [':status', '206'],
  [':status', '304'],
  [':status', '400'],
  [':status', '404'],
  [':status', '500'],
  ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''],
  ['accept-ranges', ''],
  ['accept', ''],
  ['access-control-allow-origin', ''],
  ['age', ''],
  ['allow', ''],
  ['authorization', ''],
  ['cache-control', ''],
  ['content-disposition', ''],
  ['content-encoding', ''],
  ['content-language', ''],
  ['content-length', ''],
  ['content-location', ''],
  ['content-range', ''],
  ['content-type', ''],
  ['cookie', ''],
  ['date', ''],
  ['etag', ''],
  ['expect', ''],
  ['expires', ''],
  ['from', ''],
  ['host', ''],
  ['if-match', ''],
  ['if-modified-since', ''],
  ['if-none-match', ''],
  ['if-range', ''],
  ['if-unmodified-since', ''],
  ['last-modified', ''],
  ['link', ''],
  ['location', ''],
  ['max-forwards', ''],
  ['proxy-authenticate', ''],
  ['proxy-authorization', ''],
  ['range', ''],
  ['referer', ''],
  ['refresh', ''],
  ['retry-after', ''],
  ['server', ''],
  ['set-cookie', ''],
  ['strict-transport-security', ''],
  ['transfer-encoding', ''],
  ['user-agent', ''],
  ['vary', ''],
  ['via', ''],
  ['www-authenticate', ''],
];

export const STATIC_LENGTH = STATIC_TABLE.length;

/** Name of static entry `index` (1-based), as the decoder reads it. */
export const STATIC_NAMES: readonly string[] = ['', ...STATIC_TABLE.map(([name]) => name)];
export const STATIC_VALUES: readonly string[] = ['', ...STATIC_TABLE.map(([, value]) => value)];

/** Name → the lowest index with that name. */
export const STATIC_NAME_INDEX: ReadonlyMap<string, number> = new Map(STATIC_TABLE.map(([name], i) => [name, i + 1] as const).reverse());

/** Name → value → index, for the entries that carry a value (and the empty values too). */
export const STATIC_FIELD_INDEX: ReadonlyMap<string, ReadonlyMap<string, number>> = (() => {
  const byName = new Map<string, Map<string, number>>();
  STATIC_TABLE.forEach(([name, value], i) => {
    let values = byName.get(name);
    if (!values) byName.set(name, (values = new Map()));
    if (!values.has(value)) values.set(value, i + 1);
  });
  return byName;
})();
