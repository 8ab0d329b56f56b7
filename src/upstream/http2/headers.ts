import type { OutgoingHttpHeaders } from 'node:http2';
import type { UpstreamRequest } from '../exchange.js';

/** RFC 9113 §8.2.2: connection-specific fields are never sent over HTTP/2 (`te` is handled apart); host becomes :authority. */
const DROP_REQUEST_HEADERS = new Set(['host', 'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'http2-settings']);

/** RFC 9113 §8.3.1 pseudo-headers from the request line and host, then the fields HTTP/2 allows. */
export function requestHeaders(req: UpstreamRequest, scheme: string, defaultAuthority: string): string[] {
  const h = req.headers;
  const out: string[] = [':method', req.method, ':path', req.path, ':scheme', scheme, ':authority', ''];
  let authority: string | undefined;
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i];
    if (DROP_REQUEST_HEADERS.has(name)) {
      if (name === 'host' && authority === undefined) authority = h[i + 1];
      continue;
    }
    if (name === 'te') {
      // the only te value HTTP/2 allows
      if (h[i + 1].trim().toLowerCase() === 'trailers') out.push('te', 'trailers');
      continue;
    }
    if (name.charCodeAt(0) === 58 /* ':' */) continue;
    out.push(name, h[i + 1]);
  }
  out[7] = authority ?? defaultAuthority;
  return out;
}

/** The same list with repeated names combined: `cookie` with "; " (RFC 9113 §8.2.3), others with ", ". */
export function combineDuplicates(list: string[]): string[] {
  const index = new Map<string, number>();
  const out: string[] = [];
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i];
    const at = index.get(name);
    if (at === undefined) {
      index.set(name, out.length);
      out.push(name, list[i + 1]);
    } else {
      out[at + 1] += (name === 'cookie' ? '; ' : ', ') + list[i + 1];
    }
  }
  return out;
}

/** Pseudo-headers come first (RFC 9113 §8.3; nghttp2 rejects others), so they are a prefix. */
export function withoutPseudo(raw: string[]): string[] {
  let i = 0;
  while (i < raw.length && raw[i].charCodeAt(0) === 58 /* ':' */) i += 2;
  return i === 0 ? raw : raw.slice(i);
}

/** Request trailers as node's header object, without the fields HTTP/2 forbids. */
export function trailerObject(list: string[]): OutgoingHttpHeaders {
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i];
    if (DROP_REQUEST_HEADERS.has(name) || name === 'te' || name.charCodeAt(0) === 58) continue;
    const prev = out[name];
    if (prev === undefined) out[name] = list[i + 1];
    else if (Array.isArray(prev)) prev.push(list[i + 1]);
    else out[name] = [prev, list[i + 1]];
  }
  return out;
}
