import type { Socket } from 'node:net';
import { createSecureContext, createServer, type ConnectionOptions, type PeerCertificate, type SecureContext, type Server, type TlsOptions, type TLSSocket } from 'node:tls';
import type { Cluster, DownstreamTls, Listener, Secret, UpstreamTls } from '../config/snapshot.js';
import { ROOT_CA_SECRET, WORKLOAD_CERT_SECRET } from '../config/secret-names.js';
import { peerIdentityFromCert } from './workload-certs.js';
import type { HostEndpoint } from '../config/endpoints.js';

/** What TLS to an endpoint depends on: its address (the default SNI) and whether it has a sidecar. */
type UpstreamEndpoint = Pick<HostEndpoint, 'address' | 'tlsMode'>;

/** Istio's ALPN on mesh mTLS connections, so the server side knows a sidecar is talking. */
const ISTIO_ALPN_HTTP = ['istio-http/1.1', 'istio'];
const ISTIO_ALPN_TCP = ['istio'];

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
  /** SecureContexts for MUTUAL/SIMPLE clusters, by their PEM material. */
  private readonly custom = new Map<string, SecureContext>();

  /**
   * Takes the Snapshot's secrets: the contexts built from a secret whose content changed are
   * rebuilt (once, here), the others kept.
   */
  update(secrets: readonly Secret[]): void {
    const previous = this.secrets;
    this.secrets = new Map(secrets.map((s) => [s.name, s]));
    const changed = (name: string) => !sameSecret(previous.get(name), this.secrets.get(name));
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
   * How to reach this endpoint of the cluster: TLS options, or undefined for plaintext. Auto mTLS
   * applies to endpoints that have a sidecar when the cluster sets no tls of its own.
   */
  clientOptions(cluster: Cluster, endpoint: UpstreamEndpoint, protocol: 'http' | 'tcp'): ConnectionOptions | Error | undefined {
    let tls = cluster.tls;
    if (!tls && cluster.autoMtls && endpoint.tlsMode === 'istio' && this.context) {
      tls = { mode: 'ISTIO_MUTUAL', subjectAltNames: cluster.autoMtls.subjectAltNames, ...(cluster.autoMtls.sni ? { sni: cluster.autoMtls.sni } : {}) };
    }
    if (!tls) return undefined;
    if (tls.mode === 'ISTIO_MUTUAL') {
      // without a workload certificate there is no mesh identity to present: the connection fails (UF)
      if (!this.context) return new Error('ISTIO_MUTUAL needs a workload certificate (--cert-dir)');
      return {
        secureContext: this.context,
        ...(tls.sni ? { servername: tls.sni } : {}),
        ALPNProtocols: tls.alpn ?? (protocol === 'http' ? ISTIO_ALPN_HTTP : ISTIO_ALPN_TCP),
        rejectUnauthorized: true,
        checkServerIdentity: (_host, cert) => checkSans(cert, tls!.subjectAltNames),
      };
    }
    return this.customOptions(tls, endpoint);
  }

  /** MUTUAL / SIMPLE: the DestinationRule's own CA (and client certificate), its SNI and SANs. */
  private customOptions(tls: UpstreamTls, endpoint: UpstreamEndpoint): ConnectionOptions {
    const key = JSON.stringify([tls.caPem, tls.certPem, tls.keyPem]);
    let ctx = this.custom.get(key);
    if (!ctx) {
      ctx = createSecureContext({
        ...(tls.caPem ? { ca: tls.caPem } : {}),
        ...(tls.mode === 'MUTUAL' && tls.certPem && tls.keyPem ? { cert: tls.certPem, key: tls.keyPem } : {}),
        minVersion: 'TLSv1.2',
      });
      this.custom.set(key, ctx);
    }
    const sans = tls.subjectAltNames;
    return {
      secureContext: ctx,
      servername: tls.sni ?? endpoint.address,
      ...(tls.alpn ? { ALPNProtocols: tls.alpn } : {}),
      rejectUnauthorized: !tls.insecureSkipVerify,
      // with SANs Envoy checks them instead of the host name; without, any name the CA vouches for
      checkServerIdentity: (_host, cert) => (tls.insecureSkipVerify ? undefined : checkSans(cert, sans)),
    };
  }
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

/** Envoy's match_subject_alt_names: one of the certificate's URI/DNS SANs must be listed (none listed: any). */
function checkSans(cert: PeerCertificate, accepted: readonly string[]): Error | undefined {
  if (accepted.length === 0) return undefined;
  const sans = subjectAltNames(cert);
  if (sans.some((s) => accepted.includes(s))) return undefined;
  return new Error(`server certificate SANs [${sans.join(', ')}] match none of [${accepted.join(', ')}]`);
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
