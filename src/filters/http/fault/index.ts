import type { FaultConfig } from '../../../config/snapshot.js';
import { Field } from '../../../config/reader.js';
import type { HttpFilter, HttpFilterFactory, StreamCallbacks } from '../../../http/filter.js';
import { ResponseFlag } from '../../../http/response-flags.js';

export const FAULT_FILTER_NAME = 'envoy.filters.http.fault';

/**
 * envoy.filters.http.fault with Istio's per-route faults: a fixed delay (flag DI), then an abort
 * (flag FI, body "fault filter abort"; a gRPC abort is HTTP 200 with grpc-status), each applied to
 * the given percentage of requests. The listener-level config carries nothing: the route decides.
 */
export const faultFilter: HttpFilterFactory<Record<string, never>> = {
  name: FAULT_FILTER_NAME,
  parse(raw) {
    new Field(raw ?? {}, [], { kind: FAULT_FILTER_NAME }).object([]);
    return {};
  },
  create() {
    return (stream) => new FaultInjection(stream);
  },
};

class FaultInjection implements HttpFilter {
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly stream: StreamCallbacks) {}

  onRequestHeaders(): 'continue' | 'stop' | Promise<'continue' | 'stop'> {
    const cfg = this.stream.route?.perFilterConfig?.[FAULT_FILTER_NAME] as FaultConfig | undefined;
    if (!cfg) return 'continue';
    if (cfg.delay && roll(cfg.delay.percent)) {
      this.stream.streamInfo.responseFlags.push(ResponseFlag.DelayInjected);
      return new Promise((resolve) => {
        this.timer = setTimeout(() => {
          this.timer = undefined;
          resolve(this.abort(cfg));
        }, cfg.delay!.fixedDelayMs);
      });
    }
    return this.abort(cfg);
  }

  private abort(cfg: FaultConfig): 'continue' | 'stop' {
    const a = cfg.abort;
    if (!a || !roll(a.percent)) return 'continue';
    if (a.grpcStatus !== undefined) {
      this.stream.sendLocalReply(200, '', ResponseFlag.FaultInjected, [
        'content-type', 'application/grpc', 'grpc-status', String(a.grpcStatus), 'grpc-message', 'fault filter abort',
      ]);
    } else {
      this.stream.sendLocalReply(a.httpStatus ?? 503, 'fault filter abort', ResponseFlag.FaultInjected);
    }
    return 'stop';
  }

  onDestroy(): void {
    clearTimeout(this.timer);
  }
}

function roll(percent: number): boolean {
  return percent >= 100 || Math.random() * 100 < percent;
}
