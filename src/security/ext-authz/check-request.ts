/**
 * envoy.service.auth.v3.CheckRequest as Envoy's ext_authz filters fill it (CheckRequestUtils),
 * in @grpc/proto-loader's object form (camelCase fields). Pure: no I/O, unit-tested.
 */
import { plainAddress } from '../../common/address.js';

/** One end of the connection: envoy.service.auth.v3.AttributeContext.Peer. */
export interface CheckPeer {
  address: string;
  port: number;
  /** The end's certificate URI SAN (else first DNS SAN), when the connection is TLS. */
  principal?: string;
  /** Source only: the downstream's x-envoy-downstream-service-cluster header. */
  service?: string;
}

/** What the two ends of a connection are made of: its addresses, and the TLS identities on each side. */
export interface ConnectionEnds {
  remoteAddress: string;
  remotePort: number;
  /** The client certificate (mTLS), if any. */
  peer: { uris: readonly string[]; dns: readonly string[] } | undefined;
  /** Where the client was going: the original destination, else the local end. */
  destination: { address: string; port: number };
  /** This proxy's own certificate identity (the destination principal over TLS). */
  localPrincipal: string | undefined;
}

/** The source and destination peers Envoy's ext_authz filters (HTTP and network) put in a CheckRequest. */
export function connectionPeers(c: ConnectionEnds, service?: string): { source: CheckPeer; destination: CheckPeer } {
  const principal = certificatePrincipal(c.peer);
  return {
    source: { address: plainAddress(c.remoteAddress), port: c.remotePort, ...(principal ? { principal } : {}), ...(service ? { service } : {}) },
    // the local certificate's identity: only a TLS connection has one
    destination: { ...c.destination, ...(c.peer && c.localPrincipal ? { principal: c.localPrincipal } : {}) },
  };
}

export interface HttpCheckInput {
  source: CheckPeer;
  destination: CheckPeer;
  /** The stream's start, ms since the epoch (request.time). */
  startTimeMs: number;
  /** Envoy's stream id, in decimal. */
  id: string;
  method: string;
  /** As the upstream will get it: path and query string, after normalization. */
  path: string;
  host: string;
  scheme: string;
  /** `HTTP/1.0`, `HTTP/1.1`, `HTTP/2`. */
  protocol: string;
  /** The request headers as the upstream will get them, flat [name, value, ...], lower-case names. */
  headers: readonly string[];
  /** includeRequestBodyInCheck: the buffered body (at most maxRequestBytes) and whether it was cut. */
  body?: { data: Buffer; partial: boolean; packAsBytes: boolean };
}

/** Envoy's header naming the cut of a request body sent for authorization. */
const PARTIAL_BODY_HEADER = 'x-envoy-auth-partial-body';

export interface CheckRequestMessage {
  attributes: {
    source: PeerMessage;
    destination: PeerMessage;
    request?: { time: { seconds: string; nanos: number }; http: Record<string, unknown> };
  };
}

interface PeerMessage {
  address: { socketAddress: { address: string; portValue: number } };
  principal?: string;
  service?: string;
}

function peer(p: CheckPeer): PeerMessage {
  return {
    address: { socketAddress: { address: p.address, portValue: p.port } },
    ...(p.principal ? { principal: p.principal } : {}),
    ...(p.service ? { service: p.service } : {}),
  };
}

/** The network filter's check: the connection's two ends only. */
export function tcpCheckRequest(source: CheckPeer, destination: CheckPeer): CheckRequestMessage {
  return { attributes: { source: peer(source), destination: peer(destination) } };
}

/**
 * The HTTP filter's check. Headers as Envoy's map has them: `:authority` (for Host), `:method`,
 * `:path`, `:scheme` and every request header, repeated ones joined with `,`. request.http.size is
 * the content-length, -1 when unknown; query and fragment stay empty (the path carries the query).
 */
export function httpCheckRequest(r: HttpCheckInput): CheckRequestMessage {
  const headers: Record<string, string> = { ':authority': r.host, ':method': r.method, ':path': r.path, ':scheme': r.scheme };
  let size = -1;
  for (let i = 0; i < r.headers.length; i += 2) {
    const name = r.headers[i];
    const value = r.headers[i + 1];
    if (name === 'host') continue; // it is :authority
    if (name === 'content-length') size = Number(value);
    headers[name] = headers[name] === undefined ? value : `${headers[name]},${value}`;
  }
  const http: Record<string, unknown> = { id: r.id, method: r.method, headers, path: r.path, host: r.host, scheme: r.scheme, size: String(size), protocol: r.protocol };
  if (r.body) {
    headers[PARTIAL_BODY_HEADER] = r.body.partial ? 'true' : 'false';
    if (r.body.packAsBytes) http.rawBody = r.body.data;
    else http.body = r.body.data.toString('utf8');
  }
  const seconds = Math.floor(r.startTimeMs / 1000);
  return {
    attributes: {
      source: peer(r.source),
      destination: peer(r.destination),
      request: { time: { seconds: String(seconds), nanos: (r.startTimeMs - seconds * 1000) * 1e6 }, http },
    },
  };
}

/** Envoy's principal of a certificate: its first URI SAN, else its first DNS SAN. */
export function certificatePrincipal(cert: { uris: readonly string[]; dns: readonly string[] } | undefined): string | undefined {
  return cert ? (cert.uris[0] ?? cert.dns[0]) : undefined;
}
