import { describe, expect, it } from 'vitest';
import { AccessLogWriter, formatJson, formatText, type AccessLogEntry } from '../../src/telemetry/access-log.js';

const START = Date.UTC(2026, 0, 2, 3, 4, 5, 678);

function entry(over: Partial<AccessLogEntry> = {}): AccessLogEntry {
  return {
    startTimeMs: START,
    method: 'GET',
    path: '/a/b?c=d',
    protocol: 'HTTP/1.1',
    responseCode: 200,
    responseFlags: '-',
    responseCodeDetails: 'via_upstream',
    bytesReceived: 0,
    bytesSent: 12,
    durationMs: 7,
    upstreamServiceTimeMs: 5,
    xForwardedFor: '1.2.3.4',
    userAgent: 'curl/8.0',
    requestId: 'rid-1',
    authority: 'svc.test',
    upstreamHost: '10.0.0.1:8080',
    upstreamCluster: 'outbound|80||svc.default.svc.cluster.local',
    downstreamLocalAddress: '10.0.0.2:8080',
    downstreamRemoteAddress: '10.0.0.3:51234',
    routeName: 'r1',
    ...over,
  };
}

describe('formatText (Envoy\'s default format)', () => {
  it('renders a proxied request', () => {
    expect(formatText(entry())).toBe('[2026-01-02T03:04:05.678Z] "GET /a/b?c=d HTTP/1.1" 200 - 0 12 7 5 "1.2.3.4" "curl/8.0" "rid-1" "svc.test" "10.0.0.1:8080"\n');
  });

  it('renders missing values as "-" (a 404 NR local reply)', () => {
    const line = formatText(entry({ responseCode: 404, responseFlags: 'NR', bytesSent: 0, durationMs: 0, upstreamServiceTimeMs: undefined, xForwardedFor: undefined, userAgent: undefined, upstreamHost: undefined, upstreamCluster: undefined }));
    expect(line).toBe('[2026-01-02T03:04:05.678Z] "GET /a/b?c=d HTTP/1.1" 404 NR 0 0 0 - "-" "-" "rid-1" "svc.test" "-"\n');
  });

  it('is exactly one line', () => {
    const line = formatText(entry());
    expect(line.endsWith('\n')).toBe(true);
    expect(line.slice(0, -1)).not.toContain('\n');
  });
});

describe('formatJson (Istio\'s JSON access log)', () => {
  it('has Istio\'s fields with typed values', () => {
    const line = formatJson(entry());
    expect(line.endsWith('\n')).toBe(true);
    expect(line.slice(0, -1)).not.toContain('\n');
    const j = JSON.parse(line);
    expect(j).toMatchObject({
      start_time: '2026-01-02T03:04:05.678Z',
      method: 'GET',
      path: '/a/b?c=d',
      protocol: 'HTTP/1.1',
      response_code: 200,
      response_flags: '-',
      response_code_details: 'via_upstream',
      bytes_received: 0,
      bytes_sent: 12,
      duration: 7,
      upstream_service_time: '5',
      x_forwarded_for: '1.2.3.4',
      user_agent: 'curl/8.0',
      request_id: 'rid-1',
      authority: 'svc.test',
      upstream_host: '10.0.0.1:8080',
      upstream_cluster: 'outbound|80||svc.default.svc.cluster.local',
      downstream_local_address: '10.0.0.2:8080',
      downstream_remote_address: '10.0.0.3:51234',
      route_name: 'r1',
    });
    for (const k of ['connection_termination_details', 'upstream_transport_failure_reason', 'upstream_local_address', 'requested_server_name']) expect(j).toHaveProperty(k);
  });

  it('uses null for missing values', () => {
    const j = JSON.parse(formatJson(entry({ upstreamServiceTimeMs: undefined, xForwardedFor: undefined, userAgent: undefined, requestId: undefined, authority: '', upstreamHost: undefined, upstreamCluster: undefined, routeName: undefined })));
    for (const k of ['upstream_service_time', 'x_forwarded_for', 'user_agent', 'request_id', 'authority', 'upstream_host', 'upstream_cluster', 'route_name']) expect(j[k], k).toBeNull();
  });

  it('escapes quotes and control characters in header values', () => {
    const j = JSON.parse(formatJson(entry({ userAgent: 'a "quoted"\tua\\' })));
    expect(j.user_agent).toBe('a "quoted"\tua\\');
  });
});

describe('AccessLogWriter', () => {
  function sink() {
    const writes: string[] = [];
    return { writes, stream: { write: (s: string) => (writes.push(s), true) } as unknown as NodeJS.WriteStream };
  }

  it('batches the lines of one event-loop turn into one write', async () => {
    const s = sink();
    const w = new AccessLogWriter('text', s.stream);
    expect(w.enabled).toBe(true);
    w.log(entry({ requestId: 'one' }));
    w.log(entry({ requestId: 'two' }));
    expect(s.writes).toEqual([]);
    await new Promise((r) => setImmediate(r));
    expect(s.writes).toHaveLength(1);
    expect(s.writes[0].split('\n').filter(Boolean)).toHaveLength(2);
    expect(s.writes[0]).toContain('"one"');
    expect(s.writes[0]).toContain('"two"');
    w.log(entry());
    w.flush();
    expect(s.writes).toHaveLength(2);
    w.flush();
    expect(s.writes).toHaveLength(2);
  });

  it('json writes one JSON object per line', async () => {
    const s = sink();
    const w = new AccessLogWriter('json', s.stream);
    w.log(entry({ requestId: 'a' }));
    w.log(entry({ requestId: 'b' }));
    w.flush();
    const lines = s.writes.join('').split('\n').filter(Boolean);
    expect(lines.map((l) => JSON.parse(l).request_id)).toEqual(['a', 'b']);
  });

  it('off writes nothing', async () => {
    const s = sink();
    const w = new AccessLogWriter('off', s.stream);
    expect(w.enabled).toBe(false);
    w.log(entry());
    await new Promise((r) => setImmediate(r));
    w.flush();
    expect(s.writes).toEqual([]);
  });
});
