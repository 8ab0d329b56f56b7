import type { RetryPolicy } from '../config/snapshot.js';
import { jitteredBackoffMs } from '../common/backoff.js';
import { getFromList } from './headers.js';

/** How an attempt failed without a usable response, for retry decisions. */
export type AttemptFailure = 'connect_failure' | 'reset' | 'refused_stream' | 'per_try_timeout';

const GRPC_CODES: Record<string, string> = { cancelled: '1', 'deadline-exceeded': '4', 'resource-exhausted': '8', internal: '13', unavailable: '14' };

/**
 * Envoy's retry decisions, compiled once per route: which responses and failures are retriable,
 * and the jittered exponential backoff. The request keeps its own count of retries.
 */
export class RetryPolicyRuntime {
  private readonly on: Set<string>;
  private readonly grpcStatuses: Set<string>;

  constructor(readonly policy: RetryPolicy) {
    this.on = new Set(policy.retryOn);
    this.grpcStatuses = new Set(policy.retryOn.filter((c) => c in GRPC_CODES).map((c) => GRPC_CODES[c]));
  }

  get numRetries(): number {
    return this.policy.numRetries;
  }

  get perTryTimeoutMs(): number | undefined {
    return this.policy.perTryTimeoutMs || undefined;
  }

  get retryPreviousHosts(): boolean {
    return this.policy.retryPreviousHosts;
  }

  get retryOtherPriorities(): boolean {
    return this.policy.retryOtherPriorities === true;
  }

  get hostSelectionAttempts(): number {
    return this.policy.hostSelectionRetryMaxAttempts;
  }

  /** Would this response be retried (ignoring how many retries are left)? */
  retriableResponse(status: number, headers: readonly string[]): boolean {
    const on = this.on;
    // Envoy never retries a response the upstream marked rate-limited, unless asked to
    if (getFromList(headers, 'x-envoy-ratelimited') !== undefined) return on.has('envoy-ratelimited');
    if (on.has('5xx') && status >= 500) return true;
    if (on.has('gateway-error') && (status === 502 || status === 503 || status === 504)) return true;
    if (on.has('retriable-4xx') && status === 409) return true;
    if (on.has('retriable-status-codes') && this.policy.retriableStatusCodes.includes(status)) return true;
    if (this.grpcStatuses.size) {
      const grpc = getFromList(headers, 'grpc-status');
      if (grpc !== undefined && this.grpcStatuses.has(grpc)) return true;
    }
    return false;
  }

  /** Would this failure (no response) be retried? Every no-response case counts for 5xx and gateway-error. */
  retriableFailure(f: AttemptFailure): boolean {
    const on = this.on;
    if (on.has('5xx') || on.has('gateway-error') || on.has('reset')) return true;
    if (f === 'per_try_timeout') return false;
    if (f === 'connect_failure' && on.has('connect-failure')) return true;
    if (f === 'refused_stream' && on.has('refused-stream')) return true;
    return false;
  }

  /** Envoy's jittered exponential backoff before retry n (1-based): uniform in [0, min(base * 2^(n-1), max)]. */
  backoffMs(n: number): number {
    return jitteredBackoffMs(n, this.policy.backoffBaseMs, this.policy.backoffMaxMs);
  }
}
