import { randomBytes } from 'node:crypto';
import type { Downstream } from '../codec/downstream.js';
import type { HttpConnectionManager } from '../config/snapshot.js';
import type { PeerIdentity } from '../security/peer.js';
import { getFromList, removeFromList } from '../router/headers.js';
import { xffClientAddress } from './client-address.js';
import { newRequestId } from './request-id.js';

/** Request headers never forwarded: hop-by-hop (RFC 9110 §7.6.1) and ones the proxy regenerates. */
const DROP_REQUEST = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'http2-settings', 'expect']);

/** What the header rules read from the downstream request and its connection. */
export type ProxiedRequest = Pick<Downstream, 'headers' | 'scheme' | 'remoteAddress' | 'peer' | 'connectProtocol' | 'upgrade'>;

/** The connection manager settings the header rules follow. */
export type ProxyHeaderConfig = Pick<HttpConnectionManager, 'useRemoteAddress' | 'xffNumTrustedHops' | 'forwardClientCertDetails' | 'stripEnvoyHeaders'>;

/** What the connection manager learnt while preparing the headers. */
export interface PreparedRequest {
  /** The host header, lower case ('' without one). */
  authority: string;
  /** x-request-id as forwarded: the client's, or a new UUID. */
  requestId: string;
  /** The upgrade the client asked for (Upgrade + Connection: upgrade, or HTTP/2 extended CONNECT), lower case. */
  upgrade: string | undefined;
  /** The trusted client address found in x-forwarded-for, when there is one (Envoy's downstream remote address). */
  clientAddress: string | undefined;
}

/**
 * Envoy's ConnectionManagerUtility::mutateRequestHeaders, as a pure function: copies the client's
 * headers into `out` (the upstream header list) with hop-by-hop and Connection-listed headers
 * dropped, `te` reduced to `trailers`, x-forwarded-for appended (use_remote_address) or kept,
 * x-envoy-external-address set at the edge, x-forwarded-proto, x-forwarded-client-cert per
 * forward_client_cert_details, x-request-id, and x-envoy-* stripped where the config says.
 */
export function prepareRequestHeaders(ds: ProxiedRequest, hcm: ProxyHeaderConfig, workloadIdentity: string | undefined, out: string[]): PreparedRequest {
  const raw = ds.headers;
  let authority = '';
  let requestId: string | undefined;
  let xff: string | undefined;
  let xfcc: string | undefined;
  let upgrade: string | undefined;
  let connectionTokens: string | undefined;
  let haveProto = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    const value = raw[i + 1];
    if (DROP_REQUEST.has(name)) {
      if (name === 'connection') connectionTokens = connectionTokens ? `${connectionTokens},${value}` : value;
      else if (name === 'upgrade') upgrade = value;
      continue;
    }
    switch (name) {
      case 'host':
        authority = value.toLowerCase();
        break;
      case 'te':
        // only "trailers" may cross a proxy (RFC 9110 §10.1.4)
        if (!/(^|,)\s*trailers\s*(;|,|$)/i.test(value)) continue;
        out.push(name, 'trailers');
        continue;
      case 'x-forwarded-for':
        // one header, as Envoy keeps it (repeated ones joined), written below
        xff = xff === undefined ? value : `${xff},${value}`;
        continue;
      case 'x-forwarded-proto':
        // at the edge only trusted proxies (xff_num_trusted_hops) may have set it
        if (hcm.useRemoteAddress && !hcm.xffNumTrustedHops) continue;
        haveProto = true;
        break;
      case 'x-forwarded-client-cert':
        if (!keepsClientCertHeader(hcm.forwardClientCertDetails, ds.peer !== undefined)) continue;
        xfcc = xfcc === undefined ? value : `${xfcc},${value}`;
        continue;
      case 'x-envoy-external-address':
        // the edge sets it (below); past the edge it travels as the edge set it
        if (hcm.useRemoteAddress) continue;
        break;
      case 'x-request-id':
        requestId = value;
        break;
      default:
        if (hcm.stripEnvoyHeaders && name.startsWith('x-envoy-')) continue;
    }
    out.push(name, value);
  }
  // WebSocket (Envoy's upgrade_configs): an Upgrade (HTTP/1.1) or an extended CONNECT (HTTP/2,
  // RFC 8441); h2c is declined: the request goes on over HTTP/1.1, its upgrade headers dropped
  // (RFC 9113 deprecates it)
  let requested: string | undefined;
  const type = upgrade?.trim().toLowerCase();
  if (type && type !== 'h2c' && /(^|,)\s*upgrade\s*(,|$)/i.test(connectionTokens ?? '')) requested = type;
  if (ds.connectProtocol) requested = ds.connectProtocol.toLowerCase();
  if (ds.connectProtocol === 'websocket' && ds.upgrade) {
    // the HTTP/1.1 handshake needs a key; an HTTP/2 client does not send one (RFC 8441 §5)
    if (getFromList(out, 'sec-websocket-key') === undefined) out.push('sec-websocket-key', randomBytes(16).toString('base64'));
  }
  if (connectionTokens) {
    for (const token of connectionTokens.split(',')) {
      const t = token.trim().toLowerCase();
      if (t && t !== 'close' && t !== 'keep-alive') removeFromList(out, t);
    }
  }
  const client = xffClientAddress(xff, hcm.useRemoteAddress, hcm.xffNumTrustedHops ?? 0);
  if (hcm.useRemoteAddress) {
    const peer = ds.remoteAddress;
    out.push('x-forwarded-for', xff === undefined ? peer : `${xff},${peer}`);
    // Envoy sets it on edge (external) requests; with Istio no request is internal at a gateway
    // (Envoy >= 1.33 has an empty internal_address_config, which istiod leaves so)
    out.push('x-envoy-external-address', client ?? peer);
  } else if (xff !== undefined) {
    out.push('x-forwarded-for', xff);
  }
  if (!haveProto) out.push('x-forwarded-proto', ds.scheme);
  const peer = ds.peer;
  const mode = hcm.forwardClientCertDetails;
  if (peer && (mode === 'APPEND_FORWARD' || mode === 'SANITIZE_SET')) {
    const current = connectionXfccElement(peer, workloadIdentity);
    out.push('x-forwarded-client-cert', xfcc === undefined || mode === 'SANITIZE_SET' ? current : `${xfcc},${current}`);
  } else if (xfcc !== undefined) {
    out.push('x-forwarded-client-cert', xfcc);
  }
  if (requestId === undefined) out.push('x-request-id', (requestId = newRequestId()));
  return { authority, requestId, upgrade: requested, clientAddress: client };
}

