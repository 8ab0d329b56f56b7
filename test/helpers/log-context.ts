import type { LogContext } from '../../src/common/log-context.js';

/** 2020-11-25T21:26:18.409Z, the timestamp of Istio's docs lines. */
export const LOG_START = Date.UTC(2020, 10, 25, 21, 26, 18, 409);

type Headers = Record<string, string>;

export interface FakeInput extends Partial<Omit<LogContext, 'requestHeader' | 'responseHeader' | 'responseTrailer' | 'filterState'>> {
  /** Lower-case names, as the connection manager hands them over. */
  request?: Headers;
  response?: Headers;
  trailers?: Headers;
  state?: Record<string, unknown>;
}

/** A finished HTTP request (override anything); headers are looked up by lower-case name. */
export function fakeContext(input: FakeInput = {}): LogContext {
  const { request = {}, response = {}, trailers = {}, state = {}, ...fields } = input;
  const lookup = (h: Headers) => (name: string) => (Object.hasOwn(h, name) ? h[name] : undefined);
  return {
    kind: 'http',
    startTimeMs: LOG_START,
    durationMs: 4,
    requestDurationMs: 1,
    responseDurationMs: 3,
    protocol: 'HTTP/1.1',
    requestHeader: lookup(request),
    responseHeader: lookup(response),
    responseTrailer: lookup(trailers),
    requestHeaderList: Object.entries(request).flat(),
    responseHeaderList: Object.entries(response).flat(),
    responseCode: 200,
    responseFlags: '-',
    responseCodeDetails: 'via_upstream',
    connectionTerminationDetails: undefined,
    upstreamTransportFailureReason: undefined,
    bytesReceived: 0,
    bytesSent: 135,
    upstreamHost: '10.44.1.27:80',
    upstreamCluster: 'outbound|8000||httpbin.foo.svc.cluster.local',
    upstreamLocalAddress: '10.44.1.23:37652',
    upstreamRequestAttemptCount: 1,
    downstreamLocalAddress: '10.0.45.184:8000',
    downstreamRemoteAddress: '10.44.1.23:46520',
    downstreamDirectRemoteAddress: '10.44.1.23:46520',
    requestedServerName: undefined,
    routeName: 'default',
    downstreamPeerUriSan: undefined,
    downstreamLocalUriSan: undefined,
    grpcStatus: undefined,
    traceId: undefined,
    traced: false,
    traceForced: false,
    healthCheck: false,
    connectionId: 7,
    metadata: {},
    filterState: (name) => state[name],
    ...fields,
  };
}

