import type { Settings } from 'node:http2';
import { hostPort } from '../../common/address.js';
import { ConnPoolBase, type PoolOptions, type PoolStats } from '../pool-base.js';
import { DEFAULT_MAX_STREAMS, H2Session } from './session.js';

export interface H2PoolOptions extends PoolOptions {
  /**
   * Most streams this pool opens on one session; the peer's SETTINGS_MAX_CONCURRENT_STREAMS applies
   * when lower. Absent: 2^31-1 (Envoy's default for upstream HTTP/2).
   */
  maxConcurrentStreams?: number;
}

/**
 * HTTP/2 connections (sessions) to one endpoint, each multiplexing up to the peer's
 * SETTINGS_MAX_CONCURRENT_STREAMS (or `maxConcurrentStreams` when lower) exchanges. When every
 * session is full, another is opened if the circuit breakers allow, else the request waits
 * (max_pending_requests) or overflows (ConnPoolBase).
 */
export class H2Pool extends ConnPoolBase<H2Session> {
  /** The peer's last SETTINGS_MAX_CONCURRENT_STREAMS: how many requests a new session can be assumed to take. */
  private peerMaxStreams = DEFAULT_MAX_STREAMS;
  /** `http://host:port` for http2.connect (only used for its defaults: we send every pseudo-header). */
  readonly authorityUrl: string;
  /** :authority when the request has no host header. */
  readonly defaultAuthority: string;
  /** Our SETTINGS: no server push; the header list size we accept (advisory: node does not enforce it, the exchange does). */
  readonly settings: Settings;

  constructor(
    address: string,
    port: number,
    override readonly options: H2PoolOptions,
    stats?: PoolStats,
  ) {
    super(address, port, options, stats);
    this.defaultAuthority = hostPort(address, port);
    this.authorityUrl = `${options.tls ? 'https' : 'http'}://${this.defaultAuthority}`;
    this.settings = { enablePush: false, maxHeaderListSize: Math.min(Math.max(options.maxHeaderBytes, 0), 2 ** 32 - 1) };
  }

  protected override createClient(): H2Session {
    return new H2Session(this);
  }

  protected override expectedStreams(): number {
    return Math.min(this.options.maxConcurrentStreams ?? DEFAULT_MAX_STREAMS, this.peerMaxStreams);
  }

  /** The peer's SETTINGS_MAX_CONCURRENT_STREAMS, remembered for sessions opened later. */
  notePeerMaxStreams(n: number): void {
    this.peerMaxStreams = n;
  }
}
