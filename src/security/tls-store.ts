import type { Socket } from 'node:net';
import { createSecureContext, createServer, type ConnectionOptions, type PeerCertificate, type SecureContext, type Server, type TlsOptions, type TLSSocket } from 'node:tls';
import type { Cluster, DownstreamTls, Listener, Secret, TlsProtocolVersion, UpstreamTlsContext, UpstreamTransportSocket } from '../config/snapshot.js';
import { ROOT_CA_SECRET, WORKLOAD_CERT_SECRET } from '../config/secret-names.js';
import { peerIdentityFromCert } from './workload-certs.js';
import { compileSanCheck, type SanCheck } from './san-matcher.js';
import type { HostEndpoint } from '../config/endpoints.js';

/** What TLS to an endpoint depends on: its address (the default SNI) and its transport socket match metadata. */
type UpstreamEndpoint = Pick<HostEndpoint, 'address' | 'tlsMode'>;

/**
 * Istio's istio.alpn filter: HTTP/1.1 streams over mesh mTLS (a context offering `istio`) offer
 * `istio-http/1.1`, so the server side knows a sidecar speaks HTTP (HTTP/2 sessions swap it for h2).
 */
const ISTIO_ALPN_HTTP = ['istio-http/1.1', 'istio'];

/** An UpstreamTlsContext compiled once: the secrets it is built from and its peer checks. */
interface CompiledUpstream {
  certSecret?: string;
  caSecret?: string;
  /** Peer validation configured (a CA secret or the system roots); without, nothing is verified. */
  verify: boolean;
  minVersion: 'TLSv1.2' | 'TLSv1.3' | 'TLSv1.1' | 'TLSv1';
  checkSans: SanCheck;
  alpn?: string[];
  alpnHttp?: string[];
}

/**
 * A worker's TLS material: the workload certificate as a SecureContext (rebuilt when the agent
 * posts a rotated one; connections already up keep theirs, new handshakes use the new one), and
 * the client/server options derived from it and from clusters' DestinationRule tls.
 */
export class TlsStore {
  /** The Snapshot's SDS secrets by name. */
  private secrets = new Map<string, Secret>();
  /** The workload certificate (`default`) with the mesh roots (`ROOTCA`). */
  private context: SecureContext | undefined;
  private identity: string | undefined;
  /**
   * Terminates mesh mTLS. A tls.Server that never listens: sockets are handed to it, so Node's own
   * verification (client certificate required, chained to the root) decides `authorized` and
   * rejects the rest; a bare TLSSocket would not check the client certificate at all.
   */
  private server: Server | undefined;
  /** Gateway servers' own certificates (SIMPLE / MUTUAL), by their PEM material. */
  private readonly gatewayServers = new Map<string, Server>();
  private readonly handshakes = new Map<string, (socket: TLSSocket | undefined) => void>();
  /** Client SecureContexts by the secrets they are built from; dropped when one of those changes. */
  private readonly clientContexts = new Map<string, { context: SecureContext; secrets: string[] }>();
  /** Each UpstreamTlsContext of a Snapshot, compiled the first time a connection uses it. */
  private readonly upstreamByConfig = new WeakMap<UpstreamTlsContext, CompiledUpstream>();

  /**
   * Takes the Snapshot's secrets: the contexts built from a secret whose content changed are
   * rebuilt (once, here), the others kept.
   */
  update(secrets: readonly Secret[]): void {
    const previous = this.secrets;
    this.secrets = new Map(secrets.map((s) => [s.name, s]));
    const changed = (name: string) => !sameSecret(previous.get(name), this.secrets.get(name));
    for (const [key, entry] of this.clientContexts) if (entry.secrets.some(changed)) this.clientContexts.delete(key);
    if (!changed(WORKLOAD_CERT_SECRET) && !changed(ROOT_CA_SECRET)) return;
    const cert = this.secrets.get(WORKLOAD_CERT_SECRET);
    const root = this.secrets.get(ROOT_CA_SECRET);
    const material =
      cert && 'tlsCertificate' in cert && root && 'validationContext' in root
        ? { key: cert.tlsCertificate.privateKey, cert: cert.tlsCertificate.certificateChain, ca: root.validationContext.trustedCa, minVersion: 'TLSv1.2' as const }
        : undefined;
    this.identity = material ? peerIdentityFromCert(material.cert)?.spiffeId : undefined;
    this.context = material ? createSecureContext(material) : undefined;
    if (material && this.server) this.server.setSecureContext(material);
    // ALPN by server preference: h2 for sidecars that speak HTTP/2 (Istio offers istio, h2), else
    // the istio-* value the client offered (HTTP/1.1 or TCP)
    else if (material) this.server = this.createServer({ ...material, requestCert: true, rejectUnauthorized: true, ALPNProtocols: ISTIO_SERVER_ALPN }, true);
  }

