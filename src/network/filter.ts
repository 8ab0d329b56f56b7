/**
 * The network filter contract (Envoy's Network::ReadFilter): a filter chain's filters run in order
 * on each new connection, each built per connection by its factory from the config parsed at load.
 * A filter may stop the iteration (ext_authz while its Check runs) and continue it later, or close
 * the connection (rbac on deny). The last filter is terminal: it takes over the socket (the TCP
 * proxy, the HTTP connection manager) and reads everything the client sends from then on.
 */
import type { Socket } from 'node:net';
import type { Downstream, DownstreamEvents } from '../codec/downstream.js';
import type { HttpConnectionManager, Listener } from '../config/snapshot.js';
import type { PeerIdentity } from '../security/peer.js';
import type { ListenerStats } from '../telemetry/stats.js';
import type { HttpPipeline, Runtime } from '../worker/runtime.js';

/** Envoy's Network::FilterStatus. */
export type NetworkFilterStatus = 'continue' | 'stop';

export interface Address {
  readonly address: string;
  readonly port: number;
}

/** What is known of a connection once its chain is chosen and its transport socket is up. */
export interface NetworkConnection {
  /** The socket the filters read and write: the TLS socket once the transport socket terminated TLS. */
  readonly socket: Socket;
  readonly listenerName: string;
  readonly chainName: string;
  /** The client's address (IPv4-mapped IPv6 unwrapped). */
  readonly sourceAddress: string;
  /** Where the client connected: its original destination when iptables redirected it, else the listener's address. */
  readonly destination: Address;
  /** Set only when the connection was redirected here (use_original_dst). */
  readonly originalDestination?: Address;
  /** The TLS SNI protocol inspection saw. */
  readonly serverName?: string;
  /** The mTLS peer, when the transport socket terminated TLS with a client certificate. */
  readonly peer?: PeerIdentity;
  /** The transport socket terminated TLS. */
  readonly secure: boolean;
  /** Bytes protocol inspection read ahead, not yet consumed (none over TLS: the handshake took them). */
  readonly readAhead?: Buffer;
  /** The client half-closed during inspection: `readAhead` is all it sent. */
  readonly ended: boolean;
  /** Inspection left the socket paused: the terminal filter resumes it. */
  readonly paused: boolean;
  /** The listener's counters (rbac.denied, ...). */
  readonly stats: ListenerStats;
}

/**
 * What the worker keeps of a connection a filter holds: counted while active, drained (HTTP: close
 * after the response in flight) and destroyed when the worker closes.
 */
export interface TrackedConnection {
  drain?(): void;
  destroy(): void;
}

/** The worker that owns the connection, as its filters see it. */
export interface ConnectionOwner {
  /** Tracks a connection of a listener until the returned function is called (a drain of that listener reaches it). */
  track(c: TrackedConnection, listenerName: string): () => void;
  /** A request on an HTTP connection: the current config's pipeline for the listener and chain serves it. */
  onRequest(listenerName: string, chainName: string, ds: Downstream): DownstreamEvents | undefined;
}

/** Envoy's ReadFilterCallbacks: what a filter may do with its connection. */
export interface NetworkFilterCallbacks {
  readonly connection: NetworkConnection;
  readonly owner: ConnectionOwner;
  /** Resumes the iteration a filter stopped (Envoy continueReading). */
  continueReading(): void;
  /** Closes the connection at once; no later filter runs. */
  close(): void;
}

export interface NetworkFilter {
  /** A new connection: `stop` holds the filters after this one until continueReading(). */
  onNewConnection(): NetworkFilterStatus;
  /**
   * The bytes the connection sent so far (protocol inspection's read-ahead), once this filter let
   * the connection through; not called on the terminal filter, which reads the socket itself.
   */
  onData?(data: Buffer, endStream: boolean): NetworkFilterStatus;
}

/** Builds a chain's filter for one connection. */
export type NetworkFilterCreator = (callbacks: NetworkFilterCallbacks) => NetworkFilter;

/** What a factory may use at config load, for the chain it builds a filter for. */
export interface NetworkFilterFactoryContext {
  readonly listener: Listener;
  readonly chainName: string;
  /** The Runtime being compiled: its clusters are looked up per connection (they compile after the listeners). */
  readonly runtime: Runtime;
  /** The HTTP connection manager compiled (shared by chains with the same config object). */
  httpPipeline(hcm: HttpConnectionManager): HttpPipeline;
}

export interface NetworkFilterFactory<C = unknown, P = C> {
  /** The Envoy name, e.g. `envoy.filters.network.tcp_proxy`, so xDS maps 1:1. */
  readonly name: string;
  /** Validates and compiles the typed config at load; throws ConfigError naming the bad field. */
  parse(typedConfig: C, context: NetworkFilterFactoryContext): P;
  /** Whether the filter ends a chain (it takes over the socket). */
  readonly terminal: boolean;
  create(parsed: P, context: NetworkFilterFactoryContext): NetworkFilterCreator;
}
