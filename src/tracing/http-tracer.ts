/**
 * The connection manager's tracing (Envoy's HttpConnectionManager tracing with its tracer driver),
 * compiled once per connection manager: per request the decision (decision.ts), then with a
 * provider a span — recorded only when sampled; an unsampled request that came with a caller's
 * context passes it on (a child id, the caller's decision), one that would start a trace nobody
 * samples costs nothing more — its context written into the upstream request, and Envoy's tags
 * when the request is over. With spawn_upstream_span each upstream attempt gets a client span of
 * its own.
 */
import type { LogContext } from '../common/log-context.js';
import { compileFormat } from '../common/substitution-format.js';
import type { HcmTracing, NodeIdentity, TracingCustomTag, TracingProvider } from '../config/snapshot.js';
import { getFromList, setInList } from '../router/headers.js';
import { REASON_OF, traceStatus, withTraceStatus, type TraceReason, type TraceStatus } from './decision.js';
import { newSpanId, newTraceId } from './ids.js';
import { nowMs, RecordingSpan, type SpanKind, type SpanSink } from './span.js';
import { readB3, readTraceparent, writeB3, writeTraceparent, type SpanContext } from './trace-context.js';

/** http.<prefix>.tracing.* counters. */
export type TracingStats = Record<TraceReason, number>;

/** What the decision reads and writes of a request. */
export interface TraceDecisionSubject {
  /** x-request-id as forwarded (the decision may rewrite it). */
  requestId: string | undefined;
  /** The headers as received. */
  readonly downstreamHeaders: readonly string[];
  /** The headers going upstream. */
  readonly upstreamHeaders: string[];
}

/** What the tracer reads of a request when its span ends. */
export interface TracedRequestEnd {
  /** The downstream's headers as received. */
  readonly downstreamHeaders: readonly string[];
  /** x-forwarded-proto as forwarded, :authority, the path before any rewrite, the method. */
  readonly scheme: string;
  readonly authority: string;
  readonly path: string;
  readonly method: string;
  readonly protocol: string;
  readonly requestId: string | undefined;
  /** The connection's peer (not a client address found in x-forwarded-for). */
  readonly peerAddress: string;
  readonly bytesReceived: number;
  readonly bytesSent: number;
  readonly responseCode: number | undefined;
  readonly responseFlags: string;
  readonly upstreamCluster: string | undefined;
  readonly grpcStatus: string | undefined;
  /** Dynamic metadata of the request by filter name (requestMetadata custom tags). */
  readonly metadata: Readonly<Record<string, unknown>> | undefined;
  /** The finished request as formats read it (formatter custom tags); made only when one asks. */
  logContext(): LogContext;
}

/** How a provider's headers and spans differ (Envoy's tracer drivers). */
interface Driver {
  extract(headers: readonly string[]): SpanContext | { decisionOnly: boolean } | undefined;
  inject(headers: string[], ctx: SpanContext, parentSpanId: string | undefined, sampled: boolean): void;
  /** A route decorator renames the span (Zipkin); Envoy's OpenTelemetry span keeps the operation it started with. */
  readonly renames: boolean;
  newTraceId(): string;
}

const OTEL: Driver = {
  extract: readTraceparent,
  inject: (h, ctx, _parent, sampled) => writeTraceparent(h, ctx, sampled),
  renames: false,
  newTraceId,
};

function zipkinDriver(p: Extract<TracingProvider, { kind: 'zipkin' }>): Driver {
  const w3c = p.traceContextOption === 'USE_B3_WITH_W3C_PROPAGATION';
  return {
    // B3 first; with W3C propagation a traceparent stands in when no B3 context came
    extract: (h) => readB3(h) ?? (w3c ? readTraceparent(h) : undefined),
    inject: (h, ctx, parent, sampled) => {
      writeB3(h, ctx, parent, sampled);
      if (w3c) writeTraceparent(h, ctx, sampled);
    },
    renames: true,
    newTraceId: p.traceId128Bit ? newTraceId : newSpanId,
  };
}

interface CompiledTag {
  tag: string;
  value(end: TracedRequestEnd): string | undefined;
}

