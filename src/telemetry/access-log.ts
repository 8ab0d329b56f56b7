import { createWriteStream, type WriteStream } from 'node:fs';

/** `off`, Envoy's default text format, or Istio's JSON fields. */
export type AccessLogFormat = 'off' | 'text' | 'json';

/** What one access-log line says about a finished request. */
export interface AccessLogEntry {
  startTimeMs: number;
  method: string;
  /** x-envoy-original-path if the route rewrote the path, else the path. */
  path: string;
  protocol: string;
  responseCode: number;
  responseFlags: string;
  responseCodeDetails: string;
  bytesReceived: number;
  bytesSent: number;
  durationMs: number;
  upstreamServiceTimeMs: number | undefined;
  xForwardedFor: string | undefined;
  userAgent: string | undefined;
  requestId: string | undefined;
  authority: string;
  upstreamHost: string | undefined;
  upstreamCluster: string | undefined;
  downstreamLocalAddress: string;
  downstreamRemoteAddress: string;
  routeName: string | undefined;
  /** TLS SNI (%REQUESTED_SERVER_NAME%), for TCP proxy connections that had one. */
  requestedServerName?: string;
}

/**
 * Writes access-log lines to stdout without blocking the hot path: lines are collected and
 * written in one go once per event-loop turn, straight to fd 1 (no hop through the main thread).
 */
export class AccessLogWriter {
  private pending: string[] = [];
  private scheduled = false;
  private readonly out: WriteStream | NodeJS.WriteStream;

  constructor(
    readonly format: AccessLogFormat,
    out?: WriteStream | NodeJS.WriteStream,
  ) {
    this.out = out ?? createWriteStream('', { fd: 1, autoClose: false });
  }

  get enabled(): boolean {
    return this.format !== 'off';
  }

  log(e: AccessLogEntry): void {
    if (this.format === 'off') return;
    this.pending.push(this.format === 'json' ? formatJson(e) : formatText(e));
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  flush(): void {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    const text = this.pending.join('');
    this.pending = [];
    this.out.write(text);
  }
}

const dash = (v: string | number | undefined) => (v === undefined || v === '' ? '-' : String(v));

/**
 * Envoy's default format:
 * [%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS%
 * %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%"
 * "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"
 */
export function formatText(e: AccessLogEntry): string {
  return (
    `[${new Date(e.startTimeMs).toISOString()}] "${e.method} ${e.path} ${e.protocol}" ${e.responseCode} ${e.responseFlags} ` +
    `${e.bytesReceived} ${e.bytesSent} ${e.durationMs} ${dash(e.upstreamServiceTimeMs)} "${dash(e.xForwardedFor)}" ` +
    `"${dash(e.userAgent)}" "${dash(e.requestId)}" "${dash(e.authority)}" "${dash(e.upstreamHost)}"\n`
  );
}

/** Istio's JSON access log fields (meshConfig accessLogEncoding: JSON). */
export function formatJson(e: AccessLogEntry): string {
  return (
    JSON.stringify({
      start_time: new Date(e.startTimeMs).toISOString(),
      route_name: e.routeName ?? null,
      method: e.method,
      path: e.path,
      protocol: e.protocol,
      response_code: e.responseCode,
      response_flags: e.responseFlags,
      response_code_details: e.responseCodeDetails,
      connection_termination_details: null,
      upstream_transport_failure_reason: null,
      bytes_received: e.bytesReceived,
      bytes_sent: e.bytesSent,
      duration: e.durationMs,
      upstream_service_time: e.upstreamServiceTimeMs === undefined ? null : String(e.upstreamServiceTimeMs),
      x_forwarded_for: e.xForwardedFor ?? null,
      user_agent: e.userAgent ?? null,
      request_id: e.requestId ?? null,
      authority: e.authority || null,
      upstream_host: e.upstreamHost ?? null,
      upstream_cluster: e.upstreamCluster ?? null,
      upstream_local_address: null,
      downstream_local_address: e.downstreamLocalAddress,
      downstream_remote_address: e.downstreamRemoteAddress,
      requested_server_name: e.requestedServerName ?? null,
    }) + '\n'
  );
}
