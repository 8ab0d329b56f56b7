// The fault filter (envoy.filters.http.fault with Istio's per-route config): the percentage rolls
// with Math.random stubbed, delay then abort, HTTP and gRPC aborts, cleanup when the stream goes
// away; Istio's YAML → fault config (percentage semantics); and Envoy's response-flag order.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { FaultConfig } from '../../src/config/snapshot.js';
import { faultFilter } from '../../src/filters/http/fault/index.js';
import type { FilterCallbacks, HttpFilter, RequestHeaders } from '../../src/http/filter.js';
import { formatResponseFlags, ResponseFlag, type ResponseFlagValue } from '../../src/http/response-flags.js';
import { parseYaml } from '../config/helpers.js';

interface LocalReply {
  status: number;
  body: string;
  flag?: ResponseFlagValue;
  headers?: string[];
}

/** A stream whose route carries `cfg`; records local replies (flags included, as ActiveStream adds them). */
function fakeStream(cfg: FaultConfig | undefined) {
  const replies: LocalReply[] = [];
  let continued = 0;
  const stream: FilterCallbacks = {
    route: undefined,
    perRouteConfig: <T>() => cfg as T | undefined,
    continueDecoding: () => void continued++,
    continueEncoding() {},
    decodingBuffer: () => undefined,
    encodingBuffer: () => undefined,
    setDecoderBufferLimit() {},
    streamInfo: { startTimeMs: 0, responseFlags: [], downstreamRemoteAddress: '127.0.0.1' },
    connection: { remoteAddress: '127.0.0.1', remotePort: 40000, scheme: 'http', protocol: 'HTTP/1.1', localAddress: '127.0.0.1', localPort: 8080 },
    metadata: {},
    requestHeaderList: [],
    sendLocalReply(status, body, flag, headers) {
      replies.push({ status, body, ...(flag ? { flag } : {}), ...(headers ? { headers } : {}) });
      if (flag) stream.streamInfo.responseFlags.push(flag);
    },
  };
  const filter: HttpFilter = faultFilter.create(faultFilter.parse({}), { listenerName: 'test', pickHost: () => undefined })(stream);
  const headers = {} as RequestHeaders;
  const run = () => filter.decodeHeaders!(headers, false);
  return { stream, filter, replies, run, continued: () => continued };
}

let random: ReturnType<typeof vi.spyOn>;
const rollAs = (v: number) => random.mockReturnValue(v);

beforeEach(() => {
  random = vi.spyOn(Math, 'random').mockReturnValue(0.5);
});
afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe('fault filter config', () => {
  it('accepts an empty listener-level config and rejects unknown fields', () => {
    expect(faultFilter.parse({})).toEqual({});
    expect(faultFilter.parse(undefined)).toEqual({});
    expect(() => faultFilter.parse({ abort: {} })).toThrow();
  });

  it('a route without fault config: continue, no roll', () => {
    const { run, replies } = fakeStream(undefined);
    expect(run()).toBe('continue');
    expect(replies).toEqual([]);
    expect(random).not.toHaveBeenCalled();
  });
});

describe('abort percentage rolls (Math.random stubbed)', () => {
  // roll: aborted when Math.random() * 100 < percent; 100 always, 0 never
  const rows: [percent: number, random: number, aborted: boolean][] = [
    [100, 0.999_999, true],
    [100, 0, true],
    [0, 0, false],
    [0, 0.5, false],
    [50, 0.49, true],
    [50, 0.499_999, true],
    [50, 0.5, false],
    [50, 0.9, false],
    [0.1, 0.000_9, true],
    [0.1, 0.001, false],
    [99.9, 0.998, true],
    [99.9, 0.999, false],
  ];
  it.each(rows)('percent %d, Math.random() = %d → aborted %s', (percent, r, aborted) => {
    rollAs(r);
    const { run, replies, stream } = fakeStream({ abort: { httpStatus: 500, percent } });
    expect(run()).toBe(aborted ? 'stop_iteration' : 'continue');
    if (aborted) {
      expect(replies).toEqual([{ status: 500, body: 'fault filter abort', flag: ResponseFlag.FaultInjected }]);
      expect(stream.streamInfo.responseFlags).toEqual(['FI']);
    } else {
      expect(replies).toEqual([]);
      expect(stream.streamInfo.responseFlags).toEqual([]);
    }
  });

  it('over 10 000 requests with real randomness, percent 25 aborts about a quarter', () => {
    random.mockRestore();
    let aborted = 0;
    for (let i = 0; i < 10_000; i++) {
      const { run } = fakeStream({ abort: { httpStatus: 503, percent: 25 } });
      if (run() === 'stop_iteration') aborted++;
    }
    // Binomial(10000, 0.25): sd ≈ 43; ±300 is ~7 sd
    expect(aborted).toBeGreaterThan(2_200);
    expect(aborted).toBeLessThan(2_800);
  });

  it('a gRPC abort: HTTP 200, content-type application/grpc, grpc-status, grpc-message, flag FI', () => {
    rollAs(0);
    const { run, replies } = fakeStream({ abort: { grpcStatus: 14, percent: 100 } });
    expect(run()).toBe('stop_iteration');
    expect(replies).toHaveLength(1);
    const [r] = replies;
    expect(r.status).toBe(200);
    expect(r.flag).toBe('FI');
    const h = new Map<string, string>();
    for (let i = 0; i < r.headers!.length; i += 2) h.set(r.headers![i], r.headers![i + 1]);
    expect(Object.fromEntries(h)).toEqual({ 'content-type': 'application/grpc', 'grpc-status': '14', 'grpc-message': 'fault filter abort' });
  });
});

