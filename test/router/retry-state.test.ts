// RetryPolicyRuntime: Envoy's retry decisions per retry_on condition (RetryStateImpl
// wouldRetryFromHeaders / wouldRetryFromReset), the jittered backoff, and Istio's translation of
// HTTPRetry into a policy (retry.ConvertPolicy).
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { RetryPolicy } from '../../src/config/snapshot.js';
import { DEFAULT_RETRY_POLICY, retryPolicyFor } from '../../src/config/istio/translate-routes.js';
import { RetryPolicyRuntime, type AttemptFailure } from '../../src/router/retry-state.js';
import { parseYaml } from '../config/helpers.js';

const policy = (retryOn: string[], over: Partial<RetryPolicy> = {}): RetryPolicyRuntime =>
  new RetryPolicyRuntime({ ...DEFAULT_RETRY_POLICY, retryOn, retriableStatusCodes: [], ...over });

afterEach(() => vi.restoreAllMocks());

describe('retriableResponse: which upstream responses are retried', () => {
  type Row = [conditions: string[], status: number, headers: string[], retried: boolean, codes?: number[]];
  const rows: Row[] = [
    // 5xx: every 5xx
    [['5xx'], 500, [], true],
    [['5xx'], 502, [], true],
    [['5xx'], 503, [], true],
    [['5xx'], 504, [], true],
    [['5xx'], 599, [], true],
    [['5xx'], 499, [], false],
    [['5xx'], 404, [], false],
    [['5xx'], 200, [], false],
    // gateway-error: 502, 503, 504 only
    [['gateway-error'], 502, [], true],
    [['gateway-error'], 503, [], true],
    [['gateway-error'], 504, [], true],
    [['gateway-error'], 500, [], false],
    [['gateway-error'], 501, [], false],
    // retriable-4xx: 409 only
    [['retriable-4xx'], 409, [], true],
    [['retriable-4xx'], 429, [], false],
    [['retriable-4xx'], 404, [], false],
    // retriable-status-codes: the listed codes only
    [['retriable-status-codes'], 429, [], true, [429]],
    [['retriable-status-codes'], 503, [], false, [429]],
    [['retriable-status-codes'], 503, [], true, [503, 429]],
    // envoy-ratelimited: the header, whatever the status
    [['envoy-ratelimited'], 429, ['x-envoy-ratelimited', 'true'], true],
    [['envoy-ratelimited'], 503, ['x-envoy-ratelimited', 'true'], true],
    [['envoy-ratelimited'], 429, [], false],
    // gRPC conditions read grpc-status from the response headers (trailers-only responses)
    [['unavailable'], 200, ['grpc-status', '14'], true],
    [['cancelled'], 200, ['grpc-status', '1'], true],
    [['deadline-exceeded'], 200, ['grpc-status', '4'], true],
    [['resource-exhausted'], 200, ['grpc-status', '8'], true],
    [['internal'], 200, ['grpc-status', '13'], true],
    [['unavailable'], 200, ['grpc-status', '13'], false],
    [['unavailable'], 200, ['grpc-status', '0'], false],
    [['unavailable'], 200, [], false],
    // conditions about failures say nothing about responses
    [['reset'], 503, [], false],
    [['connect-failure'], 503, [], false],
    [['refused-stream'], 503, [], false],
    // several conditions: any one is enough
    [['gateway-error', 'retriable-4xx'], 409, [], true],
    [['gateway-error', 'retriable-4xx'], 500, [], false],
    [[], 503, [], false],
  ];
  it.each(rows)('retryOn %j: status %i headers %j → %s (codes %j)', (conditions, status, headers, retried, codes) => {
    expect(policy(conditions, { retriableStatusCodes: codes ?? [] }).retriableResponse(status, headers)).toBe(retried);
  });

  it("Istio's default policy: 503 yes, 500/502/504 no, grpc-status 14 and 1 yes", () => {
    const p = new RetryPolicyRuntime(DEFAULT_RETRY_POLICY);
    expect(p.retriableResponse(503, [])).toBe(true);
    expect(p.retriableResponse(500, [])).toBe(false);
    expect(p.retriableResponse(502, [])).toBe(false);
    expect(p.retriableResponse(504, [])).toBe(false);
    expect(p.retriableResponse(200, ['grpc-status', '14'])).toBe(true);
    expect(p.retriableResponse(200, ['grpc-status', '1'])).toBe(true);
    expect(p.retriableResponse(200, ['grpc-status', '4'])).toBe(false);
  });

  // Envoy RetryStateImpl::wouldRetryFromHeaders: "A response that contains the x-envoy-ratelimited
  // header comes from an upstream envoy. We retry these only when the envoy-ratelimited policy is in
  // effect." — checked before every other condition.
  it('Envoy: x-envoy-ratelimited suppresses every other condition unless envoy-ratelimited is set', () => {
    const limited = ['x-envoy-ratelimited', 'true'];
    expect({
      '5xx/503': policy(['5xx']).retriableResponse(503, limited),
      'gateway-error/503': policy(['gateway-error']).retriableResponse(503, limited),
      'retriable-status-codes/429': policy(['retriable-status-codes'], { retriableStatusCodes: [429] }).retriableResponse(429, limited),
      'envoy-ratelimited+5xx/503': policy(['5xx', 'envoy-ratelimited']).retriableResponse(503, limited),
    }).toEqual({ '5xx/503': false, 'gateway-error/503': false, 'retriable-status-codes/429': false, 'envoy-ratelimited+5xx/503': true });
  });
});