  /** A handshake server; `requireAuthorized`: only a client certificate the CA vouches for completes it. */
  private createServer(options: TlsOptions, requireAuthorized: boolean): Server {
    const server = createServer({ ...options, handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS });
    const settle = (socket: TLSSocket, ok: boolean) => {
      const key = socketKey(socket);
      const done = this.handshakes.get(key);
      if (!done) return;
      this.handshakes.delete(key);
      done(ok ? socket : undefined);
    };
    server.on('secureConnection', (socket: TLSSocket) => settle(socket, !requireAuthorized || socket.authorized));
    server.on('tlsClientError', (_err, socket: TLSSocket) => settle(socket, false));
    return server;
  }

  /**
   * Istio mTLS server side: runs the handshake on `socket` (bytes already read must have been
   * unshifted) and calls back with the TLS socket of an authorized mesh peer, or undefined (no
   * workload certificate, handshake failure, no or untrusted client certificate, timeout).
   */
  terminate(socket: Socket, tls: DownstreamTls, done: (secure: TLSSocket | undefined) => void): void {
    const server = tls.mode === 'istio' ? (this.context ? this.server : undefined) : this.gatewayServer(tls);
    if (!server) {
      done(undefined);
      return;
    }
    const key = socketKey(socket);
    this.handshakes.set(key, done);
    socket.once('close', () => {
      if (this.handshakes.get(key) === done) {
        this.handshakes.delete(key);
        done(undefined);
      }
    });
    server.emit('connection', socket);
  }

  /**
   * Forgets the handshake servers of Gateway certificates no listener uses any more (a rotated
   * credential): handshakes under way finish on the old one, new ones use the new certificate.
   */
  retainGatewayServers(listeners: readonly Listener[]): void {
    const used = new Set<string>();
    for (const l of listeners) for (const c of l.filterChains) if (c.tls && c.tls.mode !== 'istio') used.add(gatewayKey(c.tls));
    for (const key of this.gatewayServers.keys()) if (!used.has(key)) this.gatewayServers.delete(key);
  }

  /** The SPIFFE identity of the workload certificate (`default`). */
  get workloadIdentity(): string | undefined {
    return this.identity;
  }

  /** The handshake server for a Gateway server's certificate: ALPN as the server sets it; MUTUAL asks for client certificates. */
  private gatewayServer(tls: Exclude<DownstreamTls, { mode: 'istio' }>): Server {
    // per connection: found by the chain's own config object, not by serializing its PEMs again
    const known = this.serverByTls.get(tls);
    if (known) return known;
    const key = gatewayKey(tls);
    let server = this.gatewayServers.get(key);
    if (!server) {
      const mutual = tls.mode === 'mutual';
      server = this.createServer(
        {
          key: tls.keyPem,
          cert: tls.certPem,
          ...(tls.caPem ? { ca: tls.caPem } : {}),
          minVersion: tls.minVersion ?? 'TLSv1.2',
          ...alpnOption(tls.alpnProtocols ?? ['h2', 'http/1.1']),
          requestCert: mutual,
          rejectUnauthorized: mutual && !tls.optionalClientCert,
        },
        mutual && !tls.optionalClientCert,
      );
      this.gatewayServers.set(key, server);
    }
    this.serverByTls.set(tls, server);
    return server;
  }

  /** The handshake server of each chain's tls config object (a Snapshot's), for the accept path. */
  private readonly serverByTls = new WeakMap<DownstreamTls, Server>();

  /**
   * How to reach this endpoint of the cluster: TLS options, or undefined for plaintext. The
   * cluster's transport socket matches pick by the endpoint's metadata (auto mTLS: tlsMode), else
   * its transport socket applies. An Error: the TLS it needs cannot be had (a secret is missing).
   */
  clientOptions(cluster: Cluster, endpoint: UpstreamEndpoint, protocol: 'http' | 'tcp'): ConnectionOptions | Error | undefined {
    const socket = transportSocketFor(cluster, endpoint);
    if (socket?.name !== 'envoy.transport_sockets.tls') return undefined;
    const tls = socket.typedConfig;
    let compiled = this.upstreamByConfig.get(tls);
    if (!compiled) this.upstreamByConfig.set(tls, (compiled = compileUpstream(tls)));
    const context = this.clientContext(compiled);
    if (context instanceof Error) return context;
    const alpn = protocol === 'http' ? (compiled.alpnHttp ?? compiled.alpn) : compiled.alpn;
    const check = compiled.checkSans;
    return {
      secureContext: context,
      // no SNI configured: the endpoint's address, as before (Envoy's auto_sni sends the Host)
      servername: tls.sni ?? endpoint.address,
      ...(alpn ? { ALPNProtocols: alpn } : {}),
      rejectUnauthorized: compiled.verify,
      // with SANs Envoy checks them instead of the host name; without, any name the CA vouches for
      checkServerIdentity: compiled.verify ? (_host, cert) => check(cert) : () => undefined,
    };
  }

