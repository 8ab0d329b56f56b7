/**
 * An HTTP/2 request's decoded header list → the request as the connection manager takes it
 * (method, target, fields with `host` from :authority), or why it is malformed (RFC 9113 §8.2, §8.3,
 * RFC 8441 §4). A malformed request is a stream error PROTOCOL_ERROR (§8.1.1), as Envoy resets it:
 * pseudo-headers missing, repeated, unknown or after a regular field; names with upper case or
 * outside the token characters; values with CR, LF or NUL; connection-specific fields; `te` other
 * than `trailers`; a content-length that is not one number.
 */

export interface RequestFields {
  method: string;
  /** :path (for CONNECT without :protocol, the :authority, as HTTP/1.1's authority-form). */
  target: string;
  scheme: string | undefined;
  /** RFC 8441's :protocol (extended CONNECT). */
  protocol: string | undefined;
  /** Regular fields; `host` first (:authority) when :authority was sent, the client's `host` then dropped. */
  headers: string[];
  /** -1 when absent. */
  contentLength: number;
  /** Octets of the fields as received (names and values): the access log's header bytes. */
  bytes: number;
}

/** Fields HTTP/2 forbids (§8.2.2), in requests and responses alike. */
export const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

/** Lower-case token characters (RFC 9110 §5.6.2): what a field name may hold in HTTP/2. */
const NAME_CHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz") NAME_CHAR[c.charCodeAt(0)] = 1;
const BAD_VALUE = /[\r\n\0]/;

function validName(name: string, from: number): boolean {
  if (name.length <= from) return false;
  for (let i = from; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 128 || NAME_CHAR[c] === 0) return false;
  }
  return true;
}

/** The request, or a string saying why it is malformed. */
export function requestFields(list: readonly string[]): RequestFields | string {
  let method: string | undefined;
  let path: string | undefined;
  let scheme: string | undefined;
  let authority: string | undefined;
  let protocol: string | undefined;
  let contentLength = -1;
  let bytes = 0;
  let regular = false;
  const headers: string[] = [];
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i];
    const value = list[i + 1];
    bytes += name.length + value.length;
    if (BAD_VALUE.test(value)) return `field ${name} has CR, LF or NUL in its value`;
    if (name.charCodeAt(0) === 58 /* ':' */) {
      if (regular) return `pseudo-header ${name} after a regular field`;
      switch (name) {
        case ':method': if (method !== undefined) return 'two :method'; method = value; break;
        case ':path': if (path !== undefined) return 'two :path'; path = value; break;
        case ':scheme': if (scheme !== undefined) return 'two :scheme'; scheme = value; break;
        case ':authority': if (authority !== undefined) return 'two :authority'; authority = value; break;
        case ':protocol': if (protocol !== undefined) return 'two :protocol'; protocol = value; break;
        default: return `unknown pseudo-header ${name}`;
      }
      continue;
    }
    regular = true;
    if (!validName(name, 0)) return `field name ${JSON.stringify(name.slice(0, 64))} is not a lower-case token`;
    if (CONNECTION_SPECIFIC.has(name)) return `connection-specific field ${name}`;
    if (name === 'te' && value !== 'trailers') return `te: ${value}`;
    if (name === 'content-length') {
      const n = /^[0-9]{1,15}$/.test(value) ? Number(value) : -1;
      if (n < 0 || (contentLength >= 0 && n !== contentLength)) return `content-length ${value}`;
      contentLength = n;
    }
    // pseudo-headers come first, so :authority is known here: it wins (RFC 9113 §8.3.1; Envoy's http2_discard_host_header)
    if (name === 'host' && authority !== undefined) continue;
    headers.push(name, value);
  }
  if (method === undefined) return 'no :method';
  if (method === 'CONNECT' && protocol === undefined) {
    // plain CONNECT: :authority only (§8.5)
    if (scheme !== undefined || path !== undefined || authority === undefined) return 'CONNECT with :scheme or :path, or without :authority';
    headers.unshift('host', authority);
    return { method, target: authority, scheme, protocol, headers, contentLength, bytes };
  }
  if (protocol !== undefined && method !== 'CONNECT') return ':protocol on a request other than CONNECT';
  if (scheme === undefined || path === undefined || path === '') return 'no :scheme or :path';
  if (authority !== undefined) headers.unshift('host', authority);
  return { method, target: path, scheme, protocol, headers, contentLength, bytes };
}

/** Trailers carry no pseudo-headers and the same name and value rules (§8.1). */
export function trailerFields(list: readonly string[]): string[] | string {
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i];
    if (name.charCodeAt(0) === 58) return `pseudo-header ${name} in trailers`;
    if (!validName(name, 0)) return `trailer name ${JSON.stringify(name.slice(0, 64))} is not a lower-case token`;
    if (BAD_VALUE.test(list[i + 1])) return `trailer ${name} has CR, LF or NUL in its value`;
    if (CONNECTION_SPECIFIC.has(name)) return `connection-specific trailer ${name}`;
  }
  return list as string[];
}