describe('retriableFailure: which failures without a response are retried', () => {
  type Row = [conditions: string[], failure: AttemptFailure, retried: boolean];
  const rows: Row[] = [
    // 5xx and gateway-error count every no-response failure (Envoy treats a reset as a 503, a timeout as a 504)
    [['5xx'], 'connect_failure', true],
    [['5xx'], 'reset', true],
    [['5xx'], 'refused_stream', true],
    [['5xx'], 'per_try_timeout', true],
    [['gateway-error'], 'connect_failure', true],
    [['gateway-error'], 'reset', true],
    [['gateway-error'], 'per_try_timeout', true],
    // reset: any reset, connect failures included
    [['reset'], 'reset', true],
    [['reset'], 'connect_failure', true],
    [['reset'], 'refused_stream', true],
    // connect-failure / refused-stream: only their own kind
    [['connect-failure'], 'connect_failure', true],
    [['connect-failure'], 'reset', false],
    [['connect-failure'], 'per_try_timeout', false],
    [['refused-stream'], 'refused_stream', true],
    [['refused-stream'], 'reset', false],
    // conditions about responses never retry failures
    [['retriable-4xx'], 'reset', false],
    [['retriable-status-codes'], 'connect_failure', false],
    [['envoy-ratelimited'], 'reset', false],
    [['unavailable'], 'reset', false],
    [[], 'connect_failure', false],
  ];
  it.each(rows)('retryOn %j: %s → %s', (conditions, failure, retried) => {
    expect(policy(conditions).retriableFailure(failure)).toBe(retried);
  });

  it("Istio's default policy: connect failures and refused streams, not resets or per-try timeouts", () => {
    const p = new RetryPolicyRuntime(DEFAULT_RETRY_POLICY);
    expect(p.retriableFailure('connect_failure')).toBe(true);
    expect(p.retriableFailure('refused_stream')).toBe(true);
    expect(p.retriableFailure('reset')).toBe(false);
    expect(p.retriableFailure('per_try_timeout')).toBe(false);
  });

  // Envoy: Filter::onPerTryTimeoutCommon resets the attempt and asks maybeRetryReset(LocalReset, …);
  // wouldRetryFromReset answers yes for RETRY_ON_RESET before anything else.
  it('Envoy: retryOn reset also retries a per-try timeout (the attempt is reset locally)', () => {
    expect(policy(['reset']).retriableFailure('per_try_timeout')).toBe(true);
  });
});

