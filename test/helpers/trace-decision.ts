import type { HcmTracing } from '../../src/config/snapshot.js';
import { buildNodeIdentity } from '../../src/config/node-identity.js';
import type { TraceReason } from '../../src/tracing/decision.js';
import { HttpTracer, type TracingStats } from '../../src/tracing/http-tracer.js';

export interface DecisionInputs {
  requestId: string | undefined;
  /** x-client-trace-id was sent. */
  clientTraceId: boolean;
  /** x-envoy-force-trace reached the upstream headers. */
  forceTrace: boolean;
  random: () => number;
}

const NODE = buildNodeIdentity({ mode: 'sidecar', labels: [] }, {});

/**
 * A request's tracing decision as the connection manager takes it: HttpTracer.decide on the
 * request's headers. Returns whether traced, the reason it counted, and x-request-id as forwarded.
 */
export function decideThroughTracer(config: HcmTracing, input: DecisionInputs): { traced: boolean; reason: TraceReason; requestId: string | undefined } {
  const stats: TracingStats = { not_traceable: 0, random_sampling: 0, service_forced: 0, client_enabled: 0 };
  const tracer = new HttpTracer(config, false, NODE, undefined, stats, input.random);
  const upstreamHeaders = input.requestId === undefined ? [] : ['x-request-id', input.requestId];
  if (input.forceTrace) upstreamHeaders.push('x-envoy-force-trace', 'true');
  const subject = { requestId: input.requestId, downstreamHeaders: input.clientTraceId ? ['x-client-trace-id', 'client-1'] : [], upstreamHeaders };
  const traced = tracer.decide(subject) !== 'none';
  const counted = (Object.keys(stats) as TraceReason[]).filter((k) => stats[k] === 1);
  if (counted.length !== 1 || Object.values(stats).reduce((a, b) => a + b) !== 1) throw new Error(`one decision, one count: ${JSON.stringify(stats)}`);
  const forwarded = upstreamHeaders[upstreamHeaders.indexOf('x-request-id') + 1];
  if (subject.requestId !== (input.requestId === undefined ? undefined : forwarded)) throw new Error('x-request-id as forwarded and as recorded differ');
  return { traced, reason: counted[0], requestId: subject.requestId };
}
