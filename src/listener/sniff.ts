/**
 * Protocol detection on the first bytes of a captured connection, as Envoy's tls_inspector and
 * http_inspector listener filters do: a TLS ClientHello (with SNI and ALPN), the HTTP/2 preface,
 * an HTTP/1.x request line, or anything else (TCP). Pure: the listener feeds it what has arrived
 * and waits (bounded) while it answers `need-more`.
 */
export type Sniffed =
  | { protocol: 'tls'; sni?: string; alpn: string[] }
  | { protocol: 'h2' }
  | { protocol: 'http1' }
  | { protocol: 'tcp' }
  | { protocol: 'need-more' };

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
/** Envoy's http_inspector reads at most this much looking for the request line. */
const MAX_HTTP_SNIFF = 8192;
/** A ClientHello larger than one TLS record (16 KiB) is not inspected further. */
const MAX_TLS_RECORD = 16384;
/** Methods Envoy's http_inspector recognises (RFC 9110 and WebDAV's common ones). */
const METHODS = new Set([
  'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH', 'PROPFIND', 'PROPPATCH', 'MKCOL',
  'COPY', 'MOVE', 'LOCK', 'UNLOCK', 'REPORT', 'MKACTIVITY', 'CHECKOUT', 'MERGE', 'SEARCH', 'PURGE', 'LINK', 'UNLINK',
]);

export function sniff(buf: Buffer): Sniffed {
  if (buf.length === 0) return { protocol: 'need-more' };
  if (buf[0] === 0x16) return sniffTls(buf);
  // the h2 preface starts like a request line ("PRI * HTTP/2.0"): check it first
  const n = Math.min(buf.length, H2_PREFACE.length);
  if (buf.compare(H2_PREFACE, 0, n, 0, n) === 0) return n === H2_PREFACE.length ? { protocol: 'h2' } : { protocol: 'need-more' };
  return sniffHttp1(buf);
}

function sniffHttp1(buf: Buffer): Sniffed {
  const lf = buf.indexOf(10);
  const line = buf.toString('latin1', 0, lf < 0 ? Math.min(buf.length, MAX_HTTP_SNIFF) : lf);
  const sp = line.indexOf(' ');
  const method = sp < 0 ? line : line.slice(0, sp);
  // still inside the method: could it become one?
  if (sp < 0) {
    if (method.length < 10 && /^[A-Z]*$/.test(method) && [...METHODS].some((m) => m.startsWith(method))) {
      return lf < 0 && buf.length < MAX_HTTP_SNIFF ? { protocol: 'need-more' } : { protocol: 'tcp' };
    }
    return { protocol: 'tcp' };
  }
  if (!METHODS.has(method)) return { protocol: 'tcp' };
  if (lf < 0) return buf.length < MAX_HTTP_SNIFF ? { protocol: 'need-more' } : { protocol: 'tcp' };
  return /^[A-Z]+ \S+ HTTP\/1\.[01]\r?$/.test(line) ? { protocol: 'http1' } : { protocol: 'tcp' };
}

/** Reads a TLS record holding a ClientHello far enough to find SNI (type 0) and ALPN (type 16). */
function sniffTls(buf: Buffer): Sniffed {
  if (buf.length < 5) return { protocol: 'need-more' };
  if (buf[1] !== 0x03 || buf[2] > 0x04) return { protocol: 'tcp' };
  const recordLen = buf.readUInt16BE(3);
  if (recordLen > MAX_TLS_RECORD) return { protocol: 'tls', alpn: [] };
  if (buf.length < 5 + recordLen) return { protocol: 'need-more' };
  const hello = buf.subarray(5, 5 + recordLen);
  if (hello[0] !== 0x01) return { protocol: 'tcp' }; // not a ClientHello
  try {
    return { protocol: 'tls', ...readClientHello(hello) };
  } catch {
    return { protocol: 'tls', alpn: [] }; // a TLS record we cannot read further: pass it through as TLS
  }
}

function readClientHello(h: Buffer): { sni?: string; alpn: string[] } {
  let i = 4; // handshake type (1) + length (3)
  i += 2 + 32; // client version, random
  i += 1 + h[i]; // session id
  i += 2 + h.readUInt16BE(i); // cipher suites
  i += 1 + h[i]; // compression methods
  const out: { sni?: string; alpn: string[] } = { alpn: [] };
  if (i + 2 > h.length) return out; // no extensions
  const end = Math.min(h.length, i + 2 + h.readUInt16BE(i));
  i += 2;
  while (i + 4 <= end) {
    const type = h.readUInt16BE(i);
    const len = h.readUInt16BE(i + 2);
    const body = h.subarray(i + 4, i + 4 + len);
    if (type === 0 && body.length >= 5 && body[2] === 0) {
      // server_name list: one host_name entry
      const nameLen = body.readUInt16BE(3);
      out.sni = body.toString('latin1', 5, 5 + nameLen).toLowerCase();
    } else if (type === 16 && body.length >= 2) {
      for (let j = 2; j < body.length; ) {
        const l = body[j];
        out.alpn.push(body.toString('latin1', j + 1, j + 1 + l));
        j += 1 + l;
      }
    }
    i += 4 + len;
  }
  return out;
}
