import type { ClientHttp2Session, SecureClientSessionOptions, Settings } from 'node:http2';
import type { Socket } from 'node:net';
import type { ConnectionOptions, TLSSocket } from 'node:tls';
import { connectUpstream } from '../connect.js';
import type { UpstreamExchange, UpstreamHandler, UpstreamRequest } from '../exchange.js';
import { ActiveClient, ClientState } from '../pool-base.js';
import { H2UpstreamExchange } from './exchange.js';
import type { H2Pool } from './pool.js';
import { nodeHttp2 } from '../../common/node-builtins.js';

/** Envoy's default upstream max_concurrent_streams (and what a session assumes before the peer's SETTINGS). */
export const DEFAULT_MAX_STREAMS = 2 ** 31 - 1;

/**
 * TLS options for an h2 session: ALPN offers h2, keeping the caller's non-HTTP entries (Istio's
 * `istio`, as Istio's ALPNInMeshH2 = [istio, h2]) and dropping those that
 * name HTTP/1 (`http/1.1`, `istio-http/1.1`).
 */
export function h2TlsOptions(tls: ConnectionOptions): ConnectionOptions {
  const given = Array.isArray(tls.ALPNProtocols) ? (tls.ALPNProtocols as unknown[]).filter((p): p is string => typeof p === 'string') : [];
  const alpn = given.filter((p) => !p.includes('http/1'));
  if (!alpn.includes('h2')) alpn.push('h2');
  return { ...tls, ALPNProtocols: alpn };
}

/**
 * One HTTP/2 connection (counted as one upstream connection): ready once the peer's first SETTINGS
 * says how many streams it may carry, draining after a GOAWAY.
 */
export class H2Session extends ActiveClient {
  session: ClientHttp2Session | undefined;
  private readonly socket: Socket;
  private readonly tls: boolean;
  /** :scheme of its requests: the transport this session really has (tls() may give no TLS for some endpoints). */
  readonly scheme: 'http' | 'https';

  constructor(readonly pool: H2Pool) {
    super();
    const opts = pool.options;
    const tls = opts.tls?.();
    this.tls = tls !== undefined;
    this.scheme = this.tls ? 'https' : 'http';
    const up = connectUpstream(pool.address, pool.port, { ...opts.source, tls: tls instanceof Error || !tls ? tls : h2TlsOptions(tls) });
    this.socket = up.socket;
    this.socket.once(up.readyEvent, this.onSocketReady);
    this.socket.on('error', this.onSocketError);
    this.socket.on('close', this.onSocketClose);
  }

  private readonly onSocketError = (err: Error): void => {
    this.error ??= err;
  };

  /** Before the session owns the socket, its close is ours to handle. */
  private readonly onSocketClose = (): void => {
    if (!this.session) this.onClosed();
  };

  private readonly onSocketReady = (): void => {
    if (this.state !== ClientState.Connecting) return;
    if (this.tls && (this.socket as TLSSocket).alpnProtocol !== 'h2') {
      const got = (this.socket as TLSSocket).alpnProtocol;
      this.pool.clientFailed(this, 'protocol_error', new Error(`upstream did not negotiate h2 over TLS (ALPN: ${got || 'none'})`));
      return;
    }
    this.socket.removeListener('close', this.onSocketClose);
    const socket = this.socket;
    const options: SecureClientSessionOptions = { createConnection: () => socket, settings: this.pool.settings };
    const session = nodeHttp2().connect(this.pool.authorityUrl, options);
    this.session = session;
    session.on('remoteSettings', (settings: Settings) => this.onRemoteSettings(settings));
    // GOAWAY: no new streams; those above its last stream id are refused by nghttp2 (REFUSED_STREAM,
    // reset_before_headers), the others finish, and node closes the session when they are done
    session.on('goaway', () => this.pool.clientDraining(this));
    session.on('error', (err: Error) => (this.error ??= err));
    session.on('close', () => this.onClosed());
  };

  /** The peer's SETTINGS: the first one makes the session ready; later ones may change the stream limit. */
  private onRemoteSettings(settings: Settings): void {
    const peerMax = settings.maxConcurrentStreams ?? DEFAULT_MAX_STREAMS;
    this.pool.notePeerMaxStreams(peerMax);
    const capacity = Math.min(peerMax, this.pool.options.maxConcurrentStreams ?? DEFAULT_MAX_STREAMS);
    if (this.state === ClientState.Connecting) this.pool.clientReady(this, capacity);
    else this.pool.clientCapacity(this, capacity);
  }

  override newStream(req: UpstreamRequest, handler: UpstreamHandler): UpstreamExchange | undefined {
    const ex = new H2UpstreamExchange(this, req, handler);
    return ex.open(req) ? ex : undefined;
  }

  /** An exchange on this session ended (its stream is closed or being reset). */
  streamDone(): void {
    this.pool.streamDone(this);
  }

  /** Graceful close (GOAWAY; open streams finish), or the end of a connect not yet up. */
  override close(): void {
    if (this.session) {
      if (!this.session.closed) this.session.close();
    } else {
      this.socket.destroy();
    }
  }

  override destroy(): void {
    if (this.session) this.session.destroy();
    else this.socket.destroy();
  }

  private onClosed(): void {
    this.socket.destroy();
    this.pool.clientClosed(this);
  }
}
