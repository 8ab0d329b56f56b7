import type { Downstream } from '../codec/downstream.js';
import { getFromList } from '../router/headers.js';

export const SERVER_NAME = 'outrigger';

/** A locally generated response as Envoy's local replies look (text/plain, length, server). */
export function localReplyHeaders(bytes: Buffer, extra?: string[]): string[] {
  const headers = ['content-length', String(bytes.length)];
  if (bytes.length) headers.push('content-type', 'text/plain');
  headers.push('date', httpDate(), 'server', SERVER_NAME);
  if (extra) headers.push(...extra);
  return headers;
}

/** Writes a locally generated response (localReplyHeaders), or resets a response already started; returns the headers sent. */
export function writeLocalReply(ds: Downstream, status: number, body: string, extra?: string[]): string[] | undefined {
  if (ds.headersSent) {
    ds.reset();
    return undefined;
  }
  const bytes = Buffer.from(body);
  const headers = localReplyHeaders(bytes, extra);
  ds.respond(status, headers);
  if (bytes.length) ds.write(bytes);
  ds.end();
  return headers;
}

/** A gRPC client (content-type application/grpc*): local replies speak gRPC to it, its grpc-timeout is a deadline. */
export function isGrpcRequest(headers: readonly string[]): boolean {
  return getFromList(headers, 'content-type')?.startsWith('application/grpc') === true;
}

/** Envoy's Grpc::Utility::httpToGrpcStatus, for local replies to gRPC requests. */
export function httpToGrpcStatus(status: number): number {
  switch (status) {
    case 400:
      return 13; // INTERNAL
    case 401:
      return 16; // UNAUTHENTICATED
    case 403:
      return 7; // PERMISSION_DENIED
    case 404:
      return 12; // UNIMPLEMENTED
    case 429:
    case 502:
    case 503:
    case 504:
      return 14; // UNAVAILABLE
    default:
      return 2; // UNKNOWN
  }
}

/**
 * A local reply to a gRPC request, as Envoy sends it: HTTP 200, trailers-only, the status in
 * grpc-status and the text in grpc-message (percent-encoded).
 */
export function writeGrpcLocalReply(ds: Downstream, grpcStatus: number, message: string, extra?: string[]): string[] | undefined {
  if (ds.headersSent) {
    ds.reset();
    return undefined;
  }
  const headers = grpcLocalReplyHeaders(grpcStatus, message, extra);
  ds.respond(200, headers);
  ds.end();
  return headers;
}

/** The headers of a trailers-only gRPC local reply. */
export function grpcLocalReplyHeaders(grpcStatus: number, message: string, extra?: string[]): string[] {
  const headers = ['content-type', 'application/grpc', 'grpc-status', String(grpcStatus)];
  if (message) headers.push('grpc-message', encodeURIComponent(message));
  headers.push('date', httpDate(), 'server', SERVER_NAME);
  if (extra) headers.push(...extra);
  return headers;
}

let cachedDate = '';
let cachedSecond = 0;

/** The Date header value, rebuilt at most once a second. */
export function httpDate(): string {
  const now = Date.now();
  const second = (now / 1000) | 0;
  if (second !== cachedSecond) {
    cachedSecond = second;
    cachedDate = new Date(now).toUTCString();
  }
  return cachedDate;
}
