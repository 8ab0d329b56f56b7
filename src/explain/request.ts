/**
 * The request `outrigger explain` (and the admin's /explain) is asked about: a method and a URL,
 * headers, where it comes from and which way it crosses the proxy. Parsed from the operator's
 * words once; a mistake is an ExplainUsageError naming the part that is wrong.
 */
import { isIP } from 'node:net';
import { parseSpiffeId } from '../security/spiffe.js';

/** Which way the request crosses this proxy: out of its workload, into it, or through a gateway. */
export type ExplainDirection = 'outbound' | 'inbound' | 'gateway';

export interface ExplainRequest {
  readonly method: string;
  readonly scheme: 'http' | 'https';
  /** Host and port as the URL names them (the Host header the client sends). */
  readonly authority: string;
  readonly host: string;
  readonly port: number;
  /** :path, query included. */
  readonly path: string;
  /** The client's headers, lower-case names, in order (host excluded: the authority is it). */
  readonly headers: readonly (readonly [string, string])[];
  readonly direction: ExplainDirection;
  readonly protocol: 'HTTP/1.1' | 'HTTP/2';
  /** The client's address (default: the workload's own for outbound, else 10.0.0.1). */
  readonly sourceIp: string;
  /** The mTLS peer's SPIFFE id: the client presents this certificate (inbound and gateway). */
  readonly sourcePrincipal?: string;
  /** Where the connection goes (default: the service's address found in the routes, or the proxy's own). */
  readonly destination?: { readonly address: string; readonly port: number };
}

export class ExplainUsageError extends Error {
  override readonly name = 'ExplainUsageError';
}

export interface ExplainRequestOptions {
  /** `GET http://reviews:9080/api/x` (a bare URL is a GET). */
  readonly request: string;
  /** `name: value` each. */
  readonly headers?: readonly string[];
  readonly direction?: string;
  readonly protocol?: string;
  readonly sourceIp?: string;
  /** `spiffe://td/ns/x/sa/y`, or Istio's principal `td/ns/x/sa/y`. */
  readonly sourcePrincipal?: string;
  /** `ip:port`. */
  readonly destination?: string;
}

const METHOD = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** The operator's words → the request; `defaultDirection` from the proxy's mode. */
export function parseExplainRequest(o: ExplainRequestOptions, defaultDirection: ExplainDirection): ExplainRequest {
  const words = o.request.trim().split(/\s+/);
  if (words.length > 2 || !words[0]) throw new ExplainUsageError(`--request must be "<METHOD> <URL>" or "<URL>", got "${o.request}"`);
  const [method, target] = words.length === 2 ? [words[0], words[1]] : ['GET', words[0]];
  if (!METHOD.test(method)) throw new ExplainUsageError(`"${method}" is not an HTTP method`);
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    throw new ExplainUsageError(`"${target}" is not an absolute URL (http://host[:port]/path)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ExplainUsageError(`the URL's scheme must be http or https, got "${url.protocol.slice(0, -1)}"`);
  const scheme = url.protocol === 'https:' ? 'https' : 'http';
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const port = url.port ? Number(url.port) : scheme === 'https' ? 443 : 80;
  const direction = o.direction ?? defaultDirection;
  if (direction !== 'outbound' && direction !== 'inbound' && direction !== 'gateway') throw new ExplainUsageError(`--direction must be outbound, inbound or gateway, got "${direction}"`);
  const protocol = o.protocol ?? 'HTTP/1.1';
  if (protocol !== 'HTTP/1.1' && protocol !== 'HTTP/2') throw new ExplainUsageError(`--protocol must be HTTP/1.1 or HTTP/2, got "${protocol}"`);
  const headers = (o.headers ?? []).map((h): [string, string] => {
    const colon = h.indexOf(':');
    if (colon <= 0) throw new ExplainUsageError(`a header must be "name: value", got "${h}"`);
    return [h.slice(0, colon).trim().toLowerCase(), h.slice(colon + 1).trim()];
  });
  if (o.sourceIp !== undefined && !isIP(o.sourceIp)) throw new ExplainUsageError(`--source-ip must be an IP address, got "${o.sourceIp}"`);
  let sourcePrincipal: string | undefined;
  if (o.sourcePrincipal !== undefined) {
    const id = o.sourcePrincipal.startsWith('spiffe://') ? o.sourcePrincipal : `spiffe://${o.sourcePrincipal}`;
    if (!parseSpiffeId(id)) throw new ExplainUsageError(`--source-principal must be a SPIFFE id (spiffe://<trust domain>/ns/<ns>/sa/<sa>), got "${o.sourcePrincipal}"`);
    sourcePrincipal = id;
  }
  // a Host header names the authority; the URL still says where the connection goes
  const hostHeader = headers.find(([name]) => name === 'host')?.[1];
  return {
    method: method.toUpperCase(),
    scheme,
    authority: hostHeader ?? url.host,
    host,
    port,
    path: `${url.pathname}${url.search}`,
    headers: headers.filter(([name]) => name !== 'host'),
    direction,
    protocol,
    sourceIp: o.sourceIp ?? '10.0.0.1',
    ...(sourcePrincipal ? { sourcePrincipal } : {}),
    ...(o.destination !== undefined ? { destination: parseDestination(o.destination) } : {}),
  };
}

function parseDestination(text: string): { address: string; port: number } {
  const colon = text.lastIndexOf(':');
  const address = text.slice(0, colon).replace(/^\[|\]$/g, '');
  const port = Number(text.slice(colon + 1));
  if (colon <= 0 || !isIP(address) || !Number.isInteger(port) || port < 1 || port > 65535) throw new ExplainUsageError(`--destination must be <ip>:<port>, got "${text}"`);
  return { address, port };
}

/** The admin API's /explain query parameters, by option. */
const QUERY_NAMES = { direction: 'direction', protocol: 'protocol', sourceIp: 'source_ip', sourcePrincipal: 'source_principal', destination: 'destination' } as const;

/** The request options as /explain's query string (`request`, `header` repeated, the rest by name). */
export function explainQuery(o: ExplainRequestOptions): URLSearchParams {
  const q = new URLSearchParams({ request: o.request });
  for (const h of o.headers ?? []) q.append('header', h);
  for (const [key, name] of Object.entries(QUERY_NAMES) as [keyof typeof QUERY_NAMES, string][]) {
    const value = o[key];
    if (value !== undefined) q.set(name, value);
  }
  return q;
}

/** /explain's query string → the request options; undefined without `request`. */
export function explainOptionsOf(q: URLSearchParams): ExplainRequestOptions | undefined {
  const request = q.get('request');
  if (!request) return undefined;
  const out: Record<string, unknown> = { request, headers: q.getAll('header') };
  for (const [key, name] of Object.entries(QUERY_NAMES)) {
    const value = q.get(name);
    if (value !== null) out[key] = value;
  }
  return out as unknown as ExplainRequestOptions;
}