function compileTag(t: TracingCustomTag): CompiledTag {
  if ('literal' in t) return { tag: t.tag, value: () => t.literal };
  if ('environment' in t) {
    // read once, as Envoy reads the environment when the config loads
    const v = process.env[t.environment.name] ?? t.environment.defaultValue;
    return { tag: t.tag, value: () => v };
  }
  if ('formatter' in t) {
    const format = compileFormat({ text: t.formatter });
    return { tag: t.tag, value: (e) => format(e.logContext()) || undefined };
  }
  if ('requestHeader' in t) {
    const name = t.requestHeader.name.toLowerCase();
    const fallback = t.requestHeader.defaultValue;
    return { tag: t.tag, value: (e) => getFromList(e.downstreamHeaders, name) ?? fallback };
  }
  const { filter, path, defaultValue } = t.requestMetadata;
  return {
    tag: t.tag,
    value: (e) => {
      let v: unknown = e.metadata?.[filter];
      for (const key of path) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[key] : undefined;
      if (v === undefined || v === null) return defaultValue;
      return typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v);
    },
  };
}

export class HttpTracer {
  private readonly driver: Driver | undefined;
  private readonly tags: CompiledTag[];
  private readonly nodeId: string;
  private readonly zone: string;
  private readonly kind: SpanKind;

  constructor(
    readonly config: HcmTracing,
    /** Envoy's operation: egress for OUTBOUND listeners (sidecar outbound, gateways), ingress otherwise. */
    readonly egress: boolean,
    node: NodeIdentity,
    private readonly sink: SpanSink | undefined,
    private readonly stats: TracingStats,
    /** A uniform draw in [0, 1), used when the request id does not decide (not a UUID, or hashing off). */
    private readonly random: () => number = Math.random,
  ) {
    const p = config.provider;
    this.driver = !p || !sink ? undefined : p.kind === 'zipkin' ? zipkinDriver(p) : OTEL;
    this.tags = config.customTags.map(compileTag);
    this.nodeId = node.id;
    this.zone = node.locality.split('/')[1] ?? '';
    // Envoy: a span that spawns upstream spans is the server side of the request
    this.kind = egress && !config.spawnUpstreamSpan ? 'CLIENT' : 'SERVER';
  }

  /**
   * A new request's decision, counted; x-request-id rewritten to carry it, in the upstream headers
   * and in `r.requestId` (as forwarded). True when traced.
   */
  /** The request's tracing decision ('none': not traced), counted, and marked into x-request-id. */
  decide(r: TraceDecisionSubject): TraceStatus {
    const rid = r.requestId;
    const status = traceStatus(this.config, rid, getFromList(r.downstreamHeaders, 'x-client-trace-id') !== undefined, getFromList(r.upstreamHeaders, 'x-envoy-force-trace') !== undefined, this.random);
    this.stats[REASON_OF[status]]++;
    if (rid !== undefined) {
      const marked = withTraceStatus(rid, status);
      if (marked !== rid) {
        setInList(r.upstreamHeaders, 'x-request-id', marked);
        r.requestId = marked;
      }
    }
    return status;
  }

  /**
   * With a provider, the request's trace: a child of the caller's context when the headers carry
   * one (its sampling decision stands), else a new trace when `traced` (none otherwise). Recorded
   * only when sampled. `host`: the :authority, which names an egress span.
   */
  startSpan(traced: boolean, downstream: readonly string[], host: string): RequestTrace | undefined {
    const driver = this.driver;
    if (!driver) return undefined;
    const parent = driver.extract(downstream);
    let ctx: SpanContext;
    let parentSpanId: string | undefined;
    let sampled = traced;
    if (parent && 'traceId' in parent) {
      if (parent.sampled !== undefined) sampled = parent.sampled;
      ctx = { traceId: parent.traceId, spanId: newSpanId(), sampled, ...(parent.traceState ? { traceState: parent.traceState } : {}) };
      parentSpanId = parent.spanId;
    } else {
      if (parent) sampled = parent.decisionOnly;
      // a new trace nobody samples: no ids, nothing sent on (the next hop decides alike by the
      // x-request-id hash); Envoy would propagate a fresh unsampled context
      if (!sampled) return undefined;
      ctx = { traceId: driver.newTraceId(), spanId: newSpanId(), sampled };
    }
    const span = sampled ? new RecordingSpan(this.egress ? `egress ${host}` : 'ingress', this.kind, ctx, parentSpanId, nowMs(), this.sink!) : undefined;
    if (span) {
      span.setTag('node_id', this.nodeId);
      span.setTag('zone', this.zone);
    }
    return new RequestTrace(this, driver, ctx, parentSpanId, sampled, span, this.sink!);
  }