describe('policy accessors', () => {
  it('perTryTimeoutMs 0 or absent means none', () => {
    expect(policy(['5xx'], { perTryTimeoutMs: 0 }).perTryTimeoutMs).toBeUndefined();
    expect(policy(['5xx']).perTryTimeoutMs).toBeUndefined();
    expect(policy(['5xx'], { perTryTimeoutMs: 150 }).perTryTimeoutMs).toBe(150);
  });

  it('numRetries, previous-hosts and host selection attempts come from the policy', () => {
    const p = policy(['5xx'], { numRetries: 7, retryPreviousHosts: false, hostSelectionRetryMaxAttempts: 3 });
    expect(p.numRetries).toBe(7);
    expect(p.retryPreviousHosts).toBe(false);
    expect(p.hostSelectionAttempts).toBe(3);
  });
});

describe('backoffMs: jittered exponential backoff (base 25 ms, max 250 ms)', () => {
  const p = new RetryPolicyRuntime(DEFAULT_RETRY_POLICY);
  // Envoy JitteredExponentialBackOffStrategy: retry n waits a uniform random time below
  // min(base * 2^(n-1), max); the ceiling doubles per retry and stops at max
  const ceilings = [25, 50, 100, 200, 250, 250, 250];

  it('Math.random() = 0 → 0 ms for every retry', () => {
    vi.spyOn(Math, 'random').mockReturnValue(0);
    for (let n = 1; n <= ceilings.length; n++) expect(p.backoffMs(n)).toBe(0);
  });

  it('Math.random() just below 1 → the ceiling of retry n, never above it', () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.999_999_9);
    ceilings.forEach((c, i) => {
      const b = p.backoffMs(i + 1);
      expect(b, `retry ${i + 1}`).toBeLessThanOrEqual(c);
      expect(b, `retry ${i + 1}`).toBeGreaterThanOrEqual(c - 1);
    });
  });

  it('Math.random() = 0.5 → half the ceiling (uniform jitter)', () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    ceilings.forEach((c, i) => expect(Math.abs(p.backoffMs(i + 1) - c / 2), `retry ${i + 1}`).toBeLessThanOrEqual(1));
  });

  it('real randomness: integers within [0, ceiling] for retries 1..10, over 2000 draws', () => {
    for (let i = 0; i < 2000; i++) {
      const n = (i % 10) + 1;
      const b = p.backoffMs(n);
      expect(Number.isInteger(b)).toBe(true);
      expect(b).toBeGreaterThanOrEqual(0);
      expect(b).toBeLessThanOrEqual(Math.min(25 * 2 ** (n - 1), 250));
    }
  });

  it('a custom base and max are honoured', () => {
    const q = policy(['5xx'], { backoffBaseMs: 100, backoffMaxMs: 1000 });
    vi.spyOn(Math, 'random').mockReturnValue(0.999_999_9);
    expect(q.backoffMs(1)).toBeLessThanOrEqual(100);
    expect(q.backoffMs(1)).toBeGreaterThanOrEqual(99);
    expect(q.backoffMs(5)).toBeLessThanOrEqual(1000);
    expect(q.backoffMs(5)).toBeGreaterThanOrEqual(999);
  });
});

