import type { Socket } from 'node:net';
import type { ConnectionOptions, PeerCertificate, SecureContext, Server, TlsOptions, TLSSocket } from 'node:tls';
import { nodeTls } from '../common/node-builtins.js';
import type { Cluster, DownstreamTlsContext, Listener, Secret, TlsParameters, UpstreamTlsContext, UpstreamTransportSocket } from '../config/snapshot.js';
import { WORKLOAD_CERT_SECRET } from '../config/secret-names.js';
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

/**
 * Istio's metadata-exchange ALPN: a peer that negotiates it sends (and expects) the MX preamble
 * before any data, which Outrigger does not speak. It is never offered to an upstream nor selected
 * for a client, whatever the context lists; peers then exchange plain bytes, as with `istio`.
 */
const PEER_EXCHANGE_ALPN = 'istio-peer-exchange';

function withoutPeerExchange(protocols: readonly string[]): string[] {
  return protocols.filter((p) => p !== PEER_EXCHANGE_ALPN);
}

/** Envoy's TlsParameters as Node's TLS options (versions, TLS 1.2 ciphers, ECDH groups). */
type NodeTlsParams = Pick<TlsOptions, 'minVersion' | 'maxVersion' | 'ciphers' | 'ecdhCurve'>;

/** An UpstreamTlsContext compiled once: the secrets it is built from and its peer checks. */
interface CompiledUpstream {
  certSecret?: string;
  caSecret?: string;
  /** Peer validation configured (a CA secret or the system roots); without, nothing is verified. */
  verify: boolean;
  params: NodeTlsParams;
  checkSans: SanCheck;
  alpn?: string[];
  alpnHttp?: string[];
}

/**
 * A worker's TLS: the Snapshot's SDS secrets, and the handshake servers and client contexts the
 * TLS contexts of its listeners and clusters name them in, each built once per version of its
 * secrets. A rotated secret (a Snapshot whose only change is a secret) rebuilds those alone:
 * connections already up keep theirs, new handshakes use the new material.
 */
export class TlsStore {
  /** The Snapshot's SDS secrets by name. */
  private secrets = new Map<string, Secret>();
  /** The SPIFFE identity of the workload certificate (`default`). */
  private identity: string | undefined;
  /**
   * Handshake servers of the DownstreamTlsContexts, by their content (secret names, ALPN, checks):
   * tls.Servers that never listen; sockets are handed to them, so Node's own verification (client
   * certificate chained to the CA) decides `authorized`, which a bare TLSSocket would not check.
   * Dropped when one of their secrets changes: handshakes under way finish on the old server, new
   * ones get a server (and a session cache) with the new material.
   */
  private readonly servers = new Map<string, { server: Server | Error; secrets: string[] }>();
  /** Each DownstreamTlsContext of a Snapshot to its key in `servers`, so a connection serializes nothing. */
  private readonly serverKeys = new WeakMap<DownstreamTlsContext, string>();
  private readonly handshakes = new Map<string, (socket: TLSSocket | undefined) => void>();
  /** Client SecureContexts by the secrets they are built from; dropped when one of those changes. */
  private readonly clientContexts = new Map<string, { context: SecureContext; secrets: string[] }>();
  /** Each UpstreamTlsContext of a Snapshot, compiled the first time a connection uses it. */
  private readonly upstreamByConfig = new WeakMap<UpstreamTlsContext, CompiledUpstream>();

  /**
   * Takes the Snapshot's secrets: the servers and client contexts built from a secret whose content
   * changed are dropped (the next handshake builds them again, once), the others kept.
   */
  update(secrets: readonly Secret[]): void {
    const previous = this.secrets;
    this.secrets = new Map(secrets.map((s) => [s.name, s]));
    const changed = (name: string) => !sameSecret(previous.get(name), this.secrets.get(name));
    for (const [key, entry] of this.clientContexts) if (entry.secrets.some(changed)) this.clientContexts.delete(key);
    for (const [key, entry] of this.servers) if (entry.secrets.some(changed)) this.servers.delete(key);
    if (changed(WORKLOAD_CERT_SECRET)) {
      const cert = this.secrets.get(WORKLOAD_CERT_SECRET);
      this.identity = cert && 'tlsCertificate' in cert ? peerIdentityFromCert(cert.tlsCertificate.certificateChain)?.spiffeId : undefined;
    }
  }

