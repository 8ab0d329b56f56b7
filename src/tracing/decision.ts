/**
 * Envoy's tracing decision (ConnectionManagerUtility::mutateTracingRequestHeader, then the UUID
 * request-id extension's trace status), pure. The decision travels in x-request-id itself: Envoy
 * rewrites the UUID's version digit (position 14) to `a` (sampled), `b` (forced) or `c` (client), so
 * a later hop keeps a request's decision instead of drawing its own.
 */
import type { HcmTracing } from '../config/snapshot.js';

export type TraceStatus = 'none' | 'sampled' | 'forced' | 'client';
/** Envoy's Tracing::Reason, named after its stat (http.<prefix>.tracing.<reason>). */
export type TraceReason = 'not_traceable' | 'random_sampling' | 'service_forced' | 'client_enabled';



const STATUS_AT = 14;
const STATUS_OF: Record<string, TraceStatus> = { a: 'sampled', b: 'forced', c: 'client' };
const DIGIT_OF: Record<TraceStatus, string> = { none: '4', sampled: 'a', forced: 'b', client: 'c' };
const DASH = 45;

/** A UUID's shape (36 characters, dashes at 8, 13, 18, 23): what Envoy's UUID extension packs a status into. */
function isUuid(id: string): boolean {
  return id.length === 36 && id.charCodeAt(8) === DASH && id.charCodeAt(13) === DASH && id.charCodeAt(18) === DASH && id.charCodeAt(23) === DASH;
}

/** The status packed in a UUID x-request-id (`none` for anything else). */
export function traceStatusOf(requestId: string | undefined): TraceStatus {
  if (requestId === undefined || requestId.length !== 36) return 'none';
  return STATUS_OF[requestId[STATUS_AT]] ?? 'none';
}

/** Envoy's UUID modBy: the first 8 hex digits as a number, modulo `mod`; NaN when they are not hex. */
function uuidModBy(requestId: string, mod: number): number {
  let n = 0;
  for (let i = 0; i < 8; i++) {
    const c = requestId.charCodeAt(i);
    const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
    if (d < 0) return NaN;
    n = n * 16 + d;
  }
  return n % mod;
}

/** A uniform draw in [0, 10000). */
function draw(random: () => number): number {
  return Math.floor(random() * 10000);
}

/** `percent` of 10,000 draws, as Envoy's FractionalPercent per ten thousand (0.01 % steps). */
function enabled(percent: number, draw: number): boolean {
  return draw < Math.round(percent * 100);
}

/**
 * The request's final trace status: the one its x-request-id carries, else x-client-trace-id
 * (client sampling), x-envoy-force-trace, random sampling; then overall sampling. Allocates
 * nothing: it runs for every request of a traced connection manager.
 */
export function traceStatus(config: HcmTracing, requestId: string | undefined, clientTraceId: boolean, forceTrace: boolean, random: () => number): TraceStatus {
  const uuid = requestId !== undefined && isUuid(requestId);
  const hash = uuid && config.useRequestIdForTraceSampling ? uuidModBy(requestId, 10000) : NaN;
  // random sampling by the id's hash; by a draw when hashing is off or the id's digits are not hex
  const sample = hash === hash ? hash : draw(random);
  let status = uuid ? traceStatusOf(requestId) : 'none';
  if (status === 'none') {
    if (clientTraceId && enabled(config.clientSamplingPercent, draw(random))) status = 'client';
    else if (forceTrace) status = 'forced';
    else if (enabled(config.randomSamplingPercent, sample)) status = 'sampled';
  }
  if (status !== 'none' && !enabled(config.overallSamplingPercent, sample)) status = 'none';
  return status;
}

/** x-request-id carrying `status` (a UUID's version digit rewritten); anything else unchanged. */
export function withTraceStatus(requestId: string, status: TraceStatus): string {
  if (!isUuid(requestId) || traceStatusOf(requestId) === status) return requestId;
  return requestId.slice(0, STATUS_AT) + DIGIT_OF[status] + requestId.slice(STATUS_AT + 1);
}

export const REASON_OF: Readonly<Record<TraceStatus, TraceReason>> = { none: 'not_traceable', sampled: 'random_sampling', forced: 'service_forced', client: 'client_enabled' };