/**
 * Envoy's forward_client_cert_details: is the client's x-forwarded-client-cert forwarded (perhaps
 * appended to)? Always with ALWAYS_FORWARD_ONLY; from an mTLS peer with FORWARD_ONLY and
 * APPEND_FORWARD; never otherwise (SANITIZE, SANITIZE_SET, or no client certificate).
 */
function keepsClientCertHeader(mode: HttpConnectionManager['forwardClientCertDetails'], mtls: boolean): boolean {
  if (mode === 'ALWAYS_FORWARD_ONLY') return true;
  return mtls && (mode === 'FORWARD_ONLY' || mode === 'APPEND_FORWARD');
}

/** Each mTLS connection's XFCC element, with the identity it was made for (a PeerIdentity is per connection). */
const xfccOfConnection = new WeakMap<PeerIdentity, { by: string | undefined; element: string }>();

/**
 * The XFCC element of a connection's peer, made on its first request and reused by the next ones:
 * every request on a connection presents the same certificate. Made per request it cost ~70 ns
 * (the concatenation, then flattening the result to write it).
 */
function connectionXfccElement(peer: PeerIdentity, by: string | undefined): string {
  const made = xfccOfConnection.get(peer);
  if (made && made.by === by) return made.element;
  const element = xfccElement(peer, by);
  xfccOfConnection.set(peer, { by, element });
  return element;
}

/**
 * One XFCC element as Envoy writes it with Istio's set_current_client_cert_details:
 * `By=<our URI SAN>;Hash=<sha256 of the peer cert>;Subject="<subject>";URI=<peer URI SAN>;DNS=<...>`.
 */
export function xfccElement(peer: PeerIdentity, by: string | undefined): string {
  let e = by ? `By=${by};` : '';
  e += `Hash=${peer.sha256};Subject="${peer.subject.replace(/"/g, '\\"')}"`;
  for (const u of peer.uris) e += `;URI=${u}`;
  for (const d of peer.dns) e += `;DNS=${d}`;
  return e;
}

/** `GET http://host/path` (a client using the proxy explicitly): authority and path from the URL, else undefined. */
export function absoluteFormTarget(target: string): { authority: string; host: string; path: string } | undefined {
  const m = /^http:\/\/([^/?#]+)([^#]*)/i.exec(target);
  if (!m) return undefined;
  return { authority: m[1].toLowerCase(), host: m[1], path: m[2] || '/' };
}
