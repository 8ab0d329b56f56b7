import type { ConnectionOwner, NetworkConnection, NetworkFilter, NetworkFilterCallbacks, NetworkFilterCreator, NetworkFilterStatus } from './filter.js';

/**
 * Envoy's FilterManager for one connection's read filters: each filter in chain order sees the new
 * connection, then the bytes inspection read ahead (not the terminal one: it takes over the socket
 * and reads them itself). A `stop` holds the filters after it until that filter calls
 * continueReading(); a close (or the socket going away) ends the iteration for good.
 */
export class NetworkFilterManager implements NetworkFilterCallbacks {
  private readonly filters: NetworkFilter[] = [];
  /** The filter whose turn it is, and which of its hooks runs next. */
  private current = 0;
  private stage: 'connection' | 'data' = 'connection';
  private stopped = false;
  private closed = false;

  constructor(
    readonly connection: NetworkConnection,
    readonly owner: ConnectionOwner,
    private readonly creators: readonly NetworkFilterCreator[],
  ) {}

  /** Builds the chain's filters for this connection and runs them. */
  start(): void {
    for (const create of this.creators) this.filters.push(create(this));
    this.iterate();
  }

  continueReading(): void {
    if (!this.stopped || this.closed) return;
    this.stopped = false;
    this.iterate();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.connection.socket.destroy();
  }

  private iterate(): void {
    const last = this.filters.length - 1;
    while (this.current <= last) {
      if (this.closed || this.connection.socket.destroyed) return;
      if (this.step(this.filters[this.current], this.current === last) === 'stop') {
        this.stopped = true;
        return;
      }
    }
  }

  /** The current filter's next hook: the new connection, then the read-ahead bytes. */
  private step(f: NetworkFilter, terminal: boolean): NetworkFilterStatus {
    if (this.stage === 'connection') {
      this.stage = 'data';
      return f.onNewConnection();
    }
    this.stage = 'connection';
    this.current++;
    const bytes = this.connection.readAhead;
    return !terminal && f.onData && bytes ? f.onData(bytes, this.connection.ended) : 'continue';
  }
}
