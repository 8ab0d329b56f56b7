import type { LogContext } from '../../common/log-context.js';

/** What the TCP proxy knows of a closed connection. */
export interface FinishedConnection {
  startTimeMs: number;
  durationMs: number;
  responseFlags: string;
  bytesReceived: number;
  bytesSent: number;
  upstreamHost: string | undefined;
  upstreamCluster: string | undefined;
  upstreamLocalAddress: string | undefined;
  downstreamLocalAddress: string;
  downstreamRemoteAddress: string;
  requestedServerName: string | undefined;
  downstreamPeerUriSan: string | undefined;
}

const NONE = (): undefined => undefined;
const EMPTY: readonly string[] = [];

/** A TCP proxy connection as access logs read it: no headers, no response code. */
export function tcpLogContext(c: FinishedConnection): LogContext {
  return {
    kind: 'tcp',
    ...c,
    requestDurationMs: undefined,
    responseDurationMs: undefined,
    protocol: undefined,
    requestHeader: NONE,
    responseHeader: NONE,
    responseTrailer: NONE,
    requestHeaderList: EMPTY,
    responseHeaderList: EMPTY,
    responseCode: 0,
    responseCodeDetails: undefined,
    connectionTerminationDetails: undefined,
    upstreamTransportFailureReason: undefined,
    upstreamRequestAttemptCount: undefined,
    downstreamDirectRemoteAddress: c.downstreamRemoteAddress,
    routeName: undefined,
    downstreamLocalUriSan: undefined,
    grpcStatus: undefined,
    traceId: undefined,
    traced: false,
    traceForced: false,
    healthCheck: false,
    connectionId: undefined,
    metadata: {},
    filterState: NONE,
  };
}