  /** Envoy's finalizeDownstreamSpan tags. */
  finishTags(span: RecordingSpan, e: TracedRequestEnd): void {
    const h = e.downstreamHeaders;
    if (e.requestId !== undefined) span.setTag('guid:x-request-id', e.requestId);
    const path = e.path.length > this.config.maxPathTagLength ? e.path.slice(0, this.config.maxPathTagLength) : e.path;
    span.setTag('http.url', `${e.scheme}://${e.authority}${path}`);
    span.setTag('http.method', e.method);
    span.setTag('downstream_cluster', getFromList(h, 'x-envoy-downstream-service-cluster') ?? '-');
    span.setTag('user_agent', getFromList(h, 'user-agent') ?? '-');
    span.setTag('http.protocol', e.protocol);
    span.setTag('peer.address', e.peerAddress);
    const clientTraceId = getFromList(h, 'x-client-trace-id');
    if (clientTraceId !== undefined) span.setTag('guid:x-client-trace-id', clientTraceId);
    const contentType = getFromList(h, 'content-type');
    if (contentType?.startsWith('application/grpc')) {
      span.setTag('grpc.path', e.path);
      span.setTag('grpc.authority', e.authority);
      span.setTag('grpc.content_type', contentType);
      const timeout = getFromList(h, 'grpc-timeout');
      if (timeout !== undefined) span.setTag('grpc.timeout', timeout);
    }
    for (const t of this.tags) {
      const v = t.value(e);
      if (v) span.setTag(t.tag, v);
    }
    span.setTag('request_size', String(e.bytesReceived));
    span.setTag('response_size', String(e.bytesSent));
    commonTags(span, e.upstreamCluster, e.responseCode, e.responseFlags, e.grpcStatus);
  }
}

/** Envoy's setCommonTags: for the request's span and an attempt's. */
function commonTags(span: RecordingSpan, cluster: string | undefined, code: number | undefined, flags: string, grpcStatus: string | undefined): void {
  span.setTag('component', 'proxy');
  if (cluster !== undefined) {
    span.setTag('upstream_cluster', cluster);
    span.setTag('upstream_cluster.name', cluster);
  }
  span.setTag('http.status_code', String(code ?? 0));
  span.setTag('response_flags', flags);
  if (grpcStatus !== undefined) {
    span.setTag('grpc.status_code', grpcStatus);
    if (grpcStatus !== '0') span.setTag('error', 'true');
  }
  if (!code || code >= 500) span.setTag('error', 'true');
}

/** One request's trace: its context (always), its recorded span (sampled only). */
export class RequestTrace {
  constructor(
    private readonly tracer: HttpTracer,
    private readonly driver: Driver,
    readonly context: SpanContext,
    private readonly parentSpanId: string | undefined,
    readonly sampled: boolean,
    readonly span: RecordingSpan | undefined,
    private readonly sink: SpanSink,
  ) {}

  /** The route's decorator (or an ingress request's x-envoy-decorator-operation) names the span. */
  setOperation(name: string): void {
    if (this.span && this.driver.renames) this.span.name = name;
  }

  /** This span as the parent of the upstream request (not done when every attempt gets a span of its own). */
  inject(upstream: string[]): void {
    if (this.tracer.config.disableContextPropagation) return;
    this.driver.inject(upstream, this.context, this.parentSpanId, this.sampled);
  }

  get spawnsAttemptSpans(): boolean {
    return this.tracer.config.spawnUpstreamSpan;
  }

  /** A client span for one upstream attempt (spawn_upstream_span), its context written into the attempt's headers. */
  startAttempt(cluster: string, upstream: string[]): AttemptTrace {
    const ctx: SpanContext = { traceId: this.context.traceId, spanId: newSpanId(), sampled: this.sampled, ...(this.context.traceState ? { traceState: this.context.traceState } : {}) };
    if (!this.tracer.config.disableContextPropagation) this.driver.inject(upstream, ctx, this.context.spanId, this.sampled);
    const span = this.span ? new RecordingSpan(`router ${cluster} egress`, 'CLIENT', ctx, this.context.spanId, nowMs(), this.sink) : undefined;
    return new AttemptTrace(span, cluster);
  }

  finish(e: TracedRequestEnd): void {
    const span = this.span;
    if (!span) return;
    this.tracer.finishTags(span, e);
    span.finish();
  }
}

/** An upstream attempt's client span (Envoy's finalizeUpstreamSpan when it ends). */
export class AttemptTrace {
  private status: number | undefined;

  constructor(
    private readonly span: RecordingSpan | undefined,
    private readonly cluster: string,
  ) {}

  onHeaders(status: number): void {
    this.status = status;
  }

  end(protocol: string, upstreamAddress: string, flags: string): void {
    const span = this.span;
    if (!span) return;
    span.setTag('http.protocol', protocol);
    span.setTag('upstream_address', upstreamAddress);
    span.setTag('peer.address', upstreamAddress);
    commonTags(span, this.cluster, this.status, flags, undefined);
    span.finish();
  }
}