  /** A handshake server; `check`: what a client certificate must pass for the handshake to count (Envoy's require_client_certificate, SANs). */
  private createServer(options: TlsOptions, check: ((socket: TLSSocket) => boolean) | undefined): Server {
    const server = nodeTls().createServer({ ...options, handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS });
    const settle = (socket: TLSSocket, ok: boolean) => {
      const key = socketKey(socket);
      const done = this.handshakes.get(key);
      if (!done) return;
      this.handshakes.delete(key);
      done(ok ? socket : undefined);
    };
    server.on('secureConnection', (socket: TLSSocket) => settle(socket, !check || check(socket)));
    server.on('tlsClientError', (_err, socket: TLSSocket) => settle(socket, false));
    return server;
  }

  /**
   * Terminates TLS as the DownstreamTlsContext says: runs the handshake on `socket` (bytes already
   * read must have been unshifted) and calls back with the TLS socket, or undefined (a secret
   * missing, handshake failure, a required client certificate absent, untrusted or of the wrong
   * identity, timeout).
   */
  terminate(socket: Socket, tls: DownstreamTlsContext, done: (secure: TLSSocket | undefined) => void): void {
    const server = this.serverFor(tls);
    if (server instanceof Error) {
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

  /** Forgets the handshake servers of contexts no listener uses any more. */
  retainServers(listeners: readonly Listener[]): void {
    const used = new Set<string>();
    for (const l of listeners) {
      for (const c of [...l.filterChains, ...(l.defaultFilterChain ? [l.defaultFilterChain] : [])]) if (c.transportSocket) used.add(this.serverKey(c.transportSocket.typedConfig));
    }
    for (const key of this.servers.keys()) if (!used.has(key)) this.servers.delete(key);
  }

  /** The SPIFFE identity of the workload certificate (`default`). */
  get workloadIdentity(): string | undefined {
    return this.identity;
  }

  private serverKey(tls: DownstreamTlsContext): string {
    let key = this.serverKeys.get(tls);
    if (key === undefined) this.serverKeys.set(tls, (key = JSON.stringify(tls)));
    return key;
  }

  /** The handshake server of a context, built once per version of its secrets. */
  private serverFor(tls: DownstreamTlsContext): Server | Error {
    const key = this.serverKey(tls);
    const known = this.servers.get(key);
    if (known) return known.server;
    const common = tls.commonTlsContext;
    const certName = common.tlsCertificateSdsSecretConfigs?.[0]?.name;
    const combined = common.combinedValidationContext;
    const caName = combined?.validationContextSdsSecretConfig.name;
    const names = [certName, caName].filter((n): n is string => n !== undefined);
    const cert = certName === undefined ? undefined : this.secrets.get(certName);
    const ca = caName === undefined ? undefined : this.secrets.get(caName);
    let server: Server | Error;
    if (!(cert && 'tlsCertificate' in cert)) server = missingSecret(certName ?? '(no certificate)');
    else if (caName !== undefined && !(ca && 'validationContext' in ca)) server = missingSecret(caName);
    else {
      const verify = !!combined || !!common.validationContext;
      const require = verify && !!tls.requireClientCertificate;
      const sans = compileSanCheck(combined?.defaultValidationContext ?? common.validationContext);
      const alpn = withoutPeerExchange(common.alpnProtocols ?? []);
      server = this.createServer(
        {
          key: cert.tlsCertificate.privateKey,
          cert: cert.tlsCertificate.certificateChain,
          ...(ca && 'validationContext' in ca ? { ca: ca.validationContext.trustedCa } : {}),
          ...nodeTlsParams(common.tlsParams),
          ...(alpn.length ? { ALPNCallback: ({ protocols }: { protocols: string[] }) => selectAlpn(alpn, protocols) } : {}),
          requestCert: verify,
          rejectUnauthorized: require,
        },
        // a certificate presented is checked even where it is optional (Envoy verifies what it gets):
        // an untrusted one must not pass as the peer's identity
        verify ? (s) => (presentedCertificate(s) ? s.authorized && !sans(s.getPeerCertificate()) : !require) : undefined,
      );
    }
    this.servers.set(key, { server, secrets: names });
    return server;
  }

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
      // with SANs Envoy checks them instead of the host name; without, any name the CA vouches for;
      // auto_san_validation: the name the SNI gives (Node's own host name check)
      checkServerIdentity: !compiled.verify ? () => undefined : cluster.autoSanValidation ? nodeTls().checkServerIdentity : (_host, cert) => check(cert),
    };
  }

