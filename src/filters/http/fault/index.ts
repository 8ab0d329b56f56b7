import type { FaultConfig } from '../../../config/snapshot.js';
import { FAULT_FILTER } from '../../../config/envoy/http-filters.js';
import { Field } from '../../../config/reader.js';
import { FilterStatus, type FilterCallbacks, type FilterHeadersStatus, type HttpFilter, type HttpFilterFactory } from '../../../http/filter.js';
import { ResponseFlag } from '../../../http/response-flags.js';

export const FAULT_FILTER_NAME = FAULT_FILTER;

/**
 * envoy.filters.http.fault with Istio's per-route faults: a fixed delay (flag DI), then an abort
 * (flag FI, body "fault filter abort"; a gRPC abort is HTTP 200 with grpc-status), each applied to
 * the given percentage of requests. The listener-level config carries nothing: the route's
 * typed_per_filter_config decides (compiled by parsePerRoute when the route table loads).
 */
export const faultFilter: HttpFilterFactory<Record<string, never>, FaultConfig> = {
  name: FAULT_FILTER_NAME,
  parse(raw) {
    new Field(raw ?? {}, [], { kind: FAULT_FILTER_NAME }).object([]);
    return {};
  },
  parsePerRoute(raw) {
    const f = new Field(raw, [], { kind: FAULT_FILTER_NAME }).object(['delay', 'abort']);
    const out: FaultConfig = {};
    const delay = f.at('delay').optObject(['fixedDelayMs', 'percent']);
    if (delay) out.delay = { fixedDelayMs: delay.at('fixedDelayMs').int(0), percent: percent(delay.at('percent')) };
    const abort = f.at('abort').optObject(['httpStatus', 'grpcStatus', 'percent']);
    if (abort) {
      const httpStatus = abort.at('httpStatus').optInt(200, 599);
      const grpcStatus = abort.at('grpcStatus').optInt(0, 16);
      if (httpStatus === undefined && grpcStatus === undefined) abort.fail('an abort needs httpStatus or grpcStatus');
      out.abort = { ...(httpStatus !== undefined ? { httpStatus } : {}), ...(grpcStatus !== undefined ? { grpcStatus } : {}), percent: percent(abort.at('percent')) };
    }
    return out;
  },
  create() {
    return (stream) => new FaultInjection(stream);
  },
  explain(_cfg, stream) {
    const cfg = stream.perRouteConfig<FaultConfig>();
    if (!cfg || (!cfg.delay && !cfg.abort)) return { notes: ['no fault on this route'] };
    const notes: string[] = [];
    if (cfg.delay) notes.push(`delay ${cfg.delay.fixedDelayMs} ms for ${cfg.delay.percent}% of requests (flag DI)`);
    const a = cfg.abort;
    if (!a) return { notes };
    const reply = abortReply(a);
    notes.push(`abort with ${a.grpcStatus !== undefined ? `grpc-status ${a.grpcStatus}` : `HTTP ${reply.status}`} for ${a.percent}% of requests (flag FI)`);
    return { notes, reply: { status: reply.status, flag: ResponseFlag.FaultInjected, details: FAULT_ABORT_DETAILS, percent: a.percent } };
  },
};

/** Envoy's response code details for an injected abort. */
const FAULT_ABORT_DETAILS = 'fault_filter_abort';

/** An abort's status and extra headers: a gRPC abort is HTTP 200 with grpc-status. */
function abortReply(a: NonNullable<FaultConfig['abort']>): { status: number; headers?: string[] } {
  if (a.grpcStatus === undefined) return { status: a.httpStatus ?? 503 };
  return { status: 200, headers: ['content-type', 'application/grpc', 'grpc-status', String(a.grpcStatus), 'grpc-message', 'fault filter abort'] };
}

function percent(f: Field): number {
  const v = f.number();
  if (v < 0 || v > 100) f.fail(`must be between 0 and 100, got ${v}`);
  return v;
}

class FaultInjection implements HttpFilter {
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly stream: FilterCallbacks) {}

  decodeHeaders(): FilterHeadersStatus {
    const cfg = this.stream.perRouteConfig<FaultConfig>();
    if (!cfg) return FilterStatus.Continue;
    if (cfg.delay && roll(cfg.delay.percent)) {
      this.stream.streamInfo.responseFlags.push(ResponseFlag.DelayInjected);
      this.timer = setTimeout(() => {
        this.timer = undefined;
        if (this.abort(cfg) === FilterStatus.Continue) this.stream.continueDecoding();
      }, cfg.delay.fixedDelayMs);
      return FilterStatus.StopIteration;
    }
    return this.abort(cfg);
  }

  private abort(cfg: FaultConfig): FilterHeadersStatus {
    const a = cfg.abort;
    if (!a || !roll(a.percent)) return FilterStatus.Continue;
    this.stream.streamInfo.responseCodeDetails = FAULT_ABORT_DETAILS;
    const reply = abortReply(a);
    this.stream.sendLocalReply(reply.status, reply.headers ? '' : 'fault filter abort', ResponseFlag.FaultInjected, reply.headers);
    return FilterStatus.StopIteration;
  }

  onDestroy(): void {
    clearTimeout(this.timer);
  }
}

function roll(percent: number): boolean {
  return percent >= 100 || Math.random() * 100 < percent;
}