describe("Istio's HTTPRetry → retry policy (retryPolicyFor, as istio retry.ConvertPolicy)", () => {
  it('no retries field: the default policy (2 retries, connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes 503, previous hosts, 5 host picks)', () => {
    const p = retryPolicyFor(undefined);
    expect(p).toEqual({
      numRetries: 2,
      retryOn: ['connect-failure', 'refused-stream', 'unavailable', 'cancelled', 'retriable-status-codes'],
      retriableStatusCodes: [503],
      retryPreviousHosts: true,
      hostSelectionRetryMaxAttempts: 5,
      backoffBaseMs: 25,
      backoffMaxMs: 250,
    });
  });

  it('attempts 0 disables retries', () => {
    expect(retryPolicyFor({ attempts: 0 })).toBeUndefined();
  });

  it('attempts without retryOn keep the default conditions and codes', () => {
    const p = retryPolicyFor({ attempts: 4 })!;
    expect(p.numRetries).toBe(4);
    expect(p.retryOn).toEqual(DEFAULT_RETRY_POLICY.retryOn);
    expect(p.retriableStatusCodes).toEqual([503]);
    expect(p.retryPreviousHosts).toBe(true);
  });

  it('retryOn replaces the conditions; without numbers there are no retriable status codes', () => {
    const p = retryPolicyFor({ attempts: 3, retryOn: '5xx' })!;
    expect(p.retryOn).toEqual(['5xx']);
    expect(p.retriableStatusCodes).toEqual([]);
    const rt = new RetryPolicyRuntime(p);
    expect(rt.retriableResponse(500, [])).toBe(true);
    expect(rt.retriableFailure('connect_failure')).toBe(true);
  });

  it('numbers in retryOn become retriable status codes, with retriable-status-codes added once', () => {
    expect(retryPolicyFor({ attempts: 2, retryOn: '429' })).toMatchObject({ retryOn: ['retriable-status-codes'], retriableStatusCodes: [429] });
    expect(retryPolicyFor({ attempts: 2, retryOn: 'gateway-error, 429,409 ' })).toMatchObject({
      retryOn: ['gateway-error', 'retriable-status-codes'],
      retriableStatusCodes: [429, 409],
    });
    expect(retryPolicyFor({ attempts: 2, retryOn: 'retriable-status-codes,503' })).toMatchObject({
      retryOn: ['retriable-status-codes'],
      retriableStatusCodes: [503],
    });
    const rt = new RetryPolicyRuntime(retryPolicyFor({ attempts: 2, retryOn: '429' })!);
    expect(rt.retriableResponse(429, [])).toBe(true);
    expect(rt.retriableResponse(503, [])).toBe(false);
    // only the listed codes: a connect failure is no longer retried
    expect(rt.retriableFailure('connect_failure')).toBe(false);
  });

  it('perTryTimeout is carried over', () => {
    expect(retryPolicyFor({ attempts: 2, perTryTimeoutMs: 100 })).toMatchObject({ perTryTimeoutMs: 100 });
    expect(retryPolicyFor({ attempts: 2 })).not.toHaveProperty('perTryTimeoutMs');
  });
});

describe('VirtualService retries YAML → policy (parse + translate)', () => {
  const retriesOf = (retries: string) =>
    retryPolicyFor(
      parseYaml(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: r, namespace: default}
spec:
  hosts: [r.default.svc.cluster.local]
  http:
  - route: [{destination: {host: r.default.svc.cluster.local}}]
    retries: ${retries}
`).virtualServices[0].http[0].retries,
    );

  it('attempts, perTryTimeout and retryOn', () => {
    expect(retriesOf('{attempts: 3, perTryTimeout: 2s, retryOn: "gateway-error,connect-failure,503"}')).toMatchObject({
      numRetries: 3,
      perTryTimeoutMs: 2000,
      retryOn: ['gateway-error', 'connect-failure', 'retriable-status-codes'],
      retriableStatusCodes: [503],
    });
  });

  it('Istio: retryIgnorePreviousHosts: false removes the previous_hosts predicate', () => {
    expect(retriesOf('{attempts: 2, retryIgnorePreviousHosts: false}')?.retryPreviousHosts).toBe(false);
    expect(retriesOf('{attempts: 2, retryIgnorePreviousHosts: true}')?.retryPreviousHosts).toBe(true);
  });

  it('Istio: backoff sets retry_back_off.base_interval (Envoy: max interval defaults to 10 × base)', () => {
    expect(retriesOf('{attempts: 2, backoff: 200ms}')).toMatchObject({ backoffBaseMs: 200, backoffMaxMs: 2000 });
  });
});