  /** The SecureContext of these secrets, built once per version of them. */
  private clientContext(c: CompiledUpstream): SecureContext | Error {
    const names = [c.certSecret, c.caSecret].filter((n): n is string => n !== undefined);
    const key = JSON.stringify([c.certSecret, c.caSecret, c.params]);
    const known = this.clientContexts.get(key);
    if (known) return known.context;
    const cert = c.certSecret === undefined ? undefined : this.secrets.get(c.certSecret);
    const ca = c.caSecret === undefined ? undefined : this.secrets.get(c.caSecret);
    if (c.certSecret !== undefined && !(cert && 'tlsCertificate' in cert)) return missingSecret(c.certSecret);
    if (c.caSecret !== undefined && !(ca && 'validationContext' in ca)) return missingSecret(c.caSecret);
    const context = nodeTls().createSecureContext({
      ...(cert && 'tlsCertificate' in cert ? { cert: cert.tlsCertificate.certificateChain, key: cert.tlsCertificate.privateKey } : {}),
      ...(ca && 'validationContext' in ca ? { ca: ca.validationContext.trustedCa } : {}),
      ...c.params,
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
  const offered = withoutPeerExchange(common.alpnProtocols ?? []);
  const alpn = offered.length ? offered : undefined;
  return {
    ...(certSecret !== undefined ? { certSecret } : {}),
    ...(combined ? { caSecret: combined.validationContextSdsSecretConfig.name } : {}),
    verify: !!combined || !!common.validationContext,
    params: nodeTlsParams(common.tlsParams),
    checkSans: compileSanCheck(validation),
    ...(alpn ? { alpn } : {}),
    ...(alpn?.includes('istio') ? { alpnHttp: ISTIO_ALPN_HTTP } : {}),
  };
}

let defaultTls13Suites: string[] | undefined;
/** The TLS 1.3 suites Node offers by default: Envoy's cipher_suites leave TLS 1.3 alone, Node's `ciphers` would drop them. */
function tls13Suites(): string[] {
  return (defaultTls13Suites ??= nodeTls().DEFAULT_CIPHERS.split(':').filter((c) => c.startsWith('TLS_')));
}

/**
 * Envoy's TlsParameters as Node's options. Minimum: TLS_AUTO, older versions and unset are TLS 1.2
 * (Envoy's default, and the floor Outrigger keeps). Maximum: unset keeps Node's (TLS 1.3).
 */
function nodeTlsParams(p: TlsParameters | undefined): NodeTlsParams {
  const max = p?.tlsMaximumProtocolVersion;
  return {
    minVersion: p?.tlsMinimumProtocolVersion === 'TLSv1_3' ? 'TLSv1.3' : 'TLSv1.2',
    ...(max === 'TLSv1_2' || max === 'TLSv1_3' ? { maxVersion: nodeVersion(max) } : {}),
    ...(p?.cipherSuites?.length ? { ciphers: [...p.cipherSuites, ...tls13Suites()].join(':') } : {}),
    ...(p?.ecdhCurves?.length ? { ecdhCurve: p.ecdhCurves.join(':') } : {}),
  };
}

function nodeVersion(v: 'TLSv1_2' | 'TLSv1_3'): 'TLSv1.2' | 'TLSv1.3' {
  return v === 'TLSv1_3' ? 'TLSv1.3' : 'TLSv1.2';
}

function missingSecret(name: string): Error {
  return new Error(`TLS secret "${name}" is not available${name === 'default' ? ' (the workload certificate: --cert-dir)' : ''}`);
}

/**
 * Envoy's ALPN selection on a server: its first protocol the client offers. Where none is, Envoy
 * completes the handshake without ALPN; Node can only pick one of the client's or refuse, so the
 * client's first that is not HTTP/2 is picked (the codec then treats the connection as it would
 * without ALPN: HTTP/1 or bytes), and a client offering HTTP/2 alone is refused.
 */
export function selectAlpn(server: readonly string[], client: readonly string[]): string | undefined {
  return server.find((p) => p !== PEER_EXCHANGE_ALPN && client.includes(p)) ?? client.find((p) => p !== 'h2' && p !== 'istio-h2' && p !== PEER_EXCHANGE_ALPN);
}

/** Whether the peer presented a certificate (Node gives an empty object when it did not). */
function presentedCertificate(socket: TLSSocket): boolean {
  return !!socket.getPeerCertificate()?.raw;
}

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
