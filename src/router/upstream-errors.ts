import { httpToGrpcStatus } from '../http/local-reply.js';
import { ResponseFlag, type ResponseFlagValue } from '../http/response-flags.js';
import { isHttp2ErrorCode, type UpstreamError } from '../upstream/exchange.js';

/**
 * Why the router (or the connection manager) answers a request itself, or resets it: an upstream
 * failure, named after Envoy's stream reset reasons, or a local cause.
 */
export type LocalCause =
  | 'connection_failure'
  | 'connection_timeout'
  | 'overflow'
  | 'protocol_error'
  | 'remote_reset'
  | 'remote_refused_stream_reset'
  | 'connection_termination'
  | 'route_timeout'
  | 'per_try_timeout'
  | 'request_body_overflow'
  | 'no_healthy_upstream'
  | 'cluster_not_found'
  | 'route_not_found'
  | 'upgrade_failed'
  | 'overload';

/** How one cause is answered. */
export interface LocalReplySpec {
  readonly status: number;
  readonly body: string;
  readonly flag: ResponseFlagValue | undefined;
  /** %RESPONSE_CODE_DETAILS%: Envoy's words for the cause. */
  readonly details: string | undefined;
  /** What a gRPC client gets instead (HTTP 200, grpc-status): Envoy's httpToGrpcStatus, DEADLINE_EXCEEDED for timeouts. */
  readonly grpcStatus: number;
}

const BEFORE_HEADERS = 'upstream connect error or disconnect/reset before headers. reset reason: ';
const DEADLINE_EXCEEDED = 4;

/** Every cause with its answer: the one place status, body, flag, details and gRPC status are decided. */
export const LOCAL_REPLIES: Readonly<Record<LocalCause, LocalReplySpec>> = {
  // upstream failures (Envoy's router: a protocol error is the upstream's fault, 502; other resets 503)
  connection_failure: reply(503, `${BEFORE_HEADERS}connection failure`, ResponseFlag.UpstreamConnectionFailure, resetBefore('connection_failure')),
  connection_timeout: reply(503, `${BEFORE_HEADERS}connection timeout`, ResponseFlag.UpstreamConnectionFailure, resetBefore('connection_timeout')),
  overflow: reply(503, `${BEFORE_HEADERS}overflow`, ResponseFlag.UpstreamOverflow, resetBefore('overflow')),
  protocol_error: reply(502, `${BEFORE_HEADERS}protocol error`, ResponseFlag.UpstreamProtocolError, resetBefore('protocol_error')),
  remote_reset: reply(503, `${BEFORE_HEADERS}remote reset`, ResponseFlag.UpstreamRemoteReset, resetBefore('remote_reset')),
  remote_refused_stream_reset: reply(503, `${BEFORE_HEADERS}remote refused stream reset`, ResponseFlag.UpstreamRemoteReset, resetBefore('remote_refused_stream_reset')),
  connection_termination: reply(503, `${BEFORE_HEADERS}connection termination`, ResponseFlag.UpstreamConnectionTermination, resetBefore('connection_termination')),
  // the router's own decisions
  route_timeout: reply(504, 'upstream request timeout', ResponseFlag.UpstreamRequestTimeout, 'upstream_response_timeout', DEADLINE_EXCEEDED),
  per_try_timeout: reply(504, 'upstream request timeout', ResponseFlag.UpstreamRequestTimeout, 'upstream_per_try_timeout', DEADLINE_EXCEEDED),
  request_body_overflow: reply(507, 'exceeded request buffer limit while retrying upstream', undefined, 'request_payload_exceeded_retry_buffer_limit'),
  no_healthy_upstream: reply(503, 'no healthy upstream', ResponseFlag.NoHealthyUpstream, 'no_healthy_upstream'),
  cluster_not_found: reply(503, '', ResponseFlag.NoClusterFound, 'cluster_not_found'),
  // the connection manager's
  route_not_found: reply(404, '', ResponseFlag.NoRouteFound, 'route_not_found'),
  upgrade_failed: reply(403, '', undefined, 'upgrade_failed'),
  overload: reply(503, 'envoy overloaded', ResponseFlag.OverloadManager, 'overload'),
};

/** Envoy's details for an upstream reset before the response started (StreamInfo::ResponseCodeDetails). */
function resetBefore(reason: string): string {
  return `upstream_reset_before_response_started{${reason}}`;
}

function reply(status: number, body: string, flag: ResponseFlagValue | undefined, details?: string, grpcStatus = httpToGrpcStatus(status)): LocalReplySpec {
  return { status, body, flag, details, grpcStatus };
}

/**
 * The cause of an upstream failure. An HTTP/2 upstream's RST_STREAM (or a stream it refused, or
 * left past a GOAWAY) is a remote reset; a connection gone, termination.
 * Undefined for failures that are the client's: its body broke (the codec answers) or outgrew the replay buffer.
 */
export function causeOf(err: Pick<UpstreamError, 'kind' | 'code'>): LocalCause | undefined {
  switch (err.kind) {
    case 'connect_failure':
      return 'connection_failure';
    case 'connect_timeout':
      return 'connection_timeout';
    case 'overflow':
      return 'overflow';
    case 'protocol_error':
      return 'protocol_error';
    case 'request_body_overflow':
      return 'request_body_overflow';
    case 'downstream_body_error':
      return undefined;
    default:
      if (!isHttp2ErrorCode(err.code)) return 'connection_termination';
      return err.code === 'REFUSED_STREAM' ? 'remote_refused_stream_reset' : 'remote_reset';
  }
}

/** The local reply body: connect failures carry the transport failure, as Envoy writes it. */
export function localReplyBody(cause: LocalCause, err?: Pick<UpstreamError, 'code' | 'message'>): string {
  const body = LOCAL_REPLIES[cause].body;
  if (cause !== 'connection_failure' || !err) return body;
  return `${body}, transport failure reason: delayed connect error: ${err.code ?? err.message}`;
}

/**
 * After the response started a failure cannot be answered: the downstream stream is reset, flagged
 * by the reset reason (Envoy's streamResetReasonToResponseFlag: UPE, UR, UC) and with details
 * `upstream_reset_after_response_started{<reason>}`.
 */
export function lateReset(cause: LocalCause): { flag: ResponseFlagValue; details: string } {
  switch (cause) {
    case 'protocol_error':
    case 'remote_reset':
    case 'remote_refused_stream_reset':
      return { flag: LOCAL_REPLIES[cause].flag!, details: `upstream_reset_after_response_started{${cause}}` };
    default:
      return { flag: ResponseFlag.UpstreamConnectionTermination, details: 'upstream_reset_after_response_started{connection_termination}' };
  }
}
