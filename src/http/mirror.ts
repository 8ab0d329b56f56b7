import type { BodySink, BodySource } from '../codec/body.js';
import type { ClusterRuntime } from '../upstream/cluster.js';
import { sendCounted } from '../upstream/counted-request.js';
import type { UpstreamHandler } from '../upstream/exchange.js';

/**
 * Envoy's request mirroring: a copy of the request goes to another cluster with `-shadow` added to
 * the host, fire and forget. Its response is read and dropped; its latency and errors never touch
 * the primary request.
 */
export function sendMirror(cluster: ClusterRuntime, method: string, path: string, headers: readonly string[], body: BodySource | null): void {
  const host = cluster.pick();
  if (!host) return;
  const shadowHeaders: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] === 'host') shadowHeaders.push('host', shadowHost(headers[i + 1]));
    else shadowHeaders.push(headers[i], headers[i + 1]);
  }
  sendCounted(cluster, host, host.pool, { method, path, headers: shadowHeaders, body }, DROP_RESPONSE);
}

/** `reviews:9080` → `reviews-shadow:9080`, as Envoy names the shadow authority. */
export function shadowHost(authority: string): string {
  const m = /^(\[[^\]]+\]|[^:]+)(:\d+)?$/.exec(authority);
  return m ? `${m[1]}-shadow${m[2] ?? ''}` : `${authority}-shadow`;
}

/** The mirror's response: read and dropped (sendCounted has counted it). */
const DROP_RESPONSE: UpstreamHandler = {
  onUpstreamHeaders() {},
  onUpstreamData: () => true,
  onUpstreamEnd() {},
  onUpstreamError() {},
};

/** A body already in memory (the buffered request body), as a BodySource. */
export class BufferedBody implements BodySource {
  private stopped = false;
  constructor(
    private readonly chunks: readonly Buffer[],
    readonly length: number,
  ) {}
  start(sink: BodySink): void {
    for (const c of this.chunks) {
      if (this.stopped) return;
      sink.onBodyData(c); // a mirror's socket buffers what it cannot send yet; the body is bounded
    }
    if (!this.stopped) sink.onBodyEnd(undefined);
  }
  pause(): void {}
  resume(): void {}
  detach(): void {
    this.stopped = true;
  }
}
