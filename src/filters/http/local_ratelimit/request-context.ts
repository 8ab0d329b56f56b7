/**
 * The request in progress as the rate limit actions read it when the filter runs (request headers
 * decoded, no response yet): a DescriptorSource, and for CEL expressions a LogContext whose
 * response, upstream and byte counters are not known yet (undefined, 0, empty).
 */
import { hostPort } from '../../../common/address.js';
import type { LogContext } from '../../../common/log-context.js';
import type { FilterCallbacks, RequestHeaders } from '../../../http/filter.js';
import type { DescriptorSource } from '../../../router/rate-limit-descriptors.js';
import { getJoinedFromList } from '../../../router/headers.js';

/** A pseudo-header's value, or undefined for a regular header name. */
function pseudoHeader(name: string, headers: RequestHeaders, stream: FilterCallbacks): string | undefined {
  switch (name) {
    case ':path':
      return headers.path;
    case ':method':
      return headers.method;
    case ':authority':
      return headers.authority || undefined;
    case ':scheme':
      return stream.connection.scheme;
    default:
      return undefined;
  }
}

export class RequestDescriptorSource implements DescriptorSource {
  private context: LogContext | undefined;

  constructor(
    private readonly headers: RequestHeaders,
    private readonly stream: FilterCallbacks,
    readonly localServiceCluster: string | undefined,
  ) {}

  header(name: string): string | undefined {
    return name.charCodeAt(0) === 58 /* ':' */ ? pseudoHeader(name, this.headers, this.stream) : this.headers.get(name);
  }

  joinedHeader(name: string): string | undefined {
    return name.charCodeAt(0) === 58 ? pseudoHeader(name, this.headers, this.stream) : getJoinedFromList(this.stream.requestHeaderList, name);
  }

  get remoteAddress(): string {
    return this.stream.streamInfo.downstreamRemoteAddress;
  }

  get destinationCluster(): string | undefined {
    return this.stream.streamInfo.upstreamCluster;
  }

  logContext(): LogContext {
    return (this.context ??= new RequestInProgress(this.headers, this.stream));
  }
}

/** A LogContext over a request whose headers were decoded and whose response has not started. */
export class RequestInProgress implements LogContext {
  readonly kind = 'http' as const;
  readonly requestDurationMs = undefined;
  readonly responseDurationMs = undefined;
  readonly responseHeaderList: readonly string[] = [];
  readonly responseCode = 0;
  readonly responseFlags = '-';
  readonly responseCodeDetails = undefined;
  readonly connectionTerminationDetails = undefined;
  readonly upstreamTransportFailureReason = undefined;
  readonly bytesReceived = 0;
  readonly bytesSent = 0;
  readonly upstreamHost = undefined;
  readonly upstreamCluster = undefined;
  readonly upstreamLocalAddress = undefined;
  readonly upstreamRequestAttemptCount = undefined;
  readonly downstreamLocalUriSan = undefined;
  readonly grpcStatus = undefined;
  readonly traceId = undefined;
  readonly traced = false;
  readonly traceForced = false;
  readonly healthCheck = false;
  readonly connectionId = undefined;

  constructor(
    private readonly headers: RequestHeaders,
    private readonly stream: FilterCallbacks,
  ) {}

  get startTimeMs(): number {
    return this.stream.streamInfo.startTimeMs;
  }

  get durationMs(): number {
    return Date.now() - this.stream.streamInfo.startTimeMs;
  }

  get protocol(): string {
    return this.stream.connection.protocol;
  }

  requestHeader(name: string): string | undefined {
    return name.charCodeAt(0) === 58 ? pseudoHeader(name, this.headers, this.stream) : this.headers.get(name);
  }

  responseHeader(): undefined {
    return undefined;
  }

  responseTrailer(): undefined {
    return undefined;
  }

  get requestHeaderList(): readonly string[] {
    return this.stream.requestHeaderList;
  }

  /** The original destination of a captured connection, else the address it reached. */
  get downstreamLocalAddress(): string {
    const c = this.stream.connection;
    return c.originalDestination ? hostPort(c.originalDestination.address, c.originalDestination.port) : hostPort(c.localAddress, c.localPort);
  }

  /** The trusted client address; port 0 when it came from x-forwarded-for (as the access log prints it). */
  get downstreamRemoteAddress(): string {
    const c = this.stream.connection;
    const client = this.stream.streamInfo.downstreamRemoteAddress;
    return hostPort(client, client === c.remoteAddress ? c.remotePort : 0);
  }

  get downstreamDirectRemoteAddress(): string {
    const c = this.stream.connection;
    return hostPort(c.remoteAddress, c.remotePort);
  }

  get requestedServerName(): string | undefined {
    return this.stream.connection.peer?.sni;
  }

  get routeName(): string | undefined {
    return this.stream.streamInfo.routeName;
  }

  /** The mTLS peer's first URI SAN (its SPIFFE id). */
  get downstreamPeerUriSan(): string | undefined {
    return this.stream.connection.peer?.uris[0];
  }

  get metadata(): Readonly<Record<string, unknown>> {
    return this.stream.metadata;
  }

  filterState(): unknown {
    return undefined;
  }
}
