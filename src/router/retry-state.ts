import type { RetryPolicy } from '../config/snapshot.js';
import { jitteredBackoffMs } from '../common/backoff.js';
import { getFromList } from './headers.js';
import { sharedCompiled } from '../common/shared-compiled.js';

/** How an attempt failed without a usable response, for retry decisions. */
export type AttemptFailure = 'connect_failure' | 'reset' | 'refused_stream' | 'per_try_timeout';

const GRPC_CODES: Record<string, string> = { cancelled: '1', 'deadline-exceeded': '4', 'resource-exhausted': '8', internal: '13', unavailable: '14' };

/** A retry_on list compiled: the conditions, and the gRPC statuses among them. */
interface RetryConditions {
  readonly on: ReadonlySet<string>;
  readonly grpcStatuses: ReadonlySet<string>;
}

/**
 * A retry_on list compiled, shared by every route with the same list (common/shared-compiled.ts): a
 * mesh of 1,000 services has thousands of routes and a handful of lists (two Sets a route cost ~0.6
 * MiB a worker).
 */
const sharedConditions = sharedCompiled<RetryConditions>(256, (list) => {
  const retryOn = list === '' ? [] : list.split(','); // the entries never hold a comma (Envoy's retry_on is split on it)
  return { on: new Set(retryOn), grpcStatuses: new Set(retryOn.filter((x) => x in GRPC_CODES).map((x) => GRPC_CODES[x])) };
});

function retryConditions(retryOn: readonly string[]): RetryConditions {
  return sharedConditions(retryOn.join(','));
}

/**
 * Envoy's retry decisions, compiled once per route: which responses and failures are retriable,
 * and the jittered exponential backoff. The request keeps its own count of retries.
 */
export class RetryPolicyRuntime {
  private readonly on: ReadonlySet<string>;
  private readonly grpcStatuses: ReadonlySet<string>;

  constructor(readonly policy: RetryPolicy) {
    ({ on: this.on, grpcStatuses: this.grpcStatuses } = retryConditions(policy.retryOn));
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