describe('delay', () => {
  it('percent 100: flag DI at once, StopIteration, continueDecoding after fixedDelayMs (fake timers)', async () => {
    vi.useFakeTimers();
    const { run, stream, replies, continued } = fakeStream({ delay: { fixedDelayMs: 300, percent: 100 } });
    expect(run()).toBe('stop_iteration');
    expect(stream.streamInfo.responseFlags).toEqual(['DI']);
    await vi.advanceTimersByTimeAsync(299);
    expect(continued()).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(continued()).toBe(1);
    expect(replies).toEqual([]);
  });

  it('the roll decides: percent 30 with Math.random() 0.3 → no delay (synchronous continue)', () => {
    rollAs(0.3);
    const { run, stream } = fakeStream({ delay: { fixedDelayMs: 300, percent: 30 } });
    expect(run()).toBe('continue');
    expect(stream.streamInfo.responseFlags).toEqual([]);
  });

  it('delay then abort: the abort comes after the delay; flags DI then FI, printed "DI,FI"', async () => {
    vi.useFakeTimers();
    rollAs(0);
    const { run, stream, replies, continued } = fakeStream({ delay: { fixedDelayMs: 200, percent: 100 }, abort: { httpStatus: 503, percent: 100 } });
    expect(run()).toBe('stop_iteration');
    await vi.advanceTimersByTimeAsync(199);
    expect(replies).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(continued()).toBe(0);
    expect(replies).toEqual([{ status: 503, body: 'fault filter abort', flag: 'FI' }]);
    expect(stream.streamInfo.responseFlags).toEqual(['DI', 'FI']);
    expect(formatResponseFlags(stream.streamInfo.responseFlags)).toBe('DI,FI');
  });

  it('delay with a missed abort roll: delayed, then continue', async () => {
    vi.useFakeTimers();
    random.mockReturnValueOnce(0).mockReturnValueOnce(0.99); // delay hits (50%), abort misses (50%)
    const { run, replies, stream, continued } = fakeStream({ delay: { fixedDelayMs: 50, percent: 50 }, abort: { httpStatus: 503, percent: 50 } });
    expect(run()).toBe('stop_iteration');
    await vi.advanceTimersByTimeAsync(50);
    expect(continued()).toBe(1);
    expect(replies).toEqual([]);
    expect(stream.streamInfo.responseFlags).toEqual(['DI']);
  });

  it('onDestroy during the delay cancels it: no abort is sent afterwards', async () => {
    vi.useFakeTimers();
    rollAs(0);
    const { run, filter, replies, continued } = fakeStream({ delay: { fixedDelayMs: 300, percent: 100 }, abort: { httpStatus: 500, percent: 100 } });
    run();
    await vi.advanceTimersByTimeAsync(100);
    filter.onDestroy!();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(replies).toEqual([]);
    expect(continued()).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('per-route config (parsePerRoute, compiled when the route table loads)', () => {
  it('accepts Istio fault configs and rejects bad ones naming the field', () => {
    expect(faultFilter.parsePerRoute!({ abort: { httpStatus: 503, percent: 10 } })).toEqual({ abort: { httpStatus: 503, percent: 10 } });
    expect(faultFilter.parsePerRoute!({ delay: { fixedDelayMs: 5, percent: 100 } })).toEqual({ delay: { fixedDelayMs: 5, percent: 100 } });
    expect(() => faultFilter.parsePerRoute!({ abort: { percent: 10 } })).toThrow(/httpStatus or grpcStatus/);
    expect(() => faultFilter.parsePerRoute!({ abort: { httpStatus: 503, percent: 101 } })).toThrow(/abort\.percent/);
    expect(() => faultFilter.parsePerRoute!({ delay: { fixedDelayMs: 5 } })).toThrow(/delay\.percent/);
    expect(() => faultFilter.parsePerRoute!({ bogus: 1 })).toThrow(/unknown field "bogus"/);
  });
});

describe('VirtualService fault YAML → config (Istio TranslateFault)', () => {
  const faultOf = (fault: string) =>
    parseYaml(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: f, namespace: default}
spec:
  hosts: [ratings.default.svc.cluster.local]
  http:
  - route: [{destination: {host: ratings.default.svc.cluster.local}}]
    fault: ${fault}
`).virtualServices[0].http[0].fault;

  it('bookinfo ratings-test-abort: httpStatus 500, percentage 100', () => {
    expect(faultOf('{abort: {httpStatus: 500, percentage: {value: 100.0}}}')).toEqual({ abort: { httpStatus: 500, percent: 100 } });
  });

  it('bookinfo ratings-test-delay: fixedDelay 7s, percentage 100', () => {
    expect(faultOf('{delay: {fixedDelay: 7s, percentage: {value: 100.0}}}')).toEqual({ delay: { fixedDelayMs: 7000, percent: 100 } });
  });

  it('fractional percentages and the deprecated integer percent', () => {
    expect(faultOf('{abort: {httpStatus: 503, percentage: {value: 0.1}}}')).toEqual({ abort: { httpStatus: 503, percent: 0.1 } });
    expect(faultOf('{delay: {fixedDelay: 1s, percent: 40}}')).toEqual({ delay: { fixedDelayMs: 1000, percent: 40 } });
  });

  it('grpcStatus by name or number', () => {
    expect(faultOf('{abort: {grpcStatus: UNAVAILABLE, percentage: {value: 100}}}')).toEqual({ abort: { grpcStatus: 14, percent: 100 } });
    expect(faultOf('{abort: {grpcStatus: 8, percentage: {value: 100}}}')).toEqual({ abort: { grpcStatus: 8, percent: 100 } });
  });

  // istio TranslateFault: an unset abort percentage leaves Envoy's FractionalPercent at 0; an unset
  // delay percentage (and percent) translates to 0/HUNDRED. istio/istio#36303: "Filter never
  // triggers" without percentage; the docs were changed to match.
  it('Istio: no percentage means no fault (0%), for abort and for delay', () => {
    expect(faultOf('{abort: {httpStatus: 418}}')?.abort?.percent).toBe(0);
    expect(faultOf('{delay: {fixedDelay: 1s}}')?.delay?.percent).toBe(0);
  });
});

describe("formatResponseFlags: Envoy's order", () => {
  it('no flags → "-", one flag → itself', () => {
    expect(formatResponseFlags([])).toBe('-');
    expect(formatResponseFlags(['UT'])).toBe('UT');
  });

  const rows: [given: string[], printed: string][] = [
    [['FI', 'DI'], 'DI,FI'],
    [['DI', 'FI'], 'DI,FI'],
    [['DC', 'DI'], 'DI,DC'],
    [['URX', 'UF'], 'UF,URX'],
    [['UF', 'URX'], 'UF,URX'],
    [['URX', 'UT'], 'UT,URX'],
    [['URX', 'UC'], 'UC,URX'],
    [['URX', 'UPE'], 'URX,UPE'],
    [['DC', 'UR'], 'UR,DC'],
    [['NR', 'UH'], 'UH,NR'],
    [['DPE', 'DC'], 'DC,DPE'],
    [['NC', 'UO', 'UT'], 'UT,UO,NC'],
    [['URX', 'DC', 'FI', 'DI', 'UT', 'UH'], 'UH,UT,DI,FI,DC,URX'],
  ];
  it.each(rows)('%j → %s', (given, printed) => {
    expect(formatResponseFlags(given)).toBe(printed);
  });

  it('does not reorder the caller\'s array', () => {
    const flags = ['FI', 'DI'];
    formatResponseFlags(flags);
    expect(flags).toEqual(['FI', 'DI']);
  });
});