  /** The SecureContext of these secrets, built once per version of them. */
  private clientContext(c: CompiledUpstream): SecureContext | Error {
    const names = [c.certSecret, c.caSecret].filter((n): n is string => n !== undefined);
    const key = JSON.stringify([c.certSecret, c.caSecret, c.minVersion]);
    const known = this.clientContexts.get(key);
    if (known) return known.context;
    const cert = c.certSecret === undefined ? undefined : this.secrets.get(c.certSecret);
    const ca = c.caSecret === undefined ? undefined : this.secrets.get(c.caSecret);
    if (c.certSecret !== undefined && !(cert && 'tlsCertificate' in cert)) return missingSecret(c.certSecret);
    if (c.caSecret !== undefined && !(ca && 'validationContext' in ca)) return missingSecret(c.caSecret);
    const context = createSecureContext({
      ...(cert && 'tlsCertificate' in cert ? { cert: cert.tlsCertificate.certificateChain, key: cert.tlsCertificate.privateKey } : {}),
      ...(ca && 'validationContext' in ca ? { ca: ca.validationContext.trustedCa } : {}),
      minVersion: c.minVersion,
    });
    this.clientContexts.set(key, { context, secrets: names });
    return context;
  }
}

/** Envoy's transport socket selection: the first match whose labels the endpoint's metadata holds, else the cluster's own. */
function transportSocketFor(cluster: Cluster, endpoint: UpstreamEndpoint): UpstreamTransportSocket | undefined {
  const matches = cluster.transportSocketMatches;
  if (matches) {
    const metadata: Record<string, string | undefined> = { tlsMode: endpoint.tlsMode };
    const hit = matches.find((m) => Object.entries(m.match).every(([k, v]) => metadata[k] === v));
    if (hit) return hit.transportSocket;
  }
  return cluster.transportSocket;
}

function compileUpstream(tls: UpstreamTlsContext): CompiledUpstream {
  const common = tls.commonTlsContext;
  const certSecret = common.tlsCertificateSdsSecretConfigs?.[0]?.name;
  const combined = common.combinedValidationContext;
  const validation = combined?.defaultValidationContext ?? common.validationContext;
  const alpn = common.alpnProtocols?.length ? common.alpnProtocols : undefined;
  return {
    ...(certSecret !== undefined ? { certSecret } : {}),
    ...(combined ? { caSecret: combined.validationContextSdsSecretConfig.name } : {}),
    verify: !!combined || !!common.validationContext,
    minVersion: nodeTlsVersion(common.tlsParams?.tlsMinimumProtocolVersion),
    checkSans: compileSanCheck(validation),
    ...(alpn ? { alpn } : {}),
    ...(alpn?.includes('istio') ? { alpnHttp: ISTIO_ALPN_HTTP } : {}),
  };
}

/** Envoy's minimum version as Node spells it; TLS_AUTO and unset: Envoy's client default, TLS 1.2. */
function nodeTlsVersion(v: TlsProtocolVersion | undefined): CompiledUpstream['minVersion'] {
  switch (v) {
    case 'TLSv1_3':
      return 'TLSv1.3';
    default:
      return 'TLSv1.2';
  }
}

function missingSecret(name: string): Error {
  return new Error(`TLS secret "${name}" is not available${name === 'default' ? ' (the workload certificate: --cert-dir)' : ''}`);
}

function gatewayKey(tls: Exclude<DownstreamTls, { mode: 'istio' }>): string {
  return JSON.stringify([tls.mode, tls.certPem, tls.keyPem, tls.caPem, tls.optionalClientCert, tls.minVersion, tls.alpnProtocols]);
}

function alpnOption(protocols: string[]): { ALPNProtocols?: string[] } {
  return protocols.length ? { ALPNProtocols: protocols } : {};
}

/** What the mesh mTLS server side negotiates, in preference order. */
const ISTIO_SERVER_ALPN = ['h2', 'http/1.1', 'istio-http/1.1', 'istio-http/1.0', 'istio-h2', 'istio', 'istio-peer-exchange'];

/** A client that starts TLS must finish the handshake within this time. */
const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;

/** The same TCP connection seen from its raw socket and from its TLS socket. */
function socketKey(s: { remoteAddress?: string; remotePort?: number; localPort?: number }): string {
  return `${s.remoteAddress}|${s.remotePort}|${s.localPort}`;
}

/** URI and DNS SANs of a certificate, without their `URI:`/`DNS:` tags. */
export function subjectAltNames(cert: PeerCertificate | undefined): string[] {
  const text = cert?.subjectaltname;
  if (!text) return [];
  return text
    .split(', ')
    .filter((e) => e.startsWith('URI:') || e.startsWith('DNS:'))
    .map((e) => e.slice(4));
}

/** The SPIFFE identity a TLS peer presented, if any. */
export function peerSpiffeId(socket: TLSSocket): string | undefined {
  return subjectAltNames(socket.getPeerCertificate()).find((s) => s.startsWith('spiffe://'));
}

function sameSecret(a: Secret | undefined, b: Secret | undefined): boolean {
  return a === b || (!!a && !!b && JSON.stringify(a) === JSON.stringify(b));
}
