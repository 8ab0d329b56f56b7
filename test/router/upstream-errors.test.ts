// The one table of local replies: every cause's status, body, flag, details and gRPC status;
// how upstream failures map to causes; and the reset after the response started.
import { describe, expect, it } from 'vitest';
import { ResponseFlag } from '../../src/http/response-flags.js';
import { causeOf, lateReset, LOCAL_REPLIES, localReplyBody, type LocalCause } from '../../src/router/upstream-errors.js';
import { UpstreamError } from '../../src/upstream/exchange.js';

const BEFORE = 'upstream connect error or disconnect/reset before headers. reset reason: ';

describe('LOCAL_REPLIES', () => {
  const rows: [LocalCause, number, string, string | undefined, string | undefined, number][] = [
    ['connection_failure', 503, `${BEFORE}connection failure`, ResponseFlag.UpstreamConnectionFailure, 'upstream_reset_before_response_started{connection_failure}', 14],
    ['connection_timeout', 503, `${BEFORE}connection timeout`, ResponseFlag.UpstreamConnectionFailure, 'upstream_reset_before_response_started{connection_timeout}', 14],
    ['overflow', 503, `${BEFORE}overflow`, ResponseFlag.UpstreamOverflow, 'upstream_reset_before_response_started{overflow}', 14],
    ['protocol_error', 502, `${BEFORE}protocol error`, ResponseFlag.UpstreamProtocolError, 'upstream_reset_before_response_started{protocol_error}', 14],
    ['remote_reset', 503, `${BEFORE}remote reset`, ResponseFlag.UpstreamRemoteReset, 'upstream_reset_before_response_started{remote_reset}', 14],
    ['remote_refused_stream_reset', 503, `${BEFORE}remote refused stream reset`, ResponseFlag.UpstreamRemoteReset, 'upstream_reset_before_response_started{remote_refused_stream_reset}', 14],
    ['connection_termination', 503, `${BEFORE}connection termination`, ResponseFlag.UpstreamConnectionTermination, 'upstream_reset_before_response_started{connection_termination}', 14],
    ['route_timeout', 504, 'upstream request timeout', ResponseFlag.UpstreamRequestTimeout, 'upstream_response_timeout', 4],
    ['per_try_timeout', 504, 'upstream request timeout', ResponseFlag.UpstreamRequestTimeout, 'upstream_per_try_timeout', 4],
    ['request_body_overflow', 507, 'exceeded request buffer limit while retrying upstream', undefined, 'request_payload_exceeded_retry_buffer_limit', 2],
    ['no_healthy_upstream', 503, 'no healthy upstream', ResponseFlag.NoHealthyUpstream, 'no_healthy_upstream', 14],
    ['cluster_not_found', 503, '', ResponseFlag.NoClusterFound, 'cluster_not_found', 14],
    ['route_not_found', 404, '', ResponseFlag.NoRouteFound, 'route_not_found', 12],
    ['upgrade_failed', 403, '', undefined, 'upgrade_failed', 7],
    ['overload', 503, 'envoy overloaded', ResponseFlag.OverloadManager, 'overload', 14],
  ];

  it('has exactly these causes', () => {
    expect(Object.keys(LOCAL_REPLIES).sort()).toEqual(rows.map((r) => r[0]).sort());
  });

  it.each(rows)('%s → %i "%s" %s details=%s grpc=%i', (cause, status, body, flag, details, grpcStatus) => {
    expect(LOCAL_REPLIES[cause]).toEqual({ status, body, flag, details, grpcStatus });
  });

  it('a connect failure names the transport failure: the error code, else its message', () => {
    expect(localReplyBody('connection_failure', new UpstreamError('connect_failure', 'refused', 'ECONNREFUSED'))).toBe(
      `${BEFORE}connection failure, transport failure reason: delayed connect error: ECONNREFUSED`,
    );
    expect(localReplyBody('connection_failure', new UpstreamError('connect_failure', 'closed while connecting'))).toMatch(/delayed connect error: closed while connecting$/);
    expect(localReplyBody('connection_failure')).toBe(`${BEFORE}connection failure`);
    expect(localReplyBody('protocol_error', new UpstreamError('protocol_error', 'x'))).toBe(`${BEFORE}protocol error`);
  });
});

describe('causeOf', () => {
  it.each([
    ['connect_failure', undefined, 'connection_failure'],
    ['connect_timeout', undefined, 'connection_timeout'],
    ['overflow', undefined, 'overflow'],
    ['protocol_error', 'PROTOCOL_ERROR', 'protocol_error'],
    ['request_body_overflow', undefined, 'request_body_overflow'],
    ['downstream_body_error', undefined, undefined],
    ['reset_before_headers', undefined, 'connection_termination'],
    ['reset_before_headers', 'ECONNRESET', 'connection_termination'],
    ['reset_before_headers', 'REFUSED_STREAM', 'remote_refused_stream_reset'],
    ['reset_before_headers', 'NO_ERROR', 'remote_reset'],
    ['reset_after_headers', 'CANCEL', 'remote_reset'],
    ['reset_after_headers', '0x1f', 'remote_reset'],
    ['reset_after_headers', undefined, 'connection_termination'],
  ] as const)('%s (code %s) → %s', (kind, code, cause) => {
    expect(causeOf(new UpstreamError(kind, kind, code))).toBe(cause);
  });
});

describe('lateReset', () => {
  it.each([
    ['protocol_error', ResponseFlag.UpstreamProtocolError, 'protocol_error'],
    ['remote_reset', ResponseFlag.UpstreamRemoteReset, 'remote_reset'],
    ['remote_refused_stream_reset', ResponseFlag.UpstreamRemoteReset, 'remote_refused_stream_reset'],
    ['connection_termination', ResponseFlag.UpstreamConnectionTermination, 'connection_termination'],
  ] as const)('%s → %s upstream_reset_after_response_started{%s}', (cause, flag, reason) => {
    expect(lateReset(cause)).toEqual({ flag, details: `upstream_reset_after_response_started{${reason}}` });
  });
});
