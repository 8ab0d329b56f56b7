// OTLP log export requests, hand-encoded: what a collector (protobufjs over opentelemetry-proto's
// messages, in the test helper) reads back.
import { describe, expect, it } from 'vitest';
import { exportLogsRequest } from '../../../src/telemetry/access-log/otlp-logs.js';
import { decodeLogsExport } from '../../helpers/otlp.js';

describe('exportLogsRequest', () => {
  it('records with their time, body, attributes and trace id decode as sent', () => {
    const bytes = exportLogsRequest([['service.name', 'gw']], [
      { timeMs: 1_700_000_000_123, body: '[x] "GET / HTTP/1.1" 200 ✓', attributes: [['pod', 'p-1'], ['mesh', 'm']], traceId: '0af7651916cd43dd8448eb211c80319c' },
      { timeMs: 1, body: '', attributes: [] },
    ]);
    const logs = decodeLogsExport(bytes);
    expect(logs).toEqual([
      { timeNs: 1_700_000_000_123_000_000n, body: '[x] "GET / HTTP/1.1" 200 ✓', attributes: { pod: 'p-1', mesh: 'm' }, traceId: '0af7651916cd43dd8448eb211c80319c' },
      { timeNs: 1_000_000n, body: '', attributes: {}, traceId: '' },
    ]);
  });

  it('a long body (over 127 bytes: multi-byte lengths) and many records', () => {
    const body = 'x'.repeat(70_000);
    const logs = decodeLogsExport(exportLogsRequest([], Array.from({ length: 300 }, (_, i) => ({ timeMs: i, body, attributes: [['i', String(i)]] }))));
    expect(logs).toHaveLength(300);
    expect(logs[299]).toMatchObject({ body, attributes: { i: '299' } });
  });
});
